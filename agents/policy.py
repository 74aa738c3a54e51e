"""Run a learner as an evaluation policy (the `Policy` interface of agents.baselines).

`evaluate_policy` hands a policy the env core as its view; a learner acts on the agents' own
observations, which the core provides as `observation()` ([B, N, W]). Acting is greedy
(`explore=False`): the deterministic policy a deployed agent would run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from agents.baselines import Policy


class LearnerPolicy(Policy):
    """Greedy policy of a learner; restarts the learner's greedy acting streams each episode."""

    def __init__(self, learner: Any, name: str | None = None) -> None:
        self.learner = learner
        self.name = name or f"{learner.mode}-{learner.algo}"

    def reset(self, n_envs: int, n_agents: int, n_channels: int,
              rng: np.random.Generator) -> None:
        super().reset(n_envs, n_agents, n_channels, rng)
        if n_agents != self.learner.n_agents or n_channels != self.learner.n_actions:
            raise ValueError(f"learner was built for N={self.learner.n_agents},"
                             f" K={self.learner.n_actions}; scenario has N={n_agents},"
                             f" K={n_channels}")
        # Only the greedy streams restart: a training loop's explore streams are untouched.
        self.learner.reset_state(explore=False)

    def act(self, view: Any) -> np.ndarray:
        return self.learner.act(view.observation(), explore=False)
