"""The inx-factory episode metrics (`fedmarl eval`'s summary), from the batched step infos.

Both backends give the same arrays. Rates are spectral efficiencies in bps/Hz. "Samples" are
(device, step) pairs; per-device figures average a device's rate over its episode first (the
time axis), then take the percentile or Jain's index J = (sum x)^2 / (n sum x^2) over the
devices of one episode; Jain's index is averaged over episodes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pybridge.metrics import hist_percentile, jain

CDF_POINTS = 101
STEP_KEYS = ("rate", "rate_shannon", "sinr", "interference_w", "switched")
# Packet-level counters of the ns-3 backend, per step ([B, N, M]; histogram [B, bins]).
PACKET_KEYS = ("delivered", "lost", "dropped", "queue", "delay_sum", "delay_max", "delay_hist")
# The delay histogram's bin edges (s), [B, bins + 1]: constant, kept once (from the contract).
EDGES_KEY = "delay_hist_edges"


class EpisodeRecorder:
    """Collects per-step arrays of a batch of B episodes and reduces them to metrics.

    `r_min`: the rate target (bps/Hz) of `frac_below_rmin` (the config's r_min).
    """

    def __init__(self, r_min: float) -> None:
        self.r_min = float(r_min)
        self._steps: dict[str, list[np.ndarray]] = {k: [] for k in (*STEP_KEYS, "reward")}
        self._episodes: list[dict[str, np.ndarray]] = []
        self._delay_edges: np.ndarray | None = None

    def add_step(self, info: Mapping[str, np.ndarray], reward: np.ndarray) -> None:
        for key in STEP_KEYS:
            self._steps[key].append(np.array(info[key], copy=True))
        self._steps["reward"].append(np.array(reward, copy=True))
        # Packet-level counters exist only on the ns-3 backend.
        for key in PACKET_KEYS:
            if key in info:
                self._steps.setdefault(key, []).append(np.array(info[key], copy=True))
        if self._delay_edges is None and EDGES_KEY in info:
            edges = np.asarray(info[EDGES_KEY], dtype=np.float64)
            self._delay_edges = edges.reshape(-1, edges.shape[-1])[0].copy()

    def end_batch(self) -> None:
        """Close the current batch of B parallel episodes."""
        if not self._steps["rate"]:
            return
        stacked = {k: np.stack(v, axis=1) for k, v in self._steps.items()}  # [B, T, ...]
        for b in range(stacked["rate"].shape[0]):
            self._episodes.append({k: v[b] for k, v in stacked.items()})
        for v in self._steps.values():
            v.clear()

    @property
    def n_episodes(self) -> int:
        return len(self._episodes)

    @property
    def episodes(self) -> list[dict[str, np.ndarray]]:
        """The closed episodes' arrays ([T, ...] per key); `fedmarl validate` reads the samples."""
        self.end_batch()
        return self._episodes

    def summary(self) -> dict[str, float | list[float]]:
        """The metric set of `fedmarl eval` (docs/scenarios/inx-factory.md, "Metrics")."""
        self.end_batch()
        if not self._episodes:
            raise ValueError("no episodes recorded")
        eps = self._episodes
        fbl = np.concatenate([e["rate"].ravel() for e in eps])
        sh = np.concatenate([e["rate_shannon"].ravel() for e in eps])
        sinr_db = 10.0 * np.log10(np.concatenate([e["sinr"].ravel() for e in eps]))
        interf = np.concatenate([e["interference_w"].ravel() for e in eps])
        per_ep_mean = np.array([e["rate"].mean() for e in eps])
        per_ep_mean_sh = np.array([e["rate_shannon"].mean() for e in eps])
        # Per device: time average over the episode, devices flattened over (N, M).
        dev_fbl = [e["rate"].mean(axis=0).ravel() for e in eps]
        dev_sh = [e["rate_shannon"].mean(axis=0).ravel() for e in eps]
        q = np.linspace(0.0, 1.0, CDF_POINTS)
        return {
            "episodes": len(eps),
            "mean_rate": float(fbl.mean()),
            "mean_rate_std_over_episodes": float(per_ep_mean.std(ddof=1)) if len(eps) > 1
            else 0.0,
            "p5_rate": float(np.percentile(fbl, 5)),
            "p50_rate": float(np.percentile(fbl, 50)),
            "mean_rate_shannon": float(sh.mean()),
            "mean_rate_shannon_std_over_episodes": float(per_ep_mean_sh.std(ddof=1))
            if len(eps) > 1 else 0.0,
            "p5_rate_shannon": float(np.percentile(sh, 5)),
            "p50_rate_shannon": float(np.percentile(sh, 50)),
            "p5_device_mean_rate": float(np.percentile(np.concatenate(dev_fbl), 5)),
            "jain_fairness": float(np.mean([jain(x) for x in dev_fbl])),
            "jain_fairness_shannon": float(np.mean([jain(x) for x in dev_sh])),
            "frac_below_rmin": float((fbl < self.r_min).mean()),
            "mean_interference_dbm": float(10.0 * np.log10(interf.mean()) + 30.0)
            if interf.mean() > 0 else float("-inf"),
            "sinr_db_p5": float(np.percentile(sinr_db, 5)),
            "sinr_db_p50": float(np.percentile(sinr_db, 50)),
            "sinr_db_p95": float(np.percentile(sinr_db, 95)),
            "mean_reward": float(np.mean([e["reward"].mean() for e in eps])),
            "switch_rate": float(np.mean([e["switched"].mean() for e in eps])),
            "rate_cdf_quantiles": np.quantile(fbl, q).round(4).tolist(),
            "rate_shannon_cdf_quantiles": np.quantile(sh, q).round(4).tolist(),
            **packet_summary(eps, self._delay_edges),
        }


def packet_summary(eps: list[dict[str, np.ndarray]],
                   edges: np.ndarray | None) -> dict[str, float]:
    """Delay, loss and queue metrics from the ns-3 backend's packet counters ({} on the twin).

    Delay percentiles come from the per-step delay histogram (log-spaced bins, `edges` from the
    scenario's contract: 64 over 1 us .. 1 s): interpolated log-linearly within the bin and
    clamped to the largest observed delay (`hist_percentile`), so p50 <= p99 <= max.
    """
    if not eps or "delivered" not in eps[0]:
        return {}
    if edges is None:
        raise ValueError(f"packet counters without {EDGES_KEY!r}: the delay histogram's bin"
                         " edges come with the ns-3 backend's step info")
    delivered = sum(float(e["delivered"].sum()) for e in eps)
    lost = sum(float(e["lost"].sum()) for e in eps)
    dropped = sum(float(e["dropped"].sum()) for e in eps)
    offered = delivered + lost + dropped
    hist = sum(e["delay_hist"].sum(axis=0) for e in eps).astype(np.float64)
    delay_max = max(float(e["delay_max"].max()) for e in eps)

    def percentile(p: float) -> float:
        return hist_percentile(hist, edges, p, hi=delay_max)

    return {
        "packets_delivered": delivered,
        "packet_loss": (lost + dropped) / offered if offered else float("nan"),
        "packet_error_rate": lost / (delivered + lost) if delivered + lost else float("nan"),
        "packet_drop_rate": dropped / offered if offered else float("nan"),
        "delay_mean_s": sum(float(e["delay_sum"].sum()) for e in eps) / delivered
        if delivered else float("nan"),
        "delay_p50_s": percentile(50),
        "delay_p99_s": percentile(99),
        "delay_max_s": delay_max,
        "queue_mean_packets": float(np.mean([e["queue"].mean() for e in eps])),
    }
