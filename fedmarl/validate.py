"""`fedmarl validate`: does a Python-only (twin) result survive packet-level ns-3?

The same policy and scenario parameters run on both backends for E episodes (the same episode
seeds and batch shapes, so a policy's own randomness, e.g. `random`'s channel draw, is the same
on both; the channel realisations are not, the two simulators have their own RNG streams). The
report puts side by side:
- rate CDFs per device and step (twin: finite-blocklength formula; ns-3: delivered payload per
  channel use, i.e. real packet throughput), the mean and 5th percentile with 95 % CIs, and the
  two-sample Kolmogorov-Smirnov distance;
- SINR on the channel in use and the large-scale gain of interfering links (path loss +
  shadowing, from `coupling()`, sampled at each large-scale refresh);
- what only ns-3 has (packet delay mean / p99, packet error rate, queue length, AP airtime) next to
  what the twin's full-buffer abstraction predicts for it;
- for a trained run (`--policy RUN_DIR`): the sim-to-packet transfer gap, the run's result on the
  backend it was not trained on minus its result on the one it was.

Confidence intervals. Samples of one episode are strongly correlated (fading rho = 0.29 per step,
large scale constant over 10 steps, positions over seconds), so an iid formula over the ~E T D
samples would be far too narrow. Episodes are independent: the mean's CI is a Student-t interval
over episode means; the 5th percentile's is a cluster bootstrap (episodes resampled with
replacement). The KS p-value is reported but likewise assumes iid samples; the verdict uses the
distance D, an effect size that does not shrink with the sample count.

Verdicts (tolerances in TOLERANCES, each with its reason): "agree" when the difference is within
tolerance; "differ" when it is outside and the 95 % CI of the difference excludes 0 (for the
statistical rows); "inconclusive" when outside but the CI still contains 0 (more episodes).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from agents.baselines import BASELINES, Policy, make_baseline
from fedmarl.evaluate import run_episodes
from fedmarl.metrics import EpisodeRecorder, jain
from pybridge import make_config
from pybridge.channel import inf
from pybridge.config import ConfigError
from pybridge.ns3_backend import copy_run
from pybridge.twin.replay import read_trace, replay

BACKENDS = ("twin", "ns3")
BOOTSTRAP = 1000
PERMUTATIONS = 200
PLOT_POINTS = 2000

# metric -> (kind, tolerance, why). kind "rel": |ns3 - twin| / |twin|; "abs": |ns3 - twin|.
TOLERANCES: dict[str, tuple[str, float, str]] = {
    "mean_rate": ("rel", 0.05, ("5 %: half the smallest gap between the baselines the comparison"
                  " must preserve (greedy-filtered vs random ~10 %, CGC vs random ~15 %)")),
    "p5_rate": ("rel", 0.15, ("15 %: a tail statistic from 5 % of the samples; CGC's p5 is ~2x"
                " random's, so 15 % still keeps the ranking")),
    "mean_rate_shannon": ("rel", 0.05, "as mean_rate"),
    "p5_rate_shannon": ("rel", 0.15, "as p5_rate"),
    "jain_fairness": ("abs", 0.02, "0.02: the spread between baselines is 0.92..0.98"),
    "ks_rate": ("abs", 0.10, ("sup |F_twin - F_ns3| <= 0.10: no rate threshold (e.g. r_min) sees"
                " more than 10 percentage points of samples move across it")),
    "ks_rate_shannon": ("abs", 0.10, "as ks_rate"),
    "ks_sinr": ("abs", 0.10, "as ks_rate"),
    "sinr_db_p50": ("abs", 1.0, "1 dB: the measurement accuracy 3GPP asks of RSRQ/SINR reports"),
    "ks_gain": ("abs", 0.05, ("0.05: the same path-loss, LOS and shadowing models on both sides;"
                " only the realisations (mobility, fields) differ")),
    "delay_mean_s": ("rel", 0.15, ("15 %: TBs carry whole packets, n = ceil(P S / r) <= l, so a TB"
                     " is up to S / (r l) = 12.5 % (S = 256 bit, r = 8 bit/use) shorter than l")),
    "delay_p99_s": ("rel", 0.25, "25 %: the 15 % above plus the delay histogram's +-11 % bins"),
    "packet_error_rate": ("ratio", 2.0, "within a factor 2 of the FBL target eps"),
    "queue_mean_packets": ("abs", 0.5, ("full buffer: the twin assumes an always-full,"
                           " never-queued backlog (ns-3 reports 0 by contract)")),
    "airtime": ("abs", 0.05, "the twin's interference sum has every AP busy all interval"),
}


# ------------------------------------------------------------------------------ policies
def resolve_policy(spec: str, scenario: str, params: dict[str, Any]
                   ) -> tuple[Policy, str, dict[str, Any], dict[str, Any] | None]:
    """(policy, scenario, params, run info) for a baseline name or a `fedmarl train` run dir."""
    if spec in BASELINES:
        return make_baseline(spec), scenario, dict(params), None
    run = Path(spec)
    if not run.is_dir():
        raise ConfigError(f"--policy {spec!r} is neither a baseline ({', '.join(BASELINES)})"
                          " nor a run directory")
    from fedmarl.runs import load_run_policy  # torch: only for trained runs

    policy, record = load_run_policy(run)
    if scenario != record["scenario"]:
        raise ConfigError(f"run {run} was trained on {record['scenario']!r}, not {scenario!r}")
    trained_on = "twin"
    cfg_path = run / "config.yaml"
    if cfg_path.exists():
        import yaml

        trained_on = yaml.safe_load(cfg_path.read_text()).get("backend", "twin")
    # The run's scenario parameters, with --set on top (e.g. a different N to test transfer).
    merged = {**record["params"], **params}
    info = {"run": str(run), "algo": record["algo"], "trained_on": trained_on,
            "train_episodes": record["episode"], "params_overridden": sorted(params)}
    return policy, record["scenario"], merged, info


# ---------------------------------------------------------------------------- collection
def collect(scenario: str, policy: Policy, episodes: int, seed: int, backend: str,
            params: dict[str, Any], batch: int, on_episode=None,
            trace_dir: Path | None = None) -> dict[str, Any]:
    """Run the episodes on one backend; the per-sample arrays and the eval metric summary.

    `trace_dir` (ns-3 only): every scenario process writes its channel trace there (one file
    per batch shape and copy); "traces" lists, in episode order, (file, RngRun) of each episode.
    """
    cfg = make_config(scenario, **params)
    traces: list[tuple[Path, int]] = []
    recorder = EpisodeRecorder()
    gains: list[np.ndarray] = []  # per episode: interferer gains at every refresh, dB
    batch_gains: list[np.ndarray] = []
    airtime: list[np.ndarray] = []
    off_diag = ~np.eye(cfg.n_subnetworks, dtype=bool)
    tracing = trace_dir is not None and backend == "ns3"

    def ns3_options(n: int) -> dict[str, Any] | None:
        return {"extra_args": [f"--trace={trace_dir}/n{n}-c{{copy}}.trace"]} if tracing else None

    def on_batch_start(n: int, s: int) -> None:
        if tracing:
            traces.extend((trace_dir / f"n{n}-c{b}.trace", copy_run(s, b, n)) for b in range(n))
        batch_gains.clear()

    def before_act(env, t: int) -> None:
        if t % cfg.large_scale_update_steps == 0:
            # Large-scale gain of every interfering link (path loss + shadowing, tx power
            # removed): constant between refreshes, so one sample per refresh.
            batch_gains.append(np.array(env.core.coupling()[:, off_diag], copy=True))

    def after_step(env, t: int) -> None:
        if hasattr(env.core.last, "airtime"):
            airtime.append(np.array(env.core.last.airtime, copy=True))

    def on_batch_end(n: int) -> None:
        g = np.stack(batch_gains, axis=1)  # [n, refreshes, links]
        for b in range(n):
            gb = g[b][g[b] > 0]
            gains.append(10.0 * np.log10(gb) - (cfg.tx_power_dbm - 30.0))
        if on_episode:
            on_episode(n)

    t0 = time.perf_counter()
    run_episodes(scenario, policy, episodes, seed, backend, batch, params, recorder,
                 ns3_options=ns3_options, on_batch_start=on_batch_start,
                 before_act=before_act, after_step=after_step, on_batch_end=on_batch_end)
    summary = recorder.summary(cfg.r_min)
    eps = recorder.episodes
    return {
        "summary": summary, "wall_seconds": time.perf_counter() - t0,
        # Per episode, [T, D] (device-step samples); lists keep the episode clusters for the CIs.
        "rate": [e["rate"].reshape(e["rate"].shape[0], -1) for e in eps],
        "rate_shannon": [e["rate_shannon"].reshape(e["rate"].shape[0], -1) for e in eps],
        "sinr_db": [10.0 * np.log10(e["sinr"].ravel()) for e in eps],
        # [T, D] per episode, kept for trace mode (ns-3: the measured, busy-weighted SINR).
        "sinr": [e["sinr"].reshape(e["sinr"].shape[0], -1) for e in eps],
        "traces": traces,
        "gain_db": gains,
        "airtime": float(_flat(airtime).mean()) if airtime else None,
        "cfg": cfg,
    }


# ----------------------------------------------------------------------------- statistics
def mean_ci(episode_means: np.ndarray) -> tuple[float, float, float]:
    """Mean of episode means and its 95 % Student-t interval (NaN bounds for one episode)."""
    x = np.asarray(episode_means, dtype=np.float64)
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def _boot_quantile(episodes: list[np.ndarray], q: float, rng: np.random.Generator
                   ) -> np.ndarray:
    """Cluster-bootstrap replicates of the pooled q-th percentile (episodes resampled)."""
    E = len(episodes)
    idx = rng.integers(0, E, size=(BOOTSTRAP, E))
    return np.array([np.percentile(np.concatenate([episodes[i] for i in row]), q)
                     for row in idx])


def _welch_half(ma: np.ndarray, mb: np.ndarray) -> float:
    """Half-width of Welch's 95 % interval for mean(mb) - mean(ma) (NaN below 2 each)."""
    if ma.size < 2 or mb.size < 2:
        return math.nan
    va, vb = ma.var(ddof=1) / ma.size, mb.var(ddof=1) / mb.size
    se = math.sqrt(va + vb)
    if se == 0:
        return 0.0
    dof = (va + vb) ** 2 / (va**2 / (ma.size - 1) + vb**2 / (mb.size - 1))
    return float(stats.t.ppf(0.975, dof) * se)


