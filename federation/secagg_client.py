"""A secure-aggregation client (Bonawitz et al., "Practical Secure Aggregation for
Privacy-Preserving Machine Learning", CCS 2017, Sec. 4), speaking only in `bytes`.

One object per client and round; its methods are the protocol's rounds, called in order, each
taking the server's message and returning the reply:

    advertise() -> ADVERTISE
    share_keys(KEY_LIST) -> SHARES
    masked_input(SHARE_ROUTING) -> MASKED_INPUT
    unmask(UNMASK_REQUEST) -> UNMASK_RESPONSE
    receive_aggregate(AGGREGATE) -> the weighted average (float64 vector)

A message that fails any check raises `ProtocolError` (or `ThresholdError` when the server asks
it to continue with fewer than t clients) and leaves the client's state unchanged; a method
called out of order or twice (a replay) is refused the same way.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation.errors import AggregationError, ConfigError, ProtocolError, ThresholdError
from federation.mask_prg import MaskStream
from federation.masks import adds_pairwise_mask, pairwise_mask_key, self_mask_key, share_key
from federation.quantise import average_from_sum, quantise
from federation.secagg_messages import (
    MASK_KEY_SHARE,
    SELF_MASK_SHARE,
    Advertisement,
    commit_self_mask_seed,
    encode_advertise,
    encode_shares,
    encode_unmask_response,
    encode_vector,
    parse_key_list,
    parse_share_routing,
    parse_unmask_request,
    parse_vector,
    session_id,
)
from federation.secagg_params import Pki, SecAggParams
from federation.shamir import random_secret, secret_bytes, split, x_of
from federation.share_cipher import open_shares, seal_shares
from federation.wire import CONTEXT_LEN, MsgType


class _Stage(Enum):
    ADVERTISE = "advertise"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    UNMASK = "unmask"
    AGGREGATE = "aggregate"
    DONE = "done"


class SecAggClient:
    """One participant of one round.

    update: the flat float vector of length `params.n_params` (see `layout.flatten`); refused
        if it has the wrong length or any NaN or infinity.
    weight: the client's FedAvg weight in (0, quant.max_weight], pre-multiplied into the update
        and summed securely beside it (see `quantise`).
    """

    def __init__(self, client_id: int, identity: Ed25519PrivateKey, pki: Pki,
                 params: SecAggParams, update: np.ndarray, weight: float = 1.0) -> None:
        if client_id not in pki.clients:
            raise ConfigError(f"client {client_id} is not in the PKI")
        params.validate_for(len(pki.clients))
        update = np.asarray(update)
        if update.shape != (params.n_params,):
            raise AggregationError(f"client {client_id}: update of shape {update.shape}, the "
                                   f"round sums {params.n_params} parameters")
        self.id = client_id
        self._identity = identity
        self._pki = pki
        self._params = params
        self._curve = params.curve_impl
        self._encoded = quantise(update, weight, params.quant)  # refuses NaN/inf, bad weight
        self._stage = _Stage.ADVERTISE
        # Filled in as the round proceeds.
        self._own_ad = b""
        self._session = b""
        self._peers: dict[int, Advertisement] = {}
        self._c_agreed: dict[int, bytes] = {}
        self._u2: set[int] = set()
        self._sealed_from: dict[int, bytes] = {}
        self._revealed: dict[int, int] = {}
        self.average: np.ndarray | None = None

    @property
    def stage(self) -> str:
        return self._stage.value

    @property
    def _context(self) -> bytes:
        return self._session[:CONTEXT_LEN]

    def _expect(self, stage: _Stage) -> None:
        if self._stage is not stage:
            raise ProtocolError(f"client {self.id} is at stage {self._stage.value!r}, not "
                                f"{stage.value!r}: message out of order or replayed")

    # --- round 0 ---------------------------------------------------------------------------

    def advertise(self) -> bytes:
        """Fresh key pairs for this round, signed with the long-term identity key."""
        self._expect(_Stage.ADVERTISE)
        self._c_sk = self._curve.generate()
        self._m_seed = random_secret()  # the mask secret key s_u^SK derives from this seed
        self._s_sk = self._curve.from_seed(secret_bytes(self._m_seed))
        self._b_seed = random_secret()
        commit = commit_self_mask_seed(self._params, self.id, secret_bytes(self._b_seed))
        self._own_ad = encode_advertise(self._identity, self._params, self.id,
                                        self._curve.public_bytes(self._c_sk),
                                        self._curve.public_bytes(self._s_sk), commit)
        self._stage = _Stage.SHARE_KEYS
        return self._own_ad

    # --- round 1 ---------------------------------------------------------------------------

    def share_keys(self, key_list: bytes) -> bytes:
        """Check every advertisement, then send each peer Shamir shares of b_u and s_u^SK."""
        self._expect(_Stage.SHARE_KEYS)
        params = self._params
        ads = {ad.sender: ad for ad in parse_key_list(key_list, params, self._pki)}
        if ads.get(self.id) is None or ads[self.id].raw != self._own_ad:
            raise ProtocolError(f"the key list omits or alters client {self.id}'s own keys")
        if len(ads) < params.threshold:
            raise ThresholdError(f"{len(ads)} clients advertised keys, threshold "
                                 f"{params.threshold}")
        session = session_id(params, list(ads.values()))
        u1 = sorted(ads)
        xs = [x_of(v) for v in u1]
        b_shares = dict(zip(u1, split(self._b_seed, xs, params.threshold)))
        m_shares = dict(zip(u1, split(self._m_seed, xs, params.threshold)))
        c_agreed: dict[int, bytes] = {}
        sealed: dict[int, bytes] = {}
        for v in u1:
            if v == self.id:
                continue
            c_agreed[v] = self._curve.exchange(self._c_sk, ads[v].c_key)
            key = share_key(c_agreed[v], session, self.id, v)
            sealed[v] = seal_shares(key, session, params.round_number, self.id, v,
                                    b_shares[v], m_shares[v])
        msg = encode_shares(self._identity, params, self.id, session[:CONTEXT_LEN], sealed)
        # Commit the new state only once every check has passed.
        self._peers, self._session, self._c_agreed = ads, session, c_agreed
        self._own_shares = (b_shares[self.id], m_shares[self.id])
        self._stage = _Stage.MASKED_INPUT
        return msg

    # --- round 2 ---------------------------------------------------------------------------

    def masked_input(self, routing: bytes) -> bytes:
        """y_u = Q(w x) + PRG(b_u) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv) mod 2^b over U2."""
        self._expect(_Stage.MASKED_INPUT)
        params = self._params
        sealed_from = parse_share_routing(routing, params, self._pki, self._context, self.id)
        unknown = set(sealed_from) - (set(self._peers) - {self.id})
        if unknown:
            raise ProtocolError(f"shares relayed from clients that did not advertise: "
                                f"{sorted(unknown)}")
        u2 = set(sealed_from) | {self.id}
        if len(u2) < params.threshold:
            raise ThresholdError(f"{len(u2)} clients shared keys, threshold {params.threshold}")
        y = self._encoded.copy()
        stream = MaskStream(params.vector_len, params.quant.dtype)
        layout = params.layout_digest
        stream.add(y, self_mask_key(self._b_seed, self._session, self.id, layout))
        for v in sorted(u2 - {self.id}):
            agreed = self._curve.exchange(self._s_sk, self._peers[v].s_key)
            key = pairwise_mask_key(agreed, self._session, self.id, v, layout)
            if adds_pairwise_mask(self.id, v):
                stream.add(y, key)
            else:
                stream.subtract(y, key)
        if params.quant.mod_bits not in (32, 64):
            y &= params.quant.dtype.type(params.quant.mask)
        msg = encode_vector(self._identity, MsgType.MASKED_INPUT, params, self.id,
                            self._context, y)
        self._u2, self._sealed_from = u2, sealed_from
        del self._encoded  # the unmasked input is not needed again
        self._stage = _Stage.UNMASK
        return msg

    # --- round 3 ---------------------------------------------------------------------------

    def unmask(self, request: bytes) -> bytes:
        """Self-mask shares for survivors, mask-key shares for drop-outs; never both for one."""
        self._expect(_Stage.UNMASK)
        params = self._params
        survivors, dropped = parse_unmask_request(request, params, self._pki, self._context)
        s_set, d_set = set(survivors), set(dropped)
        if len(s_set) != len(survivors) or len(d_set) != len(dropped):
            raise ProtocolError("unmask request repeats a client")
        if s_set & d_set:
            raise ProtocolError(f"unmask request lists clients {sorted(s_set & d_set)} as both "
                                f"survivor and drop-out: refused")
        if self.id not in s_set:
            raise ProtocolError(f"client {self.id} is not among the survivors it is asked about")
        outside = (s_set | d_set) - self._u2
        if outside:
            raise ProtocolError(f"unmask request names clients {sorted(outside)} that did not "
                                f"share keys this round")
        if len(s_set) < params.threshold:
            raise ThresholdError(f"{len(s_set)} survivors, threshold {params.threshold}")
        wanted = {v: SELF_MASK_SHARE for v in s_set} | {v: MASK_KEY_SHARE for v in d_set}
        for v, kind in wanted.items():
            if self._revealed.get(v, kind) != kind:
                raise ProtocolError(f"revealing both shares of client {v} is refused")
        entries: list[tuple[int, int, int]] = []
        for v in sorted(wanted):
            b_share, m_share = self._shares_from(v)
            kind = wanted[v]
            entries.append((v, kind, b_share if kind == SELF_MASK_SHARE else m_share))
        msg = encode_unmask_response(self._identity, params, self.id, self._context, entries)
        self._revealed.update(wanted)
        self._stage = _Stage.AGGREGATE
        return msg

    def _shares_from(self, v: int) -> tuple[int, int]:
        if v == self.id:
            return self._own_shares
        key = share_key(self._c_agreed[v], self._session, v, self.id)
        return open_shares(key, self._session, self._params.round_number, v, self.id,
                           self._sealed_from[v])

    # --- result ----------------------------------------------------------------------------

    def receive_aggregate(self, msg: bytes) -> np.ndarray:
        """The weighted average (float64, length n_params) the server computed."""
        self._expect(_Stage.AGGREGATE)
        _, z = parse_vector(msg, MsgType.AGGREGATE, self._params, self._pki.server,
                            self._context)
        self.average, _ = average_from_sum(z, self._params.quant)
        self._stage = _Stage.DONE
        self._drop_secrets()
        return self.average

    def _drop_secrets(self) -> None:
        # Python cannot wipe memory; dropping references is the best it offers.
        for name in ("_c_sk", "_s_sk", "_m_seed", "_b_seed", "_own_shares"):
            self.__dict__.pop(name, None)
        self._c_agreed.clear()
        self._sealed_from.clear()

    def __repr__(self) -> str:
        return f"SecAggClient(id={self.id}, stage={self._stage.value!r})"

    def __getstate__(self) -> Any:
        raise TypeError("a SecAggClient holds secrets and is not picklable")
