"""`fedmarl validate --trace FILE`: does another simulator's result survive a correct channel
model and packet-level simulation?

The file (a scenario's external trace format, e.g. docs/trace-format.md) names its scenario in
its header; that scenario's `spec.trace_module` (TraceModule below) loads and checks it, runs
the same geometry and allocations through our twin and through ns-3 driven by the trace, and
names the comparisons. This module is the scenario-free part: KS distances with cluster-
bootstrap CIs and episode-permutation critical values (fedmarl/validate.py's ks_permutation and
ks_verdict), the verdict table, and the report (validate.md, validate.json, CDF plots).
"""

from __future__ import annotations

import importlib
import json
import math
import time
import warnings
import zipfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import stats

from fedmarl import plots
from fedmarl.io import write_atomic
from fedmarl.registries import DEFAULT_SCENARIO, scenario_names
from fedmarl.registries import spec as scenario_spec
from fedmarl.validate import flat, jsonable, ks_permutation, ks_verdict, thin_samples
from pybridge.api import Tolerance
from pybridge.config import ConfigError

BOOTSTRAP = 200


class TraceModule(Protocol):
    """What a scenario's trace module (`spec.trace_module`) defines.

    load_trace(path) -> trace (raises ConfigError naming the field);
    check_channel(trace) -> {"rows": [metric rows with estimate, expected, tolerance, verdict]};
    run_sides(trace, episodes, reps, seed, ns3, on_episode) -> {"sides": {side: {set: [per-
        episode arrays]}}, "episodes", "reps", and "ns3": {"reproduced", "steps", "figures"}};
    COMPARISONS: (name, side a, set a, side b, set b, effect, meaning) tuples;
    KS_TOLERANCE: float; recorder(cfg, rate_formula) -> run_episodes hooks with write(path).
    """


