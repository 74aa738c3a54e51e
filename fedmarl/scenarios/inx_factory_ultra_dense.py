"""The ultra-dense study of inx-factory: the seed project (reference 000) at N = 100 .. 5000.

`fedmarl reproduce ultra-dense [--quick]`. Reference 000 is a project README, not a paper: it
sets the question (federated MARL spectrum allocation in ultra-dense 6G IoT, evaluated on
throughput, latency, fairness and interference, privacy preserved) but publishes no numbers, so
the claims below are its stated goals turned into rules on our numbers, against the baselines.

The setting at each N (`setting(n)`): inx-factory with the hall grown by `hall_tiles="auto"`
(<= 100 robots per 180 m x 80 m tile, so the density stays 62-100 robots per tile from N = 100
to 5000) and K = 16 channels at every N. K is kept, not scaled, because the hall grows with N:
what sets a device's interference is the number of co-channel subnetworks within a few tens of
metres, which density and K fix; N changes how many agents learn and aggregate, how far the
hall extends and how many far interferers add up (the twin's neighbour refresh above N = 300).

What is trained (one seed per N; `Budget`): F-MADDQN with secure aggregation (SecAgg+ on a
Harary graph above 200 clients, the library's default threat model) every tau_agg = 1024
transitions per agent, rounds overlapped with training; D-MADDQN (no sharing); C-MADDQN (one
network for all agents, the replay of all agents, `C_BATCH_MEMBERS` members' batches per
gradient step: N members' batches would make its step N times F-'s per-network one).

What is evaluated: every trained policy and the baselines random, greedy-filtered and CGC on
fresh twin episodes at its N; at N = 5000 (twin only) the learners trained at the largest
trained N, each new agent on a trained member network (agent g on member g mod G,
`fedmarl.runs.deployed_policy(members="tile")`; C-: its one network), and F-'s member average
(the federation's global model, "f-maddqn-global"), next to the baselines; on ns-3 at every trained N the same policies with the scale preset's traffic (a 32 B
URLLC packet per device every 1 ms: latency mean / p99 and loss); `fedmarl validate` at the
largest trained N for the F- policy and CGC (twin vs ns-3 verdicts); the secure rounds'
seconds and bytes per client from the F- runs (and one measured round at N = 5000).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedmarl import plots
from fedmarl.evaluate import evaluate_policy
from fedmarl.registries import make_baseline
from fedmarl.registries import spec as scenario_spec
from fedmarl.runs import deployed_policy
from fedmarl.study import Claim, ModuleStudy, seed_verdict, tail_mean
from fedmarl.validate import compare, jsonable

SCENARIO = "inx-factory"
NAME = "ultra-dense"
# The scenario's scale preset (`--preset ultra-dense`): K, and the traffic ns-3 runs with.
PRESET = dict(scenario_spec(SCENARIO).presets[NAME][1])
K = PRESET.pop("n_channels")
LEARNERS = ("f-maddqn", "d-maddqn", "c-maddqn")
# Also deployed at a new N as the member average: F-'s federation's global model.
GLOBAL_MODEL = ("f-maddqn",)
BASELINES = ("random", "greedy-filtered", "cgc")
TAU_AGG = 1024
# Parameter sharing within clusters (`cluster_size`): at N >= CLUSTERED_FROM also F-MADDQN with
# CLUSTER consecutive agents per network and replay, federated across the N / CLUSTER clusters.
CLUSTER = 20
CLUSTERED_FROM = 1000
C_BATCH_MEMBERS = 16
NS3_TRAFFIC = PRESET  # ns-3 only (the twin abstracts traffic as a full buffer)
SUMMARY_KEYS = ("mean_rate", "p5_rate", "p50_rate", "jain_fairness", "mean_interference_dbm",
                "frac_below_rmin", "mean_reward", "mean_rate_shannon", "p5_rate_shannon")
NS3_KEYS = ("mean_rate", "p5_rate", "jain_fairness", "mean_interference_dbm", "delay_mean_s",
            "delay_p99_s", "packet_loss", "packets_delivered")


@dataclass
class Budget:
    n_trained: tuple[int, ...]  # N with training runs (and ns-3 evaluation)
    n_deployed: tuple[int, ...]  # twin only: shared models of the largest trained N
    train_episodes: int  # batches of n_envs parallel episodes per training run
    n_envs: int
    episode_steps: int
    eval_episodes: int  # twin, per policy and N
    ns3_episodes: int  # per policy and trained N
    validate_episodes: int  # `fedmarl validate` at the largest trained N (full buffer)
    validate_steps: int  # its episode length: a full-buffer step at N = 1000 takes ~1 s
    eps_decay_fraction: float
    secagg_bench_n: tuple[int, ...]  # one measured secure round at these N (not trained)
    tau_agg: int = TAU_AGG  # F-: transitions per agent between secure rounds
    # Training runs at once: at N = 1000 one run's replay alone is ~13 GB (64,000 decisions
    # per agent), so two would not fit 24 GiB.
    max_parallel_runs: int = 2


BUDGETS = {
    # A smoke run of the whole pipeline (~15 min on 2 cores): learners barely trained.
    "quick": Budget(n_trained=(100, 300, 1000), n_deployed=(5000,), train_episodes=2,
                    n_envs=2, episode_steps=50, eval_episodes=1, ns3_episodes=1,
                    validate_episodes=1, validate_steps=10, eps_decay_fraction=0.6,
                    secagg_bench_n=(), tau_agg=50, max_parallel_runs=1),
    # 100 episodes per run (issue 14's N = 1000 training run: ~20 min at N = 1000).
    "full": Budget(n_trained=(100, 300, 1000), n_deployed=(5000,), train_episodes=25,
                   n_envs=4, episode_steps=200, eval_episodes=4, ns3_episodes=2,
                   validate_episodes=2, validate_steps=50, eps_decay_fraction=0.75,
                   secagg_bench_n=(5000,),
                   max_parallel_runs=1),
}


def setting(n: int, budget: Budget) -> dict[str, Any]:
    """The scenario parameters at N = n (the module docstring says why K is fixed)."""
    return {"n_subnetworks": n, "n_channels": K, "episode_steps": budget.episode_steps}


def _agent(algo: str, budget: Budget, n: int) -> dict[str, Any]:
    steps = budget.train_episodes * budget.n_envs * budget.episode_steps
    agent: dict[str, Any] = {"eps_decay_steps": int(budget.eps_decay_fraction * steps),
                             "learning_starts": min(1000, steps // 20)}
    if algo.startswith("c-"):
        from agents.registry import make_config

        cfg = make_config(algo)
        agent["buffer_size"] = cfg.buffer_size * n
        agent["batch_size"] = cfg.batch_size * min(n, C_BATCH_MEMBERS)
    return agent


def learners_at(n: int) -> dict[str, dict[str, Any]]:
    """label -> (learner, extra hyperparameters) trained at N = n."""
    out: dict[str, dict[str, Any]] = {a: {"algo": a, "agent": {}} for a in LEARNERS}
    if n >= CLUSTERED_FROM:
        out[f"f-maddqn-cluster{CLUSTER}"] = {"algo": "f-maddqn",
                                             "agent": {"cluster_size": CLUSTER}}
    return out


def run_specs(budget: Budget, seed: int) -> dict[str, dict[str, Any]]:
    """"{label}-n{N}" -> `fedmarl train` config, smallest N first (a resumed study has its
    cheap runs)."""
    specs: dict[str, dict[str, Any]] = {}
    for n in budget.n_trained:
        for label, variant in learners_at(n).items():
            algo = variant["algo"]
            spec: dict[str, Any] = {
                "scenario": SCENARIO, "algo": algo, "seed": seed,
                "episodes": budget.train_episodes, "n_envs": budget.n_envs,
                "checkpoint_every": budget.train_episodes, "keep_checkpoints": 1,
                "params": setting(n, budget),
                "agent": {**_agent(algo, budget, n), **variant["agent"]}}
            if algo.startswith("f-"):
                spec.update(aggregation="secure", tau_agg=budget.tau_agg, fed_overlap=True)
            specs[f"{label}-n{n}"] = spec
    return specs


# ----------------------------------------------------------------------------- evaluation
def _evaluate(policy, params: dict[str, Any], episodes: int, seed: int, backend: str,
              keys: tuple[str, ...]) -> dict[str, Any]:
    """The summary's `keys` of `episodes` episodes (the scenario's recorder only: the validation
    collector would keep every link's gain, 25 M at N = 5000), and the wall time."""
    t0 = time.perf_counter()
    s = evaluate_policy(SCENARIO, policy, episodes, seed, backend, min(episodes, 2), **params)
    return {**{k: s.get(k) for k in keys}, "wall_seconds": time.perf_counter() - t0,
            "episodes": s["episodes"]}


