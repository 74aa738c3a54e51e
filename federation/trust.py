"""The trust root: an enrolment authority, independent of the aggregator, signs the roster.

Signatures only mean something if the verification keys come from someone the server does not
control. A client therefore never takes its peers' keys from the server: it is configured with
the authority's public key (the trust anchor, installed out of band like a CA certificate) and
accepts a roster - the enrolled client ids with their verification keys (ECDSA P-256 by
default, or Ed25519: `signing.py`) and the server's key - only with a valid authority
signature. The server cannot add Sybil clients, replace a client's key or drop the roster's
binding to the round (its digest is in every round's context). Who runs the authority is a deployment decision (the operator's PKI, a
hardware-backed attestation service); the in-process simulation makes one on the spot and says
so (`Identities.simulated`), because there one process holds every key and signatures prove
nothing against the driver itself.

    ROSTER   header (type ROSTER, round = epoch, sender = AUTHORITY_ID, zero context)
             | scheme u8 | n u32 | n x (client id u32 | key K) | server key K | signature 64

K is the scheme's key length (33 for P-256, 32 for Ed25519); every enrolled key is of the
roster's scheme. The authority's own key may be of either scheme: its type says which.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from federation import signing
from federation.errors import ConfigError, ProtocolError
from federation.signing import Scheme, SigningKey, VerifyKey
from federation.wire import (
    AUTHORITY_ID,
    CONTEXT_LEN,
    HEADER_LEN,
    SERVER_ID,
    MsgType,
    Reader,
    pack_header,
    sign,
    unpack_header,
    verify,
)


def key_bytes(key: VerifyKey) -> bytes:
    return signing.public_bytes(key)


def fingerprint(key: VerifyKey) -> str:
    """Short hex name of a public key (for reports and logs)."""
    return hashlib.sha256(key_bytes(key)).hexdigest()[:16]


@dataclass(frozen=True)
class Pki:
    """Long-term verification keys of every enrolled client (by id) and of the server, as
    certified by `authority` (None only for a hand-made Pki, which the protocol refuses)."""

    clients: Mapping[int, VerifyKey]
    server: VerifyKey
    authority: VerifyKey | None = None
    roster_digest: bytes = b""

    def __post_init__(self) -> None:
        for cid in self.clients:
            if not 0 <= cid < AUTHORITY_ID:
                raise ConfigError(f"client id {cid} outside [0, {AUTHORITY_ID})")

    def client_key(self, cid: int) -> VerifyKey:
        try:
            return self.clients[cid]
        except KeyError:
            raise ProtocolError(f"client {cid} is not in the PKI") from None

    def require_trust_root(self) -> None:
        if self.authority is None or not self.roster_digest:
            raise ConfigError("the PKI must come from a roster signed by an enrolment authority "
                              "independent of the aggregator (Pki.from_roster / "
                              "make_identities), not be assembled by hand")

    @classmethod
    def from_roster(cls, roster: bytes, authority: VerifyKey) -> Pki:
        """The PKI a roster certifies; ProtocolError unless `authority` signed it."""
        if not isinstance(roster, (bytes, bytearray)):
            raise ProtocolError("a roster must be bytes")
        header = unpack_header(bytes(roster))
        if header.type != MsgType.ROSTER or header.sender != AUTHORITY_ID:
            raise ProtocolError("not a roster issued by an authority")
        body = Reader(verify(authority, bytes(roster), "the enrolment authority"), HEADER_LEN)
        scheme = signing.scheme_by_code(body.u8())
        n = body.u32()
        if n > body.remaining() // (4 + scheme.key_len):
            raise ProtocolError("roster truncated")
        clients: dict[int, VerifyKey] = {}
        for _ in range(n):
            cid = body.u32()
            if cid in clients:
                raise ProtocolError(f"roster names client {cid} twice")
            clients[cid] = scheme.load_public(bytes(body.take(scheme.key_len)))
        server = scheme.load_public(bytes(body.take(scheme.key_len)))
        body.end()
        return cls(clients, server, authority, hashlib.sha256(bytes(roster)).digest())


class Authority:
    """Enrols clients and the server: signs the roster of their verification keys."""

    def __init__(self, key: SigningKey | None = None) -> None:
        self._key = key or signing.DEFAULT.generate()
        signing.scheme_of(self._key)  # a key of no supported scheme is refused here
        self.public_key = self._key.public_key()

    def issue_roster(self, clients: Mapping[int, VerifyKey], server: VerifyKey,
                     epoch: int = 0) -> bytes:
        scheme = signing.scheme_of(server)
        parts = [pack_header(MsgType.ROSTER, epoch, AUTHORITY_ID, bytes(CONTEXT_LEN)),
                 struct.pack("<BI", scheme.code, len(clients))]
        for cid in sorted(clients):
            if not 0 <= cid < SERVER_ID - 1:
                raise ConfigError(f"client id {cid} cannot be enrolled")
            theirs = signing.scheme_of(clients[cid])
            if theirs is not scheme:
                raise ConfigError(f"client {cid}'s key is {theirs.name}, the server's"
                                  f" {scheme.name}: one roster, one scheme")
            parts.append(struct.pack("<I", cid) + scheme.public_bytes(clients[cid]))
        parts.append(scheme.public_bytes(server))
        return sign(self._key, b"".join(parts))


@dataclass(frozen=True)
class Identities:
    """Signing keys for an in-process simulation, and the PKI the authority certified."""

    clients: dict[int, SigningKey]
    server: SigningKey
    pki: Pki
    roster: bytes = b""
    simulated: bool = True  # True when the same process also ran the authority

    @property
    def trust_root(self) -> str:
        who = fingerprint(self.pki.authority) if self.pki.authority else "none"
        return f"authority {who}" + (" (simulated in-process)" if self.simulated else "")


def make_identities(client_ids: Iterable[int], authority: Authority | None = None,
                    scheme: Scheme | str = signing.DEFAULT) -> Identities:
    """Fresh long-term identity keys for each party, enrolled by `authority`.

    In a deployment each party generates its own key and the authority certifies the public
    half; here one process plays every part. Without `authority` a fresh one is made and the
    result is marked `simulated`. `scheme`: the parties' signature scheme (`signing.SCHEMES`).
    """
    scheme = signing.scheme(scheme) if isinstance(scheme, str) else scheme
    simulated = authority is None
    authority = authority or Authority(scheme.generate())
    clients = {cid: scheme.generate() for cid in client_ids}
    server = scheme.generate()
    roster = authority.issue_roster({c: k.public_key() for c, k in clients.items()},
                                    server.public_key())
    return Identities(clients, server, Pki.from_roster(roster, authority.public_key), roster,
                      simulated)
