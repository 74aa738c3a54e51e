"""What secure aggregation costs next to plain FedAvg, all-pairs beside SecAgg+, in one process.

    bench_round(clients, params, *, graph="auto", threat=None, dropout_fraction=0.0,
                dropout_stage="masked_input", repeats=1, threshold=None, degree=None,
                curve="x25519", quant=None, seed=0) -> dict
        One configuration: N clients each holding one float32 tensor of `params` values. Runs
        the secure round and plain FedAvg (as bytes) `repeats` times each and returns medians:
        total in-process seconds (every client and the server, one after another on one
        core), the critical path (per stage, slowest client + server, summed: what a
        deployment with a core per client waits for, network excluded), seconds per stage,
        bytes per surviving client sent/received, the same for plain FedAvg and their ratio,
        and whether the secure result equalled the quantised plain average exactly.
        floor(`dropout_fraction` N) clients fall silent at `dropout_stage`;
        "masked_input" (after sharing keys) is the costly case: the server rebuilds their mask
        keys and strips their pairwise masks.
        Python's cyclic garbage collector is paused while a round is timed (as `timeit` does;
        `keep_gc=True` leaves it on): with all N clients in this one process, each full
        collection walks every client's objects, a cost (~0.5 s of the server's ~1.7 s at
        N = 1000, measured) that no party pays in a deployment, where each has its own heap.

    bench_secagg(clients, params, dropout_fraction=0.0, repeats=3, **kwargs) -> dict
        bench_round with the older positional signature (kept for `fedmarl bench secagg`).

    sweep(clients=(20, 50, 200, 1000, 5000), params=(100_000,), graphs=("complete", "harary"),
          dropout_fraction=0.05, repeats=1, budget_s=300.0, threat=None, **kwargs) -> list
        bench_round for every N, d and graph, side by side. A combination whose estimated
        time (from a calibration of the primitives on this machine) exceeds `budget_s` is not
        run and appears as {"skipped": True, "estimated_seconds": ..., "reason": ...}; so
        does a Harary graph the threat model cannot fit below N - 1.

    format_table(rows) -> str                       the rows as a fixed-width text table
    python -m federation.bench [--clients 20 50 ...] [--params 100000] [--graphs ...]
        [--threat semi-malicious] [--corrupt 0.05] [--threat-dropout 0.05] [--dropout 0.05]
        [--dropout-stage masked_input] [--keep-gc]
        [--repeats 1] [--budget 300] [--json]      prints the table (or JSON rows)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import statistics
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from federation import signing
from federation.accounting import RoundReport
from federation.errors import ConfigError, ThresholdError
from federation.graph import COMPLETE, HARARY, ThreatModel
from federation.key_agreement import get_curve
from federation.layout import check_same_layout, flatten
from federation.mask_prg import MaskStream
from federation.plain_round import plain_fedavg_round
from federation.quantise import QuantConfig, quantised_weighted_mean
from federation.secure_round import STAGES, resolve_graph, run_secure_round
from federation.shamir import PRIME, random_secret
from federation.trust import make_identities

__all__ = ["bench_round", "bench_secagg", "calibrate", "estimate_round_seconds",
           "fitting_quant", "format_table", "main", "sweep"]

_DISTINCT_INPUTS = 16  # clients share this many input arrays (memory stays flat at N = 5000)


def _median_stage_seconds(reports: Sequence[RoundReport]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for stage in reports[0].stages:
        out[stage] = {
            key: statistics.median(getattr(r.stages[stage], attr) for r in reports)
            for key, attr in (("clients_total", "clients_total_s"),
                              ("clients_max", "clients_max_s"), ("server", "server_s"))}
    return out


def _plain_figures(reports: Sequence[RoundReport]) -> dict[str, float]:
    return {
        "seconds": statistics.median(r.seconds for r in reports),
        "critical_path_seconds": statistics.median(r.critical_path_s for r in reports),
        "bytes_per_client_sent": statistics.median(r.mean_bytes_sent for r in reports),
        "bytes_per_client_received": statistics.median(r.mean_bytes_received for r in reports),
    }


def bench_round(clients: int, params: int, *, graph: str = "auto",
                threat: ThreatModel | None = None, dropout_fraction: float = 0.0,
                dropout_stage: str = "masked_input", repeats: int = 1,
                threshold: int | None = None, degree: int | None = None,
                curve: str = "x25519", quant: QuantConfig | None = None,
                seed: int = 0, keep_gc: bool = False,
                signature: str = signing.DEFAULT.name) -> dict[str, Any]:
    """Measure one (N, d, graph, drop-out) configuration; see the module docstring.
    `signature`: the parties' identity signature scheme (`signing.SCHEMES`)."""
    if clients < 3 or params < 1 or repeats < 1 or not 0.0 <= dropout_fraction < 1.0:
        raise ValueError("need clients >= 3, params >= 1, repeats >= 1, 0 <= dropout < 1")
    if dropout_stage not in STAGES:
        raise ValueError(f"dropout_stage must be one of {STAGES}")
    kind, k, t = resolve_graph(clients, threshold, graph, threat, degree)
    quant = quant or fitting_quant(clients)
    rng = np.random.default_rng(seed)
    base = [rng.normal(scale=0.1, size=params).astype(np.float32)
            for _ in range(min(clients, _DISTINCT_INPUTS))]
    updates = [{"weights": base[i % len(base)]} for i in range(clients)]
    # At most floor(fraction N), as the threat model counts them (more can rightly fail a
    # SecAgg+ round whose k and t were sized for that many).
    n_drop = math.floor(dropout_fraction * clients + 1e-9)
    dropped = sorted(rng.choice(clients, size=n_drop, replace=False).tolist())
    identities = make_identities(range(clients), scheme=signature)
    secure: list[RoundReport] = []
    plain: list[RoundReport] = []
    exact = True
    timing = contextlib.nullcontext if keep_gc else _collector_paused
    for rep in range(repeats):
        with timing():
            avg, report = run_secure_round(
                updates, threshold=t, curve=curve, quant=quant,
                dropouts={dropout_stage: dropped}, round_number=rep, identities=identities,
                graph=kind, degree=k if kind == HARARY else None, threat=threat,
                keep_transcript=False)
        secure.append(report)
        if rep == 0:
            layout = check_same_layout(updates)
            s = report.survivors
            ref = quantised_weighted_mean([flatten(updates[i], layout) for i in s],
                                          [1.0] * len(s), quant)
            exact = bool(np.array_equal(avg["weights"], ref.astype(np.float32)))
        with timing():
            plain.append(plain_fedavg_round(updates)[1])
        for r in plain:
            r.transcript = []
    stages = _median_stage_seconds(secure)
    sec = {
        "seconds": statistics.median(r.seconds for r in secure),
        "seconds_min": min(r.seconds for r in secure),
        "critical_path_seconds": statistics.median(r.critical_path_s for r in secure),
        "stage_seconds": stages,
        "client_seconds_max": sum(v["clients_max"] for v in stages.values()),
        "server_seconds": sum(v["server"] for v in stages.values()),
        # Steadier than wall-clock seconds on a shared machine: other jobs' turns excluded.
        "server_cpu_seconds": statistics.median(
            sum(st.server_cpu_s for st in r.stages.values()) for r in secure),
        "bytes_per_client_sent": statistics.median(r.mean_bytes_sent for r in secure),
        "bytes_per_client_received": statistics.median(r.mean_bytes_received for r in secure),
        "bytes_max_client": max(max(r.bytes_sent[c] + r.bytes_received[c] for c in r.survivors)
                                for r in secure),
        "n_survivors": len(secure[0].survivors),
        "exact": exact,
    }
    pl = _plain_figures(plain)
    ratio = ((sec["bytes_per_client_sent"] + sec["bytes_per_client_received"])
             / (pl["bytes_per_client_sent"] + pl["bytes_per_client_received"]))
    return {
        "clients": clients, "params": params, "graph": kind, "degree": k, "threshold": t,
        "threat": _threat_dict(threat) if kind == HARARY or threshold is None else None,
        "dropout_fraction": dropout_fraction, "dropout_stage": dropout_stage,
        "dropped": len(dropped), "curve": curve, "signature": signature,
        "mod_bits": quant.mod_bits,
        "frac_bits": quant.frac_bits,
        "repeats": repeats, "secure": sec, "plain": pl, "bytes_ratio": ratio,
        "gc_paused": not keep_gc, "skipped": False,
    }


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic collector off for the block (reference counting still frees everything
    acyclic), then one full collection, untimed, and back to how it was."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
        gc.collect()


