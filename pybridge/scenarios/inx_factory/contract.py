"""The inx-factory side of the ns-3 contract: the values of the binary's shape symbols and the
step data built from the arrays it declares (`fedmarl-inx-factory --contract-json`).

Arrays (names, dtypes and shapes come from the binary; see ns3-scenarios/inx-factory/): per agent
the action (in), observation, reward, channel in use, switch flag and airtime fraction; per
device the step's rates, SINR, interference and packet counters; per device and channel the
measured SINR; the large-scale coupling between subnetworks; the AP positions; a delay
histogram and the global metrics (names in the contract's constants).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import numpy as np

from pybridge.scenarios.inx_factory.config import InxFactoryConfig


def ns3_dims(cfg: InxFactoryConfig) -> dict[str, int]:
    """N agents, M devices per agent, K channels, W observation width."""
    return {"N": cfg.n_subnetworks, "M": cfg.n_devices, "K": cfg.n_channels, "W": cfg.obs_width}


def delay_bin_edges(constants: Mapping[str, Any]) -> np.ndarray:
    """The delay histogram's bin edges (s): log-spaced over the contract's range."""
    return _edges(int(constants["delay_hist_bins"]), float(constants["delay_hist_min_s"]),
                  float(constants["delay_hist_max_s"]))


@functools.lru_cache(maxsize=8)
def _edges(bins: int, lo: float, hi: float) -> np.ndarray:
    # Every ns-3 step's data carries the edges: computed once per contract, read-only.
    edges = np.logspace(np.log10(lo), np.log10(hi), bins + 1)
    edges.flags.writeable = False
    return edges


class Ns3StepData:
    """One step's measurements of every copy, [B, ...] arrays (copies: safe to keep).

    Same attributes as the twin's StepData (rate_fbl, rate_shannon, sinr, interference_w,
    reward, channel, switches), plus what only a packet-level simulation has: per-device
    delivered / lost (decoding failure) / dropped (queue overflow) packets and queue length at
    the step's end, delay sum and max of the packets delivered in the step (s), the AP airtime
    fraction, the delay histogram with its bin edges, the global metrics (`metric(name)`), the
    large-scale coupling and the AP positions.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray], B: int, cfg: InxFactoryConfig,
                 constants: Mapping[str, Any]) -> None:
        N, M, K = cfg.n_subnetworks, cfg.n_devices, cfg.n_channels
        dev = (B, N, M)
        self.rate_fbl = arrays["rate_fbl"].reshape(dev)
        self.rate_shannon = arrays["rate_shannon"].reshape(dev)
        self.sinr = arrays["sinr"].reshape(dev)
        self.interference_w = arrays["interference"].reshape(dev)
        self.sinr_per_channel = arrays["sinr_per_channel"].reshape(B, N, M, K)
        self.reward = arrays["reward"].reshape(B, N)
        self.channel = arrays["channel"].reshape(B, N).astype(np.int64)
        self.switches = arrays["switched"].reshape(B, N).astype(bool)
        self.delivered = arrays["delivered"].reshape(dev)
        self.lost = arrays["lost"].reshape(dev)
        self.dropped = arrays["dropped"].reshape(dev)
        self.queue = arrays["queue"].reshape(dev)
        self.delay_sum = arrays["delay_sum"].reshape(dev)
        self.delay_max = arrays["delay_max"].reshape(dev)
        self.delay_hist = arrays["delay_hist"].reshape(B, -1)
        self.delay_edges = delay_bin_edges(constants)
        self.airtime = arrays["airtime"].reshape(B, N)
        self.coupling = arrays["coupling"].reshape(B, N, N)
        # AP (x, y) at the interval's end, for rendering (binaries before the contract lack it).
        self.positions = arrays["positions"].reshape(B, N, 2) if "positions" in arrays else None
        self.metric_names = tuple(constants["metrics"])
        self.metrics = arrays["metrics"].reshape(B, -1)

    def metric(self, name: str) -> np.ndarray:
        """Global metric `name` (one of the contract's constants["metrics"]) of every copy, [B]."""
        try:
            return self.metrics[:, self.metric_names.index(name)]
        except ValueError:
            raise KeyError(f"no metric {name!r}; the scenario reports"
                           f" {', '.join(self.metric_names)}") from None
