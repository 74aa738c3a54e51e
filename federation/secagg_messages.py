"""Encoders and validating parsers of the secure-aggregation messages (all plain `bytes`).

Layouts after the 34-byte header (see `wire`); u32 are little-endian. A message that a third
party must be able to check (ROUND_START, ADVERTISE, CONSISTENCY_LIST, CONSISTENCY_SIG,
AGGREGATE) ends with the sender's 64-byte signature (`signing.py`); one that only the client and the
server read (KEY_LIST, SHARES, SHARE_ROUTING, MASKED_INPUT, UNMASK_REQUEST, UNMASK_RESPONSE)
ends with a 28-byte tag of their round's channel (`channel.py`), as in Bonawitz et al.
CONSISTENCY_SIG is both: signed for the peers it is relayed to, and sent to the server inside
a channel tag. The server checks the tag (who sent it) and the digest (which list), not the
signature: only the peers' check of the signatures protects anyone (ConsistencyCheck), a
server that skipped its own check could gain nothing it could not get by relaying garbage,
and honest clients skip a signature that does not verify (it counts as missing) instead of
failing. That saves the server ~N signature verifications (~0.2 s at N = 1000) a round.
P = public key length (32 for X25519, 33 for P-256), W = 4 or 8 (uint32 when b <= 32),
V = d + L + 1 words (parameters, weight limbs, clipped count).

    ROUND_START      challenge (32) | e_pk (P): the server's round channel key  server -> all
    ADVERTISE        c_pk (P) | s_pk (P) | b_commit (32)                      client -> server
    KEY_LIST         recipient u32 | n u32 | n x (len u32 | ADVERTISE verbatim)  server -> client
    SHARES           n u32 | n x (recipient u32 | nonce 12 | AES-GCM 88)      client -> server
    SHARE_ROUTING    recipient u32 | n u32 | n x (sender u32 | nonce 12 | AES-GCM 88)
    MASKED_INPUT     V x W masked words | m u32 | m x peer u32 (whom it masked with)
    CONSISTENCY_LIST n u32 | U3 ids u32 (sorted)                              server -> U3
    CONSISTENCY_SIG  SHA-256 of (session, U3) (32), signed, then channel-tagged  client -> server
    UNMASK_REQUEST   recipient u32 | n u32 | n x CONSISTENCY_SIG, signed part (130 bytes each)
    UNMASK_RESPONSE  n u32 | n x (client u32 | kind u8 | share 32)            client -> server
    AGGREGATE        V x W: the unmasked sum mod 2^b                          server -> U4

Context field of the header: the parameter digest in ROUND_START, the first 16 bytes of the
session id in every later message. The session id is SHA-256 of the round parameters, the
server's fresh challenge and round key, and the roster digest, so no message of an earlier
round, run or roster is accepted even when a round number repeats.

A parser checks, in this order: header (magic, version, type), round number, context, the
sender's identity and signature (or channel tag), then the body's exact length and contents.
Nothing is decoded before the signature or tag verifies.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from federation.channel import MAC_LEN, ChannelKey
from federation.errors import ProtocolError
from federation.secagg_params import Pki, SecAggParams
from federation.shamir import PRIME, SHARE_BYTES
from federation.share_cipher import SEALED_LEN
from federation.signing import SigningKey, VerifyKey
from federation.wire import (
    HEADER_LEN,
    SERVER_ID,
    SIG_LEN,
    Header,
    MsgType,
    Reader,
    pack_header,
    pack_ids,
    sign,
    unpack_header,
    verify,
)

SELF_MASK_SHARE = 0
MASK_KEY_SHARE = 1
CHALLENGE_LEN = 32
DIGEST_LEN = 32
CONSISTENCY_SIG_LEN = HEADER_LEN + DIGEST_LEN + SIG_LEN
CONSISTENCY_SIG_TAGGED_LEN = CONSISTENCY_SIG_LEN + MAC_LEN  # as the server receives it
_SHARE_ENTRY = struct.Struct(f"<IB{SHARE_BYTES}s")
_SEALED_ENTRY = struct.Struct(f"<I{SEALED_LEN}s")


def _checked_header(msg: bytes, expect: MsgType, params: SecAggParams, context: bytes
                    ) -> Header:
    """The header, if it is of type `expect`, this round and this session."""
    header = unpack_header(msg)
    if header.type != expect:
        raise ProtocolError(f"expected a {expect.name} message, got {header.type.name}")
    if header.round != params.round_number:
        raise ProtocolError(f"stale or future message: round {header.round}, this round is "
                            f"{params.round_number}")
    if header.context != context:
        raise ProtocolError(f"{header.type.name} message belongs to another session")
    return header


def open_signed(msg: bytes, expect: MsgType, params: SecAggParams, context: bytes,
                signer: Pki | VerifyKey) -> tuple[Header, Reader]:
    """Check header, round, context and signature; a reader over the body."""
    header = _checked_header(msg, expect, params, context)
    if isinstance(signer, Pki):
        key, who = signer.client_key(header.sender), f"client {header.sender}"
    else:
        if header.sender != SERVER_ID:
            raise ProtocolError(f"{header.type.name} must come from the server")
        key, who = signer, "the server"
    signed = verify(key, msg, who)
    return header, Reader(signed, HEADER_LEN)


def open_tagged(msg: bytes, expect: MsgType, params: SecAggParams, context: bytes,
                channel: ChannelKey | Mapping[int, ChannelKey]) -> tuple[Header, Reader]:
    """As `open_signed` for a channel message: `channel` is the client's one key (the message
    must come from the server) or the server's keys by client id (from a client that has
    advertised)."""
    header = _checked_header(msg, expect, params, context)
    if isinstance(channel, ChannelKey):
        if header.sender != SERVER_ID:
            raise ProtocolError(f"{header.type.name} must come from the server")
        key, who = channel, "the server"
    else:
        key, who = channel.get(header.sender), f"client {header.sender}"
        if key is None:
            raise ProtocolError(f"{header.type.name} from client {header.sender}, which has no "
                                f"channel in this round (it did not advertise)")
    return header, Reader(key.open(msg, who), HEADER_LEN)


def session_id(params: SecAggParams, challenge: bytes, roster_digest: bytes) -> bytes:
    """SHA-256 of the round parameters, the server's challenge (with its round key: the body
    of ROUND_START) and the roster (32 bytes).

    Salt of every HKDF call and (first 16 bytes) the context of every message after
    ROUND_START. The challenge is fresh per round, so a repeated round number (the trainer
    restarts at 1 every run) never repeats a session.
    """
    h = hashlib.sha256(b"fedmarl/secagg/v1/session" + params.context())
    h.update(challenge + roster_digest)
    return h.digest()


# --- round start -----------------------------------------------------------------------------

def encode_round_start(identity: SigningKey, params: SecAggParams,
                       challenge: bytes, e_pk: bytes) -> bytes:
    header = pack_header(MsgType.ROUND_START, params.round_number, SERVER_ID, params.context())
    return sign(identity, header + challenge + e_pk)


def parse_round_start(msg: bytes, params: SecAggParams, pki: Pki) -> tuple[bytes, bytes]:
    """(challenge, e_pk); the client's key agreement with e_pk refuses a small-order key."""
    _, body = open_signed(msg, MsgType.ROUND_START, params, params.context(), pki.server)
    challenge = bytes(body.take(CHALLENGE_LEN))
    e_pk = bytes(body.take(params.curve_impl.public_len))
    body.end()
    return challenge, e_pk


