"""Channel-model check of an external trace: their numbers against the models they claim.

Every metric is (estimate, expected, tolerance, verdict). Expected values come from the
trace's own constants through our channel code (pybridge/channel/inf.py: TR 38.901 InF path
loss, LOS probability and shadow std; fading_rho: Jakes' J0), never from a second copy of a
formula. Tolerances: a 99 % Student-t interval of the estimate over independent batches (the
trace's episodes; a single-episode trace is cut into BLOCKS time blocks, which are correlated,
so its interval is optimistic: the report says so) plus a stated floor for what the format's
float storage and the estimator's own bias allow. "agree" when |estimate - expected| <=
tolerance, "disagree" otherwise; "n/a" when the trace lacks the arrays a metric needs.

What each metric can see (the faults of the seed authors' code each touch one group):
- los_probability, path_gain_*: path loss and LOS model (a wrong exponent, deterministic LOS);
- shadowing_std_*: the shadowing's spread (a map whose std is 3.18 dB where 5.7 is configured);
- shadowing_decorrelation_m: its spatial correlation (scale-free: a wrong std does not move it);
- fading_*: the small-scale fading (mean power and Rayleigh spread, and lag-1 correlation of
  |h|^2 against J0(2 pi f_D T)^2: K0 in place of J0 moves only this one);
- sinr_consistency_db, rate_consistency: their SINR against what their own gains, fading,
  powers and channels imply, and their rate against their SINR (a dB arithmetic error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import numpy as np
from scipy import stats

from pybridge.channel import inf
from pybridge.scenarios.inx_factory.trace_format import Trace

BLOCKS = 8  # time blocks of a single-episode trace
LEVEL = 0.99  # confidence of the intervals the tolerances are built on
DECORR_TIMES = 5  # time samples per batch the decorrelation fit uses (shadowing moves slowly)
DECORR_GRID = 48  # d_c values (log-spaced, 0.2 .. 2000 m) the decorrelation fit tabulates
DECORR_BOOT = 400  # bootstrap replicates of the decorrelation fit


# ------------------------------------------------------------------------------ geometry
def link_geometry(tr: Trace) -> tuple[np.ndarray, np.ndarray]:
    """(d_2D, d_3D) of every link AP n -> device d, [T, D, N] m."""
    delta = tr.dev_pos[:, :, None, :] - tr.ap_pos[:, None, :, :]
    d2 = np.hypot(delta[..., 0], delta[..., 1])
    return d2, np.sqrt(d2 * d2 + delta[..., 2] ** 2)


def expected_pathloss(tr: Trace, d3d: np.ndarray, los: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(path loss dB, shadow std dB) per link in its LOS state (TR 38.901 via inf.py)."""
    cfg = tr.cfg
    scen = cfg.inf_scenario
    return (inf.pathloss_db(d3d, cfg.carrier_freq_ghz, scen, los),
            inf.shadow_std_db(scen, los).astype(np.float64))


def implied_sinr(tr: Trace, gain_db: np.ndarray, fading: np.ndarray,
                 steps: slice = slice(None)) -> np.ndarray:
    """SINR (linear) at every device on its AP's channel, [T, D], from link gains [T, D, N] dB,
    fading |h|^2, per-AP powers and channels (of the trace's `steps`): the downlink SINR of
    reference 002 eq. (1)."""
    cfg = tr.cfg
    D = gain_db.shape[1]
    p_w = inf.dbm_to_w(tr.power_dbm[steps])  # [T, N]
    power = p_w[:, None, :] * 10.0 ** (gain_db / 10.0) * fading  # [T, D, N]
    own = tr.dev_ap
    ch = tr.channel[steps]  # [T, N]
    same = ch[:, None, :] == ch[:, own][:, :, None]  # AP n on device d's channel
    same[:, np.arange(D), own] = False  # the own AP is the signal, not interference
    signal = power[:, np.arange(D), own]
    interf = np.where(same, power, 0.0).sum(axis=-1)
    return signal / (interf + inf.noise_power_w(cfg.channel_bandwidth_hz, cfg.noise_figure_db))


def rate_from_sinr(tr: Trace, sinr_lin: np.ndarray) -> np.ndarray:
    if tr.rate_formula == "shannon":
        return inf.shannon_se(sinr_lin)
    return inf.fbl_se(sinr_lin, tr.cfg.blocklength, tr.cfg.error_prob)


# ------------------------------------------------------------------------------ statistics
def batches(tr: Trace) -> tuple[list[slice], bool]:
    """Independent batches of steps (episodes) or, for one episode, BLOCKS time blocks; and
    whether they are independent."""
    eps = tr.episodes()
    if len(eps) >= 2:
        return eps, True
    edges = np.linspace(0, tr.T, min(BLOCKS, tr.T) + 1).astype(int)
    return [slice(a, b) for a, b in pairwise(edges.tolist()) if b > a], False


