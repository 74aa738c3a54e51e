"""SecAgg+ (Bell et al. 2020) on a k-regular Harary graph: the parameter finder against
Google's published figures, the graph itself, and exact rounds with drop-outs at every stage,
including clean refusals when a neighbourhood falls below its threshold. N = 30, k = 8."""

import numpy as np
import pytest
from test_secagg import Harness

from federation import (
    ConfigError,
    NeighbourGraph,
    ProtocolError,
    QuantConfig,
    ThreatModel,
    ThresholdError,
    check_same_layout,
    flatten,
    harary_parameters,
    quantised_weighted_mean,
    run_secure_round,
)
from federation.secure_round import resolve_graph


@pytest.mark.parametrize("n, server, k, t", [
    (1000, "semi-honest", 30, 17),
    (1000, "semi-malicious", 52, 37),
])
def test_parameter_finder_matches_googles_published_figures(n, server, k, t):
    assert harary_parameters(n, ThreatModel(0.05, 0.05, server)) == (k, t)


def test_parameter_finder_grows_slowly_and_refuses_infeasible_models():
    ks = [harary_parameters(n)[0] for n in (200, 1000, 5000)]
    assert ks == sorted(ks) and ks[-1] < 70
    with pytest.raises(ConfigError):
        ThreatModel(0.5, 0.3, "semi-malicious")
    with pytest.raises(ConfigError):
        ThreatModel(server="malicious")


def test_harary_graph_is_k_regular_symmetric_and_seeded():
    ids = range(30)
    g = NeighbourGraph.harary(ids, 8, b"\1" * 32)
    for u in ids:
        assert len(g.neighbours(u)) == 8 and u not in g.neighbours(u)
        assert all(u in g.neighbours(v) for v in g.neighbours(u))
        assert g.holders(u) == g.neighbours(u)
    same = NeighbourGraph.harary(ids, 8, b"\1" * 32)
    other = NeighbourGraph.harary(ids, 8, b"\2" * 32)
    assert all(g.neighbours(u) == same.neighbours(u) for u in ids)
    assert any(g.neighbours(u) != other.neighbours(u) for u in ids)
    # Not the identity ring: the permutation really mixes the ids.
    assert sum(abs(u - v) in (1, 29) for u in ids for v in g.neighbours(u)) < 60
    with pytest.raises(ConfigError):
        NeighbourGraph.harary(ids, 7, b"\1" * 32)
    complete = NeighbourGraph.complete(range(5))
    assert complete.holders(2) == {0, 1, 2, 3, 4} and complete.neighbours(2) == {0, 1, 3, 4}


@pytest.mark.parametrize("n, k", [(30, 8), (17, 8), (16, 6), (9, 4)])
def test_two_hop_window_is_every_holder_of_every_held_client(n, k):
    g = NeighbourGraph.harary(range(n), k, b"\3" * 32)
    for w in range(n):
        union = frozenset().union(*(g.holders(v) for v in g.holds_shares_of(w)))
        assert g.within_two_hops(w) == union | {w}
    assert NeighbourGraph.complete(range(4)).within_two_hops(1) == {0, 1, 2, 3}
    with pytest.raises(KeyError):
        g.within_two_hops(n)


def test_auto_graph_switches_above_200_unless_a_threshold_is_fixed():
    assert resolve_graph(50, None)[0] == "complete"
    assert resolve_graph(201, None)[:1] == ("harary",)
    assert resolve_graph(201, 150)[0] == "complete"
    assert resolve_graph(1000, None, threat=ThreatModel(server="semi-honest")) == \
        ("harary", 30, 17)
    with pytest.raises(ConfigError):
        resolve_graph(300, 100, graph="harary")


def _updates(n, rng, d=40):
    return [{"w": rng.normal(scale=0.5, size=d).astype(np.float32)} for _ in range(n)]


