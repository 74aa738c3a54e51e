"""Decision streams: what an agent sees and when it decides, shared by all learners.

Why agents may decide every `period` steps rather than every step (the scenario supplies the
period, `LearnerHints.decision_period`; 1 = every step). Where an action takes effect only
after a random delay of 1..D steps and requests made while one is pending are ignored (the
channel switches of reference 002, D = tau_max = 10), an agent that decides every step mostly
takes actions that do nothing, and the effect of the ones that count arrives at an unobserved
random delay: a one-step TD target cannot assign that credit. With period = D every request has
landed by the agent's next decision, so the decision-level process is close to Markov.
Reference 002's authors' code does the same (each agent acts at its switching instants, once
every max_switch_delay = 10 steps); we keep all agents on one clock so every learner sees
aligned [B, N] transitions. Measured on reference 002's scenario with 6 agents and 3 channels
(4 copies, 100-step episodes; random channels 10.01 bps/Hz, greedy-filtered 10.7-10.9):
per-step Double DQN reached 10.0-10.2 after 12k vector steps and 10.56 after 33k;
per-decision Double DQN 10.78-10.84 after 10k.

What an agent sees at a decision (all local, all known to the agent):
  - its observation now, scaled by a fixed affine map (see ObsScaler);
  - optionally the mean of its observations over the interval since its last decision: where
    the measurements are noisy (reference 002's fading decorrelates within ~2 steps), the mean
    of `period` looks estimates the slow part far better than one look (3GPP's layer-3 filter
    idea);
  - optionally its own current request as a one-hot per action component (the "last action"
    input of Foerster et al. 2016 / pymarl): with period >= D the previous request has always
    taken effect when the next one is made (none is ignored), so it is the agent's current
    setting, which the observation need not include; it lets a policy prefer staying.

Between decisions the held request ([B, N], or [B, N, C] for composite actions) is repeated
(action repeat, Mnih et al. 2015). A decision's transition closes at the next decision or at
the episode end, with the mean step reward of the interval. `act` keeps one stream state per
`explore` flag, so a greedy evaluation between training steps does not disturb the training
streams; transitions come from the explore=True stream. Episodes must end in all B copies at the
same step (the VecEnv's fixed-length episodes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.ensemble import ObsScaler
from agents.spaces import ActionLayout


@dataclass
class Transition:
    """Decision-level transitions of all streams: features [B, N, F], actions [B, N] (Discrete)
    or [B, N, C] (MultiDiscrete), rewards [B, N], next features [B, N, F], done [B] (episode
    ended here), terminated [B, N] (no bootstrap)."""

    feats: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_feats: np.ndarray
    done: np.ndarray
    terminated: np.ndarray
    steps: int  # env steps the decision interval lasted


class _Stream:
    def __init__(self, batch: int, n_agents: int, obs_dim: int) -> None:
        self.batch = batch
        self.t = 0  # env steps since the episode start (next act's step index)
        self.held: np.ndarray | None = None  # current request [B, N] or [B, N, C]
        self.obs_sum = np.zeros((batch, n_agents, obs_dim), np.float32)
        self.obs_cnt = 0
        self.dec_feats: np.ndarray | None = None
        self.dec_actions: np.ndarray | None = None
        self.rew_sum = np.zeros((batch, n_agents), np.float32)
        self.rew_cnt = 0
        self.term = np.zeros((batch, n_agents), bool)


class DecisionStreams:
    """Per-stream clocks, held actions and decision features for B x N agents."""

    def __init__(self, n_agents: int, obs_dim: int, layout: ActionLayout, period: int,
                 scaler: ObsScaler, interval_mean: bool = True, last_action: bool = True
                 ) -> None:
        if period < 1:
            raise ValueError(f"decision_period must be >= 1, got {period}")
        self.n_agents, self.obs_dim, self.layout = n_agents, obs_dim, layout
        self.period, self.scaler = period, scaler
        self.interval_mean, self.last_action = interval_mean, last_action
        # The own request as one one-hot block per action component, side by side.
        self.feat_dim = (obs_dim * (2 if interval_mean else 1)
                         + (layout.width if last_action else 0))
        self._streams: dict[bool, _Stream | None] = {True: None, False: None}
        self._acted = False

    # ----------------------------------------------------------------------- streams
    def reset(self, explore: bool | None = None) -> None:
        """Forget the acting state (both streams, or one): the next act starts an episode."""
        for key in ((True, False) if explore is None else (explore,)):
            self._streams[key] = None
        if explore in (None, True):
            self._acted = False

    def episode_start(self, explore: bool, batch: int) -> bool:
        """True when the next `begin` of this stream opens a new episode."""
        s = self._streams[explore]
        return s is None or s.batch != batch or s.held is None

    def stream(self, explore: bool, batch: int) -> _Stream:
        s = self._streams[explore]
        if s is None or s.batch != batch:
            s = self._streams[explore] = _Stream(batch, self.n_agents, self.obs_dim)
        return s

    # ------------------------------------------------------------------------ acting
    def features(self, obs: np.ndarray, obs_mean: np.ndarray, held: np.ndarray | None
                 ) -> np.ndarray:
        parts = [self.scaler(obs)]
        if self.interval_mean:
            parts.append(self.scaler(obs_mean))
        if self.last_action:
            onehot = np.zeros(obs.shape[:2] + (self.layout.width,), np.float32)
            if held is not None:  # no request yet at an episode start: all zeros
                idx = held + self.layout.offsets if self.layout.multi else held[..., None]
                np.put_along_axis(onehot, idx, 1.0, axis=-1)
            parts.append(onehot)
        return np.concatenate(parts, axis=-1).astype(np.float32, copy=False)

    def begin(self, obs: np.ndarray, explore: bool) -> np.ndarray | None:
        """Take in this step's observation; decision features [B, N, F] when the streams
        decide at this step, else None (the held request repeats)."""
        s = self.stream(explore, obs.shape[0])
        s.obs_sum += obs
        s.obs_cnt += 1
        if s.t % self.period != 0 and s.held is not None:
            return None
        return self.features(obs, s.obs_sum / s.obs_cnt, s.held)

    def commit(self, explore: bool, feats: np.ndarray | None,
               actions: np.ndarray | None) -> np.ndarray:
        """Finish this step's act: store a new decision (when `feats` is given) and return the
        request of every agent ([B, N] or [B, N, C])."""
        s = self._streams[explore]
        assert s is not None
        if feats is not None:
            assert actions is not None
            s.held = np.asarray(actions, np.int64)
            s.obs_sum[:] = 0.0
            s.obs_cnt = 0
            if explore:
                s.dec_feats = feats
        s.t += 1
        if explore:
            self._acted = True
        assert s.held is not None
        return s.held

    # ----------------------------------------------------------------------- learning
    def record(self, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
               done: np.ndarray, terminated: np.ndarray | None) -> Transition | None:
        """Account one env step of the training stream; returns the decision transitions that
        close at this step (next step is a decision, or the episode ended), else None."""
        if not self._acted:
            raise RuntimeError("observe() needs act(obs, explore=True) first: the decision"
                               " state of the training streams comes from it")
        s = self._streams[True]
        assert s is not None
        B, N = s.batch, self.n_agents
        done_b = np.asarray(done, bool).reshape(B, -1).any(axis=1)
        if done_b.any() and not done_b.all():
            raise ValueError("episodes must end in all B copies at the same step (the VecEnv's"
                             " fixed-length episodes); got done for only some copies")
        if s.rew_cnt == 0:
            s.dec_actions = self.layout.check(actions, B, N).copy()
        s.rew_sum += rewards
        s.rew_cnt += 1
        if terminated is not None:
            s.term |= np.broadcast_to(np.asarray(terminated, bool).reshape(B, -1), (B, N))
        ended = bool(done_b.all())
        if s.t % self.period != 0 and not ended:
            return None
        next_mean = (s.obs_sum + next_obs) / (s.obs_cnt + 1)
        assert s.dec_feats is not None and s.dec_actions is not None
        out = Transition(feats=s.dec_feats, actions=s.dec_actions,
                         rewards=s.rew_sum / s.rew_cnt,
                         next_feats=self.features(next_obs, next_mean, s.held),
                         done=np.full(B, ended), terminated=s.term.copy(), steps=s.rew_cnt)
        s.rew_sum = np.zeros_like(s.rew_sum)
        s.rew_cnt = 0
        if ended:
            self.reset(True)
        return out
