"""federation.strategy: when rounds run, what plain and secure FedAvg return, failed rounds."""

from __future__ import annotations

import numpy as np
import pytest

from federation import ConfigError, fedavg
from federation.strategy import (
    PlainFedAvg,
    SecureFedAvg,
    Strategy,
    aggregation_period,
    make_strategy,
)


def _updates(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"w": rng.normal(size=(3, 4)).astype(np.float32),
             "b": rng.normal(size=4).astype(np.float32)} for _ in range(n)]


def test_period_from_tau_agg_and_copies():
    # tau_agg counts one agent's transitions; B copies give B per batched step.
    assert aggregation_period(512, 4) == 128
    assert aggregation_period(3, 8) == 1
    s = make_strategy("plain", 5, tau_agg=8, n_envs=2)
    assert [t for t in range(1, 17) if s.should_aggregate(t)] == [4, 8, 12, 16]


def test_make_strategy_kinds_and_bad_input():
    assert isinstance(make_strategy("plain", 3, tau_agg=4), PlainFedAvg)
    sec = make_strategy("secure", 10, tau_agg=4, threshold=0.67)
    assert isinstance(sec, SecureFedAvg) and isinstance(sec, Strategy)
    assert sec.threshold == 7  # ceil(0.67 * 10)
    with pytest.raises(ConfigError, match="aggregation must be one of"):
        make_strategy("fancy", 3, tau_agg=4)
    with pytest.raises(ConfigError, match="threshold"):
        make_strategy("secure", 3, tau_agg=4, threshold=0.4)
    with pytest.raises(ConfigError, match="period"):
        PlainFedAvg(0)


def test_plain_round_is_fedavg_with_accounting():
    ups = _updates(4)
    avg, report = PlainFedAvg(1).aggregate(ups, 0)
    want = fedavg(ups)
    for k in want:
        np.testing.assert_array_equal(avg[k], want[k])
    assert report["mode"] == "plain" and report["n_clients"] == 4
    n_bytes = sum(v.nbytes for v in ups[0].values())
    assert report["bytes_per_client_sent"] >= n_bytes  # the parameters travel as bytes
    assert report["seconds"] >= 0


def test_secure_round_equals_plain_within_quantisation():
    ups = _updates(5, seed=1)
    sec = SecureFedAvg(1, 5, threshold=0.67, clip=8.0, frac_bits=16)
    avg, report = sec.aggregate(ups, 0)
    plain, _ = PlainFedAvg(1).aggregate(ups, 0)
    for k in plain:
        # Each input is rounded to 2^-16 before the sum: the mean is off by <= 2^-17 per entry.
        np.testing.assert_allclose(avg[k], plain[k], rtol=0, atol=2.0 ** -16)
        assert avg[k].dtype == plain[k].dtype
    assert report["mode"] == "secure" and "failed" not in report
    assert report["clipped_fraction"] == 0.0
    assert report["bytes_per_client_sent"] > report["n_params"] * 4  # masked vector + keys
    assert report["n_survivors"] == 5


def test_clipped_fraction_counts_parameters_beyond_clip():
    ups = _updates(3)
    ups[0]["w"][0, :] = [9.0, -9.0, 8.0, 100.0]  # 3 beyond the clip (8.0 itself is not)
    ups[1]["b"][:] = 0.0
    _, report = SecureFedAvg(1, 3, threshold=1.0, clip=8.0).aggregate(ups, 0)
    # Per tensor fraction, averaged over the 6 tensors: only client 0's "w" has any (3 of 12).
    assert report["clipped_fraction"] == pytest.approx((3 / 12) / 6, rel=1e-12)


def test_round_below_threshold_fails_and_returns_no_average():
    ups = _updates(5)
    before = [{k: v.copy() for k, v in u.items()} for u in ups]
    # 3 of 5 leave before sharing keys: 2 < t = 4.
    sec = SecureFedAvg(1, 5, threshold=0.8, dropouts=lambda r: {"share_keys": [0, 1, 2]})
    avg, report = sec.aggregate(ups, 0)
    assert avg is None  # the caller leaves every model unchanged
    assert report["mode"] == "secure" and "threshold" in report["failed"]
    assert report["bytes_per_client_sent"] == 0
    for u, b in zip(ups, before, strict=True):
        for k in u:
            np.testing.assert_array_equal(u[k], b[k])


def test_dropouts_above_threshold_still_average_the_survivors():
    ups = _updates(5, seed=2)
    sec = SecureFedAvg(1, 5, threshold=0.6, dropouts=lambda r: {"share_keys": [4]})
    avg, report = sec.aggregate(ups, 3)
    want = fedavg(ups[:4])
    for k in want:
        np.testing.assert_allclose(avg[k], want[k], rtol=0, atol=2.0 ** -16)
    assert report["n_survivors"] == 4


def test_many_agents_aggregate_on_the_secagg_plus_graph():
    # Above AUTO_HARARY_ABOVE agents the trainer's strategy pairs each client with k << N - 1
    # neighbours (threat model: 5 % corrupt, 5 % drop-outs); all-pairs would cost ~N^2.
    n = 240
    ups = _updates(n, seed=3)
    sec = SecureFedAvg(1, n)
    assert sec.graph == "harary" and sec.threshold is None
    avg, report = sec.aggregate(ups, 0)
    assert "failed" not in report and report["n_survivors"] == n
    assert report["graph"] == "harary" and report["degree"] < n // 4
    plain, _ = PlainFedAvg(1).aggregate(ups, 0)
    for k in plain:
        np.testing.assert_allclose(avg[k], plain[k], rtol=0, atol=2.0 ** -16)
    assert SecureFedAvg(1, n, graph="complete").graph == "complete"
    assert SecureFedAvg(1, 20).graph == "complete"
    with pytest.raises(ConfigError, match="graph"):
        SecureFedAvg(1, n, graph="ring")
