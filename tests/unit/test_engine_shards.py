"""The local engine's shards (pybridge/engine/shards.py), without Ray: the split, the seeds,
the gathered views, and that one worker is the plain core."""

from __future__ import annotations

import numpy as np
import pytest

from pybridge import engine, make_vec_env
from pybridge.config import ConfigError
from pybridge.engine.shards import ShardedCore, shard_seed, split


def test_split_is_contiguous_and_balanced():
    assert split(5, 2) == [(0, 3), (3, 2)]
    assert split(2, 8) == [(0, 1), (1, 1)]  # never more shards than copies
    with pytest.raises(ValueError):
        split(0, 1)


def test_one_local_worker_is_the_plain_core_and_twin_seeds_per_shard():
    plain = make_vec_env("inx-factory", 2)
    assert not isinstance(plain.core, ShardedCore)
    assert shard_seed(7, 0, 1) == 7 and shard_seed(None, 1, 2) is None
    assert shard_seed(7, 0, 2) != shard_seed(7, 1, 2)
    with engine.use(engine.Engine("local", workers=2)):
        sharded = make_vec_env("inx-factory", 2, episode_steps=5)
    assert isinstance(sharded.core, ShardedCore) and sharded.core.counts == [1, 1]
    obs, _ = sharded.reset(seed=3)
    # shard w of a W = 2 split is the single-copy core seeded with shard_seed(3, w, 2)
    for w in (0, 1):
        one = make_vec_env("inx-factory", 1, episode_steps=5)
        assert np.array_equal(one.reset(seed=shard_seed(3, w, 2))[0][0], obs[w])


def test_views_concatenate_per_copy_arrays_and_keep_per_config_ones():
    with engine.use(engine.Engine("local", workers=2)):
        env = make_vec_env("edge-offload", 4, n_servers=2, episode_steps=5)
    env.reset(seed=0)
    core = env.core
    assert core.counts == [2, 2]
    assert core.ap_positions().shape == (2, 2)  # [E, 2]: declared unbatched, not [4, 2]
    assert core.positions().shape[0] == 4
    assert env.step(np.zeros((4, env.n_agents, 3), dtype=np.int64))[1].shape == (4,
                                                                                env.n_agents)
    with pytest.raises(AttributeError, match="no 'no_such_view'"):
        core.no_such_view  # noqa: B018


def test_engine_options_are_checked():
    with pytest.raises(ConfigError, match="unknown engine"):
        engine.Engine("spark")
    with pytest.raises(ConfigError, match="--ray-address needs --engine ray"):
        engine.Engine("local", address="auto")
    with pytest.raises(ConfigError, match="workers must be"):
        engine.Engine("local", workers=0)


def test_an_unreachable_ray_address_is_one_clear_error(capsys):
    from fedmarl import cli

    assert cli.main(["eval", "--policy", "greedy", "--episodes", "1", "--engine", "ray",
                     "--ray-address", "127.0.0.1:1"]) == 2
    assert "cannot reach the Ray cluster at '127.0.0.1:1'" in capsys.readouterr().err
