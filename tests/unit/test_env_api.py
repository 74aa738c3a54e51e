"""The env follows PettingZoo's ParallelEnv API exactly; the batched API agrees with it."""

import pickle

import numpy as np
import pytest
import supersuit as ss
from gymnasium import spaces
from pettingzoo.test import parallel_api_test, parallel_seed_test, render_test
from pettingzoo.utils.conversions import parallel_to_aec
from toy_scenario import registered

from pybridge import ConfigError, make_config, make_env, make_vec_env, scenarios


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
    assert term.dtype == trunc.dtype == np.bool_ and not term.any() and not trunc.any()
    assert info["rate"].shape == info["sinr"].shape == (5, 8, 3)
    assert vec.single_observation_space.contains(obs[0, 0])


def test_bad_scenario_and_backend():
    with pytest.raises(ConfigError, match="unknown scenario"):
        make_env("edge")
    with pytest.raises(ConfigError, match="unknown backend"):
        make_env("inx-factory", backend="omnet")
    with pytest.raises(ConfigError, match="unknown parameter"):
        make_env("inx-factory", n_agents=5)


# --------------------------------------------------- issue 9 item 9: what Gymnasium users expect
def test_info_keys_and_dtypes_are_the_declared_ones():
    spec = scenarios.get("inx-factory")
    vec = make_vec_env("inx-factory", 2, n_subnetworks=6, n_devices=2, episode_steps=5)
    for _, info in (vec.reset(seed=0), vec.step(np.zeros((2, 6), int))[::4]):
        assert tuple(info) == spec.info_keys
        assert {k: v.dtype for k, v in info.items()} == {k: spec.info_dtypes[k] for k in info}
    env = small_env()
    _, infos = env.reset(seed=0)
    for _ in range(2):
        for agent_info in infos.values():
            # Plain Python scalars (not numpy arrays or numpy scalars) of fixed types.
            assert {k: type(v) for k, v in agent_info.items()} == {
                "rate": float, "rate_shannon": float, "sinr_db": float, "channel": int,
                "switched": bool}
        _, _, _, _, infos = env.step({a: 1 for a in env.agents})


def test_agent_infos_are_the_means_over_the_subnetworks_devices():
    env = small_env()
    env.reset(seed=2)
    _, _, _, _, infos = env.step({a: 0 for a in env.agents})
    last = env.core.last
    for n, a in enumerate(env.possible_agents):
        assert infos[a]["rate"] == pytest.approx(float(last.rate_fbl[0, n].mean()), rel=1e-12)
        assert infos[a]["rate_shannon"] == pytest.approx(float(last.rate_shannon[0, n].mean()),
                                                         rel=1e-12)
        assert infos[a]["sinr_db"] == pytest.approx(
            float(np.mean(10 * np.log10(last.sinr[0, n]))), rel=1e-12)
        assert infos[a]["channel"] == last.channel[0, n]


