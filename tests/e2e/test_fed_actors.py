"""Federated clients in their own Ray actors (fedmarl/engine/fed_actors.py): a secure round over
actors gives the in-process round's average, and a client actor killed mid-round is a drop-out
the protocol recovers from exactly as in process; nothing is left running afterwards."""

from __future__ import annotations

import numpy as np
import pytest

from federation.secure_round import run_secure_round
from fedmarl.engine.fed_actors import ActorFederation, start_clients
from tests.ray_support import local_ray


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    with local_ray(tmp_path_factory.mktemp("ray-home")) as seen:
        yield seen


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