def ks_permutation(a: list[np.ndarray], b: list[np.ndarray], seed: int,
                   n_perm: int = PERMUTATIONS) -> dict[str, float]:
    """KS distance D of the pooled samples, and its 95 % critical value under "same model".

    The critical value comes from re-assigning whole episodes to the two sides at random (the
    episodes are exchangeable if both backends simulate the same distribution), so it includes
    the within-episode correlation that makes scipy's iid p-value far too small.
    """
    ks = stats.ks_2samp(np.concatenate(a), np.concatenate(b))
    pool = [*a, *b]
    rng = np.random.default_rng(seed)
    null = np.empty(n_perm)
    for i in range(n_perm):
        perm = rng.permutation(len(pool))
        left = np.concatenate([pool[j] for j in perm[:len(a)]])
        right = np.concatenate([pool[j] for j in perm[len(a):]])
        null[i] = stats.ks_2samp(left, right).statistic
    return {"distance": float(ks.statistic), "critical_95": float(np.percentile(null, 95)),
            "pvalue_episodes": float((1 + np.sum(null >= ks.statistic)) / (1 + n_perm)),
            "pvalue_iid": float(ks.pvalue)}


def compare_samples(a: list[np.ndarray], b: list[np.ndarray], seed: int,
                    quantiles: tuple[float, ...] = (5.0,)) -> dict[str, Any]:
    """Twin (a) vs ns-3 (b) samples, one array per episode: mean and quantiles with 95 % CIs,
    the CIs of the differences (ns-3 - twin), and the KS distance with its episode-level test."""
    rng = np.random.default_rng(seed)
    a, b = [np.ravel(x) for x in a], [np.ravel(x) for x in b]
    ma, mb = np.array([x.mean() for x in a]), np.array([x.mean() for x in b])
    mean_a, mean_b = mean_ci(ma), mean_ci(mb)
    d_mean, half = mean_b[0] - mean_a[0], _welch_half(ma, mb)
    out: dict[str, Any] = {
        "mean": {"twin": mean_a[0], "twin_ci": mean_a[1:], "ns3": mean_b[0],
                 "ns3_ci": mean_b[1:], "diff": d_mean, "diff_ci": (d_mean - half, d_mean + half)}}
    nan2 = (math.nan, math.nan)
    for q in quantiles:
        qa = float(np.percentile(np.concatenate(a), q))
        qb = float(np.percentile(np.concatenate(b), q))
        ci_a = ci_b = diff_ci = nan2
        if len(a) > 1 and len(b) > 1:
            ba, bb = _boot_quantile(a, q, rng), _boot_quantile(b, q, rng)
            ci_a = tuple(np.percentile(ba, [2.5, 97.5]))
            ci_b = tuple(np.percentile(bb, [2.5, 97.5]))
            diff_ci = tuple(np.percentile(bb - ba, [2.5, 97.5]))
        out[f"p{q:g}"] = {"twin": qa, "twin_ci": ci_a, "ns3": qb, "ns3_ci": ci_b,
                          "diff": qb - qa, "diff_ci": diff_ci}
    out["ks"] = ks_permutation(a, b, seed + 7)
    return out


