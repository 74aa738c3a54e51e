"""Local Ray clusters for the engine tests, and the checks that nothing is left behind.

Ray writes its session files (and, with token authentication, a token) under HOME and /tmp:
HOME points at a temporary folder for the duration, RAY_AUTH_MODE is "disabled" (a local
cluster of the test process only), so nothing lands in the user's home. Every cluster is shut
down by its fixture, after which no process started under this test process may remain (raylet,
GCS, workers, ns-3 peers) and no shared-memory segment of any actor.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SHM = Path("/dev/shm")


def descendants(root: int | None = None) -> list[tuple[int, str]]:
    """Live (non-zombie) processes below `root` (default: this process): (pid, name)."""
    root = os.getpid() if root is None else root
    parent: dict[int, int] = {}
    names: dict[int, str] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
            state, ppid = tail.split()[:2]
        except (OSError, ValueError):
            continue
        if state == "Z":
            continue
        pid = int(stat.parent.name)
        parent[pid], names[pid] = int(ppid), head.split("(", 1)[1]
    out = []
    for pid, p in parent.items():
        while p and p != root and p in parent:
            p = parent[p]
        if p == root:
            out.append((pid, names[pid]))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def segments_of(pids) -> list[str]:
    return sorted(p.name for pid in pids for p in SHM.glob(f"fedmarl-{pid}-*"))


def wait_gone(pids, timeout: float = 10.0) -> list[int]:
    """The pids still alive after up to `timeout` seconds."""
    end = time.monotonic() + timeout
    left = [p for p in pids if alive(p)]
    while left and time.monotonic() < end:
        time.sleep(0.1)
        left = [p for p in left if alive(p)]
    return left


@contextlib.contextmanager
def ray_env(tmp: Path) -> Iterator[str]:
    """HOME in `tmp`, no token authentication, no usage report; yields a short session folder
    (Ray's socket paths must stay under 108 bytes), removed afterwards."""
    saved = {k: os.environ.get(k) for k in ("HOME", "RAY_AUTH_MODE", "RAY_USAGE_STATS_ENABLED")}
    os.environ.update(HOME=str(tmp), RAY_AUTH_MODE="disabled", RAY_USAGE_STATS_ENABLED="0")
    session = tempfile.mkdtemp(prefix="fmray-", dir="/tmp")
    try:
        yield session
    finally:
        shutil.rmtree(session, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def new_descendants(before: set[int]) -> list[int]:
    """Processes below this one that were not there before, less Python's own multiprocessing
    helpers (resource tracker, fork server), which live as long as the interpreter."""
    return [p for p, _ in descendants()
            if p not in before and "multiprocessing" not in _cmdline(p)]


def assert_nothing_left(seen_pids=(), before: set[int] = frozenset()) -> None:
    """After a cluster's shutdown: no process started below this one since `before` (raylet,
    GCS, workers, ns-3 peers), no segment of any seen pid."""
    left = wait_gone(new_descendants(set(before)), timeout=15.0)
    procs = [(p, _cmdline(p)[:80]) for p in left]
    assert not procs, f"processes left after Ray shut down: {procs}"
    assert not [p for p in seen_pids if alive(p)], "actor or ns-3 processes still alive"
    assert not segments_of(seen_pids), f"segments left: {segments_of(seen_pids)}"


@contextlib.contextmanager
def local_ray(tmp: Path, num_cpus: int = 2) -> Iterator[list[int]]:
    """ray.init(num_cpus=2) for the block; yields a list the test adds actor/peer pids to."""
    import ray

    seen: list[int] = []
    before = {p for p, _ in descendants()}
    with ray_env(tmp) as session:
        ray.init(num_cpus=num_cpus, include_dashboard=False, configure_logging=False,
                 _temp_dir=session)
        try:
            yield seen
        finally:
            ray.shutdown()
        assert_nothing_left(seen, before)


@contextlib.contextmanager
def two_node_ray(tmp: Path, cpus_per_node: int = 1) -> Iterator[tuple[object, list[int]]]:
    """Two Ray nodes on this machine (`ray.cluster_utils.Cluster`), the driver connected."""
    import ray
    from ray.cluster_utils import Cluster

    seen: list[int] = []
    before = {p for p, _ in descendants()}
    with ray_env(tmp) as session:
        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": cpus_per_node, "include_dashboard": False, "temp_dir": session})
        try:
            cluster.add_node(num_cpus=cpus_per_node)
            cluster.wait_for_nodes()
            ray.init(address=cluster.address)
            yield cluster, seen
        finally:
            ray.shutdown()
            cluster.shutdown()
        assert_nothing_left(seen, before)
