"""The long-term identity signatures of a federation, declared once: ECDSA P-256 or Ed25519.

Every signature on the wire is 64 bytes whichever the scheme: Ed25519's own encoding, or
ECDSA's (r, s) as two 32-byte big-endian integers (not DER, whose length varies). Public keys
are 32 bytes (Ed25519) or 33 (P-256, SEC1 compressed point). A key's Python type says its
scheme, so signing and verifying need no separate argument; a roster says which scheme its
enrolled keys use (trust.py).

Why P-256 is the default: a secure round at N = 1000 verifies ~66,000 signatures (each client
its ~30 neighbours' advertisements and ~36 consistency signatures, the server 1,000
advertisements), ~45 % of the in-process round. OpenSSL's P-256 verification (its constant-time
nistz256 assembly) ran 1.4-2.0x faster than its Ed25519 verification on the development machine
(federation/README.md, "Signatures"). ECDSA signs with RFC 6979 deterministic nonces
(`deterministic_signing`, OpenSSL >= 3.2), so a weak random source at signing time cannot leak
the key. ECDSA signatures are malleable ((r, s) and (r, n - s) both verify): nothing in the
protocol uses a signature's bytes as an identifier, only whether it verifies.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation.errors import ConfigError, ProtocolError
from federation.key_agreement import CURVES

SIG_LEN = 64

# Type aliases for annotations: a signing key and a verification key of either scheme.
SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
VerifyKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

_ECDSA_SIGN = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
_ECDSA_VERIFY = ec.ECDSA(hashes.SHA256())


class Scheme(ABC):
    """One signature scheme: keys, their fixed-length encoding, 64-byte signatures."""

    name: str
    code: int  # its byte in a roster
    key_len: int

    @abstractmethod
    def generate(self) -> Any:
        """A fresh random signing key."""

    @abstractmethod
    def sign(self, key: Any, data: bytes) -> bytes:
        """The SIG_LEN-byte signature of `data`."""

    @abstractmethod
    def verify(self, key: Any, signature: bytes, data: bytes) -> bool:
        """Whether `signature` is `key`'s over `data` (never raises for a bad signature)."""

    @abstractmethod
    def public_bytes(self, key: Any) -> bytes:
        """The verification key's key_len-byte encoding."""

    def load_public(self, data: bytes) -> Any:
        """Parse and validate a key_len-byte verification key; ProtocolError if it is none."""
        if len(data) != self.key_len:
            raise ProtocolError(f"a {self.name} key is {self.key_len} bytes, got {len(data)}")
        return self._load(bytes(data))

    @abstractmethod
    def _load(self, data: bytes) -> Any:
        """`load_public` once the length is right."""


class _Ed25519(Scheme):
    name, code, key_len = "ed25519", 1, 32

    def generate(self) -> ed25519.Ed25519PrivateKey:
        return ed25519.Ed25519PrivateKey.generate()

    def sign(self, key: ed25519.Ed25519PrivateKey, data: bytes) -> bytes:
        return key.sign(data)

    def verify(self, key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> bool:
        try:
            key.verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def public_bytes(self, key: ed25519.Ed25519PublicKey) -> bytes:
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)

    def _load(self, data: bytes) -> ed25519.Ed25519PublicKey:
        return ed25519.Ed25519PublicKey.from_public_bytes(data)


class _P256(Scheme):
    name, code, key_len = "p256", 2, 33  # SEC1 compressed point, as the P-256 ECDH keys

    def generate(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def sign(self, key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
        r, s = decode_dss_signature(key.sign(data, _ECDSA_SIGN))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def verify(self, key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
        if len(signature) != SIG_LEN:
            return False
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        try:  # r or s of 0 or >= the group order: OpenSSL refuses it as invalid
            key.verify(encode_dss_signature(r, s), data, _ECDSA_VERIFY)
        except InvalidSignature:
            return False
        return True

    def public_bytes(self, key: ec.EllipticCurvePublicKey) -> bytes:
        return key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)

    def _load(self, data: bytes) -> ec.EllipticCurvePublicKey:
        # The point checks of the P-256 key agreement (off-curve points and infinity refused).
        return CURVES["p256"].load_public(data)


ED25519 = _Ed25519()
P256 = _P256()
SCHEMES: dict[str, Scheme] = {s.name: s for s in (P256, ED25519)}
DEFAULT = P256


def scheme(name: str) -> Scheme:
    try:
        return SCHEMES[name]
    except KeyError:
        raise ConfigError(f"unknown signature scheme {name!r}; one of {sorted(SCHEMES)}"
                          ) from None


def scheme_by_code(code: int) -> Scheme:
    for s in SCHEMES.values():
        if s.code == code:
            return s
    raise ProtocolError(f"unknown signature scheme code {code}")


def scheme_of(key: Any) -> Scheme:
    """The scheme of a signing or verification key (a P-256 key on another curve is refused)."""
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return ED25519
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return P256
        raise ConfigError(f"ECDSA keys must be on P-256, got {key.curve.name}")
    raise ConfigError(f"not a signing or verification key: {type(key).__name__}")


def public_bytes(key: VerifyKey) -> bytes:
    return scheme_of(key).public_bytes(key)
