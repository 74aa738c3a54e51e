"""The main job (`fedmarl run`, the README's first command).

Trains f-maddqn (secure federated averaging) on the default inx-factory twin for a few CPU
minutes, evaluates it greedily next to the baselines on fresh seeds and writes a report directory:
results.json (all metrics), rate_cdf*.png (per-device rate CDFs), report.md, training/ (reward
curve, overhead) and the run directory itself.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from rich.console import Console

from pybridge import make_config

POLICIES = ("random", "fixed", "greedy", "greedy-filtered", "cgc")
# Seed authors' public code, sparse clutter, N=20, K=4, mean Shannon bps/Hz (DESIGN.md).
REFERENCE_SHANNON = {"random": 11.02, "greedy": 12.54, "cgc": 12.80}


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def plot_rate_cdf(results: list[dict[str, Any]], path: Path, key: str, title: str,
                  r_min: float | None = None) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for r in results:
        q = np.asarray(r[key])
        ax.plot(q, np.linspace(0, 1, len(q)), label=r["policy"])
    if r_min is not None:
        ax.axvline(r_min, color="grey", ls="--", lw=1, label=f"r_min = {r_min:g}")
    ax.set_xlabel("rate per device and step (bps/Hz)")
    ax.set_ylabel("CDF")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# The main job's training run: f-maddqn on the default scenario for a few CPU minutes.
MAIN_TRAIN = {"algo": "f-maddqn", "episodes": 100, "n_envs": 16, "tau_agg": 512,
              "aggregation": "secure"}


def run_main_job(out: str, episodes: int = 20, seed: int = 0, train_episodes: int | None = None,
                 console: Console | None = None, progress: Any = None) -> Path:
    """Train f-maddqn (secure FedAvg) on the default twin, evaluate it next to the baselines on
    fresh seeds, write report.md with the training curve, rate CDFs and overhead."""
    from fedmarl.runs import evaluate_run, write_report
    from fedmarl.train import TrainConfig, Trainer

    console = console or Console(stderr=True)
    out_dir = Path(out)
    cfg = make_config("inx-factory")
    run_dir = out_dir / "run-f-maddqn"
    if run_dir.exists():  # a previous main job: start afresh, its report is replaced
        import shutil

        shutil.rmtree(run_dir)
    train_cfg = TrainConfig.from_dict({**MAIN_TRAIN, "seed": seed,
                                       "episodes": train_episodes or MAIN_TRAIN["episodes"]})
    t0 = time.perf_counter()
    console.print(f"[run] training f-maddqn on inx-factory (twin): {train_cfg.episodes} episodes"
                  f" x {train_cfg.n_envs} copies, secure FedAvg every {train_cfg.tau_agg}"
                  " transitions per agent")
    trainer = Trainer(train_cfg, run_dir, progress=progress, console=console)
    trainer.start()
    train_wall = time.perf_counter() - t0
    if trainer.interrupted:
        raise KeyboardInterrupt
    console.print(f"[run] evaluating f-maddqn and {', '.join(POLICIES)} on {episodes} fresh"
                  " episodes")
    t1 = time.perf_counter()
    ev = evaluate_run(run_dir, episodes=episodes, seed=seed, baselines=POLICIES)
    eval_wall = time.perf_counter() - t1
    results = ev["results"]
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"config": cfg.to_dict(), "train": train_cfg.to_dict(),
               "train_wall_seconds": train_wall, "eval_wall_seconds": eval_wall,
               "results": results}
    write_atomic(out_dir / "results.json", json.dumps(payload, indent=2).encode())
    plot_rate_cdf(results, out_dir / "rate_cdf.png", "rate_cdf_quantiles",
                  "Per-device finite-blocklength rate, inx-factory N=20 K=4", cfg.r_min)
    plot_rate_cdf(results, out_dir / "rate_cdf_shannon.png", "rate_shannon_cdf_quantiles",
                  "Per-device Shannon rate, inx-factory N=20 K=4", cfg.r_min)
    training = write_report([run_dir], out_dir / "training")
    text = _report(results, episodes, seed, eval_wall)
    text += (f"\nTraining: f-maddqn, {train_cfg.episodes} episodes x {train_cfg.n_envs} parallel"
             f" copies, secure aggregation every {train_cfg.tau_agg} transitions per agent,"
             f" {train_wall:.0f} s wall. Training curve, overhead and the run's own evaluation:"
             f" [training/report.md]({training.relative_to(out_dir)}); run directory"
             f" `{run_dir}` (resume, re-evaluate or report it with the `fedmarl` CLI).\n")
    write_atomic(out_dir / "report.md", text.encode())
    console.print(f"[run] report written to {out_dir / 'report.md'}"
                  f" (train {train_wall:.0f} s, eval {eval_wall:.0f} s)")
    return out_dir / "report.md"


def _report(results: list[dict[str, Any]], episodes: int, seed: int, wall: float) -> str:
    lines = [
        "# fedmarl report: f-maddqn and the baselines on inx-factory (twin backend)",
        "",
        (f"{episodes} episodes x 200 steps per policy, seed {seed}, default parameters "
         f"(N=20, K=4, sparse clutter; `fedmarl params inx-factory`). Wall time {wall:.1f} s."),
        "Rates are spectral efficiencies in bps/Hz over all (device, step) samples; FBL is the",
        "finite-blocklength rate (l=256, eps=1e-5) that the reward uses.",
        "",
        ("| policy | mean Shannon (+-sd over episodes) | ref. Shannon | p5 Shannon | mean FBL | "
         "p5 FBL | Jain | frac < r_min | SINR p50 dB |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        ref = REFERENCE_SHANNON.get(r["policy"])
        lines.append(
            f"| {r['policy']} | {r['mean_rate_shannon']:.2f} +- "
            f"{r['mean_rate_shannon_std_over_episodes']:.2f} | "
            f"{'' if ref is None else f'{ref:.2f}'} | {r['p5_rate_shannon']:.2f} | "
            f"{r['mean_rate']:.2f} | {r['p5_rate']:.2f} | {r['jain_fairness']:.3f} | "
            f"{r['frac_below_rmin']:.3f} | {r['sinr_db_p50']:.1f} |")
    lines += ["", "![rate CDF](rate_cdf.png)", "", "![Shannon rate CDF](rate_cdf_shannon.png)"]
    return "\n".join(lines) + "\n"
