"""Multi-agent DRQN: a recurrent Double-DQN (Hausknecht & Stone 2015), the learner of reference
001 (each agent a DRQN with LSTM layers trained on stored sequences by BPTT).

Network per member: decision features -> Linear + ReLU -> LSTM -> Linear -> Q-values, all
stacked over the member axis (ensemble.py). Agents decide every `decision_period` env steps
(streams.py) and the LSTM advances once per decision, carrying each agent's history.

Replay keeps every agent stream in time order and trains on fixed-length chunks, R2D2-style
(Kapturowski et al. 2019): each chunk starts at a position where the LSTM state the agent had
when acting was stored, the first `burn_in` steps only warm that (stale) state up without
gradient, and the next `seq_len` steps are trained. The state is zeroed where a new episode
starts inside a chunk. Targets are Double-DQN per step: the online network's argmax at the next
state, evaluated by the target network, both unrolled along the same chunk from the stored state
(R2D2); the next state of an episode's last transition is its own final observation, so
time-limit ends bootstrap (Pardo et al. 2018). Chunks are drawn uniformly or, with
`priority_exponent` > 0, by priority (R2D2's mix of the max and mean TD error of a chunk).

A MultiDiscrete action space puts an action-branching head on the LSTM (a state value and one
advantage head per component, the per-branch Double-DQN values averaged into one shared target:
agents/branching.py, Tavakoli et al. 2018); Discrete keeps the plain linear Q head.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from agents.branching import (
    BranchingHead,
    QValues,
    double_q_value,
    q_argmax,
    q_gather,
    q_map,
    td_error_loss,
)
from agents.ensemble import (
    EnsembleLinear,
    EnsembleLSTM,
    ObsScaler,
    broadcast_member0_,
    check_mode,
    clip_grad_norm_members_,
    from_members,
    linear_schedule,
    n_groups,
    polyak_,
    reject_invalid,
    scaling_value,
    to_members,
)
from agents.spaces import ActionLayout
from agents.streams import DecisionStreams, Transition
from agents.target_q import TargetQLearner

State = tuple[torch.Tensor, torch.Tensor]


@dataclass
class DRQNConfig:
    """Hyperparameters: "ref002 code" as in DDQNConfig; "R2D2" = Kapturowski et al. 2019;
    "H&S" = Hausknecht & Stone 2015; "ours" = scaled to 20-decision episodes."""

    # Agents per shared network (D-/F-): s consecutive agents share one network and one replay
    # buffer, each acting on its own observation; F- averages the N / s cluster networks. 1:
    # a network per agent (ref002). For thousands of agents (issue 14). Ignored in mode c.
    cluster_size: int = 1
    embed: int = 64  # ours: one ReLU layer before the LSTM (H&S: conv layers there)
    lstm: int = 64  # ours: small inputs (H&S: 512 on Atari frames)
    lr: float = 1e-3  # ref002 code (Adam)
    gamma: float = 0.99  # per env step; ref002 code. Per decision: gamma ** decision_period
    batch_size: int = 32  # sequences per member (H&S and Mnih et al. 2015: 32)
    seq_len: int = 8  # trained steps per chunk (H&S: 10); ours
    burn_in: int = 4  # R2D2 burns in half a sequence length (40 of 80)
    state_stride: int = 4  # chunks start every this many decisions, where a state is stored
    buffer_size: int = 20_000  # decisions per member (shared buffer in mode c)
    learning_starts: int = 1_000  # env steps; ref002 code warm-up
    train_freq: int = 1  # decision steps between training rounds
    gradient_steps: int = 1
    tau: float = 0.005  # Polyak rate (as DDQNConfig)
    target_update_period: int = 1
    eps_start: float = 1.0  # ref002 code
    eps_end: float = 0.001  # ref002 code
    eps_decay_steps: int = 300_000  # env steps; ref002 code
    huber_delta: float = 1.0
    max_grad_norm: float = 10.0  # per member; 0 disables (R2D2 clips at 40; Yu 2022: 10)
    reward_scale: float = 0.1  # ours (as DDQNConfig)
    # Prioritised sequence replay (Schaul et al. 2016, per chunk as R2D2): priority of a chunk
    # = eta max_t |delta_t| + (1 - eta) mean_t |delta_t| over its trained steps, sampled with
    # probability p^alpha, importance weights (N P)^-beta normalised by the batch maximum. The
    # values are R2D2's (Kapturowski et al. 2019, Table 2). 0 = uniform replay.
    priority_exponent: float = 0.0  # alpha; R2D2: 0.9
    importance_exponent: float = 0.6  # beta; R2D2: 0.6
    priority_eta: float = 0.9  # R2D2: 0.9
    # From the scenario (LearnerHints, passed by the orchestration); neutral defaults here.
    obs_shift: float | tuple[float, ...] = 0.0  # fixed affine obs scaling (x - shift) / scale
    obs_scale: float | tuple[float, ...] = 1.0  # scalars or per-feature values
    decision_period: int = 1  # env steps per decision (streams.py)
    interval_mean: bool = True  # ours: input the mean observation of the interval too
    last_action: bool = True  # the own current request (R2D2 also feeds the last action)

    def __post_init__(self) -> None:
        self.obs_shift = scaling_value(self.obs_shift)
        self.obs_scale = scaling_value(self.obs_scale)
        reject_invalid(self, {
            "embed": self.embed >= 1, "lstm": self.lstm >= 1, "lr": self.lr > 0,
            "gamma": 0 <= self.gamma <= 1, "batch_size": self.batch_size >= 1,
            "seq_len": self.seq_len >= 1, "burn_in": self.burn_in >= 0,
            "state_stride": self.state_stride >= 1,
            "buffer_size": self.buffer_size >= self.seq_len + self.burn_in,
            "learning_starts": self.learning_starts >= 0, "train_freq": self.train_freq >= 1,
            "gradient_steps": self.gradient_steps >= 0, "tau": 0 < self.tau <= 1,
            "target_update_period": self.target_update_period >= 1,
            "eps_start": 0 <= self.eps_start <= 1, "eps_end": 0 <= self.eps_end <= 1,
            "eps_decay_steps": self.eps_decay_steps >= 0, "huber_delta": self.huber_delta > 0,
            "max_grad_norm": self.max_grad_norm >= 0, "reward_scale": self.reward_scale > 0,
            "priority_exponent": self.priority_exponent >= 0,
            "importance_exponent": 0 <= self.importance_exponent <= 1,
            "priority_eta": 0 <= self.priority_eta <= 1,
            "obs_scale": bool(np.all(np.asarray(self.obs_scale) > 0)),
            "decision_period": self.decision_period >= 1})


class RecurrentQNet(nn.Module):
    """G stacked DRQNs: features -> Linear+ReLU -> LSTM -> Q head: Linear (Discrete, K
    outputs) or a branching head (MultiDiscrete: one [.., n_d] tensor per component)."""

    def __init__(self, groups: int, d_in: int, embed: int, hidden: int,
                 layout: ActionLayout) -> None:
        super().__init__()
        self.enc = EnsembleLinear(groups, d_in, embed)
        self.lstm = EnsembleLSTM(groups, embed, hidden)
        self.head = (BranchingHead(groups, hidden, layout.nvec) if layout.multi
                     else EnsembleLinear(groups, hidden, layout.nvec[0]))

    def step(self, x: torch.Tensor, state: State) -> tuple[QValues, State]:
        """One decision: x [G, n, F] -> Q [G, n, K] (or per branch) and the next state."""
        h, state = self.lstm.step(torch.relu(self.enc(x)), state)
        return self.head(h), state

    def unroll(self, x: torch.Tensor, state: State, reset: torch.Tensor | None = None
               ) -> tuple[QValues, torch.Tensor, torch.Tensor, State]:
        """x [G, n, T, F] -> Q [G, n, T, K] (or per branch), per-step h and c [G, n, T, H],
        final state."""
        G, n, T, F = x.shape
        e = torch.relu(self.enc(x.reshape(G, n * T, F))).reshape(G, n, T, -1)
        hs, cs, last = self.lstm(e, state, reset)
        q = q_map(self.head(hs.reshape(G, n * T, -1)), lambda t: t.reshape(G, n, T, -1))
        return q, hs, cs, last


class SequenceReplay:
    """Per member, m agent streams stored in time order: [G, m, T_cap, ...] rings with one time
    pointer (every decision step appends one slice for all streams). The LSTM state an agent
    had when acting is kept every `stride` slices: the chunk start positions."""

    _arrays = ("feats", "next_feats", "actions", "rewards", "discount", "done")

    def __init__(self, groups: int, capacity: int, feat_dim: int, hidden: int,
                 stride: int, action_shape: tuple[int, ...] = ()) -> None:
        self.groups, self.capacity, self.feat_dim = groups, capacity, feat_dim
        self.hidden, self.stride = hidden, stride
        self.action_shape = action_shape  # () for Discrete, (C,) for MultiDiscrete
        self.m = 0
        self.total = 0  # slices ever written

    def _allocate(self, m: int) -> None:
        G, F, H = self.groups, self.feat_dim, self.hidden
        # Time capacity: the decision budget per member spread over its m streams, rounded
        # down to whole strides so that ring slots and chunk starts stay aligned.
        t_cap = max(self.stride, (self.capacity // m) // self.stride * self.stride)
        self.m, self.t_cap = m, t_cap
        self.feats = np.zeros((G, m, t_cap, F), np.float32)
        self.next_feats = np.zeros((G, m, t_cap, F), np.float32)
        self.actions = np.zeros((G, m, t_cap, *self.action_shape), np.int64)
        self.rewards = np.zeros((G, m, t_cap), np.float32)
        self.discount = np.zeros((G, m, t_cap), np.float32)
        self.done = np.zeros((G, m, t_cap), bool)
        self.h = np.zeros((G, m, t_cap // self.stride, H), np.float32)
        self.c = np.zeros((G, m, t_cap // self.stride, H), np.float32)
        # Priority of the chunk starting at each stored state; a new one gets the member's
        # largest priority so far (Schaul et al. 2016: every chunk is replayed at least once).
        self.prio = np.ones((G, m, t_cap // self.stride), np.float64)
        self.max_prio = np.ones(G, np.float64)

    def add(self, feats: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
            next_feats: np.ndarray, discount: np.ndarray, done: np.ndarray,
            state: State) -> None:
        """One decision step of every stream, member axis first ([G, m, ...])."""
        if self.m == 0:
            self._allocate(feats.shape[1])
        elif feats.shape[1] != self.m:
            raise ValueError(f"every step must bring {self.m} streams per member,"
                             f" got {feats.shape[1]}")
        slot = self.total % self.t_cap
        self.feats[:, :, slot] = feats
        self.next_feats[:, :, slot] = next_feats
        self.actions[:, :, slot] = actions
        self.rewards[:, :, slot] = rewards
        self.discount[:, :, slot] = discount
        self.done[:, :, slot] = done
        if slot % self.stride == 0:
            self.h[:, :, slot // self.stride] = state[0].numpy()
            self.c[:, :, slot // self.stride] = state[1].numpy()
            self.prio[:, :, slot // self.stride] = self.max_prio[:, None]
        self.total += 1

    def _start_range(self, window: int) -> tuple[int, int]:
        """Chunk starts (in strides, inclusive) whose window lies in the stored slices."""
        lo = -(-max(0, self.total - self.t_cap) // self.stride)
        hi = (self.total - window) // self.stride
        return lo, hi

    def can_sample(self, window: int) -> bool:
        if self.m == 0 or window > self.t_cap:
            return False
        lo, hi = self._start_range(window)
        return hi >= lo

    def sample(self, batch: int, window: int, rng: np.random.Generator,
               alpha: float = 0.0, beta: float = 0.0) -> dict[str, torch.Tensor]:
        """Chunks [G, batch, window, ...] with their stored start states [G, batch, H];
        uniformly (alpha 0) or with probability priority^alpha, then with importance weights
        "weights" [G, batch] and the chunks' "index" for `update_priorities`."""
        lo, hi = self._start_range(window)
        weights = None
        if alpha == 0.0:
            start = rng.integers(lo, hi + 1, size=(self.groups, batch)) * self.stride
            stream = rng.integers(0, self.m, size=(self.groups, batch))
        else:
            start, stream, weights = self._sample_prioritised(lo, hi, batch, alpha, beta, rng)
        slots = (start[..., None] + np.arange(window)) % self.t_cap  # [G, b, W]
        g = np.arange(self.groups)[:, None, None]
        j = stream[..., None]
        out = {k: torch.from_numpy(getattr(self, k)[g, j, slots]) for k in self._arrays}
        s0 = (start % self.t_cap) // self.stride
        gi = np.arange(self.groups)[:, None]
        out["h0"] = torch.from_numpy(self.h[gi, stream, s0])
        out["c0"] = torch.from_numpy(self.c[gi, stream, s0])
        if weights is not None:
            out["weights"] = torch.from_numpy(weights)
            out["index"] = torch.from_numpy(np.stack([stream, s0]))
        return out

    def _sample_prioritised(self, lo: int, hi: int, batch: int, alpha: float, beta: float,
                            rng: np.random.Generator
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per member, `batch` (start slot, stream) pairs drawn with probability p^alpha over
        the valid chunks, and their importance weights (N P)^-beta / max."""
        n_pos = self.t_cap // self.stride
        pos = np.arange(lo, hi + 1) % n_pos  # ring positions of the valid chunk starts
        n_valid = pos.size
        pr = self.prio[:, :, pos].reshape(self.groups, -1) ** alpha  # [G, m * n_valid]
        cdf = np.cumsum(pr, axis=1)
        total = cdf[:, -1:]
        u = rng.random((self.groups, batch)) * total
        flat = np.minimum(np.stack([np.searchsorted(cdf[g], u[g], side="right")
                                    for g in range(self.groups)]), cdf.shape[1] - 1)
        stream, k = flat // n_valid, flat % n_valid
        start = (lo + k) * self.stride
        p = np.take_along_axis(pr, flat, axis=1) / total
        w = (cdf.shape[1] * p) ** -beta
        return start, stream, (w / w.max(axis=1, keepdims=True)).astype(np.float32)

    def update_priorities(self, index: torch.Tensor, priority: np.ndarray) -> None:
        """New priorities [G, batch] of the chunks sampled at `index` ([2, G, batch]: stream,
        start position)."""
        stream, pos = index.numpy()
        g = np.arange(self.groups)[:, None]
        priority = np.maximum(priority, 1e-6)  # a chunk never becomes unreachable
        self.prio[g, stream, pos] = priority
        self.max_prio = np.maximum(self.max_prio, priority.max(axis=1))

    def state_dict(self) -> dict[str, Any]:
        if self.m == 0:
            return {"m": 0, "total": 0}
        arrays = {k: getattr(self, k).copy() for k in (*self._arrays, "h", "c", "prio")}
        return arrays | {"m": self.m, "total": self.total, "max_prio": self.max_prio.copy()}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        if int(sd["m"]) == 0:
            self.m, self.total = 0, 0
            return
        self._allocate(int(sd["m"]))
        for k in (*self._arrays, "h", "c"):
            if sd[k].shape != getattr(self, k).shape:
                raise ValueError("replay checkpoint does not fit this buffer (capacity or"
                                 " groups)")
            getattr(self, k)[...] = sd[k]
        if "prio" in sd:  # absent in checkpoints written before prioritised replay
            self.prio[...] = sd["prio"]
            self.max_prio[...] = sd["max_prio"]
        self.total = int(sd["total"])


class DRQN(TargetQLearner):
    """Multi-agent DRQN; `mode` "d" (independent), "c" (shared), "f" (federated).

    Federation, checkpoints and export as DDQN (agents/target_q.py). After an aggregation the
    LSTM states stored in the replay come from the pre-average networks: burn-in absorbs that.
    """

    algo = "drqn"

    def __init__(self, obs_space: spaces.Box, action_space: spaces.Space, n_agents: int,
                 mode: str = "d", cfg: DRQNConfig | None = None, seed: int = 0) -> None:
        self.cfg = cfg = cfg or DRQNConfig()
        self.mode = check_mode(mode)
        self._init_spaces(obs_space, action_space, n_agents)
        self.cluster = 1 if self.mode == "c" else cfg.cluster_size
        self.groups = G = n_groups(self.mode, self.n_agents, self.cluster)
        self.scaler = ObsScaler(cfg.obs_shift, cfg.obs_scale, self.obs_shape)
        self.streams = DecisionStreams(self.n_agents, self.obs_dim, self.layout,
                                       cfg.decision_period, self.scaler, cfg.interval_mean,
                                       cfg.last_action)
        F = self.feat_dim = self.streams.feat_dim
        torch_seed, np_seed = np.random.SeedSequence(seed).generate_state(2)
        self.rng = np.random.default_rng(int(np_seed))
        with torch.random.fork_rng():
            torch.manual_seed(int(torch_seed))
            self.q = RecurrentQNet(G, F, cfg.embed, cfg.lstm, self.layout)
            self.q_target = RecurrentQNet(G, F, cfg.embed, cfg.lstm, self.layout)
        if self.mode == "f":
            broadcast_member0_(self.q.parameters())
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.optim = torch.optim.Adam(self.q.parameters(), lr=cfg.lr)
        self.buffer = SequenceReplay(G, cfg.buffer_size, F, cfg.lstm, cfg.state_stride,
                                     self.layout.shape(1, 1)[2:])
        self.gamma_d = cfg.gamma ** cfg.decision_period
        self._state: dict[bool, State | None] = {True: None, False: None}
        self._dec_state: State | None = None  # state before the training streams' decision
        self.env_steps = 0
        self.decisions = 0
        self.grad_steps = 0
        self._pending = 0
        self._new_priority = np.zeros(0)  # chunk priorities of the last prioritised batch

    # ------------------------------------------------------------------------- acting
    @property
    def epsilon(self) -> float:
        c = self.cfg
        return linear_schedule(c.eps_start, c.eps_end, c.eps_decay_steps, self.env_steps)

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Action of every agent ([B, N], or [B, N, C] for MultiDiscrete). At decision steps
        the LSTM advances and the action is greedy in Q (explore: epsilon-greedy); in between,
        the held action. The recurrent state starts from zeros at every episode start."""
        obs = self._check_obs(obs)
        B = obs.shape[0]
        if self.streams.episode_start(explore, B):
            n = B * self.n_agents // self.groups  # streams per member
            self._state[explore] = self.q.lstm.zero_state(n)
        feats = self.streams.begin(obs, explore)
        actions = None
        if feats is not None:
            before = self._state[explore]
            assert before is not None
            with torch.no_grad():
                q, after = self.q.step(to_members(torch.from_numpy(feats), self.mode,
                                                  self.cluster), before)
            self._state[explore] = after
            actions = q_argmax(q_map(q, lambda t: from_members(
                t, self.mode, B, self.n_agents, self.cluster))).numpy()
            if explore:
                self._dec_state = before
                actions = self.layout.epsilon_greedy(actions, self.epsilon, self.rng)
        return self.streams.commit(explore, feats, actions).copy()

    def reset_state(self, explore: bool | None = None) -> None:
        """Start new episodes in the acting streams (both, or the explore / greedy one): zero
        recurrent states, forget held requests."""
        self.streams.reset(explore)
        for key in ((True, False) if explore is None else (explore,)):
            self._state[key] = None

    # ----------------------------------------------------------------------- learning
    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                next_obs: np.ndarray, done: np.ndarray,
                terminated: np.ndarray | None = None) -> None:
        """One env step of the training streams (after `act(obs, explore=True)`); see DDQN."""
        obs, next_obs = self._check_obs(obs), self._check_obs(next_obs)
        tr = self.streams.record(actions, np.asarray(rewards, np.float32), next_obs, done,
                                 terminated)
        self.env_steps += obs.shape[0]
        if tr is not None:
            self._store(tr)

    def _store(self, tr: Transition) -> None:
        def mem(x: np.ndarray) -> np.ndarray:
            return to_members(torch.from_numpy(np.ascontiguousarray(x)), self.mode,
                              self.cluster).numpy()

        B, N = tr.actions.shape[:2]
        discount = self.gamma_d * (1.0 - tr.terminated.astype(np.float32))
        done = np.broadcast_to(tr.done[:, None], (B, N))
        assert self._dec_state is not None
        self.buffer.add(mem(tr.feats), mem(tr.actions), mem(tr.rewards), mem(tr.next_feats),
                        mem(discount), mem(done), self._dec_state)
        self.decisions += B
        self._pending += 1

    def update(self) -> dict[str, float]:
        """Train when due (a new decision step stored, train_freq, learning_starts)."""
        c = self.cfg
        window = c.burn_in + c.seq_len
        if (self._pending < c.train_freq or self.env_steps < c.learning_starts
                or c.gradient_steps == 0 or not self.buffer.can_sample(window)):
            return {}
        self._pending = 0
        out: dict[str, float] = {}
        for _ in range(c.gradient_steps):
            out = self._gradient_step(self.buffer.sample(
                c.batch_size, window, self.rng, c.priority_exponent, c.importance_exponent))
        out["epsilon"] = self.epsilon
        return out

    def sequence_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-member mean Huber TD loss [G] over the trained part of each chunk, and Q(s, a)."""
        c = self.cfg
        G, b, W, F = batch["feats"].shape
        k = c.burn_in
        # A chunk step t starts a new episode when step t-1 ended one; step 0 uses the stored
        # state (already zero at an episode start).
        reset = torch.zeros(G, b, W, dtype=torch.bool)
        reset[:, :, 1:] = batch["done"][:, :, :-1]
        s0 = (batch["h0"], batch["c0"])
        with torch.no_grad():
            if k:
                _, _, _, s_on = self.q.unroll(batch["feats"][:, :, :k], s0, reset[:, :, :k])
                _, _, _, s_tg = self.q_target.unroll(batch["feats"][:, :, :k], s0,
                                                     reset[:, :, :k])
            else:
                s_on = s_tg = s0
        x = batch["feats"][:, :, k:]
        q, hs, cs, _ = self.q.unroll(x, s_on, reset[:, :, k:])
        q_sa = q_gather(q, batch["actions"][:, :, k:])  # [G, b, L] (or [G, b, L, C])
        with torch.no_grad():
            L = x.shape[2]
            nxt = batch["next_feats"][:, :, k:].reshape(G, b * L, F)
            # Next-state values: one more LSTM step from each step's state on that
            # transition's own next features (= the next step's features inside an episode,
            # the final observation at an episode end).
            q_on_next, _ = self.q.step(nxt, (hs.reshape(G, b * L, -1), cs.reshape(G, b * L, -1)))
            _, ths, tcs, _ = self.q_target.unroll(x, s_tg, reset[:, :, k:])
            q_tg_next, _ = self.q_target.step(nxt, (ths.reshape(G, b * L, -1),
                                                    tcs.reshape(G, b * L, -1)))
            # Online argmax evaluated by the target (branched: per branch, mean over branches).
            q_next = double_q_value(q_on_next, q_tg_next).reshape(G, b, L)
            y = (c.reward_scale * batch["rewards"][:, :, k:]
                 + batch["discount"][:, :, k:] * q_next)
        loss = td_error_loss(q_sa, y, c.huber_delta, self.layout.multi)  # [G, b, L]
        if "weights" in batch:  # prioritised: importance weights, and the chunks' new priorities
            with torch.no_grad():
                err = (q_sa - y.unsqueeze(-1)).abs().mean(-1) if self.layout.multi \
                    else (q_sa - y).abs()
                eta = c.priority_eta
                self._new_priority = (eta * err.amax(dim=2)
                                      + (1 - eta) * err.mean(dim=2)).numpy().astype(np.float64)
            loss = loss * batch["weights"].unsqueeze(-1)
        return loss.mean(dim=(1, 2)), q_sa

    def _gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        c = self.cfg
        per_member, q_sa = self.sequence_loss(batch)
        if "index" in batch:
            self.buffer.update_priorities(batch["index"], self._new_priority)
        self.optim.zero_grad(set_to_none=True)
        per_member.sum().backward()  # sum: each member's gradient is its own loss's
        norms = clip_grad_norm_members_(list(self.q.parameters()), c.max_grad_norm)
        self.optim.step()
        self.grad_steps += 1
        if self.grad_steps % c.target_update_period == 0:
            polyak_(self.q_target.parameters(), self.q.parameters(), c.tau)
        return {"loss": float(per_member.detach().mean()),
                "q_mean": float(q_sa.detach().mean()), "grad_norm": float(norms.mean())}

