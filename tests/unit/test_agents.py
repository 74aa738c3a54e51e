"""Learners (agents/): ensemble mechanics, Double-DQN targets, PPO's clip and GAE, DRQN's
recurrent state, member parameters and FedAvg, checkpoints, registry. Small and fast: no
environment here (tests/unit/test_agents_learning.py trains on the twin)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.ddqn import DDQN, DDQNConfig
from agents.drqn import DRQN, DRQNConfig
from agents.ensemble import (
    EnsembleLinear,
    EnsembleLSTM,
    EnsembleMLP,
    ObsScaler,
    clip_grad_norm_members_,
)
from agents.ppo import PPO, PPOConfig, clipped_surrogate, gae
from agents.registry import LEARNERS, make_config, make_learner
from agents.spaces import ActionLayout
from agents.streams import DecisionStreams

torch.set_num_threads(1)

W, K, N, B = 3, 3, 4, 2  # obs width, actions, agents, env copies
OBS, ACT = spaces.Box(-np.inf, np.inf, (W,), np.float32), spaces.Discrete(K)
# Observation scaling as a scenario supplies it (LearnerHints): obs_seq's values are ~N(15, 15).
HINTS = {"obs_shift": 20.0, "obs_scale": 20.0}
SMALL = {"maddqn": {"hidden": (16,), "batch_size": 8, "learning_starts": 0, "buffer_size": 64,
                    "decision_period": 2},
         "mappo": {"hidden": (16,), "rollout_decisions": 3, "epochs": 2, "decision_period": 2},
         "drqn": {"embed": 8, "lstm": 8, "batch_size": 4, "seq_len": 3, "burn_in": 2,
                  "state_stride": 2, "learning_starts": 0, "buffer_size": 64,
                  "decision_period": 2}}


def small(name: str, seed: int = 0, **kw):
    algo = name.split("-", 1)[1]
    return make_learner(name, OBS, ACT, N, seed=seed, **(HINTS | SMALL[algo] | kw))


def obs_seq(T: int, seed: int = 0, batch: int = B) -> np.ndarray:
    return np.random.default_rng(seed).normal(15.0, 15.0, (T, batch, N, W)).astype(np.float32)


def drive(learner, T: int, seed: int = 0, train: bool = True) -> None:
    """T env steps of random observations and rewards; episode end every 8 steps."""
    rng = np.random.default_rng(seed + 100)
    obs = obs_seq(T + 1, seed)
    for t in range(T):
        a = learner.act(obs[t], explore=True)
        done = np.full(B, (t + 1) % 8 == 0)
        learner.observe(obs[t], a, rng.normal(8, 3, (B, N)), obs[t + 1], done)
        if train:
            learner.update()


# --------------------------------------------------------------------------- ensemble
def test_ensemble_linear_is_per_member_affine():
    torch.manual_seed(0)
    layer = EnsembleLinear(3, 4, 5)
    x = torch.randn(3, 7, 4)
    y = layer(x)
    for g in range(3):
        assert torch.allclose(y[g], x[g] @ layer.weight[g] + layer.bias[g], atol=1e-6)


def test_ensemble_lstm_matches_torch_lstm():
    torch.manual_seed(0)
    ens = EnsembleLSTM(2, 3, 4)
    x = torch.randn(2, 5, 6, 3)  # [G, n, T, in]
    hs, _, _ = ens(x, ens.zero_state(5))
    for g in range(2):
        ref = torch.nn.LSTM(3, 4, batch_first=True)
        with torch.no_grad():
            ref.weight_ih_l0.copy_(ens.w_ih[g].T)
            ref.weight_hh_l0.copy_(ens.w_hh[g].T)
            ref.bias_ih_l0.copy_(ens.bias[g, 0])
            ref.bias_hh_l0.zero_()
        out, _ = ref(x[g])
        assert torch.allclose(hs[g], out, atol=1e-5)


def test_member_gradients_are_independent():
    """Member 1's gradient does not depend on member 0's data, even under clipping."""
    torch.manual_seed(0)
    net = EnsembleMLP(3, 4, (8,), 2)
    x = torch.randn(3, 5, 4)
    grads = []
    for scale in (1.0, 100.0):
        x2 = x.clone()
        x2[0] *= scale
        net.zero_grad()
        net(x2).pow(2).sum().backward()
        clip_grad_norm_members_(list(net.parameters()), 0.1)
        grads.append([p.grad.clone() for p in net.parameters()])
    for a, b in zip(*grads):
        assert torch.equal(a[1:], b[1:])
        assert not torch.equal(a[0], b[0])


def test_obs_scaling_and_decision_streams():
    s = DecisionStreams(N, W, ActionLayout.of(ACT), period=3, scaler=ObsScaler(20.0, 20.0))
    assert s.feat_dim == 2 * W + K
    obs = obs_seq(8, 1)
    closed = []
    for t in range(7):  # decisions at steps 0, 3, 6; steps in between hold the request
        feats = s.begin(obs[t], True)
        assert (feats is not None) == (t % 3 == 0)
        if t == 0:
            np.testing.assert_allclose(feats[..., :W], (obs[0] - 20.0) / 20.0, rtol=1e-6)
            assert not feats[..., 2 * W:].any()  # no request yet at the episode start
        elif feats is not None:  # interval mean of the 3 observations since the last decision
            np.testing.assert_allclose(feats[..., W:2 * W],
                                       (obs[t - 2:t + 1].mean(0) - 20.0) / 20.0, rtol=1e-5)
            np.testing.assert_allclose(feats, closed[-1].next_feats, rtol=1e-6)
            assert (feats[..., 2 * W + (t - 3) % K] == 1).all()  # the held request, one-hot
        held = s.commit(True, feats, np.full((B, N), t % K) if feats is not None else None)
        tr = s.record(held, np.full((B, N), float(t)), obs[t + 1], np.zeros(B, bool), None)
        if tr is not None:
            closed.append(tr)
    assert [tr.steps for tr in closed] == [3, 3]
    np.testing.assert_allclose(closed[1].rewards, np.mean([3.0, 4.0, 5.0]))
    np.testing.assert_array_equal(closed[1].actions, 0)  # the request made at step 3


# ----------------------------------------------------------------- acting, all learners
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_act_shapes_and_greedy_determinism(name):
    a = small(name, seed=3)
    b = small(name, seed=3)
    obs = obs_seq(5, 2)
    outs = []
    for learner in (a, b):
        learner.reset_state(explore=False)
        outs.append(np.stack([learner.act(o, explore=False) for o in obs]))
    assert outs[0].shape == (5, B, N) and outs[0].dtype.kind == "i"
    assert outs[0].min() >= 0 and outs[0].max() < K
    np.testing.assert_array_equal(outs[0], outs[1])
    a.reset_state(explore=False)  # the same episode again: the same greedy actions
    np.testing.assert_array_equal(np.stack([a.act(o, explore=False) for o in obs]), outs[0])
    with pytest.raises(ValueError, match="shape"):
        a.act(np.zeros((B, N + 1, W), np.float32), explore=False)


@pytest.mark.parametrize("name", ["d-maddqn", "c-mappo", "f-drqn"])
def test_observe_requires_act_and_trains(name):
    learner = small(name)
    with pytest.raises(RuntimeError, match="act"):
        learner.observe(*[np.zeros((B, N, W), np.float32)] * 1, np.zeros((B, N), int),
                        np.zeros((B, N)), np.zeros((B, N, W), np.float32), np.zeros(B, bool))
    drive(learner, 40)
    assert learner.env_steps == 40 * B and learner.decisions == 20 * B
    assert getattr(learner, "grad_steps", 0) + getattr(learner, "updates", 0) > 0


def test_greedy_eval_does_not_disturb_training_streams():
    a, b = small("d-maddqn", seed=1), small("d-maddqn", seed=1)
    obs = obs_seq(9, 4)
    for t in range(8):
        x = a.act(obs[t], explore=True)
        a.reset_state(explore=False)  # what LearnerPolicy does at each evaluation episode
        a.act(obs[t], explore=False)  # interleaved greedy evaluation
        y = b.act(obs[t], explore=True)
        np.testing.assert_array_equal(x, y)
        for learner, act in ((a, x), (b, y)):
            learner.observe(obs[t], act, np.full((B, N), float(t)), obs[t + 1], np.zeros(B))
    assert a.buffer.size == b.buffer.size == 4 * B
    np.testing.assert_array_equal(a.buffer.obs, b.buffer.obs)
    np.testing.assert_array_equal(a.buffer.rewards, b.buffer.rewards)


# ------------------------------------------------------------------------- Double DQN
class _Fixed(torch.nn.Module):
    def __init__(self, q: list[float]) -> None:
        super().__init__()
        self.q = torch.tensor(q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.q.expand(*x.shape[:-1], -1)


def test_double_dqn_target_uses_online_argmax_and_target_value():
    learner = small("d-maddqn")
    learner.q = _Fixed([1.0, 3.0, 2.0])  # online argmax: action 1
    learner.q_target = _Fixed([10.0, 4.0, 7.0])  # target value of action 1: 4 (max would be 10)
    rewards = torch.tensor([[5.0, 5.0]])
    discount = torch.tensor([[0.9, 0.0]])  # second: terminal, no bootstrap
    y = learner.td_targets(rewards, torch.zeros(1, 2, learner.feat_dim), discount)
    c = learner.cfg.reward_scale
    np.testing.assert_allclose(y.numpy(), [[c * 5 + 0.9 * 4.0, c * 5]], rtol=1e-6)


def test_ddqn_decision_discount_and_time_limit_bootstrap():
    learner = small("d-maddqn", gamma=0.9)
    drive(learner, 16, train=False)
    disc = learner.buffer.discount[:, :learner.buffer.size]
    np.testing.assert_allclose(disc, 0.9 ** 2, rtol=1e-6)  # episode ends bootstrap too


def test_ddqn_member_update_independent_of_other_members_data():
    cfg = {"max_grad_norm": 0.01}  # clipping active: a global norm would couple members
    a, b = small("d-maddqn", seed=5, **cfg), small("d-maddqn", seed=5, **cfg)
    drive(a, 20, train=False)
    drive(b, 20, train=False)
    b.buffer.obs[0] += 3.0  # member 0's data differ
    b.buffer.rewards[0] -= 50.0
    before = [a.member_params(i) for i in range(N)]
    a._gradient_step(a.buffer.sample(8, np.random.default_rng(0)))
    b._gradient_step(b.buffer.sample(8, np.random.default_rng(0)))
    for i in range(1, N):
        for k, v in a.member_params(i).items():
            np.testing.assert_array_equal(v, b.member_params(i)[k])
            assert not np.array_equal(v, before[i][k])
    assert any(not np.array_equal(v, b.member_params(0)[k])
               for k, v in a.member_params(0).items())


# --------------------------------------------------------------------------------- PPO
def test_clipped_surrogate_by_hand():
    old = torch.log(torch.tensor([[0.5, 0.5, 0.5, 0.5]]))
    new = torch.log(torch.tensor([[0.75, 0.75, 0.25, 0.25]]))  # ratios 1.5, 1.5, 0.5, 0.5
    adv = torch.tensor([[1.0, -1.0, 1.0, -1.0]])
    # min(r A, clip(r, 0.8, 1.2) A): 1.2, -1.5, 0.5, -0.8
    expected = -np.mean([1.2, -1.5, 0.5, -0.8])
    np.testing.assert_allclose(clipped_surrogate(new, old, adv, 0.2).numpy(), [expected],
                               rtol=1e-6)


def test_gae_by_hand_with_episode_end():
    g, lam = 0.9, 0.5
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [1.0], [1.5]])
    v_next = torch.tensor([[1.0], [4.0], [2.0]])  # step 1 ends an episode: its own final V
    done = torch.tensor([[0.0], [1.0], [0.0]])
    term = torch.zeros(3, 1)
    d = [1 + g * 1.0 - 0.5, 2 + g * 4.0 - 1.0, 3 + g * 2.0 - 1.5]
    a2 = d[2]
    a1 = d[1]  # no leak from the next episode
    a0 = d[0] + g * lam * a1
    adv = gae(r, v, v_next, done, term, g, lam)
    np.testing.assert_allclose(adv.squeeze(1).numpy(), [a0, a1, a2], rtol=1e-6)
    adv_t = gae(r, v, v_next, done, torch.tensor([[0.0], [1.0], [0.0]]), g, lam)
    assert float(adv_t[1]) == pytest.approx(2 - 1.0)  # terminal: no bootstrap


def test_mappo_critic_sees_global_state_actor_local():
    learner = small("d-mappo")
    F = learner.feat_dim
    assert learner.actor.layers[0].weight.shape[1] == F
    assert learner.critic.layers[0].weight.shape[1] == F * (1 + N)
    ippo = small("d-mappo", centralised_critic=False)
    assert ippo.critic.layers[0].weight.shape[1] == F
    feats = torch.randn(B, N, F)
    x = learner.critic_input(feats)
    torch.testing.assert_close(x[:, 2, :F], feats[:, 2])
    torch.testing.assert_close(x[:, 2, F:], feats.reshape(B, -1))


def test_ppo_updates_after_rollout_and_normalises_values():
    learner = small("f-mappo")
    p0 = learner.member_params(0)
    drive(learner, 6)  # 3 decisions = one rollout
    assert learner.updates == 1 and learner.rollout == []
    assert float(learner.value_rms.count[0]) == 3 * B
    p1 = learner.member_params(0)
    assert any(not np.array_equal(p0[k], p1[k]) for k in p0)


# -------------------------------------------------------------------------------- DRQN
def test_drqn_chunk_reset_equals_fresh_unroll():
    torch.manual_seed(0)
    learner = small("d-drqn")
    G, F = learner.groups, learner.feat_dim
    x = torch.randn(G, 2, 6, F)
    reset = torch.zeros(G, 2, 6, dtype=torch.bool)
    reset[:, :, 3] = True  # a new episode starts at step 3
    state = (torch.randn(G, 2, 8), torch.randn(G, 2, 8))
    q, _, _, _ = learner.q.unroll(x, state, reset)
    q_fresh, _, _, _ = learner.q.unroll(x[:, :, 3:], learner.q.lstm.zero_state(2))
    torch.testing.assert_close(q[:, :, 3:], q_fresh)
    q_first, _, _, _ = learner.q.unroll(x[:, :, :3], state)
    torch.testing.assert_close(q[:, :, :3], q_first)


def test_drqn_stores_acting_state_and_resets_at_episode_start():
    learner = small("d-drqn", eps_start=0.0, eps_end=0.0)
    drive(learner, 16, train=False)  # two 8-step episodes = 2 x 4 decisions
    buf = learner.buffer
    # Replay the first episode's decisions from a zero state: the stored states at the
    # stride positions (decisions 0 and 2) are the states the agents acted from.
    f = torch.from_numpy(buf.feats[:, :, :4])
    with torch.no_grad():
        _, hs, cs, _ = learner.q.unroll(f, learner.q.lstm.zero_state(buf.m))
    assert not buf.h[:, :, 0].any() and not buf.c[:, :, 0].any()  # episode start: zeros
    np.testing.assert_allclose(buf.h[:, :, 1], hs[:, :, 1].numpy(), atol=1e-6)
    np.testing.assert_allclose(buf.c[:, :, 1], cs[:, :, 1].numpy(), atol=1e-6)
    assert not buf.h[:, :, 2].any()  # second episode starts from zeros again
    assert buf.done[:, :, 3].all() and not buf.done[:, :, :3].any()


def test_drqn_burn_in_uses_stored_state_and_trains():
    learner = small("c-drqn")
    drive(learner, 24, train=False)
    batch = learner.buffer.sample(4, 5, np.random.default_rng(0))
    loss, _ = learner.sequence_loss(batch)
    batch2 = dict(batch, h0=batch["h0"] + 1.0)  # another stored state changes the loss
    loss2, _ = learner.sequence_loss(batch2)
    assert loss.shape == (1,) and not torch.allclose(loss, loss2)
    before = learner.member_params(0)
    out = learner._gradient_step(batch)
    assert np.isfinite(out["loss"])
    assert any(not np.array_equal(v, learner.member_params(0)[k]) for k, v in before.items())


# ------------------------------------------------------------- federation and checkpoints
@pytest.mark.parametrize("name", ["f-maddqn", "f-mappo", "f-drqn"])
def test_average_members_is_the_mean(name):
    learner = small(name, seed=2)
    drive(learner, 24)  # members drift apart
    params = [learner.member_params(i) for i in range(N)]
    assert any(not np.array_equal(params[0][k], params[1][k]) for k in params[0])
    w = np.array([1.0, 2.0, 3.0, 4.0])
    learner.average_members(w)
    for k in params[0]:
        mean = sum(wi * p[k] for wi, p in zip(w, params)) / w.sum()
        for i in range(N):
            np.testing.assert_allclose(learner.member_params(i)[k], mean, rtol=1e-5,
                                       atol=1e-6)
    learner.average_members()  # equal weights on equal members: unchanged
    if hasattr(learner, "q_target"):  # targets re-synced to the averaged online network
        for t, o in zip(learner.q_target.parameters(), learner.q.parameters()):
            torch.testing.assert_close(t, o)


@pytest.mark.parametrize("name", ["d-maddqn", "d-mappo", "d-drqn", "c-maddqn"])
def test_member_params_round_trip(name):
    learner = small(name)
    other = small(name, seed=9)
    p = other.member_params(N - 1)
    assert all(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in p.values())
    assert list(p) == list(learner.member_params(0))  # fixed key order
    learner.load_member_params(0, p)
    for k, v in learner.member_params(0).items():
        np.testing.assert_array_equal(v, p[k])
    with pytest.raises(KeyError):
        learner.load_member_params(0, dict(list(p.items())[1:]))
    bad = dict(p)
    first = next(iter(bad))
    bad[first] = np.zeros((1, 1), np.float32)
    with pytest.raises(ValueError, match="shape"):
        learner.load_member_params(0, bad)
    with pytest.raises(IndexError):
        learner.member_params(N)


@pytest.mark.parametrize("name", ["d-maddqn", "c-mappo", "f-drqn"])
def test_state_dict_round_trip(name, tmp_path):
    a = small(name, seed=4)
    drive(a, 20)
    path = tmp_path / "ckpt.pt"
    torch.save(a.state_dict(include_buffer=True), path)
    b = small(name, seed=11)
    b.load_state_dict(torch.load(path, weights_only=False))
    assert (b.env_steps, b.decisions) == (a.env_steps, a.decisions)
    for i in range(N):
        for k, v in a.member_params(i).items():
            np.testing.assert_array_equal(v, b.member_params(i)[k])
    a.reset_state()
    obs = obs_seq(4, 7)
    for o in obs:
        np.testing.assert_array_equal(a.act(o, explore=True), b.act(o, explore=True))
    with pytest.raises(ValueError, match="checkpoint is for"):
        make_learner("d-maddqn", OBS, ACT, N + 1).load_state_dict(a.state_dict())


@pytest.mark.parametrize("name", ["d-maddqn", "d-mappo", "c-drqn"])
def test_policy_state_dict_reproduces_greedy_policy(name):
    a = small(name, seed=1)
    drive(a, 20)
    sd = a.policy_state_dict()
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    assert float(sd["obs_shift"]) == a.scaler.shift
    b = small(name, seed=2)
    b.load_policy_state_dict(sd)
    a.reset_state()
    for o in obs_seq(6, 3):
        np.testing.assert_array_equal(a.act(o, explore=False), b.act(o, explore=False))


# ----------------------------------------------------------------------------- registry
def test_registry_names_and_errors():
    assert sorted(LEARNERS) == sorted(f"{m}-{a}" for m in "fdc"
                                      for a in ("maddqn", "mappo", "drqn"))
    learner = make_learner("C-MAPPO", OBS, ACT, N, seed=0, lr=1e-4)
    assert learner.mode == "c" and learner.groups == 1 and learner.cfg.lr == 1e-4
    assert make_learner("d-drqn", OBS, ACT, N).groups == N
    with pytest.raises(ValueError, match="unknown learner 'x-dqn'; available: f-maddqn"):
        make_learner("x-dqn", OBS, ACT, N)
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) \['lr_typo'\]"):
        make_config("f-maddqn", lr_typo=1.0)
    with pytest.raises(ValueError, match="invalid value for gamma"):
        make_config("d-drqn", gamma=1.5)
    assert isinstance(make_config("f-maddqn"), DDQNConfig)
    assert isinstance(make_config("d-mappo"), PPOConfig)
    assert isinstance(make_config("c-drqn"), DRQNConfig)
    assert isinstance(make_learner("f-drqn", OBS, ACT, N), DRQN)
    assert isinstance(make_learner("f-mappo", OBS, ACT, N), PPO)
    assert isinstance(make_learner("f-maddqn", OBS, ACT, N), DDQN)
    with pytest.raises(TypeError, match="gymnasium space"):
        make_learner("f-maddqn", W, K, N)  # the old integer signature: a clear error


def test_f_mode_starts_from_one_global_model_d_mode_does_not():
    f, d = small("f-maddqn"), small("d-maddqn")
    for k, v in f.member_params(0).items():
        np.testing.assert_array_equal(v, f.member_params(1)[k])
    assert any(not np.array_equal(v, d.member_params(1)[k])
               for k, v in d.member_params(0).items())


# ------------------------------------------------------------------- clusters (issue 14)
def test_cluster_reshapes_round_trip_and_map_agents_to_members():
    from agents.ensemble import from_members, member_of, n_groups, to_members

    x = torch.arange(2 * 6 * 3, dtype=torch.float32).reshape(2, 6, 3)  # [B, N, F]
    y = to_members(x, "d", 3)
    assert y.shape == (2, 2 * 3, 3)
    # member 1 holds agents 3, 4, 5 of both copies, copy-major
    assert torch.equal(y[1], torch.cat([x[0, 3:6], x[1, 3:6]]))
    assert torch.equal(from_members(y, "d", 2, 6, 3), x)
    assert [member_of(i, "f", 6, 3) for i in range(6)] == [0, 0, 0, 1, 1, 1]
    assert n_groups("f", 6, 3) == 2 and n_groups("c", 6, 3) == 1
    with pytest.raises(ValueError, match="cluster_size"):
        n_groups("d", 6, 4)


@pytest.mark.parametrize("name", ["f-maddqn", "f-mappo", "f-drqn"])
def test_clusters_share_a_network_per_cluster(name):
    learner = small(name, cluster_size=2)
    assert learner.groups == N // 2
    # agents of one cluster are one network; with the same observation they act alike
    same = np.repeat(obs_seq(1, seed=4)[:, :, :1], N, axis=2)[0]  # every agent sees agent 0's
    learner.reset_state(explore=False)
    greedy = learner.act(same, explore=False)
    assert np.array_equal(greedy[:, 0], greedy[:, 1]) and np.array_equal(greedy[:, 2],
                                                                          greedy[:, 3])
    p0, p1 = (learner.member_params(i) for i in (0, 1))
    assert all(np.array_equal(p0[k], p1[k]) for k in p0)
    drive(learner, 24)
    after = learner.member_params(0)
    assert any(not np.array_equal(after[k], p0[k]) for k in p0)  # it trained
    # F-: the federation averages clusters (one client per network)
    from federation.strategy import PlainFedAvg
    from fedmarl.train import Federation

    fed = Federation(PlainFedAvg(1), range(0, N, learner.cluster))
    assert fed.n == 2
    fed.round(learner, 0)
    q0, q2 = learner.member_params(0), learner.member_params(2)
    assert all(np.allclose(q0[k], q2[k]) for k in q0)
    with pytest.raises(ValueError, match="cluster_size"):
        small(name, cluster_size=3)
