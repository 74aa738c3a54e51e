"""Every metric of the inx-factory summary against numbers worked out by hand on tiny episodes,
and the shared helpers (Jain's index, histogram percentiles) on their own.

The episodes are chosen so that the usual slips give different numbers: Jain's index as J/n,
per-device means over the device axis instead of time, p5 of per-sample instead of per-device
rates, <= instead of < r_min, the mean of dBm instead of the dBm of the mean, and delay
percentiles outside [min, max] of the delays."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pybridge.metrics import hist_percentile, jain
from pybridge.scenarios.inx_factory.contract import delay_bin_edges
from pybridge.scenarios.inx_factory.metrics import EDGES_KEY, EpisodeRecorder

# Two copies (episodes A and B) of N = 2 subnetworks with M = 1 device, T = 2 steps: [B, N, M].
RATE = [  # per step
    np.array([[[1.0], [2.0]], [[4.0], [4.0]]]),
    np.array([[[3.0], [6.0]], [[4.0], [4.0]]]),
]
SINR = [
    np.array([[[10.0], [100.0]], [[100.0], [100.0]]]),
    np.array([[[1000.0], [10000.0]], [[100.0], [100.0]]]),
]
INTERF = [
    np.array([[[1e-9], [3e-9]], [[2e-9], [2e-9]]]),
    np.array([[[1e-9], [3e-9]], [[2e-9], [2e-9]]]),
]
SWITCHED = [np.array([[True, False], [True, True]]), np.array([[False, False], [False, False]])]
REWARD = [np.array([[1.0, 2.0], [0.0, 0.0]]), np.array([[3.0, 4.0], [0.0, 2.0]])]
R_MIN = 3.0


def twin_summary() -> dict:
    rec = EpisodeRecorder(R_MIN)
    for t in range(2):
        info = {"rate": RATE[t], "rate_shannon": RATE[t] + 1.0, "sinr": SINR[t],
                "interference_w": INTERF[t], "channel": np.zeros((2, 2), np.int64),
                "switched": SWITCHED[t]}
        rec.add_step(info, REWARD[t])
    rec.end_batch()
    assert rec.n_episodes == 2
    return rec.summary()


def test_rate_metrics_by_hand():
    s = twin_summary()
    assert s["episodes"] == 2
    # Pooled samples: A 1, 2, 3, 6 and B 4, 4, 4, 4 -> sorted 1 2 3 4 4 4 4 6.
    assert s["mean_rate"] == pytest.approx(28.0 / 8.0, rel=1e-12)
    assert s["p5_rate"] == pytest.approx(1.0 + 0.35 * 1.0, rel=1e-12)  # index 0.05 * 7
    assert s["p50_rate"] == pytest.approx(4.0, rel=1e-12)
    # Episode means 3 and 4: sample std (ddof = 1) = 1 / sqrt(2).
    assert s["mean_rate_std_over_episodes"] == pytest.approx(math.sqrt(0.5), rel=1e-12)
    # Per-device means over time: A (1+3)/2 = 2, (2+6)/2 = 4; B 4, 4. p5 of 2 4 4 4 (index
    # 0.15): 2.3; from per-sample rates it would be 1.35, over the device axis (1.5, 4.5, ...)
    # 1.875.
    assert s["p5_device_mean_rate"] == pytest.approx(2.0 + 0.15 * 2.0, rel=1e-12)
    # Jain per episode over device means: A (2+4)^2 / (2 (4+16)) = 0.9, B 1 -> mean 0.95
    # (J/n would give 0.475; means over the device axis 0.9: A's (1.5, 4.5) gives 0.8).
    assert s["jain_fairness"] == pytest.approx(0.95, rel=1e-12)
    # Strictly below r_min = 3: the samples 1 and 2 (3 itself is not below): 2 of 8.
    assert s["frac_below_rmin"] == pytest.approx(0.25, rel=1e-12)
    assert s["rate_cdf_quantiles"][0] == 1.0 and s["rate_cdf_quantiles"][-1] == 6.0
    assert s["rate_cdf_quantiles"][50] == 4.0 and len(s["rate_cdf_quantiles"]) == 101


def test_shannon_metrics_by_hand():
    s = twin_summary()  # rate_shannon = rate + 1: 2 3 4 7 | 5 5 5 5
    assert s["mean_rate_shannon"] == pytest.approx(36.0 / 8.0, rel=1e-12)
    assert s["p5_rate_shannon"] == pytest.approx(2.35, rel=1e-12)
    assert s["p50_rate_shannon"] == pytest.approx(5.0, rel=1e-12)
    assert s["mean_rate_shannon_std_over_episodes"] == pytest.approx(math.sqrt(0.5), rel=1e-12)
    # Device means A (3, 5): 64 / (2 * 34); B (5, 5): 1.
    assert s["jain_fairness_shannon"] == pytest.approx((64.0 / 68.0 + 1.0) / 2.0, rel=1e-12)
    assert s["rate_shannon_cdf_quantiles"][-1] == 7.0


def test_sinr_interference_reward_and_switch_metrics_by_hand():
    s = twin_summary()
    # SINR dB: A 10 20 30 40, B 20 20 20 20 -> sorted 10 20 20 20 20 20 30 40.
    assert s["sinr_db_p5"] == pytest.approx(10.0 + 0.35 * 10.0, rel=1e-12)
    assert s["sinr_db_p50"] == pytest.approx(20.0, rel=1e-12)
    assert s["sinr_db_p95"] == pytest.approx(30.0 + 0.65 * 10.0, rel=1e-12)
    # The dBm of the mean power, 2e-9 W (the mean of the dBm values would be -57.3).
    assert s["mean_interference_dbm"] == pytest.approx(10.0 * math.log10(2e-9) + 30.0,
                                                       rel=1e-12)
    assert s["mean_interference_dbm"] == pytest.approx(-56.9897, abs=1e-4)
    # Per-episode means A (1+2+3+4)/4 = 2.5, B (0+0+0+2)/4 = 0.5 -> 1.5.
    assert s["mean_reward"] == pytest.approx(1.5, rel=1e-12)
    # Switches: A 1 of 4 device-steps, B 2 of 4 -> 0.375.
    assert s["switch_rate"] == pytest.approx(0.375, rel=1e-12)
    assert not any(k.startswith(("packet", "delay")) for k in s)  # the twin has no packets


def test_devices_are_flattened_over_subnetworks_and_devices():
    """M = 2: Jain's index and p5 over all N * M time-averaged device rates."""
    rec = EpisodeRecorder(1.0)
    steps = [np.array([[[1.0, 3.0], [2.0, 2.0]]]), np.array([[[1.0, 5.0], [2.0, 6.0]]])]
    for r in steps:
        rec.add_step({"rate": r, "rate_shannon": r, "sinr": np.ones_like(r),
                      "interference_w": np.ones_like(r), "switched": np.zeros((1, 2), bool)},
                     np.zeros((1, 2)))
    s = rec.summary()
    dev = np.array([1.0, 4.0, 2.0, 4.0])  # time means of the 4 devices
    assert s["jain_fairness"] == pytest.approx(dev.sum() ** 2 / (4 * (dev**2).sum()), rel=1e-12)
    assert s["p5_device_mean_rate"] == pytest.approx(1.0 + 0.15 * 1.0, rel=1e-12)


