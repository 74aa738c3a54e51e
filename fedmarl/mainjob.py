"""The main job (`fedmarl run`, the README's first command).

Trains f-maddqn (secure federated averaging) on the default scenario's twin for about two CPU
minutes, evaluates it greedily next to every baseline of the scenario on fresh seeds and writes
a report directory: report.md (one screen: the table, the training curve, the headline CDF, the
secure-aggregation cost, where to go next), results.json (all metrics), training_curve.png, one
CDF PNG per quantile list of the scenario's summary (e.g. rate_cdf.png), training/ (the run's
own report: reward, overhead) and the run directory itself.

The budget (MAIN_TRAIN) is chosen to converge: epsilon reaches its floor at a third of the
training steps, and the report states whether the reward curve is flat over its last 20 %
(`tail_trend`). Rounds overlap with training (`fed_overlap`, fedmarl/train.py: Federation) and
aggregate every 1024 transitions per agent, the largest T_agg of the reference (ref. 002), whose
Fig. 3 has larger T_agg marginally better; a checkpoint is written at the end only (the main job
always starts afresh, and a checkpoint with its replay buffer costs ~0.5 s per episode).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from fedmarl import plots
from fedmarl.io import RunDir, write_atomic, write_json
from fedmarl.plots import smooth
from fedmarl.registries import DEFAULT_SCENARIO, MAIN_TRAIN, baseline_names
from fedmarl.registries import spec as scenario_spec
from fedmarl.report import cdf_pngs, eval_table, write_report
from fedmarl.runs import evaluate_run
from fedmarl.train import TrainConfig, Trainer

# The training budget is fedmarl.registries.MAIN_TRAIN; what makes the curve count as flat:
TAIL = 0.2  # the share of training episodes over which the curve must be flat
FLAT = 0.05  # flat: the trend over the tail is below 5 % of the curve's whole rise ...
NOISE_SE = 2.0  # ... or within 2 standard errors of the trend (episode-to-episode noise)


def tail_trend(reward: list[float], tail: float = TAIL) -> dict[str, float | bool | None]:
    """Least-squares trend of the reward over the last `tail` of the episodes (the fitted
    line's change from the first to the last of them), its standard error, and the rise from
    the first 10 % of episodes to the tail's mean: {"tail_mean", "trend", "trend_se", "rise",
    "flat"}. Flat: |trend| <= max(FLAT * |rise|, NOISE_SE * trend_se); None below 10 episodes."""
    y = np.asarray(reward, dtype=float)
    if y.size < 10:  # a tail of fewer than 3 points says nothing
        return {"tail_mean": float(y.mean()) if y.size else float("nan"), "trend": float("nan"),
                "trend_se": float("nan"), "rise": float("nan"), "flat": None}
    k = max(3, round(tail * y.size))
    last = y[-k:]
    x = np.arange(last.size, dtype=float)
    slope, icpt = np.polyfit(x, last, 1)
    resid = last - (slope * x + icpt)
    se = float(np.sqrt(resid @ resid / max(last.size - 2, 1) / ((x - x.mean()) ** 2).sum()))
    span = last.size - 1
    trend, trend_se = float(slope * span), se * span
    rise = float(last.mean() - y[: max(1, y.size // 10)].mean())
    return {"tail_mean": float(last.mean()), "trend": trend, "trend_se": trend_se, "rise": rise,
            "flat": bool(abs(trend) <= max(FLAT * abs(rise), NOISE_SE * trend_se))}


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
    n_train = train_episodes or MAIN_TRAIN["episodes"]
    train_cfg = TrainConfig.from_dict({**MAIN_TRAIN, "scenario": scenario, "seed": seed,
                                       "episodes": n_train, "checkpoint_every": n_train})
    t0 = time.perf_counter()
    console.print(f"[run] training f-maddqn on {scenario} (twin): {train_cfg.episodes} episodes"
                  f" x {train_cfg.n_envs} copies, secure FedAvg every {train_cfg.tau_agg}"
                  " transitions per agent (about two minutes on 2 cores)", markup=False)
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
    pngs = cdf_pngs(spec, results, out_dir, f", {scenario} default parameters")
    training = write_report([run_dir], out_dir / "training")
    rd = RunDir(run_dir)
    rows, rounds = rd.read_jsonl("metrics.jsonl"), rd.read_jsonl("federation.jsonl")
    trend = tail_trend([r["mean_reward"] for r in rows])
    _curve_png(rows, results, train_cfg, out_dir / "training_curve.png")
    payload["training_curve"] = trend
    write_json(out_dir / "results.json", payload)
    text = _report(spec, results, episodes, seed, eval_wall, pngs, train_cfg, train_wall,
                   trend, rounds, run_dir, training.relative_to(out_dir), scenario)
    write_atomic(out_dir / "report.md", text.encode())
    console.print(f"[run] report written to {out_dir / 'report.md'}"
                  f" (train {train_wall:.0f} s, eval {eval_wall:.0f} s)")
    return out_dir / "report.md"


def _curve_png(rows: list[dict[str, Any]], results: list[dict[str, Any]], cfg: TrainConfig,
               path: Path) -> None:
    y = np.array([r["mean_reward"] for r in rows])
    x = cfg.n_envs * np.arange(1, y.size + 1)
    k = max(1, y.size // 20)
    lines = [("f-maddqn, per training episode batch", x, y),
             (f"moving mean of {k}", x[k - 1:], smooth(y, k))]
    hlines = [(r["mean_reward"], f"{r['policy']} (evaluation)", ls) for r, ls in
              zip(sorted((r for r in results if r["policy"] != cfg.algo),
                         key=lambda r: -r["mean_reward"])[:2], ("--", ":"))]
    plots.curve_panels(path, [("training reward (the last 20 % must be flat)", lines)], hlines,
                       xlabel="training episodes (all parallel copies)",
                       ylabel="mean reward per agent and step")


def _versus(spec, results: list[dict[str, Any]], algo: str) -> list[str]:
    """One line per headline statistic (mean, p5): which baselines the learner beats."""
    mine = next(r for r in results if r["policy"] == algo)
    lines = []
    stem = spec.headline.removeprefix("mean_")
    headers = {c.key: c.header for c in spec.columns}
    for key in (spec.headline, f"p5_{stem}"):
        if key not in mine:
            continue
        others = [r for r in results if r["policy"] != algo]
        above = [r["policy"] for r in others if mine[key] > r[key]]
        below = [f"{r['policy']} ({r[key]:.3f})" for r in others if mine[key] <= r[key]]
        tail = f"; not above {', '.join(below)}" if below else ""
        lines.append(f"- {headers.get(key, key.replace('_', ' '))}: {algo} {mine[key]:.3f},"
                     f" above {', '.join(above) or 'none'}{tail}.")
    return lines


def _report(spec, results: list[dict[str, Any]], episodes: int, seed: int, wall: float,
            pngs: list[str], cfg: TrainConfig, train_wall: float, trend: dict[str, Any],
            rounds: list[dict[str, Any]], run_dir: Path, training: Path, scenario: str) -> str:
    scfg = spec.make_config()
    lines = [
        f"# fedmarl report: f-maddqn and the baselines on {spec.name} (twin backend)",
        "",
        (f"Trained: {cfg.algo}, {cfg.episodes} x {cfg.n_envs} parallel episodes of"
         f" {scfg.episode_steps} steps, {train_wall:.0f} s. Evaluated: {episodes} fresh episodes"
         f" per policy, seed {seed}, default parameters (`fedmarl params {spec.name}`),"
         f" {wall:.1f} s."),
    ]
    if spec.description:
        lines.append(f"Scenario: {spec.description}.")
    if spec.reference_source:
        lines.append(f"Reference figures: {spec.reference_source}.")
    lines += ["", *eval_table(spec, results), "", *_versus(spec, results, cfg.algo)]
    if trend["flat"] is None:
        curve = f"Training curve: {cfg.episodes} episodes are too few to judge whether it is flat."
    else:
        verdict = "flat" if trend["flat"] else "**still moving**"
        curve = (f"Training curve: {verdict} over the last {TAIL:.0%} of episodes (fitted trend"
                 f" {trend['trend']:+.3f} +- {trend['trend_se']:.3f} there, against a rise of"
                 f" {trend['rise']:+.3f} since the first 10 %; flat: within {FLAT:.0%} of the"
                 f" rise or {NOISE_SE:g} standard errors).")
    lines += ["", curve, "",
              "![training curve](training_curve.png)"]
    if pngs:
        lines += [f"![{pngs[0][:-4].replace('_', ' ')}]({pngs[0]})"]
    ok = [r for r in rounds if "failed" not in r]
    if ok:
        secs = float(np.mean([r["seconds"] for r in ok]))
        sent = float(np.mean([r["bytes_per_client_sent"] for r in ok]))
        where = ("in a worker process, overlapped with training" if ok[0].get("overlapped")
                 else "in the training loop")
        lines += ["", (f"Secure aggregation: {len(ok)} rounds of {ok[0]['n_clients']} agents"
                       f" ({len(rounds) - len(ok)} failed), {secs:.3f} s each {where},"
                       f" {sent / 1024:.0f} KiB sent per agent per round; the server only ever"
                       f" saw masked models (the protocol: federation/README.md).")]
    lines += ["", "Next:",
              (f"- train longer: `fedmarl train --resume {run_dir}` after raising `episodes`"
               f" in `{run_dir / 'config.yaml'}`, or `fedmarl train --config FILE`"
               " (docs/training.md)"),
              (f"- check at packet level: `fedmarl validate --scenario {scenario} --policy"
               f" {run_dir}` (twin vs ns-3, per metric)"),
              f"- reproduce a study: `fedmarl reproduce {scenario}` (docs/results/)",
              f"- this run's own report (overhead, rate CDFs): [training/report.md]({training})"]
    if pngs[1:]:
        lines.append("- more CDFs: " + ", ".join(f"[{p}]({p})" for p in pngs[1:]))
    return "\n".join(lines) + "\n"
