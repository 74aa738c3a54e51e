"""Who masks with whom and who holds whose shares: the complete graph or SecAgg+'s Harary graph.

SecAgg+ (Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic Overhead", CCS
2020) replaces "every client pairs with every other" by a random k-regular graph: client u masks
with, and secret-shares to, its k neighbours only, so each client's work and bytes grow with k
(logarithmic in N) instead of N. The graph is a Harary graph H(k, N) - a ring where every node
links to the k/2 nodes on either side - laid over a random permutation of the client ids. The
permutation comes from a 32-byte seed through SHA-256 (never `random.shuffle`: Flower's SecAgg+
seeds Python's Mersenne Twister, which an observer of a few outputs can predict).

k and the Shamir threshold t come from a stated threat model: the fraction of corrupt clients
gamma, the fraction of drop-outs delta and the server's power, with statistical security 2^-40
and failure probability 2^-20, computed the way Google's federated-compute graph parameter
finder does (`harary_parameters`): the smallest even k for which (a) the graph of honest
survivors stays connected, (b) fewer than t of any client's neighbours are corrupt and (c) at
least t of them survive, each except with the stated probability (hypergeometric tails, union
bound over the N clients). Against a semi-malicious server, which may also lie about who
dropped, t must in addition exceed (k + corrupt neighbours) / 2.

The complete graph (all-pairs, k = N - 1) is the small-N case; there a client's own share
counts toward t, exactly as in Bonawitz et al. 2017.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache

from federation.errors import ConfigError

COMPLETE = "complete"
HARARY = "harary"
GRAPHS = (COMPLETE, HARARY)
SEMI_HONEST = "semi-honest"
SEMI_MALICIOUS = "semi-malicious"
# Above this many clients `run_secure_round(graph="auto")` switches to SecAgg+: at N = 200 the
# all-pairs round already costs ~17 s in-process here, SecAgg+ about a tenth of that.
AUTO_HARARY_ABOVE = 200

_SECURITY_BITS = 40    # statistical security of the parameters
_CORRECTNESS_BITS = 20  # probability that an honest round fails for lack of shares
_EPS = 1e-14            # keeps float rounding from moving a bound in the insecure direction


@dataclass(frozen=True)
class ThreatModel:
    """What the SecAgg+ parameters must withstand.

    corrupt_fraction: gamma, clients that collude with the server (at most floor(gamma N)).
    dropout_fraction: delta, clients that may drop out during the round.
    server: "semi-honest" (follows the protocol, curious) or "semi-malicious" (may also lie
        about who dropped out; the ConsistencyCheck round plus 2t > k + corrupt neighbours
        keeps it from collecting both kinds of share of one client).
    """

    corrupt_fraction: float = 0.05
    dropout_fraction: float = 0.05
    server: str = SEMI_MALICIOUS

    def __post_init__(self) -> None:
        if self.server not in (SEMI_HONEST, SEMI_MALICIOUS):
            raise ConfigError(f"server must be {SEMI_HONEST!r} or {SEMI_MALICIOUS!r}")
        for name in ("corrupt_fraction", "dropout_fraction"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value < 1.0):
                raise ConfigError(f"{name} must be in [0, 1), got {value!r}")
        bad = self.corrupt_fraction + (2 if self.server == SEMI_MALICIOUS else 1) * \
            self.dropout_fraction
        if bad > 0.9:
            raise ConfigError(f"corrupt + {'2 x ' if self.server == SEMI_MALICIOUS else ''}"
                              f"drop-out fraction is {bad:.2f} > 0.9: no secure parameters")

    def max_corrupt(self, n: int) -> int:
        return math.floor((self.corrupt_fraction + _EPS) * n)

    def complete_threshold(self, n: int) -> int:
        """t for the complete graph: 2t > n + n_C (semi-malicious) or t > n_C, and t > n/2."""
        n_c = self.max_corrupt(n)
        t = (n + n_c) // 2 + 1 if self.server == SEMI_MALICIOUS else max(n // 2 + 1, n_c + 1)
        return min(max(t, 2), n)


# --- hypergeometric tails (sampling k neighbours out of N - 1 others is close enough to
# sampling k of N, which is what the finder's bounds use) ------------------------------------

def _log_pmf(total: int, marked: int, sampled: int, x: int) -> float:
    if x < 0 or x > sampled or x > marked or sampled - x > total - marked:
        return -math.inf
    return (_log_choose(marked, x) + _log_choose(total - marked, sampled - x)
            - _log_choose(total, sampled))


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _pmf(total: int, marked: int, sampled: int) -> list[float]:
    """P[X = x] for x = 0..sampled, X ~ Hypergeometric(total, marked, sampled)."""
    return [math.exp(_log_pmf(total, marked, sampled, x)) for x in range(sampled + 1)]


def _log_disconnect_bound(n: int, k: int, bad: int) -> float:
    """Union bound on log P[removing `bad` random nodes disconnects a Harary ring of degree k].

    Disconnecting H(k, n) takes two runs of k/2 consecutive removed nodes; there are about
    n (n - k - 1) / 2 places for the pair, each hit with probability
    bad! (n - k)! / (n! (bad - k)!).
    """
    if k > bad:
        return -math.inf
    return (math.log(n) + math.log(n - k - 1) - math.log(2) + math.lgamma(bad + 1)
            + math.lgamma(n - k + 1) - math.lgamma(n + 1) - math.lgamma(bad - k + 1))


def _threshold_for(n: int, k: int, threat: ThreatModel) -> int | None:
    """The Shamir threshold that makes degree k secure and live, or None if none does."""
    per_event = _SECURITY_BITS + 1  # the security budget is split over the two bad events
    corrupt = threat.max_corrupt(n)
    bad = corrupt + math.floor((threat.dropout_fraction + _EPS) * n)
    if _log_disconnect_bound(n, k, bad) >= -per_event * math.log(2):
        return None
    survivors = math.ceil((1 - threat.dropout_fraction - _EPS) * n)
    # t1: a client has more than t1 corrupt neighbours with probability below 2^-41 / n.
    tail, upper = 2.0 ** -per_event / n, _pmf(n, corrupt, k)
    t1 = next(x for x in range(k + 1) if math.fsum(upper[x + 1:]) < tail)
    # t2: a client has fewer than t2 surviving neighbours with probability below 2^-20 / n.
    fail, alive = 2.0 ** -_CORRECTNESS_BITS / n, _pmf(n, survivors, k)
    t2 = next(x for x in range(k + 1) if math.fsum(alive[:x + 1]) >= fail)
    if threat.server == SEMI_MALICIOUS:
        # 2t > k + corrupt neighbours: t1 + 1 >= (t1 + k + 1) / 2, with a little slack.
        t1 = math.ceil((t1 + k - 1.25) / 2)
    if t2 <= t1:
        return None
    return max(t1 + 1, 2)


def harary_parameters(n: int, threat: ThreatModel | None = None) -> tuple[int, int]:
    """(degree k, threshold t) for SecAgg+ over n clients under `threat`.

    N = 1000, gamma = delta = 5 %: (30, 17) semi-honest, (52, 37) semi-malicious, the figures
    Google's finder publishes.
    """
    threat = threat or ThreatModel()
    if n < 4:
        raise ConfigError(f"SecAgg+ needs at least 4 clients, got {n}")
    for k in range(2, n - 1, 2):
        t = _threshold_for(n, k, threat)
        if t is not None:
            return k, t
    raise ConfigError(f"no Harary degree below {n - 1} meets the threat model {threat} for "
                      f"{n} clients: use the complete graph")


# --- the graph itself ----------------------------------------------------------------------

@lru_cache(maxsize=8)
def _permutation(ids: tuple[int, ...], seed: bytes) -> tuple[int, ...]:
    """A uniformly random order of `ids`: sort by SHA-256(seed, id) (ties have prob. 2^-256).

    Cached: in the in-process simulation every client derives the same ring from the same
    public seed (in a deployment each computes it once, O(N log N)).
    """
    tag = b"fedmarl/secagg/v1/graph-permutation"
    return tuple(sorted(ids, key=lambda i: hashlib.sha256(tag + seed +
                                                          struct.pack("<I", i)).digest()))


@dataclass(frozen=True)
class NeighbourGraph:
    """The masking and share-holding relation of one round over the enrolled client ids."""

    kind: str
    ids: tuple[int, ...]
    degree: int
    seed: bytes = b""

    @classmethod
    def complete(cls, ids: Iterable[int]) -> NeighbourGraph:
        ids = tuple(sorted(ids))
        return cls(COMPLETE, ids, len(ids) - 1)

    @classmethod
    def harary(cls, ids: Iterable[int], degree: int, seed: bytes) -> NeighbourGraph:
        ids = tuple(sorted(ids))
        if degree % 2 or not 2 <= degree < len(ids) - 1:
            raise ConfigError(f"Harary degree must be even and in [2, N - 1) (N = {len(ids)}, "
                              f"k = {degree})")
        if len(seed) != 32:
            raise ConfigError("the graph seed must be 32 bytes")
        return cls(HARARY, ids, degree, seed)

    @cached_property
    def _everyone(self) -> frozenset[int]:
        return frozenset(self.ids)

    @cached_property
    def _ring(self) -> tuple[tuple[int, ...], dict[int, int]]:
        ring = _permutation(self.ids, self.seed)
        return ring, {u: p for p, u in enumerate(ring)}

    @cached_property
    def _cache(self) -> dict[int, frozenset[int]]:
        return {}

    def neighbours(self, u: int) -> frozenset[int]:
        """Clients u masks with (and, on the Harary graph, exchanges shares with)."""
        got = self._cache.get(u)
        if got is None:
            if u not in self._everyone:
                raise KeyError(u)
            if self.kind == COMPLETE:
                got = self._everyone - {u}
            else:
                ring, pos = self._ring
                n, half, p = len(ring), self.degree // 2, pos[u]
                got = frozenset(ring[(p + j) % n] for j in range(-half, half + 1) if j)
            self._cache[u] = got
        return got

    def holders(self, u: int) -> frozenset[int]:
        """Clients that receive a share of u's secrets. On the complete graph u keeps one share
        itself (Bonawitz et al.); on the Harary graph only its k neighbours hold shares (Bell
        et al.), so a threshold from the finder counts neighbours only."""
        if self.kind == COMPLETE:
            return self._everyone
        return self.neighbours(u)

    def holds_shares_of(self, w: int) -> frozenset[int]:
        """Clients whose shares w holds (the relation is symmetric)."""
        return self.holders(w)

    def within_two_hops(self, w: int) -> frozenset[int]:
        """w and every client within two hops of it: all share holders of every client whose
        shares w holds. On the Harary ring, the window of radius k around w (built directly:
        at N = 1000 the union of w's neighbours' neighbourhoods cost the server ~50 ms a
        round)."""
        if w not in self._everyone:
            raise KeyError(w)
        n, k = len(self.ids), self.degree
        if self.kind == COMPLETE or 2 * k + 1 >= n:
            return self._everyone
        ring, pos = self._ring
        p = pos[w]
        return frozenset(ring[(p + j) % n] for j in range(-k, k + 1))

    def __contains__(self, u: object) -> bool:
        return u in self._everyone
