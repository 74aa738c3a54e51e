"""The packet-level inx-factory scenario binary (ns3-scenarios/inx-factory/) and its MAC.

- the C++ test runners pass (common: parameter and array tables; MAC: chunk SINRs and eps by
  hand, link adaptation, queues, switching, measurement, interval boundaries; scenario: full
  in-process episodes);
- `--contract-json` (schema: the contract_version 1 object) declares every parameter exactly as
  InxFactoryConfig does (type, default, range, choices, unit, doc, source, in the dataclass's
  order) and every array with dtype, shape over the declared dims, direction and doc;
  `--params-json` lists the defaults; a bad or unknown flag exits 2 with one line naming it;
- through the shared-memory bridge (the segment built from the contract's arrays): RESET + 20
  STEPs at N=5, K=2 give finite observations, sane rates, delivered packets and AP positions
  inside the hall; the same RngRun replays an episode exactly, another differs; a segment
  missing an array or with a wrong count is refused naming it; errors (bad action, STEP past
  the episode, a crash) come back as BridgeError.

The binaries come from the CMake build: $FEDMARL_BUILD_DIR/bin (default build/bin). A missing
binary is a failure, not a skip: `make test` builds it.
"""

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from native_build import built_binary as binary

from pybridge import _shm
from pybridge.bridge import Bridge, BridgeError
from pybridge.scenarios.inx_factory import InxFactoryConfig

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "fedmarl-inx-factory"

DELAY_BINS = 64
N_METRICS = 16
# Every array of the segment, in the contract's order (the binary declares them; this list is
# what the test expects it to declare, not a second source for the segment).
ARRAY_NAMES = ["actions", "obs", "reward", "rate_fbl", "rate_shannon", "sinr", "interference",
               "sinr_per_channel", "channel", "switched", "coupling", "delivered", "lost",
               "dropped", "queue", "delay_sum", "delay_max", "delay_hist", "airtime", "metrics",
               "positions"]
HALL = (180.0, 80.0)  # one tile of the alley layout, m
N, K = 5, 2
STEPS = 20
FLAGS = [f"--n_subnetworks={N}", f"--n_channels={K}", f"--episode_steps={STEPS}"]


_CONTRACT = {}


def contract():
    """The binary's --contract-json, parsed (once per test session)."""
    if not _CONTRACT:
        p = run([str(binary(SCENARIO)), "--contract-json"], timeout=30)
        assert p.returncode == 0, p.stderr
        _CONTRACT.update(json.loads(p.stdout))
    return _CONTRACT


def dims(n, m=1, k=4, obs_reduce="mean"):
    return {"N": n, "M": m, "K": k, "W": k * m if obs_reduce == "full" else k}


def contract_arrays(n, m=1, k=4, obs_reduce="mean"):
    """The segment's arrays (name, dtype, count) as the binary's contract declares them."""
    d = dims(n, m, k, obs_reduce)
    return [(a["name"], a["dtype"],
             int(np.prod([d[x] if isinstance(x, str) else x for x in a["shape"]])))
            for a in contract()["arrays"]]


def launch(extra=(), n=N, k=K, m=1, obs_reduce="mean"):
    return Bridge.launch(binary(SCENARIO), [*FLAGS, *extra],
                         contract_arrays(n, m, k, obs_reduce), step_timeout=60.0)


