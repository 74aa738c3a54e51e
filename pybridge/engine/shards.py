"""A batch of B copies split into W shards, and the core that steps them as one.

A shard is an ordinary backend core (`pybridge.api.Core`) over copies offset .. offset + n - 1
of the batch. Where the shards live is the engine's business (`pybridge.engine`): in this
process (`LocalShards`), or each in its own Ray actor (`pybridge.engine.ray_shards`). The
`ShardedCore` on top is again a `Core`: its arrays are the shards' concatenated along the copy
axis, so the learner, the policies and the recorders on the driver see one batch [B, N, ...].

Seeds, so that a split changes as little as it can and the engine changes nothing:
  - ns-3: every shard gets the episode seed itself; a copy's RngRun depends on its index in
    the whole batch (`Ns3Core(copy_offset=, total_copies=)`), so results are those of one
    Ns3Core of B copies, whatever W.
  - twin: one core draws its B copies from one generator, so a shard cannot reproduce a slice
    of a bigger core's stream. Shard w draws from `shard_seed(seed, w)` (its config's `seed`
    likewise); W = 1 is the unsharded core exactly. The numbers of a twin run therefore depend
    on W (recorded with a run), never on the engine: W shards give the same bits in this
    process and in W Ray actors.

Views (what baselines and validation hooks read from a core: `core.sinr_db()`,
`core.channel`, `core.last.rate_fbl`, ...) are gathered from every shard: arrays whose first
axis is the shard's copies are concatenated, anything else (a per-config array such as the edge
servers' positions, declared in `ScenarioSpec.unbatched_views` or recognised by its first axis,
a scalar, a name) is taken from the first shard.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from pybridge.api import ScenarioSpec
from pybridge.config import ScenarioConfig


def split(n_envs: int, workers: int) -> list[tuple[int, int]]:
    """(offset, count) of each of min(workers, n_envs) shards; counts differ by at most one,
    the larger ones first."""
    if n_envs < 1 or workers < 1:
        raise ValueError(f"need n_envs >= 1 and workers >= 1, got {n_envs} and {workers}")
    w = min(workers, n_envs)
    base, extra = divmod(n_envs, w)
    out, offset = [], 0
    for k in range(w):
        count = base + (k < extra)
        out.append((offset, count))
        offset += count
    return out


def shard_seed(seed: int | None, shard: int, n_shards: int) -> int | None:
    """The twin seed of shard `shard` of `n_shards` for batch seed `seed` (itself when
    unsharded; None stays None: fresh entropy per shard)."""
    if seed is None or n_shards == 1:
        return seed
    state = np.random.SeedSequence([int(seed), int(shard)]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


def build_shard(spec: ScenarioSpec, cfg: ScenarioConfig, backend: str, offset: int, count: int,
                total: int, shard: int, n_shards: int,
                ns3_options: dict[str, Any] | None) -> Any:
    """The backend core of one shard (see the module docstring for its seeds)."""
    if backend == "ns3":
        return spec.make_ns3(cfg, count, copy_offset=offset, total_copies=total,
                             **(ns3_options or {}))
    shard_cfg = cfg if n_shards == 1 else cfg.replace(seed=shard_seed(cfg.seed, shard, n_shards))
    return spec.make_twin(shard_cfg, count)


def reset_seeds(backend: str, seed: int | None, n_shards: int) -> list[int | None]:
    """The seed each shard's reset gets for batch seed `seed`."""
    if backend == "ns3":
        return [seed] * n_shards
    return [shard_seed(seed, w, n_shards) for w in range(n_shards)]


def gather(values: Sequence[Any], counts: Sequence[int], batched: bool = True) -> Any:
    """One value from the shards' values of a view (module docstring)."""
    first = values[0]
    if isinstance(first, np.ndarray):
        if batched and first.ndim >= 1 and all(
                isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == c
                for v, c in zip(values, counts, strict=True)):
            return np.concatenate(values, axis=0)
        return first
    if isinstance(first, tuple | list) and all(
            isinstance(v, type(first)) and len(v) == len(first) for v in values):
        return type(first)(gather(col, counts, batched) for col in zip(*values, strict=True))
    if isinstance(first, dict):
        return {k: gather([v[k] for v in values], counts, batched) for k in first}
    return first


