"""Spatially correlated random fields for shadowing and for spatially consistent LOS states.

A field S(x) over the plane has zero mean, unit variance and covariance exp(-|x - y| / d_c)
(Gudmundson's exponential model, the one reference 002 takes from its ref. [18], and the form of
TR 38.901 sec. 7.6.3.1). We build it with the spectral (random Fourier feature) method:

    S(x) = sqrt(2 / J) * sum_j cos(k_j . x + phi_j),   phi_j ~ U[0, 2 pi),

where the wave vectors k_j are drawn from the field's spectral density. In 2-D the Fourier
transform of exp(-r / d_c) is proportional to (1 + d_c^2 |k|^2)^(-3/2), the bivariate Cauchy
(Student-t with one degree of freedom) law: k = z / (d_c |n|) with z ~ N(0, I_2), n ~ N(0, 1).
Then E[S(x) S(y)] = E[cos(k . (x - y))] = exp(-|x - y| / d_c) exactly, for any J; the marginal
is Gaussian in the limit of many terms (kurtosis 3 - 1.5 / J: 2.99 for J = 128).

Why this and not a gridded map filtered by FFT: no grid resolution or interpolation to bias the
variance, O(positions x J) per evaluation, continuous as robots move (spatial consistency), and
the same (k_j, phi_j) can be handed to the C++ ns-3 model to reproduce the field exactly.

Links: a link between points a and b gets Z(a, b) = (S(a) + S(b)) / sqrt(2 (1 + rho_ab)),
rho_ab = exp(-|a - b| / d_c). It is symmetric (reciprocal), has unit variance for every link
length, and moves continuously with both ends; links sharing a nearby end are correlated.
"""

from __future__ import annotations

import numpy as np

DEFAULT_TERMS = 128
# Wave numbers above this (features finer than ~5 cm, far below the 15 cm a robot moves between
# large-scale refreshes) are redrawn: they would only add sub-step jitter, and bounding them keeps
# the float32 cosine argument accurate. For d_c = 10 m this touches 0.08 % of the terms.
MAX_WAVENUMBER = 2.0 * np.pi / 0.05


class ExponentialField:
    """B independent realisations of a unit-variance field with exponential correlation."""

    def __init__(self, n_envs: int, corr_distance: float, rng: np.random.Generator,
                 n_terms: int = DEFAULT_TERMS) -> None:
        if corr_distance <= 0:
            raise ValueError(f"correlation distance must be > 0, got {corr_distance}")
        self.corr_distance = float(corr_distance)
        k = self._draw_wavevectors(rng, (n_envs, n_terms))
        self.wavevectors = k  # [B, J, 2] rad/m (float64, exact)
        self._k32_t = np.ascontiguousarray(np.swapaxes(k, 1, 2), dtype=np.float32)  # [B, 2, J]
        self.phases = rng.uniform(0.0, 2.0 * np.pi, size=(n_envs, 1, n_terms))  # [B, 1, J]
        self._phases32 = self.phases.astype(np.float32)
        self.scale = float(np.sqrt(2.0 / n_terms))

    def _draw_wavevectors(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        """Bivariate Cauchy wave vectors k = z / (d_c |n|), tail beyond MAX_WAVENUMBER redrawn."""
        k = np.empty(shape + (2,))
        todo = np.ones(shape, dtype=bool)
        while todo.any():
            m = int(todo.sum())
            z = rng.standard_normal((m, 2))
            n = np.abs(rng.standard_normal((m, 1)))
            k[todo] = z / (self.corr_distance * np.maximum(n, 1e-300))
            todo[todo] = np.hypot(k[todo][:, 0], k[todo][:, 1]) > MAX_WAVENUMBER
        return k

    def __call__(self, positions: np.ndarray) -> np.ndarray:
        """Field values at positions [B, P, 2] -> [B, P] (float64 result).

        The phases k . x + phi are formed in float32 (float32 cosines are ~10x faster than
        float64 here). Rounding the phase dominates the error: measured against the float64
        formula it is ~4e-5 (d_c = 10 m), ~1e-4 (5 m) and ~2e-4 (1 m) in field units of std 1,
        i.e. < 1e-3 dB of shadowing: negligible physically, but the C++ cross-check compares
        with these tolerances.
        """
        arg = np.matmul(positions.astype(np.float32), self._k32_t)  # [B, P, J]
        arg += self._phases32
        np.cos(arg, out=arg)
        return arg.sum(axis=-1).astype(np.float64) * self.scale

    def link_values(self, s_rx: np.ndarray, s_tx: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """Unit-variance link values Z(a, b) from field values at the two ends.

        s_rx [B, D], s_tx [B, N], dist [B, D, N] -> [B, D, N] in dist's dtype.
        """
        return self.pair_values(s_rx[:, :, None], s_tx[:, None, :], dist)

    def pair_values(self, s_a: np.ndarray, s_b: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """Z(a, b) of any set of pairs: s_a, s_b the ends' field values, broadcastable to
        dist's shape (e.g. gathered [B, D, K] ends of K chosen links per device)."""
        dtype = dist.dtype
        rho = np.exp(dist * dtype.type(-1.0 / self.corr_distance))
        rho += dtype.type(1.0)
        rho *= dtype.type(2.0)
        out = s_a.astype(dtype) + s_b.astype(dtype)
        out /= np.sqrt(rho)
        return out
