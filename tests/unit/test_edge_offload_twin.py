"""edge-offload twin: hand-computed single tasks, deadline accounting, rejection, conservation,
determinism, bad input (docs/scenarios/edge-offload-model.md sections 1-6).

Hooks used (documented in pybridge/scenarios/edge_offload/twin.py): `set_arrivals(new, time,
cls)` replaces the interval's drawn arrivals; `fixed_gain` [B, U, E] replaces the InF link gains
(and sets |h|^2 = 1) so the SNR and hence the MCS are known.
"""

import math

import numpy as np
import pytest

from pybridge import ConfigError, make_config
from pybridge.scenarios.edge_offload import twin as tw
from pybridge.scenarios.edge_offload.config import EdgeOffloadConfig
from pybridge.scenarios.edge_offload.twin import EdgeOffloadTwin

QUIET = {"urllc_rate": 0.0, "embb_rate": 0.0, "mmtc_rate": 0.0}


def one_user(**kw) -> EdgeOffloadTwin:
    params = dict(n_users=1, n_servers=1, n_channels=1, cycles_per_bit=1000.0, **QUIET)
    params.update(kw)
    return EdgeOffloadTwin(EdgeOffloadConfig.from_params(**params), 1)


def arrive(core, cls: int, time: float) -> None:
    new = np.zeros((1, 1, 3), bool)
    new[0, 0, cls] = True
    times = np.full((1, 1, 3), np.inf)
    times[0, 0, cls] = time
    core.set_arrivals(new, times)


def test_one_task_run_locally():
    core = one_user()
    core.reset(seed=0)
    arrive(core, 0, 0.002)  # URLLC: 1000 bit x 1000 cycles/bit = 1e6 cycles
    core.step(np.array([[[0, 0, 2]]]))  # local, level 2 = 1.0 GHz
    last = core.last
    assert last.created[0, 0].tolist() == [1, 0, 0]
    assert last.done[0, 0].tolist() == [1, 0, 0] and last.late.sum() == 0
    assert last.latency_sum[0, 0, 0] == pytest.approx(1e6 / 1e9, rel=1e-12)  # cycles / f
    assert last.latency_max[0, 0, 0] == pytest.approx(1e-3, rel=1e-12)
    # kappa f^2 cycles + idle power for the rest of the 10 ms interval
    e = 1e-28 * (1e9) ** 2 * 1e6 + 0.01 * (0.01 - 1e-3)
    assert last.energy_cpu[0, 0] == pytest.approx(e, rel=1e-12)
    assert last.energy_radio[0, 0] == 0.0 and last.uplink_bits[0, 0] == 0.0
    assert last.bits_done[0, 0] == 1000.0 and last.offloaded[0, 0] == 0
    # bin floor(60 log10(1e-3 / 1e-5) / 6) = 20
    assert np.flatnonzero(last.latency_hist[0, 0]).tolist() == [20]
    assert last.waiting.sum() == 0


def test_local_task_spanning_two_intervals_keeps_its_work_and_level_change_applies():
    core = one_user()
    core.reset(seed=0)
    arrive(core, 0, 0.005)
    core.step(np.array([[[0, 0, 0]]]))  # 1e6 cycles at 0.3 GHz: 3.333 ms < the 5 ms left
    assert core.last.done.sum() == 1
    assert core.last.latency_sum[0, 0, 0] == pytest.approx(1e6 / 0.3e9, rel=1e-12)
    core.reset(seed=0)
    arrive(core, 1, 0.0)  # eMBB: 2e6 bits x 1000 = 2e9 cycles
    core.step(np.array([[[0, 0, 3]]]))  # 1.5 GHz for the whole 10 ms: 1.5e7 cycles
    assert core.user_tasks()["work"][0, 0, 0] == pytest.approx(2e9 - 1.5e7, rel=1e-12)
    core.step(np.array([[[0, 0, 0]]]))  # 0.3 GHz: 3e6 cycles
    assert core.user_tasks()["work"][0, 0, 0] == pytest.approx(2e9 - 1.8e7, rel=1e-12)
    e = 1e-28 * (0.3e9) ** 2 * 3e6  # busy all interval: no idle power
    assert core.last.energy_cpu[0, 0] == pytest.approx(e, rel=1e-12)


