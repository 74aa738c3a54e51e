"""Public parameters of one secure-aggregation round, and the PKI of identity keys.

Both are known to every participant before the round starts (agreed out of band). Their digest
(`SecAggParams.context`) is bound into every advertise-stage message and hence into the session
id, so a participant running with a different round number, vector length, quantisation, curve,
threshold or tensor layout cannot be mixed into the round by accident or by a malicious server.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from federation.errors import ConfigError
from federation.graph import COMPLETE, GRAPHS, NeighbourGraph
from federation.key_agreement import Curve, get_curve
from federation.quantise import QuantConfig
from federation.trust import Identities, Pki, make_identities
from federation.wire import CONTEXT_LEN

__all__ = ["Identities", "Pki", "SecAggParams", "make_identities"]


@dataclass(frozen=True)
class SecAggParams:
    """round_number: bound into every message. It must never repeat: a retried round takes a
        new number, so every message of an earlier attempt is stale.
    n_params: d, the number of floating parameters summed.
    threshold: t, the Shamir threshold. Complete graph: of all n clients (a client's own share
        counts), and the fewest clients any stage may continue with. Harary graph: of a
        client's k neighbours (who alone hold its shares).
    layout_digest: `ParamLayout.digest()` of the tensors (names the tensors in every key).
    graph: "complete" (all-pairs, Bonawitz et al.) or "harary" (SecAgg+, Bell et al.).
    degree: k of the Harary graph (ignored for the complete graph).
    graph_seed: 32 bytes from which the Harary permutation is drawn; empty = derived from the
        session (and so from the server's challenge). Against a malicious server pass a seed it
        cannot choose (e.g. from the enrolment authority or a public randomness beacon): one
        that picks the challenge could try many graphs offline.
    """

    round_number: int
    n_params: int
    threshold: int
    quant: QuantConfig = field(default_factory=QuantConfig)
    curve: str = "x25519"
    layout_digest: bytes = b""
    graph: str = COMPLETE
    degree: int = 0
    graph_seed: bytes = b""

    def __post_init__(self) -> None:
        if self.graph not in GRAPHS:
            raise ConfigError(f"graph must be one of {GRAPHS}, got {self.graph!r}")
        if self.graph_seed and len(self.graph_seed) != 32:
            raise ConfigError("graph_seed must be 32 bytes")
        if not 0 <= self.round_number < 2**64:
            raise ConfigError("round_number must fit in 64 bits")
        if self.n_params < 1:
            raise ConfigError(f"n_params must be >= 1, got {self.n_params}")
        get_curve(self.curve)

    @property
    def curve_impl(self) -> Curve:
        return get_curve(self.curve)

    @cached_property
    def vector_len(self) -> int:
        """Words in a masked vector: the d parameters, the weight limbs, the clipped count."""
        return self.n_params + self.quant.extra_words

    def validate_for(self, n_clients: int) -> None:
        """Refuse thresholds, degrees and moduli that are unsafe or too small for `n_clients`.

        Complete graph: n/2 < t <= n. An honest client reveals, for each peer, either its
        self-mask share or its mask-key share, never both, and (ConsistencyCheck) only for one
        survivor list that t clients signed; with 2t > n + n_C no server can collect t shares
        of each kind of one client (Bonawitz et al. 2017), which unmasking it would take.
        Harary graph: k even, 2 <= k < n - 1 and 2 <= t <= k; the same argument within each
        client's k share holders needs 2t > k + corrupt neighbours, which the semi-malicious
        threat model's t gives with probability 1 - 2^-40 (a semi-honest one only needs more
        than the corrupt neighbours).
        """
        t = self.threshold
        if self.graph == COMPLETE:
            if not 2 <= t <= n_clients or 2 * t <= n_clients:
                raise ConfigError(f"threshold must satisfy n/2 < t <= n and t >= 2 (n = "
                                  f"{n_clients}, t = {t})")
        else:
            k = self.degree
            if k % 2 or not 2 <= k < n_clients - 1:
                raise ConfigError(f"Harary degree must be even and in [2, n - 1) (n = "
                                  f"{n_clients}, k = {k})")
            # 2 <= t <= k only: a semi-honest threat model may take t <= k/2 (the finder does
            # for small N); against a semi-malicious server `resolve_graph` insists on 2t > k.
            if not 2 <= t <= k:
                raise ConfigError(f"threshold must satisfy 2 <= t <= k on the Harary graph "
                                  f"(k = {k}, t = {t})")
        self.quant.check_fits(n_clients)

    def make_graph(self, ids: Iterable[int], session: bytes) -> NeighbourGraph:
        """The round's graph over the enrolled ids (seeded from the session unless given)."""
        if self.graph == COMPLETE:
            return NeighbourGraph.complete(ids)
        seed = self.graph_seed or hashlib.sha256(b"fedmarl/secagg/v1/graph-seed" +
                                                 session).digest()
        return NeighbourGraph.harary(ids, self.degree, seed)

    def context(self) -> bytes:
        q = self.quant
        h = hashlib.sha256(b"fedmarl/secagg/v1/params")
        h.update(struct.pack("<QQI", self.round_number, self.n_params, self.threshold))
        h.update(struct.pack("<dIIIdI", q.clip, q.frac_bits, q.mod_bits, q.headroom_bits,
                             q.max_weight, q.weight_frac_bits))
        h.update(self.curve.encode() + b"\0" + self.layout_digest)
        h.update(self.graph.encode() + b"\0" + struct.pack("<I", self.degree) + self.graph_seed)
        return h.digest()[:CONTEXT_LEN]
