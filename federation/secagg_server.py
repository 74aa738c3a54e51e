"""The secure-aggregation server (Bonawitz et al., CCS 2017, with ConsistencyCheck; Bell et al.,
CCS 2020, on a k-regular graph), speaking only in `bytes`.

`receive(msg)` takes any client message of the current stage; the stage-closing methods decide
who is still in and return what to send next:

    start() -> ROUND_START (to every enrolled client; carries the fresh challenge and the
        round key of the client-server channels, channel.py)
    broadcast_keys() -> {client: KEY_LIST} (its neighbours' advertisements, to each of U1)
    route_shares() -> {client: SHARE_ROUTING} (to every client that shared keys, U2)
    request_consistency() -> CONSISTENCY_LIST (the survivor list U3, to every client of U3)
    request_unmasking() -> {client: UNMASK_REQUEST} (the signatures it needs, to each of U4)
    aggregate() -> AGGREGATE (to every client that answered, U5); result in `.average`

Clients that stay silent in a stage are out from then on: before sharing keys they are simply
left out; after sharing keys their pairwise masks are removed with their reconstructed mask
key; after sending their masked input their self-mask is removed as for everyone else. A client
that a neighbour reports for bad shares is dropped the same way (its input is not summed).
Fewer than t clients at any stage raise `ThresholdError`.

`receive` checks a message's type and length against the stage before copying anything; only
accepted messages go into `transcript` (when kept), rejections are counted in `rejected` and
the last few reasons kept in `rejections`.
"""

from __future__ import annotations

import os
from collections import deque
from enum import Enum

import numpy as np

from federation.channel import ChannelKey
from federation.errors import ProtocolError, ThresholdError
from federation.mask_prg import MaskStream
from federation.masks import adds_pairwise_mask, pairwise_mask_key, self_mask_key
from federation.quantise import check_plausible, decode_sum
from federation.secagg_messages import (
    CHALLENGE_LEN,
    CONSISTENCY_SIG_TAGGED_LEN,
    MASK_KEY_SHARE,
    SELF_MASK_SHARE,
    Advertisement,
    advertise_len,
    commit_self_mask_seed,
    encode_aggregate,
    encode_consistency_list,
    encode_key_list,
    encode_round_start,
    encode_share_routing,
    encode_unmask_request,
    masked_input_max_len,
    parse_advertise,
    parse_consistency_sig,
    parse_masked_input,
    parse_shares,
    parse_unmask_response,
    session_id,
    shares_max_len,
    u3_digest,
    unmask_response_max_len,
)
from federation.secagg_params import Pki, SecAggParams
from federation.shamir import reconstruct_verified, secret_bytes, x_of
from federation.signing import SigningKey
from federation.wire import CONTEXT_LEN, HEADER_LEN, MsgType, unpack_header

MAX_REJECTIONS_KEPT = 32


class _Stage(Enum):
    START = "start"
    ADVERTISE = "advertise"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    CONSISTENCY = "consistency"
    UNMASK = "unmask"
    DONE = "done"
    FAILED = "failed"


_ACCEPTS = {
    _Stage.ADVERTISE: MsgType.ADVERTISE,
    _Stage.SHARE_KEYS: MsgType.SHARES,
    _Stage.MASKED_INPUT: MsgType.MASKED_INPUT,
    _Stage.CONSISTENCY: MsgType.CONSISTENCY_SIG,
    _Stage.UNMASK: MsgType.UNMASK_RESPONSE,
}


