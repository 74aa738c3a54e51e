"""Fixed-point encoding of weighted updates as integers mod 2^b, and its exact inverse.

Client u with update x_u and weight w_u in (0, max_weight] sends (before masking)

    Q(w_u x_u) = rint(w_u * clip(x_u, -c, c) * 2^q)      for every coordinate, and
    Q(w_u)     = rint(w_u * 2^q)                          as one extra, last coordinate,

all mod 2^b. Weights are pre-multiplied on the client and the weight itself travels inside the
masked vector, so the server learns only the sums sum_u Q(w_u x_u) and sum_u Q(w_u), never an
individual weight (which could reveal a client's data volume). The average is their ratio.

The modulus must hold the signed sum over all N clients without wrapping:
N * ceil(max_weight * max(c, 1) * 2^q) < 2^(b-1), plus `headroom_bits` spare bits. A config
that does not fit is rejected before any key is generated. Values travel as little-endian uint32
when b <= 32 (4 bytes a parameter, the size of a float32) and uint64 otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from federation.errors import AggregationError, ConfigError, ProtocolError

# float64 represents every integer up to 2^53 exactly; keep the largest encoded magnitude below.
_MAX_EXACT_BITS = 52


@dataclass(frozen=True)
class QuantConfig:
    """Fixed-point parameters of the secure sum.

    clip: c > 0, every coordinate is clipped to [-c, c] before encoding (model weights of the
        project's learners stay well inside the default 8).
    frac_bits: q, resolution 2^-q (default 16: 1.5e-5).
    mod_bits: b, the sum lives in Z_{2^b} (default 32: masked vectors are as big as float32).
    headroom_bits: spare bits required above the worst-case sum.
    max_weight: the largest weight a client may use (the driver rescales weights to max 1).
    """

    clip: float = 8.0
    frac_bits: int = 16
    mod_bits: int = 32
    headroom_bits: int = 1
    max_weight: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.clip) and self.clip > 0):
            raise ConfigError(f"clip must be finite and > 0, got {self.clip}")
        if not (isinstance(self.frac_bits, int) and 0 <= self.frac_bits <= _MAX_EXACT_BITS):
            raise ConfigError(f"frac_bits must be an integer in [0, {_MAX_EXACT_BITS}]")
        if not (isinstance(self.mod_bits, int) and 2 <= self.mod_bits <= 64):
            raise ConfigError(f"mod_bits must be an integer in [2, 64], got {self.mod_bits}")
        if not (isinstance(self.headroom_bits, int) and self.headroom_bits >= 0):
            raise ConfigError("headroom_bits must be an integer >= 0")
        if not (math.isfinite(self.max_weight) and self.max_weight > 0):
            raise ConfigError(f"max_weight must be finite and > 0, got {self.max_weight}")
        if self.max_weight * max(self.clip, 1.0) * 2.0**self.frac_bits > 2.0**_MAX_EXACT_BITS:
            raise ConfigError("max_weight * clip * 2^frac_bits exceeds 2^52: the fixed-point "
                              "encoding would no longer be exact; lower frac_bits or clip")

    @property
    def dtype(self) -> np.dtype:
        return np.dtype("<u4") if self.mod_bits <= 32 else np.dtype("<u8")

    @property
    def mask(self) -> int:
        return (1 << self.mod_bits) - 1

    @property
    def scale(self) -> float:
        return float(2**self.frac_bits)

    def per_client_bound(self) -> int:
        """Largest |encoded value| one client can contribute in any coordinate."""
        return math.ceil(self.max_weight * max(self.clip, 1.0) * self.scale)

    def required_mod_bits(self, n_clients: int) -> int:
        """Smallest b for which the signed sum over `n_clients` fits, headroom included."""
        bound = n_clients * self.per_client_bound()
        return bound.bit_length() + 1 + self.headroom_bits

    def check_fits(self, n_clients: int) -> None:
        """Refuse the config when the modular sum over `n_clients` could wrap."""
        need = self.required_mod_bits(n_clients)
        if self.mod_bits < need:
            raise ConfigError(
                f"mod_bits={self.mod_bits} is too small for {n_clients} clients: the sum needs "
                f"{need} bits (N * max_weight * max(clip, 1) * 2^q = {n_clients} * "
                f"{self.max_weight} * {max(self.clip, 1.0)} * 2^{self.frac_bits}, sign and "
                f"{self.headroom_bits} headroom bit(s)); raise mod_bits or lower frac_bits/clip")


def check_weight(weight: float, cfg: QuantConfig) -> None:
    if not (math.isfinite(weight) and 0 < weight <= cfg.max_weight):
        raise AggregationError(f"weight {weight} outside (0, {cfg.max_weight}]")
    if np.rint(weight * cfg.scale) < 1:
        raise AggregationError(f"weight {weight} rounds to 0 at {cfg.frac_bits} fractional bits")


def encode_signed(values: np.ndarray, cfg: QuantConfig) -> np.ndarray:
    """Integers (int64) as residues mod 2^b in the wire dtype (two's complement)."""
    residues = values.astype(np.int64).view(np.uint64)
    if cfg.mod_bits < 64:
        residues = residues & np.uint64(cfg.mask)
    return residues.astype(cfg.dtype)


def quantise(x: np.ndarray, weight: float, cfg: QuantConfig) -> np.ndarray:
    """Q(w x) followed by Q(w): the d+1 residues a client masks. Refuses non-finite input."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise AggregationError(f"update must be a flat vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise AggregationError("update has non-finite values (NaN or infinity)")
    check_weight(weight, cfg)
    fixed = np.empty(x.size + 1, dtype=np.float64)
    np.clip(x, -cfg.clip, cfg.clip, out=fixed[:-1])
    fixed[:-1] *= weight * cfg.scale
    fixed[-1] = weight * cfg.scale
    return encode_signed(np.rint(fixed), cfg)


def decode_signed(z: np.ndarray, cfg: QuantConfig) -> np.ndarray:
    """Residues mod 2^b back to signed int64 (valid because the sum cannot wrap)."""
    # Sign extension by shifts: move bit b-1 to bit 63, then shift back arithmetically.
    shift = np.uint64(64 - cfg.mod_bits)
    return (np.asarray(z).astype(np.uint64) << shift).view(np.int64) >> np.int64(shift)


def average_from_sum(z: np.ndarray, cfg: QuantConfig) -> tuple[np.ndarray, float]:
    """(weighted average, total weight) from the unmasked sum of d+1 residues."""
    signed = decode_signed(z, cfg)
    total = int(signed[-1])
    if total <= 0:
        raise ProtocolError("the aggregated weight is not positive: the sum is corrupted")
    return signed[:-1].astype(np.float64) / float(total), total / cfg.scale


def quantised_weighted_mean(vectors: Sequence[np.ndarray], weights: Sequence[float],
                            cfg: QuantConfig) -> np.ndarray:
    """What the secure sum must return exactly: the weighted mean of the quantised inputs.

    Computed without any masking (int64 sums), for tests and for checking a deployment.
    """
    acc = None
    for x, w in zip(vectors, weights, strict=True):
        q = decode_signed(quantise(x, w, cfg), cfg)
        acc = q if acc is None else acc + q
    if acc is None:
        raise AggregationError("no vectors")
    # Through the residues and back, by the very route the server's decoding takes.
    return average_from_sum(encode_signed(acc, cfg), cfg)[0]
