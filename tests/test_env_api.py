"""The env follows PettingZoo's ParallelEnv API exactly; the batched API agrees with it."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from pybridge import ConfigError, make_env, make_vec_env


def small_env(**kw):
    return make_env("inx-factory", n_subnetworks=6, n_devices=2, episode_steps=40, **kw)


def test_pettingzoo_parallel_api():
    parallel_api_test(small_env(), num_cycles=60)


def test_pettingzoo_parallel_api_full_observation():
    parallel_api_test(small_env(obs_reduce="full"), num_cycles=45)


def test_pettingzoo_seed_test():
    parallel_seed_test(small_env)


def test_spaces_state_and_truncation():
    env = small_env(n_channels=3)
    assert env.observation_space("subnet_0") is env.observation_space("subnet_0")  # cached
    assert env.action_space("subnet_5").n == 3
    obs, infos = env.reset(seed=3)
    assert set(obs) == set(env.possible_agents) == set(infos)
    assert obs["subnet_0"].shape == (3,) and obs["subnet_0"].dtype == np.float32
    assert env.state().shape == env.state_space.shape
    assert {"rate", "rate_shannon", "sinr_db", "channel", "switched"} <= set(infos["subnet_1"])
    for t in range(40):
        obs, _rew, term, trunc, infos = env.step({a: 0 for a in env.agents})
        assert not any(term.values())
        assert all(trunc.values()) == (t == 39)
    assert env.agents == []
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})


def test_missing_action_is_a_clear_error():
    env = small_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing"):
        env.step({"subnet_0": 1})


def test_batched_copy_matches_parallel_env_with_same_seed():
    env = small_env()
    vec = make_vec_env("inx-factory", 1, n_subnetworks=6, n_devices=2, episode_steps=40)
    obs_d, _ = env.reset(seed=7)
    obs_v, _ = vec.reset(seed=7)
    np.testing.assert_array_equal(np.stack(list(obs_d.values())), obs_v[0])
    rng = np.random.default_rng(1)
    for _ in range(40):
        a = rng.integers(0, 4, size=6)
        obs_d, rew_d, *_ = env.step(dict(zip(env.possible_agents, a.tolist())))
        obs_v, rew_v, _, trunc, _info = vec.step(a[None])
        np.testing.assert_array_equal(np.stack(list(obs_d.values())), obs_v[0])
        np.testing.assert_allclose(list(rew_d.values()), rew_v[0], rtol=1e-6)
    assert trunc.all()


def test_vec_env_shapes():
    vec = make_vec_env("inx-factory", 5, n_subnetworks=8, n_devices=3, obs_reduce="full")
    obs, info = vec.reset(seed=0)
    assert obs.shape == (5, 8, 12)
    obs, rew, term, trunc, info = vec.step(np.zeros((5, 8), dtype=int))
    assert rew.shape == (5, 8) and term.shape == trunc.shape == (5,)
    assert info["rate"].shape == info["sinr"].shape == (5, 8, 3)
    assert vec.single_observation_space.contains(obs[0, 0])


def test_bad_scenario_and_backend():
    with pytest.raises(ConfigError, match="unknown scenario"):
        make_env("edge")
    with pytest.raises(ConfigError, match="unknown backend"):
        make_env("inx-factory", backend="omnet")
    with pytest.raises(ConfigError, match="unknown parameter"):
        make_env("inx-factory", n_agents=5)
