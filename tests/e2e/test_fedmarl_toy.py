"""A toy scenario registered here (twin core only, MultiDiscrete actions) runs through the whole
stack without a shared file knowing it: `make_env` with PettingZoo's API and seed tests,
`fedmarl eval` (CLI), a two-episode f-maddqn
training with secure aggregation, `fedmarl eval --run`, `fedmarl report`, and `fedmarl validate`
refusing cleanly (no ns-3 backend)."""

from __future__ import annotations

import json
import sys
import types
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo.test import parallel_api_test, parallel_seed_test

from agents.baselines import Policy, RandomPolicy
from fedmarl.cli import main
from fedmarl.io import RunDir
from fedmarl.report import write_report
from fedmarl.runs import evaluate_run
from fedmarl.train import TrainConfig, Trainer
from pybridge import make_env, make_vec_env, scenarios
from pybridge.api import Column, ScenarioSpec
from pybridge.config import ScenarioConfig, param


@dataclass(frozen=True)
class ToyConfig(ScenarioConfig):
    scenario: ClassVar[str] = "toy-offload"
    n_users: int = param(3, "agents", low=1, high=50)
    episode_steps: int = param(6, "steps per episode", low=1, high=1000)
    seed: int = param(None, "master seed", low=0, high=2**63 - 1)


class ToyCore:
    """Each agent picks (target, level); reward target * level; obs the last action + noise."""

    backend = "twin"

    def __init__(self, cfg: ToyConfig, n_envs: int) -> None:
        self.cfg, self.B, self.N, self.t, self.last = cfg, n_envs, cfg.n_users, 0, None
        self._rng = np.random.default_rng(cfg.seed)

    def reset(self, seed=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.t = 0
        self._obs = self._rng.random((self.B, self.N, 2), dtype=np.float32)
        self.last = np.zeros((self.B, self.N))
        return self._obs

    def step(self, actions):
        actions = np.asarray(actions)
        self.t += 1
        self._obs = (actions + self._rng.random(actions.shape)).astype(np.float32)
        self.last = (actions[..., 0] * actions[..., 1]).astype(np.float64)
        return self._obs, self.last, self.t >= self.cfg.episode_steps

    def observation(self):
        return self._obs

    def state(self):
        return self._obs.reshape(self.B, -1)

    def close(self):
        pass


class ToyRecorder:
    def __init__(self) -> None:
        self._steps: list[np.ndarray] = []
        self._eps: list[dict[str, np.ndarray]] = []

    def add_step(self, info, reward):
        self._steps.append(np.array(info["gain"], copy=True))

    def end_batch(self):
        if self._steps:
            g = np.stack(self._steps, axis=1)  # [B, T, N]
            self._eps += [{"gain": x} for x in g]
            self._steps.clear()

    @property
    def episodes(self):
        self.end_batch()
        return self._eps

    def summary(self):
        eps = self.episodes
        g = np.concatenate([e["gain"].ravel() for e in eps])
        return {"episodes": len(eps), "mean_gain": float(g.mean()),
                "mean_reward": float(g.mean()),
                "gain_cdf_quantiles": np.quantile(g, np.linspace(0, 1, 11)).tolist()}


class Greedy(Policy):
    name = "max"

    def act(self, view):
        nvec = self.action_space.nvec
        return np.broadcast_to(nvec - 1, (self.B, self.N, len(nvec))).copy()


class ToySpec(ScenarioSpec):
    name = "toy-offload"
    env_name = "toy_offload_v0"
    agent_prefix = "user"
    config_cls = ToyConfig
    baselines_module = "toy_offload_baselines"
    info_keys = ("gain",)
    info_dtypes: ClassVar[dict] = {"gain": np.dtype(np.float64)}
    render_modes = ()
    columns = (Column("mean_gain", "gain"), Column("mean_reward", "reward"))
    headline = "mean_gain"
    agents_param = "n_users"

    def n_agents(self, cfg):
        return cfg.n_users

    def observation_space(self, cfg):
        return spaces.Box(0.0, 4.0, (2,), np.float32)

    def action_space(self, cfg):
        return spaces.MultiDiscrete([3, 2])

    def state_space(self, cfg):
        return spaces.Box(0.0, 4.0, (2 * cfg.n_users,), np.float32)

    def make_twin(self, cfg, n_envs):
        return ToyCore(cfg, n_envs)

    def step_info(self, core):
        return {"gain": core.last}

    def agent_infos(self, info, b, agents):
        return {a: {"gain": float(info["gain"][b][n])} for n, a in enumerate(agents)}

    def step_scalars(self, info, reward):
        return {"mean_reward": float(np.mean(reward)), "mean_gain": float(info["gain"].mean())}

    def recorder(self, cfg):
        return ToyRecorder()


@pytest.fixture
def toy():
    module = types.ModuleType("toy_offload_baselines")
    module.BASELINES = {"random": RandomPolicy, "max": Greedy}
    sys.modules[module.__name__] = module
    spec = scenarios.register(ToySpec(), replace=True)
    yield spec
    scenarios.unregister(spec.name)
    del sys.modules[module.__name__]


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
