"""Behaviour of fedmarl's orchestration helpers that mutation testing (mutmut) found unasserted.

Hand values only (no timings): the study helpers (claims, curves, JSON cleaning), validation's
statistic names and transfer gap, run-directory checkpoints, a strategy's report, the trainer's
progress text and signal handling, and the defaults `fedmarl validate` passes on.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from fedmarl import validate
from fedmarl.io import RunDir, write_yaml
from fedmarl.study import Claim, check_claims, clean, episodes_to, tail_mean
from fedmarl.train import TrainConfig, Trainer
from pybridge.api import Tolerance
from pybridge.config import ConfigError

TINY = {"n_subnetworks": 3, "n_channels": 2, "episode_steps": 10}


# ------------------------------------------------------------------------------- study
def test_tail_mean_is_the_mean_of_the_last_fraction_and_at_least_one_value():
    y = [float(v) for v in range(1, 11)]
    assert tail_mean(y) == 9.5  # last 20 %: 9, 10
    assert tail_mean(y, frac=0.5) == 8.0  # 6..10
    assert tail_mean([3.0, 7.0], frac=0.2) == 7.0  # int(0.4) = 0, still one value


def test_episodes_to_uses_the_first_smoothed_value_and_the_rise():
    # 10 batches: smoothing window 1. Offset 1, rise 2: 90 % of the rise is 2.8, first reached
    # at batch index 2, i.e. after 3 batches of 4 copies.
    y = [1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]
    assert episodes_to(y, n_envs=4) == 12
    assert episodes_to(y, n_envs=4, frac=1.0) == 12  # the maximum itself counts as reached
    assert episodes_to(y, n_envs=1, frac=0.4) == 2  # 1.8: batch index 1
    # Window 1 below 20 batches: a step is seen at its own batch.
    step = [0.0] * 5 + [1.0] * 5
    assert episodes_to(step, n_envs=1) == 6


def test_check_claims_keeps_the_numbers_and_makes_holds_a_bool():
    claims = (Claim("up", "the value rises", lambda d: {"holds": np.bool_(d["v"] > 1),
                                                         "v": d["v"]}),
              Claim("down", "the value falls", lambda d: {"holds": 0, "v": -d["v"]}))
    out = check_claims(claims, {"v": 2.0})
    assert out == {"up": {"claim": "the value rises", "holds": True, "v": 2.0},
                   "down": {"claim": "the value falls", "holds": False, "v": -2.0}}
    assert type(out["up"]["holds"]) is bool and type(out["down"]["holds"]) is bool


def test_clean_makes_json_values():
    x = {1: np.float32(2.5), "a": [np.int64(3), float("nan")],
         "b": (np.array([1.0, np.inf]),), "c": "text", "d": -math.inf}
    out = clean(x)
    assert out == {"1": 2.5, "a": [3, None], "b": [[1.0, None]], "c": "text", "d": None}
    assert type(out["a"][0]) is int and type(out["1"]) is float


# --------------------------------------------------------------------------- validation
def test_tolerances_by_name_in_the_scenarios_order_from_a_name_or_a_spec():
    from fedmarl.registries import spec

    s = spec("inx-factory")
    by_name = validate.tolerances("inx-factory")
    assert list(by_name) == [t.metric for t in s.tolerances]
    assert by_name["mean_rate"].kind == "rel"
    fake = SimpleNamespace(tolerances=(Tolerance("x", "abs", 1.0, "r"),))
    assert list(validate.tolerances(fake)) == ["x"]


def test_default_policy_is_the_first_evaluation_baseline(monkeypatch):
    from fedmarl import runs

    assert validate.default_policy("inx-factory") == runs.eval_baselines("inx-factory")[0]
    assert validate.default_policy("inx-factory") == "random"
    monkeypatch.setattr(runs, "eval_baselines", lambda scenario: [])
    with pytest.raises(ConfigError, match="has no baselines"):
        validate.default_policy("inx-factory")


def test_sample_rows_names_every_percentile_both_ways_and_the_short_ks_name():
    cmp = {"mean": "M", "p5": "A", "p50": "B", "p97.5": "C", "ks": "K"}
    rows = validate._sample_rows("sinr_db", cmp)
    assert rows == {"mean_sinr_db": ("stat", "M"),
                    "p5_sinr_db": ("stat", "A"), "sinr_db_p5": ("stat", "A"),
                    "p50_sinr_db": ("stat", "B"), "sinr_db_p50": ("stat", "B"),
                    "p97.5_sinr_db": ("stat", "C"), "sinr_db_p97.5": ("stat", "C"),
                    "ks_sinr_db": ("ks", "K"), "ks_sinr": ("ks", "K")}
    assert set(validate._sample_rows("rate", {"mean": 1, "ks": 2})) == {"mean_rate", "ks_rate"}
    # Only the last unit suffix (_db or _dbm) is dropped from the short KS name.
    assert set(validate._sample_rows("rx_power_dbm", {"mean": 1, "ks": 2})) == {
        "mean_rx_power_dbm", "ks_rx_power_dbm", "ks_rx_power"}
    assert set(validate._sample_rows("gain_dbx", {"mean": 1, "ks": 2})) == {
        "mean_gain_dbx", "ks_gain_dbx"}


def test_ks_row_carries_the_permutation_figures():
    tol = Tolerance("ks_rate", "ks", 0.1, "why")
    row = validate.ks_verdict(tol, {"distance": 0.3, "critical_95": 0.2,
                                    "pvalue_episodes": 0.01})
    assert (row["critical_95"], row["pvalue_episodes"], row["verdict"]) == (0.2, 0.01, "differ")


def test_verdict_edges_na_zero_twin_exact_tolerance_and_ci_touching_zero():
    ab = Tolerance("m", "abs", 0.5, "why")
    for twin, ns3 in ((1.0, math.nan), (math.nan, 1.0), (None, 1.0), (1.0, None)):
        row = validate.verdict(ab, twin, ns3)
        assert (row["verdict"], row["deviation"]) == ("n/a", None)
    assert validate.verdict(ab, 2.0, 2.5)["verdict"] == "agree"  # |diff| == tolerance
    assert validate.verdict(ab, -2.0, -2.4)["deviation"] == pytest.approx(0.4)
    rel = validate.verdict(Tolerance("m", "rel", 0.1, ""), 0.0, 0.5)
    assert (rel["deviation"], rel["verdict"]) == (math.inf, "differ")
    assert validate.verdict(ab, 1.0, 3.0, (0.0, 1.0))["verdict"] == "inconclusive"
    assert validate.verdict(ab, 1.0, 3.0, (-1.0, 0.0))["verdict"] == "inconclusive"
    assert validate.verdict(ab, 1.0, 3.0, (0.5, 1.0))["verdict"] == "differ"
    with pytest.raises(ConfigError, match="tolerance m: unknown kind 'bogus'"):
        validate.verdict(Tolerance("m", "bogus", 1.0, ""), 1.0, 2.0)
    ks = validate.ks_verdict(Tolerance("ks_x", "ks", 0.1, ""),
                             {"distance": 0.2, "critical_95": 0.2, "pvalue_episodes": 0.05})
    assert ks["verdict"] == "inconclusive"  # D at the critical value is not "differ"


def test_mean_ci_is_a_student_t_interval_over_episode_means():
    m, lo, hi = validate.mean_ci([1, 2, 3])  # t(0.975, 2) = 4.3027, s = 1, n = 3
    assert m == 2.0
    assert (lo, hi) == (pytest.approx(2.0 - 2.48413771175), pytest.approx(2.0 + 2.48413771175))
    one = validate.mean_ci(np.array([5.0]))
    assert one[0] == 5.0 and math.isnan(one[1]) and math.isnan(one[2])


def test_bootstrap_resamples_every_episode():
    rng = np.random.default_rng(0)
    reps = validate._boot_quantile([np.zeros(3), np.ones(3)], 50.0, rng)
    assert reps.shape == (validate.BOOTSTRAP,)
    assert set(np.unique(reps)) == {0.0, 0.5, 1.0}  # both, either or neither episode drawn


def test_jsonable_turns_arrays_and_numpy_scalars_into_json_values():
    x = {"a": np.array([1.0, np.nan]), "t": (np.int32(2), np.inf), "cfg": 1, "s": "x"}
    out = validate.jsonable(x)
    assert out == {"a": [1.0, None], "t": [2, None], "s": "x"}
    assert type(out["t"][0]) is int


def _cmp(twin, ns3, lo, hi):
    return {"twin": twin, "ns3": ns3, "diff": ns3 - twin, "diff_ci": (lo, hi)}


def test_transfer_gap_is_other_minus_training_backend_for_either_direction():
    samples = {"rate": {"mean": _cmp(10.0, 12.0, 1.0, 3.0), "p5": _cmp(4.0, 3.0, -2.0, -0.5),
                        "ks": {"distance": 0.1}}}
    spec = SimpleNamespace(tolerances=(Tolerance("ks_rate", "ks", 0.1, ""),
                                       Tolerance("jain", "abs", 0.1, ""),
                                       Tolerance("mean_rate", "rel", 0.05, ""),
                                       Tolerance("p5_rate", "rel", 0.1, "")))
    info = {"run": "r", "trained_on": "twin"}
    on_twin = validate.transfer_gap(info, spec, samples)
    assert on_twin["evaluated_on"] == "ns3" and "ks_rate" not in on_twin
    assert on_twin["mean_rate"] == {"on_training_backend": 10.0, "on_other_backend": 12.0,
                                    "gap": 2.0, "gap_ci": (1.0, 3.0), "gap_rel": 0.2}
    on_ns3 = validate.transfer_gap({"run": "r", "trained_on": "ns3"}, spec, samples)
    assert on_ns3["evaluated_on"] == "twin"
    assert on_ns3["mean_rate"] == {"on_training_backend": 12.0, "on_other_backend": 10.0,
                                   "gap": -2.0, "gap_ci": (-3.0, -1.0),
                                   "gap_rel": pytest.approx(-2.0 / 12.0)}
    assert on_ns3["p5_rate"]["gap"] == 1.0 and on_ns3["p5_rate"]["gap_ci"] == (0.5, 2.0)
    assert set(on_ns3) == {"run", "trained_on", "evaluated_on", "mean_rate", "p5_rate"}
    zero = {"rate": {"mean": _cmp(0.0, 1.0, 0.5, 1.5), "ks": {}}}
    gap = validate.transfer_gap(info, spec, zero)["mean_rate"]
    assert gap["gap"] == 1.0 and math.isnan(gap["gap_rel"])  # no relative gap from 0


def test_validation_module_of_a_spec_with_or_without_one():
    import json

    assert validate.validation_module(SimpleNamespace()) is None
    assert validate.validation_module(SimpleNamespace(validation_module=None)) is None
    assert validate.validation_module(SimpleNamespace(validation_module="json")) is json


def test_resolve_policy_errors_name_the_baselines_and_the_scenarios(tmp_path, monkeypatch):
    from fedmarl import runs

    with pytest.raises(ConfigError, match=r"--policy 'nope' is neither a baseline of"
                       r" 'inx-factory' \(random, fixed, greedy, greedy-filtered, cgc\)"
                       r" nor a run directory"):
        validate.resolve_policy("nope", "inx-factory", {})
    monkeypatch.setattr(runs, "load_run_policy", lambda run: (None, {"scenario": "other"}))
    with pytest.raises(ConfigError, match=f"run {tmp_path} was trained on 'other', not"
                       " 'inx-factory'"):
        validate.resolve_policy(str(tmp_path), "inx-factory", {})


def test_flat_concatenates_episodes_and_is_empty_for_none():
    assert validate.flat([]).shape == (0,)
    np.testing.assert_array_equal(validate.flat([np.ones((2, 2)), np.array([3.0])]),
                                  [1.0, 1.0, 1.0, 1.0, 3.0])


def test_validate_passes_its_documented_defaults_on(monkeypatch):
    seen = {}

    def fake_compare(*args):
        seen["args"] = args
        return {"x": np.float64(1.5), "cfg": object()}, {}

    monkeypatch.setattr(validate, "compare", fake_compare)
    assert validate.validate() == {"x": 1.5}  # jsonable: numpy scalars out, "cfg" dropped
    assert seen["args"] == ("inx-factory", None, 5, 0, None, None, None, True)
    marker = object()
    validate.validate("inx-factory", "greedy", 3, 7, {"n_channels": 2}, 2, marker, False)
    assert seen["args"] == ("inx-factory", "greedy", 3, 7, {"n_channels": 2}, 2, marker, False)


# -------------------------------------------------------------------------- run directory
def test_latest_checkpoint_is_the_newest_of_any_number(tmp_path):
    rd = RunDir(tmp_path)
    assert rd.latest_checkpoint() is None
    rd.ckpt_dir.mkdir()
    (rd.ckpt_dir / "ckpt-000001.pt").write_bytes(b"1")
    assert rd.latest_checkpoint() == rd.ckpt_dir / "ckpt-000001.pt"
    for e in (2, 3):
        (rd.ckpt_dir / f"ckpt-{e:06d}.pt").write_bytes(b"x")
    assert rd.latest_checkpoint() == rd.ckpt_dir / "ckpt-000003.pt"


# ----------------------------------------------------------------------------- training
def _cfg(**kw) -> TrainConfig:
    data = {"algo": "f-maddqn", "episodes": 2, "n_envs": 1, "aggregation": "plain",
            "params": dict(TINY)}
    data.update(kw)
    return TrainConfig.from_dict(data)


def test_config_load_and_load_run_of_a_hand_written_run(tmp_path):
    path = tmp_path / "c.yaml"
    write_yaml(path, {"algo": "d-maddqn", "episodes": 3, "params": dict(TINY)})
    cfg = TrainConfig.load(path)
    assert (cfg.algo, cfg.episodes, cfg.params) == ("d-maddqn", 3, TINY)
    # A run directory whose config has no resolved parameters (written by hand) still loads.
    write_yaml(tmp_path / "run" / "config.yaml", {"algo": "d-maddqn", "seed": 4})
    assert TrainConfig.load_run(tmp_path / "run").seed == 4


def test_progress_text_shows_the_scenarios_headline_when_the_row_has_it(tmp_path):
    t = Trainer(_cfg(), tmp_path / "run")
    assert t._progress_text({"mean_reward": 1.234, "mean_rate": 5.678}) == \
        "f-maddqn reward 1.23 rate 5.68"
    assert t._progress_text({"mean_reward": -1.0}) == "f-maddqn reward -1.00"
    t.spec = SimpleNamespace(headline="mean_reward")
    assert t._progress_text({"mean_reward": 2.0}) == "f-maddqn reward 2.00"


def test_a_signal_marks_the_trainer_interrupted(tmp_path):
    t = Trainer(_cfg(), tmp_path / "run")
    assert t.interrupted is False
    t._on_signal(2, None)
    assert t.interrupted is True


# --------------------------------------------------------------------------- strategies
def test_plain_report_has_the_protocols_figures_and_the_wall_clock_seconds():
    from federation.strategy import PlainFedAvg

    updates = [{"w": np.full(3, float(i), np.float32)} for i in range(4)]
    average, report = PlainFedAvg(1).aggregate(updates, 0)
    np.testing.assert_allclose(average["w"], [1.5, 1.5, 1.5])
    assert report["mode"] == "plain" and report["n_clients"] == 4 and report["n_params"] == 3
    assert 0.0 <= report["seconds"] < 60.0
    assert not {k for k in report if k.lower() != k or "XX" in k}


# ----------------------------------------------------------------- evaluation and statistics
def test_default_batch_caps_copies_by_backend(monkeypatch):
    from fedmarl import evaluate

    assert evaluate.default_batch(40, "twin") == evaluate.MAX_BATCH == 16
    assert evaluate.default_batch(3, "twin") == 3
    monkeypatch.setattr(evaluate.os, "cpu_count", lambda: 6)
    assert evaluate.default_batch(40, "ns3") == 6 and evaluate.default_batch(3, "ns3") == 3
    monkeypatch.setattr(evaluate.os, "cpu_count", lambda: None)
    assert evaluate.default_batch(40, "ns3") == 1


def test_evaluate_policy_refuses_no_episodes():
    from fedmarl.evaluate import evaluate_policy

    with pytest.raises(ValueError, match="episodes must be >= 1"):
        evaluate_policy("inx-factory", None, 0)


def test_welch_half_edges():
    half = validate._welch_half
    assert math.isnan(half(np.array([1.0]), np.array([1.0, 2.0, 3.0])))
    assert math.isnan(half(np.array([1.0, 2.0, 3.0]), np.array([1.0])))
    assert half(np.array([1.0, 1.0]), np.array([2.0, 2.0])) == 0.0  # no spread: no interval
    # se = 1 exactly, 1 degree of freedom: t(0.975, 1) = 12.706
    assert half(np.array([0.0, 0.0]), np.array([-1.0, 1.0])) == pytest.approx(12.7062047)
    assert math.isfinite(half(np.array([1.0, 2.0]), np.array([1.0, 2.0, 4.0])))


def test_ks_permutation_p_value_counts_ties_and_is_seeded():
    same = [np.zeros(2), np.zeros(2)]
    ks = validate.ks_permutation(same, same, seed=0, n_perm=9)
    assert (ks["distance"], ks["critical_95"], ks["pvalue_episodes"]) == (0.0, 0.0, 1.0)
    rng = np.random.default_rng(3)
    a = [rng.normal(0, 1, 30) for _ in range(4)]
    b = [rng.normal(0.3, 1, 30) for _ in range(4)]
    assert validate.ks_permutation(a, b, seed=5) == validate.ks_permutation(a, b, seed=5)


def test_make_baseline_error_names_the_scenario_and_its_baselines():
    from fedmarl.registries import make_baseline, spec

    msg = (r"unknown policy 'nope' for scenario 'inx-factory'; its baselines: random, fixed,"
           r" greedy, greedy-filtered, cgc")
    for scenario in ("inx-factory", spec("inx-factory")):
        with pytest.raises(ConfigError, match=msg):
            make_baseline(scenario, "nope")
    assert make_baseline("inx-factory", "greedy").name == "greedy"
