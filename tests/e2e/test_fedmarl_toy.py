"""The tests' toy scenario (tests/toy_scenario.py: twin core only, MultiDiscrete actions),
registered by the test, runs through the whole stack without a shared file knowing it: `make_env`
with PettingZoo's API and seed tests, `fedmarl eval` (CLI), a two-episode f-maddqn training
with secure aggregation, `fedmarl eval --run`, `fedmarl report`, and `fedmarl validate`
refusing cleanly (no ns-3 backend)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test, parallel_seed_test
from toy_scenario import ToyRecorder, registered

from agents.baselines import RandomPolicy
from fedmarl.cli import main
from fedmarl.io import RunDir
from fedmarl.report import write_report
from fedmarl.runs import evaluate_run
from fedmarl.train import TrainConfig, Trainer
from pybridge import make_env, make_vec_env


@pytest.fixture
def toy():
    with registered() as spec:
        yield spec


def test_make_env_of_the_toy_passes_pettingzoos_api_and_seed_tests(toy):
    env = make_env("toy-offload", n_users=4, episode_steps=8)
    assert env.possible_agents == ["user_0", "user_1", "user_2", "user_3"]
    assert env.action_space("user_0") == spaces.MultiDiscrete([3, 2])
    parallel_api_test(env, num_cycles=20)
    parallel_seed_test(lambda: make_env("toy-offload", n_users=4, episode_steps=8))
    vec = make_vec_env("toy-offload", 2, n_users=4)
    obs, _ = vec.reset(seed=1)
    _, reward, _, truncated, info = vec.step(np.ones((2, 4, 2), dtype=np.int64))
    assert obs.shape == (2, 4, 2) and reward.shape == (2, 4) and not truncated.any()
    np.testing.assert_array_equal(info["gain"], np.ones((2, 4)))


def test_fedmarl_eval_of_a_toy_scenario_from_the_cli(toy, capsys):
    assert main(["eval", "--scenario", "toy-offload", "--episodes", "2", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert [r["policy"] for r in res] == ["random", "max"]  # all the scenario's baselines
    assert res[1]["mean_gain"] == 2.0  # (3 - 1) * (2 - 1) every step
    assert main(["eval", "--scenario", "toy-offload", "--policy", "cgc"]) == 2
    assert "its baselines: random, max" in capsys.readouterr().err
    assert main(["params", "toy-offload", "--json"]) == 0
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} >= {"n_users"}


def test_two_episode_f_maddqn_training_eval_and_report_on_the_toy(toy, tmp_path):
    run = tmp_path / "run"
    cfg = TrainConfig.from_dict({"scenario": "toy-offload", "algo": "f-maddqn", "episodes": 2,
                                 "n_envs": 2, "tau_agg": 4, "aggregation": "secure",
                                 "params": {"n_users": 3}})
    trainer = Trainer(cfg, run)
    trainer.start()
    rows = RunDir(run).read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1]
    assert {"mean_reward", "mean_gain"} <= set(rows[0])  # the spec's step scalars
    # C- bytes from the spaces: 6 steps x 2 copies x (2 obs * 2 + 2 action components + 1
    # reward) numbers x 4 B.
    assert rows[0]["c_bytes_per_client"] == 6 * 2 * (2 * 2 + 2 + 1) * 4
    fed = RunDir(run).read_jsonl("federation.jsonl")
    assert len(fed) == 2 * 6 // 2 and all(r["mode"] == "secure" for r in fed)
    assert trainer.learner.action_space == spaces.MultiDiscrete([3, 2])
    out = evaluate_run(run, episodes=2, seed=1)
    assert [r["policy"] for r in out["results"]] == ["f-maddqn", "random", "max"]
    # the CLI's --policy chooses the baselines a run is compared with
    assert main(["eval", "--run", str(run), "--policy", "max", "--episodes", "1", "--json"]) == 0
    ran = json.loads((run / "eval-twin.json").read_text())
    assert [r["policy"] for r in ran["results"]] == ["f-maddqn", "max"]
    text = write_report([run]).read_text()
    assert "| f-maddqn |" in text and "gain_cdf.png" in text
    assert (run / "gain_cdf.png").stat().st_size > 1000


def test_each_batch_of_an_evaluation_has_its_own_episode_seed(toy):
    from fedmarl.evaluate import episode_seed, run_episodes

    rec = ToyRecorder()
    run_episodes("toy-offload", RandomPolicy(), 4, 7, "twin", 1, {"n_users": 6}, rec)
    gains = [e["gain"][-1] for e in rec.episodes]  # the random policy's per-episode choice
    assert len({g.tobytes() for g in gains}) > 1
    again = ToyRecorder()
    run_episodes("toy-offload", RandomPolicy(), 4, 7, "twin", 2, {"n_users": 6}, again)
    # batch 0 of size 2 uses episode_seed(7, 0), like batch 0 of size 1: same first episode
    np.testing.assert_array_equal(again.episodes[0]["gain"], rec.episodes[0]["gain"])
    assert episode_seed(7, 0) != episode_seed(7, 1)


def test_validate_without_an_ns3_backend_is_one_clear_error(toy, capsys, tmp_path):
    assert main(["validate", "--scenario", "toy-offload", "--episodes", "1", "--out",
                 str(tmp_path / "v")]) == 2
    assert "has no ns-3 backend" in capsys.readouterr().err
