"""The shards of a batch as Ray actors: one actor per shard, one CPU each.

An actor builds its shard's core where Ray places it, so an ns-3 process is always started by
its actor, on the actor's node, on a segment in that node's /dev/shm (shared memory does not
cross hosts). A step sends each actor its slice of the actions and gets back obs, reward and
the scenario's batched info as numpy arrays: Ray serialises numpy arrays out of band (pickle
protocol 5 buffers, large ones through the node's shared-memory object store, read back as
zero-copy views), so no array is pickled element by element; the driver concatenates them.

Failures name the copy and the node: a dead actor (killed, its node lost) or a failed step
(e.g. its ns-3 process died: the shard's `BridgeError`) becomes one `EngineError` naming the
shard, its copies and its node, after every actor of the batch has been stopped. Optionally
(`restarts`), a shard whose actor died is started afresh once per failure and the episode is
redone from its reset with the same seeds, so the result is the one the run would have had.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from pybridge.bridge import BridgeError, sweep_stale_segments
from pybridge.engine.errors import EngineError
from pybridge.engine.shards import resolve, view_kind

__all__ = ["EngineError", "EnvShardActor", "RayShards"]

ACTOR_CLOSE_TIMEOUT = 10.0


class EnvShardActor:
    """One shard's core inside a Ray actor (decorated with `ray.remote` by `_actor_class`)."""

    def __init__(self, spec: Any, cfg: Any, backend: str, offset: int, count: int,
                 total: int, shard: int, n_shards: int,
                 ns3_options: dict[str, Any] | None) -> None:
        from pybridge.engine.shards import build_shard

        # The spec travels pickled by reference to its class: a scenario registered only in
        # the driver (a test's toy) works as long as its module is importable on the node.
        self.spec = spec
        self.core = build_shard(self.spec, cfg, backend, offset, count, total, shard, n_shards,
                                ns3_options)
        # Seconds spent inside step() and how many calls: the driver's step time minus this is
        # what Ray's call adds (measured without comparing clocks across nodes).
        self._step_s, self._steps = 0.0, 0

    def where(self) -> dict[str, Any]:
        import ray

        ctx = ray.get_runtime_context()
        return {"node_id": ctx.get_node_id(), "ip": ray.util.get_node_ip_address(),
                "pid": os.getpid(), "peer_pids": list(getattr(self.core, "pids", []))}

    def reset(self, seed: int | None):
        obs = self.core.reset(seed)
        return obs, np.zeros(obs.shape[:2], dtype=np.float32), False, \
            self.spec.step_info(self.core)

    def step(self, actions: np.ndarray):
        t0 = time.perf_counter()
        obs, reward, done = self.core.step(actions)
        out = obs, reward, done, self.spec.step_info(self.core)
        self._step_s += time.perf_counter() - t0
        self._steps += 1
        return out

    def step_seconds(self, clear: bool) -> tuple[float, int]:
        """(seconds inside step(), step calls) since the last clear."""
        out = (self._step_s, self._steps)
        if clear:
            self._step_s, self._steps = 0.0, 0
        return out

    def kind(self, path: Sequence[str]) -> str:
        return view_kind(self.core, path)

    def view(self, path: Sequence[str], args: tuple, call: bool) -> Any:
        value = resolve(self.core, path)
        return value(*args) if call else value

    def close(self) -> bool:
        self.core.close()
        return True


_ACTOR = None


def _actor_class():
    global _ACTOR
    if _ACTOR is None:
        import ray

        # max_concurrency 1: a core is used by one thread at a time (pybridge.bridge).
        _ACTOR = ray.remote(num_cpus=1)(EnvShardActor)
    return _ACTOR


