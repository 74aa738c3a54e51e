"""The edge-offload episode metrics (`fedmarl eval`'s summary), from the batched step infos.

Both backends give the same info arrays (model section 6). Per episode the recorder sums the
per-interval task events (created, done, late per user and class), keeps the waiting tasks at
the last interval, the latency sums, maxima and histogram, energies, bits and channel busy
fractions, and reduces them at `summary()`:

- task_success = done / (done + late) over all episodes; tasks still waiting at the episode's
  end are excluded (neither success nor failure: their outcome is unknown), and counted apart
  (`waiting`);
- latency mean = latency_sum / done; p50 / p99 from the summed latency histogram (60 log bins
  over 1e-5..10 s), interpolated log-linearly within the bin and clamped to [min, max] of the
  observed latencies (min: the lower edge of the first non-empty bin, the histogram's best
  knowledge; max: the largest latency_max); max = largest latency_max; all in ms;
- energy_eff_bits_per_j = bits of done tasks / (CPU + radio energy) of all users; energy_cpu_j /
  energy_radio_j per user and episode (mean); energy_per_task_j = total energy / tasks done;
- jain_success: Jain's index over users' success ratios done / (done + late) of one episode
  (users without a finished task count as 1), mean over episodes; jain_throughput: Jain over
  users' bits_done in one episode, mean over episodes;
- channel_utilisation = mean of channel_busy; offload_fraction = offloaded / created;
- mean_reward = mean over users and intervals; uplink_mbit_per_user_s = payload bits that left
  the users' buffers per user and second; ns-3 only: air_overhead = PHY bytes sent (headers and
  retries included) / payload bytes, mac_retries and packets_lost per user and second.
Per class c in (urllc, embb, mmtc): task_success_<c>, latency_mean_ms_<c>, latency_p50_ms_<c>,
latency_p99_ms_<c>, latency_max_ms_<c>, late_<c>, waiting_<c>, created_<c>.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pybridge.metrics import hist_percentile, jain
from pybridge.scenarios.edge_offload.config import CLASSES
from pybridge.scenarios.edge_offload.twin import hist_edges

CDF_PERCENTS = np.linspace(0.0, 100.0, 101)  # quantiles of the latency CDFs in the summary

SUM_KEYS = ("created", "done", "late", "latency_sum", "latency_hist", "bits_done", "energy_cpu",
            "energy_radio", "offloaded", "uplink_bits")
NS3_SUM_KEYS = ("mac_retries", "packets_lost", "air_bytes")


class EdgeOffloadRecorder:
    """Collects a batch of B episodes step by step (`add_step`), closes it (`end_batch`) and
    reduces every closed episode to the metric set (`summary`). `interval_s`: seconds per step
    (for per-second figures)."""

    def __init__(self, interval_s: float = 0.01) -> None:
        self.interval_s = float(interval_s)
        self._episodes: list[dict[str, np.ndarray]] = []
        self._reset_batch()

    def _reset_batch(self) -> None:
        self._acc: dict[str, np.ndarray] = {}
        self._steps = 0

    def add_step(self, info: Mapping[str, np.ndarray], reward: np.ndarray) -> None:
        acc = self._acc
        for key in (*SUM_KEYS, *NS3_SUM_KEYS):
            if key in info:
                v = np.asarray(info[key], dtype=np.float64)
                acc[key] = acc[key] + v if key in acc else v.copy()
        lat_max = np.asarray(info["latency_max"], dtype=np.float64)
        acc["latency_max"] = (np.maximum(acc["latency_max"], lat_max) if "latency_max" in acc
                              else lat_max.copy())
        busy = np.asarray(info["channel_busy"], dtype=np.float64)
        acc["channel_busy"] = acc["channel_busy"] + busy if "channel_busy" in acc else busy.copy()
        r = np.asarray(reward, dtype=np.float64)
        acc["reward"] = acc["reward"] + r if "reward" in acc else r.copy()
        acc["waiting"] = np.asarray(info["waiting"], dtype=np.float64).copy()
        self._steps += 1

    def end_batch(self) -> None:
        """Close the current batch of B parallel episodes."""
        if not self._steps:
            return
        n = self._steps
        B = self._acc["created"].shape[0]
        for b in range(B):
            ep = {k: v[b].copy() for k, v in self._acc.items()}
            ep["channel_busy"] = ep["channel_busy"] / n
            ep["reward"] = ep["reward"] / n  # per user: mean reward per interval
            ep["steps"] = np.array(n)
            self._episodes.append(ep)
        self._reset_batch()

    @property
    def n_episodes(self) -> int:
        return len(self._episodes)

    @property
    def episodes(self) -> list[dict[str, np.ndarray]]:
        """Closed episodes: sums over the episode ([U, 3], [3, H], [U], ...); waiting at the end."""
        self.end_batch()
        return self._episodes

    def summary(self) -> dict[str, float]:
        self.end_batch()
        eps = self._episodes
        if not eps:
            raise ValueError("no episodes recorded")
        edges = hist_edges()
        tot = {k: sum(e[k] for e in eps) for k in eps[0] if k not in ("steps", "latency_max")}
        lat_max = np.max([e["latency_max"] for e in eps], axis=0)  # [U, 3]
        steps = sum(float(e["steps"]) for e in eps)
        U = eps[0]["created"].shape[0]
        out: dict[str, float] = {"episodes": len(eps)}

        def class_block(sel, suffix: str) -> None:
            done = float(tot["done"][:, sel].sum())
            late = float(tot["late"][:, sel].sum())
            hist = tot["latency_hist"][sel].reshape(-1, edges.size - 1).sum(axis=0)
            mx = float(lat_max[:, sel].max()) if done else float("nan")
            nonempty = np.flatnonzero(hist > 0)
            lo = float(edges[nonempty[0]]) if nonempty.size else None
            out[f"task_success{suffix}"] = done / (done + late) if done + late else float("nan")
            out[f"latency_mean_ms{suffix}"] = (1e3 * float(tot["latency_sum"][:, sel].sum())
                                               / done if done else float("nan"))
            for q in (50, 99):
                v = hist_percentile(hist, edges, q, lo=lo, hi=mx if done else None)
                out[f"latency_p{q}_ms{suffix}"] = 1e3 * v
            # The latency CDF (ms) as evenly spaced quantiles, for `fedmarl report`'s plots.
            out[f"latency_ms{suffix}_cdf_quantiles"] = (
                [round(1e3 * hist_percentile(hist, edges, q, lo=lo, hi=mx), 6)
                 for q in CDF_PERCENTS] if done else [])
            out[f"latency_max_ms{suffix}"] = 1e3 * mx
            out[f"created{suffix}"] = float(tot["created"][:, sel].sum())
            out[f"done{suffix}"] = done
            out[f"late{suffix}"] = late
            out[f"waiting{suffix}"] = float(tot["waiting"][:, sel].sum())

        class_block(slice(None), "")
        for c, name in enumerate(CLASSES):
            class_block(slice(c, c + 1), f"_{name}")
        e_cpu = float(tot["energy_cpu"].sum())
        e_radio = float(tot["energy_radio"].sum())
        energy = e_cpu + e_radio
        bits = float(tot["bits_done"].sum())
        done = out["done"]
        out["energy_eff_bits_per_j"] = bits / energy if energy > 0 else float("nan")
        out["energy_cpu_j"] = e_cpu / (len(eps) * U)
        out["energy_radio_j"] = e_radio / (len(eps) * U)
        out["energy_per_task_j"] = energy / done if done else float("nan")
        js, jt = [], []
        for e in eps:
            d, lt = e["done"].sum(-1), e["late"].sum(-1)
            ratio = np.where(d + lt > 0, d / np.maximum(d + lt, 1.0), 1.0)
            js.append(float(jain(ratio)))
            jt.append(float(jain(e["bits_done"])))
        out["jain_success"] = float(np.mean(js))
        out["jain_throughput"] = float(np.mean(jt))
        out["channel_utilisation"] = float(np.mean([e["channel_busy"].mean() for e in eps]))
        created = out["created"]
        out["offload_fraction"] = (float(tot["offloaded"].sum()) / created if created
                                   else float("nan"))
        out["mean_reward"] = float(np.mean([e["reward"].mean() for e in eps]))
        seconds = steps * self.interval_s
        user_s = U * seconds  # user-seconds over all episodes
        out["uplink_mbit_per_user_s"] = float(tot["uplink_bits"].sum()) / 1e6 / user_s
        if "air_bytes" in tot:
            payload = float(tot["uplink_bits"].sum()) / 8.0
            out["air_overhead"] = (float(tot["air_bytes"].sum()) / payload if payload
                                   else float("nan"))
            out["mac_retries_per_user_s"] = float(tot["mac_retries"].sum()) / user_s
            out["packets_lost_per_user_s"] = float(tot["packets_lost"].sum()) / user_s
        return out


def latency_samples(episode: Mapping[str, np.ndarray]) -> np.ndarray:
    """Latency samples (s) of one recorded episode, reconstructed from its histogram: each done
    task at the geometric centre of its bin, clamped to the episode's largest latency (the
    per-task values are not in the step info; a bin spans a factor 10^0.1,
    so a sample is off by at most 12 %)."""
    edges = hist_edges()
    hist = np.asarray(episode["latency_hist"]).reshape(-1, edges.size - 1).sum(axis=0)
    centres = np.sqrt(edges[:-1] * edges[1:])
    mx = float(np.max(episode["latency_max"])) if hist.sum() else np.inf
    return np.minimum(np.repeat(centres, hist.astype(np.int64)), mx)
