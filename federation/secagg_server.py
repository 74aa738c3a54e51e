"""The secure-aggregation server (Bonawitz et al., CCS 2017, Sec. 4), speaking only in `bytes`.

`receive(msg)` takes any client message of the current stage; the stage-closing methods decide
who is still in and return what to send next:

    broadcast_keys() -> KEY_LIST (to every advertiser, U1)
    route_shares() -> {client: SHARE_ROUTING} (to every client that shared keys, U2)
    request_unmasking() -> UNMASK_REQUEST (to every client that sent its masked input, U3)
    aggregate() -> AGGREGATE (to every client that answered, U4); result in `.average`

Clients that stay silent in a stage are out from then on: before sharing keys they are simply
left out; after sharing keys their pairwise masks are removed with their reconstructed mask
key; after sending their masked input their self-mask is removed as for everyone else. Fewer
than t clients at any stage raise `ThresholdError`. Every received message is appended to
`transcript` before it is checked, so the whole of what the server saw can be inspected.
"""

from __future__ import annotations

from collections.abc import Container
from enum import Enum

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation.errors import ProtocolError, ThresholdError
from federation.mask_prg import MaskStream
from federation.masks import adds_pairwise_mask, pairwise_mask_key, self_mask_key
from federation.quantise import average_from_sum
from federation.secagg_messages import (
    MASK_KEY_SHARE,
    SELF_MASK_SHARE,
    Advertisement,
    commit_self_mask_seed,
    encode_key_list,
    encode_share_routing,
    encode_unmask_request,
    encode_vector,
    parse_advertise,
    parse_shares,
    parse_unmask_response,
    parse_vector,
    session_id,
)
from federation.secagg_params import Pki, SecAggParams
from federation.shamir import combine, lagrange_at_zero, secret_bytes, x_of
from federation.wire import CONTEXT_LEN, SERVER_ID, MsgType, unpack_header


class _Stage(Enum):
    ADVERTISE = "advertise"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    UNMASK = "unmask"
    DONE = "done"
    FAILED = "failed"


_ACCEPTS = {
    _Stage.ADVERTISE: MsgType.ADVERTISE,
    _Stage.SHARE_KEYS: MsgType.SHARES,
    _Stage.MASKED_INPUT: MsgType.MASKED_INPUT,
    _Stage.UNMASK: MsgType.UNMASK_RESPONSE,
}


