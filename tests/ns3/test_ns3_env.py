"""The ns-3 backend end to end: the real packet-level scenario through the shared-memory bridge.

Every test here launches `fedmarl-inx-factory` processes (built by `make test`); a missing build
fails with a message naming the command, it never skips.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

import pybridge
from pybridge.bridge import BridgeError
from pybridge.channel import inf
from pybridge.contract import ContractError, load_contract
from pybridge.ns3_backend import copy_run
from pybridge.scenarios.inx_factory import SPEC, InxFactoryConfig
from pybridge.scenarios.inx_factory.ns3_core import InxFactoryNs3Core

BINARY = SPEC.ns3_binary

SMALL = {"n_subnetworks": 5, "n_channels": 2, "episode_steps": 12}


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


def Ns3Core(cfg, **kw):  # the scenario's core, as the tests used to build it
    return InxFactoryNs3Core(SPEC, cfg, **kw)


def test_params_json_matches_the_dataclass(binary):
    out = subprocess.run([str(binary), "--params-json"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    flags = json.loads(out)
    defaults = {f: getattr(InxFactoryConfig(), f) for f in InxFactoryConfig.param_names()}
    defaults["hall_tiles"] = "auto"
    assert set(flags) == set(defaults), set(flags) ^ set(defaults)
    for name, value in defaults.items():
        assert flags[name] == value, (name, flags[name], value)


def test_the_binarys_contract_is_the_dataclass_and_builds_the_segment(binary):
    contract = load_contract(binary)
    assert contract.scenario == SPEC.name and contract.binary == BINARY
    contract.check_config(InxFactoryConfig)  # every field: type, default, range, choices
    cfg = InxFactoryConfig.from_params(n_subnetworks=7, n_devices=3, n_channels=5,
                                       obs_reduce="full")
    counts = {n: c for n, _, c in contract.array_table(SPEC.ns3_dims(cfg))}
    assert counts["obs"] == 7 * 15 and counts["sinr_per_channel"] == 7 * 3 * 5
    assert counts["coupling"] == 49 and counts["positions"] == 14
    assert counts["delay_hist"] == contract.constants["delay_hist_bins"]
    assert contract.constants["obs_low"] == SPEC.observation_space(cfg).low[0]


def _param(doc, name):
    return next(p for p in doc["params"] if p["name"] == name)


def _fake_scenario_binary(tmp_path, binary, change):
    """A wrapper that prints the real binary's contract changed by `change`, else runs it."""
    data = load_contract(binary)
    text = subprocess.run([str(binary), "--contract-json"], capture_output=True, text=True,
                          check=True).stdout
    doc = json.loads(text)
    change(doc)
    exe = tmp_path / BINARY
    exe.write_text(f"#!{sys.executable}\nimport os, sys\n"
                   f"if sys.argv[1:] == ['--contract-json']:\n    print({json.dumps(doc)!r})\n"
                   f"else:\n    os.execv({str(binary)!r}, [{str(binary)!r}, *sys.argv[1:]])\n")
    exe.chmod(0o755)
    assert data.scenario == SPEC.name
    return exe


@pytest.mark.parametrize("change, message", [
    (lambda d: _param(d, "speed").update(default=2.0),
     ("contract mismatch for inx-factory parameter 'speed': default 2.0 in the binary, 3.0 in"
      " InxFactoryConfig")),
    (lambda d: _param(d, "n_subnetworks").update(high=50),
     "'n_subnetworks': high 50 in the binary, 20000 in InxFactoryConfig"),
    (lambda d: d.update(scenario="edge-offload"), "serves scenario 'edge-offload'"),
    (lambda d: d["arrays"][0].update(direction="out"), "'actions' must be direction 'in'"),
    (lambda d: d.update(layout_version=999), "layout version 999"),
])
def test_a_binary_whose_contract_differs_is_refused_before_it_starts(tmp_path, binary, change,
                                                                     message):
    exe = _fake_scenario_binary(tmp_path, binary, change)
    before = set(Path("/dev/shm").glob(f"fedmarl-{os.getpid()}-*"))
    with pytest.raises(ContractError, match=re.escape(message)):
        pybridge.make_env("inx-factory", backend="ns3", ns3_options={"binary": exe}, **SMALL)
    assert set(Path("/dev/shm").glob(f"fedmarl-{os.getpid()}-*")) == before


def test_a_wrapped_binary_with_the_same_contract_runs(tmp_path, binary):
    exe = _fake_scenario_binary(tmp_path, binary, lambda d: None)
    with pybridge.make_env("inx-factory", backend="ns3", ns3_options={"binary": exe},
                           **SMALL) as env:
        env.reset(seed=1)
        env.step({a: 0 for a in env.agents})


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
    # Greedy (pybridge does not import agents): each subnetwork asks for the channel on which
    # its devices measured the best mean SINR in the previous step.
    cfg = SPEC.make_config(**SMALL)
    recorder = SPEC.recorder(cfg)
    with pybridge.make_vec_env("inx-factory", 1, backend="ns3", **SMALL) as env:
        for episode in range(3):
            env.reset(seed=episode)
            truncated = np.zeros(1, bool)
            while not truncated.all():
                actions = np.argmax(env.core.sinr_db().mean(axis=2), axis=-1)
                _, reward, _, truncated, info = env.step(actions)
                recorder.add_step(info, reward)
            recorder.end_batch()
        assert env.core.backend == "ns3"
    out = recorder.summary()
    assert out["episodes"] == 3
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


