"""Evaluate a policy on a scenario: E episodes, run B at a time on the batched API."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from agents.baselines import Policy
from fedmarl.metrics import EpisodeRecorder
from pybridge import make_config, make_vec_env

MAX_BATCH = 16


def episode_seed(seed: int, batch: int) -> int:
    """Seed of batch `batch` of an evaluation with master seed `seed` (independent streams)."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1, dtype=np.uint64)[0]
               >> np.uint64(1))


def evaluate_policy(scenario: str, policy: Policy, episodes: int, seed: int = 0,
                    backend: str = "twin", batch: int | None = None,
                    on_episode: Callable[[int], None] | None = None,
                    **params: Any) -> dict[str, Any]:
    """Run `episodes` episodes of `policy` and return the metric summary (see metrics.py)."""
    if episodes < 1:
        raise ValueError("episodes must be >= 1")
    cfg = make_config(scenario, **params)
    # ns-3 runs one process per copy: more copies than cores only adds contention.
    cap = MAX_BATCH if backend == "twin" else max(1, os.cpu_count() or 1)
    batch = batch or min(episodes, cap)
    recorder = EpisodeRecorder()
    envs: dict[int, Any] = {}
    try:
        _run_batches(scenario, policy, episodes, seed, backend, batch, cfg, recorder, envs,
                     on_episode, params)
    finally:
        for env in envs.values():
            env.close()  # ns-3: stops the processes, unlinks the segments
    out = recorder.summary(cfg.r_min)
    out.update({"scenario": scenario, "backend": backend, "policy": policy.name, "seed": seed})
    return out


def _run_batches(scenario, policy, episodes, seed, backend, batch, cfg, recorder, envs,
                 on_episode, params) -> None:
    done_eps, b_idx = 0, 0
    while done_eps < episodes:
        n = min(batch, episodes - done_eps)
        if n not in envs:
            envs[n] = make_vec_env(scenario, n, backend=backend, **params)
        env = envs[n]
        s = episode_seed(seed, b_idx)
        env.reset(seed=s)
        policy.reset(n, cfg.n_subnetworks, cfg.n_channels, np.random.default_rng(s))
        truncated = np.zeros(n, dtype=bool)
        while not truncated.all():
            actions = policy.act(env.core)
            _, reward, _, truncated, info = env.step(actions)
            recorder.add_step(info, reward)
        recorder.end_batch()
        done_eps += n
        b_idx += 1
        if on_episode:
            on_episode(n)
