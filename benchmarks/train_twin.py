"""Train a learner on the inx-factory twin for a wall-clock budget, then evaluate it next to the
baselines with `fedmarl.evaluate.evaluate_policy` (same episodes and seeds for every policy).

    python benchmarks/train_twin.py --learner f-maddqn --seconds 180 --n-envs 16
    python benchmarks/train_twin.py --learner d-mappo --steps 20000 --set lr=3e-4 --json

Prints training speed (env steps/s: one scenario copy advancing one 5 ms step) and the mean
Shannon / FBL rates. F- learners average their members (FedAvg) every --tau-agg env steps
(ref. 002's T_agg, counted per copy as in the reference's single-environment code). Not a test.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch

from agents.policy import LearnerPolicy
from agents.registry import make_learner
from fedmarl.evaluate import evaluate_policy
from fedmarl.registries import DEFAULT_SCENARIO, learner_overrides, make_baseline
from fedmarl.registries import spec as scenario_spec
from pybridge import make_vec_env


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def train(learner_name: str, env_params: dict[str, Any], n_envs: int, seconds: float,
          steps: int | None, tau_agg: int, seed: int, overrides: dict[str, Any],
          log_every: float = 20.0, scenario: str = DEFAULT_SCENARIO
          ) -> tuple[Any, dict[str, float]]:
    env = make_vec_env(scenario, n_envs=n_envs, **env_params)
    spec = scenario_spec(scenario)
    learner = make_learner(learner_name, env.single_observation_space, env.single_action_space,
                           env.n_agents, seed=seed,
                           **learner_overrides(spec, env.cfg, overrides))
    obs, _ = env.reset(seed=10_000 + seed)
    agg_every = max(1, tau_agg // n_envs) if learner.mode == "f" and tau_agg > 0 else 0
    t0 = last_log = time.perf_counter()
    t_env = t_learn = 0.0
    vec_steps, episodes, ep_rate, rates = 0, 0, 0.0, []
    while True:
        elapsed = time.perf_counter() - t0
        if (steps is not None and vec_steps >= steps) or (steps is None and elapsed >= seconds):
            break
        a0 = time.perf_counter()
        actions = learner.act(obs, explore=True)
        a1 = time.perf_counter()
        next_obs, rewards, _, truncated, info = env.step(actions)
        a2 = time.perf_counter()
        learner.observe(obs, actions, rewards, next_obs, truncated)
        learner.update()
        vec_steps += 1
        if agg_every and vec_steps % agg_every == 0:
            learner.average_members()
        a3 = time.perf_counter()
        t_env += a2 - a1
        t_learn += (a1 - a0) + (a3 - a2)
        ep_rate += spec.step_scalars(info, rewards)[spec.headline]
        obs = next_obs
        if truncated.all():
            rates.append(ep_rate / env.cfg.episode_steps)
            ep_rate, episodes = 0.0, episodes + n_envs
            obs, _ = env.reset()
        if time.perf_counter() - last_log > log_every:
            last_log = time.perf_counter()
            print(f"  {elapsed:6.0f} s  {vec_steps * n_envs:8d} env steps  episodes {episodes}"
                  f"  train {spec.headline} (explore) {np.mean(rates[-5:]) if rates else float('nan'):.2f}",
                  flush=True)
    total = time.perf_counter() - t0
    env.close()
    stats = {"seconds": total, "env_steps": vec_steps * n_envs, "episodes": episodes,
             "env_steps_per_s": vec_steps * n_envs / total,
             "env_time_frac": t_env / total, "learner_time_frac": t_learn / total}
    return learner, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", default=DEFAULT_SCENARIO)
    ap.add_argument("--learner", default="f-maddqn")
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--steps", type=int, default=None, help="vector steps instead of seconds")
    ap.add_argument("--n-envs", type=int, default=16)
    ap.add_argument("--tau-agg", type=int, default=512)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-episodes", type=int, default=20)
    ap.add_argument("--eval-seed", type=int, default=0)
    ap.add_argument("--baselines", nargs="*", default=["random", "greedy-filtered", "cgc"])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="learner hyperparameter override (JSON value)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="scenario parameter (JSON value)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    overrides = {k: parse_value(v) for k, v in (s.split("=", 1) for s in args.set)}
    env_params = {k: parse_value(v) for k, v in (s.split("=", 1) for s in args.env)}
    learner, stats = train(args.learner, env_params, args.n_envs, args.seconds, args.steps,
                           args.tau_agg, args.seed, overrides, scenario=args.scenario)
    results = {"learner": args.learner, "overrides": overrides, "env": env_params,
               "n_envs": args.n_envs, "tau_agg": args.tau_agg, "train": stats}
    policies = {args.learner: LearnerPolicy(learner)} | {
        b: make_baseline(args.scenario, b) for b in args.baselines}
    for name, policy in policies.items():
        out = evaluate_policy(args.scenario, policy, episodes=args.eval_episodes,
                              seed=args.eval_seed, **env_params)
        results[name] = {k: out[k] for k in ("mean_rate_shannon", "mean_rate", "p5_rate_shannon",
                                             "jain_fairness", "switch_rate")}
    if args.json:
        print(json.dumps(results, indent=1))
        return
    s = results["train"]
    print(f"{args.learner}: {s['env_steps']} env steps ({s['episodes']} episodes) in"
          f" {s['seconds']:.0f} s = {s['env_steps_per_s']:.0f} env steps/s (B={args.n_envs};"
          f" env {100 * s['env_time_frac']:.0f} %, learner {100 * s['learner_time_frac']:.0f} %)")
    print(f"{'policy':18s} {'mean Shannon':>12s} {'mean FBL':>9s} {'p5 Shannon':>10s}"
          f" {'Jain':>6s} {'switch/step':>11s}")
    for name in policies:
        r = results[name]
        print(f"{name:18s} {r['mean_rate_shannon']:12.2f} {r['mean_rate']:9.2f}"
              f" {r['p5_rate_shannon']:10.2f} {r['jain_fairness']:6.3f} {r['switch_rate']:11.3f}")


if __name__ == "__main__":
    main()