def test_one_task_offloaded_over_a_known_snr():
    core = one_user()
    snr = 1e4  # 40 dB: MCS 11, 1950 data bits per 13.6 us symbol
    core.fixed_gain = np.full((1, 1, 1), snr * core.noise_w / core.tx_power_w)
    core.reset(seed=0)
    arrive(core, 0, 0.002)
    core.step(np.array([[[1, 0, 0]]]))
    last = core.last
    us = 1e-6
    # PPDU: 44 us preamble + ceil((22 + 1000 + 82 * 8) / 1950) = 1 symbol of 13.6 us
    ppdu = 44 * us + 13.6 * us
    ts = ppdu + 16 * us + 32 * us + (16 + 27) * us  # + SIFS + BlockAck + AIFS
    # One TXOP, nobody else on the channel: immediate access (the medium has been idle for
    # AIFS, no backoff pending): AIFS + PPDU + SIFS + BlockAck = T_s.
    access = ts
    server = 1e6 / 20e9
    result = (44 + 13.6) * us + 43 * us + 7.5 * 9 * us  # 800-bit PPDU + AIFS + CWmin/2 slots
    assert last.done[0, 0].tolist() == [1, 0, 0]
    assert last.latency_sum[0, 0, 0] == pytest.approx(access + server + result, rel=1e-9)
    assert last.latency_sum[0, 0, 0] == pytest.approx(366.7e-6, rel=1e-9)
    # The channel busy time and the radio energy still use the fluid share: the bits over
    # s = L / (n E_c), i.e. E_c = 7.5 slots of backoff + T_s for the one TXOP.
    tau = 2 / 17  # Bianchi n = 1
    slot = (1 - tau) * 9 * us + tau * ts
    e_c = slot / tau  # channel time per successful TXOP
    airtime = 1000 / (1000 / e_c)  # L / s, s = L / (n E_c)
    assert last.offloaded[0, 0] == 1 and last.uplink_bits[0, 0] == 1000.0
    # CPU idle all interval; radio: one PPDU sent, then the BlockAck, the channel's other busy
    # time while backlogged and the result received
    assert last.energy_cpu[0, 0] == pytest.approx(0.01 * 0.01, rel=1e-12)
    busy = 1 - (1 - tau) * 9 * us / slot
    # received: the BlockAck, the rest of the channel's busy time (the radio stays on its
    # channel all interval), the result
    t_rx = 32 * us + (busy * airtime - ppdu - 32 * us) + (44 + 13.6) * us
    e_radio = 3.0 * (0.380 * ppdu + 0.313 * t_rx)
    assert last.energy_radio[0, 0] == pytest.approx(e_radio, rel=1e-9)
    assert last.channel_busy[0, 0] == pytest.approx(busy * airtime / 0.01, rel=1e-9)
    assert last.server_backlog_s[0, 0] == 0.0 and last.waiting.sum() == 0


