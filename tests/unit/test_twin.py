"""The inx-factory twin: vectorised physics against naive per-link formulas, statistics of the
channel processes, switching delay, observations, truncated-fading approximation."""

import numpy as np
import pytest
from scipy.special import ndtr

from pybridge import ConfigError, make_config
from pybridge.channel import inf
from pybridge.scenarios.inx_factory.twin import InxFactoryTwin


def twin(n_envs=1, **params):
    return InxFactoryTwin(make_config("inx-factory", **params), n_envs=n_envs)


def naive_sinr(core, b):
    """SINR on the channel in use for every device of copy b, with explicit loops."""
    cfg = core.cfg
    out = np.zeros(core.D)
    ptx = inf.dbm_to_w(cfg.tx_power_dbm)
    noise = inf.noise_power_w(cfg.channel_bandwidth_hz, cfg.noise_figure_db)
    for d in range(core.D):
        n = d // cfg.n_devices
        pl = core.pathloss_db[b, d] + core.shadowing_db[b, d]
        h2 = core.h[0, b, d].astype(float) ** 2 + core.h[1, b, d].astype(float) ** 2
        sig = ptx * 10 ** (-pl[n] / 10) * h2[n]
        interf = 0.0
        for i in range(core.N):
            if i != n and core.channel[b, i] == core.channel[b, n]:
                interf += ptx * 10 ** (-pl[i] / 10) * h2[i]
        out[d] = sig / (interf + noise)
    return out