class ShardedCore:
    """B copies in W shards stepped as one `pybridge.api.Core`; `shards` is a `LocalShards` or
    a `RayShards` (the same interface: `reset`, `step`, `view`, `close`, `counts`)."""

    def __init__(self, spec: ScenarioSpec, cfg: ScenarioConfig, backend: str, n_envs: int,
                 shards: Any, engine: str) -> None:
        self.spec, self.cfg, self.backend = spec, cfg, backend
        self.B, self.N = n_envs, spec.n_agents(cfg)
        self.shards = shards
        self.engine = engine
        self.counts = list(shards.counts)
        self.t = 0
        self._info: dict[str, np.ndarray] | None = None
        self._obs: np.ndarray | None = None
        self._reward: np.ndarray | None = None
        self._unbatched = set(getattr(spec, "unbatched_views", ()))

    @property
    def n_shards(self) -> int:
        return len(self.counts)

    # ------------------------------------------------------------------------- Core
    def reset(self, seed: int | None = None) -> np.ndarray:
        parts = self.shards.reset(reset_seeds(self.backend, seed, self.n_shards))
        self.t = 0
        return self._take(parts)[0]

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.B,):
            raise ValueError(f"actions must have {self.B} copies on the first axis, got shape"
                             f" {actions.shape}")
        cuts = np.cumsum([0, *self.counts])
        parts = self.shards.step([actions[a:b] for a, b in itertools.pairwise(cuts)])
        self.t += 1
        obs, reward, done = self._take(parts)
        return obs, reward, done

    def _take(self, parts: list[tuple[np.ndarray, np.ndarray, bool, dict[str, np.ndarray]]]):
        self._obs = np.concatenate([p[0] for p in parts])
        self._reward = np.concatenate([p[1] for p in parts])
        self._info = {k: np.concatenate([p[3][k] for p in parts]) for k in parts[0][3]}
        return self._obs, self._reward, bool(parts[0][2])

    def step_info(self) -> dict[str, np.ndarray]:
        """The batched info of the last reset/step, gathered with the arrays (no extra call)."""
        if self._info is None:
            raise RuntimeError("step_info() before reset(): call reset() first")
        return self._info

    def observation(self) -> np.ndarray:
        if self._obs is None:
            raise RuntimeError("observation() before reset(): call reset() first")
        return self._obs

    def state(self) -> np.ndarray:
        return self._view(("state",), (), True)

    def close(self) -> None:
        self.shards.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------- views
    @property
    def last(self) -> _ViewPath:
        """The shards' step data, gathered attribute by attribute (`core.last.airtime`)."""
        return _ViewPath(self, ("last",))

    def _view(self, path: tuple[str, ...], args: tuple, call: bool) -> Any:
        values = self.shards.view(path, args, call)
        return gather(values, self.counts, batched=path[-1] not in self._unbatched)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names this class lacks: the shard core's own views.
        if name.startswith("_") or name in ("spec", "shards", "counts"):
            raise AttributeError(name)
        kind = self.shards.kind((name,))
        if kind == "missing":
            raise AttributeError(f"{type(self).__name__} of {self.spec.name!r}: the"
                                 f" {self.backend} core has no {name!r}")
        if kind == "callable":
            return lambda *args: self._view((name,), args, True)
        return self._view((name,), (), False)

    def __repr__(self) -> str:
        return (f"ShardedCore({self.spec.name}, {self.backend}, B={self.B}, N={self.N},"
                f" {self.n_shards} shards on {self.engine})")


class _ViewPath:
    """An attribute path into every shard core (e.g. `last`), resolved on access."""

    def __init__(self, core: ShardedCore, path: tuple[str, ...]) -> None:
        self._core, self._path = core, path

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        path = (*self._path, name)
        kind = self._core.shards.kind(path)
        if kind == "missing":
            raise AttributeError(f"{'.'.join(path)} is not there")
        if kind == "callable":
            return lambda *args: self._core._view(path, args, True)
        return self._core._view(path, (), False)


def resolve(obj: Any, path: Sequence[str]) -> Any:
    for name in path:
        obj = getattr(obj, name)
    return obj


def view_kind(core: Any, path: Sequence[str]) -> str:
    try:
        value = resolve(core, path)
    except AttributeError:
        return "missing"
    return "callable" if callable(value) else "value"


class LocalShards:
    """The shards as cores in this process, stepped one after the other (the local engine)."""

    def __init__(self, make: Callable[[int, int, int], Any], parts: list[tuple[int, int]],
                 spec: ScenarioSpec) -> None:
        self.spec = spec
        self.counts = [c for _, c in parts]
        self.cores: list[Any] = []
        try:
            for w, (offset, count) in enumerate(parts):
                self.cores.append(make(w, offset, count))
        except BaseException:
            self.close()
            raise

    def reset(self, seeds: list[int | None]):
        return [self._answer(core, core.reset(s)) for core, s in zip(self.cores, seeds,
                                                                      strict=True)]

    def step(self, actions: list[np.ndarray]):
        out = []
        for core, a in zip(self.cores, actions, strict=True):
            obs, reward, done = core.step(a)
            out.append(self._answer(core, obs, reward, done))
        return out

    def _answer(self, core, obs, reward=None, done=False):
        reward = reward if reward is not None else np.zeros(obs.shape[:2], dtype=np.float32)
        return obs, reward, done, self.spec.step_info(core)

    def kind(self, path: Sequence[str]) -> str:
        return view_kind(self.cores[0], path)

    def view(self, path: Sequence[str], args: tuple, call: bool) -> list[Any]:
        out = []
        for core in self.cores:
            v = resolve(core, path)
            out.append(v(*args) if call else v)
        return out

    def close(self) -> None:
        cores, self.cores = self.cores, []
        for core in cores:
            with contextlib.suppress(Exception):
                core.close()
