"""The declared scenario interface: what a scenario supplies and what a backend core offers.

Every shared layer (the env adapter, the ns-3 core, `fedmarl/*`, the learners) takes what it
needs about a scenario from a `ScenarioSpec` found in the registry (`pybridge.scenarios.get`),
never from a scenario's own modules. A scenario is one package `pybridge/scenarios/<name>/`
(config, twin, contract, metrics, replay, spec), one folder `ns3-scenarios/<name>/` and one
baselines module `agents/baselines/<name>.py`; adding one edits no shared file.

Two declared interfaces:
  - `Core`: B copies of a scenario stepped together on arrays [B, N, ...]. The twin's numpy
    core and the generic ns-3 core (`pybridge.ns3_backend.Ns3Core`) both implement it; the env
    adapter (`pybridge.env`) wraps either one.
  - `ScenarioSpec`: the scenario's declarations (config class, spaces, agent names, info keys,
    metrics, baselines module, validation tolerances, learner hints, ns-3 binary name).

pybridge never imports torch; the baselines module is named here by its import path and only
imported by the orchestration layer (pybridge never imports agents).
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from gymnasium import spaces

from pybridge.config import ScenarioConfig

BACKENDS = ("twin", "ns3")


# ------------------------------------------------------------------------------- backend cores
@runtime_checkable
class Core(Protocol):
    """B copies of one scenario with N agents each, stepped in lock-step.

    Shapes: observations [B, N, *obs_shape], actions [B, N] (Discrete) or [B, N, C]
    (MultiDiscrete with C components), rewards [B, N], state [B, *state_shape]. Episodes have a
    fixed length (`cfg.episode_steps`), so every copy ends at the same step.
    """

    cfg: ScenarioConfig
    backend: str  # "twin" | "ns3"
    B: int  # copies
    N: int  # agents per copy
    t: int  # steps since the last reset
    last: Any  # the scenario's step data of the last reset/step (read by `step_info`)

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new episode in every copy; `None` continues the core's own seed sequence."""
        ...

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """(obs, reward, done) after one decision interval in every copy."""
        ...

    def observation(self) -> np.ndarray:
        """The current observation [B, N, *obs_shape] (what the last reset/step returned)."""
        ...

    def state(self) -> np.ndarray:
        """The global state per copy, [B, *state_shape] (centralised critics, `env.state()`)."""
        ...

    def close(self) -> None:
        """Release processes and segments (a no-op for in-process cores). Idempotent."""
        ...


# ---------------------------------------------------------------------- what a scenario declares
@dataclass(frozen=True)
class LearnerHints:
    """What a learner must know about a scenario's observations and timing.

    `obs_shift`/`obs_scale`: the fixed affine map x -> (x - shift) / scale that brings the
    scenario's observations to about [-2, 2] (scalars or arrays broadcastable to the obs shape;
    fixed rather than running so that federated members map inputs identically).
    `decision_period`: env steps between an agent's decisions (e.g. tau_max when a channel
    request lands 1..tau_max steps later).
    """

    obs_shift: float | np.ndarray = 0.0
    obs_scale: float | np.ndarray = 1.0
    decision_period: int = 1

    def as_overrides(self) -> dict[str, Any]:
        """Learner-config keyword overrides (`agents.registry.make_learner(**...)`)."""
        def plain(v):
            return v.tolist() if isinstance(v, np.ndarray) else v
        return {"obs_shift": plain(self.obs_shift), "obs_scale": plain(self.obs_scale),
                "decision_period": int(self.decision_period)}


@dataclass(frozen=True)
class Tolerance:
    """How close twin and ns-3 must be on one metric for `fedmarl validate` to say "agree".

    kind: "abs" |twin - ns3| <= value; "rel" |twin - ns3| <= value * |twin|; "ks" the KS
    distance of the two sample sets <= value; "ratio" max(twin, ns3) / min(twin, ns3) <= value
    (e.g. a packet error rate). `reason` says why this tolerance (printed).
    """

    metric: str
    kind: str
    value: float
    reason: str


