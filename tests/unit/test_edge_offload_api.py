"""edge-offload through the generic env adapter: PettingZoo's tests, the batched API, the
declared info keys and dtypes, the spec's hints and the ns-3 step data's shape."""

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from pybridge import make_env, make_vec_env, scenarios
from pybridge.scenarios.edge_offload import contract
from pybridge.scenarios.edge_offload.spec import INFO_DTYPES, NS3_INFO_DTYPES

SMALL = {"n_users": 4, "episode_steps": 30}


def small_env(**kw):
    return make_env("edge-offload", backend="twin", **SMALL, **kw)


def test_registered():
    assert "edge-offload" in scenarios.names()
    spec = scenarios.get("edge-offload")
    assert spec.env_name == "edge_offload_v0" and spec.agents_param == "n_users"
    assert spec.baselines_module == "agents.baselines.edge_offload"
    assert spec.ns3_binary == "fedmarl-edge-offload" and spec.headline == "task_success"


def test_pettingzoo_parallel_api():
    parallel_api_test(small_env(), num_cycles=40)


def test_pettingzoo_seed_test():
    parallel_seed_test(small_env)


def test_spaces_and_agent_infos():
    env = small_env(n_servers=3, n_channels=2)
    assert env.possible_agents == [f"user_{i}" for i in range(4)]
    space = env.action_space("user_0")
    assert space.nvec.tolist() == [4, 2, 4]
    obs, infos = env.reset(seed=1)
    assert obs["user_3"].shape == (10 + 2 + 6,) and obs["user_3"].dtype == np.float32
    assert env.state().shape == env.state_space.shape == (4 * 18 + 3,)
    _, rew, _term, _trunc, infos = env.step({a: space.sample() for a in env.agents})
    assert set(infos) == set(env.possible_agents)
    info = infos["user_0"]
    assert {k: type(v) for k, v in info.items()} == {
        "created": int, "done": int, "late": int, "waiting": int, "bits_done": float,
        "energy_cpu": float, "energy_radio": float, "offloaded": int, "uplink_bits": float,
        "target": int, "channel": int, "cpu_level": int}
    assert all(isinstance(r, float) for r in rew.values())


def test_vec_env_info_keys_dtypes_and_shapes():
    spec = scenarios.get("edge-offload")
    vec = make_vec_env("edge-offload", 3, n_users=5, n_servers=2, n_channels=3, episode_steps=4)
    obs, info = vec.reset(seed=0)
    assert obs.shape == (3, 5, 10 + 3 + 4)
    shapes = {"created": (3, 5, 3), "latency_hist": (3, 3, 60), "bits_done": (3, 5),
              "channel_busy": (3, 3), "server_backlog_s": (3, 2), "cpu_level": (3, 5)}
    for _ in range(4):
        assert tuple(info) == spec.info_keys == tuple(INFO_DTYPES)
        assert {k: v.dtype for k, v in info.items()} == dict(INFO_DTYPES)
        for k, shape in shapes.items():
            assert info[k].shape == shape
        obs, rew, term, trunc, info = vec.step(np.zeros((3, 5, 3), int))
        assert rew.shape == (3, 5) and rew.dtype == np.float64
    assert trunc.all() and not term.any()
    assert vec.state().shape == (3, 5 * 17 + 2)
    assert set(NS3_INFO_DTYPES) == {"mac_retries", "packets_lost", "air_bytes"}


def test_learner_hints_bring_observations_to_about_pm2():
    spec = scenarios.get("edge-offload")
    cfg = spec.make_config()
    hints = spec.learner_hints(cfg)
    assert hints.decision_period == 1
    assert np.shape(hints.obs_shift) == np.shape(hints.obs_scale) == (cfg.obs_width,)
    vec = make_vec_env("edge-offload", 4, episode_steps=100)
    obs, _ = vec.reset(seed=3)
    rng = np.random.default_rng(0)
    xs = []
    for _ in range(100):
        obs, *_ = vec.step(rng.integers(0, [3, 4, 4], size=(4, 20, 3)))
        xs.append((obs - hints.obs_shift) / hints.obs_scale)
    x = np.concatenate(xs).reshape(-1, cfg.obs_width)
    lo, hi = np.percentile(x, [1, 99], axis=0)
    assert (lo >= -2.5).all() and (hi <= 2.5).all(), (lo, hi)
    assert isinstance(hints.as_overrides()["obs_shift"], list)


def test_ns3_step_data_has_the_twin_step_data_attributes():
    spec = scenarios.get("edge-offload")
    cfg = spec.make_config(n_users=3, n_servers=2, n_channels=2)
    dims = contract.ns3_dims(cfg)
    assert dims == {"U": 3, "E": 2, "K": 2, "W": cfg.obs_width, "F": 4, "C": 3, "H": 60}
    B = 2
    arrays = {}
    for name, (symbols, dtype) in contract.SHAPES.items():
        n = int(np.prod([dims[s] if isinstance(s, str) else s for s in symbols]))
        arrays[name] = np.arange(B * n).reshape(B, n).astype(np.float32)
    arrays["metrics"] = np.zeros((B, 2))
    data = spec.ns3_step_data(cfg, arrays, B, {"metrics": ["sim_time_s", "wall_seconds"]})
    twin = spec.make_twin(cfg, B)
    twin.reset(seed=0)
    twin.step(np.zeros((B, 3, 3), int))
    for key in INFO_DTYPES:
        got = getattr(data, key)
        assert got.shape == getattr(twin.last, key).shape, key
        assert got.dtype == INFO_DTYPES[key], key
    assert data.positions.shape == (B, 3, 2) and data.snr_db.shape == (B, 3, 2)
    assert data.metric("wall_seconds").shape == (B,)
    with pytest.raises(KeyError, match="sim_time_s"):
        data.metric("nope")


def test_reward_matches_the_model_formula_from_the_info_arrays():
    params = {"n_users": 6, "episode_steps": 40, "w_fairness": 0.5}
    vec = make_vec_env("edge-offload", 2, **params)
    cfg = vec.cfg
    vec.reset(seed=5)
    rng = np.random.default_rng(2)
    dl = np.array([cfg.urllc_deadline_s, cfg.embb_deadline_s, cfg.mmtc_deadline_s])
    done_run = np.zeros((2, 6))
    late_run = np.zeros((2, 6))
    for _ in range(40):
        _, rew, _, _, info = vec.step(rng.integers(0, [3, 4, 4], size=(2, 6, 3)))
        n_done, n_late = info["done"].sum(-1), info["late"].sum(-1)
        done_run += n_done
        late_run += n_late
        fin = done_run + late_run
        ratio = np.where(fin > 0, done_run / np.maximum(fin, 1), 1.0)
        jain = ratio.sum(-1) ** 2 / (6 * (ratio**2).sum(-1))
        # sum over done tasks of latency / deadline_c = sum_c latency_sum_c / deadline_c
        expect = (cfg.w_success * (n_done - n_late)
                  - cfg.w_latency * (info["latency_sum"] / dl).sum(-1)
                  - cfg.w_energy * (info["energy_cpu"] + info["energy_radio"])
                  + cfg.w_spectral * info["uplink_bits"] / (20e6 * cfg.interval_s)
                  - cfg.w_fairness * (1 - jain)[:, None])
        np.testing.assert_allclose(rew, expect, rtol=1e-12, atol=1e-12)
