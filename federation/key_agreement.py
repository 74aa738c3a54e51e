"""ECDH key agreement over X25519 (default) or NIST P-256, all from `cryptography`.

The reference paper says only "ECDH"; X25519 is the default because it is faster and has no
invalid-point pitfalls, P-256 is there for deployments that need a NIST curve. Both expose the
same small interface so the protocol never branches on the curve.

A mask secret key must be recoverable from Shamir shares when its owner drops out, so it is
derived deterministically from a 254-bit seed (the value actually shared) rather than shared as
a curve-specific encoding.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from federation.errors import ConfigError, ProtocolError

_SEED_INFO = b"fedmarl/secagg/v1/mask-secret-key/"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class Curve(ABC):
    """One ECDH group: key generation, encoding, parsing and agreement."""

    name: str
    public_len: int

    @abstractmethod
    def generate(self) -> Any:
        """A fresh random private key."""

    @abstractmethod
    def from_seed(self, seed: bytes) -> Any:
        """The private key determined by `seed` (so it can be rebuilt from Shamir shares)."""

    @abstractmethod
    def public_bytes(self, private: Any) -> bytes:
        """The public key's fixed-length encoding."""

    @abstractmethod
    def load_public(self, data: bytes) -> Any:
        """Parse and validate a peer's public key."""

    def exchange(self, private: Any, public: Any) -> bytes:
        try:
            return private.exchange(*self._exchange_args(public))
        except ValueError as exc:  # e.g. an X25519 small-order point giving an all-zero secret
            raise ProtocolError(f"{self.name} key agreement failed: {exc}") from None

    @abstractmethod
    def _exchange_args(self, public: Any) -> tuple[Any, ...]:
        """Arguments of `private.exchange` for this curve."""

    def _seed_bytes(self, seed: bytes, n: int) -> bytes:
        return HKDF(SHA256(), n, salt=None, info=_SEED_INFO + self.name.encode()).derive(seed)


class X25519Curve(Curve):
    name = "x25519"
    public_len = 32

    def generate(self) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.generate()

    def from_seed(self, seed: bytes) -> x25519.X25519PrivateKey:
        return x25519.X25519PrivateKey.from_private_bytes(self._seed_bytes(seed, 32))

    def public_bytes(self, private: Any) -> bytes:
        return private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def load_public(self, data: bytes) -> x25519.X25519PublicKey:
        if len(data) != 32:
            raise ProtocolError("X25519 public key must be 32 bytes")
        return x25519.X25519PublicKey.from_public_bytes(bytes(data))

    def _exchange_args(self, public: Any) -> tuple[Any, ...]:
        return (public,)


class P256Curve(Curve):
    name = "p256"
    public_len = 33  # compressed SEC1 point

    def generate(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def from_seed(self, seed: bytes) -> ec.EllipticCurvePrivateKey:
        # 384 bits reduced modulo the group order: the bias is below 2^-128.
        scalar = int.from_bytes(self._seed_bytes(seed, 48), "big") % (_P256_ORDER - 1) + 1
        return ec.derive_private_key(scalar, ec.SECP256R1())

    def public_bytes(self, private: Any) -> bytes:
        return private.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)

    def load_public(self, data: bytes) -> ec.EllipticCurvePublicKey:
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes(data))
        except ValueError:
            raise ProtocolError("not a P-256 public key (invalid P-256 point encoding or not"
                                " on the curve)") from None

    def _exchange_args(self, public: Any) -> tuple[Any, ...]:
        return (ec.ECDH(), public)


CURVES: dict[str, Curve] = {"x25519": X25519Curve(), "p256": P256Curve()}


def get_curve(name: str) -> Curve:
    try:
        return CURVES[name]
    except KeyError:
        raise ConfigError(f"unknown curve {name!r}; choose one of {sorted(CURVES)}") from None
