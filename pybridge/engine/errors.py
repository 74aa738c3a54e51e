"""The engine's error (importable without Ray)."""

from __future__ import annotations

from pybridge.bridge import BridgeError


class EngineError(BridgeError):
    """A shard of a distributed batch died or failed; every shard of the batch is stopped."""
