"""`fedmarl validate`: the same configuration on the twin and on packet-level ns-3.

These tests launch `fedmarl-inx-factory` processes (built by `make test`); a missing build fails
with a message naming the command, it never skips.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from fedmarl.cli import main
from fedmarl.registries import make_baseline
from fedmarl.registries import spec as scenario_spec
from fedmarl.validate import compare_samples, ks_permutation, tolerances, validate, verdict

BINARY = scenario_spec("inx-factory").ns3_binary
TOL = tolerances("inx-factory")

SMALL = {"n_subnetworks": 5, "n_channels": 2, "episode_steps": 20}


def test_verdict_rules():
    assert verdict(TOL["mean_rate"], 10.0, 10.4)["verdict"] == "agree"  # 4 % <= 5 %
    assert verdict(TOL["mean_rate"], 10.0, 11.0, (0.5, 1.5))["verdict"] == "differ"
    assert verdict(TOL["mean_rate"], 10.0, 11.0, (-0.2, 2.2))["verdict"] == "inconclusive"
    assert verdict(TOL["packet_error_rate"], 1e-5, 1.5e-5)["verdict"] == "agree"
    assert verdict(TOL["packet_error_rate"], 1e-5, 1e-3)["verdict"] == "differ"
    assert verdict(TOL["queue_mean_packets"], None, 3.0)["verdict"] == "n/a"
    assert all(t.reason for t in TOL.values())
    # Relative deviation is relative to the twin; ratio is max / min.
    assert verdict(TOL["mean_rate"], 10.0, 10.4)["deviation"] == pytest.approx(0.04, rel=1e-12)
    assert verdict(TOL["mean_rate"], 10.0, 9.4)["verdict"] == "differ"  # 6 % of the twin
    assert verdict(TOL["packet_error_rate"], 1e-5, 3e-5)["deviation"] == pytest.approx(3.0)


def test_ks_rows_differ_only_beyond_the_permutation_critical_value():
    from fedmarl.validate import ks_verdict

    tol = TOL["ks_rate"]  # 0.10
    inside = ks_verdict(tol, {"distance": 0.05, "critical_95": 0.2, "pvalue_episodes": 0.5})
    noisy = ks_verdict(tol, {"distance": 0.15, "critical_95": 0.2, "pvalue_episodes": 0.2})
    real = ks_verdict(tol, {"distance": 0.30, "critical_95": 0.2, "pvalue_episodes": 0.01})
    assert [r["verdict"] for r in (inside, noisy, real)] == ["agree", "inconclusive", "differ"]
    assert real["twin"] is None and real["ns3"] == 0.30


def test_welch_interval_matches_scipy():
    from scipy import stats

    from fedmarl.validate import _welch_half

    a = np.array([7.1, 7.9, 8.4, 7.7, 8.0])
    b = np.array([8.9, 9.6, 8.1, 9.9, 9.2, 10.4, 8.8])
    lo, hi = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    d = b.mean() - a.mean()
    assert _welch_half(a, b) == pytest.approx((hi - lo) / 2, rel=1e-9)
    assert d - _welch_half(a, b) == pytest.approx(lo, rel=1e-9)


def test_statistics_tell_same_from_shifted_distributions():
    rng = np.random.default_rng(0)
    # Episodes with their own random level (clustered samples), as in the simulators.
    same_a = [rng.normal(rng.normal(8, 0.3), 2, 500) for _ in range(6)]
    same_b = [rng.normal(rng.normal(8, 0.3), 2, 500) for _ in range(6)]
    shifted = [rng.normal(rng.normal(10, 0.3), 2, 500) for _ in range(6)]
    same = compare_samples(same_a, same_b, seed=1)
    lo, hi = same["mean"]["diff_ci"]
    assert lo <= 0 <= hi
    assert same["ks"]["distance"] <= same["ks"]["critical_95"] * 1.5
    far = compare_samples(same_a, shifted, seed=1)
    lo, hi = far["mean"]["diff_ci"]
    assert lo > 1.0 and hi < 3.0
    assert far["p5"]["diff_ci"][0] > 0
    ks = ks_permutation(same_a, shifted, seed=2)
    assert ks["distance"] > ks["critical_95"] and ks["pvalue_episodes"] < 0.05


def test_validate_greedy_small_json_and_report(binary, tmp_path, capsys):
    out = tmp_path / "val"
    sets = [f"--set={k}={v}" for k, v in SMALL.items()]
    rc = main(["validate", "--policy", "greedy", "--episodes", "2", "--json", "--out", str(out),
               *sets])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["policy"] == "greedy" and r["episodes"] == 2
    for b in ("twin", "ns3"):
        assert r["backends"][b]["episodes"] == 2
    assert "delay_mean_s" in r["backends"]["ns3"] and "delay_mean_s" not in r["backends"]["twin"]
    fbl = r["samples"]["rate"]
    for k in ("mean", "p5"):
        assert len(fbl[k]["twin_ci"]) == 2 and len(fbl[k]["diff_ci"]) == 2
        assert fbl[k]["twin_ci"][0] <= fbl[k]["twin"] <= fbl[k]["twin_ci"][1]
    assert 0.0 < fbl["ks"]["distance"] < 1.0
    assert {"p5", "p50", "p95"} <= set(r["samples"]["sinr_db"]) and "ks" in r["samples"]["gain_db"]
    metrics = {row["metric"]: row for row in r["verdicts"] + r["packet_level"]}
    assert {"mean_rate", "p5_rate", "ks_rate", "ks_sinr", "ks_gain", "delay_mean_s",
            "delay_p99_s", "packet_error_rate", "queue_mean_packets"} <= set(metrics)
    assert all(row["verdict"] in ("agree", "differ", "inconclusive", "n/a")
               for row in metrics.values())
    # The full-buffer predictions: one TB airtime l / B, eps, no queue.
    assert metrics["delay_mean_s"]["twin"] == pytest.approx(256 / 10e6)
    assert metrics["packet_error_rate"]["twin"] == 1e-5
    # ns-3's delay is packet-level: positive and at most one blocklength of airtime (+1 ns).
    assert 0 < metrics["delay_mean_s"]["ns3"] <= 256 / 10e6 + 1e-9
    for f in ("validate.md", "validate.json", "rate_cdf.png", "rate_shannon_cdf.png",
              "sinr_db_cdf.png", "gain_db_cdf.png"):
        assert (out / f).stat().st_size > 500, f
    md = (out / "validate.md").read_text()
    assert "| ks_rate |" in md and "rate_cdf.png" in md
    # Trace mode is on by default: the channel model agrees to rounding, the MAC can only lower
    # interference, and the packet-level split adds up to the total difference.
    tr = r["trace"]
    assert tr["samples"] == 2 * SMALL["episode_steps"] * SMALL["n_subnetworks"]
    assert tr["channel_model"]["verdict"] == "agree"
    assert tr["channel_model"]["max_rel_sinr_diff"] <= 1e-9
    mac = tr["mac_effect"]
    assert -1e-5 <= mac["sinr_db_mean"] <= mac["sinr_db_max"] < 3.0
    pk = tr["packet_effect"]
    assert pk["mean_bps_hz"] == pytest.approx(pk["ns3_throughput_mean"] - pk["replayed_fbl_mean"])
    split = pk["split"]["mac_sinr"]["mean_bps_hz"] + pk["split"]["packets"]["mean_bps_hz"]
    assert split == pytest.approx(pk["mean_bps_hz"], abs=1e-9)
    assert pk["mean_abs_bps_hz"] >= abs(pk["mean_bps_hz"])
    assert "## Trace mode" in md and "MAC effect" in md


def test_trace_mode_follows_episodes_across_batches_and_copies(binary):
    """3 episodes in batches of 2 + 1: three scenario processes, each its own trace file; every
    episode's trace must be found (RngRun and steps checked) and line up with the recorder."""
    r = validate(policy="random", episodes=3, seed=5, params=SMALL, batch=2)
    tr = r["trace"]
    assert tr["episodes"] == 3 and tr["channel_model"]["verdict"] == "agree"
    # The throughput the trace analysis read is the one the comparison used, sample for sample.
    assert tr["packet_effect"]["ns3_throughput_mean"] == pytest.approx(
        r["samples"]["rate"]["mean"]["ns3"], rel=1e-6)
    off = validate(policy="random", episodes=1, seed=5, params=SMALL, trace=False)
    assert off["trace"] is None