def _policies(runs: dict[str, dict[str, Any]], n: int, trained_n: int,
              params: dict[str, Any]) -> dict[str, Any]:
    pols: dict[str, Any] = {b: make_baseline(SCENARIO, b) for b in BASELINES}
    for algo in learners_at(trained_n):
        run = runs[f"{algo}-n{trained_n}"]["run"]
        # At the trained N the trained members; at a new N the trained members tiled over the
        # new agents (`deployed_policy`), and for F- also the federation's global model.
        pols[algo] = deployed_policy(run, n, params, members="tile")
        if n != trained_n and algo in GLOBAL_MODEL:
            pols[f"{algo}-global"] = deployed_policy(run, n, params, members="average")
    return pols


def _secagg(run: dict[str, Any]) -> dict[str, Any]:
    """Median cost of the run's secure rounds (federation.jsonl rows)."""
    from fedmarl.io import RunDir

    rows = [r for r in RunDir(run["run"]).read_jsonl("federation.jsonl") if "failed" not in r]
    if not rows:
        return {"rounds": 0}

    def med(key: str) -> float | None:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return float(np.median(vals)) if vals else None

    return {"rounds": len(rows), "seconds": med("seconds"),
            "critical_path_s": med("critical_path_seconds"),
            "bytes_per_client_sent": med("bytes_per_client_sent"),
            "bytes_per_client_received": med("bytes_per_client_received"),
            "degree": rows[0].get("degree"), "threshold": rows[0].get("threshold"),
            "graph": rows[0].get("graph"), "params": rows[0].get("n_params")}