def jain_per_episode(rates: list[np.ndarray]) -> np.ndarray:
    """Jain's index over devices of each episode's time-averaged device rates ([T, D] each)."""
    return np.array([float(jain(r.mean(axis=0))) for r in rates])


def verdict(metric: str, twin: float | None, ns3: float | None,
            diff_ci: tuple[float, float] | None = None) -> dict[str, Any]:
    """One row of the verdict table (see TOLERANCES and the module docstring)."""
    kind, tol, why = TOLERANCES[metric]
    row: dict[str, Any] = {"metric": metric, "twin": twin, "ns3": ns3, "tolerance": tol,
                           "tolerance_kind": kind, "why": why}
    if twin is None or ns3 is None or not (np.isfinite(twin) and np.isfinite(ns3)):
        row.update(deviation=None, verdict="n/a")
        return row
    if kind == "rel":
        dev = abs(ns3 - twin) / abs(twin) if twin else math.inf
    elif kind == "ratio":
        dev = max(ns3, twin) / max(min(ns3, twin), 1e-300)
    else:
        dev = abs(ns3 - twin)
    row["deviation"] = dev
    if dev <= tol:
        row["verdict"] = "agree"
    elif diff_ci is not None and np.all(np.isfinite(diff_ci)) and diff_ci[0] <= 0 <= diff_ci[1]:
        row["verdict"] = "inconclusive"
    else:
        row["verdict"] = "differ"
    return row


