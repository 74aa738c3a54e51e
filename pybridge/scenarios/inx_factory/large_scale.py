"""Large-scale refresh for thousands of subnetworks: exact near links, separable far links.

The exact refresh (`InxFactoryTwin._refresh_large_scale`) evaluates distance, LOS draw, path
loss and shadowing of all N^2 links every `large_scale_update_steps`: ~47 ms at N = 1000 (Xeon,
one core), 85 % of a step. A factory hall is small against the range at which an interferer
still matters (an NLOS interferer at 150 m is 1 % of the noise, a LOS one at 450 m), so a plain
distance cutoff would drop most of what it is meant to save. Instead every link is kept, and
the links are split per device:

* near (the APs within `near_radius` + a movement margin, at least the L + 1 nearest): computed
  exactly as in the exact refresh, every refresh;
* far (everything else, all farther than `near_radius` until the next rebuild): the two parts
  of a far link that change from refresh to refresh are its shadowing and its LOS state, and
  both come from the endpoint fields. A link's field value is
  Z(a, b) = (S(a) + S(b)) / sqrt(2 (1 + rho(d))), rho(d) = exp(-d / d_c) (`fields.py`); beyond
  `near_radius` rho is below exp(-R / d_c), so Z = (S(a) + S(b)) / sqrt(2) up to a factor
  sqrt(1 + rho) and the received power factorises:
      P_rx = P_tx G_X(d) f_X(a) f_X(b),   f_X(x) = 10^(-sigma_X S_sh(x) / (10 sqrt 2)),
  X = LOS if (S_los(a) + S_los(b)) / sqrt 2 < Phi^-1(P_LOS(d)), else NLOS. So a refresh needs
  the fields at the N + D endpoints and one multiply-add-compare per far link: no logarithm, no
  exponential, no field evaluation per link.
* The distance-dependent terms of far links (G_LOS, G_NLOS, the LOS threshold) are tabulated
  every 1 cm of d_2D and cached for `far_refresh_interval`
  refreshes; the near/far split is rebuilt with them.

Error, stated and tested against the exact refresh (tests/unit/test_twin_scale.py):
* far shadowing: |z| too large by at most a factor sqrt(1 + rho(R)) - 1 (R = 50 m, d_c = 10 m:
  0.34 %, i.e. <= 0.02 dB per unit z of a 5.7 dB std); the LOS draw likewise uses
  rho_los(R) = exp(-R / d_los) (d_los = 5 m sparse: 2e-22);
* far distance terms are stale by at most the relative movement between rebuilds,
  dd <= 2 v T (T = interval x refresh period; v = 3 m/s, 4 x 50 ms: 1.2 m), so their path
  loss is off by at most b log10(1 + dd / R) dB (b the steepest slope of the scenario's
  Table 7.4.1-1 model: 25.5 SL -> 0.26 dB, 35.7 DL -> 0.37 dB) and P_LOS by at most
  |dP/dd| dd (<= 1.2 m / k_subsce: 2.7 % absolute for sparse clutter at R);
* the L faded interferers of a device are chosen among its near links (a far interferer
  stronger than all of them counts with its mean power instead of its fading).
Near links and the own link are computed exactly as in the exact refresh.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtri

from pybridge.channel import inf

F32 = np.float32
FAR_TABLE_STEP = 0.01  # m, grid of the far links' distance terms
LN10_OVER_10 = math.log(10.0) / 10.0


def margin_m(speed: float, refresh_period_s: float, interval: int) -> float:
    """Most a link's length can change between two rebuilds (both ends move)."""
    return 2.0 * speed * refresh_period_s * interval


