"""Issue 10's findings 1-8 as attacks: adversarial servers and clients driving the bytes-only
protocol against honest clients running the library's code.

Each test's docstring names the attack it replays. Every one of them succeeded against the
protocol as it was before the redesign (no challenge, no ConsistencyCheck, no plausibility
check, shares checked only at unmask time, receive() copying first, hand-made PKI); they pass
now. n <= 12, d <= 64: the file runs in a few seconds.
"""

import numpy as np
import pytest
from test_secagg import Harness

from federation import (
    Authority,
    ConfigError,
    FederationError,
    ImplausibleAggregateError,
    Pki,
    ProtocolError,
    QuantConfig,
    SecAggClient,
    SecAggParams,
    SecAggServer,
    fedavg,
    make_identities,
    quantised_weighted_mean,
    run_secure_round,
)
from federation.channel import MAC_LEN
from federation.mask_prg import MaskStream
from federation.masks import adds_pairwise_mask, pairwise_mask_key, self_mask_key, share_key
from federation.quantise import quantise
from federation.secagg_messages import (
    SELF_MASK_SHARE,
    commit_self_mask_seed,
    encode_aggregate,
    encode_consistency_list,
    encode_consistency_sig,
    encode_share_routing,
    encode_shares,
    encode_unmask_request,
    parse_masked_input,
    parse_shares,
    parse_unmask_response,
    u3_digest,
)
from federation.shamir import PRIME, reconstruct, secret_bytes, x_of
from federation.share_cipher import seal_shares
from federation.wire import SIG_LEN, shared_verification, sign


@pytest.fixture(autouse=True, params=["own-checks", "shared-checks"])
def verification_mode(request):
    """Every attack also runs with signature checks shared between the parties of the process
    (what the trainer's in-process rounds do): sharing must not let any attack through."""
    if request.param == "shared-checks":
        with shared_verification():
            yield
    else:
        yield


def _resign(msg: bytes, key) -> bytes:
    return sign(key, msg[:-SIG_LEN])


# --- finding 1: inconsistent views from a malicious server ---------------------------------

class SplitViewServer:
    """A malicious aggregator with colluding clients, trying to unmask one honest target.

    It routes the target the shares of only t - 1 peers (so the target masks with those alone),
    then shows honest clients different survivor lists so as to collect t self-mask shares of
    the target and t mask-key shares of each honest peer, and finally strips the target's masks.
    Colluders sign anything and hand over every share they hold.
    """

    def __init__(self, n, t, target, peers, colluders, d=32):
        self.h = Harness(n=n, d=d, t=t, seed=1)
        self.target, self.peers, self.colluders = target, peers, colluders
        self.t = t

    def run(self, lists):
        h, srv = self.h, self.h.server
        h.advertise()
        h.share()
        routing = dict(h.routing)
        routing[self.target] = encode_share_routing(
            srv._channels[self.target], h.params, srv._context, self.target,
            {u: srv._sealed[u][self.target] for u in self.peers})
        masked = {i: h.clients[i].masked_input(routing[i]) for i in range(h.n)}
        self.y = parse_masked_input(masked[self.target], h.params, srv._context,
                                    srv.graph.degree, srv._channels)[1]
        ctx, session = srv._context, srv.session
        shares: dict[tuple[int, int], list[tuple[int, int]]] = {}
        sigs, refused = {}, {}
        for w, survivors in lists.items():
            try:
                sigs[w] = h.clients[w].consistency(
                    encode_consistency_list(h.ids.server, h.params, ctx, survivors))[:-MAC_LEN]
            except FederationError as exc:
                refused[w] = exc
        for w in sigs:
            digest = u3_digest(session, lists[w])
            endorse = [sigs[u] for u in sigs if lists[u] == lists[w]]
            endorse += [encode_consistency_sig(h.ids.clients[c], h.params, c, ctx, digest)
                        for c in self.colluders]
            try:
                resp = h.clients[w].unmask(encode_unmask_request(srv._channels[w], h.params, ctx,
                                                                 w, endorse))
            except FederationError as exc:
                refused[w] = exc
                continue
            _, got = parse_unmask_response(resp, h.params, h.ids.pki, ctx, srv._channels)
            for v, (kind, share) in got.items():
                shares.setdefault((v, kind), []).append((x_of(w), share))
        for c in self.colluders:
            for v, (b, m) in h.clients[c]._held.items():
                shares.setdefault((v, 0), []).append((x_of(c), b))
                shares.setdefault((v, 1), []).append((x_of(c), m))
        self.refused = refused
        return self._unmask(shares, session)

    def _unmask(self, shares, session):
        """The target's exact encoded input, or None if the shares do not suffice."""
        h, t, v = self.h, self.t, self.target
        b_pts = shares.get((v, SELF_MASK_SHARE), [])
        if len(b_pts) < t:
            return None
        b_seed = reconstruct(b_pts[:t])
        curve = h.params.curve_impl
        z = self.y.copy()
        stream = MaskStream(h.params.vector_len, h.params.quant.dtype)
        stream.subtract(z, self_mask_key(b_seed, session, v, h.params.layout_digest))
        for p in self.peers:
            if p in self.colluders:
                sk = h.clients[p]._s_sk
            else:
                m_pts = shares.get((p, 1), [])
                if len(m_pts) < t:
                    return None
                sk = curve.from_seed(secret_bytes(reconstruct(m_pts[:t])))
            agreed = curve.exchange(sk, h.server._ads[v].s_key)
            key = pairwise_mask_key(agreed, session, v, p, h.params.layout_digest)
            (stream.subtract if adds_pairwise_mask(v, p) else stream.add)(z, key)
        return z

    def encoded_target(self):
        return quantise(self.h.x[self.target], 1.0, self.h.params.quant,
                        self.h.params.quant.count_cap(self.h.n))


