"""Compiled per-interval kernels of the edge-offload twin (numba; model: docs/scenarios/edge-offload-model.md).

One step of B copies is two calls: `step_queues` (arrivals into the task tables, the Bianchi
share of every channel, the local / uplink / server FIFO recursions, deadlines, energies,
reward, per-user counters) and `next_interval` (block fading, SNR and MCS of every link, the
next interval's arrivals from their uniforms, the observation). Loops run over copies, users,
servers and queue slots in compiled code; every random number is drawn by the caller with
numpy's Generator (same seed, same episode) and passed in.

Task tables are packed FIFOs: a user row [6, B, U, Q] holds its n_occ tasks in slots 0..n_occ-1
in arrival order (local and uplink interleaved), a server row [7, B, E, Qs] its s_n tasks in
server-arrival order; a task that leaves is squeezed out at once (order kept), slots past the
count hold the empty row. A table that runs out of slots is grown here (returned).

Compiled with cache=True (to __pycache__ beside this file, or numba's user-wide cache): the
first call on a machine compiles (~10 s), later processes load the cache. Where no cache
location is writable, `_cached` warns and compiles in memory every process.
"""

from __future__ import annotations

import math
import warnings

import numba
import numpy as np

N_CLASSES = 3
HIST_BINS = 60
HIST_MIN_S = 1e-5
HIST_DECADES = 6  # 1e-5 .. 10 s

# 802.11ax EDCA best effort and PHY (model section 4).
SLOT_S = 9e-6
SIFS_S = 16e-6
AIFS_S = SIFS_S + 3 * SLOT_S
CW_MIN, CW_MAX = 15, 1023
PREAMBLE_S = 44e-6
SYMBOL_S = 13.6e-6
BLOCKACK_S = 32e-6
MAX_AMPDU_BITS = 65535 * 8
MAX_PPDU_S = 5.484e-3
# ns-3's datagrams: 1460 task bytes + 12 B task header in 1472 B of UDP payload; per MPDU in an
# A-MPDU 82 B of headers (MAC 26, FCS 4, delimiter 4, LLC 8, IPv4 20, UDP 8, task header 12).
DATAGRAM_BITS = 1460 * 8
MPDU_OVERHEAD_BITS = 82 * 8
SERVICE_TAIL_BITS = 22
BIG = 1e30  # service time of an uplink task whose user cannot send (finite: no inf - inf)

# Task-table rows. Users [6, B, U, Q]; servers [7, B, E, Qs]; float64.
ST, CL, TA, TD, WK, SV = range(6)  # stage (0 empty, 1 local, 2 uplink), class, arrival,
U_EMPTY = np.array([0.0, 0.0, 0.0, np.inf, 0.0, 0.0])  # deadline, work, target server
OC, SW, SA, STA, STD, SC, SU = range(7)  # occupied, cycles, arrival at the server, arrival,
S_EMPTY = np.array([0.0, 0.0, 0.0, 0.0, np.inf, 0.0, 0.0])  # deadline, class, user

# Scalars of `step_queues` (array `par`).
(P_T, P_KAPPA, P_IDLE_W, P_SRV_HZ, P_VOLT, P_I_TX, P_I_RX, P_W_SUCC, P_W_LAT, P_W_E,
 P_W_SPEC, P_W_FAIR, P_MAX_TASKS) = range(13)
N_PAR = 13
# Rows of the per-MCS table `mcs_tab` [4, 13] (column mcs + 1; 0 = below MCS 0).
M_RATE, M_NDBPS, M_RES, M_RES_RX = range(4)
# Rows of the per-class table `cls_tab` [4, 3].
C_BITS, C_CYCLES, C_DEADLINE, C_INV_DEADLINE = range(4)


_warned = []


