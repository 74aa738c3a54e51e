"""Fixed-point encoding of weighted updates as integers mod 2^b, and its exact inverse.

Client u with update x_u and weight w_u in (0, max_weight] first rounds its weight to
w'_u = W_u 2^-qw with W_u = rint(w_u 2^qw) (qw = `weight_frac_bits`, default 32), then sends
(before masking), all mod 2^b,

    Q(w'_u x_u) = rint(w'_u * clip(x_u, -c, c) * 2^q)    for each of the d coordinates,
    W_u in L limbs of `limb_bits` bits                    (L = ceil((bitlen(W_max)) / limb)),
    the number of its coordinates that clipping changed   (one coordinate, capped).

Weights are pre-multiplied on the client and the weight itself travels inside the masked vector,
so the server learns only sum_u Q(w'_u x_u), sum_u W_u and the total clipped count, never an
individual weight (which could reveal a client's data volume) or count. The average is
sum Q(w' x) 2^-q / sum w'. Splitting W into limbs lets the weight carry 32 fractional bits in a
32-bit modulus: each limb's sum over N clients fits, and the total is rebuilt in Python ints.

Error bound (stated, and tested): |avg - sum w' x / sum w'| <= n 2^-(q+1) / sum w' for the n
clients in the sum (each client's rounding is at most half a unit of 2^-q, and the total weight
divides it), and |w' - w| <= 2^-(qw+1). With equal weights (sum w' = n) that is 2^-(q+1); with
one weight 1 and the rest tiny it grows to n 2^-(q+1). A weight that rounds to W = 0 (below
2^-(qw+1) relative to the largest) is refused.

The modulus must hold the signed sum over all N clients without wrapping:
N * ceil(max_weight * max(c, 1) * 2^q) < 2^(b-1), and N * (2^limb - 1) likewise, plus
`headroom_bits` spare bits. A config that does not fit is rejected before any key is generated.
The aggregate is checked for plausibility by server and clients alike (`check_plausible`). Values travel as little-endian uint32
when b <= 32 (4 bytes a parameter, the size of a float32) and uint64 otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from federation.errors import AggregationError, ConfigError, ImplausibleAggregateError

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
    weight_frac_bits: qw, fractional bits of the weight (default 32: relative weights down to
        2^-32 survive; 16 bits, as before, failed below 2^-17).
    """

    clip: float = 8.0
    frac_bits: int = 16
    mod_bits: int = 32
    headroom_bits: int = 1
    max_weight: float = 1.0
    weight_frac_bits: int = 32

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
        if not (isinstance(self.weight_frac_bits, int)
                and 0 <= self.weight_frac_bits <= _MAX_EXACT_BITS):
            raise ConfigError(f"weight_frac_bits must be an integer in [0, {_MAX_EXACT_BITS}]")
        if self.max_weight * 2.0**self.weight_frac_bits > 2.0**_MAX_EXACT_BITS:
            raise ConfigError("max_weight * 2^weight_frac_bits exceeds 2^52")
        if self.max_weight * max(self.clip, 1.0) * 2.0**self.frac_bits > 2.0**_MAX_EXACT_BITS:
            raise ConfigError("max_weight * clip * 2^frac_bits exceeds 2^52: the fixed-point "
                              "encoding would no longer be exact; lower frac_bits or clip")

    @cached_property
    def dtype(self) -> np.dtype:
        return np.dtype("<u4") if self.mod_bits <= 32 else np.dtype("<u8")

    @property
    def mask(self) -> int:
        return (1 << self.mod_bits) - 1

    @property
    def scale(self) -> float:
        return float(2**self.frac_bits)

    @property
    def limb_bits(self) -> int:
        """Bits of one weight limb: 16, or fewer for small moduli."""
        return max(1, min(16, self.mod_bits - 2))

    @cached_property
    def max_weight_units(self) -> int:
        """W of the largest allowed weight (in units of 2^-qw)."""
        return int(np.rint(self.max_weight * 2.0**self.weight_frac_bits))

    @cached_property
    def n_limbs(self) -> int:
        return max(1, math.ceil(self.max_weight_units.bit_length() / self.limb_bits))

    @cached_property
    def extra_words(self) -> int:
        """Words after the d parameters: the weight limbs and the clipped count."""
        return self.n_limbs + 1

    def count_cap(self, n_clients: int) -> int:
        """Largest clipped count one client reports, so that N counts cannot wrap."""
        return max(0, ((1 << (self.mod_bits - 1 - self.headroom_bits)) - 1) // max(n_clients, 1))

    def per_client_bound(self) -> int:
        """Largest |encoded value| one client can contribute in any coordinate."""
        return math.ceil(self.max_weight * max(self.clip, 1.0) * self.scale)

    def required_mod_bits(self, n_clients: int) -> int:
        """Smallest b for which the signed sum over `n_clients` fits, headroom included."""
        bound = n_clients * max(self.per_client_bound(), (1 << self.limb_bits) - 1)
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


def weight_units(weight: float, cfg: QuantConfig) -> int:
    """W = rint(w 2^qw), refused unless w is in (0, max_weight] and W >= 1."""
    if not (math.isfinite(weight) and 0 < weight <= cfg.max_weight):
        raise AggregationError(f"weight {weight} outside (0, {cfg.max_weight}]")
    units = int(np.rint(weight * 2.0**cfg.weight_frac_bits))
    if units < 1:
        raise AggregationError(f"weight {weight} rounds to 0 at {cfg.weight_frac_bits} "
                               f"fractional bits")
    return units


def check_weight(weight: float, cfg: QuantConfig) -> None:
    weight_units(weight, cfg)


def encode_signed(values: np.ndarray, cfg: QuantConfig) -> np.ndarray:
    """Integers (int64) as residues mod 2^b in the wire dtype (two's complement)."""
    residues = values.astype(np.int64).view(np.uint64)
    if cfg.mod_bits < 64:
        residues = residues & np.uint64(cfg.mask)
    return residues.astype(cfg.dtype)


def quantise(x: np.ndarray, weight: float, cfg: QuantConfig, count_cap: int | None = None
             ) -> np.ndarray:
    """Q(w' x), the weight limbs and the clipped count: the d + L + 1 residues a client masks.

    Refuses non-finite input. Rounding is to nearest (numpy's rint), so a value's encoding is
    within half a unit of 2^-q of w' x.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise AggregationError(f"update must be a flat vector, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise AggregationError("update has non-finite values (NaN or infinity)")
    units = weight_units(weight, cfg)
    w = units / 2.0**cfg.weight_frac_bits  # exact: a dyadic rational
    out = np.empty(x.size + cfg.extra_words, dtype=np.int64)
    clipped = np.clip(x, -cfg.clip, cfg.clip)
    n_clipped = int(np.count_nonzero(clipped != x))
    clipped *= w * cfg.scale
    out[:x.size] = np.rint(clipped)
    mask = (1 << cfg.limb_bits) - 1
    for j in range(cfg.n_limbs):
        out[x.size + j] = (units >> (j * cfg.limb_bits)) & mask
    out[-1] = n_clipped if count_cap is None else min(n_clipped, count_cap)
    return encode_signed(out, cfg)


def clipped_count(x: np.ndarray, cfg: QuantConfig) -> int:
    """Coordinates of x that clipping to [-c, c] changes (what a client reports, summed)."""
    x = np.asarray(x, dtype=np.float64)
    return int(np.count_nonzero(np.abs(x) > cfg.clip))


def decode_signed(z: np.ndarray, cfg: QuantConfig) -> np.ndarray:
    """Residues mod 2^b back to signed int64 (valid because the sum cannot wrap)."""
    # Sign extension by shifts: move bit b-1 to bit 63, then shift back arithmetically.
    shift = np.uint64(64 - cfg.mod_bits)
    return (np.asarray(z).astype(np.uint64) << shift).view(np.int64) >> np.int64(shift)


@dataclass(frozen=True)
class Decoded:
    """The unmasked sum, decoded: average, total weight (sum w') and total clipped count."""

    average: np.ndarray
    total_weight: float
    weight_units: int
    clipped: int


def decode_sum(z: np.ndarray, cfg: QuantConfig) -> Decoded:
    """Decode the d + L + 1 residues of a sum (no plausibility check: see `check_plausible`)."""
    signed = decode_signed(z, cfg)
    d = signed.size - cfg.extra_words
    units = sum(int(signed[d + j]) << (j * cfg.limb_bits) for j in range(cfg.n_limbs))
    if units <= 0:
        raise ImplausibleAggregateError("the aggregated weight is not positive: the sum is "
                                        "corrupted")
    # avg = sum Q 2^-q / (W 2^-qw): a power of two times the numerator, one correctly rounded
    # division; float64 holds both exactly (|sum Q| < 2^52, W < 2^52 by the config checks).
    num = signed[:d].astype(np.float64) * 2.0 ** (cfg.weight_frac_bits - cfg.frac_bits)
    return Decoded(num / float(units), units / 2.0**cfg.weight_frac_bits, units,
                   int(signed[-1]))


def check_plausible(dec: Decoded, cfg: QuantConfig, n_inputs: int, n_params: int) -> None:
    """Refuse a sum no n_inputs honest clients could have produced.

    Total weight in [n 2^-qw, n max_weight] (each W_u in [1, W_max]); |avg| <= c + n 2^-(q+1) /
    sum w' (each client's contribution is within half a unit of w' c 2^q); the clipped count
    in [0, n d]. One client can still move the average anywhere inside that box: only proofs
    that each input is well formed (zero-knowledge input validation) would rule that out.
    """
    if not n_inputs <= dec.weight_units <= n_inputs * cfg.max_weight_units:
        raise ImplausibleAggregateError(
            f"total weight {dec.total_weight:.6g} outside [{n_inputs} * 2^-"
            f"{cfg.weight_frac_bits}, {n_inputs} * {cfg.max_weight}] for {n_inputs} inputs")
    bound = cfg.clip + n_inputs * 2.0 ** -(cfg.frac_bits + 1) / dec.total_weight
    worst = float(np.max(np.abs(dec.average), initial=0.0))
    if worst > bound * (1 + 1e-12):
        raise ImplausibleAggregateError(f"|average| reaches {worst:.6g} > clip {cfg.clip} (+ "
                                        f"rounding): one input is out of range")
    if not 0 <= dec.clipped <= n_inputs * n_params:
        raise ImplausibleAggregateError(f"clipped count {dec.clipped} outside [0, "
                                        f"{n_inputs * n_params}]")


def average_from_sum(z: np.ndarray, cfg: QuantConfig) -> tuple[np.ndarray, float]:
    """(weighted average, total weight) from the unmasked sum of d + L + 1 residues."""
    dec = decode_sum(z, cfg)
    return dec.average, dec.total_weight


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
    return decode_sum(encode_signed(acc, cfg), cfg).average
