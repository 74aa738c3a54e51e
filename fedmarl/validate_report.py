"""Rendering of `fedmarl validate`'s result (computed by fedmarl/validate.py): validate.md,
validate.json and one CDF PNG per compared sample set (`<set>_cdf.png`, twin beside ns-3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from fedmarl import plots
from fedmarl.io import write_atomic
from fedmarl.registries import spec as scenario_spec
from fedmarl.validate import compare, flat, jsonable, validation_module


def validate_and_report(out: str | Path, scenario: str, policy: str, episodes: int,
                        seed: int = 0, params: dict[str, Any] | None = None,
                        batch: int | None = None, on_episode=None, trace: bool = True
                        ) -> dict[str, Any]:
    """`fedmarl.validate.validate` and the report files in `out`; the JSON-able result (with
    "files")."""
    result, res = compare(scenario, policy, episodes, seed, params, batch, on_episode, trace)
    write_report(result, res, Path(out))
    return jsonable(result)


def write_report(result: dict[str, Any], res: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    tw, ns = res["twin"], res["ns3"]
    files = {"json": "validate.json", "markdown": "validate.md"}
    for name in result["samples"]:
        fname = f"{name}_cdf.png"
        plots.sample_cdfs(out / fname,
                          [(flat(tw["samples"][name]), {"label": "twin", "color": "C0"}),
                           (flat(ns["samples"][name]), {"label": "ns-3", "color": "C1"})],
                          name.replace("_", " "),
                          f"{result['policy']}: {name.replace('_', ' ')} CDF, twin vs ns-3"
                          f" ({result['episodes']} episodes)")
        files[f"{name}_cdf"] = fname
    result["files"] = {k: str(out / v) for k, v in files.items()}
    write_atomic(out / "validate.md", markdown(result).encode())
    write_atomic(out / "validate.json", json.dumps(jsonable(result), indent=2).encode())


def _fmt(x: Any) -> str:
    if x is None:
        return ""
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1e-2 and x != 0 else f"{x:.3f}"
    return str(x)


def _ci(ci) -> str:
    lo, hi = ci
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"[{lo:.3f}, {hi:.3f}]"


def markdown(r: dict[str, Any]) -> str:
    lines = [f"# fedmarl validate: {r['policy']} on {r['scenario']}, twin vs ns-3", "",
             (f"{r['episodes']} episodes per backend, seed {r['seed']}, parameters "
              f"{r['params'] or 'default'}; {r['wall_seconds']:.1f} s wall."), "",
             "## Sample sets (95 % CIs over episodes)", "",
             "| set | statistic | twin | twin CI | ns-3 | ns-3 CI | ns-3 - twin | CI of difference |",
             "|---|---|---|---|---|---|---|---|"]
    ks_notes = []
    for name, cmp in r["samples"].items():
        for stat, c in cmp.items():
            if stat == "ks":
                continue
            lines.append(f"| {name} | {stat} | {c['twin']:.3f} | {_ci(c['twin_ci'])} |"
                         f" {c['ns3']:.3f} | {_ci(c['ns3_ci'])} | {c['diff']:+.3f} |"
                         f" {_ci(c['diff_ci'])} |")
        ks = cmp["ks"]
        ks_notes.append(f"{name} {ks['distance']:.3f} (iid p {_fmt(ks['pvalue_iid'])})")
    pngs = " ".join(f"![{k}]({Path(v).name})" for k, v in r.get("files", {}).items()
                    if k.endswith("_cdf"))
    lines += ["", ("KS distances: " + ", ".join(ks_notes) + "; the iid p-values overstate"
                   " significance: samples within an episode are correlated."), "", pngs, "",
              "## Verdicts", "",
              "| metric | twin (or prediction) | ns-3 | deviation | tolerance | verdict | why |",
              "|---|---|---|---|---|---|---|"]
    for row in r["verdicts"] + r["packet_level"]:
        tol = f"{row['tolerance_kind']} {row['tolerance']:g}"
        lines.append(f"| {row['metric']} | {_fmt(row['twin'])} | {_fmt(row['ns3'])} | "
                     f"{_fmt(row['deviation'])} | {tol} | **{row['verdict']}** | {row['why']} |")
    if r["packet_level"]:
        lines += ["", ("Rows marked as ns-3 only compare ns-3's measurement with what the twin's"
                       " abstraction predicts for it."), ""]
    lines.append("")
    if r.get("trace"):
        lines += trace_markdown(r)
    if "transfer" in r:
        t = r["transfer"]
        lines += ["## Transfer of the trained policy", "",
                  (f"{t['algo']} from {t['run']}, trained on {t['trained_on']} "
                   f"({t['train_episodes']} episodes), evaluated on {t['evaluated_on']}."), "",
                  "| quantity | training backend | other backend | gap | gap CI | gap % |",
                  "|---|---|---|---|---|---|"]
        for k, g in t.items():
            if isinstance(g, dict) and "gap" in g:
                lines.append(f"| {k} | {g['on_training_backend']:.3f} |"
                             f" {g['on_other_backend']:.3f} | {g['gap']:+.3f} |"
                             f" {_ci(g['gap_ci'])} | {100 * g['gap_rel']:+.1f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def trace_markdown(r: dict[str, Any]) -> list[str]:
    """The trace-mode section, rendered by the scenario's validation module."""
    module = validation_module(scenario_spec(r["scenario"]))
    if module is None or not hasattr(module, "trace_markdown"):
        return []
    return list(module.trace_markdown(r["trace"]))