def far_error_bounds(cfg) -> dict[str, float]:
    """The documented bounds of the far-link approximation for a config (see module doc)."""
    scen = cfg.inf_scenario
    slopes = [inf._PL_COEFFS["LOS"][1]] + ([inf._PL_COEFFS[scen][1]] if scen != "HH" else [])
    if scen == "DL":
        slopes.append(inf._PL_COEFFS["SL"][1])
    r = float(cfg.near_radius)
    dd = margin_m(cfg.speed, cfg.large_scale_update_steps * cfg.step_duration,
                  cfg.far_refresh_interval)
    rho_sh = math.exp(-r / cfg.shadow_corr_distance)
    p = inf.LosParams(cfg.inf_scenario, cfg.resolved_clutter_density, cfg.resolved_clutter_size,
                      cfg.resolved_clutter_height, cfg.resolved_ap_height, cfg.device_height)
    dp = 0.0 if scen == "HH" else float(math.exp(-r / p.k_subsce()) * dd / p.k_subsce())
    return {"near_radius_m": r, "movement_m": dd,
            "pathloss_db": max(slopes) * math.log10(1.0 + dd / r),
            "shadow_scale": math.sqrt(1.0 + rho_sh) - 1.0,
            "los_scale": math.sqrt(1.0 + math.exp(-r / cfg.resolved_los_corr_distance)) - 1.0,
            "p_los": dp}