def ks_verdict(metric: str, ks: dict[str, float]) -> dict[str, Any]:
    """KS row: agree if D <= tolerance; differ only if D also exceeds the episode-level
    permutation critical value (else the distance may be realisation noise: inconclusive)."""
    row = verdict(metric, 0.0, ks["distance"])
    row["twin"] = None  # a distance between the two: one number, shown in the ns-3 column
    row.update(critical_95=ks["critical_95"], pvalue_episodes=ks["pvalue_episodes"])
    if row["verdict"] != "agree" and ks["distance"] <= ks["critical_95"]:
        row["verdict"] = "inconclusive"
    return row


# ---------------------------------------------------------------------------- validation
def validate(scenario: str = "inx-factory", policy: str = "greedy", episodes: int = 5,
             seed: int = 0, params: dict[str, Any] | None = None, out: str | Path | None = None,
             batch: int | None = None, on_episode=None, trace: bool = True) -> dict[str, Any]:
    """Run `policy` on the twin and on ns-3 and compare; writes report files when `out` is set.

    `trace`: the ns-3 side also records its channel (`--trace`, into a temporary directory
    removed afterwards) and the twin's formulas are replayed on it (see `trace_analysis`); it
    costs a few MB of disk per episode at N = 20 and well under a second of replay.
    Returns the JSON-able result (see README, "Validation").
    """
    if episodes < 1:
        raise ConfigError("--episodes must be >= 1")
    pol, scenario, params, run_info = resolve_policy(policy, scenario, dict(params or {}))
    # One batch shape for both backends (ns-3 runs one process per copy: at most one per core).
    batch = batch or min(episodes, max(1, os.cpu_count() or 1))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedmarl-trace-") as tmp:
        trace_dir = Path(tmp) if trace else None
        res = {b: collect(scenario, pol, episodes, seed, b, params, batch, on_episode,
                          trace_dir) for b in BACKENDS}
        tw, ns = res["twin"], res["ns3"]
        cfg = tw["cfg"]
        traced = trace_analysis(cfg, ns) if trace else None
    fbl = compare_samples(tw["rate"], ns["rate"], seed)
    sha = compare_samples(tw["rate_shannon"], ns["rate_shannon"], seed + 1)
    sinr = compare_samples(tw["sinr_db"], ns["sinr_db"], seed + 2, quantiles=(5.0, 50.0, 95.0))
    gain = compare_samples(tw["gain_db"], ns["gain_db"], seed + 3, quantiles=(5.0, 50.0, 95.0))
    ja, jb = jain_per_episode(tw["rate"]), jain_per_episode(ns["rate"])
    jd, jh = float(jb.mean() - ja.mean()), _welch_half(ja, jb)

    rows = [
        verdict("mean_rate", fbl["mean"]["twin"], fbl["mean"]["ns3"], fbl["mean"]["diff_ci"]),
        verdict("p5_rate", fbl["p5"]["twin"], fbl["p5"]["ns3"], fbl["p5"]["diff_ci"]),
        verdict("mean_rate_shannon", sha["mean"]["twin"], sha["mean"]["ns3"],
                sha["mean"]["diff_ci"]),
        verdict("p5_rate_shannon", sha["p5"]["twin"], sha["p5"]["ns3"], sha["p5"]["diff_ci"]),
        verdict("jain_fairness", float(ja.mean()), float(jb.mean()), (jd - jh, jd + jh)),
        ks_verdict("ks_rate", fbl["ks"]),
        ks_verdict("ks_rate_shannon", sha["ks"]),
        verdict("sinr_db_p50", sinr["p50"]["twin"], sinr["p50"]["ns3"], sinr["p50"]["diff_ci"]),
        ks_verdict("ks_sinr", sinr["ks"]),
        ks_verdict("ks_gain", gain["ks"]),
    ]
    packet = packet_level(cfg, ns["summary"], ns["airtime"])

    result: dict[str, Any] = {
        "scenario": scenario, "policy": pol.name, "policy_spec": policy, "episodes": episodes,
        "seed": seed, "params": dict(params),
        "rates": {"fbl": fbl, "shannon": sha}, "sinr_db": sinr, "interferer_gain_db": gain,
        "verdicts": rows, "packet_level": packet, "trace": traced,
        "backends": {b: {**res[b]["summary"], "wall_seconds": res[b]["wall_seconds"]}
                     for b in BACKENDS},
        "wall_seconds": time.perf_counter() - t0,
    }
    if run_info:
        result["transfer"] = transfer_gap(run_info, fbl, sha)
    if out is not None:
        write_report(result, res, Path(out))
    return _jsonable(result)


