"""3GPP TR 38.901 Indoor Factory (InF) propagation and the link-level rate formulas.

Sources (all numbers below come from them; see also ../shared/DESIGN.md):
- TR 38.901 v16.1.0, Table 7.4.1-1 (InF path loss, shadow-fading std), Table 7.4.2-1 (InF LOS
  probability), Table 7.2-4 (InF calibration: clutter density r, size d_clutter, height h_c).
- Madsen & Adeogun, "Federated Multi-Agent DRL for RRM in Industrial 6G in-X subnetworks"
  (reference 002): eq. (1) SINR, eq. (2) finite-blocklength rate, eq. (13) reward.
- Polyanskiy, Poor, Verdu (2010): normal approximation of the finite-blocklength rate; the
  penalty term uses log2(e) (bits), not the log10(e) = 0.434 that reference 002 prints.

Every function is vectorised over numpy arrays and deterministic; the C++ ns-3 models implement
the same formulas and are cross-checked against these call by call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import j0, ndtri

SPEED_OF_LIGHT = 299_792_458.0
LOG2_E = float(np.log2(np.e))

# Table 7.4.1-1: PL = a + b log10(d_3D) + c log10(fc), and the shadow-fading std (dB).
_PL_COEFFS = {
    "LOS": (31.84, 21.50, 19.00, 4.3),
    "SL": (33.00, 25.50, 20.00, 5.7),
    "DL": (18.60, 35.70, 20.00, 7.2),
    "SH": (32.40, 23.00, 20.00, 5.9),
    "DH": (33.63, 21.90, 20.00, 4.0),
}

# Table 7.2-4 calibration values for the clutter parameters (also DESIGN.md).
CLUTTER_DEFAULTS = {
    "sparse": {"clutter_density": 0.2, "clutter_size": 10.0, "clutter_height": 2.0},
    "dense": {"clutter_density": 0.6, "clutter_size": 2.0, "clutter_height": 6.0},
}

# The InF sub-scenario each `clutter` setting selects for NLOS links.
CLUTTER_SCENARIOS = {
    "sparse": "SL",  # sparse clutter, low BS (both ends below the clutter): reference default
    "dense": "DL",
    "sparse-high": "SH",  # sparse clutter, BS above the clutter
    "dense-high": "DH",
    "high-high": "HH",  # both ends above the clutter: always LOS
}

D3D_MIN, D3D_MAX = 1.0, 600.0  # validity range of Table 7.4.1-1; distances are clamped to it


def clamp_d3d(d3d: np.ndarray | float) -> np.ndarray:
    """Clamp to the model's validity range [1, 600] m (in-X links are often shorter than 1 m).

    Float arrays keep their dtype (the twin's refresh runs in float32); anything else becomes
    float64.
    """
    d = np.asarray(d3d)
    return np.clip(d.astype(d.dtype if d.dtype.kind == "f" else np.float64, copy=False),
                   D3D_MIN, D3D_MAX)


def _los_and_nlos(d3d, fc_ghz: float, scenario: str) -> tuple[np.ndarray, np.ndarray]:
    """LOS and NLOS path loss (dB) of the same links from one log10 per link.

    NLOS applies the max() rules of Table 7.4.1-1: SL, SH, DH: max(PL, PL_LOS); DL:
    max(PL, PL_LOS, PL_SL). HH has no NLOS state: both are the LOS value.
    """
    if scenario not in ("SL", "DL", "SH", "DH", "HH"):
        raise ValueError(f"unknown InF scenario {scenario!r}; expected SL, DL, SH, DH or HH")
    lg = np.log10(clamp_d3d(d3d))
    log_fc = np.log10(fc_ghz)

    def pl(model: str) -> np.ndarray:
        a, b, c, _ = _PL_COEFFS[model]
        return (a + c * log_fc) + b * lg

    los = pl("LOS")
    if scenario == "HH":
        return los, los
    nlos = np.maximum(pl(scenario), los)
    if scenario == "DL":
        nlos = np.maximum(nlos, pl("SL"))
    return los, nlos


def pathloss_los(d3d, fc_ghz: float) -> np.ndarray:
    """InF-LOS path loss in dB."""
    return _los_and_nlos(d3d, fc_ghz, "HH")[0]


def pathloss_nlos(d3d, fc_ghz: float, scenario: str) -> np.ndarray:
    """NLOS path loss in dB for InF-SL/DL/SH/DH with the max() rules (HH returns LOS)."""
    return _los_and_nlos(d3d, fc_ghz, scenario)[1]


def pathloss_db(d3d, fc_ghz: float, scenario: str, los: np.ndarray) -> np.ndarray:
    """Path loss of links in the given LOS state (the twin's refresh: one log10 per link)."""
    los_pl, nlos_pl = _los_and_nlos(d3d, fc_ghz, scenario)
    return np.where(los, los_pl, nlos_pl)


def shadow_std_db(scenario: str, los: np.ndarray | bool) -> np.ndarray:
    """Shadow-fading std (dB): 4.3 for LOS links, the scenario's NLOS value otherwise."""
    nlos_std = _PL_COEFFS["LOS"][3] if scenario == "HH" else _PL_COEFFS[scenario][3]
    return np.where(los, _PL_COEFFS["LOS"][3], nlos_std)


@dataclass(frozen=True)
class LosParams:
    """Inputs of Table 7.4.2-1 for InF."""

    scenario: str  # SL, DL, SH, DH or HH
    clutter_density: float  # r, in (0, 1)
    clutter_size: float  # d_clutter, m
    clutter_height: float  # h_c, m
    h_bs: float  # transmitter (access point) antenna height, m
    h_ut: float  # receiver (device) antenna height, m

    def k_subsce(self) -> float:
        """The decay distance k_subsce of P_LOS = exp(-d_2D / k_subsce)."""
        k = -self.clutter_size / np.log(1.0 - self.clutter_density)
        if self.scenario in ("SH", "DH"):
            k *= (self.h_bs - self.h_ut) / (self.clutter_height - self.h_ut)
        return float(k)


def los_probability(d2d, p: LosParams) -> np.ndarray:
    """P_LOS(d_2D) of Table 7.4.2-1 (InF). HH is always LOS."""
    d2d = np.asarray(d2d)
    if d2d.dtype.kind != "f":
        d2d = d2d.astype(np.float64)
    if p.scenario == "HH":
        return np.ones_like(d2d)
    return np.exp(d2d * d2d.dtype.type(-1.0 / p.k_subsce()))


def noise_power_w(bandwidth_hz: float, noise_figure_db: float) -> float:
    """Thermal noise (-174 dBm/Hz) plus noise figure over the bandwidth, in watts (eq. 1)."""
    dbm = -174.0 + noise_figure_db + 10.0 * np.log10(bandwidth_hz)
    return float(10.0 ** ((dbm - 30.0) / 10.0))


def dbm_to_w(dbm) -> np.ndarray:
    return 10.0 ** ((np.asarray(dbm, dtype=np.float64) - 30.0) / 10.0)


def fading_rho(speed_mps: float, fc_hz: float, dt_s: float) -> float:
    """AR(1) coefficient of the Rayleigh fading: Jakes' autocorrelation J0(2 pi f_D T).

    f_D = v fc / c (60 Hz at 3 m/s and 6 GHz; rho = 0.29 at T = 5 ms). The seed authors' code used
    a different Bessel function here; J0 is Clarke/Jakes' result for isotropic scattering.
    """
    f_d = speed_mps * fc_hz / SPEED_OF_LIGHT
    return float(j0(2.0 * np.pi * f_d * dt_s))


def shannon_se(sinr) -> np.ndarray:
    """Shannon spectral efficiency log2(1 + SINR) in bps/Hz."""
    return np.log2(1.0 + np.asarray(sinr))


def fbl_se(sinr, blocklength: float, error_prob: float) -> np.ndarray:
    """Finite-blocklength spectral efficiency (normal approximation, eq. 2), clamped at 0.

    r/B = log2(1+g) - sqrt(V/l) Q^-1(eps) log2(e), V = 1 - (1+g)^-2.
    """
    g = np.asarray(sinr)
    one_plus = 1.0 + g
    v = 1.0 - 1.0 / (one_plus * one_plus)
    penalty = np.sqrt(v / blocklength) * (qinv(error_prob) * LOG2_E)
    return np.maximum(np.log2(one_plus) - penalty, 0.0)


def qinv(eps: float) -> float:
    """Inverse of the Gaussian Q function, Q^-1(eps) = -Phi^-1(eps)."""
    return float(-ndtri(eps))


def reward_eq13(rates: np.ndarray, r_min: float, lambda_rate: float, lambda_penalty: float):
    """Reward of reference 002 eq. (13), summed over the last axis (devices).

    R_n = l1 sum_m r_nm - l2 sum_m [r_nm < r_min] (r_min - r_nm). The paper's indicator text says
    the penalty applies when r >= r_min, which would reward missing the target; DESIGN.md fixes it
    to apply below r_min, which is what eq. (3)'s constraint means.
    """
    shortfall = np.maximum(r_min - rates, 0.0)
    return lambda_rate * rates.sum(axis=-1) - lambda_penalty * shortfall.sum(axis=-1)