@pytest.mark.parametrize("dropouts", [
    {},
    {"advertise": [0, 11]},
    {"share_keys": [3]},
    {"masked_input": [1, 17]},
    {"consistency": [5]},
    {"unmask": [2, 20]},
    {"advertise": [7], "share_keys": [9], "masked_input": [4], "consistency": [25],
     "unmask": [13]},
])
def test_harary_round_is_exact_with_drop_outs_at_every_stage(dropouts):
    """A fixed graph seed, so that no client has more than k - t = 3 neighbours among the
    drop-outs (a random graph occasionally gives one client 4, and that round is - rightly -
    refused)."""
    rng = np.random.default_rng(8)
    ups = _updates(30, rng)
    weights = rng.uniform(0.5, 2.0, size=30)
    seed = b"\7" * 32
    graph = NeighbourGraph.harary(range(30), 8, seed)
    gone_somewhere = {c for ids in dropouts.values() for c in ids}
    assert all(len(graph.neighbours(u) & gone_somewhere) <= 3 for u in range(30))
    avg, report = run_secure_round(ups, weights, graph="harary", degree=8, threshold=5,
                                   dropouts=dropouts, graph_seed=seed)
    late = set(dropouts.get("unmask", ())) | set(dropouts.get("consistency", ()))
    gone = {c for ids in dropouts.values() for c in ids if c not in late}
    survivors = [i for i in range(30) if i not in gone]
    assert report.survivors == survivors and report.graph == "harary" and report.degree == 8
    layout = check_same_layout(ups)
    w = weights / weights.max()
    exact = quantised_weighted_mean([flatten(ups[i], layout) for i in survivors],
                                    [w[i] for i in survivors], QuantConfig())
    np.testing.assert_array_equal(avg["w"], exact.astype(np.float32))
    # Each client talked to its 8 neighbours only: far fewer bytes than all-pairs would take.
    _, full = run_secure_round(ups, weights, graph="complete", threshold=16)
    assert max(report.bytes_received.values()) < max(full.bytes_received.values())


def test_each_client_masks_with_its_neighbours_only():
    h = Harness(n=30, d=16, t=5, graph="harary", degree=8)
    h.run()
    for i, c in h.clients.items():
        assert c.graph.neighbours(i) == h.server.graph.neighbours(i)
    assert all(set(h.server._masked_peers.get(i, [])) <= h.server.graph.neighbours(i)
               for i in range(30))
    np.testing.assert_array_equal(h.server.average, h.expected())


def test_a_neighbourhood_below_threshold_refuses_cleanly():
    """Client 0's neighbours mostly vanish: client 0 refuses to go on (ThresholdError), the
    refusal is clean (no secret revealed), and the others' round fails cleanly too since 0
    had shared keys; with the complete graph the same drop-outs would not matter."""
    h = Harness(n=30, d=16, t=5, graph="harary", degree=8)
    h.advertise()
    nbrs = sorted(h.server.graph.neighbours(0))
    gone = nbrs[:4]  # 4 of 8 neighbours gone: 4 < t = 5 holders left
    h.share(skip=gone)
    with pytest.raises(ThresholdError, match="client 0"):
        h.clients[0].masked_input(h.routing[0])
    assert h.clients[0].stage == "masked_input"  # state unchanged


def test_harary_whole_round_below_threshold_raises_threshold_error():
    rng = np.random.default_rng(2)
    ups = _updates(30, rng, d=8)
    with pytest.raises(ThresholdError):
        run_secure_round(ups, graph="harary", degree=8, threshold=5,
                         dropouts={"masked_input": list(range(0, 30, 2))})


def test_key_lists_name_neighbours_only():
    h = Harness(n=30, d=8, t=5, graph="harary", degree=8)
    h.advertise()
    from federation.secagg_messages import encode_key_list, parse_key_list
    ads = parse_key_list(h.key_list[1], h.params, h.ids.pki, h.server._context, 1,
                         h.clients[1]._channel)
    assert {a.sender for a in ads} == h.server.graph.neighbours(1) | {1}
    # A server that slips a non-neighbour's (validly signed) keys to client 0 is refused.
    stranger = next(i for i in range(30) if i not in h.server.graph.neighbours(0) and i)
    own = parse_key_list(h.key_list[0], h.params, h.ids.pki, h.server._context, 0,
                         h.clients[0]._channel)
    extra = next(a for a in parse_key_list(h.key_list[stranger], h.params, h.ids.pki,
                                           h.server._context, stranger,
                                           h.clients[stranger]._channel)
                 if a.sender == stranger)
    forged = encode_key_list(h.server._channels[0], h.params, h.server._context, 0,
                             own + [extra])
    with pytest.raises(ProtocolError, match="not neighbours"):
        h.clients[0].share_keys(forged)
