"""Finding 9: unit tests that catch a weakened protocol - Shamir thresholds, session-bound key
derivation, and round-to-nearest fixed point. Each docstring names the hand-made mutant it
kills (the mutants passed the whole suite before these tests existed)."""

import itertools

import numpy as np
import pytest

from federation import QuantConfig
from federation.masks import pairwise_mask_key, self_mask_key, share_key
from federation.quantise import decode_signed, quantise
from federation.shamir import (
    PRIME,
    evaluate_at,
    random_secret,
    reconstruct,
    reconstruct_verified,
    split,
    x_of,
)


@pytest.mark.parametrize("t, n", [(2, 3), (3, 5), (5, 7)])
def test_any_t_shares_reconstruct_the_secret(t, n):
    """Mutant: wrong Lagrange/polynomial arithmetic. Every t-subset gives the secret."""
    secret = random_secret()
    xs = [x_of(i) for i in range(n)]
    shares = list(zip(xs, split(secret, xs, t)))
    for subset in itertools.combinations(shares, t):
        assert reconstruct(list(subset)) == secret


@pytest.mark.parametrize("t", [2, 3, 6])
def test_t_minus_one_shares_reveal_nothing(t):
    """Mutant: polynomials of degree t-2 (then t-1 shares reconstruct). With degree t-1, t-1
    shares interpolate to a value unrelated to the secret, and for ANY candidate secret there
    is exactly one degree-(t-1) polynomial through those shares and that candidate, so the
    shares are equally consistent with every secret."""
    xs = [x_of(i) for i in range(t + 2)]
    for _ in range(20):
        secret = random_secret()
        shares = list(zip(xs, split(secret, xs, t)))
        assert reconstruct(shares[:t - 1]) != secret
        # Completing the t-1 shares with any candidate at x = 0 gives a valid polynomial
        # whose value at the remaining points differs from the real shares unless the
        # candidate is the secret.
        candidate = random_secret()
        fake = shares[:t - 1] + [(0, candidate)]
        assert evaluate_at(fake, xs[t]) != shares[t][1]
        assert evaluate_at(shares[:t - 1] + [(0, secret)], xs[t]) == shares[t][1]


def test_split_refuses_out_of_field_secrets_and_bad_thresholds():
    with pytest.raises(ValueError):
        split(PRIME, [1, 2, 3], 2)
    with pytest.raises(ValueError):
        split(5, [1, 2], 3)


def test_reconstruct_verified_finds_good_shares_and_the_liars():
    secret = random_secret()
    xs = [x_of(i) for i in range(7)]
    pts = list(zip(xs, split(secret, xs, 4)))
    pts[1] = (pts[1][0], (pts[1][1] + 12345) % PRIME)
    pts[4] = (pts[4][0], (pts[4][1] + 999) % PRIME)
    found = reconstruct_verified(pts, 4, lambda s: s == secret)
    assert found == (secret, {xs[1], xs[4]})
    assert reconstruct_verified(pts[:4], 4, lambda s: s == secret) is None


def test_every_derived_key_changes_with_the_session():
    """Mutant: HKDF salt no longer bound to the session id (a key would then repeat whenever
    a secret did, e.g. a seed reused across rounds). Each derivation must change with the
    session, and differ between purposes, clients and layouts."""
    secret, s1, s2 = b"k" * 32, b"\1" * 32, b"\2" * 32
    keys = [
        (lambda s: self_mask_key(7, s, 3, b"layout")),
        (lambda s: pairwise_mask_key(secret, s, 3, 5, b"layout")),
        (lambda s: share_key(secret, s, 3, 5)),
    ]
    for derive in keys:
        assert derive(s1) != derive(s2)
    values = {derive(s1) for derive in keys}
    values |= {self_mask_key(7, s1, 4, b"layout"), pairwise_mask_key(secret, s1, 3, 5, b"x"),
               share_key(secret, s1, 5, 3)}
    assert len(values) == 6
    assert pairwise_mask_key(secret, s1, 3, 5, b"l") == pairwise_mask_key(secret, s1, 5, 3, b"l")


def test_fixed_point_rounds_to_nearest_within_half_an_lsb():
    """Mutant: truncation instead of rounding (an error of up to one LSB, biased toward 0).
    Every value's encoding is within exactly 0.5 LSB, including values just below a half."""
    q = QuantConfig(clip=4.0, frac_bits=8)
    lsb = 2.0 ** -q.frac_bits
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-4, 4, 5000), [0.99 * lsb, -0.99 * lsb, 0.51 * lsb,
                                                   -0.51 * lsb, 3.999, -3.999]])
    decoded = decode_signed(quantise(x, 1.0, q), q)[:x.size] * lsb
    err = np.abs(decoded - x)
    assert err.max() <= 0.5 * lsb
    assert decoded[-6] == lsb and decoded[-5] == -lsb  # 0.99 LSB rounds up, not down


@pytest.mark.parametrize("scheme", ["p256", "ed25519"])
def test_shared_verification_remembers_successes_only_and_forgets_after_the_block(scheme):
    from federation import signing, wire
    from federation.errors import ProtocolError

    scheme = signing.scheme(scheme)
    key = scheme.generate()
    pub = key.public_key()
    msg = wire.sign(key, wire.pack_header(wire.MsgType(1), 3, 7, bytes(16)) + b"body")
    with wire.shared_verification():
        assert bytes(wire.verify(pub, msg, "c7")) == msg[:-wire.SIG_LEN]
        assert len(wire._VERIFIED) == 1
        assert bytes(wire.verify(pub, msg, "c7")) == msg[:-wire.SIG_LEN]  # remembered
        for i in (len(msg) - 1, wire.HEADER_LEN):  # a flipped bit in signature or body
            bad = bytearray(msg)
            bad[i] ^= 1
            with pytest.raises(ProtocolError, match="bad signature"):
                wire.verify(pub, bytes(bad), "c7")
        other = scheme.generate().public_key()  # same bytes, another sender's key
        with pytest.raises(ProtocolError, match="bad signature"):
            wire.verify(other, msg, "c8")
        assert len(wire._VERIFIED) == 1  # failures are never remembered
    assert not wire._VERIFIED  # cleared with the outermost block


def test_secure_round_with_shared_checks_equals_the_round_with_own_checks():
    from federation.strategy import SecureFedAvg

    rng = np.random.default_rng(4)
    ups = [{"w": rng.normal(size=300).astype(np.float32)} for _ in range(6)]
    own, _ = SecureFedAvg(1, 6, share_verification=False).aggregate(ups, 0)
    shared, report = SecureFedAvg(1, 6).aggregate(ups, 0)
    np.testing.assert_array_equal(own["w"], shared["w"])  # the exact quantised sum either way
    assert "failed" not in report
