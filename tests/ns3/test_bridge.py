"""The shared-memory bridge (pybridge/bridge.py, pybridge/native/) against the C++ echo peer.

The echo peer answers STEP with obs[i, j] = actions[i] + 0.5 j and reward[i] = 2 actions[i], and
RESET(seed) with obs = 0, metrics[0] = seed. Fault injection flags make it crash, hang or claim
another layout. Needs the native build (`make test` or scripts/bootstrap.sh); a missing build
fails here with that message instead of skipping.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from native_build import built_binary

from pybridge import bridge as br
from pybridge.bridge import (
    Bridge,
    BridgeError,
    Command,
    PeerState,
    ShmSegment,
    make_segment_name,
    sweep_stale_segments,
)

ROOT = Path(__file__).resolve().parents[2]
W = 4


@pytest.fixture(scope="module")
def echo_peer() -> Path:
    if br._shm is None:
        pytest.fail(f"pybridge._shm is not built ({br._SHM_IMPORT_ERROR}): run `make test` or"
                    " scripts/bootstrap.sh (or FEDMARL_BUILD_DIR=<dir> after building there)")
    return built_binary("fedmarl-echo-peer")


def own_segments() -> set[str]:
    return {p.name for p in br.SHM_DIR.glob(f"fedmarl-{os.getpid()}-*")}


@pytest.fixture(autouse=True)
def no_leaked_segments():
    """Every test must leave /dev/shm as it found it (for this process's segments)."""
    before = own_segments()
    yield
    assert own_segments() == before, "a test leaked a shared-memory segment"


def echo_arrays(n: int, w: int = W) -> list[tuple[str, str, int]]:
    return [("actions", "i32", n), ("obs", "f32", n * w), ("reward", "f32", n),
            ("metrics", "f64", 4)]


def expected_obs(actions: np.ndarray, w: int = W) -> np.ndarray:
    return (actions[:, None] + 0.5 * np.arange(w)).astype(np.float32).ravel()


def process_gone(pid: int) -> bool:
    """Reaped (no /proc entry) or at least not running (zombie of someone else)."""
    return not Path(f"/proc/{pid}").exists() or not br._pid_alive(pid)


def launch(echo_peer: Path, n: int = 20, args: tuple[str, ...] = (), **kw) -> Bridge:
    return Bridge.launch(echo_peer, list(args), echo_arrays(n), **kw)


# --------------------------------------------------------------------------- round trips
def test_layout_constants_agree_with_python_enums(echo_peer):
    shm = br._shm
    assert {c.name.title(): c.value for c in Command} == {
        k: v for k, v in shm.COMMANDS.items() if k != "None"}
    assert {s.name.title(): s.value for s in PeerState} == shm.STATES
    assert shm.HEADER_SIZE % 64 == 0
    offsets = shm.FIELD_OFFSETS
    assert offsets["request_seq"] % 64 == 0 and offsets["response_seq"] % 64 == 0
    assert offsets["request_seq"] // 64 != offsets["response_seq"] // 64


def test_round_trip_values_over_many_steps(echo_peer):
    rng = np.random.default_rng(0)
    with launch(echo_peer, n=20) as b:
        v = b.views
        for step in range(1, 501):
            actions = rng.integers(-1000, 1000, size=20, dtype=np.int32)
            v["actions"][:] = actions
            b.step()
            np.testing.assert_array_equal(v["obs"], expected_obs(actions))
            np.testing.assert_array_equal(v["reward"], 2.0 * actions)
        assert b.step_counter == step == 500


def test_views_are_zero_copy(echo_peer):
    with launch(echo_peer, n=8) as b:
        v = b.views
        base = np.frombuffer(b.segment.buffer, np.uint8)
        for name, _dtype, _count, offset in b.segment.table:
            assert v[name].ctypes.data == base.ctypes.data + offset  # a view, not a copy
            assert not v[name].flags.owndata and v[name].flags.writeable
        del base
        obs = v["obs"]  # taken before the step: the peer's writes must appear in it
        actions = v["actions"]
        actions[3] = 77  # written in place, never handed to the bridge
        b.step()
        assert obs[3 * W] == 77.0 and obs[3 * W + 3] == 78.5
        # A second mapping of the same segment sees the same bytes.
        other = ShmSegment.attach(b.name)
        try:
            assert other.views["reward"][3] == 154.0
            other.views["actions"][0] = -5
            b.step()
            assert v["obs"][0] == -5.0
        finally:
            other.close()
        assert b.segment.path.exists()  # closing a non-owner mapping does not unlink


def test_reset_carries_the_seed(echo_peer):
    seed = 2**52 + 12345  # exact in the peer's float64 metrics slot
    with launch(echo_peer, n=5) as b:
        b.views["actions"][:] = 3
        b.step()
        assert b.views["obs"].max() > 0
        b.reset(seed)
        assert b.views["metrics"][0] == float(seed)
        assert b.views["metrics"][1] == 1.0
        assert not b.views["obs"].any()
        assert b.header()["command_arg"] == seed
        b.request(Command.RESET, 7)
        assert b.views["metrics"][0] == 7.0 and b.views["metrics"][1] == 2.0


def test_two_bridges_interleaved_and_threaded(echo_peer):
    with launch(echo_peer, n=20) as b1, Bridge.launch(echo_peer, [], echo_arrays(7, 3)) as b2:
        assert b1.name != b2.name and b1.peer_pid != b2.peer_pid
        for k in range(200):
            a1 = np.full(20, k, np.int32)
            a2 = np.arange(7, dtype=np.int32) - k
            b1.views["actions"][:] = a1
            b2.views["actions"][:] = a2
            b1.step()
            b2.step()
            np.testing.assert_array_equal(b1.views["obs"], expected_obs(a1))
            np.testing.assert_array_equal(b2.views["obs"], expected_obs(a2, 3))

        errors: list[BaseException] = []

        def run(b: Bridge, offset: int, w: int) -> None:
            try:
                for k in range(300):
                    a = np.arange(b.views["actions"].size, dtype=np.int32) * offset + k
                    b.views["actions"][:] = a
                    b.step()
                    np.testing.assert_array_equal(b.views["obs"], expected_obs(a, w))
            except (AssertionError, BridgeError) as exc:  # reported by the main thread
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(b1, 3, W)),
                   threading.Thread(target=run, args=(b2, -2, 3))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert not errors, errors
        assert b1.step_counter == 500 and b2.step_counter == 500