def test_reset_without_a_seed_draws_fresh_entropy_and_seeds_reproduce():
    first = [np.stack(list(small_env().reset()[0].values())) for _ in range(2)]
    assert not np.array_equal(first[0], first[1])  # two new envs: two different episodes
    seeded = [np.stack(list(small_env().reset(seed=4)[0].values())) for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    # A seed in the config makes the first unseeded reset reproducible too, and later
    # unseeded resets continue that stream (different episodes, the same in both envs).
    a, b = small_env(seed=9), small_env(seed=9)
    for _ in range(2):
        oa, ob = a.reset()[0], b.reset()[0]
        np.testing.assert_array_equal(np.stack(list(oa.values())), np.stack(list(ob.values())))
    vec = [make_vec_env("inx-factory", 2, n_subnetworks=4).reset()[0] for _ in range(2)]
    assert not np.array_equal(vec[0], vec[1])
    assert make_config("inx-factory").seed is None


def test_one_space_object_per_agent():
    env = small_env()
    a0, a1 = env.possible_agents[:2]
    s0, s1 = env.action_space(a0), env.action_space(a1)
    assert s0 == s1 and s0 is not s1
    assert env.observation_space(a0) == env.observation_space(a1)
    assert env.observation_space(a0) is not env.observation_space(a1)
    reference = spaces.Discrete(s0.n, seed=1)
    s0.seed(1)
    s1.seed(2)  # must not reseed s0
    assert [s0.sample() for _ in range(20)] == [reference.sample() for _ in range(20)]


def test_state_before_reset_is_a_clear_error():
    with pytest.raises(RuntimeError, match=r"state\(\) before reset\(\)"):
        small_env().state()
    vec = make_vec_env("inx-factory", 2, n_subnetworks=4)
    with pytest.raises(RuntimeError, match=r"state\(\) before reset\(\)"):
        vec.state()
    vec.reset(seed=0)
    assert vec.state().shape == (2, *vec.state_space.shape)


def test_render_modes():
    env = small_env()
    env.reset(seed=0)
    assert env.render_mode is None
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
    env = small_env(render_mode="rgb_array")
    assert env.metadata == {"name": "inx_factory_v0", "render_modes": ["rgb_array", "human"],
                            "is_parallelizable": True}
    assert pickle.loads(pickle.dumps(env)).render_mode == "rgb_array"
    env.reset(seed=1)
    pic = env.render()
    assert pic.dtype == np.uint8 and pic.ndim == 3 and pic.shape[2] == 3
    # The access points are drawn in their channel's colour (tab10: channel k is colour k).
    from matplotlib import colormaps

    pixels = {tuple(p) for p in pic.reshape(-1, 3)}
    for k in set(env.core.channel[0].tolist()):
        rgb = tuple(round(255 * c) for c in colormaps["tab10"](k)[:3])
        assert rgb in pixels, k
    unused = set(range(10)) - set(env.core.channel[0].tolist())
    assert any(tuple(round(255 * c) for c in colormaps["tab10"](k)[:3]) not in pixels
               for k in unused)
    with pytest.raises(ConfigError, match="render_mode 'ansi'"):
        small_env(render_mode="ansi")
    with pytest.raises(RuntimeError, match="reset"):
        small_env(render_mode="rgb_array").render()


def test_pettingzoo_render_test():
    render_test(lambda render_mode=None: parallel_to_aec(small_env(render_mode=render_mode)))


def test_pickled_env_carries_its_config_and_builds_its_own_core():
    env = small_env(n_channels=3)
    env.reset(seed=5)
    copy = pickle.loads(pickle.dumps(env))
    assert copy.core is not env.core and copy.cfg == env.cfg
    assert copy.possible_agents == env.possible_agents and copy.agents == []  # not reset yet
    with pytest.raises(RuntimeError, match="reset"):
        copy.state()
    o1 = env.reset(seed=8)[0]
    o2 = copy.reset(seed=8)[0]
    np.testing.assert_array_equal(np.stack(list(o1.values())), np.stack(list(o2.values())))
    vec = make_vec_env("inx-factory", 3, n_subnetworks=4)
    vcopy = pickle.loads(pickle.dumps(vec))
    assert vcopy.core is not vec.core and vcopy.n_envs == 3 and vcopy.cfg == vec.cfg
    np.testing.assert_array_equal(vec.reset(seed=1)[0], vcopy.reset(seed=1)[0])


def test_supersuit_concat_vec_envs_gives_independent_copies():
    env = make_env("inx-factory", n_subnetworks=4, episode_steps=20)
    vec = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(env), 3, num_cpus=0,
                                base_class="gymnasium")
    obs, _ = vec.reset()
    assert obs.shape == (12, 4)
    copies = obs.reshape(3, 4, 4)
    assert not np.array_equal(copies[0], copies[1]) and not np.array_equal(copies[1], copies[2])
    for t in range(20):
        obs, rew, term, _, _ = vec.step(np.full(12, t % 4))
        assert rew.shape == (12,) and not term.any()
    seeded = [ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(env), 2, num_cpus=0,
                                    base_class="gymnasium").reset(seed=3)[0] for _ in range(2)]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    vec.close()


def test_a_core_that_is_not_a_core_is_refused():
    from pybridge.env import ParallelEnvAdapter, VecEnv

    spec = scenarios.get("inx-factory")

    class HalfCore:
        cfg, backend, B, N, t, last = make_config("inx-factory"), "twin", 1, 20, 0, None

        def reset(self, seed=None): ...

    for cls in (VecEnv, ParallelEnvAdapter):
        with pytest.raises(TypeError, match="missing step, observation, state, close"):
            cls(HalfCore(), spec)


# ------------------------------------------------ the adapter is generic: a toy scenario
@pytest.fixture
def toy():
    with registered() as spec:
        yield spec


def test_a_registered_toy_scenario_with_composite_actions_runs_through_the_adapter(toy):
    assert "toy-offload" in scenarios.names()
    parallel_api_test(make_env("toy-offload", n_users=4), num_cycles=12)
    env = make_env("toy-offload")
    assert env.possible_agents == ["user_0", "user_1", "user_2"]
    assert env.metadata["name"] == "toy_offload_v0" and env.metadata["render_modes"] == []
    env.reset(seed=0)
    _, rew, _, _, infos = env.step({a: np.array([2, 1]) for a in env.agents})
    assert rew == {a: 2.0 for a in env.possible_agents} and infos["user_1"] == {"gain": 2.0}
    with pytest.raises(ConfigError, match="render_mode 'rgb_array' is not supported"):
        make_env("toy-offload", render_mode="rgb_array")
    vec = make_vec_env("toy-offload", 2, n_users=5)
    vec.reset(seed=1)
    obs, rew, _, _, info = vec.step(np.ones((2, 5, 2), int))
    assert obs.shape == (2, 5, 2) and rew.shape == (2, 5) and info["gain"].dtype == np.float64
    assert vec.single_action_space == spaces.MultiDiscrete([3, 2])
    copy = pickle.loads(pickle.dumps(vec))
    assert copy.core is not vec.core and copy.n_agents == 5
    with pytest.raises(ConfigError, match="has no ns-3 backend"):
        make_env("toy-offload", backend="ns3")
