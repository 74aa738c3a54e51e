"""Heuristic baselines: one module per scenario, each exposing `BASELINES`.

A scenario names its module in its spec (`ScenarioSpec.baselines_module`, e.g.
"agents.baselines.<scenario>"); the module defines `BASELINES: dict[str, Callable[[], Policy]]`
(name -> factory). The orchestration looks the policies up here by that path, so this shared
package names no scenario:

    factories = load(spec.baselines_module)      # {name: factory}
    policy = make(spec.baselines_module, "random")
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from agents.baselines.base import Policy, RandomPolicy

__all__ = ["Policy", "RandomPolicy", "load", "make"]


def load(module_path: str) -> dict[str, Callable[[], Policy]]:
    """The `BASELINES` of module `module_path` (a copy: name -> factory of a fresh Policy)."""
    try:
        module = importlib.import_module(module_path)
    except ModuleNotFoundError as e:
        if e.name is not None and module_path.startswith(e.name):
            raise ValueError(f"baselines module {module_path!r} not found") from None
        raise  # the module exists but one of its own imports is missing: show that error
    table = getattr(module, "BASELINES", None)
    if not isinstance(table, dict) or not all(isinstance(k, str) and callable(v)
                                               for k, v in table.items()):
        raise ValueError(f"baselines module {module_path!r} must define BASELINES, a dict"
                         " {name: factory() -> Policy}")
    return dict(table)


def make(module_path: str, name: str) -> Policy:
    """A fresh instance of baseline `name` of module `module_path`."""
    table = load(module_path)
    if name not in table:
        raise ValueError(f"unknown baseline policy {name!r} (module {module_path}); available: "
                         f"{', '.join(table) or 'none'}")
    policy = table[name]()
    if not isinstance(policy, Policy):
        raise TypeError(f"{module_path}.BASELINES[{name!r}] made {policy!r}, not a Policy")
    return policy
