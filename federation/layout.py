"""The layout of a parameter dict: key order, shapes and dtypes, and its flat-vector form.

Federated averaging works on `dict[str, np.ndarray]` (a torch state_dict converted by the caller).
Every participant must hold the same keys with the same shapes and dtypes; the layout of the
first participant fixes the key order, so the flat vector that the secure path masks means the
same thing on every client. Floating tensors are averaged; integer and boolean tensors (e.g.
batch-norm `num_batches_tracked` counters) are not averaged but passed through.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from federation.errors import AggregationError

Params = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class TensorSpec:
    """One entry of a parameter dict."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def is_float(self) -> bool:
        return bool(np.issubdtype(self.dtype, np.floating))


def _spec(name: str, value: object) -> TensorSpec:
    arr = np.asarray(value)
    kind = arr.dtype.kind
    # Complex, object and string arrays have no meaningful average and no fixed-point encoding.
    if kind not in "fiub":
        raise AggregationError(f"parameter {name!r} has unsupported dtype {arr.dtype}")
    return TensorSpec(name, tuple(int(s) for s in arr.shape), arr.dtype)


@dataclass(frozen=True)
class ParamLayout:
    """Key order, shapes and dtypes shared by all participants."""

    tensors: tuple[TensorSpec, ...]

    @classmethod
    def of(cls, params: Params) -> ParamLayout:
        """The layout of `params`, in its own key order."""
        if not params:
            raise AggregationError("empty parameter dict")
        return cls(tuple(_spec(name, value) for name, value in params.items()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    @property
    def float_size(self) -> int:
        """Number of scalars in the floating tensors: the length of the averaged vector."""
        return sum(t.size for t in self.tensors if t.is_float)

    @property
    def nbytes(self) -> int:
        """Bytes of all tensors in their own dtypes (what a plain exchange ships)."""
        return sum(t.size * t.dtype.itemsize for t in self.tensors)

    def digest(self) -> bytes:
        """SHA-256 of names, shapes and dtypes in order: binds masks and messages to the layout."""
        h = hashlib.sha256(b"fedmarl/layout/v1")
        for t in self.tensors:
            name = t.name.encode()
            h.update(struct.pack("<I", len(name)) + name)
            h.update(struct.pack("<I", len(t.shape)) + struct.pack(f"<{len(t.shape)}q", *t.shape))
            h.update(t.dtype.str.encode() + b"\0")
        return h.digest()

    def check(self, params: Params, who: str = "client") -> None:
        """Raise `AggregationError` unless `params` has exactly this layout (any key order)."""
        mine = set(self.names)
        theirs = set(params)
        if mine != theirs:
            missing = sorted(mine - theirs)
            extra = sorted(theirs - mine)
            raise AggregationError(f"{who}: keys differ (missing {missing}, unexpected {extra})")
        for t in self.tensors:
            arr = np.asarray(params[t.name])
            if tuple(arr.shape) != t.shape:
                raise AggregationError(
                    f"{who}: {t.name!r} has shape {tuple(arr.shape)}, expected {t.shape}")
            if arr.dtype != t.dtype:
                raise AggregationError(
                    f"{who}: {t.name!r} has dtype {arr.dtype}, expected {t.dtype}")


def check_same_layout(updates: Sequence[Params]) -> ParamLayout:
    """The common layout of all updates (the first one's key order); raise if any differs."""
    if not updates:
        raise AggregationError("no updates to aggregate")
    layout = ParamLayout.of(updates[0])
    for i, params in enumerate(updates[1:], start=1):
        layout.check(params, who=f"update {i}")
    return layout


def flatten(params: Params, layout: ParamLayout) -> np.ndarray:
    """The floating tensors of `params` in layout order, as one float64 vector."""
    parts = [np.asarray(params[t.name], dtype=np.float64).ravel()
             for t in layout.tensors if t.is_float]
    if not parts:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate(parts)


def unflatten(vector: np.ndarray, layout: ParamLayout,
              passthrough: Params | None = None) -> dict[str, np.ndarray]:
    """Inverse of `flatten`: a dict in layout order with every dtype restored.

    Non-floating tensors are copied from `passthrough` (the participant whose counters are kept);
    they must be given when the layout has any.
    """
    vector = np.asarray(vector)
    if vector.shape != (layout.float_size,):
        raise AggregationError(
            f"vector has shape {vector.shape}, layout needs ({layout.float_size},)")
    out: dict[str, np.ndarray] = {}
    offset = 0
    for t in layout.tensors:
        if t.is_float:
            chunk = vector[offset:offset + t.size]
            offset += t.size
            out[t.name] = chunk.reshape(t.shape).astype(t.dtype, copy=True)
        else:
            if passthrough is None:
                raise AggregationError(f"{t.name!r} is not floating and no passthrough was given")
            out[t.name] = np.array(passthrough[t.name], dtype=t.dtype, copy=True)
    return out
