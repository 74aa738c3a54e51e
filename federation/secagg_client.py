"""A secure-aggregation client (Bonawitz et al., CCS 2017, Sec. 4 with the ConsistencyCheck
round of the active variant; Bell et al., CCS 2020, on a k-regular graph), speaking in `bytes`.

One object per client and round; its methods are the protocol's rounds, called in order, each
taking the server's message and returning the reply:

    advertise(ROUND_START) -> ADVERTISE
    share_keys(KEY_LIST) -> SHARES
    masked_input(SHARE_ROUTING) -> MASKED_INPUT
    consistency(CONSISTENCY_LIST) -> CONSISTENCY_SIG
    unmask(UNMASK_REQUEST) -> UNMASK_RESPONSE
    receive_aggregate(AGGREGATE) -> the weighted average (float64 vector)

A message that fails any check raises `ProtocolError` (or `ThresholdError` when the server asks
it to continue with fewer than t share holders) and leaves the client's state unchanged; a
method called out of order or twice (a replay) is refused the same way.
"""

from __future__ import annotations

from collections import Counter
from enum import Enum
from typing import Any

import numpy as np

from federation.channel import ChannelKey
from federation.errors import AggregationError, ConfigError, ProtocolError, ThresholdError
from federation.graph import NeighbourGraph
from federation.mask_prg import MaskStream
from federation.masks import adds_pairwise_mask, pairwise_mask_key, self_mask_key, share_key
from federation.quantise import check_plausible, decode_sum, quantise
from federation.secagg_messages import (
    MASK_KEY_SHARE,
    SELF_MASK_SHARE,
    Advertisement,
    commit_self_mask_seed,
    encode_advertise,
    encode_consistency_sig,
    encode_masked_input,
    encode_shares,
    encode_unmask_response,
    parse_aggregate,
    parse_consistency_list,
    parse_key_list,
    parse_round_start,
    parse_share_routing,
    parse_unmask_request,
    peek_consistency_sig,
    session_id,
    u3_digest,
    verify_consistency_sig,
)
from federation.secagg_params import Pki, SecAggParams
from federation.shamir import PRIME, random_secret, secret_bytes, split, x_of
from federation.share_cipher import open_shares, seal_shares
from federation.signing import SigningKey
from federation.wire import CONTEXT_LEN


class _Stage(Enum):
    ADVERTISE = "advertise"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    CONSISTENCY = "consistency"
    UNMASK = "unmask"
    AGGREGATE = "aggregate"
    DONE = "done"