# --------------------------------------------------------------------------- layout checks
def test_post_then_collect_drives_several_peers_at_once(echo_peer):
    bridges = [launch(echo_peer, n=5) for _ in range(3)]
    try:
        for step in range(20):
            for i, b in enumerate(bridges):
                b.views["actions"][:] = np.arange(5) + i + step
                b.post(Command.STEP)
            with pytest.raises(BridgeError, match="in flight"):
                bridges[0].post(Command.STEP)
            with pytest.raises(BridgeError, match="in flight"):
                bridges[0].step()
            for i, b in enumerate(bridges):
                b.collect()
                np.testing.assert_array_equal(b.views["obs"],
                                              expected_obs(np.arange(5) + i + step))
        with pytest.raises(BridgeError, match="nothing was posted"):
            bridges[1].collect()
        assert [b.step_counter for b in bridges] == [20, 20, 20]
    finally:
        for b in bridges:
            b.close()


def test_collect_reports_a_peer_that_died_after_post(echo_peer):
    b = launch(echo_peer, n=5, args=("--crash-at-step=2",))
    b.step()
    b.post(Command.STEP)
    t0 = time.monotonic()
    with pytest.raises(BridgeError, match="SIGKILL"):
        b.collect()
    assert time.monotonic() - t0 < 5.0
    assert b.closed


def test_peer_refuses_mismatched_layout(echo_peer):
    t0 = time.monotonic()
    with pytest.raises(BridgeError) as err:
        launch(echo_peer, args=("--fake-version=7",))
    msg = str(err.value)
    assert "layout mismatch" in msg
    assert "layout version 1" in msg and "layout version 7" in msg, msg
    assert "exited with status 3" in msg  # the peer exits non-zero on its own
    assert time.monotonic() - t0 < 5


def test_python_refuses_mismatched_peer(echo_peer):
    # A peer that skips its own check: Python's check at hello must still refuse it.
    with pytest.raises(BridgeError) as err:
        launch(echo_peer, args=("--skip-layout-check", "--fake-version=9"))
    msg = str(err.value)
    assert "refusing the peer" in msg
    assert "layout version 1" in msg and "layout version 9" in msg, msg
    pid = int(msg.split("(pid ")[1].split(")")[0])
    assert process_gone(pid)


def test_python_refuses_foreign_segment(echo_peer):
    seg = ShmSegment.create(echo_arrays(4))
    try:
        struct.pack_into("<I", seg.buffer, br._shm.FIELD_OFFSETS["version"], 5)
        with pytest.raises(BridgeError) as err:
            ShmSegment.attach(seg.name)
        msg = str(err.value)
        assert "layout version 5" in msg and "layout version 1" in msg, msg
    finally:
        seg.close()


