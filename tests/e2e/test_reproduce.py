"""`fedmarl reproduce` pieces that carry a modelling choice (the benchmark itself is not a test)."""

from __future__ import annotations

import numpy as np
import pytest

from fedmarl.scenarios.inx_factory import BUDGETS, n_policy, run_specs, seed_runs
from fedmarl.study import episodes_to
from fedmarl.train import TrainConfig, Trainer
from pybridge import make_vec_env

SMALL = {"n_subnetworks": 5, "n_channels": 2, "episode_steps": 20}


def test_global_model_serves_any_number_of_agents(tmp_path):
    """Fig. 6: a model trained at N = 5 acts for N = 8 with every agent on the member average."""
    run = tmp_path / "run"
    cfg = TrainConfig.from_dict({"algo": "f-maddqn", "episodes": 2, "n_envs": 2,
                                 "aggregation": "plain", "params": dict(SMALL)})
    Trainer(cfg, run).start()
    same = n_policy(run, 5)
    assert same.learner.n_agents == 5
    pol = n_policy(run, 8)
    sd, trained = pol.learner.policy_state_dict(), same.learner.policy_state_dict()
    for k, v in sd.items():
        if v.ndim and v.shape[0] == 8:
            # every agent holds the same network, and it is the trained members' mean
            assert torch_equal_rows(v)
            np.testing.assert_allclose(v[0].numpy(), trained[k].mean(dim=0).numpy(), rtol=1e-6)
    params = {**SMALL, "n_subnetworks": 8}
    with make_vec_env("inx-factory", 1, **params) as env:
        env.reset(seed=1)
        pol.reset(1, 8, env.single_action_space, np.random.default_rng(1))
        actions = pol.act(env.core)
    assert actions.shape == (1, 8) and actions.min() >= 0 and actions.max() < 2
    averaged_at_5 = n_policy(run, 5, average=True).learner.policy_state_dict()
    key = next(k for k, v in trained.items() if v.ndim and v.shape[0] == 5)
    assert torch_equal_rows(averaged_at_5[key])


def torch_equal_rows(v) -> bool:
    return bool((v == v[:1]).all())


def test_quick_budget_squeezes_epsilon_into_the_run_and_trains_every_figure_run():
    specs = run_specs(BUDGETS["quick"], seed=0)
    assert {f"f-maddqn-tau{t}-s0" for t in (128, 256, 512, 1024)} <= set(specs)
    assert {"d-maddqn-s0", "c-maddqn-s0", "f-mappo-tau512-s0"} <= set(specs)
    b = BUDGETS["quick"]
    steps = b.train_episodes * b.n_envs * 200
    assert specs["f-maddqn-tau512-s0"]["agent"]["eps_decay_steps"] < steps
    assert "agent" not in specs["f-mappo-tau512-s0"]  # PPO has no epsilon
    for spec in specs.values():
        TrainConfig.from_dict(spec)  # every spec is a valid training config


def test_full_budget_trains_every_setting_with_three_seeds():
    full = run_specs(BUDGETS["full"], seed=5)
    assert len(full) == 7 * 3 and "agent" not in full["f-maddqn-tau512-s0"]
    assert [full[f"d-maddqn-s{k}"]["seed"] for k in range(3)] == [5, 6, 7]
    assert seed_runs({n: {"name": n} for n in full}, 2)["c-maddqn"] == {"name": "c-maddqn-s2"}


def test_claims_over_seeds_rest_on_the_interval_of_their_margins():
    from fedmarl.study import mean_tree, seed_verdict

    assert seed_verdict([{"m": 0.5}, {"m": 0.6}, {"m": 0.4}])["verdict"] == "holds"
    assert seed_verdict([{"m": -0.5}, {"m": -0.6}, {"m": -0.4}])["verdict"] == "does not hold"
    mixed = seed_verdict([{"m": 0.5}, {"m": -0.6}, {"m": 0.4}])
    assert mixed["verdict"] == "inconclusive" and mixed["seeds_holding"] == 2
    # Two margins: one clearly below zero decides "does not hold".
    two = seed_verdict([{"a": 1.0, "b": -1.0}, {"a": 1.1, "b": -1.1}, {"a": 0.9, "b": -0.9}])
    assert two["verdict"] == "does not hold" and not two["holds"]
    assert seed_verdict([{"m": -0.1}])["verdict"] == "does not hold"  # one seed: the sign
    avg = mean_tree([{"x": 1, "ci": (0.0, 2.0), "name": "a"}, {"x": 3, "ci": (2.0, 4.0),
                                                             "name": "b"}])
    assert avg == {"x": 2.0, "ci": (1.0, 3.0), "name": "a"}


def test_episodes_to_rise():
    # Smoothed over 2 batches, the curve first reaches 90 % of its rise with the window ending at
    # batch 12 (the first two "1" batches): 12 batches of 4 copies.
    y = [0.0] * 10 + [1.0] * 10
    assert episodes_to(y, n_envs=4) == 48


def test_a_two_seed_study_averages_over_seeds_and_gives_every_claim_a_verdict(tmp_path):
    """The multi-seed path end to end on a tiny budget (the numbers mean nothing here)."""
    import dataclasses
    import json

    from fedmarl.reproduce import reproduce
    from fedmarl.scenarios import inx_factory

    tiny = inx_factory.Budget(train_episodes=1, n_envs=2, eval_episodes=1, sens_episodes=1,
                              eps_decay_fraction=0.6, seeds=2)
    study = dataclasses.replace(inx_factory.STUDY, budgets={"quick": tiny, "full": tiny})
    r = reproduce(study, out=tmp_path / "out", quick=True, work=tmp_path / "work",
                  log=lambda m: None)
    assert len(r["runs"]) == 14 and len(r["per_seed"]) == 2
    for c in r["claims"].values():
        assert c["verdict"] in ("holds", "does not hold", "inconclusive")
        assert c["n_seeds"] == 2 and all(m["n"] == 2 for m in c["margins"].values())
    # Tables are means over the seeds' own tables.
    a, b = (p["fig4"]["cgc"]["mean_rate_shannon"] for p in r["per_seed"])
    assert r["fig4"]["cgc"]["mean_rate_shannon"] == pytest.approx((a + b) / 2)
    page = (tmp_path / "out" / "index.md").read_text()
    assert "## The claims" in page and "2 training seed(s) per setting (0..1)" in page
    assert json.loads((tmp_path / "out" / "results.json").read_text())["seeds"] == 2
    assert (tmp_path / "out" / "fig3_reward.png").stat().st_size > 1000
