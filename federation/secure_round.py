"""In-process driver of one secure-aggregation round: clients and server exchange bytes only.

    run_secure_round(updates, weights=None, *, threshold, dropouts=None, curve="x25519",
                     quant=None, round_number=0, identities=None)
        -> (average dict, RoundReport)

`dropouts` maps a stage to the clients that fall silent at it (they send nothing from that
stage on): "advertise" (never show up), "share_keys" (advertised, then gone: left out of the
round), "masked_input" (shared keys, then gone: their pairwise masks are recovered from shares),
"unmask" (their input is in the sum; their self-mask is recovered from the others' shares).

Weights are relative (only ratios matter) and must be > 0; they are rescaled so the largest is
1 before encoding. Integer tensors are never sent: the result takes them from the first client
whose input is in the sum. On `ThresholdError` (or any `FederationError`) nothing the caller
passed in is modified.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from federation.accounting import RoundReport
from federation.errors import AggregationError, ConfigError
from federation.fedavg import check_weights
from federation.layout import Params, check_same_layout, flatten, unflatten
from federation.quantise import QuantConfig
from federation.secagg_client import SecAggClient
from federation.secagg_params import Identities, SecAggParams, make_identities
from federation.secagg_server import SecAggServer

STAGES = ("advertise", "share_keys", "masked_input", "unmask")


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


def run_secure_round(updates: Sequence[Params], weights: Sequence[float] | None = None, *,
                     threshold: int, dropouts: Mapping[str, Sequence[int]] | None = None,
                     curve: str = "x25519", quant: QuantConfig | None = None,
                     round_number: int = 0, identities: Identities | None = None
                     ) -> tuple[dict[str, np.ndarray], RoundReport]:
    """Securely aggregated weighted FedAvg of `updates` (client i has id i)."""
    n = len(updates)
    layout = check_same_layout(updates)
    w = check_weights(weights, n)
    if np.any(w <= 0):
        raise AggregationError("secure aggregation needs weights > 0: leave a client with "
                               "weight 0 out of the round instead")
    w = w / w.max()
    quant = quant or QuantConfig()
    params = SecAggParams(round_number, layout.float_size, threshold, quant, curve,
                          layout.digest())
    params.validate_for(n)
    drop_at = _drop_stage_of(dropouts, n)
    ids = identities or make_identities(range(n))  # the PKI exists before any round
    t_start = time.perf_counter()

    def still_in(cid: int, stage: str) -> bool:
        return drop_at.get(cid, len(STAGES)) > STAGES.index(stage)

    server = SecAggServer(ids.server, ids.pki, params)
    report = RoundReport("secagg", n, layout.float_size, transcript=server.transcript)
    clients = {cid: report.timed_client("encode", SecAggClient, cid, ids.clients[cid], ids.pki,
                                        params, flatten(updates[cid], layout), float(w[cid]))
               for cid in range(n)}
    report.dropped = {s: sorted(c for c, i in drop_at.items() if i == k)
                      for k, s in enumerate(STAGES)}

    def collect(stage: str, senders: Sequence[int], handler: str, msgs: Mapping[int, bytes]
                ) -> None:
        for cid in senders:
            if not still_in(cid, stage):
                continue
            incoming = msgs.get(cid)
            args = () if incoming is None else (incoming,)
            reply = report.timed_client(stage, getattr(clients[cid], handler), *args)
            report.upload(cid, reply)
            report.timed_server(stage, server.receive, reply)

    def deliver(msgs: Mapping[int, bytes]) -> None:
        for cid, msg in msgs.items():
            report.download(cid, msg)

    collect("advertise", range(n), "advertise", {})
    key_list = report.timed_server("advertise", server.broadcast_keys)
    deliver({c: key_list for c in server.sets["advertised"]})

    collect("share_keys", server.sets["advertised"], "share_keys",
            {c: key_list for c in server.sets["advertised"]})
    routing = report.timed_server("share_keys", server.route_shares)
    deliver(routing)

    collect("masked_input", sorted(routing), "masked_input", routing)
    request = report.timed_server("masked_input", server.request_unmasking)
    asked = {c: request for c in server.survivors}
    deliver(asked)

    collect("unmask", sorted(asked), "unmask", asked)
    aggregate = report.timed_server("unmask", server.aggregate)
    final = {c: aggregate for c in server.sets["responded"]}
    deliver(final)
    for cid in final:
        report.timed_client("aggregate", clients[cid].receive_aggregate, aggregate)

    report.survivors = server.survivors
    average = unflatten(np.asarray(server.average), layout, passthrough=updates[server.survivors[0]])
    report.seconds = time.perf_counter() - t_start
    return average, report