# ------------------------------------------- issue 9 item 9: the same API on the ns-3 backend
def test_info_dtypes_and_agent_info_types_are_the_twins(binary):
    twin = pybridge.make_vec_env("inx-factory", 1, backend="twin", **SMALL)
    with pybridge.make_vec_env("inx-factory", 1, backend="ns3", **SMALL) as ns3:
        _, i_t = twin.reset(seed=1)
        _, i_n = ns3.reset(seed=1)
        _, _, _, _, i_n = ns3.step(np.zeros((1, SMALL["n_subnetworks"]), int))
        assert tuple(i_t) == SPEC.info_keys
        assert tuple(i_n) == SPEC.info_keys + SPEC.ns3_info_keys
        for k in SPEC.info_keys:
            assert i_n[k].dtype == i_t[k].dtype == SPEC.info_dtypes[k], k
            assert i_n[k].shape == i_t[k].shape, k
        for k in SPEC.ns3_info_keys:
            assert i_n[k].dtype == SPEC.info_dtypes[k], k
        assert i_n["delay_hist_edges"].shape == (1, i_n["delay_hist"].shape[1] + 1)
    a = pybridge.make_env("inx-factory", backend="twin", **SMALL)
    with pybridge.make_env("inx-factory", backend="ns3", **SMALL) as b:
        ia, ib = a.reset(seed=2)[1], b.reset(seed=2)[1]
        agent = a.possible_agents[0]
        assert {k: type(v) for k, v in ia[agent].items()} == \
            {k: type(v) for k, v in ib[agent].items()}
        assert type(ib[agent]["rate"]) is float and type(ib[agent]["channel"]) is int


def test_reset_without_a_seed_draws_fresh_run_numbers(binary):
    runs = []
    for _ in range(2):
        with pybridge.make_vec_env("inx-factory", 1, backend="ns3", **SMALL) as env:
            env.reset()
            runs.append(env.core.last.metric("rng_run")[0])
    assert runs[0] != runs[1]
    with pybridge.make_vec_env("inx-factory", 1, backend="ns3", seed=4, **SMALL) as env:
        env.reset()  # the config's seed: RngRun 4, then 5
        assert env.core.last.metric("rng_run")[0] == 4.0
        env.reset()
        assert env.core.last.metric("rng_run")[0] == 5.0


def test_state_before_reset_is_a_clear_error_on_ns3(binary):
    with pybridge.make_env("inx-factory", backend="ns3", **SMALL) as env:
        with pytest.raises(RuntimeError, match=r"state\(\) before reset\(\)"):
            env.state()
        with pytest.raises(RuntimeError, match=r"before reset\(\)"):
            env.core.observation()


def test_render_on_ns3_draws_the_reported_positions(binary):
    with pybridge.make_env("inx-factory", backend="ns3", render_mode="rgb_array", **SMALL) as env:
        env.reset(seed=3)
        env.step({a: 1 for a in env.agents})
        pos = env.core.last.positions[0]
        assert pos.shape == (SMALL["n_subnetworks"], 2)
        assert np.all((pos >= 0) & (pos <= [180.0, 80.0]))
        pic = env.render()
        assert pic.dtype == np.uint8 and pic.ndim == 3 and pic.shape[2] == 3


def test_a_pickled_ns3_env_starts_its_own_process(binary):
    env = pybridge.make_env("inx-factory", backend="ns3", **SMALL)
    copy = pickle.loads(pickle.dumps(env))
    try:
        assert copy.core is not env.core and copy.cfg == env.cfg
        assert copy.core.pids != env.core.pids and _alive(copy.core.pids[0])
        o1, o2 = env.reset(seed=6)[0], copy.reset(seed=6)[0]
        np.testing.assert_array_equal(np.stack(list(o1.values())), np.stack(list(o2.values())))
        vec = pybridge.make_vec_env("inx-factory", 2, backend="ns3", **SMALL)
        vcopy = pickle.loads(pickle.dumps(vec))
        pids = vec.core.pids + vcopy.core.pids
        assert len(set(pids)) == 4
        np.testing.assert_array_equal(vec.reset(seed=2)[0], vcopy.reset(seed=2)[0])
        vec.close()
        vcopy.close()
        assert not any(_alive(p) for p in pids)
    finally:
        pids = env.core.pids + copy.core.pids
        env.close()
        copy.close()
    assert not any(_alive(p) for p in pids)


def test_supersuit_concat_vec_envs_on_ns3(binary):
    import supersuit as ss

    env = pybridge.make_env("inx-factory", backend="ns3", **SMALL)
    vec = ss.concat_vec_envs_v1(ss.pettingzoo_env_to_vec_env_v1(env), 2, num_cpus=0,
                                base_class="gymnasium")
    try:
        obs, _ = vec.reset()
        n = SMALL["n_subnetworks"]
        assert obs.shape == (2 * n, SMALL["n_channels"])
        assert not np.array_equal(obs[:n], obs[n:])  # each copy drew its own episode
        for _ in range(SMALL["episode_steps"]):
            obs, rew, term, _, _ = vec.step(np.ones(2 * n, int))
            assert rew.shape == (2 * n,) and not term.any()
    finally:
        vec.close()
        env.close()