def ns3_episode(hist: np.ndarray, delay_max: float) -> dict:
    """One ns-3 copy, T = 2, N = 2, M = 1, with packet counters."""
    edges = delay_bin_edges({"delay_hist_bins": 64, "delay_hist_min_s": 1e-6,
                             "delay_hist_max_s": 1.0})
    rec = EpisodeRecorder(R_MIN)
    delivered = [[[3], [1]], [[2], [4]]]
    lost = [[[1], [0]], [[0], [1]]]
    dropped = [[[0], [0]], [[0], [3]]]
    delay_sum = [[[3e-5], [1e-5]], [[2e-5], [4e-5]]]
    dmax = [[[1.2e-5], [1.1e-5]], [[1.0e-5], [delay_max]]]
    queue = [[[0], [2]], [[4], [6]]]
    for t in range(2):
        r = np.full((1, 2, 1), 5.0)
        info = {"rate": r, "rate_shannon": r, "sinr": r, "interference_w": r,
                "switched": np.zeros((1, 2), bool),
                "delivered": np.array([delivered[t]], np.int32),
                "lost": np.array([lost[t]], np.int32),
                "dropped": np.array([dropped[t]], np.int32),
                "delay_sum": np.array([delay_sum[t]], np.float32),
                "delay_max": np.array([dmax[t]], np.float32),
                "queue": np.array([queue[t]], np.int32),
                "delay_hist": (hist if t == 0 else np.zeros_like(hist))[None],
                EDGES_KEY: edges[None]}
        rec.add_step(info, np.zeros((1, 2)))
    return rec.summary()


