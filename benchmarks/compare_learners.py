"""Learners against the baselines over several seeds: docs/results/learners.md (a benchmark).

Each (algorithm, seed) is one `fedmarl train` run (same code path as the CLI) followed by the
run's greedy evaluation next to random / greedy / CGC on fresh seeds. Runs go to OUT/ALGO-sSEED;
a run that already finished is reused (delete it to redo it), so an interrupted sweep resumes.

    python benchmarks/compare_learners.py --algos f-maddqn d-maddqn c-maddqn f-mappo \\
        --seeds 0 1 2 3 4 --episodes 40 --eval-episodes 10 --jobs 2 --out runs/compare

Prints a Markdown table: mean and 5th-percentile rate (Shannon and FBL) per method, mean +- sd
over seeds, and the training wall time per run; writes OUT/summary.json.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np


def one_run(algo: str, seed: int, episodes: int, eval_episodes: int, out: str,
            extra: dict[str, Any]) -> dict[str, Any]:
    import torch

    from fedmarl.runs import evaluate_run
    from fedmarl.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    run = Path(out) / f"{algo}-s{seed}"
    ev_path = run / "eval-twin.json"
    if ev_path.exists():
        return json.loads(ev_path.read_text())
    if run.exists():
        import shutil

        shutil.rmtree(run)
    cfg = TrainConfig.from_dict({"algo": algo, "seed": seed, "episodes": episodes, **extra})
    t0 = time.perf_counter()
    Trainer(cfg, run).start()
    wall = time.perf_counter() - t0
    ev = evaluate_run(run, episodes=eval_episodes, seed=1000 + seed)
    ev["train_wall_seconds"] = wall
    ev_path.write_text(json.dumps(ev, indent=2))
    return ev


def summarise(evals: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    keys = ("mean_rate_shannon", "p5_rate_shannon", "mean_rate", "p5_rate", "jain_fairness")
    by: dict[str, dict[str, list[float]]] = {}
    walls: dict[str, list[float]] = {}
    for ev in evals:
        walls.setdefault(ev["algo"], []).append(ev.get("train_wall_seconds", float("nan")))
        for res in ev["results"]:
            d = by.setdefault(res["policy"], {k: [] for k in keys})
            for k in keys:
                d[k].append(res[k])
    out = {}
    for pol, d in by.items():
        out[pol] = {k: (float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0)
                    for k, v in d.items()}
        out[pol]["n"] = len(d[keys[0]])
        if pol in walls:
            out[pol]["train_wall_seconds"] = float(np.mean(walls[pol]))
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    lines = [("| method | runs | mean Shannon | p5 Shannon | mean FBL | p5 FBL | Jain |"
             " train wall s / run |"), "|---|---|---|---|---|---|---|---|"]
    for pol, d in summary.items():
        cells = [f"{d[k][0]:.2f} +- {d[k][1]:.2f}" for k in
                 ("mean_rate_shannon", "p5_rate_shannon", "mean_rate", "p5_rate")]
        wall = d.get("train_wall_seconds")
        lines.append(f"| {pol} | {d['n']} | {' | '.join(cells)} | {d['jain_fairness'][0]:.3f} |"
                     f" {'' if wall is None else f'{wall:.0f}'} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--algos", nargs="+", default=["f-maddqn", "d-maddqn", "c-maddqn", "f-mappo"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--episodes", type=int, default=40, help="training episodes (x n_envs)")
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--eval-episodes", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--aggregation", choices=["plain", "secure"], default="plain",
                    help="F- rounds; secure gives the same models up to quantisation"
                         " (tests/e2e/test_train.py) at ~0.2 s a round")
    ap.add_argument("--out", default="runs/compare")
    args = ap.parse_args()
    extra = {"n_envs": args.n_envs, "aggregation": args.aggregation}
    jobs = [(a, s) for s in args.seeds for a in args.algos]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        futs = [pool.submit(one_run, a, s, args.episodes, args.eval_episodes, args.out, extra)
                for a, s in jobs]
        evals = []
        for (a, s), f in zip(jobs, futs):
            evals.append(f.result())
            print(f"[compare] {a} seed {s} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    summary = summarise(evals)
    Path(args.out, "summary.json").write_text(json.dumps(
        {"args": vars(args), "wall_seconds": time.perf_counter() - t0, "summary": summary},
        indent=2))
    print(table(summary))


if __name__ == "__main__":
    main()