def test_two_contending_users_small_tasks_access_delay():
    """One-TXOP tasks (section 4): a URLLC task of user 1 while user 0 holds an eMBB task
    (saturated: more than one TXOP) on the same channel waits, with the busy fraction of
    Bianchi's n = 1 channel of user 0, for half of user 0's TXOP and CWmin/2 of its slots; two
    small tasks alone are not contenders for each other (first-order: one TXOP each)."""
    params = dict(n_users=2, n_servers=1, n_channels=1, cycles_per_bit=1000.0, **QUIET)
    core = EdgeOffloadTwin(EdgeOffloadConfig.from_params(**params), 1)
    snr = 1e4  # MCS 11 on both links
    core.fixed_gain = np.full((1, 2, 1), snr * core.noise_w / core.tx_power_w)
    us = 1e-6
    ts_small = (44 + 13.6) * us + (16 + 32 + 43) * us  # 1 symbol PPDU + SIFS + BA + AIFS
    server = 1e6 / 20e9
    result = (44 + 13.6) * us + 43 * us + 7.5 * 9 * us
    for big in (False, True):
        core.reset(seed=0)
        new = np.zeros((1, 2, 3), bool)
        times = np.full((1, 2, 3), np.inf)
        new[0, 0, 1 if big else 0] = True
        times[0, 0, 1 if big else 0] = 0.0 if big else 0.002
        new[0, 1, 0] = True
        times[0, 1, 0] = 0.002
        core.set_arrivals(new, times)
        core.step(np.array([[[1, 0, 0], [1, 0, 0]]]))
        lat1 = core.last.latency_sum[0, 1, 0]
        assert core.last.done[0, 1].tolist() == [1, 0, 0]
        if not big:
            lat0 = core.last.latency_sum[0, 0, 0]
            assert lat0 == pytest.approx(ts_small + server + result, rel=1e-9)
            # same last-bit time: user 1's task waits behind user 0's at the server (ties by user)
            assert lat1 == pytest.approx(ts_small + 2 * server + result, rel=1e-9)
            continue
        # user 0's TXOP: 65535 B A-MPDU (MCS 11 carries it in < 5.484 ms)
        bits = 65535 * 8
        n_mpdu = math.ceil(bits / (1460 * 8))
        ppdu0 = 44 * us + math.ceil((22 + bits + 82 * 8 * n_mpdu) / 1950) * 13.6 * us
        ts0 = ppdu0 + (16 + 32 + 43) * us
        tau = 2 / 17  # Bianchi n = 1 (user 0 alone)
        slot0 = (1 - tau) * 9 * us + tau * ts0
        busy0 = 1 - (1 - tau) * 9 * us / slot0
        access = ts_small + busy0 * (0.5 * ts0 + 7.5 * slot0)
        assert lat1 == pytest.approx(access + server + result, rel=1e-9)


def test_below_mcs0_nothing_is_sent_and_the_task_dies_at_its_deadline():
    core = one_user()
    core.fixed_gain = np.full((1, 1, 1), 1e-3 * core.noise_w / core.tx_power_w)  # -30 dB
    core.reset(seed=0)
    arrive(core, 0, 0.002)
    core.step(np.array([[[1, 0, 0]]]))
    assert core.last.uplink_bits[0, 0] == 0.0 and core.last.waiting.sum() == 1
    core.step(np.array([[[1, 0, 0]]]))  # deadline 0.012 falls in interval 1
    assert core.last.late[0, 0].tolist() == [1, 0, 0] and core.last.waiting.sum() == 0


def test_deadline_accounting_at_the_boundary():
    # Completion exactly at the deadline: done ("at or before").
    core = one_user(urllc_deadline_s=1e-3)
    core.reset(seed=0)
    arrive(core, 0, 0.002)
    core.step(np.array([[[0, 0, 2]]]))  # 1e6 cycles at 1 GHz: completes at 0.002 + 1e-3
    assert core.last.done.sum() == 1 and core.last.late.sum() == 0
    # A hair earlier deadline: completed late, counted in this interval, latency not recorded.
    core = one_user(urllc_deadline_s=0.999e-3)
    core.reset(seed=0)
    arrive(core, 0, 0.002)
    core.step(np.array([[[0, 0, 2]]]))
    assert core.last.done.sum() == 0 and core.last.late[0, 0].tolist() == [1, 0, 0]
    assert core.last.latency_sum.sum() == 0 and core.last.latency_hist.sum() == 0
    # Deadline in the next interval, unfinished: waiting after interval 0, late in interval 1.
    core = one_user(embb_deadline_s=0.01)
    core.reset(seed=0)
    arrive(core, 1, 0.002)  # 2e9 cycles, deadline 0.012
    core.step(np.array([[[0, 0, 0]]]))
    assert core.last.late.sum() == 0 and core.last.waiting[0, 0].tolist() == [0, 1, 0]
    core.step(np.array([[[0, 0, 0]]]))
    assert core.last.late[0, 0].tolist() == [0, 1, 0] and core.last.waiting.sum() == 0
    assert core.user_tasks()["stage"].sum() == 0  # removed at the interval's end


