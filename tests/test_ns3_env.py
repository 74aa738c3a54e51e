"""The ns-3 backend end to end: the real packet-level scenario through the shared-memory bridge.

Every test here launches `fedmarl-inx-factory` processes (built by `make test`); a missing build
fails with a message naming the command, it never skips.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import pybridge
from agents.baselines import make_baseline
from fedmarl.evaluate import evaluate_policy
from pybridge.bridge import BridgeError, find_binary
from pybridge.channel import inf
from pybridge.ns3_backend import BINARY, Ns3Core, copy_run
from pybridge.scenarios.inx_factory import InxFactoryConfig

SMALL = {"n_subnetworks": 5, "n_channels": 2, "episode_steps": 12}


@pytest.fixture(scope="module")
def binary() -> Path:
    try:
        return find_binary(BINARY)
    except BridgeError as exc:
        pytest.fail(f"{exc} (the ns-3 scenario binary is part of the native build)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): look at its state.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def _segments_gone(names: list[str]) -> bool:
    return not any(Path("/dev/shm", n).exists() for n in names)


def test_params_json_matches_the_dataclass(binary):
    out = subprocess.run([str(binary), "--params-json"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    flags = json.loads(out)
    defaults = {f: getattr(InxFactoryConfig(), f) for f in InxFactoryConfig.param_names()}
    defaults["hall_tiles"] = "auto"
    assert set(flags) == set(defaults), set(flags) ^ set(defaults)
    for name, value in defaults.items():
        assert flags[name] == value, (name, flags[name], value)


def test_parallel_env_api_on_ns3(binary):
    env = pybridge.make_env("inx-factory", backend="ns3", **SMALL)
    try:
        parallel_api_test(env, num_cycles=40)
    finally:
        env.close()


def test_parallel_seed_test_on_ns3(binary):
    # Two fresh processes with the same seed must produce the same episode.
    parallel_seed_test(lambda: pybridge.make_env("inx-factory", backend="ns3", **SMALL))


def test_spaces_and_info_keys_match_the_twin(binary):
    twin = pybridge.make_env("inx-factory", backend="twin", **SMALL)
    with pybridge.make_env("inx-factory", backend="ns3", **SMALL) as ns3:
        o_t, i_t = twin.reset(seed=1)
        o_n, i_n = ns3.reset(seed=1)
        a = ns3.possible_agents[0]
        assert ns3.possible_agents == twin.possible_agents
        assert ns3.observation_space(a) == twin.observation_space(a)
        assert ns3.action_space(a) == twin.action_space(a)
        assert o_n[a].shape == o_t[a].shape and o_n[a].dtype == o_t[a].dtype
        assert set(i_n[a]) == set(i_t[a])
        assert ns3.state().shape == twin.state().shape


def test_greedy_runs_several_episodes_through_the_bridge(binary):
    out = evaluate_policy("inx-factory", make_baseline("greedy"), episodes=3, seed=0,
                          backend="ns3", batch=1, **SMALL)
    assert out["episodes"] == 3 and out["backend"] == "ns3"
    assert 0.0 < out["mean_rate"] < 15.0 and np.isfinite(out["p5_rate"])
    # Packet-level quantities come from real packet events.
    assert out["packets_delivered"] > 0
    assert 0.0 < out["delay_mean_s"] < SMALL["episode_steps"] * 0.005
    assert 0.0 <= out["packet_loss"] < 1.0
    assert out["switch_rate"] > 0.0  # greedy does hop


def test_reset_runs_new_episodes_in_the_same_process(binary):
    core = Ns3Core(InxFactoryConfig.from_params(**SMALL))
    try:
        pid = core.pids[0]
        first = core.reset(seed=7).copy()
        runs = []
        for _ in range(3):
            for _ in range(SMALL["episode_steps"]):
                core.step(np.zeros((1, SMALL["n_subnetworks"]), dtype=int))
            runs.append(core.last.metric("rng_run")[0])
            core.reset()  # None: the next seed
        assert core.pids == [pid]
        assert runs == [7.0, 8.0, 9.0]
        assert core.last.metric("episodes")[0] == 4.0
        again = core.reset(seed=7)
        np.testing.assert_array_equal(again, first)
        assert not np.array_equal(core.reset(seed=8), first)
    finally:
        core.close()


def test_observation_and_reward_follow_the_twins_definitions(binary):
    cfg = InxFactoryConfig.from_params(**SMALL)
    with pybridge.make_vec_env("inx-factory", 1, backend="ns3", **SMALL) as env:
        env.reset(seed=3)
        rng = np.random.default_rng(0)
        for _ in range(5):
            obs, reward, _, _, info = env.step(rng.integers(0, cfg.n_channels, (1, cfg.n_subnetworks)))
            last = env.core.last
            expect = np.clip(10 * np.log10(last.sinr_per_channel[:, :, 0, :]), -150, 150)
            np.testing.assert_allclose(obs, expect, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(
                reward, inf.reward_eq13(info["rate"], cfg.r_min, 1.0, 1.0), rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(info["rate_shannon"], np.log2(1 + info["sinr"]), rtol=1e-4)
            # Throughput is real: delivered payload bits per step over B * T.
            bits = last.delivered * cfg.packet_size * 8
            np.testing.assert_allclose(
                info["rate"], bits / (cfg.channel_bandwidth_hz * cfg.step_duration), rtol=1e-5)


def test_vec_env_runs_copies_in_separate_processes(binary):
    env = pybridge.make_vec_env("inx-factory", 2, backend="ns3", **SMALL)
    try:
        pids = env.core.pids
        assert len(set(pids)) == 2
        obs, _ = env.reset(seed=5)
        assert obs.shape == (2, SMALL["n_subnetworks"], SMALL["n_channels"])
        assert not np.array_equal(obs[0], obs[1])  # independent RngRuns
        runs = env.core.last.metric("rng_run")
        assert list(runs) == [copy_run(5, 0, 2), copy_run(5, 1, 2)]
        for _ in range(SMALL["episode_steps"]):
            obs, _, term, trunc, info = env.step(np.ones((2, SMALL["n_subnetworks"]), int))
        assert trunc.all() and not term.any()
        assert info["delivered"].shape == (2, SMALL["n_subnetworks"], 1)
    finally:
        env.close()
    assert not any(_alive(p) for p in pids)


def test_killing_ns3_mid_step_raises_quickly_and_leaves_nothing(binary):
    env = pybridge.make_env("inx-factory", backend="ns3", n_subnetworks=40, n_channels=4,
                            episode_steps=200)
    core = env.core
    pid, names = core.pids[0], core.segment_names
    env.reset(seed=0)
    actions = {a: 0 for a in env.possible_agents}
    env.step(actions)  # warm: later steps take milliseconds of simulation each
    killed_at: list[float] = []

    def kill() -> None:
        time.sleep(0.2)
        killed_at.append(time.monotonic())
        os.kill(pid, signal.SIGKILL)

    threading.Thread(target=kill, daemon=True).start()
    with pytest.raises(BridgeError) as err:
        for _ in range(198):
            env.step(actions)
    elapsed = time.monotonic() - killed_at[0]
    assert elapsed < 5.0, elapsed
    assert "SIGKILL" in str(err.value)
    assert not _alive(pid)
    assert _segments_gone(names)
    with pytest.raises(BridgeError):
        env.step(actions)  # the env stays failed, with the same clear error
    env.close()


def test_crash_inside_the_scenario_reports_its_stderr(binary):
    core = Ns3Core(InxFactoryConfig.from_params(**SMALL), extra_args=["--crash-at-step=3"])
    pid, names = core.pids[0], core.segment_names
    core.reset(seed=0)
    act = np.zeros((1, SMALL["n_subnetworks"]), int)
    core.step(act)
    core.step(act)
    t0 = time.monotonic()
    with pytest.raises(BridgeError, match="crash"):
        core.step(act)
    assert time.monotonic() - t0 < 5.0
    assert not _alive(pid) and _segments_gone(names)


def test_a_second_env_in_the_same_process_works(binary):
    a = pybridge.make_env("inx-factory", backend="ns3", **SMALL)
    b = pybridge.make_env("inx-factory", backend="ns3", **{**SMALL, "n_channels": 3})
    try:
        a.reset(seed=1)
        ob, _ = b.reset(seed=1)
        assert next(iter(ob.values())).shape == (3,)
        for _ in range(SMALL["episode_steps"]):
            a.step({ag: 1 for ag in a.agents})
            b.step({ag: 2 for ag in b.agents})
        assert not a.agents and not b.agents
    finally:
        a.close()
        b.close()
    # And after both are gone, a new one starts cleanly.
    with pybridge.make_env("inx-factory", backend="ns3", **SMALL) as c:
        c.reset(seed=2)


def test_bad_input_is_refused_before_it_reaches_ns3(binary):
    with pytest.raises(pybridge.ConfigError, match="n_channels"):
        pybridge.make_env("inx-factory", backend="ns3", n_channels=0)
    with pybridge.make_vec_env("inx-factory", 1, backend="ns3", **SMALL) as env:
        env.reset(seed=0)
        with pytest.raises(ValueError, match="channel indices"):
            env.step(np.full((1, SMALL["n_subnetworks"]), 7))
        env.step(np.zeros((1, SMALL["n_subnetworks"]), int))  # still alive and in step


def test_attach_mode_connects_to_a_scenario_started_by_hand(binary):
    before = set(Path("/dev/shm").glob(f"fedmarl-{os.getpid()}-*"))
    procs: list[subprocess.Popen] = []

    def start_by_hand() -> None:
        # What a user does from the printed command line, e.g. `gdb --args <command>`.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            new = set(Path("/dev/shm").glob(f"fedmarl-{os.getpid()}-*")) - before
            if new:
                flags = [f"--{k}={v}" for k, v in SMALL.items()]
                procs.append(subprocess.Popen([str(binary), f"--segment={new.pop().name}",
                                               *flags], stderr=subprocess.DEVNULL))
                return
            time.sleep(0.01)

    threading.Thread(target=start_by_hand, daemon=True).start()
    env = pybridge.make_env("inx-factory", backend="ns3", ns3_options={"attach": True}, **SMALL)
    try:
        assert env.core.pids == [procs[0].pid]
        env.reset(seed=4)
        env.step({a: 1 for a in env.agents})
    finally:
        env.close()
    assert procs[0].wait(5) == 0  # CLOSE lets the hand-started scenario exit cleanly
