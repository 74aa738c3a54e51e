"""The main job (`fedmarl run`, the README's first command).

Evaluates the baselines on the default inx-factory twin and writes a report directory:
results.json (all metrics), rate_cdf.png (per-device rate CDFs) and report.md. Learners and
federated training join this job as they land (see the issues); the report says what it covers.
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

from agents.baselines import make_baseline
from fedmarl.evaluate import evaluate_policy
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


def run_main_job(out: str, episodes: int = 20, seed: int = 0,
                 console: Console | None = None) -> Path:
    console = console or Console(stderr=True)
    out_dir = Path(out)
    cfg = make_config("inx-factory")
    results = []
    t0 = time.perf_counter()
    for name in POLICIES:
        console.print(f"[run] evaluating {name} on inx-factory (twin), {episodes} episodes")
        results.append(evaluate_policy("inx-factory", make_baseline(name), episodes, seed=seed))
    wall = time.perf_counter() - t0
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"config": cfg.to_dict(), "wall_seconds": wall, "results": results}
    write_atomic(out_dir / "results.json", json.dumps(payload, indent=2).encode())
    plot_rate_cdf(results, out_dir / "rate_cdf.png", "rate_cdf_quantiles",
                  "Per-device finite-blocklength rate, inx-factory N=20 K=4", cfg.r_min)
    plot_rate_cdf(results, out_dir / "rate_cdf_shannon.png", "rate_shannon_cdf_quantiles",
                  "Per-device Shannon rate, inx-factory N=20 K=4", cfg.r_min)
    write_atomic(out_dir / "report.md", _report(results, episodes, seed, wall).encode())
    console.print(f"[run] report written to {out_dir / 'report.md'} ({wall:.1f} s)")
    return out_dir / "report.md"


def _report(results: list[dict[str, Any]], episodes: int, seed: int, wall: float) -> str:
    lines = [
        "# fedmarl report: inx-factory baselines (twin backend)",
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
    lines += ["", "![rate CDF](rate_cdf.png)", "", "![Shannon rate CDF](rate_cdf_shannon.png)",
              "", "Learners and federated training are not part of this version's main job."]
    return "\n".join(lines) + "\n"