def test_arrivals_beyond_max_tasks_are_rejected_and_late_at_once():
    core = one_user(max_tasks=2)
    core.reset(seed=0)
    # class order (URLLC, eMBB, mMTC) at 2, 1, 3 ms: eMBB, URLLC, mMTC in time order
    core.set_arrivals(np.ones((1, 1, 3), bool), np.array([[[0.002, 0.001, 0.003]]]))
    core.step(np.array([[[0, 0, 0]]]))
    last = core.last
    assert last.created[0, 0].tolist() == [1, 1, 1]
    # the third arrival (mMTC) finds two tasks held: rejected = late
    assert last.late[0, 0].tolist() == [0, 0, 1]
    assert (last.done + last.late + last.waiting)[0, 0].tolist() == [1, 1, 1]
    # FIFO: the URLLC task waits behind the eMBB task (2e9 cycles at 0.3 GHz)
    assert last.waiting[0, 0].tolist() == [1, 1, 0]


@pytest.mark.parametrize("params", [{}, {"max_tasks": 3, "n_users": 7, "urllc_rate": 80.0},
                                    {"n_servers": 3, "n_channels": 2, "embb_rate": 5.0}])
def test_task_conservation_over_an_episode_per_user_and_class(params):
    cfg = EdgeOffloadConfig.from_params(episode_steps=120, **params)
    core = EdgeOffloadTwin(cfg, 3)
    core.reset(seed=4)
    rng = np.random.default_rng(0)
    nvec = np.array([1 + cfg.n_servers, cfg.n_channels, cfg.n_cpu_levels])
    created = done = late = 0
    for _ in range(cfg.episode_steps):
        core.step(rng.integers(0, nvec, size=(3, cfg.n_users, 3)))
        last = core.last
        created = created + last.created
        done = done + last.done
        late = late + last.late
        np.testing.assert_array_equal(created, done + late + last.waiting)
        np.testing.assert_array_equal(last.waiting, held_in_tables(core))
    assert created.sum() > 100 and done.sum() > 0 and late.sum() > 0


def held_in_tables(core) -> np.ndarray:
    """Tasks per user and class counted from the task tables themselves, [B, U, 3] (the
    twin's `waiting` is kept by its event counters: this checks them against the tables)."""
    out = np.zeros((core.B, core.U, 3), np.int64)
    ut, sv = core.user_tasks(), core.server_tasks()
    b, u, q = np.nonzero(ut["stage"] > 0)
    np.add.at(out, (b, u, ut["cls"][b, u, q]), 1)
    b, e, q = np.nonzero(sv["occupied"])
    np.add.at(out, (b, sv["user"][b, e, q], sv["cls"][b, e, q]), 1)
    return out


def test_same_seed_same_episode_and_reset_none_continues():
    cfg = make_config("edge-offload", n_users=5, episode_steps=30)

    def run(core, seed):
        obs = [core.reset(seed=seed)]
        rng = np.random.default_rng(1)
        for _ in range(30):
            obs.append(core.step(rng.integers(0, [3, 4, 4], size=(2, 5, 3)))[0])
        return np.stack(obs)

    a, b = EdgeOffloadTwin(cfg, 2), EdgeOffloadTwin(cfg, 2)
    np.testing.assert_array_equal(run(a, 9), run(b, 9))
    first = run(a, None)
    second = run(a, None)
    assert not np.array_equal(first, second)
    # a fresh core's first reset(None) uses cfg.seed
    np.testing.assert_array_equal(run(EdgeOffloadTwin(cfg, 2), None),
                                  run(EdgeOffloadTwin(cfg, 2), None))


def test_observation_layout():
    core = one_user(n_servers=2, n_channels=3)
    core.reset(seed=0)
    arrive(core, 1, 0.004)
    obs, _, _ = core.step(np.array([[[0, 1, 3]]]))  # eMBB locally at 1.5 GHz
    o = obs[0, 0]
    K, E = 3, 2
    assert obs.shape == (1, 1, 10 + K + 2 * E) and obs.dtype == np.float32
    assert o[0] == 1 and o[1] == pytest.approx((2e9 - 1.5e9 * 0.006) / 1e9, rel=1e-6)
    assert o[2] == 0 and o[3] == 0
    assert o[4] == pytest.approx(1e3 * (1e-28 * 1.5e9**2 * 1.5e9 * 0.006 + 0.01 * 0.004),
                                 rel=1e-5)
    assert o[5] == 1.0
    assert o[6 + K:9 + K].tolist() == [0, 1, 0]
    assert o[9 + K] == pytest.approx(0.004 + 1.0 - 0.01, rel=1e-6)  # slack at t = 10 ms
    assert o[10 + K:10 + K + E].tolist() == [0, 0]
    np.testing.assert_allclose(o[10 + K + E:], np.clip(core.snr_db()[0, 0], -50, 100), rtol=1e-6)
    assert core.state().shape == (1, obs.shape[-1] + E)


