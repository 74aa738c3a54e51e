"""The seed authors' channel-model faults, injected into a correct trace (for tests and docs).

Reference 002's public in-factory environment has (DESIGN.md, issue 16): temporally correlated
fading built with the modified Bessel function K0 where Jakes' J0 belongs, a shadowing map whose
generated std is 3.18 dB where 5.7 dB is configured, and a dB arithmetic error. Each function
below returns the trace's arrays as that code would have produced them from the same geometry,
so a simulator with only that fault is imitated: after a channel fault, SINR and rate are
recomputed from the faulty channel (the faulty simulator is consistent with itself); the dB
fault leaves the channel alone and breaks only the SINR arithmetic (rate follows its SINR).
"""

from __future__ import annotations

import numpy as np
from scipy.special import k0

from pybridge.channel import inf
from pybridge.scenarios.inx_factory.trace_check import (
    expected_pathloss,
    implied_sinr,
    link_geometry,
    rate_from_sinr,
)
from pybridge.scenarios.inx_factory.trace_format import Trace

SEED_SHADOW_STD_DB = 3.18  # what the seed code's map really has, for 5.7 dB configured


def arrays_of(tr: Trace) -> dict[str, np.ndarray]:
    """Every array of the trace, as save_trace takes them."""
    return {"ap_pos": tr.ap_pos, "dev_pos": tr.dev_pos, "dev_ap": tr.dev_ap,
            "channel": tr.channel, "episode": tr.episode, "power_dbm": tr.power_dbm,
            **tr.optional}


def _resimulate(tr: Trace, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """SINR and rate from the (changed) channel of `out`, as a self-consistent simulator."""
    sinr = implied_sinr(tr, out["gain_db"], out["fading_power"])
    out["sinr_db"] = 10.0 * np.log10(sinr)
    out["rate"] = rate_from_sinr(tr, sinr)
    return out


def k0_fading(tr: Trace, seed: int = 0) -> dict[str, np.ndarray]:
    """Fading redrawn as AR(1) Rayleigh with rho = K0(2 pi f_D T) instead of J0(2 pi f_D T)."""
    cfg = tr.cfg
    f_d = cfg.speed * cfg.carrier_freq_ghz * 1e9 / inf.SPEED_OF_LIGHT
    rho = float(k0(2.0 * np.pi * f_d * cfg.step_duration))
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"K0 gives rho = {rho:.3f}: not a valid AR(1) coefficient here")
    rng = np.random.default_rng(seed)
    shape = tr.get("fading_power").shape
    h = np.empty(shape, dtype=np.complex128)

    def cn(size) -> np.ndarray:
        return (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / np.sqrt(2.0)

    for b in tr.episodes():
        h[b.start] = cn(shape[1:])
        for t in range(b.start + 1, b.stop):
            h[t] = rho * h[t - 1] + np.sqrt(1.0 - rho * rho) * cn(shape[1:])
    out = arrays_of(tr)
    out["fading_power"] = np.abs(h) ** 2
    return _resimulate(tr, out)


def scaled_shadowing(tr: Trace, factor: float = SEED_SHADOW_STD_DB / 5.7
                     ) -> dict[str, np.ndarray]:
    """Every link's shadowing multiplied by `factor` (path loss and LOS states unchanged)."""
    _, d3d = link_geometry(tr)
    pl, _ = expected_pathloss(tr, d3d, tr.get("los"))
    shadow = -tr.get("gain_db") - pl
    out = arrays_of(tr)
    out["gain_db"] = -(pl + factor * shadow)
    return _resimulate(tr, out)


def db_slip(tr: Trace) -> dict[str, np.ndarray]:
    """SINR with the noise power's dBm value taken as dBW (a 30 dB slip: 1000x the noise),
    the rate computed from that SINR as the simulator would."""
    cfg = tr.cfg
    right = inf.noise_power_w(cfg.channel_bandwidth_hz, cfg.noise_figure_db)
    wrong = right * 1e3
    fading = tr.get("fading_power")
    gain = tr.get("gain_db")
    sig_over_all = implied_sinr(tr, gain, fading)  # S / (I + N)
    # S / (I + N) -> S / (I + 1000 N): recover S and I + N from the exact SINR and powers.
    p_w = inf.dbm_to_w(tr.power_dbm)
    own = tr.dev_ap
    D = tr.D
    signal = p_w[:, own] * 10.0 ** (gain[:, np.arange(D), own] / 10.0) * fading[:, np.arange(D),
                                                                               own]
    interf = signal / sig_over_all - right
    sinr = signal / (interf + wrong)
    out = arrays_of(tr)
    out["sinr_db"] = 10.0 * np.log10(sinr)
    out["rate"] = rate_from_sinr(tr, sinr)
    return out


FAULTS = {"k0_fading": k0_fading, "scaled_shadowing": scaled_shadowing, "db_slip": db_slip}
# The channel-model metrics each fault must move (tests/unit/test_external_trace.py): no others.
TOUCHES = {"k0_fading": {"fading_lag1_correlation"},
           "scaled_shadowing": {"shadowing_std_los_db", "shadowing_std_nlos_db"},
           "db_slip": {"sinr_consistency_db"}}
