"""A reproduce sweep (seeds x settings) as Ray tasks: one training run per task, one CPU each.

Each task runs the study's `train_one` (`fedmarl.study.train_one`: the `fedmarl train` code path,
a finished run with the same config reused) wherever Ray places it; the run directory must therefore be on a file system
every node sees (the driver's working directory on one machine; a shared mount on a cluster,
docs/cluster.md). Results come back as the same records `train_all` returns locally.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def train_all_ray(train_one: Callable[[str, dict[str, Any], str], dict[str, Any]],
                  specs: dict[str, dict[str, Any]], work: Path,
                  log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    import ray

    task = ray.remote(num_cpus=1, max_retries=0)(train_one)
    refs = {name: task.remote(name, spec, str(Path(work).resolve()))
            for name, spec in specs.items()}
    runs: dict[str, dict[str, Any]] = {}
    try:
        for name, ref in refs.items():
            runs[name] = ray.get(ref)
            log(f"[reproduce] trained {name} in {runs[name]['wall_seconds']:.0f} s (Ray task)")
    except BaseException:
        for ref in refs.values():  # nothing left training after an error or Ctrl-C
            ray.cancel(ref, force=True)
        raise
    return runs
