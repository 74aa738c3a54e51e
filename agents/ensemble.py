"""Stacked ensembles: G independent networks evaluated as one batched network.

Every learner here keeps its N agents' networks as one module whose parameters carry a leading
member axis [G, ...]; a forward pass is a batched matmul (`torch.baddbmm`) over that axis. One
forward/backward then serves all members, while the gradient of member g's parameters depends
only on member g's slice of the input (the members never mix: there is no op across the
member axis), so the members learn exactly as G separate networks would. Adam is elementwise,
so one optimiser over the stacked tensors equals G separate optimisers.

G is the number of parameter groups: G = N for D- and F- learning (each agent its own network),
G = 1 for C- learning (all agents share one network and one replay buffer), G = N / s with
`cluster_size` s > 1 (D-/F-: s consecutive agents share a network and a replay buffer, their
own local observations as input; F- averages across the clusters): for thousands of agents,
where a network and buffer per agent do not fit.

Also here: the fixed observation scaling, the agent <-> member-axis reshapes, the member
parameter (de)serialisation and plain FedAvg over the member axis that all learners share.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

Mode = Literal["d", "c", "f"]
MODES: tuple[str, ...] = ("d", "c", "f")


def check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES} (d: independent, c: shared network and"
                         f" buffer, f: federated), got {mode!r}")
    return mode  # type: ignore[return-value]


def agents_per_member(mode: Mode, n_agents: int, cluster: int = 1) -> int:
    """Agents sharing one member network: `cluster` (d, f) or all of them (c: C- learning is
    the cluster of every agent, so one layout serves both)."""
    return n_agents if mode == "c" else cluster


def n_groups(mode: Mode, n_agents: int, cluster: int = 1) -> int:
    """Parameter groups: one per `cluster` consecutive agents (d, f; 1: one per agent), or one
    shared by all agents (c)."""
    s = agents_per_member(mode, n_agents, cluster)
    check_cluster(s, n_agents)
    return n_agents // s


def check_cluster(cluster: int, n_agents: int) -> None:
    """Agents per shared network (`cluster_size`): a divisor of N."""
    if not isinstance(cluster, int) or cluster < 1 or n_agents % cluster:
        raise ValueError(f"cluster_size must be a positive divisor of the {n_agents} agents "
                         f"(agents n*s .. n*s+s-1 share network n), got {cluster!r}")


# ----------------------------------------------------------------------------------- layers
class EnsembleLinear(nn.Module):
    """G independent affine maps: x [G, n, in] -> x @ W[g] + b[g], W [G, in, out], b [G, 1, out].

    Weights are stored input-major ([in, out]) so the forward is one `baddbmm`, no transpose.
    """

    def __init__(self, groups: int, d_in: int, d_out: int, init: str = "uniform",
                 gain: float = 1.0) -> None:
        super().__init__()
        self.groups, self.d_in, self.d_out = groups, d_in, d_out
        self.weight = nn.Parameter(torch.empty(groups, d_in, d_out))
        self.bias = nn.Parameter(torch.empty(groups, 1, d_out))
        self.reset_parameters(init, gain)

    def reset_parameters(self, init: str = "uniform", gain: float = 1.0) -> None:
        with torch.no_grad():
            if init == "uniform":
                # torch.nn.Linear's default per member: U(-1/sqrt(in), 1/sqrt(in)) for W and b.
                bound = 1.0 / math.sqrt(self.d_in)
                self.weight.uniform_(-bound, bound)
                self.bias.uniform_(-bound, bound)
            elif init == "orthogonal":
                # Orthogonal rows/columns per member, zero bias: the PPO implementation detail of
                # Engstrom et al. 2020 / Andrychowicz et al. 2021 that Yu et al. 2022 keep.
                for g in range(self.groups):
                    w = torch.empty(self.d_out, self.d_in)
                    nn.init.orthogonal_(w, gain=gain)
                    self.weight[g].copy_(w.T)
                self.bias.zero_()
            else:
                raise ValueError(f"unknown init {init!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleMLP(nn.Module):
    """G independent MLPs d_in -> hidden... -> d_out with the same activation after each hidden
    layer. Input [G, n, d_in], output [G, n, d_out]. With d_out None there is no output layer:
    the net ends with the last hidden layer's activation (a trunk that heads are put on)."""

    def __init__(self, groups: int, d_in: int, hidden: Sequence[int], d_out: int | None,
                 activation: str = "relu", init: str = "uniform",
                 out_gain: float = 1.0) -> None:
        super().__init__()
        acts = {"relu": nn.ReLU, "tanh": nn.Tanh}
        if activation not in acts:
            raise ValueError(f"activation must be one of {tuple(acts)}, got {activation!r}")
        sizes = [d_in, *hidden]
        hidden_gain = math.sqrt(2.0) if activation == "relu" else 5.0 / 3.0  # torch calculate_gain
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [EnsembleLinear(groups, a, b, init, hidden_gain), acts[activation]()]
        if d_out is not None:
            layers.append(EnsembleLinear(groups, sizes[-1], d_out, init, out_gain))
        self.d_out = sizes[-1] if d_out is None else d_out
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class EnsembleLSTM(nn.Module):
    """G independent single-layer LSTMs (gate order i, f, g, o as torch.nn.LSTM).

    `step` advances one time step for x [G, n, in] and state (h, c) [G, n, H]; `forward` unrolls
    x [G, n, T, in] from a state, optionally zeroing it where `reset` [G, n, T] marks the first
    step of a new episode, so sequences that cross an episode boundary are handled exactly.
    """

    def __init__(self, groups: int, d_in: int, hidden: int) -> None:
        super().__init__()
        self.groups, self.d_in, self.hidden = groups, d_in, hidden
        self.w_ih = nn.Parameter(torch.empty(groups, d_in, 4 * hidden))
        self.w_hh = nn.Parameter(torch.empty(groups, hidden, 4 * hidden))
        self.bias = nn.Parameter(torch.empty(groups, 1, 4 * hidden))
        bound = 1.0 / math.sqrt(hidden)  # torch.nn.LSTM's default init
        with torch.no_grad():
            for p in (self.w_ih, self.w_hh, self.bias):
                p.uniform_(-bound, bound)
            # Forget-gate bias 1: remember by default early in training (Jozefowicz et al. 2015).
            self.bias[:, :, hidden:2 * hidden] += 1.0

    def zero_state(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = torch.zeros(self.groups, n, self.hidden)
        return z, z.clone()

    def step(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        h, c = state
        gates = torch.baddbmm(self.bias, x, self.w_ih) + torch.bmm(h, self.w_hh)
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
                reset: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Unroll over x [G, n, T, in]; returns h and c of every step ([G, n, T, H] each) and
        the final state."""
        G, n, T, _ = x.shape
        # The input projection of all T steps in one matmul; only the recurrence is sequential.
        xw = torch.baddbmm(self.bias, x.reshape(G, n * T, -1), self.w_ih).reshape(G, n, T, -1)
        h, c = state
        hs, cs = [], []
        for t in range(T):
            if reset is not None:
                keep = (~reset[:, :, t]).unsqueeze(-1).to(h.dtype)
                h, c = h * keep, c * keep
            gates = xw[:, :, t] + torch.bmm(h, self.w_hh)
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            hs.append(h)
            cs.append(c)
        return torch.stack(hs, dim=2), torch.stack(cs, dim=2), (h, c)


# -------------------------------------------------------------------- observation scaling
class ObsScaler:
    """Fixed affine observation scaling x -> (x - shift) / scale, applied inside the learners.

    Why fixed rather than a running normaliser: FedAvg averages networks, which only makes sense
    when every member maps its inputs identically; per-agent running statistics would give each
    member a different input map (and a running normaliser is one more state to federate).
    The scenario supplies shift and scale (`LearnerHints`: scalars, or per-feature values that
    broadcast to the observation shape); the neutral default (0, 1) leaves observations as
    they are. Observations are flattened to [..., obs_dim] before scaling, so per-feature
    values are broadcast to the observation shape and flattened the same way.
    """

    def __init__(self, shift: Any, scale: Any, obs_shape: Sequence[int] | None = None) -> None:
        self.shift, self._shift = _scaling("obs_shift", shift, obs_shape)
        self.scale, self._scale = _scaling("obs_scale", scale, obs_shape)
        if not np.all(self._scale > 0):
            raise ValueError(f"obs_scale must be > 0, got {scale}")

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        return (np.asarray(obs, np.float32) - self._shift) / self._scale


def _scaling(name: str, value: Any, obs_shape: Sequence[int] | None
             ) -> tuple[float | np.ndarray, np.float32 | np.ndarray]:
    """(public value, float32 operand) of a scalar or per-feature scaling parameter."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return float(arr), np.float32(arr)
    if obs_shape is None:
        raise ValueError(f"{name}: per-feature values need the observation shape")
    try:
        full = np.broadcast_to(arr, tuple(obs_shape)).reshape(-1)
    except ValueError:
        raise ValueError(f"{name}: shape {list(arr.shape)} does not broadcast to the observation"
                         f" shape {list(obs_shape)}") from None
    return full.copy(), full.astype(np.float32)


def scaling_value(v: Any) -> float | tuple[float, ...]:
    """A config's obs_shift / obs_scale as a float or a tuple of floats (YAML lists accepted)."""
    arr = np.asarray(v, dtype=np.float64)
    return float(arr) if arr.ndim == 0 else tuple(float(x) for x in arr.reshape(-1))


# ------------------------------------------------------------ agent axis <-> member axis
def to_members(x: torch.Tensor, mode: Mode, cluster: int = 1) -> torch.Tensor:
    """[B, N, ...] -> [G, n, ...]: member axis first (d, f: [N, B, ...]; c: [1, B*N, ...];
    clusters of s agents: [N/s, B*s, ...], rows ordered (copy, agent in the cluster))."""
    B, N = x.shape[:2]
    s = agents_per_member(mode, N, cluster)
    if s == 1:
        return x.transpose(0, 1)
    y = x.reshape(B, N // s, s, *x.shape[2:]).transpose(0, 1)
    return y.reshape(N // s, B * s, *x.shape[2:])


def from_members(y: torch.Tensor, mode: Mode, batch: int, n_agents: int,
                 cluster: int = 1) -> torch.Tensor:
    """Inverse of `to_members`: [G, n, ...] -> [B, N, ...]."""
    s = agents_per_member(mode, n_agents, cluster)
    if s == 1:
        return y.transpose(0, 1)
    x = y.reshape(n_agents // s, batch, s, *y.shape[2:]).transpose(0, 1)
    return x.reshape(batch, n_agents, *y.shape[2:])


def member_of(agent: int, mode: Mode, n_agents: int, cluster: int = 1) -> int:
    if not 0 <= agent < n_agents:
        raise IndexError(f"agent index {agent} out of range [0, {n_agents})")
    return agent // agents_per_member(mode, n_agents, cluster)


# --------------------------------------------------------------- member params and FedAvg
def stacked_params(modules: dict[str, nn.Module]) -> list[tuple[str, nn.Parameter]]:
    """(name, parameter) of every member-stacked parameter, in a fixed order: the dict's order,
    then each module's registration order."""
    return [(f"{prefix}.{name}", p) for prefix, mod in modules.items()
            for name, p in mod.named_parameters()]


def get_member(modules: dict[str, nn.Module], g: int) -> dict[str, np.ndarray]:
    """Member g's slice of every stacked parameter, as float32 numpy copies."""
    return {k: p[g].detach().cpu().numpy().copy() for k, p in stacked_params(modules)}


def set_member(modules: dict[str, nn.Module], g: int, params: dict[str, np.ndarray]) -> None:
    """Load member g's parameters; keys, shapes and dtypes must match `get_member`'s."""
    named = stacked_params(modules)
    expected = [k for k, _ in named]
    if list(params) != expected:
        missing = [k for k in expected if k not in params]
        extra = [k for k in params if k not in expected]
        raise KeyError(f"member parameters must have exactly the keys {expected} in this order;"
                       f" missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for k, p in named:
            v = np.asarray(params[k])
            if v.shape != tuple(p.shape[1:]):
                raise ValueError(f"{k}: expected shape {tuple(p.shape[1:])}, got {v.shape}")
            if not np.issubdtype(v.dtype, np.floating):
                raise TypeError(f"{k}: expected a float array, got {v.dtype}")
            p[g].copy_(torch.as_tensor(v, dtype=p.dtype))


def fedavg_(params: Iterable[nn.Parameter], weights: np.ndarray | Sequence[float] | None,
            groups: int) -> None:
    """In place: every member's slice <- sum_g w_g * member g (w defaults to 1/G; normalised)."""
    if weights is None:
        w = torch.full((groups,), 1.0 / groups)
    else:
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64), dtype=torch.float64)
        if w.shape != (groups,) or bool((w < 0).any()) or not float(w.sum()) > 0:
            raise ValueError(f"weights must be {groups} non-negative numbers with a positive sum")
        w = (w / w.sum()).to(torch.float32)
    with torch.no_grad():
        for p in params:
            mean = torch.tensordot(w, p, dims=([0], [0]))
            p.copy_(mean.unsqueeze(0).expand_as(p))


def broadcast_member0_(params: Iterable[nn.Parameter]) -> None:
    """Copy member 0 into every member (F- learning starts from one common global model)."""
    with torch.no_grad():
        for p in params:
            p.copy_(p[:1].expand_as(p))


def polyak_(target: Iterable[nn.Parameter], online: Iterable[nn.Parameter], tau: float) -> None:
    """target <- (1 - tau) target + tau online (tau = 1: hard copy)."""
    with torch.no_grad():
        for t, o in zip(target, online):
            t.lerp_(o, tau)


def clip_grad_norm_members_(params: Sequence[nn.Parameter], max_norm: float) -> torch.Tensor:
    """Clip each member's gradient to L2 norm <= max_norm, independently per member.

    torch's clip_grad_norm_ would take one norm over all members and so couple them (a large
    gradient of member 0 would shrink member 1's step). Returns the pre-clip norms [G].
    """
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(0)
    sq = torch.stack([g.pow(2).reshape(g.shape[0], -1).sum(dim=1) for g in grads]).sum(dim=0)
    norms = sq.sqrt()
    if max_norm > 0:
        scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.reshape(-1, *([1] * (g.dim() - 1))))
    return norms


def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """Linear interpolation from start to end over `duration` steps, then constant."""
    if duration <= 0:
        return end
    frac = min(max(t / duration, 0.0), 1.0)
    return start + frac * (end - start)


# ---------------------------------------------------------------------------- validation
def reject_invalid(cfg: Any, checks: dict[str, bool]) -> None:
    """Raise one ValueError naming every config field whose check failed."""
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"{type(cfg).__name__}: invalid value for {', '.join(bad)}: "
                         + ", ".join(f"{k}={getattr(cfg, k)!r}" for k in bad))


def check_obs(obs: np.ndarray, n_agents: int, obs_shape: Sequence[int]) -> np.ndarray:
    """Observations [B, N, *obs_shape] as float32 [B, N, obs_dim] (flattened per agent)."""
    obs = np.asarray(obs, dtype=np.float32)
    shape = tuple(obs_shape)
    if obs.ndim != 2 + len(shape) or obs.shape[1:] != (n_agents, *shape):
        raise ValueError(f"observations must have shape [B, {n_agents}, "
                         f"{', '.join(map(str, shape))}], got {list(obs.shape)}")
    return obs.reshape(obs.shape[0], n_agents, -1)


def check_compatible(learner: Any, sd: dict[str, Any]) -> None:
    """Refuse a checkpoint of another algorithm, mode or size, with both named."""
    mine = {"algo": learner.algo, "mode": learner.mode, "obs_dim": learner.obs_dim,
            "action_space": learner.layout.describe(), "n_agents": learner.n_agents}
    theirs = {k: sd.get(k) for k in mine}
    if "action_space" not in sd and "n_actions" in sd:
        # Checkpoints written before MultiDiscrete support: a Discrete space of n_actions.
        theirs["action_space"] = {"type": "Discrete", "nvec": [int(sd["n_actions"])]}
    if mine != theirs:
        raise ValueError(f"checkpoint is for {theirs}, this learner is {mine}")
    cfg_names = {f.name for f in fields(learner.cfg)}
    unknown = set(sd.get("config", {})) - cfg_names
    if unknown:
        raise ValueError(f"checkpoint config has unknown fields: {sorted(unknown)}")
