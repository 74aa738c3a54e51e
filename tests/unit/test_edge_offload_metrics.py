"""edge-offload recorder: every metric on a hand-made two-step episode of two users."""

import math

import numpy as np
import pytest

from pybridge.scenarios.edge_offload.metrics import EdgeOffloadRecorder, latency_samples
from pybridge.scenarios.edge_offload.twin import hist_bin, hist_edges

U, K, E = 2, 2, 1


def step_info(**over):
    z3 = np.zeros((1, U, 3), np.int64)
    info = {"created": z3.copy(), "done": z3.copy(), "late": z3.copy(), "waiting": z3.copy(),
            "latency_sum": np.zeros((1, U, 3)), "latency_max": np.zeros((1, U, 3)),
            "latency_hist": np.zeros((1, 3, 60), np.int64), "bits_done": np.zeros((1, U)),
            "energy_cpu": np.zeros((1, U)), "energy_radio": np.zeros((1, U)),
            "offloaded": np.zeros((1, U), np.int64), "uplink_bits": np.zeros((1, U)),
            "channel_busy": np.zeros((1, K)), "server_backlog_s": np.zeros((1, E)),
            "target": np.zeros((1, U), np.int64), "channel": np.zeros((1, U), np.int64),
            "cpu_level": np.zeros((1, U), np.int64)}
    for k, v in over.items():
        info[k] = np.asarray(v, dtype=info[k].dtype).reshape(info[k].shape)
    return info


def hist_of(*lat):
    h = np.zeros((3, 60), np.int64)
    for c, x in lat:
        h[c, hist_bin(np.array([x]))[0]] += 1
    return h


def episode():
    """Step 1: user 0 creates 2 URLLC (both done: 1 ms, 3 ms, offloaded) and user 1 one eMBB
    (waiting). Step 2: user 1's eMBB goes late, user 1 creates one mMTC done in 20 ms; user 0 one
    URLLC that is late. Ends with nothing waiting."""
    s1 = step_info(
        created=[[2, 0, 0], [0, 1, 0]], done=[[2, 0, 0], [0, 0, 0]],
        waiting=[[0, 0, 0], [0, 1, 0]], latency_sum=[[4e-3, 0, 0], [0, 0, 0]],
        latency_max=[[3e-3, 0, 0], [0, 0, 0]], latency_hist=hist_of((0, 1e-3), (0, 3e-3)),
        bits_done=[2000, 0], energy_cpu=[1e-4, 2e-4], energy_radio=[3e-4, 0],
        offloaded=[2, 0], uplink_bits=[2000, 0], channel_busy=[0.2, 0.0])
    s2 = step_info(
        created=[[1, 0, 0], [0, 0, 1]], done=[[0, 0, 0], [0, 0, 1]], late=[[1, 0, 0], [0, 1, 0]],
        latency_sum=[[0, 0, 0], [0, 0, 20e-3]], latency_max=[[0, 0, 0], [0, 0, 20e-3]],
        latency_hist=hist_of((2, 20e-3)), bits_done=[0, 1600], energy_cpu=[1e-4, 1e-4],
        energy_radio=[0, 0], channel_busy=[0.4, 0.2])
    rec = EdgeOffloadRecorder(0.01)
    rec.add_step(s1, np.array([[1.0, 0.0]]))
    rec.add_step(s2, np.array([[-1.0, 2.0]]))
    rec.end_batch()
    return rec


