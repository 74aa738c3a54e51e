"""Authenticated encryption of Shamir shares from one client to another (AES-256-GCM).

The key comes from ECDH(c_u, c_v) through HKDF with the session id as salt and the direction
(sender, recipient) in the info, so the two directions of a pair use different keys. The server
relays the ciphertexts; the associated data binds session, round, sender and recipient, so it can
neither redirect a ciphertext to another client nor replay one from another round.
"""

from __future__ import annotations

import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from federation.errors import ProtocolError
from federation.shamir import SHARE_BYTES

_PLAINTEXT = struct.Struct(f"<II{SHARE_BYTES}s{SHARE_BYTES}s")  # sender, recipient, b, m shares
NONCE_LEN = 12
SEALED_LEN = NONCE_LEN + _PLAINTEXT.size + 16  # nonce, ciphertext, GCM tag
_AD_TAG = b"fedmarl/secagg/v1/shares"


def _ad(session: bytes, round_number: int, sender: int, recipient: int) -> bytes:
    return _AD_TAG + session + struct.pack("<QII", round_number, sender, recipient)


def seal_shares(key: bytes, session: bytes, round_number: int, sender: int, recipient: int,
                b_share: int, m_share: int) -> bytes:
    """nonce || AES-GCM(self-mask seed share, mask-key seed share)."""
    plain = _PLAINTEXT.pack(sender, recipient, b_share.to_bytes(SHARE_BYTES, "little"),
                            m_share.to_bytes(SHARE_BYTES, "little"))
    nonce = os.urandom(NONCE_LEN)  # random: a key is used once, this is defence in depth
    return nonce + AESGCM(key).encrypt(nonce, plain, _ad(session, round_number, sender,
                                                         recipient))


def open_shares(key: bytes, session: bytes, round_number: int, sender: int, recipient: int,
                sealed: bytes) -> tuple[int, int]:
    """(self-mask seed share, mask-key seed share) or ProtocolError if tampered with."""
    if len(sealed) != SEALED_LEN:
        raise ProtocolError(f"sealed shares from {sender} have the wrong length")
    nonce, ct = sealed[:NONCE_LEN], sealed[NONCE_LEN:]
    try:
        plain = AESGCM(key).decrypt(nonce, ct, _ad(session, round_number, sender, recipient))
    except InvalidTag:
        raise ProtocolError(f"shares from client {sender} fail authentication") from None
    s, r, b, m = _PLAINTEXT.unpack(plain)
    if (s, r) != (sender, recipient):
        raise ProtocolError("shares name the wrong sender or recipient")
    return int.from_bytes(b, "little"), int.from_bytes(m, "little")
