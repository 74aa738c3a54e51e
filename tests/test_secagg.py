"""Secure aggregation (Bonawitz et al. 2017): exact result, drop-outs at every stage, refusals
below threshold, tampering, replays, malformed input, and what the server's transcript reveals.

Sizes are small (n <= 12, d <= 4000): the whole file runs in a few seconds."""

import struct

import numpy as np
import pytest
from scipy import stats

from federation import (
    AggregationError,
    ProtocolError,
    QuantConfig,
    SecAggClient,
    SecAggParams,
    SecAggServer,
    ThresholdError,
    check_same_layout,
    fedavg,
    flatten,
    make_identities,
    quantised_weighted_mean,
    run_secure_round,
    unflatten,
)
from federation.quantise import quantise
from federation.secagg_messages import (
    Advertisement,
    encode_key_list,
    encode_share_routing,
    encode_unmask_request,
    encode_unmask_response,
    parse_key_list,
    parse_share_routing,
    parse_unmask_response,
    parse_vector,
)
from federation.wire import HEADER_LEN, SIG_LEN, MsgType, sign


class Harness:
    """Clients and server of one round, driven stage by stage so tests can interfere."""

    def __init__(self, n=5, d=64, t=3, round_number=7, quant=None, curve="x25519", seed=0,
                 ids=None):
        self.ids = ids or make_identities(range(n))
        self.params = SecAggParams(round_number, d, t, quant or QuantConfig(), curve,
                                   b"test-layout")
        self.x = np.random.default_rng(seed).uniform(-1, 1, size=(n, d))
        self.clients = {i: SecAggClient(i, self.ids.clients[i], self.ids.pki, self.params,
                                        self.x[i]) for i in range(n)}
        self.server = SecAggServer(self.ids.server, self.ids.pki, self.params)
        self.n = n

    def advertise(self, skip=()):
        self.ads = {i: c.advertise() for i, c in self.clients.items() if i not in skip}
        for msg in self.ads.values():
            self.server.receive(msg)
        self.key_list = self.server.broadcast_keys()
        return self.key_list

    def share(self, skip=()):
        self.shares = {i: self.clients[i].share_keys(self.key_list)
                       for i in self.server.sets["advertised"] if i not in skip}
        for msg in self.shares.values():
            self.server.receive(msg)
        self.routing = self.server.route_shares()
        return self.routing

    def mask(self, skip=()):
        self.masked = {i: self.clients[i].masked_input(m)
                       for i, m in self.routing.items() if i not in skip}
        for msg in self.masked.values():
            self.server.receive(msg)
        self.request = self.server.request_unmasking()
        return self.request

    def unmask(self, skip=()):
        self.responses = {i: self.clients[i].unmask(self.request)
                          for i in self.server.survivors if i not in skip}
        for msg in self.responses.values():
            self.server.receive(msg)
        self.aggregate_msg = self.server.aggregate()
        return self.aggregate_msg

    def run(self, skip_at=None):
        skip_at = skip_at or {}
        self.advertise(skip_at.get("advertise", ()))
        self.share(skip_at.get("share_keys", ()))
        self.mask(skip_at.get("masked_input", ()))
        self.unmask(skip_at.get("unmask", ()))
        return self.server.average

    def expected(self):
        s = self.server.survivors
        return quantised_weighted_mean([self.x[i] for i in s], [1.0] * len(s), self.params.quant)


# --- correctness ---------------------------------------------------------------------------

def random_updates(n, rng, d=(20, 30)):
    return [{"w": rng.normal(scale=0.5, size=d).astype(np.float32),
             "b": rng.normal(scale=0.5, size=(d[1],)),
             "steps": np.array(i, dtype=np.int64)} for i in range(n)]


