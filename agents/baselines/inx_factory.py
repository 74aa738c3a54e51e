"""Heuristic channel-allocation baselines of reference 002 (Sec. IV-A), over batched arrays.

The baselines module of the inx-factory scenario (`ScenarioSpec.baselines_module`). Its policies
read the scenario's core (this module imports no simulator) through a `ChannelView`:
  - `sinr_db()` -> [B, N, M, K]: SINR each device measured on every channel in the last step,
  - `channel`   -> [B, N]: channel each subnetwork is using,
  - `coupling()`-> [B, N, N]: mean interference power from AP i at subnetwork n (centralised).
The action space is Discrete(K), K channels; `act(view)` returns the requested channel of every
subnetwork, [B, N] int.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import networkx as nx
import numpy as np
from gymnasium import spaces
from scipy.optimize import linear_sum_assignment

from agents.baselines.base import Policy, RandomPolicy


class ChannelView(Protocol):
    channel: np.ndarray

    def sinr_db(self) -> np.ndarray: ...

    def coupling(self) -> np.ndarray: ...


class ChannelPolicy(Policy):
    """Base of the channel heuristics: the action space must be Discrete(K); K is kept."""

    def reset(self, n_envs, n_agents, action_space, rng):
        super().reset(n_envs, n_agents, action_space, rng)
        if not isinstance(action_space, spaces.Discrete) or int(action_space.start) != 0:
            raise ValueError(f"{self.name}: the channel baselines need a Discrete(K) action"
                             f" space starting at 0, got {action_space!r}")
        self.K = int(action_space.n)


class FixedPolicy(ChannelPolicy):
    """Subnetwork n always uses channel n mod K (a static frequency plan)."""

    name = "fixed"

    def act(self, view):
        return np.broadcast_to(np.arange(self.N) % self.K, (self.B, self.N))


class GreedyPolicy(ChannelPolicy):
    """Each subnetwork picks the channel with the best SINR it measured in the previous step
    (mean over its devices, in dB): distributed, local measurements only (reference 002).

    With `filter_steps` > 1 the per-channel SINR is first smoothed by an exponential filter
    F <- (1 - 1/W) F + (1/W) x over linear SINR, like 3GPP's layer-3 measurement filter (TS
    38.331 filterCoefficient). Why it matters: with rho = J0(2 pi f_D T) = 0.29 per 5 ms step the
    Rayleigh fading of the interferers decorrelates within two steps, while a switch lands 1..10
    steps later; a one-step measurement is then mostly fading noise and the reference's greedy
    hops channels ~16 % of steps for no gain. The filter keeps the large-scale information.
    """

    name = "greedy"

    def __init__(self, filter_steps: int = 1) -> None:
        if filter_steps < 1:
            raise ValueError("filter_steps must be >= 1")
        self.alpha = 1.0 / filter_steps
        if filter_steps > 1:
            self.name = "greedy-filtered"

    def reset(self, n_envs, n_agents, action_space, rng):
        super().reset(n_envs, n_agents, action_space, rng)
        self.filtered: np.ndarray | None = None

    def act(self, view):
        sinr_db = view.sinr_db().mean(axis=2)  # [B, N, K]
        if self.alpha == 1.0:
            return sinr_db.argmax(axis=-1)
        lin = 10.0 ** (sinr_db / 10.0)
        if self.filtered is None:
            self.filtered = lin
        else:
            self.filtered = (1.0 - self.alpha) * self.filtered + self.alpha * lin
        return self.filtered.argmax(axis=-1)


class FilteredGreedyPolicy(GreedyPolicy):
    """Greedy on a 10-step exponentially filtered SINR (see GreedyPolicy)."""

    name = "greedy-filtered"

    def __init__(self) -> None:
        super().__init__(filter_steps=10)


class CGCPolicy(ChannelPolicy):
    """Centralised graph colouring (reference 002 baseline, after its ref. [19]).

    Each step a central controller links every subnetwork to its K-1 strongest interferers (edge
    weight: mutual interference power) and colours the graph with K colours (improper where
    needed; see `improper_colouring`). Colours
    are then relabelled (Hungarian assignment) to agree with the channels in use as much as
    possible: colour names are arbitrary, and each needless relabel costs a switching delay.
    """

    name = "cgc"

    def reset(self, n_envs, n_agents, action_space, rng):
        super().reset(n_envs, n_agents, action_space, rng)
        # The colouring depends on the coupling alone, which changes only at a large-scale
        # refresh: it is kept for the steps in between (at N = 5000 one colouring takes
        # seconds). The relabelling, which reads the channels in use, runs every step.
        self._coupling: list[np.ndarray | None] = [None] * n_envs
        self._colours: list[np.ndarray | None] = [None] * n_envs

    def act(self, view):
        coupling = view.coupling()
        out = np.empty((self.B, self.N), dtype=np.int64)
        for b in range(self.B):
            if self._coupling[b] is None or not np.array_equal(coupling[b], self._coupling[b]):
                self._coupling[b] = np.array(coupling[b], copy=True)
                self._colours[b] = improper_colouring(coupling[b], self.K)
            out[b] = _relabel_to_match(self._colours[b], view.channel[b], self.K)
        return out


def interference_graph(coupling: np.ndarray, n_colours: int) -> nx.Graph:
    """Undirected graph: each node joined to its K-1 strongest interferers; weight = mutual
    interference power (both directions summed)."""
    n = coupling.shape[0]
    g = nx.Graph()
    g.add_nodes_from(range(n))
    deg = min(n_colours - 1, n - 1)
    if deg <= 0:
        return g
    c = coupling.copy()
    np.fill_diagonal(c, -np.inf)
    strongest = np.argpartition(-c, deg - 1, axis=1)[:, :deg]
    mutual = coupling + coupling.T
    for i in range(n):
        for j in strongest[i]:
            g.add_edge(i, int(j), weight=float(mutual[i, j]))
    return g


def improper_colouring(coupling: np.ndarray, n_colours: int, sweeps: int = 10) -> np.ndarray:
    """K-colouring of the K-1-strongest-interferer graph, improper where K colours do not fit.

    Start from networkx's largest-first greedy colouring (colours >= K folded onto the cheapest
    of the K), then min-conflict local search: each node in turn takes the colour that minimises
    the summed weight of its same-coloured neighbours, until no node changes (or `sweeps`).
    The objective is the weight of monochromatic edges, i.e. the coupled interference.
    """
    g = interference_graph(coupling, n_colours)
    greedy = nx.greedy_color(g, strategy="largest_first")
    n = coupling.shape[0]
    colours = np.full(n, -1, dtype=np.int64)
    for node, col in greedy.items():
        if col < n_colours:
            colours[node] = col
    order = sorted(range(n), key=lambda v: -g.degree(v, weight="weight"))
    adj = [[(nbr, d["weight"]) for _, nbr, d in g.edges(v, data=True)] for v in range(n)]
    for sweep in range(sweeps + 1):
        changed = False
        for node in order:
            if sweep == 0 and colours[node] >= 0:
                continue  # first pass only places the folded nodes
            cost = np.zeros(n_colours)
            for nbr, w in adj[node]:
                if colours[nbr] >= 0:
                    cost[colours[nbr]] += w
            best = int(np.argmin(cost))
            if colours[node] < 0 or cost[best] < cost[colours[node]]:
                changed = changed or colours[node] >= 0
                colours[node] = best
        if sweep > 0 and not changed:
            break
    return colours


def _relabel_to_match(colours: np.ndarray, current: np.ndarray, k: int) -> np.ndarray:
    overlap = np.zeros((k, k))
    np.add.at(overlap, (colours, current), 1.0)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.empty(k, dtype=np.int64)
    mapping[rows] = cols
    return mapping[colours]


BASELINES: dict[str, Callable[[], Policy]] = {
    p.name: p for p in (RandomPolicy, FixedPolicy, GreedyPolicy, FilteredGreedyPolicy, CGCPolicy)}
