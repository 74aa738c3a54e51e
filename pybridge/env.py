"""The environment API over any registered scenario and either backend core.

`make_env` gives a PettingZoo ParallelEnv (`ParallelEnvAdapter`, the exact API over a single
copy), `make_vec_env` the batched `VecEnv` (B copies on arrays [B, N, ...], for training and
evaluation speed). Both take what they know about a scenario from its `ScenarioSpec`
(`pybridge.scenarios.get`) and drive a backend core through the `pybridge.api.Core` protocol:
"twin" (numpy, in process) or "ns3" (one packet-level process per copy over shared memory).
Close ns-3 envs (`env.close()` or a `with` block): it stops the processes and unlinks the
segments (they are also cleaned up at interpreter exit).

Gymnasium conventions kept here: `reset()` without a seed continues the core's own stream,
whose first draw is fresh entropy unless the config sets `seed`; spaces are one object per
agent; an env pickles as its configuration (the copy builds its own core: ns-3 its own process),
so vectorising wrappers such as SuperSuit's `concat_vec_envs` work on both backends.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from pybridge import scenarios
from pybridge.api import BACKENDS, Core, ScenarioSpec
from pybridge.config import ConfigError, ScenarioConfig

HUMAN = "human"  # shows the scenario's rgb_array picture in a matplotlib window


def make_config(scenario: str, **params: Any) -> ScenarioConfig:
    """The validated config of `scenario` (see `fedmarl params SCENARIO`)."""
    return scenarios.get(scenario).make_config(**params)


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def _make_core(spec: ScenarioSpec, cfg: ScenarioConfig, backend: str, n_envs: int,
               ns3_options: dict[str, Any] | None) -> Core:
    _check_backend(backend)
    if ns3_options and backend != "ns3":
        raise ConfigError("ns3_options apply to backend='ns3' only")
    if backend == "twin":
        return spec.make_twin(cfg, n_envs)
    return spec.make_ns3(cfg, n_envs, **(ns3_options or {}))


def _check_core(core: Any, spec: ScenarioSpec) -> None:
    if not isinstance(core, Core):  # the declared protocol, checked once at construction
        missing = [m for m in ("cfg", "backend", "B", "N", "t", "last", "reset", "step",
                               "observation", "state", "close") if m not in dir(core)]
        raise TypeError(f"{spec.name}: {type(core).__name__} is not a pybridge.api.Core"
                        f" (missing {', '.join(missing)})")


def _render_modes(spec: ScenarioSpec) -> list[str]:
    modes = list(spec.render_modes)
    return [*modes, HUMAN] if "rgb_array" in modes and HUMAN not in modes else modes


def _check_render_mode(spec: ScenarioSpec, render_mode: str | None) -> None:
    if render_mode is not None and render_mode not in _render_modes(spec):
        raise ConfigError(f"render_mode {render_mode!r} is not supported by {spec.name!r};"
                          f" use None or one of {', '.join(_render_modes(spec)) or '(none)'}")


def make_env(scenario: str, backend: str = "twin", *, render_mode: str | None = None,
             ns3_options: dict[str, Any] | None = None, **params: Any) -> ParallelEnvAdapter:
    """A PettingZoo ParallelEnv of `scenario` (see `fedmarl params SCENARIO` for params).

    `render_mode`: None, "rgb_array" (`render()` returns a picture [H, W, 3] uint8) or "human"
    (shown in a matplotlib window). `ns3_options` (backend "ns3"): keyword arguments of
    `pybridge.ns3_backend.Ns3Core`, e.g. {"attach": True} to start the scenario by hand (under
    gdb) on the segment Python creates, {"step_timeout": 60}, {"binary": path}.
    """
    spec = scenarios.get(scenario)
    cfg = spec.make_config(**params)
    _check_backend(backend)
    _check_render_mode(spec, render_mode)
    core = _make_core(spec, cfg, backend, 1, ns3_options)
    return ParallelEnvAdapter(core, spec, render_mode=render_mode, ns3_options=ns3_options)


def make_vec_env(scenario: str, n_envs: int, backend: str = "twin", *,
                 ns3_options: dict[str, Any] | None = None, engine: Any = None,
                 **params: Any) -> VecEnv:
    """B = n_envs independent copies stepped together on numpy arrays of shape [B, N, ...].

    `engine` (a `pybridge.engine.Engine`; default the current one, `pybridge.engine.use`):
    where the copies run, in this process or as Ray actors (pybridge/engine)."""
    from pybridge import engine as engines

    spec = scenarios.get(scenario)
    cfg = spec.make_config(**params)
    _check_backend(backend)
    core = engines.make_core(spec, cfg, backend, n_envs, ns3_options, engine,
                             build_plain=_make_core)
    return VecEnv(core, spec, ns3_options=ns3_options)


class _Rebuildable:
    """Pickles as (spec, config, backend, options); unpickling builds a fresh core.

    A core holds processes, shared memory and RNG state that cannot (and should not) travel: a
    copy made for another worker must run its own simulation. The copy starts unreset.
    """

    spec: ScenarioSpec
    core: Core
    _ns3_options: dict[str, Any] | None

    def _recipe(self) -> dict[str, Any]:
        return {"spec": self.spec, "cfg": self.core.cfg, "backend": self.core.backend,
                "n_envs": self.core.B, "ns3_options": self._ns3_options}

    def __getstate__(self) -> dict[str, Any]:
        return self._recipe()

    def _rebuild(self, state: dict[str, Any]) -> Core:
        return _make_core(state["spec"], state["cfg"], state["backend"], state["n_envs"],
                          state["ns3_options"])

    def close(self) -> None:
        self.core.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VecEnv(_Rebuildable):
    """Batched API: B copies of one scenario, all with N agents, stepped in lock-step.

    Episodes have a fixed length, so every copy ends at the same step; call `reset` then. The
    info dict holds `spec.info_keys` (ns-3: also `spec.ns3_info_keys`), arrays [B, ...] with the
    dtypes the spec declares.
    """

    def __init__(self, core: Core, spec: ScenarioSpec, *,
                 ns3_options: dict[str, Any] | None = None) -> None:
        _check_core(core, spec)
        self.core, self.spec = core, spec
        self.cfg = core.cfg
        self.n_envs, self.n_agents = core.B, core.N
        self.single_observation_space = spec.observation_space(self.cfg)
        self.single_action_space = spec.action_space(self.cfg)
        self.state_space = spec.state_space(self.cfg)
        self._ns3_options = ns3_options
        self._started = False

    def reset(self, seed: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        obs = self.core.reset(seed)
        self._started = True
        return obs, self._info()

    def step(self, actions: np.ndarray):
        """actions [B, N] (or [B, N, C]) -> obs [B, N, ...], rewards [B, N], terminated [B],
        truncated [B], info."""
        obs, reward, done = self.core.step(np.asarray(actions))
        terminated = np.zeros(self.n_envs, dtype=bool)
        truncated = np.full(self.n_envs, done)
        return obs, reward, terminated, truncated, self._info()

    def _info(self) -> dict[str, np.ndarray]:
        # A sharded core (pybridge.engine) gathers the shards' infos with their arrays.
        gathered = getattr(type(self.core), "step_info", None)
        return self.core.step_info() if gathered else self.spec.step_info(self.core)

    def state(self) -> np.ndarray:
        """Global state per copy, [B, *state_space.shape]."""
        if not self._started:
            raise RuntimeError("state() before reset(): call reset() first")
        return self.core.state()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(self._rebuild(state), state["spec"], ns3_options=state["ns3_options"])

    def __repr__(self) -> str:
        return f"VecEnv({self.spec.name}, {self.core.backend}, B={self.n_envs}, N={self.n_agents})"


class ParallelEnvAdapter(_Rebuildable, ParallelEnv):
    """PettingZoo ParallelEnv over a single-copy core (exact API: reset(seed=, options=))."""

    def __init__(self, core: Core, spec: ScenarioSpec, *, render_mode: str | None = None,
                 ns3_options: dict[str, Any] | None = None) -> None:
        _check_core(core, spec)
        if core.B != 1:
            raise ValueError("ParallelEnv wraps a single copy; use make_vec_env for batches")
        _check_render_mode(spec, render_mode)
        self.core, self.spec = core, spec
        self.cfg = core.cfg
        self.metadata = {"name": spec.env_name, "render_modes": _render_modes(spec),
                         "is_parallelizable": True}
        self.render_mode = render_mode
        self._ns3_options = ns3_options
        self.possible_agents = spec.agent_names(self.cfg)
        if len(self.possible_agents) != core.N:
            raise ValueError(f"{spec.name}: {len(self.possible_agents)} agent names for a core"
                             f" of {core.N} agents")
        # One space object per agent (equal, not shared): seeding one leaves the others alone.
        self._obs_spaces = {a: spec.observation_space(self.cfg) for a in self.possible_agents}
        self._act_spaces = {a: spec.action_space(self.cfg) for a in self.possible_agents}
        self._discrete = isinstance(self._act_spaces[self.possible_agents[0]], spaces.Discrete)
        self.state_space = spec.state_space(self.cfg)
        self.agents: list[str] = []
        self._started = False
        self._figure = None

    def observation_space(self, agent: str) -> spaces.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> spaces.Space:
        return self._act_spaces[agent]

    def reset(self, seed: int | None = None, options: dict | None = None):
        obs = self.core.reset(seed)[0]
        self._started = True
        self.agents = list(self.possible_agents)
        return self._obs_dict(obs), self._infos()

    def step(self, actions: dict[str, Any]):
        if not self.agents:
            raise RuntimeError("episode is over: call reset()")
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"step() needs an action for every live agent; missing {missing[:5]}")
        agents = self.possible_agents
        if self._discrete:
            act = np.fromiter((actions[a] for a in agents), dtype=np.int64, count=len(agents))
        else:
            act = np.stack([np.asarray(actions[a], dtype=np.int64) for a in agents])
        obs, reward, done = self.core.step(act[None])
        obs_d = self._obs_dict(obs[0])
        rewards = dict(zip(agents, reward[0].tolist()))
        terminations = dict.fromkeys(agents, False)
        truncations = dict.fromkeys(agents, bool(done))
        infos = self._infos()
        if done:
            self.agents = []
        return obs_d, rewards, terminations, truncations, infos

    def _obs_dict(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.possible_agents, obs))

    def _infos(self) -> dict[str, dict[str, Any]]:
        return self.spec.agent_infos(self.spec.step_info(self.core), 0, self.possible_agents)

    def state(self) -> np.ndarray:
        if not self._started:
            raise RuntimeError("state() before reset(): call reset() first")
        return self.core.state()[0]

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gymnasium.logger.warn("render() without a render_mode: pass render_mode='rgb_array'"
                                  " to make_env")
            return None
        if not self._started:
            raise RuntimeError("render() before reset(): call reset() first")
        picture = self.spec.render(self.core, 0)
        if self.render_mode == HUMAN:
            self._show(picture)
            return None
        return picture

    def _show(self, picture: np.ndarray) -> None:
        import matplotlib
        import matplotlib.pyplot as plt

        if self._figure is None:
            fig, ax = plt.subplots()
            ax.set_axis_off()
            self._figure = (fig, ax.imshow(picture))
        else:
            self._figure[1].set_data(picture)
        self._figure[0].canvas.draw_idle()
        if "agg" not in matplotlib.get_backend().lower():  # a window to update
            plt.pause(0.001)

    def close(self) -> None:
        if self._figure is not None:
            import matplotlib.pyplot as plt

            plt.close(self._figure[0])
            self._figure = None
        self.core.close()

    def _recipe(self) -> dict[str, Any]:
        return {**super()._recipe(), "render_mode": self.render_mode}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(self._rebuild(state), state["spec"], render_mode=state["render_mode"],
                      ns3_options=state["ns3_options"])

    def __repr__(self) -> str:
        return f"ParallelEnvAdapter({self.spec.name}, {self.core.backend}, N={self.core.N})"
