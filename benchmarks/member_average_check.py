"""Which trained networks should the agents of a trained run run? (A benchmark:
docs/results/ultra-dense/.)

    python benchmarks/member_average_check.py runs/reproduce-ultra-dense-full/f-maddqn-n1000 \\
        [--episodes 2] [--seed 0] [--n 1000 5000]

Evaluates the run on the twin under the ultra-dense study's setting, at each N of `--n`
(default: the run's own), with every deployment of `fedmarl.runs.deployed_policy`: the trained
members themselves ("own", only at the trained N), the member average ("average", F-'s global
model), the members tiled over the agents (agent g on member g mod G: "tile"), and, at the
trained N, the members in a random permutation ("permuted": does it matter which agent has which
network, or only that the networks differ?). Prints mean and p5 FBL rate of each.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fedmarl.evaluate import evaluate_policy
from fedmarl.runs import deployed_policy, load_run_policy
from fedmarl.scenarios import inx_factory_ultra_dense as study


def _permuted(run: str, n: int, params: dict, seed: int):
    """The run's own members, agent g on member perm[g] (a random permutation)."""
    import torch

    policy = deployed_policy(run, n, params, members="own")
    learner = policy.learner
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(learner.groups))
    sd = {k: v if k in ("obs_shift", "obs_scale") else v[perm]
          for k, v in learner.policy_state_dict().items()}
    learner.load_policy_state_dict(sd)
    return policy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--episodes", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, nargs="+", default=None)
    args = ap.parse_args()
    trained = load_run_policy(args.run)[0].learner.n_agents
    for n in args.n or [trained]:
        params = study.setting(n, study.BUDGETS["full"])
        ways = ["own", "permuted", "average"] if n == trained else ["tile", "average"]
        for how in ways:
            t0 = time.perf_counter()
            policy = (_permuted(args.run, n, params, args.seed + 1) if how == "permuted"
                      else deployed_policy(args.run, n, params, members=how))
            s = evaluate_policy(study.SCENARIO, policy, args.episodes, args.seed, "twin",
                                min(args.episodes, 2), **params)
            print(f"trained N = {trained}, N = {n}, members {how:>8}: mean {s['mean_rate']:.3f}"
                  f"  p5 {s['p5_rate']:.3f}  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
