"""`fedmarl bench twin`: simulator throughput, single copy and batched, and where time goes.

Figures are measured, never asserted. env-steps/s counts one scenario copy advancing one
decision interval; agent-steps/s multiplies by N (every agent acts every step).
"""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np

from pybridge import make_env, make_vec_env


def _rate(fn, min_seconds: float, min_iters: int = 3) -> float:
    """Calls of fn per second, timed over at least min_seconds (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_seconds and n >= min_iters:
            return n / dt


def _core_rate(env, rng, seconds: float) -> float:
    """Steps per second of the batched core with random actions, resetting at episode end."""
    B, N, K = env.n_envs, env.n_agents, env.cfg.n_channels
    actions = rng.integers(0, K, size=(64, B, N))
    env.reset(seed=1)
    i = [0]

    def one():
        _, _, _, trunc, _ = env.step(actions[i[0] % 64])
        i[0] += 1
        if trunc.all():
            env.reset()

    return _rate(one, seconds)


def _parallel_rate(n: int, seconds: float, params: dict[str, Any]) -> float:
    env = make_env("inx-factory", n_subnetworks=n, **params)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    k = env.cfg.n_channels
    agents = env.possible_agents

    def one():
        if not env.agents:
            env.reset()
        env.step(dict(zip(agents, rng.integers(0, k, size=len(agents)).tolist())))

    return _rate(one, seconds)


def _breakdown(env, seconds: float) -> dict[str, float]:
    """Microseconds per call of each stage of a step, on a single copy."""
    core = env.core
    env.reset(seed=2)
    dt = core.cfg.large_scale_update_steps * core.cfg.step_duration
    rng = np.random.default_rng(0)
    per = seconds / 5
    stages = {
        "mobility_step": lambda: core.mobility.step(dt, rng),
        "large_scale_refresh": core._refresh_large_scale,
        "fading": core._advance_fading,
        "measure_sinr_rates": lambda: core._measure(np.zeros((core.B, core.N), dtype=bool)),
        "observation": core.observation,
    }
    out = {name: 1e6 / _rate(fn, per) for name, fn in stages.items()}
    u = core.cfg.large_scale_update_steps
    out["per_step_amortised"] = (out["fading"] + out["measure_sinr_rates"] + out["observation"]
                                 + (out["mobility_step"] + out["large_scale_refresh"]) / u)
    return out


def bench_twin(n: int, batch: int | None = None, seconds: float = 2.0,
               **params: Any) -> dict[str, Any]:
    """Throughput of the twin for N = n agents (see module docstring)."""
    batch = batch or (64 if n <= 100 else 4)
    rng = np.random.default_rng(0)
    single = make_vec_env("inx-factory", 1, n_subnetworks=n, **params)
    batched = make_vec_env("inx-factory", batch, n_subnetworks=n, **params)
    r_single = _core_rate(single, rng, seconds)
    r_batched = _core_rate(batched, rng, seconds) * batch
    r_parallel = _parallel_rate(n, seconds, params)
    return {
        "n_agents": n,
        "n_channels": single.cfg.n_channels,
        "faded_interferers_per_device": single.core.n_faded,
        "exact_fading": bool(single.core.exact),
        "batch": batch,
        "env_steps_per_s_single": r_single,
        "env_steps_per_s_parallel_env_api": r_parallel,
        "env_steps_per_s_batched": r_batched,
        "agent_steps_per_s_single": r_single * n,
        "agent_steps_per_s_batched": r_batched * n,
        "us_per_stage_single": _breakdown(single, seconds),
        "machine": f"{platform.processor() or platform.machine()}, {platform.python_version()}",
    }
