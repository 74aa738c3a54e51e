"""Numpy twin of the edge-offload scenario (issue 11; model: /work/plan/edge-offload.md).

B independent copies x U users, stepped together; no Python loop over users, tasks or links
(loops run over the E servers only where a per-server queue is built).

Per interval [t0, t1 = t0 + T) every copy:
1. takes this interval's arrivals (drawn at the end of the previous step, so that the central
   heuristic, which may read the whole core, sees them: `pending_arrivals()`): per user and
   class one task with probability rate_c T at t0 + U(0, T); the user's action `target` sends
   every one of them to its local queue or its uplink buffer (server target - 1); an arrival
   that would make the user hold more than `max_tasks` tasks is rejected = late at once;
2. serves the local CPU queue (FIFO, speed cpu_levels[f]) and the uplink buffer (FIFO of whole
   tasks, fluid at the user's contention share, section 4) with the max-plus recursion of a
   work-conserving FIFO single server: D_k = S_k + cummax_j (a_j - S_{j-1}), S = cumsum of the
   service times, a_j = max(availability, t0); what is left of task k at t1 is
   w_k clip(D_k - t1, 0, x_k) / x_k (x_k its service time);
3. appends the tasks whose last uplink bit left in the interval to their server's FIFO (in the
   order of their arrival there, across users) and serves every server queue the same way;
   a server completion at D returns its result at D + t_res(u, e) (one downlink PPDU of
   result_bits at the link's MCS + AIFS + CWmin/2 slots);
4. accounts: done = result back (local: completion) at or before the deadline; late = a task
   whose deadline falls in the interval (deadline <= t1) and is not done, or one completed after
   its deadline; late tasks are removed at t1 (they are served until t1, like every task);
5. energy (CPU kappa f^2 per cycle + idle power, radio V (I_tx t_tx + I_rx t_rx)), reward;
6. moves the users, advances the block fading (once per interval) and builds the observation of
   the next interval.

Implementer's calls (the plan leaves them open; ns-3 follows the same where it can):
- Task tables: per user [B, U, Q] slots (Q grows with need, up to max_tasks) of the tasks not yet
  at a server, compacted in arrival order, so local and uplink FIFO order is slot order; per
  server [B, E, Qs] slots of the tasks at that server, in server-arrival order.
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
  n_mpdu = ceil(L / (1472 * 8)) (70 B of UDP/IP/LLC/MAC/FCS/delimiter per 1472 B datagram);
  BlockAck 32 us (compressed BA at 24 Mbit/s legacy); T_c = max T_s over the channel's users.
- Channel busy fraction: Bianchi's busy fraction of channel k while its users contend, times
  max over its users of (time with uplink backlog) / T.
- Radio energy: t_tx = own PPDU time of every attempt (successes / (1 - p)); t_rx = BlockAcks +
  (busy fraction x own backlogged time - t_tx) + result PPDUs received.
- Mobility and large-scale gains (path loss, LOS, shadowing) are refreshed every
  LARGE_SCALE_EVERY = 10 intervals (15 cm at 1.5 m/s, 1.5 % of the 10 m decorrelation
  distance); fading every interval. LOS correlation distance: d_clutter / 2 (38.901 Table
  7.6.3.1-2).
- MCS SNR thresholds: MCS_SNR_DB below, provisional (the ns-3 helper measures those of ns-3's
  IdealWifiManager; both sides will then use one table).
- estimated_completion(): for a task of the head-of-line task's class (URLLC when the user holds
  none) arriving now, from the agent's own observation only (see the function's docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import ndtri

from pybridge.channel import inf
from pybridge.channel.fields import ExponentialField
from pybridge.scenarios.edge_offload.config import EdgeOffloadConfig

F64 = np.float64
N_CLASSES = 3
HIST_BINS = 60
HIST_MIN_S = 1e-5
HIST_DECADES = 6  # 1e-5 .. 10 s
LARGE_SCALE_EVERY = 10

# 802.11ax EDCA best effort and PHY (plan section 4).
SLOT_S = 9e-6
SIFS_S = 16e-6
AIFS_S = SIFS_S + 3 * SLOT_S
CW_MIN, CW_MAX = 15, 1023
PREAMBLE_S = 44e-6
SYMBOL_S = 13.6e-6
BLOCKACK_S = 32e-6
MAX_AMPDU_BITS = 65535 * 8
MAX_PPDU_S = 5.484e-3
DATAGRAM_BITS = 1472 * 8
MPDU_OVERHEAD_BITS = 70 * 8
SERVICE_TAIL_BITS = 22
# HE SU, 20 MHz, 1 SS: data bits per 13.6 us symbol (234 data subcarriers x bits x code rate).
N_DBPS = np.array([117, 234, 351, 468, 702, 936, 1053, 1170, 1404, 1560, 1755, 1950], F64)
MCS_RATE_BPS = N_DBPS / SYMBOL_S  # 8.6 .. 143.4 Mbit/s
MCS_SNR_DB = np.array([1.0, 4.0, 6.5, 9.5, 13.0, 17.0, 18.5, 20.0, 24.0, 25.5, 29.0, 31.0])
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


def ppdu_s(bits: np.ndarray, n_dbps: np.ndarray) -> np.ndarray:
    """HE SU PPDU duration (s) carrying `bits` of payload at `n_dbps` data bits per symbol."""
    n_mpdu = np.ceil(bits / DATAGRAM_BITS)
    air = SERVICE_TAIL_BITS + bits + MPDU_OVERHEAD_BITS * n_mpdu
    return PREAMBLE_S + np.ceil(air / np.maximum(n_dbps, 1.0)) * SYMBOL_S


def mcs_index(snr_db: np.ndarray) -> np.ndarray:
    """Highest MCS whose threshold the SNR meets; -1 below MCS 0."""
    return np.searchsorted(MCS_SNR_DB, snr_db, side="right") - 1


def hist_bin(latency_s: np.ndarray) -> np.ndarray:
    """Latency histogram bin: floor(H log10(x / 1e-5) / 6), clamped to [0, H - 1]."""
    x = np.maximum(latency_s, 1e-300)
    b = np.floor(HIST_BINS * np.log10(x / HIST_MIN_S) / HIST_DECADES)
    return np.clip(b, 0, HIST_BINS - 1).astype(np.int64)


def hist_edges() -> np.ndarray:
    """The H + 1 bin edges of the latency histogram (s)."""
    return HIST_MIN_S * 10.0 ** (np.arange(HIST_BINS + 1) * HIST_DECADES / HIST_BINS)


def obs_slices(K: int, E: int) -> dict[str, slice]:
    """Where each feature lies in the observation (plan section 5)."""
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
    r = np.where(mcs >= 0, MCS_RATE_BPS[np.maximum(mcs, 0)], 0.0)
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


class StepData:
    """One interval's results (the core's `last`): the info arrays of plan section 6, [B, ...].
    Fresh arrays every step: safe to keep."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)


