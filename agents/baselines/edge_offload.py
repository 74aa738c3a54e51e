"""Heuristic baselines of the edge-offload scenario (issue 11 "Baselines"), over batched arrays.

The action space is MultiDiscrete([1 + E, K, F]) = (target: 0 local, e + 1 server e; uplink
channel k; CPU level f); `act(view)` returns [B, U, 3]. The policies read the scenario's core
(this module imports no simulator) through these views (both backends offer them unless noted):
  - `observation()` [B, U, W]: the agents' own observations (layout: model section 5);
  - `estimated_completion()` [B, U, 1 + E, K, F] s, from each agent's own observation;
  - `positions()` [B, U, 2], `ap_positions()` [E, 2] m; `cfg` (the scenario config);
  - central only: `pending_arrivals()` (the coming interval's arrivals, drawn one interval
    ahead by both backends), `server_backlog()` (current), `link_rate_bps()` [B, U, E] and `T`
    (interval, s) / `t` (step index).

Which use what: local-max, dvfs, greedy: the agent's own observation only; offload-nearest: its
own position; random: nothing; central: global knowledge, every user's observation, the
coming arrivals and the servers' true backlog (the upper reference).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from agents.baselines.base import Policy, RandomPolicy


class EdgePolicy(Policy):
    """Base: the action space must be MultiDiscrete([1 + E, K, F]); E, K, F are kept."""

    def reset(self, n_envs, n_agents, action_space, rng):
        super().reset(n_envs, n_agents, action_space, rng)
        if not isinstance(action_space, spaces.MultiDiscrete) or len(action_space.nvec) != 3:
            raise ValueError(f"{self.name}: needs MultiDiscrete([1 + E, K, F]), got"
                             f" {action_space!r}")
        nvec = np.asarray(action_space.nvec)
        self.E, self.K, self.F = int(nvec[0]) - 1, int(nvec[1]), int(nvec[2])

    def _zeros(self) -> np.ndarray:
        return np.zeros((self.B, self.N, 3), np.int64)


def dvfs_level(obs: np.ndarray, levels_hz: np.ndarray, K: int) -> np.ndarray:
    """Lowest CPU level at which the local queue's remaining cycles (obs[1], Gcycles) finish
    within the head-of-line task's slack (obs[9 + K], s); the highest if none does; the lowest
    when the local queue is empty. [B, U] int."""
    cycles = obs[..., 1].astype(np.float64) * 1e9
    slack = obs[..., 9 + K].astype(np.float64)
    t = cycles[..., None] / np.asarray(levels_hz, np.float64)  # [B, U, F]
    ok = t <= slack[..., None]
    F = t.shape[-1]
    level = np.where(ok.any(-1), np.argmax(ok, axis=-1), F - 1)
    return np.where(cycles > 0, level, 0).astype(np.int64)


class LocalMax(EdgePolicy):
    """Every task locally (target 0) at the highest CPU level, channel 0 (never used)."""

    name = "local-max"

    def act(self, view):
        a = self._zeros()
        a[..., 2] = self.F - 1
        return a


class DvfsLocal(EdgePolicy):
    """Every task locally, at the lowest CPU level that meets the head-of-line task's deadline
    (`dvfs_level`); own observation only."""

    name = "dvfs"

    def act(self, view):
        a = self._zeros()
        a[..., 2] = dvfs_level(view.observation(), view.cfg.cpu_levels_hz, self.K)
        return a


class OffloadNearest(EdgePolicy):
    """Every task to the server whose access point is nearest, on a channel drawn uniformly
    every interval; the local CPU at its lowest level (it gets no work)."""

    name = "offload-nearest"

    def act(self, view):
        pos = view.positions()  # [B, U, 2]
        ap = np.asarray(view.ap_positions())  # [E, 2]
        d = np.hypot(pos[..., None, 0] - ap[:, 0], pos[..., None, 1] - ap[:, 1])
        a = self._zeros()
        a[..., 0] = 1 + np.argmin(d, axis=-1)
        a[..., 1] = self.rng.integers(0, self.K, size=(self.B, self.N))
        return a


class GreedyCompletion(EdgePolicy):
    """Per user the action with the minimum estimated completion time of its head-of-line
    task's class (`estimated_completion()`, the agent's own observation only). Near-ties
    (within TIE of the minimum) are broken uniformly at random per user and interval: with a
    strict argmin every user reads the same channel-busy figures and all herd onto one channel
    (measured: 20 of 20 users on one channel, success 0.60 instead of 0.8+). Among the
    offloading options the CPU level is irrelevant to completion, so the lowest is taken."""

    name = "greedy"
    TIE = 0.05

    def act(self, view):
        est = np.asarray(view.estimated_completion())  # [B, U, 1 + E, K, F]
        B, U = est.shape[:2]
        shape = est.shape[2:]
        flat = est.reshape(B, U, -1)
        best = flat.min(-1, keepdims=True)
        cand = flat <= best * (1.0 + self.TIE)
        # offloading options: only f = 0 is a candidate (the level does not change them)
        off = np.zeros(shape, bool)
        off[1:, :, 1:] = True
        cand &= ~off.reshape(-1)
        cand |= (flat == best) & ~cand.any(-1, keepdims=True)
        score = np.where(cand, self.rng.random(flat.shape), -1.0)
        choice = np.argmax(score, axis=-1)
        target, k, f = np.unravel_index(choice, shape)
        return np.stack([target, k, f], axis=-1).astype(np.int64)


class CentralDeadline(EdgePolicy):
    """Centralised upper reference with global knowledge (both backends): per interval it
    reads every user's queues (their observations), this interval's arrivals, every server's
    current backlog and every link's rate. Users with uplink backlog and no new task keep a channel (least loaded first);
    then the users with new tasks, most urgent first (earliest deadline), each get the option
    (local at f_max | server e on channel k) with the minimum estimated completion of their most
    urgent new task given the choices made before them (channel users, server work). Local CPU:
    f_max when the new tasks go local, else the DVFS level of the existing local queue (the
    head-of-line task's slack, as `dvfs`)."""

    name = "central"
    MAC_EFFICIENCY = 0.7  # payload share of a TXOP's airtime (preamble, BlockAck, AIFS, backoff)
    RESULT_S = 1e-4  # one result PPDU + AIFS + CW/2

    def act(self, view: Any):
        cfg = view.cfg
        B, U, E, K, F = self.B, self.N, self.E, self.K, self.F
        f_hz = np.asarray(cfg.cpu_levels_hz, np.float64)
        bits_c = np.array([cfg.urllc_bits, cfg.embb_bits, cfg.mmtc_bits])
        dl_c = np.array([cfg.urllc_deadline_s, cfg.embb_deadline_s, cfg.mmtc_deadline_s])
        cpb, fs = cfg.cycles_per_bit, cfg.server_cpu_hz
        t0 = view.t * view.T
        arr = view.pending_arrivals()
        obs = np.asarray(view.observation(), np.float64)
        rate = np.asarray(view.link_rate_bps(), np.float64)  # [B, U, E]
        local_cycles = obs[..., 1] * 1e9  # [B, U] (model section 5 layout)
        up_bits = obs[..., 3] * 1e6
        srv_load = np.asarray(view.server_backlog(), np.float64).copy()  # [B, E] s
        new = arr["new"]
        cls = arr["cls"]
        new_bits = np.where(new, bits_c[cls], 0.0).sum(-1)  # [B, U]
        has_new = new.any(-1)
        urgent_dl = np.where(new, arr["time"] + dl_c[cls], np.inf).min(-1)  # [B, U]
        urgent_arr = np.where(new, arr["time"], np.inf).min(-1)
        # channel users: backlogged users without new tasks keep the least loaded channel
        n_k = np.zeros((B, K))
        a = self._zeros()
        bidx = np.arange(B)
        carry = (up_bits > 0) & ~has_new
        for u in range(U):
            k = np.argmin(n_k, axis=-1)
            sel = carry[:, u]
            a[sel, u, 1] = k[sel]
            n_k[bidx[sel], k[sel]] += 1
        order = np.argsort(np.where(has_new, urgent_dl, np.inf), axis=-1, kind="stable")
        for i in range(U):
            u = order[:, i]
            live = has_new[bidx, u]
            if not live.any():
                break
            nb = new_bits[bidx, u]
            start = np.where(live, urgent_arr[bidx, u], t0)
            local_t = start + (local_cycles[bidx, u] + nb * cpb) / f_hz[-1]  # [B]
            share = (rate[bidx, u][:, :, None] * self.MAC_EFFICIENCY
                     / (n_k[:, None, :] + 1.0))  # [B, E, K]
            with np.errstate(divide="ignore"):
                t_up = np.where(share > 0, (up_bits[bidx, u] + nb)[:, None, None]
                                / np.where(share > 0, share, 1.0), np.inf)
            t_srv = np.maximum(srv_load - (start - t0)[:, None], 0.0) + (nb * cpb / fs)[:, None]
            off_t = start[:, None, None] + t_up + t_srv[:, :, None] + self.RESULT_S
            best_off = np.argmin(off_t.reshape(B, -1), axis=-1)
            e_b, k_b = np.unravel_index(best_off, (E, K))
            off_best = off_t[bidx, e_b, k_b]
            go = live & (off_best < local_t)
            a[bidx, u, 0] = np.where(go, 1 + e_b, 0)
            keep_k = np.argmin(n_k, axis=-1)
            a[bidx, u, 1] = np.where(go, k_b, keep_k)
            uses_k = np.where(go, k_b, keep_k)
            uplink = live & (go | (up_bits[bidx, u] > 0))
            n_k[bidx[uplink], uses_k[uplink]] += 1
            srv_load[bidx[go], e_b[go]] += (nb * cpb / fs)[go]
            lvl_local = np.full(B, F - 1)
            a[bidx, u, 2] = np.where(live & ~go, lvl_local, a[bidx, u, 2])
        # local CPU of the users whose new tasks do not go local: DVFS of the existing queue
        dvfs = dvfs_level(obs, f_hz, K)
        goes_local = has_new & (a[..., 0] == 0)
        a[..., 2] = np.where(goes_local, F - 1, dvfs)
        return a


BASELINES = {"local-max": LocalMax, "dvfs": DvfsLocal, "offload-nearest": OffloadNearest,
             "random": RandomPolicy, "greedy": GreedyCompletion, "central": CentralDeadline}