def test_packet_metrics_by_hand():
    hist = np.zeros(64, np.int32)
    hist[10] = 10
    s = ns3_episode(hist, 2.56e-5)
    # delivered 10, lost 2 (decoding), dropped 3 (queue): offered 15.
    assert s["packets_delivered"] == 10.0
    assert s["packet_loss"] == pytest.approx(5.0 / 15.0, rel=1e-12)
    assert s["packet_error_rate"] == pytest.approx(2.0 / 12.0, rel=1e-12)
    assert s["packet_drop_rate"] == pytest.approx(3.0 / 15.0, rel=1e-12)
    # 1e-4 s of delay over 10 delivered packets (float32 inputs: 7 digits).
    assert s["delay_mean_s"] == pytest.approx(1e-5, rel=1e-6)
    assert s["delay_max_s"] == pytest.approx(2.56e-5, rel=1e-6)
    assert s["queue_mean_packets"] == pytest.approx(3.0, rel=1e-12)
    # All 10 delays in bin 10 = [10^-5.0625, 10^-4.96875] s; p50 is the 5th of 10: halfway
    # on the log axis, i.e. the bin's geometric centre.
    lo, hi = 10 ** (-6 + 10 * 6 / 64), 10 ** (-6 + 11 * 6 / 64)
    assert s["delay_p50_s"] == pytest.approx(math.sqrt(lo * hi), rel=1e-9)
    assert s["delay_p99_s"] == pytest.approx(lo * (hi / lo) ** 0.99, rel=1e-9)


def test_delay_p99_never_exceeds_the_largest_delay():
    """Issue 9 item 8: `eval --backend ns3 --policy cgc --seed 11 --set episode_steps=40`
    reported p99 28.4 us (the centre of bin 15, [25.5, 31.6] us) above max 25.6 us."""
    hist = np.zeros(64, np.int32)
    hist[15] = 200
    s = ns3_episode(hist, 2.56e-5)
    lo = 10 ** (-6 + 15 * 6 / 64)
    assert lo < 2.56e-5 < 10 ** (-6 + 16 * 6 / 64)  # the geometry
    assert s["delay_p99_s"] <= s["delay_max_s"]
    assert s["delay_p50_s"] <= s["delay_p99_s"]
    assert lo <= s["delay_p50_s"]
    assert s["delay_p99_s"] == pytest.approx(2.56e-5, rel=1e-6)  # clamped to the max
    assert s["delay_max_s"] == pytest.approx(2.56e-5, rel=1e-6)


def test_packet_counters_without_bin_edges_are_refused():
    rec = EpisodeRecorder(1.0)
    r = np.ones((1, 1, 1))
    rec.add_step({"rate": r, "rate_shannon": r, "sinr": r, "interference_w": r,
                  "switched": np.zeros((1, 1), bool), "delivered": r, "lost": r, "dropped": r,
                  "queue": r, "delay_sum": r, "delay_max": r,
                  "delay_hist": np.ones((1, 64))}, np.zeros((1, 1)))
    with pytest.raises(ValueError, match="delay_hist_edges"):
        rec.summary()
    with pytest.raises(ValueError, match="no episodes"):
        EpisodeRecorder(1.0).summary()


# ------------------------------------------------------------------------ shared helpers
def test_jain_by_hand():
    assert jain(np.array([2.0, 4.0])) == pytest.approx(0.9, rel=1e-12)
    assert jain(np.array([1.0, 0.0, 0.0, 0.0])) == pytest.approx(0.25, rel=1e-12)  # 1/n
    assert jain(np.array([3.0, 3.0, 3.0])) == pytest.approx(1.0, rel=1e-12)
    assert jain(np.zeros(3)) == 1.0  # nobody favoured
    rows = jain(np.array([[2.0, 4.0], [1.0, 1.0]]), axis=1)
    np.testing.assert_allclose(rows, [0.9, 1.0], rtol=1e-12)
    np.testing.assert_allclose(jain(np.array([[2.0, 1.0], [4.0, 1.0]]), axis=0), [0.9, 1.0],
                               rtol=1e-12)