# --- round 0: advertise keys -----------------------------------------------------------------

@dataclass(frozen=True)
class Advertisement:
    sender: int
    c_pk: bytes      # key-agreement key for encrypting shares
    s_pk: bytes      # key-agreement key for pairwise masks
    b_commit: bytes  # commitment to the self-mask seed (checks its reconstruction)
    raw: bytes       # the signed message, forwarded verbatim so every client can check it
    c_key: Any = field(repr=False, compare=False, default=None)  # c_pk parsed
    s_key: Any = field(repr=False, compare=False, default=None)  # s_pk parsed


def commit_self_mask_seed(session: bytes, sender: int, seed: bytes) -> bytes:
    """SHA-256 commitment to b_u, so the server can tell a corrupted share from a good one.

    Not in Bonawitz et al.; the mask-key seed is checked against s_pk instead. Without it, t
    shares with one bad value would silently produce a wrong aggregate. (b_u is 254 random
    bits, so the hash hides it.)
    """
    tag = b"fedmarl/secagg/v1/self-mask-commitment"
    return hashlib.sha256(tag + session + struct.pack("<I", sender) + seed).digest()


def advertise_len(params: SecAggParams) -> int:
    return HEADER_LEN + 2 * params.curve_impl.public_len + 32 + SIG_LEN