def _cached(kind, *args, **kw):
    """numba decorator `kind` with cache=True; where no cache location is writable (numba
    raises RuntimeError when the decorator runs), warn (once) and compile in memory instead."""
    def wrap(fn):
        try:
            return kind(*args, cache=True, **kw)(fn)
        except RuntimeError as err:
            if not _warned:
                _warned.append(err)
                warnings.warn(f"edge-offload kernels: {err}; compiling without a cache (every "
                              "process pays the compile time, ~10 s)", RuntimeWarning,
                              stacklevel=2)
            return kind(*args, **kw)(fn)
    return wrap


@_cached(numba.njit, inline="always")
def _ppdu(bits, n_dbps):
    """HE SU PPDU duration (s) carrying `bits` of payload at `n_dbps` data bits per symbol."""
    n_mpdu = math.ceil(bits / DATAGRAM_BITS)
    air = SERVICE_TAIL_BITS + bits + MPDU_OVERHEAD_BITS * n_mpdu
    return PREAMBLE_S + math.ceil(air / max(n_dbps, 1.0)) * SYMBOL_S


@_cached(numba.vectorize, ["float64(float64, float64)"])
def ppdu_s(bits, n_dbps):
    """`_ppdu` as a ufunc."""
    return _ppdu(bits, n_dbps)


@_cached(numba.vectorize, ["int64(float64)"])
def hist_bin(latency_s):
    """Latency histogram bin: floor(H log10(x / 1e-5) / 6), clamped to [0, H - 1] (a ufunc)."""
    x = max(latency_s, 1e-300)
    b = math.floor(HIST_BINS * math.log10(x / HIST_MIN_S) / HIST_DECADES)
    return int(min(max(b, 0.0), HIST_BINS - 1.0))


@_cached(numba.njit)
def _grow(tab, q_new, empty):
    """`tab` [R, B, X, Q] copied into a table with q_new >= Q slots (the new ones empty)."""
    R, B, X, Q = tab.shape
    out = np.empty((R, B, X, q_new))
    for r in range(R):
        for b in range(B):
            for x in range(X):
                for q in range(Q):
                    out[r, b, x, q] = tab[r, b, x, q]
                for q in range(Q, q_new):
                    out[r, b, x, q] = empty[r]
    return out