def test_hist_percentile_interpolates_on_the_log_axis():
    edges = np.array([1.0, 10.0, 100.0])
    counts = np.array([1, 3])
    assert hist_percentile(counts, edges, 0) == pytest.approx(1.0, rel=1e-12)
    assert hist_percentile(counts, edges, 25) == pytest.approx(10.0, rel=1e-12)
    # Target 2 of 4: the first of bin 1's three samples -> a third of the way on the log axis.
    assert hist_percentile(counts, edges, 50) == pytest.approx(10.0 * 10 ** (1 / 3), rel=1e-12)
    assert hist_percentile(counts, edges, 100) == pytest.approx(100.0, rel=1e-12)
    assert hist_percentile(counts, edges, 100, hi=50.0) == 50.0
    assert hist_percentile(counts, edges, 0, lo=2.0) == 2.0
    # Leading empty bins are skipped even for q = 0; trailing ones never reached.
    assert hist_percentile([0, 0, 5, 0], [1, 10, 100, 1e3, 1e4], 0) == pytest.approx(100.0)
    assert hist_percentile([0, 0, 5, 0], [1, 10, 100, 1e3, 1e4], 100) == pytest.approx(1e3)
    assert math.isnan(hist_percentile([0, 0], edges, 50))
    assert type(hist_percentile(counts, edges, 50, hi=np.float32(30.0))) is float  # JSON-able
    with pytest.raises(ValueError, match="need 3 edges"):
        hist_percentile(counts, edges[:2], 50)
    with pytest.raises(ValueError, match="percentile"):
        hist_percentile(counts, edges, 101)


def test_hist_percentiles_are_monotone_and_inside_the_edges():
    rng = np.random.default_rng(0)
    edges = np.logspace(-6, 0, 65)
    for _ in range(20):
        counts = rng.integers(0, 5, size=64) * (rng.random(64) < 0.3)
        if counts.sum() == 0:
            continue
        qs = [hist_percentile(counts, edges, q) for q in (0, 5, 50, 95, 99, 100)]
        assert all(a <= b for a, b in itertools.pairwise(qs))
        nz = np.flatnonzero(counts)
        assert edges[nz[0]] <= qs[0] and qs[-1] <= edges[nz[-1] + 1]


def _record(rates, r_min=1.0, interference=1e-9, B=1):
    """A recorder fed one step per entry of `rates` ([B, N, M] each)."""
    rec = EpisodeRecorder(r_min)
    for r in rates:
        r = np.asarray(r, dtype=np.float64)
        rec.add_step({"rate": r, "rate_shannon": r, "sinr": 10.0 ** r,
                      "interference_w": np.full_like(r, interference),
                      "switched": np.zeros(r.shape[:2], bool)}, np.zeros(r.shape[:2]))
    return rec


def test_medians_quantile_rounding_and_a_single_episode():
    # Samples 1, 2, 3, 10 (one episode): the median is 2.5 (the 51st percentile 2.53).
    s = _record([[[[1.0], [2.0]]], [[[3.0], [10.0]]]]).summary()
    assert s["p50_rate"] == pytest.approx(2.5, rel=1e-12)
    assert s["p50_rate_shannon"] == pytest.approx(2.5, rel=1e-12)
    assert s["sinr_db_p50"] == pytest.approx(25.0, rel=1e-12)  # SINR 10^r -> 10 r dB
    # One episode: no spread over episodes (0, not NaN).
    assert s["mean_rate_std_over_episodes"] == 0.0
    assert s["mean_rate_shannon_std_over_episodes"] == 0.0
    s = _record([[[[1.234567]]], [[[2.0]]]]).summary()
    assert s["rate_cdf_quantiles"][0] == 1.2346 and s["rate_shannon_cdf_quantiles"][0] == 1.2346


def test_no_interference_is_minus_infinity_dbm():
    s = _record([[[[1.0]]]], interference=0.0).summary()
    assert s["mean_interference_dbm"] == float("-inf")


