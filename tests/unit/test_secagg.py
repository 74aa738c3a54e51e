"""Secure aggregation (Bonawitz et al. 2017, with ConsistencyCheck): exact result, drop-outs at
every stage, refusals below threshold, tampering, replays, malformed input, and what the
server's transcript reveals. The attacks of issue 10 are in test_secagg_attacks.py, SecAgg+ in
test_secagg_graph.py.

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
from federation.channel import MAC_LEN
from federation.quantise import quantise
from federation.secagg_messages import (
    Advertisement,
    commit_self_mask_seed,
    encode_advertise,
    encode_consistency_list,
    encode_consistency_sig,
    encode_key_list,
    encode_share_routing,
    encode_unmask_request,
    parse_key_list,
    parse_masked_input,
    parse_unmask_response,
    u3_digest,
)
from federation.shamir import secret_bytes
from federation.wire import HEADER_LEN


class Harness:
    """Clients and server of one round, driven stage by stage so tests can interfere."""

    def __init__(self, n=5, d=64, t=3, round_number=7, quant=None, curve="x25519", seed=0,
                 ids=None, graph="complete", degree=0):
        self.ids = ids or make_identities(range(n))
        self.params = SecAggParams(round_number, d, t, quant or QuantConfig(), curve,
                                   b"test-layout", graph, degree)
        self.x = np.random.default_rng(seed).uniform(-1, 1, size=(n, d))
        self.clients = {i: SecAggClient(i, self.ids.clients[i], self.ids.pki, self.params,
                                        self.x[i]) for i in range(n)}
        self.server = SecAggServer(self.ids.server, self.ids.pki, self.params)
        self.n = n

    def advertise(self, skip=()):
        self.start = self.server.start()
        self.ads = {i: c.advertise(self.start) for i, c in self.clients.items() if i not in skip}
        for msg in self.ads.values():
            self.server.receive(msg)
        self.key_list = self.server.broadcast_keys()
        return self.key_list

    def share(self, skip=()):
        self.shares = {i: self.clients[i].share_keys(m)
                       for i, m in self.key_list.items() if i not in skip}
        for msg in self.shares.values():
            self.server.receive(msg)
        self.routing = self.server.route_shares()
        return self.routing

    def mask(self, skip=()):
        self.masked = {i: self.clients[i].masked_input(m)
                       for i, m in self.routing.items() if i not in skip}
        for msg in self.masked.values():
            self.server.receive(msg)
        self.u3_msg = self.server.request_consistency()
        return self.u3_msg

    def consistency(self, skip=()):
        self.sigs = {i: self.clients[i].consistency(self.u3_msg)
                     for i in self.server.survivors if i not in skip}
        for msg in self.sigs.values():
            self.server.receive(msg)
        self.request = self.server.request_unmasking()
        return self.request

    def unmask(self, skip=()):
        self.responses = {i: self.clients[i].unmask(m)
                          for i, m in self.request.items() if i not in skip}
        for msg in self.responses.values():
            self.server.receive(msg)
        self.aggregate_msg = self.server.aggregate()
        return self.aggregate_msg

    def run(self, skip_at=None):
        skip_at = skip_at or {}
        self.advertise(skip_at.get("advertise", ()))
        self.share(skip_at.get("share_keys", ()))
        self.mask(skip_at.get("masked_input", ()))
        self.consistency(skip_at.get("consistency", ()))
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
    {"consistency": [3]},
    {"advertise": [7], "share_keys": [0], "masked_input": [4], "unmask": [5]},
])
def test_secure_average_equals_quantised_plain_average_exactly(dropouts):
    rng = np.random.default_rng(42)
    ups = random_updates(9, rng)
    weights = rng.uniform(0.5, 3.0, size=9)
    avg, report = run_secure_round(ups, weights, threshold=5, dropouts=dropouts)
    late = set(dropouts.get("unmask", ())) | set(dropouts.get("consistency", ()))
    gone = {c for ids in dropouts.values() for c in ids if c not in late}
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
    # Advertise, shares, masked input, consistency signature, unmask response.
    assert len(report.transcript) == 6 + 6 + 5 + 5 + 5
    assert summary["critical_path_seconds"] <= summary["seconds"]
    assert summary["graph"] == "complete" and summary["threshold"] == 4


def test_client_side_results_match_server():
    h = Harness(n=5, d=50, t=3)
    h.run()
    for i in h.server.sets["responded"]:
        np.testing.assert_array_equal(h.clients[i].receive_aggregate(h.aggregate_msg),
                                      h.server.average)


# --- thresholds ----------------------------------------------------------------------------

@pytest.mark.parametrize("stage", ["advertise", "share_keys", "masked_input", "consistency",
                                   "unmask"])
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
    fake = encode_share_routing(h.server._channels[0], h.params, h.server._context, 0,
                                {1: blob})
    with pytest.raises(ThresholdError):
        h.clients[0].masked_input(fake)


# --- tampering by the server ---------------------------------------------------------------

def _resign_key_list(h, ads, recipient=0):
    return encode_key_list(h.server._channels[recipient], h.params, h.server._context,
                           recipient, ads)


def _ads_of(h, recipient=0):
    return parse_key_list(h.key_list[recipient], h.params, h.ids.pki, h.server._context,
                          recipient, h.clients[recipient]._channel)


def test_swapped_key_in_the_key_list_is_detected():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    ads = _ads_of(h)
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
    h.clients[0].share_keys(h.key_list[0])


def test_injected_or_replaced_keys_are_detected():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    ads = _ads_of(h)
    # The server replaces client 3's advertisement with one it made under a key it controls.
    rogue = make_identities([3])
    p = h.params.curve_impl.public_len
    body = ads[3].raw[HEADER_LEN:HEADER_LEN + 2 * p + 32]
    fake = encode_advertise(rogue.clients[3], h.params, 3, h.server._context, body[:p],
                            body[p:2 * p], body[2 * p:])
    with pytest.raises(ProtocolError, match="bad signature"):
        h.clients[0].share_keys(_resign_key_list(h, ads[:3] + [Advertisement(3, b"", b"", b"",
                                                                              fake)]))
    # A client the authority never enrolled (a Sybil the server made up).
    sybil = make_identities([9])
    c9 = encode_advertise(sybil.clients[9], h.params, 9, h.server._context, body[:p],
                          body[p:2 * p], body[2 * p:])
    with pytest.raises(ProtocolError, match="not in the PKI"):
        h.clients[0].share_keys(_resign_key_list(h, ads[:3] + [Advertisement(9, b"", b"", b"",
                                                                              c9)]))
    # The client's own advertisement dropped or altered.
    with pytest.raises(ProtocolError, match="own keys"):
        h.clients[0].share_keys(_resign_key_list(h, ads[1:]))
    # A key list not tagged on client 0's channel (client 1's, from the server or from
    # client 1 itself), or addressed to another client.
    with pytest.raises(ProtocolError, match="bad channel tag"):
        h.clients[0].share_keys(encode_key_list(h.clients[1]._channel, h.params,
                                                h.server._context, 0, ads))
    with pytest.raises(ProtocolError, match="bad channel tag"):
        h.clients[0].share_keys(h.key_list[1])
    with pytest.raises(ProtocolError, match="another client"):
        h.clients[0].share_keys(encode_key_list(h.server._channels[0], h.params,
                                                h.server._context, 1, ads))


def test_server_rejects_forged_advertisement():
    h = Harness(n=4, d=8, t=3)
    msg = bytearray(h.clients[0].advertise(h.server.start()))
    msg[HEADER_LEN] ^= 1
    with pytest.raises(ProtocolError, match="bad signature"):
        h.server.receive(bytes(msg))


def test_redirected_shares_are_refused():
    h = Harness(n=4, d=8, t=3)
    h.advertise()
    h.share()
    with pytest.raises(ProtocolError, match="bad channel tag"):
        h.clients[0].masked_input(h.routing[1])  # tagged for client 1
    with pytest.raises(ProtocolError, match="another client"):
        h.clients[0].masked_input(encode_share_routing(h.server._channels[0], h.params,
                                                       h.server._context, 1, {}))
    # Shares relayed "from" a client that never advertised.
    blob = h.server._sealed[1][0]
    fake = encode_share_routing(h.server._channels[0], h.params, h.server._context, 0,
                                {1: blob, 2: blob, 3: blob, 5: blob})
    with pytest.raises(ProtocolError, match="did not advertise"):
        h.clients[0].masked_input(fake)
    h.clients[0].masked_input(h.routing[0])  # the refusals changed nothing


# --- replays and stale messages ------------------------------------------------------------

def test_stale_round_messages_are_rejected():
    ids = make_identities(range(4))
    old = Harness(n=4, d=8, t=3, round_number=1, ids=ids)
    old.run()
    new = Harness(n=4, d=8, t=3, round_number=2, ids=ids)
    # Last round's advertisement replayed into this round's server.
    new.server.start()
    with pytest.raises(ProtocolError, match="round 1"):
        new.server.receive(old.ads[0])
    new.server = SecAggServer(ids.server, ids.pki, new.params)
    new.advertise()
    # Last round's key list and round start replayed to a client of this round.
    with pytest.raises(ProtocolError, match="round 1"):
        new.clients[0].share_keys(old.key_list[0])
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
    h.u3_msg = h.server.request_consistency()
    h.consistency()
    with pytest.raises(ProtocolError, match="out of order or replayed"):
        h.clients[0].consistency(h.u3_msg)
    with pytest.raises(ProtocolError, match="refused"):  # that stage is closed
        h.server.receive(h.sigs[1])
    h.unmask()
    with pytest.raises(ProtocolError, match="out of order or replayed"):
        h.clients[0].unmask(h.request[0])


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
    body = good[:-MAC_LEN]
    vec_end = HEADER_LEN + 4 * h.params.vector_len
    sign = h.clients[0]._channel.seal
    short = sign(body[:vec_end - 4])
    with pytest.raises(ProtocolError, match="expected"):
        h.server.receive(short)
    longer = sign(body + b"\0\0\0\0")
    with pytest.raises(ProtocolError, match="at most"):
        h.server.receive(longer)
    huge = sign(body + bytes(4000))
    with pytest.raises(ProtocolError, match="at most"):
        h.server.receive(huge)
    big = bytearray(body)
    big[HEADER_LEN:HEADER_LEN + 4] = struct.pack("<I", 1 << 24)
    with pytest.raises(ProtocolError, match=">= 2"):
        h.server.receive(sign(bytes(big)))
    with pytest.raises(ProtocolError):
        h.server.receive(b"garbage")
    h.server.receive(good)  # the rejections left the server able to accept the real one


# --- unmasking rules -----------------------------------------------------------------------

def test_client_checks_the_survivor_list_against_its_own_view():
    h = Harness(n=5, d=8, t=3)
    h.advertise()
    h.share(skip=(4,))  # client 4 advertised but never shared keys: in nobody's U2
    h.mask()
    ctx = h.server._context

    def u3(ids, key=None):
        return encode_consistency_list(key or h.ids.server, h.params, ctx, ids)

    c = h.clients[0]
    with pytest.raises(ProtocolError, match="not in the survivor list"):
        c.consistency(u3([1, 2, 3]))
    with pytest.raises(ProtocolError, match="never shared keys"):
        c.consistency(u3([0, 1, 2, 4]))
    with pytest.raises(ThresholdError):
        c.consistency(u3([0, 1]))
    with pytest.raises(ProtocolError, match="sorted"):
        c.consistency(u3([2, 0, 1]))
    with pytest.raises(ProtocolError, match="bad signature"):
        c.consistency(u3([0, 1, 2, 3], key=h.ids.clients[1]))
    c.consistency(h.u3_msg)  # the honest list is signed


def test_client_needs_t_signatures_over_its_own_survivor_list():
    h = Harness(n=5, d=8, t=3)
    h.advertise()
    h.share()
    h.mask()
    h.consistency()
    ctx = h.server._context
    # What the server relays: the signed part, without the sender's channel tag.
    sigs = [h.sigs[i][:-MAC_LEN] for i in sorted(h.sigs)]
    c = h.clients[0]

    def request(signatures):
        return encode_unmask_request(h.server._channels[0], h.params, ctx, 0, signatures)

    # Only one other signature (with its own, two < t = 3): refused.
    with pytest.raises(ThresholdError, match="signed the survivor list"):
        c.unmask(request(sigs[1:2]))
    # A peer that signed another list: the server showed inconsistent views.
    other = encode_consistency_sig(h.ids.clients[2], h.params, 2, ctx,
                                   u3_digest(h.server.session, [0, 1, 2]))
    with pytest.raises(ProtocolError, match="different survivor list"):
        c.unmask(request([sigs[1], other, sigs[3]]))
    # A forged signature counts as missing: with it, only two valid (own included) < t.
    forged = bytearray(sigs[1])
    forged[-1] ^= 1
    with pytest.raises(ThresholdError, match="1 relayed signatures did not verify"):
        c.unmask(request([bytes(forged), sigs[2]]))
    with pytest.raises(ProtocolError, match="repeated"):
        c.unmask(request([sigs[1], sigs[1], sigs[2]]))
    c.unmask(h.request[0])  # the honest request is answered


def test_a_forged_consistency_signature_is_skipped_not_fatal():
    # The server checks the channel tag and the digest, not the signature (its peers do): a
    # client whose signature is garbage is relayed, and its neighbours answer on the others.
    h = Harness(n=6, d=16, t=4)
    h.advertise()
    h.share()
    h.mask()
    signed = h.clients[2].consistency(h.u3_msg)[:-MAC_LEN]
    bad = bytearray(signed)
    bad[-1] ^= 1
    h.sigs = {i: h.clients[i].consistency(h.u3_msg) for i in h.server.survivors if i != 2}
    h.sigs[2] = h.server._channels[2].seal(bytes(bad))
    for msg in h.sigs.values():
        h.server.receive(msg)
    h.request = h.server.request_unmasking()
    h.unmask()
    assert all(h.clients[i].bad_signatures in ([], [2]) for i in h.request)
    assert any(h.clients[i].bad_signatures == [2] for i in h.request if i != 2)
    expect = quantised_weighted_mean([h.x[i] for i in range(6)], [1.0] * 6, h.params.quant)
    np.testing.assert_array_equal(h.server.average, expect)


def test_server_checks_the_tag_and_digest_of_a_consistency_signature():
    h = Harness(n=5, d=8, t=3)
    h.advertise()
    h.share()
    h.mask()
    srv, ctx = h.server, h.server._context
    honest = h.clients[1].consistency(h.u3_msg)
    tampered = bytearray(honest)
    tampered[-1] ^= 1  # the channel tag
    with pytest.raises(ProtocolError, match="client 1"):
        srv.receive(bytes(tampered))
    # Signed and tagged by client 1 itself, over another list: refused by its digest.
    other = srv._channels[1].seal(encode_consistency_sig(
        h.ids.clients[1], h.params, 1, ctx, u3_digest(srv.session, [0, 1, 2])))
    with pytest.raises(ProtocolError, match="another survivor list"):
        srv.receive(other)
    # Without its tag the server cannot tell who sent it.
    with pytest.raises(ProtocolError):
        srv.receive(honest[:-MAC_LEN])
    srv.receive(honest)


def test_no_client_reveals_both_shares_of_anyone():
    h = Harness(n=6, d=8, t=4)
    h.advertise()
    h.share()
    h.mask(skip=(2,))
    h.consistency()
    h.unmask()
    kinds: dict[int, set] = {}
    for msg in h.responses.values():
        _, shares = parse_unmask_response(msg, h.params, h.ids.pki, h.server._context,
                                          h.server._channels)
        for v, (kind, _) in shares.items():
            kinds.setdefault(v, set()).add(kind)
    assert all(len(k) == 1 for k in kinds.values())
    assert kinds[2] == {1} and kinds[0] == {0}


# --- privacy -------------------------------------------------------------------------------

def _masked_vectors(h):
    return {i: parse_masked_input(m, h.params, h.server._context,
                                  h.server.graph.degree, h.server._channels)[1]
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
    h = Harness(n=4, d=8, t=3, curve=curve)
    good = h.clients[0].advertise(h.server.start())
    p = h.params.curve_impl.public_len
    forged = encode_advertise(h.ids.clients[1], h.params, 1, h.server._context, bad,
                              good[HEADER_LEN + p:HEADER_LEN + 2 * p], bytes(32))
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


def test_a_small_order_mask_key_drops_its_owner_not_its_neighbours():
    # Client 2 signs an advertisement whose s key is the X25519 point u = 0 (small order: no
    # agreement with it exists). The server does not test s keys; each neighbour's mask
    # agreement fails, it leaves 2 out of its peers, and the server drops 2 as reported.
    h = Harness(n=6, d=16, t=4)
    start = h.server.start()
    h.ads = {i: c.advertise(start) for i, c in h.clients.items()}
    c2 = h.clients[2]
    bad = encode_advertise(h.ids.clients[2], h.params, 2, c2._context,
                           c2._curve.public_bytes(c2._c_sk), bytes(32),
                           commit_self_mask_seed(c2._session, 2, secret_bytes(c2._b_seed)))
    c2._own_ad = h.ads[2] = bad
    for msg in h.ads.values():
        h.server.receive(msg)
    h.key_list = h.server.broadcast_keys()
    h.share()
    h.mask()
    assert h.server.sets["reported"] == [2] and 2 not in h.server.survivors
    assert "key agreement failed" in h.clients[0].rejected[2]
    h.consistency()
    h.unmask()
    others = [i for i in range(6) if i != 2]
    expect = quantised_weighted_mean([h.x[i] for i in others], [1.0] * 5, h.params.quant)
    np.testing.assert_array_equal(h.server.average, expect)


def test_mask_prg_is_aes128_ctr_on_the_first_half_of_the_key():
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from federation.mask_prg import MaskStream

    key = bytes(range(32))
    stream = MaskStream(1000, np.uint32)
    enc = Cipher(algorithms.AES(key[:16]), modes.CTR(bytes(16))).encryptor()
    expect = np.frombuffer(enc.update(bytes(4000)), dtype="<u4")
    np.testing.assert_array_equal(stream.words(key), expect)
    # The second half plays no part, a short key is refused.
    np.testing.assert_array_equal(stream.words(key[:16] + bytes(16)), expect)
    with pytest.raises(ValueError, match="32-byte"):
        stream.words(key[:16])
