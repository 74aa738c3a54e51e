"""What a learner reads from the gymnasium spaces: the observation size and the action layout.

Learners size their networks from the env's `single_observation_space` (a Box; its shape is
flattened, obs_dim = prod(shape)) and `single_action_space`, as CleanRL does. Actions are
either `Discrete(n)` (one choice per agent: actions [B, N]) or `MultiDiscrete(nvec)` (a
composite action of C components, component d with nvec[d] choices: actions [B, N, C]).
A Discrete space is the layout with one component and `multi` False, so one code path serves
both; `multi` only decides the array shapes ([B, N] vs [B, N, C]) and the network heads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium import spaces

from agents.ensemble import check_obs


def obs_shape_of(space: Any) -> tuple[int, ...]:
    """Shape of one agent's observation; the space must be a Box."""
    if not isinstance(space, spaces.Box):
        raise TypeError(f"obs_space must be a gymnasium Box, got {space!r}")
    if len(space.shape) == 0 or math.prod(space.shape) < 1:
        raise ValueError(f"obs_space must have at least one element, got shape {space.shape}")
    return tuple(int(s) for s in space.shape)


@dataclass(frozen=True)
class ActionLayout:
    """Component sizes of an action space; `multi` is False for Discrete (actions [B, N])."""

    nvec: tuple[int, ...]
    multi: bool

    @classmethod
    def of(cls, space: Any) -> ActionLayout:
        if isinstance(space, spaces.Discrete):
            if int(space.start) != 0:
                raise ValueError(f"Discrete action spaces must start at 0, got {space!r}")
            return cls((int(space.n),), False)
        if isinstance(space, spaces.MultiDiscrete):
            nvec = np.asarray(space.nvec)
            if nvec.ndim != 1 or nvec.size < 1:
                raise ValueError(f"MultiDiscrete action spaces must have a 1-D nvec, got {space!r}")
            if np.any(np.asarray(space.start) != 0):
                raise ValueError(f"MultiDiscrete action spaces must start at 0, got {space!r}")
            return cls(tuple(int(n) for n in nvec), True)
        raise TypeError(f"action_space must be gymnasium Discrete or MultiDiscrete, got {space!r}")

    @property
    def n_components(self) -> int:
        return len(self.nvec)

    @property
    def width(self) -> int:
        """Logits / one-hot width: the components' choices side by side."""
        return sum(self.nvec)

    @property
    def n_joint(self) -> int:
        """Number of distinct composite actions."""
        return math.prod(self.nvec)

    @property
    def offsets(self) -> np.ndarray:
        """Start of each component in the width-wide one-hot / logits vector."""
        return np.cumsum((0, *self.nvec[:-1])).astype(np.int64)

    def shape(self, batch: int, n_agents: int) -> tuple[int, ...]:
        return (batch, n_agents, self.n_components) if self.multi else (batch, n_agents)

    def sample(self, rng: np.random.Generator, batch: int, n_agents: int) -> np.ndarray:
        """Uniform actions of every agent, [B, N] or [B, N, C] int64."""
        if not self.multi:
            return rng.integers(0, self.nvec[0], (batch, n_agents))
        return rng.integers(0, np.asarray(self.nvec), (batch, n_agents, self.n_components))

    def epsilon_greedy(self, greedy: np.ndarray, epsilon: float,
                       rng: np.random.Generator) -> np.ndarray:
        """Each agent with probability epsilon takes a uniform composite action (all its
        components at random at once), else its greedy one."""
        B, N = greedy.shape[:2]
        rand = rng.random((B, N)) < epsilon
        if self.multi:
            rand = rand[..., None]
        return np.where(rand, self.sample(rng, B, N), greedy)

    def check(self, actions: Any, batch: int, n_agents: int) -> np.ndarray:
        """Actions as int64 of the layout's shape, each component in range; else ValueError."""
        a = np.asarray(actions)
        want = self.shape(batch, n_agents)
        if a.shape != want or a.dtype.kind not in "iu":
            raise ValueError(f"actions must be integers of shape {list(want)}, got"
                             f" {a.dtype} {list(a.shape)}")
        a = a.astype(np.int64, copy=False)
        high = np.asarray(self.nvec) if self.multi else self.nvec[0]
        if a.size and (a.min() < 0 or np.any(a >= high)):
            raise ValueError(f"actions out of range for nvec {list(self.nvec)}")
        return a

    def describe(self) -> dict[str, Any]:
        """Plain description for checkpoints (compared on load)."""
        return {"type": "MultiDiscrete" if self.multi else "Discrete", "nvec": list(self.nvec)}


class SpacesMixin:
    """What every learner keeps of its spaces: `obs_space`, `action_space`, `obs_shape`,
    `obs_dim` (flattened), `layout` (ActionLayout), `n_actions` (distinct composite actions;
    K for Discrete(K)) and `n_agents`."""

    def _init_spaces(self, obs_space: Any, action_space: Any, n_agents: int) -> None:
        self.obs_shape = obs_shape_of(obs_space)
        self.layout = ActionLayout.of(action_space)
        if int(n_agents) < 1:
            raise ValueError(f"n_agents must be >= 1, got {n_agents}")
        self.obs_space, self.action_space = obs_space, action_space
        self.obs_dim = math.prod(self.obs_shape)
        self.n_actions = self.layout.n_joint
        self.n_agents = int(n_agents)

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        """Observations [B, N, *obs_shape] -> float32 [B, N, obs_dim]; else ValueError."""
        return check_obs(obs, self.n_agents, self.obs_shape)

    def _space_record(self) -> dict[str, Any]:
        """The checkpoint entries `ensemble.check_compatible` compares."""
        return {"algo": self.algo, "mode": self.mode,  # type: ignore[attr-defined]
                "obs_dim": self.obs_dim, "n_actions": self.n_actions,
                "action_space": self.layout.describe(),
                "n_agents": self.n_agents}
