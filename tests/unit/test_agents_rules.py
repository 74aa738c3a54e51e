"""The learning rules, checked against hand-computed values, so that realistic one-line bugs
fail (issue 10): target networks that are never updated, DRQN's Double-DQN target taking the
target network's own argmax, PPO's clipped value loss with min instead of max, advantages
normalised across members, GAE through the training path, the epsilon schedule, DRQN's
burn-in, and C- mode's one shared network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.ensemble import linear_schedule
from agents.registry import make_learner

torch.set_num_threads(1)

W, K, N, B = 3, 3, 4, 2
OBS, ACT = spaces.Box(-np.inf, np.inf, (W,), np.float32), spaces.Discrete(K)
SMALL = {"maddqn": {"hidden": (16,), "batch_size": 8, "learning_starts": 0, "buffer_size": 64,
                    "decision_period": 2},
         "mappo": {"hidden": (16,), "rollout_decisions": 3, "epochs": 1, "decision_period": 2},
         "drqn": {"embed": 8, "lstm": 8, "batch_size": 4, "seq_len": 3, "burn_in": 2,
                  "state_stride": 2, "learning_starts": 0, "buffer_size": 64,
                  "decision_period": 2}}


def small(name: str, seed: int = 0, action_space=ACT, **kw):
    return make_learner(name, OBS, action_space, N, seed=seed,
                        **(SMALL[name.split("-")[1]] | kw))


def drive(learner, T: int, seed: int = 0, rewards=None) -> None:
    """T env steps of random observations; episode end every 8 steps; no training."""
    rng = np.random.default_rng(seed + 100)
    obs = np.random.default_rng(seed).normal(0, 1, (T + 1, B, N, W)).astype(np.float32)
    for t in range(T):
        a = learner.act(obs[t], explore=True)
        r = rng.normal(1, 1, (B, N)) if rewards is None else rewards(t)
        learner.observe(obs[t], a, r, obs[t + 1], np.full(B, (t + 1) % 8 == 0))


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def sample(learner):
    if learner.algo == "drqn":
        c = learner.cfg
        return learner.buffer.sample(c.batch_size, c.burn_in + c.seq_len,
                                     np.random.default_rng(0))
    return learner.buffer.sample(learner.cfg.batch_size, np.random.default_rng(0))


# ------------------------------------------------------------------------ target networks
@pytest.mark.parametrize("name", ["d-maddqn", "f-drqn"])
def test_target_follows_online_by_polyak_each_gradient_step(name):
    tau = 0.3
    learner = small(name, tau=tau)
    drive(learner, 24)
    for _ in range(2):
        t0 = params(learner.q_target)
        learner._gradient_step(sample(learner))
        for t, tn, o in zip(t0, learner.q_target.parameters(), learner.q.parameters()):
            assert not torch.equal(t, tn)  # the target moved ...
            torch.testing.assert_close(tn, (1 - tau) * t + tau * o.detach())  # ... by Polyak


@pytest.mark.parametrize("name", ["c-maddqn", "d-drqn"])
def test_hard_target_copy_every_period(name):
    learner = small(name, tau=1.0, target_update_period=2)
    drive(learner, 24)
    t0 = params(learner.q_target)
    learner._gradient_step(sample(learner))  # step 1: not due
    for t, tn in zip(t0, learner.q_target.parameters()):
        assert torch.equal(t, tn)
    learner._gradient_step(sample(learner))  # step 2: hard copy
    for tn, o in zip(learner.q_target.parameters(), learner.q.parameters()):
        assert torch.equal(tn, o)
    assert any(not torch.equal(t, tn) for t, tn in zip(t0, learner.q_target.parameters()))


def test_update_drives_target_updates():
    """Through the public loop (act/observe/update), not only _gradient_step."""
    learner = small("d-maddqn", tau=0.5)
    t0 = params(learner.q_target)
    drive(learner, 4)
    assert learner.update() != {}
    assert learner.grad_steps == 1
    assert all(not torch.equal(a, b) for a, b in zip(t0, learner.q_target.parameters()))


# -------------------------------------------------------------- Double DQN, DRQN, by hand
def _constant_head(head, values) -> None:
    """Make a linear Q head output `values` whatever its input."""
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor(values).expand_as(head.bias))


def test_drqn_double_dqn_target_uses_online_argmax_evaluated_by_target():
    learner = small("d-drqn", gamma=0.9)
    drive(learner, 24)
    _constant_head(learner.q.head, [1.0, 3.0, 2.0])  # online argmax: action 1
    _constant_head(learner.q_target.head, [10.0, 4.0, 7.0])  # target's own argmax: 0 (10)
    batch = sample(learner)
    loss, q_sa = learner.sequence_loss(batch)
    k, c = learner.cfg.burn_in, learner.cfg
    a = batch["actions"][:, :, k:].numpy()
    r, disc = batch["rewards"][:, :, k:].numpy(), batch["discount"][:, :, k:].numpy()
    y = c.reward_scale * r + disc * 4.0  # the target net's value at the online argmax
    q = np.array([1.0, 3.0, 2.0])[a]
    err = np.abs(q - y)
    huber = np.where(err <= c.huber_delta, 0.5 * err ** 2,
                     c.huber_delta * (err - 0.5 * c.huber_delta))
    np.testing.assert_allclose(q_sa.detach().numpy(), q, rtol=1e-6)
    np.testing.assert_allclose(loss.detach().numpy(), huber.mean(axis=(1, 2)), rtol=1e-5)


def test_branched_drqn_target_is_mean_of_per_branch_double_values():
    space = spaces.MultiDiscrete([2, 3])
    learner = small("d-drqn", action_space=space, gamma=0.9)
    drive(learner, 24)
    for net, v, adv in ((learner.q, 0.0, [1.0, 3.0, 0.0, 0.0, 9.0]),  # argmax 1, 2
                        (learner.q_target, 0.0, [10.0, 4.0, 8.0, 1.0, 2.0])):
        _constant_head(net.head.value, [v])
        _constant_head(net.head.advantage, adv)
    # Target's dueling Q (V = 0): branch 0 [10, 4] - 7 = [3, -3], at the online argmax 1: -3;
    # branch 1 [8, 1, 2] - 11/3, at the online argmax 2: 2 - 11/3. The target's own argmax
    # would give 3 and 8 - 11/3.
    q_next = ((4.0 - 7.0) + (2.0 - 11.0 / 3.0)) / 2.0
    batch = sample(learner)
    loss, q_sa = learner.sequence_loss(batch)
    k, c = learner.cfg.burn_in, learner.cfg
    a = batch["actions"][:, :, k:].numpy()
    online = [np.array([1.0, 3.0]) - 2.0, np.array([0.0, 0.0, 9.0]) - 3.0]
    q = np.stack([online[d][a[..., d]] for d in range(2)], -1)
    r, disc = batch["rewards"][:, :, k:].numpy(), batch["discount"][:, :, k:].numpy()
    y = c.reward_scale * r + disc * q_next
    err = np.abs(q - y[..., None])
    huber = np.where(err <= c.huber_delta, 0.5 * err ** 2,
                     c.huber_delta * (err - 0.5 * c.huber_delta))
    np.testing.assert_allclose(q_sa.detach().numpy(), q, rtol=1e-6)
    np.testing.assert_allclose(loss.detach().numpy(), huber.mean(axis=(1, 2, 3)), rtol=1e-5)


class _FixedQ(torch.nn.Module):
    def __init__(self, q) -> None:
        super().__init__()
        self.q = [torch.tensor(v) for v in q]

    def forward(self, x):
        return [v.expand(*x.shape[:-1], -1) for v in self.q]


def test_branched_ddqn_target_by_hand():
    learner = small("d-maddqn", action_space=spaces.MultiDiscrete([2, 3]))
    learner.q = _FixedQ([[1.0, 3.0], [0.0, 0.0, 9.0]])  # online argmax 1, 2
    learner.q_target = _FixedQ([[10.0, 4.0], [8.0, 1.0, 2.0]])  # values 4, 2 (own max 10, 8)
    y = learner.td_targets(torch.tensor([[5.0, 5.0]]), torch.zeros(1, 2, learner.feat_dim),
                           torch.tensor([[0.9, 0.0]]))
    c = learner.cfg.reward_scale
    np.testing.assert_allclose(y.numpy(), [[c * 5 + 0.9 * 3.0, c * 5]], rtol=1e-6)


# --------------------------------------------------------------------------------- PPO
def _constant_critic(learner, value: float) -> None:
    last = learner.critic.layers[-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)


def test_ppo_clipped_value_loss_takes_the_max():
    learner = small("d-mappo", clip=0.2, huber_delta=10.0)
    _constant_critic(learner, 1.0)  # V = 1 everywhere
    G, F, Fc = learner.groups, learner.feat_dim, learner.feat_dim * (1 + N)
    zeros = torch.zeros(G, 2)
    stats = learner._minibatch_step(torch.zeros(G, 2, F), torch.zeros(G, 2, Fc),
                                    torch.zeros(G, 2, dtype=torch.int64), zeros, zeros,
                                    torch.tensor([[0.0, 1.0]] * G), zeros)
    # v_old 0, clip 0.2: V_clip = 0.2. Target 0: max(H(1), H(0.2)) = 0.5; target 1:
    # max(H(0), H(-0.8)) = 0.32 (H(x) = x^2 / 2 inside delta). min would give 0.01,
    # no clipping 0.25.
    assert stats["value_loss"] == pytest.approx(0.41, rel=1e-6)


def _spy_minibatches(learner) -> list[dict[str, torch.Tensor]]:
    seen: list[dict[str, torch.Tensor]] = []
    inner = learner._minibatch_step

    def spy(xa, xc, a, old_logp, adv, target, v_old):
        seen.append({"adv": adv.clone(), "target": target.clone(), "v_old": v_old.clone()})
        return inner(xa, xc, a, old_logp, adv, target, v_old)

    learner._minibatch_step = spy
    return seen


def test_ppo_advantages_normalised_per_member():
    learner = small("d-mappo", minibatches=1)
    seen = _spy_minibatches(learner)
    scale = 10.0 ** np.arange(N)  # agent i's rewards 10^i larger: one member dominates
    rng = np.random.default_rng(3)
    drive(learner, 6, rewards=lambda t: rng.normal(1, 1, (B, N)) * scale)
    learner.update()
    assert learner.updates == 1 and len(seen) == 1
    adv = seen[0]["adv"]  # [G, T*B]
    np.testing.assert_allclose(adv.mean(dim=1).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(adv.std(dim=1).numpy(), 1.0, rtol=1e-4)


def test_ppo_returns_are_gae_by_hand():
    gamma, lam, c = 0.8, 0.5, 0.25
    learner = small("d-mappo", value_norm=False, gamma=gamma, gae_lambda=lam, minibatches=1)
    _constant_critic(learner, c)
    seen = _spy_minibatches(learner)
    # Decision k (2 env steps each) has reward (k + 1)(i + 1) for agent i; episodes end after
    # decision 1 (env step 4) and after decision 2 (step 6, the rollout's end).
    period = 2
    g = gamma ** period
    rewards = lambda t: np.broadcast_to((t // period + 1) * (np.arange(N) + 1.0), (B, N))
    obs = np.zeros((B, N, W), np.float32)
    for t in range(6):
        a = learner.act(obs, explore=True)
        learner.observe(obs, a, rewards(t), obs, np.full(B, t + 1 in (4, 6)))
    learner.update()
    assert learner.updates == 1
    for i in range(N):
        r = (np.arange(3) + 1.0) * (i + 1)
        d = r + g * c - c  # V = c everywhere; time-limit ends bootstrap from V(final) = c
        adv = [d[0] + g * lam * d[1], d[1], d[2]]  # done after decision 1: no leak past it
        want = np.sort(np.repeat(np.array(adv) + c, B))
        np.testing.assert_allclose(np.sort(seen[0]["target"][i].numpy()), want, rtol=1e-5)


# --------------------------------------------------------------------- epsilon schedule
def test_linear_schedule_by_hand():
    assert linear_schedule(1.0, 0.1, 100, 0) == 1.0
    assert linear_schedule(1.0, 0.1, 100, 50) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 100, 100) == pytest.approx(0.1)
    assert linear_schedule(1.0, 0.1, 100, 500) == pytest.approx(0.1)
    assert linear_schedule(1.0, 0.1, 0, 0) == 0.1


@pytest.mark.parametrize("name", ["d-maddqn", "c-drqn"])
def test_epsilon_follows_env_steps_and_drives_exploration(name):
    plain = {"decision_period": 1, "interval_mean": False, "last_action": False}
    learner = small(name, eps_start=1.0, eps_end=0.0, eps_decay_steps=40, **plain)
    assert learner.epsilon == 1.0
    obs = np.random.default_rng(0).normal(0, 1, (60, B, N, W)).astype(np.float32)
    explored, greedy = [], []
    for t in range(50):
        if t in (10, 20):  # env_steps = t * B of the 40-step decay
            assert learner.epsilon == pytest.approx(1.0 - t * B / 40)
        a = learner.act(obs[t], explore=True)
        if t < 5:  # epsilon ~1: uniform actions, whatever the network prefers
            explored.append(a)
        learner.observe(obs[t], a, np.zeros((B, N)), obs[t + 1], np.zeros(B, bool))
    assert learner.epsilon == 0.0
    explored = np.stack(explored)
    assert len(np.unique(explored)) == K  # all actions tried early on
    learner.reset_state()
    for t in range(50, 55):  # epsilon 0: exploration acts greedily
        greedy.append((learner.act(obs[t], explore=True), learner.act(obs[t], explore=False)))
    for e, g in greedy:
        np.testing.assert_array_equal(e, g)


# ------------------------------------------------------------------------------ burn-in
def test_drqn_burn_in_warms_the_stored_state_and_is_not_trained():
    learner = small("c-drqn", burn_in=2, seq_len=3)
    drive(learner, 40)
    batch = learner.buffer.sample(4, 5, np.random.default_rng(1))
    k = 2
    loss, _ = learner.sequence_loss(batch)
    # Same loss as a burn_in-free learner started from the state the burn-in reaches (online
    # and target are equal before any update, so one warmed state serves both).
    with torch.no_grad():
        reset = torch.zeros(batch["done"].shape, dtype=torch.bool)
        reset[:, :, 1:] = batch["done"][:, :, :-1]
        _, _, _, (h, c) = learner.q.unroll(batch["feats"][:, :, :k], (batch["h0"], batch["c0"]),
                                           reset[:, :, :k])
    keep = (~batch["done"][:, :, k - 1]).unsqueeze(-1).float()
    plain = small("c-drqn", burn_in=0, seq_len=3)
    plain.q.load_state_dict(learner.q.state_dict())
    plain.q_target.load_state_dict(learner.q_target.state_dict())
    rest = {key: v[:, :, k:] for key, v in batch.items() if key not in ("h0", "c0")}
    loss0, _ = plain.sequence_loss(rest | {"h0": h * keep, "c0": c * keep})
    torch.testing.assert_close(loss, loss0)
    # Rewards and actions of the burn-in steps do not enter the loss; their features do.
    other = dict(batch, rewards=batch["rewards"].clone(), actions=batch["actions"].clone())
    other["rewards"][:, :, :k] += 100.0
    other["actions"][:, :, :k] = (other["actions"][:, :, :k] + 1) % K
    torch.testing.assert_close(learner.sequence_loss(other)[0], loss)
    moved = dict(batch, feats=batch["feats"].clone())
    moved["feats"][:, :, :k] += 1.0
    assert not torch.allclose(learner.sequence_loss(moved)[0], loss)


# ---------------------------------------------------------------------- C- mode shares
@pytest.mark.parametrize("name", ["c-maddqn", "c-mappo", "c-drqn"])
def test_c_mode_is_one_network_for_all_agents(name):
    learner = small(name, seed=1)
    assert learner.groups == 1
    p = small(name, seed=7).member_params(0)
    learner.load_member_params(N - 1, p)  # loading "agent N-1" replaces the shared network
    for i in range(N):
        for key, v in learner.member_params(i).items():
            np.testing.assert_array_equal(v, p[key])
    obs = np.broadcast_to(np.random.default_rng(0).normal(0, 1, (B, 1, W)),
                          (B, N, W)).astype(np.float32)
    a = learner.act(obs, explore=False)  # same observation -> same action for every agent
    assert (a == a[:, :1]).all()
    if name != "c-mappo":
        drive(learner, 8)
        buf = learner.buffer
        stored = buf.size if name == "c-maddqn" else buf.m
        assert stored == B * N * (4 if name == "c-maddqn" else 1)  # every agent's data, one net


# ------------------------------------------------------------- prioritised sequence replay
def test_drqn_prioritised_replay_samples_by_priority_with_importance_weights():
    learner = small("f-drqn", priority_exponent=1.0, importance_exponent=0.5)
    drive(learner, 40)
    buf, c = learner.buffer, learner.cfg
    window = c.burn_in + c.seq_len
    lo, hi = buf._start_range(window)
    n_pos = buf.t_cap // buf.stride
    pos = np.arange(lo, hi + 1) % n_pos
    # Member 0: one chunk (stream 1, first valid start) 100x the priority of all others.
    buf.prio[0, :, :] = 1.0
    buf.prio[0, 1, pos[0]] = 100.0
    batch = buf.sample(4000, window, np.random.default_rng(1), alpha=1.0, beta=0.5)
    stream, s0 = batch["index"].numpy()
    hot = (stream[0] == 1) & (s0[0] == pos[0])
    n_chunks = buf.m * pos.size
    p_hot = 100.0 / (100.0 + n_chunks - 1)
    assert abs(hot.mean() - p_hot) < 0.03
    w = batch["weights"].numpy()
    assert w.shape == (buf.groups, 4000) and np.all(w <= 1.0 + 1e-6)
    # (N P)^-beta normalised by the batch maximum: the hot chunk's weight vs a cold one's.
    np.testing.assert_allclose(w[0][hot][0] / w[0][~hot][0], 100.0 ** -0.5, rtol=1e-5)
    # Other members are uniform: every weight 1.
    np.testing.assert_allclose(w[1:], 1.0, rtol=1e-6)


def test_drqn_priorities_follow_td_errors_and_new_chunks_get_the_maximum():
    learner = small("f-drqn", priority_exponent=0.9)
    drive(learner, 40)
    buf, c = learner.buffer, learner.cfg
    batch = buf.sample(c.batch_size, c.burn_in + c.seq_len, np.random.default_rng(0),
                       alpha=0.9, beta=0.6)
    learner._gradient_step(batch)
    stream, s0 = batch["index"].numpy()
    g = np.arange(buf.groups)[:, None]
    got = buf.prio[g, stream, s0]
    # eta max + (1 - eta) mean of |delta| >= the mean, and > 0 with random rewards
    np.testing.assert_allclose(got, np.maximum(learner._new_priority, 1e-6))
    assert np.all(got > 0)
    assert np.all(buf.max_prio >= got.max(axis=1) - 1e-12)
    # A chunk stored after this gets its member's maximum priority.
    drive(learner, 8, seed=5)
    latest = ((buf.total - 1) // buf.stride) % (buf.t_cap // buf.stride)
    np.testing.assert_allclose(buf.prio[:, :, latest],
                               np.broadcast_to(buf.max_prio[:, None], (buf.groups, buf.m)))
    # The priorities survive a checkpoint round trip.
    sd = learner.state_dict(include_buffer=True)
    other = small("f-drqn", priority_exponent=0.9)
    other.load_state_dict(sd)
    np.testing.assert_array_equal(other.buffer.prio, buf.prio)
    np.testing.assert_array_equal(other.buffer.max_prio, buf.max_prio)