def evaluate(runs: dict[str, dict[str, Any]], budget: Budget, seed: int, log
             ) -> tuple[dict[str, Any], dict[str, float]]:
    timings = {"twin_eval": 0.0, "ns3_eval": 0.0, "validate": 0.0, "secagg_bench": 0.0}
    largest = max(budget.n_trained)
    twin: dict[str, dict[str, Any]] = {}
    ns3: dict[str, dict[str, Any]] = {}
    for n in (*budget.n_trained, *budget.n_deployed):
        trained_n = n if n in budget.n_trained else largest
        params = setting(n, budget)
        pols = _policies(runs, n, trained_n, params)
        t0 = time.perf_counter()
        twin[str(n)] = {k: _evaluate(p, params, budget.eval_episodes, seed + 1000, "twin",
                                     SUMMARY_KEYS) for k, p in pols.items()}
        timings["twin_eval"] += time.perf_counter() - t0
        log(f"[reproduce] N = {n}: twin evaluation in {time.perf_counter() - t0:.0f} s")
        if n in budget.n_trained:
            t0 = time.perf_counter()
            ns_params = {**params, **NS3_TRAFFIC}
            ns3[str(n)] = {k: _evaluate(p, ns_params, budget.ns3_episodes, seed + 1000, "ns3",
                                        NS3_KEYS) for k, p in pols.items()}
            timings["ns3_eval"] += time.perf_counter() - t0
            log(f"[reproduce] N = {n}: ns-3 evaluation in {time.perf_counter() - t0:.0f} s")

    # The packet-level check of the largest trained N: `fedmarl validate`'s comparison, with
    # the full buffer the twin abstracts (under the URLLC preset ns-3's rate is the offered
    # load, not the link's capacity), on shorter episodes.
    t0 = time.perf_counter()
    val_params = {**setting(largest, budget), "episode_steps": budget.validate_steps}
    validated = {}
    for name, pol in ((f"f-maddqn-n{largest}", runs[f"f-maddqn-n{largest}"]["run"]),
                      ("cgc", "cgc")):
        res, _ = compare(SCENARIO, pol, budget.validate_episodes, seed + 2000, val_params,
                         min(budget.validate_episodes, 2), None, False)
        validated[name] = jsonable({"verdicts": res["verdicts"],
                                    "wall_seconds": res["wall_seconds"]})
    timings["validate"] = time.perf_counter() - t0
    log(f"[reproduce] validate at N = {largest} in {timings['validate']:.0f} s")

    secagg = {str(n): _secagg(runs[f"f-maddqn-n{n}"]) for n in budget.n_trained}
    t0 = time.perf_counter()
    if budget.secagg_bench_n:
        from federation.bench import bench_round

        size = secagg[str(largest)].get("params") or 26_716
        for n in budget.secagg_bench_n:
            r = bench_round(n, int(size), dropout_fraction=0.05, seed=seed)
            s = r["secure"]
            secagg[str(n)] = {"rounds": 1, "measured_outside_training": True,
                              "seconds": s["seconds"], "critical_path_s":
                              s["critical_path_seconds"],
                              "bytes_per_client_sent": s["bytes_per_client_sent"],
                              "bytes_per_client_received": s["bytes_per_client_received"],
                              "degree": r["degree"], "threshold": r["threshold"],
                              "graph": r["graph"], "params": r["params"]}
            log(f"[reproduce] secure round at N = {n}: {s['seconds']:.0f} s")
    timings["secagg_bench"] = time.perf_counter() - t0
    data = {"twin": twin, "ns3": ns3, "validate": validated, "secagg": secagg,
            "settings": {str(n): setting(n, budget) for n in
                         (*budget.n_trained, *budget.n_deployed)},
            "ns3_traffic": NS3_TRAFFIC,
            "train": {name: {"final_reward": tail_mean(r["reward"]),
                             "wall_seconds": r["wall_seconds"]} for name, r in runs.items()}}
    return data, timings


