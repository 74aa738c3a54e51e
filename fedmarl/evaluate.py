"""Evaluate a policy on a scenario: E episodes, run B at a time on the batched API.

The metric set is the scenario's (`spec.recorder(cfg).summary()`); a policy is reset with the
env's action space and acts on the env core (`agents.baselines.Policy`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from agents.baselines import Policy
from fedmarl.registries import spec as scenario_spec
from pybridge import make_vec_env
from pybridge.api import Recorder

MAX_BATCH = 16


def episode_seed(seed: int, batch: int) -> int:
    """Seed of batch `batch` of an evaluation with master seed `seed` (independent streams)."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1, dtype=np.uint64)[0]
               >> np.uint64(1))


def evaluate_policy(scenario: str, policy: Policy, episodes: int, seed: int = 0,
                    backend: str = "twin", batch: int | None = None,
                    on_episode: Callable[[int], None] | None = None,
                    **params: Any) -> dict[str, Any]:
    """Run `episodes` episodes of `policy` and return the scenario's metric summary."""
    if episodes < 1:
        raise ValueError("episodes must be >= 1")
    spec = scenario_spec(scenario)
    recorder = spec.recorder(spec.make_config(**params))
    run_episodes(scenario, policy, episodes, seed, backend,
                 batch or default_batch(episodes, backend), params, recorder,
                 on_batch_end=on_episode)
    out = recorder.summary()
    out.update({"scenario": scenario, "backend": backend, "policy": policy.name, "seed": seed})
    return out


def default_batch(episodes: int, backend: str) -> int:
    """Copies stepped together: up to MAX_BATCH on the twin; ns-3 runs one process per copy,
    and more copies than cores only adds contention."""
    from pybridge import engine

    cpus = engine.cluster_cpus() if engine.current().name == "ray" else os.cpu_count() or 1
    cap = MAX_BATCH if backend == "twin" else max(1, cpus)
    return min(episodes, cap)


def run_episodes(scenario: str, policy: Policy, episodes: int, seed: int, backend: str,
                 batch: int, params: dict[str, Any], recorder: Recorder, *,
                 ns3_options: Callable[[int], dict[str, Any] | None] | None = None,
                 on_batch_start: Callable[[int, int], None] | None = None,
                 before_act: Callable[[Any, int], None] | None = None,
                 after_step: Callable[[Any, int], None] | None = None,
                 on_batch_end: Callable[[int], None] | None = None) -> None:
    """Run `episodes` episodes of `policy`, `batch` at a time on one env per batch size, and
    feed every step to `recorder`; the envs are closed whatever happens (ns-3: processes
    stopped, segments unlinked).

    Batch b uses the episode seed `episode_seed(seed, b)` for the env and the policy. Hooks for
    callers that need more than the recorder: `ns3_options(n)` for an env of n copies,
    `on_batch_start(n, episode_seed)` before its reset, `before_act(env, t)` and
    `after_step(env, t)` around step t (0-based), `on_batch_end(n)` after the batch.
    """
    envs: dict[int, Any] = {}
    try:
        done, b_idx = 0, 0
        while done < episodes:
            n = min(batch, episodes - done)
            if n not in envs:
                opts = ns3_options(n) if ns3_options else None
                envs[n] = make_vec_env(scenario, n, backend=backend, ns3_options=opts, **params)
            env = envs[n]
            s = episode_seed(seed, b_idx)
            if on_batch_start:
                on_batch_start(n, s)
            env.reset(seed=s)
            policy.reset(n, env.n_agents, env.single_action_space, np.random.default_rng(s))
            truncated = np.zeros(n, dtype=bool)
            t = 0
            while not truncated.all():
                if before_act:
                    before_act(env, t)
                actions = policy.act(env.core)
                _, reward, _, truncated, info = env.step(actions)
                recorder.add_step(info, reward)
                if after_step:
                    after_step(env, t)
                t += 1
            recorder.end_batch()
            done += n
            b_idx += 1
            if on_batch_end:
                on_batch_end(n)
    finally:
        for env in envs.values():
            env.close()