class SecAggServer:
    """The aggregator of one round. It never sees an unmasked individual input."""

    def __init__(self, identity: SigningKey, pki: Pki, params: SecAggParams,
                 keep_transcript: bool = True) -> None:
        pki.require_trust_root()
        params.validate_for(len(pki.clients))
        self._identity = identity
        self._pki = pki
        self._params = params
        self._curve = params.curve_impl
        self._stage = _Stage.START
        self._challenge = os.urandom(CHALLENGE_LEN)
        # The round key of the client-server channels (channel.py): fresh, never reused.
        self._e_sk = self._curve.generate()
        self._e_pk = self._curve.public_bytes(self._e_sk)
        self._session = session_id(params, self._challenge + self._e_pk, pki.roster_digest)
        self.graph = params.make_graph(pki.clients, self._session)
        self.keep_transcript = keep_transcript
        self.transcript: list[bytes] = []
        self.rejected = 0
        self.rejections: deque[str] = deque(maxlen=MAX_REJECTIONS_KEPT)
        self._ads: dict[int, Advertisement] = {}
        self._channels: dict[int, ChannelKey] = {}
        self._sealed: dict[int, dict[int, bytes]] = {}
        self._vectors: dict[int, np.ndarray] = {}
        self._masked_peers: dict[int, frozenset[int]] = {}
        self._u3: list[int] = []
        self._signatures: dict[int, bytes] = {}
        self._responses: dict[int, dict[int, tuple[int, int]]] = {}
        self._expected: dict[int, dict[int, int]] = {}
        self.average: np.ndarray | None = None
        self.total_weight: float | None = None
        self.clipped_total: int | None = None
        self.liars: set[int] = set()  # responders caught sending a wrong share
        # Who was still in after each stage (advertised, shared_keys, masked_input, ...).
        self.sets: dict[str, list[int]] = {}
        degree = self.graph.degree
        self._max_len = {
            MsgType.ADVERTISE: advertise_len(params),
            MsgType.SHARES: shares_max_len(degree),
            MsgType.MASKED_INPUT: masked_input_max_len(params, degree),
            MsgType.CONSISTENCY_SIG: CONSISTENCY_SIG_TAGGED_LEN,
            MsgType.UNMASK_RESPONSE: unmask_response_max_len(degree + 1),
        }

        self._handlers = {
            MsgType.ADVERTISE: self._on_advertise,
            MsgType.SHARES: self._on_shares,
            MsgType.MASKED_INPUT: self._on_masked_input,
            MsgType.CONSISTENCY_SIG: self._on_consistency_sig,
            MsgType.UNMASK_RESPONSE: self._on_unmask_response,
        }

    @property
    def stage(self) -> str:
        return self._stage.value

    @property
    def _context(self) -> bytes:
        return self._session[:CONTEXT_LEN]

    @property
    def session(self) -> bytes:
        return self._session

    # --- incoming --------------------------------------------------------------------------

    def receive(self, msg: bytes) -> None:
        """Check and store one client message; `ProtocolError` leaves the state unchanged."""
        try:
            self._receive(msg)
        except ProtocolError as exc:
            self.rejected += 1
            self.rejections.append(str(exc)[:200])
            raise

    def _receive(self, msg: bytes) -> None:
        # Type and size first: nothing is copied or hashed before this.
        if not isinstance(msg, (bytes, bytearray)):
            raise ProtocolError(f"a message must be bytes, got {type(msg).__name__}")
        expected = _ACCEPTS.get(self._stage)
        if expected is None:
            raise ProtocolError(f"no client message is accepted now ({self._stage.value})")
        if not HEADER_LEN <= len(msg) <= self._max_len[expected]:
            raise ProtocolError(f"{len(msg)}-byte message refused: a {expected.name} holds at "
                                f"most {self._max_len[expected]} bytes")
        header = unpack_header(msg)
        if header.type != expected:
            raise ProtocolError(f"{header.type.name} message refused: the server now accepts "
                                f"{expected.name} (stale, premature or misdirected)")
        msg = bytes(msg)
        self._handlers[header.type](msg)
        if self.keep_transcript:
            self.transcript.append(msg)

    def _on_advertise(self, msg: bytes) -> None:
        ad = parse_advertise(msg, self._params, self._pki, self._context)
        if ad.sender in self._ads:
            raise ProtocolError(f"duplicate advertisement from client {ad.sender}")
        # The channel's key agreement refuses a small-order c key. A small-order s key is left
        # to the neighbours, whose mask agreement with it fails: each leaves the sender out of
        # its peers and the sender is dropped as reported (one exchange per client saved here).
        channel = ChannelKey.derive(self._curve.exchange(self._e_sk, ad.c_key), self._session,
                                    ad.sender)
        self._channels[ad.sender] = channel
        self._ads[ad.sender] = ad

    def _on_shares(self, msg: bytes) -> None:
        sender, sealed = parse_shares(msg, self._params, self._pki, self._context,
                                      self._channels)
        self._check_member(sender, self._ads, self._sealed, "shares")
        expected = (self.graph.holders(sender) & self._ads.keys()) - {sender}
        if sealed.keys() != expected:
            raise ProtocolError(f"client {sender} must send shares to exactly its "
                                f"{len(expected)} advertised share holders")
        self._sealed[sender] = sealed

    def _on_masked_input(self, msg: bytes) -> None:
        sender, words, peers = parse_masked_input(msg, self._params, self._context,
                                                  self.graph.degree, self._channels)
        self._check_member(sender, self._sealed, self._vectors, "masked input")
        bad = sorted(set(peers) - (self.graph.neighbours(sender) & self._sealed.keys()))
        if bad:
            raise ProtocolError(f"client {sender} claims to have masked with {bad}, "
                                f"which did not share keys with it")
        # Kept until U3 is fixed: a later report may drop this sender after all. A read-only
        # view of the (immutable) message, not a copy.
        self._vectors[sender] = words
        self._masked_peers[sender] = frozenset(peers)

    def _on_consistency_sig(self, msg: bytes) -> None:
        # The tag, not the signature: the peers verify that (secagg_messages docstring).
        sender, digest, signed = parse_consistency_sig(msg, self._params, self._context,
                                                       self._channels)
        self._check_member(sender, self._u3, self._signatures, "consistency signature")
        if digest != self._digest:
            raise ProtocolError(f"client {sender} signed another survivor list")
        self._signatures[sender] = signed

    def _on_unmask_response(self, msg: bytes) -> None:
        sender, shares = parse_unmask_response(msg, self._params, self._pki, self._context,
                                               self._channels)
        self._check_member(sender, self._signatures, self._responses, "unmask response")
        if {v: kind for v, (kind, _) in shares.items()} != self._expected[sender]:
            raise ProtocolError(f"client {sender} did not answer the unmask request as asked")
        self._responses[sender] = shares

    @staticmethod
    def _check_member(sender: int, eligible, already, what: str) -> None:
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

    def start(self) -> bytes:
        if self._stage is not _Stage.START:
            raise ProtocolError("the round has already started")
        self._stage = _Stage.ADVERTISE
        return encode_round_start(self._identity, self._params, self._challenge, self._e_pk)

    def broadcast_keys(self) -> dict[int, bytes]:
        self._close(_Stage.ADVERTISE, len(self._ads), "advertised keys")
        u1 = sorted(self._ads)
        self.sets["advertised"] = u1
        if self.graph.kind == "complete":
            shared = [self._ads[c] for c in u1]
            out = {c: encode_key_list(self._channels[c], self._params, self._context, c, shared)
                   for c in u1}
        else:
            present = set(u1)
            out = {c: encode_key_list(self._channels[c], self._params, self._context, c,
                                      [self._ads[v] for v in
                                       sorted((self.graph.neighbours(c) & present) | {c})])
                   for c in u1}
        self._stage = _Stage.SHARE_KEYS
        return out

    def route_shares(self) -> dict[int, bytes]:
        self._close(_Stage.SHARE_KEYS, len(self._sealed), "shared keys")
        u2 = sorted(self._sealed)
        sealed = self._sealed
        out = {v: encode_share_routing(
            self._channels[v], self._params, self._context, v,
            {u: sealed[u][v] for u in (self.graph.holds_shares_of(v) & sealed.keys()) - {v}
             if v in sealed[u]}) for v in u2}
        self.sets["shared_keys"] = u2
        self._stage = _Stage.MASKED_INPUT
        return out

    def request_consistency(self) -> bytes:
        """Fix U3: senders of masked input that no neighbour left out (a client reported for
        bad shares is dropped, its input not summed); send it to be signed."""
        if self._stage is not _Stage.MASKED_INPUT:
            raise ProtocolError(f"cannot close stage 'masked_input' at {self._stage.value!r}")
        shared = set(self._sealed)
        reported = {u for w, peers in self._masked_peers.items()
                    for u in (self.graph.neighbours(w) & shared) - set(peers)}
        self._u3 = sorted(set(self._vectors) - reported)
        self.sets["masked_input"] = sorted(self._vectors)
        self.sets["reported"] = sorted(reported & set(self._vectors))
        self._close(_Stage.MASKED_INPUT, len(self._u3), "sent masked input")
        for u in set(self._vectors) - set(self._u3):
            del self._vectors[u], self._masked_peers[u]
        self._digest = u3_digest(self._session, self._u3)
        self._stage = _Stage.CONSISTENCY
        return encode_consistency_list(self._identity, self._params, self._context, self._u3)

    def request_unmasking(self) -> dict[int, bytes]:
        """To each signer: the signatures of the share holders of every client it answers for."""
        self._close(_Stage.CONSISTENCY, len(self._signatures), "signed the survivor list")
        u4 = sorted(self._signatures)
        self.sets["consistency"] = u4
        s3 = set(self._u3)
        out: dict[int, bytes] = {}
        everyone = [self._signatures[s] for s in u4]
        signed = set(u4)
        for w in u4:
            held = self.graph.holds_shares_of(w) & (self._masked_peers[w] | {w})
            self._expected[w] = (dict.fromkeys(held & s3, SELF_MASK_SHARE)
                                 | dict.fromkeys(held - s3, MASK_KEY_SHARE))
            if self.graph.kind == "complete":
                sigs = everyone
            else:
                # Every holder of every client w answers for is within two hops of w (a few
                # more signatures than needed where a neighbour left before sharing keys).
                sigs = [self._signatures[s]
                        for s in sorted(self.graph.within_two_hops(w) & signed)]
            out[w] = encode_unmask_request(self._channels[w], self._params, self._context, w,
                                           sigs)
        self._stage = _Stage.UNMASK
        return out

    def aggregate(self) -> bytes:
        """Reconstruct the needed secrets, strip every mask, check, return the AGGREGATE."""
        self._close(_Stage.UNMASK, len(self._responses), "answered the unmask request")
        params = self._params
        stream = MaskStream(params.vector_len, params.quant.dtype)
        layout = params.layout_digest
        total = np.zeros(params.vector_len, dtype=params.quant.dtype)
        for v in self._u3:
            np.add(total, self._vectors[v], out=total)
        for v in self._u3:
            b_seed = self._rebuild(v, SELF_MASK_SHARE, lambda s, v=v: commit_self_mask_seed(
                self._session, v, secret_bytes(s)) == self._ads[v].b_commit)
            stream.subtract(total, self_mask_key(b_seed, self._session, v, layout))
        s3 = set(self._u3)
        dropped = sorted(set().union(*(self._masked_peers[v] for v in self._u3)) - s3)
        for v in dropped:
            m_seed = self._rebuild(v, MASK_KEY_SHARE, lambda s, v=v: self._curve.public_bytes(
                self._curve.from_seed(secret_bytes(s))) == self._ads[v].s_pk)
            s_sk = self._curve.from_seed(secret_bytes(m_seed))
            # Only v's neighbours can have masked with it.
            for u in sorted(self.graph.neighbours(v) & s3):
                if v not in self._masked_peers[u]:
                    continue
                agreed = self._curve.exchange(s_sk, self._ads[u].s_key)
                key = pairwise_mask_key(agreed, self._session, u, v, layout)
                # Undo what survivor u did with its mask shared with v.
                if adds_pairwise_mask(u, v):
                    stream.subtract(total, key)
                else:
                    stream.add(total, key)
        if params.quant.mod_bits not in (32, 64):
            total &= params.quant.dtype.type(params.quant.mask)
        dec = decode_sum(total, params.quant)
        check_plausible(dec, params.quant, len(self._u3), params.n_params)
        self.average, self.total_weight, self.clipped_total = (dec.average, dec.total_weight,
                                                               dec.clipped)
        self.sets["responded"] = sorted(self._responses)
        self.sets["dropped_after_sharing"] = dropped
        self._vectors.clear()
        self._stage = _Stage.DONE
        return encode_aggregate(self._identity, params, self._context, total)

    def _rebuild(self, v: int, kind: int, is_right) -> int:
        """v's secret from any t good shares among the responders holding one; responders
        caught with a wrong share are remembered in `liars` and tried last."""
        # Only v's share holders can hold a share of v: O(k) on the Harary graph, not O(N).
        responses, liars = self._responses, self.liars
        holders = sorted(self.graph.holders(v) & responses.keys(),
                         key=(lambda r: (r in liars, r)) if liars else None)
        points = []
        for r in holders:
            entry = responses[r].get(v)
            if entry is not None and entry[0] == kind:
                points.append((x_of(r), entry[1]))
        found = reconstruct_verified(points, self._params.threshold, is_right)
        if found is None:
            self._stage = _Stage.FAILED
            what = "self-mask seed" if kind == SELF_MASK_SHARE else "mask key"
            if len(points) < self._params.threshold:
                raise ThresholdError(f"only {len(points)} shares of client {v}'s {what}, "
                                     f"threshold {self._params.threshold}")
            raise ProtocolError(f"no {self._params.threshold} of the {len(points)} shares of "
                                f"client {v}'s {what} reconstruct it: shares are corrupted")
        secret, wrong = found
        self.liars |= {x - 1 for x in wrong}
        return secret

    @property
    def survivors(self) -> list[int]:
        """Clients whose inputs are in the sum (U3)."""
        return list(self._u3)
