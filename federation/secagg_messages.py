"""Encoders and validating parsers of the secure-aggregation messages (all plain `bytes`).

Layouts after the 34-byte header (see `wire`); u32 are little-endian; every message ends with
the sender's 64-byte Ed25519 signature. P = public key length (32 for X25519, 33 for P-256),
W = 4 or 8 (uint32 when b <= 32), d = number of parameters.

    ADVERTISE        c_pk (P) | s_pk (P) | b_commit (32)                     client -> server
    KEY_LIST         n u32 | n x (len u32 | ADVERTISE message verbatim)      server -> all
    SHARES           n u32 | n x (recipient u32 | nonce 12 | AES-GCM 88)     client -> server
    SHARE_ROUTING    recipient u32 | n u32 | n x (sender u32 | nonce 12 | AES-GCM 88)
    MASKED_INPUT     (d + 1) x W: masked Q(w x) then masked Q(w)             client -> server
    UNMASK_REQUEST   n u32 | survivors n x u32 | m u32 | dropped m x u32     server -> all
    UNMASK_RESPONSE  n u32 | n x (client u32 | kind u8 | share 32)           client -> server
    AGGREGATE        (d + 1) x W: the unmasked sum mod 2^b                   server -> all

A parser checks, in this order: header (magic, version, type), round number (stale rounds are
refused), context (session), the sender's identity and signature, then the body's exact length
and contents. Nothing is decoded before the signature verifies.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from federation.errors import ProtocolError
from federation.secagg_params import Pki, SecAggParams
from federation.shamir import PRIME, SHARE_BYTES
from federation.share_cipher import SEALED_LEN
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
_SHARE_ENTRY = struct.Struct(f"<IB{SHARE_BYTES}s")


def open_signed(msg: bytes, expect: MsgType, params: SecAggParams, context: bytes,
                signer: Pki | Ed25519PublicKey) -> tuple[Header, Reader]:
    """Check header, round, context and signature; a reader over the body."""
    header = unpack_header(msg)
    if header.type != expect:
        raise ProtocolError(f"expected a {expect.name} message, got {header.type.name}")
    if header.round != params.round_number:
        raise ProtocolError(f"stale or future message: round {header.round}, this round is "
                            f"{params.round_number}")
    if header.context != context:
        raise ProtocolError(f"{header.type.name} message belongs to another session")
    if isinstance(signer, Pki):
        key, who = signer.client_key(header.sender), f"client {header.sender}"
    else:
        if header.sender != SERVER_ID:
            raise ProtocolError(f"{header.type.name} must come from the server")
        key, who = signer, "the server"
    signed = verify(key, msg, who)
    return header, Reader(signed, HEADER_LEN)


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


def commit_self_mask_seed(params: SecAggParams, sender: int, seed: bytes) -> bytes:
    """SHA-256 commitment to b_u, so the server can tell a corrupted share from a good one.

    Not in Bonawitz et al.; the mask-key seed is checked against s_pk instead. Without it, t
    shares with one bad value would silently produce a wrong aggregate.
    """
    tag = b"fedmarl/secagg/v1/self-mask-commitment"
    return hashlib.sha256(tag + params.context() + struct.pack("<I", sender) + seed).digest()


def encode_advertise(identity: Ed25519PrivateKey, params: SecAggParams, sender: int,
                     c_pk: bytes, s_pk: bytes, b_commit: bytes) -> bytes:
    header = pack_header(MsgType.ADVERTISE, params.round_number, sender, params.context())
    return sign(identity, header + c_pk + s_pk + b_commit)


def parse_advertise(msg: bytes, params: SecAggParams, pki: Pki) -> Advertisement:
    header, body = open_signed(msg, MsgType.ADVERTISE, params, params.context(), pki)
    n = params.curve_impl.public_len
    c_pk, s_pk, b_commit = bytes(body.take(n)), bytes(body.take(n)), bytes(body.take(32))
    body.end()
    curve = params.curve_impl  # parsing refuses points that are not on the curve
    return Advertisement(header.sender, c_pk, s_pk, b_commit, bytes(msg),
                         curve.load_public(c_pk), curve.load_public(s_pk))


def encode_key_list(identity: Ed25519PrivateKey, params: SecAggParams,
                    ads: Sequence[Advertisement]) -> bytes:
    parts = [pack_header(MsgType.KEY_LIST, params.round_number, SERVER_ID, params.context()),
             struct.pack("<I", len(ads))]
    for ad in ads:
        parts.append(struct.pack("<I", len(ad.raw)) + ad.raw)
    return sign(identity, b"".join(parts))


def parse_key_list(msg: bytes, params: SecAggParams, pki: Pki) -> list[Advertisement]:
    """Every advertisement, each signature checked against the PKI; duplicates refused."""
    _, body = open_signed(msg, MsgType.KEY_LIST, params, params.context(), pki.server)
    n = body.u32()
    if n > len(pki.clients):
        raise ProtocolError(f"key list of {n} entries for {len(pki.clients)} known clients")
    ads = [parse_advertise(bytes(body.take(body.u32())), params, pki) for _ in range(n)]
    body.end()
    if len({ad.sender for ad in ads}) != len(ads):
        raise ProtocolError("key list names a client twice")
    return ads


def session_id(params: SecAggParams, ads: Sequence[Advertisement]) -> bytes:
    """SHA-256 of the round parameters and every public key in client-id order (32 bytes).

    Salt of every HKDF call after round 0 and (first 16 bytes) the context of every message.
    """
    h = hashlib.sha256(b"fedmarl/secagg/v1/session" + params.context())
    for ad in sorted(ads, key=lambda a: a.sender):
        h.update(struct.pack("<I", ad.sender) + ad.c_pk + ad.s_pk + ad.b_commit)
    return h.digest()


# --- round 1: share keys ---------------------------------------------------------------------

def encode_shares(identity: Ed25519PrivateKey, params: SecAggParams, sender: int,
                  context: bytes, sealed: Mapping[int, bytes]) -> bytes:
    parts = [pack_header(MsgType.SHARES, params.round_number, sender, context),
             struct.pack("<I", len(sealed))]
    parts += [struct.pack("<I", v) + blob for v, blob in sorted(sealed.items())]
    return sign(identity, b"".join(parts))


def _sealed_entries(body: Reader, limit: int) -> dict[int, bytes]:
    n = body.u32()
    if n > limit:
        raise ProtocolError(f"{n} sealed shares, at most {limit} possible")
    out: dict[int, bytes] = {}
    for _ in range(n):
        peer = body.u32()
        if peer in out:
            raise ProtocolError(f"two sealed shares for client {peer}")
        out[peer] = bytes(body.take(SEALED_LEN))
    body.end()
    return out


def parse_shares(msg: bytes, params: SecAggParams, pki: Pki, context: bytes
                 ) -> tuple[int, dict[int, bytes]]:
    header, body = open_signed(msg, MsgType.SHARES, params, context, pki)
    return header.sender, _sealed_entries(body, len(pki.clients))


def encode_share_routing(identity: Ed25519PrivateKey, params: SecAggParams, context: bytes,
                         recipient: int, sealed: Mapping[int, bytes]) -> bytes:
    parts = [pack_header(MsgType.SHARE_ROUTING, params.round_number, SERVER_ID, context),
             struct.pack("<II", recipient, len(sealed))]
    parts += [struct.pack("<I", u) + blob for u, blob in sorted(sealed.items())]
    return sign(identity, b"".join(parts))


def parse_share_routing(msg: bytes, params: SecAggParams, pki: Pki, context: bytes,
                        recipient: int) -> dict[int, bytes]:
    _, body = open_signed(msg, MsgType.SHARE_ROUTING, params, context, pki.server)
    if body.u32() != recipient:
        raise ProtocolError("share routing addressed to another client")
    return _sealed_entries(body, len(pki.clients))


# --- round 2: masked input -------------------------------------------------------------------

def _vector_message_len(params: SecAggParams) -> int:
    return HEADER_LEN + params.vector_len * params.quant.dtype.itemsize + SIG_LEN


def encode_vector(identity: Ed25519PrivateKey, msg_type: MsgType, params: SecAggParams,
                  sender: int, context: bytes, vector: np.ndarray) -> bytes:
    header = pack_header(msg_type, params.round_number, sender, context)
    return sign(identity, header + vector.astype(params.quant.dtype, copy=False).tobytes())


def parse_vector(msg: bytes, msg_type: MsgType, params: SecAggParams,
                 signer: Pki | Ed25519PublicKey, context: bytes) -> tuple[int, np.ndarray]:
    """(sender, residues) of a MASKED_INPUT or AGGREGATE message; wrong lengths refused."""
    expected = _vector_message_len(params)
    if len(msg) != expected:
        raise ProtocolError(f"{msg_type.name} of {len(msg)} bytes, expected {expected} for "
                            f"{params.n_params} parameters")
    header, body = open_signed(msg, msg_type, params, context, signer)
    words = np.frombuffer(body.take(body.remaining()), dtype=params.quant.dtype)
    if params.quant.mod_bits not in (32, 64) and np.any(words >> params.quant.mod_bits):
        raise ProtocolError(f"{msg_type.name} holds values >= 2^{params.quant.mod_bits}")
    return header.sender, words


# --- round 3: unmasking ----------------------------------------------------------------------

def encode_unmask_request(identity: Ed25519PrivateKey, params: SecAggParams, context: bytes,
                          survivors: Sequence[int], dropped: Sequence[int]) -> bytes:
    header = pack_header(MsgType.UNMASK_REQUEST, params.round_number, SERVER_ID, context)
    return sign(identity, header + pack_ids(list(survivors)) + pack_ids(list(dropped)))


def parse_unmask_request(msg: bytes, params: SecAggParams, pki: Pki, context: bytes
                         ) -> tuple[list[int], list[int]]:
    _, body = open_signed(msg, MsgType.UNMASK_REQUEST, params, context, pki.server)
    survivors = body.ids(len(pki.clients))
    dropped = body.ids(len(pki.clients))
    body.end()
    return survivors, dropped


def encode_unmask_response(identity: Ed25519PrivateKey, params: SecAggParams, sender: int,
                           context: bytes, shares: Sequence[tuple[int, int, int]]) -> bytes:
    """`shares`: (client, kind, share) with kind SELF_MASK_SHARE or MASK_KEY_SHARE."""
    parts = [pack_header(MsgType.UNMASK_RESPONSE, params.round_number, sender, context),
             struct.pack("<I", len(shares))]
    parts += [_SHARE_ENTRY.pack(v, kind, s.to_bytes(SHARE_BYTES, "little"))
              for v, kind, s in shares]
    return sign(identity, b"".join(parts))


def parse_unmask_response(msg: bytes, params: SecAggParams, pki: Pki, context: bytes
                          ) -> tuple[int, dict[int, tuple[int, int]]]:
    """(sender, {client: (kind, share)})."""
    header, body = open_signed(msg, MsgType.UNMASK_RESPONSE, params, context, pki)
    n = body.u32()
    if n > len(pki.clients):
        raise ProtocolError(f"{n} shares, at most {len(pki.clients)} possible")
    out: dict[int, tuple[int, int]] = {}
    for _ in range(n):
        v, kind, raw = _SHARE_ENTRY.unpack(body.take(_SHARE_ENTRY.size))
        share = int.from_bytes(raw, "little")
        if v in out or kind not in (SELF_MASK_SHARE, MASK_KEY_SHARE) or share >= PRIME:
            raise ProtocolError(f"malformed share entry for client {v}")
        out[v] = (kind, share)
    body.end()
    return header.sender, out
