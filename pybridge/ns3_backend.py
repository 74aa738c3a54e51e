"""The generic ns-3 backend: B copies of a scenario, each a packet-level ns-3 process.

Each copy is one process of the scenario's binary (`spec.ns3_binary`, ns3-scenarios/<name>/)
behind its own shared-memory segment (pybridge.bridge). What the segment holds is the binary's
own declaration (`--contract-json`, pybridge.contract): the array table is built from it with
the symbol values `spec.ns3_dims(cfg)`, and the config dataclass is checked against its
parameters before any process starts. The core implements `pybridge.api.Core`: the observation
is the contract's "obs" array, the reward its "reward" array, the actions go to "actions"; the
scenario's step data (`core.last`) is `spec.ns3_step_data(...)` of every array. A scenario that
offers more to its policies (e.g. the channel in use, a measured SINR) subclasses `Ns3Core`.

A step posts the actions to every process first and then collects the answers, so the B
simulations run in parallel on their own cores.

Seeds: episode seed s gives copy b the ns-3 RngRun `copy_run(s, b, B)` (s itself when B = 1);
`reset(None)` continues with s + 1. The first reset without a seed uses the config's `seed`,
or fresh entropy when it is None (as Gymnasium does). The process is started once; RESET builds
the next episode inside it (new RngRun, new positions).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from pybridge.bridge import Bridge, BridgeError, Command, find_binary
from pybridge.config import ScenarioConfig
from pybridge.contract import ContractError, load_contract

# Generous: a step at N = 1000 takes about a second of simulation; the first reset builds the
# scenario (positions, fields) and simulates its warm-up interval.
STEP_TIMEOUT = 600.0
HELLO_TIMEOUT = 60.0
# The arrays every scenario binary has: what the generic core itself reads and writes.
CORE_ARRAYS = {"actions": "in", "obs": "out", "reward": "out"}


def scenario_flags(cfg: ScenarioConfig) -> list[str]:
    """`--name=value` for every parameter that is set; None means "the scenario's default"."""
    flags = []
    for name in cfg.param_names():
        value = getattr(cfg, name)
        if value is None:
            continue
        if isinstance(value, float):
            value = repr(value)  # round-trips exactly
        flags.append(f"--{name}={value}")
    return flags


def copy_run(seed: int, copy: int, n_copies: int) -> int:
    """The ns-3 RngRun of copy `copy` for episode seed `seed` (independent streams per copy)."""
    if n_copies == 1:
        return int(seed)
    state = np.random.SeedSequence([int(seed), copy]).generate_state(1, dtype=np.uint64)[0]
    return int(state >> np.uint64(1))


class Ns3Core:
    """B copies of a scenario in B ns-3 processes, stepped together (`pybridge.api.Core`)."""

    backend = "ns3"

    def __init__(self, spec: Any, cfg: ScenarioConfig, n_envs: int = 1, *,
                 binary: str | os.PathLike | None = None, step_timeout: float = STEP_TIMEOUT,
                 hello_timeout: float = HELLO_TIMEOUT, extra_args: Sequence[str] = (),
                 attach: bool = False, copy_offset: int = 0,
                 total_copies: int | None = None) -> None:
        """`spec`: the scenario's `ScenarioSpec`. `binary`: another build of the scenario
        binary (default: `spec.ns3_binary` in build/bin). `attach=True`: do not launch; print
        the command line and wait for the scenario to be started by hand (e.g. under gdb) on
        the segment Python created (B must be 1). `copy_offset`, `total_copies`: these B
        copies are copies offset .. offset + B - 1 of a batch of `total_copies` split over
        several cores (pybridge.engine): each copy keeps the RngRun and "{copy}" index it has
        in the whole batch, so the split changes no number."""
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        total_copies = n_envs if total_copies is None else int(total_copies)
        if not 0 <= copy_offset <= total_copies - n_envs:
            raise ValueError(f"copies {copy_offset}..{copy_offset + n_envs - 1} are not within"
                             f" a batch of {total_copies}")
        self.copy_offset, self.total_copies = int(copy_offset), total_copies
        if attach and n_envs != 1:
            raise ValueError("attach mode drives one scenario process: use n_envs=1")
        self.spec, self.cfg = spec, cfg
        self.B, self.N = n_envs, spec.n_agents(cfg)
        self.bridges: list[Bridge] = []
        self.binary = Path(binary) if binary is not None else find_binary(spec.ns3_binary)
        self.contract = load_contract(self.binary)
        self._check_contract()
        self.arrays = self.contract.array_table(spec.ns3_dims(cfg))
        self.obs_shape = spec.observation_space(cfg).shape
        self._action_space = spec.action_space(cfg)
        self._action_shape = (n_envs, self.N, *self._action_space.shape)
        self.args = [*scenario_flags(cfg), *extra_args]
        try:
            if attach:
                hint = " ".join([str(self.binary), *self.copy_args(0)])
                self.bridges.append(Bridge.attach(None, self.arrays, command_hint=hint))
            for b in range(len(self.bridges), n_envs):
                self.bridges.append(Bridge.launch(self.binary, self.copy_args(b), self.arrays,
                                                  hello_timeout=hello_timeout,
                                                  step_timeout=step_timeout))
        except BaseException:
            self.close()
            raise
        self._views = [b.views for b in self.bridges]
        # reset(None) first uses the config's seed (or fresh entropy), then counts up.
        self._seed: int | None = None
        self.t = 0
        self._started = False
        self._obs: np.ndarray | None = None
        self._reward: np.ndarray | None = None
        self.last: Any = None

    def _check_contract(self) -> None:
        """The binary is this scenario's, its parameters are the dataclass's, and it has the
        arrays the core drives; one ContractError otherwise (before any process starts)."""
        c, spec = self.contract, self.spec
        if c.scenario != spec.name:
            raise ContractError(f"{self.binary} serves scenario {c.scenario!r}, not {spec.name!r}")
        c.check_config(type(self.cfg))
        for name, direction in CORE_ARRAYS.items():
            decl = c.array(name)
            if decl.direction != direction:
                raise ContractError(f"{self.binary}: array {name!r} must be direction"
                                    f" {direction!r}, the contract says {decl.direction!r}")
        try:
            from pybridge import _shm
        except ImportError:
            return  # Bridge.launch names the missing build
        if c.layout_version != _shm.LAYOUT_VERSION:
            raise ContractError(f"{self.binary} has shm layout version {c.layout_version}, this"
                                f" Python side (pybridge._shm) {_shm.LAYOUT_VERSION}: rebuild")

    def copy_args(self, copy: int) -> list[str]:
        """Command-line flags of copy `copy`: "{copy}" in an extra argument becomes the index,
        so per-process outputs (e.g. `--trace=DIR/c{copy}.trace`) do not overwrite each other."""
        return [a.replace("{copy}", str(self.copy_offset + copy)) for a in self.args]

    # ------------------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new episode in every copy (inside the running processes); obs [B, N, W]."""
        if seed is not None:
            self._seed = int(seed)
        elif self._seed is not None:
            self._seed += 1
        elif self.cfg.seed is not None:
            self._seed = int(self.cfg.seed)
        else:  # fresh entropy, like Gymnasium's first reset without a seed
            self._seed = secrets.randbits(31)
        self._exchange("reset", [copy_run(self._seed, self.copy_offset + b, self.total_copies)
                                 for b in range(self.B)])
        self.t = 0
        self._started = True
        return self._gather()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one decision interval in every copy. actions: [B, N] (or [B, N, C])."""
        actions = self.check_actions(actions)
        for b, views in enumerate(self._views):
            views["actions"][:] = actions[b].ravel()
        self._exchange("step", None)
        self.t += 1
        obs = self._gather()
        return obs, self._reward, self.t >= self.cfg.episode_steps

    def check_actions(self, actions: np.ndarray) -> np.ndarray:
        """An episode is running and `actions` fit the action space; returns them as an array.
        Scenarios may override it to give their twin's exact messages."""
        self._require_started("step()")
        if self.t >= self.cfg.episode_steps:
            raise RuntimeError("episode is over: call reset() to start the next one")
        actions = np.asarray(actions)
        if actions.shape != self._action_shape:
            raise ValueError(f"actions must have shape {self._action_shape}, got {actions.shape}")
        space = self._action_space
        high = space.n if isinstance(space, spaces.Discrete) else np.asarray(space.nvec)
        if actions.min() < 0 or np.any(actions >= high):
            raise ValueError(f"actions must lie in the action space {space}")
        return actions

    def _require_started(self, what: str) -> None:
        if not self._started:
            raise RuntimeError(f"{what} before reset(): call reset() first")

    def _exchange(self, what: str, runs: list[int] | None) -> None:
        """Post the request to every copy, then collect every answer (copies run in parallel).

        On any failure every process is stopped and every segment unlinked before the error
        propagates: a half-dead batch cannot continue in lock-step.
        """
        if not self.bridges:
            raise BridgeError("the ns-3 environment is closed")
        try:
            for b, bridge in enumerate(self.bridges):
                if runs is None:
                    bridge.post(Command.STEP)
                else:
                    bridge.post(Command.RESET, runs[b])  # the copy's RngRun
            for bridge in self.bridges:
                bridge.collect()
        except BaseException:
            self.close()
            raise

    def _gather(self) -> np.ndarray:
        B = self.B
        stacked = {name: np.stack([v[name] for v in self._views]) for name, _, _ in self.arrays}
        self.last = self.spec.ns3_step_data(self.cfg, stacked, B, self.contract.constants)
        self._reward = stacked["reward"].reshape(B, self.N)
        self._obs = stacked["obs"].reshape(B, self.N, *self.obs_shape)
        return self._obs

    # ---------------------------------------------------------------------- observations
    def observation(self) -> np.ndarray:
        self._require_started("observation()")
        return self._obs

    def state(self) -> np.ndarray:
        """The global state: the contract's "state" array when the binary declares one."""
        self._require_started("state()")
        if not any(name == "state" for name, _, _ in self.arrays):
            raise NotImplementedError(f"scenario {self.spec.name!r}: no 'state' array in the"
                                      " contract and no state() of its own")
        return np.stack([v["state"] for v in self._views])

    # -------------------------------------------------------------------------- closing
    @property
    def pids(self) -> list[int]:
        return [b.peer_pid for b in self.bridges]

    @property
    def segment_names(self) -> list[str]:
        return [b.name for b in self.bridges]

    def close(self) -> None:
        """Stop every process and unlink every segment. Idempotent."""
        bridges, self.bridges = self.bridges, []
        for bridge in bridges:
            with contextlib.suppress(Exception):
                bridge.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()

    def __repr__(self) -> str:
        state = "closed" if not self.bridges else f"pids {self.pids}"
        return f"{type(self).__name__}({self.spec.name}, B={self.B}, N={self.N}, {state})"