def test_vectorised_sinr_matches_naive_loops():
    core = twin(n_envs=2, n_subnetworks=7, n_devices=3, n_channels=2)
    core.reset(seed=5)
    rng = np.random.default_rng(0)
    for _ in range(25):
        core.step(rng.integers(0, 2, size=(2, 7)))
    for b in range(2):
        # float32 pipeline: 7 significant digits
        np.testing.assert_allclose(core.last.sinr[b].ravel(), naive_sinr(core, b), rtol=2e-5)
    sinr = core.last.sinr.astype(float)
    fbl = inf.fbl_se(sinr, 256, 1e-5)
    np.testing.assert_allclose(core.last.rate_fbl, fbl, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(core.last.rate_shannon, np.log2(1 + sinr), rtol=1e-5)
    expected_reward = inf.reward_eq13(fbl, 11.0, 1.0, 1.0)
    np.testing.assert_allclose(core.last.reward, expected_reward, rtol=1e-5, atol=1e-4)


def test_default_link_budget_matches_hand_numbers():
    core = twin()
    core.reset(seed=0)
    # own link: devices within 1 m -> d_3D clamped to 1 m; LOS -> 46.62 dB path loss
    own = core.pathloss_db[0, np.arange(core.D), core.owner]
    assert np.all(own <= inf.pathloss_nlos(1.0, 6.0, "SL") + 1e-9)
    assert np.all(own >= 46.62)
    assert core.noise_w == pytest.approx(10 ** -12.4, rel=1e-6)  # ~4e-13 W: abs tol is 1e-12
    assert core.rho == pytest.approx(0.2898, abs=1e-3)


def collect_links(n_resets=30, steps=0, **params):
    core = twin(n_envs=4, **params)
    los, sh, d2d = [], [], []
    for s in range(n_resets):
        core.reset(seed=s)
        los.append(core.los.ravel())
        sh.append(core.shadowing_db.ravel())
        d2d.append(core.d2d.ravel())
    return np.concatenate(los), np.concatenate(sh), np.concatenate(d2d)


@pytest.mark.parametrize("clutter, nlos_std", [("sparse", 5.7), ("dense", 7.2)])
def test_shadowing_std_per_los_state(clutter, nlos_std):
    los, sh, _ = collect_links(clutter=clutter)
    assert sh[los].std() == pytest.approx(4.3, rel=0.05)
    assert sh[~los].std() == pytest.approx(nlos_std, rel=0.05)
    # links of one realisation share 2N end points: the mean has ~0.15 dB standard error
    assert abs(sh.mean()) < 0.6


@pytest.mark.parametrize("clutter", ["sparse", "dense"])
def test_los_frequency_follows_table_7_4_2_1(clutter):
    los, _, d2d = collect_links(clutter=clutter)
    cfg = make_config("inx-factory", clutter=clutter)
    p = InxFactoryTwin(cfg).los_params
    for lo, hi in ((2, 5), (5, 15), (15, 40), (40, 80)):
        sel = (d2d >= lo) & (d2d < hi)
        if sel.sum() < 2000:
            continue
        expected = inf.los_probability(d2d[sel], p).mean()
        assert los[sel].mean() == pytest.approx(expected, abs=0.04), (lo, hi)


def test_los_state_is_spatially_consistent():
    """Refreshes 15 cm apart flip far fewer links than an independent redraw would."""
    core = twin(n_envs=4)
    core.reset(seed=3)
    prev, flips, iid_flips = core.los.copy(), 0.0, 0.0
    for _ in range(10):
        for _ in range(core.cfg.large_scale_update_steps):
            core.step(core.channel)
        p = inf.los_probability(core.d2d, core.los_params)
        flips += (core.los != prev).mean()
        iid_flips += (2 * p * (1 - p)).mean()  # flip rate of an i.i.d. draw per refresh
        prev = core.los.copy()
    assert flips < 0.25 * iid_flips, (flips / 10, iid_flips / 10)


def test_fading_autocorrelation_and_power():
    core = twin(n_envs=8)
    core.reset(seed=1)
    hs = []
    for _ in range(150):
        core.step(core.channel)
        own = core.h[:, :, np.arange(core.D), core.owner].astype(float)  # [2, B, D]
        hs.append(own[0] + 1j * own[1])
    h = np.stack(hs)  # [T, B, D]
    power = np.abs(h) ** 2
    assert power.mean() == pytest.approx(1.0, abs=0.05)
    assert np.mean(power < 0.1) == pytest.approx(1 - np.exp(-0.1), abs=0.015)  # Rayleigh
    lag1 = np.mean(h[1:] * np.conj(h[:-1])).real
    assert lag1 == pytest.approx(0.2898, abs=0.03)
    lag2 = np.mean(h[2:] * np.conj(h[:-2])).real
    assert lag2 == pytest.approx(0.2898**2, abs=0.03)


def test_switching_delay_is_uniform_1_to_tau_max():
    """A request issued in step 1 with delay d is in use from step 1 + d on."""
    core = twin(n_envs=50, tau_max=4, n_channels=2)
    core.reset(seed=2)
    target = 1 - core.channel
    delays = np.full(core.channel.shape, -1)
    for t in range(1, 8):
        core.step(target)
        newly = (core.last.channel == target) & (delays < 0)
        delays[newly] = t - 1
    assert delays.min() == 1 and delays.max() == 4
    counts = np.bincount(delays.ravel(), minlength=5)[1:]
    assert counts.min() > 0.18 * delays.size  # uniform: 25 % each


def test_requests_while_switching_are_ignored():
    core = twin(n_envs=20, tau_max=10, n_channels=3)
    core.reset(seed=4)
    start = core.channel.copy()
    first, second = (start + 1) % 3, (start + 2) % 3
    core.step(first)
    assert np.all(core.pending == first)
    core.step(second)
    landed = core.channel == first
    assert 0 < landed.sum() < landed.size  # delay 1 lands now, the others are still pending
    assert np.all(core.pending[~landed] == first[~landed])  # the `second` request was ignored
    assert np.all(core.pending[landed] == second[landed])  # after landing, a new one starts


@pytest.mark.parametrize("how", ["full", "min", "mean", "max", "median"])
def test_observation_reductions(how):
    core = twin(n_subnetworks=6, n_devices=3, n_channels=4, obs_reduce=how)
    obs = core.reset(seed=0)
    per_dev = core.sinr_db()[0]  # [N, M, K]
    if how == "full":
        assert obs.shape == (1, 6, 12)
        np.testing.assert_allclose(obs[0].reshape(6, 4, 3), np.swapaxes(per_dev, 1, 2),
                                   rtol=1e-5)
    else:
        assert obs.shape == (1, 6, 4)
        np.testing.assert_allclose(obs[0], getattr(np, how)(per_dev, axis=1), rtol=1e-5)


def test_interference_observation_is_dbm():
    core = twin(obs_quantity="interference")
    obs = core.reset(seed=0)
    assert np.all(obs >= -94.0 - 1e-3)  # never below the noise floor


def test_truncated_fading_keeps_mean_interference():
    """Faded subset vs all faded: same mean interference power, close SINR distribution."""
    res = {}
    for faded in (39, 6):
        core = twin(n_envs=6, n_subnetworks=40, max_faded_interferers=faded)
        assert core.exact == (faded == 39)
        core.reset(seed=11)
        interf, sinr = [], []
        for _ in range(200):
            core.step(core.channel)
            interf.append(core.interference_per_channel.copy())
            sinr.append(10 * np.log10(core.last.sinr))
        res[faded] = (np.mean(interf), np.median(sinr), np.percentile(sinr, 5))
    assert res[6][0] == pytest.approx(res[39][0], rel=0.05)
    assert res[6][1] == pytest.approx(res[39][1], abs=0.3)
    assert res[6][2] == pytest.approx(res[39][2], abs=1.0)


def test_same_seed_same_episode_and_batched_independence():
    a, b = twin(n_envs=3), twin(n_envs=3)
    oa, ob = a.reset(seed=9), b.reset(seed=9)
    np.testing.assert_array_equal(oa, ob)
    for _ in range(30):
        act = (a.channel + 1) % 4
        np.testing.assert_array_equal(a.step(act)[0], b.step(act)[0])
    assert not np.allclose(oa[0], oa[1])  # copies are independent


def test_step_validation():
    core = twin()
    with pytest.raises(RuntimeError, match="reset"):
        core.step(np.zeros((1, 20), dtype=int))
    core.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        core.step(np.zeros((1, 19), dtype=int))
    with pytest.raises(ValueError, match="channel indices"):
        core.step(np.full((1, 20), 4))
    for _ in range(200):
        core.step(core.channel)
    with pytest.raises(RuntimeError, match="episode is over"):
        core.step(core.channel)


@pytest.mark.parametrize("params, match", [
    ({"n_subnetwork": 5}, "unknown parameter"),
    ({"n_channels": 0}, "out of range"),
    ({"clutter": "medium"}, "must be one of"),
    ({"speed": "fast"}, "must be a number"),
    ({"n_devices": 2.5}, "integer"),
    ({"clutter": "sparse-high", "ap_height": 1.5}, "ap_height > clutter_height"),
    ({"error_prob": 0.0}, "out of range"),
])
def test_config_errors(params, match):
    with pytest.raises(ConfigError, match=match):
        make_config("inx-factory", **params)


def test_config_strings_are_coerced_and_defaults_resolved():
    cfg = make_config("inx-factory", n_subnetworks="50", clutter="dense", speed="2.5")
    assert cfg.n_subnetworks == 50 and cfg.speed == 2.5
    assert cfg.resolved_clutter_size == 2.0 and cfg.resolved_los_corr_distance == 1.0
    assert cfg.resolved_hall_tiles == 1
    assert make_config("inx-factory", n_subnetworks=1000).resolved_hall_tiles == 4
    assert make_config("inx-factory", clutter="dense-high").resolved_ap_height == 8.0


def test_los_threshold_table_matches_exact_comparison():
    core = twin(n_envs=8, clutter="dense")
    core.reset(seed=1)
    z = core.los_field.link_values(core.los_field(core.positions()[1]),
                                   core.los_field(core.positions()[0]), core.d2d)
    exact = ndtr(z.astype(float)) < inf.los_probability(core.d2d.astype(float), core.los_params)
    assert np.mean(core.los != exact) < 1e-3
    assert np.array_equal(core.los, z < core._los_threshold(core.d2d))


def test_los_uniform_transform_is_calibrated():
    # the link LOS draw compares Phi(z) with P_LOS: Phi(z) must be uniform
    core = twin(n_envs=200)
    core.reset(seed=0)
    z = core.los_field.link_values(core.los_field(core.positions()[1]),
                                   core.los_field(core.positions()[0]), core.d2d)
    u = ndtr(z).ravel()
    hist = np.histogram(u, bins=5, range=(0, 1))[0] / u.size
    assert np.all(np.abs(hist - 0.2) < 0.02)


def test_truncated_mode_fading_statistics_and_incremental_remainder():
    core = twin(n_envs=4, n_subnetworks=30, max_faded_interferers=5)
    assert not core.exact
    core.reset(seed=8)
    rng = np.random.default_rng(0)
    own = []
    for _ in range(120):
        core.step(rng.integers(0, 4, size=(4, 30)))
        own.append(core.h_faded[0, :, :, 0] + 1j * core.h_faded[1, :, :, 0])
        # the incrementally updated mean-power remainder equals a fresh product
        onehot = (core.channel[:, :, None] == np.arange(4)).astype(np.float32)
        # atol: summation-order noise, 1e-4 of the 4e-13 W noise floor
        np.testing.assert_allclose(core._rest, np.matmul(core._rx_rest_t.transpose(0, 2, 1),
                                                         onehot), rtol=1e-4, atol=4e-17)
    h = np.stack(own).astype(np.complex128)
    assert np.mean(np.abs(h) ** 2) == pytest.approx(1.0, abs=0.06)
    assert np.mean(h[1:] * np.conj(h[:-1])).real == pytest.approx(0.2898, abs=0.04)
