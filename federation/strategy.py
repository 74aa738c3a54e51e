"""Federation strategies: when to aggregate and how, apart from how the bytes travel.

As in Flower, a strategy decides *when* a round runs (`should_aggregate`) and *what* the round
computes from the members' parameters (`aggregate`); the transport (the in-process byte
exchange of `plain_fedavg_round` / `run_secure_round`) stays behind it, and the trainer only
hands over parameter dicts and loads back the average. So the trainer has no `if secure` branch:

    strategy = make_strategy("secure", n_agents=N, tau_agg=512, n_envs=4)
    if strategy.should_aggregate(step):
        average, report = strategy.aggregate(updates, round_number)
        if average is not None:       # None: the round failed, every model stays as it was
            ...load average into every member...

`report` is the round's accounting (JSON-ready): bytes each client sent and received, seconds,
for the secure strategy the fraction of parameters clipped before fixed-point coding, and for a
failed round (fewer survivors than the threshold) the reason under "failed".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any, Protocol, runtime_checkable

import numpy as np

from federation.errors import ConfigError, ThresholdError
from federation.graph import AUTO_HARARY_ABOVE, COMPLETE, HARARY, ThreatModel
from federation.plain_round import plain_fedavg_round
from federation.quantise import QuantConfig
from federation.secure_round import run_secure_round
from federation.wire import shared_verification

Params = dict[str, np.ndarray]
AGGREGATIONS = ("plain", "secure")


@runtime_checkable
class Strategy(Protocol):
    """When to aggregate and what a round returns."""

    def should_aggregate(self, step: int) -> bool:
        """Whether a round runs after batched env step `step` (1-based, counted by the caller)."""
        ...

    def aggregate(self, updates: list[Params], round_number: int
                  ) -> tuple[Params | None, dict[str, Any]]:
        """(average, report) of one round; average None when the round failed (models unchanged).
        `round_number` counts rounds from 0; the protocol's round number is round_number + 1."""
        ...


class _Periodic:
    """Aggregate every `period` calls of the batched env step."""

    def __init__(self, period: int) -> None:
        if not isinstance(period, int) or isinstance(period, bool) or period < 1:
            raise ConfigError(f"aggregation period must be an integer >= 1, got {period!r}")
        self.period = period

    def should_aggregate(self, step: int) -> bool:
        return step % self.period == 0


class PlainFedAvg(_Periodic):
    """FedAvg in the clear, exchanged as bytes like the secure path so its bytes are measured."""

    mode = "plain"

    def aggregate(self, updates: list[Params], round_number: int
                  ) -> tuple[Params | None, dict[str, Any]]:
        t0 = time.perf_counter()
        average, report = plain_fedavg_round(updates, round_number=round_number + 1)
        return average, {"mode": self.mode, **report.summary(),
                         "seconds": time.perf_counter() - t0}


class SecureFedAvg(_Periodic):
    """Secure aggregation (Bonawitz et al.) over the members' parameters.

    The aggregator only ever holds masked vectors (federation/secagg_server.py). A round below
    threshold (`ThresholdError`) returns no average, so the caller leaves every model unchanged,
    and a report marked "failed" with no bytes counted.
    """

    mode = "secure"

    def __init__(self, period: int, n_agents: int, *, threshold: float = 0.67,
                 clip: float = 8.0, frac_bits: int = 16, curve: str = "x25519",
                 dropouts: Callable[[int], Mapping[str, Sequence[int]]] | None = None,
                 share_verification: bool = True, graph: str = "auto",
                 threat: ThreatModel | None = None) -> None:
        super().__init__(period)
        self.share_verification = share_verification
        if not 0.5 < threshold <= 1.0:
            raise ConfigError(f"secure threshold must be in (0.5, 1], got {threshold}")
        if graph not in ("auto", COMPLETE, HARARY):
            raise ConfigError(f"secure graph must be auto, complete or harary, got {graph!r}")
        self.n_agents = n_agents
        # SecAgg+ (Harary graph, k and t from the threat model) above AUTO_HARARY_ABOVE agents:
        # all-pairs costs ~N^2 (about 420 s a round at N = 1000, federation/README.md).
        self.graph = (HARARY if n_agents > AUTO_HARARY_ABOVE else COMPLETE) \
            if graph == "auto" else graph
        self.threat = threat or ThreatModel()
        # t of the t-of-n shares on the complete graph; the Harary graph's t counts neighbours
        # and comes from the threat model.
        self.threshold = max(1, math.ceil(threshold * n_agents)) if self.graph == COMPLETE \
            else None
        self.clip = clip
        self.curve = curve
        self.quant = QuantConfig(clip=clip, frac_bits=frac_bits)
        # round_number -> {stage: client ids falling silent there} (run_secure_round's
        # `dropouts`): a failure model for tests and studies; None: every client stays.
        self.dropouts = dropouts

    def aggregate(self, updates: list[Params], round_number: int
                  ) -> tuple[Params | None, dict[str, Any]]:
        t0 = time.perf_counter()
        drops = self.dropouts(round_number) if self.dropouts else None
        # Every party runs in this process: identical signature checks are computed once
        # (federation/wire.py, shared_verification; the protocol and its messages unchanged).
        sharing = shared_verification() if self.share_verification else nullcontext()
        try:
            with sharing:
                average, report = run_secure_round(updates, threshold=self.threshold,
                                                   curve=self.curve, quant=self.quant,
                                                   round_number=round_number + 1,
                                                   dropouts=drops, graph=self.graph,
                                                   threat=self.threat)
        except ThresholdError as exc:
            return None, {"mode": self.mode, "failed": str(exc),
                          "seconds": time.perf_counter() - t0, "bytes_per_client_sent": 0}
        summary = report.summary()
        summary.pop("transcript", None)
        clipped = float(np.mean([np.mean(np.abs(v) > self.clip)
                                 for u in updates for v in u.values()]))
        # The protocol's own seconds (summary) win over the wall clock around it.
        return average, {"mode": self.mode, "seconds": time.perf_counter() - t0,
                         "clipped_fraction": clipped, **summary}


def aggregation_period(tau_agg: int, n_envs: int) -> int:
    """Batched steps between rounds: tau_agg counts each agent's own transitions (ref. 002's
    single-environment T_agg), and with B copies an agent gathers B per batched step."""
    return max(1, tau_agg // n_envs)


def make_strategy(aggregation: str, n_agents: int, *, tau_agg: int, n_envs: int = 1,
                  threshold: float = 0.67, clip: float = 8.0, frac_bits: int = 16,
                  curve: str = "x25519", graph: str = "auto") -> Strategy:
    """The strategy of a training config's `aggregation` ("plain" | "secure") and its options."""
    period = aggregation_period(tau_agg, n_envs)
    if aggregation == "plain":
        return PlainFedAvg(period)
    if aggregation == "secure":
        return SecureFedAvg(period, n_agents, threshold=threshold, clip=clip,
                            frac_bits=frac_bits, curve=curve, graph=graph)
    raise ConfigError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got"
                      f" {aggregation!r}")


__all__ = ["AGGREGATIONS", "PlainFedAvg", "SecureFedAvg", "Strategy", "aggregation_period",
           "make_strategy"]