class NeighbourRefresh:
    """Mean received power of every link of an `InxFactoryTwin`, near links exact, far
    separable (module docstring). `refresh()` -> (rx [B, D, N] W float32, near APs
    [B, D, Kn] int): the second is where the faded interferers are chosen."""

    def __init__(self, twin) -> None:
        cfg = twin.cfg
        self.twin = twin
        self.radius = float(cfg.near_radius)
        self.interval = int(cfg.far_refresh_interval)
        self.margin = margin_m(cfg.speed, cfg.large_scale_update_steps * cfg.step_duration,
                               self.interval)
        scen = twin.los_params.scenario
        self.sigma_los = float(inf.shadow_std_db(scen, True))
        self.sigma_nlos = float(inf.shadow_std_db(scen, False))
        self._tables: tuple[np.ndarray, np.ndarray] | None = None
        self._age = self.interval  # refreshes since the last rebuild: rebuild first

    def reset(self) -> None:
        """A new episode (new positions and fields): rebuild on the next refresh."""
        self._age = self.interval

    # ------------------------------------------------------------------------------ tables
    def _far_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P_tx 10^(-PL/10) for LOS and NLOS and sqrt(2) Phi^-1(P_LOS) on a FAR_TABLE_STEP
        grid of d_2D, nearest entry. At d >= R = 50 m a 1 cm step moves the path loss by
        < 0.004 dB and P_LOS by < 0.01 m / k_subsce (2e-4); the small tables stay in cache,
        which makes the lookups of ~N^2 links 2-3x faster than the 2 mm LOS table."""
        if self._tables is None:
            tw = self.twin
            d_max = float(np.hypot(tw.layout.hall_length, tw.layout.hall_width)) + 2.0
            d2d = np.arange(0.0, d_max + FAR_TABLE_STEP, FAR_TABLE_STEP)
            d3d = np.sqrt(d2d * d2d + tw.height_diff ** 2)
            los_pl, nlos_pl = inf._los_and_nlos(d3d, tw.cfg.carrier_freq_ghz,
                                                tw.los_params.scenario)
            prob = np.clip(inf.los_probability(d2d, tw.los_params), 0.0, 1.0)
            self._tables = tuple(
                [(tw.tx_power_w * 10.0 ** (-pl / 10.0)).astype(F32) for pl in (los_pl, nlos_pl)]
                + [(math.sqrt(2.0) * ndtri(prob)).astype(F32)])
        return self._tables

    # ----------------------------------------------------------------------------- rebuild
    def _rebuild(self, ap: np.ndarray, dev: np.ndarray) -> None:
        """Distances of every link, the near sets, and the far links' cached terms."""
        tw = self.twin
        B, D, N = tw.B, tw.D, tw.N
        dx = dev[:, :, None, 0].astype(F32) - ap[:, None, :, 0].astype(F32)
        dy = dev[:, :, None, 1].astype(F32) - ap[:, None, :, 1].astype(F32)
        dx *= dx
        dy *= dy
        dx += dy
        d2d = np.sqrt(dx, out=dx)
        # Own AP first and always near, whatever its distance.
        own = tw._own_flat
        d2d.reshape(-1)[own] = -1.0
        reach = F32(self.radius + self.margin)
        count = int((d2d < reach).sum(axis=-1).max())
        kn = min(N, max(count, tw.n_faded + 1))
        if kn < N:
            near = np.argpartition(d2d, kn - 1, axis=-1)[..., :kn]
        else:
            near = np.broadcast_to(np.arange(N), (B, D, N)).copy()
        self.near_ap = near.astype(np.intp)  # [B, D, Kn]
        self._near_flat = (np.arange(B * D).reshape(B, D, 1) * N + self.near_ap).ravel()
        self._near_ap_flat = (self.near_ap + (np.arange(B) * N)[:, None, None]).ravel()
        # Far terms from the 2 mm tables; near and own entries get 0 gain and a threshold
        # nothing passes, so the far pass leaves them 0 for the exact values to fill in.
        g_los, g_nlos, thr_table = self._far_tables()
        idx = (d2d * F32(1.0 / FAR_TABLE_STEP) + F32(0.5)).astype(np.int32)
        np.clip(idx, 0, g_los.size - 1, out=idx)
        self._far_los = g_los.take(idx)
        self._far_nlos = g_nlos.take(idx)
        thr = thr_table.take(idx)  # compare S(a) + S(b) with sqrt(2) Phi^-1(P_LOS)
        for arr in (self._far_los, self._far_nlos):
            arr.reshape(-1)[self._near_flat] = 0.0
        thr.reshape(-1)[self._near_flat] = -np.inf
        self._far_thr = thr
        self._age = 0

    # ----------------------------------------------------------------------------- refresh
    def refresh(self) -> tuple[np.ndarray, np.ndarray]:
        tw = self.twin
        D, N = tw.D, tw.N
        ap, dev = tw.positions()
        if self._age >= self.interval:
            self._rebuild(ap, dev)
        self._age += 1
        both = np.concatenate([dev, ap], axis=1)
        s_los = tw.los_field(both).astype(F32)  # [B, D + N]
        s_sh = tw.shadow_field(both).astype(F32)
        # Far links: P_tx G_X(d) f_X(dev) f_X(ap).
        k = F32(-LN10_OVER_10 / math.sqrt(2.0))
        f_n = np.exp(s_sh * (k * F32(self.sigma_nlos)))
        rx = self._far_nlos * f_n[:, :D, None]
        rx *= f_n[:, None, D:]
        los = s_los[:, :D, None] + s_los[:, None, D:]
        far_los = np.flatnonzero(los < self._far_thr)
        if far_los.size:
            f_l = np.exp(s_sh * (k * F32(self.sigma_los)))
            bd, i = np.divmod(far_los, N)
            b = bd // D
            rx.reshape(-1)[far_los] = (self._far_los.reshape(-1)[far_los]
                                       * f_l[:, :D].reshape(-1)[bd]
                                       * f_l[:, D:].reshape(-1)[b * N + i])
        self.n_far_los = int(far_los.size)
        rx.reshape(-1)[self._near_flat] = self._near_exact(ap, dev, s_los, s_sh).ravel()
        return rx, self.near_ap

    def _near_exact(self, ap, dev, s_los, s_sh) -> np.ndarray:
        """The exact refresh's formulas on the near links only, [B, D, Kn] W."""
        tw = self.twin
        B, D = tw.B, tw.D
        ap_g = ap.reshape(-1, 2)[self._near_ap_flat].reshape(B, D, -1, 2)
        dx = dev[:, :, None, 0].astype(F32) - ap_g[..., 0].astype(F32)
        dy = dev[:, :, None, 1].astype(F32) - ap_g[..., 1].astype(F32)
        dx *= dx
        dy *= dy
        dx += dy
        d2d = np.sqrt(dx)
        d3d = np.sqrt(dx + F32(tw.height_diff ** 2)) if tw.height_diff else d2d

        def link(field, s):
            rho = np.exp(d2d * F32(-1.0 / field.corr_distance))
            rho += F32(1.0)
            rho *= F32(2.0)
            z = s[:, :D, None] + s[:, D:].reshape(-1)[self._near_ap_flat].reshape(B, D, -1)
            z /= np.sqrt(rho)
            return z

        los = link(tw.los_field, s_los) < tw._los_threshold(d2d)
        pl = inf.pathloss_db(d3d, tw.cfg.carrier_freq_ghz, tw.los_params.scenario, los)
        loss = pl + inf.shadow_std_db(tw.los_params.scenario, los).astype(F32) \
            * link(tw.shadow_field, s_sh)
        loss *= F32(-LN10_OVER_10)
        rx = np.exp(loss)
        rx *= F32(tw.tx_power_w)
        return rx
