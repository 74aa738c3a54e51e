"""inx-factory's part of `fedmarl validate` (`InxFactorySpec.validation_module`).

The generic engine (fedmarl/validate.py) compares the spec's sample sets (rates, SINR); this
module adds what only this scenario knows:
- the large-scale gain of every interfering link (path loss + shadowing, from `coupling()`,
  one sample per large-scale refresh) as a sample set `gain_db`, and ns-3's AP airtime;
- Jain's fairness per episode, over devices' time-averaged rates;
- what the twin's full-buffer abstraction predicts for ns-3's packet-level figures;
- trace mode: ns-3 records each interval's channel (`--trace`), the twin's formulas replay it
  (`replay.py`), and the difference splits into channel model, MAC and packet effects.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from pybridge.channel import inf
from pybridge.metrics import jain
from pybridge.ns3_backend import copy_run
from pybridge.scenarios.inx_factory.replay import read_trace, replay


def _flat(episodes: list[np.ndarray]) -> np.ndarray:
    return np.concatenate([np.ravel(e) for e in episodes]) if episodes else np.empty(0)


class Collector:
    """`run_episodes` hooks gathering interferer gains, airtime and (ns-3) trace files."""

    def __init__(self, cfg, backend: str, trace_dir: Path | None) -> None:
        self.cfg = cfg
        self.tracing = trace_dir is not None and backend == "ns3"
        self.trace_dir = trace_dir
        self.traces: list[tuple[Path, int]] = []  # (file, RngRun) of each episode, in order
        self.gains: list[np.ndarray] = []  # per episode: interferer gains at every refresh, dB
        self._batch_gains: list[np.ndarray] = []
        self._airtime: list[np.ndarray] = []
        self._off_diag = ~np.eye(cfg.n_subnetworks, dtype=bool)

    def ns3_options(self, n: int) -> dict[str, Any] | None:
        if not self.tracing:
            return None
        return {"extra_args": [f"--trace={self.trace_dir}/n{n}-c{{copy}}.trace"]}

    def on_batch_start(self, n: int, s: int) -> None:
        if self.tracing:
            self.traces.extend((self.trace_dir / f"n{n}-c{b}.trace", copy_run(s, b, n))
                               for b in range(n))
        self._batch_gains.clear()

    def before_act(self, env, t: int) -> None:
        if t % self.cfg.large_scale_update_steps == 0:
            # Large-scale gain of every interfering link (path loss + shadowing, tx power
            # removed): constant between refreshes, so one sample per refresh.
            self._batch_gains.append(np.array(env.core.coupling()[:, self._off_diag], copy=True))

    def after_step(self, env, t: int) -> None:
        airtime = getattr(env.core.last, "airtime", None)
        if airtime is not None:
            self._airtime.append(np.array(airtime, copy=True))

    def on_batch_end(self, n: int) -> None:
        g = np.stack(self._batch_gains, axis=1)  # [n, refreshes, links]
        for b in range(n):
            gb = g[b][g[b] > 0]
            self.gains.append(10.0 * np.log10(gb) - (self.cfg.tx_power_dbm - 30.0))

    def samples(self) -> dict[str, list[np.ndarray]]:
        return {"gain_db": self.gains}

    def figures(self) -> dict[str, float]:
        return {"airtime": float(_flat(self._airtime).mean())} if self._airtime else {}


def collector(cfg, backend: str, trace_dir: Path | None) -> Collector:
    return Collector(cfg, backend, trace_dir)


def episode_statistics(samples: dict[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Jain's index over devices of each episode's time-averaged device rates ([T, D] each)."""
    return {"jain_fairness": np.array([float(jain(r.mean(axis=0))) for r in samples["rate"]])}


def predictions(cfg) -> dict[str, float | None]:
    """ns-3's packet-level figures as the twin's abstraction predicts them.

    The twin computes a rate per step as if every AP sent one blocklength-l codeword after
    another, all interval long, on an infinite backlog: a packet then waits one TB airtime
    (l / B) and is lost with probability eps; queues are empty (nothing waits, the backlog is not
    a queue), every AP is busy all interval. Under other traffic models the twin predicts none of
    these but the airtime (None: n/a).
    """
    full = cfg.traffic == "full-buffer"
    airtime_tb = cfg.blocklength / cfg.channel_bandwidth_hz
    pred = {"delay_mean_s": airtime_tb, "delay_p99_s": airtime_tb,
            "packet_error_rate": cfg.error_prob, "queue_mean_packets": 0.0}
    out: dict[str, float | None] = {k: (v if full else None) for k, v in pred.items()}
    out["airtime"] = 1.0
    return out


