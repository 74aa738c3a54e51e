"""The scenario registry: `register(spec)`, `get(name)`, `names()`.

Built-in scenarios are the packages in this folder; each registers its `ScenarioSpec` when
imported. `get` imports the built-in packages on first use, so `pybridge.scenarios.get(
"inx-factory")` works without importing the package by hand. Tests and users may register
their own specs (see docs/adding-a-scenario.md).
"""

from __future__ import annotations

import importlib
import pkgutil

from pybridge.api import ScenarioSpec
from pybridge.config import ConfigError

# The scenario the CLI, the main job and a training config use when none is named: the
# project's first seed system (a fact about the set of scenarios, so it lives with them).
DEFAULT = "inx-factory"

_REGISTRY: dict[str, ScenarioSpec] = {}
_BUILTINS_LOADED = False


def register(spec: ScenarioSpec, *, replace: bool = False) -> ScenarioSpec:
    """Add `spec` under `spec.name`; a second registration of a name is an error unless
    `replace` (tests re-registering a toy scenario)."""
    if not isinstance(spec, ScenarioSpec):
        raise TypeError(f"register() takes a ScenarioSpec instance, got {type(spec).__name__}")
    if spec.name in _REGISTRY and not replace and _REGISTRY[spec.name] is not spec:
        raise ValueError(f"scenario {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.ispkg:
            importlib.import_module(f"{__name__}.{mod.name}")


def get(name: str) -> ScenarioSpec:
    """The registered spec `name`; ConfigError naming the available ones otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown scenario {name!r}; available: {', '.join(names())}") from None


def names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)
