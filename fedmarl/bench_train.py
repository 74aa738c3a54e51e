"""`fedmarl bench train`: training throughput per learner, and where the time goes.

A run is the real training path (`fedmarl.train.Trainer`: the same env, learner, federation
strategy, metrics and checkpoints as `fedmarl train`) with a clock around each stage: the env
(`reset` + `step`), acting (`learner.act`), storing transitions (`observe`), learner updates
(`update`), federation (`Federation.round` and `flush`: secure aggregation included when
synchronous; starting a round, waiting for it and applying it when overlapped, the round itself
then running in the worker process, whose seconds per round are shown beside) and the rest
(bookkeeping: metrics rows, progress, checkpoints, policy export). Next to it, in the same
process and on the same batch shape, the env alone with random actions: the ceiling training
could reach if learning were free.

Q-learners start updating at the first step (`learning_starts` 0) so that every measured step
is a steady-state training step; PPO updates once per rollout as always. Each learner runs in
its own process so that its peak resident memory (`ru_maxrss`) is its own. Figures are measured,
never asserted; give the machine (printed) with any figure you quote.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from fedmarl.registries import DEFAULT_SCENARIO
from fedmarl.registries import spec as scenario_spec

STAGES = ("env", "act", "observe", "update", "federation")
DEFAULT_ALGOS = ("f-maddqn", "f-mappo", "f-drqn")


class _Clock:
    """Seconds per stage, accumulated by wrapping bound methods of live objects."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.calls = dict.fromkeys(STAGES, 0)

    def wrap(self, obj: Any, attr: str, stage: str) -> None:
        fn = getattr(obj, attr)
        seconds, calls = self.seconds, self.calls

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[stage] += time.perf_counter() - t0
                calls[stage] += 1

        setattr(obj, attr, timed)


def _timed_trainer(cfg: Any, run_dir: Path):
    from fedmarl.train import Trainer

    class TimedTrainer(Trainer):
        def _build(self) -> None:
            t0 = time.perf_counter()
            super()._build()
            self.setup_seconds = time.perf_counter() - t0
            clock = self.clock = _Clock()
            for attr in ("reset", "step"):
                clock.wrap(self.env, attr, "env")
            for attr in ("act", "observe", "update"):
                clock.wrap(self.learner, attr, attr)
            if self.federation is not None:
                for attr in ("round", "flush"):
                    clock.wrap(self.federation, attr, "federation")

    return TimedTrainer(cfg, run_dir)


def learner_bytes(learner: Any) -> int:
    """Bytes the learner holds in tensors and arrays: its networks, optimiser state, replay or
    rollout (what grows with N; the interpreter, torch and the env are not counted)."""
    import torch

    seen: set[int] = set()

    def size(x: Any, depth: int) -> int:
        if id(x) in seen or depth > 3:
            return 0
        seen.add(id(x))
        if isinstance(x, torch.Tensor):
            return x.numel() * x.element_size()
        if isinstance(x, np.ndarray):
            return x.nbytes if x.base is None else 0
        if isinstance(x, torch.nn.Module):
            return sum(size(t, depth + 1) for t in (*x.parameters(), *x.buffers()))
        if isinstance(x, torch.optim.Optimizer):
            return sum(size(v, depth + 1) for st in x.state.values() for v in st.values())
        if isinstance(x, dict):
            return sum(size(v, depth + 1) for v in x.values())
        if isinstance(x, (list, tuple)):
            return sum(size(v, depth + 1) for v in x)
        if hasattr(x, "__dict__") and depth < 3 and not isinstance(x, type):
            return sum(size(v, depth + 1) for v in vars(x).values())
        return 0

    return size(learner, 0)


def _env_alone(scenario: str, n_envs: int, params: dict[str, Any], seconds: float) -> float:
    """env-steps/s of the same vec env (n_envs copies) stepped with random actions."""
    from fedmarl.bench import _core_rate
    from pybridge import make_vec_env

    env = make_vec_env(scenario, n_envs, **params)
    try:
        return _core_rate(env, np.random.default_rng(0), seconds) * n_envs
    finally:
        env.close()


