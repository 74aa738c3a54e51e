"""The trace's geometry and allocations through ns-3 at packet level (trace-driven mode).

`write_drive` turns a trace into the binary's drive file (`fedmarl-inx-factory --drive=FILE`),
in the layout its contract declares (constants drive_magic and drive_record, from
InxFactoryScenario::kDriveRecord; header: N, D, episodes, records per episode as u32):
per episode, record 0 is the RESET warm-up interval (the trace's first step) and record t the
interval of step t (the trace's step t - 1), so ns-3's step t reports trace step t - 1.
`run_driven` runs one ns-3 process over the episodes with `--drive` and `--trace` (what the
binary really used, per interval: replay.py reads it), and returns per-episode samples plus a
step-by-step comparison of the positions and channels ns-3 used with the trace's.

ns-3 draws its own LOS states, shadowing and fading (the same models as the twin, its own
streams) and runs the packet-level MAC on the forced allocations; the switching delay is not
applied (the trace's channel is the one in use).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from pybridge.config import ConfigError
from pybridge.scenarios.inx_factory.replay import read_trace
from pybridge.scenarios.inx_factory.trace_format import Trace


def device_layout(tr: Trace) -> tuple[int, np.ndarray]:
    """(M, order): ns-3 numbers device m of AP n as n M + m, so every AP needs the same number
    of devices; `order` lists the trace's devices in ns-3's order."""
    counts = np.bincount(tr.dev_ap, minlength=tr.N)
    if not (counts == counts[0]).all():
        raise ConfigError(f"trace {tr.path}: ns-3 needs the same number of devices per access"
                          f" point, got {sorted(set(counts.tolist()))}")
    return int(counts[0]), np.argsort(tr.dev_ap, kind="stable")


def episode_length(tr: Trace, episodes: list[slice]) -> int:
    lengths = {b.stop - b.start for b in episodes}
    if len(lengths) != 1:
        raise ConfigError(f"trace {tr.path}: ns-3 runs episodes of one length, the trace has"
                          f" {sorted(lengths)} steps")
    return lengths.pop()


def unsupported(tr: Trace, episodes: list[slice]) -> str | None:
    """Why ns-3 cannot be driven by these episodes of the trace, or None."""
    try:
        device_layout(tr)
        episode_length(tr, episodes)
    except ConfigError as e:
        return str(e)
    if not np.allclose(tr.power_dbm, tr.cfg.tx_power_dbm):
        return (f"trace {tr.path}: ns-3 transmits constants.tx_power_dbm ="
                f" {tr.cfg.tx_power_dbm:g} dBm at every AP; the trace's power_dbm varies")
    return None


def drive_layout() -> tuple[bytes, list[tuple[str, np.dtype, tuple[str, ...]]]]:
    """(magic, [(field, dtype, shape symbols)]) of a drive record, as the binary's contract
    declares them (constants drive_magic and drive_record: InxFactoryScenario::kDriveRecord)."""
    from pybridge.bridge import find_binary
    from pybridge.contract import load_contract

    consts = load_contract(find_binary("fedmarl-inx-factory")).constants
    if "drive_magic" not in consts:
        raise ConfigError("fedmarl-inx-factory predates the trace-driven mode (its contract has"
                          " no drive_record): rebuild it (cmake --build build -j2)")
    fields = []
    for item in consts["drive_record"]:
        name, dtype, shape = item.split(":")
        fields.append((name, np.dtype(dtype).newbyteorder("<"), tuple(shape.split(","))))
    return str(consts["drive_magic"]).encode(), fields


def write_drive(tr: Trace, episodes: list[slice], path: Path) -> int:
    """Write the drive file of `episodes` in the layout the binary declares; returns the steps
    per episode."""
    _, order = device_layout(tr)
    T = episode_length(tr, episodes)
    magic, fields = drive_layout()
    sizes = {"N": tr.N, "D": tr.D, "3": 3}
    with open(path, "wb") as f:
        f.write(magic)
        f.write(np.array([tr.N, tr.D, len(episodes), T + 1], dtype="<u4").tobytes())
        for b in episodes:
            for t in [b.start, *range(b.start, b.stop)]:  # warm-up, then steps 1..T
                values = {"channel": tr.channel[t], "ap_xyz": tr.ap_pos[t],
                          "device_xyz": tr.dev_pos[t][order]}
                for name, dtype, shape in fields:
                    v = np.asarray(values[name], dtype=dtype)
                    if v.shape != tuple(sizes[s] for s in shape):
                        raise ConfigError(f"drive field {name}: shape {v.shape}, the contract"
                                          f" declares {shape}")
                    f.write(v.tobytes())
    return T


def ns3_params(tr: Trace, T: int) -> dict[str, Any]:
    m, _ = device_layout(tr)
    consts = {k: v for k, v in tr.header["constants"].items() if v is not None}
    return {**consts, "n_subnetworks": tr.N, "n_devices": m, "episode_steps": T,
            "interference_model": "exact"}


def run_driven(tr: Trace, episodes: list[slice], seed: int, on_episode=None) -> dict[str, Any]:
    """Run the episodes through ns-3 driven by the trace (see the module docstring)."""
    from pybridge import make_vec_env  # the env layer: only when ns-3 really runs

    why = unsupported(tr, episodes)
    if why:
        raise ConfigError(why)
    M, order = device_layout(tr)
    samples: dict[str, list[np.ndarray]] = {k: [] for k in (
        "sinr_db", "sinr_full_db", "rate_packets", "rate_at_full_sinr")}
    delivered = lost = 0
    delay_sum = 0.0
    with tempfile.TemporaryDirectory(prefix="fedmarl-drive-") as tmp:
        drive, out = Path(tmp) / "drive.bin", Path(tmp) / "used.trace"
        T = write_drive(tr, episodes, drive)
        params = ns3_params(tr, T)
        opts = {"extra_args": [f"--drive={drive}", f"--trace={out}"]}
        with make_vec_env("inx-factory", 1, backend="ns3", ns3_options=opts, **params) as env:
            for e, b in enumerate(episodes):
                env.reset(seed=seed + e)
                sinr, rate = [], []
                for t in range(T):
                    env.step(tr.channel[b.start + t][None])
                    last = env.core.last
                    sinr.append(10.0 * np.log10(last.sinr.reshape(-1).astype(np.float64)))
                    rate.append(last.rate_fbl.reshape(-1).astype(np.float64))
                    delivered += int(last.delivered.sum())
                    lost += int(last.lost.sum())
                    delay_sum += float(last.delay_sum.sum())
                samples["sinr_db"].append(np.array(sinr))
                samples["rate_packets"].append(np.array(rate))
                if on_episode:
                    on_episode(1)
        used = read_trace(out)
    # What ns-3 used, record by record, against the trace (devices in ns-3's order).
    starts = np.flatnonzero(used.t == 0)
    pos_err = chan_mismatch = 0.0
    steps_checked = 0
    owner = np.repeat(np.arange(tr.N), M)
    for e, b in enumerate(episodes):
        recs = slice(int(starts[e]) + 1, int(starts[e]) + 1 + T)  # steps 1..T
        want = slice(b.start, b.stop)
        pos_err = max(pos_err,
                      float(np.abs(used.ap_xy[recs] - tr.ap_pos[want, :, :2]).max()),
                      float(np.abs(used.device_xy[recs] - tr.dev_pos[want][:, order, :2]).max()))
        chan_mismatch += float((used.channel[recs] != tr.channel[want]).sum())
        steps_checked += T
        full = used.full_sinr[recs]  # [T, D, K] ns-3's channel at full occupancy
        ch = used.channel[recs][:, owner]
        s_full = np.take_along_axis(full, ch[:, :, None], axis=2)[:, :, 0]
        samples["sinr_full_db"].append(10.0 * np.log10(s_full))
    samples["rate_at_full_sinr"] = []  # filled by the caller's rate formula (their units)
    return {"samples": samples, "steps": steps_checked, "devices_order": order,
            "reproduced": {"max_position_error_m": pos_err,
                           "channel_mismatches": int(chan_mismatch),
                           "exact": pos_err == 0.0 and chan_mismatch == 0},
            "figures": {"packets_delivered": delivered, "packets_lost": lost,
                        "packet_error_rate": lost / max(delivered + lost, 1),
                        "delay_mean_s": delay_sum / max(delivered, 1)}}