def test_f1_split_views_cannot_unmask_a_target():
    """Finding 1 (critical), the attack as reported: n = 10, t = 7, two colluders (8, 9); the
    target 0 masks with 6 peers only; honest clients get different survivor lists, each one
    acceptable on its own. Before the fix the server rebuilt client 0's exact input. Now
    every honest client refuses: a list must be signed by t share holders, and honest
    holders sign one list each."""
    atk = SplitViewServer(10, 7, 0, peers=[1, 2, 3, 4, 8, 9], colluders=[8, 9])
    lists = {1: [0, 1, 5, 6, 7, 8, 9], 5: [0, 1, 5, 6, 7, 8, 9],
             2: [0, 2, 5, 6, 7, 8, 9], 6: [0, 2, 5, 6, 7, 8, 9],
             3: [0, 3, 5, 6, 7, 8, 9], 7: [0, 3, 5, 6, 7, 8, 9],
             4: [0, 4, 5, 6, 7, 8, 9], 0: [0, 1, 2, 3, 4, 8, 9]}
    z = atk.run(lists)
    assert z is None or not np.array_equal(z, atk.encoded_target())
    assert set(atk.refused) >= {1, 2, 3, 4, 5, 6, 7}


def test_f1_one_consistent_list_that_drops_the_peers_is_refused():
    """Finding 1, the variant a single list allows: U3 = everyone but the target's honest
    peers, so that their mask keys are revealed while the target's self-mask is. 2t > n + n_C
    makes that list too short (6 < t = 7): honest clients refuse to sign it."""
    atk = SplitViewServer(10, 7, 0, peers=[1, 2, 3, 4, 8, 9], colluders=[8, 9])
    survivors = [0, 5, 6, 7, 8, 9]
    z = atk.run({w: survivors for w in (0, 5, 6, 7)})
    assert z is None
    assert set(atk.refused) == {0, 5, 6, 7}


def test_f1_the_attack_machinery_works_on_an_honest_round():
    """Control for the two tests above: with honest lists and every client's view intact, the
    same machinery does collect shares (the refusals above are the protocol's, not the
    harness's)."""
    atk = SplitViewServer(10, 7, 0, peers=list(range(1, 10)), colluders=[8, 9])
    everyone = list(range(10))
    atk.run({w: everyone for w in range(8)})
    assert not atk.refused


# --- finding 2: one client sets the aggregate ----------------------------------------------

class ShiftingClient(SecAggClient):
    """A malicious client: adds `delta` to chosen words of its encoded input before masking."""

    def __init__(self, *args, delta=None, **kwargs):
        super().__init__(*args, **kwargs)
        for index, value in (delta or {}).items():
            self._encoded[index] += np.uint32(value % 2**32)


