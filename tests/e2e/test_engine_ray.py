"""`--engine ray` against `--engine local`: the same seed gives the same bits (eval and a short
f-maddqn training, twin and ns-3), shards are placed as declared, a dead env actor or ns-3
process is one clear error naming its node and copies, and nothing is left running. Federated
clients in their own actors (fedmarl/engine/fed_actors.py): a secure round over actors gives the
in-process round's average, and a client actor killed mid-round is a drop-out the protocol
recovers from exactly as in process.

One local Ray instance (num_cpus=2) serves the module; the two-node cluster test starts its
own after it. Episodes are short (episode_steps=30) to keep the module at a few tens of seconds.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from federation.secure_round import run_secure_round
from fedmarl import cli
from fedmarl.engine.fed_actors import ActorFederation, start_clients
from pybridge import engine, make_vec_env
from pybridge.engine.ray_shards import EngineError
from tests.ray_support import local_ray

SHORT = ["--set", "episode_steps=30"]


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    with local_ray(tmp_path_factory.mktemp("ray-home")) as seen:
        yield seen


def _eval_json(capsys, *args: str) -> list[dict]:
    assert cli.main(["eval", "--json", "--episodes", "2", *SHORT, *args]) == 0
    out = json.loads(capsys.readouterr().out)
    return out if isinstance(out, list) else [out]


def test_eval_twin_ray_equals_local(ray_cluster, capsys):
    args = ["--policy", "greedy", "random", "--workers", "2"]
    local = _eval_json(capsys, *args)
    ray_ = _eval_json(capsys, *args, "--engine", "ray")
    assert local == ray_
    # the split is real: W = 2 shards draw other episodes than the single core; with the
    # defaults (W = 1 for the twin on both engines) the engines agree again
    single = _eval_json(capsys, "--policy", "greedy")
    assert single != local[:1]
    assert _eval_json(capsys, "--policy", "greedy", "--engine", "ray") == single


def test_eval_ns3_ray_equals_local_whatever_the_split(ray_cluster, capsys):
    local = _eval_json(capsys, "--policy", "greedy", "--backend", "ns3")  # one core, 2 copies
    ray_ = _eval_json(capsys, "--policy", "greedy", "--backend", "ns3", "--engine", "ray")
    assert local == ray_


def _train(tmp: Path, name: str, backend: str, *engine_args: str) -> Path:
    cfg = tmp / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({
        "algo": "f-maddqn", "episodes": 2, "n_envs": 2, "tau_agg": 16, "seed": 3,
        "aggregation": "secure", "params": {"episode_steps": 30},
        "agent": {"batch_size": 16, "learning_starts": 20}}))
    out = tmp / name
    assert cli.main(["train", "--config", str(cfg), "--backend", backend, "--out", str(out),
                     *engine_args]) == 0
    return out


def _same_run(a: Path, b: Path) -> None:
    def rows(p):
        lines = (p / "metrics.jsonl").read_text().splitlines()
        return [{k: v for k, v in json.loads(x).items() if "seconds" not in k} for x in lines]

    assert rows(a) == rows(b)
    pa, pb = (_tensors(torch.load(p / "policy.pt", weights_only=False)["learner"])
              for p in (a, b))
    assert pa.keys() == pb.keys() and pa
    for k, v in pa.items():
        assert torch.equal(v, pb[k]), k


def _tensors(tree, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor of a nested state dict, by its path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    items = tree.items() if isinstance(tree, dict) else (
        enumerate(tree) if isinstance(tree, list | tuple) else ())
    out = {}
    for k, v in items:
        out.update(_tensors(v, f"{prefix}/{k}"))
    return out


@pytest.mark.parametrize("backend", ["twin", "ns3"])
def test_short_fmaddqn_training_ray_equals_local(ray_cluster, tmp_path, backend):
    local = _train(tmp_path, "local", backend, "--workers", "2")
    ray_ = _train(tmp_path, "ray", backend, "--engine", "ray", "--workers", "2")
    _same_run(local, ray_)
    assert yaml.safe_load((ray_ / "config.yaml").read_text())["env_workers"] == 2


def test_views_and_info_are_gathered_along_the_copies(ray_cluster):
    with engine.use(engine.Engine("ray", workers=2)):
        env = make_vec_env("inx-factory", 3, episode_steps=30)
    with env:
        obs, info = env.reset(seed=1)
        assert obs.shape == (3, 20, env.single_observation_space.shape[0])
        assert env.core.counts == [2, 1]
        assert env.core.sinr_db().shape[0] == 3 and env.core.channel.shape == (3, 20)
        assert env.core.last.rate_fbl.shape[0] == 3 and info["rate"].shape[0] == 3
        with pytest.raises(ValueError, match="actions must"):
            env.step(np.zeros((3, 20), dtype=np.int64) + 99)  # as on the local core


def test_actors_count_their_step_calls_and_seconds_for_the_bench(ray_cluster):
    """What `fedmarl bench --engine ray` subtracts from the driver's step time: each actor's
    own seconds inside step(), counted per call, cleared on request."""
    with engine.use(engine.Engine("ray", workers=2)):
        env = make_vec_env("inx-factory", 2, episode_steps=30)
    with env:
        env.reset(seed=1)
        for _ in range(4):
            env.step(np.zeros((2, 20), dtype=np.int64))
        shards = env.core.shards
        first = shards.step_seconds(clear=True)
        assert [n for _, n in first] == [4, 4] and all(t > 0 for t, _ in first)
        assert shards.step_seconds() == [(0.0, 0), (0.0, 0)]


def _kill_mid_episode(ray_cluster, what: str) -> str:
    import ray

    with engine.use(engine.Engine("ray", workers=2)):
        env = make_vec_env("inx-factory", 2, backend="ns3", episode_steps=30)
    shards = env.core.shards
    ray_cluster.extend(shards.pids())
    env.reset(seed=0)
    actions = np.zeros((2, 20), dtype=np.int64)
    env.step(actions)
    if what == "actor":
        ray.kill(shards.actors[1], no_restart=True)
    else:
        os.kill(shards.where[1]["peer_pids"][0], signal.SIGKILL)
    with pytest.raises(EngineError) as err:
        for _ in range(5):
            env.step(actions)
    env.close()
    return str(err.value)


def test_killed_env_actor_names_node_and_copy(ray_cluster):
    msg = _kill_mid_episode(ray_cluster, "actor")
    assert "env shard 1 (copy 1 of 2) on node" in msg and "died" in msg


def test_killed_ns3_process_names_node_copy_and_binary(ray_cluster):
    msg = _kill_mid_episode(ray_cluster, "ns3")
    assert "env shard 1 (copy 1 of 2) on node" in msg and "fedmarl-inx-factory" in msg


def test_dead_actor_restart_redoes_the_episode(ray_cluster):
    import ray

    def episode(restarts: int, kill: bool):
        with engine.use(engine.Engine("ray", workers=2, restarts=restarts)):
            env = make_vec_env("inx-factory", 2, episode_steps=30)
        with env:
            env.reset(seed=5)
            rng = np.random.default_rng(0)
            total = 0.0
            for t in range(30):
                if kill and t == 10:
                    ray.kill(env.core.shards.actors[0], no_restart=True)
                _, r, *_ = env.step(rng.integers(0, 4, size=(2, 20)))
                total += float(r.sum())
            return total, env.core.shards.restarted

    clean, _ = episode(0, False)
    redone, restarted = episode(1, True)
    assert restarted == 1 and redone == clean


def test_reproduce_sweep_runs_as_ray_tasks_with_the_local_numbers(ray_cluster, tmp_path):
    from fedmarl.study import train_all, train_one

    base = {"algo": "d-maddqn", "episodes": 1, "n_envs": 1, "params": {"episode_steps": 30},
            "agent": {"batch_size": 8, "learning_starts": 10}}
    specs = {f"s{seed}": {**base, "seed": seed} for seed in (0, 1)}
    local = {n: train_one(n, s, str(tmp_path / "local")) for n, s in specs.items()}
    with engine.use(engine.Engine("ray")):
        ray_ = train_all(specs, tmp_path / "ray", 1, log=lambda m: None)
    assert {k: v["reward"] for k, v in ray_.items()} == {k: v["reward"] for k, v in local.items()}
    assert ray_["s0"]["reward"] != ray_["s1"]["reward"]
    assert (tmp_path / "ray" / "s1" / "policy.pt").exists()


def test_eval_edge_offload_baselines_ray_equals_local(ray_cluster, capsys):
    args = ["--scenario", "edge-offload", "--policy", "offload-nearest", "greedy", "--workers", "2"]
    local = _eval_json(capsys, *args)
    assert local == _eval_json(capsys, *args, "--engine", "ray")


# ------------------------------------------- federated clients in their own actors
def _updates(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(size=(8, 5)).astype(np.float32),
             "b": rng.normal(size=5).astype(np.float64),
             "steps": np.array([100 + i], dtype=np.int64)} for i in range(n)]


def _check_average(fed: ActorFederation, expected: dict[str, np.ndarray], alive: list[int],
                   updates) -> None:
    got = fed.params()
    for c in range(fed.n):
        if c not in alive:
            assert got[c] is None
            continue
        for k in ("w", "b"):
            assert got[c][k].dtype == expected[k].dtype
            assert np.array_equal(got[c][k], expected[k]), (c, k)
        assert got[c]["steps"] == updates[c]["steps"]  # integer state stays the client's own


def test_secure_round_over_actors_equals_the_in_process_round(ray_cluster):
    updates = _updates(5)
    expected, ref = run_secure_round(updates, threshold=3)
    fed = ActorFederation(start_clients(updates), threshold=3)
    try:
        report = fed.round(0)
        assert report.survivors == ref.survivors == [0, 1, 2, 3, 4]
        _check_average(fed, expected, [0, 1, 2, 3, 4], updates)
        # the driver relayed bytes only: what it holds of the clients is their public keys
        assert sum(report.bytes_sent.values()) > 0
    finally:
        fed.close()


def test_client_actor_killed_mid_round_is_a_dropout(ray_cluster):
    import ray

    updates = _updates(6, seed=1)
    # Client 2 dies before sending its masked input (left out of the sum), client 4 before
    # unmasking (its input is in the sum, its self-mask recovered from the others' shares).
    expected, ref = run_secure_round(updates, threshold=4,
                                     dropouts={"masked_input": [2], "unmask": [4]})
    fed = ActorFederation(start_clients(updates), threshold=4)
    kill_at = {"masked_input": 2, "unmask": 4}

    def on_stage(stage: str) -> None:
        if stage in kill_at:
            ray.kill(fed.actors[kill_at[stage]], no_restart=True)

    try:
        report = fed.round(0, on_stage=on_stage)
        assert report.survivors == ref.survivors
        assert 2 not in report.survivors and 4 in report.survivors
        assert report.dropped["actor_died"] == [2, 4]
        _check_average(fed, expected, [0, 1, 3, 5], updates)
        # the next round goes on without them
        report = fed.round(1)
        assert set(report.survivors) == {0, 1, 3, 5}
    finally:
        fed.close()
