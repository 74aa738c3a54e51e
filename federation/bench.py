"""What secure aggregation costs next to plain FedAvg, measured in one process. Prints nothing.

    bench_secagg(clients: int, params: int, dropout_fraction: float = 0.0, repeats: int = 3,
                 *, threshold: int | None = None, dropout_stage: str = "masked_input",
                 curve: str = "x25519", quant: QuantConfig | None = None, seed: int = 0)
        -> dict
        One configuration: N clients each holding one float32 tensor of `params` values. Runs
        the secure round and plain FedAvg (as bytes) `repeats` times each, alternating, and
        returns medians: whole-round seconds, seconds per stage (clients summed, slowest
        client, server), bytes per surviving client sent/received, the secure/plain byte
        ratio, and whether the secure result equalled the quantised plain average exactly.
        `dropout_fraction` of the clients (rounded) fall silent at `dropout_stage`; the
        default "masked_input" (after sharing keys) is the costly case for the server, which
        must rebuild their mask keys and strip their pairwise masks. threshold defaults to
        max(n // 2 + 1, ceil(2n / 3)).

    sweep(clients=(5, 20, 50, 200), params=(10_000, 100_000, 1_000_000),
          dropout_fractions=(0.0, 0.1), repeats=1, budget_s=60.0, **kwargs) -> list[dict]
        bench_secagg over the grid; a combination whose estimated round time (from a quick
        calibration of the primitives on this machine, `estimate_round_seconds`) exceeds
        `budget_s` is not run and appears as {"skipped": True, "estimated_seconds": ...}.

    estimate_round_seconds(clients, params, dropout_fraction=0.0, calibration=None) -> float

Everything runs on one core in one process (clients one after another), so "seconds" is the
total work of all N clients plus the server; "client_seconds_max" summed over stages is what
one client would wait for in a deployment where clients run in parallel (network excluded).

SecAgg+ (Bell et al., CCS 2020: masks and shares only within k-regular neighbour groups, cost
O(N log N) instead of O(N^2)) is not implemented: every client pairs with every other, which is
what the N <= 200 grid measures.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation.accounting import RoundReport
from federation.key_agreement import get_curve
from federation.layout import check_same_layout, flatten
from federation.mask_prg import MaskStream
from federation.plain_round import plain_fedavg_round
from federation.quantise import QuantConfig, quantised_weighted_mean
from federation.secagg_params import make_identities
from federation.secure_round import STAGES, run_secure_round
from federation.shamir import PRIME, random_secret

__all__ = ["bench_secagg", "calibrate", "default_threshold", "estimate_round_seconds", "sweep"]


def default_threshold(n: int) -> int:
    return max(n // 2 + 1, math.ceil(2 * n / 3))


def _median_stage_seconds(reports: Sequence[RoundReport]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for stage in reports[0].stages:
        out[stage] = {
            key: statistics.median(getattr(r.stages[stage], attr) for r in reports)
            for key, attr in (("clients_total", "clients_total_s"),
                              ("clients_max", "clients_max_s"), ("server", "server_s"))}
    return out


def bench_secagg(clients: int, params: int, dropout_fraction: float = 0.0, repeats: int = 3,
                 *, threshold: int | None = None, dropout_stage: str = "masked_input",
                 curve: str = "x25519", quant: QuantConfig | None = None,
                 seed: int = 0) -> dict[str, Any]:
    """Measure one (N, d, drop-out) configuration; see the module docstring."""
    if clients < 3 or params < 1 or repeats < 1 or not 0.0 <= dropout_fraction < 1.0:
        raise ValueError("need clients >= 3, params >= 1, repeats >= 1, 0 <= dropout < 1")
    if dropout_stage not in STAGES:
        raise ValueError(f"dropout_stage must be one of {STAGES}")
    threshold = threshold or default_threshold(clients)
    quant = quant or QuantConfig()
    rng = np.random.default_rng(seed)
    updates = [{"weights": rng.normal(scale=0.1, size=params).astype(np.float32)}
               for _ in range(clients)]
    n_drop = int(dropout_fraction * clients + 0.5)  # half rounds up: 10 % of 5 drops one
    dropped = sorted(rng.choice(clients, size=n_drop, replace=False).tolist())
    identities = make_identities(range(clients))
    secure: list[RoundReport] = []
    plain: list[RoundReport] = []
    exact = True
    for rep in range(repeats):
        avg, report = run_secure_round(updates, threshold=threshold, curve=curve, quant=quant,
                                       dropouts={dropout_stage: dropped}, round_number=rep,
                                       identities=identities)
        report.transcript = []  # masked vectors: N x 4d bytes not worth keeping here
        secure.append(report)
        if rep == 0:
            layout = check_same_layout(updates)
            s = report.survivors
            ref = quantised_weighted_mean([flatten(updates[i], layout) for i in s],
                                          [1.0] * len(s), quant)
            exact = bool(np.array_equal(avg["weights"], ref.astype(np.float32)))
        plain.append(plain_fedavg_round(updates)[1])
    sec_bytes = statistics.median(r.mean_bytes_sent + r.mean_bytes_received for r in secure)
    plain_bytes = statistics.median(r.mean_bytes_sent + r.mean_bytes_received for r in plain)
    stages = _median_stage_seconds(secure)
    return {
        "clients": clients,
        "params": params,
        "dropout_fraction": dropout_fraction,
        "dropout_stage": dropout_stage,
        "dropped": len(dropped),
        "threshold": threshold,
        "curve": curve,
        "mod_bits": quant.mod_bits,
        "repeats": repeats,
        "secure": {
            "seconds": statistics.median(r.seconds for r in secure),
            "seconds_min": min(r.seconds for r in secure),
            "stage_seconds": stages,
            "client_seconds_max": sum(v["clients_max"] for v in stages.values()),
            "server_seconds": sum(v["server"] for v in stages.values()),
            "bytes_per_client_sent": statistics.median(r.mean_bytes_sent for r in secure),
            "bytes_per_client_received": statistics.median(r.mean_bytes_received
                                                           for r in secure),
            "exact": exact,
        },
        "plain": {
            "seconds": statistics.median(r.seconds for r in plain),
            "bytes_per_client_sent": statistics.median(r.mean_bytes_sent for r in plain),
            "bytes_per_client_received": statistics.median(r.mean_bytes_received
                                                           for r in plain),
        },
        "bytes_ratio": sec_bytes / plain_bytes,
    }


def calibrate() -> dict[str, float]:
    """Seconds per primitive on this machine (takes ~0.1 s): the inputs of the estimate."""
    def per_call(fn, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n

    curve = get_curve("x25519")
    a, b = curve.generate(), curve.load_public(curve.public_bytes(curve.generate()))
    key = Ed25519PrivateKey.generate()
    sig, pub = key.sign(b"x" * 64), key.public_key()
    words = 100_000
    stream = MaskStream(words, np.dtype("<u4"))
    acc = np.zeros(words, dtype=np.uint32)
    secret = random_secret()
    return {
        "ecdh": per_call(lambda: curve.exchange(a, b), 200),
        "verify": per_call(lambda: pub.verify(sig, b"x" * 64), 200),
        "mask_word": per_call(lambda: stream.add(acc, bytes(32)), 50) / words,
        "mulmod": per_call(lambda: secret * secret % PRIME, 20_000),
    }


def estimate_round_seconds(clients: int, params: int, dropout_fraction: float = 0.0,
                           calibration: dict[str, float] | None = None) -> float:
    """Rough single-core seconds of one secure round plus one plain round (within ~2x)."""
    c = calibration or calibrate()
    n, d = clients, params
    t = default_threshold(n)
    pairs = n * (n - 1)
    drops = round(dropout_fraction * n)
    work = (pairs * (2 * c["ecdh"] + c["verify"] + 60e-6)   # key agreement, signatures, HKDF, GCM
            + 2 * n * n * t * c["mulmod"]                     # Shamir sharing
            + (pairs + 2 * n) * (d + 1) * c["mask_word"]      # client masks, server self-masks
            + drops * (n - drops) * (c["ecdh"] + (d + 1) * c["mask_word"])
            + n * d * 60e-9)                                   # encoding, hashing, copies
    return 1.3 * work


def sweep(clients: Iterable[int] = (5, 20, 50, 200),
          params: Iterable[int] = (10_000, 100_000, 1_000_000),
          dropout_fractions: Iterable[float] = (0.0, 0.1), repeats: int = 1,
          budget_s: float = 60.0, **kwargs: Any) -> list[dict[str, Any]]:
    """`bench_secagg` over a grid, skipping what would exceed `budget_s` (see module doc)."""
    cal = calibrate()
    rows: list[dict[str, Any]] = []
    for n in clients:
        for d in params:
            for frac in dropout_fractions:
                est = estimate_round_seconds(n, d, frac, cal)
                if est * repeats > budget_s:
                    rows.append({"clients": n, "params": d, "dropout_fraction": frac,
                                 "skipped": True, "estimated_seconds": est,
                                 "reason": f"estimated {est:.0f} s a round > {budget_s:.0f} s"})
                    continue
                row = bench_secagg(n, d, frac, repeats, **kwargs)
                row["estimated_seconds"] = est
                row["skipped"] = False
                rows.append(row)
    return rows
