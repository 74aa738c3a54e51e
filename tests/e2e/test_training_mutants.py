"""Training-run behaviour that mutation testing (mutmut) found unasserted: what a resume reruns
and cuts back, and the member-average policy of a study (tiny twin runs, a few seconds)."""

from __future__ import annotations

import json

import numpy as np
import torch

from fedmarl import study
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


def test_member_average_policy_keeps_or_averages_the_members(tmp_path):
    run = tmp_path / "run"  # D-: five members that never averaged (each its own network)
    cfg = TrainConfig.from_dict({"algo": "d-maddqn", "episodes": 1, "n_envs": 1,
                                 "params": {**TINY, "n_subnetworks": 5}})
    Trainer(cfg, run).start()
    same = study.member_average_policy(run, 5, {})
    assert same.name == "d-maddqn" and same.learner.n_agents == 5
    sd = same.learner.policy_state_dict()
    key = next(k for k, v in sd.items() if v.ndim and v.shape[0] == 5)
    assert not _rows_equal(sd[key])  # the trained members, not their average
    avg = study.member_average_policy(run, 5, {}, average=True)
    assert avg.name == "d-maddqn"
    a = avg.learner.policy_state_dict()[key]
    assert _rows_equal(a)
    np.testing.assert_allclose(a[0].numpy(), sd[key].mean(dim=0).numpy(), rtol=1e-6)
    # n agents whatever the scenario parameters say (here the run's own N = 5)
    three = study.member_average_policy(run, 3, {})
    assert three.learner.n_agents == 3 and three.name == "d-maddqn"
    assert three.learner.policy_state_dict()[key].shape[0] == 3


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
