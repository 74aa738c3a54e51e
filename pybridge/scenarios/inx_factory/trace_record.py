"""Record a trace (trace_format.py) from our own twin: the complete example of the format.

`TwinTraceRecorder` is a set of `run_episodes` hooks (fedmarl/evaluate.py): after every step it
copies what the twin used (positions, channels in use, large-scale gains, LOS states, fading
|h|^2) and what it computed (SINR on the channel in use, rate), one episode per env copy; then
`write(path)` saves the file. Only the exact refresh keeps every link's path loss and shadowing
(interference_model "exact", N - 1 <= max_faded_interferers), so other configs are refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pybridge.config import ConfigError
from pybridge.scenarios.inx_factory.config import InxFactoryConfig
from pybridge.scenarios.inx_factory.trace_format import (
    HEADER_OPTIONAL,
    HEADER_REQUIRED,
    save_trace,
)


class TwinTraceRecorder:
    """Hooks collecting one trace episode per twin copy; `rate_formula` picks the rate stored."""

    def __init__(self, cfg: InxFactoryConfig, rate_formula: str = "shannon") -> None:
        if cfg.resolved_interference_model != "exact" or cfg.n_subnetworks - 1 > \
                cfg.max_faded_interferers:
            raise ConfigError("recording a trace needs the twin's exact model (every link's"
                              " path loss, shadowing and fading): interference_model=exact and"
                              " n_subnetworks - 1 <= max_faded_interferers")
        self.cfg = cfg
        self.rate_formula = rate_formula
        self._steps: list[dict[str, np.ndarray]] = []
        self._episodes: list[dict[str, np.ndarray]] = []

    def after_step(self, env: Any, t: int) -> None:
        core = env.core
        if getattr(core, "backend", "") != "twin":
            raise ConfigError("the trace recorder reads the twin's state: run it on the twin")
        cfg = self.cfg
        ap, dev = core.positions()
        B, N, D = core.B, core.N, core.D
        h = core.h
        last = core.last
        rate = last.rate_shannon if self.rate_formula == "shannon" else last.rate_fbl
        self._steps.append({
            "ap_pos": np.concatenate([ap, np.full((B, N, 1), cfg.resolved_ap_height)], -1),
            "dev_pos": np.concatenate([dev, np.full((B, D, 1), cfg.device_height)], -1),
            "channel": np.array(core.channel, dtype=np.int32),
            "gain_db": -(core.pathloss_db.astype(np.float64)
                         + core.shadowing_db.astype(np.float64)),
            "los": np.array(core.los, dtype=bool),
            "fading_power": (h[0].astype(np.float64) ** 2 + h[1].astype(np.float64) ** 2),
            "sinr_db": 10.0 * np.log10(last.sinr.reshape(B, D).astype(np.float64)),
            "rate": rate.reshape(B, D).astype(np.float64),
        })

    def on_batch_end(self, n: int) -> None:
        stacked = {k: np.stack([s[k] for s in self._steps], axis=1)  # [B, T, ...]
                   for k in self._steps[0]}
        self._steps.clear()
        for b in range(n):
            self._episodes.append({k: v[b] for k, v in stacked.items()})

    def constants(self) -> dict[str, Any]:
        c = self.cfg
        out = {k: getattr(c, k) for k in HEADER_REQUIRED}
        out.update(clutter_density=c.resolved_clutter_density,
                   clutter_size=c.resolved_clutter_size,
                   clutter_height=c.resolved_clutter_height)
        out.update({k: getattr(c, k) for k in HEADER_OPTIONAL if k not in out})
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        if not self._episodes:
            raise ConfigError("no episode recorded")
        out = {k: np.concatenate([e[k] for e in self._episodes]) for k in self._episodes[0]}
        T = self.cfg.episode_steps
        out["episode"] = np.repeat(np.arange(len(self._episodes)), T)
        out["dev_ap"] = np.repeat(np.arange(self.cfg.n_subnetworks), self.cfg.n_devices)
        out["power_dbm"] = np.full(out["channel"].shape, self.cfg.tx_power_dbm)
        return out

    def write(self, path: str | Path, source: str = "fedmarl inx-factory twin") -> Path:
        return save_trace(path, self.constants(), self.arrays(), self.rate_formula, source)
