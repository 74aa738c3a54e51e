"""`fedmarl reproduce` pieces that carry a modelling choice (the benchmark itself is not a test)."""

from __future__ import annotations

import numpy as np

from fedmarl.scenarios.inx_factory import BUDGETS, n_policy, run_specs
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
    assert {f"f-maddqn-tau{t}" for t in (128, 256, 512, 1024)} <= set(specs)
    assert {"d-maddqn", "c-maddqn", "f-mappo-tau512"} <= set(specs)
    b = BUDGETS["quick"]
    steps = b.train_episodes * b.n_envs * 200
    assert specs["f-maddqn-tau512"]["agent"]["eps_decay_steps"] < steps
    assert "agent" not in specs["f-mappo-tau512"]  # PPO has no epsilon
    assert "agent" not in run_specs(BUDGETS["full"], seed=0)["f-maddqn-tau512"]
    for spec in specs.values():
        TrainConfig.from_dict(spec)  # every spec is a valid training config


def test_episodes_to_rise():
    # Smoothed over 2 batches, the curve first reaches 90 % of its rise with the window ending at
    # batch 12 (the first two "1" batches): 12 batches of 4 copies.
    y = [0.0] * 10 + [1.0] * 10
    assert episodes_to(y, n_envs=4) == 48
