"""edge-offload with mobility="alleys" (issue 11: "the factory alleys as an option"): the users
are pybridge/twin/mobility.py's AlleyMobility robots on one 180 m x 80 m tile (d_min 1 m), moved
every LARGE_SCALE_EVERY intervals; the config refuses another hall and more users than the lane
capacity."""

import numpy as np
import pytest

from pybridge import ConfigError
from pybridge.scenarios.edge_offload import twin as tw
from pybridge.scenarios.edge_offload.config import (
    ALLEY_MIN_SEPARATION,
    EdgeOffloadConfig,
    alley_capacity,
)
from pybridge.scenarios.edge_offload.twin import EdgeOffloadTwin
from pybridge.twin.mobility import build_layout, lane_capacity


def dist_to_pieces(layout, points):
    """Distance of every point [..., 2] to the nearest lane-graph piece (lanes and connectors)."""
    a, b = layout.piece_start, layout.piece_end
    p = points[..., None, :]
    ab = b - a
    den = np.maximum(np.sum(ab * ab, -1), 1e-300)
    t = np.clip(np.sum((p - a) * ab, -1) / den, 0.0, 1.0)
    return np.linalg.norm(p - (a + t[..., None] * ab), axis=-1).min(-1)


def min_pair_distance(pos):
    d = np.linalg.norm(pos[:, :, None] - pos[:, None], axis=-1)
    n = pos.shape[1]
    d[:, np.arange(n), np.arange(n)] = np.inf
    return d.min()


def alley_core(n_envs=2, **kw) -> EdgeOffloadTwin:
    params = {"n_users": 12, "mobility": "alleys", "episode_steps": 400}
    params.update(kw)
    return EdgeOffloadTwin(EdgeOffloadConfig.from_params(**params), n_envs)


def test_default_is_random_waypoint():
    assert EdgeOffloadConfig.from_params().mobility == "random-waypoint"
    assert EdgeOffloadTwin(EdgeOffloadConfig.from_params(n_users=2), 1).alleys is None


def test_users_stay_on_the_lanes_keep_separation_and_move():
    core = alley_core(speed=3.0)
    layout = build_layout()
    core.reset(seed=4)
    start = core.positions()
    assert start.shape == (2, 12, 2)
    assert np.all(dist_to_pieces(layout, start) < 1e-9)
    travelled = np.zeros((2, 12))
    a = np.zeros((2, 12, 3), np.int64)
    prev = start
    moves = 0
    for t in range(1, 401):
        core.step(a)
        pos = core.positions()
        if t % tw.LARGE_SCALE_EVERY == 0:
            moves += 1
            step = np.linalg.norm(pos - prev, axis=-1)
            # a chord is never longer than the path: at most speed x LARGE_SCALE_EVERY T
            assert np.all(step <= 3.0 * tw.LARGE_SCALE_EVERY * core.T + 1e-9)
            travelled += step
            prev = pos
        else:
            assert np.array_equal(pos, prev)  # only on the large-scale refresh
        assert np.all(dist_to_pieces(layout, pos) < 1e-9)
        assert min_pair_distance(pos) >= ALLEY_MIN_SEPARATION - 1e-9
        # the links use the positions: path loss refreshed from them
        assert np.array_equal(core.pos, pos)
    assert moves == 40
    duration = 400 * core.T
    assert travelled.mean() > 0.5 * 3.0 * duration  # 4 s at 3 m/s: ~12 m each
    assert travelled.min() > 0.0


def test_same_seed_same_alley_trajectory():
    a = np.zeros((1, 5, 3), np.int64)
    runs = []
    for _ in range(2):
        core = alley_core(n_envs=1, n_users=5)
        core.reset(seed=9)
        for _ in range(30):
            core.step(a)
        runs.append(core.positions())
    assert np.array_equal(runs[0], runs[1])


def test_capacity_is_the_lane_capacity_of_one_tile():
    cap = alley_capacity()
    assert cap == lane_capacity(build_layout(), 1.0) > 100
    EdgeOffloadConfig.from_params(n_users=cap, mobility="alleys")  # fits
    with pytest.raises(ConfigError) as err:
        EdgeOffloadConfig.from_params(n_users=cap + 1, mobility="alleys")
    assert "n_users" in str(err.value) and str(cap) in str(err.value)
    # random waypoint has no such limit
    EdgeOffloadConfig.from_params(n_users=cap + 1)


@pytest.mark.parametrize("hall", [{"hall_length": 100.0}, {"hall_width": 60.0}])
def test_alleys_need_the_180_by_80_hall(hall):
    with pytest.raises(ConfigError) as err:
        EdgeOffloadConfig.from_params(mobility="alleys", **hall)
    msg = str(err.value)
    assert "hall_length" in msg and "hall_width" in msg and "alleys" in msg
    EdgeOffloadConfig.from_params(**hall)  # fine with random waypoint


def test_unknown_mobility_names_the_choices():
    with pytest.raises(ConfigError) as err:
        EdgeOffloadConfig.from_params(mobility="manhattan")
    assert "mobility" in str(err.value) and "alleys" in str(err.value)