def encode_advertise(identity: SigningKey, params: SecAggParams, sender: int,
                     context: bytes, c_pk: bytes, s_pk: bytes, b_commit: bytes) -> bytes:
    header = pack_header(MsgType.ADVERTISE, params.round_number, sender, context)
    return sign(identity, header + c_pk + s_pk + b_commit)


def parse_advertise(msg: bytes, params: SecAggParams, pki: Pki, context: bytes
                    ) -> Advertisement:
    header, body = open_signed(msg, MsgType.ADVERTISE, params, context, pki)
    n = params.curve_impl.public_len
    c_pk, s_pk, b_commit = bytes(body.take(n)), bytes(body.take(n)), bytes(body.take(32))
    body.end()
    curve = params.curve_impl  # parsing refuses points that are not on the curve
    return Advertisement(header.sender, c_pk, s_pk, b_commit, bytes(msg),
                         curve.load_public(c_pk), curve.load_public(s_pk))


def encode_key_list(channel: ChannelKey, params: SecAggParams, context: bytes,
                    recipient: int, ads: Sequence[Advertisement]) -> bytes:
    parts = [pack_header(MsgType.KEY_LIST, params.round_number, SERVER_ID, context),
             struct.pack("<II", recipient, len(ads))]
    for ad in ads:
        parts.append(struct.pack("<I", len(ad.raw)) + ad.raw)
    return channel.seal(b"".join(parts))


def parse_key_list(msg: bytes, params: SecAggParams, pki: Pki, context: bytes,
                   recipient: int, channel: ChannelKey) -> list[Advertisement]:
    """Every advertisement, each signature checked against the PKI; duplicates refused."""
    _, body = open_tagged(msg, MsgType.KEY_LIST, params, context, channel)
    if body.u32() != recipient:
        raise ProtocolError("key list addressed to another client")
    n = body.u32()
    if n > len(pki.clients):
        raise ProtocolError(f"key list of {n} entries for {len(pki.clients)} known clients")
    ads = [parse_advertise(bytes(body.take(body.u32())), params, pki, context)
           for _ in range(n)]
    body.end()
    if len({ad.sender for ad in ads}) != len(ads):
        raise ProtocolError("key list names a client twice")
    return ads


# --- round 1: share keys ---------------------------------------------------------------------

def shares_max_len(holders: int) -> int:
    return HEADER_LEN + 4 + holders * (4 + SEALED_LEN) + MAC_LEN


def encode_shares(channel: ChannelKey, params: SecAggParams, sender: int,
                  context: bytes, sealed: Mapping[int, bytes]) -> bytes:
    parts = [pack_header(MsgType.SHARES, params.round_number, sender, context),
             struct.pack("<I", len(sealed))]
    parts += [struct.pack("<I", v) + blob for v, blob in sorted(sealed.items())]
    return channel.seal(b"".join(parts))


def _sealed_entries(body: Reader, limit: int) -> dict[int, bytes]:
    n = body.u32()
    if n > limit:
        raise ProtocolError(f"{n} sealed shares, at most {limit} possible")
    raw = body.take(n * _SEALED_ENTRY.size)
    body.end()
    # One C-level pass over the entries (the server parses ~N k of them a round).
    out = dict(_SEALED_ENTRY.iter_unpack(raw))
    if len(out) != n:
        seen: set[int] = set()
        for peer, _ in _SEALED_ENTRY.iter_unpack(raw):
            if peer in seen:
                raise ProtocolError(f"two sealed shares for client {peer}")
            seen.add(peer)
    return out


def parse_shares(msg: bytes, params: SecAggParams, pki: Pki, context: bytes,
                 channels: Mapping[int, ChannelKey]) -> tuple[int, dict[int, bytes]]:
    header, body = open_tagged(msg, MsgType.SHARES, params, context, channels)
    return header.sender, _sealed_entries(body, len(pki.clients))


def encode_share_routing(channel: ChannelKey, params: SecAggParams, context: bytes,
                         recipient: int, sealed: Mapping[int, bytes]) -> bytes:
    parts = [pack_header(MsgType.SHARE_ROUTING, params.round_number, SERVER_ID, context),
             struct.pack("<II", recipient, len(sealed))]
    parts += [struct.pack("<I", u) + blob for u, blob in sorted(sealed.items())]
    return channel.seal(b"".join(parts))


def parse_share_routing(msg: bytes, params: SecAggParams, pki: Pki, context: bytes,
                        recipient: int, channel: ChannelKey) -> dict[int, bytes]:
    _, body = open_tagged(msg, MsgType.SHARE_ROUTING, params, context, channel)
    if body.u32() != recipient:
        raise ProtocolError("share routing addressed to another client")
    return _sealed_entries(body, len(pki.clients))


