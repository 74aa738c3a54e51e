"""Training runs: config validation, run directory, checkpoints, resume, F- aggregation paths."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from fedmarl.cli import main
from fedmarl.io import RunDir
from fedmarl.report import write_report
from fedmarl.runs import evaluate_run
from fedmarl.train import Federation, TrainConfig, Trainer, strategy_for
from pybridge.config import ConfigError

torch.set_num_threads(1)

TINY = {"n_subnetworks": 4, "n_channels": 2, "episode_steps": 40}


def tiny_cfg(**kw) -> TrainConfig:
    data = {"algo": "f-maddqn", "episodes": 3, "n_envs": 2, "tau_agg": 32,
            "aggregation": "plain", "params": dict(TINY)}
    data.update(kw)
    return TrainConfig.from_dict(data)


@pytest.mark.parametrize("bad, match", [
    ({"algo": "x-maddqn"}, "unknown algo"),
    ({"colour": "blue"}, "unknown training option"),
    ({"episodes": 0}, "episodes"),
    ({"aggregation": "magic"}, "aggregation"),
    ({"secagg_clip": 0}, "secagg_clip"),
    ({"secagg_threshold": 0.5}, "secagg_threshold"),
    ({"secagg_graph": "ring"}, "secagg_graph"),
    ({"fed_overlap": "yes"}, "fed_overlap"),
    ({"params": {"n_channels": 0}}, "n_channels"),
    ({"agent": {"no_such_knob": 1}}, "no_such_knob"),
])
def test_bad_config_is_one_clear_error(bad, match):
    data = {"algo": "f-maddqn", **bad}
    with pytest.raises(ConfigError, match=match):
        TrainConfig.from_dict(data)


def test_bad_config_file_fails_cleanly_from_the_cli(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("algo: [unclosed\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out",
                 str(tmp_path / "run")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing left behind


def test_run_directory_contents(tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_cfg(), run).start()
    rows = RunDir(run).read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1, 2]
    assert rows[-1]["global_step"] == 3 * TINY["episode_steps"]
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("episode,")
    assert (run / "policy.pt").exists() and (run / "config.yaml").exists()
    # Two checkpoints kept (keep_checkpoints=2), named by episode.
    assert [p.name for p in RunDir(run).checkpoints()] == ["ckpt-000002.pt", "ckpt-000003.pt"]
    fed = RunDir(run).read_jsonl("federation.jsonl")
    assert len(fed) == 3 * TINY["episode_steps"] // (32 // 2) and fed[0]["mode"] == "plain"
    assert fed[0]["bytes_per_client_sent"] > 0
    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(tiny_cfg(), run).start()


class StopsMidEpisode(Trainer):
    """Simulates SIGINT arriving in the middle of episode `at` (the handler sets _stop)."""

    def __init__(self, *a, at: int, **kw) -> None:
        super().__init__(*a, **kw)
        self.at = at

    def _train_episode(self):
        if self.episode == self.at:
            self._stop = True
        return super()._train_episode()


def _member_params(trainer: Trainer) -> list[dict[str, np.ndarray]]:
    return [trainer.learner.member_params(i) for i in range(TINY["n_subnetworks"])]


def test_resume_loses_only_the_unfinished_episode_and_matches_an_uninterrupted_run(tmp_path):
    cfg = tiny_cfg(episodes=4)
    whole = Trainer(cfg, tmp_path / "whole")
    whole.start()

    broken = StopsMidEpisode(cfg, tmp_path / "broken", at=2)
    broken.start()
    assert broken.interrupted
    rd = RunDir(tmp_path / "broken")
    assert [r["episode"] for r in rd.read_jsonl("metrics.jsonl")] == [0, 1]
    # A torn temporary file from a kill during a save is never taken for a checkpoint.
    (rd.ckpt_dir / ".ckpt-000003.pt.tmp123").write_bytes(b"torn")

    resumed = Trainer(TrainConfig.load_run(tmp_path / "broken"), tmp_path / "broken")
    resumed.resume()
    rows = rd.read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1, 2, 3]
    ref = RunDir(tmp_path / "whole").read_jsonl("metrics.jsonl")
    for a, b in zip(rows, ref):
        assert a["mean_reward"] == pytest.approx(b["mean_reward"], rel=1e-6)
    for a, b in zip(_member_params(resumed), _member_params(whole)):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)


def _differing_members(n: int = 5):
    """An f-maddqn learner of n agents whose members differ, as after local training."""
    from agents.registry import make_learner

    obs = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    learner = make_learner("f-maddqn", obs, spaces.Discrete(2), n, seed=3)
    with torch.no_grad():
        for p in learner.q.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return learner


def test_secure_round_equals_plain_fedavg_up_to_quantisation():
    learner = _differing_members()
    other = copy.deepcopy(learner)
    cfg_plain = tiny_cfg(aggregation="plain", params={**TINY, "n_subnetworks": 5})
    cfg_secure = tiny_cfg(aggregation="secure", params={**TINY, "n_subnetworks": 5})
    (rep_p,) = Federation(strategy_for(cfg_plain, 5), 5).round(learner, 0)
    (rep_s,) = Federation(strategy_for(cfg_secure, 5), 5).round(other, 0)
    assert rep_p["mode"] == "plain" and rep_s["mode"] == "secure"
    step = 2.0 ** -cfg_secure.secagg_frac_bits
    for i in range(5):
        a, b = learner.member_params(i), other.member_params(i)
        for k in a:
            assert np.max(np.abs(a[k] - b[k])) <= step  # quantisation only
    # Every member holds the same averaged model afterwards.
    first = other.member_params(0)
    for i in range(1, 5):
        for k, v in other.member_params(i).items():
            np.testing.assert_array_equal(v, first[k])
    assert rep_s["bytes_per_client_sent"] > 0


def test_f_training_secure_vs_plain_stays_within_quantisation_drift(tmp_path):
    plain = Trainer(tiny_cfg(aggregation="plain"), tmp_path / "p")
    plain.start()
    secure = Trainer(tiny_cfg(aggregation="secure"), tmp_path / "s")
    secure.start()
    worst = max(float(np.max(np.abs(a[k] - b[k])))
                for a, b in zip(_member_params(plain), _member_params(secure)) for k in a)
    assert worst < 1e-2, worst
    fed = RunDir(tmp_path / "s").read_jsonl("federation.jsonl")
    assert fed and all(r["mode"] == "secure" for r in fed)


def test_eval_and_report_of_a_run(tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_cfg(aggregation="secure"), run).start()
    out = evaluate_run(run, episodes=2, seed=1)
    assert [r["policy"] for r in out["results"]] == ["f-maddqn", "random", "greedy", "cgc"]
    assert json.loads((run / "eval-twin.json").read_text())["algo"] == "f-maddqn"
    report = write_report([run])
    text = report.read_text()
    for png in ("reward.png", "rate_cdf.png", "overhead.png"):
        assert (run / png).stat().st_size > 1000 and png in text


def test_eval_of_a_run_at_another_n_deploys_its_members_and_keeps_the_default_file(tmp_path,
                                                                                  capsys):
    run = tmp_path / "run"
    Trainer(tiny_cfg(episodes=1), run).start()  # F-, N = 4
    assert main(["eval", "--run", str(run), "--set", "n_subnetworks=6", "--policy", "random",
                 "--episodes", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == {"n_subnetworks": 6} and out["members"] == "tile"
    assert out["n_agents"] == 6 and out["trained_n_agents"] == 4
    saved = run / "eval-twin-n_subnetworks=6.json"
    assert json.loads(saved.read_text())["members"] == "tile"
    assert not (run / "eval-twin.json").exists()  # the run's own evaluation is another file
    avg = evaluate_run(run, episodes=1, seed=1, baselines=[], params={"n_subnetworks": 6},
                       members="average")
    assert avg["members"] == "average"
    with pytest.raises(ConfigError):
        evaluate_run(run, episodes=1, baselines=[], params={"n_subnetworks": 0})


def test_scenario_hints_reach_the_learner_under_the_users_overrides(tmp_path):
    from pybridge import scenarios

    hints = scenarios.get("inx-factory").learner_hints(
        scenarios.get("inx-factory").make_config(**TINY))
    t = Trainer(tiny_cfg(episodes=1), tmp_path / "a")
    t.start()
    assert t.learner.cfg.obs_shift == hints.obs_shift
    assert t.learner.cfg.decision_period == hints.decision_period
    mine = Trainer(tiny_cfg(episodes=1, agent={"obs_shift": 5.0}), tmp_path / "b")
    mine.start()
    assert mine.learner.cfg.obs_shift == 5.0  # the user's `agent:` wins
    assert mine.learner.cfg.obs_scale == hints.obs_scale


def test_failed_round_leaves_every_member_unchanged():
    from federation.strategy import SecureFedAvg

    learner = _differing_members()
    before = [learner.member_params(i) for i in range(5)]
    failing = SecureFedAvg(1, 5, threshold=0.8, dropouts=lambda r: {"share_keys": [0, 1, 2]})
    (report,) = Federation(failing, 5).round(learner, 0)
    assert "failed" in report and report["bytes_per_client_sent"] == 0
    for i, b in enumerate(before):
        for k, v in learner.member_params(i).items():
            np.testing.assert_array_equal(v, b[k])


def test_overlapped_round_lands_as_average_plus_each_members_progress_since_its_snapshot():
    from federation.strategy import PlainFedAvg

    learner = _differing_members()
    snaps = [learner.member_params(i) for i in range(5)]
    fed = Federation(PlainFedAvg(1), 5, overlap=True)
    try:
        assert fed.round(learner, 0, {"round": 1}) == []  # started, not landed
        with torch.no_grad():  # training goes on meanwhile
            for p in learner.q.parameters():
                p.add_(0.01 * torch.randn_like(p))
        moved = [learner.member_params(i) for i in range(5)]
        (row,) = fed.flush(learner)
        assert row["overlapped"] and row["round"] == 1 and row["mode"] == "plain"
        for i in range(5):
            for k, v in learner.member_params(i).items():
                avg = np.mean([s[k] for s in snaps], axis=0)
                np.testing.assert_allclose(v, avg + moved[i][k] - snaps[i][k], atol=1e-6)
            # The target network is rebuilt from the new online network, as synchronously.
            for t, o in zip(learner.q_target.parameters(), learner.q.parameters()):
                np.testing.assert_array_equal(t[i].detach().numpy(), o[i].detach().numpy())
        assert fed.flush(learner) == []  # nothing in flight any more
    finally:
        fed.close()


def test_overlapped_training_is_reproducible_resumes_exactly_and_leaves_no_worker(tmp_path):
    cfg = tiny_cfg(episodes=4, aggregation="secure", fed_overlap=True)
    whole = Trainer(cfg, tmp_path / "whole")
    whole.start()
    assert whole.federation.worker._proc is None  # closed at the end
    fed = RunDir(tmp_path / "whole").read_jsonl("federation.jsonl")
    # Every round landed (the last of each episode at its end), in order, and was secure.
    assert [r["round"] for r in fed] == list(range(1, 4 * 40 // 16 + 1))
    assert all(r["overlapped"] and r["mode"] == "secure" for r in fed)

    broken = StopsMidEpisode(cfg, tmp_path / "broken", at=2)
    broken.start()
    assert broken.interrupted and broken.federation.worker._proc is None
    resumed = Trainer(TrainConfig.load_run(tmp_path / "broken"), tmp_path / "broken")
    resumed.resume()
    rows = RunDir(tmp_path / "broken").read_jsonl("metrics.jsonl")
    ref = RunDir(tmp_path / "whole").read_jsonl("metrics.jsonl")
    assert [r["mean_reward"] for r in rows] == [r["mean_reward"] for r in ref]
    for a, b in zip(_member_params(resumed), _member_params(whole)):
        for k in a:
            np.testing.assert_array_equal(a[k], b[k])
    # Overlapped and synchronous runs differ only by when averages land: the same rounds.
    sync = Trainer(tiny_cfg(episodes=4, aggregation="secure"), tmp_path / "sync")
    sync.start()
    assert len(RunDir(tmp_path / "sync").read_jsonl("federation.jsonl")) == len(fed)


def test_toml_config_file(tmp_path):
    (tmp_path / "c.toml").write_text('algo = "d-maddqn"\nepisodes = 1\nn_envs = 1\n'
                                     '[params]\nn_subnetworks = 3\nepisode_steps = 5\n')
    assert main(["train", "--config", str(tmp_path / "c.toml"), "--out",
                 str(tmp_path / "run")]) == 0
    cfg = TrainConfig.load_run(tmp_path / "run")
    assert cfg.algo == "d-maddqn" and cfg.params == {"n_subnetworks": 3, "episode_steps": 5}


def test_training_runs_on_the_ns3_backend_too(tmp_path):
    run = tmp_path / "ns3run"
    trainer = Trainer(tiny_cfg(backend="ns3", episodes=2, aggregation="secure"), run)
    trainer.start()
    rows = RunDir(run).read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1]
    assert all(np.isfinite(r["mean_rate"]) and r["mean_rate"] > 0 for r in rows)
    assert RunDir(run).read_jsonl("federation.jsonl")[0]["mode"] == "secure"
    assert not trainer.env.core.bridges  # processes stopped, segments unlinked


@pytest.mark.parametrize("backend", ["twin", "ns3"])
def test_train_scenario_flag_trains_another_scenario(tmp_path, backend):
    """`fedmarl train --scenario edge-offload`: the flag wins over the default, the run keeps
    it (resume reads it back), the scenario's headline figure is logged per episode, and a
    secure f-drqn round ran on the composite MultiDiscrete action."""
    run = tmp_path / "eo"
    (tmp_path / "c.yaml").write_text("n_envs: 1\ntau_agg: 10\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--scenario", "edge-offload",
                 "--algo", "f-drqn", "--backend", backend, "--episodes", "2",
                 "--set", "n_users=3", "--set", "episode_steps=20", "--out", str(run)]) == 0
    cfg = TrainConfig.load_run(run)
    assert cfg.scenario == "edge-offload" and str(cfg.params["n_users"]) == "3"
    rows = RunDir(run).read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1]
    assert all(0.0 <= r["task_success"] <= 1.0 for r in rows)
    assert rows[-1]["fed_rounds"] > 0
    # a resumed run keeps its saved scenario: the flag is refused (exit 2, one error line)
    assert main(["train", "--resume", str(run), "--scenario", "inx-factory"]) == 2


EO_TINY = {"n_users": 3, "episode_steps": 30}


def test_edge_offload_f_drqn_resume_eval_and_report(tmp_path):
    """The whole `fedmarl train` path on edge-offload with the reference's learner (f-drqn,
    prioritised sequence replay, secure aggregation): an interrupted run resumes to the same
    numbers as an uninterrupted one (priorities and LSTM states in the checkpoint), and
    `fedmarl eval --run` / `fedmarl report` show the scenario's edge metrics."""
    cfg = TrainConfig.from_dict({
        "scenario": "edge-offload", "algo": "f-drqn", "episodes": 3, "n_envs": 2,
        "tau_agg": 20, "aggregation": "secure", "params": dict(EO_TINY),
        "agent": {"learning_starts": 20, "priority_exponent": 0.9, "batch_size": 8}})
    whole = Trainer(cfg, tmp_path / "whole")
    whole.start()
    broken = StopsMidEpisode(cfg, tmp_path / "broken", at=1)
    broken.start()
    assert broken.interrupted
    resumed = Trainer(TrainConfig.load_run(tmp_path / "broken"), tmp_path / "broken")
    resumed.resume()
    rows = RunDir(tmp_path / "broken").read_jsonl("metrics.jsonl")
    ref = RunDir(tmp_path / "whole").read_jsonl("metrics.jsonl")
    assert [r["episode"] for r in rows] == [0, 1, 2]
    for a, b in zip(rows, ref, strict=True):
        assert a["mean_reward"] == pytest.approx(b["mean_reward"], rel=1e-6)
        assert a["task_success"] == pytest.approx(b["task_success"], rel=1e-6)
    for i in range(EO_TINY["n_users"]):
        a, b = resumed.learner.member_params(i), whole.learner.member_params(i)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(resumed.learner.buffer.prio, whole.learner.buffer.prio,
                               rtol=1e-5)
    fed = RunDir(tmp_path / "whole").read_jsonl("federation.jsonl")
    assert fed and all(r["mode"] == "secure" for r in fed)

    run = tmp_path / "whole"
    out = evaluate_run(run, episodes=2, seed=1, baselines=["random", "central"])
    assert [r["policy"] for r in out["results"]] == ["f-drqn", "random", "central"]
    for r in out["results"]:
        assert 0.0 <= r["task_success_urllc"] <= 1.0 and r["energy_eff_bits_per_j"] > 0
        assert len(r["latency_ms_cdf_quantiles"]) == 101
    text = write_report([run]).read_text()
    for col in ("success", "URLLC", "bits/J", "Jain succ", "CPU J", "radio J"):
        assert f" {col} |" in text, col  # the scenario's eval columns
    assert "latency_ms_urllc_cdf.png" in text
    assert (run / "latency_ms_cdf.png").stat().st_size > 1000
