"""Where a batch of env copies runs: in this process ("local") or as Ray actors ("ray").

    with engine.use(engine.Engine("ray", address=None, workers=None)):
        vec = pybridge.make_vec_env(SCENARIO, n_envs=8)     # 8 copies in Ray actors

`make_vec_env` asks the engine in use (`current()`) for its core. The local engine with one
worker is the plain backend core (nothing changes); with W > 1 workers, or on Ray, the copies
are split into W shards (`pybridge.engine.shards`) and stepped as one `ShardedCore`: locally one
after the other, on Ray each shard in its own actor with one CPU (`ray_shards`), the learner and
the policies staying on the driver. `workers` defaults to 1 locally and for the twin on Ray,
and to the cluster's CPUs (at most one shard per copy) for ns-3 on Ray.

Same seed, same numbers: for ns-3 whatever the engine and W (a copy's RngRun depends on its
index in the batch); for the twin whatever the engine, for the same W (a twin shard draws from
its own generator, so W is recorded with a training run; see `shards`). With the defaults the
two engines therefore agree on both backends.

Ray: `address` None starts a local Ray instance with this machine's CPUs for the duration of
`use` (and stops it after); "auto" or "HOST:PORT" joins a running cluster (`ray start --head`
on one machine, `ray start --address HOST:PORT` on the others; docs/cluster.md) and leaves it
running.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pybridge.api import ScenarioSpec
from pybridge.config import ConfigError, ScenarioConfig

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Engine:
    """Where env copies run. `workers`: shards of a batch (None: the engine's default);
    `restarts` (Ray): how many times a batch may restart a shard whose actor died and redo the
    episode, before the failure is an error (0: fail at once)."""

    name: str = "local"
    address: str | None = None
    workers: int | None = None
    restarts: int = 0

    def __post_init__(self) -> None:
        if self.name not in ENGINES:
            raise ConfigError(f"unknown engine {self.name!r}; expected one of"
                              f" {', '.join(ENGINES)}")
        if self.address is not None and self.name != "ray":
            raise ConfigError("--ray-address needs --engine ray")
        if self.workers is not None and (not isinstance(self.workers, int)
                                         or isinstance(self.workers, bool) or self.workers < 1):
            raise ConfigError(f"workers must be an integer >= 1, got {self.workers!r}")
        if self.restarts < 0:
            raise ConfigError(f"restarts must be >= 0, got {self.restarts}")

    def resolved_workers(self, n_envs: int, backend: str) -> int:
        """Shards of a batch of n_envs copies of `backend` on this engine. Default: 1 locally;
        on Ray one per CPU of the cluster for ns-3 (at most one per copy), 1 for the twin (a
        twin step costs about one Ray round trip, so sharding it buys nothing, and one shard
        keeps the twin's numbers those of the local engine)."""
        if self.workers is not None:
            return min(self.workers, n_envs)
        if self.name == "local" or backend != "ns3":
            return 1
        return max(1, min(n_envs, cluster_cpus()))


_state = threading.local()
LOCAL = Engine()


def current() -> Engine:
    """The engine `make_vec_env` uses now (the local one unless inside `use`)."""
    return getattr(_state, "engine", LOCAL)


@contextlib.contextmanager
def use(engine: Engine) -> Iterator[Engine]:
    """Make `engine` the current one; on Ray, connect (or start a local instance) first and
    stop what was started on the way out, whatever happened."""
    previous = current()
    started = ray_init(engine.address) if engine.name == "ray" else False
    _state.engine = engine
    try:
        yield engine
    finally:
        _state.engine = previous
        if started:
            ray_shutdown()


def ray_init(address: str | None, num_cpus: int | None = None) -> bool:
    """Connect to Ray (address "auto" / "HOST:PORT") or start a local instance; True when this
    call started one (the caller then shuts it down). An instance already up is reused."""
    try:
        import ray
    except ImportError as exc:  # a pinned dependency: a broken environment
        raise ConfigError(f"--engine ray needs the ray package ({exc}); run scripts/bootstrap.sh"
                          ) from exc
    if ray.is_initialized():
        return False
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                              "configure_logging": False}
    if address is not None:
        _probe(address)
    if address is None:
        # "local": a new instance of this command's own, never a `ray start` cluster that
        # happens to run on this machine (ray.init() alone would join the latest one)
        address = "local"
        kwargs["num_cpus"] = num_cpus or os.cpu_count() or 1
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r}: {exc}") from exc
    return True


PROBE_TIMEOUT = 5.0


def _probe(address: str) -> None:
    """A HOST:PORT nobody answers on is one clear error now (ray.init would retry for
    minutes); "auto" and ray:// addresses are left to Ray."""
    import socket

    if address == "auto" or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT):
            pass
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address!r} ({exc}): start its head"
                          " with `ray start --head --port=PORT` and pass HEAD_IP:PORT, or"
                          " 'auto' on a node of the cluster (docs/cluster.md)") from None


def ray_shutdown() -> None:
    import ray

    ray.shutdown()


def cluster_cpus() -> int:
    import ray

    if not ray.is_initialized():
        raise ConfigError("the Ray engine is not connected: use pybridge.engine.use(...)")
    return int(ray.cluster_resources().get("CPU", 1))


def make_core(spec: ScenarioSpec, cfg: ScenarioConfig, backend: str, n_envs: int,
              ns3_options: dict[str, Any] | None, engine: Engine | None = None,
              build_plain=None) -> Any:
    """The core of `n_envs` copies on `engine` (default: the current one). `build_plain`:
    how the unsharded local core is made (the env module's own builder)."""
    from pybridge.engine.shards import LocalShards, ShardedCore, build_shard, split

    engine = engine or current()
    workers = engine.resolved_workers(n_envs, backend)
    if engine.name == "local" and workers == 1:
        return build_plain(spec, cfg, backend, n_envs, ns3_options)
    if ns3_options and ns3_options.get("attach"):
        raise ConfigError("attach mode drives one local scenario process: use the local engine"
                          " with one worker")
    parts = split(n_envs, workers)
    if engine.name == "local":
        shards = LocalShards(
            lambda w, offset, count: build_shard(spec, cfg, backend, offset, count, n_envs, w,
                                                 len(parts), ns3_options), parts, spec)
    else:
        from pybridge.engine.ray_shards import RayShards

        shards = RayShards(spec, cfg, backend, parts, n_envs, ns3_options,
                           restarts=engine.restarts)
    return ShardedCore(spec, cfg, backend, n_envs, shards, engine.name)
