"""Reference studies (`fedmarl reproduce STUDY`): one module per study in this package.

A study is inherently about one scenario and one publication (e.g. the figures of the paper a
scenario comes from), so it is the one place in fedmarl that names a scenario; adding a study
adds a module here that defines `STUDY` (a `fedmarl.study.Study`) and edits nothing else.
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