# -------------------------------------------------------------------------------- figures
def _vs_n(table: dict[str, dict[str, Any]], key: str, scale: float = 1.0
          ) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for n, per in table.items():
        for name, e in per.items():
            v = e.get(key)
            out.setdefault(name, {})[int(n)] = None if v is None else scale * float(v)
    return out


def figures(data: dict[str, Any], runs: dict[str, dict[str, Any]], out: Path) -> None:
    tw, ns = data["twin"], data["ns3"]
    plots.scaling_panels(out / "throughput_vs_n.png",
                         [("mean FBL rate (bps/Hz)", _vs_n(tw, "mean_rate")),
                          ("p5 FBL rate (bps/Hz)", _vs_n(tw, "p5_rate"))],
                         "number of subnetworks N", dashed=BASELINES)
    plots.scaling_panels(out / "fairness_interference_vs_n.png",
                         [("Jain fairness (per-device mean rate)", _vs_n(tw, "jain_fairness")),
                          ("mean interference (dBm)", _vs_n(tw, "mean_interference_dbm"))],
                         "number of subnetworks N", dashed=BASELINES)
    plots.scaling_panels(out / "ns3_latency_vs_n.png",
                         [("ns-3 mean delay (us)", _vs_n(ns, "delay_mean_s", 1e6)),
                          ("ns-3 p99 delay (us)", _vs_n(ns, "delay_p99_s", 1e6)),
                          ("ns-3 packet loss", _vs_n(ns, "packet_loss"))],
                         "number of subnetworks N", dashed=BASELINES)
    sa = data["secagg"]
    ns_sa = sorted(int(n) for n in sa if sa[n].get("seconds") is not None)
    plots.scaling_panels(out / "secagg_vs_n.png",
                         [("seconds per secure round", {"round": {n: sa[str(n)]["seconds"]
                                                                  for n in ns_sa},
                                                        "critical path": {
                                                            n: sa[str(n)]["critical_path_s"]
                                                            for n in ns_sa}}),
                          ("kB per client per round", {
                              "sent": {n: sa[str(n)]["bytes_per_client_sent"] / 1e3
                                       for n in ns_sa},
                              "received": {n: (sa[str(n)]["bytes_per_client_received"] or 0)
                                           / 1e3 for n in ns_sa}})],
                         "number of clients N", logy=(True, False))
    panels = []
    for n in sorted({int(k.rsplit("-n", 1)[1]) for k in runs}):
        lines = []
        for algo in learners_at(n):
            r = runs[f"{algo}-n{n}"]
            y = np.asarray(r["reward"])
            lines.append((algo, r["spec"]["n_envs"] * np.arange(1, y.size + 1), y))
        panels.append((f"N = {n}", lines))
    plots.curve_panels(out / "training_reward.png", panels,
                       xlabel="training episodes (all copies)",
                       ylabel="mean reward per agent and step")


