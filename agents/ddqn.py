"""Multi-agent Double DQN (MADDQN of reference 002, Sec. III-A1) over a stacked ensemble.

Each of the G parameter groups (G = N for D-/F- learning, 1 for C- learning; ensemble.py) has
its own online Q-network, target network and uniform replay buffer; one batched forward and
backward trains all of them. Agents decide every `decision_period` steps (streams.py says why);
per gradient step and member g, on decision-level transitions (s, a, r, s'):

    a*  = argmax_a Q(s', a; theta_g)                       (online network selects)
    y   = c r + gamma_d (1 - terminal) Q(s', a*; theta_g^-)  (target network evaluates)
    L_g = mean over the member's minibatch of Huber(Q(s, a; theta_g) - y)

(van Hasselt et al. 2016), r the mean step reward of the decision interval, c `reward_scale`,
gamma_d = gamma ** decision_period. Adam with per-member gradient-norm clipping; the target
follows by Polyak averaging theta^- <- (1 - tau) theta^- + tau theta (ref. 002 Sec. III-A1), or
a hard copy every `target_update_period` steps with tau = 1. Exploration is epsilon-greedy with
a linear schedule over env steps.

Sized from the spaces: obs_dim = prod(obs_space.shape); a Discrete(K) action space gives the
plain network with K outputs, a MultiDiscrete(nvec) one the action-branching network (a shared
trunk, a state value and one advantage head per component; per-branch Double-DQN values
averaged into one shared target: agents/branching.py, Tavakoli et al. 2018).

The twin's episodes end by a time limit, not a terminal state, so targets bootstrap through
episode ends (Pardo et al. 2018); pass `terminated` to `observe` for true terminal states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from agents.branching import (
    BranchingQNet,
    QValues,
    double_q_value,
    q_argmax,
    q_gather,
    q_map,
    td_error_loss,
)
from agents.ensemble import (
    EnsembleMLP,
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
from agents.streams import DecisionStreams, Transition
from agents.target_q import TargetQLearner


@dataclass
class DDQNConfig:
    """Hyperparameters. "ref002 code" = the reference's authors' public implementation
    (github.com/CENTRIC-WP4/6G-infactory-subnetworks, code/config.py), used where the paper is
    silent; "ours" = chosen and measured here (see docs/training.md)."""

    # Agents per shared network (D-/F-): s consecutive agents share one network and one replay
    # buffer, each acting on its own observation; F- averages the N / s cluster networks. 1:
    # a network per agent (ref002). For thousands of agents (issue 14). Ignored in mode c.
    cluster_size: int = 1
    hidden: tuple[int, ...] = (100, 100, 100)  # ref002 code: 3 hidden layers of 100, ReLU
    activation: str = "relu"  # ref002 code
    lr: float = 1e-3  # ref002 code (Adam)
    gamma: float = 0.99  # per env step; ref002 code. Per decision: gamma ** decision_period
    batch_size: int = 256  # ref002 code, per member
    buffer_size: int = 64_000  # ref002 code, decisions per member (shared buffer in mode c)
    learning_starts: int = 1_000  # env steps before the first update; ref002 code warm-up
    train_freq: int = 1  # decision steps between training rounds; ref002 code trains each step
    gradient_steps: int = 1  # gradient steps per training round
    tau: float = 0.005  # Polyak rate (ref002 Sec. III-A1 uses Polyak; value: Fujimoto 2018)
    target_update_period: int = 1  # gradient steps between target updates (tau=1: hard copy)
    eps_start: float = 1.0  # ref002 code
    eps_end: float = 0.001  # ref002 code
    eps_decay_steps: int = 300_000  # env steps; ref002 code: 1500 episodes x 200 steps
    huber_delta: float = 1.0  # Huber loss (Mnih et al. 2015's error clipping); ref002 code
    max_grad_norm: float = 10.0  # per member; Yu et al. 2022 (MAPPO) value; 0 disables
    reward_scale: float = 0.1  # ours: eq. (13) rewards are ~10, scaled to ~1 for the Huber zone
    # From the scenario (LearnerHints, passed by the orchestration); neutral defaults here.
    obs_shift: float | tuple[float, ...] = 0.0  # fixed affine obs scaling (x - shift) / scale
    obs_scale: float | tuple[float, ...] = 1.0  # scalars or per-feature values
    decision_period: int = 1  # env steps per decision (streams.py)
    interval_mean: bool = True  # ours: input the mean observation of the interval too
    last_action: bool = True  # input the own current request (Foerster et al. 2016)

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        self.obs_shift = scaling_value(self.obs_shift)
        self.obs_scale = scaling_value(self.obs_scale)
        checks = {"lr": self.lr > 0, "gamma": 0 <= self.gamma <= 1,
                  "batch_size": self.batch_size >= 1, "buffer_size": self.buffer_size >= 1,
                  "learning_starts": self.learning_starts >= 0, "train_freq": self.train_freq >= 1,
                  "gradient_steps": self.gradient_steps >= 0, "tau": 0 < self.tau <= 1,
                  "target_update_period": self.target_update_period >= 1,
                  "eps_start": 0 <= self.eps_start <= 1, "eps_end": 0 <= self.eps_end <= 1,
                  "eps_decay_steps": self.eps_decay_steps >= 0,
                  "huber_delta": self.huber_delta > 0, "max_grad_norm": self.max_grad_norm >= 0,
                  "reward_scale": self.reward_scale > 0,
                  "obs_scale": bool(np.all(np.asarray(self.obs_scale) > 0)),
                  "decision_period": self.decision_period >= 1,
                  "activation": self.activation in ("relu", "tanh"),
                  "hidden": len(self.hidden) >= 1 and min(self.hidden) >= 1}
        reject_invalid(self, checks)


class MemberReplay:
    """Uniform replay, one ring buffer per member, stored as [G, capacity, ...] arrays.

    Every member receives the same number of transitions per decision step (B in modes d/f,
    B*N in c), so one write pointer serves all; sampling draws independent indices per member.
    """

    _arrays = ("obs", "next_obs", "actions", "rewards", "discount")

    def __init__(self, groups: int, capacity: int, feat_dim: int,
                 action_shape: tuple[int, ...] = ()) -> None:
        self.groups, self.capacity = groups, capacity
        self.obs = np.zeros((groups, capacity, feat_dim), dtype=np.float32)
        self.next_obs = np.zeros((groups, capacity, feat_dim), dtype=np.float32)
        # () for Discrete, (C,) for MultiDiscrete.
        self.actions = np.zeros((groups, capacity, *action_shape), dtype=np.int64)
        self.rewards = np.zeros((groups, capacity), dtype=np.float32)
        self.discount = np.zeros((groups, capacity), dtype=np.float32)  # gamma_d or 0
        self.ptr = self.size = 0

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
            next_obs: np.ndarray, discount: np.ndarray) -> None:
        """Arrays with the member axis first: [G, m, ...]."""
        m = obs.shape[1]
        idx = (self.ptr + np.arange(m)) % self.capacity
        self.obs[:, idx] = obs
        self.next_obs[:, idx] = next_obs
        self.actions[:, idx] = actions
        self.rewards[:, idx] = rewards
        self.discount[:, idx] = discount
        self.ptr = int((self.ptr + m) % self.capacity)
        self.size = min(self.size + m, self.capacity)

    def sample(self, batch: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.size, size=(self.groups, batch))
        g = np.arange(self.groups)[:, None]
        return {k: torch.from_numpy(getattr(self, k)[g, idx]) for k in self._arrays}

    def state_dict(self) -> dict[str, Any]:
        n = self.size
        return {k: getattr(self, k)[:, :n].copy() for k in self._arrays} | {
            "ptr": self.ptr, "size": n}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        n = int(sd["size"])
        if n > self.capacity or sd["obs"].shape[0] != self.groups:
            raise ValueError("replay checkpoint does not fit this buffer (capacity or groups)")
        for k in self._arrays:
            getattr(self, k)[:, :n] = sd[k]
        self.ptr, self.size = int(sd["ptr"]), n


class DDQN(TargetQLearner):
    """Multi-agent Double DQN; `mode` "d" (independent), "c" (shared), "f" (federated).

    F- mode starts every member from the same initial network (FedAvg's common global model,
    McMahan et al. 2017); the federation averages `member_params` every tau_agg steps.
    """

    algo = "ddqn"

    def __init__(self, obs_space: spaces.Box, action_space: spaces.Space, n_agents: int,
                 mode: str = "d", cfg: DDQNConfig | None = None, seed: int = 0) -> None:
        self.cfg = cfg = cfg or DDQNConfig()
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
            self.q = self._make_net(G, F)
            self.q_target = self._make_net(G, F)
        if self.mode == "f":
            broadcast_member0_(self.q.parameters())
        self.q_target.load_state_dict(self.q.state_dict())
        self.q_target.requires_grad_(False)
        self.optim = torch.optim.Adam(self.q.parameters(), lr=cfg.lr)
        self.buffer = MemberReplay(G, cfg.buffer_size, F, self.layout.shape(1, 1)[2:])
        self.gamma_d = cfg.gamma ** cfg.decision_period
        self.env_steps = 0  # env-copy steps observed (B per observe call)
        self.decisions = 0  # decision transitions per agent stream (B per decision step)
        self.grad_steps = 0
        self._pending = 0  # decision steps stored since the last training round

    def _make_net(self, groups: int, feat_dim: int) -> nn.Module:
        c = self.cfg
        if self.layout.multi:
            return BranchingQNet(groups, feat_dim, c.hidden, self.layout.nvec, c.activation)
        return EnsembleMLP(groups, feat_dim, c.hidden, self.layout.nvec[0], c.activation)

    # ------------------------------------------------------------------------- acting
    @property
    def epsilon(self) -> float:
        c = self.cfg
        return linear_schedule(c.eps_start, c.eps_end, c.eps_decay_steps, self.env_steps)

    def q_values(self, feats: np.ndarray) -> QValues:
        """Online Q-values of decision features [B, N, F] (see streams.py): [B, N, K], or one
        [B, N, n_d] per component for MultiDiscrete."""
        x = to_members(torch.from_numpy(np.ascontiguousarray(feats, np.float32)), self.mode,
                       self.cluster)
        with torch.no_grad():
            q = self.q(x)
        return q_map(q, lambda t: from_members(t, self.mode, feats.shape[0], self.n_agents,
                                                       self.cluster))

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Action of every agent ([B, N], or [B, N, C] for MultiDiscrete). At decision steps:
        greedy in Q (explore: epsilon-greedy); in between, the held action."""
        obs = self._check_obs(obs)
        feats = self.streams.begin(obs, explore)
        actions = None
        if feats is not None:
            actions = q_argmax(self.q_values(feats)).numpy()
            if explore:
                actions = self.layout.epsilon_greedy(actions, self.epsilon, self.rng)
        return self.streams.commit(explore, feats, actions).copy()

    def reset_state(self, explore: bool | None = None) -> None:
        """Start new episodes in the acting streams (both, or the explore / greedy one):
        forget held requests and interval statistics."""
        self.streams.reset(explore)

    # ----------------------------------------------------------------------- learning
    def observe(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
                next_obs: np.ndarray, done: np.ndarray,
                terminated: np.ndarray | None = None) -> None:
        """One env step of the training streams (after `act(obs, explore=True)`): obs/next_obs
        [B, N, *obs_shape], actions [B, N] (or [B, N, C]), rewards [B, N], done [B] (episode
        ended: time limit, bootstrapped), terminated [B] or [B, N] (true terminal state: not
        bootstrapped)."""
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

        discount = self.gamma_d * (1.0 - tr.terminated.astype(np.float32))
        self.buffer.add(mem(tr.feats), mem(tr.actions), mem(tr.rewards), mem(tr.next_feats),
                        mem(discount))
        self.decisions += tr.actions.shape[0]
        self._pending += 1

    def update(self) -> dict[str, float]:
        """Train when due (a new decision step stored, train_freq, learning_starts); returns
        the last gradient step's losses when it trained, else {}."""
        c = self.cfg
        if (self._pending < c.train_freq or self.env_steps < c.learning_starts
                or self.buffer.size == 0 or c.gradient_steps == 0):
            return {}
        self._pending = 0
        out: dict[str, float] = {}
        for _ in range(c.gradient_steps):
            out = self._gradient_step(self.buffer.sample(c.batch_size, self.rng))
        out["epsilon"] = self.epsilon
        return out

    def td_targets(self, rewards: torch.Tensor, next_x: torch.Tensor,
                   discount: torch.Tensor) -> torch.Tensor:
        """Double-DQN targets [G, b]: online argmax at s', evaluated by the target network
        (branched: per branch, then the mean over branches; agents/branching.py)."""
        with torch.no_grad():
            q_next = double_q_value(self.q(next_x), self.q_target(next_x))
            return self.cfg.reward_scale * rewards + discount * q_next

    def _gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        c = self.cfg
        y = self.td_targets(batch["rewards"], batch["next_obs"], batch["discount"])
        q_sa = q_gather(self.q(batch["obs"]), batch["actions"])  # [G, b] or [G, b, C]
        per_member = td_error_loss(q_sa, y, c.huber_delta, self.layout.multi).mean(dim=1)
        # Sum over members: member g's gradient is that of its own mean loss, whatever G is.
        self.optim.zero_grad(set_to_none=True)
        per_member.sum().backward()
        norms = clip_grad_norm_members_(list(self.q.parameters()), c.max_grad_norm)
        self.optim.step()
        self.grad_steps += 1
        if self.grad_steps % c.target_update_period == 0:
            polyak_(self.q_target.parameters(), self.q.parameters(), c.tau)
        return {"loss": float(per_member.detach().mean()),
                "q_mean": float(q_sa.detach().mean()), "grad_norm": float(norms.mean())}

