"""Heuristic channel-allocation baselines of reference 002 (Sec. IV-A), over batched arrays.

A policy sees a `ChannelView` (the env core provides one; this module imports no simulator):
  - `sinr_db()` -> [B, N, M, K]: SINR each device measured on every channel in the last step,
  - `channel`   -> [B, N]: channel each subnetwork is using,
  - `coupling()`-> [B, N, N]: mean interference power from AP i at subnetwork n (centralised).
`act(view)` returns the requested channel of every subnetwork, [B, N] int.
"""

from __future__ import annotations

from typing import Protocol

import networkx as nx
import numpy as np
from scipy.optimize import linear_sum_assignment


class ChannelView(Protocol):
    channel: np.ndarray

    def sinr_db(self) -> np.ndarray: ...

    def coupling(self) -> np.ndarray: ...


class Policy:
    """Base: `reset` at each episode start, then `act` every step."""

    name = "policy"

    def reset(self, n_envs: int, n_agents: int, n_channels: int,
              rng: np.random.Generator) -> None:
        self.B, self.N, self.K = n_envs, n_agents, n_channels
        self.rng = rng

    def act(self, view: ChannelView) -> np.ndarray:
        raise NotImplementedError


class RandomPolicy(Policy):
    """A random channel per subnetwork, drawn at the start of each episode and kept."""

    name = "random"

    def reset(self, n_envs, n_agents, n_channels, rng):
        super().reset(n_envs, n_agents, n_channels, rng)
        self.choice = rng.integers(0, n_channels, size=(n_envs, n_agents))

    def act(self, view):
        return self.choice


class FixedPolicy(Policy):
    """Subnetwork n always uses channel n mod K (a static frequency plan)."""

    name = "fixed"

    def act(self, view):
        return np.broadcast_to(np.arange(self.N) % self.K, (self.B, self.N))


class GreedyPolicy(Policy):
    """Each subnetwork picks the channel with the best SINR it measured in the previous step
    (mean over its devices, in dB): distributed, uses local measurements only."""

    name = "greedy"

    def act(self, view):
        return view.sinr_db().mean(axis=2).argmax(axis=-1)


class CGCPolicy(Policy):
    """Centralised graph colouring (reference 002 baseline, after its ref. [19]).

    Each step a central controller links every subnetwork to its K-1 strongest interferers (edge
    weight: mutual interference power), colours the graph with networkx's largest-first greedy
    colouring, and folds colours >= K onto the one of the K channels that adds the least
    interference from already-coloured neighbours (improper colouring with K colours). Colours
    are then relabelled (Hungarian assignment) to agree with the channels in use as much as
    possible: colour names are arbitrary, and each needless relabel costs a switching delay.
    """

    name = "cgc"

    def act(self, view):
        coupling = view.coupling()
        out = np.empty((self.B, self.N), dtype=np.int64)
        for b in range(self.B):
            colours = improper_colouring(coupling[b], self.K)
            out[b] = _relabel_to_match(colours, view.channel[b], self.K)
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


def improper_colouring(coupling: np.ndarray, n_colours: int) -> np.ndarray:
    """K-colouring of the K-1-strongest-interferer graph, improper where K colours do not fit."""
    g = interference_graph(coupling, n_colours)
    greedy = nx.greedy_color(g, strategy="largest_first")
    colours = np.full(coupling.shape[0], -1, dtype=np.int64)
    # Nodes that got a colour < K keep it; the others, strongest-coupled first, take the colour
    # with the least summed weight to neighbours already holding it.
    overflow = []
    for node, col in greedy.items():
        if col < n_colours:
            colours[node] = col
        else:
            overflow.append(node)
    overflow.sort(key=lambda v: -sum(d["weight"] for _, _, d in g.edges(v, data=True)))
    for node in overflow:
        cost = np.zeros(n_colours)
        for _, nbr, d in g.edges(node, data=True):
            if colours[nbr] >= 0:
                cost[colours[nbr]] += d["weight"]
        colours[node] = int(np.argmin(cost))
    return colours


def _relabel_to_match(colours: np.ndarray, current: np.ndarray, k: int) -> np.ndarray:
    overlap = np.zeros((k, k))
    np.add.at(overlap, (colours, current), 1.0)
    rows, cols = linear_sum_assignment(-overlap)
    mapping = np.empty(k, dtype=np.int64)
    mapping[rows] = cols
    return mapping[colours]


BASELINES: dict[str, type[Policy]] = {
    p.name: p for p in (RandomPolicy, GreedyPolicy, CGCPolicy, FixedPolicy)}


def make_baseline(name: str) -> Policy:
    if name not in BASELINES:
        raise ValueError(f"unknown baseline policy {name!r}; available: {', '.join(BASELINES)}")
    return BASELINES[name]()
