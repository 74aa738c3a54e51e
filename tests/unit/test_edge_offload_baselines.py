"""edge-offload baselines: each runs on the twin with in-range actions, DVFS picks the lowest
feasible level, greedy reads only the agent's own observation, and the orderings measured at the
defaults hold (checked over seeds 0..3 with 3 x 100-step episodes before being asserted here:
central - greedy >= 0.04, greedy - random >= 0.09 task success, offload-nearest device energy
<= 0.55 x local-max's, dvfs CPU energy ~5 % below local-max's at the same success)."""

import numpy as np
import pytest
from gymnasium import spaces

from agents.baselines import load, make
from agents.baselines.edge_offload import DvfsLocal, dvfs_level
from fedmarl.evaluate import evaluate_policy
from pybridge import make_config, make_vec_env
from pybridge.scenarios.edge_offload.twin import estimated_completion

MODULE = "agents.baselines.edge_offload"
NAMES = ["local-max", "dvfs", "offload-nearest", "random", "greedy", "central"]


def test_the_table_has_every_baseline():
    assert list(load(MODULE)) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_baseline_runs_on_the_twin_with_in_range_actions(name):
    vec = make_vec_env("edge-offload", 2, n_users=6, n_servers=3, n_channels=2, episode_steps=25)
    space = vec.single_action_space
    policy = make(MODULE, name)
    vec.reset(seed=1)
    policy.reset(2, 6, space, np.random.default_rng(0))
    for _ in range(25):
        a = np.asarray(policy.act(vec.core))
        assert a.shape == (2, 6, 3) and a.dtype.kind == "i"
        assert (a >= 0).all() and (a < space.nvec).all()
        vec.step(a)


class FakeView:
    def __init__(self, obs, cfg):
        self._obs, self.cfg = obs, cfg

    def observation(self):
        return self._obs


def test_dvfs_picks_the_lowest_level_meeting_the_head_tasks_deadline():
    cfg = make_config("edge-offload", n_channels=4)  # levels 0.3, 0.6, 1.0, 1.5 GHz
    K = 4
    obs = np.zeros((1, 4, cfg.obs_width), np.float32)
    obs[0, :, 1] = [0.9, 0.9, 0.9, 0.0]  # local Gcycles: 3 s, 1.5 s, 0.9 s, 0.6 s per level
    obs[0, :, 9 + K] = [1.0, 2.0, 0.5, 0.01]  # slack, s
    policy = DvfsLocal()
    policy.reset(1, 4, spaces.MultiDiscrete([3, 4, 4]), np.random.default_rng(0))
    a = policy.act(FakeView(obs, cfg))
    # 0.9 <= 1.0 at 1.0 GHz (level 2); 1.5 <= 2 at 0.6 GHz (1); none meets 0.5 s: the highest
    # (3); empty queue: the lowest (0). Everything local.
    assert a[0, :, 2].tolist() == [2, 1, 3, 0]
    assert a[0, :, 0].tolist() == [0, 0, 0, 0]
    assert dvfs_level(obs, cfg.cpu_levels_hz, K).tolist() == [[2, 1, 3, 0]]
    # boundary: exactly feasible counts (0.9e9 cycles / 0.3e9 Hz = 3 s)
    obs[0, 0, 9 + K] = 3.0
    assert dvfs_level(obs, cfg.cpu_levels_hz, K)[0, 0] == 0


