"""`fedmarl record-trace` and `fedmarl validate --trace FILE` end to end, and ns-3's
trace-driven mode reproducing a trace's positions and channels step by step (issue 16)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedmarl.cli import main
from pybridge.scenarios.inx_factory.replay import read_trace
from pybridge.scenarios.inx_factory.trace_format import load_trace, save_trace
from pybridge.scenarios.inx_factory.trace_ns3 import run_driven, write_drive

# Two devices per AP (ns-3's device order is tested), a few steps: ns-3 runs stay short.
SETS = ["n_subnetworks=6", "n_devices=2", "n_channels=3", "episode_steps=12"]


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "twin.npz"
    assert main(["record-trace", "--policy", "random", "--episodes", "3", "--seed", "2",
                 "--out", str(path), *[a for s in SETS for a in ("--set", s)]]) == 0
    return path


def test_ns3_driven_mode_reproduces_positions_and_channels_step_by_step(binary, small_trace,
                                                                       tmp_path):
    """Nodes that jump every step, channels that change every step (no switching delay) and
    devices listed out of ns-3's order: ns-3 must use exactly what the trace says."""
    tr = load_trace(small_trace)
    rng = np.random.default_rng(0)
    shuffle = rng.permutation(tr.D)
    ap = tr.ap_pos + np.cumsum(rng.normal(0, 0.7, tr.ap_pos.shape) * [1, 1, 0], axis=0)
    dev = (tr.dev_pos + (ap - tr.ap_pos)[:, tr.dev_ap])[:, shuffle]
    arrays = {"ap_pos": ap, "dev_pos": dev, "dev_ap": tr.dev_ap[shuffle],
              "channel": rng.integers(0, 3, tr.channel.shape), "episode": tr.episode}
    moved = load_trace(save_trace(tmp_path / "moved.npz", tr.header["constants"], arrays))
    eps = moved.episodes()
    run = run_driven(moved, eps, seed=1)
    assert run["reproduced"] == {"max_position_error_m": 0.0, "channel_mismatches": 0,
                                 "exact": True}
    assert run["steps"] == 3 * 12
    # The drive file holds the warm-up record and 12 steps per episode (layout of
    # InxFactoryScenario::SetDriveFile: i32 channel[N], f64 ap[N][3], f64 device[D][3]).
    drive = tmp_path / "drive.bin"
    write_drive(moved, eps, drive)
    assert drive.stat().st_size == 8 + 16 + 3 * 13 * (6 * 4 + 6 * 24 + 12 * 24)
    assert run["figures"]["packets_delivered"] > 0
    assert all(x.shape == (12, 12) for x in run["samples"]["sinr_db"])


def test_validate_trace_cli_writes_the_report(binary, small_trace, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["validate", "--trace", str(small_trace), "--reps", "2", "--json",
                 "--out", str(out)]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["ns3"]["reproduced"]["exact"] is True
    rows = {row["metric"]: row for row in r["channel_model"]["rows"]}
    # The twin is consistent with itself whatever the sample size.
    assert rows["sinr_consistency_db"]["verdict"] == "agree"
    assert rows["rate_consistency"]["verdict"] == "agree"
    assert {c["effect"] for c in r["comparisons"]} == {"channel model", "none expected", "MAC",
                                                       "packet", "all"}
    assert all(c["verdict"] in ("agree", "disagree", "inconclusive") for c in r["comparisons"])
    for name in ("validate.md", "validate.json", "sinr_cdf.png", "rate_cdf.png"):
        assert (out / name).stat().st_size > 0
    md = (out / "validate.md").read_text()
    assert "reproduced step by step over 36 steps" in md and "(**exact**)" in md


def test_validate_trace_refuses_a_malformed_file_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.npz"
    np.savez(bad, header=np.array(json.dumps({"format": "fedmarl-channel-trace",
                                              "version": 7})))
    assert main(["validate", "--trace", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown header.version 7" in err and "Traceback" not in err
    assert not (tmp_path / "reports").exists()


def test_ns3_trace_of_a_driven_run_is_what_the_file_said(binary, small_trace, tmp_path):
    """read_trace of the binary's own --trace output: record 0 of an episode is the warm-up
    (the trace's first step), record t the trace's step t - 1."""
    from pybridge import make_vec_env
    from pybridge.scenarios.inx_factory.trace_ns3 import ns3_params

    tr = load_trace(small_trace)
    eps = tr.episodes()[:1]
    drive, used = tmp_path / "d.bin", tmp_path / "used.trace"
    write_drive(tr, eps, drive)
    with make_vec_env("inx-factory", 1, backend="ns3", **ns3_params(tr, 12),
                      ns3_options={"extra_args": [f"--drive={drive}", f"--trace={used}"]}) as env:
        env.reset(seed=0)
        for t in range(12):
            env.step(np.zeros((1, 6), dtype=np.int64))  # actions are not used when driven
    u = read_trace(used)
    assert u.t.tolist() == list(range(13))
    np.testing.assert_array_equal(u.channel[0], tr.channel[0])
    np.testing.assert_array_equal(u.channel[1:], tr.channel[:12])
    np.testing.assert_array_equal(u.ap_xy[1:], tr.ap_pos[:12, :, :2])


def test_a_drive_file_that_does_not_fit_is_refused_naming_it(binary, tmp_path):
    from pybridge import make_vec_env
    from pybridge.bridge import BridgeError

    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"FMDRIVE1" + np.array([3, 3, 1, 13], "<u4").tobytes())
    message = "holds N=3, D=3 but the parameters give N=6, D=6"
    with pytest.raises(BridgeError, match=message), make_vec_env(
            "inx-factory", 1, backend="ns3", n_subnetworks=6, episode_steps=12,
            ns3_options={"extra_args": [f"--drive={bad}"]}) as env:
        env.reset(seed=0)


def test_ns3_is_skipped_with_its_reason_when_the_trace_cannot_drive_it(small_trace, tmp_path):
    from pybridge.scenarios.inx_factory.external import run_sides
    from pybridge.scenarios.inx_factory.trace_faults import arrays_of

    tr = load_trace(small_trace)
    arrays = arrays_of(tr)
    arrays["power_dbm"] = arrays["power_dbm"] + np.arange(tr.N) * 0.5  # per-AP powers
    varied = load_trace(save_trace(tmp_path / "p.npz", tr.header["constants"], arrays))
    out = run_sides(varied, None, 1, 0, ns3=True)
    assert "power_dbm varies" in out["ns3"]["skipped"]
    assert "ns3" not in out["sides"] and len(out["sides"]["twin"]["sinr_db"]) == 3
