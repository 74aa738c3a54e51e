"""What a reference study is made of: its protocol, claims as rules, training, helpers.

The job that runs a study is fedmarl/reproduce.py; the studies are fedmarl/scenarios/*.py.

A study (a module in fedmarl/scenarios/, see there) supplies its budgets, the training runs it
needs (`run_specs`), what it evaluates (`evaluate`), its claims as rules (`claims`: each a
`Claim` whose check turns the study's numbers into a statement that holds or not), its figures
and its results page. The engine trains the runs through the same code path as `fedmarl train`
(in parallel processes, a finished run with the same config reused, so an interrupted study
resumes), calls the study, checks every claim and writes OUT/results.json and OUT/index.md.

A benchmark, not a test: budgets are the study's ("quick" for a smoke run of the pipeline).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from fedmarl.io import RunDir, write_atomic


@dataclass(frozen=True)
class Claim:
    """One claim of the reference: `check(data)` returns the numbers it rests on and "holds"."""

    key: str
    claim: str
    check: Callable[[dict[str, Any]], dict[str, Any]]


class Study(Protocol):
    name: str  # `fedmarl reproduce NAME`
    scenario: str
    budgets: dict[str, Any]  # "quick" / "full" -> a dataclass of the study's budget
    claims: tuple[Claim, ...]
    out: str  # default results directory of `fedmarl reproduce NAME`

    def run_specs(self, budget: Any, seed: int) -> dict[str, dict[str, Any]]:
        """name -> `fedmarl train` config of every training run the study needs."""
        ...

    def evaluate(self, runs: dict[str, dict[str, Any]], budget: Any, seed: int,
                 log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, float]]:
        """(the study's numbers, seconds per evaluation stage) from the trained runs."""
        ...

    def figures(self, data: dict[str, Any], runs: dict[str, dict[str, Any]], out: Path) -> None:
        ...

    def page(self, result: dict[str, Any]) -> str:
        ...


@dataclass(frozen=True)
class ModuleStudy:
    """A `Study` made of a study module's functions (what fedmarl/scenarios/*.py define)."""

    name: str
    scenario: str
    budgets: dict[str, Any]
    claims: tuple[Claim, ...]
    out: str
    run_specs: Callable[[Any, int], dict[str, dict[str, Any]]]
    evaluate: Callable[..., tuple[dict[str, Any], dict[str, float]]]
    figures: Callable[[dict[str, Any], dict[str, dict[str, Any]], Path], None]
    page: Callable[[dict[str, Any]], str]


# ------------------------------------------------------------------------------- training
def train_one(name: str, spec: dict[str, Any], work: str, threads: int = 1) -> dict[str, Any]:
    """Train (or reuse) one run; returns its per-episode metrics and wall time."""
    import torch

    from fedmarl.train import TrainConfig, Trainer

    torch.set_num_threads(threads)  # runs go in parallel processes, the cores shared out
    run = Path(work) / name
    done = run / "policy.pt"
    cfg = TrainConfig.from_dict(spec)
    wall = None
    rd = RunDir(run)
    if done.exists() and rd.is_run():
        old = rd.read_config()
        if all(old.get(k) == v for k, v in cfg.to_dict().items() if k in spec):
            wall = json.loads((run / "reproduce.json").read_text()).get("wall_seconds") \
                if (run / "reproduce.json").exists() else None
    if wall is None:
        if run.exists():
            shutil.rmtree(run)
        t0 = time.perf_counter()
        Trainer(cfg, run).start()
        wall = time.perf_counter() - t0
        write_atomic(run / "reproduce.json", json.dumps({"wall_seconds": wall}))
    rows = rd.read_jsonl("metrics.jsonl")
    return {"name": name, "run": str(run), "spec": spec, "wall_seconds": wall,
            "metrics": rows, "reward": [r["mean_reward"] for r in rows]}


def train_all(specs: dict[str, dict[str, Any]], work: Path, jobs: int,
              log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    """Every run of the sweep (seeds x settings): in `jobs` local processes, or as Ray tasks of
    one CPU each when the Ray engine is in use (`fedmarl reproduce --engine ray`)."""
    from pybridge import engine

    if engine.current().name == "ray":
        from fedmarl.engine.sweep import train_all_ray

        return train_all_ray(train_one, specs, work, log)
    runs: dict[str, dict[str, Any]] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        futures = {n: pool.submit(train_one, n, s, str(work), threads)
                   for n, s in specs.items()}
        for name, fut in futures.items():
            runs[name] = fut.result()
            log(f"[reproduce] trained {name} in {runs[name]['wall_seconds']:.0f} s")
    return runs


# ------------------------------------------------------------------------ claims and curves
def check_claims(claims: tuple[Claim, ...], data: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for c in claims:
        checked = c.check(data)
        out[c.key] = {"claim": c.claim, **checked, "holds": bool(checked["holds"])}
    return out


# ------------------------------------------------------------------------ across seeds
def spread(values: list[float]) -> dict[str, Any]:
    """Mean over seeds, standard deviation and 95 % Student-t interval (n >= 2)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {"mean": math.nan, "std": math.nan, "ci": (math.nan, math.nan), "n": 0}
    m = float(x.mean())
    if x.size < 2:
        return {"mean": m, "std": math.nan, "ci": (math.nan, math.nan), "n": 1}
    s = float(x.std(ddof=1))
    h = float(stats.t.ppf(0.975, x.size - 1) * s / math.sqrt(x.size))
    return {"mean": m, "std": s, "ci": (m - h, m + h), "n": int(x.size)}


def paired(a: list[float], b: list[float]) -> dict[str, Any]:
    """a - b over paired seeds (same training seed and evaluation episodes): mean and CI."""
    d = spread([x - y for x, y in zip(a, b, strict=True)])
    return {"diff": d["mean"], "ci": d["ci"], "n": d["n"]}


def mean_tree(items: list[Any]) -> Any:
    """The element-wise mean of equally shaped nested dicts / lists of numbers (one per seed);
    a leaf that is not a number (or None in any item) is taken from the first item."""
    first = items[0]
    if isinstance(first, dict):
        return {k: mean_tree([it[k] for it in items]) for k in first}
    if isinstance(first, list | tuple) and all(len(it) == len(first) for it in items):
        return type(first)(mean_tree(list(col)) for col in zip(*items, strict=True))
    if isinstance(first, np.ndarray):
        return np.mean(np.stack(items), axis=0)
    if all(isinstance(it, int | float | np.number) and not isinstance(it, bool) for it in items):
        return float(np.mean(items))
    return first


def seed_verdict(margins: list[dict[str, float]]) -> dict[str, Any]:
    """A claim's verdict over seeds from its margins (each >= 0 when the claim holds for that
    seed): "holds" when every margin's 95 % interval over seeds lies above 0, "does not hold"
    when some margin's lies below 0, else "inconclusive"; with one seed, the signs decide."""
    names = list(margins[0])
    per = {k: spread([m[k] for m in margins]) for k in names}
    if len(margins) < 2:
        ok = all(margins[0][k] >= 0 for k in names)
        verdict = "holds" if ok else "does not hold"
    elif all(per[k]["ci"][0] > 0 for k in names):
        verdict = "holds"
    elif any(per[k]["ci"][1] < 0 for k in names):
        verdict = "does not hold"
    else:
        verdict = "inconclusive"
    return {"margins": per, "verdict": verdict, "holds": verdict == "holds",
            "seeds_holding": sum(all(m[k] >= 0 for k in names) for m in margins),
            "n_seeds": len(margins)}


def tail_mean(y: list[float], frac: float = 0.2) -> float:
    y = np.asarray(y)
    return float(y[-max(1, int(frac * y.size)):].mean())


def episodes_to(y: list[float], n_envs: int, frac: float = 0.9) -> int:
    """Training episodes until the smoothed reward first reaches `frac` of its total rise."""
    y = np.asarray(y, dtype=float)
    k = max(1, y.size // 10)
    s = np.convolve(y, np.ones(k) / k, mode="valid")
    target = s[0] + frac * (s.max() - s[0])
    return int((np.argmax(s >= target) + k) * n_envs)


def clean(x: Any) -> Any:
    """JSON-able: string keys, numpy scalars as Python ones, NaN/inf as null."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