# ------------------------------------------------------------------------- claims checked
def _margins_per_n(d, key: str, better: str = "higher", against: str = "greedy-filtered"):
    sign = 1.0 if better == "higher" else -1.0
    return {f"N={n}": sign * (per["f-maddqn"][key] - per[against][key])
            for n, per in d["twin"].items() if "f-maddqn" in per}


def _claim(key: str, better: str = "higher", against: str = "greedy-filtered"):
    def check(d):
        m = _margins_per_n(d, key, better, against)
        values = {n: {"f-maddqn": per["f-maddqn"][key], against: per[against][key]}
                  for n, per in d["twin"].items() if "f-maddqn" in per}
        return {"values": values, **seed_verdict([m])}
    return check


def _secagg_sublinear(d):
    sa = d["secagg"]
    ns = sorted(int(n) for n in sa if sa[n].get("bytes_per_client_sent"))
    if len(ns) < 2:  # no two sizes with a round: nothing to compare, so it does not hold
        return {"n": ns, **seed_verdict([{"sizes_with_a_round_minus_2": len(ns) - 2.0}])}
    lo, hi = ns[0], ns[-1]
    ratio = sa[str(hi)]["bytes_per_client_sent"] / sa[str(lo)]["bytes_per_client_sent"]
    # All-pairs secure aggregation costs each client O(N) bytes; SecAgg+ O(log N + d).
    return {"n": [lo, hi], "bytes_ratio": ratio, "n_ratio": hi / lo,
            **seed_verdict([{"n_ratio_minus_bytes_ratio": hi / lo - ratio}])}


def _packet_level(d):
    """The twin's verdicts hold at packet level for the trained policy at the largest N:
    every `fedmarl validate` rate metric agrees."""
    rows = d["validate"]
    name = next(k for k in rows if k.startswith("f-maddqn"))
    rate_rows = [r for r in rows[name]["verdicts"] if "rate" in r["metric"]]
    agree = sum(r["verdict"] == "agree" for r in rate_rows)
    return {"policy": name, "rate_metrics": len(rate_rows), "agree": agree,
            "verdicts": {r["metric"]: r["verdict"] for r in rate_rows},
            **seed_verdict([{"agreeing_minus_all": agree - len(rate_rows) if rate_rows
                             else -1.0}])}


