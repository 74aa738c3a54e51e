"""The ns-3 backend: B copies of the inx-factory scenario, each a packet-level ns-3 process.

Each copy is one `fedmarl-inx-factory` process (ns3-scenarios/inx-factory/) behind its own
shared-memory segment (pybridge.bridge). The core offers the same interface as the numpy twin
(`reset(seed) -> obs`, `step(actions) -> (obs, reward, done)`, `last`, `sinr_db()`, `coupling()`,
`state()`), so `pybridge.env` wraps either one. A step posts the actions to every process first
and then collects the answers, so the B simulations run in parallel on their own cores.

Seeds: episode seed s gives copy b the ns-3 RngRun `copy_run(s, b, B)` (s itself when B = 1);
`reset(None)` continues with s + 1. The process is started once; RESET builds the next episode
inside it (new RngRun, new positions).

What a copy reports per step comes from real packet events in ns-3 (throughput from delivered
packets, delay, loss, queue length); see `Ns3StepData`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pybridge.bridge import (
    DELAY_HIST_BINS,
    INX_METRICS,
    Bridge,
    BridgeError,
    Command,
    find_binary,
    inx_factory_arrays,
)
from pybridge.scenarios.inx_factory import InxFactoryConfig
from pybridge.twin.inx_factory import OBS_HIGH, OBS_LOW

BINARY = "fedmarl-inx-factory"
# Delay histogram bin edges (s): 64 log-spaced bins over [1 us, 1 s], the scenario's contract.
DELAY_BIN_EDGES = np.logspace(-6.0, 0.0, DELAY_HIST_BINS + 1)
# Generous: a step at N = 1000 takes about a second of simulation; the first reset builds the
# scenario (positions, fields) and simulates its warm-up interval.
STEP_TIMEOUT = 600.0
HELLO_TIMEOUT = 60.0


def scenario_flags(cfg: InxFactoryConfig) -> list[str]:
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


class Ns3StepData:
    """One step's measurements of every copy, [B, ...] arrays (copies: safe to keep).

    Same attributes as the twin's StepData (rate_fbl, rate_shannon, sinr, interference_w,
    reward, channel, switches), plus what only a packet-level simulation has: per-device
    delivered / lost (decoding failure) / dropped (queue overflow) packets and queue length at
    the step's end, delay sum and max of the packets delivered in the step (s), the AP airtime
    fraction, the delay histogram and the global metrics (columns named by INX_METRICS).
    """

    def __init__(self, arrays: dict[str, np.ndarray], B: int, N: int, M: int, K: int) -> None:
        dev = (B, N, M)
        self.rate_fbl = arrays["rate_fbl"].reshape(dev)
        self.rate_shannon = arrays["rate_shannon"].reshape(dev)
        self.sinr = arrays["sinr"].reshape(dev)
        self.interference_w = arrays["interference"].reshape(dev)
        self.sinr_per_channel = arrays["sinr_per_channel"].reshape(B, N, M, K)
        self.reward = arrays["reward"].reshape(B, N)
        self.channel = arrays["channel"].reshape(B, N).astype(np.int64)
        self.switches = arrays["switched"].reshape(B, N).astype(bool)
        self.delivered = arrays["delivered"].reshape(dev)
        self.lost = arrays["lost"].reshape(dev)
        self.dropped = arrays["dropped"].reshape(dev)
        self.queue = arrays["queue"].reshape(dev)
        self.delay_sum = arrays["delay_sum"].reshape(dev)
        self.delay_max = arrays["delay_max"].reshape(dev)
        self.delay_hist = arrays["delay_hist"].reshape(B, DELAY_HIST_BINS)
        self.airtime = arrays["airtime"].reshape(B, N)
        self.metrics = arrays["metrics"].reshape(B, -1)

    def metric(self, name: str) -> np.ndarray:
        """Global metric `name` (see INX_METRICS) of every copy, [B]."""
        return self.metrics[:, INX_METRICS.index(name)]


class Ns3Core:
    """B copies of the inx-factory scenario in B ns-3 processes, stepped together."""

    def __init__(self, cfg: InxFactoryConfig, n_envs: int = 1, *,
                 binary: str | os.PathLike | None = None, step_timeout: float = STEP_TIMEOUT,
                 hello_timeout: float = HELLO_TIMEOUT, extra_args: Sequence[str] = (),
                 attach: bool = False) -> None:
        """`attach=True`: do not launch; print the command line and wait for the scenario to be
        started by hand (e.g. under gdb) on the segment Python created (B must be 1)."""
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.cfg = cfg
        self.B, self.N, self.M, self.K = n_envs, cfg.n_subnetworks, cfg.n_devices, cfg.n_channels
        self.W = cfg.obs_width
        self.binary = Path(binary) if binary is not None else find_binary(BINARY)
        self.arrays = inx_factory_arrays(self.N, self.W, self.M, self.K)
        self.args = [*scenario_flags(cfg), *extra_args]
        self.bridges: list[Bridge] = []
        if attach and n_envs != 1:
            raise ValueError("attach mode drives one scenario process: use n_envs=1")
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
        self._seed = cfg.seed - 1  # reset(None) first uses cfg.seed, like the twin
        self.t = 0
        self._started = False
        self._obs: np.ndarray | None = None
        self.last: Ns3StepData | None = None

    def copy_args(self, copy: int) -> list[str]:
        """Command-line flags of copy `copy`: "{copy}" in an extra argument becomes the index,
        so per-process outputs (e.g. `--trace=DIR/c{copy}.trace`) do not overwrite each other."""
        return [a.replace("{copy}", str(copy)) for a in self.args]

    # ------------------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new episode in every copy (inside the running processes); obs [B, N, W]."""
        self._seed = self._seed + 1 if seed is None else int(seed)
        self._exchange("reset", [copy_run(self._seed, b, self.B) for b in range(self.B)])
        self.t = 0
        self._started = True
        return self._gather()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one decision interval in every copy. actions: [B, N] channel indices."""
        actions = self.cfg.check_step(actions, self.B, self.t, self._started)
        for b, views in enumerate(self._views):
            views["actions"][:] = actions[b]
        self._exchange("step", None)
        self.t += 1
        obs = self._gather()
        return obs, self.last.reward, self.t >= self.cfg.episode_steps

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
        B, N, M, K = self.B, self.N, self.M, self.K
        stacked = {name: np.stack([v[name] for v in self._views]) for name, _, _ in self.arrays}
        self.last = Ns3StepData(stacked, B, N, M, K)
        self._coupling = stacked["coupling"].reshape(B, N, N)
        self._obs = stacked["obs"].reshape(B, N, self.W)
        return self._obs

    # ---------------------------------------------------------------------- observations
    def observation(self) -> np.ndarray:
        return self._obs

    def sinr_db(self) -> np.ndarray:
        """Measured SINR per channel at every device, [B, N, M, K] dB (for greedy policies)."""
        with np.errstate(divide="ignore"):
            return 10.0 * np.log10(self.last.sinr_per_channel)

    def coupling(self) -> np.ndarray:
        """Large-scale mean interference power from AP i at subnetwork n, [B, N, N] W."""
        return self._coupling

    @property
    def channel(self) -> np.ndarray:
        return self.last.channel

    def state(self) -> np.ndarray:
        """Global state per copy: every agent's observation and channel, [B, N * (W + 1)]."""
        chan = (self.last.channel / max(self.K - 1, 1)).astype(np.float32)[:, :, None]
        obs = np.clip(self._obs, OBS_LOW, OBS_HIGH)
        return np.concatenate([obs, chan], axis=-1).reshape(self.B, -1)

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
        return f"Ns3Core(B={self.B}, N={self.N}, {state})"