def trace_scenario(path: str | Path) -> str:
    """The scenario a trace's header names (the default scenario when it cannot be read: its
    loader then gives the precise error)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            name = json.loads(str(data["header"])).get("scenario")
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, AttributeError,
            TypeError):
        return DEFAULT_SCENARIO
    if name is None:
        return DEFAULT_SCENARIO  # its loader names what is missing
    if name not in scenario_names():
        raise ConfigError(f"trace {path}: header.scenario {name!r} is not a known scenario"
                          f" ({', '.join(scenario_names())})")
    return name


def trace_module(scenario: str) -> Any:
    path = scenario_spec(scenario).trace_module
    if not path:
        raise ConfigError(f"scenario {scenario!r} reads no external traces")
    return importlib.import_module(path)


def ks_with_ci(a: list[np.ndarray], b: list[np.ndarray], seed: int) -> dict[str, float]:
    """KS distance of the pooled samples, its 95 % cluster-bootstrap interval (episodes of each
    side resampled), and the episode-permutation critical value of validate.ks_permutation.
    Episodes beyond MAX_SAMPLES_PER_EPISODE samples are thinned first, as
    `validate.compare_samples` does."""
    thin = np.random.default_rng([seed, 11])
    a = [thin_samples(np.ravel(x), thin) for x in a]
    b = [thin_samples(np.ravel(x), thin) for x in b]
    out = ks_permutation(a, b, seed)
    rng = np.random.default_rng(seed + 1)
    reps = np.empty(BOOTSTRAP)
    for i in range(BOOTSTRAP):
        ia = rng.integers(0, len(a), len(a))
        ib = rng.integers(0, len(b), len(b))
        reps[i] = stats.ks_2samp(np.concatenate([a[j] for j in ia]),
                                 np.concatenate([b[j] for j in ib])).statistic
    out["ci"] = (float(np.percentile(reps, 2.5)), float(np.percentile(reps, 97.5)))
    return out


def _mean_diff(a: list[np.ndarray], b: list[np.ndarray]) -> dict[str, float]:
    ma = np.array([x.mean() for x in a])
    mb = np.array([x.mean() for x in b])
    d = float(mb.mean() - ma.mean())
    half = math.nan
    if ma.size > 1 and mb.size > 1:
        se = math.sqrt(ma.var(ddof=1) / ma.size + mb.var(ddof=1) / mb.size)
        half = float(stats.t.ppf(0.975, min(ma.size, mb.size) - 1) * se)
    return {"a": float(ma.mean()), "b": float(mb.mean()), "diff": d,
            "diff_ci": (d - half, d + half)}


def validate_trace(path: str | Path, episodes: int | None = None, reps: int = 4, seed: int = 0,
                   ns3: bool = True, on_episode=None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result, sides): the channel-model check, the sample comparisons and ns-3's figures."""
    if episodes is not None and episodes < 1:
        raise ConfigError("--episodes must be >= 1")
    if reps < 1:
        raise ConfigError("--reps must be >= 1")
    t0 = time.perf_counter()
    scenario = trace_scenario(path)
    mod = trace_module(scenario)
    tr = mod.load_trace(path)
    channel = mod.check_channel(tr)
    run = mod.run_sides(tr, episodes, reps, seed, ns3, on_episode)
    sides = run["sides"]
    tol = Tolerance("ks", "ks", mod.KS_TOLERANCE, (
        f"KS distance {mod.KS_TOLERANCE:g}: same model, different realisations; larger counts"
        " as a difference only beyond the episode-permutation critical value"))
    comparisons = []
    for i, (name, sa, xa, sb, xb, effect, meaning) in enumerate(mod.COMPARISONS):
        a, b = sides.get(sa, {}).get(xa), sides.get(sb, {}).get(xb)
        if not a or not b:
            comparisons.append({"name": name, "effect": effect, "meaning": meaning,
                                "verdict": "n/a", "a": f"{sa}.{xa}", "b": f"{sb}.{xb}"})
            continue
        a, b = [np.ravel(x) for x in a], [np.ravel(x) for x in b]
        with warnings.catch_warnings():
            # scipy falls back from the exact to the asymptotic p-value on large samples and
            # says so; the verdicts use the distance, not that p-value.
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
            ks = ks_with_ci(a, b, seed + 11 * i)
        row = ks_verdict(Tolerance(name, "ks", tol.value, tol.reason), ks)
        comparisons.append({"name": name, "effect": effect, "meaning": meaning,
                            "a": f"{sa}.{xa}", "b": f"{sb}.{xb}", "ks": ks["distance"],
                            "ks_ci": ks["ci"], "critical_95": ks["critical_95"],
                            "mean": _mean_diff(a, b), "tolerance": tol.value,
                            "tolerance_why": tol.reason,
                            "verdict": "agree" if row["verdict"] == "agree" else (
                                "disagree" if row["verdict"] == "differ" else "inconclusive")})
    result = {"trace": str(path), "scenario": scenario, "source": tr.header.get("source", ""),
              "steps": tr.T, "access_points": tr.N, "devices": tr.D,
              "trace_episodes": len(tr.episodes()), "episodes": run["episodes"],
              "twin_reps": run["reps"], "seed": seed, "channel_model": channel,
              "comparisons": comparisons, "ns3": run.get("ns3"),
              "wall_seconds": time.perf_counter() - t0}
    return result, sides


def validate_trace_and_report(out: str | Path, path: str | Path, **kw) -> dict[str, Any]:
    result, sides = validate_trace(path, **kw)
    write_trace_report(result, sides, Path(out))
    return jsonable(result)


PLOTTED = (("sinr", "SINR on the channel in use (dB)",
            (("theirs", "sinr_db"), ("twin", "sinr_db"), ("ns3", "sinr_full_db"),
             ("ns3", "sinr_db"))),
           ("rate", "rate (bps/Hz)",
            (("theirs", "rate"), ("twin", "rate"), ("ns3", "rate_theirs_formula"),
             ("ns3", "rate_packets"))))
LABELS = {("theirs", "sinr_db"): "theirs", ("twin", "sinr_db"): "our twin (same geometry)",
          ("ns3", "sinr_full_db"): "ns-3 channel, full occupancy",
          ("ns3", "sinr_db"): "ns-3 measured (MAC)", ("theirs", "rate"): "theirs",
          ("twin", "rate"): "our twin (their formula)",
          ("ns3", "rate_theirs_formula"): "ns-3 measured SINR (their formula)",
          ("ns3", "rate_packets"): "ns-3 delivered packets"}