def _row(metric: str, estimate: float, expected: float, per_batch: list[float], floor: float,
         why: str, unit: str) -> dict[str, Any]:
    if not math.isfinite(estimate):
        return _na(metric, "more samples (e.g. two steps of one episode for a lag)")
    x = np.asarray([v for v in per_batch if np.isfinite(v)], dtype=np.float64)
    half = math.nan
    if x.size >= 2:
        half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    tol = floor + (half if np.isfinite(half) else 0.0)
    dev = abs(estimate - expected)
    return {"metric": metric, "estimate": float(estimate), "expected": float(expected),
            "unit": unit, "deviation": float(dev), "ci_half_width": half, "floor": floor,
            "tolerance": float(tol), "batches": int(x.size),
            "tolerance_why": (f"{int(LEVEL * 100)} % t-interval over {x.size} batches + floor"
                              f" {floor:g} {unit} ({why})" if np.isfinite(half)
                              else f"{floor:g} {unit}: {why}"),
            "verdict": "agree" if dev <= tol else "disagree"}


def _na(metric: str, needs: str) -> dict[str, Any]:
    return {"metric": metric, "estimate": None, "expected": None, "unit": "", "deviation": None,
            "ci_half_width": None, "floor": None, "tolerance": None, "batches": 0,
            "tolerance_why": f"needs {needs}", "verdict": "n/a"}


def _pooled(values: Callable[[slice], tuple[float, float]], bs: list[slice]
            ) -> tuple[float, list[float]]:
    """Pooled ratio sum(num) / sum(den) over batches, and each batch's own ratio."""
    parts = [values(b) for b in bs]
    num = sum(p[0] for p in parts)
    den = sum(p[1] for p in parts)
    return num / den if den else math.nan, [p[0] / p[1] if p[1] else math.nan for p in parts]


# ------------------------------------------------------------------------------ the metrics
def check_channel(tr: Trace) -> dict[str, Any]:
    """Every channel-model metric of the trace: {"rows": [...], "independent_batches": bool}."""
    cfg = tr.cfg
    bs, independent = batches(tr)
    d2d, d3d = link_geometry(tr)
    los = tr.get("los")
    gain = tr.get("gain_db")
    rows: list[dict[str, Any]] = []

    # LOS probability at the same 2-D distances.
    if los is not None:
        p_los = inf.los_probability(d2d, cfg.los_params)
        est, per = _pooled(lambda b: (float(los[b].sum()), float(los[b].size)), bs)
        exp_ = float(p_los.mean())
        rows.append(_row("los_probability", est, exp_, per, 0.01,
                         "LOS draws are Bernoulli(P_LOS(d_2D)) per link", ""))
    else:
        rows.append(_na("los_probability", "los"))

    # Path gain and shadowing against TR 38.901 at the same 3-D distances.
    if gain is not None and los is not None:
        pl, sigma = expected_pathloss(tr, d3d, los)
        resid = gain + pl  # = -shadowing
        for state, name, mask in (("LOS", "los", los), ("NLOS", "nlos", ~los)):
            if not mask.any():
                rows.append(_na(f"path_gain_{name}_db", f"{state} links"))
                rows.append(_na(f"shadowing_std_{name}_db", f"{state} links"))
                continue
            m_est, m_per = _pooled(lambda b, m=mask: (float(resid[b][m[b]].sum()),
                                                      float(m[b].sum())), bs)
            rows.append(_row(f"path_gain_{name}_db", m_est, 0.0, m_per, 0.1,
                             f"mean of gain + PL_{state}(d_3D): shadowing has zero mean", "dB"))
            v_est, v_per = _pooled(lambda b, m=mask: (float((resid[b][m[b]] ** 2).sum()),
                                                      float(m[b].sum())), bs)
            expected = float(sigma[mask].flat[0])
            rows.append(_row(f"shadowing_std_{name}_db", math.sqrt(v_est), expected,
                             [math.sqrt(v) for v in v_per], 0.05 * expected,
                             "RMS of the residual; floor 5 %: a spectral field of 128 terms"
                             " varies that much per realisation", "dB"))
        rows.append(_decorrelation(tr, resid / sigma, bs))
    elif gain is not None:
        rows.append(_mixture_gain_row(tr, gain, d2d, d3d, bs))
        for name in ("shadowing_std_los_db", "shadowing_std_nlos_db",
                     "shadowing_decorrelation_m"):
            rows.append(_na(name, "los (the LOS state of every link)"))
    else:
        for name in ("path_gain_los_db", "shadowing_std_los_db", "path_gain_nlos_db",
                     "shadowing_std_nlos_db", "shadowing_decorrelation_m"):
            rows.append(_na(name, "gain_db and los"))

    rows.extend(_fading_rows(tr, bs))
    rows.extend(_consistency_rows(tr))
    return {"rows": rows, "independent_batches": independent, "batches": len(bs)}


