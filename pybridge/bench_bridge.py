"""Benchmark: the shared-memory bridge against a ZeroMQ REQ/REP loop (ns3-gym's transport).

Both carry the same exchange per step: N int32 actions to the peer, N*W float32 observations and
N float32 rewards back, the peer computing obs[i, j] = actions[i] + 0.5 j, reward = 2 actions.

- shm: the C++ echo peer over pybridge.bridge. Timed per step: writing the actions into the
  zero-copy view, request(STEP), copying obs and reward out of the views (the agent keeps its
  own copy, as it does of zmq's reply). `shm_request_only` times request(STEP) alone.
- zmq: a separate Python process with a REP socket on tcp://127.0.0.1 (loopback only); each
  request is a small header plus actions.tobytes(), each reply a header plus obs and reward bytes.
  Timed per step: serialising, send, recv, parsing into numpy arrays. The peer being Python
  (numpy computes its answer in a few microseconds) is part of what is measured.

Both run in the same call, in bounded loops (seconds and a count cap). Run:
    .venv/bin/python -m pybridge.bench_bridge [seconds]
"""

from __future__ import annotations

import json
import os
import platform
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pybridge.bridge import Bridge, find_binary

W = 4
MAX_ROUND_TRIPS = 2_000_000  # cap per measurement, whatever `seconds` says
WARMUP = 500
_HEADER = struct.Struct("<4sII")  # kind, n, w

# The ZeroMQ peer: blocking REP loop; exits on a "stop" message or when its parent is gone.
_ZMQ_PEER = r"""
import os, struct, sys
import numpy as np
import zmq

header = struct.Struct("<4sII")
ctx = zmq.Context()
sock = ctx.socket(zmq.REP)
sock.setsockopt(zmq.LINGER, 0)
sock.setsockopt(zmq.RCVTIMEO, 1000)  # wake once a second to check the parent
port = sock.bind_to_random_port("tcp://127.0.0.1")
print(port, flush=True)
parent = os.getppid()
half = np.float32(0.5)
while True:
    try:
        msg = sock.recv(copy=True)
    except zmq.Again:
        if os.getppid() != parent:
            break
        continue
    kind, n, w = header.unpack_from(msg)
    if kind == b"stop":
        sock.send(b"bye")
        break
    actions = np.frombuffer(msg, np.int32, n, header.size)
    obs = actions[:, None].astype(np.float32) + half * np.arange(w, dtype=np.float32)
    reward = actions.astype(np.float32) * np.float32(2.0)
    sock.send(header.pack(b"obs_", n, w) + obs.tobytes() + reward.tobytes())
sock.close()
ctx.term()
"""


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} CPUs, Linux {platform.release()},"
            f" Python {platform.python_version()}")


def _stats(lat_ns: np.ndarray, elapsed_s: float) -> dict[str, float]:
    return {"round_trips_per_s": round(lat_ns.size / elapsed_s, 1),
            "p50_us": round(float(np.percentile(lat_ns, 50)) / 1e3, 2),
            "p99_us": round(float(np.percentile(lat_ns, 99)) / 1e3, 2),
            "round_trips": int(lat_ns.size)}


def _action_bank(n: int) -> list[np.ndarray]:
    """64 action vectors to cycle through (a list: indexing it costs less than a 2-D array)."""
    return list(np.random.default_rng(n).integers(0, 4, size=(64, n), dtype=np.int32))


