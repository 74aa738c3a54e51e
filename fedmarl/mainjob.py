"""The main job (`fedmarl run`, the README's first command).

Trains f-maddqn (secure federated averaging) on the default scenario's twin for a few CPU
minutes, evaluates it greedily next to every baseline of the scenario on fresh seeds and writes
a report directory: results.json (all metrics), one CDF PNG per quantile list of the scenario's
summary (e.g. rate_cdf.png), report.md, training/ (reward curve, overhead) and the run
directory itself.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from fedmarl.io import write_atomic, write_json
from fedmarl.registries import DEFAULT_SCENARIO, baseline_names
from fedmarl.registries import spec as scenario_spec
from fedmarl.report import cdf_pngs, eval_table, write_report
from fedmarl.runs import evaluate_run
from fedmarl.train import TrainConfig, Trainer

# The main job's training run: f-maddqn on the default scenario for a few CPU minutes.
MAIN_TRAIN = {"algo": "f-maddqn", "episodes": 100, "n_envs": 16, "tau_agg": 512,
              "aggregation": "secure"}


def run_main_job(out: str, episodes: int = 20, seed: int = 0, train_episodes: int | None = None,
                 console: Console | None = None, progress: Any = None,
                 scenario: str = DEFAULT_SCENARIO) -> Path:
    """Train f-maddqn (secure FedAvg) on the scenario's twin, evaluate it next to the baselines
    on fresh seeds, write report.md with the training curve, CDFs and overhead."""
    console = console or Console(stderr=True)
    spec = scenario_spec(scenario)
    out_dir = Path(out)
    cfg = spec.make_config()
    run_dir = out_dir / "run-f-maddqn"
    if run_dir.exists():  # a previous main job: start afresh, its report is replaced
        shutil.rmtree(run_dir)
    train_cfg = TrainConfig.from_dict({**MAIN_TRAIN, "scenario": scenario, "seed": seed,
                                       "episodes": train_episodes or MAIN_TRAIN["episodes"]})
    t0 = time.perf_counter()
    console.print(f"[run] training f-maddqn on {scenario} (twin): {train_cfg.episodes} episodes"
                  f" x {train_cfg.n_envs} copies, secure FedAvg every {train_cfg.tau_agg}"
                  " transitions per agent")
    trainer = Trainer(train_cfg, run_dir, progress=progress, console=console)
    trainer.start()
    train_wall = time.perf_counter() - t0
    if trainer.interrupted:
        raise KeyboardInterrupt
    policies = baseline_names(spec)
    console.print(f"[run] evaluating f-maddqn and {', '.join(policies)} on {episodes} fresh"
                  " episodes")
    t1 = time.perf_counter()
    ev = evaluate_run(run_dir, episodes=episodes, seed=seed, baselines=policies)
    eval_wall = time.perf_counter() - t1
    results = ev["results"]
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"config": cfg.to_dict(), "train": train_cfg.to_dict(),
               "train_wall_seconds": train_wall, "eval_wall_seconds": eval_wall,
               "results": results}
    write_json(out_dir / "results.json", payload)
    pngs = cdf_pngs(spec, results, out_dir, f", {scenario} default parameters")
    training = write_report([run_dir], out_dir / "training")
    text = _report(spec, results, episodes, seed, eval_wall, pngs)
    text += (f"\nTraining: f-maddqn, {train_cfg.episodes} episodes x {train_cfg.n_envs} parallel"
             f" copies, secure aggregation every {train_cfg.tau_agg} transitions per agent,"
             f" {train_wall:.0f} s wall. Training curve, overhead and the run's own evaluation:"
             f" [training/report.md]({training.relative_to(out_dir)}); run directory"
             f" `{run_dir}` (resume, re-evaluate or report it with the `fedmarl` CLI).\n")
    write_atomic(out_dir / "report.md", text.encode())
    console.print(f"[run] report written to {out_dir / 'report.md'}"
                  f" (train {train_wall:.0f} s, eval {eval_wall:.0f} s)")
    return out_dir / "report.md"


def _report(spec, results: list[dict[str, Any]], episodes: int, seed: int, wall: float,
            pngs: list[str]) -> str:
    cfg = spec.make_config()
    lines = [
        f"# fedmarl report: f-maddqn and the baselines on {spec.name} (twin backend)",
        "",
        (f"{episodes} episodes x {cfg.episode_steps} steps per policy, seed {seed}, default"
         f" parameters (`fedmarl params {spec.name}`). Wall time {wall:.1f} s."),
    ]
    if spec.description:
        lines.append(f"Scenario: {spec.description}.")
    if spec.reference_source:
        lines.append(f"Reference figures: {spec.reference_source}.")
    lines.append("")
    lines += eval_table(spec, results)
    lines += [""] + [f"![{p[:-4].replace('_', ' ')}]({p})" for p in pngs]
    return "\n".join(lines) + "\n"
