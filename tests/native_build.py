"""The native build as the tests see it: built executables, or a failure saying how to build.

A plain module (not a conftest) so that test files can import it by name: `from native_build
import built_binary`. tests/ is on sys.path because tests/conftest.py lives there.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pybridge.bridge import BridgeError, find_binary

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = Path(os.environ.get("FEDMARL_BUILD_DIR", ROOT / "build"))
BIN_DIR = BUILD_DIR / "bin"
INX_FACTORY_BINARY = "fedmarl-inx-factory"


def built_binary(name: str) -> Path:
    """Path of the built native executable `name` (build/bin or $FEDMARL_BUILD_DIR/bin)."""
    path = BIN_DIR / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the native parts with `make test` (or "
                    f"scripts/bootstrap.sh), or point FEDMARL_BUILD_DIR at the CMake build")
    try:
        return find_binary(name, BUILD_DIR)
    except BridgeError as exc:  # present but not executable
        pytest.fail(f"{exc} (`make test` builds it)")
