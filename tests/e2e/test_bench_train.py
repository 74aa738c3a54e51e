"""`fedmarl bench train`: the real training path with a clock per stage, beside the env alone."""

from __future__ import annotations

import pytest

from fedmarl.bench_train import STAGES, bench_train, format_table


def test_bench_train_splits_the_wall_time_and_measures_the_env_alone():
    rows = bench_train(("f-maddqn",), n=4, episodes=1, n_envs=2, env_seconds=0.2, tau_agg=32)
    r, over = rows  # synchronous rounds, then overlapped ones
    assert not r["fed_overlap"] and over["fed_overlap"]
    assert r["federation_rounds"] == over["federation_rounds"] == 200 // 16
    # Overlapped, the round's own seconds are the worker's; the loop's are waiting and applying.
    assert over["round_seconds"] > 0 and r["round_seconds"] > 0
    assert sum(over["stage_fraction"].values()) == pytest.approx(1.0, abs=1e-6)
    assert r["algo"] == "f-maddqn" and r["n_agents"] == 4
    assert r["env_steps"] == 1 * 2 * 200  # one episode of 200 steps on each of 2 copies
    assert r["env_steps_per_s"] == pytest.approx(r["env_steps"] / r["wall_seconds"])
    assert r["agent_steps_per_s"] == pytest.approx(4 * r["env_steps_per_s"])
    # every stage was timed, updates ran from the first step, the fractions add up to 1
    s = r["stage_seconds"]
    assert set(s) == {*STAGES, "bookkeeping"}
    assert s["env"] > 0 and s["act"] > 0 and s["update"] > 0
    assert sum(r["stage_fraction"].values()) == pytest.approx(1.0, abs=1e-6)
    # learning costs: training is slower than stepping the env with random actions
    assert 0 < r["training_over_env_alone"] < 1
    assert r["peak_rss_mib"] > 50
    # what it holds: 4 networks (+ targets, Adam) and 4 replay buffers of 64,000 decisions
    assert r["networks"] == 4 and r["update_calls"] == 200
    assert r["seconds_per_update"] == pytest.approx(s["update"] / 200)
    assert 4 * 64_000 * 2 * 4 < r["learner_mib"] * 2**20 < r["peak_rss_mib"] * 2**20
    text = format_table(rows)
    assert "f-maddqn | no" in text and "f-maddqn | yes" in text and "machine:" in text


def test_bench_train_with_clusters_holds_fewer_networks():
    shared, own = (bench_train(("f-maddqn",), n=4, episodes=1, n_envs=1, env_seconds=0.1,
                               tau_agg=64, overlap=(False,), cluster_size=c)[0] for c in (2, 1))
    assert shared["networks"] == 2 and own["networks"] == 4
    assert shared["federation_rounds"] == own["federation_rounds"] > 0  # clients: 2 networks
    # networks and buffers per cluster, not per agent
    assert shared["learner_kib_per_agent"] < 0.6 * own["learner_kib_per_agent"]
