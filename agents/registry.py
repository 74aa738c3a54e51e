"""Learner names as reference 002 uses them: {f,d,c}-{maddqn,mappo,drqn}.

F- federated (each agent its own network and replay, models averaged every tau_agg steps by the
federation), D- distributed (each agent alone), C- centralised (one network and one buffer fed
by every agent: the raw-data-sharing baseline). `make_learner` builds one from the env's
spaces with its defaults, any config field overridden by keyword.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from gymnasium import spaces

from agents.ddqn import DDQN, DDQNConfig
from agents.drqn import DRQN, DRQNConfig
from agents.ppo import PPO, PPOConfig

ALGORITHMS: dict[str, tuple[type, type]] = {
    "maddqn": (DDQN, DDQNConfig),
    "mappo": (PPO, PPOConfig),
    "drqn": (DRQN, DRQNConfig),
}
LEARNERS: dict[str, tuple[type, str]] = {
    f"{mode}-{algo}": (cls, mode)
    for algo, (cls, _) in ALGORITHMS.items() for mode in ("f", "d", "c")}


def learner_spec(name: str) -> tuple[type, type, str]:
    """(learner class, config class, mode) of a registered name (case-insensitive)."""
    key = name.lower()
    if key not in LEARNERS:
        raise ValueError(f"unknown learner {name!r}; available: {', '.join(LEARNERS)}")
    mode, algo = key.split("-", 1)
    cls, cfg_cls = ALGORITHMS[algo]
    return cls, cfg_cls, mode


def make_config(name: str, **overrides: Any) -> Any:
    """The learner's config dataclass with its defaults, `overrides` applied and validated."""
    _, cfg_cls, _ = learner_spec(name)
    valid = [f.name for f in fields(cfg_cls)]
    unknown = sorted(set(overrides) - set(valid))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown} for {name}; valid: "
                         f"{', '.join(valid)}")
    return cfg_cls(**overrides)


def make_learner(name: str, obs_space: Any, action_space: Any, n_agents: int, seed: int = 0,
                 **overrides: Any) -> Any:
    """Build learner `name` (e.g. "f-maddqn") for N agents, sized from one agent's gymnasium
    spaces (a VecEnv's `single_observation_space` Box and `single_action_space`, Discrete or
    MultiDiscrete); keyword overrides replace config defaults. The scenario's observation
    scaling and decision period arrive here as overrides (`LearnerHints.as_overrides()`,
    merged under the user's own)."""
    cls, _, mode = learner_spec(name)
    for what, space in (("obs_space", obs_space), ("action_space", action_space)):
        if not isinstance(space, spaces.Space):
            raise TypeError(f"make_learner: {what} must be a gymnasium space (e.g. the env's "
                            f"single_{what.replace('obs', 'observation')}), got {space!r}")
    return cls(obs_space, action_space, n_agents, mode, make_config(name, **overrides),
               seed=seed)
