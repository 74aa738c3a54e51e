"""The environment API: one PettingZoo ParallelEnv and one batched API, over any backend core.

Backends: "twin" (numpy, in process) and "ns3" (one packet-level ns-3 process per copy over
shared memory, `pybridge.ns3_backend`). Both take the same parameters and give the same spaces,
observations and info keys. Close ns-3 envs (`env.close()` or a `with` block): it stops the
processes and unlinks the segments (they are also cleaned up at interpreter exit).

A backend core simulates B copies of a scenario on arrays ([B, N, ...]) and offers
`reset(seed) -> obs`, `step(actions) -> (obs, reward, done)`, `last` (StepData), `sinr_db()`,
`coupling()`, `state()`. The twin's core is `pybridge.twin.inx_factory.InxFactoryTwin`.
`ParallelEnv` is the exact PettingZoo API over a B = 1 core; `VecEnv` exposes the core's arrays
directly for training and evaluation speed.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from pybridge.config import ConfigError
from pybridge.scenarios.inx_factory import InxFactoryConfig
from pybridge.twin.inx_factory import OBS_HIGH, OBS_LOW, InxFactoryTwin

SCENARIOS = {"inx-factory": InxFactoryConfig}
BACKENDS = ("twin", "ns3")


def make_config(scenario: str, **params: Any):
    if scenario not in SCENARIOS:
        raise ConfigError(f"unknown scenario {scenario!r}; available: {', '.join(SCENARIOS)}")
    return SCENARIOS[scenario].from_params(**params)


def _make_core(scenario: str, backend: str, n_envs: int, params: dict[str, Any],
               ns3_options: dict[str, Any] | None = None):
    cfg = make_config(scenario, **params)
    if ns3_options and backend != "ns3":
        raise ConfigError("ns3_options apply to backend='ns3' only")
    if backend == "twin":
        return InxFactoryTwin(cfg, n_envs=n_envs)
    if backend == "ns3":
        from pybridge.ns3_backend import Ns3Core  # launches processes: only when asked for

        return Ns3Core(cfg, n_envs=n_envs, **(ns3_options or {}))
    raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def make_env(scenario: str, backend: str = "twin", *, ns3_options: dict[str, Any] | None = None,
             **params: Any) -> ParallelEnv:
    """A PettingZoo ParallelEnv of `scenario` (see `fedmarl params SCENARIO` for params).

    `ns3_options` (backend "ns3"): keyword arguments of `pybridge.ns3_backend.Ns3Core`, e.g.
    {"attach": True} to start the scenario by hand (under gdb) on the segment Python creates,
    {"step_timeout": 60}, {"binary": path}.
    """
    return InxParallelEnv(_make_core(scenario, backend, 1, params, ns3_options))


def make_vec_env(scenario: str, n_envs: int, backend: str = "twin", *,
                 ns3_options: dict[str, Any] | None = None, **params: Any) -> VecEnv:
    """B = n_envs independent copies stepped together on numpy arrays of shape [B, N, ...]."""
    return VecEnv(_make_core(scenario, backend, n_envs, params, ns3_options))


def _spaces(cfg) -> tuple[spaces.Box, spaces.Discrete]:
    obs = spaces.Box(low=OBS_LOW, high=OBS_HIGH, shape=(cfg.obs_width,), dtype=np.float32)
    return obs, spaces.Discrete(cfg.n_channels)


def _packet_info(last) -> dict[str, np.ndarray]:
    """The ns-3 backend's packet counters of the step ([B, N, M]; histogram [B, 64])."""
    if not hasattr(last, "delivered"):
        return {}
    return {"delivered": last.delivered, "lost": last.lost, "dropped": last.dropped,
            "queue": last.queue, "delay_sum": last.delay_sum, "delay_max": last.delay_max,
            "delay_hist": last.delay_hist}


class VecEnv:
    """Batched API: B copies of one scenario, all with N agents, stepped in lock-step.

    Episodes have a fixed length, so every copy ends at the same step; call `reset` then.
    """

    def __init__(self, core) -> None:
        self.core = core
        self.cfg = core.cfg
        self.n_envs, self.n_agents = core.B, core.N
        self.single_observation_space, self.single_action_space = _spaces(self.cfg)

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        obs = self.core.reset(seed)
        return obs, self._info()

    def step(self, actions: np.ndarray):
        """actions [B, N] -> obs [B, N, W], rewards [B, N], terminated [B], truncated [B], info."""
        obs, reward, done = self.core.step(np.asarray(actions))
        terminated = np.zeros(self.n_envs, dtype=bool)
        truncated = np.full(self.n_envs, done)
        return obs, reward, terminated, truncated, self._info()

    def _info(self) -> dict[str, np.ndarray]:
        last = self.core.last
        return {"rate": last.rate_fbl, "rate_shannon": last.rate_shannon, "sinr": last.sinr,
                "interference_w": last.interference_w, "channel": last.channel,
                "switched": last.switches, **_packet_info(last)}

    def close(self) -> None:
        close = getattr(self.core, "close", None)
        if close:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InxParallelEnv(ParallelEnv):
    """PettingZoo ParallelEnv over a single-copy core (exact API: reset(seed=, options=))."""

    metadata: ClassVar[dict] = {"name": "inx_factory_v0", "render_modes": [],
                                "is_parallelizable": True}

    def __init__(self, core) -> None:
        if core.B != 1:
            raise ValueError("ParallelEnv wraps a single copy; use make_vec_env for batches")
        self.core = core
        self.cfg = core.cfg
        self.possible_agents = [f"subnet_{n}" for n in range(core.N)]
        self._index = {a: n for n, a in enumerate(self.possible_agents)}
        obs_space, act_space = _spaces(self.cfg)
        self._obs_spaces = {a: obs_space for a in self.possible_agents}
        self._act_spaces = {a: act_space for a in self.possible_agents}
        width = core.N * (self.cfg.obs_width + 1)
        self.state_space = spaces.Box(low=OBS_LOW, high=OBS_HIGH, shape=(width,),
                                      dtype=np.float32)
        self.agents: list[str] = []
        self.render_mode = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs = self.core.reset(seed)[0]
        self.agents = list(self.possible_agents)
        return self._obs_dict(obs), self._infos()

    def step(self, actions: dict[str, int]):
        if not self.agents:
            raise RuntimeError("episode is over: call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"step() needs an action for every live agent; missing {missing[:5]}")
        act = np.fromiter((actions[a] for a in self.possible_agents), dtype=np.int64,
                          count=len(self.possible_agents))[None, :]
        obs, reward, done = self.core.step(act)
        obs_d = self._obs_dict(obs[0])
        rewards = dict(zip(self.possible_agents, reward[0].tolist()))
        terminations = dict.fromkeys(self.possible_agents, False)
        truncations = dict.fromkeys(self.possible_agents, bool(done))
        infos = self._infos()
        if done:
            self.agents = []
        return obs_d, rewards, terminations, truncations, infos

    def _obs_dict(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, obs))

    def _infos(self) -> dict[str, dict[str, Any]]:
        last = self.core.last
        sinr_db = 10.0 * np.log10(last.sinr[0])
        return {a: {"rate": last.rate_fbl[0, n], "rate_shannon": last.rate_shannon[0, n],
                    "sinr_db": sinr_db[n], "channel": int(last.channel[0, n]),
                    "switched": bool(last.switches[0, n])}
                for n, a in enumerate(self.possible_agents)}

    def state(self) -> np.ndarray:
        return self.core.state()[0]

    def close(self) -> None:
        close = getattr(self.core, "close", None)
        if close:
            close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
