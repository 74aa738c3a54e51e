"""Evaluating and reporting training runs: `fedmarl eval --run DIR`, `fedmarl report DIR...`.

Evaluation uses fresh seeds: training episode e of a run with seed s uses
`episode_seed(s, 10_000 + e)`, evaluation batch b uses `episode_seed(eval_seed, b)` with b < 10_000,
so the two never share an episode. Learners act greedily (deterministic) in evaluation.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from agents.baselines import make_baseline
from agents.policy import LearnerPolicy
from fedmarl.evaluate import evaluate_policy
from fedmarl.mainjob import REFERENCE_SHANNON, plot_rate_cdf, write_atomic
from pybridge.config import ConfigError

EVAL_BASELINES = ("random", "greedy", "cgc")


def load_run_policy(run_dir: str | Path) -> tuple[LearnerPolicy, dict[str, Any]]:
    """The run's trained learner as a greedy evaluation policy, and the run's policy record."""
    from agents.registry import make_learner
    from pybridge import make_config

    path = Path(run_dir) / "policy.pt"
    if not path.exists():
        raise ConfigError(f"{path} not found: is {run_dir} a finished `fedmarl train` run?"
                          " (an interrupted run is finished with `fedmarl train --resume DIR`)")
    record = torch.load(path, weights_only=False)
    sc = make_config(record["scenario"], **record["params"])
    learner = make_learner(record["algo"], sc.obs_width, sc.n_channels, sc.n_subnetworks,
                           seed=record["seed"], **record["agent"])
    learner.load_state_dict(record["learner"])
    return LearnerPolicy(learner, name=record["algo"]), record


def evaluate_run(run_dir: str | Path, episodes: int = 10, seed: int = 0,
                 baselines: tuple[str, ...] = EVAL_BASELINES, backend: str = "twin",
                 on_episode=None) -> dict[str, Any]:
    """Evaluate the run's policy and the baselines on the same fresh seeds; writes eval.json."""
    policy, record = load_run_policy(run_dir)
    t0 = time.perf_counter()
    results = []
    for pol in [policy, *(make_baseline(b) for b in baselines)]:
        res = evaluate_policy(record["scenario"], pol, episodes, seed=seed, backend=backend,
                              on_episode=on_episode, **record["params"])
        res["policy"] = pol.name
        results.append(res)
    out = {"run": str(run_dir), "algo": record["algo"], "train_episodes": record["episode"],
           "episodes": episodes, "seed": seed, "backend": backend,
           "wall_seconds": time.perf_counter() - t0, "results": results}
    write_atomic(Path(run_dir) / f"eval-{backend}.json", json.dumps(out, indent=2).encode())
    return out


# ------------------------------------------------------------------------------- reports
def _load_run(run_dir: Path) -> dict[str, Any]:
    from fedmarl.train import RunDir, TrainConfig

    run = RunDir(run_dir)
    if not run.config_path.exists():
        raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
    evals = {}
    for p in sorted(run_dir.glob("eval-*.json")):
        evals[p.stem.split("-", 1)[1]] = json.loads(p.read_text())
    return {"dir": run_dir, "config": TrainConfig.read_file(run.config_path),
            "metrics": run.read_jsonl("metrics.jsonl"),
            "federation": run.read_jsonl("federation.jsonl"), "evals": evals}


def _smooth(y: np.ndarray, k: int) -> np.ndarray:
    if len(y) < k or k <= 1:
        return y
    return np.convolve(y, np.ones(k) / k, mode="valid")