def fitting_quant(clients: int) -> QuantConfig:
    """The default QuantConfig, with fewer fractional bits where 32-bit words would not hold the
    sum of `clients` inputs (N = 5000 needs q = 14): keeps masked words the size of float32."""
    for frac_bits in range(16, 7, -1):
        quant = QuantConfig(frac_bits=frac_bits)
        if quant.required_mod_bits(clients) <= quant.mod_bits:
            return quant
    return QuantConfig(mod_bits=64)


def _threat_dict(threat: ThreatModel | None) -> dict[str, Any]:
    t = threat or ThreatModel()
    return {"corrupt_fraction": t.corrupt_fraction, "dropout_fraction": t.dropout_fraction,
            "server": t.server}


def bench_secagg(clients: int, params: int, dropout_fraction: float = 0.0, repeats: int = 3,
                 **kwargs: Any) -> dict[str, Any]:
    """`bench_round` with the positional signature `fedmarl bench secagg` calls."""
    return bench_round(clients, params, dropout_fraction=dropout_fraction, repeats=repeats,
                       **kwargs)


def calibrate(signature: str = signing.DEFAULT.name) -> dict[str, float]:
    """Seconds per primitive on this machine (takes ~0.1 s): the inputs of the estimate."""
    def per_call(fn, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t0) / n

    curve = get_curve("x25519")
    a, b = curve.generate(), curve.load_public(curve.public_bytes(curve.generate()))
    scheme = signing.scheme(signature)
    key = scheme.generate()
    sig, pub = scheme.sign(key, b"x" * 64), key.public_key()
    words = 100_000
    stream = MaskStream(words, np.dtype("<u4"))
    acc = np.zeros(words, dtype=np.uint32)
    secret = random_secret()
    return {
        "ecdh": per_call(lambda: curve.exchange(a, b), 100),
        "verify": per_call(lambda: scheme.verify(pub, sig, b"x" * 64), 100),
        "mask_word": per_call(lambda: stream.add(acc, bytes(32)), 30) / words,
        "mulmod": per_call(lambda: secret * secret % PRIME, 20_000),
    }


