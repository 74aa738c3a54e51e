"""Twin of the edge-offload scenario (issue 11; model: docs/scenarios/edge-offload-model.md).

B independent copies x U users, stepped together. The per-interval work (steps 1-5 and the
fading / link / arrival / observation part of 6) runs in two compiled numba kernels
(kernels.py) that loop over copies, users, servers and queue slots; Python draws the random
numbers (numpy Generator, one stream per core: same seed, same episode), moves the users and
refreshes the large-scale gains (numpy, every LARGE_SCALE_EVERY intervals), and allocates the
step's fresh output arrays. No Python loop over users, tasks or links.

Per interval [t0, t1 = t0 + T) every copy:
1. takes this interval's arrivals (drawn at the end of the previous step, so that the central
   heuristic, which may read the whole core, sees them: `pending_arrivals()`): per user and
   class one task with probability rate_c T at t0 + U(0, T); the user's action `target` sends
   every one of them to its local queue or its uplink buffer (server target - 1); an arrival
   that would make the user hold more than `max_tasks` tasks is rejected = late at once;
2. serves the local CPU queue (FIFO, speed cpu_levels[f]) and the uplink buffer (FIFO of whole
   tasks, fluid at the user's contention share, section 4; a task of a user whose backlog fits
   one TXOP and that finds the buffer empty takes the one-TXOP access delay instead, see
   "One-TXOP access" below) with the max-plus recursion of a
   work-conserving FIFO single server: D_k = S_k + cummax_j (a_j - S_{j-1}), S = cumsum of the
   service times, a_j = max(availability, t0); what is left of task k at t1 is
   w_k clip(D_k - t1, 0, x_k) / x_k (x_k its service time);
3. appends the tasks whose last uplink bit left in the interval to their server's FIFO (in the
   order of their arrival there, across users; exact ties by user, then FIFO position) and serves every server queue the same way;
   a server completion at D returns its result at D + t_res(u, e) (one downlink PPDU of
   result_bits at the link's MCS + AIFS + CWmin/2 slots);
4. accounts: done = result back (local: completion) at or before the deadline; late = a task
   whose deadline falls in the interval (deadline <= t1) and is not done, or one completed after
   its deadline; late tasks are removed at t1 (they are served until t1, like every task);
5. energy (CPU kappa f^2 per cycle + idle power, radio V (I_tx t_tx + I_rx t_rx)), reward;
6. moves the users, advances the block fading (once per interval) and builds the observation of
   the next interval.

Implementer's calls (the model (docs/scenarios/edge-offload-model.md) leaves them open; ns-3 follows the same where it can):
- Task tables: packed FIFOs, one float array per queue kind: users [6, B, U, Q] (the tasks not
  yet at a server, in arrival order, so local and uplink FIFO order is slot order: the n_occ
  tasks of a row lie in slots 0..n_occ-1), servers [7, B, E, Qs] (in server-arrival order). A
  task that finishes, departs or is late is squeezed out at the end of the interval (order
  kept); a table is grown (doubled) only when a row runs out of slots (Q <= max_tasks).
- The FIFO recursion is the max-plus one of a work-conserving single server, per queue, slot
  by slot: D_k = max(D_{k-1}, a_k) + x_k (equal to the cumsum / cummax form above).
- Arrivals: one uniform u per user, class and interval: a task iff u < p_c, arriving at
  t0 + (u / p_c) T (given u < p_c, u / p_c is uniform and independent of the draw).
- A task's done/late verdict is counted in the interval in which its server (or local CPU)
  completes it, even when its result lands just after t1 (<= one result PPDU, ~0.1 ms later);
  its latency is the exact result time - arrival.
- A late task is still served until the end of the interval in which its deadline falls; an
  uplink task whose last bit leaves in that interval still reaches its server in it.
- Uplink PHY rate of a user for a whole interval: the MCS of its head-of-line uplink task's AP
  (mixed targets in one buffer are rare: targets only apply to new arrivals). A user whose SNR is
  below the MCS 0 threshold cannot send (rate 0) and is not counted in n_k. Results always use at
  least MCS 0.
- TXOP: L = min(backlog, 65535 B, the bits MCS r carries in the 5.484 ms HE PPDU limit);
  PPDU(L, r) = 44 us HE-SU preamble + ceil((22 + L + 560 n_mpdu) / N_DBPS) 13.6 us symbols,
  n_mpdu = ceil(L / (1460 * 8)) (82 B of task header/UDP/IP/LLC/MAC/FCS/delimiter per datagram
  of 1460 task bytes, as ns-3 sends them);
  BlockAck 32 us (compressed BA at 24 Mbit/s legacy); T_c = max T_s over the channel's users.
- One-TXOP access (model section 4): a user whose whole uplink backlog in the interval (after
  its arrivals) fits one TXOP (<= L_max) is not saturated; an uplink task of such a user that
  finds its buffer empty (D_prev <= a) is served in one TXOP, x = T_s(w) + W_k,u, with
  T_s(w) = AIFS + PPDU(w) + SIFS + BlockAck and W_k,u the mean wait for the medium: 0 when no
  saturated user (backlog > L_max) shares channel k (802.11's basic access: a frame queued on
  a medium idle for AIFS with no backoff pending goes at once, IEEE 802.11-2016 10.3.4.2, ns-3's
  ChannelAccessManager::NeedBackoffUponAccess); with m >= 1 saturated others, Bianchi's (2000)
  channel of those m: W = beta_m (T_s,m / 2 + (CWmin / 2) sigma_m), beta_m its busy fraction
  (the chance the arrival finds a TXOP on the air), T_s,m their mean T_s (half of it is the
  mean residual of a fixed-length TXOP) and sigma_m their mean Bianchi slot (the tagged
  station's CWmin/2 backoff slots, each stretched by the others' TXOPs). Approximate: other
  non-saturated users are no contenders (their single TXOPs rarely meet), the tagged station's
  collisions and CW doubling, and the others' backoff racing the AIFS on an idle medium, are
  ignored; busy time and radio energy still use the fluid share. A task queued behind another
  (D_prev > a) or of a saturated user is aggregated with it: fluid share, as before.
- Channel busy fraction: Bianchi's busy fraction of channel k while its users contend, times
  max over its users of (time with uplink backlog) / T.
- Radio energy: t_tx = own PPDU time of every attempt (successes / (1 - p)); t_rx = BlockAcks +
  (the chosen channel's busy time - t_tx - BlockAcks) + result PPDUs received: the radio sits on
  its channel all interval and receives every PPDU sent there, backlogged or not (ns-3's PHY
  decodes every frame above its sensitivity before the MAC filters by address; counting only
  the user's own backlogged time made the twin's radio energy 5-8x below ns-3's).
- Mobility and large-scale gains (path loss, LOS, shadowing) are refreshed every
  LARGE_SCALE_EVERY = 10 intervals (15 cm at 1.5 m/s, 1.5 % of the 10 m decorrelation
  distance); fading every interval. mobility="alleys": the users are the robots of
  pybridge/twin/mobility.py's AlleyMobility on one 180 m x 80 m tile (its placement at reset,
  its step of LARGE_SCALE_EVERY T with the traffic rules, d_min = 1 m), drawing from the core's
  stream instead of the random-waypoint draws. LOS correlation distance: d_clutter / 2 (38.901 Table
  7.6.3.1-2).
- MCS SNR thresholds: MCS_SNR_DB below, those of ns-3's IdealWifiManager (one table, checked
  against the binary's contract constants).
- estimated_completion(): for a task of the head-of-line task's class (URLLC when the user holds
  none) arriving now, from the agent's own observation only (see the function's docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri

from pybridge.channel import inf
from pybridge.channel.fields import ExponentialField
from pybridge.scenarios.edge_offload import kernels as kn
from pybridge.scenarios.edge_offload.config import ALLEY_MIN_SEPARATION, EdgeOffloadConfig
from pybridge.scenarios.edge_offload.kernels import (
    AIFS_S,
    CW_MAX,
    CW_MIN,
    HIST_BINS,
    HIST_DECADES,
    HIST_MIN_S,
    N_CLASSES,
    SLOT_S,
    SYMBOL_S,
    hist_bin,  # noqa: F401 (public here too)
    ppdu_s,
)
from pybridge.twin.mobility import AlleyMobility, build_layout

F64 = np.float64
LARGE_SCALE_EVERY = 10
# HE SU, 20 MHz, 1 SS: data bits per 13.6 us symbol (234 data subcarriers x bits x code rate).
N_DBPS = np.array([117, 234, 351, 468, 702, 936, 1053, 1170, 1404, 1560, 1755, 1950], F64)
MCS_RATE_BPS = N_DBPS / SYMBOL_S  # 8.6 .. 143.4 Mbit/s
# The SNR at which ns-3's TableBasedErrorRateModel gives a BER of 1e-6 for each HE MCS (20 MHz,
# 1 SS, GI 800 ns): what IdealWifiManager::DoInitialize computes (its BerThreshold default), so
# twin and ns-3 pick the same MCS for the same SNR. Measured from ns-3 3.44 by the scenario's C++
# test (ns3-scenarios/edge-offload/README-edge-offload.md; the binary's contract constant
# mcs_snr_threshold_db, checked equal by tests/ns3/test_edge_offload_ns3.py).
MCS_SNR_DB = np.array([1.465, 4.475, 6.985, 10.375, 13.465, 17.865, 19.125, 20.775, 24.525,
                       25.905, 33.277, 35.186])
RESULT_EXTRA_S = AIFS_S + (CW_MIN / 2.0) * SLOT_S


def bianchi(n_max: int, cw_min: int = CW_MIN, cw_max: int = CW_MAX
            ) -> tuple[np.ndarray, np.ndarray]:
    """Bianchi's fixed point for n = 0..n_max saturated stations: (tau [n_max+1], p [n_max+1]).

    tau = 2 / (1 + W + p W sum_{i<m} (2p)^i) (the singularity-free form of Bianchi's eq. 7),
    p = 1 - (1 - tau)^(n - 1), W = CWmin + 1, m = log2((CWmax + 1) / W); solved by bisection on
    tau (the map is monotone). Entry 0 is (0, 0).
    """
    W = cw_min + 1
    m = round(np.log2((cw_max + 1) / W))
    n = np.arange(n_max + 1, dtype=F64)
    lo, hi = np.zeros_like(n), np.ones_like(n)
    for _ in range(80):
        tau = 0.5 * (lo + hi)
        p = 1.0 - (1.0 - tau) ** np.maximum(n - 1.0, 0.0)
        series = sum((2.0 * p) ** i for i in range(m))
        g = 2.0 / (1.0 + W + p * W * series) - tau
        lo = np.where(g > 0, tau, lo)
        hi = np.where(g > 0, hi, tau)
    tau = 0.5 * (lo + hi)
    p = 1.0 - (1.0 - tau) ** np.maximum(n - 1.0, 0.0)
    tau[0] = p[0] = 0.0
    return tau, p


def mcs_index(snr_db: np.ndarray) -> np.ndarray:
    """Highest MCS whose threshold the SNR meets; -1 below MCS 0."""
    return np.searchsorted(MCS_SNR_DB, snr_db, side="right") - 1


def mcs_rate_bps(snr_db: np.ndarray) -> np.ndarray:
    """PHY rate of the MCS the SNR selects (bit/s; 0 below MCS 0)."""
    mcs = mcs_index(snr_db)
    return np.where(mcs >= 0, MCS_RATE_BPS[np.maximum(mcs, 0)], 0.0)


def arrivals_view(new: np.ndarray, time: np.ndarray) -> dict[str, np.ndarray]:
    """The coming interval's arrivals as the central heuristic reads them on either backend:
    flags and absolute times [B, U, 3] in class order, and the class of each entry."""
    cls = np.broadcast_to(np.arange(new.shape[-1]), new.shape).copy()
    return {"new": new, "time": time, "cls": cls}


def hist_edges() -> np.ndarray:
    """The H + 1 bin edges of the latency histogram (s)."""
    return HIST_MIN_S * 10.0 ** (np.arange(HIST_BINS + 1) * HIST_DECADES / HIST_BINS)


def obs_slices(K: int, E: int) -> dict[str, slice]:
    """Where each feature lies in the observation (model section 5)."""
    return {"local_n": slice(0, 1), "local_gcycles": slice(1, 2), "uplink_n": slice(2, 3),
            "uplink_mbit": slice(3, 4), "energy_mj": slice(4, 5), "cpu_level": slice(5, 6),
            "busy": slice(6, 6 + K), "head_class": slice(6 + K, 9 + K),
            "slack": slice(9 + K, 10 + K), "load": slice(10 + K, 10 + K + E),
            "snr_db": slice(10 + K + E, 10 + K + 2 * E)}


def estimated_completion(obs: np.ndarray, cfg: EdgeOffloadConfig) -> np.ndarray:
    """Estimated completion time (s after the interval start) of a task of the head-of-line
    task's class (URLLC if none) arriving now, for every action, from the agent's own
    observation only: [B, U, 1 + E, K, F].

    local at level f: (local remaining cycles + the task's cycles) / f (any k);
    server e on channel k: (uplink remaining bits + the task's bits) / rate + broadcast load of
    e + the task's cycles / server_cpu_hz + result time, rate = MCS rate at the observed SNR to
    AP e x (1 - observed busy fraction of k) x 0.8 (MAC efficiency of a TXOP), at least 1 % of
    the MCS rate; an AP below MCS 0 gets +inf.
    """
    K, E = cfg.n_channels, cfg.n_servers
    s = obs_slices(K, E)
    obs = np.asarray(obs, dtype=F64)
    B, U = obs.shape[:2]
    bits_c, _, _ = cfg.class_table()
    cls_onehot = obs[..., s["head_class"]]
    has = cls_onehot.sum(-1) > 0
    cls = np.where(has, cls_onehot.argmax(-1), 0)
    bits = bits_c[cls]  # [B, U]
    cycles = bits * cfg.cycles_per_bit
    f = cfg.cpu_levels_hz  # [F]
    local = (obs[..., 1] * 1e9 + cycles)[..., None] / f  # [B, U, F]
    snr = obs[..., s["snr_db"]]  # [B, U, E]
    mcs = mcs_index(snr)
    r = mcs_rate_bps(snr)
    busy = np.clip(obs[..., s["busy"]], 0.0, 1.0)  # [B, U, K]
    rate = r[..., :, None] * np.maximum(0.8 * (1.0 - busy[..., None, :]), 0.01)  # [B, U, E, K]
    up_bits = (obs[..., 3] * 1e6 + bits)[..., None, None]
    with np.errstate(divide="ignore"):
        t_up = np.where(rate > 0, up_bits / np.where(rate > 0, rate, 1.0), np.inf)
    res = ppdu_s(np.float64(cfg.result_bits), N_DBPS[np.maximum(mcs, 0)]) + RESULT_EXTRA_S
    t_srv = obs[..., s["load"]] + (cycles / cfg.server_cpu_hz)[..., None] + res  # [B, U, E]
    offload = t_up + t_srv[..., None]  # [B, U, E, K]
    F = f.size
    out = np.empty((B, U, 1 + E, K, F), F64)
    out[:, :, 0] = local[:, :, None, :]
    out[:, :, 1:] = offload[..., None]
    return out


ST, CL, TA, TD, WK, SV = range(6)  # user-table rows (kernels.py)
OC, SW, SA, STA, STD, SC, SU = range(7)  # server-table rows


class StepData:
    """One interval's results (the core's `last`): the info arrays of model section 6, [B, ...].
    Fresh arrays every step: safe to keep."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)


class EdgeOffloadTwin:
    """Edge-offload simulator over `n_envs` copies (implements pybridge.api.Core); the interval's
    queue work runs in kernels.step_queues, the next interval's links, arrivals and observation
    in kernels.next_interval."""

    backend = "twin"

    def __init__(self, cfg: EdgeOffloadConfig, n_envs: int = 1) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.cfg = cfg
        self.B = n_envs
        self.N = self.U = U = cfg.n_users
        self.E = E = cfg.n_servers
        self.K = cfg.n_channels
        self.F = cfg.n_cpu_levels
        self.T = cfg.interval_s
        self.f_hz = cfg.cpu_levels_hz
        self.bits_c, self.deadline_c, self.p_c = cfg.class_table()
        self.cycles_c = self.bits_c * cfg.cycles_per_bit
        self.inv_deadline = 1.0 / self.deadline_c
        self._t_per_p = np.where(self.p_c > 0, self.T / np.maximum(self.p_c, 1e-300), 0.0)
        self.tau, self.p_coll = bianchi(U)
        n = np.arange(U + 1, dtype=F64)
        one_m = 1.0 - self.tau
        self._chan_tab = np.stack([one_m ** n, n * self.tau * one_m ** np.maximum(n - 1.0, 0.0),
                                   self.p_coll])  # kernels.step_queues's chan_tab
        self._high = np.array([1 + E, self.K, self.F])
        clutter = cfg.clutter_params()
        self.los_params = inf.LosParams(
            scenario=cfg.inf_scenario, clutter_density=clutter["clutter_density"],
            clutter_size=clutter["clutter_size"], clutter_height=clutter["clutter_height"],
            h_bs=cfg.ap_height, h_ut=cfg.user_height)
        self.los_corr = clutter["clutter_size"] / 2.0
        self.tx_power_w = float(inf.dbm_to_w(cfg.tx_power_dbm))
        self.noise_w = inf.noise_power_w(cfg.channel_bandwidth_hz, cfg.noise_figure_db)
        self._snr_scale = self.tx_power_w / self.noise_w
        self.rho = inf.fading_rho(cfg.speed, cfg.carrier_freq_ghz * 1e9, self.T)
        self._innov = float(np.sqrt(1.0 - self.rho * self.rho))
        self.ap_xy = cfg.ap_positions()  # [E, 2]
        # Per MCS (index mcs + 1; 0 = below MCS 0): uplink rate, N_DBPS and the result's time
        # (results use at least MCS 0).
        self._rate_by = np.concatenate([[0.0], MCS_RATE_BPS])
        self._ndbps_by = np.concatenate([[N_DBPS[0]], N_DBPS])
        self._res_by = ppdu_s(np.float64(cfg.result_bits), self._ndbps_by) + RESULT_EXTRA_S
        self._res_rx_by = self._res_by - RESULT_EXTRA_S
        # Kernel tables (kernels.py: M_*, C_*, P_* rows).
        self._mcs_tab = np.stack([self._rate_by, self._ndbps_by, self._res_by, self._res_rx_by])
        self._cls_tab = np.stack([self.bits_c, self.cycles_c, self.deadline_c,
                                  self.inv_deadline]).astype(F64)
        par = np.zeros(kn.N_PAR)
        par[kn.P_T] = self.T
        par[kn.P_KAPPA] = cfg.kappa
        par[kn.P_IDLE_W] = cfg.cpu_idle_power_w
        par[kn.P_SRV_HZ] = cfg.server_cpu_hz
        par[kn.P_VOLT] = cfg.radio_voltage_v
        par[kn.P_I_TX] = cfg.radio_tx_current_a
        par[kn.P_I_RX] = cfg.radio_rx_current_a
        par[kn.P_W_SUCC] = cfg.w_success
        par[kn.P_W_LAT] = cfg.w_latency
        par[kn.P_W_E] = cfg.w_energy
        par[kn.P_W_SPEC] = cfg.w_spectral / (cfg.channel_bandwidth_hz * self.T)
        par[kn.P_W_FAIR] = cfg.w_fairness
        par[kn.P_MAX_TASKS] = cfg.max_tasks
        self._par = par
        self._f_hz = np.ascontiguousarray(self.f_hz, F64)
        self._p_c = np.ascontiguousarray(self.p_c, F64)
        self._level_scale = 1.0 / max(self.F - 1, 1)
        self._rng = np.random.default_rng(cfg.seed)
        # mobility="alleys": the factory robots' model (pybridge/twin/mobility.py) on one
        # tile (config checks the hall and the lane capacity); None for random waypoint.
        self.alleys: AlleyMobility | None = None
        if cfg.mobility == "alleys":
            self.alleys = AlleyMobility(build_layout(), n_envs, U, speed=cfg.speed,
                                        d_min=ALLEY_MIN_SEPARATION)
        self.t = 0
        self._started = False
        self.last: StepData | None = None
        # Test hook: when set, an array [B, U, E] of linear link gains (path loss, shadowing and
        # LOS included) replacing the InF model's, and fading |h|^2 = 1 (see tests).
        self.fixed_gain: np.ndarray | None = None

    # ------------------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None) -> np.ndarray:
        """Start a new episode in every copy; `None` continues this core's random stream."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        rng = self._rng
        cfg, B, U, E, K = self.cfg, self.B, self.U, self.E, self.K
        self.t = 0
        size = np.array([cfg.hall_length, cfg.hall_width])
        if self.alleys is None:
            self.pos = rng.random((B, U, 2)) * size
            self.waypoint = rng.random((B, U, 2)) * size
        else:
            self.alleys.reset(rng)
            self.pos = self.alleys.positions
        self.shadow_field = ExponentialField(B, cfg.shadow_corr_distance, rng)
        self.los_field = ExponentialField(B, self.los_corr, rng)
        ap = np.broadcast_to(self.ap_xy, (B, E, 2))
        self._s_ap_sh = self.shadow_field(ap)
        self._s_ap_los = self.los_field(ap)
        self.h = np.zeros((2, B, U, E), np.float32)
        self.snr_db_now = np.empty((B, U, E))
        self._mcs1 = np.empty((B, U, E), np.int64)
        self.ut = np.empty((6, B, U, 4))
        self.ut[:] = kn.U_EMPTY[:, None, None, None]
        self.n_occ = np.zeros((B, U), np.int64)
        self.stab = np.empty((7, B, E, 8))
        self.stab[:] = kn.S_EMPTY[:, None, None, None]
        self.s_n = np.zeros((B, E), np.int64)
        self.n_at_srv = np.zeros((B, U), np.int64)
        self.waiting = np.zeros((B, U, N_CLASSES), np.int64)
        self.done_run = np.zeros((B, U))
        self.late_run = np.zeros((B, U))
        self.recorded_backlog = np.zeros((B, E))
        self.broadcast = np.zeros((B, E))
        self.busy = np.zeros((B, K))
        self.energy_last = np.zeros((B, U))
        self.level_last = np.zeros((B, U), np.int64)
        u_fade = rng.random((2, B, U, E), dtype=np.float32)  # h = CN(0, 1): rho 0, innov 1
        self._refresh_large_scale()
        self._next_interval(u_fade, 0.0, 1.0)
        self._started = True
        z3 = np.zeros((B, U, N_CLASSES), np.int64)
        zu = np.zeros((B, U))
        zi = np.zeros((B, U), np.int64)
        self.last = StepData(
            created=z3, done=z3.copy(), late=z3.copy(), waiting=z3.copy(),
            latency_sum=np.zeros((B, U, N_CLASSES)), latency_max=np.zeros((B, U, N_CLASSES)),
            latency_hist=np.zeros((B, N_CLASSES, HIST_BINS), np.int64), bits_done=zu,
            energy_cpu=zu.copy(), energy_radio=zu.copy(), offloaded=zi, uplink_bits=zu.copy(),
            channel_busy=np.zeros((B, K)), server_backlog_s=np.zeros((B, E)),
            target=zi.copy(), channel=zi.copy(), cpu_level=zi.copy(), reward=zu.copy())
        return self._obs

    def _next_interval(self, u_fade: np.ndarray, rho: float, innov: float) -> None:
        """Fading (from the uniforms u_fade), links, the interval's arrivals (drawn here: one
        uniform per user and class) and the observation, for the interval starting at t T."""
        B, U = self.B, self.U
        fixed = self.fixed_gain is not None
        gain = (np.ascontiguousarray(np.broadcast_to(self.fixed_gain, (B, U, self.E)), F64)
                if fixed else self.gain)
        # One uniform per user and class: an arrival iff u < p; given that, u / p is uniform on
        # [0, 1) and independent of the draw, so it places the arrival in the interval.
        u_arr = self._rng.random((B, U, N_CLASSES))
        self.arr_new = np.empty((B, U, N_CLASSES), np.bool_)
        self.arr_time = np.empty((B, U, N_CLASSES))
        self._obs = np.empty((B, U, self.cfg.obs_width), np.float32)
        kn.next_interval(self.h, u_fade, rho, innov, gain, not fixed, self._snr_scale,
                         MCS_SNR_DB, self.snr_db_now, self._mcs1, u_arr, self._p_c,
                         self._t_per_p, self.t * self.T, self.arr_new, self.arr_time,
                         self.ut, self.n_occ, self.energy_last, self.level_last,
                         self._level_scale, self.busy, self.broadcast, self._obs)

    def set_arrivals(self, new: np.ndarray, time: np.ndarray) -> None:
        """Test hook: replace this interval's arrivals (flags and absolute times [B, U, 3], in
        class order)."""
        self.arr_new = np.ascontiguousarray(new, np.bool_)
        self.arr_time = np.where(self.arr_new, np.asarray(time, F64), np.inf)

    # ------------------------------------------------------------------------------ step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one interval. actions [B, U, 3] = (target, channel, CPU level)."""
        cfg = self.cfg
        a = np.asarray(actions)
        if (not self._started or self.t >= cfg.episode_steps or a.shape != (self.B, self.U, 3)
                or a.dtype.kind not in "iu"):
            a = cfg.check_step(a, self.B, self.t, self._started)  # raises, or integral floats
        given = a
        a = a.astype(np.int64)  # our own copy: the step data keep views of it (range: kernel)
        B, U, E, K, T = self.B, self.U, self.E, self.K, self.T
        t0 = self.t * T
        e3 = np.empty((B, U, N_CLASSES), np.int64)
        f3 = np.empty((B, U, N_CLASSES))
        created, done, late, waiting = e3, e3.copy(), e3.copy(), e3.copy()
        lat_sum, lat_max = f3, f3.copy()
        hist = np.zeros((B, N_CLASSES, HIST_BINS), np.int64)
        fu = np.empty((6, B, U))
        bits_done, e_cpu, e_radio, sent, reward = fu[0], fu[1], fu[2], fu[3], fu[4]
        offloaded = np.empty((B, U), np.int64)
        ch_busy = np.empty((B, K))
        backlog_s = np.empty((B, E))
        ok, self.ut, self.stab = kn.step_queues(
            t0, t0 + T, a, self.arr_new, self.arr_time, self.ut, self.n_occ, self.n_at_srv,
            self.stab, self.s_n, self._mcs1, self.waiting, self.done_run, self.late_run,
            self._cls_tab, self._f_hz, self._mcs_tab, self._chan_tab, self._high, self._par,
            created, done, late, waiting, lat_sum, lat_max, hist, bits_done, e_cpu, e_radio,
            offloaded, sent, ch_busy, backlog_s, reward)
        if not ok:  # an action out of range (the kernel changed nothing)
            cfg.check_step(given, self.B, self.t, self._started)  # raises with the message
        self.waiting = waiting
        self.last = StepData(
            created=created, done=done, late=late, waiting=waiting, latency_sum=lat_sum,
            latency_max=lat_max, latency_hist=hist, bits_done=bits_done, energy_cpu=e_cpu,
            energy_radio=e_radio, offloaded=offloaded, uplink_bits=sent,
            channel_busy=ch_busy, server_backlog_s=backlog_s, target=a[..., 0],
            channel=a[..., 1], cpu_level=a[..., 2], reward=reward)
        self.busy = ch_busy
        self.energy_last = fu[5]
        np.add(e_cpu, e_radio, out=self.energy_last)
        self.level_last = a[:, :, 2].copy()

        # 6-7. next interval: users move, large-scale gains, fading, arrivals, observation ------
        self.t += 1
        if self.t % LARGE_SCALE_EVERY == 0:
            self._move(LARGE_SCALE_EVERY * T)
            self._refresh_large_scale()
        u_fade = self._rng.random((2, B, U, E), dtype=np.float32)
        self.broadcast = self.recorded_backlog
        self.recorded_backlog = backlog_s
        self._next_interval(u_fade, self.rho, self._innov)
        return self._obs, reward, self.t >= cfg.episode_steps

    # ------------------------------------------------------------------------------ channel
    def _move(self, dt: float) -> None:
        """Random waypoint: constant speed towards the waypoint; on arrival a new uniform one,
        the rest of the step spent towards it (one waypoint change per call). Alleys: one
        AlleyMobility step of dt (its arrays are replaced, never mutated: pos may alias them)."""
        cfg = self.cfg
        if self.alleys is not None:
            self.alleys.step(dt, self._rng)
            self.pos = self.alleys.positions
            return
        step = cfg.speed * dt
        if step <= 0:
            return
        size = np.array([cfg.hall_length, cfg.hall_width])
        d = self.waypoint - self.pos
        dist = np.hypot(d[..., 0], d[..., 1])
        arrive = dist <= step
        frac = np.where(arrive, 1.0, step / np.maximum(dist, 1e-12))
        self.pos = self.pos + d * frac[..., None]
        if arrive.any():
            left = np.where(arrive, step - dist, 0.0)
            new_wp = self._rng.random(self.pos.shape) * size
            self.waypoint = np.where(arrive[..., None], new_wp, self.waypoint)
            d = self.waypoint - self.pos
            dist = np.hypot(d[..., 0], d[..., 1])
            frac = np.where(arrive, np.minimum(left / np.maximum(dist, 1e-12), 1.0), 0.0)
            self.pos = self.pos + d * frac[..., None]

    def _refresh_large_scale(self) -> None:
        """Path loss, LOS state and shadowing of every (user, AP) link at the positions."""
        cfg, p = self.cfg, self.los_params
        d = self.pos[:, :, None, :] - self.ap_xy[None, None, :, :]
        d2d = np.hypot(d[..., 0], d[..., 1])  # [B, U, E]
        d3d = np.sqrt(d2d * d2d + (cfg.ap_height - cfg.user_height) ** 2)
        z_los = self.los_field.link_values(self.los_field(self.pos), self._s_ap_los, d2d)
        thr = ndtri(np.clip(inf.los_probability(d2d, p), 0.0, 1.0))
        self.los = z_los < thr
        z_sh = self.shadow_field.link_values(self.shadow_field(self.pos), self._s_ap_sh, d2d)
        pl = inf.pathloss_db(d3d, cfg.carrier_freq_ghz, p.scenario, self.los)
        sh = inf.shadow_std_db(p.scenario, self.los) * z_sh
        self.gain = 10.0 ** (-(pl + sh) / 10.0)  # [B, U, E] linear

    @property
    def mcs(self) -> np.ndarray:
        """MCS index of every (user, AP) link this interval, [B, U, E]; -1 below MCS 0."""
        return self._mcs1 - 1

    # -------------------------------------------------------------------------- observation
    def observation(self) -> np.ndarray:
        return self._obs

    def state(self) -> np.ndarray:
        """[B, U * W + E]: every observation, then every server's current backlog (s)."""
        if not self._started:
            raise RuntimeError("state() before reset(): call reset() first")
        return np.concatenate([self._obs.reshape(self.B, -1),
                               self.server_backlog().astype(np.float32)], axis=-1)

    # ------------------------------------------------------------------------------ views
    def server_backlog(self) -> np.ndarray:
        """Every server's current backlog, remaining cycles / server_cpu_hz, [B, E] s."""
        return self.stab[SW].sum(-1) / self.cfg.server_cpu_hz

    def server_backlog_broadcast(self) -> np.ndarray:
        """The servers' load as the observation shows it (one interval late), [B, E] s."""
        return self.broadcast.copy()

    def snr_db(self) -> np.ndarray:
        """SNR to each AP at the interval start, [B, U, E] dB."""
        return self.snr_db_now.copy()

    def channel_busy(self) -> np.ndarray:
        """Busy fraction of every channel in the last interval, [B, K]."""
        return self.busy.copy()

    def estimated_completion(self) -> np.ndarray:
        """[B, U, 1 + E, K, F] s from each agent's own observation (module function)."""
        return estimated_completion(self._obs, self.cfg)

    def positions(self) -> np.ndarray:
        """User positions [B, U, 2] m (at the last large-scale refresh)."""
        return self.pos.copy()

    def ap_positions(self) -> np.ndarray:
        """Access-point (server) positions [E, 2] m."""
        return self.ap_xy.copy()

    def link_rate_bps(self) -> np.ndarray:
        """PHY rate of every (user, AP) link this interval (0 below MCS 0), [B, U, E]."""
        return self._rate_by[self._mcs1]

    def pending_arrivals(self) -> dict[str, np.ndarray]:
        """This interval's arrivals, drawn ahead (central heuristic only): flags and times
        [B, U, 3] in class order, and the class of each entry."""
        return arrivals_view(self.arr_new.copy(), self.arr_time.copy())

    def user_tasks(self) -> dict[str, np.ndarray]:
        """The users' task tables [B, U, Q] (stage 0 empty / 1 local / 2 uplink, class, arrival,
        deadline, remaining work: cycles if local, bits if uplink, target server); FIFO order
        is slot order, a row's tasks first (packed), then empty slots."""
        ut = self.ut
        return {"stage": ut[ST].astype(np.int64), "cls": ut[CL].astype(np.int64),
                "arrival": ut[TA].copy(), "deadline": ut[TD].copy(), "work": ut[WK].copy(),
                "server": ut[SV].astype(np.int64)}

    def server_tasks(self) -> dict[str, np.ndarray]:
        """The servers' FIFO tables [B, E, Qs] (occupied, remaining cycles, arrival at the
        server, creation time, deadline, class, user)."""
        sb = self.stab
        return {"occupied": sb[OC] > 0, "cycles": sb[SW].copy(),
                "arrival_server": sb[SA].copy(), "arrival": sb[STA].copy(),
                "deadline": sb[STD].copy(), "cls": sb[SC].astype(np.int64),
                "user": sb[SU].astype(np.int64)}

    def bench_facts(self) -> dict[str, Any]:
        return {"n_servers": self.E, "n_channels": self.K, "task_slots": self.Q,
                "server_slots": self.Qs}

    @property
    def Q(self) -> int:
        """Slots per user row of the task table (grown on demand, <= max_tasks)."""
        return self.ut.shape[-1]

    @property
    def Qs(self) -> int:
        """Slots per server row of the server table (grown on demand)."""
        return self.stab.shape[-1]

    def close(self) -> None:
        """Nothing to release in process."""
