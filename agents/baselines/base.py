"""The evaluation-policy interface every baseline (and `agents.policy.LearnerPolicy`) follows.

A policy is reset at each episode start with the batch size, the number of agents, one agent's
action space and a random generator, then asked for every agent's action at every step from a
`view`: the env core. What a policy reads from the view is its own business (a learner reads
`observation()`; a scenario's heuristics may read the scenario's own core methods), which is
why heuristics live in one module per scenario and this module names none.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


class Policy:
    """Base: `reset` at each episode start, then `act(view)` every step; `act` returns the
    actions of all agents, [B, N] int (Discrete) or [B, N, C] int (MultiDiscrete)."""

    name = "policy"

    def reset(self, n_envs: int, n_agents: int, action_space: spaces.Space,
              rng: np.random.Generator) -> None:
        if not isinstance(action_space, (spaces.Discrete, spaces.MultiDiscrete)):
            raise TypeError(f"{type(self).__name__}.reset: action_space must be a gymnasium"
                            f" Discrete or MultiDiscrete space, got {action_space!r}")
        self.B, self.N = int(n_envs), int(n_agents)
        self.action_space = action_space
        self.rng = rng

    def act(self, view: Any) -> np.ndarray:
        raise NotImplementedError


class RandomPolicy(Policy):
    """A uniformly random action per agent, drawn at the start of each episode and kept (the
    random baseline of reference 002: a random fixed choice, not a fresh draw every step)."""

    name = "random"

    def reset(self, n_envs, n_agents, action_space, rng):
        super().reset(n_envs, n_agents, action_space, rng)
        if isinstance(action_space, spaces.Discrete):
            self.choice = int(action_space.start) + rng.integers(
                0, int(action_space.n), size=(n_envs, n_agents))
        else:
            nvec = np.asarray(action_space.nvec)
            self.choice = np.asarray(action_space.start) + rng.integers(
                0, nvec, size=(n_envs, n_agents, *nvec.shape))

    def act(self, view):
        return self.choice
