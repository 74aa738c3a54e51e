"""Learning on the edge-offload twin: a short F-DRQN training beats random and local-only.

Instance: U = 5 users, the default 2 servers and 4 channels, 100-interval episodes, 8 env
copies, the scenario's learner hints (observation scaling). F-DRQN (prioritised sequence
replay, FedAvg every 64 decisions) trains for STEPS batched steps; evaluation is greedy on
fresh seeds. Measured on this instance (16 episodes, evaluation seed 77): random 0.886 task
success, local-max 0.801, greedy 0.975; F-DRQN after the budget (~50 s on one core) 0.977,
0.986, 0.978 for seeds 0, 1, 2. The test asserts a 5-point margin over the better of random
and local-max for two seeds.

The second test checks that F-DRQN's federation through secure aggregation lands on the plain
FedAvg of the members' networks up to the fixed-point quantisation (2^-16 per entry).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.policy import LearnerPolicy
from agents.registry import make_learner
from federation.strategy import PlainFedAvg, SecureFedAvg
from fedmarl.evaluate import evaluate_policy
from fedmarl.registries import make_baseline
from fedmarl.registries import spec as scenario_spec
from fedmarl.train import Federation
from pybridge import make_vec_env

torch.set_num_threads(1)

SCENARIO = "edge-offload"
ENV = {"n_users": 5, "episode_steps": 100}
HP = {"learning_starts": 400, "eps_decay_steps": 12_000, "eps_end": 0.05, "train_freq": 2,
      "priority_exponent": 0.9}
STEPS, N_ENVS, FEDAVG_EVERY, EVAL_EPISODES, EVAL_SEED, MARGIN = 2000, 8, 64, 16, 77, 0.05


def _learner(env, seed: int, **hp):
    spec = scenario_spec(SCENARIO)
    hints = spec.learner_hints(spec.make_config(**ENV)).as_overrides()
    return make_learner("f-drqn", env.single_observation_space, env.single_action_space,
                        env.n_agents, seed=seed, **(hints | HP | hp))


def train(seed: int, steps: int = STEPS):
    env = make_vec_env(SCENARIO, n_envs=N_ENVS, **ENV)
    learner = _learner(env, seed)
    obs, _ = env.reset(seed=1000 + seed)
    for t in range(steps):
        actions = learner.act(obs, explore=True)
        next_obs, rewards, _, truncated, _ = env.step(actions)
        learner.observe(obs, actions, rewards, next_obs, truncated)
        learner.update()
        obs = next_obs
        if (t + 1) % FEDAVG_EVERY == 0:
            learner.average_members()
        if truncated.all():
            learner.reset_state(explore=True)
            obs, _ = env.reset()
    env.close()
    return learner


def success(policy) -> float:
    out = evaluate_policy(SCENARIO, policy, episodes=EVAL_EPISODES, seed=EVAL_SEED, **ENV)
    return float(out["task_success"])


@pytest.fixture(scope="module")
def floor() -> float:
    """The better of random and local-only (local-max) on the evaluation episodes."""
    return max(success(make_baseline(SCENARIO, b)) for b in ("random", "local-max"))


@pytest.mark.parametrize("seed", [0, 1])
def test_f_drqn_beats_random_and_local_only(seed, floor):
    learner = train(seed)
    got = success(LearnerPolicy(learner, name="f-drqn"))
    assert got >= floor + MARGIN, (got, floor)


def test_f_drqn_secure_round_equals_plain_fedavg_up_to_quantisation():
    env = make_vec_env(SCENARIO, n_envs=2, **ENV)
    learners = [_learner(env, seed=3, learning_starts=50) for _ in range(2)]
    obs, _ = env.reset(seed=5)
    for _ in range(90):  # the same experience for both copies: their members diverge alike
        actions = learners[0].act(obs, explore=True)
        learners[1].act(obs, explore=True)
        next_obs, rewards, _, truncated, _ = env.step(actions)
        for lr in learners:
            lr.observe(obs, actions, rewards, next_obs, truncated)
            lr.update()
        obs = next_obs
    env.close()
    n = env.n_agents
    before = [learners[0].member_params(i) for i in range(n)]
    assert any(not np.array_equal(before[0][k], before[1][k]) for k in before[0])
    Federation(PlainFedAvg(1), n).round(learners[0], 1)
    (report,) = Federation(SecureFedAvg(1, n, threshold=0.67, clip=8.0, frac_bits=16),
                           n).round(learners[1], 1)
    assert "failed" not in report and report["n_survivors"] == n
    for i in range(n):
        plain, secure = learners[0].member_params(i), learners[1].member_params(i)
        for k in plain:
            np.testing.assert_allclose(secure[k], plain[k], rtol=0, atol=2.0 ** -16)
    # every member holds the (same) global model afterwards
    first = learners[1].member_params(0)
    for k in first:
        np.testing.assert_array_equal(learners[1].member_params(n - 1)[k], first[k])