def estimate_round_seconds(clients: int, params: int, dropout_fraction: float = 0.0,
                           calibration: dict[str, float] | None = None,
                           degree: int | None = None, threshold: int | None = None) -> float:
    """Rough single-core seconds of one secure round plus one plain round (within ~2x).

    `degree` None means the complete graph (k = N - 1)."""
    c = calibration or calibrate()
    n, d = clients, params
    k = n - 1 if degree is None else degree
    t = threshold or (n // 2 + 1 if degree is None else k // 2 + 1)
    drops = round(dropout_fraction * n)
    verifies = k + (t if degree is None else 1.5 * k) + 6   # advertisements, U3 signatures
    work = (n * (verifies * c["verify"] + 2 * k * c["ecdh"] + k * 60e-6)  # + HKDF, GCM
            + 2 * n * k * t * c["mulmod"]                                 # Shamir sharing
            + n * (k + 3) * (d + 5) * c["mask_word"]                      # masks, self-masks
            + drops * k * (c["ecdh"] + (d + 5) * c["mask_word"])          # drop-outs' masks
            + n * d * 80e-9)                                              # encoding, copies
    return 1.3 * work


def sweep(clients: Iterable[int] = (20, 50, 200, 1000, 5000),
          params: Iterable[int] = (100_000,),
          graphs: Iterable[str] = (COMPLETE, HARARY), dropout_fraction: float = 0.05,
          repeats: int = 1, budget_s: float = 300.0, threat: ThreatModel | None = None,
          **kwargs: Any) -> list[dict[str, Any]]:
    """`bench_round` over N x d x graph, skipping what would exceed `budget_s` (module doc)."""
    cal = calibrate(kwargs.get("signature", signing.DEFAULT.name))
    rows: list[dict[str, Any]] = []
    for n in clients:
        for d in params:
            for g in graphs:
                base = {"clients": n, "params": d, "graph": g,
                        "dropout_fraction": dropout_fraction, "skipped": True}
                try:
                    kind, k, t = resolve_graph(n, None, g, threat)
                except ConfigError as exc:
                    rows.append({**base, "reason": f"no SecAgg+ graph: {exc}"})
                    continue
                est = estimate_round_seconds(n, d, dropout_fraction, cal,
                                             None if kind == COMPLETE else k, t)
                base.update(degree=k, threshold=t, estimated_seconds=est)
                if est * repeats > budget_s:
                    rows.append({**base, "reason": f"estimated {est:.0f} s a round > "
                                                   f"{budget_s:.0f} s budget"})
                    continue
                try:
                    row = bench_round(n, d, graph=kind, threat=threat,
                                      dropout_fraction=dropout_fraction, repeats=repeats,
                                      **kwargs)
                except (ConfigError, ThresholdError, MemoryError) as exc:
                    rows.append({**base, "reason": f"{type(exc).__name__}: {exc}"})
                    continue
                row["estimated_seconds"] = est
                row["calibration_us"] = {k: v * 1e6 for k, v in cal.items()}
                rows.append(row)
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """One line per configuration: graph, k/t, seconds, critical path, bytes vs plain."""
    head = (f"{'N':>5} {'d':>7} {'graph':>8} {'k':>4} {'t':>4} {'drop':>4} {'total s':>9} "
            f"{'crit. s':>8} {'client s':>8} {'server s':>8} {'bytes/client':>13} "
            f"{'plain':>10} {'ratio':>6} {'exact':>5}")
    lines = [head, "-" * len(head)]
    for r in rows:
        lead = (f"{r['clients']:>5} {r['params']:>7.0e} {r['graph']:>8} "
                f"{r.get('degree', ''):>4} {r.get('threshold', ''):>4}")
        if r.get("skipped"):
            lines.append(f"{lead} {'':>4} skipped: {r.get('reason', '')}")
            continue
        s, p = r["secure"], r["plain"]
        lines.append(
            f"{lead} {r['dropped']:>4} {s['seconds']:>9.2f} {s['critical_path_seconds']:>8.3f} "
            f"{s['client_seconds_max']:>8.3f} {s['server_seconds']:>8.3f} "
            f"{s['bytes_per_client_sent'] + s['bytes_per_client_received']:>13,.0f} "
            f"{p['bytes_per_client_sent'] + p['bytes_per_client_received']:>10,.0f} "
            f"{r['bytes_ratio']:>6.3f} {s['exact']!s:>5}")
    return "\n".join(lines)


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The sweep's flags; `python -m federation.bench` and `fedmarl bench secagg` share them."""
    ap.add_argument("--clients", type=int, nargs="+", default=[20, 50, 200, 1000, 5000])
    ap.add_argument("--params", type=int, nargs="+", default=[100_000])
    ap.add_argument("--graphs", nargs="+", default=[COMPLETE, HARARY],
                    choices=[COMPLETE, HARARY, "auto"])
    ap.add_argument("--threat", default="semi-malicious",
                    choices=["semi-honest", "semi-malicious"])
    ap.add_argument("--corrupt", type=float, default=0.05,
                    help="corrupt-client fraction of the threat model")
    ap.add_argument("--threat-dropout", type=float, default=0.05,
                    help="drop-out fraction of the threat model (sets SecAgg+'s k and t)")
    ap.add_argument("--dropout", type=float, default=0.05,
                    help="fraction of clients that actually drop out in the measured round")
    ap.add_argument("--dropout-stage", default="masked_input", choices=list(STAGES))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--budget", type=float, default=300.0,
                    help="skip a configuration estimated to take longer (seconds)")
    ap.add_argument("--keep-gc", action="store_true",
                    help="leave Python's cyclic garbage collector on while timing (it walks "
                         "every in-process client's objects: a cost no deployment pays)")
    ap.add_argument("--signature", default=signing.DEFAULT.name, choices=sorted(signing.SCHEMES),
                    help="identity signature scheme of every party (default %(default)s)")
    ap.add_argument("--json", action="store_true", help="print the rows as JSON")


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The sweep the parsed flags ask for."""
    threat = ThreatModel(args.corrupt, args.threat_dropout, args.threat)
    return sweep(args.clients, args.params, args.graphs, args.dropout, args.repeats,
                 args.budget, threat, dropout_stage=args.dropout_stage,
                 keep_gc=args.keep_gc, signature=args.signature)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m federation.bench",
                                 description="secure aggregation (all-pairs and SecAgg+) vs "
                                             "plain FedAvg, one round, all parties in-process")
    add_arguments(ap)
    args = ap.parse_args(argv)
    rows = run(args)
    print(json.dumps(rows, indent=1) if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