# --- round 2: masked input -------------------------------------------------------------------

def _vector_bytes(params: SecAggParams) -> int:
    return params.vector_len * params.quant.dtype.itemsize


def masked_input_max_len(params: SecAggParams, degree: int) -> int:
    return HEADER_LEN + _vector_bytes(params) + 4 + 4 * degree + MAC_LEN


def _words(data: memoryview, params: SecAggParams, what: str) -> np.ndarray:
    words = np.frombuffer(data, dtype=params.quant.dtype)
    if params.quant.mod_bits not in (32, 64) and np.any(words >> params.quant.mod_bits):
        raise ProtocolError(f"{what} holds values >= 2^{params.quant.mod_bits}")
    return words


def encode_masked_input(channel: ChannelKey, params: SecAggParams, sender: int,
                        context: bytes, vector: np.ndarray, peers: Sequence[int]) -> bytes:
    header = pack_header(MsgType.MASKED_INPUT, params.round_number, sender, context)
    return channel.seal(header + vector.astype(params.quant.dtype, copy=False).tobytes()
                        + pack_ids(sorted(peers)))


def parse_masked_input(msg: bytes, params: SecAggParams, context: bytes,
                       degree: int, channels: Mapping[int, ChannelKey]
                       ) -> tuple[int, np.ndarray, list[int]]:
    """(sender, residues, peers it masked with); wrong lengths refused before any copy."""
    if not _vector_bytes(params) + HEADER_LEN + 4 + MAC_LEN <= len(msg) <= \
            masked_input_max_len(params, degree):
        raise ProtocolError(f"MASKED_INPUT of {len(msg)} bytes, expected the "
                            f"{params.n_params} parameters' words and a peer list")
    header, body = open_tagged(msg, MsgType.MASKED_INPUT, params, context, channels)
    words = _words(body.take(_vector_bytes(params)), params, "MASKED_INPUT")
    peers = body.ids(degree)
    body.end()
    if len(set(peers)) != len(peers) or header.sender in peers:
        raise ProtocolError("masked input names a peer twice or itself")
    return header.sender, words, peers


def encode_aggregate(identity: SigningKey, params: SecAggParams, context: bytes,
                     vector: np.ndarray) -> bytes:
    header = pack_header(MsgType.AGGREGATE, params.round_number, SERVER_ID, context)
    return sign(identity, header + vector.astype(params.quant.dtype, copy=False).tobytes())


def parse_aggregate(msg: bytes, params: SecAggParams, pki: Pki, context: bytes) -> np.ndarray:
    if len(msg) != HEADER_LEN + _vector_bytes(params) + SIG_LEN:
        raise ProtocolError(f"AGGREGATE of {len(msg)} bytes for {params.n_params} parameters")
    _, body = open_signed(msg, MsgType.AGGREGATE, params, context, pki.server)
    return _words(body.take(body.remaining()), params, "AGGREGATE")


# --- round 3: consistency check (Bonawitz et al., ConsistencyCheck) --------------------------

def u3_digest(session: bytes, u3: Sequence[int]) -> bytes:
    """What a client signs: the session and the exact survivor list."""
    return hashlib.sha256(b"fedmarl/secagg/v1/u3" + session + pack_ids(list(u3))).digest()


def encode_consistency_list(identity: SigningKey, params: SecAggParams, context: bytes,
                            u3: Sequence[int]) -> bytes:
    header = pack_header(MsgType.CONSISTENCY_LIST, params.round_number, SERVER_ID, context)
    return sign(identity, header + pack_ids(list(u3)))


def parse_consistency_list(msg: bytes, params: SecAggParams, pki: Pki, context: bytes
                           ) -> list[int]:
    _, body = open_signed(msg, MsgType.CONSISTENCY_LIST, params, context, pki.server)
    u3 = body.ids(len(pki.clients))
    body.end()
    if u3 != sorted(set(u3)):
        raise ProtocolError("the survivor list must be sorted and free of repeats")
    unknown = set(u3) - set(pki.clients)
    if unknown:
        raise ProtocolError(f"the survivor list names clients {sorted(unknown)} not enrolled")
    return u3


def encode_consistency_sig(identity: SigningKey, params: SecAggParams, sender: int,
                           context: bytes, digest: bytes) -> bytes:
    """The signed part, as relayed to peers; the client sends it to the server sealed in its
    channel (`ChannelKey.seal`), CONSISTENCY_SIG_TAGGED_LEN bytes."""
    header = pack_header(MsgType.CONSISTENCY_SIG, params.round_number, sender, context)
    return sign(identity, header + digest)


