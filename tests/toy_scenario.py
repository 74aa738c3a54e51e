"""A toy scenario defined in the tests, the smallest complete example of the scenario framework:
a config, a twin core (the Core protocol), a spec, a recorder and a baselines table, in one file
and registered by the tests only (no shared file knows it). Each agent picks a composite action
(target, level) from MultiDiscrete([3, 2]); the reward is target * level; the observation is the
last action plus uniform noise.

Used by tests/unit/test_env_api.py (the generic adapter) and tests/e2e/test_fedmarl_toy.py (eval,
training, report). tests/ is on sys.path because tests/conftest.py lives there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from gymnasium import spaces

from agents.baselines import Policy, RandomPolicy
from pybridge import scenarios
from pybridge.api import Column, ScenarioSpec
from pybridge.config import ScenarioConfig, param


@dataclass(frozen=True)
class ToyConfig(ScenarioConfig):
    scenario: ClassVar[str] = "toy-offload"
    n_users: int = param(3, "agents", low=1, high=50)
    episode_steps: int = param(6, "steps per episode", low=1, high=1000)
    seed: int = param(None, "master seed", low=0, high=2**63 - 1)


class ToyCore:
    """Each agent picks (target, level); reward target * level; obs the last action + noise."""

    backend = "twin"

    def __init__(self, cfg: ToyConfig, n_envs: int) -> None:
        self.cfg, self.B, self.N, self.t, self.last = cfg, n_envs, cfg.n_users, 0, None
        self._rng = np.random.default_rng(cfg.seed)

    def reset(self, seed=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.t = 0
        self._obs = self._rng.random((self.B, self.N, 2), dtype=np.float32)
        self.last = np.zeros((self.B, self.N))
        return self._obs

    def step(self, actions):
        actions = np.asarray(actions)
        self.t += 1
        self._obs = (actions + self._rng.random(actions.shape)).astype(np.float32)
        self.last = (actions[..., 0] * actions[..., 1]).astype(np.float64)
        return self._obs, self.last, self.t >= self.cfg.episode_steps

    def observation(self):
        return self._obs

    def state(self):
        return self._obs.reshape(self.B, -1)

    def close(self):
        pass


class ToyRecorder:
    def __init__(self) -> None:
        self._steps: list[np.ndarray] = []
        self._eps: list[dict[str, np.ndarray]] = []

    def add_step(self, info, reward):
        self._steps.append(np.array(info["gain"], copy=True))

    def end_batch(self):
        if self._steps:
            g = np.stack(self._steps, axis=1)  # [B, T, N]
            self._eps += [{"gain": x} for x in g]
            self._steps.clear()

    @property
    def episodes(self):
        self.end_batch()
        return self._eps

    def summary(self):
        eps = self.episodes
        g = np.concatenate([e["gain"].ravel() for e in eps])
        return {"episodes": len(eps), "mean_gain": float(g.mean()),
                "mean_reward": float(g.mean()),
                "gain_cdf_quantiles": np.quantile(g, np.linspace(0, 1, 11)).tolist()}


class Greedy(Policy):
    name = "max"

    def act(self, view):
        nvec = self.action_space.nvec
        return np.broadcast_to(nvec - 1, (self.B, self.N, len(nvec))).copy()


class ToySpec(ScenarioSpec):
    name = "toy-offload"
    env_name = "toy_offload_v0"
    agent_prefix = "user"
    config_cls = ToyConfig
    baselines_module = "toy_scenario"  # this module: BASELINES below
    info_keys = ("gain",)
    info_dtypes: ClassVar[dict] = {"gain": np.dtype(np.float64)}
    render_modes = ()
    columns = (Column("mean_gain", "gain"), Column("mean_reward", "reward"))
    headline = "mean_gain"
    agents_param = "n_users"

    def n_agents(self, cfg):
        return cfg.n_users

    def observation_space(self, cfg):
        return spaces.Box(0.0, 4.0, (2,), np.float32)

    def action_space(self, cfg):
        return spaces.MultiDiscrete([3, 2])

    def state_space(self, cfg):
        return spaces.Box(0.0, 4.0, (2 * cfg.n_users,), np.float32)

    def make_twin(self, cfg, n_envs):
        return ToyCore(cfg, n_envs)

    def step_info(self, core):
        return {"gain": core.last}

    def agent_infos(self, info, b, agents):
        return {a: {"gain": float(info["gain"][b][n])} for n, a in enumerate(agents)}

    def step_scalars(self, info, reward):
        return {"mean_reward": float(np.mean(reward)), "mean_gain": float(info["gain"].mean())}

    def recorder(self, cfg):
        return ToyRecorder()


BASELINES = {"random": RandomPolicy, "max": Greedy}


@contextmanager
def registered() -> Iterator[ScenarioSpec]:
    """The toy registered for the duration of a test."""
    spec = scenarios.register(ToySpec(), replace=True)
    try:
        yield spec
    finally:
        scenarios.unregister(spec.name)
