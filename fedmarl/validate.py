"""`fedmarl validate`: does a Python-only (twin) result survive packet-level ns-3?

The same policy and scenario parameters run on both backends for E episodes (the same episode
seeds and batch shapes, so a policy's own randomness, e.g. a random baseline's draw, is the same
on both; the simulators' own realisations are not, they have their own RNG streams). What is
compared comes from the scenario (`pybridge.api.ScenarioSpec`):
- every sample set of `spec.validation_samples(episode)` (e.g. per-device rates, SINR): mean
  and percentiles with 95 % CIs, the CIs of the differences, and the two-sample
  Kolmogorov-Smirnov distance with an episode-level permutation test;
- the rules of `spec.tolerances`, in their order, each checked against the statistic of the
  same name (`mean_<set>`, `p<q>_<set>` or `<set>_p<q>`, `ks_<set>`, a per-episode statistic,
  or a figure of the backends' summaries);
- the scenario's optional validation module (`spec.validation_module`, see
  `ValidationModule`): extra sample sets gathered while the episodes run, per-episode
  statistics, what the twin's abstraction predicts for figures only ns-3 has, and a trace mode
  that attributes ns-3's differences to their causes;
- for a trained run (`--policy RUN_DIR`): the sim-to-packet transfer gap, the run's result on the
  backend it was not trained on minus its result on the one it was.

Confidence intervals. Samples of one episode are strongly correlated (e.g. fading, positions), so
an iid formula over all samples would be far too narrow. Episodes are independent: the mean's CI
is a Student-t interval over episode means; a percentile's is a cluster bootstrap (episodes
resampled with replacement). The KS p-value is reported but likewise assumes iid samples; the
verdict uses the distance D, an effect size that does not shrink with the sample count.

Verdicts: "agree" when the difference is within tolerance; "differ" when it is outside and the
95 % CI of the difference excludes 0 (for the statistical rows); "inconclusive" when outside but
the CI still contains 0 (more episodes). Rendering: fedmarl/validate_report.py.
"""

from __future__ import annotations

import importlib
import math
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy import stats

from agents.baselines import Policy
from fedmarl.evaluate import run_episodes
from fedmarl.io import RunDir
from fedmarl.registries import DEFAULT_SCENARIO, baseline_names, baselines, make_baseline
from fedmarl.registries import spec as scenario_spec
from pybridge.api import ScenarioSpec, Tolerance
from pybridge.config import ConfigError

BACKENDS = ("twin", "ns3")
BOOTSTRAP = 1000
PERMUTATIONS = 200
QUANTILES = (5.0, 50.0, 95.0)  # percentiles compared of every sample set (5 first: see seeds)
MAX_SAMPLES_PER_EPISODE = 20_000  # per episode and sample set (`thin_samples`)


class ValidationModule(Protocol):
    """What a scenario's validation module (`spec.validation_module`) may define; every member
    is optional.

    collector(cfg, backend, trace_dir) -> object with any of the `run_episodes` hooks
        (ns3_options, on_batch_start, before_act, after_step, on_batch_end) and
        `samples() -> {name: [per-episode arrays]}` (extra sample sets), `figures() -> {name:
        float}` (extra figures of the backend), `traces` (trace mode: what the ns-3 side wrote);
    episode_statistics(samples) -> {metric: per-episode values} (compared by mean, Welch CI);
    predictions(cfg) -> {metric: value or None}: what the twin's abstraction predicts for a
        figure only ns-3 measures (None: no prediction under this config);
    trace_analysis(cfg, ns3, mean_ci) -> dict and trace_markdown(result) -> list[str].
    """


def validation_module(spec: ScenarioSpec) -> Any | None:
    path = getattr(spec, "validation_module", None)
    return importlib.import_module(path) if path else None


def tolerances(scenario: str | ScenarioSpec = DEFAULT_SCENARIO) -> dict[str, Tolerance]:
    """The scenario's agreement rules by metric name (`spec.tolerances`), in their order."""
    s = scenario_spec(scenario) if isinstance(scenario, str) else scenario
    return {t.metric: t for t in s.tolerances}


