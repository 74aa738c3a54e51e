"""The trust root: an enrolment authority, independent of the aggregator, signs the roster.

Signatures only mean something if the verification keys come from someone the server does not
control. A client therefore never takes its peers' keys from the server: it is configured with
the authority's public key (the trust anchor, installed out of band like a CA certificate) and
accepts a roster - the enrolled client ids with their Ed25519 verification keys and the
server's key - only with a valid authority signature. The server cannot add Sybil clients,
replace a client's key or drop the roster's binding to the round (its digest is in every
round's context). Who runs the authority is a deployment decision (the operator's PKI, a
hardware-backed attestation service); the in-process simulation makes one on the spot and says
so (`Identities.simulated`), because there one process holds every key and signatures prove
nothing against the driver itself.

    ROSTER   header (type ROSTER, round = epoch, sender = AUTHORITY_ID, zero context)
             | n u32 | n x (client id u32 | Ed25519 key 32) | server key 32 | signature 64
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation.errors import ConfigError, ProtocolError
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

_KEY_LEN = 32


def key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def fingerprint(key: Ed25519PublicKey) -> str:
    """Short hex name of a public key (for reports and logs)."""
    return hashlib.sha256(key_bytes(key)).hexdigest()[:16]


@dataclass(frozen=True)
class Pki:
    """Long-term Ed25519 verification keys of every enrolled client (by id) and of the server,
    as certified by `authority` (None only for a hand-made Pki, which the protocol refuses)."""

    clients: Mapping[int, Ed25519PublicKey]
    server: Ed25519PublicKey
    authority: Ed25519PublicKey | None = None
    roster_digest: bytes = b""

    def __post_init__(self) -> None:
        for cid in self.clients:
            if not 0 <= cid < AUTHORITY_ID:
                raise ConfigError(f"client id {cid} outside [0, {AUTHORITY_ID})")

    def client_key(self, cid: int) -> Ed25519PublicKey:
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
    def from_roster(cls, roster: bytes, authority: Ed25519PublicKey) -> Pki:
        """The PKI a roster certifies; ProtocolError unless `authority` signed it."""
        if not isinstance(roster, (bytes, bytearray)):
            raise ProtocolError("a roster must be bytes")
        header = unpack_header(bytes(roster))
        if header.type != MsgType.ROSTER or header.sender != AUTHORITY_ID:
            raise ProtocolError("not a roster issued by an authority")
        body = Reader(verify(authority, bytes(roster), "the enrolment authority"), HEADER_LEN)
        n = body.u32()
        if n > body.remaining() // (4 + _KEY_LEN):
            raise ProtocolError("roster truncated")
        clients: dict[int, Ed25519PublicKey] = {}
        for _ in range(n):
            cid = body.u32()
            if cid in clients:
                raise ProtocolError(f"roster names client {cid} twice")
            clients[cid] = Ed25519PublicKey.from_public_bytes(bytes(body.take(_KEY_LEN)))
        server = Ed25519PublicKey.from_public_bytes(bytes(body.take(_KEY_LEN)))
        body.end()
        return cls(clients, server, authority, hashlib.sha256(bytes(roster)).digest())


class Authority:
    """Enrols clients and the server: signs the roster of their verification keys."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key or Ed25519PrivateKey.generate()
        self.public_key = self._key.public_key()

    def issue_roster(self, clients: Mapping[int, Ed25519PublicKey], server: Ed25519PublicKey,
                     epoch: int = 0) -> bytes:
        parts = [pack_header(MsgType.ROSTER, epoch, AUTHORITY_ID, bytes(CONTEXT_LEN)),
                 struct.pack("<I", len(clients))]
        for cid in sorted(clients):
            if not 0 <= cid < SERVER_ID - 1:
                raise ConfigError(f"client id {cid} cannot be enrolled")
            parts.append(struct.pack("<I", cid) + key_bytes(clients[cid]))
        parts.append(key_bytes(server))
        return sign(self._key, b"".join(parts))


@dataclass(frozen=True)
class Identities:
    """Signing keys for an in-process simulation, and the PKI the authority certified."""

    clients: dict[int, Ed25519PrivateKey]
    server: Ed25519PrivateKey
    pki: Pki
    roster: bytes = b""
    simulated: bool = True  # True when the same process also ran the authority

    @property
    def trust_root(self) -> str:
        who = fingerprint(self.pki.authority) if self.pki.authority else "none"
        return f"authority {who}" + (" (simulated in-process)" if self.simulated else "")


def make_identities(client_ids: Iterable[int], authority: Authority | None = None
                    ) -> Identities:
    """Fresh long-term identity keys for each party, enrolled by `authority`.

    In a deployment each party generates its own key and the authority certifies the public
    half; here one process plays every part. Without `authority` a fresh one is made and the
    result is marked `simulated`.
    """
    simulated = authority is None
    authority = authority or Authority()
    clients = {cid: Ed25519PrivateKey.generate() for cid in client_ids}
    server = Ed25519PrivateKey.generate()
    roster = authority.issue_roster({c: k.public_key() for c, k in clients.items()},
                                    server.public_key())
    return Identities(clients, server, Pki.from_roster(roster, authority.public_key), roster,
                      simulated)