def parse_consistency_sig(msg: bytes, params: SecAggParams, context: bytes,
                          channels: Mapping[int, ChannelKey]) -> tuple[int, bytes, bytes]:
    """(sender, signed digest, signed part to relay): the tag is checked, the signature is
    not (see the module docstring; the peers check it)."""
    header, body = open_tagged(msg, MsgType.CONSISTENCY_SIG, params, context, channels)
    digest = bytes(body.take(DIGEST_LEN))
    body.take(SIG_LEN)
    body.end()
    return header.sender, digest, bytes(msg[:CONSISTENCY_SIG_LEN])


def peek_consistency_sig(msg: bytes, params: SecAggParams, context: bytes) -> tuple[int, bytes]:
    """(sender, signed digest) WITHOUT checking the signature: for lazy verification."""
    if len(msg) != CONSISTENCY_SIG_LEN:
        raise ProtocolError("consistency signature of the wrong length")
    header = unpack_header(msg)
    if (header.type != MsgType.CONSISTENCY_SIG or header.round != params.round_number
            or header.context != context):
        raise ProtocolError("consistency signature from another round or session")
    return header.sender, bytes(msg[HEADER_LEN:HEADER_LEN + DIGEST_LEN])


def verify_consistency_sig(msg: bytes, pki: Pki, sender: int) -> None:
    verify(pki.client_key(sender), msg, f"client {sender}")


def encode_unmask_request(channel: ChannelKey, params: SecAggParams, context: bytes,
                          recipient: int, signatures: Sequence[bytes]) -> bytes:
    header = pack_header(MsgType.UNMASK_REQUEST, params.round_number, SERVER_ID, context)
    return channel.seal(header + struct.pack("<II", recipient, len(signatures))
                        + b"".join(signatures))


def parse_unmask_request(msg: bytes, params: SecAggParams, pki: Pki, context: bytes,
                         recipient: int, channel: ChannelKey) -> list[bytes]:
    _, body = open_tagged(msg, MsgType.UNMASK_REQUEST, params, context, channel)
    if body.u32() != recipient:
        raise ProtocolError("unmask request addressed to another client")
    n = body.u32()
    if n > len(pki.clients):
        raise ProtocolError(f"{n} consistency signatures for {len(pki.clients)} clients")
    sigs = [bytes(body.take(CONSISTENCY_SIG_LEN)) for _ in range(n)]
    body.end()
    return sigs


# --- round 4: unmasking ----------------------------------------------------------------------

def unmask_response_max_len(entries: int) -> int:
    return HEADER_LEN + 4 + entries * _SHARE_ENTRY.size + MAC_LEN


def encode_unmask_response(channel: ChannelKey, params: SecAggParams, sender: int,
                           context: bytes, shares: Sequence[tuple[int, int, int]]) -> bytes:
    """`shares`: (client, kind, share) with kind SELF_MASK_SHARE or MASK_KEY_SHARE."""
    parts = [pack_header(MsgType.UNMASK_RESPONSE, params.round_number, sender, context),
             struct.pack("<I", len(shares))]
    parts += [_SHARE_ENTRY.pack(v, kind, s.to_bytes(SHARE_BYTES, "little"))
              for v, kind, s in shares]
    return channel.seal(b"".join(parts))


def parse_unmask_response(msg: bytes, params: SecAggParams, pki: Pki, context: bytes,
                          channels: Mapping[int, ChannelKey]
                          ) -> tuple[int, dict[int, tuple[int, int]]]:
    """(sender, {client: (kind, share)})."""
    header, body = open_tagged(msg, MsgType.UNMASK_RESPONSE, params, context, channels)
    n = body.u32()
    if n > len(pki.clients):
        raise ProtocolError(f"{n} shares, at most {len(pki.clients)} possible")
    raw = body.take(n * _SHARE_ENTRY.size)
    body.end()
    out: dict[int, tuple[int, int]] = {}
    from_bytes = int.from_bytes
    for v, kind, blob in _SHARE_ENTRY.iter_unpack(raw):
        share = from_bytes(blob, "little")
        if v in out or kind not in (SELF_MASK_SHARE, MASK_KEY_SHARE) or share >= PRIME:
            raise ProtocolError(f"malformed share entry for client {v}")
        out[v] = (kind, share)
    return header.sender, out

