"""Federated clients in their own Ray actors: the privacy boundary is a process boundary.

Each `FederatedClientActor` holds one client's model (its networks' parameters, and whatever
local state trains them: a `local_update` runs inside the actor) and its long-term signing key,
generated in the actor and never sent anywhere. The driver plays the enrolment authority (it
certifies the clients' public keys in a signed roster) and the server: it only relays the
protocol's bytes (`federation.secure_round.drive_round`, the same stages as the in-process
round) and never holds a client's plaintext update; no actor sees another's. After the round
every surviving actor checks the aggregate and loads the average into its own model.

Drop-outs: an actor that dies (killed, its node lost) or does not answer within `timeout` is
silent from that stage on; the protocol recovers as it does in process (left out before
masking, its masks recovered from shares after), and the round is refused below threshold.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from federation import signing
from federation.accounting import RoundReport, StageTiming
from federation.errors import ConfigError
from federation.layout import ParamLayout, Params, flatten, unflatten
from federation.quantise import QuantConfig
from federation.secagg_client import SecAggClient
from federation.secagg_params import SecAggParams
from federation.secagg_server import SecAggServer
from federation.secure_round import STAGES, drive_round, round_params
from federation.trust import Authority, Pki, key_bytes

CALL_TIMEOUT = 60.0


class FederatedClientActor:
    """One client in its own process (`ray.remote` applied by `start_clients`)."""

    def __init__(self, client_id: int, params: Params,
                 local_update: Callable[[Params, int], Params] | None = None) -> None:
        self.id = int(client_id)
        self.params = {k: np.array(v, copy=True) for k, v in params.items()}
        self.local_update = local_update
        self._identity = signing.DEFAULT.generate()  # stays in this process
        self._pki: Pki | None = None
        self._client: SecAggClient | None = None
        self._layout: ParamLayout | None = None

    def public_key(self) -> bytes:
        return key_bytes(self._identity.public_key())

    def layout(self) -> ParamLayout:
        return ParamLayout.of(self.params)

    def enrol(self, roster: bytes, authority: bytes) -> bool:
        """Trust the roster the authority signed (its key came with the deployment)."""
        self._pki = Pki.from_roster(roster, signing.DEFAULT.load_public(authority))
        return True

    def train(self, step: int) -> bool:
        """Local training between rounds: the model never leaves this process."""
        if self.local_update is not None:
            self.params = self.local_update(self.params, step)
        return True

    def begin_round(self, params: SecAggParams, weight: float) -> bool:
        if self._pki is None:
            raise RuntimeError(f"client {self.id} is not enrolled")
        self._layout = ParamLayout.of(self.params)
        self._client = SecAggClient(self.id, self._identity, self._pki, params,
                                    flatten(self.params, self._layout), float(weight))
        return True

    def handle(self, handler: str, msg: bytes) -> bytes:
        """One protocol stage: the server's bytes in, this client's bytes out."""
        return getattr(self._client, handler)(msg)

    def finish(self, aggregate: bytes) -> bool:
        """Check the aggregate and load the average into this client's model (integer
        tensors stay this client's own)."""
        average = self._client.receive_aggregate(aggregate)
        self.params = unflatten(np.asarray(average), self._layout, passthrough=self.params)
        self._client = None
        return True

    def export_params(self) -> Params:
        """The model, for this client's own checkpoint (and for tests)."""
        return self.params


def start_clients(params: Sequence[Params], *, local_update=None,
                  spread: bool = True) -> list[Any]:
    """One actor per client, each with its initial model (SPREAD: clients on different nodes
    where the cluster has them)."""
    import ray

    cls = ray.remote(num_cpus=0, max_restarts=0)(FederatedClientActor)
    opts = {"scheduling_strategy": "SPREAD"} if spread else {}
    return [cls.options(**opts).remote(i, p, local_update) for i, p in enumerate(params)]