# ------------------------------------------------------------------------------ policies
def resolve_policy(name: str, scenario: str, params: dict[str, Any]
                   ) -> tuple[Policy, str, dict[str, Any], dict[str, Any] | None]:
    """(policy, scenario, params, run info) for a baseline name or a `fedmarl train` run dir."""
    if name in baselines(scenario):
        return make_baseline(scenario, name), scenario, dict(params), None
    run = Path(name)
    if not run.is_dir():
        raise ConfigError(f"--policy {name!r} is neither a baseline of {scenario!r}"
                          f" ({', '.join(baseline_names(scenario))}) nor a run directory")
    from fedmarl.runs import load_run_policy  # torch: only for trained runs

    policy, record = load_run_policy(run)
    if scenario != record["scenario"]:
        raise ConfigError(f"run {run} was trained on {record['scenario']!r}, not {scenario!r}")
    rd = RunDir(run)
    trained_on = rd.read_config().get("backend", "twin") if rd.is_run() else "twin"
    # The run's scenario parameters, with --set on top (e.g. a different N to test transfer).
    merged = {**record["params"], **params}
    info = {"run": str(run), "algo": record["algo"], "trained_on": trained_on,
            "train_episodes": record["episode"], "params_overridden": sorted(params)}
    return policy, record["scenario"], merged, info


# ---------------------------------------------------------------------------- collection
_HOOKS = ("ns3_options", "on_batch_start", "before_act", "after_step")


def collect(scenario: str, policy: Policy, episodes: int, seed: int, backend: str,
            params: dict[str, Any], batch: int, on_episode=None,
            trace_dir: Path | None = None) -> dict[str, Any]:
    """Run the episodes on one backend: the scenario's summary, its sample sets per episode
    ("samples": {name: [array per episode]}), the recorded episodes, and what the validation
    module's collector gathered (extra samples, "figures", "traces")."""
    spec = scenario_spec(scenario)
    cfg = spec.make_config(**params)
    module = validation_module(spec)
    col = (module.collector(cfg, backend, trace_dir)
           if module is not None and hasattr(module, "collector") else None)
    hooks = {h: getattr(col, h) for h in _HOOKS if col is not None and hasattr(col, h)}

    def on_batch_end(n: int) -> None:
        if col is not None and hasattr(col, "on_batch_end"):
            col.on_batch_end(n)
        if on_episode:
            on_episode(n)

    recorder = spec.recorder(cfg)
    t0 = time.perf_counter()
    run_episodes(scenario, policy, episodes, seed, backend, batch, params, recorder,
                 on_batch_end=on_batch_end, **hooks)
    summary = recorder.summary()
    eps = recorder.episodes
    samples: dict[str, list[np.ndarray]] = {}
    for e in eps:
        for name, x in spec.validation_samples(e).items():
            samples.setdefault(name, []).append(np.asarray(x))
    if col is not None and hasattr(col, "samples"):
        samples.update(col.samples())
    return {"summary": summary, "wall_seconds": time.perf_counter() - t0, "samples": samples,
            "episodes": eps,
            "figures": dict(col.figures()) if col is not None and hasattr(col, "figures") else {},
            "traces": list(getattr(col, "traces", [])), "cfg": cfg}


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