def test_validate_transfer_of_a_twin_trained_run(binary, tmp_path):
    from fedmarl.train import TrainConfig, Trainer

    run = tmp_path / "run"
    cfg = TrainConfig.from_dict({"algo": "d-maddqn", "episodes": 1, "n_envs": 1,
                                 "params": dict(SMALL)})
    Trainer(cfg, run).start()
    r = validate(policy=str(run), episodes=1, seed=3)
    t = r["transfer"]
    assert t["trained_on"] == "twin" and t["evaluated_on"] == "ns3"
    g = t["mean_rate"]
    assert g["gap"] == pytest.approx(g["on_other_backend"] - g["on_training_backend"])
    assert r["params"]["n_subnetworks"] == 5  # the run's own scenario parameters


def test_trace_mode_replay_matches_ns3_full_occupancy_and_isolates_the_mac(binary, tmp_path):
    """Item 2: the twin replays ns-3's channel; SINR agrees to floating point at full occupancy,
    and the measured (busy-fraction weighted) SINR differs from it only by the MAC effect."""
    from pybridge import make_config, make_vec_env
    from pybridge.scenarios.inx_factory.replay import read_trace, replay

    trace = tmp_path / "channel.trace"
    cfg = make_config("inx-factory", **SMALL)
    greedy = make_baseline("inx-factory", "greedy")
    measured, channels, airtime = [], [], []
    with make_vec_env("inx-factory", 1, backend="ns3", **SMALL,
                      ns3_options={"extra_args": [f"--trace={trace}"]}) as env:
        env.reset(seed=4)
        greedy.reset(1, cfg.n_subnetworks, env.single_action_space, np.random.default_rng(4))
        for t in range(cfg.episode_steps + 1):
            last = env.core.last
            measured.append(last.sinr_per_channel[0].reshape(-1, cfg.n_channels).copy())
            channels.append(last.channel[0].copy())
            airtime.append(last.airtime[0].copy())
            if t < cfg.episode_steps:
                env.step(greedy.act(env.core))
    tr = read_trace(trace)
    assert list(tr.t) == list(range(cfg.episode_steps + 1)) and set(tr.run) == {4}
    np.testing.assert_array_equal(tr.channel, np.array(channels))
    rep = replay(tr, cfg.blocklength, cfg.error_prob)
    # Same powers, same full-occupancy formula: floating-point agreement.
    np.testing.assert_allclose(rep.sinr_per_channel, tr.full_sinr, rtol=1e-12, atol=0)
    # Fading really varies per step and the large scale holds between refreshes.
    fad = tr.fading
    assert fad.std() > 0.3 and np.all(fad > 0)
    assert np.array_equal(tr.mean_power_w[1], tr.mean_power_w[cfg.large_scale_update_steps - 1])
    # The MAC effect: an AP idle part of the interval interferes less, so the measured SINR is
    # never below the full-occupancy one (float32 rounding aside), and under full buffer with
    # APs busy > 99 % of the time it is within a few percent of it.
    meas = np.array(measured, dtype=np.float64)
    assert np.all(meas >= tr.full_sinr * (1 - 1e-6))
    busy = np.array(airtime)
    assert busy[1:].mean() > 0.99
    rel = meas / tr.full_sinr - 1.0
    assert 0 <= np.median(rel) < 0.05


