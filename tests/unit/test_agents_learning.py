"""Learning on the twin: a short MADDQN training beats random channels, robustly (3 seeds).

Instance: 6 subnetworks, 3 channels, 100-step episodes, 4 env copies (docs/training.md's switching
delay U{1..10} and channel model unchanged). 100-step rather than 50-step episodes: every
episode starts from random channels and the first switch lands up to 10 steps later, which in
50 steps dilutes any policy's gain. On this instance (32 episodes, evaluation seed 77) random
channels give 10.01 bps/Hz mean Shannon rate, greedy-filtered 10.7-10.9, CGC 11.0; 8000 steps of
d-maddqn (~5 s on one core) reached 10.51-10.82 over 8 seeds, f-maddqn with FedAvg every 512
env steps 10.77-10.91 over 4. The test asserts a 0.3 bps/Hz margin over random.

Hyperparameters for a 8000-step budget (the defaults are the reference's, sized for 2000
episodes): a smaller network and batch, exploration decayed over the first 20k env steps, and
a shorter horizon, gamma = 0.933 per step = 0.5 per 10-step decision (a request has landed by
the next decision; the channel then persists, so 2 decisions of look-ahead suffice here).
"""

from __future__ import annotations

import pytest
import torch

from agents import baselines
from agents.policy import LearnerPolicy
from agents.registry import make_learner
from fedmarl.evaluate import evaluate_policy
from pybridge import make_vec_env

torch.set_num_threads(1)

ENV = {"n_subnetworks": 6, "n_channels": 3, "episode_steps": 100}
HP = {"hidden": (64, 64), "batch_size": 64, "learning_starts": 400, "eps_decay_steps": 20_000,
      "eps_end": 0.02, "gamma": 0.933}
# What the inx-factory scenario supplies (its LearnerHints: SINR dB -> (x - 20) / 20, one
# decision per tau_max = 10 steps); the orchestration passes them the same way.
HINTS = {"obs_shift": 20.0, "obs_scale": 20.0, "decision_period": 10}
STEPS, N_ENVS, EVAL_EPISODES, EVAL_SEED, MARGIN = 8000, 4, 32, 77, 0.3


def train(name: str, seed: int, fedavg_every: int = 0):
    env = make_vec_env("inx-factory", n_envs=N_ENVS, **ENV)
    learner = make_learner(name, env.single_observation_space, env.single_action_space,
                           env.n_agents, seed=seed, **(HINTS | HP))
    obs, _ = env.reset(seed=1000 + seed)
    for t in range(STEPS):
        actions = learner.act(obs, explore=True)
        next_obs, rewards, _, truncated, _ = env.step(actions)
        learner.observe(obs, actions, rewards, next_obs, truncated)
        learner.update()
        obs = next_obs
        if fedavg_every and (t + 1) % fedavg_every == 0:
            learner.average_members()
        if truncated.all():
            obs, _ = env.reset()
    env.close()
    return learner


def mean_rate(policy) -> float:
    out = evaluate_policy("inx-factory", policy, episodes=EVAL_EPISODES, seed=EVAL_SEED, **ENV)
    return float(out["mean_rate_shannon"])


@pytest.fixture(scope="module")
def random_rate() -> float:
    return mean_rate(baselines.make("agents.baselines.inx_factory", "random"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_d_maddqn_beats_random_channels(seed, random_rate):
    learner = train("d-maddqn", seed)
    rate = mean_rate(LearnerPolicy(learner))
    assert rate > random_rate + MARGIN, (rate, random_rate)


def test_f_maddqn_with_fedavg_beats_random_channels(random_rate):
    # FedAvg every 128 vector steps = 512 env steps (ref. 002's tau_agg = 512).
    learner = train("f-maddqn", seed=0, fedavg_every=512 // N_ENVS)
    rate = mean_rate(LearnerPolicy(learner))
    assert rate > random_rate + MARGIN, (rate, random_rate)