# Replayed vs ns-3 full-occupancy SINR: the same float64 powers summed in another order, so only
# rounding (~1e-15 relative) may separate them; anything near 1e-9 would be a model difference.
CHANNEL_MODEL_RTOL = 1e-9

TRACE_WHAT = {
    "channel_model": ("the twin's interference and SINR formulas replayed on the channel ns-3"
                      " drew (positions, LOS states, shadowing, fading) against ns-3's own"
                      " full-occupancy SINR: zero up to rounding means the two backends implement"
                      " the same channel model, so the twin-vs-ns-3 differences above come from"
                      " the channel realisations (separate RNG streams) and from the packet"
                      " level, not from the model"),
    "mac_effect": ("ns-3's measured SINR (each interferer weighted by the fraction of the"
                   " interval its AP actually transmitted) minus the full-occupancy SINR the"
                   " twin assumes, on the channel in use, in dB: what MAC timing (idle gaps"
                   " between TBs, switching delay) does to interference; it is >= 0 because an"
                   " idle AP interferes less"),
    "packet_effect": ("ns-3's delivered throughput minus the twin's FBL rate replayed on the same"
                      " channel, per device and step: everything packet-level (link adaptation"
                      " from the previous TB's SINR, whole packets per TB, decoding failures,"
                      " queueing) plus the MAC effect on the rate; `split` separates the two"
                      " with the FBL rate at ns-3's measured SINR"),
}