def test_server_load_broadcast_is_one_interval_late():
    core = one_user(embb_bits=1e4)  # 1e7 cycles at the server: 0.5 ms
    core.fixed_gain = np.full((1, 1, 1), 1e4 * core.noise_w / core.tx_power_w)
    core.reset(seed=0)
    arrive(core, 1, 0.0099)
    core.step(np.array([[[1, 0, 0]]]))
    b0 = core.last.server_backlog_s[0, 0]
    assert core.server_backlog_broadcast()[0, 0] == 0.0  # recorded at the start of interval 0
    core.step(np.array([[[1, 0, 0]]]))
    assert core.server_backlog_broadcast()[0, 0] == pytest.approx(b0)
    assert b0 >= 0.0


def test_bad_actions_name_the_agent_and_component():
    core = one_user(n_users=3, n_servers=2)
    core.reset(seed=0)
    a = np.zeros((1, 3, 3), int)
    a[0, 2, 1] = 5
    with pytest.raises(ConfigError, match=r"user_2.*channel = 5.*\[0, 0\]"):
        core.step(a)
    a[0, 2, 1] = 0
    a[0, 1, 0] = 3
    with pytest.raises(ConfigError, match=r"user_1.*target = 3.*\[0, 2\]"):
        core.step(a)
    with pytest.raises(ConfigError, match="shape"):
        core.step(np.zeros((1, 3), int))


@pytest.mark.parametrize("params, words", [
    ({"n_users": 0}, ["n_users", "[1, 5000]"]),
    ({"channel_bandwidth_hz": 10e6}, ["channel_bandwidth_hz", "[2e+07, 2e+07]"]),
    ({"clutter": "sparse"}, ["clutter", "sparse-high"]),
    ({"kappa": 0.0}, ["kappa", "(0, 1e-20]"]),
    ({"urllc_rate": 120.0}, ["urllc_rate x interval_s", "1.2 > 1"]),
    ({"cpu_levels_ghz": "1.0,0.5"}, ["cpu_levels_ghz", "increasing"]),
    ({"cpu_levels_ghz": "0.3,11"}, ["cpu_levels_ghz", "(0, 10]"]),
    ({"cpu_levels_ghz": "fast"}, ["cpu_levels_ghz"]),
    ({"user_height": 2.5}, ["user_height", "clutter"]),
])
def test_config_errors_name_the_parameter_and_range(params, words):
    with pytest.raises(ConfigError) as err:
        make_config("edge-offload", **params)
    for w in words:
        assert w in str(err.value)


def test_config_derived_values():
    cfg = make_config("edge-offload")
    np.testing.assert_array_equal(cfg.cpu_levels_hz, [0.3e9, 0.6e9, 1.0e9, 1.5e9])
    assert cfg.n_cpu_levels == 4 and cfg.step_duration == 0.01
    assert cfg.obs_width == 10 + 4 + 4
    assert cfg.seed == 0 and cfg.n_users == 20 and cfg.max_tasks == 32


def test_bianchi_fixed_point_n1_n2():
    tau, p = tw.bianchi(3)
    assert tau[1] == pytest.approx(2 / 17, rel=1e-12) and p[1] == 0.0
    # n = 2: p = tau solves tau = 2 / (17 + 16 tau sum_{i<6} (2 tau)^i), solved by hand
    # (Brent's method to 1e-15): 0.104620632281969
    assert tau[2] == pytest.approx(0.104620632281969, rel=1e-9)
    assert p[2] == pytest.approx(0.104620632281969, rel=1e-9)
    t2 = tau[2]
    assert t2 == pytest.approx(2 / (17 + 16 * t2 * sum((2 * t2) ** i for i in range(6))),
                               rel=1e-12)
    assert tau[3] < tau[2] and p[3] > p[2]


