"""Channel formulas against hand-computed values, and the random fields' statistics.

Hand values: log10(6) = 0.7781512504, so at 6 GHz 19 log10(fc) = 14.784874 and
20 log10(fc) = 15.563025. InF LOS probabilities reduce to P_LOS = (1 - r)^(d / d_clutter) for
SL/DL, which makes them easy to check by hand.
"""

import numpy as np
import pytest

from pybridge.channel import inf
from pybridge.channel.fields import ExponentialField

FC = 6.0


@pytest.mark.parametrize("d, expected", [
    (1.0, 31.84 + 14.784874),
    (10.0, 31.84 + 21.5 + 14.784874),
    (100.0, 31.84 + 43.0 + 14.784874),
    (0.3, 31.84 + 14.784874),  # clamped to the 1 m validity limit
])
def test_los_pathloss(d, expected):
    assert inf.pathloss_los(d, FC) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("scenario, d, expected", [
    ("SL", 10.0, 33 + 25.5 + 15.563025),          # 74.063; above LOS (68.125)
    ("SL", 1.0, 33 + 15.563025),                  # 48.563 > LOS 46.625
    ("DL", 10.0, 33 + 25.5 + 15.563025),          # DL raw 69.86 < SL: the max() picks SL
    ("DL", 100.0, 18.6 + 71.4 + 15.563025),       # DL raw 105.563 > SL 99.563
    ("DL", 1.0, 33 + 15.563025),                  # DL raw 34.16, LOS 46.62, SL 48.56
    ("SH", 10.0, 32.4 + 23.0 + 15.563025),        # 70.963 > LOS
    ("DH", 10.0, 33.63 + 21.9 + 15.563025),       # 71.093
    ("DH", 1.0, 33.63 + 15.563025),               # 49.193 > LOS 46.625
    ("HH", 10.0, 31.84 + 21.5 + 14.784874),       # HH is always LOS
])
def test_nlos_pathloss_with_max_rules(scenario, d, expected):
    assert inf.pathloss_nlos(d, FC, scenario) == pytest.approx(expected, abs=1e-5)


def test_dl_sl_crossover_is_at_25_8_m():
    # 18.6 + 35.7 x = 33 + 25.5 x  ->  x = 14.4 / 10.2, d = 10^x = 25.8 m
    d = 10 ** (14.4 / 10.2)
    below = inf.pathloss_nlos(d * 0.99, FC, "DL") - inf.pathloss_nlos(d * 0.99, FC, "SL")
    above = inf.pathloss_nlos(d * 1.01, FC, "DL") - inf.pathloss_nlos(d * 1.01, FC, "SL")
    assert below == pytest.approx(0.0, abs=1e-12) and above > 0.0


def _los(scen, r, dc, hc, hbs=1.5, hut=1.5):
    return inf.LosParams(scen, r, dc, hc, hbs, hut)


@pytest.mark.parametrize("params, d, expected", [
    (_los("SL", 0.2, 10.0, 2.0), 10.0, 0.8),
    (_los("SL", 0.2, 10.0, 2.0), 20.0, 0.64),
    (_los("SL", 0.2, 10.0, 2.0), 0.0, 1.0),
    (_los("DL", 0.6, 2.0, 6.0), 2.0, 0.4),
    (_los("DL", 0.6, 2.0, 6.0), 4.0, 0.16),
    # SH: k scaled by (h_BS - h_UT)/(h_c - h_UT) = 6.5/0.5 = 13 -> P = 0.8^(d / 130)
    (_los("SH", 0.2, 10.0, 2.0, hbs=8.0), 130.0, 0.8),
    # DH: scale 6.5/4.5 -> P = 0.4^(d / (2 * 6.5 / 4.5))
    (_los("DH", 0.6, 2.0, 6.0, hbs=8.0), 2.0 * 6.5 / 4.5, 0.4),
    (_los("HH", 0.6, 2.0, 6.0, hbs=8.0), 50.0, 1.0),
])
def test_los_probability(params, d, expected):
    assert inf.los_probability(d, params) == pytest.approx(expected, rel=1e-9)


def test_shadow_std_per_state():
    assert inf.shadow_std_db("SL", np.array([True, False])).tolist() == [4.3, 5.7]
    assert inf.shadow_std_db("DL", False) == 7.2
    assert inf.shadow_std_db("SH", False) == 5.9
    assert inf.shadow_std_db("DH", False) == 4.0