class SecAggClient:
    """One participant of one round.

    update: the flat float vector of length `params.n_params` (see `layout.flatten`); refused
        if it has the wrong length or any NaN or infinity.
    weight: the client's FedAvg weight in (0, quant.max_weight], pre-multiplied into the update
        and summed securely beside it (see `quantise`).
    pki: must come from a roster signed by the enrolment authority (`trust.py`).
    """

    def __init__(self, client_id: int, identity: SigningKey, pki: Pki,
                 params: SecAggParams, update: np.ndarray, weight: float = 1.0) -> None:
        pki.require_trust_root()
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
        cap = params.quant.count_cap(len(pki.clients))
        self._encoded = quantise(update, weight, params.quant, cap)  # refuses NaN/inf
        self.clipped = int(self._encoded[-1])  # this client's own count (it may log it)
        self._stage = _Stage.ADVERTISE
        # Filled in as the round proceeds.
        self._own_ad = b""
        self._session = b""
        self._graph: NeighbourGraph | None = None
        self._peers: dict[int, Advertisement] = {}
        self._c_agreed: dict[int, bytes] = {}
        self._held: dict[int, tuple[int, int]] = {}  # v -> (b-share, m-share) held for v
        self._u2: set[int] = set()
        self._u3: list[int] = []
        self.rejected: dict[int, str] = {}  # peers whose shares failed on arrival, and why
        self.bad_signatures: list[int] = []  # peers whose relayed consistency signature failed
        self.average: np.ndarray | None = None

    @property
    def stage(self) -> str:
        return self._stage.value

    @property
    def _context(self) -> bytes:
        return self._session[:CONTEXT_LEN]

    @property
    def graph(self) -> NeighbourGraph:
        assert self._graph is not None, "the graph is known after advertise()"
        return self._graph

    def _expect(self, stage: _Stage) -> None:
        if self._stage is not stage:
            raise ProtocolError(f"client {self.id} is at stage {self._stage.value!r}, not "
                                f"{stage.value!r}: message out of order or replayed")

    # --- round 0 ---------------------------------------------------------------------------

    def advertise(self, round_start: bytes) -> bytes:
        """Fresh key pairs for this round, bound to the server's fresh challenge and signed;
        the channel with the server keyed from the c key and the server's round key."""
        self._expect(_Stage.ADVERTISE)
        params = self._params
        challenge, e_pk = parse_round_start(round_start, params, self._pki)
        try:
            e_key = self._curve.load_public(e_pk)  # exchange() below refuses small-order keys
        except ValueError as exc:
            raise ProtocolError(f"the server's round key is not a valid public key: "
                                f"{exc}") from None
        session = session_id(params, challenge + e_pk, self._pki.roster_digest)
        graph = params.make_graph(self._pki.clients, session)
        self._c_sk = self._curve.generate()
        self._m_seed = random_secret()  # the mask secret key s_u^SK derives from this seed
        self._s_sk = self._curve.from_seed(secret_bytes(self._m_seed))
        self._b_seed = random_secret()
        commit = commit_self_mask_seed(session, self.id, secret_bytes(self._b_seed))
        self._own_ad = encode_advertise(self._identity, params, self.id, session[:CONTEXT_LEN],
                                        self._curve.public_bytes(self._c_sk),
                                        self._curve.public_bytes(self._s_sk), commit)
        self._channel = ChannelKey.derive(self._curve.exchange(self._c_sk, e_key), session,
                                          self.id)
        self._session, self._graph = session, graph
        self._stage = _Stage.SHARE_KEYS
        return self._own_ad

    # --- round 1 ---------------------------------------------------------------------------

    def share_keys(self, key_list: bytes) -> bytes:
        """Check the neighbours' advertisements, then send each share holder its shares."""
        self._expect(_Stage.SHARE_KEYS)
        params, graph = self._params, self.graph
        ads = {ad.sender: ad for ad in parse_key_list(key_list, params, self._pki,
                                                      self._context, self.id, self._channel)}
        if ads.get(self.id) is None or ads[self.id].raw != self._own_ad:
            raise ProtocolError(f"the key list omits or alters client {self.id}'s own keys")
        strangers = set(ads) - graph.neighbours(self.id) - {self.id}
        if strangers:
            raise ProtocolError(f"the key list names clients {sorted(strangers)} that are not "
                                f"neighbours of client {self.id} on the round's graph")
        holders = sorted(graph.holders(self.id) & set(ads))
        if len(holders) < params.threshold:
            raise ThresholdError(f"client {self.id}: {len(holders)} share holders advertised "
                                 f"keys, threshold {params.threshold}")
        xs = [x_of(v) for v in holders]
        b_shares = dict(zip(holders, split(self._b_seed, xs, params.threshold)))
        m_shares = dict(zip(holders, split(self._m_seed, xs, params.threshold)))
        c_agreed: dict[int, bytes] = {}
        sealed: dict[int, bytes] = {}
        for v in sorted(set(ads) - {self.id}):
            c_agreed[v] = self._curve.exchange(self._c_sk, ads[v].c_key)
            if v in b_shares:
                key = share_key(c_agreed[v], self._session, self.id, v)
                sealed[v] = seal_shares(key, self._session, params.round_number, self.id, v,
                                        b_shares[v], m_shares[v])
        msg = encode_shares(self._channel, params, self.id, self._context, sealed)
        # Commit the new state only once every check has passed.
        self._peers, self._c_agreed = ads, c_agreed
        if self.id in b_shares:
            self._held[self.id] = (b_shares[self.id], m_shares[self.id])
        self._stage = _Stage.MASKED_INPUT
        return msg

    # --- round 2 ---------------------------------------------------------------------------

    def masked_input(self, routing: bytes) -> bytes:
        """y_u = Q(w x) + PRG(b_u) + sum_{v>u} PRG(s_uv) - sum_{v<u} PRG(s_uv) mod 2^b over the
        neighbours whose shares arrived intact.

        Shares are decrypted and range-checked here, on arrival: a sender whose ciphertext is
        undecryptable or whose share lies outside the field is treated as having dropped before
        masking (left out of U2, and named in no mask), so one bad sender cannot make this
        client fail at unmasking time. The peers masked with are listed in the message.
        """
        self._expect(_Stage.MASKED_INPUT)
        params, graph = self._params, self.graph
        sealed_from = parse_share_routing(routing, params, self._pki, self._context, self.id,
                                          self._channel)
        unknown = set(sealed_from) - (set(self._peers) - {self.id})
        if unknown:
            raise ProtocolError(f"shares relayed from clients that did not advertise: "
                                f"{sorted(unknown)}")
        not_mine = {u for u in sealed_from if self.id not in graph.holders(u)}
        if not_mine:
            raise ProtocolError(f"shares relayed from clients {sorted(not_mine)} whose shares "
                                f"client {self.id} does not hold on the round's graph")
        held: dict[int, tuple[int, int]] = {}
        rejected: dict[int, str] = {}
        for u, blob in sealed_from.items():
            key = share_key(self._c_agreed[u], self._session, u, self.id)
            try:
                b_share, m_share = open_shares(key, self._session, params.round_number, u,
                                               self.id, blob)
            except ProtocolError as exc:
                rejected[u] = str(exc)
                continue
            if b_share >= PRIME or m_share >= PRIME:
                rejected[u] = "share outside the field"
                continue
            held[u] = (b_share, m_share)
        u2 = set(held) | {self.id}
        alive_holders = graph.holders(self.id) & u2
        if len(alive_holders) < params.threshold:
            raise ThresholdError(f"client {self.id}: {len(alive_holders)} of its share holders "
                                 f"shared keys, threshold {params.threshold}")
        # A neighbour whose advertised mask key admits no agreement (an X25519 small-order
        # point) is left out like one whose shares failed: the server sees it missing from
        # the peers below and drops it (its input is not summed), as every neighbour does.
        agreed_with: dict[int, bytes] = {}
        for v in sorted((u2 - {self.id}) & graph.neighbours(self.id)):
            try:
                agreed_with[v] = self._curve.exchange(self._s_sk, self._peers[v].s_key)
            except ProtocolError as exc:
                rejected[v] = str(exc)
        u2 -= set(rejected)
        peers = sorted(agreed_with)
        y = self._encoded.copy()
        stream = MaskStream(params.vector_len, params.quant.dtype)
        layout = params.layout_digest
        stream.add(y, self_mask_key(self._b_seed, self._session, self.id, layout))
        for v in peers:
            key = pairwise_mask_key(agreed_with[v], self._session, self.id, v, layout)
            if adds_pairwise_mask(self.id, v):
                stream.add(y, key)
            else:
                stream.subtract(y, key)
        if params.quant.mod_bits not in (32, 64):
            y &= params.quant.dtype.type(params.quant.mask)
        msg = encode_masked_input(self._channel, params, self.id, self._context, y, peers)
        self._u2, self.rejected = u2, rejected
        self._held.update(held)
        del self._encoded  # the unmasked input is not needed again
        self._stage = _Stage.CONSISTENCY
        return msg

    # --- round 3: ConsistencyCheck ---------------------------------------------------------

    def consistency(self, u3_msg: bytes) -> bytes:
        """Sign the survivor list U3, after checking it against this client's own view."""
        self._expect(_Stage.CONSISTENCY)
        params, graph = self._params, self.graph
        u3 = parse_consistency_list(u3_msg, params, self._pki, self._context)
        s3 = set(u3)
        if self.id not in s3:
            raise ProtocolError(f"client {self.id} is not in the survivor list it is sent")
        foreign = (s3 & graph.neighbours(self.id)) - self._u2
        if foreign:
            raise ProtocolError(f"the survivor list names neighbours {sorted(foreign)} that "
                                f"never shared keys with client {self.id}")
        if len(graph.holders(self.id) & s3) < params.threshold:
            raise ThresholdError(f"client {self.id}: {len(graph.holders(self.id) & s3)} of its "
                                 f"share holders survive, threshold {params.threshold}")
        self._u3 = u3
        self._digest = u3_digest(self._session, u3)
        self._stage = _Stage.UNMASK
        # Signed for the peers it is relayed to, sealed in the channel for the server.
        return self._channel.seal(encode_consistency_sig(
            self._identity, params, self.id, self._context, self._digest))

    # --- round 4 ---------------------------------------------------------------------------

    def unmask(self, request: bytes) -> bytes:
        """Self-mask shares for survivors, mask-key shares for drop-outs; never both for one.

        Only after, for every client v whose share it reveals, at least t of v's share holders
        signed the very same U3 (ConsistencyCheck; the signatures are verified lazily, only as
        many as needed). The drop-out set is derived here, U2 minus U3, not taken from the
        server, so every honest client answers about the same lists.
        """
        self._expect(_Stage.UNMASK)
        params, graph = self._params, self.graph
        entries = parse_unmask_request(request, params, self._pki, self._context, self.id,
                                       self._channel)
        s3 = set(self._u3)
        pending: dict[int, bytes] = {}
        for raw in entries:
            sender, digest = peek_consistency_sig(raw, params, self._context)
            if sender not in s3 or sender in pending:
                raise ProtocolError(f"consistency signature from client {sender}, not in U3 "
                                    f"or repeated")
            if digest != self._digest:
                raise ProtocolError(f"client {sender} signed a different survivor list: the "
                                    f"server showed clients inconsistent views; refused")
            pending[sender] = raw
        endorsed = {self.id}  # this client signed self._digest itself
        reveal = sorted(v for v in self._held if v in self._u2)
        need = {v: graph.holders(v) & s3 for v in reveal}
        # Verify first the signers that count for the most clients (on the Harary graph, those
        # near this client on the ring): fewer signature checks reach t for everyone.
        cover = Counter(s for group in need.values() for s in group if s in pending)
        order = sorted(pending, key=lambda s: (-cover[s], s))
        # A signature that does not verify counts as missing, not as a reason to fail: the
        # server does not check them (it checks the channel tag), so one bad peer must not
        # stop its neighbours; a server that relays garbage gains nothing by it.
        forged: set[int] = set()
        for v in reveal:
            have = len(need[v] & endorsed)
            for signer in order:
                if have >= params.threshold:
                    break
                if signer in endorsed or signer in forged or signer not in need[v]:
                    continue
                try:
                    verify_consistency_sig(pending[signer], self._pki, signer)
                except ProtocolError:
                    forged.add(signer)
                    continue
                endorsed.add(signer)
                have += 1
            if have < params.threshold:
                bad = f" ({len(forged)} relayed signatures did not verify)" if forged else ""
                raise ThresholdError(f"only {have} of client {v}'s share holders signed the "
                                     f"survivor list{bad}, threshold {params.threshold}")
        self.bad_signatures = sorted(forged)
        shares = []
        for v in reveal:
            b_share, m_share = self._held[v]
            if v in s3:
                shares.append((v, SELF_MASK_SHARE, b_share))
            else:
                shares.append((v, MASK_KEY_SHARE, m_share))
        msg = encode_unmask_response(self._channel, params, self.id, self._context, shares)
        self._stage = _Stage.AGGREGATE
        return msg

    # --- result ----------------------------------------------------------------------------

    def receive_aggregate(self, msg: bytes) -> np.ndarray:
        """The weighted average (float64, length n_params), refused unless plausible."""
        self._expect(_Stage.AGGREGATE)
        z = parse_aggregate(msg, self._params, self._pki, self._context)
        dec = decode_sum(z, self._params.quant)
        check_plausible(dec, self._params.quant, len(self._u3), self._params.n_params)
        self.average = dec.average
        self._stage = _Stage.DONE
        self._drop_secrets()
        return self.average

    def _drop_secrets(self) -> None:
        # Python cannot wipe memory; dropping references is the best it offers.
        for name in ("_c_sk", "_s_sk", "_m_seed", "_b_seed", "_channel"):
            self.__dict__.pop(name, None)
        self._c_agreed.clear()
        self._held.clear()

    def __repr__(self) -> str:
        return f"SecAggClient(id={self.id}, stage={self._stage.value!r})"

    def __getstate__(self) -> Any:
        raise TypeError("a SecAggClient holds secrets and is not picklable")
