"""Which key masks what: the derivations client and server must agree on bit for bit.

Client u sends y_u = x_u + PRG(b_u) + sum_{v > u} PRG(s_uv) - sum_{v < u} PRG(s_uv) mod 2^b
(Bonawitz et al., CCS 2017, Sec. 4): pairwise masks cancel in the sum over survivors, the
self-mask PRG(b_u) stops the server from unmasking u by claiming u dropped out. One PRG stream
covers the whole flat vector; the tensor layout's digest is in every HKDF info, so two layouts
never share a stream.
"""

from __future__ import annotations

from federation.kdf import PAIRWISE_MASK, SELF_MASK, SHARE_ENCRYPTION, derive_key
from federation.shamir import secret_bytes


def self_mask_key(b_seed: int, session: bytes, client: int, layout: bytes) -> bytes:
    return derive_key(secret_bytes(b_seed), session, SELF_MASK, client, layout)


def pairwise_mask_key(agreed: bytes, session: bytes, u: int, v: int, layout: bytes) -> bytes:
    """Key of the mask shared by u and v (symmetric in u, v)."""
    return derive_key(agreed, session, PAIRWISE_MASK, min(u, v), max(u, v), layout)


def adds_pairwise_mask(u: int, v: int) -> bool:
    """True when client u adds (rather than subtracts) its mask with v."""
    return v > u


def share_key(agreed: bytes, session: bytes, sender: int, recipient: int) -> bytes:
    """AES-GCM key for the shares `sender` sends `recipient` (one key per direction)."""
    return derive_key(agreed, session, SHARE_ENCRYPTION, sender, recipient)