# Replayed vs ns-3 full-occupancy SINR: the same float64 powers summed in another order, so only
# rounding (~1e-15 relative) may separate them; anything near 1e-9 would be a model difference.
CHANNEL_MODEL_RTOL = 1e-9

TRACE_WHAT = {
    "channel_model": ("the twin's interference and SINR formulas replayed on the channel ns-3"
                      " drew (positions, LOS states, shadowing, fading) against ns-3's own"
                      " full-occupancy SINR: zero up to rounding means the two backends implement"
                      " the same channel model, so the twin-vs-ns-3 differences above come from"
                      " the channel realisations (separate RNG streams) and from the packet"
                      " level, not from the model"),
    "mac_effect": ("ns-3's measured SINR (each interferer weighted by the fraction of the"
                   " interval its AP actually transmitted) minus the full-occupancy SINR the"
                   " twin assumes, on the channel in use, in dB: what MAC timing (idle gaps"
                   " between TBs, switching delay) does to interference; it is >= 0 because an"
                   " idle AP interferes less"),
    "packet_effect": ("ns-3's delivered throughput minus the twin's FBL rate replayed on the same"
                      " channel, per device and step: everything packet-level (link adaptation"
                      " from the previous TB's SINR, whole packets per TB, decoding failures,"
                      " queueing) plus the MAC effect on the rate; `split` separates the two"
                      " with the FBL rate at ns-3's measured SINR"),
}


def trace_analysis(cfg, ns: dict[str, Any], mean_ci) -> dict[str, Any]:
    """Trace mode: attribute ns-3's per-step result to channel model, MAC and packet events.

    Each ns-3 episode's trace (records t = 1..T: the intervals whose outcome step t reports)
    is replayed with the twin's formulas and compared sample by sample with what the same ns-3
    run measured; see TRACE_WHAT for what each figure is. `mean_ci(episode_means)` is the
    engine's (mean, lo, hi) 95 % interval.
    """
    T = cfg.episode_steps
    owner = np.repeat(np.arange(cfg.n_subnetworks), cfg.n_devices)
    loaded: dict[Path, tuple[Any, Any, np.ndarray]] = {}
    consumed: dict[Path, int] = {}
    rel_max = 0.0
    mac_db, d_total, d_mac, d_pkt, replayed, thr = [], [], [], [], [], []
    for i, (path, run) in enumerate(ns["traces"]):
        if path not in loaded:
            tr = read_trace(path)
            loaded[path] = (tr, replay(tr, cfg.blocklength, cfg.error_prob),
                            np.flatnonzero(tr.t == 0))
        tr, rp, starts = loaded[path]
        # A process's file holds its episodes in order, each starting with the t = 0 warm-up.
        k = consumed.get(path, 0)
        consumed[path] = k + 1
        if k >= starts.size:
            raise RuntimeError(f"{path}: trace has {starts.size} episodes, expected more")
        s0 = int(starts[k])
        seg = slice(s0 + 1, s0 + 1 + T)
        if int(tr.run[s0]) != run or not np.array_equal(tr.t[seg], np.arange(1, T + 1)):
            raise RuntimeError(f"{path}: episode {k} is not RngRun {run} with steps 1..{T}")
        full = tr.full_sinr[seg]
        rel_max = max(rel_max, float(np.max(np.abs(rp.sinr_per_channel[seg] - full) / full)))
        used = tr.channel[seg][:, owner]
        full_used = np.take_along_axis(full, used[:, :, None], axis=2)[:, :, 0]
        e = ns["episodes"][i]
        meas = e["sinr"].reshape(T, -1).astype(np.float64)  # measured, on the channel in use
        fbl_meas = inf.fbl_se(meas, cfg.blocklength, cfg.error_prob)
        rate = ns["samples"]["rate"][i].astype(np.float64)
        rate_replay = rp.rate_fbl[seg]
        mac_db.append(10.0 * np.log10(meas / full_used))
        d_total.append(rate - rate_replay)
        d_mac.append(fbl_meas - rate_replay)
        d_pkt.append(rate - fbl_meas)
        replayed.append(rate_replay)
        thr.append(rate)
    mdb = _flat(mac_db)
    ref = float(_flat(replayed).mean())

    def effect(d: list[np.ndarray]) -> dict[str, Any]:
        m, lo, hi = mean_ci(np.array([x.mean() for x in d]))
        a = float(np.abs(_flat(d)).mean())
        return {"mean_bps_hz": m, "mean_ci": (lo, hi), "mean_abs_bps_hz": a,
                "mean_pct": 100.0 * m / ref if ref else math.nan,
                "mean_abs_pct": 100.0 * a / ref if ref else math.nan}

    return {
        "episodes": len(ns["traces"]), "samples": int(mdb.size),
        "channel_model": {"max_rel_sinr_diff": rel_max, "tolerance": CHANNEL_MODEL_RTOL,
                          "verdict": "agree" if rel_max <= CHANNEL_MODEL_RTOL else "differ",
                          "what": TRACE_WHAT["channel_model"]},
        "mac_effect": {"sinr_db_mean": float(mdb.mean()),
                       "sinr_db_p50": float(np.percentile(mdb, 50)),
                       "sinr_db_p99": float(np.percentile(mdb, 99)),
                       "sinr_db_max": float(mdb.max()),
                       "what": TRACE_WHAT["mac_effect"]},
        "packet_effect": {"ns3_throughput_mean": float(_flat(thr).mean()),
                          "replayed_fbl_mean": ref, **effect(d_total),
                          "split": {"mac_sinr": effect(d_mac), "packets": effect(d_pkt)},
                          "what": TRACE_WHAT["packet_effect"]},
    }