def _round_with(h_cls_overrides, n=5, d=6, t=3):
    h = Harness(n=n, d=d, t=t)
    for cid, delta in h_cls_overrides.items():
        h.clients[cid] = ShiftingClient(cid, h.ids.clients[cid], h.ids.pki, h.params, h.x[cid],
                                        delta=delta)
    return h


def test_f2_a_coordinate_shifted_by_2_31_is_refused_by_the_server():
    """Finding 2: one client adds 2^31 to one coordinate; before the fix the server returned an
    average of ~32768 (clip 8) as if valid. Now it refuses the implausible aggregate."""
    h = _round_with({4: {0: 2**31}})
    with pytest.raises(ImplausibleAggregateError, match="clip"):
        h.run()


def test_f2_a_weight_of_one_minus_the_others_is_refused():
    """Finding 2: one client sends the weight 1 - sum(others) (here in 2^-32 units), so the
    total weight is one unit and the average explodes (|avg| = 141,703 in the report). Both the
    total-weight range and the |avg| <= clip check refuse it."""
    n, q = 5, QuantConfig()
    others = (n - 1) * q.max_weight_units
    forged = (1 - others) - q.max_weight_units  # replaces its own W = 2^32
    d = 6
    limbs = {d + j: ((forged >> (j * q.limb_bits)) & 0xFFFF) - ((q.max_weight_units >>
                                                                  (j * q.limb_bits)) & 0xFFFF)
             for j in range(q.n_limbs)}
    h = _round_with({2: limbs}, n=n, d=d)
    with pytest.raises(ImplausibleAggregateError):
        h.run()


def test_f2_clients_refuse_a_forged_aggregate_from_the_server():
    """Finding 2, the server side: a malicious server sends an aggregate with one coordinate
    far outside the clip range; every client refuses it instead of loading it."""
    h = Harness(n=5, d=6, t=3)
    h.run()
    total = np.zeros(h.params.vector_len, dtype=np.uint32)
    total[:-h.params.quant.extra_words] = np.uint32(50 * 2**16)  # avg 10 > clip 8
    total[h.params.n_params:-1] = quantise(np.zeros(1), 1.0, h.params.quant)[1:-1] * 5
    forged = encode_aggregate(h.ids.server, h.params, h.server._context, total)
    with pytest.raises(ImplausibleAggregateError, match="clip"):
        h.clients[0].receive_aggregate(forged)
    np.testing.assert_array_equal(h.clients[1].receive_aggregate(h.aggregate_msg),
                                  h.server.average)


# --- finding 3: one bad client must not abort the round ------------------------------------

class BadShareClient(SecAggClient):
    """A malicious client whose SHARES message carries, for `victim`, an undecryptable
    ciphertext (mode "garbage") or a well-encrypted share outside the field ("out-of-field")."""

    def __init__(self, *args, victim=0, mode="garbage", **kwargs):
        super().__init__(*args, **kwargs)
        self.victim, self.mode = victim, mode

    def share_keys(self, key_list):
        msg = super().share_keys(key_list)
        _, sealed = parse_shares(msg, self._params, self._pki, self._context,
                                 {self.id: self._channel})
        if self.mode == "garbage":
            blob = bytearray(sealed[self.victim])
            blob[20] ^= 1
            sealed[self.victim] = bytes(blob)
        else:
            key = share_key(self._c_agreed[self.victim], self._session, self.id, self.victim)
            sealed[self.victim] = seal_shares(key, self._session, self._params.round_number,
                                              self.id, self.victim, PRIME + 3, PRIME + 3)
        return encode_shares(self._channel, self._params, self.id, self._context, sealed)


@pytest.mark.parametrize("mode", ["garbage", "out-of-field"])
def test_f3_bad_shares_from_one_sender_make_it_a_drop_out(mode):
    """Finding 3: client 2 sends client 0 an undecryptable (or out-of-field) share. Before the
    fix every honest client failed at unmask and the honest relay was blamed. Now client 0
    rejects the share on arrival, the server drops client 2 before summing, and the round
    returns the exact average of the others."""
    h = Harness(n=6, d=16, t=4)
    h.clients[2] = BadShareClient(2, h.ids.clients[2], h.ids.pki, h.params, h.x[2], victim=0,
                                  mode=mode)
    avg = h.run()
    assert 2 in h.clients[0].rejected and h.server.sets["reported"] == [2]
    assert h.server.survivors == [0, 1, 3, 4, 5]
    np.testing.assert_array_equal(avg, h.expected())