def test_bad_array_lists_are_refused(echo_peer):
    with pytest.raises(BridgeError, match="at most 32"):
        ShmSegment.create([(f"a{i}", "f32", 1) for i in range(33)])
    with pytest.raises(BridgeError, match="characters"):
        ShmSegment.create([("x" * 24, "f32", 1)])
    with pytest.raises(ValueError, match="dtype"):
        ShmSegment.create([("x", np.int64, 1)])
    # The peer looks arrays up by name and checks their dtype, and says which one is wrong.
    with pytest.raises(BridgeError) as err:
        Bridge.launch(echo_peer, [], [("actions", "f32", 4), ("obs", "f32", 16),
                                      ("reward", "f32", 4)])
    assert "array 'actions' has dtype f32 but this peer reads it as i32" in str(err.value)
    assert "exited with status 4" in str(err.value)


def test_missing_binary_is_a_clear_error():
    with pytest.raises(BridgeError, match="make test"):
        Bridge.launch(ROOT / "build" / "bin" / "no-such-peer", [], echo_arrays(2))


# --------------------------------------------------------------------------- failures
def test_sigkill_mid_run_raises_and_cleans_up(echo_peer):
    b = launch(echo_peer, n=20)
    for _ in range(10):
        b.step()
    pid, path = b.peer_pid, b.segment.path
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(BridgeError) as err:
        b.step()
    assert time.monotonic() - t0 < 5
    msg = str(err.value)
    assert str(echo_peer) in msg
    assert "SIGKILL" in msg
    assert "fedmarl-echo-peer: attached to" in msg  # the stderr tail
    assert process_gone(pid)
    assert not path.exists()
    with pytest.raises(BridgeError, match="closed"):
        b.step()


def test_crash_inside_a_step_raises_with_stderr_tail(echo_peer):
    b = launch(echo_peer, n=4, args=("--crash-at-step=3",))
    b.step()
    b.step()
    pid, path = b.peer_pid, b.segment.path
    t0 = time.monotonic()
    with pytest.raises(BridgeError) as err:
        b.step()
    assert time.monotonic() - t0 < 5
    msg = str(err.value)
    assert "died during STEP" in msg and "SIGKILL" in msg
    assert "crashing at step 3" in msg
    assert process_gone(pid) and not path.exists()


def test_hung_peer_times_out_and_is_killed(echo_peer):
    b = launch(echo_peer, n=4, args=("--hang-at-step=2",), step_timeout=1.0)
    b.step()
    pid, path = b.peer_pid, b.segment.path
    t0 = time.monotonic()
    with pytest.raises(BridgeError) as err:
        b.step()
    elapsed = time.monotonic() - t0
    assert 1.0 <= elapsed < 4.0, elapsed
    msg = str(err.value)
    assert "did not answer STEP" in msg and "within 1 s" in msg
    assert "hanging at step 2" in msg
    assert "SIGTERM" in msg  # stopped by the bridge
    assert process_gone(pid) and not path.exists()


def test_peer_error_report_is_raised(echo_peer):
    b = launch(echo_peer, n=2)
    b.step()
    with pytest.raises(BridgeError) as err:
        b.request(99)
    msg = str(err.value)
    assert "reported an error during command 99" in msg
    assert "peer error: unknown command 99" in msg and "exited with status 5" in msg
    assert b.closed and not b.segment.path.exists()


def test_per_request_timeout_overrides_default(echo_peer):
    b = launch(echo_peer, n=2, args=("--hang-at-step=1",))  # default step timeout 30 s
    t0 = time.monotonic()
    with pytest.raises(BridgeError, match="within 0.3 s"):
        b.step(timeout=0.3)
    assert time.monotonic() - t0 < 3


# --------------------------------------------------------------------------- lifecycle
def test_close_is_idempotent_and_unlinks(echo_peer):
    b = launch(echo_peer, n=3)
    b.step()
    path, peer = b.segment.path, b.peer
    assert path.exists()
    b.close()
    assert not path.exists()
    assert peer.proc.returncode == 0  # CLOSE: the peer exited by itself
    assert "closed after 1 steps" in peer.stderr_tail()
    b.close()
    b.segment.close()
    assert b.closed
    with pytest.raises(BridgeError, match="closed"):
        b.step()
    seg = ShmSegment.create(echo_arrays(2))
    seg.close()
    seg.close()
    assert not seg.path.exists()


def test_views_kept_after_close_stay_valid_memory(echo_peer):
    b = launch(echo_peer, n=3)
    obs = b.views["obs"]
    b.step()
    b.close()
    assert not b.segment.path.exists()
    assert obs.sum() == pytest.approx(3 * (0 + 0.5 + 1 + 1.5))  # the mapping outlives the view


