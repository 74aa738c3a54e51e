"""`fedmarl bench twin|ns3`: simulator throughput, single copy and batched, and where time goes.

Figures are measured, never asserted. env-steps/s counts one scenario copy advancing one
decision interval; agent-steps/s multiplies by N (every agent acts every step). Actions are
uniform random draws from the scenario's action space. N is set through the scenario's
`agents_param`; a twin core with `bench_stages()` also gets a per-stage breakdown.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np
from gymnasium import spaces

from fedmarl.registries import DEFAULT_SCENARIO
from fedmarl.registries import spec as scenario_spec
from pybridge import make_env, make_vec_env
from pybridge.config import ConfigError


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


def random_actions(space: spaces.Space, shape: tuple[int, ...], rng: np.random.Generator
                   ) -> np.ndarray:
    """Uniform actions of shape `shape` (+ components for MultiDiscrete)."""
    if isinstance(space, spaces.Discrete):
        return space.start + rng.integers(0, space.n, size=shape)
    if isinstance(space, spaces.MultiDiscrete):
        return rng.integers(0, space.nvec, size=(*shape, len(space.nvec)))
    raise ConfigError(f"bench: unsupported action space {space}")


def _params(scenario: str, n: int, params: dict[str, Any]) -> dict[str, Any]:
    spec = scenario_spec(scenario)
    if spec.agents_param is None:
        raise ConfigError(f"scenario {scenario!r} has no agents parameter: --n is not available")
    return {spec.agents_param: n, **params}


def _core_rate(env, rng, seconds: float) -> float:
    """Steps per second of the batched core with random actions, resetting at episode end."""
    actions = random_actions(env.single_action_space, (64, env.n_envs, env.n_agents), rng)
    env.reset(seed=1)
    i = [0]

    def one():
        _, _, _, trunc, _ = env.step(actions[i[0] % 64])
        i[0] += 1
        if trunc.all():
            env.reset()

    return _rate(one, seconds)


def _parallel_rate(scenario: str, params: dict[str, Any], seconds: float) -> float:
    env = make_env(scenario, **params)
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    agents = env.possible_agents
    space = env.action_space(agents[0])

    def one():
        if not env.agents:
            env.reset()
        acts = random_actions(space, (len(agents),), rng)
        env.step({a: acts[i] for i, a in enumerate(agents)})

    return _rate(one, seconds)


def _breakdown(env, seconds: float) -> dict[str, float]:
    """Microseconds per call of each stage the core declares, and their sum per env step."""
    core = env.core
    if not hasattr(core, "bench_stages"):
        return {}
    env.reset(seed=2)
    stages = core.bench_stages()
    per = seconds / max(1, len(stages))
    out = {name: 1e6 / _rate(fn, per) for name, (fn, _) in stages.items()}
    out["per_step_amortised"] = sum(out[name] * k for name, (_, k) in stages.items())
    return out


def machine() -> str:
    """CPU model, CPU count and Python version: every absolute figure is given with it."""
    from pybridge.bench_bridge import _machine

    return _machine()


def bench_twin(n: int, batch: int | None = None, seconds: float = 2.0,
               scenario: str = DEFAULT_SCENARIO, **params: Any) -> dict[str, Any]:
    """Throughput of the twin for N = n agents (see module docstring)."""
    batch = batch or (64 if n <= 100 else 4)
    rng = np.random.default_rng(0)
    p = _params(scenario, n, params)
    single = make_vec_env(scenario, 1, **p)
    batched = make_vec_env(scenario, batch, **p)
    r_single = _core_rate(single, rng, seconds)
    r_batched = _core_rate(batched, rng, seconds) * batch
    r_parallel = _parallel_rate(scenario, p, seconds)
    # Scenario facts the core declares (e.g. interferers kept per device): shown as extra
    # columns, named by the core, so that the table is not written for one scenario.
    facts = single.core.bench_facts() if hasattr(single.core, "bench_facts") else {}
    return {
        "scenario": scenario,
        "n_agents": n,
        **facts,
        "facts": sorted(facts),
        "batch": batch,
        "env_steps_per_s_single": r_single,
        "env_steps_per_s_parallel_env_api": r_parallel,
        "env_steps_per_s_batched": r_batched,
        "agent_steps_per_s_single": r_single * n,
        "agent_steps_per_s_batched": r_batched * n,
        "us_per_stage_single": _breakdown(single, seconds),
        "machine": machine(),
    }


def bench_ns3(n: int, seconds: float = 10.0, max_steps: int | None = None,
              scenario: str = DEFAULT_SCENARIO, **params: Any) -> dict[str, Any]:
    """Simulated seconds per wall second of the packet-level ns-3 scenario with N agents.

    One copy (one ns-3 process), fixed actions (agent n takes action n mod the size of the
    action, of every component of a MultiDiscrete one: no switching), the scenario's default traffic. Runs steps until `seconds`
    of wall time or `max_steps` or the episode's end. Splits the wall time per step into the time
    the scenario reports simulating (its `wall_seconds` metric, where it has one) and the rest
    (bridge, Python, array copies); every other global metric of the step data is averaged per
    step under "per_step".
    """
    p = _params(scenario, n, params)
    t0 = time.perf_counter()
    env = make_vec_env(scenario, 1, backend="ns3", **p)
    try:
        launch_s = time.perf_counter() - t0
        cfg = env.cfg
        t0 = time.perf_counter()
        env.reset(seed=getattr(cfg, "seed", None) or 0)
        reset_s = time.perf_counter() - t0
        space = env.single_action_space
        k = space.n if isinstance(space, spaces.Discrete) else int(space.nvec[0])
        actions = (np.arange(env.n_agents) % k)[None, :]
        if isinstance(space, spaces.MultiDiscrete):
            # every component spread the same way (agent n takes n mod its size): e.g. users
            # spread over the channels as a uniform policy would put them, rather than all on
            # the first value of every component after the first (a worst case: all on one
            # channel); still no switching
            actions = (np.arange(env.n_agents)[:, None] % np.asarray(space.nvec))[None]
        steps, sums = 0, {}
        limit = min(max_steps or cfg.episode_steps, cfg.episode_steps)
        t0 = time.perf_counter()
        while steps < limit:
            env.step(actions)
            steps += 1
            last = env.core.last
            for name in getattr(last, "metric_names", ()):
                sums[name] = sums.get(name, 0.0) + float(last.metric(name)[0])
            if time.perf_counter() - t0 >= seconds:
                break
        wall = time.perf_counter() - t0
    finally:
        env.close()
    sim_wall = sums.pop("wall_seconds", 0.0)
    step_s = getattr(cfg, "step_duration", None)
    sim_s = steps * step_s if step_s else float("nan")
    return {
        "scenario": scenario,
        "n_agents": n,
        "steps": steps,
        "traffic": getattr(cfg, "traffic", ""),
        "sim_seconds": sim_s,
        "wall_seconds": wall,
        "sim_seconds_per_wall_second": sim_s / wall,
        "wall_ms_per_step": 1e3 * wall / steps,
        "scenario_ms_per_step": 1e3 * sim_wall / steps,
        "overhead_ms_per_step": 1e3 * (wall - sim_wall) / steps,
        "per_step": {k: v / steps for k, v in sums.items()},
        "launch_seconds": launch_s,
        "reset_seconds": reset_s,
    }


def bench_engine(backend: str, copies: int, n: int = 20, seconds: float = 3.0,
                 scenario: str = DEFAULT_SCENARIO, **params: Any) -> dict[str, Any]:
    """B = `copies` copies on the Ray engine (the current one; one shard per CPU up to B
    unless its `workers` says otherwise, also for the twin) against the local engine in the same run: env-steps/s of one copy, of B copies in one local
    core (ns-3: B processes stepped in parallel by one core), of B copies in Ray actors; and
    Ray's cost per batched step: the Ray step time minus the local step time of one shard's
    copies, the round trip of a no-op call to every actor, and the Ray step time minus the time
    the slowest actor spent inside its step (what the calls themselves add, contention on the
    CPUs aside)."""
    from pybridge import engine

    eng = engine.current()
    if eng.name != "ray":
        raise ConfigError("--copies measures the Ray engine against the local one: add"
                          " --engine ray")
    if copies < 1:
        raise ConfigError(f"--copies must be >= 1, got {copies}")
    if eng.workers is None:  # the point is to measure sharding: one shard per CPU
        eng = dataclasses.replace(eng, workers=max(1, min(copies, engine.cluster_cpus())))
    p = _params(scenario, n, params)
    rng = np.random.default_rng(0)
    local = engine.Engine("local")

    def rate(n_envs: int, on) -> tuple[float, Any]:
        env = make_vec_env(scenario, n_envs, backend=backend, engine=on, **p)
        try:
            r = _core_rate(env, rng, seconds)
            extra = None
            if hasattr(env.core, "shards") and hasattr(env.core.shards, "actors"):
                sh = env.core.shards
                inside = max(t / max(n, 1) for t, n in sh.step_seconds())
                extra = (len(sh.counts), 1e6 / _rate(lambda: sh.view(("t",), (), False),
                                                   min(1.0, seconds)),
                         sorted({w["node_id"][:12] for w in sh.where}), 1e6 * inside)
            return r, extra
        finally:
            env.close()

    workers = eng.resolved_workers(copies, backend)
    per_shard = -(-copies // workers)
    r_one, _ = rate(1, local)
    r_shard, _ = (r_one, None) if per_shard == 1 else rate(per_shard, local)
    r_local, _ = rate(copies, local)
    r_ray, (shards, rtt_us, nodes, inside_us) = rate(copies, eng)
    return {
        "scenario": scenario, "backend": backend, "n_agents": n, "copies": copies,
        "ray_shards": shards, "ray_nodes": nodes,
        "env_steps_per_s_local_1": r_one,
        "env_steps_per_s_local_B": r_local * copies,
        "env_steps_per_s_ray_B": r_ray * copies,
        "ray_over_local_B": r_ray / r_local,
        "ray_B_over_local_1": r_ray * copies / r_one,
        "us_per_step_ray": 1e6 / r_ray,
        "us_per_step_local_shard": 1e6 / r_shard,
        "ray_overhead_us_per_step": 1e6 / r_ray - 1e6 / r_shard,
        "ray_noop_roundtrip_us": rtt_us,
        "us_per_step_inside_actor": inside_us,
        "ray_call_us_per_step": 1e6 / r_ray - inside_us,
        "machine": machine(),
    }


def format_engine_table(rows: list[dict[str, Any]]) -> str:
    head = ("backend", "N", "B", "shards", "1 copy local", "B local", "B on Ray", "Ray/local",
            "Ray B / 1 copy", "Ray us/step", "shard us/step", "Ray overhead us", "no-op RTT us",
            "in-actor us/step", "Ray call us/step")
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        lines.append(" | ".join([
            r["backend"], str(r["n_agents"]), str(r["copies"]), str(r["ray_shards"]),
            f"{r['env_steps_per_s_local_1']:,.1f}", f"{r['env_steps_per_s_local_B']:,.1f}",
            f"{r['env_steps_per_s_ray_B']:,.1f}", f"{r['ray_over_local_B']:.2f}x",
            f"{r['ray_B_over_local_1']:.2f}x", f"{r['us_per_step_ray']:,.0f}",
            f"{r['us_per_step_local_shard']:,.0f}", f"{r['ray_overhead_us_per_step']:,.0f}",
            f"{r['ray_noop_roundtrip_us']:,.0f}", f"{r['us_per_step_inside_actor']:,.0f}",
            f"{r['ray_call_us_per_step']:,.0f}"]))
    lines.append(f"env-steps/s (one copy advancing one decision interval); machine: "
                 f"{rows[0]['machine']}" if rows else "")
    return "\n".join(lines)