def test_validate_transfer_of_a_twin_trained_edge_offload_run(tmp_path):
    """`fedmarl validate --scenario edge-offload --policy RUN_DIR`: the twin-trained f-drqn on
    ns-3, its per-episode task-success gap with a CI (the task_outcome sample set)."""
    from native_build import built_binary

    from fedmarl.train import TrainConfig, Trainer

    built_binary(scenario_spec("edge-offload").ns3_binary)
    run = tmp_path / "run"
    cfg = TrainConfig.from_dict({"scenario": "edge-offload", "algo": "f-drqn", "episodes": 1,
                                 "n_envs": 1, "aggregation": "plain",
                                 "params": {"n_users": 3, "episode_steps": 20}})
    Trainer(cfg, run).start()
    out = tmp_path / "v"
    assert main(["validate", "--scenario", "edge-offload", "--policy", str(run), "--episodes",
                 "2", "--seed", "3", "--json", "--out", str(out)]) == 0
    r = json.loads((out / "validate.json").read_text())
    t = r["transfer"]
    assert t["trained_on"] == "twin" and t["evaluated_on"] == "ns3"
    g = t["mean_task_outcome"]
    # the per-episode outcome mean is each backend's task success
    assert g["on_training_backend"] == pytest.approx(r["backends"]["twin"]["task_success"],
                                                     abs=0.1)
    assert g["gap"] == pytest.approx(g["on_other_backend"] - g["on_training_backend"])
    lo, hi = g["gap_ci"]
    assert lo <= g["gap"] <= hi
    assert "mean_task_outcome" in (out / "validate.md").read_text()
