"""The ns-3 layer's tests leave nothing behind: after the session no shared-memory segment of
this test process and no scenario or peer process started by it may remain (DESIGN.md
conventions: no orphan process, no leaked segment)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def _children() -> list[tuple[int, str]]:
    """Live (non-zombie) child processes of this process: (pid, command name)."""
    me, out = os.getpid(), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            name = fields[0].split("(", 1)[1]
            state, ppid = fields[1].split()[:2]
        except (OSError, IndexError, ValueError):
            continue
        if int(ppid) == me and state != "Z":
            out.append((int(stat.parent.name), name))
    return out


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind():
    yield
    import gc

    import pybridge.bridge as br

    gc.collect()  # an env dropped by a test closes itself (__del__); one still referenced must not
    segments = sorted(p.name for p in Path("/dev/shm").glob(f"fedmarl-{os.getpid()}-*"))
    peers = [c for c in _children() if c[1].startswith("fedmarl")]
    br.close_all()  # clean up whatever the assertions below report
    assert not segments, f"segments left after the ns-3 tests: {segments}"
    assert not peers, f"processes left after the ns-3 tests: {peers}"
