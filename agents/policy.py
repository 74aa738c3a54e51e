"""Run a learner as an evaluation policy (the `Policy` interface of agents.baselines).

`evaluate_policy` hands a policy the env core as its view; a learner acts on the agents' own
observations, which every core provides as `observation()` ([B, N, *obs_shape]). Acting is
greedy (`explore=False`): the deterministic policy a deployed agent would run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.baselines.base import Policy


class LearnerPolicy(Policy):
    """Greedy policy of a learner; restarts the learner's greedy acting streams each episode."""

    def __init__(self, learner: Any, name: str | None = None) -> None:
        self.learner = learner
        self.name = name or f"{learner.mode}-{learner.algo}"

    def reset(self, n_envs, n_agents, action_space, rng: np.random.Generator) -> None:
        super().reset(n_envs, n_agents, action_space, rng)
        if n_agents != self.learner.n_agents or action_space != self.learner.action_space:
            raise ValueError(f"learner was built for N={self.learner.n_agents} agents and"
                             f" actions {self.learner.action_space}; scenario has"
                             f" N={n_agents} and {action_space}")
        # Only the greedy streams restart: a training loop's explore streams are untouched.
        self.learner.reset_state(explore=False)

    def act(self, view: Any) -> np.ndarray:
        return self.learner.act(view.observation(), explore=False)
