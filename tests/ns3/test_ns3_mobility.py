"""The ns-3 port of the factory alley mobility (ns3-scenarios/mobility/) against its Python
reference (pybridge/twin/mobility.py): the C++ invariant tests pass, the lane graphs are equal,
and both produce the same trajectories from the same placement and the same uniform draws.

The binaries come from the CMake build: $FEDMARL_BUILD_DIR/bin (default build/bin).
"""

import subprocess

import numpy as np
import pytest
from native_build import built_binary

from pybridge.twin.mobility import AlleyMobility, build_layout

TEST_EXE = "fedmarl-ns3-mobility-test"
TRACE_EXE = "fedmarl-mobility-trace"
TOL = 1e-9


def binary(name):
    return str(built_binary(name))


def run(args, timeout=60):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert p.returncode == 0, f"{args[0]} failed ({p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr}"
    return p.stdout


class ListRng:
    """Stand-in for the numpy Generator that AlleyMobility draws from: every uniform comes,
    in order, from a fixed list, so the C++ side can be fed exactly the same draws."""

    def __init__(self, values):
        self.values = np.asarray(values, dtype=np.float64)
        self.used = 0

    def random(self, size=None):
        n = 1 if size is None else int(np.prod(size))
        if self.used + n > self.values.size:
            raise RuntimeError("the list of uniforms is exhausted")
        out = self.values[self.used:self.used + n]
        self.used += n
        return float(out[0]) if size is None else out.reshape(size).copy()

    def integers(self, low, high=None, size=None):
        low, high = (0, low) if high is None else (low, high)
        return low + np.floor(self.random(size) * (high - low)).astype(np.int64)


# ---------------------------------------------------------------------------- C++ invariants
def test_cpp_invariant_tests_pass():
    # An ns-3 test suite: --verbose lists every case, and a failure with its file and line.
    out = run([binary(TEST_EXE), "--verbose"])
    assert "PASS fedmarl-mobility" in out and "FAIL" not in out, out[-3000:]
    assert out.count("  PASS ") >= 19, out  # every invariant group ran


# ------------------------------------------------------------------------------------ layout
def cpp_layout(tiles_x, tiles_y):
    out = run([binary(TRACE_EXE), "--layout", f"--tilesX={tiles_x}", f"--tilesY={tiles_y}"])
    hall, nodes, pieces = None, [], []
    for line in out.splitlines():
        kind, *fields = line.split()
        if kind == "hall":
            hall = [float(x) for x in fields[:4]] + [int(x) for x in fields[4:]]
        elif kind == "node":
            nodes.append((float(fields[1]), float(fields[2]), int(fields[3])))
        elif kind == "piece":
            pieces.append({"kind": int(fields[1]), "node": int(fields[2]),
                           "approach": int(fields[3]),
                           "geometry": [float(x) for x in fields[4:11]],
                           "successors": [int(x) for x in fields[11:]]})
    return hall, nodes, pieces


@pytest.mark.parametrize("tiles", [(1, 1), (2, 2)])
def test_layout_equals_the_python_layout(tiles):
    lay = build_layout(*tiles)
    hall, nodes, pieces = cpp_layout(*tiles)
    assert hall == [lay.hall_length, lay.hall_width, lay.alley_width, lay.lane_offset,
                    lay.tiles_x, lay.tiles_y]
    assert len(nodes) == lay.nodes.shape[0]
    np.testing.assert_allclose([n[:2] for n in nodes], lay.nodes, atol=TOL, rtol=0)
    assert [n[2] for n in nodes] == lay.node_degree.tolist()
    assert len(pieces) == lay.n_pieces
    geometry = np.array([p["geometry"] for p in pieces])
    np.testing.assert_allclose(geometry[:, 0:2], lay.piece_start, atol=TOL, rtol=0)
    np.testing.assert_allclose(geometry[:, 2:4], lay.piece_end, atol=TOL, rtol=0)
    np.testing.assert_allclose(geometry[:, 4], lay.piece_length, atol=TOL, rtol=0)
    np.testing.assert_allclose(geometry[:, 5:7], lay.piece_dir, atol=TOL, rtol=0)
    assert [p["kind"] for p in pieces] == lay.piece_kind.tolist()
    assert [p["node"] for p in pieces] == lay.piece_node.tolist()
    assert [p["approach"] for p in pieces] == lay.piece_approach.tolist()
    for p, piece in enumerate(pieces):
        assert piece["successors"] == lay.successors[p, :lay.n_successors[p]].tolist()


