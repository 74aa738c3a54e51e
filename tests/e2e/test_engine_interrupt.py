"""Ctrl-C during `fedmarl eval --engine ray --backend ns3`: the command ends with status 130 and
leaves nothing running, neither Ray's processes (raylet, GCS, workers) nor the ns-3 processes
its actors started, and no shared-memory segment. Processes are recognised by a marker in
their environment, which every process the command starts inherits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from tests.ray_support import segments_of

ROOT = Path(__file__).resolve().parents[2]


def _marked(mark: str) -> list[tuple[int, str]]:
    out = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mark.encode() in env.read_bytes():
                out.append((int(env.parent.name), (env.parent / "comm").read_text().strip()))
        except OSError:
            continue
    return [(p, n) for p, n in out if p != os.getpid()]


def test_ctrl_c_leaves_no_ray_or_ns3_process_and_no_segment(tmp_path):
    mark = f"fedmarl-test-{uuid.uuid4().hex}"
    env = {**os.environ, "HOME": str(tmp_path), "RAY_AUTH_MODE": "disabled",
           "RAY_USAGE_STATS_ENABLED": "0", "FEDMARL_TEST_MARK": mark,
           "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "fedmarl.cli", "eval", "--engine", "ray", "--backend", "ns3",
           "--policy", "greedy", "--episodes", "40", "--json"]
    # A terminal's Ctrl-C reaches a process whose SIGINT is at its default. An ignored SIGINT
    # is inherited across exec and then Python installs no KeyboardInterrupt handler: earlier
    # tests of the suite can leave it ignored in this process, so the command is started with
    # a handler in place (exec resets any handler, not an ignore, to the default).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until both ns-3 copies run in their actors
            now = _marked(mark)
            seen.update(p for p, _ in now)
            if sum(n.startswith("fedmarl-") for _, n in now) >= 2:
                break
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        else:
            raise AssertionError("the ns-3 copies never started")
        time.sleep(1.0)  # mid-episode
        seen.update(p for p, _ in _marked(mark))
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"still running 60 s after Ctrl-C; its stderr:\n{err}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    deadline = time.monotonic() + 15
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _marked(mark), f"left running after Ctrl-C: {_marked(mark)}"
    assert not segments_of(seen), f"segments left: {segments_of(seen)}"