def test_attach_mode_with_a_peer_started_by_hand(echo_peer, capsys):
    name = make_segment_name()
    started: list[subprocess.Popen] = []

    def start_peer() -> None:
        time.sleep(0.3)  # after Bridge.attach has created the segment and started waiting
        started.append(subprocess.Popen([str(echo_peer), f"--segment={name}"],
                                        stderr=subprocess.DEVNULL))

    t = threading.Thread(target=start_peer)
    t.start()
    try:
        b = Bridge.attach(name, echo_arrays(6), hello_timeout=10, command_hint=str(echo_peer))
        t.join()
        assert b.peer_pid == started[0].pid
        assert f"--segment={name}" in capsys.readouterr().err
        for k in range(50):
            b.views["actions"][:] = k
            b.step()
            np.testing.assert_array_equal(b.views["obs"], expected_obs(np.full(6, k)))
        b.close()
        assert started[0].wait(5) == 0
        assert not (br.SHM_DIR / name).exists()
    finally:
        t.join()
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()


def test_attach_mode_times_out_without_peer(echo_peer):
    t0 = time.monotonic()
    with pytest.raises(BridgeError, match="did not say hello within 0.2 s"):
        Bridge.attach(None, echo_arrays(2), hello_timeout=0.2, announce=False)
    assert time.monotonic() - t0 < 2


def test_stale_sweep_removes_dead_owners_only(echo_peer):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    paths = {}
    try:
        for label, pid in (("dead", dead.pid), ("live", live.pid)):
            paths[label] = br.SHM_DIR / f"fedmarl-{pid}-{os.urandom(4).hex()}"
            paths[label].write_bytes(b"x")
        mine = ShmSegment.create(echo_arrays(2))  # creating a segment runs the sweep
        try:
            assert not paths["dead"].exists()
            assert paths["live"].exists() and mine.path.exists()
            paths["dead"].write_bytes(b"x")
            assert sweep_stale_segments() == [paths["dead"].name]
            assert paths["live"].exists() and mine.path.exists()
        finally:
            mine.close()
    finally:
        live.kill()
        live.wait()
        for p in paths.values():
            p.unlink(missing_ok=True)


CHILD = """
import sys, time
from pybridge.bridge import Bridge
b = Bridge.launch(sys.argv[1], [], [("actions", "i32", 4), ("obs", "f32", 16), ("reward", "f32", 4)])
b.step()
import builtins
builtins.bridge_kept_to_the_end = b  # alive until interpreter shutdown
print(b.name, b.peer_pid, flush=True)
if sys.argv[2] == "sleep":
    time.sleep(60)
"""


def run_child(echo_peer: Path, mode: str) -> tuple[subprocess.Popen, str, int]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(echo_peer), mode], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline().split()
    assert len(line) == 2, f"child failed to start a bridge (rc {child.wait()})"
    return child, line[0], int(line[1])


def wait_until(cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_interpreter_exit_cleans_up(echo_peer):
    child, name, peer_pid = run_child(echo_peer, "exit")
    assert child.wait(10) == 0
    assert not (br.SHM_DIR / name).exists()
    assert process_gone(peer_pid)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_cleans_up_and_chains(echo_peer, signum):
    child, name, peer_pid = run_child(echo_peer, "sleep")
    try:
        child.send_signal(signum)
        # The previous handler still runs: SIGTERM's default action, SIGINT's KeyboardInterrupt
        # (an uncaught one makes Python exit by SIGINT).
        assert child.wait(10) == -signum
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not (br.SHM_DIR / name).exists()
    assert process_gone(peer_pid)


def test_peer_exits_when_owner_is_killed_and_sweep_collects(echo_peer, tmp_path_factory):
    child, name, peer_pid = run_child(echo_peer, "sleep")
    # The stale segment is also linked into a private folder on the same tmpfs: any bridge
    # created by another process on this machine sweeps /dev/shm too, so the sweep under test
    # runs on the private copy, which no other process looks at.
    private = br.SHM_DIR / f"fedmarl-test-{os.getpid()}-{tmp_path_factory.getbasetemp().name}"
    private.mkdir()
    try:
        os.link(br.SHM_DIR / name, private / name)
        child.kill()  # SIGKILL: no cleanup possible in the child
        child.wait()
        assert (private / name).exists()
        assert wait_until(lambda: not br._pid_alive(peer_pid), 5), "peer outlived its owner"
        assert sweep_stale_segments(private) == [name]
        assert not (private / name).exists()
        sweep_stale_segments()  # and the /dev/shm name, unless another process swept it first
        assert not (br.SHM_DIR / name).exists()
    finally:
        for p in private.iterdir():
            p.unlink()
        private.rmdir()