def _mixture_gain_row(tr, gain, d2d, d3d, bs) -> dict[str, Any]:
    """Without LOS states: mean gain against the LOS/NLOS mixture at P_LOS(d_2D)."""
    cfg = tr.cfg
    p = inf.los_probability(d2d, cfg.los_params)
    pl_l = inf.pathloss_db(d3d, cfg.carrier_freq_ghz, cfg.inf_scenario, True)
    pl_n = inf.pathloss_db(d3d, cfg.carrier_freq_ghz, cfg.inf_scenario, False)
    resid = gain + p * pl_l + (1 - p) * pl_n
    est, per = _pooled(lambda b: (float(resid[b].sum()), float(resid[b].size)), bs)
    return _row("path_gain_mixture_db", est, 0.0, per, 0.1,
                "mean gain against P_LOS PL_LOS + (1 - P_LOS) PL_NLOS", "dB")


def _decorrelation(tr: Trace, z: np.ndarray, bs: list[slice]) -> dict[str, Any]:
    """Shadowing decorrelation distance from pairs of links of one AP at one time.

    Model (the link shadowing of our twin and of reference 002's ref. [18], fields.py):
    Z(a, b) = (S(a) + S(b)) / sqrt(2 (1 + rho_ab)), S a unit field with correlation
    exp(-r / d_c); two links a -> b, a -> c then correlate as
    c = [1 + rho_ab + rho_ac + rho_bc] / (2 sqrt((1 + rho_ab)(1 + rho_ac))). The fit uses the
    variogram, E (z_ab - z_ac)^2 = 2 (1 - c): the difference cancels the shared end's S(a),
    whose realisation would otherwise swamp rho_bc. d_c is the root of mean(observed) =
    mean(predicted) over the pairs (sharing the AP, and sharing the device) of all batches, the
    observed side divided by the observed mean z^2, so a wrong std does not move the estimate
    (and the bootstrap below resamples that scale with the rest). One hall holds few robots, so one batch says little: the interval is a bootstrap
    over batches of the pooled fit (predictions tabulated on a grid of d_c, so each replicate
    is a mean and an interpolation).
    """
    cfg = tr.cfg
    grid = np.geomspace(0.2, 2000.0, DECORR_GRID)
    zn = z
    z2 = np.array([float(np.mean(z[b] ** 2)) for b in bs])  # the scale, per batch
    pred = np.zeros((len(bs), grid.size))  # mean predicted squared difference per batch
    diff2 = np.zeros(len(bs))  # mean observed squared difference per batch
    for i, b in enumerate(bs):
        idx = np.arange(b.start, b.stop)
        idx = idx[np.linspace(0, idx.size - 1, min(DECORR_TIMES, idx.size)).astype(int)]
        a = tr.ap_pos[idx][:, :, :2]  # [t, N, 2]
        dv = tr.dev_pos[idx][:, :, :2]  # [t, D, 2]
        r_link = np.linalg.norm(dv[:, :, None, :] - a[:, None, :, :], axis=-1)  # [t, D, N]
        # Pairs sharing the AP (other ends: two devices), then pairs sharing the device.
        for zz, r, ends in ((zn[idx], r_link, dv),
                            (np.swapaxes(zn[idx], 1, 2), np.swapaxes(r_link, 1, 2), a)):
            iu, ju = np.triu_indices(zz.shape[1], 1)
            r_other = np.linalg.norm(ends[:, iu] - ends[:, ju], axis=-1)[:, :, None]
            diff2[i] += float(((zz[:, iu, :] - zz[:, ju, :]) ** 2).mean()) / 2
            r1, r2 = r[:, iu, :], r[:, ju, :]  # [t, P, shared ends]
            for g, dc in enumerate(grid):
                e1, e2, e12 = np.exp(-r1 / dc), np.exp(-r2 / dc), np.exp(-r_other / dc)
                corr = (1 + e1 + e2 + e12) / (2 * np.sqrt((1 + e1) * (1 + e2)))
                pred[i, g] += float((2.0 - 2.0 * corr).mean()) / 2

    def root(rows: np.ndarray) -> float:
        # Observed variogram in units of the observed variance (scale-free), minus predicted.
        gap = diff2[rows].mean() / z2[rows].mean() - pred[rows].mean(axis=0)
        if gap[0] >= 0:
            return float(grid[0])
        if gap[-1] <= 0:
            return float(grid[-1])
        j = int(np.argmax(gap > 0))
        w = -gap[j - 1] / (gap[j] - gap[j - 1])
        return float(np.exp(np.log(grid[j - 1]) + w * (np.log(grid[j]) - np.log(grid[j - 1]))))

    est = root(np.arange(len(bs)))
    rng = np.random.default_rng(0)
    boot = np.array([root(rng.integers(0, len(bs), len(bs))) for _ in range(DECORR_BOOT)])
    lo, hi = np.percentile(boot, [50 * (1 - LEVEL), 50 * (1 + LEVEL)])
    expected = cfg.shadow_corr_distance
    floor = 0.1 * expected
    row = _row("shadowing_decorrelation_m", est, expected, [], floor,
               "", "m")
    half = float(hi - est) if expected > est else float(est - lo)
    row.update(ci_half_width=half, tolerance=half + floor, batches=len(bs),
               verdict="agree" if lo - floor <= expected <= hi + floor else "disagree",
               ci=(float(lo), float(hi)),
               tolerance_why=(f"{int(LEVEL * 100)} % bootstrap interval over {len(bs)} batches"
                              f" [{lo:.3g}, {hi:.3g}] m (asymmetric: the side towards the"
                              f" expected value) + floor {floor:g} m (10 %: the grid's"
                              " interpolation and the ratio estimator's bias)"))
    return row