@dataclass(frozen=True)
class Column:
    """One column of `fedmarl eval`'s table: summary key, header, format."""

    key: str
    header: str
    fmt: str = "{:.3f}"
    # Display scale applied before `fmt` (e.g. 1e6 shows seconds as microseconds).
    scale: float = 1.0

    def format(self, row: Mapping[str, Any]) -> str:
        return self.fmt.format(row[self.key] * self.scale)


class Recorder(Protocol):
    """Collects a batch of B episodes step by step and reduces them to the scenario's metrics."""

    def add_step(self, info: Mapping[str, np.ndarray], reward: np.ndarray) -> None: ...

    def end_batch(self) -> None: ...

    @property
    def episodes(self) -> list[dict[str, np.ndarray]]: ...

    def summary(self) -> dict[str, Any]: ...


class ScenarioSpec(abc.ABC):
    """A scenario's declarations. Subclass, fill the class attributes, implement the methods,
    and `pybridge.scenarios.register(MySpec())`.

    Backend-independence: both backends give the same spaces, info keys (dtypes included) and
    metric names for the same config.
    """

    name: ClassVar[str]  # registry name, e.g. "edge-offload"
    env_name: ClassVar[str]  # PettingZoo metadata name, e.g. "edge_offload_v0"
    agent_prefix: ClassVar[str]  # agents are f"{agent_prefix}_{n}"
    config_cls: ClassVar[type[ScenarioConfig]]
    description: ClassVar[str] = ""
    # Import path of the heuristics module (agents/baselines/<name>.py); it exposes BASELINES,
    # {name: factory() -> Policy}. Imported by the orchestration layer only.
    baselines_module: ClassVar[str | None] = None
    # ns-3: the scenario binary in build/bin (None: twin only). Its `--contract-json` is the one
    # source of truth for parameters and arrays (pybridge.contract).
    ns3_binary: ClassVar[str | None] = None
    # Keys of the batched info dict (`VecEnv.step`), present on every backend with these dtypes.
    info_keys: ClassVar[tuple[str, ...]] = ()
    # Keys only the ns-3 backend adds (packet-level counters).
    ns3_info_keys: ClassVar[tuple[str, ...]] = ()
    # The dtype of every info key, the same on both backends (item 9).
    info_dtypes: ClassVar[Mapping[str, np.dtype]] = {}
    # `fedmarl eval`'s table and the headline figure of reports / training progress.
    columns: ClassVar[tuple[Column, ...]] = ()
    ns3_columns: ClassVar[tuple[Column, ...]] = ()
    headline: ClassVar[str] = "mean_reward"
    # Twin vs ns-3 agreement rules of `fedmarl validate`.
    tolerances: ClassVar[tuple[Tolerance, ...]] = ()
    render_modes: ClassVar[tuple[str, ...]] = ("rgb_array",)
    # Published figures to show next to ours: {method: {summary key: value}}, and their source.
    reference: ClassVar[Mapping[str, Mapping[str, float]]] = {}
    reference_source: ClassVar[str] = ""
    # Named parameter sets a user asks for by name (`--preset NAME`, `scenario_params`):
    # {name: (one-line description, {parameter: value})}; --set values go on top.
    presets: ClassVar[Mapping[str, tuple[str, Mapping[str, Any]]]] = {}

    # --- configuration --------------------------------------------------------------------
    def make_config(self, **params: Any) -> ScenarioConfig:
        return self.config_cls.from_params(**params)

    @abc.abstractmethod
    def n_agents(self, cfg: ScenarioConfig) -> int: ...

    def agent_names(self, cfg: ScenarioConfig) -> list[str]:
        return [f"{self.agent_prefix}_{n}" for n in range(self.n_agents(cfg))]

    # --- spaces (new objects on every call: callers cache them) -------------------------------
    @abc.abstractmethod
    def observation_space(self, cfg: ScenarioConfig) -> spaces.Box: ...

    @abc.abstractmethod
    def action_space(self, cfg: ScenarioConfig) -> spaces.Discrete | spaces.MultiDiscrete: ...

    @abc.abstractmethod
    def state_space(self, cfg: ScenarioConfig) -> spaces.Box: ...

    def learner_hints(self, cfg: ScenarioConfig) -> LearnerHints:
        return LearnerHints()

    # --- backends -----------------------------------------------------------------------------
    @abc.abstractmethod
    def make_twin(self, cfg: ScenarioConfig, n_envs: int) -> Core: ...

    def make_ns3(self, cfg: ScenarioConfig, n_envs: int, **options: Any) -> Core:
        """The packet-level core: by default the generic `Ns3Core` over `ns3_binary`."""
        from pybridge.config import ConfigError

        if self.ns3_binary is None:
            raise ConfigError(f"scenario {self.name!r} has no ns-3 backend")
        from pybridge.ns3_backend import Ns3Core  # launches processes: only when asked for

        return Ns3Core(self, cfg, n_envs=n_envs, **options)

    def ns3_dims(self, cfg: ScenarioConfig) -> dict[str, int]:
        """Values of the symbols in the binary's array shape expressions (e.g. N, M, K, W)."""
        return {"N": self.n_agents(cfg)}

    def ns3_step_data(self, cfg: ScenarioConfig, arrays: dict[str, np.ndarray], B: int,
                      constants: Mapping[str, Any] | None = None) -> Any:
        """The core's `last` from the stacked arrays [B, count] of one ns-3 step; `constants`
        are the contract's (e.g. histogram bins, metric names)."""
        raise NotImplementedError(f"scenario {self.name!r}: ns3_step_data")

    # --- what a step reports ------------------------------------------------------------------
    @abc.abstractmethod
    def step_info(self, core: Core) -> dict[str, np.ndarray]:
        """Batched info of the last step: `info_keys` (and on ns-3 `ns3_info_keys`), [B, ...]."""

    @abc.abstractmethod
    def agent_infos(self, info: Mapping[str, np.ndarray], b: int,
                    agents: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per-agent info dicts of copy b (the ParallelEnv's infos), plain Python scalars."""

    def step_scalars(self, info: Mapping[str, np.ndarray], reward: np.ndarray) -> dict[str, float]:
        """Per-step figures a training curve averages over an episode (mean_reward always)."""
        return {"mean_reward": float(np.mean(reward))}

    @abc.abstractmethod
    def recorder(self, cfg: ScenarioConfig) -> Recorder:
        """A fresh recorder whose `summary()` is the scenario's metric set (`fedmarl eval`)."""

    # --- validation (twin vs ns-3) --------------------------------------------------------------
    def validation_samples(self, episode: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Sample sets of one recorded episode that `fedmarl validate` compares by distribution
        (CDF plots, KS distance with an episode-level permutation test), e.g. {"rate": ...}."""
        return {}

    def render(self, core: Core, b: int = 0) -> np.ndarray:
        """An RGB picture [H, W, 3] uint8 of copy b (render_mode "rgb_array")."""
        raise NotImplementedError(f"scenario {self.name!r} does not render")

    # Optional members the orchestration reads.
    # Import path of the scenario's extra `fedmarl validate` hooks (fedmarl.validate's
    # ValidationModule: extra sample sets gathered while running, per-episode statistics, twin
    # predictions of ns-3-only figures, trace-mode analysis); None: the generic comparison only.
    validation_module: ClassVar[str | None] = None
    # Import path of the scenario's external-trace module (`fedmarl validate --trace FILE`:
    # another simulator's run in a documented file, fedmarl/validate_trace.py's TraceModule);
    # None: the scenario reads no external traces.
    trace_module: ClassVar[str | None] = None
    # Baselines a trained run is compared with (`fedmarl eval --run`); None: all of them.
    eval_baselines: ClassVar[tuple[str, ...] | None] = None
    # The config parameter that sets the number of agents N (`fedmarl bench --n`); None: N is
    # not a parameter of its own.
    agents_param: ClassVar[str | None] = None
    # Core views (methods or attributes a policy reads) whose arrays are not per copy (e.g. the
    # fixed positions of servers, [E, 2]): a sharded core (pybridge.engine) takes them from one
    # shard instead of concatenating them along the copy axis.
    unbatched_views: ClassVar[tuple[str, ...]] = ()

    def __repr__(self) -> str:
        return f"<ScenarioSpec {self.name}>"