def test_f3_one_wrong_share_at_unmask_is_outvoted():
    """Finding 3: a responder sends a wrong share of another client's self-mask seed. Before
    the fix the server used exactly the first t responses and aborted. Now it tries other
    t-subsets (the commitment recognises the right seed), names the liar, and finishes."""
    h = Harness(n=6, d=16, t=4)
    h.advertise()
    h.share()
    h.mask()
    h.consistency()
    honest = h.clients[0].unmask(h.request[0])
    _, shares = parse_unmask_response(honest, h.params, h.ids.pki, h.server._context,
                                      h.server._channels)
    entries = [(v, kind, (s + 1) % PRIME if v == 3 else s)
               for v, (kind, s) in sorted(shares.items())]
    from federation.secagg_messages import encode_unmask_response
    h.server.receive(encode_unmask_response(h.clients[0]._channel, h.params, 0,
                                            h.server._context, entries))
    for i in range(1, 6):
        h.server.receive(h.clients[i].unmask(h.request[i]))
    h.server.aggregate()
    np.testing.assert_array_equal(h.server.average, h.expected())
    assert h.server.liars == {0}


def test_f3_too_many_wrong_shares_still_refuse_cleanly():
    """Finding 3, the limit: with fewer than t good shares of a seed no subset works; the
    server refuses (ProtocolError) rather than return a wrong sum."""
    h = Harness(n=5, d=8, t=3)
    h.advertise()
    h.share()
    h.mask()
    h.consistency()
    from federation.secagg_messages import encode_unmask_response
    for i in range(5):
        msg = h.clients[i].unmask(h.request[i])
        if i < 3:
            _, shares = parse_unmask_response(msg, h.params, h.ids.pki, h.server._context,
                                              h.server._channels)
            msg = encode_unmask_response(h.clients[i]._channel, h.params, i, h.server._context,
                                         [(v, k, (s + 7 ** (i + 5)) % PRIME if v == 4 else s)
                                          for v, (k, s) in sorted(shares.items())])
        h.server.receive(msg)
    with pytest.raises(ProtocolError, match="corrupted"):
        h.server.aggregate()


# --- finding 4: stale advertisements when a round number repeats ---------------------------

def test_f4_a_stale_advertise_from_an_earlier_run_is_refused():
    """Finding 4: the trainer restarts at round 1 every run. A network attacker replays client
    2's ADVERTISE from the previous run before the real one arrives; before the fix the server
    accepted it, refused the real one as a duplicate and client 2 was excluded. Now the
    server's fresh challenge is in the advertise context: the replay is refused and the real
    advertisement accepted."""
    ids = make_identities(range(4))
    earlier = Harness(n=4, d=8, t=3, round_number=1, ids=ids)
    earlier.run()
    now = Harness(n=4, d=8, t=3, round_number=1, ids=ids)
    start = now.server.start()
    with pytest.raises(ProtocolError, match="another session"):
        now.server.receive(earlier.ads[2])
    for c in now.clients.values():
        now.server.receive(c.advertise(start))
    assert now.server.broadcast_keys().keys() == {0, 1, 2, 3}


def test_f4_the_challenge_is_signed_by_the_server():
    """Finding 4: a ROUND_START not signed by the server is refused by the client."""
    h = Harness(n=4, d=8, t=3)
    start = h.server.start()
    with pytest.raises(ProtocolError, match="bad signature"):
        h.clients[0].advertise(_resign(start, h.ids.clients[1]))
    h.clients[0].advertise(start)


# --- finding 5: clipping is reported -------------------------------------------------------