@_cached(numba.njit)
def step_queues(t0, t1, act, arr_new, arr_time, ut, n_occ, n_at_srv, stab, s_n, mcs1,
                waiting_old, done_run, late_run, cls_tab, f_hz, mcs_tab, chan_tab, high, par,
                created, done, late, waiting, lat_sum, lat_max, hist, bits_done, e_cpu,
                e_radio, offloaded, sent_out, ch_busy, backlog, reward):
    """One interval [t0, t1) of every copy (twin.py's docstring, steps 1-5). Updates the tables
    (ut, stab), their counts (n_occ, n_at_srv, s_n) and done_run / late_run in place, fills the
    outputs (created .. reward) and returns (True, tables) (grown ones are new arrays); an
    action outside [0, high) returns (False, ...) before anything changes.
    chan_tab [3, U + 1]: per number n of contending users, Bianchi's idle probability
    (1 - tau)^n, P_tr P_s = n tau (1 - tau)^(n - 1) and the collision probability p."""
    B, U = act.shape[0], act.shape[1]
    E, K = s_n.shape[1], ch_busy.shape[1]
    for b in range(B):
        for u in range(U):
            for j in range(3):
                if act[b, u, j] < 0 or act[b, u, j] >= high[j]:
                    return False, ut, stab
    T = par[P_T]
    srv_hz = par[P_SRV_HZ]
    inv_srv_hz = 1.0 / srv_hz
    max_tasks = int(par[P_MAX_TASKS])
    rate_by, ndbps_by = mcs_tab[M_RATE], mcs_tab[M_NDBPS]
    res_by, res_rx_by = mcs_tab[M_RES], mcs_tab[M_RES_RX]
    u_empty, s_empty = U_EMPTY, S_EMPTY
    inf = np.inf
    # per-copy scratch
    L = np.zeros(U)
    ppdu = np.zeros(U)
    s_up = np.zeros(U)
    inv_up = np.zeros(U)
    active = np.zeros(U, np.bool_)
    res_rx = np.zeros(U)
    n_k = np.zeros(K)
    sum_ts = np.zeros(K)
    max_ts = np.zeros(K)
    e_c = np.zeros(K)
    busy_frac = np.zeros(K)
    t_tx_u = np.zeros(U)
    t_ba_u = np.zeros(U)
    act_k = np.zeros(K)
    n_sat = np.zeros(K)  # users on k whose backlog exceeds one TXOP (they contend all interval)
    sum_ts_sat = np.zeros(K)
    max_ts_sat = np.zeros(K)
    l_max = np.zeros(U)  # bits one TXOP carries at the user's MCS
    ndbps_u = np.zeros(U)
    sat = np.zeros(U, np.bool_)
    wait_u = np.zeros(U)  # one-TXOP task: mean wait for the medium beyond AIFS (section 4)
    cnt_e = np.zeros(E, np.int64)
    order = np.zeros(N_CLASSES, np.int64)
    n_dep_max = U * ut.shape[3]
    dep_u = np.zeros(n_dep_max, np.int64)
    dep_f = np.zeros((5, n_dep_max))  # class, arrival, deadline, server, last-bit time
    for b in range(B):
        # 1. arrivals (time order within a user, ties by class) ---------------------------------
        for u in range(U):
            tgt = act[b, u, 0]
            n_new = 0
            for c in range(N_CLASSES):
                created[b, u, c] = 1 if arr_new[b, u, c] else 0
                done[b, u, c] = 0
                late[b, u, c] = 0
                lat_sum[b, u, c] = 0.0
                lat_max[b, u, c] = 0.0
                if arr_new[b, u, c]:
                    j = n_new  # insertion sort, stable
                    while j > 0 and arr_time[b, u, order[j - 1]] > arr_time[b, u, c]:
                        order[j] = order[j - 1]
                        j -= 1
                    order[j] = c
                    n_new += 1
            held = n_occ[b, u] + n_at_srv[b, u]
            n_acc = 0
            for r in range(n_new):
                c = order[r]
                if held + r >= max_tasks:  # rejected: late at once
                    late[b, u, c] += 1
                    continue
                q = n_occ[b, u]
                if q >= ut.shape[3]:
                    ut = _grow(ut, min(max(2 * ut.shape[3], q + 1), max_tasks), u_empty)
                    n_dep_max = U * ut.shape[3]
                    dep_u = np.zeros(n_dep_max, np.int64)
                    dep_f = np.zeros((5, n_dep_max))
                ta = arr_time[b, u, c]
                off = tgt > 0
                ut[ST, b, u, q] = 2.0 if off else 1.0
                ut[CL, b, u, q] = c
                ut[TA, b, u, q] = ta
                ut[TD, b, u, q] = ta + cls_tab[C_DEADLINE, c]
                ut[WK, b, u, q] = cls_tab[C_BITS, c] if off else cls_tab[C_CYCLES, c]
                ut[SV, b, u, q] = max(tgt - 1, 0)
                n_occ[b, u] = q + 1
                n_acc += 1
            offloaded[b, u] = n_acc if tgt > 0 else 0

        # 2. uplink share (Bianchi, section 4) ----------------------------------------------------
        for k in range(K):
            n_k[k] = 0.0
            sum_ts[k] = 0.0
            max_ts[k] = 0.0
            act_k[k] = 0.0
            n_sat[k] = 0.0
            sum_ts_sat[k] = 0.0
            max_ts_sat[k] = 0.0
        for u in range(U):
            backlog_u = 0.0
            head_srv = -1
            for q in range(n_occ[b, u]):
                if ut[ST, b, u, q] == 2.0:
                    backlog_u += ut[WK, b, u, q]
                    if head_srv < 0:
                        head_srv = int(ut[SV, b, u, q])
            m = mcs1[b, u, max(head_srv, 0)]
            rate = rate_by[m]
            active[u] = backlog_u > 0 and rate > 0
            sat[u] = False
            if active[u]:
                l_max[u] = min(MAX_AMPDU_BITS, rate * (MAX_PPDU_S - PREAMBLE_S))
                ndbps_u[u] = ndbps_by[m]
                l_u = max(min(backlog_u, l_max[u]), 1.0)
                p_u = _ppdu(l_u, ndbps_by[m])
                ts = p_u + (SIFS_S + BLOCKACK_S + AIFS_S)
                k = act[b, u, 1]
                n_k[k] += 1.0
                sum_ts[k] += ts
                max_ts[k] = max(max_ts[k], ts)
                if backlog_u > l_max[u]:
                    sat[u] = True
                    n_sat[k] += 1.0
                    sum_ts_sat[k] += ts
                    max_ts_sat[k] = max(max_ts_sat[k], ts)
                L[u] = l_u
                ppdu[u] = p_u
            else:
                L[u] = 0.0
                ppdu[u] = 0.0
        for k in range(K):
            n = n_k[k]
            idle = chan_tab[0, int(n)]
            p_tr = 1.0 - idle
            succ = chan_tab[1, int(n)]  # P_tr P_s
            ts_mean = sum_ts[k] / max(n, 1.0)
            slot_mean = idle * SLOT_S + succ * ts_mean + (p_tr - succ) * max_ts[k]
            e_c[k] = slot_mean / max(succ, 1e-300)  # channel time per success
            busy_frac[k] = (1.0 - idle * SLOT_S / slot_mean) if n > 0 else 0.0
        for u in range(U):
            if active[u]:
                k = act[b, u, 1]
                s_up[u] = L[u] / (max(n_k[k], 1.0) * e_c[k])
                inv_up[u] = 1.0 / max(s_up[u], 1e-300)
                # one-TXOP access (section 4): the m saturated others form Bianchi's channel;
                # busy at the arrival with its busy fraction, then the ongoing TXOP's residual
                # (half of it) and CWmin/2 of its slots; idle: immediate access after AIFS.
                ts_me = ppdu[u] + (SIFS_S + BLOCKACK_S + AIFS_S)
                m_o = n_sat[k] - (1.0 if sat[u] else 0.0)
                if m_o > 0.5:
                    mi = int(m_o)
                    ts_o = (sum_ts_sat[k] - (ts_me if sat[u] else 0.0)) / m_o
                    idle_o = chan_tab[0, mi]
                    succ_o = chan_tab[1, mi]
                    slot_o = (idle_o * SLOT_S + succ_o * ts_o
                              + (1.0 - idle_o - succ_o) * max_ts_sat[k])
                    busy_o = 1.0 - idle_o * SLOT_S / slot_o
                    wait_u[u] = busy_o * (0.5 * ts_o + 0.5 * CW_MIN * slot_o)
                else:
                    wait_u[u] = 0.0
            else:
                s_up[u] = 0.0
                inv_up[u] = BIG

        # 3. local CPU and uplink FIFOs (max-plus recursion D = max(D_prev, a) + x) ------------
        n_dep = 0
        for u in range(U):
            f = f_hz[act[b, u, 2]]
            inv_f = 1.0 / f
            d_loc = -inf
            d_up = -inf
            executed = 0.0
            sent = 0.0
            keep = 0
            nq = n_occ[b, u]
            for q in range(nq):
                st = ut[ST, b, u, q]
                w = ut[WK, b, u, q]
                ta = ut[TA, b, u, q]
                td = ut[TD, b, u, q]
                c = int(ut[CL, b, u, q])
                a = max(ta, t0)
                if st == 1.0:
                    x = w * inv_f
                    d_loc = max(d_loc, a) + x
                    D = d_loc
                elif active[u] and not sat[u] and d_up <= a:
                    # the user's whole backlog fits one TXOP and the task finds the buffer
                    # empty: the access delay instead of the fluid share (section 4)
                    x = _ppdu(w, ndbps_u[u]) + (SIFS_S + BLOCKACK_S + AIFS_S) + wait_u[u]
                    d_up = a + x
                    D = d_up
                else:
                    x = w * inv_up[u]
                    d_up = max(d_up, a) + x
                    D = d_up
                rem = min(max(D - t1, 0.0), x)
                w_new = w * (rem / max(x, 1e-300))
                fin = D <= t1
                due = td <= t1
                gone = False
                if st == 1.0:
                    executed += w - w_new
                    if fin and D <= td:
                        lat = D - ta
                        done[b, u, c] += 1
                        lat_sum[b, u, c] += lat
                        lat_max[b, u, c] = max(lat_max[b, u, c], lat)
                        hist[b, c, hist_bin(lat)] += 1
                        gone = True
                    elif due or fin:
                        late[b, u, c] += 1
                        gone = True
                else:
                    sent += w - w_new
                    if fin:  # last bit left: to the server (late or not)
                        dep_u[n_dep] = u
                        dep_f[0, n_dep] = c
                        dep_f[1, n_dep] = ta
                        dep_f[2, n_dep] = td
                        dep_f[3, n_dep] = ut[SV, b, u, q]
                        dep_f[4, n_dep] = D
                        n_dep += 1
                        gone = True
                    elif due:
                        late[b, u, c] += 1
                        gone = True
                if not gone:
                    if keep != q:
                        for r in range(6):
                            ut[r, b, u, keep] = ut[r, b, u, q]
                    ut[WK, b, u, keep] = w_new
                    keep += 1
            for q in range(keep, nq):
                for r in range(6):
                    ut[r, b, u, q] = u_empty[r]
            n_occ[b, u] = keep
            # CPU energy: kappa f^2 per cycle + idle power
            e_cpu[b, u] = par[P_KAPPA] * f * f * executed + par[P_IDLE_W] * (
                T - min(executed / f, T))
            sent_out[b, u] = sent

        # 4. servers: append the departures in last-bit order, then serve every FIFO ------------
        if n_dep:
            for e in range(E):
                cnt_e[e] = 0
            for i in range(n_dep):
                cnt_e[int(dep_f[3, i])] += 1
            need = 0
            for e in range(E):
                need = max(need, s_n[b, e] + cnt_e[e])
            if need > stab.shape[3]:
                stab = _grow(stab, max(need, 2 * stab.shape[3]), s_empty)
            idx = np.argsort(dep_f[4, :n_dep], kind="mergesort")  # ties: user, then slot
            for i in idx:
                e = int(dep_f[3, i])
                q = s_n[b, e]
                c = int(dep_f[0, i])
                stab[OC, b, e, q] = 1.0
                stab[SW, b, e, q] = cls_tab[C_CYCLES, c]
                stab[SA, b, e, q] = dep_f[4, i]
                stab[STA, b, e, q] = dep_f[1, i]
                stab[STD, b, e, q] = dep_f[2, i]
                stab[SC, b, e, q] = c
                stab[SU, b, e, q] = dep_u[i]
                s_n[b, e] = q + 1
                n_at_srv[b, dep_u[i]] += 1
        for u in range(U):
            res_rx[u] = 0.0
        for e in range(E):
            d = -inf
            keep = 0
            left = 0.0
            nq = s_n[b, e]
            for q in range(nq):
                x = stab[SW, b, e, q] * inv_srv_hz
                D = max(d, max(stab[SA, b, e, q], t0)) + x
                d = D
                sw_new = min(max(D - t1, 0.0), x) * srv_hz
                fin = D <= t1
                u = int(stab[SU, b, e, q])
                c = int(stab[SC, b, e, q])
                m = mcs1[b, u, e]
                t_res = D + res_by[m]  # result back at the user
                std = stab[STD, b, e, q]
                gone = False
                if fin and t_res <= std:
                    lat = t_res - stab[STA, b, e, q]
                    done[b, u, c] += 1
                    lat_sum[b, u, c] += lat
                    lat_max[b, u, c] = max(lat_max[b, u, c], lat)
                    hist[b, c, hist_bin(lat)] += 1
                    gone = True
                elif std <= t1 or fin:
                    late[b, u, c] += 1
                    gone = True
                if fin:
                    res_rx[u] += res_rx_by[m]
                if gone:
                    n_at_srv[b, u] -= 1
                else:
                    if keep != q:
                        for r in range(7):
                            stab[r, b, e, keep] = stab[r, b, e, q]
                    stab[SW, b, e, keep] = sw_new
                    left += sw_new
                    keep += 1
            for q in range(keep, nq):
                for r in range(7):
                    stab[r, b, e, q] = s_empty[r]
            s_n[b, e] = keep
            backlog[b, e] = left * inv_srv_hz

        # 5. radio energy, counters, reward ---------------------------------------------------------
        # The channel's busy time first: every user's radio sits on its chosen channel for the
        # whole interval and receives every PPDU sent there (as ns-3's PHY does: it decodes
        # any frame above its sensitivity before the MAC filters by address), backlogged or not.
        for u in range(U):
            k = act[b, u, 1]
            if active[u]:
                n_succ = sent_out[b, u] / max(L[u], 1.0)  # TXOPs
                t_tx_u[u] = n_succ / (1.0 - chan_tab[2, int(n_k[k])]) * ppdu[u]
                t_active = sent_out[b, u] * (1.0 / max(s_up[u], 1e-300))
                t_ba_u[u] = n_succ * BLOCKACK_S
                act_k[k] = max(act_k[k], t_active)
            else:
                t_tx_u[u] = 0.0
                t_ba_u[u] = 0.0
        for k in range(K):
            ch_busy[b, k] = min(busy_frac[k] * act_k[k] * (1.0 / T), 1.0)
        for u in range(U):
            k = act[b, u, 1]
            t_tx = t_tx_u[u]
            t_rx = t_ba_u[u] + max(ch_busy[b, k] * T - t_tx - t_ba_u[u], 0.0) + res_rx[u]
            e_radio[b, u] = par[P_VOLT] * (par[P_I_TX] * t_tx + par[P_I_RX] * t_rx)
            nd = 0
            nl = 0
            bits = 0.0
            lat_w = 0.0
            for c in range(N_CLASSES):
                late_c = late[b, u, c]
                waiting[b, u, c] = waiting_old[b, u, c] + created[b, u, c] - done[b, u, c] - late_c
                nd += done[b, u, c]
                nl += late_c
                bits += done[b, u, c] * cls_tab[C_BITS, c]
                lat_w += lat_sum[b, u, c] * cls_tab[C_INV_DEADLINE, c]
            bits_done[b, u] = bits
            done_run[b, u] += nd
            late_run[b, u] += nl
            reward[b, u] = (par[P_W_SUCC] * (nd - nl) - par[P_W_LAT] * lat_w
                            - par[P_W_E] * (e_cpu[b, u] + e_radio[b, u])
                            + par[P_W_SPEC] * sent_out[b, u])
        if par[P_W_FAIR] != 0.0:  # Jain's index over the users' success ratios
            s1 = 0.0
            s2 = 0.0
            for u in range(U):
                fin_u = done_run[b, u] + late_run[b, u]
                r_u = done_run[b, u] / max(fin_u, 1.0) if fin_u > 0 else 1.0
                s1 += r_u
                s2 += r_u * r_u
            jain = s1 * s1 / (U * s2) if s2 > 0 else 1.0
            for u in range(U):
                reward[b, u] -= par[P_W_FAIR] * (1.0 - jain)
    return True, ut, stab