def _fading_rows(tr: Trace, bs: list[slice]) -> list[dict[str, Any]]:
    f = tr.get("fading_power")
    names = ("fading_mean_power", "fading_power_cv", "fading_lag1_correlation")
    if f is None:
        return [_na(n, "fading_power") for n in names]
    cfg = tr.cfg
    rows = []
    m_est, m_per = _pooled(lambda b: (float(f[b].sum()), float(f[b].size)), bs)
    rows.append(_row("fading_mean_power", m_est, 1.0, m_per, 0.01,
                     "E|h|^2 = 1: fading must not change the mean link budget", ""))
    cv_per = [float(f[b].std() / f[b].mean()) for b in bs]
    rows.append(_row("fading_power_cv", float(f.std() / f.mean()), 1.0, cv_per, 0.02,
                     "Rayleigh: |h|^2 is exponential, std = mean", ""))
    rho = inf.fading_rho(cfg.speed, cfg.carrier_freq_ghz * 1e9, cfg.step_duration)

    def lag1(b: slice) -> tuple[float, float]:
        # Pairs (t-1, t) inside one episode only (an episode boundary is not a time step).
        x = f[b]
        ep = tr.episode[b]
        keep = ep[1:] == ep[:-1]
        mu = x.mean()
        num = float(((x[1:] - mu) * (x[:-1] - mu))[keep].sum())
        den = float(((x[1:] - mu) ** 2)[keep].sum())
        return num, den

    c_est, c_per = _pooled(lag1, bs)
    rows.append(_row("fading_lag1_correlation", c_est, rho * rho, c_per, 0.01,
                     f"corr(|h_t|^2, |h_t-1|^2) = J0(2 pi f_D T)^2 = {rho * rho:.4f} for"
                     f" AR(1) Rayleigh fading (rho = {rho:.4f})", ""))
    return rows


def _consistency_rows(tr: Trace) -> list[dict[str, Any]]:
    rows = []
    gain, sinr = tr.get("gain_db"), tr.get("sinr_db")
    if gain is not None and sinr is not None:
        fading = tr.get("fading_power")
        if fading is None:
            fading = np.ones_like(gain)
        implied = 10.0 * np.log10(implied_sinr(tr, gain, fading))
        err = np.abs(sinr - implied)
        rows.append({**_row("sinr_consistency_db", float(np.percentile(err, 99)), 0.0, [],
                            0.01, "p99 of |their SINR - SINR from their own gains, fading,"
                            " powers and channels|; 0.01 dB: float32 storage and summation"
                            " order give < 1e-3 dB, a dB slip gives whole dB", "dB"),
                     "max": float(err.max())})
    else:
        rows.append(_na("sinr_consistency_db", "gain_db and sinr_db"))
    rate = tr.get("rate")
    if rate is not None and sinr is not None:
        implied = rate_from_sinr(tr, 10.0 ** (sinr / 10.0))
        err = np.abs(rate - implied)
        rows.append({**_row("rate_consistency", float(np.percentile(err, 99)), 0.0, [], 1e-3,
                            f"p99 of |their rate - {tr.rate_formula} rate of their SINR|;"
                            " 1e-3 bps/Hz: float32 rounding", "bps/Hz"),
                     "max": float(err.max())})
    else:
        rows.append(_na("rate_consistency", "sinr_db and rate"))
    return rows
