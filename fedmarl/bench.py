"""`fedmarl bench twin`: simulator throughput, single copy and batched, and where time goes.

Figures are measured, never asserted. env-steps/s counts one scenario copy advancing one
decision interval; agent-steps/s multiplies by N (every agent acts every step).
"""

from __future__ import annotations

import platform
import time
from typing import Any

import numpy as np

from pybridge import make_config, make_env, make_vec_env


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


def bench_ns3(n: int, seconds: float = 10.0, max_steps: int | None = None,
              **params: Any) -> dict[str, Any]:
    """Simulated seconds per wall second of the packet-level ns-3 scenario with N agents.

    One copy (one ns-3 process), fixed channels n mod K (no switching), the scenario's default
    traffic (full-buffer unless `traffic` is set). Runs steps until `seconds` of wall time or
    `max_steps` or the episode's end. Splits the wall time per step into the time the scenario
    reports simulating (metrics[wall_seconds]) and the rest (bridge, Python, array copies).
    """
    from pybridge.ns3_backend import Ns3Core

    cfg = make_config("inx-factory", n_subnetworks=n, **params)
    t0 = time.perf_counter()
    core = Ns3Core(cfg)
    try:
        launch_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        core.reset(cfg.seed)
        reset_s = time.perf_counter() - t0
        actions = (np.arange(n) % cfg.n_channels)[None, :]
        steps, sim_wall, tbs, delivered = 0, 0.0, 0.0, 0.0
        limit = min(max_steps or cfg.episode_steps, cfg.episode_steps)
        t0 = time.perf_counter()
        while steps < limit:
            core.step(actions)
            steps += 1
            last = core.last
            sim_wall += float(last.metric("wall_seconds")[0])
            tbs += float(last.metric("tbs")[0])
            delivered += float(last.metric("packets_delivered")[0])
            if time.perf_counter() - t0 >= seconds:
                break
        wall = time.perf_counter() - t0
    finally:
        core.close()
    sim_s = steps * cfg.step_duration
    return {
        "n_agents": n,
        "steps": steps,
        "traffic": cfg.traffic,
        "sim_seconds": sim_s,
        "wall_seconds": wall,
        "sim_seconds_per_wall_second": sim_s / wall,
        "wall_ms_per_step": 1e3 * wall / steps,
        "scenario_ms_per_step": 1e3 * sim_wall / steps,
        "overhead_ms_per_step": 1e3 * (wall - sim_wall) / steps,
        "transport_blocks_per_step": tbs / steps,
        "packets_delivered_per_step": delivered / steps,
        "launch_seconds": launch_s,
        "reset_seconds": reset_s,
    }