def _one(algo: str, scenario: str, n: int | None, episodes: int, n_envs: int,
         aggregation: str, env_seconds: float, threads: int | None,
         overlap: bool, tau_agg: int, cluster_size: int | None = None) -> dict[str, Any]:
    """One learner's measurement (runs in its own process)."""
    import torch

    from agents.registry import learner_spec
    from fedmarl.train import TrainConfig

    if threads is not None:
        torch.set_num_threads(threads)
    spec = scenario_spec(scenario)
    params = {spec.agents_param: n} if n is not None and spec.agents_param else {}
    _, cfg_cls, _ = learner_spec(algo)
    agent = {"learning_starts": 0} if "learning_starts" in {f.name for f in fields(cfg_cls)} \
        else {}
    if cluster_size is not None:
        agent["cluster_size"] = cluster_size
    cfg = TrainConfig.from_dict({"scenario": scenario, "algo": algo, "episodes": episodes,
                                 "n_envs": n_envs, "aggregation": aggregation,
                                 "checkpoint_every": episodes, "keep_checkpoints": 1,
                                 "params": params, "agent": agent, "fed_overlap": overlap,
                                 "tau_agg": tau_agg})
    with tempfile.TemporaryDirectory(prefix="fedmarl-bench-train-") as tmp:
        trainer = _timed_trainer(cfg, Path(tmp) / "run")
        t0 = time.perf_counter()
        trainer.start()
        wall = time.perf_counter() - t0 - trainer.setup_seconds
        n_agents = trainer.env.n_agents
        steps = trainer.global_step * n_envs  # env steps: copies x batched steps
        rounds = trainer.fed_rounds
        round_seconds = sum(r["seconds"] for r in trainer.run.read_jsonl("federation.jsonl"))
        held = learner_bytes(trainer.learner)
        networks = getattr(trainer.learner, "groups", n_agents)
    stages = dict(trainer.clock.seconds)
    stages["bookkeeping"] = max(0.0, wall - sum(stages.values()))
    env_alone = _env_alone(scenario, n_envs, params, env_seconds)
    rate = steps / wall
    return {"algo": algo, "scenario": scenario, "n_agents": n_agents, "n_envs": n_envs,
            "aggregation": aggregation if algo.startswith("f-") else "none", "tau_agg": tau_agg,
            "env_steps": steps, "wall_seconds": wall, "setup_seconds": trainer.setup_seconds,
            "env_steps_per_s": rate, "agent_steps_per_s": rate * n_agents,
            "env_alone_env_steps_per_s": env_alone, "training_over_env_alone": rate / env_alone,
            "stage_seconds": stages,
            "stage_fraction": {k: v / wall for k, v in stages.items()},
            "federation_rounds": rounds,
            # The rounds' own seconds: in the loop when synchronous, in the worker if overlapped.
            "round_seconds": round_seconds,
            "fed_overlap": bool(overlap and algo.startswith("f-")),
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
            "learner_mib": held / 2**20, "learner_kib_per_agent": held / 1024.0 / n_agents,
            "networks": networks, "update_calls": trainer.clock.calls["update"],
            "seconds_per_update": stages["update"] / max(trainer.clock.calls["update"], 1),
            "torch_threads": torch.get_num_threads()}


def bench_train(algos: tuple[str, ...] = DEFAULT_ALGOS, scenario: str = DEFAULT_SCENARIO,
                n: int | None = None, episodes: int = 2, n_envs: int = 16,
                aggregation: str = "secure", env_seconds: float = 2.0, threads: int | None = None,
                overlap: tuple[bool, ...] = (False, True), tau_agg: int = 512,
                cluster_size: int | None = None, log=None) -> list[dict[str, Any]]:
    """One row per learner and overlap setting (see the module docstring), each measured in a
    fresh process. `threads` None: torch's own default, as `fedmarl train` runs."""
    from fedmarl.bench import machine

    rows = []
    ctx = mp.get_context("spawn")  # a fresh interpreter: its own peak memory and torch state
    for algo in algos:
        for ov in (overlap if algo.startswith("f-") else (False,)):
            if log:
                log(f"[bench] train {algo} on {scenario}: {episodes} episodes x {n_envs} copies"
                    + (", rounds overlapped" if ov else ""))
            # Not a multiprocessing.Pool: its daemonic workers could not start the trainer's
            # own federation worker.
            with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
                row = pool.submit(_one, algo, scenario, n, episodes, n_envs, aggregation,
                                  env_seconds, threads, ov, tau_agg, cluster_size).result()
            row["machine"] = machine()
            rows.append(row)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    head = ["algo", "overlap", "N", "env-steps/s", "agent-steps/s", "env alone", "train/env",
            "env %", "act %", "observe %", "update %", "federation %", "bookkeeping %",
            "s/round", "s/update", "networks", "learner KiB/agent", "peak MiB"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in rows:
        f = r["stage_fraction"]
        lines.append(" | ".join([
            r["algo"], "yes" if r["fed_overlap"] else "no", str(r["n_agents"]),
            f"{r['env_steps_per_s']:,.0f}",
            f"{r['agent_steps_per_s']:,.0f}", f"{r['env_alone_env_steps_per_s']:,.0f}",
            f"{r['training_over_env_alone']:.3f}",
            *(f"{100 * f[k]:.1f}" for k in (*STAGES, "bookkeeping")),
            f"{r['round_seconds'] / max(r['federation_rounds'], 1):.3f}",
            f"{r['seconds_per_update']:.4f}", str(r["networks"]),
            f"{r['learner_kib_per_agent']:,.0f}", f"{r['peak_rss_mib']:,.0f}"]))
    if rows:
        lines.append(f"machine: {rows[0]['machine']}; {rows[0]['n_envs']} copies, torch threads"
                     f" {rows[0]['torch_threads']}, F- aggregation {rows[0]['aggregation']} every"
                     f" {rows[0]['tau_agg']} transitions per agent")
    return "\n".join(lines)