def thin_samples(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """At most MAX_SAMPLES_PER_EPISODE of an episode's samples, drawn without replacement.

    The intervals and the KS test are episode-level (episodes are the independent units), so
    beyond ~10^4 correlated samples an episode adds precision to nothing but the cost: at
    N = 1000 one episode holds 10^6 link gains per refresh, and the permutation test over them
    took ~10 minutes. Episodes under the cap (every default-size run) are used whole."""
    if x.size <= MAX_SAMPLES_PER_EPISODE:
        return x
    return x[np.sort(rng.choice(x.size, MAX_SAMPLES_PER_EPISODE, replace=False))]


def compare_samples(a: list[np.ndarray], b: list[np.ndarray], seed: int,
                    quantiles: tuple[float, ...] = (5.0,)) -> dict[str, Any]:
    """Twin (a) vs ns-3 (b) samples, one array per episode: mean and quantiles with 95 % CIs,
    the CIs of the differences (ns-3 - twin), and the KS distance with its episode-level test."""
    rng = np.random.default_rng(seed)
    thin = np.random.default_rng([seed, 11])  # its own stream: no other draw moves
    a = [thin_samples(np.ravel(x), thin) for x in a]
    b = [thin_samples(np.ravel(x), thin) for x in b]
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


def verdict(tol: Tolerance, twin: float | None, ns3: float | None,
            diff_ci: tuple[float, float] | None = None) -> dict[str, Any]:
    """One row of the verdict table for the rule `tol` (see the module docstring).

    kind "rel": |ns3 - twin| / |twin|; "abs" and "ks": |ns3 - twin|; "ratio": max / min."""
    row: dict[str, Any] = {"metric": tol.metric, "twin": twin, "ns3": ns3,
                           "tolerance": tol.value, "tolerance_kind": tol.kind, "why": tol.reason}
    if twin is None or ns3 is None or not (np.isfinite(twin) and np.isfinite(ns3)):
        row.update(deviation=None, verdict="n/a")
        return row
    if tol.kind == "rel":
        dev = abs(ns3 - twin) / abs(twin) if twin else math.inf
    elif tol.kind == "ratio":
        dev = max(ns3, twin) / max(min(ns3, twin), 1e-300)
    elif tol.kind in ("abs", "ks"):
        dev = abs(ns3 - twin)
    else:
        raise ConfigError(f"tolerance {tol.metric}: unknown kind {tol.kind!r}")
    row["deviation"] = dev
    if dev <= tol.value:
        row["verdict"] = "agree"
    elif diff_ci is not None and np.all(np.isfinite(diff_ci)) and diff_ci[0] <= 0 <= diff_ci[1]:
        row["verdict"] = "inconclusive"
    else:
        row["verdict"] = "differ"
    return row


def ks_verdict(tol: Tolerance, ks: dict[str, float]) -> dict[str, Any]:
    """KS row: agree if D <= tolerance; differ only if D also exceeds the episode-level
    permutation critical value (else the distance may be realisation noise: inconclusive)."""
    row = verdict(tol, 0.0, ks["distance"])
    row["twin"] = None  # a distance between the two: one number, shown in the ns-3 column
    row.update(critical_95=ks["critical_95"], pvalue_episodes=ks["pvalue_episodes"])
    if row["verdict"] != "agree" and ks["distance"] <= ks["critical_95"]:
        row["verdict"] = "inconclusive"
    return row


def _sample_rows(name: str, cmp: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """Metric names a rule may use for the statistics of sample set `name` (a unit suffix such
    as `_db` may be left out of the KS name): metric -> (kind of statistic, comparison)."""
    out: dict[str, tuple[str, Any]] = {f"mean_{name}": ("stat", cmp["mean"])}
    for key, c in cmp.items():
        if key.startswith("p") and key[1:].replace(".", "").isdigit():
            out[f"{key}_{name}"] = ("stat", c)
            out[f"{name}_{key}"] = ("stat", c)
    out[f"ks_{name}"] = ("ks", cmp["ks"])
    short = name.rsplit("_", 1)[0] if name.endswith(("_db", "_dbm")) else name
    out.setdefault(f"ks_{short}", ("ks", cmp["ks"]))
    return out


# ---------------------------------------------------------------------------- validation
def default_policy(scenario: str) -> str:
    """The baseline validated when none is named: the first the scenario compares runs with."""
    from fedmarl.runs import eval_baselines

    names = eval_baselines(scenario)
    if not names:
        raise ConfigError(f"scenario {scenario!r} has no baselines: name a run directory")
    return names[0]


def validate(scenario: str = DEFAULT_SCENARIO, policy: str | None = None, episodes: int = 5,
             seed: int = 0, params: dict[str, Any] | None = None, batch: int | None = None,
             on_episode=None, trace: bool = True) -> dict[str, Any]:
    """Run `policy` on the twin and on ns-3 and compare: the JSON-able result
    (docs/results/validation.md explains it). `fedmarl.validate_report.validate_and_report` also writes the report files.

    `trace` (scenarios whose validation module has a trace mode): the ns-3 side also records
    what it simulated (into a temporary directory removed afterwards) and the scenario replays
    it with the twin's formulas.
    """
    return jsonable(compare(scenario, policy, episodes, seed, params, batch, on_episode,
                            trace)[0])


def compare(scenario: str, policy: str | None, episodes: int, seed: int,
            params: dict[str, Any] | None, batch: int | None, on_episode, trace: bool
            ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result, what each backend collected): `validate`'s work, the raw samples kept for the
    report's plots."""
    if episodes < 1:
        raise ConfigError("--episodes must be >= 1")
    policy = policy or default_policy(scenario)
    pol, scenario, params, run_info = resolve_policy(policy, scenario, dict(params or {}))
    spec = scenario_spec(scenario)
    module = validation_module(spec)
    trace = bool(trace and module is not None and hasattr(module, "trace_analysis"))
    # One batch shape for both backends (ns-3 runs one process per copy: at most one per core).
    batch = batch or min(episodes, max(1, os.cpu_count() or 1))
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedmarl-trace-") as tmp:
        trace_dir = Path(tmp) if trace else None
        res = {b: collect(scenario, pol, episodes, seed, b, params, batch, on_episode,
                          trace_dir) for b in BACKENDS}
        tw, ns = res["twin"], res["ns3"]
        cfg = tw["cfg"]
        traced = module.trace_analysis(cfg, ns, mean_ci) if trace else None

    # Sample sets in the scenario's order; set i draws its bootstrap and permutations from
    # seed + i (and seed + i + 7), so adding a set at the end changes no earlier figure.
    samples = {name: compare_samples(tw["samples"][name], ns["samples"][name], seed + i,
                                     quantiles=QUANTILES)
               for i, name in enumerate(tw["samples"])}
    lookup: dict[str, tuple[str, Any]] = {}
    for name, cmp in samples.items():
        for metric, v in _sample_rows(name, cmp).items():
            lookup.setdefault(metric, v)
    per_episode: dict[str, Any] = {}
    if module is not None and hasattr(module, "episode_statistics"):
        ea, eb = module.episode_statistics(tw["samples"]), module.episode_statistics(ns["samples"])
        for metric in ea:
            a, b = np.asarray(ea[metric], float), np.asarray(eb[metric], float)
            d, h = float(b.mean() - a.mean()), _welch_half(a, b)
            per_episode[metric] = {"twin": float(a.mean()), "ns3": float(b.mean()),
                                   "diff": d, "diff_ci": (d - h, d + h)}
    predicted = (module.predictions(cfg) if module is not None
                 and hasattr(module, "predictions") else {})

    rows, packet = [], []
    for tol in spec.tolerances:
        m = tol.metric
        if m in predicted:  # a figure only ns-3 measures, against the twin's prediction
            ns_value = ns["figures"].get(m, ns["summary"].get(m))
            row = verdict(tol, predicted[m], ns_value)
            row["ns3_only"] = True
            packet.append(row)
        elif m in lookup:
            kind, c = lookup[m]
            rows.append(ks_verdict(tol, c) if kind == "ks"
                        else verdict(tol, c["twin"], c["ns3"], c["diff_ci"]))
        elif m in per_episode:
            c = per_episode[m]
            rows.append(verdict(tol, c["twin"], c["ns3"], c["diff_ci"]))
        else:  # a figure both summaries have (no CI)
            rows.append(verdict(tol, tw["summary"].get(m), ns["summary"].get(m)))

    result: dict[str, Any] = {
        "scenario": scenario, "policy": pol.name, "policy_spec": policy, "episodes": episodes,
        "seed": seed, "params": dict(params), "samples": samples, "per_episode": per_episode,
        "verdicts": rows, "packet_level": packet, "trace": traced,
        "backends": {b: {**res[b]["summary"], **res[b]["figures"],
                         "wall_seconds": res[b]["wall_seconds"]} for b in BACKENDS},
        "wall_seconds": time.perf_counter() - t0,
    }
    if run_info:
        result["transfer"] = transfer_gap(run_info, spec, samples)
    return result, res


def transfer_gap(info: dict[str, Any], spec: ScenarioSpec, samples: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """Sim-to-packet (or packet-to-sim) transfer of a trained policy: other minus training, for
    every mean and percentile statistic a tolerance rule names and every sample set's mean
    (diffs are ns3 - twin)."""
    src = info["trained_on"]
    dst = "ns3" if src == "twin" else "twin"
    sign = 1.0 if src == "twin" else -1.0
    out = dict(info, evaluated_on=dst)
    lookup: dict[str, Any] = {}
    for name, cmp in samples.items():
        for metric, (kind, c) in _sample_rows(name, cmp).items():
            if kind == "stat":
                lookup.setdefault(metric, c)
    # The mean and percentile statistics a tolerance rule names, then every sample set's mean.
    names = [t.metric for t in spec.tolerances if t.metric.startswith(("mean_", "p"))]
    names += [m for m in lookup if m.startswith("mean_") and m not in names]
    for metric in names:
        if metric not in lookup:
            continue
        cmp = lookup[metric]
        lo, hi = (sign * x for x in cmp["diff_ci"])
        out[metric] = {"on_training_backend": cmp[src], "on_other_backend": cmp[dst],
                           "gap": sign * cmp["diff"], "gap_ci": (min(lo, hi), max(lo, hi)),
                           "gap_rel": sign * cmp["diff"] / cmp[src] if cmp[src] else math.nan}
    return out


def flat(episodes: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(e) for e in episodes]) if episodes else np.empty(0)


def jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items() if k != "cfg"}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None  # JSON has no NaN/inf
    return x
