"""What a round cost: bytes each client sent and received, seconds per stage.

Byte counts are the lengths of the actual serialised messages (transport framing such as TLS is
not counted, for either protocol). Seconds are measured around each party's message handler
in-process: `clients_total_s` sums all clients (what one core spends simulating them),
`clients_max_s` is the slowest client (what a deployment with one core per client would wait).
The critical path of a round is the sum over stages of (slowest client + server): what a
deployment waits for when every client has its own core (network latency excluded).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class StageTiming:
    clients_total_s: float = 0.0
    clients_max_s: float = 0.0
    server_s: float = 0.0
    server_cpu_s: float = 0.0  # CPU time of the server's calls (excludes other jobs' turns)

    @property
    def total_s(self) -> float:
        return self.clients_total_s + self.server_s


@dataclass
class RoundReport:
    """Accounting of one aggregation round (`protocol` is "secagg" or "plain")."""

    protocol: str
    n_clients: int
    n_params: int
    bytes_sent: dict[int, int] = field(default_factory=dict)
    bytes_received: dict[int, int] = field(default_factory=dict)
    stages: dict[str, StageTiming] = field(default_factory=dict)
    seconds: float = 0.0
    survivors: list[int] = field(default_factory=list)
    dropped: dict[str, list[int]] = field(default_factory=dict)
    transcript: list[bytes] = field(default_factory=list, repr=False)
    graph: str = ""
    degree: int = 0
    threshold: int = 0
    trust_root: str = ""
    clipped_total: int | None = None     # securely summed over the inputs in the sum
    clipped_per_client: dict[int, int] = field(default_factory=dict)  # each client's own count
    reported: list[int] = field(default_factory=list)  # dropped for bad shares a peer reported

    def __post_init__(self) -> None:
        for c in range(self.n_clients):
            self.bytes_sent.setdefault(c, 0)
            self.bytes_received.setdefault(c, 0)

    def upload(self, client: int, msg: bytes) -> None:
        self.bytes_sent[client] += len(msg)

    def download(self, client: int, msg: bytes) -> None:
        self.bytes_received[client] += len(msg)

    def timed_client(self, stage: str, fn: Callable[..., T], *args: Any) -> T:
        t0 = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t0
        st = self.stages.setdefault(stage, StageTiming())
        st.clients_total_s += dt
        st.clients_max_s = max(st.clients_max_s, dt)
        return out

    def timed_server(self, stage: str, fn: Callable[..., T], *args: Any) -> T:
        t0, c0 = time.perf_counter(), time.thread_time()
        out = fn(*args)
        st = self.stages.setdefault(stage, StageTiming())
        st.server_cpu_s += time.thread_time() - c0
        st.server_s += time.perf_counter() - t0
        return out

    def _survivor_mean(self, counts: dict[int, int]) -> float:
        who = self.survivors or list(counts)
        return sum(counts[c] for c in who) / max(len(who), 1)

    @property
    def mean_bytes_sent(self) -> float:
        """Mean bytes sent by a client that stayed to the end."""
        return self._survivor_mean(self.bytes_sent)

    @property
    def mean_bytes_received(self) -> float:
        return self._survivor_mean(self.bytes_received)

    @property
    def critical_path_s(self) -> float:
        return sum(st.clients_max_s + st.server_s for st in self.stages.values())

    def summary(self) -> dict[str, Any]:
        """JSON-ready figures (no transcript)."""
        return {
            "protocol": self.protocol,
            "n_clients": self.n_clients,
            "n_params": self.n_params,
            "seconds": self.seconds,
            "critical_path_seconds": self.critical_path_s,
            "stage_seconds": {k: {"clients_total": v.clients_total_s,
                                  "clients_max": v.clients_max_s, "server": v.server_s}
                              for k, v in self.stages.items()},
            "bytes_per_client_sent": self.mean_bytes_sent,
            "bytes_per_client_received": self.mean_bytes_received,
            "bytes_max_client_sent": max(self.bytes_sent.values(), default=0),
            "bytes_max_client_received": max(self.bytes_received.values(), default=0),
            "n_survivors": len(self.survivors),
            "dropped": {k: list(v) for k, v in self.dropped.items()},
            "graph": self.graph,
            "degree": self.degree,
            "threshold": self.threshold,
            "trust_root": self.trust_root,
            "clipped_total": self.clipped_total,
            "reported": list(self.reported),
        }


def centralised_bytes(n_transitions: int, obs_dim: int, action_dim: int = 1,
                      float_bytes: int = 4) -> int:
    """Bytes a client ships in the C- (centralised, raw-data-sharing) baseline.

    Each transition is (obs, action, reward, next_obs) as `float_bytes`-byte numbers:
    (2 * obs_dim + action_dim + 1) values; compare with a federation round's bytes per client.
    """
    if min(n_transitions, obs_dim, action_dim, float_bytes) < 0:
        raise ValueError("sizes must be >= 0")
    return n_transitions * (2 * obs_dim + action_dim + 1) * float_bytes
