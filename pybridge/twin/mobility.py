"""Robots driving along the alleys of the in-X factory hall: B independent copies stepped together.

Reference: Madsen & Adeogun, "Federated Multi-Agent DRL for Radio Resource Management in
Industrial 6G in-X subnetworks", Table I and Sec. IV-A. A 180 m x 80 m hall; 5 m wide alleys,
"two-lane roads in a right-handed traffic setting", take ~1600 m^2 of it; N in-robot
subnetworks drive along them at 3 m/s with a minimum centre-to-centre separation d_min = 1 m;
collisions are avoided by giving way to the robot nearest to a common intersection.

Layout (our choice: the paper gives only the hall, the alley width and the alley area)
--------------------------------------------------------------------------------------
One tile is 180 m x 80 m with three alley centrelines: a horizontal one at y = 40 across the tile
and vertical ones at x = 60 and x = 120 across it ("#"-like, 6 production areas). That is
340 m of centreline, 1700 m^2 counting length x 5 m (1650 m^2 net of the two 5 m x 5 m
crossings), close to the paper's ~1600 m^2. The hall may be `tiles_x` x `tiles_y` tiles side by
side (for hundreds or thousands of robots); alleys continue across tile borders, so the only dead
ends are where an alley meets the outer wall. A dead end's graph node sits half an alley width
(2.5 m) from the wall and robots make a U-turn there.

Lanes: right-hand traffic, each lane centre w = alley_width / 4 = 1.25 m right of the centreline
(the right normal of a direction u = (ux, uy) is (uy, -ux)). The motion graph is made of straight
pieces, so positions are continuous:
- a *lane* piece per directed alley segment P -> Q, from P + n w + u w to Q + n w - u w (it stops
  w short of each node, at the edge of the w x w "intersection box" around the node);
- a *connector* piece per (incoming lane, allowed outgoing segment Q -> R) pair at every node Q,
  straight from the lane's end to the outgoing lane's start: a right turn is zero-length, straight
  through 2.5 m, a left turn 3.54 m (diagonally through the node), a U-turn 2.5 m sideways.
  U-turns are allowed only at dead ends; elsewhere a robot picks uniformly among the other exits.

Traffic rules per step (dt; a robot advances up to speed * dt along the graph)
------------------------------------------------------------------------------
0. Intersection token (ours, for liveness). Robots on a node's connectors or within its stop
   line, STOP_MARGIN * d_min before the intersection box, are inside the node; only one approach
   lane at a time may be inside. When the node is free, the arriving robot nearest to it
   (`dist_to_node`; ties: longest wait, then index) opens it for its approach; more robots of
   that approach may follow (a platoon keeps flowing) until a robot of another approach has
   waited PATIENCE seconds at its stop line. Everyone else advances at most to the stop line,
   which keeps them >= d_min from everything in the box. Without this, purely reactive yielding
   can freeze two robots that reach a crossing together: the one that gives way already stands
   on the other's path (a lane ends exactly on the crossing lane) and neither can move again.
1. Every robot proposes its (possibly clamped) full advance.
2. Robot i stops if some j is within d_min of it at the proposed positions, j is ahead of i
   ((p_j - p_i) . heading_i > 0), and not (i is also ahead of j and i has priority); priority:
   smaller `dist_to_node`, ties by smaller index. Followers yield to leaders; crossing and
   head-on pairs are resolved by priority; nobody yields to a robot behind it.
3. Safety net: with stopped robots where they are and movers at their proposals, any pair closer
   than d_min stops its mover (of two movers, the one without priority); repeat until no pair is
   too close. This terminates (every round stops a robot) and makes "all pairs >= d_min apart"
   an invariant of `step`, because a valid start stays valid when nobody moves.
A step longer than SUBSTEP_FRACTION * d_min of travel is split into equal sub-steps, so a robot
can never jump over another one between two checks.

Pair search: a dense [B, N, N] distance array for N <= DENSE_MAX_ROBOTS, else a cKDTree per copy;
candidate pairs are those within d_min + 2 * advance (no pair farther apart can get closer than
d_min in one sub-step).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

LANE = 0
CONNECTOR = 1
# Reset slots keep at least this distance (m) to every node: nobody starts inside an
# intersection or at a stop line.
NODE_EXCLUSION = 3.0
# Waiting robots stop this many d_min before the intersection box (5 % float headroom).
STOP_MARGIN = 1.05
# One internal sub-step advances a robot at most this many d_min (no tunnelling through others).
SUBSTEP_FRACTION = 0.5
# A robot waiting this long (s) at a stop line ends the platoon crossing in front of it.
PATIENCE = 5.0
# Up to this many robots per copy the pair search uses a dense distance array.
DENSE_MAX_ROBOTS = 64
# Piece boundaries one robot may cross in one sub-step (a lane, a zero-length connector, ...).
MAX_HOPS = 32
_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class FactoryLayout:
    """Alley geometry and the directed lane graph; arrays are read-only.

    Pieces are indexed lanes first, then connectors. `successors[p, :n_successors[p]]` lists the
    pieces a robot may enter at the end of piece p (padding is -1), so that choosing a random
    successor for many robots is one fancy-indexing operation.
    """

    hall_length: float  # x extent of the whole hall, m
    hall_width: float  # y extent, m
    alley_width: float  # m
    lane_offset: float  # lane centre to alley centreline, m
    tiles_x: int
    tiles_y: int
    centrelines: np.ndarray  # [n_alleys, 2, 2] wall-to-wall alley centrelines, (x, y) endpoints
    nodes: np.ndarray  # [n_nodes, 2] intersections and dead ends
    node_degree: np.ndarray  # [n_nodes] alley segments meeting there (1: dead end)
    piece_start: np.ndarray  # [P, 2]
    piece_end: np.ndarray  # [P, 2]
    piece_length: np.ndarray  # [P]
    piece_dir: np.ndarray  # [P, 2] unit direction (outgoing direction for zero-length pieces)
    piece_kind: np.ndarray  # [P] LANE or CONNECTOR
    piece_node: np.ndarray  # [P] node a lane leads to / a connector belongs to
    piece_approach: np.ndarray  # [P] the incoming lane piece (itself for a lane)
    successors: np.ndarray  # [P, max_succ] piece indices, -1 padded
    n_successors: np.ndarray  # [P]

    @property
    def n_pieces(self) -> int:
        return int(self.piece_length.size)

    @property
    def is_connector(self) -> np.ndarray:
        return self.piece_kind == CONNECTOR

    @property
    def centreline_length(self) -> float:
        """Total alley centreline length, m (wall to wall; crossings counted once per alley)."""
        seg = self.centrelines[:, 1] - self.centrelines[:, 0]
        return float(np.hypot(seg[:, 0], seg[:, 1]).sum())


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.setflags(write=False)


def _alley_coordinates(tiles_x: int, tiles_y: int, tile_length: float,
                       tile_width: float) -> tuple[np.ndarray, np.ndarray]:
    """x of the vertical alleys and y of the horizontal alleys of the whole hall."""
    xs = (tile_length * np.arange(tiles_x)[:, None]
          + tile_length * np.array([1.0 / 3.0, 2.0 / 3.0])).ravel()
    ys = tile_width * (np.arange(tiles_y) + 0.5)
    return xs, ys


def _alley_graph(xs: np.ndarray, ys: np.ndarray, length: float, width: float,
                 margin: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Nodes (crossings, dead ends `margin` from the wall) and the undirected segments."""
    index: dict[tuple[float, float], int] = {}
    nodes: list[tuple[float, float]] = []
    edges: list[tuple[int, int]] = []

    def node(x: float, y: float) -> int:
        k = (round(x, 9), round(y, 9))
        if k not in index:
            index[k] = len(nodes)
            nodes.append((x, y))
        return index[k]

    def chain(points: list[tuple[float, float]]) -> None:
        ids = [node(x, y) for x, y in points]
        edges.extend(itertools.pairwise(ids))

    for y in ys:
        chain([(x, float(y)) for x in (margin, *map(float, xs), length - margin)])
    for x in xs:
        chain([(float(x), y) for y in (margin, *map(float, ys), width - margin)])
    return np.array(nodes, dtype=np.float64), edges


