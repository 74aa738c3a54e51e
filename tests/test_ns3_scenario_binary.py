"""The packet-level inx-factory scenario binary (ns3-scenarios/inx-factory/) and its MAC.

- the C++ test runners pass (MAC: chunk SINRs and eps by hand, link adaptation, queues,
  switching, measurement, interval boundaries; scenario: full in-process episodes);
- `--params-json` lists every InxFactoryConfig field with the dataclass's default, plus the
  four packet-level parameters; a bad or unknown flag exits 2 with one line naming it;
- through the shared-memory bridge (the array list of the contract at the top of
  inx-factory.cc, built here): RESET + 20 STEPs at N=5, K=2 give finite observations,
  sane rates and delivered packets; the same RngRun replays an episode exactly, another differs;
  errors (bad action, STEP past the episode, a crash) come back as BridgeError.

The binaries come from the CMake build: $FEDMARL_BUILD_DIR/bin (default build/bin). A missing
binary is a failure, not a skip: `make test` builds it.
"""

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pybridge.bridge import Bridge, BridgeError, find_binary
from pybridge.scenarios.inx_factory import InxFactoryConfig

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(os.environ.get("FEDMARL_BUILD_DIR", ROOT / "build")) / "bin"
SCENARIO = "fedmarl-inx-factory"

# The packet-level parameters the twin does not use (they may or may not be dataclass fields).
NS3_ONLY = {"traffic": "full-buffer", "packet_size": 32, "packet_interval": 1e-4,
            "queue_size": 1000}
DELAY_BINS = 64
N_METRICS = 16
N, K = 5, 2
STEPS = 20
FLAGS = [f"--n_subnetworks={N}", f"--n_channels={K}", f"--episode_steps={STEPS}"]


def binary(name):
    """Path of a built binary, or a failure that says how to build it."""
    path = BIN / name
    if not path.is_file():
        pytest.fail(f"{path} is missing: build the ns-3 scenarios with `make test` (or "
                    f"scripts/bootstrap.sh), or point FEDMARL_BUILD_DIR at the CMake build")
    try:
        return find_binary(name)
    except BridgeError as e:  # present but not executable
        pytest.fail(f"{e} (`make test` builds it)")


def contract_arrays(n, m=1, k=4, obs_reduce="mean"):
    """The segment's arrays, exactly as the contract at the top of inx-factory.cc lists them."""
    w = k * m if obs_reduce == "full" else k
    d = n * m
    return [("actions", "i32", n), ("obs", "f32", n * w), ("reward", "f32", n),
            ("rate_fbl", "f32", d), ("rate_shannon", "f32", d), ("sinr", "f32", d),
            ("interference", "f32", d), ("sinr_per_channel", "f32", d * k),
            ("channel", "i32", n), ("switched", "u8", n), ("coupling", "f32", n * n),
            ("delivered", "i32", d), ("lost", "i32", d), ("dropped", "i32", d),
            ("queue", "i32", d), ("delay_sum", "f32", d), ("delay_max", "f32", d),
            ("delay_hist", "i32", DELAY_BINS), ("airtime", "f32", n),
            ("metrics", "f64", N_METRICS)]


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
@pytest.mark.parametrize("runner", ["fedmarl-ns3-mac-test", "fedmarl-inx-factory-test"])
def test_cpp_test_runner_passes(runner):
    p = run([str(binary(runner))])
    assert p.returncode == 0, f"{runner} failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr}"


# -------------------------------------------------------------------------------------- flags
def test_params_json_matches_the_dataclass():
    p = run([str(binary(SCENARIO)), "--params-json"], timeout=30)
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    expected = {f.name: f.default for f in dataclasses.fields(InxFactoryConfig)}
    for name, default in NS3_ONLY.items():
        expected.setdefault(name, default)
    assert sorted(got) == sorted(expected)
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