@pytest.mark.parametrize("dropouts", [
    {},
    {"advertise": [0]},
    {"share_keys": [3]},
    {"masked_input": [1, 6]},
    {"unmask": [2]},
    {"advertise": [7], "share_keys": [0], "masked_input": [4], "unmask": [5]},
])
def test_secure_average_equals_quantised_plain_average_exactly(dropouts):
    rng = np.random.default_rng(42)
    ups = random_updates(9, rng)
    weights = rng.uniform(0.5, 3.0, size=9)
    avg, report = run_secure_round(ups, weights, threshold=5, dropouts=dropouts)
    gone = {c for ids in dropouts.values() for c in ids if c not in dropouts.get("unmask", ())}
    survivors = [i for i in range(9) if i not in gone]
    assert report.survivors == survivors
    layout = check_same_layout(ups)
    w = weights / weights.max()
    exact = quantised_weighted_mean([flatten(ups[i], layout) for i in survivors],
                                    [w[i] for i in survivors], QuantConfig())
    expect = unflatten(exact, layout, passthrough=ups[survivors[0]])
    for k in expect:
        assert avg[k].dtype == ups[0][k].dtype
        np.testing.assert_array_equal(avg[k], expect[k])
    # And it is the plain weighted FedAvg of the survivors up to the fixed-point resolution.
    plain = fedavg([ups[i] for i in survivors], [weights[i] for i in survivors])
    for k in ("w", "b"):
        np.testing.assert_allclose(avg[k], plain[k], atol=2.0 ** -14)
    assert avg["steps"] == ups[survivors[0]]["steps"]


@pytest.mark.parametrize("curve, bits", [("p256", 32), ("x25519", 24), ("x25519", 40)])
def test_other_curves_and_moduli(curve, bits):
    quant = QuantConfig(clip=2.0, frac_bits=12, mod_bits=bits)
    h = Harness(n=6, d=300, t=4, quant=quant, curve=curve)
    avg = h.run({"masked_input": [2], "unmask": [4]})
    np.testing.assert_array_equal(avg, h.expected())
    np.testing.assert_allclose(avg, h.x[[0, 1, 3, 4, 5]].mean(axis=0), atol=2.0 ** -12)


def test_clients_decode_the_same_average_and_bytes_are_accounted():
    rng = np.random.default_rng(5)
    ups = random_updates(6, rng)
    _, report = run_secure_round(ups, threshold=4, dropouts={"masked_input": [1]})
    summary = report.summary()
    assert summary["n_survivors"] == 5 and summary["dropped"]["masked_input"] == [1]
    d = check_same_layout(ups).float_size
    # Each survivor uploads at least its masked vector and downloads at least the aggregate.
    for c in report.survivors:
        assert report.bytes_sent[c] > 4 * (d + 1) and report.bytes_received[c] > 4 * (d + 1)
    assert report.bytes_sent[1] < 4 * d  # dropped before sending its masked input
    assert set(report.stages) >= {"advertise", "share_keys", "masked_input", "unmask"}
    assert len(report.transcript) == 6 + 6 + 5 + 5


def test_client_side_results_match_server():
    h = Harness(n=5, d=50, t=3)
    h.run()
    for i in h.server.sets["responded"]:
        np.testing.assert_array_equal(h.clients[i].receive_aggregate(h.aggregate_msg),
                                      h.server.average)


# --- thresholds ----------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["advertise", "share_keys", "masked_input", "unmask"])
def test_below_threshold_is_refused_cleanly(stage):
    rng = np.random.default_rng(7)
    ups = random_updates(6, rng)
    before = [{k: v.copy() for k, v in u.items()} for u in ups]
    with pytest.raises(ThresholdError, match="threshold"):
        run_secure_round(ups, threshold=4, dropouts={stage: [0, 1, 2]})
    for u, b in zip(ups, before):
        for k in u:
            np.testing.assert_array_equal(u[k], b[k])


def test_client_refuses_to_continue_below_threshold():
    h = Harness(n=5, d=16, t=3)
    h.advertise()
    h.share()
    # A server that pretends only one peer shared keys: a routing message with one ciphertext.
    blob = h.server._sealed[1][0]
    fake = encode_share_routing(h.ids.server, h.params, h.server._context, 0, {1: blob})
    with pytest.raises(ThresholdError):
        h.clients[0].masked_input(fake)


# --- tampering by the server ---------------------------------------------------------------

def _resign_key_list(h, ads):
    return encode_key_list(h.ids.server, h.params, ads)


def test_swapped_key_in_the_key_list_is_detected():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    ads = parse_key_list(h.key_list, h.params, h.ids.pki)
    # Swap client 1's and client 2's mask keys inside their (client-signed) advertisements.
    p = h.params.curve_impl.public_len
    r1, r2 = bytearray(ads[1].raw), bytearray(ads[2].raw)
    r1[HEADER_LEN + p:HEADER_LEN + 2 * p], r2[HEADER_LEN + p:HEADER_LEN + 2 * p] = \
        r2[HEADER_LEN + p:HEADER_LEN + 2 * p], r1[HEADER_LEN + p:HEADER_LEN + 2 * p]
    forged = [ads[0], Advertisement(1, b"", b"", b"", bytes(r1)),
              Advertisement(2, b"", b"", b"", bytes(r2)), ads[3]]
    with pytest.raises(ProtocolError, match="bad signature"):
        h.clients[0].share_keys(_resign_key_list(h, forged))
    # The honest list still works: the refusal changed nothing.
    h.clients[0].share_keys(h.key_list)


