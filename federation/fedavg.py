"""Weighted federated averaging (FedAvg) over parameter dicts.

`fedavg(updates, weights)` returns `sum_i eta_i x_i / sum_i eta_i` for every floating tensor
(computed in float64, cast back to the tensor's dtype) and passes integer tensors through from
the first update. The flatten/unflatten helpers the secure path uses are re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from federation.errors import AggregationError
from federation.layout import (
    ParamLayout,
    Params,
    TensorSpec,
    check_same_layout,
    flatten,
    unflatten,
)

__all__ = [
    "ParamLayout",
    "TensorSpec",
    "check_finite",
    "check_same_layout",
    "check_weights",
    "fedavg",
    "flatten",
    "unflatten",
]


def check_weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    """The weights as a float64 array (equal when None); finite, >= 0 and not all zero."""
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise AggregationError(f"{w.size} weights for {n} updates")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise AggregationError(f"weights must be finite and >= 0, got {w.tolist()}")
    if not w.sum() > 0:
        raise AggregationError("weights sum to zero")
    return w


def check_finite(params: Params, layout: ParamLayout, who: str) -> None:
    """A NaN or infinity would poison the average of every participant: refuse it up front."""
    for t in layout.tensors:
        if t.is_float and not np.all(np.isfinite(params[t.name])):
            raise AggregationError(f"{who}: {t.name!r} has non-finite values")


def fedavg(updates: Sequence[Params], weights: Sequence[float] | None = None
           ) -> dict[str, np.ndarray]:
    """Weighted FedAvg of parameter dicts with identical keys, shapes and dtypes.

    `weights` are the eta_i (default equal); only their ratios matter. Raises `AggregationError`
    on any mismatch or non-finite value, before anything is summed.
    """
    layout = check_same_layout(updates)
    w = check_weights(weights, len(updates))
    for i, params in enumerate(updates):
        check_finite(params, layout, f"update {i}")
    total = math.fsum(w)
    acc = np.zeros(layout.float_size, dtype=np.float64)
    for wi, params in zip(w, updates):
        if wi:
            acc += wi * flatten(params, layout)
    return unflatten(acc / total, layout, passthrough=updates[0])