class ActorFederation:
    """Secure rounds over clients that live in Ray actors (module docstring)."""

    def __init__(self, actors: Sequence[Any], *, weights: Sequence[float] | None = None,
                 threshold: int | None = None, quant: QuantConfig | None = None,
                 curve: str = "x25519", graph: str = "auto", timeout: float = CALL_TIMEOUT
                 ) -> None:
        import ray

        self._ray = ray
        self.actors = list(actors)
        self.n = len(self.actors)
        self.weights, self.threshold, self.quant = weights, threshold, quant or QuantConfig()
        self.curve, self.graph, self.timeout = curve, graph, timeout
        self.dead: set[int] = set()
        layouts = ray.get([a.layout.remote() for a in self.actors], timeout=timeout)
        if any(lay != layouts[0] for lay in layouts):
            raise ConfigError("the clients' models differ in tensors, shapes or dtypes")
        self.layout: ParamLayout = layouts[0]
        # Enrolment: the authority certifies each client's own public key and the server's.
        self._server_key = signing.DEFAULT.generate()
        authority = Authority()
        pubs = ray.get([a.public_key.remote() for a in self.actors], timeout=timeout)
        roster = authority.issue_roster(
            {cid: signing.DEFAULT.load_public(p) for cid, p in enumerate(pubs)},
            self._server_key.public_key())
        self.pki = Pki.from_roster(roster, authority.public_key)
        auth = key_bytes(authority.public_key)
        ray.get([a.enrol.remote(roster, auth) for a in self.actors], timeout=timeout)

    def _gather(self, refs: Mapping[int, Any]) -> dict[int, Any]:
        """Each client's answer, None for one that died or timed out (it is then a drop-out
        for the rest of the round and later rounds)."""
        ray = self._ray
        out: dict[int, Any] = {}
        deadline = time.monotonic() + self.timeout
        for cid, ref in refs.items():
            try:
                out[cid] = ray.get(ref, timeout=max(0.0, deadline - time.monotonic()))
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                self.dead.add(cid)
                out[cid] = None
        return out

    def round(self, round_number: int,
              on_stage: Callable[[str], None] | None = None) -> RoundReport:
        """One secure round; afterwards every survivor holds the average. `on_stage(stage)` is
        called before each stage (tests kill a client there)."""
        t0 = time.perf_counter()
        params, w = round_params(self.n, self.layout, self.weights, threshold=self.threshold,
                                 quant=self.quant, curve=self.curve, round_number=round_number,
                                 graph=self.graph)
        server = SecAggServer(self._server_key, self.pki, params)
        report = RoundReport("secagg", self.n, self.layout.float_size,
                             transcript=server.transcript)
        report.graph, report.threshold = params.graph, params.threshold
        report.degree = params.degree or self.n - 1
        report.trust_root = "authority on the driver; client keys in their actors"
        live = {c: a for c, a in enumerate(self.actors) if c not in self.dead}
        self._gather({c: a.begin_round.remote(params, float(w[c])) for c, a in live.items()})

        def call_clients(stage: str, handler: str, msgs: Mapping[int, bytes]
                         ) -> dict[int, bytes | None]:
            if on_stage is not None:
                on_stage(stage)
            t = time.perf_counter()
            refs = {c: self.actors[c].handle.remote(handler, m) for c, m in msgs.items()
                    if c not in self.dead}
            replies = self._gather(refs)
            # The clients answer in parallel: the stage's wall time, transport included, is
            # what the slowest client cost the round.
            st = report.stages.setdefault(stage, StageTiming())
            st.clients_max_s = max(st.clients_max_s, time.perf_counter() - t)
            return replies

        aggregate = drive_round(server, report, self.n, call_clients)
        survivors = [c for c in server.sets["responded"] if c not in self.dead]
        self._gather({c: self.actors[c].finish.remote(aggregate) for c in survivors})
        report.survivors = server.survivors
        report.dropped = {s: [] for s in STAGES}
        report.dropped["actor_died"] = sorted(self.dead)
        report.clipped_total = server.clipped_total
        report.reported = server.sets.get("reported", [])
        report.seconds = time.perf_counter() - t0
        return report

    def params(self) -> list[Params | None]:
        """Each live client's model (its export, for checkpoints and tests); None if dead."""
        refs = {c: a.export_params.remote() for c, a in enumerate(self.actors)
                if c not in self.dead}
        got = self._gather(refs)
        return [got.get(c) for c in range(self.n)]

    def close(self) -> None:
        for a in self.actors:
            with contextlib.suppress(Exception):
                self._ray.kill(a, no_restart=True)
        self.actors = []
