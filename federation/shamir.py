"""Shamir t-of-n secret sharing over the prime field GF(2^255 - 19).

Plain modular arithmetic (polynomial evaluation and Lagrange interpolation at zero), not a
cipher: the randomness comes from `secrets`. The prime is Curve25519's field prime, chosen only
because it is a well-known 255-bit prime; secrets are 254-bit integers so they always lie in the
field, and a share is one field element (32 bytes little-endian).

Share x-coordinates are client id + 1, so a share never sits at x = 0 (the secret itself).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

PRIME = 2**255 - 19
SECRET_BITS = 254
SHARE_BYTES = 32


def random_secret() -> int:
    """A uniformly random 254-bit secret (always below PRIME)."""
    return secrets.randbits(SECRET_BITS)


def secret_bytes(secret: int) -> bytes:
    """The 32-byte encoding used as key material for HKDF."""
    return secret.to_bytes(SHARE_BYTES, "little")


def x_of(client_id: int) -> int:
    return client_id + 1


def split(secret: int, xs: Sequence[int], threshold: int) -> list[int]:
    """Shares f(x) for each x in `xs`, f of degree threshold-1 with f(0) = secret.

    Any `threshold` shares determine the secret; fewer reveal nothing about it.
    """
    if not 0 <= secret < PRIME:
        raise ValueError("secret outside the field")
    if not 1 <= threshold <= len(xs):
        raise ValueError(f"threshold {threshold} for {len(xs)} shares")
    coeffs = [secret] + [secrets.randbelow(PRIME) for _ in range(threshold - 1)]
    coeffs.reverse()  # highest degree first, for Horner's rule
    shares = []
    for x in xs:
        acc = 0
        for c in coeffs:
            acc = (acc * x + c) % PRIME
        shares.append(acc)
    return shares


def lagrange_at_zero(xs: Sequence[int]) -> list[int]:
    """Coefficients l_i with f(0) = sum_i l_i f(x_i) for any f of degree < len(xs).

    Computed once per set of responders and reused for every secret they hold shares of.
    """
    if len(set(xs)) != len(xs) or any(x % PRIME == 0 for x in xs):
        raise ValueError("share x-coordinates must be distinct and non-zero")
    coeffs = []
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        coeffs.append(num * pow(den, -1, PRIME) % PRIME)
    return coeffs


def combine(coeffs: Sequence[int], shares: Sequence[int]) -> int:
    """f(0) from shares at the x-coordinates `coeffs` were computed for."""
    return sum(c * s for c, s in zip(coeffs, shares, strict=True)) % PRIME


def reconstruct(points: Sequence[tuple[int, int]]) -> int:
    """The secret from (x, share) pairs; exactly `threshold` of them are needed."""
    xs = [x for x, _ in points]
    return combine(lagrange_at_zero(xs), [s for _, s in points])
