"""Metric helpers every scenario's summary may use (no scenario knowledge here).

- `jain`: Jain's fairness index J = (sum x)^2 / (n sum x^2) (1 = all equal, 1/n = one takes
  all), along an axis.
- `hist_percentile`: a percentile from a histogram with logarithmic bins (e.g. packet delays
  counted by a packet-level simulator), interpolated log-linearly within its bin and clamped to
  the observed range, so that it never lies outside [min, max] of the samples it summarises.
"""

from __future__ import annotations

import math

import numpy as np


def jain(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Jain's fairness index along `axis`; 1 where every value is 0 (nobody is favoured)."""
    x = np.asarray(x, dtype=np.float64)
    num = x.sum(axis=axis) ** 2
    den = x.shape[axis] * (x * x).sum(axis=axis)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)


def hist_percentile(counts: np.ndarray, edges: np.ndarray, q: float,
                    lo: float | None = None, hi: float | None = None) -> float:
    """The q-th percentile (0..100) of the samples counted in `counts` over bins `edges`.

    `edges` ([bins + 1], positive, increasing) are log-spaced: within the bin that holds the
    q-th sample the value is interpolated linearly in log(value) between the bin's edges, i.e.
    the samples of a bin are taken as spread evenly on the log axis (what a log histogram
    assumes). The result is clamped to [lo, hi] when given (the smallest/largest observed value:
    a bin's far edge may lie beyond every sample in it). NaN for an empty histogram.
    """
    counts = np.asarray(counts, dtype=np.float64).ravel()
    edges = np.asarray(edges, dtype=np.float64).ravel()
    if edges.size != counts.size + 1:
        raise ValueError(f"{counts.size} bins need {counts.size + 1} edges, got {edges.size}")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    total = counts.sum()
    if total <= 0:
        return math.nan
    cdf = np.cumsum(counts)
    target = q / 100.0 * total
    nonempty = np.flatnonzero(counts > 0)
    # The first bin whose cumulative count reaches the target, skipping empty bins (q = 0).
    i = int(max(np.searchsorted(cdf, target, side="left"), nonempty[0]))
    i = min(i, int(nonempty[-1]))
    frac = (target - (cdf[i] - counts[i])) / counts[i]
    frac = min(max(frac, 0.0), 1.0)
    lo_edge, hi_edge = float(edges[i]), float(edges[i + 1])
    value = lo_edge * (hi_edge / lo_edge) ** frac
    value = min(max(value, lo_edge), hi_edge)  # exactly the edge at frac 0 or 1 (rounding)
    if hi is not None:
        value = min(value, float(hi))
    if lo is not None:
        value = max(value, float(lo))
    return float(value)