def test_f5_clipped_coordinates_are_counted_and_summed_securely():
    """Finding 5: values of 100 and 1e300 were clipped to 8 silently. Now each client counts
    its clipped coordinates; the count travels masked and the round reports the total (and,
    in the in-process simulation, each client's own count)."""
    ups = [{"w": np.array([100.0, 1e300, 0.5, -9.0])}, {"w": np.array([0.0, 1.0, 2.0, 3.0])},
           {"w": np.array([-1e10, 0.0, 0.0, 0.0])}]
    avg, report = run_secure_round(ups, threshold=2)
    assert report.clipped_total == 4 and report.summary()["clipped_total"] == 4
    assert report.clipped_per_client == {0: 3, 1: 0, 2: 1}
    np.testing.assert_allclose(avg["w"], [0.0, 3.0, 2.5 / 3, -5.0 / 3], atol=2.0 ** -15)


# --- finding 6: small relative weights -----------------------------------------------------

@pytest.mark.parametrize("small", [2.0 ** -18, 2.0 ** -30])
def test_f6_small_relative_weights_keep_the_stated_bound(small):
    """Finding 6: with 16 weight bits a relative weight below 2^-17 made the round fail, and
    the error reached 34 x 2^-16 at N = 12. With 32 weight bits the round succeeds and stays
    within the README's bound n 2^-(q+1) / sum w' of the float FedAvg with the rounded
    weights w' (and those within 2^-33 of the true ones)."""
    n, q = 12, QuantConfig()
    rng = np.random.default_rng(6)
    ups = [{"w": rng.uniform(-4, 4, size=50)} for _ in range(n)]
    weights = [1.0] + [small] * (n - 1)
    avg, _ = run_secure_round(ups, weights, threshold=7)
    w_rounded = np.rint(np.array(weights) * 2.0**32) / 2.0**32
    assert np.all(np.abs(w_rounded - weights) <= 2.0 ** -33)
    bound = n * 2.0 ** -(q.frac_bits + 1) / w_rounded.sum()
    err = np.abs(avg["w"] - fedavg(ups, w_rounded)["w"]).max()
    assert err <= bound
    # ...and the old claim "within 2^-q" holds here too, since sum w' >= 1.
    assert err <= 2.0 ** -q.frac_bits * n / 2


# --- finding 7: receive() validates before it copies ---------------------------------------

def test_f7_receive_refuses_non_bytes_and_oversize_messages_before_copying():
    """Finding 7: receive(2**62) raised MemoryError (it copied first), a str raised TypeError,
    and 2,000 garbage messages of 50 kB stayed in the transcript (100 MB). Now type and the
    stage's maximum length are checked first, and only accepted messages are kept."""
    h = Harness(n=4, d=8, t=3)
    start = h.server.start()
    for bad in (2**62, "hello", None, memoryview(b"x" * 40)):
        with pytest.raises(ProtocolError, match="must be bytes"):
            h.server.receive(bad)
    garbage = b"\0" * 50_000
    for _ in range(2000):
        with pytest.raises(ProtocolError, match="at most"):
            h.server.receive(garbage)
    assert h.server.transcript == []
    assert h.server.rejected == 2004 and len(h.server.rejections) <= 32
    for c in h.clients.values():  # the server still works
        h.server.receive(c.advertise(start))
    assert len(h.server.transcript) == 4


# --- finding 8: the trust root -------------------------------------------------------------

def test_f8_a_hand_made_pki_is_refused():
    """Finding 8: a PKI assembled by whoever drives the round (e.g. the aggregator) proves
    nothing; clients and server now require one certified by an enrolment authority."""
    ids = make_identities(range(3))
    loose = Pki(dict(ids.pki.clients), ids.pki.server)
    params = SecAggParams(0, 4, 2)
    with pytest.raises(ConfigError, match="authority"):
        SecAggClient(0, ids.clients[0], loose, params, np.zeros(4))
    with pytest.raises(ConfigError, match="authority"):
        SecAggServer(ids.server, loose, params)


def test_f8_the_aggregator_cannot_add_a_sybil_to_the_roster():
    """Finding 8: a server that re-issues the roster with a Sybil client of its own (signed
    with its own key, or the authority's roster with an entry appended) is refused against the
    authority's public key."""
    authority = Authority()
    ids = make_identities(range(3), authority)
    sybil = make_identities([3]).clients[3].public_key()
    fake = Authority(ids.server).issue_roster({**ids.pki.clients, 3: sybil},
                                              ids.server.public_key())
    with pytest.raises(ProtocolError, match="authority"):
        Pki.from_roster(fake, authority.public_key)
    with pytest.raises(ProtocolError):
        Pki.from_roster(ids.roster[:-SIG_LEN] + b"\1" * 36 + ids.roster[-SIG_LEN:],
                        authority.public_key)
    assert set(Pki.from_roster(ids.roster, authority.public_key).clients) == {0, 1, 2}