def test_noise_power():
    # -174 dBm/Hz + 10 dB + 10 log10(1e7) = -94 dBm = 10^-12.4 W
    assert inf.noise_power_w(10e6, 10.0) == pytest.approx(10 ** -12.4, rel=1e-12)


def test_fading_rho_is_j0_of_doppler():
    # f_D = 3 * 6e9 / c = 60.04 Hz; x = 2 pi f_D 5 ms = 1.88616; series of J0(x) -> 0.28983
    assert inf.fading_rho(3.0, 6e9, 0.005) == pytest.approx(0.28983, abs=2e-4)
    assert inf.fading_rho(0.0, 6e9, 0.005) == 1.0


def test_rates_hand_values():
    # SINR 1000: log2(1001) = 9.967226; penalty sqrt(V/256) * 4.264891 * 1.442695 = 0.384557
    assert inf.shannon_se(1000.0) == pytest.approx(9.967226, abs=1e-6)
    assert inf.fbl_se(1000.0, 256, 1e-5) == pytest.approx(9.967226 - 0.384557, abs=2e-6)
    assert inf.qinv(1e-5) == pytest.approx(4.264891, abs=1e-6)
    # low SINR: the normal approximation goes negative and is clamped at 0
    assert inf.fbl_se(0.01, 256, 1e-5) == 0.0
    # the FBL rate approaches Shannon as the blocklength grows
    assert inf.fbl_se(10.0, 1e9, 1e-5) == pytest.approx(np.log2(11.0), abs=1e-3)


def test_reward_penalises_only_below_rmin():
    rates = np.array([[12.0, 10.0], [11.0, 11.5]])
    r = inf.reward_eq13(rates, r_min=11.0, lambda_rate=1.0, lambda_penalty=2.0)
    assert r.tolist() == pytest.approx([22.0 - 2.0, 22.5])


def test_field_has_unit_variance_and_exponential_correlation():
    rng = np.random.default_rng(1)
    dc = 10.0
    f = ExponentialField(400, dc, rng)
    base = rng.uniform(0, 180, size=(400, 150, 2))
    s0 = f(base)
    assert s0.mean() == pytest.approx(0.0, abs=0.03)
    assert s0.std() == pytest.approx(1.0, abs=0.03)
    for lag in (2.0, 5.0, 10.0, 20.0):
        ang = rng.uniform(0, 2 * np.pi, size=(400, 150))
        other = base + lag * np.stack([np.cos(ang), np.sin(ang)], axis=-1)
        corr = np.mean(s0 * f(other))
        assert corr == pytest.approx(np.exp(-lag / dc), abs=0.03), lag


def test_field_marginal_is_gaussian():
    rng = np.random.default_rng(2)
    s = ExponentialField(300, 10.0, rng)(rng.uniform(0, 500, size=(300, 300, 2))).ravel()
    kurt = np.mean(s**4) / np.mean(s**2) ** 2
    assert kurt == pytest.approx(3.0, abs=0.1)
    assert np.mean(np.abs(s) < 1.0) == pytest.approx(0.6827, abs=0.01)


def test_link_values_have_unit_variance_at_every_length():
    rng = np.random.default_rng(3)
    f = ExponentialField(300, 10.0, rng)
    for dist in (0.5, 5.0, 50.0):
        a = rng.uniform(0, 200, size=(300, 100, 2))
        ang = rng.uniform(0, 2 * np.pi, size=(300, 100))
        b = a + dist * np.stack([np.cos(ang), np.sin(ang)], axis=-1)
        z = (f(a) + f(b)) / np.sqrt(2 * (1 + np.exp(-dist / 10.0)))
        assert z.std() == pytest.approx(1.0, abs=0.04), dist


@pytest.mark.parametrize("scenario", ["SL", "DL", "SH", "DH", "HH"])
def test_fast_pathloss_equals_reference_formulas(scenario):
    d = np.geomspace(0.5, 700, 200)
    los = np.random.default_rng(0).uniform(size=d.size) < 0.5
    ref = np.where(los, inf.pathloss_los(d, FC), inf.pathloss_nlos(d, FC, scenario))
    np.testing.assert_allclose(inf.pathloss_db(d, FC, scenario, los), ref, rtol=1e-12)
    np.testing.assert_allclose(inf.pathloss_db(d.astype(np.float32), FC, scenario, los), ref,
                               rtol=1e-6)