def _expected(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    obs = actions[:, None].astype(np.float32) + np.float32(0.5) * np.arange(W, dtype=np.float32)
    return obs.ravel(), actions.astype(np.float32) * 2


def bench_shm(n: int, seconds: float,
              binary: str | Path | None = None) -> tuple[dict[str, float], dict[str, float]]:
    """(full step as defined above, request(STEP) alone) for N agents."""
    binary = binary or find_binary("fedmarl-echo-peer")
    bank = _action_bank(n)
    lat = np.empty(MAX_ROUND_TRIPS, dtype=np.int64)
    obs_out = np.empty(n * W, np.float32)
    reward_out = np.empty(n, np.float32)
    clock = time.perf_counter_ns
    with Bridge.launch(binary, [], [("actions", "i32", n), ("obs", "f32", n * W),
                                    ("reward", "f32", n)]) as b:
        actions, obs, reward = b.views["actions"], b.views["obs"], b.views["reward"]
        request, step = b.request, 1  # Command.STEP; bound once like a tight training loop would
        for i in range(WARMUP):
            actions[...] = bank[i & 63]
            request(step)
        count, start = 0, time.perf_counter()
        stop_ns = clock() + int(seconds * 1e9)
        while count < MAX_ROUND_TRIPS:
            t0 = clock()
            actions[...] = bank[count & 63]  # `a[...] = b`: numpy's cheapest copy call
            request(step)
            obs_out[...] = obs  # the views change at the next step: the agent keeps a copy
            reward_out[...] = reward
            t1 = clock()
            lat[count] = t1 - t0
            count += 1
            if t1 > stop_ns:
                break
        full = _stats(lat[:count], time.perf_counter() - start)
        want_obs, want_reward = _expected(bank[(count - 1) & 63])
        if not (np.array_equal(obs_out, want_obs) and np.array_equal(reward_out, want_reward)):
            raise RuntimeError("shm benchmark: the peer's answer is wrong")
        # The transport alone (the peer still computes): what the numpy copies above add to.
        count, start = 0, time.perf_counter()
        stop_ns = clock() + int(seconds * 1e9)
        while count < MAX_ROUND_TRIPS:
            t0 = clock()
            request(step)
            t1 = clock()
            lat[count] = t1 - t0
            count += 1
            if t1 > stop_ns:
                break
        bare = _stats(lat[:count], time.perf_counter() - start)
    return full, bare


def bench_zmq(n: int, seconds: float) -> dict[str, float]:
    import zmq

    child = subprocess.Popen([sys.executable, "-c", _ZMQ_PEER], stdout=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 10_000)  # a dead peer fails the benchmark instead of hanging
    try:
        port = int(child.stdout.readline())
        sock.connect(f"tcp://127.0.0.1:{port}")
        bank = _action_bank(n)
        lat = np.empty(MAX_ROUND_TRIPS, dtype=np.int64)
        head = _HEADER.pack(b"act_", n, W)
        hsize = _HEADER.size
        clock = time.perf_counter_ns

        def round_trip(actions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            sock.send(head + actions.tobytes())
            rep = sock.recv()
            kind, rn, rw = _HEADER.unpack_from(rep)
            if kind != b"obs_":
                raise RuntimeError(f"zmq benchmark: unexpected reply {kind!r}")
            obs = np.frombuffer(rep, np.float32, rn * rw, hsize)
            reward = np.frombuffer(rep, np.float32, rn, hsize + 4 * rn * rw)
            return obs, reward

        for i in range(WARMUP):
            round_trip(bank[i & 63])
        count, start = 0, time.perf_counter()
        stop_ns = clock() + int(seconds * 1e9)
        while count < MAX_ROUND_TRIPS:
            t0 = clock()
            obs, reward = round_trip(bank[count & 63])
            t1 = clock()
            lat[count] = t1 - t0
            count += 1
            if t1 > stop_ns:
                break
        elapsed = time.perf_counter() - start
        want_obs, want_reward = _expected(bank[(count - 1) & 63])
        if not (np.array_equal(obs, want_obs) and np.array_equal(reward, want_reward)):
            raise RuntimeError("zmq benchmark: the peer's answer is wrong")
        sock.send(_HEADER.pack(b"stop", 0, 0))
        sock.recv()
        return _stats(lat[:count], elapsed)
    finally:
        sock.close()
        ctx.term()
        try:
            child.wait(2)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()


def bench_bridge(n_agents_list: tuple[int, ...] = (20, 1000), seconds: float = 2.0) -> dict:
    """Round trips per second and p50/p99 latency (us) of shm and zmq for each N (W = 4)."""
    binary = find_binary("fedmarl-echo-peer")
    results: list[dict[str, Any]] = []
    for n in n_agents_list:
        shm, shm_request_only = bench_shm(n, seconds, binary)
        zmq = bench_zmq(n, seconds)
        results.append({"n_agents": n, "obs_width": W, "shm": shm, "zmq": zmq,
                        "shm_request_only": shm_request_only,
                        "speedup_p50": round(zmq["p50_us"] / shm["p50_us"], 1),
                        "speedup_round_trips": round(shm["round_trips_per_s"]
                                                     / zmq["round_trips_per_s"], 1)})
    return {"machine": _machine(), "seconds_per_measurement": seconds, "results": results}


def _print_table(report: dict) -> None:
    print(f"machine: {report['machine']}")
    print(f"{'N':>6} {'transport':>16} {'round trips/s':>14} {'p50 us':>8} {'p99 us':>8}")
    for r in report["results"]:
        for t in ("shm", "zmq", "shm_request_only"):
            s = r[t]
            print(f"{r['n_agents']:>6} {t:>16} {s['round_trips_per_s']:>14,.0f}"
                  f" {s['p50_us']:>8.2f} {s['p99_us']:>8.2f}")
        print(f"{'':>6} speedup p50 {r['speedup_p50']}x, round trips {r['speedup_round_trips']}x")


if __name__ == "__main__":
    report = bench_bridge(seconds=float(sys.argv[1]) if len(sys.argv) > 1 else 2.0)
    _print_table(report)
    print(json.dumps(report, indent=1))
