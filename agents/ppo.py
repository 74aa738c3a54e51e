"""Multi-agent PPO (MAPPO of reference 002, Sec. III-A2) over a stacked ensemble.

Each parameter group (G = N for D-/F- learning, 1 for C- learning = parameter sharing) has an
actor pi(a | o_n) on the agent's local decision features and a critic. With
`centralised_critic` (MAPPO, Yu et al. 2022) the critic sees the agent-specific global state
[o_n, o_1, ..., o_N] (its own features first, then every agent's: the concatenated
observations); otherwise (IPPO) only o_n. The actor never sees more than o_n, so execution stays
decentralised.

On-policy rollouts of `rollout_decisions` decision steps over [B, N] streams (agents decide
every `decision_period` env steps, streams.py), then `epochs` passes of `minibatches`
minibatches per member, minimising per member

    L = -E[min(rho A, clip(rho, 1-eps, 1+eps) A)]                  (Schulman et al. 2017, eq. 7)
        + c_v E[max(Huber(V - R), Huber(V_clip - R))]               (Yu et al. 2022: clipped
        - c_e E[H(pi)]                                                value loss, Huber)

with A from GAE(lambda) (Schulman et al. 2016) at the decision level (discount gamma **
decision_period), advantages normalised per member, returns R = A + V. Value normalisation
(Yu et al. 2022's ValueNorm, without PopArt's output rescaling): the critic predicts returns
standardised by a running mean/std per member. GAE stops at episode ends but bootstraps the
time-limit end from V(final observation) (Pardo et al. 2018).

Sized from the spaces: a Discrete(K) action space gives one categorical over K logits; a
MultiDiscrete(nvec) one gives one categorical per component over its block of sum(nvec)
logits, the composite action's log-probability and entropy being the sums over components
(agents/branching.py). The critic does not depend on the action space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from agents.branching import categorical_logp_entropy, categorical_mode
from agents.ensemble import (
    EnsembleMLP,
    ObsScaler,
    broadcast_member0_,
    check_compatible,
    check_mode,
    clip_grad_norm_members_,
    fedavg_,
    from_members,
    get_member,
    member_of,
    n_groups,
    reject_invalid,
    scaling_value,
    set_member,
    to_members,
)
from agents.spaces import SpacesMixin
from agents.streams import DecisionStreams, Transition


@dataclass
class PPOConfig:
    """Hyperparameters; ref002 gives none, so: "Yu 2022" = MAPPO (Yu et al. 2022, NeurIPS
    D&B, their recommended defaults), "ref002 code" = the reference authors' implementation."""

    # Agents per shared network (D-/F-): s consecutive agents share one network and one replay
    # buffer, each acting on its own observation; F- averages the N / s cluster networks. 1:
    # a network per agent (ref002). For thousands of agents (issue 14). Ignored in mode c.
    cluster_size: int = 1
    hidden: tuple[int, ...] = (64, 64)  # Yu 2022: 2 layers of 64
    activation: str = "relu"  # Yu 2022
    lr: float = 5e-4  # Yu 2022 (actor and critic)
    gamma: float = 0.99  # per env step; Yu 2022, ref002 code. Per decision: ** decision_period
    gae_lambda: float = 0.95  # Yu 2022; Schulman et al. 2016
    clip: float = 0.2  # Schulman et al. 2017; Yu 2022; ref002 code
    epochs: int = 5  # Yu 2022 (5..15; 5 for harder tasks)
    minibatches: int = 1  # Yu 2022 (1 minibatch per epoch)
    rollout_decisions: int = 20  # decision steps per rollout = one 200-step episode (Yu 2022:
    #                              rollout = episode length); x B env copies per member
    entropy_coef: float = 0.01  # Yu 2022
    value_coef: float = 1.0  # Yu 2022
    huber_delta: float = 10.0  # Yu 2022 (Huber value loss)
    value_clip: bool = True  # Yu 2022 (clipped value loss with the same eps)
    value_norm: bool = True  # Yu 2022 (ValueNorm)
    max_grad_norm: float = 10.0  # Yu 2022; per member; 0 disables
    centralised_critic: bool = True  # MAPPO's critic on the global state; False: IPPO.
    #   Its input is F (1 + N) wide, so G = N critics hold O(N^2) weights: use False at N >~ 200
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
        reject_invalid(self, {
            "lr": self.lr > 0, "gamma": 0 <= self.gamma <= 1,
            "gae_lambda": 0 <= self.gae_lambda <= 1, "clip": self.clip > 0,
            "epochs": self.epochs >= 1, "minibatches": self.minibatches >= 1,
            "rollout_decisions": self.rollout_decisions >= 1,
            "entropy_coef": self.entropy_coef >= 0, "value_coef": self.value_coef >= 0,
            "huber_delta": self.huber_delta > 0, "max_grad_norm": self.max_grad_norm >= 0,
            "obs_scale": bool(np.all(np.asarray(self.obs_scale) > 0)),
            "decision_period": self.decision_period >= 1,
            "activation": self.activation in ("relu", "tanh"),
            "hidden": len(self.hidden) >= 1 and min(self.hidden) >= 1})


