"""The federation's exceptions: one base class, one subclass per kind of failure.

Callers catch `FederationError` to treat any failed round alike (the model stays unchanged);
tests and logs use the subclasses to tell a bad update from a misbehaving peer.
"""

from __future__ import annotations


class FederationError(Exception):
    """Base class: the aggregation round did not produce a result."""


class AggregationError(FederationError, ValueError):
    """The updates cannot be averaged: keys, shapes, dtypes, lengths or values disagree."""


class ConfigError(FederationError, ValueError):
    """A protocol or quantisation setting is invalid (e.g. the modulus is too small for N)."""


class ProtocolError(FederationError):
    """A message is malformed, unauthenticated, stale, replayed or violates the protocol."""


class ThresholdError(FederationError):
    """Fewer than `threshold` clients are left at some stage: the round is refused."""


class ImplausibleAggregateError(ProtocolError):
    """The unmasked sum cannot come from well-formed inputs (|avg| > clip, weight out of range):
    some client sent a malformed input, or the server a forged aggregate."""
