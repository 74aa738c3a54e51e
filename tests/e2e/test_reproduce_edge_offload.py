"""`fedmarl reproduce edge-offload` pieces that carry a modelling choice: the training runs it
asks for, the statistics its claims rest on, and the rules themselves on made-up numbers (the
benchmark itself is not a test)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.registry import make_config
from fedmarl.scenarios import edge_offload as eo
from fedmarl.train import TrainConfig


def test_run_specs_cover_every_setting_and_seed_with_valid_configs():
    b = eo.BUDGETS["full"]
    specs = eo.run_specs(b, seed=7)
    for k in range(b.seeds):
        for algo in eo.LEARNERS:
            assert f"{algo}-u20-s{k}" in specs
        for u in (5, 10, 50):
            assert specs[f"f-drqn-u{u}-s{k}"]["params"] == {"n_users": u}
        assert specs[f"f-drqn-stress-s{k}"]["params"] == eo.STRESS
        assert specs[f"f-drqn-fair-stress-s{k}"]["params"] == {**eo.STRESS, **eo.FAIR_PARAMS}
    assert {s["seed"] for n, s in specs.items() if n.startswith("f-drqn-u20")} == {7, 8, 9}
    for name, spec in specs.items():
        TrainConfig.from_dict(spec)  # every spec is a valid training config
        if name.startswith("f-"):
            assert spec["aggregation"] == "secure"  # F- as the reference: privacy-preserving
    steps = b.train_episodes * b.n_envs * 200
    assert specs["f-drqn-u20-s0"]["agent"]["eps_decay_steps"] < steps
    assert specs["f-drqn-u20-s0"]["agent"]["priority_exponent"] > 0  # the reference's PER
    assert specs["f-mappo-u20-s0"]["agent"] == {}  # PPO has no epsilon
    # C- gets the batch and replay of all 20 F- members together
    c, f = specs["c-drqn-u20-s0"]["agent"], specs["f-drqn-u20-s0"]["agent"]
    base = make_config("c-drqn")
    assert c["batch_size"] == 20 * base.batch_size and c["buffer_size"] == 20 * base.buffer_size
    assert "batch_size" not in f


def test_spread_and_paired_differences():
    s = eo.spread([0.9, 0.92, 0.94])
    assert s["mean"] == pytest.approx(0.92) and s["n"] == 3
    # t(0.975, 2) = 4.303; std 0.02: half width 4.303 * 0.02 / sqrt(3)
    assert s["ci"][1] - s["mean"] == pytest.approx(4.3027 * 0.02 / math.sqrt(3), rel=1e-3)
    one = eo.spread([0.5, math.nan])
    assert one["n"] == 1 and math.isnan(one["ci"][0])
    p = eo.paired([0.95, 0.96, 0.97], [0.90, 0.93, 0.92])
    assert p["diff"] == pytest.approx(0.0433333, rel=1e-4) and p["ci"][0] > 0


def _row(values: dict[str, list[float]]) -> dict:
    """A table row of made-up per-seed evaluations."""
    n = len(next(iter(values.values())))
    per_seed = [{m: v[k] for m, v in values.items()} for k in range(n)]
    return {"per_seed": [{"summary": ps} for ps in per_seed],
            **{m: eo.spread(v) for m, v in values.items()}}


def test_claims_are_rules_that_can_fail():
    def table(success: dict[str, list[float]], jain: float = 0.99,
              bits: dict[str, float] | None = None) -> dict:
        bits = bits or {}
        return {n: _row({"task_success": s, "jain_success": [jain] * len(s),
                         "energy_eff_bits_per_j": [bits.get(n, 1e6)] * len(s)})
                for n, s in success.items()}

    good = {"f-drqn": [0.96, 0.97, 0.965], "c-drqn": [0.90, 0.91, 0.92],
            "d-drqn": [0.93, 0.94, 0.92], "f-maddqn": [0.94, 0.95, 0.94],
            "f-mappo": [0.80, 0.82, 0.81], "central": [0.97, 0.97, 0.97],
            **{b: [0.7, 0.72, 0.71] for b in eo.DECENTRALISED_BASELINES}}
    d = {"_main": table(good, bits={"f-drqn": 4e6, "f-maddqn": 1e6}),
         "_scale": {u: table({"f-drqn": [0.96 - 0.001 * u] * 3}) for u in eo.SCALE_USERS},
         "_fair": table({"f-drqn": [0.60] * 3, "f-drqn-fair": [0.595] * 3}, jain=0.85),
         "transfer": {"gap_per_episode": eo.spread([-0.01, 0.0, -0.02, 0.01])}}
    checks = {c.key: c.check(d) for c in eo.CLAIMS}
    assert all(checks[k]["holds"] for k in (
        "f_beats_centralised", "f_beats_decentralised", "drqn_energy_efficiency",
        "recurrence_helps", "retention_5_to_50", "goal_vs_central", "goal_best_decentralised",
        "goal_fair_variant", "transfer_twin_to_ns3"))
    assert not checks["fairness_falls"]["holds"]  # Jain 0.99 is not 0.17-0.37
    # Each rule fails when its numbers say so.
    bad = dict(good, **{"c-drqn": [0.97, 0.98, 0.975], "f-maddqn": [0.97, 0.975, 0.97],
                        "greedy": [0.99, 0.99, 0.99], "central": [0.999] * 3})
    d_bad = {**d, "_main": table(bad, bits={"f-drqn": 2e6, "f-maddqn": 1e6}),
             "_scale": {u: table({"f-drqn": [0.96 - 0.004 * u] * 3}) for u in eo.SCALE_USERS},
             "_fair": table({"f-drqn": [0.60] * 3, "f-drqn-fair": [0.58] * 3}, jain=0.85),
             "transfer": {"gap_per_episode": eo.spread([-0.05, -0.06, -0.04])}}
    failed = {c.key: c.check(d_bad)["holds"] for c in eo.CLAIMS}
    for key in ("f_beats_centralised", "drqn_energy_efficiency", "recurrence_helps",
                "retention_5_to_50", "goal_vs_central", "goal_best_decentralised",
                "goal_fair_variant", "transfer_twin_to_ns3"):
        assert not failed[key], key


def test_episode_success_of_recorded_episodes():
    eps = [{"done": np.array([[3, 1, 0], [2, 0, 0]]), "late": np.array([[1, 0, 0], [0, 1, 0]])},
           {"done": np.zeros((2, 3)), "late": np.zeros((2, 3))}]
    got = eo._episode_success(eps)
    assert got[0] == pytest.approx(6 / 8) and math.isnan(got[1])


def test_the_documented_config_file_is_the_studys_f_drqn_run():
    from pathlib import Path

    from fedmarl.io import read_config

    doc = read_config(Path(__file__).parents[2] / "docs/scenarios/edge-offload-f-drqn.yaml")
    spec = eo.run_specs(eo.BUDGETS["full"], seed=0)["f-drqn-u20-s0"]
    cfg = TrainConfig.from_dict(doc)
    assert cfg.agent == spec["agent"]
    for key in ("scenario", "algo", "episodes", "n_envs", "aggregation"):
        assert getattr(cfg, key) == spec[key], key
