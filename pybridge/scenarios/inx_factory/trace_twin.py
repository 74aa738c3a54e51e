"""The trace's geometry and allocations through our twin's channel model, with fresh draws.

Positions, device-to-AP assignment, channels and powers come from the trace, step by step; the
random parts of the channel are drawn anew, as InxFactoryTwin draws them (its ExponentialField
for shadowing and for the spatially consistent LOS states, TR 38.901 InF path loss and LOS
probability from pybridge/channel/inf.py, AR(1) Rayleigh fading with Jakes' rho), `reps` times
per trace episode, so their SINR and rate become distributions to compare theirs with. Where the
twin refreshes the large scale every `large_scale_update_steps`, this refreshes it every step:
a trace may move its nodes at any step.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

from pybridge.channel import inf
from pybridge.channel.fields import ExponentialField
from pybridge.scenarios.inx_factory.trace_check import implied_sinr, link_geometry, rate_from_sinr
from pybridge.scenarios.inx_factory.trace_format import Trace


def twin_samples(tr: Trace, reps: int, seed: int) -> dict[str, list[np.ndarray]]:
    """{"sinr_db": [...], "rate": [...]}: one [T_e, D] array per (repetition, episode)."""
    cfg = tr.cfg
    rng = np.random.default_rng(seed)
    d2d, d3d = link_geometry(tr)
    threshold = ndtri(np.clip(inf.los_probability(d2d, cfg.los_params), 0.0, 1.0))
    rho = inf.fading_rho(cfg.speed, cfg.carrier_freq_ghz * 1e9, cfg.step_duration)
    scen = cfg.inf_scenario
    out: dict[str, list[np.ndarray]] = {"sinr_db": [], "rate": []}
    for _ in range(reps):
        for b in tr.episodes():
            shadow = ExponentialField(1, cfg.shadow_corr_distance, rng)
            los_f = ExponentialField(1, cfg.resolved_los_corr_distance, rng)
            both = np.concatenate([tr.dev_pos[b, :, :2], tr.ap_pos[b, :, :2]], axis=1)  # [t, P, 2]
            gain = np.empty(d2d[b].shape)
            fading = np.empty_like(gain)
            h = (rng.standard_normal(gain.shape[1:]) + 1j * rng.standard_normal(gain.shape[1:])
                 ) / np.sqrt(2.0)
            D = tr.D
            for i, t in enumerate(range(b.start, b.stop)):
                pts = both[i][None]
                s_los, s_sh = los_f(pts), shadow(pts)
                z_los = los_f.link_values(s_los[:, :D], s_los[:, D:], d2d[t][None])[0]
                z_sh = shadow.link_values(s_sh[:, :D], s_sh[:, D:], d2d[t][None])[0]
                los = z_los < threshold[t]
                pl = inf.pathloss_db(d3d[t], cfg.carrier_freq_ghz, scen, los)
                gain[i] = -(pl + inf.shadow_std_db(scen, los) * z_sh)
                if i:
                    w = (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape)
                         ) / np.sqrt(2.0)
                    h = rho * h + np.sqrt(1.0 - rho * rho) * w
                fading[i] = np.abs(h) ** 2
            sinr = implied_sinr(tr, gain, fading, b)
            out["sinr_db"].append(10.0 * np.log10(sinr))
            out["rate"].append(rate_from_sinr(tr, sinr))
    return out
