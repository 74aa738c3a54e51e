"""FedAvg over parameter dicts, the layout helpers, fixed-point config checks, plain FedAvg as
bytes and the byte accounting (the secure protocol itself is in test_secagg.py)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import federation
from federation import (
    AggregationError,
    ConfigError,
    ParamLayout,
    QuantConfig,
    SecAggParams,
    centralised_bytes,
    check_same_layout,
    fedavg,
    flatten,
    plain_fedavg_round,
    run_secure_round,
    unflatten,
)
from federation.quantise import average_from_sum, decode_signed, encode_signed, quantise


def make_params(rng, scale=1.0):
    return {
        "fc.weight": (scale * rng.normal(size=(4, 3))).astype(np.float32),
        "fc.bias": (scale * rng.normal(size=(4,))).astype(np.float32),
        "head": rng.normal(size=(2,)).astype(np.float64),
        "bn.num_batches_tracked": np.array(int(rng.integers(0, 100)), dtype=np.int64),
    }


def test_fedavg_equal_weights_is_the_mean_with_dtypes_and_order_kept():
    rng = np.random.default_rng(0)
    ups = [make_params(rng) for _ in range(3)]
    avg = fedavg(ups)
    assert list(avg) == list(ups[0])
    for k in ("fc.weight", "fc.bias", "head"):
        expect = np.mean([u[k].astype(np.float64) for u in ups], axis=0).astype(ups[0][k].dtype)
        assert avg[k].dtype == ups[0][k].dtype and avg[k].shape == ups[0][k].shape
        np.testing.assert_array_equal(avg[k], expect)
    # Integer buffers are passed through from the first client, not averaged.
    assert avg["bn.num_batches_tracked"] == ups[0]["bn.num_batches_tracked"]
    assert avg["bn.num_batches_tracked"].dtype == np.int64


def test_fedavg_weighted_and_scale_invariant():
    a = {"w": np.array([0.0, 1.0, 2.0])}
    b = {"w": np.array([4.0, 5.0, 6.0])}
    np.testing.assert_allclose(fedavg([a, b], [1, 3])["w"], [3.0, 4.0, 5.0])
    np.testing.assert_allclose(fedavg([a, b], [0.25, 0.75])["w"], [3.0, 4.0, 5.0])
    np.testing.assert_allclose(fedavg([a, b], [1, 0])["w"], a["w"])


def test_fedavg_key_order_differences_are_not_errors():
    a = {"x": np.ones(2), "y": np.zeros(1)}
    b = {"y": np.ones(1), "x": np.zeros(2)}
    avg = fedavg([a, b])
    assert list(avg) == ["x", "y"]
    np.testing.assert_allclose(avg["x"], [0.5, 0.5])


@pytest.mark.parametrize("mutate, match", [
    (lambda p: p.pop("head"), "keys differ"),
    (lambda p: p.__setitem__("extra", np.zeros(1)), "keys differ"),
    (lambda p: p.__setitem__("fc.bias", np.zeros(5, np.float32)), "shape"),
    (lambda p: p.__setitem__("fc.bias", np.zeros(4, np.float64)), "dtype"),
    (lambda p: p["head"].__setitem__(0, np.nan), "non-finite"),
    (lambda p: p["fc.bias"].__setitem__(1, np.inf), "non-finite"),
])
def test_fedavg_rejects_mismatched_or_non_finite_updates(mutate, match):
    rng = np.random.default_rng(1)
    ups = [make_params(rng) for _ in range(3)]
    mutate(ups[2])
    with pytest.raises(AggregationError, match=match):
        fedavg(ups)


@pytest.mark.parametrize("weights", [[1, -1], [1, np.nan], [1], [0, 0]])
def test_fedavg_rejects_bad_weights(weights):
    with pytest.raises(AggregationError):
        fedavg([{"w": np.ones(2)}, {"w": np.ones(2)}], weights)


def test_fedavg_rejects_empty_and_unsupported_dtypes():
    with pytest.raises(AggregationError):
        fedavg([])
    with pytest.raises(AggregationError, match="unsupported dtype"):
        fedavg([{"c": np.ones(2, dtype=np.complex64)}])


def test_flatten_unflatten_round_trip_restores_dtypes():
    rng = np.random.default_rng(2)
    p = make_params(rng)
    p["half"] = rng.normal(size=(2, 2)).astype(np.float16)
    layout = ParamLayout.of(p)
    vec = flatten(p, layout)
    assert vec.dtype == np.float64 and vec.shape == (layout.float_size,) == (12 + 4 + 2 + 4,)
    back = unflatten(vec, layout, passthrough=p)
    assert list(back) == list(p)
    for k in p:
        assert back[k].dtype == p[k].dtype
        np.testing.assert_array_equal(back[k], p[k])
    with pytest.raises(AggregationError):
        unflatten(vec[:-1], layout, passthrough=p)
    with pytest.raises(AggregationError, match="passthrough"):
        unflatten(vec, layout)


def test_layout_digest_names_every_tensor():
    base = {"a": np.zeros((2, 3), np.float32), "b": np.zeros(1, np.float32)}
    d0 = ParamLayout.of(base).digest()
    variants = [{"a": np.zeros((3, 2), np.float32), "b": base["b"]},
                {"a": base["a"], "c": base["b"]},
                {"a": base["a"].astype(np.float64), "b": base["b"]},
                {"b": base["b"], "a": base["a"]}]
    assert all(ParamLayout.of(v).digest() != d0 for v in variants)


def test_plain_round_as_bytes_matches_fedavg_and_counts_bytes():
    rng = np.random.default_rng(3)
    ups = [make_params(rng) for _ in range(4)]
    avg, report = plain_fedavg_round(ups, [1, 2, 3, 4])
    expect = fedavg(ups, [1, 2, 3, 4])
    for k in expect:
        np.testing.assert_array_equal(avg[k], expect[k])
    layout = check_same_layout(ups)
    # One upload (header, weight, tensors) and one download (header, tensors) per client.
    assert all(report.bytes_sent[i] == 34 + 8 + layout.nbytes for i in range(4))
    assert all(report.bytes_received[i] == 34 + layout.nbytes for i in range(4))
    # Plain FedAvg shows the server every update in the clear: the contrast to secure rounds.
    assert ups[2]["fc.weight"].tobytes() in report.transcript[2]
    summary = report.summary()
    assert summary["protocol"] == "plain" and summary["bytes_per_client_sent"] > 0


def test_centralised_baseline_bytes():
    # obs, action, reward, next_obs as float32
    assert centralised_bytes(1000, obs_dim=4) == 1000 * (4 + 1 + 1 + 4) * 4
    assert centralised_bytes(10, obs_dim=3, action_dim=2, float_bytes=8) == 10 * 9 * 8


@pytest.mark.parametrize("kwargs", [{"clip": 0.0}, {"clip": -1.0}, {"clip": float("nan")},
                                    {"clip": float("inf")}, {"frac_bits": -1},
                                    {"mod_bits": 65}, {"mod_bits": 1}, {"max_weight": 0.0},
                                    {"frac_bits": 52, "clip": 8.0}])
def test_quant_config_rejects_invalid_settings(kwargs):
    with pytest.raises(ConfigError):
        QuantConfig(**kwargs)


def test_modulus_too_small_for_n_is_rejected_at_config_time():
    q = QuantConfig(clip=4.0, frac_bits=16, mod_bits=24)
    # 4 * 2^16 = 2^18 per client; 16 clients -> 2^22, plus sign and headroom -> 25 bits > 24.
    assert q.required_mod_bits(15) == 24
    q.check_fits(15)
    with pytest.raises(ConfigError, match="too small for 16 clients"):
        q.check_fits(16)
    with pytest.raises(ConfigError, match="too small"):
        SecAggParams(0, 10, 9, q).validate_for(16)
    ups = [{"w": np.zeros(3)} for _ in range(16)]
    with pytest.raises(ConfigError, match="too small"):
        run_secure_round(ups, threshold=9, quant=q)


@pytest.mark.parametrize("t, n", [(1, 3), (2, 4), (5, 4)])
def test_threshold_must_be_a_majority_and_at_most_n(t, n):
    with pytest.raises(ConfigError, match="threshold"):
        SecAggParams(0, 10, t).validate_for(n)


@pytest.mark.parametrize("bits", [8, 24, 32, 40, 64])
def test_fixed_point_round_trip(bits):
    q = QuantConfig(clip=2.0, frac_bits=5 if bits == 8 else 16, mod_bits=bits, headroom_bits=0)
    x = np.array([0.0, 1.0, -1.0, 0.3, -1.999, 5.0, -7.0])
    z = quantise(x, 1.0, q)
    assert z.dtype == (np.uint32 if bits <= 32 else np.uint64)
    avg, weight = average_from_sum(z, q)
    assert weight == 1.0
    np.testing.assert_allclose(avg, np.clip(x, -2, 2), atol=2.0 ** -q.frac_bits)
    np.testing.assert_array_equal(decode_signed(encode_signed(np.array([-3, 3]), q), q), [-3, 3])


def test_quantise_refuses_non_finite_and_bad_weights():
    q = QuantConfig()
    with pytest.raises(AggregationError, match="non-finite"):
        quantise(np.array([0.0, np.nan]), 1.0, q)
    for w in (0.0, -1.0, 2.0, float("nan")):
        with pytest.raises(AggregationError, match="weight"):
            quantise(np.zeros(2), w, q)


def test_package_never_imports_torch_agents_or_pybridge():
    code = ("import sys, federation, federation.bench; "
            "bad = [m for m in ('torch', 'agents', 'pybridge') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(federation.__file__).parents[1], check=False)
    assert p.returncode == 0, p.stdout + p.stderr


def test_bench_returns_secure_and_plain_figures_and_skips_what_is_too_slow():
    from federation.bench import bench_secagg, estimate_round_seconds, sweep
    row = bench_secagg(6, 500, dropout_fraction=0.2, repeats=1)
    assert row["dropped"] == 1 and row["secure"]["exact"]
    assert set(row["secure"]["stage_seconds"]) >= {"advertise", "share_keys", "masked_input",
                                                   "consistency", "unmask"}
    assert row["plain"]["bytes_per_client_sent"] == 34 + 8 + 4 * 500
    assert 1.0 < row["bytes_ratio"] < 10.0
    sec = row["secure"]
    assert 0 < sec["critical_path_seconds"] <= sec["seconds"]
    rows = sweep(clients=(3, 1000), params=(100,), graphs=("complete", "harary"),
                 dropout_fraction=0.0, budget_s=5.0)
    assert [(r["clients"], r["graph"], r["skipped"]) for r in rows] == [
        (3, "complete", False), (3, "harary", True), (1000, "complete", True),
        (1000, "harary", True)]
    assert "estimated" in rows[2]["reason"] and "no SecAgg+ graph" in rows[1]["reason"]
    assert rows[3]["degree"] == 52 and rows[3]["threshold"] == 37
    assert estimate_round_seconds(50, 100_000) < estimate_round_seconds(200, 100_000)
    assert estimate_round_seconds(1000, 100_000, degree=52) < \
        estimate_round_seconds(1000, 100_000) / 5


def test_bench_runs_all_pairs_beside_secagg_plus_from_the_command_line():
    code = ("import sys; from federation.bench import main; "
            "sys.exit(main(['--clients', '30', '--params', '200', '--json', "
            "'--corrupt', '0.1', '--threat-dropout', '0.1', '--dropout', '0.1', '--threat', 'semi-honest']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(federation.__file__).parents[1], check=False)
    assert p.returncode == 0, p.stderr
    import json
    rows = json.loads(p.stdout)
    assert [r["graph"] for r in rows] == ["complete", "harary"]
    assert all(r["secure"]["exact"] and r["dropped"] == 3 for r in rows)
    assert rows[1]["degree"] < rows[0]["degree"] == 29
    from federation.bench import format_table
    table = format_table(rows)
    assert "harary" in table and "complete" in table and len(table.splitlines()) == 4
