"""What the orchestration needs from the registries: a scenario's spec, its baselines, learners.

Every list the CLI and the jobs offer comes from here, so a scenario registered with
`pybridge.scenarios.register` (with its baselines module, `spec.baselines_module`) and a learner
in `agents.registry.LEARNERS` appear everywhere without an edit in fedmarl.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pybridge import scenarios
from pybridge.api import ScenarioSpec
from pybridge.config import ConfigError

DEFAULT_SCENARIO = scenarios.DEFAULT  # the default of `--scenario` and of a training config
# What the main job (`fedmarl run`, fedmarl/mainjob.py says why this budget) trains; `fedmarl
# bench train` measures the same configuration by default.
MAIN_TRAIN: dict[str, Any] = {"algo": "f-maddqn", "episodes": 70, "n_envs": 32, "tau_agg": 1024,
                              "aggregation": "secure", "fed_overlap": True,
                              "agent": {"eps_decay_steps": 150_000}}


def spec(name: str) -> ScenarioSpec:
    """The registered spec; ConfigError naming the registered scenarios otherwise."""
    from pybridge import scenarios

    return scenarios.get(name)


def scenario_names() -> list[str]:
    from pybridge import scenarios

    return scenarios.names()


def baselines(scenario: str | ScenarioSpec) -> dict[str, Callable[[], Any]]:
    """{name: factory() -> Policy} of the scenario's heuristics ({} if it declares none)."""
    s = spec(scenario) if isinstance(scenario, str) else scenario
    if not s.baselines_module:
        return {}
    from agents.baselines import load

    return dict(load(s.baselines_module))


def baseline_names(scenario: str | ScenarioSpec) -> list[str]:
    return list(baselines(scenario))


def make_baseline(scenario: str | ScenarioSpec, name: str) -> Any:
    """A fresh baseline policy `name` of the scenario; one clear error listing the others."""
    found = baselines(scenario)
    if name not in found:
        s = scenario if isinstance(scenario, str) else scenario.name
        raise ConfigError(f"unknown policy {name!r} for scenario {s!r}; its baselines:"
                          f" {', '.join(found) or 'none'}")
    return found[name]()


def learner_names() -> list[str]:
    from agents.registry import LEARNERS

    return list(LEARNERS)


def learner_overrides(scenario_spec: ScenarioSpec, cfg: Any, agent: dict[str, Any]
                      ) -> dict[str, Any]:
    """The scenario's learner hints (observation scaling, decision period) with the user's
    `agent:` overrides on top."""
    return {**scenario_spec.learner_hints(cfg).as_overrides(), **agent}


def build_learner(algo: str, scenario: str, params: dict[str, Any], agent: dict[str, Any],
                  seed: int, n_agents: int | None = None) -> Any:
    """Learner `algo` sized from the scenario's spaces for the config of `params`."""
    from agents.registry import make_learner

    s = spec(scenario)
    cfg = s.make_config(**params)
    return make_learner(algo, s.observation_space(cfg), s.action_space(cfg),
                        n_agents if n_agents is not None else s.n_agents(cfg), seed=seed,
                        **learner_overrides(s, cfg, agent))