CLAIMS = (
    Claim("throughput_p5", "F-MADDQN (SecAgg+) beats greedy-filtered on p5 throughput at every N",
          _claim("p5_rate")),
    Claim("throughput_mean", "F-MADDQN beats greedy-filtered on mean throughput at every N",
          _claim("mean_rate")),
    Claim("fairness", "F-MADDQN is at least as fair (Jain) as greedy-filtered at every N",
          _claim("jain_fairness")),
    Claim("interference", "F-MADDQN causes less interference than greedy-filtered at every N",
          _claim("mean_interference_dbm", better="lower")),
    Claim("beats_random_p5", "F-MADDQN beats random channel choice on p5 throughput at every N",
          _claim("p5_rate", against="random")),
    Claim("secagg_sublinear",
          "secure aggregation's bytes per client grow slower than N (privacy at scale)",
          _secagg_sublinear),
    Claim("packet_level", "the twin's rates hold at packet level (ns-3) at the largest N",
          _packet_level),
)


# ------------------------------------------------------------------------------------ page
def _fmt(v: Any, spec: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    return format(v, spec)


def page(r: dict[str, Any]) -> str:
    b, t, c = r["budget"], r["timings_s"], r["claims"]
    quick = r["mode"] == "quick"
    lines = [
        "# Ultra-dense: the seed project's evaluation at N = 100 .. 5000 (inx-factory)", "",
        (f"Made by `{r['command']}` ({r['mode']} budget, seed {r['seed']}); total wall time "
         f"**{t['total']:.0f} s** on {os.cpu_count()} CPU cores (training {t['training']:.0f} s"
         f" in this invocation, the runs' own {t.get('training_runs_sum', 0):.0f} s summed;"
         f" twin evaluation {t['twin_eval']:.0f} s, ns-3 evaluation {t['ns3_eval']:.0f} s,"
         f" validate {t['validate']:.0f} s, secure-round benchmark {t['secagg_bench']:.0f} s)."
         " An interrupted run resumes from its finished training runs."), "",
        (f"Setting: inx-factory, K = {K} channels, hall grown with N (`hall_tiles=auto`), "
         f"{b['episode_steps']}-step episodes. Trained at N = "
         f"{', '.join(map(str, b['n_trained']))}: {', '.join(LEARNERS)} (and at N >= "
         f"{CLUSTERED_FROM} f-maddqn-cluster{CLUSTER}: {CLUSTER} agents per network) for "
         f"{b['train_episodes']} x {b['n_envs']} = {b['train_episodes'] * b['n_envs']} episodes"
         f" each (F-: SecAgg+ every tau_agg = {b['tau_agg']}); deployed untrained at N = "
         f"{', '.join(map(str, b['n_deployed']))} (twin; the networks trained at N = "
         f"{max(b['n_trained'])}, new agent g on trained member g mod G; -global: F-'s member"
         f" average, the federation's global model). Twin evaluation: {b['eval_episodes']} fresh episode(s) per "
         f"policy and N; ns-3: {b['ns3_episodes']} per policy and trained N with periodic"
         " URLLC traffic (one 32 B packet per device every 1 ms). Module docstring of"
         " `fedmarl/scenarios/inx_factory_ultra_dense.py`: why K is fixed, how C- is batched."),
        ""]
    if quick:
        lines += [("**Quick budget:** a smoke run of the pipeline; the learners saw "
                   f"{b['train_episodes'] * b['n_envs']} short episodes and are not trained;"
                   " the verdicts below say nothing about the method."), ""]
    lines += ["## Claims (reference 000's goals as rules, one seed: the signs decide)", "",
              "| claim | verdict | margins |", "|---|---|---|"]
    for claim in c.values():
        margins = "; ".join(f"{k} {m['mean']:+.3f}" for k, m in claim["margins"].items())
        lines.append(f"| {claim['claim']} | **{claim['verdict']}** | {margins} |")
    lines += ["", "## Throughput, fairness, interference (twin)", "",
              "![throughput](throughput_vs_n.png)", "",
              "![fairness and interference](fairness_interference_vs_n.png)", "",
              "| N | policy | mean FBL | p5 FBL | Jain | mean interference dBm | share < r_min |",
              "|---|---|---|---|---|---|---|"]
    for n, per in r["twin"].items():
        for name, e in per.items():
            lines.append(f"| {n} | {name} | {_fmt(e['mean_rate'])} | {_fmt(e['p5_rate'])} | "
                         f"{_fmt(e['jain_fairness'])} | {_fmt(e['mean_interference_dbm'], '.1f')}"
                         f" | {_fmt(e['frac_below_rmin'])} |")
    lines += ["", "## Packet level (ns-3): latency and loss", "",
              "![ns-3 latency](ns3_latency_vs_n.png)", "",
              ("| N | policy | delivered bps/Hz | mean delay us | p99 delay us | loss |"
               " wall s |"), "|---|---|---|---|---|---|---|"]
    for n, per in r["ns3"].items():
        for name, e in per.items():
            us = {k: None if e.get(k) is None else 1e6 * e[k]
                  for k in ("delay_mean_s", "delay_p99_s")}
            lines.append(f"| {n} | {name} | {_fmt(e['mean_rate'], '.4f')} | "
                         f"{_fmt(us['delay_mean_s'], '.1f')} | {_fmt(us['delay_p99_s'], '.1f')}"
                         f" | {_fmt(e['packet_loss'], '.4f')} | {e['wall_seconds']:.0f} |")
    lines += ["", "## `fedmarl validate` at the largest N (twin vs ns-3)", "",
              "| policy | metric | twin | ns-3 | verdict |", "|---|---|---|---|---|"]
    for name, v in r["validate"].items():
        for row in v["verdicts"]:
            lines.append(f"| {name} | {row['metric']} | {_fmt(row.get('twin'))} | "
                         f"{_fmt(row.get('ns3'))} | {row['verdict']} |")
    lines += ["", "## Secure aggregation per round", "", "![secure aggregation](secagg_vs_n.png)",
              "", ("| N | graph | k | t | parameters | rounds | s per round | critical path s |"
              " kB sent per client | kB received |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for n, s in r["secagg"].items():
        if not s.get("rounds"):
            lines.append(f"| {n} | no round fell in the run | | | | 0 | | | | |")
            continue
        kb = {k: None if s.get(k) is None else s[k] / 1e3
              for k in ("bytes_per_client_sent", "bytes_per_client_received")}
        note = " (one round outside training)" if s.get("measured_outside_training") else ""
        lines.append(f"| {n}{note} | {s.get('graph')} | {s.get('degree')} | "
                     f"{s.get('threshold')} | {s.get('params')} | {s['rounds']} | "
                     f"{_fmt(s['seconds'], '.2f')} | {_fmt(s.get('critical_path_s'), '.2f')} | "
                     f"{_fmt(kb['bytes_per_client_sent'], '.1f')} | "
                     f"{_fmt(kb['bytes_per_client_received'], '.1f')} |")
    lines += ["", "## Training", "", "![training reward](training_reward.png)", "",
              "| run | final reward (last 20 %) | wall s |", "|---|---|---|"]
    for name, tr in r["train"].items():
        lines.append(f"| {name} | {tr['final_reward']:.3f} | {_fmt(tr['wall_seconds'], '.0f')} |")
    lines += ["", "## Files", "", "- `results.json`: every number on this page.",
              f"- training runs: `{r['work']}/` (not committed: replay buffers).", ""]
    return "\n".join(lines)


STUDY = ModuleStudy(name=NAME, scenario=SCENARIO, budgets=BUDGETS, claims=CLAIMS,
                    out=f"docs/results/{NAME}", run_specs=run_specs, evaluate=evaluate,
                    figures=figures, page=page)
