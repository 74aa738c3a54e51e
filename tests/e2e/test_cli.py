"""The `fedmarl` command line: eval (table and JSON), params, bench, run, and its errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

from fedmarl.cli import main


def run_cli(*args):
    """Run the installed CLI module in a subprocess, as a user would."""
    return subprocess.run([sys.executable, "-m", "fedmarl.cli", *args], capture_output=True,
                          text=True, timeout=600, check=False)


def test_eval_json_has_the_metrics():
    p = run_cli("eval", "--scenario", "inx-factory", "--policy", "cgc", "--episodes", "2",
                "--seed", "3", "--json", "--set", "n_subnetworks=8", "--set", "episode_steps=30")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    for key in ("mean_rate", "p5_rate", "p50_rate", "mean_rate_shannon", "jain_fairness",
                "frac_below_rmin", "mean_interference_dbm", "sinr_db_p5", "sinr_db_p50",
                "sinr_db_p95", "rate_cdf_quantiles"):
        assert key in r
    assert r["episodes"] == 2 and r["policy"] == "cgc"
    assert 0 < r["jain_fairness"] <= 1 and 0 <= r["frac_below_rmin"] <= 1
    assert r["p5_rate"] <= r["p50_rate"] and len(r["rate_cdf_quantiles"]) == 101


def test_eval_table_lists_each_policy(capsys):
    assert main(["eval", "--policy", "random", "greedy", "--episodes", "1",
                 "--set", "n_subnetworks=5", "--set", "episode_steps=10"]) == 0
    out = capsys.readouterr().out
    assert "random" in out and "greedy" in out and "Jain" in out


def test_eval_same_seed_same_numbers():
    args = ["eval", "--policy", "greedy", "--episodes", "2", "--json", "--seed", "5",
            "--set", "n_subnetworks=6", "--set", "episode_steps=20"]
    assert run_cli(*args).stdout == run_cli(*args).stdout


def test_bad_parameter_is_one_clear_error():
    p = run_cli("eval", "--episodes", "1", "--set", "n_channels=-1")
    assert p.returncode == 2
    assert "n_channels" in p.stderr and "out of range" in p.stderr
    assert "Traceback" not in p.stderr
    p = run_cli("eval", "--episodes", "1", "--set", "warp_speed=9")
    assert p.returncode == 2 and "unknown parameter" in p.stderr


def test_params_lists_sources(capsys):
    assert main(["params", "inx-factory", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"]: r for r in rows}
    assert names["n_channels"]["default"] == 4 and names["n_channels"]["source"] == "ref002"
    assert {"n_subnetworks", "n_devices", "clutter", "episode_steps", "seed"} <= set(names)


def test_bench_twin_json_reports_rates():
    p = run_cli("bench", "twin", "--n", "10", "--batch", "4", "--seconds", "0.2", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["env_steps_per_s_single"] > 0 and r["env_steps_per_s_batched"] > 0
    assert r["agent_steps_per_s_batched"] == r["env_steps_per_s_batched"] * 10
    assert set(r["us_per_stage_single"]) >= {"fading", "large_scale_refresh", "mobility_step"}


def test_run_writes_report(tmp_path):
    out = tmp_path / "rep"
    assert main(["run", "--out", str(out), "--episodes", "2", "--train-episodes", "1"]) == 0
    assert (out / "report.md").read_text().count("|") > 20
    assert (out / "rate_cdf.png").stat().st_size > 1000
    res = json.loads((out / "results.json").read_text())
    assert [r["policy"] for r in res["results"]] == ["f-maddqn", "random", "fixed", "greedy",
                                                      "greedy-filtered", "cgc"]
    assert (out / "training" / "report.md").exists()
    assert (out / "run-f-maddqn" / "policy.pt").exists()
    text = (out / "report.md").read_text()
    for part in ("- mean FBL: f-maddqn", "- p5 FBL: f-maddqn", "too few to judge",
                 "Secure aggregation: 6 rounds of 20 agents (0 failed)", "overlapped",
                 "fedmarl validate --scenario inx-factory --policy"):
        assert part in text, part
    assert (out / "training_curve.png").stat().st_size > 1000
    # One checkpoint, at the end: the main job always starts afresh.
    assert [p.name for p in (out / "run-f-maddqn" / "checkpoints").iterdir()] == [
        "ckpt-000001.pt"]


@pytest.mark.parametrize("curve, flat", [
    (np.r_[np.linspace(4, 6, 50), np.full(50, 6.0)], True),          # rose, then a plateau
    (np.linspace(4, 6, 100), False),                                  # still rising at the end
    (np.r_[np.linspace(4, 6, 80), np.linspace(6, 6.6, 20)], False),   # a late rise
])
def test_tail_trend_tells_a_plateau_from_a_rise(curve, flat):
    from fedmarl.mainjob import tail_trend

    noisy = curve + np.random.default_rng(0).normal(0, 0.1, curve.size)
    t = tail_trend(list(noisy))
    assert t["flat"] is flat, t
    assert t["rise"] > 1.5


def test_bench_secagg_json_reports_secure_beside_plain():
    p = run_cli("bench", "secagg", "--clients", "5", "--params", "1000", "--dropout", "0.2",
                "--graphs", "complete", "--repeats", "1", "--json")
    assert p.returncode == 0, p.stderr
    (r,) = json.loads(p.stdout)
    assert r["clients"] == 5 and r["dropped"] == 1 and r["graph"] == "complete"
    assert r["secure"]["exact"] is True
    assert r["secure"]["bytes_per_client_sent"] > r["plain"]["bytes_per_client_sent"] > 4000
    assert set(r["secure"]["stage_seconds"]) >= {"advertise", "share_keys", "masked_input"}
    assert 0 < r["secure"]["critical_path_seconds"] <= r["secure"]["seconds"]


def test_bench_secagg_puts_all_pairs_and_secagg_plus_side_by_side():
    p = run_cli("bench", "secagg", "--clients", "30", "--params", "2000", "--dropout", "0.1",
                "--threat", "semi-honest", "--corrupt", "0.1", "--threat-dropout", "0.1",
                "--json")
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    assert [r["graph"] for r in rows] == ["complete", "harary"]
    full, plus = rows
    assert full["degree"] == 29 and plus["degree"] < 29
    assert full["secure"]["exact"] and plus["secure"]["exact"]
    # Each client pairs with k neighbours instead of N - 1: fewer bytes per client.
    assert plus["secure"]["bytes_per_client_sent"] < full["secure"]["bytes_per_client_sent"]


def test_bench_bridge_json_names_both_paths():
    p = run_cli("bench", "bridge", "--n", "20", "--seconds", "0.2", "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)["results"][0]
    assert r["n_agents"] == 20
    for path in ("shm", "zmq"):
        assert r[path]["round_trips_per_s"] > 0 and r[path]["p50_us"] <= r[path]["p99_us"]
    assert r["speedup_p50"] > 0


def test_choices_come_from_the_registries(capsys):
    from agents.registry import LEARNERS
    from fedmarl.cli import build_parser
    from fedmarl.registries import baseline_names
    from pybridge import scenarios

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "cmd").choices
    scen = next(a for a in sub["eval"]._actions if a.dest == "scenario")
    assert list(scen.choices) == scenarios.names()
    algo = next(a for a in sub["train"]._actions if a.dest == "algo")
    assert list(algo.choices) == list(LEARNERS)
    # An unknown policy is one clear error listing the chosen scenario's baselines.
    assert main(["eval", "--policy", "oracle", "--episodes", "1"]) == 2
    err = capsys.readouterr().err
    assert "oracle" in err
    for name in baseline_names("inx-factory"):
        assert name in err
    with pytest.raises(SystemExit):  # argparse: a scenario that is not registered
        parser.parse_args(["eval", "--scenario", "no-such-scenario"])


def test_preset_gives_its_parameters_and_set_goes_on_top():
    import argparse

    from fedmarl.cli import _scenario_params

    args = argparse.Namespace(preset="ultra-dense", set=["n_channels=8"], scenario="inx-factory")
    params = _scenario_params(args)
    assert params["traffic"] == "periodic" and params["packet_interval"] == 0.001
    assert params["n_channels"] == "8"  # --set wins over the preset
    p = run_cli("eval", "--episodes", "1", "--preset", "warp")
    assert p.returncode == 2 and "unknown preset 'warp'" in p.stderr
    assert "ultra-dense" in p.stderr and "Traceback" not in p.stderr