def test_recorded_steps_are_copies_of_the_callers_arrays():
    """Cores hand out views they overwrite in place: the recorder must copy them."""
    rec = EpisodeRecorder(1.0)
    buf = {k: np.full((1, 2, 1), 2.0) for k in ("rate", "rate_shannon", "sinr",
                                                 "interference_w")}
    buf["switched"] = np.zeros((1, 2), bool)
    reward = np.ones((1, 2))
    for value in (2.0, 4.0):
        for k in ("rate", "rate_shannon", "sinr", "interference_w"):
            buf[k][...] = value
        buf["switched"][...] = value > 3
        reward[...] = value
        rec.add_step(buf, reward)
    s = rec.summary()
    assert s["mean_rate"] == 3.0 and s["mean_reward"] == 3.0 and s["switch_rate"] == 0.5
    assert s["p5_rate"] == 2.0
    # The same for the ns-3 packet counters.
    rec = EpisodeRecorder(1.0)
    pk = {k: np.zeros((1, 2, 1)) for k in ("delivered", "lost", "dropped", "queue",
                                            "delay_sum", "delay_max")}
    pk["delay_hist"] = np.zeros((1, 4))
    pk[EDGES_KEY] = np.array([[1e-6, 1e-5, 1e-4, 1e-3, 1e-2]])
    for value in (1.0, 3.0):
        for k in ("delivered", "lost", "dropped", "queue"):
            pk[k][...] = value
        pk["delay_sum"][...] = value * 1e-5
        pk["delay_max"][...] = value * 1e-5
        pk["delay_hist"][...] = [0, value, 0, 0]
        rec.add_step({**buf, **pk}, reward)
    s = rec.summary()
    assert s["packets_delivered"] == 8.0 and s["queue_mean_packets"] == 2.0
    assert s["delay_max_s"] == pytest.approx(3e-5, rel=1e-12)
    assert s["delay_mean_s"] == pytest.approx(1e-5, rel=1e-12)


def test_packet_edge_cases_and_batched_edges():
    edges = delay_bin_edges({"delay_hist_bins": 4, "delay_hist_min_s": 1e-6,
                             "delay_hist_max_s": 1e-2})
    np.testing.assert_allclose(edges, [1e-6, 1e-5, 1e-4, 1e-3, 1e-2], rtol=1e-12)

    def run(delivered, lost, dropped, hist):
        rec = EpisodeRecorder(1.0)
        r = np.ones((2, 1, 1))
        z = np.zeros((2, 1, 1))
        rec.add_step({"rate": r, "rate_shannon": r, "sinr": r, "interference_w": r,
                      "switched": np.zeros((2, 1), bool), "delivered": z + delivered,
                      "lost": z + lost, "dropped": z + dropped, "queue": z,
                      "delay_sum": z + 2e-5 * delivered, "delay_max": z + 5e-5,
                      "delay_hist": np.tile(hist, (2, 1)),
                      EDGES_KEY: np.tile(edges, (2, 1))}, np.zeros((2, 1)))
        return rec.summary()

    s = run(0, 0, 0, [0, 0, 0, 0])  # nothing offered: undefined, not a division error
    for k in ("packet_loss", "packet_error_rate", "packet_drop_rate", "delay_mean_s",
              "delay_p50_s", "delay_p99_s"):
        assert math.isnan(s[k]), k
    s = run(1, 1, 0, [0, 1, 0, 0])  # 2 copies: 2 delivered, 2 lost
    assert s["packet_error_rate"] == 0.5 and s["packet_loss"] == 0.5
    assert s["delay_mean_s"] == pytest.approx(2e-5, rel=1e-12)
    # Both delays in bin [1e-5, 1e-4], the max 5e-5: p50 halfway on the log axis (3.16e-5).
    assert s["delay_p50_s"] == pytest.approx(10 ** -4.5, rel=1e-9)
    assert s["delay_p99_s"] == pytest.approx(5e-5, rel=1e-9)


def test_jain_on_small_and_large_values():
    # Values below 1 (sum of squares < 1) and integers whose squares overflow int64.
    assert jain(np.array([0.2, 0.4])) == pytest.approx(0.9, rel=1e-12)
    assert jain(np.array([0.0, 0.1])) == pytest.approx(0.5, rel=1e-12)
    assert jain(np.array([2**40, 2**41], dtype=np.int64)) == pytest.approx(0.9, rel=1e-12)


def test_hist_percentile_of_one_sample_is_inside_its_bin():
    assert hist_percentile([0, 1], [1.0, 10.0, 100.0], 50) == pytest.approx(10 ** 1.5)