def test_estimated_completion_from_the_observation_alone():
    cfg = make_config("edge-offload", n_servers=2, n_channels=2)
    K, E = 2, 2
    obs = np.zeros((1, 1, cfg.obs_width), np.float32)
    obs[0, 0, 1] = 0.5  # local Gcycles
    obs[0, 0, 6:6 + K] = [0.0, 0.5]  # busy
    obs[0, 0, 6 + K + 1] = 1.0  # head-of-line class eMBB
    obs[0, 0, 10 + K:10 + K + E] = [0.1, 0.0]  # broadcast load, s
    obs[0, 0, 10 + K + E:] = [40.0, -10.0]  # SNR: MCS 11 to AP 0, below MCS 0 to AP 1
    est = estimated_completion(obs, cfg)
    assert est.shape == (1, 1, 1 + E, K, 4)
    cycles = 2e6 * 737.5
    np.testing.assert_allclose(est[0, 0, 0, 0], (0.5e9 + cycles) / cfg.cpu_levels_hz)
    rate = 1950 / 13.6e-6 * 0.8
    res = 57.6e-6 + 43e-6 + 7.5 * 9e-6
    assert est[0, 0, 1, 0, 0] == pytest.approx(2e6 / rate + 0.1 + cycles / 20e9 + res)
    assert est[0, 0, 1, 1, 0] == pytest.approx(2e6 / (rate * 0.5) + 0.1 + cycles / 20e9 + res)
    assert np.isinf(est[0, 0, 2]).all()


def test_greedy_and_dvfs_use_only_the_observation():
    """Two cores with the same observation array get the same greedy/dvfs choice whatever
    else differs (the fake view has nothing but the observation and the config)."""
    vec = make_vec_env("edge-offload", 1, n_users=5, episode_steps=10)
    obs, _ = vec.reset(seed=0)

    class ObsOnly(FakeView):
        def estimated_completion(self):
            return estimated_completion(self._obs, self.cfg)

    for name in ("greedy", "dvfs", "local-max"):
        p1, p2 = make(MODULE, name), make(MODULE, name)
        p1.reset(1, 5, vec.single_action_space, np.random.default_rng(3))
        p2.reset(1, 5, vec.single_action_space, np.random.default_rng(3))
        np.testing.assert_array_equal(p1.act(vec.core), p2.act(ObsOnly(obs, vec.cfg)))


@pytest.fixture(scope="module")
def results():
    out = {}
    for seed in (0, 1):
        out[seed] = {p: evaluate_policy("edge-offload", make(MODULE, p), 3, seed=seed,
                                        episode_steps=100) for p in NAMES}
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_baselines_order_sensibly_at_the_defaults(results, seed):
    r = results[seed]
    succ = {p: r[p]["task_success"] for p in NAMES}
    assert succ["central"] >= succ["greedy"] + 0.02, succ
    assert succ["greedy"] >= succ["random"] + 0.04, succ
    assert r["dvfs"]["energy_cpu_j"] < r["local-max"]["energy_cpu_j"]
    assert succ["dvfs"] >= succ["local-max"] - 0.01
    assert r["local-max"]["energy_radio_j"] == 0.0 and r["local-max"]["offload_fraction"] == 0
    assert r["offload-nearest"]["offload_fraction"] == 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_offloading_wins_energy_at_light_load_and_local_wins_under_uplink_congestion(seed):
    """Light load (4 users on 4 channels): offloading delivers several times the bits per
    joule of local execution at f_max (an eMBB task costs ~0.33 J of CPU locally, ~0.03 J of
    radio uplink). One channel for 40 users: the uplink saturates, offloading fails most tasks
    and every radio overhears the whole busy channel, so local execution wins both."""
    def run(p, **kw):
        return evaluate_policy("edge-offload", make(MODULE, p), 3, seed=seed, **kw)

    light = {p: run(p, episode_steps=200, n_users=4, n_channels=4)
             for p in ("local-max", "offload-nearest")}
    assert (light["offload-nearest"]["energy_eff_bits_per_j"]
            > 3 * light["local-max"]["energy_eff_bits_per_j"]), light
    busy = {p: run(p, episode_steps=100, n_users=40, n_channels=1)
            for p in ("local-max", "offload-nearest")}
    assert busy["local-max"]["task_success"] > busy["offload-nearest"]["task_success"] + 0.3
    device = {p: busy[p]["energy_cpu_j"] + busy[p]["energy_radio_j"] for p in busy}
    assert device["local-max"] < device["offload-nearest"], device