def trace_analysis(cfg, ns: dict[str, Any]) -> dict[str, Any]:
    """Trace mode: attribute ns-3's per-step result to channel model, MAC and packet events.

    Each ns-3 episode's trace (records t = 1..T: the intervals whose outcome step t reports)
    is replayed with the twin's formulas (pybridge/twin/replay.py) and compared sample by sample
    with what the same ns-3 run measured; see TRACE_WHAT for what each figure is.
    """
    T = cfg.episode_steps
    owner = np.repeat(np.arange(cfg.n_subnetworks), cfg.n_devices)
    loaded: dict[Path, tuple[Any, Any, np.ndarray]] = {}
    consumed: dict[Path, int] = {}
    rel_max = 0.0
    mac_db, d_total, d_mac, d_pkt, replayed, thr = [], [], [], [], [], []
    for i, (path, run) in enumerate(ns["traces"]):
        if path not in loaded:
            tr = read_trace(path)
            loaded[path] = (tr, replay(tr, cfg.blocklength, cfg.error_prob),
                            np.flatnonzero(tr.t == 0))
        tr, rp, starts = loaded[path]
        # A process's file holds its episodes in order, each starting with the t = 0 warm-up.
        k = consumed.get(path, 0)
        consumed[path] = k + 1
        if k >= starts.size:
            raise RuntimeError(f"{path}: trace has {starts.size} episodes, expected more")
        s0 = int(starts[k])
        seg = slice(s0 + 1, s0 + 1 + T)
        if int(tr.run[s0]) != run or not np.array_equal(tr.t[seg], np.arange(1, T + 1)):
            raise RuntimeError(f"{path}: episode {k} is not RngRun {run} with steps 1..{T}")
        full = tr.full_sinr[seg]
        rel_max = max(rel_max, float(np.max(np.abs(rp.sinr_per_channel[seg] - full) / full)))
        used = tr.channel[seg][:, owner]
        full_used = np.take_along_axis(full, used[:, :, None], axis=2)[:, :, 0]
        meas = ns["sinr"][i].astype(np.float64)  # [T, D] measured, on the channel in use
        fbl_meas = inf.fbl_se(meas, cfg.blocklength, cfg.error_prob)
        rate = ns["rate"][i].astype(np.float64)
        rate_replay = rp.rate_fbl[seg]
        mac_db.append(10.0 * np.log10(meas / full_used))
        d_total.append(rate - rate_replay)
        d_mac.append(fbl_meas - rate_replay)
        d_pkt.append(rate - fbl_meas)
        replayed.append(rate_replay)
        thr.append(rate)
    mdb = _flat(mac_db)
    ref = float(_flat(replayed).mean())

    def effect(d: list[np.ndarray]) -> dict[str, Any]:
        m, lo, hi = mean_ci(np.array([x.mean() for x in d]))
        a = float(np.abs(_flat(d)).mean())
        return {"mean_bps_hz": m, "mean_ci": (lo, hi), "mean_abs_bps_hz": a,
                "mean_pct": 100.0 * m / ref if ref else math.nan,
                "mean_abs_pct": 100.0 * a / ref if ref else math.nan}

    return {
        "episodes": len(ns["traces"]), "samples": int(mdb.size),
        "channel_model": {"max_rel_sinr_diff": rel_max, "tolerance": CHANNEL_MODEL_RTOL,
                          "verdict": "agree" if rel_max <= CHANNEL_MODEL_RTOL else "differ",
                          "what": TRACE_WHAT["channel_model"]},
        "mac_effect": {"sinr_db_mean": float(mdb.mean()),
                       "sinr_db_p50": float(np.percentile(mdb, 50)),
                       "sinr_db_p99": float(np.percentile(mdb, 99)),
                       "sinr_db_max": float(mdb.max()),
                       "what": TRACE_WHAT["mac_effect"]},
        "packet_effect": {"ns3_throughput_mean": float(_flat(thr).mean()),
                          "replayed_fbl_mean": ref, **effect(d_total),
                          "split": {"mac_sinr": effect(d_mac), "packets": effect(d_pkt)},
                          "what": TRACE_WHAT["packet_effect"]},
    }


def packet_level(cfg, ns3: dict[str, Any], airtime: float | None) -> list[dict[str, Any]]:
    """ns-3's packet-level figures next to what the twin's abstraction predicts for them.

    The twin computes a rate per step as if every AP sent one blocklength-l codeword after
    another, all interval long, on an infinite backlog: a packet then waits one TB airtime
    (l / B) and is lost with probability eps; queues are empty (nothing waits, the backlog is not
    a queue). Under other traffic models the twin predicts none of these (n/a).
    """
    full = cfg.traffic == "full-buffer"
    airtime_tb = cfg.blocklength / cfg.channel_bandwidth_hz
    pred = {"delay_mean_s": airtime_tb, "delay_p99_s": airtime_tb,
            "packet_error_rate": cfg.error_prob, "queue_mean_packets": 0.0, "airtime": 1.0}
    meas = {k: ns3.get(k) for k in pred}
    meas["airtime"] = airtime
    rows = []
    for k, p in pred.items():
        row = verdict(k, p if (full or k == "airtime") else None, meas[k])
        row["ns3_only"] = True
        rows.append(row)
    return rows


def transfer_gap(info: dict[str, Any], fbl: dict[str, Any], sha: dict[str, Any]
                 ) -> dict[str, Any]:
    """Sim-to-packet (or packet-to-sim) transfer of a trained policy: other minus training."""
    src = info["trained_on"]
    dst = "ns3" if src == "twin" else "twin"
    sign = 1.0 if src == "twin" else -1.0  # fbl diffs are ns3 - twin
    out = dict(info, evaluated_on=dst)
    for name, cmp in (("mean_rate", fbl["mean"]), ("p5_rate", fbl["p5"]),
                      ("mean_rate_shannon", sha["mean"])):
        lo, hi = (sign * x for x in cmp["diff_ci"])
        out[name] = {"on_training_backend": cmp[src], "on_other_backend": cmp[dst],
                     "gap": sign * cmp["diff"], "gap_ci": (min(lo, hi), max(lo, hi)),
                     "gap_rel": sign * cmp["diff"] / cmp[src] if cmp[src] else math.nan}
    return out