# ------------------------------------------------------------------------------ trajectories
def python_trajectory(tiles, n, steps, dt, rng, placement):
    mob = AlleyMobility(build_layout(*tiles), n_envs=1, n_robots=n)
    if placement is None:
        mob.reset(rng)
    else:
        mob.place(placement[0][None], placement[1][None])
    piece, pos, moved = [mob.piece[0].copy()], [mob.positions[0].copy()], [np.zeros(n)]
    for _ in range(steps):
        moved.append(mob.step(dt, rng)[0])
        piece.append(mob.piece[0].copy())
        pos.append(mob.positions[0].copy())
    return np.stack(piece), np.stack(pos), np.stack(moved)


def cpp_trajectory(tmp_path, tiles, n, steps, dt, uniforms, placement, simulator):
    ufile = tmp_path / "uniforms.txt"
    ufile.write_text("\n".join(repr(float(u)) for u in uniforms) + "\n")
    args = [binary(TRACE_EXE), f"--tilesX={tiles[0]}", f"--tilesY={tiles[1]}", f"--n={n}",
            f"--steps={steps}", f"--dt={dt!r}", f"--uniforms={ufile}"]
    if placement is not None:
        pfile = tmp_path / "placement.txt"
        pfile.write_text("".join(f"{int(p)} {float(o)!r}\n" for p, o in zip(*placement)))
        args.append(f"--placement={pfile}")
    if simulator:
        args.append("--simulator")
    out = run(args)
    used = [int(line.split()[-1]) for line in out.splitlines() if line.startswith("# uniforms")]
    rows = np.array([[float(x) for x in line.split(",")] for line in out.splitlines()[1:]
                     if not line.startswith("#")])
    assert rows.shape == ((steps + 1) * n, 7)
    assert np.array_equal(rows[:, 0], np.repeat(np.arange(steps + 1), n))
    rows = rows.reshape(steps + 1, n, 7)
    return rows[..., 2].astype(np.int64), rows[..., 4:6], rows[..., 6], used[0]


@pytest.mark.parametrize(
    ("tiles", "n", "steps", "placed", "simulator"),
    [((1, 1), 20, 500, True, False),    # the reference case: given placement, direct Step
     ((1, 1), 20, 500, False, True),    # placement drawn from the uniforms, ns-3 scheduler
     ((1, 1), 60, 500, True, False),    # dense: yielding and intersection tokens at work
     ((2, 2), 300, 200, True, False)],  # tiled hall: grid pair search vs the KD-tree
    ids=["n20-placed", "n20-reset-simulator", "n60-dense", "n300-2x2"])
def test_trajectories_equal_the_python_model(tmp_path, tiles, n, steps, placed, simulator):
    dt = 0.05
    seed = 1000 * n + steps
    uniforms = np.random.default_rng(seed).random(50_000)
    placement = None
    if placed:  # a random valid placement from the Python model
        mob = AlleyMobility(build_layout(*tiles), n_envs=1, n_robots=n)
        mob.reset(np.random.default_rng(seed + 1))
        placement = (mob.piece[0].copy(), mob.offset[0].copy())
    rng = ListRng(uniforms)
    py_piece, py_pos, py_moved = python_trajectory(tiles, n, steps, dt, rng, placement)
    cc_piece, cc_pos, cc_moved, cc_used = cpp_trajectory(tmp_path, tiles, n, steps, dt,
                                                         uniforms, placement, simulator)
    assert cc_used == rng.used > 0
    assert np.array_equal(cc_piece, py_piece)
    err = np.abs(cc_pos - py_pos).max()
    assert err <= TOL, f"positions differ by up to {err} m"
    np.testing.assert_allclose(cc_moved, py_moved, atol=TOL, rtol=0)
    assert py_moved[1:].mean() > 0.5 * 3.0 * dt  # the robots do flow
    if n >= 60:
        assert (py_moved[1:] < 3.0 * dt - TOL).any()  # and some of them yield
