"""Public parameters of one secure-aggregation round, and the PKI of identity keys.

Both are known to every participant before the round starts (agreed out of band). Their digest
(`SecAggParams.context`) is bound into every advertise-stage message and hence into the session
id, so a participant running with a different round number, vector length, quantisation, curve,
threshold or tensor layout cannot be mixed into the round by accident or by a malicious server.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from federation.errors import ConfigError, ProtocolError
from federation.key_agreement import Curve, get_curve
from federation.quantise import QuantConfig
from federation.wire import CONTEXT_LEN, SERVER_ID


@dataclass(frozen=True)
class SecAggParams:
    """round_number: bound into every message. It must never repeat: a retried round takes a
        new number, so every message of an earlier attempt is stale.
    n_params: d, the number of floating parameters summed.
    threshold: t, the Shamir threshold and the fewest clients any stage may continue with.
    layout_digest: `ParamLayout.digest()` of the tensors (names the tensors in every key).
    """

    round_number: int
    n_params: int
    threshold: int
    quant: QuantConfig = field(default_factory=QuantConfig)
    curve: str = "x25519"
    layout_digest: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.round_number < 2**64:
            raise ConfigError("round_number must fit in 64 bits")
        if self.n_params < 1:
            raise ConfigError(f"n_params must be >= 1, got {self.n_params}")
        get_curve(self.curve)

    @property
    def curve_impl(self) -> Curve:
        return get_curve(self.curve)

    @property
    def vector_len(self) -> int:
        """Words in a masked vector: the d parameters and the weight."""
        return self.n_params + 1

    def validate_for(self, n_clients: int) -> None:
        """Refuse thresholds and moduli that are unsafe or too small for `n_clients`.

        t > n/2: an honest client reveals, for each peer, either its self-mask share or its
        mask-key share, never both; with 2t > n no server can collect t shares of each kind for
        the same peer from disjoint sets of honest clients (Bonawitz et al. 2017, Sec. 4), which
        is what unmasking a single input would take.
        """
        t = self.threshold
        if not 2 <= t <= n_clients or 2 * t <= n_clients:
            raise ConfigError(f"threshold must satisfy n/2 < t <= n and t >= 2 (n = {n_clients},"
                              f" t = {t})")
        self.quant.check_fits(n_clients)

    def context(self) -> bytes:
        q = self.quant
        h = hashlib.sha256(b"fedmarl/secagg/v1/params")
        h.update(struct.pack("<QQI", self.round_number, self.n_params, self.threshold))
        h.update(struct.pack("<dIIId", q.clip, q.frac_bits, q.mod_bits, q.headroom_bits,
                             q.max_weight))
        h.update(self.curve.encode() + b"\0" + self.layout_digest)
        return h.digest()[:CONTEXT_LEN]


@dataclass(frozen=True)
class Pki:
    """Long-term Ed25519 verification keys of every client (by id) and of the server."""

    clients: Mapping[int, Ed25519PublicKey]
    server: Ed25519PublicKey

    def __post_init__(self) -> None:
        for cid in self.clients:
            if not 0 <= cid < SERVER_ID:
                raise ConfigError(f"client id {cid} outside [0, {SERVER_ID})")

    def client_key(self, cid: int) -> Ed25519PublicKey:
        try:
            return self.clients[cid]
        except KeyError:
            raise ProtocolError(f"client {cid} is not in the PKI") from None


@dataclass(frozen=True)
class Identities:
    """Signing keys for an in-process simulation, and the PKI they imply."""

    clients: dict[int, Ed25519PrivateKey]
    server: Ed25519PrivateKey
    pki: Pki


def make_identities(client_ids: Iterable[int]) -> Identities:
    """Fresh long-term identity keys: in a deployment each party keeps its own private key."""
    clients = {cid: Ed25519PrivateKey.generate() for cid in client_ids}
    server = Ed25519PrivateKey.generate()
    pki = Pki({cid: k.public_key() for cid, k in clients.items()}, server.public_key())
    return Identities(clients, server, pki)
