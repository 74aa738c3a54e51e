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
- Task tables: one float array per queue kind, slot axis first: users [6, Q, B, U] (the tasks
  not yet at a server, in arrival order, so local and uplink FIFO order is slot order), servers
  [7, Qs, B, E] (in server-arrival order). A finished task leaves a hole (no service time in the
  recursion); new tasks go after the row's tail; a row whose tasks are all gone restarts at slot
  0; a table is compacted, then grown, only when a row runs out of slots (Q <= max_tasks).
- The FIFO recursion runs as numpy's cumsum / maximum.accumulate along the slot axis, or, for
  large batches (>= LOOP_MIN_PLANE queues), slot position by slot position, each step one
  vectorised operation over every queue of every user and copy (a loop over queue depth, never
  over users or tasks: numpy's accumulate along a short axis costs ~15x more there).
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

# Task-table rows. Users: [6, Q, B, U]; servers: [7, Qs, B, E] (slot axis first: the per-slot
# recursions then run over contiguous [B, U] planes); float64, empty slots = *_EMPTY.
ST, CL, TA, TD, WK, SV = range(6)  # stage (0 empty, 1 local, 2 uplink), class, arrival,
U_EMPTY = np.array([0.0, 0.0, 0.0, np.inf, 0.0, 0.0])  # deadline, work, target server
OC, SW, SA, STA, STD, SC, SU = range(7)  # occupied, cycles, arrival at the server, arrival,
S_EMPTY = np.array([0.0, 0.0, 0.0, 0.0, np.inf, 0.0, 0.0])  # deadline, class, user
BIG = 1e30  # service time of an uplink task whose user cannot send (finite: no inf - inf)


class StepData:
    """One interval's results (the core's `last`): the info arrays of plan section 6, [B, ...].
    Fresh arrays every step: safe to keep."""

    def __init__(self, **arrays: np.ndarray) -> None:
        self.__dict__.update(arrays)


class EdgeOffloadTwin:
    """Vectorised edge-offload simulator over `n_envs` copies (implements pybridge.api.Core).

    Task tables keep FIFO order as slot order; a slot freed by a finished or late task becomes a
    hole (empty slots take no service time in the max-plus recursion), new tasks go after the
    row's last used slot (`tail`), a row whose tasks are all gone restarts at slot 0, and a table
    is compacted (then grown) only when a row runs out of slots.
    """

    backend = "twin"

    def __init__(self, cfg: EdgeOffloadConfig, n_envs: int = 1) -> None:
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.cfg = cfg
        self.B = B = n_envs
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
        e = np.arange(E)
        self.ap_xy = np.stack([cfg.hall_length * (e + 0.5) / E,
                               np.full(E, cfg.hall_width / 2.0)], axis=-1)  # [E, 2]
        # Per MCS (index mcs + 1; 0 = below MCS 0): uplink rate, N_DBPS and the result's time
        # (results use at least MCS 0).
        self._rate_by = np.concatenate([[0.0], MCS_RATE_BPS])
        self._ndbps_by = np.concatenate([[N_DBPS[0]], N_DBPS])
        self._res_by = ppdu_s(np.float64(cfg.result_bits), self._ndbps_by) + RESULT_EXTRA_S
        self._res_rx_by = self._res_by - RESULT_EXTRA_S
        self._rng = np.random.default_rng(cfg.seed)
        self._k_range = np.arange(self.K)
        self._bu3 = (np.arange(B * U) * N_CLASSES).reshape(B, U)  # (b U + u) 3
        self._bU = (np.arange(B) * U).reshape(B, 1)
        self._ar_bu = np.arange(B * U)
        self._ar_bu_e = np.arange(B * U) * E
        self._bK = (np.arange(B) * self.K).reshape(B, 1)
        self._bE = (np.arange(B) * E).reshape(B, 1)
        self._e_flat = np.arange(E).reshape(1, E)
        self._n_bu3 = B * U * N_CLASSES
        self._hist_base = (np.arange(B * N_CLASSES) * HIST_BINS)
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
        self.pos = rng.random((B, U, 2)) * size
        self.waypoint = rng.random((B, U, 2)) * size
        self.shadow_field = ExponentialField(B, cfg.shadow_corr_distance, rng)
        self.los_field = ExponentialField(B, self.los_corr, rng)
        ap = np.broadcast_to(self.ap_xy, (B, E, 2))
        self._s_ap_sh = self.shadow_field(ap)
        self._s_ap_los = self.los_field(ap)
        self.h = self._complex_gaussian((2, B, U, E), np.float32(1.0))  # CN(0, 1)
        self._refresh_large_scale()
        self._update_links()
        self._alloc_user(4)
        self.n_occ = np.zeros((B, U), np.int64)
        self._alloc_server(8)
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
        self._draw_arrivals()
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
        self._obs = self._observe()
        return self._obs

    def _alloc_user(self, q: int) -> None:
        self.Q = q
        self.ut = np.empty((6, q, self.B, self.U))
        self.ut[:] = U_EMPTY[:, None, None, None]
        self.tail = np.zeros((self.B, self.U), np.int64)

    def _alloc_server(self, q: int) -> None:
        self.Qs = q
        self.stab = np.empty((7, q, self.B, self.E))
        self.stab[:] = S_EMPTY[:, None, None, None]
        self.s_tail = np.zeros((self.B, self.E), np.int64)

    def _room_user(self, need: np.ndarray) -> None:
        """Make every row hold `need` [B, U] more tasks after its tail."""
        if int((self.tail + need).max()) <= self.Q:
            return
        occ = self.ut[ST] > 0
        q = max(self.Q, int((self.n_occ + need).max()))
        if q > self.Q:
            q = max(q, min(2 * self.Q, self.cfg.max_tasks))
        old = self.ut
        self._alloc_user(q)
        _compact_into(old, occ, self.ut)
        self.tail = self.n_occ.copy()

    def _room_server(self, need: np.ndarray) -> None:
        """Make every server queue hold `need` [B, E] more tasks after its tail."""
        if int((self.s_tail + need).max()) <= self.Qs:
            return
        occ = self.stab[OC] > 0
        q = max(self.Qs, int((self.s_n + need).max()))
        if q > self.Qs:
            q = max(q, 2 * self.Qs)
        old = self.stab
        self._alloc_server(q)
        _compact_into(old, occ, self.stab)
        self.s_tail = self.s_n.copy()

    def _draw_arrivals(self) -> None:
        """The next interval's arrivals in class order, [B, U, 3]: flags and times (inf where
        none)."""
        # One uniform per user and class: an arrival iff u < p; given that, u / p is uniform on
        # [0, 1) and independent of the draw, so it places the arrival in the interval.
        u = self._rng.random((self.B, self.U, N_CLASSES))
        self.arr_new = u < self.p_c
        t0 = self.t * self.T
        self.arr_time = np.where(self.arr_new, t0 + u * self._t_per_p, np.inf)

    def set_arrivals(self, new: np.ndarray, time: np.ndarray) -> None:
        """Test hook: replace this interval's arrivals (flags and absolute times [B, U, 3], in
        class order)."""
        self.arr_new = np.asarray(new, bool)
        self.arr_time = np.where(self.arr_new, np.asarray(time, F64), np.inf)

    # ------------------------------------------------------------------------------ step
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """Advance one interval. actions [B, U, 3] = (target, channel, CPU level)."""
        cfg = self.cfg
        a = np.asarray(actions)
        if (not self._started or self.t >= cfg.episode_steps or a.shape != (self.B, self.U, 3)
                or a.dtype.kind not in "iu" or ((a < 0) | (a >= self._high)).any()):
            a = cfg.check_step(a, self.B, self.t, self._started)  # raises with the message
        a = a.astype(np.int64)  # our own copy: the step data keep views of it
        B, U, E, K, T = self.B, self.U, self.E, self.K, self.T
        t0 = self.t * T
        t1 = t0 + T
        target, chan, lvl = a[..., 0], a[..., 1], a[..., 2]
        f = self.f_hz[lvl]  # [B, U]

        # 1. arrivals ------------------------------------------------------------------------
        new, at = self.arr_new, self.arr_time
        created = new.astype(np.int64)
        offloaded = np.zeros((B, U), np.int64)
        late_rej = None
        bu, c = np.nonzero(new.reshape(B * U, N_CLASSES))  # the arrivals, by user then class
        if bu.size:
            t_a = at.reshape(B * U, N_CLASSES)[bu, c]
            if bu.size > 1:  # time order within each user (lexsort is stable: ties by class)
                order = np.lexsort((t_a, bu))
                bu, c, t_a = bu[order], c[order], t_a[order]
            rank = np.arange(bu.size) - np.searchsorted(bu, bu)  # earlier arrivals of the user
            held = (self.n_occ + self.n_at_srv).reshape(-1)[bu]
            ok = held + rank < cfg.max_tasks
            if not ok.all():
                late_rej = np.bincount(bu[~ok] * N_CLASSES + c[~ok],
                                       minlength=self._n_bu3).reshape(B, U, N_CLASSES)
                bu, c, t_a, rank = bu[ok], c[ok], t_a[ok], rank[ok]
            n_acc = np.bincount(bu, minlength=B * U).reshape(B, U)
            self._room_user(n_acc)
            tgt = target.reshape(-1)[bu]
            slot = (self.tail.reshape(-1)[bu] + rank) * (B * U) + bu
            off = tgt > 0
            self.ut.reshape(6, -1)[:, slot] = (
                np.where(off, 2.0, 1.0), c, t_a, t_a + self.deadline_c[c],
                np.where(off, self.bits_c[c], self.cycles_c[c]), np.maximum(tgt - 1, 0))
            self.tail += n_acc
            self.n_occ += n_acc
            offloaded = n_acc * (target > 0)

        ut = self.ut
        st, w = ut[ST], ut[WK]
        is_loc = st == 1.0
        is_up = st == 2.0
        avail = np.maximum(ut[TA], t0)

        # 2. uplink share (Bianchi, section 4) ---------------------------------------------------
        any_up = bool(is_up.any())
        if any_up:
            backlog = (w * is_up).sum(0)  # bits [B, U]
            head = np.argmax(is_up, axis=0)
            head_srv = ut[SV].reshape(self.Q, B * U)[head.reshape(-1), self._ar_bu]
            m1 = self._mcs1.reshape(-1)[self._ar_bu_e + head_srv.astype(np.int64)]
            m1 = m1.reshape(B, U)
            rate = self._rate_by[m1]
            active = (backlog > 0) & (rate > 0)
            L = np.minimum(np.minimum(backlog, MAX_AMPDU_BITS), rate * (MAX_PPDU_S - PREAMBLE_S))
            L = np.where(active, np.maximum(L, 1.0), 0.0)
            ppdu = ppdu_s(L, self._ndbps_by[m1]) * active
            Ts = (ppdu + (SIFS_S + BLOCKACK_S + AIFS_S)) * active
            kidx = (self._bK + chan).reshape(-1)
            n_k = np.bincount(kidx, active.reshape(-1), minlength=B * K)
            sum_ts = np.bincount(kidx, Ts.reshape(-1), minlength=B * K)
            max_ts = np.zeros(B * K)
            np.maximum.at(max_ts, kidx, Ts.reshape(-1))
            n_int = n_k.astype(np.int64)
            tau = self.tau[n_int]
            one_m = 1.0 - tau
            idle = one_m ** n_k
            p_tr = 1.0 - idle
            succ = n_k * tau * one_m ** np.maximum(n_k - 1.0, 0.0)  # P_tr P_s
            ts_mean = sum_ts / np.maximum(n_k, 1.0)
            slot_mean = idle * SLOT_S + succ * ts_mean + (p_tr - succ) * max_ts
            e_c = slot_mean / np.maximum(succ, 1e-300)  # channel time per success
            busy_frac = (1.0 - idle * SLOT_S / slot_mean) * (n_k > 0)
            n_u = n_int[kidx].reshape(B, U)
            s_up = np.where(active, L / (np.maximum(n_u, 1) * e_c[kidx].reshape(B, U)), 0.0)
            inv_up = np.where(active, 1.0 / np.maximum(s_up, 1e-300), BIG)
        else:
            inv_up = np.zeros((B, U))
        # 3. local CPU and uplink FIFOs in one max-plus pass ----------------------------------------
        # [Q, 2, B, U]: local queue (0) and uplink buffer (1) of every user, slot-major
        x2 = np.stack([w * (is_loc / f), w * (is_up * inv_up)], axis=1)
        a2 = np.stack([np.where(is_loc, avail, -np.inf), np.where(is_up, avail, -np.inf)],
                      axis=1)
        D2 = _fifo(x2, a2)
        rem = np.minimum(np.maximum(D2 - t1, 0.0), x2)
        frac = rem / np.maximum(x2, 1e-300)
        w_new = w * (frac[:, 0] + frac[:, 1])
        fin2 = D2 <= t1
        worked = w - w_new
        executed = (worked * is_loc).sum(0)  # cycles [B, U]
        sent = (worked * is_up).sum(0)  # payload bits [B, U]
        td = ut[TD]
        due = td <= t1
        D_loc = D2[:, 0]
        loc_fin = is_loc & fin2[:, 0]
        loc_done = loc_fin & (D_loc <= td)
        loc_late = is_loc & ~loc_done & (due | loc_fin)
        up_dep = is_up & fin2[:, 1]
        up_late = is_up & ~up_dep & due
        ut[WK] = w_new
        # events of the user tables
        cls_u = self._bu3 + ut[CL].astype(np.int64)  # [Q, B, U] (b U + u) 3 + c
        i_ld = cls_u[loc_done]
        l_ld = (D_loc - ut[TA])[loc_done]
        i_late = [cls_u[loc_late | up_late]]

        # 4. servers ----------------------------------------------------------------------------
        if any_up and up_dep.any():
            self._enqueue_servers(up_dep, D2[:, 1])
        i_sd = l_sd = None
        srv_work_left = None
        res_u = res_t = None
        if self.s_n.any():
            sb = self.stab
            occ = sb[OC] > 0
            x = sb[SW] * (1.0 / cfg.server_cpu_hz)
            a_s = np.where(occ, np.maximum(sb[SA], t0), -np.inf)
            D = _fifo(x, a_s)
            rem = np.minimum(np.maximum(D - t1, 0.0), x)
            sb[SW] = rem * cfg.server_cpu_hz
            s_fin = occ & (D <= t1)
            su = (self._bU + sb[SU].astype(np.int64))  # b U + u
            m1 = self._mcs1.reshape(-1)[su * E + self._e_flat]
            s_res = D + self._res_by[m1]
            s_done = s_fin & (s_res <= sb[STD])
            s_late = occ & ~s_done & ((sb[STD] <= t1) | s_fin)
            cls_s = su * N_CLASSES + sb[SC].astype(np.int64)
            i_sd = cls_s[s_done]
            l_sd = (s_res - sb[STA])[s_done]
            i_late.append(cls_s[s_late])
            res_u = su[s_fin]
            res_t = self._res_rx_by[m1[s_fin]]
            gone = s_fin | s_late
            if gone.any():
                sb[:, gone] = S_EMPTY[:, None]
                self.s_n = self.s_n - gone.sum(0)
                self.s_tail = np.where(self.s_n == 0, 0, self.s_tail)
                self.n_at_srv = self.n_at_srv - np.bincount(su[gone], minlength=B * U).reshape(
                    B, U)
            srv_work_left = sb[SW].sum(0)

        # remove what left the user tables (finished locally, sent, late) ----------------------------
        gone_u = loc_fin | loc_late | up_dep | up_late
        if gone_u.any():
            ut[:, gone_u] = U_EMPTY[:, None]
            self.n_occ = self.n_occ - gone_u.sum(0)
            self.tail = np.where(self.n_occ == 0, 0, self.tail)

        # 5. accounting -------------------------------------------------------------------------
        nbu3 = self._n_bu3
        if i_sd is not None:
            done_idx = np.concatenate([i_ld, i_sd])
            done_lat = np.concatenate([l_ld, l_sd])
        else:
            done_idx, done_lat = i_ld, l_ld
        shape3 = (B, U, N_CLASSES)
        if done_idx.size:
            done = np.bincount(done_idx, minlength=nbu3).reshape(shape3)
            lat_sum = np.bincount(done_idx, done_lat, minlength=nbu3).reshape(shape3)
            lat_max = np.zeros(nbu3)
            np.maximum.at(lat_max, done_idx, done_lat)
            lat_max = lat_max.reshape(shape3)
            hidx = self._hist_base[(done_idx // (U * N_CLASSES)) * N_CLASSES
                                   + done_idx % N_CLASSES] + hist_bin(done_lat)
            hist = np.bincount(hidx, minlength=B * N_CLASSES * HIST_BINS).reshape(
                B, N_CLASSES, HIST_BINS)
        else:
            done = np.zeros(shape3, np.int64)
            lat_sum = np.zeros(shape3)
            lat_max = np.zeros(shape3)
            hist = np.zeros((B, N_CLASSES, HIST_BINS), np.int64)
        late_idx = np.concatenate(i_late) if len(i_late) > 1 else i_late[0]
        late = np.bincount(late_idx, minlength=nbu3).reshape(shape3)
        if late_rej is not None:
            late = late + late_rej
        self.waiting = self.waiting + created - done - late
        bits_done = done @ self.bits_c

        # 6. energy and reward ----------------------------------------------------------------
        e_cpu = cfg.kappa * f * f * executed + cfg.cpu_idle_power_w * (T - np.minimum(
            executed / f, T))
        if any_up:
            n_succ = sent / np.maximum(L, 1.0)  # TXOPs (0 for inactive users)
            t_tx = n_succ / (1.0 - self.p_coll[n_u]) * ppdu
            t_active = sent * np.where(active, 1.0 / np.maximum(s_up, 1e-300), 0.0)
            busy_k = busy_frac[kidx].reshape(B, U)
            t_rx = n_succ * BLOCKACK_S + np.maximum(busy_k * t_active - t_tx, 0.0)
            act_k = np.zeros(B * K)
            np.maximum.at(act_k, kidx, t_active.reshape(-1))
            ch_busy = np.minimum(busy_frac * act_k * (1.0 / T), 1.0).reshape(B, K)
        else:
            t_tx = t_rx = 0.0
            ch_busy = np.zeros((B, K))
        if res_u is not None and res_u.size:
            t_rx = t_rx + np.bincount(res_u, res_t, minlength=B * U).reshape(B, U)
        e_radio = cfg.radio_voltage_v * (cfg.radio_tx_current_a * t_tx
                                         + cfg.radio_rx_current_a * t_rx)
        e_radio = np.broadcast_to(e_radio, (B, U)) if np.ndim(e_radio) == 0 else e_radio
        n_done, n_late = _sum3(done), _sum3(late)
        self.done_run += n_done
        self.late_run += n_late
        reward = (cfg.w_success * (n_done - n_late) - cfg.w_latency * (lat_sum @ self.inv_deadline)
                  - cfg.w_energy * (e_cpu + e_radio)
                  + cfg.w_spectral / (cfg.channel_bandwidth_hz * T) * sent)
        if cfg.w_fairness:
            fin = self.done_run + self.late_run
            ratio = np.where(fin > 0, self.done_run / np.maximum(fin, 1.0), 1.0)
            reward = reward - cfg.w_fairness * (1.0 - _jain(ratio))[:, None]
        backlog_s = (srv_work_left * (1.0 / cfg.server_cpu_hz) if srv_work_left is not None
                     else np.zeros((B, E)))
        self.last = StepData(
            created=created, done=done, late=late, waiting=self.waiting, latency_sum=lat_sum,
            latency_max=lat_max, latency_hist=hist, bits_done=bits_done, energy_cpu=e_cpu,
            energy_radio=np.array(e_radio, F64), offloaded=offloaded, uplink_bits=sent,
            channel_busy=ch_busy, server_backlog_s=backlog_s, target=target, channel=chan,
            cpu_level=lvl, reward=reward)
        self.busy = ch_busy
        self.energy_last = e_cpu + e_radio
        self.level_last = lvl

        # 7. next interval ------------------------------------------------------------------------
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
        """Append the tasks whose last uplink bit left (mask `dep` [Q, B, U]) to their server's
        FIFO, in the order of their arrival there (D)."""
        fi = np.flatnonzero(dep)
        vals = self.ut.reshape(6, -1)[:, fi]
        tt = D.reshape(-1)[fi]
        bu = fi % (self.B * self.U)
        bb = bu // self.U
        ee = vals[SV].astype(np.int64)
        g = bb * self.E + ee
        order = np.lexsort((tt, g))
        g, tt, bu, vals = g[order], tt[order], bu[order], vals[:, order]
        count = np.bincount(g, minlength=self.B * self.E)
        self._room_server(count.reshape(self.B, self.E))
        first = np.searchsorted(g, g, side="left")
        pos = (self.s_tail.reshape(-1)[g] + (np.arange(g.size) - first)) * (self.B * self.E) + g
        cls = vals[CL].astype(np.int64)
        self.stab.reshape(7, -1)[:, pos] = (np.ones_like(tt), self.cycles_c[cls], tt, vals[TA],
                                            vals[TD], vals[CL], bu % self.U)
        c2 = count.reshape(self.B, self.E)
        self.s_tail = self.s_tail + c2
        self.s_n = self.s_n + c2
        self.n_at_srv = self.n_at_srv + np.bincount(bu, minlength=self.B * self.U).reshape(
            self.B, self.U)

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

    def _complex_gaussian(self, shape: tuple[int, ...], scale: np.float32) -> np.ndarray:
        """[2, ...] float32 real and imaginary parts of CN(0, scale^2) samples, polar form:
        |w|^2 = -ln(1 - u1) is Exp(1), the phase 2 pi u2 uniform (exactly circular Gaussian;
        float32 and no ziggurat: ~2x faster than standard_normal here)."""
        u = self._rng.random(shape, dtype=np.float32)
        r = np.sqrt(-np.log1p(-u[0]))
        r *= scale
        theta = u[1] * np.float32(2.0 * np.pi)
        out = np.empty(shape, np.float32)
        np.multiply(r, np.cos(theta), out=out[0])
        np.multiply(r, np.sin(theta), out=out[1])
        return out

    def _advance_fading(self) -> None:
        """AR(1) block fading, h <- rho h + sqrt(1 - rho^2) w, once per interval."""
        self.h *= np.float32(self.rho)
        self.h += self._complex_gaussian(self.h.shape, np.float32(self._innov))

    def _update_links(self) -> None:
        """SNR [B, U, E] of the interval and the MCS of every link (mcs + 1 kept: 0 = none)."""
        if self.fixed_gain is not None:
            g = np.broadcast_to(self.fixed_gain, (self.B, self.U, self.E))
        else:
            h = self.h
            g = self.gain * (h[0] * h[0] + h[1] * h[1])
        with np.errstate(divide="ignore"):
            self.snr_db_now = 10.0 * np.log10(g * self._snr_scale)
        self._mcs1 = np.searchsorted(MCS_SNR_DB, self.snr_db_now, side="right")

    @property
    def mcs(self) -> np.ndarray:
        """MCS index of every (user, AP) link this interval, [B, U, E]; -1 below MCS 0."""
        return self._mcs1 - 1

    # -------------------------------------------------------------------------- observation
    def _observe(self) -> np.ndarray:
        B, U, K, E = self.B, self.U, self.K, self.E
        ut = self.ut
        st, w = ut[ST], ut[WK]
        is_loc, is_up = st == 1.0, st == 2.0
        obs = np.empty((B, U, self.cfg.obs_width), np.float32)
        obs[..., 0] = is_loc.sum(0)
        obs[..., 1] = (w * is_loc).sum(0) * 1e-9
        obs[..., 2] = is_up.sum(0)
        obs[..., 3] = (w * is_up).sum(0) * 1e-6
        obs[..., 4] = self.energy_last * 1e3
        obs[..., 5] = self.level_last * (1.0 / max(self.F - 1, 1))
        obs[..., 6:6 + K] = self.busy[:, None, :]
        idx = np.argmin(ut[TD], axis=0).reshape(-1) * (B * U) + self._ar_bu
        hol_dl = ut[TD].reshape(-1)[idx].reshape(B, U)
        hol_cls = ut[CL].reshape(-1)[idx].reshape(B, U)
        has = hol_dl < np.inf
        for c in range(N_CLASSES):
            obs[..., 6 + K + c] = (hol_cls == c) & has
        obs[..., 9 + K] = np.where(has, np.minimum(np.maximum(hol_dl - self.t * self.T, 0.0),
                                                   10.0), 0.0)
        obs[..., 10 + K:10 + K + E] = self.broadcast[:, None, :]
        obs[..., 10 + K + E:] = np.minimum(np.maximum(self.snr_db_now, -50.0), 100.0)
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
        return self.stab[SW].sum(0) / self.cfg.server_cpu_hz

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
        cls = np.broadcast_to(np.arange(N_CLASSES), self.arr_new.shape).copy()
        return {"new": self.arr_new.copy(), "time": self.arr_time.copy(), "cls": cls}

    def user_tasks(self) -> dict[str, np.ndarray]:
        """The users' task tables [B, U, Q] (stage 0 empty / 1 local / 2 uplink, class, arrival,
        deadline, remaining work: cycles if local, bits if uplink, target server); FIFO order
        is slot order, empty slots may lie between tasks."""
        ut = np.moveaxis(self.ut, 1, -1)
        return {"stage": ut[ST].astype(np.int64), "cls": ut[CL].astype(np.int64),
                "arrival": ut[TA].copy(), "deadline": ut[TD].copy(), "work": ut[WK].copy(),
                "server": ut[SV].astype(np.int64)}

    def server_tasks(self) -> dict[str, np.ndarray]:
        """The servers' FIFO tables [B, E, Qs] (occupied, remaining cycles, arrival at the
        server, creation time, deadline, class, user)."""
        sb = np.moveaxis(self.stab, 1, -1)
        return {"occupied": sb[OC] > 0, "cycles": sb[SW].copy(),
                "arrival_server": sb[SA].copy(), "arrival": sb[STA].copy(),
                "deadline": sb[STD].copy(), "cls": sb[SC].astype(np.int64),
                "user": sb[SU].astype(np.int64)}

    def bench_facts(self) -> dict[str, Any]:
        return {"n_servers": self.E, "n_channels": self.K, "task_slots": self.Q,
                "server_slots": self.Qs}

    def close(self) -> None:
        """Nothing to release in process."""


def _compact_into(old: np.ndarray, occ: np.ndarray, new: np.ndarray) -> None:
    """Copy the occupied slots (mask `occ` over old's last three axes) of table `old`
    [R, Q, B, X] into `new` [R, Q', B, X] (pre-filled with empties), slot order kept."""
    rows = old.shape[2] * old.shape[3]
    src = np.flatnonzero(occ)
    pos = (np.cumsum(occ, axis=0) - 1).reshape(-1)[src]
    dst = pos * rows + src % rows
    R = old.shape[0]
    new.reshape(R, -1)[:, dst] = old.reshape(R, -1)[:, src]


# Above this many queues per slot plane, the FIFO recursion runs slot by slot (each step one
# vectorised operation over every queue): numpy's cumsum / maximum.accumulate along the short
# slot axis cost ~5 ns per element there, the slot loop ~0.3 ns (measured, numpy 2.4).
LOOP_MIN_PLANE = 384


def _fifo(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Departure times of work-conserving FIFO single servers along the slot axis 0: service
    times x, availability a (-inf for slots not in the queue, which have x = 0):
    D_k = S_k + max_{j <= k} (a_j - S_{j-1}), S the running sum of x."""
    n_slots = x.shape[0]
    if x.size < LOOP_MIN_PLANE * n_slots or n_slots < 3:
        S = np.cumsum(x, axis=0)
        return S + np.maximum.accumulate(a - S + x, axis=0)
    D = np.empty_like(x)
    S = x[0].copy()
    M = a[0].copy()
    np.add(S, M, out=D[0])
    for q in range(1, n_slots):
        np.maximum(M, a[q] - S, out=M)  # a_q - S_{q-1}
        S += x[q]
        np.add(S, M, out=D[q])
    return D


def _sum3(x: np.ndarray) -> np.ndarray:
    """Sum over a last axis of length 3 (int64), unrolled (a reduction over such a short axis
    costs ~4x more)."""
    return x[..., 0].astype(np.int64) + x[..., 1] + x[..., 2]


def _jain(x: np.ndarray) -> np.ndarray:
    """Jain's index along the last axis (1 where every value is 0)."""
    num = x.sum(-1) ** 2
    den = x.shape[-1] * (x * x).sum(-1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 1.0)
