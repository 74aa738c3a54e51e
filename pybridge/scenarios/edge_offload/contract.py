"""The edge-offload side of the ns-3 contract: the values of the binary's shape symbols and the
step data built from the arrays it declares (`fedmarl-edge-offload --contract-json`; model
section 6).

Arrays: the info keys of model section 6 under the same names (flattened), "actions" [U, 3] (in),
"obs" [U, W], "reward" [U], "positions" [U, 2], "snr_db" [U, E], "next_arrivals" [U, C]
(drawn one interval ahead, as the twin draws them) and "metrics" [m] (named by the
contract's constants["metrics"]: sim_time_s at least, wall_seconds for `fedmarl bench ns3`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from pybridge.scenarios.edge_offload.config import EdgeOffloadConfig
from pybridge.scenarios.edge_offload.twin import HIST_BINS, N_CLASSES

# name -> (shape symbols after B, dtype of the step data: the twin's, ns-3's values widened)
SHAPES = {
    "created": (("U", "C"), np.int64), "done": (("U", "C"), np.int64),
    "late": (("U", "C"), np.int64), "waiting": (("U", "C"), np.int64),
    "latency_sum": (("U", "C"), np.float64), "latency_max": (("U", "C"), np.float64),
    "latency_hist": (("C", "H"), np.int64), "bits_done": (("U",), np.float64),
    "energy_cpu": (("U",), np.float64), "energy_radio": (("U",), np.float64),
    "offloaded": (("U",), np.int64), "uplink_bits": (("U",), np.float64),
    "channel_busy": (("K",), np.float64), "server_backlog_s": (("E",), np.float64),
    "target": (("U",), np.int64), "channel": (("U",), np.int64),
    "cpu_level": (("U",), np.int64),
    # ns-3 only
    "mac_retries": (("U",), np.int32), "packets_lost": (("U",), np.int32),
    "air_bytes": (("U",), np.float64),
    # not info keys
    "reward": (("U",), np.float64), "positions": (("U", 2), np.float64),
    "snr_db": (("U", "E"), np.float64),
    # the next interval's arrivals (offset from its start, s; -1 none): central's oracle
    "next_arrivals": (("U", "C"), np.float64),
}


def ns3_dims(cfg: EdgeOffloadConfig) -> dict[str, int]:
    """U users, E servers, K channels, W observation width, F CPU levels, C = 3 classes,
    H = 60 latency bins."""
    return {"U": cfg.n_users, "E": cfg.n_servers, "K": cfg.n_channels, "W": cfg.obs_width,
            "F": cfg.n_cpu_levels, "C": N_CLASSES, "H": HIST_BINS}


class Ns3StepData:
    """One ns-3 step of every copy: the same attributes as the twin's StepData (the info keys
    and reward, [B, ...]), plus mac_retries, packets_lost, air_bytes, positions [B, U, 2],
    snr_db [B, U, E] and the global metrics (`metric(name)`). Copies: safe to keep."""

    def __init__(self, arrays: Mapping[str, np.ndarray], B: int, cfg: EdgeOffloadConfig,
                 constants: Mapping[str, Any]) -> None:
        dims = ns3_dims(cfg)
        for name, (symbols, dtype) in SHAPES.items():
            shape = (B, *(dims[s] if isinstance(s, str) else s for s in symbols))
            setattr(self, name, np.asarray(arrays[name]).reshape(shape).astype(dtype))
        self.metric_names = tuple(constants.get("metrics", ()))
        self.metrics = np.asarray(arrays["metrics"]).reshape(B, -1).astype(np.float64)

    def metric(self, name: str) -> np.ndarray:
        """Global metric `name` of every copy, [B]."""
        try:
            return self.metrics[:, self.metric_names.index(name)]
        except ValueError:
            raise KeyError(f"no metric {name!r}; the scenario reports"
                           f" {', '.join(self.metric_names)}") from None