def write_trace_report(result: dict[str, Any], sides: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": "validate.json", "markdown": "validate.md"}
    for name, xlabel, curves in PLOTTED:
        series = [(flat(sides[s][k]), {"label": LABELS[(s, k)], "color": f"C{i}"})
                  for i, (s, k) in enumerate(curves) if sides.get(s, {}).get(k)]
        if not series:
            continue
        fname = f"{name}_cdf.png"
        plots.sample_cdfs(out / fname, series, xlabel,
                          f"{Path(result['trace']).name}: {name} CDF, theirs vs ours")
        files[f"{name}_cdf"] = fname
    result["files"] = {k: str(out / v) for k, v in files.items()}
    write_atomic(out / "validate.md", trace_markdown(result).encode())
    write_atomic(out / "validate.json", json.dumps(jsonable(result), indent=2).encode())


def _g(x: Any, fmt: str = ".4g") -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return format(x, fmt) if isinstance(x, int | float) else str(x)


def trace_markdown(r: dict[str, Any]) -> str:
    lines = [f"# fedmarl validate --trace {Path(r['trace']).name}", "",
             (f"Scenario {r['scenario']}, source \"{r['source']}\": {r['steps']} steps,"
              f" {r['access_points']} access points, {r['devices']} devices,"
              f" {r['trace_episodes']} episodes ({r['episodes']} compared, twin x"
              f" {r['twin_reps']} fresh draws each); seed {r['seed']};"
              f" {r['wall_seconds']:.1f} s wall."), "",
             "## Channel model: their trace against the models its constants name", "",
             "| metric | estimate | expected | deviation | tolerance | verdict | tolerance from |",
             "|---|---|---|---|---|---|---|"]
    for row in r["channel_model"]["rows"]:
        lines.append(f"| {row['metric']} | {_g(row['estimate'])} | {_g(row['expected'])} |"
                     f" {_g(row['deviation'])} | {_g(row['tolerance'])} |"
                     f" **{row['verdict']}** | {row['tolerance_why']} |")
    if not r["channel_model"].get("independent_batches", True):
        lines += ["", ("One episode only: its intervals come from time blocks, which are"
                       " correlated, so they are narrower than they should be.")]
    lines += ["", "## Distributions: theirs, our twin, ns-3 (KS distance, 95 % CI)", "",
              ("| comparison | cause of a difference | KS D | KS 95 % CI | permutation"
               " critical | mean a | mean b | b - a [95 % CI] | verdict (KS tol.) |"),
              "|---|---|---|---|---|---|---|---|---|"]
    for c in r["comparisons"]:
        if c["verdict"] == "n/a":
            lines.append(f"| {c['name']} ({c['a']} vs {c['b']}) | {c['effect']} | | | | | | |"
                         " n/a |")
            continue
        m = c["mean"]
        lo, hi = m["diff_ci"]
        lines.append(f"| {c['name']} ({c['a']} vs {c['b']}) | {c['effect']}: {c['meaning']} |"
                     f" {c['ks']:.3f} | [{c['ks_ci'][0]:.3f}, {c['ks_ci'][1]:.3f}] |"
                     f" {c['critical_95']:.3f} | {m['a']:.3f} | {m['b']:.3f} |"
                     f" {m['diff']:+.3f} [{_g(lo, '+.3f')}, {_g(hi, '+.3f')}] |"
                     f" **{c['verdict']}** ({c['tolerance']:g}) |")
    pngs = " ".join(f"![{k}]({Path(v).name})" for k, v in r.get("files", {}).items()
                    if k.endswith("_cdf"))
    lines += ["", pngs, ""]
    ns3 = r.get("ns3")
    if ns3 and "skipped" in ns3:
        lines += ["## ns-3 at packet level, driven by the trace", "",
                  f"Not run: {ns3['skipped']}.", ""]
    elif ns3:
        rep, fig = ns3["reproduced"], ns3["figures"]
        lines += ["## ns-3 at packet level, driven by the trace", "",
                  (f"Positions and channels reproduced step by step over {ns3['steps']} steps:"
                   f" max position error {rep['max_position_error_m']:g} m, channel"
                   f" mismatches {rep['channel_mismatches']}"
                   f" (**{'exact' if rep['exact'] else 'NOT exact'}**)."), "",
                  "| packet-level figure | value |", "|---|---|",
                  *(f"| {k} | {_g(v)} |" for k, v in fig.items()), ""]
    return "\n".join(lines) + "\n"
