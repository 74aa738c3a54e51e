"""Does a trained run's member average (what a study deploys at a new N) act as well as the
per-agent networks it averages, at the trained N? (A benchmark: docs/results/ultra-dense/.)

    python benchmarks/member_average_check.py runs/reproduce-ultra-dense-full/f-maddqn-n1000 \\
        [--episodes 2] [--seed 0]

Evaluates the run twice on the twin under the ultra-dense study's setting at the run's N: its
own per-agent networks, then every agent on the member average (`fedmarl.study.
member_average_policy(..., average=True)`), and prints mean and p5 rate of each.
"""

from __future__ import annotations

import argparse
import time

from fedmarl.evaluate import evaluate_policy
from fedmarl.runs import load_run_policy
from fedmarl.scenarios import inx_factory_ultra_dense as study
from fedmarl.study import member_average_policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--episodes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    n = load_run_policy(args.run)[0].learner.n_agents
    params = study.setting(n, study.BUDGETS["full"])
    for average in (False, True):
        t0 = time.perf_counter()
        policy = member_average_policy(args.run, n, params, average=average)
        s = evaluate_policy(study.SCENARIO, policy, args.episodes, args.seed, "twin",
                            min(args.episodes, 2), **params)
        print(f"N = {n} {'member average' if average else 'per-agent':>14}: mean "
              f"{s['mean_rate']:.3f}  p5 {s['p5_rate']:.3f}  ({time.perf_counter() - t0:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
