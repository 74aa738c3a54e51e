"""HKDF-SHA256 key derivation with domain separation by purpose, session and tensor layout.

Every symmetric key of the protocol comes from here: salt = session id (so a key never repeats
across rounds even if a secret did), info = protocol tag, purpose and the parts that make the
key unique (pair of client ids, sender and recipient, digest of the tensor layout). Deployed
systems learned to do this (Flower once seeded a Mersenne Twister from 32 bits of the secret).
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PAIRWISE_MASK = b"pairwise-mask"
SELF_MASK = b"self-mask"
SHARE_ENCRYPTION = b"share-encryption"
CLIENT_SERVER_CHANNEL = b"client-server-channel"
_TAG = b"fedmarl/secagg/v1/"


def derive_key(secret: bytes, session: bytes, purpose: bytes, *parts: int | bytes) -> bytes:
    """A 32-byte key for `purpose`, bound to `session` and to every item of `parts`."""
    info = bytearray(_TAG + purpose)
    for part in parts:
        info += b"/" + (struct.pack("<I", part) if isinstance(part, int) else part)
    return HKDF(SHA256(), 32, salt=session, info=bytes(info)).derive(secret)
