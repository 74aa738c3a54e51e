"""Training runs: `fedmarl train --config FILE` and `--resume DIR`.

A run directory holds everything needed to inspect, evaluate or continue a run:

    config.yaml          the resolved configuration (every default filled in)
    metrics.jsonl        one JSON object per training episode (reward, rates, losses, bytes, ...)
    metrics.csv          the same, flat, for spreadsheets and TensorBoard-less plotting
    federation.jsonl     one object per aggregation round (F- modes): bytes, crypto seconds
    checkpoints/ckpt-EEEEEE.pt   learner + optimiser + replay + RNG state after episode E
                         (written atomically; the last `keep_checkpoints` kept)
    policy.pt            the acting networks and what is needed to rebuild them (for eval)

Resume: the newest checkpoint is loaded, the metric files are cut back to the episodes it
covers, and training continues from there: an interruption loses only the unfinished episode.

Modes (agents/registry.py): D- each agent its own network and buffer; C- one shared network and
buffer (raw data pooled: the baseline the federation avoids); F- own networks and buffers, FedAvg
of the online weights every `tau_agg` environment steps through a federation strategy
(federation/strategy.py: plain or secure FedAvg; the trainer only hands over and loads back).
"""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from agents.registry import make_learner
from federation.strategy import AGGREGATIONS, Strategy, make_strategy
from federation.worker import PendingRound, RoundWorker
from fedmarl.evaluate import episode_seed
from fedmarl.io import RunDir, read_config, write_atomic, write_yaml
from fedmarl.registries import DEFAULT_SCENARIO, learner_overrides
from fedmarl.registries import spec as scenario_spec
from pybridge import engine as engines
from pybridge import make_vec_env
from pybridge.api import BACKENDS
from pybridge.config import ConfigError

TAU_AGG_CHOICES = (128, 256, 512, 1024)


