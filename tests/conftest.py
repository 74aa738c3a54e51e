"""Fixtures shared by every layer's tests (tests/unit, tests/ns3, tests/e2e).

The native build is a dependency, never optional: a missing binary fails the test with the
command that builds it (`make test` or scripts/bootstrap.sh), it never skips.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from native_build import INX_FACTORY_BINARY, built_binary


@pytest.fixture(scope="session")
def binary() -> Path:
    """The inx-factory scenario binary (the ns-3 backend's default scenario)."""
    return built_binary(INX_FACTORY_BINARY)
