"""What Double DQN and DRQN share beyond the learning rule: federation, checkpoints, export.

Both keep an online Q-network `q` and a target `q_target` (member-stacked), one Adam optimiser,
a replay buffer, counters (`env_steps`, `decisions`, `grad_steps`) and a numpy `rng`. The
learning itself (acting, replay, targets, gradient steps) stays in each learner's own file.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from torch import nn

from agents.ensemble import check_compatible, fedavg_, get_member, member_of, set_member
from agents.spaces import SpacesMixin


class TargetQLearner(SpacesMixin):
    """Base of DDQN and DRQN: the federation, checkpoint and policy-export API."""

    q: nn.Module
    q_target: nn.Module

    # ------------------------------------------------------------------- federation
    def _fed_modules(self) -> dict[str, nn.Module]:
        return {"q": self.q}

    def member_params(self, i: int) -> dict[str, np.ndarray]:
        """Online Q-network of agent i (the shared one in mode c): float32 arrays in a fixed
        key order; weights input-major (DDQN's "q.layers.0.weight" is [feat_dim, hidden[0]])."""
        return get_member(self._fed_modules(), member_of(i, self.mode, self.n_agents, self.cluster))

    def load_member_params(self, i: int, params: dict[str, np.ndarray]) -> None:
        """Load agent i's online network; its target network is re-synced to it (targets are
        never transmitted: an agent receiving a global model rebuilds its target from it)."""
        g = member_of(i, self.mode, self.n_agents, self.cluster)
        set_member(self._fed_modules(), g, params)
        with torch.no_grad():
            for t, o in zip(self.q_target.parameters(), self.q.parameters()):
                t[g].copy_(o[g])

    def average_members(self, weights: np.ndarray | None = None) -> None:
        """Plain FedAvg over the member axis (weights eta_i, default 1/N), then every target
        network is re-synced to the averaged online network: the same end state as the secure
        path (average of `member_params`, then `load_member_params` for every agent)."""
        fedavg_(self.q.parameters(), weights, self.groups)
        self.q_target.load_state_dict(self.q.state_dict())

    # ------------------------------------------------------------------- checkpoints
    def state_dict(self, include_buffer: bool = False) -> dict[str, Any]:
        """Everything to resume training (networks, optimiser, counters, RNG); the replay
        buffer only when asked (it is large). The acting streams restart at an episode start."""
        sd = {**self._space_record(), "config": asdict(self.cfg), "q": self.q.state_dict(),
              "q_target": self.q_target.state_dict(),
              "optim": self.optim.state_dict(), "env_steps": self.env_steps,
              "decisions": self.decisions, "grad_steps": self.grad_steps,
              "rng": self.rng.bit_generator.state}
        if include_buffer:
            sd["buffer"] = self.buffer.state_dict()
        return sd

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        check_compatible(self, sd)
        self.q.load_state_dict(sd["q"])
        self.q_target.load_state_dict(sd["q_target"])
        self.optim.load_state_dict(sd["optim"])
        self.env_steps, self.decisions = int(sd["env_steps"]), int(sd["decisions"])
        self.grad_steps = int(sd["grad_steps"])
        self.rng.bit_generator.state = sd["rng"]
        if "buffer" in sd:
            self.buffer.load_state_dict(sd["buffer"])
        self.reset_state()

    def policy_state_dict(self) -> dict[str, torch.Tensor]:
        """The acting network as a plain state_dict (member axis first) plus the obs scaling."""
        sd = {f"q.{k}": v.detach().clone() for k, v in self.q.state_dict().items()}
        sd["obs_shift"] = torch.tensor(self.scaler.shift)
        sd["obs_scale"] = torch.tensor(self.scaler.scale)
        return sd

    def load_policy_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        """Load `policy_state_dict` output (e.g. to evaluate a saved policy); target re-synced."""
        self.q.load_state_dict({k[2:]: v for k, v in sd.items() if k.startswith("q.")})
        self.q_target.load_state_dict(self.q.state_dict())
