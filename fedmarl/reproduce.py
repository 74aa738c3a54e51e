"""`fedmarl reproduce STUDY`: run a reference study and check its claims.

A study (a module in fedmarl/scenarios/, built from fedmarl/study.py) supplies its budgets, the
training runs it needs (`run_specs`), what it evaluates (`evaluate`), its claims as rules
(`claims`: each a `Claim` whose check turns the study's numbers into a statement that holds or
not), its figures and its results page. This job trains the runs through the same code path as
`fedmarl train` (in parallel processes, a finished run with the same config reused, so an
interrupted study resumes), calls the study, checks every claim and writes OUT/results.json and
OUT/index.md. A benchmark, not a test: budgets are the study's ("quick": a smoke run).
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from fedmarl import scenarios as studies
from fedmarl.io import write_atomic
from fedmarl.study import Study, check_claims, clean, train_all


# -------------------------------------------------------------------------------- the job
def reproduce(study: str | Study, out: str | Path | None = None, quick: bool = False,
              seed: int = 0, work: str | Path | None = None, jobs: int | None = None,
              log=print) -> dict[str, Any]:
    st = studies.get(study) if isinstance(study, str) else study
    t_start = time.perf_counter()
    out = Path(out or getattr(st, "out", f"docs/results/{st.name}"))
    out.mkdir(parents=True, exist_ok=True)
    mode = "quick" if quick else "full"
    budget = st.budgets[mode]
    work = Path(work or f"runs/reproduce-{st.name}-{mode}")
    # A study whose runs do not fit in memory side by side says how many may run at once.
    jobs = jobs or min(2, os.cpu_count() or 1, getattr(budget, "max_parallel_runs", 2))
    t0 = time.perf_counter()
    runs = train_all(st.run_specs(budget, seed), work, jobs, log)
    # This invocation's training time, and the runs' own (a finished run is reused, so a
    # re-invocation trains nothing and only the second says what the study's training cost).
    timings = {"training": time.perf_counter() - t0,
               "training_runs_sum": float(sum(r["wall_seconds"] or 0.0 for r in runs.values()))}
    data, stage_times = st.evaluate(runs, budget, seed, log)
    timings.update(stage_times)
    st.figures(data, runs, out)
    timings["total"] = time.perf_counter() - t_start
    result = {"study": st.name, "scenario": st.scenario, "mode": mode, "out": str(out),
              "budget": asdict(budget) if is_dataclass(budget) else budget, "seed": seed,
              "work": str(work),
              "command": " ".join(["fedmarl", *sys.argv[1:]]) if sys.argv else "",
              "timings_s": timings,
              "runs": {k: {kk: vv for kk, vv in v.items() if kk != "metrics"}
                       for k, v in runs.items()},
              # keys starting with "_" are the study's raw arrays: for claims, not for the file
              **{k: v for k, v in data.items() if not k.startswith("_")},
              "claims": check_claims(st.claims, {**data, "runs": runs})}
    write_atomic(out / "results.json", json.dumps(clean(result), indent=2).encode())
    write_atomic(out / "index.md", st.page(result).encode())
    return result


def main_cli(args) -> int:
    result = reproduce(args.study, out=args.out, quick=args.quick, seed=args.seed,
                       work=args.work, jobs=args.jobs)
    print(f"results page: {Path(result['out']) / 'index.md'}")
    return 0