def _quantiles(x: np.ndarray) -> dict[str, float]:
    if not x.size:
        return {}
    q = np.percentile(x, [5, 25, 50, 75, 95])
    return {"mean": float(x.mean()), "p5": q[0], "p25": q[1], "p50": q[2], "p75": q[3],
            "p95": q[4], "n": int(x.size)}


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items() if k != "cfg"}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN/inf
    return x


# ------------------------------------------------------------------------------- reports
def _cdf(ax, x: np.ndarray, **kw) -> None:
    if not x.size:
        return
    xs = np.sort(x.ravel())
    idx = np.linspace(0, xs.size - 1, min(PLOT_POINTS, xs.size)).astype(int)
    ax.plot(xs[idx], (idx + 1) / xs.size, **kw)


def _flat(episodes: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(e) for e in episodes]) if episodes else np.empty(0)


def _plot(path: Path, curves: list[tuple[np.ndarray, dict[str, Any]]], xlabel: str, title: str,
          vline: float | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for x, kw in curves:
        _cdf(ax, x, **kw)
    if vline is not None:
        ax.axvline(vline, color="grey", ls=":", lw=1, label=f"r_min = {vline:g}")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("CDF")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1e-2 and x != 0 else f"{x:.3f}"
    return str(x)


def write_report(result: dict[str, Any], res: dict[str, Any], out: Path) -> None:
    from fedmarl.mainjob import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    tw, ns = res["twin"], res["ns3"]
    cfg = tw["cfg"]
    _plot(out / "rate_cdf.png",
          [(_flat(tw["rate"]), {"label": "twin FBL rate", "color": "C0"}),
           (_flat(ns["rate"]), {"label": "ns-3 packet throughput", "color": "C1"}),
           (_flat(tw["rate_shannon"]), {"label": "twin Shannon", "color": "C0",
                                                 "ls": "--"}),
           (_flat(ns["rate_shannon"]), {"label": "ns-3 Shannon", "color": "C1",
                                                 "ls": "--"})],
          "rate per device and step (bps/Hz)",
          f"{result['policy']}: rate CDF, twin vs ns-3 ({result['episodes']} episodes)",
          cfg.r_min)
    _plot(out / "sinr_cdf.png",
          [(_flat(tw["sinr_db"]), {"label": "twin", "color": "C0"}),
           (_flat(ns["sinr_db"]), {"label": "ns-3 (time-averaged interference)", "color": "C1"})],
          "SINR on the channel in use (dB)", f"{result['policy']}: SINR CDF")
    _plot(out / "gain_cdf.png",
          [(_flat(tw["gain_db"]), {"label": "twin", "color": "C0"}),
           (_flat(ns["gain_db"]), {"label": "ns-3", "color": "C1"})],
          "large-scale gain of interfering links, -(path loss + shadowing) (dB)",
          "Interferer path gain CDF")
    files = {"json": "validate.json", "markdown": "validate.md", "rate_cdf": "rate_cdf.png",
             "sinr_cdf": "sinr_cdf.png", "gain_cdf": "gain_cdf.png"}
    result["files"] = {k: str(out / v) for k, v in files.items()}
    write_atomic(out / "validate.md", markdown(result).encode())
    write_atomic(out / "validate.json", json.dumps(_jsonable(result), indent=2).encode())


def markdown(r: dict[str, Any]) -> str:
    f, s = r["rates"]["fbl"], r["rates"]["shannon"]
    lines = [f"# fedmarl validate: {r['policy']} on {r['scenario']}, twin vs ns-3", "",
             (f"{r['episodes']} episodes per backend, seed {r['seed']}, parameters "
             f"{r['params'] or 'default'}; {r['wall_seconds']:.1f} s wall."), "",
             "## Rates (bps/Hz per device and step; 95 % CIs over episodes)", "",
             "| quantity | twin | twin CI | ns-3 | ns-3 CI | ns-3 - twin | CI of difference |",
             "|---|---|---|---|---|---|---|"]
    for label, cmp in (("mean FBL / throughput", f["mean"]), ("p5 FBL / throughput", f["p5"]),
                       ("mean Shannon", s["mean"]), ("p5 Shannon", s["p5"])):
        lines.append(f"| {label} | {cmp['twin']:.3f} | {_ci(cmp['twin_ci'])} | {cmp['ns3']:.3f}"
                     f" | {_ci(cmp['ns3_ci'])} | {cmp['diff']:+.3f} | {_ci(cmp['diff_ci'])} |")
    lines += ["", (f"KS distance: FBL/throughput {f['ks']['distance']:.3f}, Shannon "
              f"{s['ks']['distance']:.3f} (iid p-values {_fmt(f['ks']['pvalue_iid'])}, "
              f"{_fmt(s['ks']['pvalue_iid'])} overstate significance: samples within an "
              "episode are correlated)."), "",
              "![rate CDF](rate_cdf.png) ![SINR CDF](sinr_cdf.png) ![gain CDF](gain_cdf.png)",
              "", "## Verdicts", "",
              "| metric | twin (or prediction) | ns-3 | deviation | tolerance | verdict | why |",
              "|---|---|---|---|---|---|---|"]
    for row in r["verdicts"] + r["packet_level"]:
        tol = f"{row['tolerance_kind']} {row['tolerance']:g}"
        lines.append(f"| {row['metric']} | {_fmt(row['twin'])} | {_fmt(row['ns3'])} | "
                     f"{_fmt(row['deviation'])} | {tol} | **{row['verdict']}** | {row['why']} |")
    lines += ["", ("Packet-level rows compare ns-3's measurement with the twin's full-buffer "
              "abstraction: one TB of l channel uses per packet (delay l / B), loss eps, no "
              "queue, every AP busy all interval."), ""]
    if r.get("trace"):
        lines += trace_markdown(r["trace"])
    if "transfer" in r:
        t = r["transfer"]
        lines += ["## Transfer of the trained policy", "",
                  (f"{t['algo']} from {t['run']}, trained on {t['trained_on']} "
                  f"({t['train_episodes']} episodes), evaluated on {t['evaluated_on']}."), "",
                  "| quantity | training backend | other backend | gap | gap CI | gap % |",
                  "|---|---|---|---|---|---|"]
        for k in ("mean_rate", "p5_rate", "mean_rate_shannon"):
            g = t[k]
            lines.append(f"| {k} | {g['on_training_backend']:.3f} | {g['on_other_backend']:.3f}"
                         f" | {g['gap']:+.3f} | {_ci(g['gap_ci'])} | "
                         f"{100 * g['gap_rel']:+.1f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def trace_markdown(tr: dict[str, Any]) -> list[str]:
    cm, mac, pk = tr["channel_model"], tr["mac_effect"], tr["packet_effect"]
    sm, sp = pk["split"]["mac_sinr"], pk["split"]["packets"]
    return [
        "## Trace mode: channel model, MAC and packet effects", "",
        (f"ns-3 recorded its channel every interval ({tr['episodes']} episodes, "
         f"{tr['samples']} device-steps) and the twin's formulas were replayed on it."), "",
        "| effect | figure | value |", "|---|---|---|",
        (f"| channel model | max relative SINR difference, twin replay vs ns-3 full occupancy"
         f" | {cm['max_rel_sinr_diff']:.2e} (tolerance {cm['tolerance']:g}:"
         f" **{cm['verdict']}**) |"),
        (f"| MAC effect | measured - full-occupancy SINR, dB: mean / p50 / p99 / max | "
         f"{mac['sinr_db_mean']:.3f} / {mac['sinr_db_p50']:.3f} / {mac['sinr_db_p99']:.3f}"
         f" / {mac['sinr_db_max']:.3f} |"),
        (f"| packet-level effect | ns-3 throughput - replayed FBL rate, bps/Hz: mean [CI] /"
         f" mean abs | {pk['mean_bps_hz']:+.3f} {_ci(pk['mean_ci'])} /"
         f" {pk['mean_abs_bps_hz']:.3f} ({pk['mean_pct']:+.1f} % / {pk['mean_abs_pct']:.1f} %"
         f" of {pk['replayed_fbl_mean']:.3f}) |"),
        (f"| of which MAC (FBL at measured - at full-occupancy SINR) | mean / mean abs |"
         f" {sm['mean_bps_hz']:+.3f} / {sm['mean_abs_bps_hz']:.3f} ({sm['mean_pct']:+.1f} %) |"),
        (f"| of which packets (throughput - FBL at measured SINR) | mean / mean abs |"
         f" {sp['mean_bps_hz']:+.3f} / {sp['mean_abs_bps_hz']:.3f} ({sp['mean_pct']:+.1f} %) |"),
        "", f"- Channel model: {cm['what']}.", f"- MAC effect: {mac['what']}.",
        f"- Packet-level effect: {pk['what']}.", ""]


def _ci(ci) -> str:
    lo, hi = ci
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"[{lo:.3f}, {hi:.3f}]"
