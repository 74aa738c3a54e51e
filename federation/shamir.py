"""Shamir t-of-n secret sharing over the prime field GF(2^255 - 19).

Plain modular arithmetic (polynomial evaluation and Lagrange interpolation at zero), not a
cipher: the randomness comes from `secrets`. The prime is Curve25519's field prime, chosen only
because it is a well-known 255-bit prime; secrets are 254-bit integers so they always lie in the
field, and a share is one field element (32 bytes little-endian).

Share x-coordinates are client id + 1, so a share never sits at x = 0 (the secret itself).
"""

from __future__ import annotations

import itertools
import math
import secrets
from collections.abc import Callable, Sequence

import numpy as np

PRIME = 2**255 - 19
_SMALL_X = 2**31  # x below this: differences, and runs of their products, fit int64
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

    One modular inversion for all of them (Montgomery's batch trick): the inversions, not the
    t^2 products, dominated the server's unmasking at t ~ 100.
    """
    if len(set(xs)) != len(xs) or any(x % PRIME == 0 for x in xs):
        raise ValueError("share x-coordinates must be distinct and non-zero")
    # x are small (client id + 1), so the products are formed exactly and reduced once: a
    # big integer times a small one is much cheaper than a 255-bit modular product.
    everything = math.prod(xs)
    nums = [everything // xi % PRIME for xi in xs]
    dens = _denominators(xs)
    prefix = [1]
    for den in dens:
        prefix.append(prefix[-1] * den % PRIME)
    inv = pow(prefix[-1], -1, PRIME)
    coeffs = [0] * len(xs)
    for i in range(len(xs) - 1, -1, -1):
        coeffs[i] = nums[i] * inv * prefix[i] % PRIME  # inv * prefix[i] = 1 / dens[i]
        inv = inv * dens[i] % PRIME
    return coeffs


def _denominators(xs: Sequence[int]) -> list[int]:
    """prod_{j != i} (x_j - x_i) mod PRIME for every i.

    The t^2 differences of small x (client id + 1) are formed in one numpy operation, runs of
    c of them multiplied in int64 (c chosen so that |product| < 2^62: exact), and only the
    t/c partial products per row multiplied as Python integers: a quarter of the Python-level
    products of the plain double loop, which dominated the server's ~N reconstructions on the
    Harary graph (no two share an x-set there, so the coefficient cache does not help).
    """
    n = len(xs)
    if n > 1 and all(0 < x < _SMALL_X for x in xs):
        a = np.fromiter(xs, dtype=np.int64, count=n)
        diff = a[np.newaxis, :] - a[:, np.newaxis]  # diff[i, j] = x_j - x_i, |.| < 2^31
        np.fill_diagonal(diff, 1)
        run = max(1, 62 // int(np.abs(diff).max()).bit_length())
        pad = -n % run
        if pad:
            diff = np.concatenate([diff, np.ones((n, pad), dtype=np.int64)], axis=1)
        partial = diff.reshape(n, -1, run).prod(axis=2)
        return [math.prod(row) % PRIME for row in partial.tolist()]
    return [math.prod([xj - xi for xj in xs if xj != xi]) % PRIME for xi in xs]


def combine(coeffs: Sequence[int], shares: Sequence[int]) -> int:
    """f(0) from shares at the x-coordinates `coeffs` were computed for."""
    return sum(c * s for c, s in zip(coeffs, shares, strict=True)) % PRIME


_COEFF_CACHE: dict[tuple[int, ...], list[int]] = {}
_COEFF_CACHE_MAX = 4096


def reconstruct(points: Sequence[tuple[int, int]]) -> int:
    """The secret from (x, share) pairs; exactly `threshold` of them are needed.

    Coefficients are cached by x-set: on the complete graph the same t responders answer for
    every client, so the server computes them once a round.
    """
    xs = tuple(x for x, _ in points)
    coeffs = _COEFF_CACHE.get(xs)
    if coeffs is None:
        coeffs = lagrange_at_zero(xs)
        if len(_COEFF_CACHE) >= _COEFF_CACHE_MAX:
            _COEFF_CACHE.clear()
        _COEFF_CACHE[xs] = coeffs
    return combine(coeffs, [s for _, s in points])


def evaluate_at(points: Sequence[tuple[int, int]], x: int) -> int:
    """f(x) for the polynomial of degree < len(points) through `points`."""
    acc = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                num = num * (x - xj) % PRIME
                den = den * (xi - xj) % PRIME
        acc += yi * num * pow(den, -1, PRIME)
    return acc % PRIME


def reconstruct_verified(points: Sequence[tuple[int, int]], threshold: int,
                         is_right: Callable[[int], bool], max_tries: int = 256
                         ) -> tuple[int, set[int]] | None:
    """The secret from any `threshold` good shares, and the x of every share that is wrong.

    A responder may send a wrong share; `is_right` recognises the true secret (commitment or
    public key). The first `threshold` points are tried first; if they fail, subsets that
    leave out one, then two, ... of the points are tried (at most `max_tries` in all). Once a
    subset gives the right secret, every other point is checked against that polynomial, so
    the caller learns which responders lied. None when no tried subset works.
    """
    if len(points) < threshold:
        return None
    tried: set[tuple[tuple[int, int], ...]] = set()
    for n_out in range(len(points) - threshold + 1):
        for left_out in itertools.combinations(range(len(points)), n_out):
            chosen = tuple(p for i, p in enumerate(points) if i not in left_out)[:threshold]
            if chosen in tried:
                continue
            if len(tried) >= max_tries:
                return None
            tried.add(chosen)
            secret = reconstruct(chosen)
            if is_right(secret):
                # Only after a failure is it worth finding the liars (costs t^2 per point).
                wrong = set() if len(tried) == 1 else {
                    x for x, y in points if (x, y) not in chosen
                    and evaluate_at(chosen, x) != y}
                return secret, wrong
    return None
