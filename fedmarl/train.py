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
of the online weights every `tau_agg` environment steps, plain or with secure aggregation.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from fedmarl.evaluate import episode_seed
from fedmarl.mainjob import write_atomic
from pybridge import make_config, make_vec_env
from pybridge.config import ConfigError

TAU_AGG_CHOICES = (128, 256, 512, 1024)


@dataclass
class TrainConfig:
    """A training run. Every field can come from the config file; CLI flags override."""

    scenario: str = "inx-factory"
    backend: str = "twin"
    algo: str = "f-maddqn"
    seed: int = 0
    episodes: int = 40  # training episodes per copy batch: total episodes = episodes * n_envs
    n_envs: int = 4  # scenario copies stepped together (ns-3: one process each)
    tau_agg: int = 512  # F- modes: FedAvg every tau_agg transitions per agent (ref. 002: 128..1024)
    aggregation: str = "secure"  # F- modes: "secure" (masked, Bonawitz et al.) or "plain"
    secagg_threshold: float = 0.67  # t = ceil(fraction * N) shares needed to unmask
    secagg_clip: float = 8.0  # parameters clipped to [-clip, clip] before fixed-point coding
    secagg_frac_bits: int = 16  # fixed-point fractional bits
    secagg_curve: str = "x25519"
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
        """The options of a YAML config file, unvalidated (CLI flags may still override)."""
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping of options, got {type(data).__name__}")
        return data

    @classmethod
    def load(cls, path: str | os.PathLike) -> TrainConfig:
        return cls.from_dict(cls.read_file(path))

    @classmethod
    def load_run(cls, run_dir: str | os.PathLike) -> TrainConfig:
        """The configuration a run directory was started with."""
        path = Path(run_dir) / "config.yaml"
        if not path.exists():
            raise ConfigError(f"{run_dir} is not a run directory (no config.yaml)")
        data = cls.read_file(path)
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
        if self.backend not in ("twin", "ns3"):
            raise ConfigError(f"backend must be 'twin' or 'ns3', got {self.backend!r}")
        for name, low in (("episodes", 1), ("n_envs", 1), ("checkpoint_every", 1),
                          ("keep_checkpoints", 1), ("tau_agg", 1), ("secagg_frac_bits", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if self.aggregation not in ("secure", "plain"):
            raise ConfigError(f"aggregation must be 'secure' or 'plain', got {self.aggregation!r}")
        if not 0.5 < self.secagg_threshold <= 1.0:
            # t > n/2: no server can then collect both kinds of share of one client from honest
            # clients (federation/README.md, "departures from Bonawitz").
            raise ConfigError(f"secagg_threshold must be in (0.5, 1], got {self.secagg_threshold}")
        if not self.secagg_clip > 0:
            raise ConfigError(f"secagg_clip must be > 0, got {self.secagg_clip}")
        if not isinstance(self.params, dict) or not isinstance(self.agent, dict):
            raise ConfigError("params and agent must be mappings")
        make_config(self.scenario, **self.params)  # scenario parameters validated here

    @property
    def mode(self) -> str:
        return self.algo.split("-", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- run directory
class RunDir:
    """Files of one run; metric files are append-only and cut back on resume."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.ckpt_dir = self.path / "checkpoints"

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    def checkpoints(self) -> list[Path]:
        return sorted(self.ckpt_dir.glob("ckpt-*.pt"))

    def latest_checkpoint(self) -> Path | None:
        ckpts = self.checkpoints()
        return ckpts[-1] if ckpts else None

    def append_jsonl(self, name: str, row: dict[str, Any]) -> None:
        with open(self.path / name, "a") as f:
            f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        p = self.path / name
        if not p.exists():
            return []
        rows = []
        for line in p.read_text().splitlines():
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break  # a torn last line from a kill: everything before it is good
        return rows

    def truncate_jsonl(self, name: str, keep) -> None:
        rows = [r for r in self.read_jsonl(name) if keep(r)]
        write_atomic(self.path / name, "".join(json.dumps(r) + "\n" for r in rows).encode())

    def write_csv(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        cols: list[str] = []
        for r in rows:
            cols += [k for k, v in r.items() if k not in cols and not isinstance(v, list | dict)]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        write_atomic(self.path / "metrics.csv", buf.getvalue().encode())


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
        self.scenario_cfg = make_config(cfg.scenario, **cfg.params)
        self.episode = 0  # finished training episode batches
        self.global_step = 0
        self.fed_rounds = 0
        self._stop = False

    # -------------------------------------------------------------------- construction
    def _build(self) -> None:
        from agents.registry import make_learner

        cfg, sc = self.cfg, self.scenario_cfg
        torch.manual_seed(cfg.seed)
        self.env = make_vec_env(cfg.scenario, cfg.n_envs, backend=cfg.backend, **cfg.params)
        self.learner = make_learner(cfg.algo, sc.obs_width, sc.n_channels, sc.n_subnetworks,
                                    seed=cfg.seed, **cfg.agent)
        self.federator = Federator(cfg, sc.n_subnetworks) if cfg.mode == "f" else None
        # tau_agg counts each agent's own transitions (ref. 002's single-environment T_agg); with
        # B copies an agent gathers B per batched step.
        self.agg_period = max(1, cfg.tau_agg // cfg.n_envs)

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
        write_atomic(self.run.config_path, yaml.safe_dump(
            {**self.cfg.to_dict(), "params_resolved": dataclasses.asdict(self.scenario_cfg)},
            sort_keys=False).encode())
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
                                         description=f"{cfg.algo} reward {row['mean_reward']:.2f}"
                                                     f" rate {row['mean_rate']:.2f}")
            self.run.write_csv(self.run.read_jsonl("metrics.jsonl"))
            self._export_policy()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.env.close()
        if self._stop and self.console:
            self.console.print(f"[train] interrupted after episode {self.episode}; continue with"
                               f" `fedmarl train --resume {self.run.path}`")

    def _on_signal(self, signum, frame) -> None:
        # Finish nothing half-way: the current episode is abandoned, the last checkpoint stands.
        self._stop = True

    def _train_episode(self) -> dict[str, Any] | None:
        cfg, env, learner = self.cfg, self.env, self.learner
        t0 = time.perf_counter()
        obs, _ = env.reset(seed=episode_seed(cfg.seed, 10_000 + self.episode))
        learner.reset_state(explore=True)  # the training streams start a new episode
        rewards, rates, rates_sh, losses = [], [], [], []
        fed_bytes, fed_secs = 0, 0.0
        done = False
        while not done:
            if self._stop:
                return None
            actions = learner.act(obs, explore=True)
            next_obs, reward, _, truncated, info = env.step(actions)
            done = bool(truncated.all())
            learner.observe(obs, actions, reward, next_obs, np.full(cfg.n_envs, done))
            stats = learner.update()
            if stats:
                losses.append(stats)
            self.global_step += 1
            if self.federator is not None and self.global_step % self.agg_period == 0:
                report = self.federator.aggregate(learner, self.fed_rounds)
                self.fed_rounds += 1
                fed_bytes += report["bytes_per_client_sent"]
                fed_secs += report["seconds"]
                self.run.append_jsonl("federation.jsonl",
                                      {"episode": self.episode, "round": self.fed_rounds,
                                       "global_step": self.global_step, **report})
            rewards.append(reward.mean())
            rates.append(info["rate"].mean())
            rates_sh.append(info["rate_shannon"].mean())
            obs = next_obs
        from federation import centralised_bytes

        sc = self.scenario_cfg
        row = {"episode": self.episode, "global_step": self.global_step,
               "mean_reward": float(np.mean(rewards)), "mean_rate": float(np.mean(rates)),
               "mean_rate_shannon": float(np.mean(rates_sh)),
               "fed_rounds": self.fed_rounds, "fed_bytes_per_client": int(fed_bytes),
               "fed_seconds": fed_secs, "wall_seconds": time.perf_counter() - t0,
               # What each agent would ship in this episode under C- (raw transitions).
               "c_bytes_per_client": centralised_bytes(len(rewards) * cfg.n_envs,
                                                       sc.obs_width)}
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


class Federator:
    """FedAvg of the learner's members, plain or secure; returns the round's accounting."""

    def __init__(self, cfg: TrainConfig, n_agents: int) -> None:
        self.cfg = cfg
        self.n = n_agents

    def aggregate(self, learner, round_no: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        if self.cfg.aggregation == "plain":
            return self._plain(learner, round_no, t0)
        return self._secure(learner, round_no, t0)

    def _broadcast(self, learner, average: dict[str, np.ndarray]) -> None:
        """Every agent loads the round's average (and rebuilds its target from it)."""
        for i in range(self.n):
            learner.load_member_params(i, average)

    def _plain(self, learner, round_no: int, t0: float) -> dict[str, Any]:
        """Plain FedAvg, exchanged as bytes like the secure path so its bytes are measured."""
        from federation import plain_fedavg_round

        updates = [learner.member_params(i) for i in range(self.n)]
        average, report = plain_fedavg_round(updates, round_number=round_no + 1)
        self._broadcast(learner, average)
        summary = report.summary()
        return {"mode": "plain", **summary, "seconds": time.perf_counter() - t0}

    def _secure(self, learner, round_no: int, t0: float) -> dict[str, Any]:
        """One secure-aggregation round over the agents' online weights (bytes-only protocol).

        The aggregator only ever holds masked vectors (federation/secagg_server.py); each agent
        then loads the average and rebuilds its target network from it. A round that fails
        (below threshold) leaves every model unchanged and is recorded as failed.
        """
        from federation import QuantConfig, ThresholdError, run_secure_round

        cfg = self.cfg
        updates = [learner.member_params(i) for i in range(self.n)]
        quant = QuantConfig(clip=cfg.secagg_clip, frac_bits=cfg.secagg_frac_bits)
        threshold = max(1, math.ceil(cfg.secagg_threshold * self.n))
        try:
            average, report = run_secure_round(updates, threshold=threshold,
                                               curve=cfg.secagg_curve, quant=quant,
                                               round_number=round_no + 1)
        except ThresholdError as exc:
            return {"mode": "secure", "failed": str(exc), "seconds": time.perf_counter() - t0,
                    "bytes_per_client_sent": 0}
        self._broadcast(learner, average)
        summary = report.summary()
        summary.pop("transcript", None)
        clipped = float(np.mean([np.mean(np.abs(v) > cfg.secagg_clip)
                                 for u in updates for v in u.values()]))
        return {"mode": "secure", "seconds": time.perf_counter() - t0,
                "clipped_fraction": clipped, **summary}