class RayShards:
    """The shards of one batch as Ray actors (the interface of `shards.LocalShards`)."""

    def __init__(self, spec: Any, cfg: Any, backend: str, parts: list[tuple[int, int]],
                 total: int, ns3_options: dict[str, Any] | None, *, restarts: int = 0
                 ) -> None:
        import ray

        self._ray = ray
        self.spec, self.cfg, self.backend = spec, cfg, backend
        self.parts, self.total, self.ns3_options = parts, total, ns3_options
        self.counts = [c for _, c in parts]
        self.restarts_left = int(restarts)
        self.restarted = 0
        self.actors: list[Any] = [None] * len(parts)
        self.where: list[dict[str, Any]] = [{}] * len(parts)
        self._seeds: list[int | None] | None = None
        self._actions: list[list[np.ndarray]] = []  # this episode's, for a redone episode
        try:
            for w in range(len(parts)):
                self.actors[w] = self._start(w)
            for w, info in enumerate(self._get([a.where.remote() for a in self.actors],
                                               "start")):
                self.where[w] = info
        except BaseException:
            self.close()
            raise

    def _start(self, w: int):
        offset, count = self.parts[w]
        # SPREAD: copies go to different nodes first (each node's CPUs, then the next).
        return _actor_class().options(scheduling_strategy="SPREAD").remote(
            self.spec, self.cfg, self.backend, offset, count, self.total, w,
            len(self.parts), self.ns3_options)

    def describe(self, w: int) -> str:
        offset, count = self.parts[w]
        copies = f"copy {offset}" if count == 1 else f"copies {offset}-{offset + count - 1}"
        info = self.where[w] or {}
        node = (f"node {info['ip']} (id {info['node_id'][:12]})" if info
                else "a node not yet known")
        return f"env shard {w} ({copies} of {self.total}) on {node}"

    # ---------------------------------------------------------------------- calls
    def _get1(self, ref: Any, w: int, what: str) -> Any:
        """ray.get of shard w's call; a failed call becomes one EngineError (module doc), a
        dead actor `_Dead`."""
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            raise _Dead(w, exc) from exc
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if getattr(exc, "cause", None) is not None else exc
            if isinstance(cause, ValueError | RuntimeError) and not isinstance(cause,
                                                                               BridgeError):
                raise cause from None  # bad input (actions, order of calls): as locally
            raise EngineError(f"{self.describe(w)} failed in {what}: {cause}") from None

    def _get(self, refs: list[Any], what: str) -> list[Any]:
        return [self._get1(ref, w, what) for w, ref in enumerate(refs)]

    def _call(self, method: str, args_per_shard: list[tuple], what: str) -> list[Any]:
        """One call per shard (the first len(args_per_shard) shards), gathered in order. A
        shard whose actor died is restarted and its episode redone (`restarts`), or the batch
        is stopped and the death is one EngineError."""
        try:
            refs = [getattr(a, method).remote(*args) for a, args in
                    zip(self.actors, args_per_shard)]
            results: list[Any] = [None] * len(refs)
            dead: list[_Dead] = []
            for w, ref in enumerate(refs):
                try:
                    results[w] = self._get1(ref, w, what)
                except _Dead as d:
                    dead.append(d)
            for d in dead:
                if self.restarts_left <= 0 or self._seeds is None:
                    raise EngineError(f"{self.describe(d.shard)} died in {what} (its actor or"
                                      f" node is gone; the other shards are stopped):"
                                      f" {type(d.exc).__name__}")
                results[d.shard] = self._redo_episode(d.shard, method, args_per_shard[d.shard],
                                                      what)
            return results
        except BaseException:
            self.close()
            raise

    def _redo_episode(self, w: int, method: str, args: tuple, what: str) -> Any:
        """Restart shard w, replay this episode in it from its reset (same seed, same actions:
        cores are deterministic given both, so the copy is where it would have been), then
        make the call it missed."""
        ray = self._ray
        self.restarts_left -= 1
        self.restarted += 1
        with contextlib.suppress(Exception):
            ray.kill(self.actors[w], no_restart=True)
        sweep_stale_segments()  # the dead actor's segments, where it ran on this node
        self.actors[w] = actor = self._start(w)
        try:
            self.where[w] = self._get1(actor.where.remote(), w, "restart")
            if method != "reset":
                self._get1(actor.reset.remote(self._seeds[w]), w, "restart")
                done = self._actions[:-1] if method == "step" else self._actions
                for acts in done:
                    self._get1(actor.step.remote(acts[w]), w, "restart")
            return self._get1(getattr(actor, method).remote(*args), w, what)
        except _Dead as d:
            raise EngineError(f"{self.describe(w)} died again after a restart in {what}:"
                              f" {type(d.exc).__name__}") from None

    # ------------------------------------------------------------------ interface
    def reset(self, seeds: list[int | None]):
        self._seeds, self._actions = list(seeds), []
        return self._call("reset", [(s,) for s in seeds], "reset")

    def step(self, actions: list[np.ndarray]):
        if self.restarts_left > 0:
            self._actions.append(actions)
        return self._call("step", [(a,) for a in actions], "step")

    def kind(self, path: Sequence[str]) -> str:
        return self._call("kind", [(tuple(path),)], "view")[0]  # the first shard answers

    def view(self, path: Sequence[str], args: tuple, call: bool) -> list[Any]:
        return self._call("view", [(tuple(path), args, call)] * len(self.actors), "view")

    def step_seconds(self, clear: bool = False) -> list[tuple[float, int]]:
        """Per shard: (seconds its actor spent inside step(), step calls) since the last clear."""
        return self._call("step_seconds", [(clear,)] * len(self.actors), "view")

    def pids(self) -> list[int]:
        """The actors' processes and their ns-3 peers (as started)."""
        return [p for info in self.where if info for p in (info["pid"], *info["peer_pids"])]

    def close(self) -> None:
        """Close every shard (its ns-3 processes and segments) and stop its actor. Idempotent."""
        ray = self._ray
        actors, self.actors = [a for a in self.actors if a is not None], []
        refs = []
        for a in actors:
            with contextlib.suppress(Exception):
                refs.append(a.close.remote())
        if refs:
            with contextlib.suppress(Exception):
                ray.wait(refs, num_returns=len(refs), timeout=ACTOR_CLOSE_TIMEOUT)
        for a in actors:
            with contextlib.suppress(Exception):
                ray.kill(a, no_restart=True)


class _Dead(Exception):
    def __init__(self, shard: int, exc: BaseException) -> None:
        super().__init__(shard)
        self.shard, self.exc = shard, exc