class RunningMeanStd(nn.Module):
    """Running mean and variance per member (Chan et al.'s parallel update), float64."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(groups, dtype=torch.float64))
        self.register_buffer("var", torch.ones(groups, dtype=torch.float64))
        self.register_buffer("count", torch.zeros(groups, dtype=torch.float64))

    def update(self, x: torch.Tensor) -> None:
        """x [G, n]: one batch per member."""
        x = x.detach().to(torch.float64)
        n = x.shape[1]
        b_mean, b_var = x.mean(dim=1), x.var(dim=1, unbiased=False)
        tot = self.count + n
        delta = b_mean - self.mean
        self.mean += delta * n / tot
        self.var = (self.var * self.count + b_var * n + delta ** 2 * self.count * n / tot) / tot
        self.count = tot

    @property
    def std(self) -> torch.Tensor:
        return self.var.clamp(min=1e-8).sqrt()

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean[:, None]) / self.std[:, None]).to(x.dtype)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.std[:, None] + self.mean[:, None]).to(x.dtype)


class PPO(SpacesMixin):
    """Multi-agent PPO / MAPPO; `mode` "d" (independent), "c" (shared), "f" (federated)."""

    algo = "ppo"

    def __init__(self, obs_space: spaces.Box, action_space: spaces.Space, n_agents: int,
                 mode: str = "d", cfg: PPOConfig | None = None, seed: int = 0) -> None:
        self.cfg = cfg = cfg or PPOConfig()
        self.mode = check_mode(mode)
        self._init_spaces(obs_space, action_space, n_agents)
        # Component sizes of the product of categoricals; None: one categorical (Discrete).
        self._nvec = self.layout.nvec if self.layout.multi else None
        self.cluster = 1 if self.mode == "c" else cfg.cluster_size
        self.groups = G = n_groups(self.mode, self.n_agents, self.cluster)
        self.scaler = ObsScaler(cfg.obs_shift, cfg.obs_scale, self.obs_shape)
        self.streams = DecisionStreams(self.n_agents, self.obs_dim, self.layout,
                                       cfg.decision_period, self.scaler, cfg.interval_mean,
                                       cfg.last_action)
        F = self.feat_dim = self.streams.feat_dim
        critic_in = F * (1 + self.n_agents) if cfg.centralised_critic else F
        torch_seed, np_seed = np.random.SeedSequence(seed).generate_state(2)
        self.rng = np.random.default_rng(int(np_seed))
        with torch.random.fork_rng():
            torch.manual_seed(int(torch_seed))
            # Output gains 0.01 (policy) and 1 (value): Andrychowicz et al. 2021, Yu 2022.
            self.actor = EnsembleMLP(G, F, cfg.hidden, self.layout.width, cfg.activation,
                                     init="orthogonal", out_gain=0.01)
            self.critic = EnsembleMLP(G, critic_in, cfg.hidden, 1, cfg.activation,
                                      init="orthogonal", out_gain=1.0)
        if self.mode == "f":
            broadcast_member0_([*self.actor.parameters(), *self.critic.parameters()])
        self.value_rms = RunningMeanStd(G)
        self.optim = torch.optim.Adam([*self.actor.parameters(), *self.critic.parameters()],
                                      lr=cfg.lr, eps=1e-5)  # eps 1e-5: Yu 2022 (opti_eps)
        self.gamma_d = cfg.gamma ** cfg.decision_period
        self.rollout: list[Transition] = []
        self.env_steps = 0
        self.decisions = 0
        self.updates = 0

    # ------------------------------------------------------------------------- acting
    def logits(self, feats: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Actor logits [B, N, K] (MultiDiscrete: [B, N, sum(nvec)], the components' blocks
        side by side) of decision features [B, N, F]."""
        x = torch.as_tensor(np.asarray(feats, np.float32))
        with torch.no_grad():
            out = self.actor(to_members(x, self.mode, self.cluster))
        return from_members(out, self.mode, x.shape[0], self.n_agents, self.cluster)

    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Action of every agent ([B, N], or [B, N, C] for MultiDiscrete): at decision steps
        a sample of pi (explore) or its mode (not explore); in between, the held action."""
        obs = self._check_obs(obs)
        feats = self.streams.begin(obs, explore)
        actions = None
        if feats is not None:
            logits = self.logits(feats).numpy()
            if explore:  # Gumbel-max: an exact sample of softmax(logits), from our own RNG
                # (per component block: the blocks' argmaxes are independent samples).
                logits = logits - np.log(-np.log(self.rng.random(logits.shape)))
            actions = categorical_mode(logits, self._nvec)
        return self.streams.commit(explore, feats, actions).copy()

    def reset_state(self, explore: bool | None = None) -> None:
        """Start new episodes in the acting streams (both, or the explore / greedy one):
        forget held requests and interval statistics."""
        self.streams.reset(explore)

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
            self.rollout.append(tr)
            self.decisions += tr.actions.shape[0]

    def update(self) -> dict[str, float]:
        """Train once a rollout of `rollout_decisions` decision steps is complete."""
        if len(self.rollout) < self.cfg.rollout_decisions:
            return {}
        out = self._train(self.rollout)
        self.rollout = []
        self.updates += 1
        return out

    def critic_input(self, feats: torch.Tensor) -> torch.Tensor:
        """[..., B, N, F] -> critic input [..., B, N, F(1 + N)] (own features, then all)."""
        if not self.cfg.centralised_critic:
            return feats
        state = feats.flatten(-2).unsqueeze(-2).expand(*feats.shape[:-1], -1)
        return torch.cat([feats, state], dim=-1)

    def values(self, feats: torch.Tensor) -> torch.Tensor:
        """Critic output (normalised when value_norm) of [T, B, N, F] -> [G, T*B*n_per]."""
        x = self.critic_input(feats)
        return self.critic(self._members_tb(x)).squeeze(-1)

    def _members_tb(self, x: torch.Tensor) -> torch.Tensor:
        """[T, B, N, ...] -> [G, T * n, ...] (member axis first, time-major within member)."""
        T, B = x.shape[:2]
        return to_members(x.reshape(T * B, *x.shape[2:]), self.mode, self.cluster)

    def _train(self, rollout: list[Transition]) -> dict[str, float]:
        c, G = self.cfg, self.groups
        T = len(rollout)
        feats = torch.from_numpy(np.stack([r.feats for r in rollout]))  # [T, B, N, F]
        next_feats = torch.from_numpy(np.stack([r.next_feats for r in rollout]))
        actions = torch.from_numpy(np.stack([r.actions for r in rollout]))  # [T, B, N(, C)]
        rewards = torch.from_numpy(np.stack([r.rewards for r in rollout]).astype(np.float32))
        B, N = actions.shape[1:3]
        done = torch.from_numpy(np.stack([np.broadcast_to(r.done[:, None], (B, N))
                                          for r in rollout]).astype(np.float32))
        term = torch.from_numpy(np.stack([r.terminated for r in rollout]).astype(np.float32))

        x_actor = self._members_tb(feats)  # [G, T*n, F]
        x_critic = self._members_tb(self.critic_input(feats))
        a = self._members_tb(actions)
        with torch.no_grad():
            old_logp, _ = categorical_logp_entropy(self.actor(x_actor), a, self._nvec)
            v_old = self.critic(x_critic).squeeze(-1)  # [G, T*n] (normalised)
            v_next = self.critic(self._members_tb(self.critic_input(next_feats))).squeeze(-1)
            v_old_d, v_next_d = v_old, v_next
            if c.value_norm:
                v_old_d = self.value_rms.denormalise(v_old)
                v_next_d = self.value_rms.denormalise(v_next)
            n = v_old.shape[1] // T

            def tm(x: torch.Tensor) -> torch.Tensor:  # [G, T*n] -> [T, G*n]
                return x.reshape(G, T, n).transpose(0, 1).reshape(T, G * n)

            adv = gae(tm(self._members_tb(rewards)), tm(v_old_d), tm(v_next_d),
                      tm(self._members_tb(done)), tm(self._members_tb(term)), self.gamma_d,
                      c.gae_lambda)
            adv = adv.reshape(T, G, n).transpose(0, 1).reshape(G, T * n)
            returns = adv + v_old_d
            if c.value_norm:
                self.value_rms.update(returns)
                target = self.value_rms.normalise(returns)
            else:
                target = returns
            adv = (adv - adv.mean(dim=1, keepdim=True)) / (adv.std(dim=1, keepdim=True) + 1e-8)

        total = x_actor.shape[1]
        mb = max(1, total // c.minibatches)
        stats: dict[str, float] = {}
        g_idx = torch.arange(G)[:, None]
        for _ in range(c.epochs):
            perm = torch.from_numpy(self.rng.random((G, total)).argsort(axis=1))
            for start in range(0, total - mb + 1, mb):
                idx = perm[:, start:start + mb]
                stats = self._minibatch_step(
                    x_actor[g_idx, idx], x_critic[g_idx, idx], a[g_idx, idx],
                    old_logp[g_idx, idx], adv[g_idx, idx], target[g_idx, idx],
                    v_old[g_idx, idx])
        stats["return_mean"] = float(returns.mean())
        return stats

    def _minibatch_step(self, xa: torch.Tensor, xc: torch.Tensor, a: torch.Tensor,
                        old_logp: torch.Tensor, adv: torch.Tensor, target: torch.Tensor,
                        v_old: torch.Tensor) -> dict[str, float]:
        c = self.cfg
        logp, entropy = categorical_logp_entropy(self.actor(xa), a, self._nvec)
        policy_loss = clipped_surrogate(logp, old_logp, adv, c.clip)  # [G]
        v = self.critic(xc).squeeze(-1)
        v_loss = nn.functional.huber_loss(v, target, delta=c.huber_delta, reduction="none")
        if c.value_clip:
            v_clip = v_old + (v - v_old).clamp(-c.clip, c.clip)
            v_loss = torch.max(v_loss, nn.functional.huber_loss(
                v_clip, target, delta=c.huber_delta, reduction="none"))
        per_member = policy_loss + c.value_coef * v_loss.mean(1) - c.entropy_coef * entropy.mean(1)
        self.optim.zero_grad(set_to_none=True)
        per_member.sum().backward()  # sum: each member's gradient is its own loss's
        norms = clip_grad_norm_members_([*self.actor.parameters(), *self.critic.parameters()],
                                        c.max_grad_norm)
        self.optim.step()
        with torch.no_grad():
            approx_kl = (old_logp - logp).mean()
            clip_frac = ((logp - old_logp).exp().sub(1.0).abs() > c.clip).float().mean()
        return {"policy_loss": float(policy_loss.detach().mean()),
                "value_loss": float(v_loss.detach().mean()),
                "entropy": float(entropy.detach().mean()), "approx_kl": float(approx_kl),
                "clip_frac": float(clip_frac), "grad_norm": float(norms.mean())}

    # ------------------------------------------------------------------- federation
    def _fed_modules(self) -> dict[str, nn.Module]:
        return {"actor": self.actor, "critic": self.critic}

    def member_params(self, i: int) -> dict[str, np.ndarray]:
        """Actor and critic of agent i (the shared ones in mode c), float32, fixed key order.
        The value normaliser's statistics stay local (like optimiser state)."""
        return get_member(self._fed_modules(), member_of(i, self.mode, self.n_agents, self.cluster))

    def load_member_params(self, i: int, params: dict[str, np.ndarray]) -> None:
        set_member(self._fed_modules(), member_of(i, self.mode, self.n_agents, self.cluster), params)

    def average_members(self, weights: np.ndarray | None = None) -> None:
        """Plain FedAvg of actor and critic over the member axis (default weights 1/N)."""
        fedavg_([*self.actor.parameters(), *self.critic.parameters()], weights, self.groups)

    # ------------------------------------------------------------------- checkpoints
    def state_dict(self, include_buffer: bool = False) -> dict[str, Any]:
        """Networks, value normaliser, optimiser, counters, RNG; a partial rollout is dropped
        (on-policy data: the next rollout restarts at an episode start)."""
        return {**self._space_record(), "config": asdict(self.cfg),
                "actor": self.actor.state_dict(),
                "critic": self.critic.state_dict(), "value_rms": self.value_rms.state_dict(),
                "optim": self.optim.state_dict(), "env_steps": self.env_steps,
                "decisions": self.decisions, "updates": self.updates,
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        check_compatible(self, sd)
        self.actor.load_state_dict(sd["actor"])
        self.critic.load_state_dict(sd["critic"])
        self.value_rms.load_state_dict(sd["value_rms"])
        self.optim.load_state_dict(sd["optim"])
        self.env_steps, self.decisions = int(sd["env_steps"]), int(sd["decisions"])
        self.updates = int(sd["updates"])
        self.rng.bit_generator.state = sd["rng"]
        self.rollout = []
        self.streams.reset()

    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """The actor as a plain state_dict (member axis first) plus the obs scaling."""
        sd = {f"actor.{k}": v.detach().clone() for k, v in self.actor.state_dict().items()}
        sd["obs_shift"] = torch.tensor(self.scaler.shift)
        sd["obs_scale"] = torch.tensor(self.scaler.scale)
        return sd

    def load_policy_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        self.actor.load_state_dict({k[6:]: v for k, v in sd.items() if k.startswith("actor.")})


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
        done: torch.Tensor, terminated: torch.Tensor, gamma: float, lam: float) -> torch.Tensor:
    """GAE(lambda) over [T, S] (S streams): delta_t = r_t + gamma V(s'_t)(1 - term_t) - V(s_t),
    A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}. V(s'_t) is the value of the
    transition's own next state, so time-limit ends bootstrap and episodes never leak."""
    delta = rewards + gamma * next_values * (1.0 - terminated) - values
    adv = torch.zeros_like(rewards)
    last = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        last = delta[t] + gamma * lam * (1.0 - done[t]) * last
        adv[t] = last
    return adv


def clipped_surrogate(logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor,
                      clip: float) -> torch.Tensor:
    """PPO's clipped surrogate loss per member [G]: -mean(min(rho A, clip(rho) A))."""
    ratio = (logp - old_logp).exp()
    surr = torch.min(ratio * adv, ratio.clamp(1.0 - clip, 1.0 + clip) * adv)
    return -surr.mean(dim=1)