def plot_rewards(runs: list[dict[str, Any]], path: Path) -> None:
    """Mean reward per training episode, one line per algorithm (mean over its seeds)."""
    by_algo: dict[str, list[np.ndarray]] = defaultdict(list)
    for r in runs:
        if r["metrics"]:
            by_algo[r["config"]["algo"]].append(np.array([m["mean_reward"] for m in r["metrics"]]))
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for algo, curves in sorted(by_algo.items()):
        n = min(len(c) for c in curves)
        stack = np.stack([c[:n] for c in curves])
        k = max(1, n // 20)
        mean = _smooth(stack.mean(axis=0), k)
        x = np.arange(len(mean)) + k
        ax.plot(x, mean, label=f"{algo} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
        if len(curves) > 1:
            lo = _smooth(stack.min(axis=0), k)
            hi = _smooth(stack.max(axis=0), k)
            ax.fill_between(x, lo, hi, alpha=0.2)
    ax.set_xlabel("training episode (batch of parallel copies)")
    ax.set_ylabel("mean reward per agent and step (eq. 13)")
    ax.set_title("Training reward")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def overhead_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bytes per client per training episode: federation rounds (measured) vs C- raw data."""
    rows = []
    for r in runs:
        m = r["metrics"]
        if not m:
            continue
        fed = np.mean([x.get("fed_bytes_per_client", 0) for x in m])
        raw = np.mean([x.get("c_bytes_per_client", 0) for x in m])
        secs = np.mean([x.get("fed_seconds", 0.0) for x in m])
        rounds = r["federation"]
        recv = np.mean([x.get("bytes_per_client_received", 0) for x in rounds]) if rounds else 0
        rows.append({"run": r["dir"].name, "algo": r["config"]["algo"],
                     "aggregation": r["config"].get("aggregation"),
                     "rounds_per_episode": len(rounds) / max(len(m), 1),
                     "fed_bytes_sent_per_episode": float(fed),
                     "fed_bytes_received_per_round": float(recv),
                     "fed_seconds_per_episode": float(secs),
                     "c_bytes_per_episode": float(raw)})
    return rows


def plot_overhead(rows: list[dict[str, Any]], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    labels = [f"{r['algo']}\n{r['run']}" for r in rows]
    x = np.arange(len(rows))
    ax.bar(x - 0.2, [r["fed_bytes_sent_per_episode"] for r in rows], 0.4,
           label="sent for model aggregation")
    ax.bar(x + 0.2, [r["c_bytes_per_episode"] for r in rows], 0.4,
           label="raw transitions a C- agent would ship")
    ax.set_xticks(x, labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("bytes per agent per training episode")
    ax.set_title("Signalling overhead per agent")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    """report.md + PNGs for one or more runs (reward curves, rate CDFs, overhead)."""
    runs = [_load_run(Path(d)) for d in run_dirs]
    out_dir = Path(out) if out else runs[0]["dir"]
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# fedmarl training report", ""]
    lines.append("| run | algo | backend | seed | episodes x copies | steps | wall s |"
                 " final reward (last 10 %) |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for r in runs:
        m, c = r["metrics"], r["config"]
        tail = m[-max(1, len(m) // 10):] if m else []
        lines.append(f"| {r['dir'].name} | {c['algo']} | {c['backend']} | {c['seed']} | "
                     f"{len(m)} x {c['n_envs']} | {m[-1]['global_step'] if m else 0} | "
                     f"{sum(x['wall_seconds'] for x in m):.0f} | "
                     f"{np.mean([x['mean_reward'] for x in tail]) if tail else float('nan'):.2f} |")
    plot_rewards(runs, out_dir / "reward.png")
    lines += ["", "![training reward](reward.png)", ""]

    evals = [(r, e) for r in runs for e in r["evals"].values()]
    if evals:
        lines += ["## Evaluation (greedy policies, fresh seeds)", "",
                  ("| run | policy | backend | mean Shannon | ref. Shannon | p5 Shannon | mean FBL |"
                  " p5 FBL | Jain | frac < r_min |"), "|---|---|---|---|---|---|---|---|---|---|"]
        for r, e in evals:
            for res in e["results"]:
                ref = REFERENCE_SHANNON.get(res["policy"], "")
                lines.append(
                    f"| {r['dir'].name} | {res['policy']} | {e['backend']} | "
                    f"{res['mean_rate_shannon']:.2f} | {ref} | {res['p5_rate_shannon']:.2f} | "
                    f"{res['mean_rate']:.2f} | {res['p5_rate']:.2f} | "
                    f"{res['jain_fairness']:.3f} | {res['frac_below_rmin']:.3f} |")
        # One CDF plot with every learner and the baselines of the first evaluation.
        seen, curves = set(), []
        for _, e in evals:
            for res in e["results"]:
                if res["policy"] not in seen:
                    seen.add(res["policy"])
                    curves.append(res)
        r_min = runs[0]["config"].get("params_resolved", {}).get("r_min")
        plot_rate_cdf(curves, out_dir / "rate_cdf.png", "rate_cdf_quantiles",
                      "Per-device finite-blocklength rate", r_min)
        lines += ["", "![rate CDF](rate_cdf.png)", ""]

    rows = overhead_rows(runs)
    if any(r["fed_bytes_sent_per_episode"] for r in rows):
        plot_overhead(rows, out_dir / "overhead.png")
        lines += ["## Signalling overhead", "",
                  ("| run | algo | aggregation | rounds / episode | bytes sent / agent / episode |"
                  " crypto+protocol s / episode | C- raw bytes / agent / episode |"),
                  "|---|---|---|---|---|---|---|"]
        for o in rows:
            lines.append(f"| {o['run']} | {o['algo']} | {o['aggregation']} | "
                         f"{o['rounds_per_episode']:.2f} | {o['fed_bytes_sent_per_episode']:,.0f} |"
                         f" {o['fed_seconds_per_episode']:.3f} | {o['c_bytes_per_episode']:,.0f} |")
        lines += ["", "![overhead](overhead.png)", ""]
    path = out_dir / "report.md"
    write_atomic(path, ("\n".join(lines) + "\n").encode())
    return path
