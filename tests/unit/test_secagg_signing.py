"""The identity signature schemes (federation/signing.py): P-256 ECDSA (default) and Ed25519
sign, verify, refuse and travel in rosters the same way, and a secure round is exact with either."""

from __future__ import annotations

import numpy as np
import pytest

from federation import signing, wire
from federation.errors import ConfigError, ProtocolError
from federation.secure_round import run_secure_round
from federation.trust import Authority, Pki, make_identities

SCHEMES = sorted(signing.SCHEMES)
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@pytest.mark.parametrize("name", SCHEMES)
def test_a_signature_is_64_bytes_and_verifies_only_unchanged_under_its_key(name):
    scheme = signing.scheme(name)
    key, other = scheme.generate(), scheme.generate()
    sig = scheme.sign(key, b"payload")
    assert len(sig) == signing.SIG_LEN
    assert signing.scheme_of(key) is scheme and signing.scheme_of(key.public_key()) is scheme
    assert scheme.verify(key.public_key(), sig, b"payload")
    assert not scheme.verify(key.public_key(), sig, b"payloaD")
    assert not scheme.verify(other.public_key(), sig, b"payload")
    for i in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[i] ^= 0x80
        assert not scheme.verify(key.public_key(), bytes(bad), b"payload")
    assert not scheme.verify(key.public_key(), sig[:-1], b"payload")


@pytest.mark.parametrize("name", SCHEMES)
def test_public_keys_round_trip_and_bad_encodings_are_refused(name):
    scheme = signing.scheme(name)
    pub = scheme.generate().public_key()
    raw = scheme.public_bytes(pub)
    assert len(raw) == scheme.key_len
    assert scheme.public_bytes(scheme.load_public(raw)) == raw
    with pytest.raises(ProtocolError):
        scheme.load_public(raw[:-1])


def test_p256_refuses_out_of_range_scalars_and_points_off_the_curve():
    scheme = signing.P256
    key = scheme.generate()
    sig = scheme.sign(key, b"m")
    r, s = sig[:32], int.from_bytes(sig[32:], "big")
    # (r, n - s) is the other valid signature of the same message (ECDSA malleability: the
    # protocol never uses signature bytes as identifiers); s + n and 0 are out of range
    assert scheme.verify(key.public_key(), r + (P256_ORDER - s).to_bytes(32, "big"), b"m")
    if s + P256_ORDER < 1 << 256:
        assert not scheme.verify(key.public_key(), r + (s + P256_ORDER).to_bytes(32, "big"), b"m")
    assert not scheme.verify(key.public_key(), bytes(32) + sig[32:], b"m")
    assert not scheme.verify(key.public_key(), r + bytes(32), b"m")
    # an x whose x^3 - 3x + b is a non-residue mod p: no point of P-256 has it
    off = next(x for x in range(1, 50) if not _on_curve(x))
    with pytest.raises(ProtocolError, match="not a P-256 public key"):
        scheme.load_public(b"\x02" + off.to_bytes(32, "big"))


def _on_curve(x: int) -> bool:
    p = 2**256 - 2**224 + 2**192 + 2**96 - 1
    b = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
    rhs = (x**3 - 3 * x + b) % p
    return pow(rhs, (p - 1) // 2, p) in (0, 1)


def test_ecdsa_signatures_are_deterministic_rfc6979():
    key = signing.P256.generate()
    assert signing.P256.sign(key, b"m") == signing.P256.sign(key, b"m")
    assert signing.P256.sign(key, b"m") != signing.P256.sign(key, b"n")


def test_unknown_schemes_and_keys_are_clear_errors():
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(ConfigError, match="unknown signature scheme"):
        signing.scheme("rsa")
    with pytest.raises(ConfigError, match="P-256"):
        signing.scheme_of(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(ConfigError, match="not a signing"):
        signing.scheme_of(b"key")
    with pytest.raises(ProtocolError, match="scheme code"):
        signing.scheme_by_code(99)


@pytest.mark.parametrize("members,authority", [("p256", "p256"), ("ed25519", "ed25519"),
                                               ("p256", "ed25519")])
def test_a_roster_certifies_keys_of_its_scheme_under_an_authority_of_either(members, authority):
    auth = Authority(signing.scheme(authority).generate())
    ids = make_identities(range(4), auth, scheme=members)
    pki = Pki.from_roster(ids.roster, auth.public_key)
    assert all(signing.scheme_of(k).name == members for k in pki.clients.values())
    assert signing.public_bytes(pki.server) == signing.public_bytes(ids.server.public_key())
    # the scheme byte is signed: changing it breaks the authority's signature
    bad = bytearray(ids.roster)
    bad[wire.HEADER_LEN] ^= 3
    with pytest.raises(ProtocolError, match="bad signature"):
        Pki.from_roster(bytes(bad), auth.public_key)


def test_a_roster_mixing_schemes_is_refused():
    p, e = signing.P256, signing.ED25519
    with pytest.raises(ConfigError, match="one roster, one scheme"):
        Authority().issue_roster({0: p.generate().public_key(), 1: e.generate().public_key()},
                                 p.generate().public_key())


@pytest.mark.parametrize("name", SCHEMES)
def test_a_secure_round_is_exact_with_either_scheme_and_drop_outs(name):
    rng = np.random.default_rng(7)
    ups = [{"w": rng.normal(size=64).astype(np.float32)} for _ in range(8)]
    ids = make_identities(range(8), scheme=name)
    avg, report = run_secure_round(ups, identities=ids, dropouts={"masked_input": [2]},
                                   graph="complete", threshold=5)
    survivors = [u["w"] for i, u in enumerate(ups) if i != 2]
    np.testing.assert_allclose(avg["w"], np.mean(survivors, axis=0), atol=1e-4)
    assert sorted(report.survivors) == [0, 1, 3, 4, 5, 6, 7]