@_cached(numba.njit)
def next_interval(h, u_fade, rho, innov, gain, use_h, snr_scale, snr_thr, snr_db, mcs1,
                  u_arr, p_c, t_per_p, t0, arr_new, arr_time,
                  ut, n_occ, energy_last, level_last, level_scale, busy, broadcast, obs):
    """The next interval's channel, arrivals and observation (twin.py steps 6-7):
    AR(1) block fading h <- rho h + innov w, w = CN(0, 1) in polar form from the uniforms
    u_fade [2, B, U, E] (|w|^2 = -ln(1 - u1), phase 2 pi u2); SNR = gain |h|^2 P / N (|h|^2 = 1
    unless use_h) and mcs1 = number of MCS thresholds it meets; arrivals from u_arr [B, U, 3]
    (a task iff u < p_c, at t0 + u T / p_c); the observation [B, U, W] (model section 5)."""
    B, U, E = gain.shape
    K = busy.shape[1]
    n = B * U * E
    rho32 = np.float32(rho)
    innov32 = np.float32(innov)
    two_pi32 = np.float32(2.0 * np.pi)
    n_thr = snr_thr.size
    # Three flat passes (fading, links, then per user): split, each loop is ~2x faster.
    h2 = h.reshape((2, n))
    uf = u_fade.reshape((2, n))
    for i in range(n):  # float32 throughout, like the former numpy float32 path
        r = math.sqrt(-math.log1p(-uf[0, i])) * innov32
        theta = uf[1, i] * two_pi32
        h2[0, i] = h2[0, i] * rho32 + r * math.cos(theta)
        h2[1, i] = h2[1, i] * rho32 + r * math.sin(theta)
    g1 = gain.reshape(n)
    snr1 = snr_db.reshape(n)
    mcs_1 = mcs1.reshape(n)
    for i in range(n):
        h0 = h2[0, i]
        h1 = h2[1, i]
        lin = (g1[i] * np.float64(h0 * h0 + h1 * h1) if use_h else g1[i]) * snr_scale
        s = 10.0 * math.log10(lin) if lin > 0 else -np.inf
        snr1[i] = s
        m = 0
        for j in range(n_thr):  # thresholds are increasing: the count is searchsorted's
            m += snr_thr[j] <= s
        mcs_1[i] = m
    for b in range(B):
        for u in range(U):
            for c in range(N_CLASSES):
                x = u_arr[b, u, c]
                arr_new[b, u, c] = x < p_c[c]
                arr_time[b, u, c] = t0 + x * t_per_p[c] if x < p_c[c] else np.inf
            # observation
            n_loc = 0
            n_up = 0
            w_loc = 0.0
            w_up = 0.0
            hol = np.inf
            hol_c = -1
            for q in range(n_occ[b, u]):
                if ut[ST, b, u, q] == 1.0:
                    n_loc += 1
                    w_loc += ut[WK, b, u, q]
                else:
                    n_up += 1
                    w_up += ut[WK, b, u, q]
                if ut[TD, b, u, q] < hol:
                    hol = ut[TD, b, u, q]
                    hol_c = int(ut[CL, b, u, q])
            o = obs[b, u]
            o[0] = n_loc
            o[1] = w_loc * 1e-9
            o[2] = n_up
            o[3] = w_up * 1e-6
            o[4] = energy_last[b, u] * 1e3
            o[5] = level_last[b, u] * level_scale
            for k in range(K):
                o[6 + k] = busy[b, k]
            for c in range(N_CLASSES):
                o[6 + K + c] = 1.0 if hol_c == c else 0.0
            o[9 + K] = min(max(hol - t0, 0.0), 10.0) if hol_c >= 0 else 0.0
            for e in range(E):
                o[10 + K + e] = broadcast[b, e]
                o[10 + K + E + e] = min(max(snr_db[b, u, e], -50.0), 100.0)
