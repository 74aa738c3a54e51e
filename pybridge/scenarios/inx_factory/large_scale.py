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
import os

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import ndtri

from pybridge import _twin_kernels
from pybridge.channel import inf

F32 = np.float32
FAR_TABLE_STEP = 0.01  # m, grid of the far links' distance terms
LN10_OVER_10 = math.log(10.0) / 10.0


# Threads of the fused N^2 passes (pybridge/native/twin_kernels.cc); at N = 5000 they are
# memory-bound, so more than a few add nothing.
THREADS = max(1, min(4, len(os.sched_getaffinity(0))))
KD_THREADS_MIN_LINKS = 4_000_000


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
    k = cfg.los_params.k_subsce()
    dp = 0.0 if scen == "HH" else float(math.exp(-r / k) * dd / k)
    return {"near_radius_m": r, "movement_m": dd,
            "pathloss_db": max(slopes) * math.log10(1.0 + dd / r),
            "shadow_scale": math.sqrt(1.0 + rho_sh) - 1.0,
            "los_scale": math.sqrt(1.0 + math.exp(-r / cfg.resolved_los_corr_distance)) - 1.0,
            "p_los": dp}


class NeighbourRefresh:
    """The large-scale refresh and the faded-link bookkeeping of an `InxFactoryTwin` in
    neighbour mode (module docstring). `refresh()` sets on the twin what its measure step
    reads: `rx_own` [B, D], `h_faded` [2, B, D, L + 1] (own link first), `_nb_rx` [B, D, L],
    `_nb_ap_flat`, and `_rx_rest_t` [B, N, D] (AP-major mean power of the links that are not
    faded, own links 0).

    Everything per link lives AP-major ([B, N, D]: AP i's row holds its power at every
    device) so that a channel switch of AP i reads one contiguous row. Fading state is kept
    for near links only (the faded set is chosen among them): a link entering the near set at
    a rebuild starts from the stationary CN(0, 1) law, which is its exact law once it has been
    away for at least one rebuild interval (correlation rho^(10 x 4) = 3e-22 at the default
    3 m/s, 5 ms; a link that leaves and re-enters within one interval keeps its state).
    When the near set is exactly the L + 1 nearest, every near interferer is faded and the
    faded set only changes at a rebuild (`_all_near_faded`)."""

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
        self._tables: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._buffers: dict[str, np.ndarray] = {}
        self.reset()

    def reset(self) -> None:
        """A new episode (new positions, fields and fading): rebuild on the next refresh."""
        self._age = self.interval
        self._ids: np.ndarray | None = None  # link ids of the near set, for carrying state
        self._faded_local: np.ndarray | None = None
        self._all_near_faded = False

    # ------------------------------------------------------------------------------ tables
    def _far_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P_tx 10^(-PL/10) for LOS and NLOS and sqrt(2) Phi^-1(P_LOS) on a FAR_TABLE_STEP
        grid of d_2D, nearest entry. At d >= R = 50 m a 1 cm step moves the path loss by
        < 0.004 dB and P_LOS by < 0.01 m / k_subsce (2e-4); small tables stay in cache."""
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

    def _buffer(self, name: str, dtype) -> np.ndarray:
        """A persistent [B, N, D] work array. At N = 5000 each is 100 MB: beyond glibc's mmap
        threshold, so a fresh array per call would be a fresh mapping, page-faulted in on first
        touch (~25 ms each)."""
        tw = self.twin
        buf = self._buffers.get(name)
        if buf is None:
            buf = self._buffers[name] = np.empty((tw.B, tw.N, tw.D), dtype=dtype)
        return buf

    # ----------------------------------------------------------------------------- rebuild
    def _near_sets(self, ap: np.ndarray, dev: np.ndarray) -> np.ndarray:
        """[B, D, Kn] AP indices: every AP within radius + margin of the device, at least the
        L + 1 nearest, and always its own AP (k-d tree per copy: O(D Kn log N))."""
        tw = self.twin
        B, D, N = tw.B, tw.D, tw.N
        trees = [cKDTree(ap[b]) for b in range(B)]
        # The tree's own threads start per call (~1 ms each): worth it only for big queries.
        workers = THREADS if D * N >= KD_THREADS_MIN_LINKS else 1
        reach = self.radius + self.margin
        count = max(int(t.query_ball_point(dev[b], reach, return_length=True,
                                           workers=workers).max())
                    for b, t in enumerate(trees))
        # One column more than the fullest ball: the farthest column is outside the reach and
        # can make room for an own AP that is not among the nearest.
        kn = min(N, max(count + 1, tw.n_faded + 1))
        near = np.stack([t.query(dev[b], k=kn, workers=workers)[1]
                         for b, t in enumerate(trees)]).reshape(B, D, kn)
        # The query lists by distance: the last column is the farthest.
        missing = ~(near == tw.owner[None, :, None]).any(axis=-1)
        if missing.any():
            near[..., -1] = np.where(missing, tw.owner[None, :], near[..., -1])
        # Sorted by AP index: link ids then come out globally sorted (carrying state is a
        # merge, not a sort).
        return np.sort(near, axis=-1).astype(np.intp)

    def _rebuild(self, ap: np.ndarray, dev: np.ndarray) -> None:
        """The near sets, the far links' cached distance terms, and the fading state carried
        from the old near set to the new one."""
        tw = self.twin
        B, D, N = tw.B, tw.D, tw.N
        near = self._near_sets(ap, dev)
        kn = near.shape[-1]
        bd = np.arange(B * D).reshape(B, D, 1)
        self.near_ap = near
        self._own_col = np.argmax(near == tw.owner[None, :, None], axis=-1)  # [B, D]
        b_of = np.arange(B).reshape(B, 1, 1)
        self._near_ap_flat = (near + b_of * N).ravel()
        d_of = np.arange(D).reshape(1, D, 1)
        self._near_t_flat = ((b_of * N + near) * D + d_of).ravel()  # in [B, N, D]
        # Far terms, AP-major, from the 1 cm tables; near and own entries get 0 gain and a
        # threshold nothing passes, so the far pass leaves them 0 for the exact values.
        g_los, g_nlos, thr_table = self._far_tables()
        far_los, far_nlos = self._buffer("far_los", F32), self._buffer("far_nlos", F32)
        thr = self._buffer("far_thr", F32)  # compare S(a) + S(b) with sqrt(2) Phi^-1(P_LOS)
        _twin_kernels.far_terms(np.ascontiguousarray(ap, dtype=np.float64),
                                np.ascontiguousarray(dev, dtype=np.float64), g_los, g_nlos,
                                thr_table, FAR_TABLE_STEP, far_los, far_nlos, thr, THREADS)
        for arr in (far_los, far_nlos):
            arr.reshape(-1)[self._near_t_flat] = 0.0
        thr.reshape(-1)[self._near_t_flat] = -np.inf
        self._far_los, self._far_nlos, self._far_thr = far_los, far_nlos, thr
        # Fading state per near link: carried over where the link stays near, else stationary.
        ids = ((bd * N) + near).ravel()  # link id (b D + d) N + i: unique and sorted
        h = np.empty((2, ids.size), dtype=F32)
        last = np.full(ids.size, tw.t, dtype=np.int32)
        keep = np.zeros(ids.size, dtype=bool)
        if self._ids is not None:
            pos = np.minimum(np.searchsorted(self._ids, ids), self._ids.size - 1)
            keep = self._ids[pos] == ids
            src = pos[keep]
            h[:, keep] = self._h_near[:, src]
            last[keep] = self._last_near[src]
        fresh = ~keep
        h[:, fresh] = tw._complex_gaussian((2, int(fresh.sum())), F32(1.0))
        self._ids, self._h_near, self._last_near = ids, h, last
        self._kn = kn
        # Kn = L + 1 (the L + 1 nearest are the near set: N = 1000 at the defaults): every near
        # link but the own one is faded, so the faded set is fixed until the next rebuild.
        self._all_near_faded = kn == tw.n_faded + 1
        if self._all_near_faded:  # [B, D, L]: every column but the own one, in order
            cols = np.arange(kn - 1)
            self._faded_cols = cols + (cols >= self._own_col[..., None])
        self._age = 0

    # ----------------------------------------------------------------------------- refresh
    def refresh(self) -> None:
        tw = self.twin
        D = tw.D
        rebuild = self._age >= self.interval
        # The faded links' state back into the near set, where it is read again: always, except
        # when the faded set is the whole near set (it then stays in h_faded until a rebuild).
        if self._faded_local is not None and (rebuild or not self._all_near_faded):
            out = tw.h_faded.reshape(2, -1)
            self._h_near[0][self._faded_local] = out[0]  # 1-D rows: numpy's fast path
            self._h_near[1][self._faded_local] = out[1]
            self._last_near[self._faded_local] = tw.t
        ap, dev = tw.positions()
        if rebuild:
            self._rebuild(ap, dev)
        self._age += 1
        both = np.concatenate([dev, ap], axis=1)
        s_los = tw.los_field(both).astype(F32)  # [B, D + N]
        s_sh = tw.shadow_field(both).astype(F32)
        # Far links: P_tx G_X(d) f_X(ap) f_X(dev), AP-major.
        k = F32(-LN10_OVER_10 / math.sqrt(2.0))
        f_n = np.exp(s_sh * (k * F32(self.sigma_nlos)))
        f_l = np.exp(s_sh * (k * F32(self.sigma_los)))
        rx = self._buffer("rx", F32)
        _twin_kernels.far_pass(
            self._far_los, self._far_nlos, self._far_thr, np.ascontiguousarray(f_n[:, D:]),
            np.ascontiguousarray(f_n[:, :D]), np.ascontiguousarray(f_l[:, D:]),
            np.ascontiguousarray(f_l[:, :D]), np.ascontiguousarray(s_los[:, D:]),
            np.ascontiguousarray(s_los[:, :D]), rx, THREADS)
        near = self._near_exact(ap, dev, s_los, s_sh)  # [B, D, Kn]
        own = np.take_along_axis(near, self._own_col[..., None], axis=-1)[..., 0]
        tw.rx_own = own.copy()
        np.put_along_axis(near, self._own_col[..., None], 0.0, axis=-1)
        self.near_rx = near  # mean interference of the near links, own 0
        if self._all_near_faded and not rebuild:
            # The same faded set as at the last refresh: their fading state is where it was,
            # and the far pass already left every near link 0 in the rest.
            tw._nb_rx = np.take_along_axis(near, self._faded_cols, axis=-1)
        else:
            self._select_faded(rx, near)
        tw._rx_rest_t = rx

    def _select_faded(self, rx: np.ndarray, near: np.ndarray) -> None:
        """Own link + the L strongest near interferers get fading; their mean power leaves
        the rest (`rx`, AP-major) and goes to `_nb_rx`."""
        tw = self.twin
        B, D, N, L = tw.B, tw.D, tw.N, tw.n_faded
        kn = self._kn
        if self._all_near_faded:
            loc = self._faded_cols
        else:
            loc = np.argpartition(-near, L - 1, axis=-1)[..., :L]  # own has 0: never chosen
        cols = np.concatenate([self._own_col[..., None], loc], axis=-1)  # [B, D, L + 1]
        local = (np.arange(B * D).reshape(B, D, 1) * kn + cols).ravel()
        gap = tw.t - self._last_near[local]
        h = np.stack([self._h_near[0].take(local), self._h_near[1].take(local)])
        # Links faded in the last period are up to date (gap 0); only the others catch up.
        late = np.flatnonzero(gap)
        if late.size:
            g = gap[late]
            h[:, late] = (h[:, late] * tw._rho_pow[g]
                          + tw._complex_gaussian((2, late.size), tw._innov_pow[g]))
        tw.h_faded = h.reshape(2, B, D, L + 1)
        self._faded_local = local
        tw._nb_rx = np.take_along_axis(near, loc, axis=-1)
        nb = np.take_along_axis(self.near_ap, loc, axis=-1)
        tw._nb_ap_flat = (nb + (np.arange(B) * N)[:, None, None]).ravel()
        self.faded_ap = nb
        # Rest = every link but the faded ones and the own link (near values in first).
        rx.reshape(-1)[self._near_t_flat] = near.ravel()
        b_of, d_of = np.arange(B).reshape(B, 1, 1), np.arange(D).reshape(1, D, 1)
        rx.reshape(-1)[((b_of * N + nb) * D + d_of).ravel()] = 0.0

    def link_interference(self) -> np.ndarray:
        """[B, D, N] mean interference power of every link (own 0), rebuilt from the rest and
        the faded links' means (for `coupling()` and tests; not on the stepping path)."""
        tw = self.twin
        out = np.ascontiguousarray(tw._rx_rest_t.transpose(0, 2, 1))
        np.put_along_axis(out, self.faded_ap, tw._nb_rx, axis=-1)
        return out

    def _near_exact(self, ap, dev, s_los, s_sh) -> np.ndarray:
        """The exact refresh's formulas (`InxFactoryTwin.mean_power`, the fields' pair values)
        on the near links only, [B, D, Kn] W."""
        tw = self.twin
        B, D = tw.B, tw.D
        # x and y gathered as 1-D arrays: numpy's take of [N, 2] rows is ~5x slower.
        ap32 = ap.astype(F32)
        ax, ay = (np.ascontiguousarray(ap32[..., c]).reshape(-1).take(self._near_ap_flat)
                  .reshape(B, D, -1) for c in (0, 1))
        dx = dev[:, :, None, 0].astype(F32) - ax
        dy = dev[:, :, None, 1].astype(F32) - ay
        dx *= dx
        dy *= dy
        dx += dy
        d2d = np.sqrt(dx)
        d3d = np.sqrt(dx + F32(tw.height_diff ** 2)) if tw.height_diff else d2d

        def z(field, s):  # the near links' field values: device end, gathered AP end
            ends = s[:, D:].reshape(-1)[self._near_ap_flat].reshape(B, D, -1)
            return field.pair_values(s[:, :D, None], ends, d2d)

        los = z(tw.los_field, s_los) < tw._los_threshold(d2d)
        return tw.mean_power(d3d, los, z(tw.shadow_field, s_sh), pl_dtype=F32)[0]