def test_recorder_metrics_on_a_hand_made_episode():
    rec = episode()
    s = rec.summary()
    assert s["episodes"] == 1
    assert s["created"] == 5 and s["done"] == 3 and s["late"] == 2 and s["waiting"] == 0
    assert s["task_success"] == pytest.approx(3 / 5)
    assert s["task_success_urllc"] == pytest.approx(2 / 3)
    assert s["task_success_embb"] == 0.0 and s["task_success_mmtc"] == 1.0
    assert s["latency_mean_ms"] == pytest.approx((4e-3 + 20e-3) / 3 * 1e3)
    assert s["latency_mean_ms_urllc"] == pytest.approx(2.0)
    assert math.isnan(s["latency_mean_ms_embb"])
    assert s["latency_max_ms"] == pytest.approx(20.0) and s["latency_max_ms_urllc"] == 3.0
    # p50 of {1, 3, 20} ms: the 1.5th sample lies in the bin of 3 ms; clamped within [min, max]
    edges = hist_edges()
    b3 = hist_bin(np.array([3e-3]))[0]
    frac = (1.5 - 1) / 1
    expect = edges[b3] * (edges[b3 + 1] / edges[b3]) ** frac
    assert s["latency_p50_ms"] == pytest.approx(1e3 * expect)
    assert s["latency_p99_ms"] <= s["latency_max_ms"] == 20.0
    assert s["latency_p99_ms_mmtc"] == pytest.approx(20.0)  # clamped to the observed max
    energy = 1e-4 + 2e-4 + 3e-4 + 1e-4 + 1e-4
    assert s["energy_eff_bits_per_j"] == pytest.approx(3600 / energy)
    assert s["energy_cpu_j"] == pytest.approx(5e-4 / 2)
    assert s["energy_radio_j"] == pytest.approx(3e-4 / 2)
    assert s["energy_per_task_j"] == pytest.approx(energy / 3)
    # success ratios: user 0 2/3, user 1 1/2
    r = np.array([2 / 3, 1 / 2])
    assert s["jain_success"] == pytest.approx(r.sum() ** 2 / (2 * (r**2).sum()))
    t = np.array([2000.0, 1600.0])
    assert s["jain_throughput"] == pytest.approx(t.sum() ** 2 / (2 * (t**2).sum()))
    assert s["channel_utilisation"] == pytest.approx((0.2 + 0.0 + 0.4 + 0.2) / 4)
    assert s["offload_fraction"] == pytest.approx(2 / 5)
    assert s["mean_reward"] == pytest.approx(0.5)
    assert s["uplink_mbit_per_user_s"] == pytest.approx(2000 / 1e6 / (2 * 0.02))
    assert "air_overhead" not in s


def test_waiting_tasks_are_excluded_from_success_and_counted_apart():
    rec = EdgeOffloadRecorder(0.01)
    rec.add_step(step_info(created=[[1, 1, 0], [0, 0, 0]], done=[[1, 0, 0], [0, 0, 0]],
                           waiting=[[0, 1, 0], [0, 0, 0]], latency_sum=[[1e-3, 0, 0], [0, 0, 0]],
                           latency_max=[[1e-3, 0, 0], [0, 0, 0]],
                           latency_hist=hist_of((0, 1e-3))), np.zeros((1, U)))
    s = rec.summary()
    assert s["task_success"] == 1.0 and s["waiting"] == 1 and s["waiting_embb"] == 1
    assert math.isnan(s["task_success_embb"])
    # one sample of 1 ms (its bin starts at 1 ms): every percentile clamps to it
    assert s["latency_p50_ms"] == pytest.approx(1.0) and s["latency_p99_ms"] == pytest.approx(1.0)


def test_ns3_counters_give_the_overhead():
    rec = EdgeOffloadRecorder(0.01)
    info = step_info(uplink_bits=[8000, 0], created=[[1, 0, 0], [0, 0, 0]],
                     late=[[1, 0, 0], [0, 0, 0]])
    info.update(air_bytes=np.array([[1500.0, 0.0]]), mac_retries=np.array([[2, 0]], np.int32),
                packets_lost=np.array([[0, 1]], np.int32))
    rec.add_step(info, np.zeros((1, U)))
    s = rec.summary()
    assert s["air_overhead"] == pytest.approx(1.5)
    assert s["mac_retries_per_user_s"] == pytest.approx(2 / (2 * 0.01))
    assert s["packets_lost_per_user_s"] == pytest.approx(1 / (2 * 0.01))


def test_latency_samples_from_the_histogram():
    rec = episode()
    x = latency_samples(rec.episodes[0])
    assert x.size == 3
    np.testing.assert_allclose(np.sort(x), [1e-3, 3e-3, 20e-3], rtol=0.125)  # bins are 10^0.1 wide: the centre is within 12 %
    assert x.max() <= 20e-3
