"""Rounds in the worker process (federation/worker.py): same answer as in-process, errors that
name the round, and no process left behind whatever happens."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from federation.errors import AggregationError, ConfigError, FederationError
from federation.strategy import PlainFedAvg, SecureFedAvg
from federation.worker import RoundWorker


def _updates(n: int = 6, d: int = 300, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(0, 0.5, (d,)).astype(np.float32),
             "b": rng.normal(0, 0.5, (3, 2)).astype(np.float32)} for _ in range(n)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purpose once reaped or defunct.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("strategy", [PlainFedAvg(1), SecureFedAvg(1, 6, threshold=0.67)])
def test_worker_round_gives_the_in_process_average(strategy):
    ups = _updates()
    local, _ = strategy.aggregate(ups, 3)
    with RoundWorker() as worker:
        for r in (3, 4):  # the worker serves several rounds
            average, report = worker.submit(strategy, ups, r).result()
            assert report["mode"] == strategy.mode
            for k in local:
                np.testing.assert_array_equal(average[k], local[k])


def test_an_error_inside_the_round_is_raised_as_itself_and_the_worker_goes_on():
    bad = _updates()
    bad[2] = {"w": bad[2]["w"][:10], "b": bad[2]["b"]}  # a layout that does not match
    with RoundWorker() as worker:
        with pytest.raises(AggregationError):
            worker.submit(PlainFedAvg(1), bad, 0).result()
        average, _ = worker.submit(PlainFedAvg(1), _updates(), 1).result()
        assert average["w"].shape == (300,)


def test_one_round_in_flight_at_a_time_and_unpicklable_strategies_refused():
    with RoundWorker() as worker:
        pending = worker.submit(PlainFedAvg(1), _updates(), 0)
        with pytest.raises(FederationError, match="still in flight"):
            worker.submit(PlainFedAvg(1), _updates(), 1)
        pending.result()
        unpicklable = SecureFedAvg(1, 6, dropouts=lambda r: {})
        with pytest.raises(ConfigError, match="picklable"):
            worker.submit(unpicklable, _updates(), 2)


def test_a_worker_killed_mid_round_fails_that_round_by_name_and_leaves_nothing():
    worker = RoundWorker()
    worker.submit(SecureFedAvg(1, 6), _updates(d=20_000), 4)
    pid = worker._proc.pid
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(FederationError, match=r"died during round 5 \(exit status -9\)"):
        worker._in_flight.result()
    assert not _alive(pid)
    worker.close()  # nothing left to close: no error
    # A fresh worker starts on the next submit.
    average, _ = worker.submit(PlainFedAvg(1), _updates(), 0).result()
    assert average["w"].shape == (300,)
    worker.close()


def test_close_stops_the_worker_even_with_a_round_in_flight():
    worker = RoundWorker()
    worker.submit(SecureFedAvg(1, 6), _updates(d=20_000), 0)
    pid = worker._proc.pid
    worker.close()
    assert not _alive(pid)


def test_the_worker_dies_with_a_killed_parent():
    parent = textwrap.dedent("""
        import sys, time, numpy as np
        from federation.strategy import PlainFedAvg
        from federation.worker import RoundWorker
        w = RoundWorker()
        ups = [{"w": np.zeros(4, np.float32)} for _ in range(3)]
        w.submit(PlainFedAvg(1), ups, 0).result()
        print(w._proc.pid, flush=True)
        time.sleep(60)
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": root})
    try:
        child = int(proc.stdout.readline())
        assert _alive(child)
        proc.kill()  # no chance to clean up
        proc.wait()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
    finally:
        proc.kill()
        proc.wait()


def test_the_worker_checks_its_parent_by_pid_not_by_being_orphaned_to_init():
    """A worker whose recorded parent is gone exits at once; one whose parent is alive (pid 1
    included, e.g. a trainer that is a container's init) serves."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root}
    gone = subprocess.run([sys.executable, "-m", "federation.worker"], input=b"", check=False,
                          env={**env, "FEDMARL_ROUND_WORKER_PARENT": "999999999"}, timeout=60)
    assert gone.returncode == 1
    alive = subprocess.run([sys.executable, "-m", "federation.worker"], input=b"", check=False,
                           env={**env, "FEDMARL_ROUND_WORKER_PARENT": str(os.getpid())},
                           timeout=60)
    assert alive.returncode == 0  # served until the end of its input
