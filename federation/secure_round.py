"""In-process driver of one secure-aggregation round: clients and server exchange bytes only.

    run_secure_round(updates, weights=None, *, threshold=None, dropouts=None, curve="x25519",
                     quant=None, round_number=0, identities=None, graph="auto", threat=None,
                     degree=None, graph_seed=None, keep_transcript=True)
        -> (average dict, RoundReport)

`dropouts` maps a stage to the clients that fall silent at it (they send nothing from that
stage on): "advertise" (never show up), "share_keys" (advertised, then gone: left out of the
round), "masked_input" (shared keys, then gone: their pairwise masks are recovered from shares),
"consistency" and "unmask" (their input is in the sum; their self-mask is recovered from the
others' shares).

Graph: "complete" (all-pairs, every client masks with every other; t-of-n), "harary" (SecAgg+:
k neighbours each, k and t from `threat` unless `degree` and `threshold` are both given), or
"auto": the Harary graph above `AUTO_HARARY_ABOVE` (200) clients unless the caller fixed a
t-of-n `threshold`, the complete graph otherwise. A complete-graph threshold defaults to the
threat model's (2t > n + n_C against a semi-malicious server).

Weights are relative (only ratios matter) and must be > 0; they are rescaled so the largest is
1 before encoding. Integer tensors are never sent: the result takes them from the first client
whose input is in the sum. On `ThresholdError` (or any `FederationError`) nothing the caller
passed in is modified.

Trust root: `identities` (from `make_identities(ids, authority)`) carry the PKI an enrolment
authority signed. Without them the driver enrols everyone itself - a simulation in which one
process holds every key, reported as such in `report.trust_root`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from federation.accounting import RoundReport
from federation.errors import AggregationError, ConfigError
from federation.fedavg import check_weights
from federation.graph import (
    AUTO_HARARY_ABOVE,
    COMPLETE,
    HARARY,
    SEMI_MALICIOUS,
    ThreatModel,
    harary_parameters,
)
from federation.layout import ParamLayout, Params, check_same_layout, flatten, unflatten
from federation.quantise import QuantConfig
from federation.secagg_client import SecAggClient
from federation.secagg_params import SecAggParams
from federation.secagg_server import SecAggServer
from federation.trust import Identities, make_identities

STAGES = ("advertise", "share_keys", "masked_input", "consistency", "unmask")


def _drop_stage_of(dropouts: Mapping[str, Sequence[int]] | None, n: int) -> dict[int, int]:
    """client -> index in STAGES of the first stage it misses."""
    out: dict[int, int] = {}
    for stage, ids in (dropouts or {}).items():
        if stage not in STAGES:
            raise ConfigError(f"unknown drop-out stage {stage!r}; stages are {STAGES}")
        for cid in ids:
            if not 0 <= cid < n:
                raise ConfigError(f"drop-out client {cid} is not among the {n} clients")
            if cid in out:
                raise ConfigError(f"client {cid} drops out twice")
            out[cid] = STAGES.index(stage)
    return out


def resolve_graph(n: int, threshold: int | None, graph: str = "auto",
                  threat: ThreatModel | None = None, degree: int | None = None
                  ) -> tuple[str, int, int]:
    """(graph kind, degree, threshold) for n clients (see the module docstring)."""
    threat = threat or ThreatModel()
    if graph == "auto":
        graph = HARARY if n > AUTO_HARARY_ABOVE and threshold is None else COMPLETE
    if graph == COMPLETE:
        if degree is not None:
            raise ConfigError("degree applies to the Harary graph only")
        return COMPLETE, n - 1, threshold if threshold is not None else \
            threat.complete_threshold(n)
    if graph != HARARY:
        raise ConfigError(f"graph must be 'auto', 'complete' or 'harary', got {graph!r}")
    if degree is None:
        k, t = harary_parameters(n, threat)
        if threshold is not None:
            raise ConfigError("on the Harary graph the threshold counts neighbours: give both "
                              "degree and threshold, or neither (then the threat model sets "
                              "them)")
        return HARARY, k, t
    if threshold is None:
        raise ConfigError("a Harary degree needs its threshold too")
    if threat.server == SEMI_MALICIOUS and 2 * threshold <= degree:
        raise ConfigError(f"against a semi-malicious server the Harary threshold must exceed "
                          f"k/2 (k = {degree}, t = {threshold}); pass a semi-honest threat "
                          f"model to accept less")
    return HARARY, degree, threshold


def round_params(n: int, layout: ParamLayout, weights: Sequence[float] | None, *,
                 threshold: int | None = None, quant: QuantConfig | None = None,
                 curve: str = "x25519", round_number: int = 0, graph: str = "auto",
                 threat: ThreatModel | None = None, degree: int | None = None,
                 graph_seed: bytes | None = None) -> tuple[SecAggParams, np.ndarray]:
    """The public parameters of a round of n clients over `layout`, and the clients' weights
    rescaled so the largest is 1 (checked > 0)."""
    w = check_weights(weights, n)
    if np.any(w <= 0):
        raise AggregationError("secure aggregation needs weights > 0: leave a client with "
                               "weight 0 out of the round instead")
    w = w / w.max()
    quant = quant or QuantConfig()
    kind, k, t = resolve_graph(n, threshold, graph, threat, degree)
    params = SecAggParams(round_number, layout.float_size, t, quant, curve, layout.digest(),
                          kind, k if kind == HARARY else 0, graph_seed or b"")
    params.validate_for(n)
    return params, w


ClientCall = Callable[[str, str, Mapping[int, bytes]], Mapping[int, "bytes | None"]]


def drive_round(server: SecAggServer, report: RoundReport, n: int,
                call_clients: ClientCall) -> bytes:
    """The stages of one round between `server` and n clients reached through `call_clients`
    (stage, handler name, {client: message}) -> {client: reply}: in this process
    (`run_secure_round`) or in other processes, e.g. Ray actors (fedmarl/engine/fed_actors.py).
    A client missing from the replies, or answering None, is silent at that stage (a drop-out
    the protocol recovers from). The server only ever relays and receives bytes. Returns the
    aggregate message, which the caller hands to the survivors (`receive_aggregate`)."""

    def deliver(msgs: Mapping[int, bytes]) -> None:
        for cid, msg in msgs.items():
            report.download(cid, msg)

    def collect(stage: str, handler: str, msgs: Mapping[int, bytes]) -> None:
        replies = call_clients(stage, handler, msgs)
        for cid in sorted(replies):
            reply = replies[cid]
            if reply is None:
                continue
            report.upload(cid, reply)
            report.timed_server(stage, server.receive, reply)

    start = report.timed_server("advertise", server.start)
    deliver({c: start for c in range(n)})
    collect("advertise", "advertise", {c: start for c in range(n)})
    key_lists = report.timed_server("share_keys", server.broadcast_keys)
    deliver(key_lists)
    collect("share_keys", "share_keys", key_lists)
    routing = report.timed_server("masked_input", server.route_shares)
    deliver(routing)
    collect("masked_input", "masked_input", routing)
    u3_msg = report.timed_server("consistency", server.request_consistency)
    asked = {c: u3_msg for c in server.survivors}
    deliver(asked)
    collect("consistency", "consistency", asked)
    requests = report.timed_server("unmask", server.request_unmasking)
    deliver(requests)
    collect("unmask", "unmask", requests)
    aggregate = report.timed_server("aggregate", server.aggregate)
    deliver({c: aggregate for c in server.sets["responded"]})
    return aggregate


def run_secure_round(updates: Sequence[Params], weights: Sequence[float] | None = None, *,
                     threshold: int | None = None,
                     dropouts: Mapping[str, Sequence[int]] | None = None,
                     curve: str = "x25519", quant: QuantConfig | None = None,
                     round_number: int = 0, identities: Identities | None = None,
                     graph: str = "auto", threat: ThreatModel | None = None,
                     degree: int | None = None, graph_seed: bytes | None = None,
                     keep_transcript: bool = True
                     ) -> tuple[dict[str, np.ndarray], RoundReport]:
    """Securely aggregated weighted FedAvg of `updates` (client i has id i)."""
    n = len(updates)
    layout = check_same_layout(updates)
    params, w = round_params(n, layout, weights, threshold=threshold, quant=quant, curve=curve,
                             round_number=round_number, graph=graph, threat=threat,
                             degree=degree, graph_seed=graph_seed)
    kind, k, t = params.graph, params.degree or n - 1, params.threshold
    drop_at = _drop_stage_of(dropouts, n)
    ids = identities or make_identities(range(n))
    if set(ids.pki.clients) != set(range(n)):
        raise ConfigError(f"the identities enrol clients {sorted(ids.pki.clients)[:8]}..., the "
                          f"round has clients 0..{n - 1}")
    t_start = time.perf_counter()

    def still_in(cid: int, stage: str) -> bool:
        return drop_at.get(cid, len(STAGES)) > STAGES.index(stage)

    server = SecAggServer(ids.server, ids.pki, params, keep_transcript=keep_transcript)
    report = RoundReport("secagg", n, layout.float_size, transcript=server.transcript)
    report.graph, report.degree, report.threshold = kind, k, t
    report.trust_root = ids.trust_root
    clients = {cid: report.timed_client("encode", SecAggClient, cid, ids.clients[cid], ids.pki,
                                        params, flatten(updates[cid], layout), float(w[cid]))
               for cid in range(n)}
    report.dropped = {s: sorted(c for c, i in drop_at.items() if i == j)
                      for j, s in enumerate(STAGES)}

    def call_clients(stage: str, handler: str, msgs: Mapping[int, bytes]
                     ) -> dict[int, bytes | None]:
        return {cid: report.timed_client(stage, getattr(clients[cid], handler), msgs[cid])
                for cid in sorted(msgs) if still_in(cid, stage)}

    aggregate = drive_round(server, report, n, call_clients)
    for cid in server.sets["responded"]:
        report.timed_client("aggregate", clients[cid].receive_aggregate, aggregate)

    report.survivors = server.survivors
    report.clipped_total = server.clipped_total
    report.clipped_per_client = {c: clients[c].clipped for c in server.survivors}
    report.reported = server.sets.get("reported", [])
    average = unflatten(np.asarray(server.average), layout,
                        passthrough=updates[server.survivors[0]])
    report.seconds = time.perf_counter() - t_start
    return average, report