def test_mcs_table_and_histogram_bins():
    np.testing.assert_allclose(tw.MCS_RATE_BPS / 1e6, [8.6, 17.2, 25.8, 34.4, 51.6, 68.8, 77.4,
                                                       86.0, 103.2, 114.7, 129.0, 143.4],
                               atol=0.06)
    assert tw.mcs_index(np.array([-5.0, 1.0, 1.5, 40.0])).tolist() == [-1, -1, 0, 11]
    assert tw.hist_bin(np.array([1e-6, 1e-5, 1e-4, 20.0])).tolist() == [0, 0, 10, 59]
    assert tw.hist_edges()[[0, -1]].tolist() == pytest.approx([1e-5, 10.0])
    assert math.isclose(tw.ppdu_s(np.float64(1000), np.float64(1950)), 57.6e-6)


def test_u1000_runs_and_tables_grow():
    cfg = make_config("edge-offload", n_users=1000, episode_steps=5)
    core = EdgeOffloadTwin(cfg, 2)
    core.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs, rew, done = core.step(rng.integers(0, [3, 4, 4], size=(2, 1000, 3)))
    assert obs.shape == (2, 1000, 18) and rew.shape == (2, 1000) and done
    assert np.isfinite(rew).all() and np.isfinite(obs).all()


def test_block_fading_is_unit_power_ar1_with_jakes_rho():
    cfg = make_config("edge-offload", n_users=50, episode_steps=200)
    core = EdgeOffloadTwin(cfg, 20)
    core.reset(seed=3)
    h0 = core.h[0] + 1j * core.h[1]
    powers, corr = [], []
    for _ in range(40):
        core.step(np.zeros((20, 50, 3), int))
        h1 = core.h[0] + 1j * core.h[1]
        powers.append(np.mean(np.abs(h1) ** 2))
        corr.append(np.mean(h1 * np.conj(h0)).real)
        h0 = h1
    # rho = J0(2 pi f_D T), f_D = 1.5 m/s x 6 GHz / c = 30 Hz, T = 10 ms: J0(1.886) = 0.2898 (tables)
    assert core.rho == pytest.approx(0.2898, abs=1e-3)
    assert np.mean(powers) == pytest.approx(1.0, abs=0.02)
    assert np.mean(corr) == pytest.approx(core.rho, abs=0.02)


def _fifo_oracle(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Departures of a work-conserving FIFO single server in max-plus form (the numpy twin's
    former implementation): D_k = S_k + max_{j <= k} (a_j - S_{j-1}), S the running sum of x."""
    S = np.cumsum(x)
    return S + np.maximum.accumulate(a - S + x)


def test_local_fifo_departures_match_the_max_plus_recursion():
    # Four local tasks over two intervals at 1.5 GHz, one waiting behind another in each
    # interval; the kernel's slot-by-slot recursion must give the max-plus form's departures.
    core = one_user()
    core.reset(seed=0)
    f = 1.5e9
    cyc = {0: 1000 * 1000.0, 2: 1600 * 1000.0}  # URLLC 1 kbit, mMTC 200 B; 1000 cycles/bit
    arrivals = [[(2, 0.001), (0, 0.0015)], [(0, 0.0101), (2, 0.0102)]]
    a = np.array([t for step in arrivals for _, t in step])
    x = np.array([cyc[c] / f for step in arrivals for c, _ in step])
    D = _fifo_oracle(x, a)
    d, rec = -np.inf, []  # the recursion D_k = max(D_{k-1}, a_k) + x_k
    for xk, ak in zip(x, a):
        d = max(d, ak) + xk
        rec.append(d)
    np.testing.assert_allclose(D, rec, rtol=1e-12)
    k = 0
    for step in arrivals:
        new = np.zeros((1, 1, 3), bool)
        times = np.full((1, 1, 3), np.inf)
        for c, t in step:
            new[0, 0, c], times[0, 0, c] = True, t
        core.set_arrivals(new, times)
        core.step(np.array([[[0, 0, 3]]]))
        lat = core.last.latency_sum[0, 0]
        assert core.last.done[0, 0].sum() == 2 and core.last.late.sum() == 0
        for c, t in step:
            assert lat[c] == pytest.approx(D[k] - t, rel=1e-12)
            k += 1
    assert D[1] > a[1] + x[1] and D[3] > a[3] + x[3]  # the second task of each interval waited