def test_injected_or_replaced_keys_are_detected():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    ads = parse_key_list(h.key_list, h.params, h.ids.pki)
    # The server replaces client 3's advertisement with one it made under a key it controls.
    rogue = make_identities([3])
    other = SecAggClient(3, rogue.clients[3], h.ids.pki, h.params, np.zeros(8))
    fake_ad = Advertisement(3, b"", b"", b"", other.advertise())
    with pytest.raises(ProtocolError, match="bad signature"):
        h.clients[0].share_keys(_resign_key_list(h, ads[:3] + [fake_ad]))
    # A client not in the PKI.
    stranger = make_identities([9])
    pki_with_9 = type(h.ids.pki)({**h.ids.pki.clients, 9: stranger.pki.clients[9]},
                                 h.ids.pki.server)
    c9 = SecAggClient(9, stranger.clients[9], pki_with_9, h.params, np.zeros(8))
    with pytest.raises(ProtocolError, match="not in the PKI"):
        h.clients[0].share_keys(_resign_key_list(h, ads[:3] + [Advertisement(9, b"", b"", b"",
                                                                              c9.advertise())]))
    # The client's own advertisement dropped or altered.
    with pytest.raises(ProtocolError, match="own keys"):
        h.clients[0].share_keys(_resign_key_list(h, ads[1:]))
    # A key list not signed by the server.
    with pytest.raises(ProtocolError, match="bad signature"):
        h.clients[0].share_keys(encode_key_list(h.ids.clients[1], h.params, ads))


def test_server_rejects_forged_advertisement():
    h = Harness(n=4, d=8, t=3)
    msg = bytearray(h.clients[0].advertise())
    msg[HEADER_LEN] ^= 1
    with pytest.raises(ProtocolError, match="bad signature"):
        h.server.receive(bytes(msg))


def test_tampered_or_redirected_shares_are_detected():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    h.share()
    with pytest.raises(ProtocolError, match="another client"):
        h.clients[0].masked_input(h.routing[1])
    h.mask()
    # Flip one bit of the ciphertext client 2 sent to client 0; the server re-signs the routing.
    sealed = parse_share_routing(h.routing[0], h.params, h.ids.pki, h.server._context, 0)
    bad = bytearray(sealed[2])
    bad[20] ^= 1
    h.clients[0]._sealed_from[2] = bytes(bad)
    with pytest.raises(ProtocolError, match="fail authentication"):
        h.clients[0].unmask(h.request)


def test_corrupted_share_is_detected_by_the_server():
    h = Harness(n=5, d=8, t=3)
    h.advertise()
    h.share()
    h.mask()
    # A malicious client 0 answers with a wrong share of client 1's self-mask seed.
    honest = h.clients[0].unmask(h.request)
    _, shares = parse_unmask_response(honest, h.params, h.ids.pki, h.server._context)
    entries = [(v, kind, (s + 1) % (2**255 - 19) if v == 1 else s)
               for v, (kind, s) in sorted(shares.items())]
    h.server.receive(encode_unmask_response(h.ids.clients[0], h.params, 0, h.server._context,
                                            entries))
    for i in (1, 2, 3, 4):
        h.server.receive(h.clients[i].unmask(h.request))
    with pytest.raises(ProtocolError, match="corrupted"):
        h.server.aggregate()


# --- replays and stale messages ------------------------------------------------------------

def test_stale_round_messages_are_rejected():
    ids = make_identities(range(4))
    old = Harness(n=4, d=8, t=3, round_number=1, ids=ids)
    old.run()
    new = Harness(n=4, d=8, t=3, round_number=2, ids=ids)
    # Last round's advertisement replayed into this round's server.
    with pytest.raises(ProtocolError, match="round 1"):
        new.server.receive(old.ads[0])
    new.advertise()
    # Last round's key list replayed to a client of this round.
    with pytest.raises(ProtocolError, match="round 1"):
        new.clients[0].share_keys(old.key_list)
    new.share()
    # Last round's shares and masked input refused (wrong stage, then wrong round/session).
    with pytest.raises(ProtocolError):
        new.server.receive(old.shares[1])
    new.masked = {i: new.clients[i].masked_input(m) for i, m in new.routing.items()}
    with pytest.raises(ProtocolError, match="round 1"):
        new.server.receive(old.masked[1])