def test_f8_the_report_names_the_trust_root():
    """Finding 8: the report says whether the round ran under an outside authority or the
    driver's own simulated one."""
    ups = [{"w": np.zeros(3)} for _ in range(3)]
    _, simulated = run_secure_round(ups, threshold=2)
    assert "simulated" in simulated.trust_root
    authority = Authority()
    _, real = run_secure_round(ups, threshold=2, identities=make_identities(range(3),
                                                                           authority))
    assert "simulated" not in real.trust_root and real.trust_root.startswith("authority ")


def test_f8_the_roster_is_bound_into_the_session():
    """Finding 8: two rosters give two sessions, so messages never cross between them."""
    a, b = make_identities(range(3)), make_identities(range(3))
    params = SecAggParams(0, 4, 2)
    from federation.secagg_messages import session_id
    assert session_id(params, bytes(32), a.pki.roster_digest) != \
        session_id(params, bytes(32), b.pki.roster_digest)


# --- finding 9: the self-mask --------------------------------------------------------------

def test_f9_a_server_that_calls_a_survivor_dropped_still_cannot_unmask_it():
    """Finding 9 (mutant: no self-mask on client and server). The server receives client 1's
    masked input, then lists client 1 as dropped (U3 without it), collects its mask-key shares
    from the others and strips its pairwise masks. With the self-mask the result is still
    uniform noise; without it (the mutant) it is client 1's exact input."""
    h = Harness(n=5, d=2000, t=3, seed=9)
    h.advertise()
    h.share()
    h.mask()
    srv, ctx = h.server, h.server._context
    y1 = parse_masked_input(h.masked[1], h.params, ctx, srv.graph.degree,
                            srv._channels)[1]
    survivors = [0, 2, 3, 4]
    sigs = {w: h.clients[w].consistency(encode_consistency_list(h.ids.server, h.params, ctx,
                                                                survivors))[:-MAC_LEN]
            for w in survivors}
    m_pts = []
    for w in survivors:
        resp = h.clients[w].unmask(encode_unmask_request(srv._channels[w], h.params, ctx, w,
                                                         list(sigs.values())))
        _, got = parse_unmask_response(resp, h.params, h.ids.pki, ctx, srv._channels)
        assert got[1][0] == 1  # a mask-key share, as for any drop-out
        m_pts.append((x_of(w), got[1][1]))
    curve = h.params.curve_impl
    s_sk = curve.from_seed(secret_bytes(reconstruct(m_pts[:3])))
    z = y1.copy()
    stream = MaskStream(h.params.vector_len, h.params.quant.dtype)
    for u in survivors:
        key = pairwise_mask_key(curve.exchange(s_sk, srv._ads[u].s_key), srv.session, 1, u,
                                h.params.layout_digest)
        (stream.subtract if adds_pairwise_mask(1, u) else stream.add)(z, key)
    encoded = quantise(h.x[1], 1.0, h.params.quant, h.params.quant.count_cap(5))
    assert np.mean(z == encoded) < 0.01
    from scipy import stats
    assert stats.kstest(z / 2.0**32, "uniform").pvalue > 1e-4
    # The commitment still pins the self-mask seed nobody revealed.
    assert srv._ads[1].b_commit != commit_self_mask_seed(srv.session, 1, bytes(32))


def test_exact_sums_with_drop_outs_match_the_quantised_reference():
    """Sanity for the attack harness: an honest round through it equals the quantised mean."""
    h = Harness(n=6, d=40, t=4)
    avg = h.run({"masked_input": [2], "consistency": [3]})
    assert h.server.survivors == [0, 1, 3, 4, 5]
    np.testing.assert_array_equal(avg, quantised_weighted_mean(
        [h.x[i] for i in (0, 1, 3, 4, 5)], [1.0] * 5, h.params.quant))