def _ci(ci) -> str:
    lo, hi = ci
    if lo is None or hi is None or not (np.isfinite(lo) and np.isfinite(hi)):
        return "n/a"
    return f"[{lo:.3f}, {hi:.3f}]"


def trace_markdown(tr: dict[str, Any]) -> list[str]:
    cm, mac, pk = tr["channel_model"], tr["mac_effect"], tr["packet_effect"]
    sm, sp = pk["split"]["mac_sinr"], pk["split"]["packets"]
    return [
        "## Trace mode: channel model, MAC and packet effects", "",
        (f"ns-3 recorded its channel every interval ({tr['episodes']} episodes, "
         f"{tr['samples']} device-steps) and the twin's formulas were replayed on it."), "",
        "| effect | figure | value |", "|---|---|---|",
        (f"| channel model | max relative SINR difference, twin replay vs ns-3 full occupancy"
         f" | {cm['max_rel_sinr_diff']:.2e} (tolerance {cm['tolerance']:g}:"
         f" **{cm['verdict']}**) |"),
        (f"| MAC effect | measured - full-occupancy SINR, dB: mean / p50 / p99 / max | "
         f"{mac['sinr_db_mean']:.3f} / {mac['sinr_db_p50']:.3f} / {mac['sinr_db_p99']:.3f}"
         f" / {mac['sinr_db_max']:.3f} |"),
        (f"| packet-level effect | ns-3 throughput - replayed FBL rate, bps/Hz: mean [CI] /"
         f" mean abs | {pk['mean_bps_hz']:+.3f} {_ci(pk['mean_ci'])} /"
         f" {pk['mean_abs_bps_hz']:.3f} ({pk['mean_pct']:+.1f} % / {pk['mean_abs_pct']:.1f} %"
         f" of {pk['replayed_fbl_mean']:.3f}) |"),
        (f"| of which MAC (FBL at measured - at full-occupancy SINR) | mean / mean abs |"
         f" {sm['mean_bps_hz']:+.3f} / {sm['mean_abs_bps_hz']:.3f} ({sm['mean_pct']:+.1f} %) |"),
        (f"| of which packets (throughput - FBL at measured SINR) | mean / mean abs |"
         f" {sp['mean_bps_hz']:+.3f} / {sp['mean_abs_bps_hz']:.3f} ({sp['mean_pct']:+.1f} %) |"),
        "", f"- Channel model: {cm['what']}.", f"- MAC effect: {mac['what']}.",
        f"- Packet-level effect: {pk['what']}.", ""]
