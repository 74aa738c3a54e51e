"""Factorised heads for composite (MultiDiscrete) actions: one output block per component.

Q-learners: action branching (Tavakoli, Pardo & Kormushev 2018, "Action Branching
Architectures for Deep Reinforcement Learning", AAAI; BDQ). A shared trunk feeds a state
value V(s) and one advantage head per component d; component d's Q-values are the dueling
combination

    Q_d(s, a_d) = V(s) + A_d(s, a_d) - mean_a' A_d(s, a')

(their "common state-value estimator" with the mean advantage subtracted), so a composite
action of C components costs sum(nvec) outputs instead of prod(nvec). Of the temporal-
difference targets they compare (independent per branch, max over branches, mean over
branches) we take the one they found best, a single target shared by all branches: the mean
over branches of each branch's Double-DQN value at the next state,

    y = c r + gamma_d (1 - terminal) (1/C) sum_d Q_d^-(s', argmax_a Q_d(s', a)),

and their loss, the mean over branches of each branch's error to that target (Huber here, as
in the flat learners). Their gradient rescaling of the shared trunk by 1/(C+1) is
not used: Adam is invariant to a constant gradient scale.

PPO: one categorical distribution per component over its block of the actor's logits; the
composite action's log-probability is the sum of the components' (they are sampled
independently given the state) and so is the entropy.

A flat Discrete space keeps the plain networks (no value head): its Q-values are one tensor
rather than a list of branches, and on a tensor these helpers do exactly the flat operations
(tests/unit/test_agents_flat.py holds them to the pre-branching numbers).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from agents.ensemble import EnsembleLinear, EnsembleMLP

# Q-values: one tensor [..., K] (Discrete) or one tensor [..., n_d] per component.
QValues = torch.Tensor | list[torch.Tensor]


class BranchingHead(nn.Module):
    """G stacked branching heads: x [G, n, H] -> [Q_1 [G, n, n_1], ..., Q_C [G, n, n_C]]."""

    def __init__(self, groups: int, d_in: int, nvec: Sequence[int]) -> None:
        super().__init__()
        self.nvec = tuple(int(n) for n in nvec)
        self.value = EnsembleLinear(groups, d_in, 1)
        self.advantage = EnsembleLinear(groups, d_in, sum(self.nvec))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        v = self.value(x)
        return [v + a - a.mean(dim=-1, keepdim=True)
                for a in self.advantage(x).split(self.nvec, dim=-1)]


class BranchingQNet(nn.Module):
    """G stacked branching Q-networks: an MLP trunk (every layer with its activation), then
    `BranchingHead`."""

    def __init__(self, groups: int, d_in: int, hidden: Sequence[int], nvec: Sequence[int],
                 activation: str = "relu") -> None:
        super().__init__()
        self.trunk = EnsembleMLP(groups, d_in, hidden, None, activation)
        self.head = BranchingHead(groups, self.trunk.d_out, nvec)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.head(self.trunk(x))


def q_map(q: QValues, fn) -> QValues:
    """Apply `fn` to the one tensor or to every branch's tensor."""
    return [fn(x) for x in q] if isinstance(q, list) else fn(q)


def q_argmax(q: QValues) -> torch.Tensor:
    """Greedy action: [...] (flat) or per branch, stacked [..., C]."""
    if isinstance(q, list):
        return torch.stack([x.argmax(dim=-1) for x in q], dim=-1)
    return q.argmax(dim=-1)


def q_gather(q: QValues, actions: torch.Tensor) -> torch.Tensor:
    """Q of the taken actions: flat q [..., K], actions [...] -> [...]; branched, actions
    [..., C] -> per-branch values [..., C]."""
    if isinstance(q, list):
        return torch.stack([x.gather(-1, actions[..., d:d + 1]).squeeze(-1)
                            for d, x in enumerate(q)], dim=-1)
    return q.gather(-1, actions.unsqueeze(-1)).squeeze(-1)


def double_q_value(q_online_next: QValues, q_target_next: QValues) -> torch.Tensor:
    """Double-DQN next-state value [...]: the online network's argmax evaluated by the target
    network (van Hasselt et al. 2016); branched, the mean over branches of each branch's
    (Tavakoli et al. 2018's mean target)."""
    value = q_gather(q_target_next, q_argmax(q_online_next))
    return value.mean(dim=-1) if isinstance(q_online_next, list) else value


def td_error_loss(q_sa: torch.Tensor, y: torch.Tensor, delta: float, branched: bool
                  ) -> torch.Tensor:
    """Elementwise Huber loss of Q(s, a) against targets y; branched, q_sa [..., C] against
    the shared target y [...], averaged over branches (Tavakoli et al. 2018's loss)."""
    if branched:
        return nn.functional.huber_loss(q_sa, y.unsqueeze(-1).expand_as(q_sa), delta=delta,
                                        reduction="none").mean(dim=-1)
    return nn.functional.huber_loss(q_sa, y, delta=delta, reduction="none")


def categorical_logp_entropy(logits: torch.Tensor, actions: torch.Tensor,
                             nvec: Sequence[int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """log pi(a) and entropy of (product) categorical policies. nvec None: one categorical
    over logits [..., K], actions [...]; else one per component block of logits
    [..., sum(nvec)], actions [..., C]: joint log-prob and entropy are the sums."""
    if nvec is None:
        logp_all = torch.log_softmax(logits, -1)
        logp = logp_all.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
        return logp, -(logp_all.exp() * logp_all).sum(-1)
    logp = entropy = None
    for d, block in enumerate(logits.split(tuple(nvec), dim=-1)):
        lp, ent = categorical_logp_entropy(block, actions[..., d], None)
        logp = lp if logp is None else logp + lp
        entropy = ent if entropy is None else entropy + ent
    assert logp is not None and entropy is not None
    return logp, entropy


def categorical_mode(logits: np.ndarray, nvec: Sequence[int] | None) -> np.ndarray:
    """argmax of each categorical of numpy logits: [...] (one) or [..., C] (one per block)."""
    if nvec is None:
        return logits.argmax(-1)
    bounds = np.cumsum((0, *nvec))
    return np.stack([logits[..., lo:hi].argmax(-1) for lo, hi in itertools.pairwise(bounds)],
                    axis=-1)