def _unit_and_right(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u = (q - p) / np.linalg.norm(q - p)
    return u, np.array([u[1], -u[0]])


def _lane_pieces(nodes: np.ndarray, segs: list[tuple[int, int]], w: float) -> dict[str, list]:
    """One lane piece per directed segment P -> Q, w right of the centreline, w short of P, Q."""
    pieces: dict[str, list] = {"start": [], "end": [], "dir": [], "node": [], "approach": []}
    for s, (a, b) in enumerate(segs):
        u, n = _unit_and_right(nodes[a], nodes[b])
        pieces["start"].append(nodes[a] + n * w + u * w)
        pieces["end"].append(nodes[b] + n * w - u * w)
        pieces["dir"].append(u)
        pieces["node"].append(b)
        pieces["approach"].append(s)
    return pieces


def _add_connectors(pieces: dict[str, list], segs: list[tuple[int, int]],
                    degree: np.ndarray) -> list[list[int]]:
    """Append a connector per (incoming lane, allowed exit) to `pieces`; returns successors."""
    outgoing: list[list[int]] = [[] for _ in degree]
    for s, (a, _) in enumerate(segs):
        outgoing[a].append(s)
    succ: list[list[int]] = [[] for _ in segs]
    for s, (a, q) in enumerate(segs):
        for t in outgoing[q]:
            if segs[t][1] == a and degree[q] > 1:
                continue  # U-turns only at dead ends
            start, end = pieces["end"][s], pieces["start"][t]
            size = np.linalg.norm(end - start)
            succ[s].append(len(pieces["start"]))
            succ.append([t])
            pieces["start"].append(start)
            pieces["end"].append(end)
            pieces["dir"].append((end - start) / size if size > 1e-12 else pieces["dir"][t])
            pieces["node"].append(q)
            pieces["approach"].append(s)
    return succ


def _lane_graph(nodes: np.ndarray, edges: list[tuple[int, int]],
                w: float) -> dict[str, np.ndarray]:
    """Lane and connector pieces of the directed alley graph, with the successor table."""
    segs = list(edges) + [(b, a) for a, b in edges]
    degree = np.bincount(np.array(edges).ravel(), minlength=len(nodes))
    pieces = _lane_pieces(nodes, segs, w)
    succ = _add_connectors(pieces, segs, degree)
    table = np.full((len(succ), max(len(x) for x in succ)), -1, dtype=np.int64)
    for p, row in enumerate(succ):
        table[p, :len(row)] = row
    start, end = np.array(pieces["start"]), np.array(pieces["end"])
    kind = np.full(len(start), CONNECTOR, dtype=np.int8)
    kind[:len(segs)] = LANE
    return {
        "node_degree": degree, "piece_start": start, "piece_end": end,
        "piece_length": np.linalg.norm(end - start, axis=1),
        "piece_dir": np.array(pieces["dir"]), "piece_kind": kind,
        "piece_node": np.array(pieces["node"], dtype=np.int64),
        "piece_approach": np.array(pieces["approach"], dtype=np.int64), "successors": table,
        "n_successors": np.array([len(x) for x in succ], dtype=np.int64)}


def build_layout(tiles_x: int = 1, tiles_y: int = 1, tile_length: float = 180.0,
                 tile_width: float = 80.0, alley_width: float = 5.0) -> FactoryLayout:
    """The factory hall of `tiles_x` x `tiles_y` tiles and its lane graph (see module docstring)."""
    if int(tiles_x) != tiles_x or int(tiles_y) != tiles_y or tiles_x < 1 or tiles_y < 1:
        raise ValueError(f"tiles_x and tiles_y must be integers >= 1, got {tiles_x}, {tiles_y}")
    if not 0.0 < 2.0 * alley_width < min(tile_length / 3.0, tile_width / 2.0):
        raise ValueError(f"alley_width={alley_width} does not fit a {tile_length} m x "
                         f"{tile_width} m tile")
    tiles_x, tiles_y = int(tiles_x), int(tiles_y)
    length, width = tile_length * tiles_x, tile_width * tiles_y
    xs, ys = _alley_coordinates(tiles_x, tiles_y, tile_length, tile_width)
    nodes, edges = _alley_graph(xs, ys, length, width, alley_width / 2.0)
    w = alley_width / 4.0
    graph = _lane_graph(nodes, edges, w)
    centrelines = np.concatenate([
        np.stack([np.stack([np.zeros_like(ys), ys], 1),
                  np.stack([np.full_like(ys, length), ys], 1)], 1),
        np.stack([np.stack([xs, np.zeros_like(xs)], 1),
                  np.stack([xs, np.full_like(xs, width)], 1)], 1)])
    _readonly(centrelines, nodes, *graph.values())
    return FactoryLayout(hall_length=float(length), hall_width=float(width),
                         alley_width=float(alley_width), lane_offset=w, tiles_x=tiles_x,
                         tiles_y=tiles_y, centrelines=centrelines, nodes=nodes, **graph)


def stop_distance(d_min: float) -> float:
    """How far before the intersection box a robot without the token waits, m."""
    return STOP_MARGIN * d_min


def placement_slots(layout: FactoryLayout, d_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate start positions (piece, offset): every 2 d_min along each lane piece, keeping
    those far enough from every node that nobody starts in or at an intersection.

    Any two slots are >= d_min apart: slots on one lane are 2 d_min apart, parallel lanes are
    2 w apart (d_min <= 2 w is required) and lanes meeting at a node are kept apart by the
    exclusion radius.
    """
    w = layout.lane_offset
    radius = max(NODE_EXCLUSION, math.hypot(w + stop_distance(d_min), w) + 1e-6)
    spacing = 2.0 * d_min
    lanes = np.flatnonzero(layout.piece_kind == LANE)
    counts = np.floor(layout.piece_length[lanes] / spacing).astype(np.int64) + 1
    piece = np.repeat(lanes, counts)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    offset = (np.arange(piece.size) - first) * spacing
    pos = layout.piece_start[piece] + layout.piece_dir[piece] * offset[:, None]
    dist, _ = cKDTree(layout.nodes).query(pos)
    keep = dist >= radius
    return piece[keep], offset[keep]


def lane_capacity(layout: FactoryLayout, d_min: float) -> int:
    """How many robots the initial placement can hold (number of placement slots, see reset)."""
    return int(placement_slots(layout, d_min)[0].size)


class AlleyMobility:
    """N robots in each of B independent copies of the hall, moved along the lane graph.

    State per robot: the piece it is on and the distance along it; `positions` and `headings`
    are derived from them after every change. Arrays are replaced, not mutated, by `step`, so a
    caller may keep a reference to an earlier state. `reset` draws a random placement, `place`
    sets a hand-built one; `step` draws successors only from the rng it is given, so equal
    seeds give equal trajectories.
    """

    def __init__(self, layout: FactoryLayout, n_envs: int, n_robots: int, speed: float = 3.0,
                 d_min: float = 1.0) -> None:
        if n_envs < 1 or n_robots < 1:
            raise ValueError(f"n_envs and n_robots must be >= 1, got {n_envs}, {n_robots}")
        if speed < 0.0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        if not 0.0 < d_min <= 2.0 * layout.lane_offset:
            raise ValueError(f"d_min must be in (0, {2.0 * layout.lane_offset}] m (the spacing "
                             f"of opposite lanes), got {d_min}")
        self.layout = layout
        self.B, self.N = int(n_envs), int(n_robots)
        self.speed, self.d_min = float(speed), float(d_min)
        self.stop_distance = stop_distance(d_min)
        self._slot_piece, self._slot_offset = placement_slots(layout, d_min)
        capacity = self._slot_piece.size
        if self.N > capacity:
            raise ValueError(
                f"n_robots={self.N} exceeds lane_capacity(layout, d_min={d_min})={capacity} of "
                f"a {layout.tiles_x}x{layout.tiles_y}-tile hall; use more tiles "
                f"(build_layout(tiles_x, tiles_y))")
        self._triu = np.triu(np.ones((self.N, self.N), dtype=bool), k=1)
        self._ready = False
        self._waited = np.zeros((self.B, self.N))  # seconds since the robot last moved
        # A valid (if not random) placement until reset(): the first N slots in every copy.
        self._set_state(np.tile(self._slot_piece[:self.N], (self.B, 1)),
                        np.tile(self._slot_offset[:self.N], (self.B, 1)))

    # ------------------------------------------------------------------------------ state
    def _set_state(self, piece: np.ndarray, offset: np.ndarray) -> None:
        lay = self.layout
        self.piece = piece
        self.offset = offset
        self.positions = lay.piece_start[piece] + lay.piece_dir[piece] * offset[..., None]
        self.headings = lay.piece_dir[piece]

    def reset(self, rng: np.random.Generator) -> None:
        """Place the robots of every copy on distinct random slots (uniform, no replacement)."""
        keys = rng.random((self.B, self._slot_piece.size))
        slot = np.argsort(keys, axis=1)[:, :self.N]
        self._set_state(self._slot_piece[slot], self._slot_offset[slot].copy())
        self._waited = np.zeros((self.B, self.N))
        self._ready = True

    def place(self, piece: np.ndarray, offset: np.ndarray) -> None:
        """Put robots at given (piece, offset) states, [B, N] each: for hand-built scenarios.

        The caller is responsible for the separation of the robots it places.
        """
        piece = np.asarray(piece, dtype=np.int64)
        offset = np.asarray(offset, dtype=np.float64)
        shape = (self.B, self.N)
        if piece.shape != shape or offset.shape != shape:
            raise ValueError(f"piece and offset must have shape {shape}")
        if piece.min() < 0 or piece.max() >= self.layout.n_pieces:
            raise ValueError("piece index out of range")
        if (offset < 0).any() or (offset > self.layout.piece_length[piece] + _TOL).any():
            raise ValueError("offset must lie within [0, piece length]")
        self._set_state(piece.copy(), offset.copy())
        self._waited = np.zeros((self.B, self.N))
        self._ready = True

    def dist_to_node(self) -> np.ndarray:
        """[B, N] distance along the travel direction to the next node, m; 0 on connectors.

        On a lane this is the distance left on the lane plus the lane offset (the lane ends that
        far before the node); a robot on a connector is inside the intersection: top priority.
        """
        return self._dist_to_node(self.piece, self.offset)

    def _dist_to_node(self, piece: np.ndarray, offset: np.ndarray) -> np.ndarray:
        lay = self.layout
        d = lay.piece_length[piece] - offset + lay.lane_offset
        return np.where(lay.piece_kind[piece] == CONNECTOR, 0.0, d)

    # ------------------------------------------------------------------------------- step
    def step(self, dt: float, rng: np.random.Generator) -> np.ndarray:
        """Advance every robot by up to speed * dt under the traffic rules.

        Returns the distance each robot travelled along its path, [B, N] float64.
        """
        if not self._ready:
            raise RuntimeError("call reset() before step()")
        if dt < 0.0:
            raise ValueError(f"dt must be >= 0, got {dt}")
        total = self.speed * dt
        moved = np.zeros((self.B, self.N))
        if total <= 0.0:
            return moved
        n_sub = max(1, math.ceil(total / (SUBSTEP_FRACTION * self.d_min) - 1e-12))
        for _ in range(n_sub):
            moved += self._substep(total / n_sub, dt / n_sub, rng)
        return moved

    def _substep(self, advance: float, dt: float, rng: np.random.Generator) -> np.ndarray:
        """One sub-step of at most `advance` metres per robot; returns the distance moved."""
        lay = self.layout
        piece, offset = self.piece.ravel(), self.offset.ravel()
        pos, heading = self.positions.reshape(-1, 2), self.headings.reshape(-1, 2)
        key = self._dist_to_node(piece, offset)
        want = self._token_limits(piece, offset, key, advance)
        new_piece, new_offset = self._advance(piece, offset, want, rng)
        new_pos = lay.piece_start[new_piece] + lay.piece_dir[new_piece] * new_offset[:, None]
        stopped = self._resolve(pos, new_pos, heading, key, want, advance)
        moving = ~stopped
        shape = (self.B, self.N)
        self._set_state(np.where(moving, new_piece, piece).reshape(shape),
                        np.where(moving, new_offset, offset).reshape(shape))
        moved = np.where(moving, want, 0.0).reshape(shape)
        self._waited = np.where(moved > 0.0, 0.0, self._waited + dt)
        return moved

    def _token_limits(self, piece: np.ndarray, offset: np.ndarray, key: np.ndarray,
                      advance: float) -> np.ndarray:
        """Per-robot advance allowed by the intersection tokens (rule 0), flat [B * N].

        Robots on a node's connectors or past its stop line are *inside* it; robots that could
        reach the stop line this sub-step are *arriving*. While robots of one approach are
        inside, more robots of that approach may follow them in (a platoon keeps flowing)
        unless a robot of another approach has waited PATIENCE seconds at its line; otherwise
        the arriving robot nearest to the node (ties: longest wait, then index) opens it for its
        approach. Everyone else stops at the stop line, so at most one approach is ever inside
        an intersection.
        """
        lay = self.layout
        want = np.full(piece.shape, advance)
        remaining = lay.piece_length[piece] - offset
        conn = lay.piece_kind[piece] == CONNECTOR
        arriving = ~conn & (remaining < self.stop_distance + advance)
        inside = conn | (arriving & (remaining < self.stop_distance - _TOL))
        arriving &= ~inside
        arr = np.flatnonzero(arriving)
        if arr.size == 0 or (arr.size == 1 and not inside.any()):
            return want
        n_nodes = lay.nodes.shape[0]
        ins = np.flatnonzero(inside)
        held = np.full(self.B * n_nodes, -1, dtype=np.int64)  # approach inside each node
        held[(ins // self.N) * n_nodes + lay.piece_node[piece[ins]]] = lay.piece_approach[
            piece[ins]]
        waited = self._waited.ravel()[arr]
        group = (arr // self.N) * n_nodes + lay.piece_node[piece[arr]]
        srt = np.lexsort((arr, -waited, np.round(key[arr], 6), group))
        order, group, waited = arr[srt], group[srt], waited[srt]
        first = np.empty(order.size, dtype=bool)
        first[0] = True
        np.not_equal(group[1:], group[:-1], out=first[1:])
        run = np.cumsum(first) - 1  # group number of each sorted arriving robot
        approach = lay.piece_approach[piece[order]]
        hold = held[group]
        impatient = (hold >= 0) & (approach != hold) & (waited >= PATIENCE)
        starved = np.zeros(run[-1] + 1, dtype=bool)
        starved[run[impatient]] = True
        go = np.where(hold >= 0, (approach == hold) & ~starved[run],
                      approach == approach[first][run])
        w = order[~go]
        want[w] = np.minimum(advance, np.maximum(remaining[w] - self.stop_distance, 0.0))
        return want

    def _advance(self, piece: np.ndarray, offset: np.ndarray, dist: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Move (piece, offset) forward by `dist` along the graph, drawing random successors at
        piece ends; only robots that cross a boundary are touched inside the loop."""
        lay = self.layout
        piece, offset, left = piece.copy(), offset.copy(), dist.copy()
        remaining = lay.piece_length[piece] - offset
        hop = np.flatnonzero(left > remaining)
        rem_hop = remaining[hop]
        for _ in range(MAX_HOPS):
            if hop.size == 0:
                break
            left[hop] -= rem_hop
            current = piece[hop]
            pick = (rng.random(hop.size) * lay.n_successors[current]).astype(np.int64)
            nxt = lay.successors[current, pick]
            piece[hop] = nxt
            offset[hop] = 0.0
            rem_hop = lay.piece_length[nxt]
            again = left[hop] > rem_hop
            hop, rem_hop = hop[again], rem_hop[again]
        else:
            if hop.size:
                raise RuntimeError("a robot crossed more than MAX_HOPS pieces in one sub-step")
        return piece, offset + left

    def _candidate_pairs(self, pos: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices (i < j, same copy) of all robot pairs closer than `radius`."""
        B, N = self.B, self.N
        if N <= DENSE_MAX_ROBOTS:
            p = pos.reshape(B, N, 2)
            diff = p[:, :, None, :] - p[:, None, :, :]
            d2 = np.einsum("bijx,bijx->bij", diff, diff)
            b, i, j = np.nonzero((d2 < radius * radius) & self._triu)
            return b * N + i, b * N + j
        pairs = [cKDTree(pos[b * N:(b + 1) * N]).query_pairs(radius, output_type="ndarray")
                 + b * N for b in range(B)]
        both = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
        return both[:, 0], both[:, 1]

    def _resolve(self, pos: np.ndarray, new_pos: np.ndarray, heading: np.ndarray,
                 key: np.ndarray, want: np.ndarray, advance: float) -> np.ndarray:
        """Which robots must stop this sub-step (rules 2 and 3), flat bool [B * N]."""
        stopped = want <= 0.0
        i, j = self._candidate_pairs(pos, self.d_min + 2.0 * advance)
        if i.size == 0:
            return stopped
        d2_min = self.d_min * self.d_min
        # Rule 2: give way to a close robot ahead unless it is a mutual case we win.
        rel = pos[j] - pos[i]
        j_ahead = np.einsum("px,px->p", rel, heading[i]) > 0.0
        i_ahead = np.einsum("px,px->p", rel, heading[j]) < 0.0
        i_first = key[i] <= key[j]  # i < j, so ties go to i
        gap = new_pos[j] - new_pos[i]
        close = np.einsum("px,px->p", gap, gap) < d2_min
        stopped[i[close & j_ahead & ~(i_ahead & i_first)]] = True
        stopped[j[close & i_ahead & ~(j_ahead & ~i_first)]] = True
        # Rule 3: until no pair with a mover is too close, stop such movers.
        while True:
            mi, mj = ~stopped[i], ~stopped[j]
            active = mi | mj
            if not active.any():
                break
            fi = np.where(mi[:, None], new_pos[i], pos[i])
            fj = np.where(mj[:, None], new_pos[j], pos[j])
            gap = fj - fi
            close = active & (np.einsum("px,px->p", gap, gap) < d2_min)
            if not close.any():
                break
            stopped[i[close & mi & (~mj | ~i_first)]] = True
            stopped[j[close & mj & (~mi | i_first)]] = True
        return stopped