class EdgeOffloadTwin:
    """Vectorised edge-offload simulator over `n_envs` copies (implements pybridge.api.Core)."""

    backend = "twin"

    def __init__(self, cfg: EdgeOffloadConfig, n_envs: int = 1) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.cfg = cfg
        self.B = n_envs
        self.N = self.U = cfg.n_users
        self.E = cfg.n_servers
        self.K = cfg.n_channels
        self.F = cfg.n_cpu_levels
        self.T = cfg.interval_s
        self.f_hz = cfg.cpu_levels_hz
        self.bits_c, self.deadline_c, self.p_c = cfg.class_table()
        self.cycles_c = self.bits_c * cfg.cycles_per_bit
        self.tau, self.p_coll = bianchi(self.U)
        clutter = cfg.clutter_params()
        self.los_params = inf.LosParams(
            scenario=cfg.inf_scenario, clutter_density=clutter["clutter_density"],
            clutter_size=clutter["clutter_size"], clutter_height=clutter["clutter_height"],
            h_bs=cfg.ap_height, h_ut=cfg.user_height)
        self.los_corr = clutter["clutter_size"] / 2.0
        self.tx_power_w = float(inf.dbm_to_w(cfg.tx_power_dbm))
        self.noise_w = inf.noise_power_w(cfg.channel_bandwidth_hz, cfg.noise_figure_db)
        self.rho = inf.fading_rho(cfg.speed, cfg.carrier_freq_ghz * 1e9, self.T)
        e = np.arange(self.E)
        self.ap_xy = np.stack([cfg.hall_length * (e + 0.5) / self.E,
                               np.full(self.E, cfg.hall_width / 2.0)], axis=-1)  # [E, 2]
        self._seeds = np.random.SeedSequence(cfg.seed)
        self._rng = np.random.default_rng(self._seeds)
        self._k_range = np.arange(self.K)
        self._e_range = np.arange(self.E)
        B, U = self.B, self.U
        self._bu = np.arange(B * U)
        self._b_of_bu = np.repeat(np.arange(B), U)
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
        cfg, B, U, E = self.cfg, self.B, self.U, self.E
        self.t = 0
        size = np.array([cfg.hall_length, cfg.hall_width])
        self.pos = rng.random((B, U, 2)) * size
        self.waypoint = rng.random((B, U, 2)) * size
        self.shadow_field = ExponentialField(B, cfg.shadow_corr_distance, rng)
        self.los_field = ExponentialField(B, self.los_corr, rng)
        ap = np.broadcast_to(self.ap_xy, (B, E, 2))
        self._s_ap_sh = self.shadow_field(ap)
        self._s_ap_los = self.los_field(ap)
        self.h = rng.standard_normal((2, B, U, E)) * np.sqrt(0.5)  # CN(0, 1)
        self._refresh_large_scale()
        self._update_links()
        # Task tables (see the module docstring); capacities grow on demand.
        self._alloc_user(4)
        self._alloc_server(8)
        self.n_at_srv = np.zeros((B, U), np.int64)
        self.done_run = np.zeros((B, U), F64)
        self.late_run = np.zeros((B, U), F64)
        self.recorded_backlog = np.zeros((B, E))
        self.broadcast = np.zeros((B, E))
        self.busy = np.zeros((B, self.K))
        self.energy_last = np.zeros((B, U))
        self.level_last = np.zeros((B, U), np.int64)
        self._draw_arrivals()
        self._started = True
        z3 = np.zeros((B, U, N_CLASSES), np.int64)
        zu = np.zeros((B, U))
        self.last = StepData(
            created=z3, done=z3.copy(), late=z3.copy(), waiting=z3.copy(),
            latency_sum=np.zeros((B, U, N_CLASSES)), latency_max=np.zeros((B, U, N_CLASSES)),
            latency_hist=np.zeros((B, N_CLASSES, HIST_BINS), np.int64), bits_done=zu,
            energy_cpu=zu.copy(), energy_radio=zu.copy(), offloaded=np.zeros((B, U), np.int64),
            uplink_bits=zu.copy(), channel_busy=np.zeros((B, self.K)),
            server_backlog_s=np.zeros((B, E)), target=np.zeros((B, U), np.int64),
            channel=np.zeros((B, U), np.int64), cpu_level=np.zeros((B, U), np.int64),
            reward=np.zeros((B, U)))
        self._obs = self._observe()
        return self._obs

    def _alloc_user(self, q: int) -> None:
        B, U = self.B, self.U
        self.Q = q
        self.st = np.zeros((B, U, q), np.int8)  # 0 empty, 1 local, 2 uplink
        self.cls = np.zeros((B, U, q), np.int64)
        self.ta = np.zeros((B, U, q))  # arrival (creation) time
        self.td = np.full((B, U, q), np.inf)  # deadline
        self.w = np.zeros((B, U, q))  # remaining cycles (local) / bits (uplink)
        self.srv = np.zeros((B, U, q), np.int64)
        self.n_occ = np.zeros((B, U), np.int64)

    def _grow_user(self, need: int) -> None:
        q = min(max(need, 2 * self.Q), max(self.cfg.max_tasks, need))
        old = (self.st, self.cls, self.ta, self.td, self.w, self.srv)
        n_occ = self.n_occ
        self._alloc_user(q)
        self.n_occ = n_occ
        for new, o in zip((self.st, self.cls, self.ta, self.td, self.w, self.srv), old):
            new[..., :o.shape[-1]] = o

    def _alloc_server(self, q: int) -> None:
        B, E = self.B, self.E
        self.Qs = q
        self.s_occ = np.zeros((B, E, q), bool)
        self.s_w = np.zeros((B, E, q))  # remaining cycles
        self.s_arr = np.zeros((B, E, q))  # arrival at the server
        self.s_ta = np.zeros((B, E, q))
        self.s_td = np.full((B, E, q), np.inf)
        self.s_cls = np.zeros((B, E, q), np.int64)
        self.s_user = np.zeros((B, E, q), np.int64)
        self.s_n = np.zeros((B, E), np.int64)

    def _grow_server(self, need: int) -> None:
        q = max(need, 2 * self.Qs)
        old = (self.s_occ, self.s_w, self.s_arr, self.s_ta, self.s_td, self.s_cls, self.s_user)
        s_n = self.s_n
        self._alloc_server(q)
        self.s_n = s_n
        for new, o in zip((self.s_occ, self.s_w, self.s_arr, self.s_ta, self.s_td, self.s_cls,
                           self.s_user), old):
            new[..., :o.shape[-1]] = o

    def _draw_arrivals(self) -> None:
        """The next interval's arrivals: flags and times [B, U, 3], sorted by time per user."""
        rng, B, U = self._rng, self.B, self.U
        u = rng.random((2, B, U, N_CLASSES))
        t0 = self.t * self.T
        new = u[0] < self.p_c
        times = np.where(new, t0 + u[1] * self.T, np.inf)
        order = np.argsort(times, axis=-1)
        self.arr_time = np.take_along_axis(times, order, -1)
        self.arr_cls = order
        self.arr_new = np.isfinite(self.arr_time)

    def set_arrivals(self, new: np.ndarray, time: np.ndarray, cls: np.ndarray) -> None:
        """Test hook: replace this interval's arrivals (flags, absolute times, classes
        [B, U, 3]; each row's classes a permutation of 0, 1, 2, times sorted where `new`)."""
        self.arr_new = np.asarray(new, bool)
        self.arr_time = np.where(self.arr_new, np.asarray(time, F64), np.inf)
        self.arr_cls = np.asarray(cls, np.int64)

    # ------------------------------------------------------------------------------ step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one interval. actions [B, U, 3] = (target, channel, CPU level)."""
        cfg = self.cfg
        a = cfg.check_step(actions, self.B, self.t, self._started)
        B, U, _E, K, T = self.B, self.U, self.E, self.K, self.T
        t0 = self.t * T
        t1 = t0 + T
        target, chan, lvl = a[..., 0], a[..., 1], a[..., 2]
        f = self.f_hz[lvl]  # [B, U]

        # 1. arrivals ------------------------------------------------------------------------
        new = self.arr_new
        rank = np.cumsum(new, axis=-1) - 1
        held = self.n_occ + self.n_at_srv
        accepted = new & (held[..., None] + rank < cfg.max_tasks)
        rejected = new & ~accepted
        n_acc = accepted.sum(-1)
        need = int((self.n_occ + n_acc).max())
        if need > self.Q:
            self._grow_user(need)
        if n_acc.any():
            bb, uu, jj = np.nonzero(accepted)
            slot = self.n_occ[bb, uu] + rank[bb, uu, jj]
            c = self.arr_cls[bb, uu, jj]
            tgt = target[bb, uu]
            self.st[bb, uu, slot] = np.where(tgt > 0, 2, 1)
            self.cls[bb, uu, slot] = c
            self.ta[bb, uu, slot] = self.arr_time[bb, uu, jj]
            self.td[bb, uu, slot] = self.arr_time[bb, uu, jj] + self.deadline_c[c]
            self.w[bb, uu, slot] = np.where(tgt > 0, self.bits_c[c], self.cycles_c[c])
            self.srv[bb, uu, slot] = np.maximum(tgt - 1, 0)
            self.n_occ = self.n_occ + n_acc
        created = np.zeros((B, U, N_CLASSES), np.int64)
        np.put_along_axis(created, self.arr_cls, new.astype(np.int64), -1)
        late_rej = np.zeros((B, U, N_CLASSES), np.int64)
        np.put_along_axis(late_rej, self.arr_cls, rejected.astype(np.int64), -1)
        offloaded = (accepted.sum(-1) * (target > 0)).astype(np.int64)

        st, w, ta, td = self.st, self.w, self.ta, self.td
        avail = np.maximum(ta, t0)

        # 2a. local CPU ---------------------------------------------------------------------
        is_loc = st == 1
        x_loc = np.where(is_loc, w / f[..., None], 0.0)
        D_loc = _fifo_departures(x_loc, np.where(is_loc, avail, -np.inf))
        w_loc_new = _remaining(w, x_loc, D_loc, t1)
        executed = np.where(is_loc, w - w_loc_new, 0.0).sum(-1)  # cycles [B, U]
        loc_fin = is_loc & (D_loc <= t1)
        loc_done = loc_fin & (D_loc <= td)
        loc_late = is_loc & ~loc_done & ((td <= t1) | loc_fin)

        # 2b. uplink (Bianchi share, section 4) -------------------------------------------------
        is_up = st == 2
        backlog = np.where(is_up, w, 0.0).sum(-1)  # bits [B, U]
        head = np.argmax(is_up, axis=-1)
        head_srv = np.take_along_axis(self.srv, head[..., None], -1)[..., 0]
        mcs_u = np.take_along_axis(self.mcs, head_srv[..., None], -1)[..., 0]  # [B, U]
        ndbps = N_DBPS[np.maximum(mcs_u, 0)]
        rate = np.where(mcs_u >= 0, ndbps / SYMBOL_S, 0.0)
        active = (backlog > 0) & (rate > 0)
        L = np.minimum(np.minimum(backlog, MAX_AMPDU_BITS), rate * (MAX_PPDU_S - PREAMBLE_S))
        L = np.where(active, np.maximum(L, 1.0), 0.0)
        ppdu = np.where(active, ppdu_s(L, ndbps), 0.0)
        Ts = np.where(active, ppdu + SIFS_S + BLOCKACK_S + AIFS_S, 0.0)
        onehot = (chan[..., None] == self._k_range) & active[..., None]  # [B, U, K]
        n_k = onehot.sum(1)  # [B, K]
        sum_ts = (Ts[..., None] * onehot).sum(1)
        max_ts = (Ts[..., None] * onehot).max(1)
        tau = self.tau[n_k]
        p_tr = 1.0 - (1.0 - tau) ** n_k
        p_s = np.where(p_tr > 0, n_k * tau * (1.0 - tau) ** np.maximum(n_k - 1, 0)
                       / np.where(p_tr > 0, p_tr, 1.0), 0.0)
        ts_mean = sum_ts / np.maximum(n_k, 1)
        slot_mean = (1.0 - p_tr) * SLOT_S + p_tr * p_s * ts_mean + p_tr * (1.0 - p_s) * max_ts
        succ = p_tr * p_s
        e_c = np.where(succ > 0, slot_mean / np.where(succ > 0, succ, 1.0), np.inf)  # [B, K]
        busy_frac = np.where(n_k > 0, 1.0 - (1.0 - p_tr) * SLOT_S / slot_mean, 0.0)
        e_c_u = np.take_along_axis(e_c, chan, -1)
        n_u = np.take_along_axis(n_k, chan, -1)
        s_up = np.where(active, L / (np.maximum(n_u, 1) * e_c_u), 0.0)  # bits/s [B, U]
        x_up = np.where(is_up, w / np.where(active, s_up, np.inf)[..., None], 0.0)
        x_up = np.where(is_up & ~active[..., None], np.inf, x_up)
        D_up = _fifo_departures(x_up, np.where(is_up, avail, -np.inf))
        w_up_new = _remaining(w, x_up, D_up, t1)
        sent = np.where(is_up, w - w_up_new, 0.0).sum(-1)  # payload bits [B, U]
        up_dep = is_up & (D_up <= t1)
        up_late = is_up & ~up_dep & (td <= t1)

        # 3. servers ------------------------------------------------------------------------
        t_res = (ppdu_s(np.float64(cfg.result_bits), N_DBPS[np.maximum(self.mcs, 0)])
                 + RESULT_EXTRA_S)  # [B, U, E]
        self._enqueue_servers(up_dep, D_up)
        s_x = np.where(self.s_occ, self.s_w / cfg.server_cpu_hz, 0.0)
        s_D = _fifo_departures(s_x, np.where(self.s_occ, np.maximum(self.s_arr, t0), -np.inf))
        s_w_new = _remaining(self.s_w, s_x, s_D, t1)
        s_fin = self.s_occ & (s_D <= t1)
        b_idx = np.arange(B)[:, None, None]
        e_idx = self._e_range[None, :, None]
        s_res = s_D + t_res[b_idx, self.s_user, e_idx]
        s_done = s_fin & (s_res <= self.s_td)
        s_late = self.s_occ & ~s_done & ((self.s_td <= t1) | s_fin)

        # 4. accounting ---------------------------------------------------------------------------
        nbu3 = B * U * N_CLASSES
        idx_u = (self._bu.reshape(B, U, 1) * N_CLASSES + self.cls)  # [B, U, Q]
        idx_s = ((np.arange(B)[:, None, None] * U + self.s_user) * N_CLASSES + self.s_cls)
        lat_loc = D_loc - ta
        lat_srv = s_res - self.s_ta
        i_ld, i_sd = idx_u[loc_done], idx_s[s_done]
        l_ld, l_sd = lat_loc[loc_done], lat_srv[s_done]
        done_idx = np.concatenate([i_ld, i_sd])
        done_lat = np.concatenate([l_ld, l_sd])
        done = np.bincount(done_idx, minlength=nbu3).reshape(B, U, N_CLASSES)
        lat_sum = np.bincount(done_idx, done_lat, minlength=nbu3).reshape(B, U, N_CLASSES)
        lat_max = np.zeros(nbu3)
        np.maximum.at(lat_max, done_idx, done_lat)
        lat_max = lat_max.reshape(B, U, N_CLASSES)
        late_idx = np.concatenate([idx_u[loc_late | up_late], idx_s[s_late]])
        late = (np.bincount(late_idx, minlength=nbu3).reshape(B, U, N_CLASSES) + late_rej)
        hist_idx = ((done_idx // (U * N_CLASSES)) * N_CLASSES + done_idx % N_CLASSES) * HIST_BINS
        hist_idx = hist_idx + hist_bin(done_lat)
        hist = np.bincount(hist_idx, minlength=B * N_CLASSES * HIST_BINS).reshape(
            B, N_CLASSES, HIST_BINS)
        bits_done = (done * self.bits_c).sum(-1)
        # results received by each user (done or completed late at a server)
        res_u = (np.arange(B)[:, None, None] * U + self.s_user)[s_fin]
        res_t = t_res[b_idx, self.s_user, e_idx][s_fin] - RESULT_EXTRA_S
        rx_res = np.bincount(res_u, res_t, minlength=B * U).reshape(B, U)

        # remove finished and late tasks; compact the tables -------------------------------------
        w_new = np.where(is_loc, w_loc_new, np.where(is_up, w_up_new, w))
        keep = (st > 0) & ~(loc_fin | loc_late | up_dep | up_late)
        self.w = w_new
        self._compact_user(keep)
        self.s_w = s_w_new
        s_keep = self.s_occ & ~(s_fin | s_late)
        moved = np.bincount((np.arange(B)[:, None, None] * U + self.s_user)[self.s_occ & ~s_keep],
                            minlength=B * U).reshape(B, U)
        self.n_at_srv = self.n_at_srv - moved
        self._compact_server(s_keep)
        waiting = self._waiting()

        # 5. energy and reward ----------------------------------------------------------------
        busy_time = np.minimum(executed / f, T)
        e_cpu = cfg.kappa * f * f * executed + cfg.cpu_idle_power_w * (T - busy_time)
        n_succ = np.where(active, sent / np.where(active, L, 1.0), 0.0)  # TXOPs
        p_u = self.p_coll[n_u]
        t_tx = n_succ / (1.0 - p_u) * ppdu
        t_active = np.where(active, sent / np.where(active, s_up, 1.0), 0.0)
        busy_k = np.take_along_axis(busy_frac, chan, -1)
        t_rx = (n_succ * BLOCKACK_S + np.maximum(busy_k * t_active - t_tx, 0.0) + rx_res)
        e_radio = cfg.radio_voltage_v * (cfg.radio_tx_current_a * t_tx
                                         + cfg.radio_rx_current_a * t_rx)
        # channel busy fraction of the interval
        act_k = (t_active[..., None] * onehot).max(1) if U else np.zeros((B, K))
        ch_busy = np.clip(busy_frac * act_k / T, 0.0, 1.0)
        n_done, n_late = done.sum(-1), late.sum(-1)
        self.done_run += n_done
        self.late_run += n_late
        fin = self.done_run + self.late_run
        ratio = np.where(fin > 0, self.done_run / np.maximum(fin, 1.0), 1.0)
        jain_t = _jain(ratio)
        reward = (cfg.w_success * (n_done - n_late)
                  - cfg.w_latency * (lat_sum / self.deadline_c).sum(-1)
                  - cfg.w_energy * (e_cpu + e_radio)
                  + cfg.w_spectral * sent / (cfg.channel_bandwidth_hz * T)
                  - cfg.w_fairness * (1.0 - jain_t)[:, None])
        backlog_s = self.server_backlog()
        self.last = StepData(
            created=created, done=done, late=late, waiting=waiting, latency_sum=lat_sum,
            latency_max=lat_max, latency_hist=hist, bits_done=bits_done, energy_cpu=e_cpu,
            energy_radio=e_radio, offloaded=offloaded, uplink_bits=sent, channel_busy=ch_busy,
            server_backlog_s=backlog_s, target=target.astype(np.int64),
            channel=chan.astype(np.int64), cpu_level=lvl.astype(np.int64), reward=reward)
        self.busy = ch_busy
        self.energy_last = e_cpu + e_radio
        self.level_last = lvl.astype(np.int64)

        # 6. next interval ------------------------------------------------------------------------
        self.t += 1
        if self.t % LARGE_SCALE_EVERY == 0:
            self._move(LARGE_SCALE_EVERY * T)
            self._refresh_large_scale()
        self._advance_fading()
        self._update_links()
        self.broadcast = self.recorded_backlog
        self.recorded_backlog = backlog_s
        self._draw_arrivals()
        self._obs = self._observe()
        return self._obs, reward, self.t >= cfg.episode_steps

    # --------------------------------------------------------------------- task tables
    def _enqueue_servers(self, dep: np.ndarray, D: np.ndarray) -> None:
        """Append the tasks whose last uplink bit left (mask `dep` [B, U, Q]) to their server's
        FIFO, in the order of their arrival there (D)."""
        if not dep.any():
            return
        bb, uu, jj = np.nonzero(dep)
        ee = self.srv[bb, uu, jj]
        tt = D[bb, uu, jj]
        order = np.lexsort((tt, ee, bb))
        bb, uu, jj, ee, tt = bb[order], uu[order], jj[order], ee[order], tt[order]
        g = bb * self.E + ee
        first = np.searchsorted(g, g, side="left")
        pos = self.s_n.reshape(-1)[g] + (np.arange(g.size) - first)
        need = int(pos.max()) + 1
        if need > self.Qs:
            self._grow_server(need)
        self.s_occ[bb, ee, pos] = True
        c = self.cls[bb, uu, jj]
        self.s_w[bb, ee, pos] = self.cycles_c[c]
        self.s_arr[bb, ee, pos] = tt
        self.s_ta[bb, ee, pos] = self.ta[bb, uu, jj]
        self.s_td[bb, ee, pos] = self.td[bb, uu, jj]
        self.s_cls[bb, ee, pos] = c
        self.s_user[bb, ee, pos] = uu
        np.add.at(self.s_n, (bb, ee), 1)
        np.add.at(self.n_at_srv, (bb, uu), 1)

    def _compact_user(self, keep: np.ndarray) -> None:
        """Drop the slots not in `keep`, keeping the others' order (FIFO = slot order)."""
        n_keep = keep.sum(-1)
        if np.array_equal(n_keep, self.n_occ) and not (self.st > 0)[~keep].any():
            return
        src = np.flatnonzero(keep)
        row = src // self.Q
        dst = row * self.Q + (np.cumsum(keep, axis=-1) - 1).reshape(-1)[src]
        for name, empty in (("st", 0), ("cls", 0), ("ta", 0.0), ("td", np.inf), ("w", 0.0),
                            ("srv", 0)):
            old = getattr(self, name)
            new = np.full_like(old, empty)
            new.reshape(-1)[dst] = old.reshape(-1)[src]
            setattr(self, name, new)
        self.n_occ = n_keep

    def _compact_server(self, keep: np.ndarray) -> None:
        n_keep = keep.sum(-1)
        if np.array_equal(n_keep, self.s_n) and np.array_equal(keep, self.s_occ):
            return
        src = np.flatnonzero(keep)
        row = src // self.Qs
        dst = row * self.Qs + (np.cumsum(keep, axis=-1) - 1).reshape(-1)[src]
        for name, empty in (("s_occ", False), ("s_w", 0.0), ("s_arr", 0.0), ("s_ta", 0.0),
                            ("s_td", np.inf), ("s_cls", 0), ("s_user", 0)):
            old = getattr(self, name)
            new = np.full_like(old, empty)
            new.reshape(-1)[dst] = old.reshape(-1)[src]
            setattr(self, name, new)
        self.s_n = n_keep

    def _waiting(self) -> np.ndarray:
        """Tasks held at the interval's end per user and class, counted from the tables."""
        B, U = self.B, self.U
        nbu3 = B * U * N_CLASSES
        occ = self.st > 0
        i_u = (self._bu.reshape(B, U, 1) * N_CLASSES + self.cls)[occ]
        i_s = ((np.arange(B)[:, None, None] * U + self.s_user) * N_CLASSES + self.s_cls)[
            self.s_occ]
        return np.bincount(np.concatenate([i_u, i_s]), minlength=nbu3).reshape(
            B, U, N_CLASSES).astype(np.int64)

    # ------------------------------------------------------------------------------ channel
    def _move(self, dt: float) -> None:
        """Random waypoint: constant speed towards the waypoint; on arrival a new uniform one,
        the rest of the step spent towards it (one waypoint change per call)."""
        cfg = self.cfg
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

    def _advance_fading(self) -> None:
        rho = self.rho
        w = self._rng.standard_normal(self.h.shape) * np.sqrt(0.5 * (1.0 - rho * rho))
        self.h = rho * self.h + w

    def _update_links(self) -> None:
        """SNR [B, U, E] of the interval and the MCS of every link."""
        if self.fixed_gain is not None:
            g = np.broadcast_to(self.fixed_gain, (self.B, self.U, self.E))
        else:
            g = self.gain * (self.h[0] ** 2 + self.h[1] ** 2)
        self.snr = self.tx_power_w * g / self.noise_w
        with np.errstate(divide="ignore"):
            self.snr_db_now = 10.0 * np.log10(self.snr)
        self.mcs = mcs_index(self.snr_db_now)

    # -------------------------------------------------------------------------- observation
    def _observe(self) -> np.ndarray:
        B, U, K, E = self.B, self.U, self.K, self.E
        W = self.cfg.obs_width
        t_start = self.t * self.T
        obs = np.zeros((B, U, W), np.float32)
        is_loc, is_up = self.st == 1, self.st == 2
        obs[..., 0] = is_loc.sum(-1)
        obs[..., 1] = np.where(is_loc, self.w, 0.0).sum(-1) / 1e9
        obs[..., 2] = is_up.sum(-1)
        obs[..., 3] = np.where(is_up, self.w, 0.0).sum(-1) / 1e6
        obs[..., 4] = self.energy_last * 1e3
        obs[..., 5] = self.level_last / max(self.F - 1, 1)
        obs[..., 6:6 + K] = self.busy[:, None, :]
        occ = self.st > 0
        dl = np.where(occ, self.td, np.inf)
        hol = np.argmin(dl, axis=-1)
        has = occ.any(-1)
        hol_cls = np.take_along_axis(self.cls, hol[..., None], -1)[..., 0]
        hol_dl = np.take_along_axis(dl, hol[..., None], -1)[..., 0]
        obs[..., 6 + K:9 + K] = (hol_cls[..., None] == np.arange(N_CLASSES)) & has[..., None]
        obs[..., 9 + K] = np.where(has, np.clip(hol_dl - t_start, 0.0, 10.0), 0.0)
        obs[..., 10 + K:10 + K + E] = self.broadcast[:, None, :]
        obs[..., 10 + K + E:] = np.clip(self.snr_db_now, -50.0, 100.0)
        return obs

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
        return np.where(self.s_occ, self.s_w, 0.0).sum(-1) / self.cfg.server_cpu_hz

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
        return np.where(self.mcs >= 0, MCS_RATE_BPS[np.maximum(self.mcs, 0)], 0.0)

    def pending_arrivals(self) -> dict[str, np.ndarray]:
        """This interval's arrivals, drawn ahead (central heuristic only): flags, times and
        classes [B, U, 3], sorted by time per user."""
        return {"new": self.arr_new.copy(), "time": self.arr_time.copy(),
                "cls": self.arr_cls.copy()}

    def user_tasks(self) -> dict[str, np.ndarray]:
        """The users' task tables [B, U, Q] (stage 0 empty / 1 local / 2 uplink, class, arrival,
        deadline, remaining work: cycles if local, bits if uplink, target server)."""
        return {"stage": self.st.copy(), "cls": self.cls.copy(), "arrival": self.ta.copy(),
                "deadline": self.td.copy(), "work": self.w.copy(), "server": self.srv.copy()}

    def server_tasks(self) -> dict[str, np.ndarray]:
        """The servers' FIFO tables [B, E, Qs] (occupied, remaining cycles, arrival at the
        server, creation time, deadline, class, user)."""
        return {"occupied": self.s_occ.copy(), "cycles": self.s_w.copy(),
                "arrival_server": self.s_arr.copy(), "arrival": self.s_ta.copy(),
                "deadline": self.s_td.copy(), "cls": self.s_cls.copy(),
                "user": self.s_user.copy()}

    def bench_facts(self) -> dict[str, Any]:
        return {"n_servers": self.E, "n_channels": self.K, "task_slots": self.Q,
                "server_slots": self.Qs}

    def close(self) -> None:
        """Nothing to release in process."""


def _fifo_departures(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Departure times of a work-conserving FIFO single server along the last axis: service
    times x, availability a (-inf for slots not in this queue, which have x = 0).
    D_k = S_k + max_{j <= k} (a_j - S_{j-1})."""
    S = np.cumsum(x, axis=-1)
    with np.errstate(invalid="ignore"):
        m = np.maximum.accumulate(a - (S - x), axis=-1)
        return S + m


def _remaining(w: np.ndarray, x: np.ndarray, D: np.ndarray, t1: float) -> np.ndarray:
    """Work left at t1: w clip(D - t1, 0, x) / x (w where x is 0 or infinite)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rem = np.clip(D - t1, 0.0, x)
        out = w * rem / x
    return np.where((x > 0) & np.isfinite(x), out, w)


def _jain(x: np.ndarray) -> np.ndarray:
    """Jain's index along the last axis (1 where every value is 0)."""
    num = x.sum(-1) ** 2
    den = x.shape[-1] * (x * x).sum(-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