@dataclass
class TrainConfig:
    """A training run. Every field can come from the config file; CLI flags override."""

    scenario: str = DEFAULT_SCENARIO
    backend: str = "twin"
    algo: str = "f-maddqn"
    seed: int = 0
    episodes: int = 40  # training episodes per copy batch: total episodes = episodes * n_envs
    n_envs: int = 4  # scenario copies stepped together (ns-3: one process each)
    # Shards the copies are split into (pybridge/engine: in this process or Ray actors); None:
    # the engine's default, resolved and recorded when the run starts. Twin numbers depend on
    # it (each shard its own generator), ns-3 numbers and the engine do not.
    env_workers: int | None = None
    tau_agg: int = 512  # F- modes: FedAvg every tau_agg transitions per agent (ref. 002: 128..1024)
    aggregation: str = "secure"  # F- modes: "secure" (masked, Bonawitz et al.) or "plain"
    secagg_threshold: float = 0.67  # t = ceil(fraction * N) shares needed to unmask
    secagg_clip: float = 8.0  # parameters clipped to [-clip, clip] before fixed-point coding
    secagg_frac_bits: int = 16  # fixed-point fractional bits
    secagg_curve: str = "x25519"
    # auto: all-pairs up to 200 agents, SecAgg+ (Harary graph, Bell et al. 2020) above
    secagg_graph: str = "auto"
    # F- modes: run each round in a worker process while training goes on; its average lands at
    # the next round or the episode end, each member keeping its progress since (Federation).
    fed_overlap: bool = False
    checkpoint_every: int = 1  # episodes (batches) between checkpoints
    keep_checkpoints: int = 2
    params: dict[str, Any] = field(default_factory=dict)  # scenario parameters
    agent: dict[str, Any] = field(default_factory=dict)  # learner hyperparameter overrides

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training option(s): {', '.join(unknown)}; known:"
                              f" {', '.join(sorted(known))}")
        cfg = cls(**data)
        cfg.validate()
        return cfg

    @staticmethod
    def read_file(path: str | os.PathLike) -> dict[str, Any]:
        """The options of a YAML or TOML config file, unvalidated (CLI flags may override)."""
        return read_config(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        return cls.from_dict(cls.read_file(path))

    @classmethod
    def load_run(cls, run_dir: str | os.PathLike) -> TrainConfig:
        """The configuration a run directory was started with."""
        data = RunDir(run_dir).read_config()
        data.pop("params_resolved", None)
        return cls.from_dict(data)

    def validate(self) -> None:
        from agents.registry import LEARNERS
        from agents.registry import make_config as make_learner_config

        if self.algo not in LEARNERS:
            raise ConfigError(f"unknown algo {self.algo!r}; choose from {', '.join(LEARNERS)}")
        try:
            make_learner_config(self.algo, **self.agent)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"agent: {exc}") from exc
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got"
                              f" {self.backend!r}")
        if self.env_workers is not None and (not isinstance(self.env_workers, int)
                                             or isinstance(self.env_workers, bool)
                                             or self.env_workers < 1):
            raise ConfigError(f"env_workers must be an integer >= 1, got {self.env_workers!r}")
        for name, low in (("episodes", 1), ("n_envs", 1), ("checkpoint_every", 1),
                          ("keep_checkpoints", 1), ("tau_agg", 1), ("secagg_frac_bits", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(self.fed_overlap, bool):
            raise ConfigError(f"fed_overlap must be true or false, got {self.fed_overlap!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ConfigError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got"
                              f" {self.aggregation!r}")
        if not 0.5 < self.secagg_threshold <= 1.0:
            # t > n/2: no server can then collect both kinds of share of one client from honest
            # clients (federation/README.md, "Differences from Bonawitz et al. and Bell et al.").
            raise ConfigError(f"secagg_threshold must be in (0.5, 1], got {self.secagg_threshold}")
        if self.secagg_graph not in ("auto", "complete", "harary"):
            raise ConfigError(f"secagg_graph must be auto, complete or harary, got"
                              f" {self.secagg_graph!r}")
        if not self.secagg_clip > 0:
            raise ConfigError(f"secagg_clip must be > 0, got {self.secagg_clip}")
        if not isinstance(self.params, dict) or not isinstance(self.agent, dict):
            raise ConfigError("params and agent must be mappings")
        scenario_spec(self.scenario).make_config(**self.params)  # scenario parameters checked

    @property
    def mode(self) -> str:
        return self.algo.split("-", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------------------- federation
def strategy_for(cfg: TrainConfig, n_agents: int) -> Strategy:
    """The federation strategy of an F- training config."""
    return make_strategy(cfg.aggregation, n_agents, tau_agg=cfg.tau_agg, n_envs=cfg.n_envs,
                         threshold=cfg.secagg_threshold, clip=cfg.secagg_clip,
                         frac_bits=cfg.secagg_frac_bits, curve=cfg.secagg_curve,
                         graph=cfg.secagg_graph)


class Federation:
    """The trainer's side of a round: the members' online weights go to the strategy, the
    average (if the round succeeded) comes back into every member, whose target network is
    rebuilt from it; optimiser state and replay buffers stay local.

    Overlapped (`fed_overlap`): the round runs in a worker process (federation/worker.py) on
    snapshots of the members while training goes on, and its average is applied when the next
    round starts or the episode ends, whichever comes first, each member keeping what it learnt
    since its snapshot: theta_i <- avg + (theta_i - snapshot_i) (delayed averaging with local
    correction, as in Wang et al. 2020, "Overlap Local-SGD"). With no training in between this
    is the synchronous update exactly. The points where averages land are fixed by the step
    count, never by timing, so a seed gives the same run either way it is timed.
    """

    def __init__(self, strategy: Strategy, members: int | Sequence[int],
                 overlap: bool = False) -> None:
        """`members`: the agents whose networks are the federation's clients, one per network
        (an int n: agents 0..n-1; with `cluster_size` s: every s-th agent)."""
        self.strategy = strategy
        self.members = list(range(members)) if isinstance(members, int) else list(members)
        self.n = len(self.members)
        self.worker = RoundWorker() if overlap else None
        self._pending: tuple[PendingRound, list[dict[str, np.ndarray]], dict[str, Any]] | None \
            = None

    def round(self, learner, round_no: int, meta: dict[str, Any] | None = None
              ) -> list[dict[str, Any]]:
        """Run (synchronous) or start (overlapped) round `round_no`; returns the reports of the
        rounds that finished now, each with `meta` (what its federation.jsonl row says about
        when): this one when synchronous, the previous one (if in flight) when overlapped."""
        meta = meta or {}
        rows = self._apply_pending(learner)
        updates = [learner.member_params(i) for i in self.members]
        if self.worker is None:
            average, report = self.strategy.aggregate(updates, round_no)
            if average is not None:  # a failed round leaves every model unchanged
                for i in self.members:
                    learner.load_member_params(i, average)
            return [*rows, {**meta, **report}]
        self._pending = (self.worker.submit(self.strategy, updates, round_no), updates, meta)
        return rows

    def flush(self, learner) -> list[dict[str, Any]]:
        """Apply the overlapped round in flight, if any (waits for it); its row, or []."""
        return self._apply_pending(learner)

    def _apply_pending(self, learner) -> list[dict[str, Any]]:
        if self._pending is None:
            return []
        pending, snapshots, meta = self._pending
        self._pending = None
        average, report = pending.result()
        if average is not None:
            for j, i in enumerate(self.members):
                now = learner.member_params(i)
                learner.load_member_params(i, {
                    k: average[k] + (v - snapshots[j][k]) if np.issubdtype(v.dtype, np.floating)
                    else v for k, v in now.items()})
        return [{**meta, **report, "overlapped": True}]

    def discard(self) -> None:
        """Forget the round in flight (an abandoned episode: its average is never applied)."""
        if self._pending is not None:
            self._pending[0].cancel()
            self._pending = None

    def close(self) -> None:
        self.discard()
        if self.worker is not None:
            self.worker.close()


def save_checkpoint(run: RunDir, episode: int, payload: dict[str, Any], keep: int) -> Path:
    """torch.save to a temporary file, fsync, rename: a crash never leaves a torn checkpoint."""
    run.ckpt_dir.mkdir(parents=True, exist_ok=True)
    path = run.ckpt_dir / f"ckpt-{episode:06d}.pt"
    buf = io.BytesIO()
    torch.save(payload, buf)
    write_atomic(path, buf.getvalue())
    for old in run.checkpoints()[:-keep]:
        old.unlink(missing_ok=True)
    return path


# ------------------------------------------------------------------------------- training
class Trainer:
    """Runs one training configuration into a run directory (fresh or resumed)."""

    def __init__(self, cfg: TrainConfig, run_dir: str | os.PathLike, *, progress=None,
                 console=None) -> None:
        self.cfg = cfg
        self.run = RunDir(run_dir)
        self.progress = progress
        self.console = console
        self.spec = scenario_spec(cfg.scenario)
        self.scenario_cfg = self.spec.make_config(**cfg.params)
        self.episode = 0  # finished training episode batches
        self.global_step = 0
        self.fed_rounds = 0
        self._stop = False

    # -------------------------------------------------------------------- construction
    def _build(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)
        eng = engines.current()
        self.env = env = make_vec_env(cfg.scenario, cfg.n_envs, backend=cfg.backend,
                                      engine=dataclasses.replace(eng, workers=cfg.env_workers),
                                      **cfg.params)
        self.learner = make_learner(cfg.algo, env.single_observation_space,
                                    env.single_action_space, env.n_agents, seed=cfg.seed,
                                    **learner_overrides(self.spec, self.scenario_cfg, cfg.agent))
        # One client per network: every agent, or one per cluster of `cluster_size` agents.
        members = range(0, env.n_agents, self.learner.cluster)
        self.federation = (Federation(strategy_for(cfg, len(members)), members,
                                      overlap=cfg.fed_overlap)
                           if cfg.mode == "f" else None)
        if self.federation is not None and cfg.fed_overlap and torch.get_num_threads() > 1:
            # The round worker keeps one core busy; torch's threads competing for it would
            # slow both (measured on 2 cores: fedmarl bench train).
            torch.set_num_threads(torch.get_num_threads() - 1)
        # What one raw transition costs a C- agent to ship (numbers): observation and action
        # sizes from the spaces (a composite action is one number per component).
        self.obs_size = int(np.prod(env.single_observation_space.shape))
        self.action_size = int(np.prod(getattr(env.single_action_space, "nvec",
                                               np.ones(1)).shape))

    @property
    def interrupted(self) -> bool:
        return self._stop

    def _state(self) -> dict[str, Any]:
        # Replay buffers included: a resumed run continues exactly where the checkpoint was.
        return {"episode": self.episode, "global_step": self.global_step,
                "fed_rounds": self.fed_rounds,
                "learner": self.learner.state_dict(include_buffer=True),
                "torch_rng": torch.get_rng_state(), "config": self.cfg.to_dict()}

    def _restore(self, state: dict[str, Any]) -> None:
        self.episode = int(state["episode"])
        self.global_step = int(state["global_step"])
        self.fed_rounds = int(state["fed_rounds"])
        self.learner.load_state_dict(state["learner"])
        torch.set_rng_state(state["torch_rng"])

    # --------------------------------------------------------------------------- run
    def start(self) -> None:
        """A fresh run: refuses a directory that already holds one (use --resume)."""
        if self.run.config_path.exists():
            raise ConfigError(f"{self.run.path} already holds a run; continue it with"
                              f" `fedmarl train --resume {self.run.path}` or pick another --out")
        self.run.path.mkdir(parents=True, exist_ok=True)
        if self.cfg.env_workers is None:  # recorded: a resumed run keeps its shards' streams
            self.cfg.env_workers = engines.current().resolved_workers(self.cfg.n_envs,
                                                                       self.cfg.backend)
        write_yaml(self.run.config_path,
                   {**self.cfg.to_dict(), "params_resolved": dataclasses.asdict(self.scenario_cfg)})
        self._build()
        self._loop()

    def resume(self) -> None:
        ckpt = self.run.latest_checkpoint()
        self._build()
        if ckpt is not None:
            state = torch.load(ckpt, weights_only=False)
            self._restore(state)
        done = self.episode
        self.run.truncate_jsonl("metrics.jsonl", lambda r: r["episode"] < done)
        self.run.truncate_jsonl("federation.jsonl", lambda r: r["episode"] < done)
        if self.console:
            self.console.print(f"[train] resuming {self.run.path} after episode {done}"
                               f" ({self.global_step} steps)")
        self._loop()

    def _loop(self) -> None:
        cfg = self.cfg
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, self._on_signal)
        task = None
        if self.progress is not None:
            task = self.progress.add_task(f"{cfg.algo} ({cfg.backend})", total=cfg.episodes,
                                          completed=self.episode)
        try:
            while self.episode < cfg.episodes and not self._stop:
                row = self._train_episode()
                if self._stop and row is None:
                    break
                self.episode += 1
                self.run.append_jsonl("metrics.jsonl", row)
                if self.episode % cfg.checkpoint_every == 0 or self.episode == cfg.episodes:
                    save_checkpoint(self.run, self.episode, self._state(), cfg.keep_checkpoints)
                if task is not None:
                    self.progress.update(task, completed=self.episode,
                                         description=self._progress_text(row))
            self.run.write_csv(self.run.read_jsonl("metrics.jsonl"))
            self._export_policy()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if self.federation is not None:
                self.federation.close()
            self.env.close()
        if self._stop and self.console:
            self.console.print(f"[train] interrupted after episode {self.episode}; continue with"
                               f" `fedmarl train --resume {self.run.path}`")

    def _progress_text(self, row: dict[str, Any]) -> str:
        text = f"{self.cfg.algo} reward {row['mean_reward']:.2f}"
        head = self.spec.headline
        if head != "mean_reward" and head in row:
            text += f" {head.removeprefix('mean_')} {row[head]:.2f}"
        return text

    def _on_signal(self, signum, frame) -> None:
        # Finish nothing half-way: the current episode is abandoned, the last checkpoint stands.
        self._stop = True

    def _train_episode(self) -> dict[str, Any] | None:
        cfg, env, learner = self.cfg, self.env, self.learner
        t0 = time.perf_counter()
        obs, _ = env.reset(seed=episode_seed(cfg.seed, 10_000 + self.episode))
        learner.reset_state(explore=True)  # the training streams start a new episode
        scalars: dict[str, list[float]] = defaultdict(list)  # spec.step_scalars per step
        losses = []
        fed_bytes, fed_secs = 0, 0.0
        done = False
        steps = 0
        fed = self.federation

        def log_rounds(rows: list[dict[str, Any]]) -> None:
            nonlocal fed_bytes, fed_secs
            for row in rows:
                fed_bytes += row["bytes_per_client_sent"]
                fed_secs += row["seconds"]
                self.run.append_jsonl("federation.jsonl", row)

        while not done:
            if self._stop:
                if fed is not None:
                    fed.discard()
                return None
            actions = learner.act(obs, explore=True)
            next_obs, reward, _, truncated, info = env.step(actions)
            done = bool(truncated.all())
            learner.observe(obs, actions, reward, next_obs, np.full(cfg.n_envs, done))
            stats = learner.update()
            if stats:
                losses.append(stats)
            self.global_step += 1
            steps += 1
            if fed is not None and fed.strategy.should_aggregate(self.global_step):
                log_rounds(fed.round(learner, self.fed_rounds,
                                     {"episode": self.episode, "round": self.fed_rounds + 1,
                                      "global_step": self.global_step}))
                self.fed_rounds += 1
            for key, value in self.spec.step_scalars(info, reward).items():
                scalars[key].append(value)
            obs = next_obs
        if fed is not None:  # an overlapped round lands before the checkpoint
            log_rounds(fed.flush(learner))
        from federation import centralised_bytes

        row = {"episode": self.episode, "global_step": self.global_step,
               **{k: float(np.mean(v)) for k, v in scalars.items()},
               "fed_rounds": self.fed_rounds, "fed_bytes_per_client": int(fed_bytes),
               "fed_seconds": fed_secs, "wall_seconds": time.perf_counter() - t0,
               # What each agent would ship in this episode under C- (raw transitions).
               "c_bytes_per_client": centralised_bytes(steps * cfg.n_envs, self.obs_size,
                                                       self.action_size)}
        for key in (losses[0] if losses else {}):
            row[key] = float(np.mean([s[key] for s in losses if key in s]))
        if hasattr(learner, "epsilon"):
            row["epsilon"] = float(learner.epsilon)
        return row

    def _export_policy(self) -> None:
        payload = {"algo": self.cfg.algo, "scenario": self.cfg.scenario,
                   "params": self.cfg.params, "agent": self.cfg.agent, "seed": self.cfg.seed,
                   "learner": self.learner.state_dict(), "episode": self.episode}
        buf = io.BytesIO()
        torch.save(payload, buf)
        write_atomic(self.run.path / "policy.pt", buf.getvalue())
