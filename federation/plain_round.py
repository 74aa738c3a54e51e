"""Plain FedAvg as a byte exchange: the baseline the secure protocol's cost is measured against.

Client -> server: header (`wire`, context = layout digest) | weight f64 | every tensor's raw
little-endian bytes in layout order (4 bytes a float32 parameter). Server -> client: header |
the averaged tensors, same encoding. About 2 x 4d bytes per client and round, no cryptography
(transport security such as TLS is left out, as it is for the secure protocol's figures).
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence

import numpy as np

from federation.accounting import RoundReport
from federation.errors import AggregationError, ProtocolError
from federation.fedavg import check_finite, check_weights, fedavg
from federation.layout import ParamLayout, Params, check_same_layout
from federation.wire import CONTEXT_LEN, HEADER_LEN, SERVER_ID, MsgType, pack_header, unpack_header


def _tensor_bytes(params: Params, layout: ParamLayout) -> bytes:
    return b"".join(np.ascontiguousarray(params[t.name], dtype=t.dtype.newbyteorder("<"))
                    .tobytes() for t in layout.tensors)


def _tensors_from(data: memoryview, layout: ParamLayout) -> dict[str, np.ndarray]:
    if len(data) != layout.nbytes:
        raise ProtocolError(f"tensor payload of {len(data)} bytes, layout needs {layout.nbytes}")
    out, pos = {}, 0
    for t in layout.tensors:
        n = t.size * t.dtype.itemsize
        le = t.dtype.newbyteorder("<")
        out[t.name] = np.frombuffer(data[pos:pos + n], dtype=le).astype(t.dtype).reshape(t.shape)
        pos += n
    return out


def encode_update(params: Params, layout: ParamLayout, round_number: int, sender: int,
                  weight: float) -> bytes:
    header = pack_header(MsgType.PLAIN_UPDATE, round_number, sender,
                         layout.digest()[:CONTEXT_LEN])
    return header + struct.pack("<d", weight) + _tensor_bytes(params, layout)


def decode_update(msg: bytes, layout: ParamLayout, round_number: int
                  ) -> tuple[int, float, dict[str, np.ndarray]]:
    header = unpack_header(msg)
    if header.type != MsgType.PLAIN_UPDATE or header.round != round_number:
        raise ProtocolError("not a plain update of this round")
    if header.context != layout.digest()[:CONTEXT_LEN]:
        raise ProtocolError("plain update for another tensor layout")
    view = memoryview(msg)
    if len(view) < HEADER_LEN + 8:
        raise ProtocolError("plain update truncated")
    (weight,) = struct.unpack_from("<d", view, HEADER_LEN)
    return header.sender, weight, _tensors_from(view[HEADER_LEN + 8:], layout)


def encode_average(average: Params, layout: ParamLayout, round_number: int) -> bytes:
    header = pack_header(MsgType.PLAIN_AVERAGE, round_number, SERVER_ID,
                         layout.digest()[:CONTEXT_LEN])
    return header + _tensor_bytes(average, layout)


def decode_average(msg: bytes, layout: ParamLayout, round_number: int) -> dict[str, np.ndarray]:
    header = unpack_header(msg)
    if header.type != MsgType.PLAIN_AVERAGE or header.round != round_number:
        raise ProtocolError("not a plain average of this round")
    return _tensors_from(memoryview(msg)[HEADER_LEN:], layout)


def plain_fedavg_round(updates: Sequence[Params], weights: Sequence[float] | None = None, *,
                       round_number: int = 0) -> tuple[dict[str, np.ndarray], RoundReport]:
    """FedAvg through serialised messages; returns (average, accounting)."""
    t_start = time.perf_counter()
    layout = check_same_layout(updates)
    w = check_weights(weights, len(updates))
    report = RoundReport("plain", len(updates), layout.float_size,
                         survivors=list(range(len(updates))))
    for i, params in enumerate(updates):
        check_finite(params, layout, f"update {i}")
    uploads = [report.timed_client("upload", encode_update, p, layout, round_number, i,
                                   float(w[i])) for i, p in enumerate(updates)]
    received: list[dict[str, np.ndarray]] = []
    weights_in: list[float] = []
    for i, msg in enumerate(uploads):
        report.upload(i, msg)
        report.transcript.append(msg)
        sender, wi, params = report.timed_server("upload", decode_update, msg, layout,
                                                 round_number)
        if sender != i:
            raise ProtocolError(f"update {i} claims to come from client {sender}")
        received.append(params)
        weights_in.append(wi)
    average = report.timed_server("aggregate", fedavg, received, weights_in)
    reply = report.timed_server("aggregate", encode_average, average, layout, round_number)
    for i in range(len(updates)):
        report.download(i, reply)
        decoded = report.timed_client("download", decode_average, reply, layout, round_number)
    if not all(np.array_equal(decoded[k], average[k]) for k in average):
        raise AggregationError("the decoded average differs from the server's")
    report.seconds = time.perf_counter() - t_start
    return average, report
