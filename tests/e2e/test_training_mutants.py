"""Training-run behaviour that mutation testing (mutmut) found unasserted: what a resume reruns
and cuts back, and the member-average policy of a study (tiny twin runs, a few seconds)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fedmarl import runs, study
from fedmarl.io import RunDir
from fedmarl.train import TrainConfig, Trainer

torch.set_num_threads(1)

TINY = {"n_subnetworks": 3, "n_channels": 2, "episode_steps": 10}


class StopsAt(Trainer):
    """Interrupted (as by SIGINT) when episode `at` begins."""

    def __init__(self, *a, at: int, **kw) -> None:
        super().__init__(*a, **kw)
        self.at = at

    def _train_episode(self):
        if self.episode == self.at:
            self._on_signal(2, None)
        return super()._train_episode()


class Counting(Trainer):
    trained = 0

    def _train_episode(self):
        self.trained += 1
        return super()._train_episode()


class Console:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def print(self, text: str) -> None:
        self.lines.append(text)


def test_resume_reruns_only_the_episodes_after_the_checkpoint_and_cuts_both_logs(tmp_path):
    # F- plain, tau_agg 4 with one copy: a round every 4 steps, 10 steps an episode.
    cfg = TrainConfig.from_dict({"algo": "f-maddqn", "episodes": 3, "n_envs": 1, "tau_agg": 4,
                                 "aggregation": "plain", "params": dict(TINY)})
    run = tmp_path / "run"
    broken = StopsAt(cfg, run, at=2)
    broken.start()
    assert broken.interrupted
    rd = RunDir(run)
    before = rd.read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in before] == [0, 1]
    # A kill after episode 2's rows were logged but before its checkpoint was written.
    rd.append_jsonl("metrics.jsonl", {"episode": 2, "mean_reward": 99.0})
    rd.append_jsonl("federation.jsonl", {"episode": 2, "round": 99, "global_step": 0})

    console = Console()
    resumed = Counting(TrainConfig.load_run(run), run, console=console)
    resumed.resume()
    assert resumed.trained == 1  # episode 2 only: 0 and 1 come from the checkpoint
    rows = rd.read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1, 2]
    assert rows[:2] == before  # the checkpointed episodes' rows are kept as they were
    assert rows[2]["mean_reward"] != 99.0
    fed = [(r["episode"], r["round"], r["global_step"]) for r in rd.read_jsonl("federation.jsonl")]
    assert fed == [(0, 1, 4), (0, 2, 8), (1, 3, 12), (1, 4, 16), (1, 5, 20), (2, 6, 24),
                   (2, 7, 28)]
    assert console.lines == [f"[train] resuming {run} after episode 2 (20 steps)"]


def _rows_equal(v) -> bool:
    return bool((v == v[:1]).all())


def test_deployed_policy_keeps_averages_or_tiles_the_members(tmp_path):
    run = tmp_path / "run"  # D-: five members that never averaged (each its own network)
    cfg = TrainConfig.from_dict({"algo": "d-maddqn", "episodes": 1, "n_envs": 1,
                                 "params": {**TINY, "n_subnetworks": 5}})
    Trainer(cfg, run).start()
    same = runs.deployed_policy(run, 5, {}, members="own")
    assert same.name == "d-maddqn" and same.learner.n_agents == 5
    sd = same.learner.policy_state_dict()
    key = next(k for k, v in sd.items() if v.ndim and v.shape[0] == 5)
    assert not _rows_equal(sd[key])  # the trained members, not their average
    assert runs.deployed_policy(run, 5, {}).learner.policy_state_dict()[key].equal(sd[key])
    avg = runs.deployed_policy(run, 5, {}, members="average")
    assert avg.name == "d-maddqn"
    a = avg.learner.policy_state_dict()[key]
    assert _rows_equal(a)
    np.testing.assert_allclose(a[0].numpy(), sd[key].mean(dim=0).numpy(), rtol=1e-6)
    # n agents whatever the scenario parameters say (here the run's own N = 5); at a new N
    # agent g runs trained member g mod 5, every parameter of it
    for n in (3, 8):
        tiled = runs.deployed_policy(run, n, {})
        assert tiled.learner.n_agents == n and tiled.name == "d-maddqn"
        got = tiled.learner.policy_state_dict()
        for k, v in sd.items():
            if k.startswith("q."):
                assert got[k].equal(v[torch.arange(n) % 5]), k
        # and acts like it: agent g's Q-values are member g mod 5's on the same features
        feats = np.random.default_rng(n).normal(size=(1, n, tiled.learner.feat_dim))
        q_new = tiled.learner.q_values(feats.astype(np.float32)).numpy()
        for g in range(n):
            one = np.zeros((1, 5, same.learner.feat_dim), dtype=np.float32)
            one[0, g % 5] = feats[0, g]
            np.testing.assert_allclose(q_new[0, g], same.learner.q_values(one).numpy()[0, g % 5],
                                       rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="members='own' needs the trained member count"):
        runs.deployed_policy(run, 8, {}, members="own")
    with pytest.raises(ValueError, match="members must be one of"):
        runs.deployed_policy(run, 5, {}, members="first")


def test_deployed_policy_tiles_cluster_networks(tmp_path):
    run = tmp_path / "run"  # 6 agents, 2 per network: 3 member networks
    cfg = TrainConfig.from_dict({"algo": "f-maddqn", "episodes": 1, "n_envs": 1,
                                 "agent": {"cluster_size": 2},
                                 "params": {**TINY, "n_subnetworks": 6}})
    Trainer(cfg, run).start()
    sd = runs.deployed_policy(run, 6, {}).learner.policy_state_dict()
    tiled = runs.deployed_policy(run, 10, {})  # 5 networks of 2 agents
    assert tiled.learner.groups == 5
    got = tiled.learner.policy_state_dict()
    key = next(k for k in sd if k.startswith("q."))
    assert sd[key].shape[0] == 3 and got[key].equal(sd[key][torch.tensor([0, 1, 2, 0, 1])])


def test_train_one_trains_reuses_a_finished_run_and_retrains_a_changed_or_torn_one(tmp_path):
    spec = {"algo": "d-maddqn", "episodes": 2, "n_envs": 1, "params": dict(TINY)}
    first = study.train_one("a", spec, str(tmp_path))
    run = tmp_path / "a"
    rows = RunDir(run).read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1]
    assert first == {"name": "a", "run": str(run), "spec": spec,
                     "wall_seconds": first["wall_seconds"], "metrics": rows,
                     "reward": [r["mean_reward"] for r in rows]}
    assert first["wall_seconds"] > 0
    assert json.loads((run / "reproduce.json").read_text()) == {
        "wall_seconds": first["wall_seconds"]}
    stamp = (run / "policy.pt").stat().st_mtime_ns

    again = study.train_one("a", spec, str(tmp_path))  # same config: reused, not retrained
    assert again == first and (run / "policy.pt").stat().st_mtime_ns == stamp

    changed = study.train_one("a", {**spec, "seed": 1}, str(tmp_path))
    assert RunDir(run).read_config()["seed"] == 1
    assert changed["wall_seconds"] != first["wall_seconds"]

    (run / "reproduce.json").unlink()  # no record of the wall time: trained again
    (run / "stray.txt").write_text("left by an interrupted run")
    redone = study.train_one("a", {**spec, "seed": 1}, str(tmp_path))
    assert not (run / "stray.txt").exists() and (run / "reproduce.json").exists()
    assert redone["reward"] == changed["reward"]  # same config, same seed: same run

    (run / "policy.pt").unlink()  # interrupted before the policy export: not finished
    stamp = (run / "reproduce.json").stat().st_mtime_ns
    study.train_one("a", {**spec, "seed": 1}, str(tmp_path))
    assert (run / "policy.pt").exists() and (run / "reproduce.json").stat().st_mtime_ns != stamp


def test_resolve_policy_of_a_run_merges_its_parameters_and_describes_it(tmp_path):
    from fedmarl.validate import resolve_policy

    run = tmp_path / "run"
    cfg = TrainConfig.from_dict({"algo": "d-maddqn", "episodes": 1, "n_envs": 1,
                                 "params": dict(TINY)})
    Trainer(cfg, run).start()
    policy, scenario, params, info = resolve_policy(str(run), "inx-factory", {"n_channels": 3})
    assert policy.name == "d-maddqn" and scenario == "inx-factory"
    assert params == {**TINY, "n_channels": 3}
    assert info == {"run": str(run), "algo": "d-maddqn", "trained_on": "twin",
                    "train_episodes": 1, "params_overridden": ["n_channels"]}
    data = RunDir(run).read_config()
    (run / "config.yaml").write_text((run / "config.yaml").read_text().replace(
        "backend: twin", "backend: ns3"))
    assert data["backend"] == "twin"
    assert resolve_policy(str(run), "inx-factory", {})[3]["trained_on"] == "ns3"
