"""`fedmarl report DIR...`: a Markdown page with PNGs of one or more training runs.

Sections: the runs (reward at the end of training), the training reward curves, the runs'
evaluations (`fedmarl eval --run`) as a table of the scenario's columns (`spec.columns`) with
the published figures beside ours (`spec.reference`), CDF plots of every quantile list in the
scenario's summary (`<name>_cdf_quantiles` -> `<name>_cdf.png`), and the signalling overhead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fedmarl import plots
from fedmarl.io import RunDir, write_atomic
from fedmarl.registries import spec as scenario_spec
from pybridge.api import ScenarioSpec

CDF_SUFFIX = "_cdf_quantiles"


def load_run(run_dir: Path) -> dict[str, Any]:
    run = RunDir(run_dir)
    config = run.read_config()
    evals = {}
    for p in sorted(Path(run_dir).glob("eval-*.json")):
        evals[p.stem.split("-", 1)[1]] = json.loads(p.read_text())
    return {"dir": Path(run_dir), "config": config, "metrics": run.read_jsonl("metrics.jsonl"),
            "federation": run.read_jsonl("federation.jsonl"), "evals": evals}


def cdf_keys(result: Mapping[str, Any]) -> list[str]:
    """Summary keys holding evenly spaced quantiles (a CDF to plot)."""
    return [k for k in result if k.endswith(CDF_SUFFIX)]


def cdf_pngs(spec: ScenarioSpec, results: Sequence[Mapping[str, Any]], out_dir: Path,
             title: str = "") -> list[str]:
    """One CDF PNG per quantile list of the summaries, every policy on it; the file names."""
    files = []
    for key in cdf_keys(results[0]) if results else []:
        name = key.removesuffix(CDF_SUFFIX)
        fname = f"{name}_cdf.png"
        plots.quantile_cdf(results, out_dir / fname, key,
                           f"{spec.name}: {name.replace('_', ' ')} per sample{title}",
                           xlabel=name.replace("_", " "))
        files.append(fname)
    return files


def eval_table(spec: ScenarioSpec, results: Sequence[Mapping[str, Any]],
               lead: Sequence[tuple[str, Any]] = ()) -> list[str]:
    """Markdown table of the scenario's eval columns, one row per result; `lead` are extra
    first columns (header, fn(result) -> str). A column whose key the published reference has
    gets a "ref." column beside it."""
    ref_keys = {k for v in spec.reference.values() for k in v}
    head, cells = [h for h, _ in lead], []
    for c in spec.columns:
        head.append(c.header)
        if c.key in ref_keys:
            head.append(f"ref. {c.header}")
    lines = ["| " + " | ".join(["policy", *head]) + " |", "|---" * (len(head) + 1) + "|"]
    for r in results:
        cells = [fn(r) for _, fn in lead]
        ref = spec.reference.get(r["policy"], {})
        for c in spec.columns:
            v = r.get(c.key)
            cells.append("" if v is None else c.fmt.format(v * getattr(c, "scale", 1.0)))
            if c.key in ref_keys:
                cells.append(c.fmt.format(ref[c.key]) if c.key in ref else "")
        lines.append("| " + " | ".join([str(r["policy"]), *cells]) + " |")
    return lines


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


def write_report(run_dirs: list[str | Path], out: str | Path | None = None) -> Path:
    """report.md + PNGs for one or more runs (reward curves, CDFs, overhead)."""
    runs = [load_run(Path(d)) for d in run_dirs]
    out_dir = Path(out) if out else runs[0]["dir"]
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = ["# fedmarl training report", ""]
    lines.append("| run | algo | scenario | backend | seed | episodes x copies | steps | wall s |"
                 " final reward (last 10 %) |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        m, c = r["metrics"], r["config"]
        tail = m[-max(1, len(m) // 10):] if m else []
        lines.append(f"| {r['dir'].name} | {c['algo']} | {c['scenario']} | {c['backend']} | "
                     f"{c['seed']} | {len(m)} x {c['n_envs']} | "
                     f"{m[-1]['global_step'] if m else 0} | "
                     f"{sum(x['wall_seconds'] for x in m):.0f} | "
                     f"{np.mean([x['mean_reward'] for x in tail]) if tail else float('nan'):.2f} |")
    plots.training_rewards(runs, out_dir / "reward.png")
    lines += ["", "![training reward](reward.png)", ""]

    evals = [(r, e) for r in runs for e in r["evals"].values()]
    if evals:
        spec = scenario_spec(runs[0]["config"]["scenario"])
        lines += ["## Evaluation (greedy policies, fresh seeds)", ""]
        lines += eval_table(spec, [dict(res, policy=res["policy"]) for _, e in evals
                                   for res in e["results"]],
                            lead=[("backend", lambda res: res["backend"])])
        # One CDF plot per quantile list with every learner and the baselines.
        seen, curves = set(), []
        for _, e in evals:
            for res in e["results"]:
                if res["policy"] not in seen:
                    seen.add(res["policy"])
                    curves.append(res)
        for fname in cdf_pngs(spec, curves, out_dir):
            lines += ["", f"![{fname[:-4].replace('_', ' ')}]({fname})"]
        lines.append("")

    rows = overhead_rows(runs)
    if any(r["fed_bytes_sent_per_episode"] for r in rows):
        plots.overhead_bars(rows, out_dir / "overhead.png")
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