class SecAggServer:
    """The aggregator of one round. It never sees an unmasked individual input."""

    def __init__(self, identity: Ed25519PrivateKey, pki: Pki, params: SecAggParams) -> None:
        params.validate_for(len(pki.clients))
        self._identity = identity
        self._pki = pki
        self._params = params
        self._curve = params.curve_impl
        self._stage = _Stage.ADVERTISE
        self.transcript: list[bytes] = []
        self._ads: dict[int, Advertisement] = {}
        self._session = b""
        self._sealed: dict[int, dict[int, bytes]] = {}
        self._sum = np.zeros(params.vector_len, dtype=params.quant.dtype)
        self._u3: list[int] = []
        self._masked_from: set[int] = set()
        self._dropped: list[int] = []
        self._responses: dict[int, dict[int, tuple[int, int]]] = {}
        self.average: np.ndarray | None = None
        self.total_weight: float | None = None
        # Who was still in after each stage (advertised, shared_keys, masked_input, ...).
        self.sets: dict[str, list[int]] = {}

    @property
    def stage(self) -> str:
        return self._stage.value

    @property
    def _context(self) -> bytes:
        return self._session[:CONTEXT_LEN]

    # --- incoming --------------------------------------------------------------------------

    def receive(self, msg: bytes) -> None:
        """Check and store one client message; `ProtocolError` leaves the state unchanged."""
        self.transcript.append(bytes(msg))
        header = unpack_header(msg)
        expected = _ACCEPTS.get(self._stage)
        if header.type != expected:
            now = expected.name if expected else f"nothing ({self._stage.value})"
            raise ProtocolError(f"{header.type.name} message refused: the server now accepts "
                                f"{now} (stale, premature or misdirected)")
        handler = {
            MsgType.ADVERTISE: self._on_advertise,
            MsgType.SHARES: self._on_shares,
            MsgType.MASKED_INPUT: self._on_masked_input,
            MsgType.UNMASK_RESPONSE: self._on_unmask_response,
        }[header.type]
        handler(msg)

    def _on_advertise(self, msg: bytes) -> None:
        ad = parse_advertise(msg, self._params, self._pki)
        if ad.sender in self._ads:
            raise ProtocolError(f"duplicate advertisement from client {ad.sender}")
        for key in (ad.c_key, ad.s_key):
            self._curve.check_public(key)
        self._ads[ad.sender] = ad

    def _on_shares(self, msg: bytes) -> None:
        sender, sealed = parse_shares(msg, self._params, self._pki, self._context)
        self._check_member(sender, self._ads, self._sealed, "shares")
        expected = set(self._ads) - {sender}
        if set(sealed) != expected:
            raise ProtocolError(f"client {sender} must send shares to exactly the other "
                                f"{len(expected)} advertised clients")
        self._sealed[sender] = sealed

    def _on_masked_input(self, msg: bytes) -> None:
        sender, words = parse_vector(msg, MsgType.MASKED_INPUT, self._params, self._pki,
                                     self._context)
        self._check_member(sender, self._sealed, self._masked_from, "masked input")
        np.add(self._sum, words, out=self._sum)  # checked above: right length, right range
        self._masked_from.add(sender)

    def _on_unmask_response(self, msg: bytes) -> None:
        sender, shares = parse_unmask_response(msg, self._params, self._pki, self._context)
        self._check_member(sender, self._u3, self._responses, "unmask response")
        wanted = {v: SELF_MASK_SHARE for v in self._u3} | {v: MASK_KEY_SHARE
                                                          for v in self._dropped}
        if {v: kind for v, (kind, _) in shares.items()} != wanted:
            raise ProtocolError(f"client {sender} did not answer the unmask request as asked")
        self._responses[sender] = shares

    @staticmethod
    def _check_member(sender: int, eligible: Container[int], already: Container[int],
                      what: str) -> None:
        if sender not in eligible:
            raise ProtocolError(f"{what} from client {sender}, which is not in this stage")
        if sender in already:
            raise ProtocolError(f"duplicate {what} from client {sender} (replay?)")

    # --- stage transitions -----------------------------------------------------------------

    def _close(self, stage: _Stage, present: int, what: str) -> None:
        if self._stage is not stage:
            raise ProtocolError(f"cannot close stage {stage.value!r}: the server is at "
                                f"{self._stage.value!r}")
        if present < self._params.threshold:
            self._stage = _Stage.FAILED
            raise ThresholdError(f"only {present} clients {what}, threshold "
                                 f"{self._params.threshold}: round refused")

    def broadcast_keys(self) -> bytes:
        self._close(_Stage.ADVERTISE, len(self._ads), "advertised keys")
        ads = [self._ads[c] for c in sorted(self._ads)]
        self._session = session_id(self._params, ads)
        self.sets["advertised"] = sorted(self._ads)
        self._stage = _Stage.SHARE_KEYS
        return encode_key_list(self._identity, self._params, ads)

    def route_shares(self) -> dict[int, bytes]:
        self._close(_Stage.SHARE_KEYS, len(self._sealed), "shared keys")
        u2 = sorted(self._sealed)
        out = {v: encode_share_routing(self._identity, self._params, self._context, v,
                                       {u: self._sealed[u][v] for u in u2 if u != v})
               for v in u2}
        self.sets["shared_keys"] = u2
        self._stage = _Stage.MASKED_INPUT
        return out

    def request_unmasking(self) -> bytes:
        self._close(_Stage.MASKED_INPUT, len(self._masked_from), "sent masked input")
        self._u3 = sorted(self._masked_from)
        self._dropped = sorted(set(self._sealed) - self._masked_from)
        self.sets["masked_input"] = self._u3
        self.sets["dropped_after_sharing"] = self._dropped
        self._stage = _Stage.UNMASK
        return encode_unmask_request(self._identity, self._params, self._context, self._u3,
                                     self._dropped)

    def aggregate(self) -> bytes:
        """Reconstruct the needed secrets, strip every mask, and return the AGGREGATE message."""
        self._close(_Stage.UNMASK, len(self._responses), "answered the unmask request")
        params = self._params
        responders = sorted(self._responses)[:params.threshold]
        coeffs = lagrange_at_zero([x_of(r) for r in responders])
        stream = MaskStream(params.vector_len, params.quant.dtype)
        layout = params.layout_digest
        total = self._sum.copy()
        for v in self._u3:
            b_seed = self._reconstruct(coeffs, responders, v)
            commit = commit_self_mask_seed(params, v, secret_bytes(b_seed))
            if commit != self._ads[v].b_commit:
                raise ProtocolError(f"reconstructed self-mask seed of client {v} does not "
                                    f"match its commitment: a share is corrupted")
            stream.subtract(total, self_mask_key(b_seed, self._session, v, layout))
        for v in self._dropped:
            s_sk = self._curve.from_seed(secret_bytes(self._reconstruct(coeffs, responders, v)))
            if self._curve.public_bytes(s_sk) != self._ads[v].s_pk:
                raise ProtocolError(f"reconstructed mask key of client {v} does not match its "
                                    f"advertised key: a share is corrupted")
            for u in self._u3:
                agreed = self._curve.exchange(s_sk, self._ads[u].s_key)
                key = pairwise_mask_key(agreed, self._session, u, v, layout)
                # Undo what survivor u did with its mask shared with v.
                if adds_pairwise_mask(u, v):
                    stream.subtract(total, key)
                else:
                    stream.add(total, key)
        if params.quant.mod_bits not in (32, 64):
            total &= params.quant.dtype.type(params.quant.mask)
        self.average, self.total_weight = average_from_sum(total, params.quant)
        self.sets["responded"] = sorted(self._responses)
        self._stage = _Stage.DONE
        return encode_vector(self._identity, MsgType.AGGREGATE, params, SERVER_ID,
                             self._context, total)

    def _reconstruct(self, coeffs: list[int], responders: list[int], v: int) -> int:
        return combine(coeffs, [self._responses[r][v][1] for r in responders])

    @property
    def survivors(self) -> list[int]:
        """Clients whose inputs are in the sum (U3)."""
        return list(self._u3)