def test_duplicates_and_out_of_stage_messages_are_rejected():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    with pytest.raises(ProtocolError, match="accepts SHARES"):
        h.server.receive(h.ads[1])  # advertise stage closed
    h.share()
    h.masked = {i: h.clients[i].masked_input(m) for i, m in h.routing.items()}
    h.server.receive(h.masked[0])
    with pytest.raises(ProtocolError, match="duplicate"):
        h.server.receive(h.masked[0])
    # A client answers each stage once: the same server message again is refused.
    with pytest.raises(ProtocolError, match="out of order or replayed"):
        h.clients[0].masked_input(h.routing[0])
    for i in (1, 2, 3):
        h.server.receive(h.masked[i])
    h.request = h.server.request_unmasking()
    h.unmask()
    with pytest.raises(ProtocolError, match="out of order or replayed"):
        h.clients[0].unmask(h.request)


def test_messages_from_another_session_are_rejected():
    ids = make_identities(range(4))
    a = Harness(n=4, d=8, t=3, ids=ids)
    b = Harness(n=4, d=8, t=3, ids=ids)  # same round number, fresh keys: another session
    a.advertise()
    a.share()
    b.advertise()
    b.share()
    with pytest.raises(ProtocolError, match="another session"):
        b.clients[0].masked_input(a.routing[0])


# --- malformed inputs ----------------------------------------------------------------------

def test_client_refuses_nan_and_wrong_length_updates():
    ids = make_identities(range(3))
    params = SecAggParams(0, 4, 2)
    with pytest.raises(AggregationError, match="non-finite"):
        SecAggClient(0, ids.clients[0], ids.pki, params, np.array([0.0, np.nan, 0.0, 0.0]))
    with pytest.raises(AggregationError, match="shape"):
        SecAggClient(0, ids.clients[0], ids.pki, params, np.zeros(5))
    ups = [{"w": np.zeros(3)} for _ in range(3)]
    ups[1]["w"][0] = np.inf
    with pytest.raises(AggregationError, match="non-finite"):
        run_secure_round(ups, threshold=2)


def test_server_refuses_wrong_length_and_out_of_range_masked_vectors():
    h = Harness(n=4, d=16, t=3, quant=QuantConfig(clip=2.0, frac_bits=10, mod_bits=24))
    h.advertise()
    h.share()
    good = h.clients[0].masked_input(h.routing[0])
    body = good[:-SIG_LEN]
    short = sign(h.ids.clients[0], body[:-4])
    with pytest.raises(ProtocolError, match="expected"):
        h.server.receive(short)
    longer = sign(h.ids.clients[0], body + b"\0\0\0\0")
    with pytest.raises(ProtocolError, match="expected"):
        h.server.receive(longer)
    big = bytearray(body)
    big[HEADER_LEN:HEADER_LEN + 4] = struct.pack("<I", 1 << 24)
    with pytest.raises(ProtocolError, match=">= 2"):
        h.server.receive(sign(h.ids.clients[0], bytes(big)))
    with pytest.raises(ProtocolError):
        h.server.receive(b"garbage")
    h.server.receive(good)  # the rejections left the server able to accept the real one


# --- unmasking rules -----------------------------------------------------------------------

def test_client_refuses_overlapping_or_inconsistent_unmask_requests():
    h = Harness(n=5, d=8, t=3)
    h.advertise()
    h.share()
    h.mask(skip=(4,))
    ctx = h.server._context

    def request(survivors, dropped):
        return encode_unmask_request(h.ids.server, h.params, ctx, survivors, dropped)

    c = h.clients[0]
    with pytest.raises(ProtocolError, match="both survivor and drop-out"):
        c.unmask(request([0, 1, 2, 3], [3, 4]))
    with pytest.raises(ProtocolError, match="not among the survivors"):
        c.unmask(request([1, 2, 3], [0, 4]))
    with pytest.raises(ProtocolError, match="did not share keys"):
        c.unmask(request([0, 1, 2], [9]))
    with pytest.raises(ThresholdError):
        c.unmask(request([0, 1], [2, 3, 4]))
    with pytest.raises(ProtocolError, match="bad signature"):
        c.unmask(encode_unmask_request(h.ids.clients[1], h.params, ctx, [0, 1, 2, 3], [4]))
    # The honest request is answered; a second, different one is refused whatever it asks.
    c.unmask(h.request)
    with pytest.raises(ProtocolError):
        c.unmask(request([0, 1, 2], [3, 4]))
    assert c._revealed == {0: 0, 1: 0, 2: 0, 3: 0, 4: 1}


