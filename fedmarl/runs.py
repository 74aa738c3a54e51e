"""Evaluating training runs: `fedmarl eval --run DIR` (rendering: fedmarl/report.py).

Evaluation uses fresh seeds: training episode e of a run with seed s uses
`episode_seed(s, 10_000 + e)`, evaluation batch b uses `episode_seed(eval_seed, b)` with b < 10_000,
so the two never share an episode. Learners act greedily (deterministic) in evaluation.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from agents.policy import LearnerPolicy
from fedmarl.evaluate import evaluate_policy
from fedmarl.io import write_json
from fedmarl.registries import build_learner, make_baseline
from fedmarl.registries import spec as scenario_spec
from pybridge.config import ConfigError


def eval_baselines(scenario: str) -> list[str]:
    """The baselines a trained run is compared with: the scenario's `eval_baselines`, or all of
    its baselines module."""
    from fedmarl.registries import baseline_names

    s = scenario_spec(scenario)
    chosen = getattr(s, "eval_baselines", None)
    return list(chosen) if chosen else baseline_names(s)


def load_run_record(run_dir: str | Path) -> dict[str, Any]:
    """The run's exported policy record (policy.pt: algo, scenario, params, agent, learner)."""
    path = Path(run_dir) / "policy.pt"
    if not path.exists():
        raise ConfigError(f"{path} not found: is {run_dir} a finished `fedmarl train` run?"
                          " (an interrupted run is finished with `fedmarl train --resume DIR`)")
    return torch.load(path, weights_only=False)


def load_run_policy(run_dir: str | Path) -> tuple[LearnerPolicy, dict[str, Any]]:
    """The run's trained learner as a greedy evaluation policy, and the run's policy record."""
    record = load_run_record(run_dir)
    learner = build_learner(record["algo"], record["scenario"], record["params"],
                            record["agent"], record["seed"])
    learner.load_state_dict(record["learner"])
    return LearnerPolicy(learner, name=record["algo"]), record


DEPLOY_MODES = ("own", "average", "tile")


def deployed_policy(run: str | Path, n: int, params: dict[str, Any], members: str = "tile"):
    """The run's policy for n agents under scenario parameters `params` (over the run's own).

    `members` says which trained member network each of the G' member slots of the n-agent
    learner gets (G' = n / cluster_size for D- and F-, 1 for C-; G the trained learner's):
      - "own": the trained members themselves (only where G' = G: the trained N);
      - "average": every slot the member average, which for F- runs is the federation's global
        model (members are equal after each aggregation and drift tau_agg transitions apart);
      - "tile": slot g the trained member g mod G, so that a larger N reuses every trained
        network (a new subnetwork is handed a trained one); at the trained N, "own".
    Why "tile" is the default at a new N: members of an F- run drift apart in ways that matter
    (docs/results/ultra-dense/README.md: at N = 1000 the member average loses 2.4 bps/Hz of p5
    rate, a random permutation of the members loses nothing), so a policy made of the trained
    networks travels to a new N and their average does not."""
    from agents.registry import learner_spec

    if members not in DEPLOY_MODES:
        raise ValueError(f"members must be one of {DEPLOY_MODES}, got {members!r}")
    policy, record = load_run_policy(run)
    old = policy.learner
    if n == old.n_agents and members in ("own", "tile"):
        return policy
    # The deployed learner acts and never trains: no replay buffer of n agents (at N = 5000 the
    # training one would be tens of GB).
    agent = dict(record["agent"])
    if "buffer_size" in {f.name for f in fields(learner_spec(record["algo"])[1])}:
        agent["buffer_size"] = 1
    learner = build_learner(record["algo"], record["scenario"], {**record["params"], **params},
                            agent, record["seed"], n_agents=n)
    g_old, g_new = old.groups, learner.groups
    if members == "own" and g_new != g_old:
        raise ValueError(f"members='own' needs the trained member count: the run has {g_old}"
                         f" member networks ({old.n_agents} agents), {n} agents need {g_new};"
                         " use 'tile' or 'average'")
    slot = torch.arange(g_new) % g_old

    def member_values(v: torch.Tensor) -> torch.Tensor:
        if members == "average":
            return v.mean(dim=0, keepdim=True).expand(g_new, *v.shape[1:]).clone()
        return v[slot].clone()

    # Every entry but the observation scaling is a member parameter (member axis first).
    sd = {k: v if k in ("obs_shift", "obs_scale") else member_values(v)
          for k, v in old.policy_state_dict().items()}
    learner.load_policy_state_dict(sd)
    return LearnerPolicy(learner, name=record["algo"])


def evaluate_run(run_dir: str | Path, episodes: int = 10, seed: int = 0,
                 baselines: tuple[str, ...] | list[str] | None = None, backend: str = "twin",
                 on_episode=None, params: dict[str, Any] | None = None,
                 members: str = "tile") -> dict[str, Any]:
    """Evaluate the run's policy and the baselines on the same fresh seeds; writes
    eval-<backend>.json, or with `params` (scenario parameters over the run's own, e.g. another
    number of agents) eval-<backend>-<params>.json. At another number of agents the run's
    networks are deployed as `members` says (`deployed_policy`: "tile", each new
    agent on trained member g mod G; "average", all on the member average)."""
    policy, record = load_run_policy(run_dir)
    trained_n = policy.learner.n_agents
    scenario = record["scenario"]
    if params:
        spec = scenario_spec(scenario)
        cfg = spec.make_config(**{**record["params"], **params})  # bad parameter: ConfigError
        params = {k: getattr(cfg, k, v) for k, v in params.items()}  # "6" from --set -> 6
        policy = deployed_policy(run_dir, spec.n_agents(cfg), params, members=members)
    merged = {**record["params"], **(params or {})}
    names = eval_baselines(scenario) if baselines is None else list(baselines)
    t0 = time.perf_counter()
    results = []
    for pol in [policy, *(make_baseline(scenario, b) for b in names)]:
        res = evaluate_policy(scenario, pol, episodes, seed=seed, backend=backend,
                              on_episode=on_episode, **merged)
        res["policy"] = pol.name
        results.append(res)
    out = {"run": str(run_dir), "algo": record["algo"], "train_episodes": record["episode"],
           "episodes": episodes, "seed": seed, "backend": backend,
           "wall_seconds": time.perf_counter() - t0, "results": results}
    if params:
        out.update(params=params, members=members, n_agents=policy.learner.n_agents,
                   trained_n_agents=trained_n)
    write_json(Path(run_dir) / eval_file_name(backend, params), out)
    return out


def eval_file_name(backend: str, params: dict[str, Any] | None = None) -> str:
    """eval-<backend>.json; with parameter overrides eval-<backend>-k=v-....json (characters
    outside [A-Za-z0-9._=-] become '_'; a long name is shortened to a hash of the overrides)."""
    if not params:
        return f"eval-{backend}.json"
    text = "-".join(f"{k}={params[k]}" for k in sorted(params))
    slug = re.sub(r"[^A-Za-z0-9._=-]", "_", text)
    if len(slug) > 80:
        slug = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()
                              ).hexdigest()[:12]
    return f"eval-{backend}-{slug}.json"