def policy(t):
    """Actions that make agents ask for other channels now and then."""
    return (np.arange(N) + t // 4) % K


def run_episode(bridge, rng_run):
    """RESET(rng_run) + STEPS steps; every step's outputs, copied."""
    v = bridge.views
    bridge.reset(rng_run)
    trace = [{name: arr.copy() for name, arr in v.items()}]
    for t in range(STEPS):
        v["actions"][:] = policy(t)
        bridge.step()
        trace.append({name: arr.copy() for name, arr in v.items()})
    return trace


def run(args, timeout=300):
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------------------- C++ test runners
@pytest.mark.parametrize("runner", ["fedmarl-ns3-common-test", "fedmarl-ns3-mac-test",
                                    "fedmarl-inx-factory-test"])
def test_cpp_test_runner_passes(runner):
    p = run([str(binary(runner))])
    assert p.returncode == 0, f"{runner} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr}"


# -------------------------------------------------------------------------------------- flags
def test_contract_json_declares_the_scenario():
    c = contract()
    assert c["contract_version"] == 1
    assert (c["scenario"], c["binary"]) == ("inx-factory", SCENARIO)
    assert c["layout_version"] == _shm.LAYOUT_VERSION
    assert set(c["dims"]) == {"N", "M", "K", "W"} and all(c["dims"].values())
    k = c["constants"]
    assert (k["delay_hist_bins"], k["delay_hist_min_s"], k["delay_hist_max_s"]) == (
        DELAY_BINS, 1e-6, 1.0)
    assert k["metric_slots"] == N_METRICS and len(k["metrics"]) <= N_METRICS
    assert k["metrics"][:2] == ["sim_time", "step"] and len(set(k["metrics"])) == len(
        k["metrics"])


def test_contract_lists_every_array_with_its_shape():
    c = contract()
    assert [a["name"] for a in c["arrays"]] == ARRAY_NAMES
    assert len(ARRAY_NAMES) <= _shm.MAX_ARRAYS
    for a in c["arrays"]:
        assert a["dtype"] in ("f32", "f64", "i32", "u8"), a
        assert a["direction"] == ("in" if a["name"] == "actions" else "out"), a
        assert a["doc"].strip(), a
        assert a["shape"] and all(isinstance(x, int) and x > 0 or x in c["dims"]
                                  for x in a["shape"]), a
    shapes = {a["name"]: a["shape"] for a in c["arrays"]}
    assert shapes["obs"] == ["N", "W"] and shapes["sinr_per_channel"] == ["N", "M", "K"]
    assert shapes["coupling"] == ["N", "N"] and shapes["positions"] == ["N", 2]
    assert shapes["delay_hist"] == [c["constants"]["delay_hist_bins"]]
    assert shapes["metrics"] == [c["constants"]["metric_slots"]]
    counts = {name: count for name, _, count in contract_arrays(7, 3, 5, "full")}
    assert (counts["obs"], counts["sinr_per_channel"], counts["coupling"]) == (105, 105, 49)


def test_contract_params_match_the_dataclass_field_by_field():
    params = contract()["params"]
    fields = dataclasses.fields(InxFactoryConfig)
    assert [p["name"] for p in params] == [f.name for f in fields]
    for p, f in zip(params, fields):
        m = f.metadata
        want = {"type": f.type, "default": f.default, "low": m["low"], "high": m["high"],
                "low_open": m["low_open"],
                "choices": list(m["choices"]) if m["choices"] else None,
                "unit": m["unit"], "doc": m["doc"], "source": m["source"]}
        for key, value in want.items():
            assert p[key] == value and type(p[key]) is type(value), (
                f"{f.name}.{key}: binary {p[key]!r}, dataclass {value!r}")


def test_every_param_has_a_type_default_and_range():
    for p in contract()["params"]:
        assert p["type"] in ("int", "float", "str"), p
        assert "default" in p and p["doc"], p
        if p["type"] == "str":
            assert p["choices"] and p["default"] in p["choices"], p
        else:
            assert isinstance(p["low"], (int, float)) and p["low"] <= p["high"], p
            d = p["default"]
            assert d is None or d in (p["choices"] or []) or (
                (p["low"] < d if p["low_open"] else p["low"] <= d) and d <= p["high"]), p


def test_params_json_matches_the_dataclass():
    p = run([str(binary(SCENARIO)), "--params-json"], timeout=30)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    expected = {f.name: f.default for f in dataclasses.fields(InxFactoryConfig)}
    assert list(got) == list(expected)
    for name, default in expected.items():
        assert got[name] == default, f"{name}: binary {got[name]!r}, dataclass {default!r}"
        assert type(got[name]) is type(default), f"{name}: {type(got[name])} vs {type(default)}"


@pytest.mark.parametrize("flag, words", [
    ("--n_subnetworks=0", ["--n_subnetworks=0", "[1, 20000]"]),
    ("--error_prob=0.7", ["--error_prob=0.7", "(0, 0.5]"]),
    ("--clutter=foggy", ["--clutter=foggy", "sparse", "high-high"]),
    ("--obs_reduce=sum", ["--obs_reduce=sum", "median"]),
    ("--blocklength=2.5", ["--blocklength=2.5", "integer"]),
    ("--traffic=bursty", ["--traffic=bursty", "poisson"]),
    ("--no_such_flag=1", ["--no_such_flag", "unknown"]),
])
def test_bad_flag_exits_2_naming_it(flag, words):
    p = run([str(binary(SCENARIO)), "--segment=unused", flag], timeout=30)
    assert p.returncode == 2, (p.returncode, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


def test_relations_are_checked_like_the_dataclass():
    p = run([str(binary(SCENARIO)), "--segment=unused", "--clutter=dense-high",
             "--ap_height=5"], timeout=30)
    assert p.returncode == 2 and "ap_height > clutter_height" in p.stderr, p.stderr


# ------------------------------------------------------------------------- through the bridge
@pytest.fixture(scope="module")
def episodes():
    """Three episodes of one peer process: run 1, run 1 again, run 2."""
    with launch() as bridge:
        traces = [run_episode(bridge, r) for r in (1, 1, 2)]
    return traces


def test_episode_outputs_are_sane(episodes):
    trace = episodes[0]
    assert len(trace) == STEPS + 1
    for t, s in enumerate(trace):
        assert s["obs"].shape == (N * K,) and np.all(np.isfinite(s["obs"]))
        assert np.all(np.abs(s["obs"]) <= 150)
        # Per sample, the physics allows ~18 bps/Hz (a 1 m link at 37 dB SNR with LOS shadowing
        # and a Rayleigh peak); 20 catches unit errors (bit/s, nats) without flaking on the tail.
        for name in ("rate_fbl", "rate_shannon"):
            assert np.all((s[name] >= 0) & (s[name] <= 20)), (t, name, s[name])
        assert np.all(s["sinr"] > 0) and np.all(s["interference"] >= 0)
        assert np.all((s["channel"] >= 0) & (s["channel"] < K))
        assert np.all((s["airtime"] >= 0) & (s["airtime"] <= 1))
        assert s["delivered"].sum() > 0, f"no packet delivered at step {t}"
        assert s["delay_hist"].sum() == s["delivered"].sum()
        assert s["metrics"][1] == t  # step index
        assert s["metrics"][0] == pytest.approx((t + 1) * 0.005)  # simulated time
        assert s["metrics"][7] == s["delivered"].sum()
        # Reward eq. (13) on the packet throughput, one device per subnetwork.
        r = s["rate_fbl"].astype(np.float64)
        assert s["reward"] == pytest.approx(r - np.maximum(11.0 - r, 0.0), abs=1e-4)
        # Full buffer: a packet waits only for its own airtime (a TB lasts <= 256 / 10 MHz).
        assert np.all(s["delay_max"] <= 25.6e-6 + 1e-9)
        assert np.all(s["queue"] == 0) and np.all(s["dropped"] == 0)
        assert np.all(np.diag(s["coupling"].reshape(N, N)) == 0)
    fbl = np.array([s["rate_fbl"] for s in trace])
    assert 0 < fbl.mean() <= 15
    assert trace[0]["switched"].sum() == 0  # nothing switches at reset
    switched = sum(int(s["switched"].sum()) for s in trace[1:])
    assert switched > 0, "the policy asks for other channels: some switches must land"


def test_same_run_replays_another_run_differs(episodes):
    a, b, c = episodes
    for name in ("obs", "rate_fbl", "delivered", "delay_sum", "channel", "coupling"):
        assert all(np.array_equal(x[name], y[name]) for x, y in zip(a, b)), name
    assert not all(np.array_equal(x["obs"], z["obs"]) for x, z in zip(a, c))
    assert [s["metrics"][2] for s in (a[0], b[0], c[0])] == [1, 2, 3]  # episodes started
    assert [s["metrics"][3] for s in (a[0], b[0], c[0])] == [1, 1, 2]  # RngRun


def test_full_observation_width():
    m, k = 2, 3
    with launch(["--n_devices=2", "--n_channels=3", "--obs_reduce=full"], m=m, k=k,
                obs_reduce="full") as bridge:
        bridge.reset(5)
        v = bridge.views
        per = 10 * np.log10(v["sinr_per_channel"].astype(np.float64)).reshape(N, m, k)
        assert v["obs"].reshape(N, k * m) == pytest.approx(
            np.swapaxes(per, 1, 2).reshape(N, k * m), abs=1e-3)


def test_positions_lie_in_the_hall_and_move_with_the_robots(episodes):
    trace = episodes[0]
    xy = np.array([s["positions"].reshape(N, 2) for s in trace])
    assert np.all((xy[..., 0] >= 0) & (xy[..., 0] <= HALL[0]))
    assert np.all((xy[..., 1] >= 0) & (xy[..., 1] <= HALL[1]))
    # Robots move at large-scale refreshes (every 10 steps), 3 m/s x 50 ms = 15 cm each time.
    step = np.linalg.norm(np.diff(xy, axis=0), axis=-1)
    assert np.all(step[np.arange(STEPS) % 10 != 9] == 0)
    moved = step[9]
    assert np.all(moved > 0.1) and np.all(moved <= 0.15 + 1e-4), moved


@pytest.mark.parametrize("change, words", [
    (lambda arrays: [a for a in arrays if a[0] != "positions"],
     ["positions", "not in the segment"]),
    (lambda arrays: [(n, d, c + 1 if n == "obs" else c) for n, d, c in arrays],
     ["'obs' has 11 elements", "expects 10"]),
    (lambda arrays: [(n, "f32" if n == "channel" else d, c) for n, d, c in arrays],
     ["'channel' has dtype f32"]),
])
def test_segment_not_matching_the_contract_is_refused(change, words):
    with pytest.raises(BridgeError) as err:
        Bridge.launch(binary(SCENARIO), FLAGS, change(contract_arrays(N, 1, K)),
                      step_timeout=60.0)
    for w in words:
        assert w in str(err.value), str(err.value)


def test_bad_action_is_reported_naming_the_agent():
    bridge = launch()
    bridge.reset(1)
    bridge.views["actions"][:] = 0
    bridge.views["actions"][3] = K
    with pytest.raises(BridgeError, match=r"agent 3.* is 2"):
        bridge.step()
    assert bridge.closed


def test_step_after_the_episode_is_an_error():
    with launch(["--episode_steps=2"]) as bridge:
        bridge.reset(1)
        bridge.views["actions"][:] = 0
        bridge.step()
        bridge.step()
        with pytest.raises(BridgeError, match="episode is over: reset"):
            bridge.step()


def test_crash_is_reported():
    bridge = launch(["--crash-at-step=2"])
    bridge.reset(1)
    bridge.views["actions"][:] = 0
    bridge.step()
    with pytest.raises(BridgeError, match="died|killed|SIGKILL"):
        bridge.step()