def test_no_client_reveals_both_shares_of_anyone():
    h = Harness(n=6, d=8, t=4)
    h.advertise()
    h.share()
    h.mask(skip=(2,))
    h.unmask()
    kinds: dict[int, set] = {}
    for msg in h.responses.values():
        _, shares = parse_unmask_response(msg, h.params, h.ids.pki, h.server._context)
        for v, (kind, _) in shares.items():
            kinds.setdefault(v, set()).add(kind)
    assert all(len(k) == 1 for k in kinds.values())
    assert kinds[2] == {1} and kinds[0] == {0}


# --- privacy -------------------------------------------------------------------------------

def _masked_vectors(h):
    return {i: parse_vector(m, MsgType.MASKED_INPUT, h.params, h.ids.pki, h.server._context)[1]
            for i, m in h.masked.items()}


def test_masked_vectors_look_uniform_and_hide_the_input():
    # Inputs far from uniform: small values, whose residues crowd near 0 and near 2^32.
    h = Harness(n=6, d=4000, t=4, seed=11)
    h.run()
    masked = _masked_vectors(h)
    for i, y in masked.items():
        counts = np.bincount(y.view(np.uint8), minlength=256)
        assert stats.chisquare(counts).pvalue > 1e-4, f"client {i}'s bytes are not uniform"
        assert stats.kstest(y / 2.0**32, "uniform").pvalue > 1e-4
        # Control: the same tests flag the unmasked fixed-point input at once.
        plain = quantise(h.x[i], 1.0, h.params.quant)
        assert stats.chisquare(np.bincount(plain.view(np.uint8), minlength=256)).pvalue < 1e-10
        assert stats.kstest(plain / 2.0**32, "uniform").pvalue < 1e-10
        # The input's encoding appears nowhere in what the server received.
        assert plain[:64].tobytes() not in b"".join(h.server.transcript)


def test_other_clients_masked_inputs_do_not_reveal_one_input():
    h = Harness(n=5, d=2000, t=3, seed=3)
    h.run()
    q = h.params.quant
    masked = _masked_vectors(h)
    encoded = [quantise(h.x[i], 1.0, q) for i in range(5)]
    # The server learns the sum of the inputs (that is the point) and every masked vector.
    # Subtracting the other clients' masked vectors from the sum leaves client 0's input
    # buried under its pairwise masks and the others' self-masks: still uniform noise.
    attempt = np.sum(encoded, axis=0, dtype=np.uint32)
    for i in range(1, 5):
        attempt -= masked[i]
    assert np.mean(attempt == encoded[0]) < 0.01
    assert np.mean(masked[0] == encoded[0]) < 0.01
    assert stats.kstest(attempt / 2.0**32, "uniform").pvalue > 1e-4
    assert stats.kstest((attempt - encoded[0]) / 2.0**32, "uniform").pvalue > 1e-4


@pytest.mark.parametrize("curve, bad", [("x25519", bytes(32)), ("p256", b"\x02" + b"\xff" * 32)])
def test_server_refuses_unusable_public_keys(curve, bad):
    from federation.secagg_messages import encode_advertise
    h = Harness(n=4, d=8, t=3, curve=curve)
    good = h.clients[0].advertise()
    p = h.params.curve_impl.public_len
    forged = encode_advertise(h.ids.clients[1], h.params, 1, bad, good[HEADER_LEN + p:
                                                                     HEADER_LEN + 2 * p],
                              bytes(32))
    with pytest.raises(ProtocolError, match="key agreement failed|invalid P-256"):
        h.server.receive(forged)
    h.server.receive(good)


def test_driver_refuses_bad_dropouts_and_zero_weights():
    from federation import ConfigError
    ups = [{"w": np.zeros(3)} for _ in range(4)]
    with pytest.raises(ConfigError, match="stage"):
        run_secure_round(ups, threshold=3, dropouts={"later": [0]})
    with pytest.raises(ConfigError, match="not among"):
        run_secure_round(ups, threshold=3, dropouts={"unmask": [4]})
    with pytest.raises(ConfigError, match="twice"):
        run_secure_round(ups, threshold=3, dropouts={"unmask": [1], "advertise": [1]})
    with pytest.raises(AggregationError, match="weights > 0"):
        run_secure_round(ups, [1, 1, 0, 1], threshold=3)
