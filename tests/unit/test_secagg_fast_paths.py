"""The server's fast paths (issue 10, performance): each must compute exactly what the plain
code it replaced computed, and refuse exactly what it refused."""

import math
import random
import struct

import pytest

from federation.channel import ChannelKey
from federation.errors import ProtocolError
from federation.secagg_messages import (
    MASK_KEY_SHARE,
    SELF_MASK_SHARE,
    encode_unmask_response,
    parse_shares,
    parse_unmask_response,
)
from federation.secagg_params import SecAggParams
from federation.shamir import (
    PRIME,
    _denominators,
    lagrange_at_zero,
    random_secret,
    reconstruct,
    split,
)
from federation.share_cipher import SEALED_LEN
from federation.trust import make_identities
from federation.wire import MsgType, pack_header


def _reference_denominators(xs):
    return [math.prod([xj - xi for xj in xs if xj != xi]) % PRIME for xi in xs]


@pytest.mark.parametrize("n", [1, 2, 3, 6, 17, 37, 60])
@pytest.mark.parametrize("top", [8, 1000, 5001, 2**20, 2**31 - 1, 2**40])
def test_denominators_equal_the_double_loop(n, top):
    """int64 runs of differences, then exact products: equal to the double loop for every
    size and range (x >= 2^31 take the plain loop)."""
    rng = random.Random(n * 1000 + top.bit_length())
    for _ in range(5):
        xs = rng.sample(range(1, top + 1), min(n, top))
        assert _denominators(xs) == _reference_denominators(xs)


@pytest.mark.parametrize("t, top", [(37, 1000), (41, 5000), (5, 2**35)])
def test_lagrange_reconstructs_from_scattered_holders(t, top):
    """Shares at scattered x (a Harary neighbourhood) and at huge x both reconstruct."""
    rng = random.Random(t)
    xs = rng.sample(range(1, top + 1), t + 3)
    secret = random_secret()
    pts = list(zip(xs, split(secret, xs, t)))
    assert reconstruct(pts[:t]) == secret
    assert reconstruct(pts[3:]) == secret
    coeffs = lagrange_at_zero(xs[:t])
    assert sum(coeffs) % PRIME == 1  # the constant polynomial 1


def _params():
    return SecAggParams(3, 8, 2, graph="complete")


def _shares_msg(ids, params, ctx, entries, n=None):
    body = struct.pack("<I", len(entries) if n is None else n)
    body += b"".join(struct.pack("<I", v) + blob for v, blob in entries)
    return _CHANNEL.seal(pack_header(MsgType.SHARES, params.round_number, 0, ctx) + body)


# Client 0's and client 1's channel keys (any 32 bytes: these parsers only check the tag).
_CHANNEL = ChannelKey(bytes(range(32)))
_CHANNELS = {0: _CHANNEL, 1: ChannelKey(bytes(32))}


def test_parse_shares_keeps_every_check():
    ids, params, ctx = make_identities(range(4)), _params(), bytes(16)
    blob = [bytes([i]) * SEALED_LEN for i in range(3)]
    sender, got = parse_shares(_shares_msg(ids, params, ctx, [(1, blob[0]), (2, blob[1])]),
                               params, ids.pki, ctx, _CHANNELS)
    assert sender == 0 and got == {1: blob[0], 2: blob[1]}
    with pytest.raises(ProtocolError, match="two sealed shares for client 2"):
        parse_shares(_shares_msg(ids, params, ctx, [(2, blob[0]), (1, blob[1]), (2, blob[2])]),
                     params, ids.pki, ctx, _CHANNELS)
    with pytest.raises(ProtocolError, match="truncated"):
        parse_shares(_shares_msg(ids, params, ctx, [(1, blob[0])], n=2), params, ids.pki, ctx,
                     _CHANNELS)
    with pytest.raises(ProtocolError, match="trailing"):
        parse_shares(_shares_msg(ids, params, ctx, [(1, blob[0]), (2, blob[1])], n=1),
                     params, ids.pki, ctx, _CHANNELS)
    with pytest.raises(ProtocolError, match="at most"):
        parse_shares(_shares_msg(ids, params, ctx, [], n=5), params, ids.pki, ctx,
                     _CHANNELS)


def test_parse_unmask_response_keeps_every_check():
    ids, params, ctx = make_identities(range(4)), _params(), bytes(16)

    def msg(entries):
        return encode_unmask_response(_CHANNELS[1], params, 1, ctx, entries)

    s = [random_secret() for _ in range(3)]
    sender, got = parse_unmask_response(msg([(0, SELF_MASK_SHARE, s[0]),
                                             (2, MASK_KEY_SHARE, s[1])]), params, ids.pki, ctx,
                                        _CHANNELS)
    assert sender == 1 and got == {0: (SELF_MASK_SHARE, s[0]), 2: (MASK_KEY_SHARE, s[1])}
    for bad in ([(0, SELF_MASK_SHARE, s[0]), (0, MASK_KEY_SHARE, s[1])],  # repeated client
                [(0, 2, s[0])],                                            # unknown kind
                [(3, SELF_MASK_SHARE, PRIME)]):                            # outside the field
        with pytest.raises(ProtocolError, match="malformed share entry"):
            parse_unmask_response(msg(bad), params, ids.pki, ctx, _CHANNELS)


def test_bench_reports_the_servers_cpu_time():
    """The steadier figure of the optimisation pass: CPU seconds of the server's calls."""
    from federation.bench import bench_round

    row = bench_round(6, 32, graph="complete", dropout_fraction=0.2)
    sec = row["secure"]
    assert sec["exact"]
    assert 0.0 < sec["server_cpu_seconds"] <= sec["server_seconds"] * 1.5 + 0.05


def test_bench_pauses_the_cyclic_collector_only_while_timing(monkeypatch):
    """The in-process bench times every party in one heap: the collector is off during the
    round (each full collection would walk all N clients' objects) and on again after it."""
    import gc

    from federation import bench

    seen = []
    real = bench.run_secure_round

    def spy(*args, **kwargs):
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "run_secure_round", spy)
    assert gc.isenabled()
    row = bench.bench_round(6, 32, graph="complete")
    assert seen == [False] and row["gc_paused"] is True and gc.isenabled()
    row = bench.bench_round(6, 32, graph="complete", keep_gc=True)
    assert seen == [False, True] and row["gc_paused"] is False and gc.isenabled()
