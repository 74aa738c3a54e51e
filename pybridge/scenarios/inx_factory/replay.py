"""Trace mode: the twin's formulas replayed on the channel an ns-3 run actually drew.

`fedmarl-inx-factory --trace=FILE` (ns3-scenarios/inx-factory/inx-factory-scenario.cc,
WriteTrace) appends one record per decision interval: the channel each subnetwork used,
positions, the large-scale received power of every link (path loss in the link's LOS state plus
shadowing) and the power the MAC used (times the AR(1) fading |h|^2), and ns-3's own
full-occupancy SINR. `replay()` recomputes from the link powers, with the twin's formulas (the
co-channel interference sum of `InxFactoryTwin._measure`, finite-blocklength and Shannon rates),
the SINR per channel and the rates per device.

What must agree and what need not:
- twin replay vs ns-3's full-occupancy SINR: the same powers and the same formula (every AP
  busy all interval), so they agree to floating point: the channel models are then identical;
- ns-3's *measured* SINR (the segment's sinr_per_channel) weights each interferer by the
  fraction of the interval it actually transmitted (an energy detector): its difference from the
  full-occupancy value is the MAC effect (busy fraction, TB timing), not a channel difference;
- ns-3's rate is delivered packets (link adaptation from the previous TB's SINR, whole packets,
  decoding failures): its difference from the replayed FBL rate is the packet-level effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pybridge.channel import inf

MAGIC = b"FMTRACE1"


@dataclass
class ChannelTrace:
    """Every interval of a traced ns-3 run: arrays [T, ...] (T records, in file order)."""

    n: int
    m: int
    k: int
    noise_w: float
    run: np.ndarray  # [T] RngRun
    t: np.ndarray  # [T] step index (0 = the reset's warm-up interval)
    channel: np.ndarray  # [T, N]
    ap_xy: np.ndarray  # [T, N, 2] m
    device_xy: np.ndarray  # [T, D, 2] m
    mean_power_w: np.ndarray  # [T, D, N] large-scale received power
    link_power_w: np.ndarray  # [T, D, N] with fading, what the MAC used
    full_sinr: np.ndarray  # [T, D, K] ns-3's full-occupancy SINR

    @property
    def fading(self) -> np.ndarray:
        """|h|^2 of every link and interval (1 where a link is not faded)."""
        return self.link_power_w / self.mean_power_w

    @property
    def gain_db(self) -> np.ndarray:
        """Large-scale gain of every link, dB: -(path loss + shadowing) incl. the LOS state."""
        return 10.0 * np.log10(self.mean_power_w)


def read_trace(path: str | Path) -> ChannelTrace:
    data = Path(path).read_bytes()
    if data[:8] != MAGIC:
        raise ValueError(f"{path} is not a fedmarl channel trace (magic {data[:8]!r})")
    n, m, k, _ = np.frombuffer(data, np.uint32, 4, 8)
    noise = float(np.frombuffer(data, np.float64, 1, 24)[0])
    n, m, k = int(n), int(m), int(k)
    d = n * m
    rec = np.dtype([("run", "<i8"), ("t", "<i8"), ("channel", "<i4", (n,)),
                    ("ap_xy", "<f8", (n, 2)), ("device_xy", "<f8", (d, 2)),
                    ("mean", "<f8", (d, n)), ("link", "<f8", (d, n)),
                    ("full_sinr", "<f8", (d, k))])
    body = data[32:]
    if len(body) % rec.itemsize:
        raise ValueError(f"{path}: truncated record ({len(body)} bytes of {rec.itemsize}-byte"
                         " records)")
    r = np.frombuffer(body, rec)
    return ChannelTrace(n, m, k, noise, r["run"].copy(), r["t"].copy(), r["channel"].copy(),
                        r["ap_xy"].copy(), r["device_xy"].copy(), r["mean"].copy(),
                        r["link"].copy(), r["full_sinr"].copy())


@dataclass
class Replay:
    sinr_per_channel: np.ndarray  # [T, D, K] linear
    sinr: np.ndarray  # [T, D] on the channel in use
    rate_fbl: np.ndarray  # [T, D] bps/Hz
    rate_shannon: np.ndarray  # [T, D]


def replay(trace: ChannelTrace, blocklength: int, error_prob: float) -> Replay:
    """The twin's per-step SINR and rates on the traced channel (float64 throughout).

    Interference on channel k at device d is the sum of the link powers of the other APs on k
    (the twin's `power * rx_int @ onehot`), SINR = own link power / (interference + noise).
    """
    D, K = trace.n * trace.m, trace.k
    owner = np.repeat(np.arange(trace.n), trace.m)
    onehot = (trace.channel[:, :, None] == np.arange(K)).astype(np.float64)  # [T, N, K]
    power = trace.link_power_w.copy()
    own = power[:, np.arange(D), owner].copy()  # [T, D]
    power[:, np.arange(D), owner] = 0.0
    interf = np.matmul(power, onehot)  # [T, D, K]
    sinr_k = own[:, :, None] / (interf + trace.noise_w)
    used = trace.channel[:, owner]  # [T, D]
    sinr = np.take_along_axis(sinr_k, used[:, :, None], axis=2)[:, :, 0]
    return Replay(sinr_k, sinr, inf.fbl_se(sinr, blocklength, error_prob),
                  inf.shannon_se(sinr))
