"""A scenario's orchestration-level parts, one module per scenario (as agents/baselines/ holds
its heuristics): today its reference study (`fedmarl reproduce STUDY`).

A study is about one scenario and one publication (the figures of the paper a scenario comes
from) and trains learners, so it cannot live in the scenario's pybridge package (pybridge
imports no torch); adding one adds `fedmarl/scenarios/<name>.py` defining `STUDY` (a
`fedmarl.study.Study`) and edits nothing else. The generic engine is fedmarl/study.py.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from pybridge.config import ConfigError


def _modules() -> dict[str, Any]:
    found = {}
    for mod in pkgutil.iter_modules(__path__):
        m = importlib.import_module(f"{__name__}.{mod.name}")
        study = getattr(m, "STUDY", None)
        if study is not None:
            found[study.name] = study
    return found


def study_names() -> list[str]:
    return sorted(_modules())


def get(name: str) -> Any:
    studies = _modules()
    if name not in studies:
        raise ConfigError(f"unknown study {name!r}; available: {', '.join(sorted(studies))}")
    return studies[name]
