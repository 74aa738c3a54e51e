"""Metrics computed from step data (both backends produce the same arrays).

Rates are spectral efficiencies in bps/Hz. "Samples" are (device, step) pairs; per-device figures
average a device's rate over its episode first. Jain's index J = (sum x)^2 / (n sum x^2) is
computed over the devices of one episode and averaged over episodes.
"""

from __future__ import annotations

import numpy as np

CDF_POINTS = 101


def jain(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Jain's fairness index along `axis` (1 = all equal, 1/n = one takes all)."""
    x = np.asarray(x, dtype=np.float64)
    num = x.sum(axis=axis) ** 2
    den = x.shape[axis] * (x * x).sum(axis=axis)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)


class EpisodeRecorder:
    """Collects per-step arrays of a batch of B episodes and reduces them to metrics."""

    def __init__(self) -> None:
        self._steps: dict[str, list[np.ndarray]] = {k: [] for k in (
            "rate", "rate_shannon", "sinr", "interference_w", "reward", "switched")}
        self._episodes: list[dict[str, np.ndarray]] = []

    def add_step(self, info: dict[str, np.ndarray], reward: np.ndarray) -> None:
        for key in ("rate", "rate_shannon", "sinr", "interference_w", "switched"):
            self._steps[key].append(np.array(info[key], copy=True))
        self._steps["reward"].append(np.array(reward, copy=True))
        # Packet-level counters exist only on the ns-3 backend.
        for key in PACKET_KEYS:
            if key in info:
                self._steps.setdefault(key, []).append(np.array(info[key], copy=True))

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

    def summary(self, r_min: float) -> dict[str, float | list[float]]:
        """The metric set of `fedmarl eval` (see README, "Metrics")."""
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
            "frac_below_rmin": float((fbl < r_min).mean()),
            "mean_interference_dbm": float(10.0 * np.log10(interf.mean()) + 30.0)
            if interf.mean() > 0 else float("-inf"),
            "sinr_db_p5": float(np.percentile(sinr_db, 5)),
            "sinr_db_p50": float(np.percentile(sinr_db, 50)),
            "sinr_db_p95": float(np.percentile(sinr_db, 95)),
            "mean_reward": float(np.mean([e["reward"].mean() for e in eps])),
            "switch_rate": float(np.mean([e["switched"].mean() for e in eps])),
            "rate_cdf_quantiles": np.quantile(fbl, q).round(4).tolist(),
            "rate_shannon_cdf_quantiles": np.quantile(sh, q).round(4).tolist(),
            **packet_summary(eps),
        }


PACKET_KEYS = ("delivered", "lost", "dropped", "queue", "delay_sum", "delay_max", "delay_hist")


def packet_summary(eps: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Delay, loss and queue metrics from the ns-3 backend's packet counters ({} on the twin).

    Delay percentiles come from the per-step delay histogram (64 log-spaced bins over
    1 us .. 1 s, the scenario's contract): the bin's geometric centre, so within +-11 %.
    """
    if not eps or "delivered" not in eps[0]:
        return {}
    from pybridge.ns3_backend import DELAY_BIN_EDGES

    delivered = sum(float(e["delivered"].sum()) for e in eps)
    lost = sum(float(e["lost"].sum()) for e in eps)
    dropped = sum(float(e["dropped"].sum()) for e in eps)
    offered = delivered + lost + dropped
    hist = sum(e["delay_hist"].sum(axis=0) for e in eps).astype(np.float64)
    centres = np.sqrt(DELAY_BIN_EDGES[:-1] * DELAY_BIN_EDGES[1:])

    def percentile(p: float) -> float:
        if hist.sum() == 0:
            return float("nan")
        cdf = np.cumsum(hist) / hist.sum()
        return float(centres[np.searchsorted(cdf, p / 100.0)])

    return {
        "packets_delivered": delivered,
        "packet_loss": (lost + dropped) / offered if offered else float("nan"),
        "packet_error_rate": lost / (delivered + lost) if delivered + lost else float("nan"),
        "packet_drop_rate": dropped / offered if offered else float("nan"),
        "delay_mean_s": sum(float(e["delay_sum"].sum()) for e in eps) / delivered
        if delivered else float("nan"),
        "delay_p50_s": percentile(50),
        "delay_p99_s": percentile(99),
        "delay_max_s": max(float(e["delay_max"].max()) for e in eps),
        "queue_mean_packets": float(np.mean([e["queue"].mean() for e in eps])),
    }
