"""Composite (MultiDiscrete) actions: factorised heads for every learner (issue 9 item 2).

Shapes and valid actions, the held action of the decision streams, the branching head's and
the product categorical's formulas by hand, federation and checkpoints, and learning on a
tiny synthetic bandit whose best composite action is known.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from agents.branching import (
    BranchingHead,
    BranchingQNet,
    categorical_logp_entropy,
    categorical_mode,
    double_q_value,
    td_error_loss,
)
from agents.ensemble import ObsScaler
from agents.policy import LearnerPolicy
from agents.registry import LEARNERS, make_learner
from agents.spaces import ActionLayout
from agents.streams import DecisionStreams

torch.set_num_threads(1)

W, N, B = 3, 4, 2
NVEC = (3, 2, 4)
OBS, ACT = spaces.Box(-np.inf, np.inf, (W,), np.float32), spaces.MultiDiscrete(NVEC)
SMALL = {"maddqn": {"hidden": (16,), "batch_size": 8, "learning_starts": 0, "buffer_size": 64,
                    "decision_period": 2},
         "mappo": {"hidden": (16,), "rollout_decisions": 3, "epochs": 2, "decision_period": 2},
         "drqn": {"embed": 8, "lstm": 8, "batch_size": 4, "seq_len": 3, "burn_in": 2,
                  "state_stride": 2, "learning_starts": 0, "buffer_size": 64,
                  "decision_period": 2}}


def small(name: str, seed: int = 0, **kw):
    return make_learner(name, OBS, ACT, N, seed=seed, **(SMALL[name.split("-")[1]] | kw))


def obs_seq(T: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 1.0, (T, B, N, W)).astype(np.float32)


def drive(learner, T: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    obs = obs_seq(T + 1, seed)
    acts = []
    for t in range(T):
        a = learner.act(obs[t], explore=True)
        acts.append(a)
        learner.observe(obs[t], a, rng.normal(1, 1, (B, N)), obs[t + 1],
                        np.full(B, (t + 1) % 8 == 0))
        learner.update()
    return acts


def assert_valid(a: np.ndarray, lead: tuple[int, ...]) -> None:
    assert a.shape == (*lead, len(NVEC)) and a.dtype == np.int64
    assert (a >= 0).all() and (a < np.array(NVEC)).all()


# ------------------------------------------------------------------------------- spaces
def test_action_layout_of_spaces():
    flat = ActionLayout.of(spaces.Discrete(5))
    assert (flat.nvec, flat.multi, flat.width, flat.n_joint) == ((5,), False, 5, 5)
    multi = ActionLayout.of(ACT)
    assert (multi.nvec, multi.multi, multi.width, multi.n_joint) == (NVEC, True, 9, 24)
    np.testing.assert_array_equal(multi.offsets, [0, 3, 5])
    with pytest.raises(ValueError, match="start at 0"):
        ActionLayout.of(spaces.Discrete(3, start=1))
    with pytest.raises(ValueError, match="MultiDiscrete action spaces must start at 0"):
        ActionLayout.of(spaces.MultiDiscrete([3, 2], start=[1, 0]))
    with pytest.raises(ValueError, match="1-D nvec"):
        ActionLayout.of(spaces.MultiDiscrete([[2, 3], [2, 2]]))
    with pytest.raises(TypeError, match="Discrete or MultiDiscrete"):
        ActionLayout.of(spaces.Box(0, 1, (2,)))
    with pytest.raises(ValueError, match="out of range"):
        multi.check(np.array([[[0, 2, 0]]]), 1, 1)  # component 1 has 2 choices
    with pytest.raises(ValueError, match="shape"):
        multi.check(np.zeros((1, 1), np.int64), 1, 1)
    with pytest.raises(ValueError, match="out of range"):
        flat.check(np.array([[5]]), 1, 1)
    assert multi.describe() == {"type": "MultiDiscrete", "nvec": [3, 2, 4]}
    assert flat.describe() == {"type": "Discrete", "nvec": [5]}
    assert ActionLayout.of(spaces.MultiDiscrete([5])).describe() != flat.describe()


def test_layout_samples_each_agent_and_component_independently():
    layout = ActionLayout.of(ACT)
    rng = np.random.default_rng(0)
    a = layout.sample(rng, 50, 6)
    assert a.shape == (50, 6, 3) and (a < np.array(NVEC)).all()
    assert len({tuple(x) for x in a.reshape(-1, 3)}) == 24  # every composite action occurs
    greedy = np.zeros((50, 6, 3), np.int64)
    explored = layout.epsilon_greedy(greedy, 1.0, rng)
    assert len(np.unique(explored.reshape(-1, 3), axis=0)) == 24
    np.testing.assert_array_equal(layout.epsilon_greedy(greedy, 0.0, rng), greedy)
    half = layout.epsilon_greedy(np.zeros((200, 10, 3), np.int64), 0.5, rng)  # 2000 agents
    # An explored agent redraws all components: ~1/2 of agents explore, and an explorer keeps
    # the all-zero greedy action only with probability 1/24.
    share = (half != 0).any(-1).mean()
    assert 0.5 * 23 / 24 - 0.05 < share < 0.5 * 23 / 24 + 0.05


def test_spaces_are_checked():
    with pytest.raises(TypeError, match="obs_space must be a gymnasium Box"):
        make_learner("d-maddqn", spaces.Discrete(3), ACT, N)
    with pytest.raises(ValueError, match="at least one element"):
        make_learner("d-maddqn", spaces.Box(0, 1, (0,)), ACT, N)
    with pytest.raises(ValueError, match="n_agents must be >= 1"):
        make_learner("d-maddqn", OBS, ACT, 0)
    one = make_learner("d-mappo", spaces.Box(0, 1, (1,)), ACT, 1, **SMALL["mappo"])
    assert (one.obs_dim, one.n_agents, one.n_actions) == (1, 1, 24)
    assert_valid(one.act(np.zeros((B, 1, 1), np.float32), explore=True), (B, 1))


def test_streams_hold_composite_action_and_one_hot_per_component():
    s = DecisionStreams(N, W, ActionLayout.of(ACT), period=2, scaler=ObsScaler(0.0, 1.0))
    assert s.feat_dim == 2 * W + sum(NVEC)
    obs = obs_seq(4)
    a0 = np.broadcast_to(np.array([2, 1, 3]), (B, N, 3)).copy()
    f = s.begin(obs[0], True)
    held = s.commit(True, f, a0)
    assert s.begin(obs[1], True) is None  # between decisions: the held action repeats
    np.testing.assert_array_equal(s.commit(True, None, None), a0)
    s.record(held, np.zeros((B, N)), obs[1], np.zeros(B, bool), None)
    tr = s.record(held, np.zeros((B, N)), obs[2], np.zeros(B, bool), None)
    assert tr is not None and tr.actions.shape == (B, N, 3)
    onehot = tr.next_feats[..., 2 * W:]
    expected = np.zeros(sum(NVEC))
    expected[[2, 3 + 1, 5 + 3]] = 1.0  # offsets 0, 3, 5
    np.testing.assert_array_equal(onehot, np.broadcast_to(expected, (B, N, sum(NVEC))))


def test_per_feature_obs_scaling():
    sc = ObsScaler([1.0, 2.0, 3.0], 2.0, (W,))
    np.testing.assert_allclose(sc(np.array([[3.0, 3.0, 3.0]])), [[1.0, 0.5, 0.0]])
    img = ObsScaler([[0.0], [10.0]], [[1.0], [10.0]], (2, 3))  # broadcast over the last axis
    np.testing.assert_allclose(img(np.full((1, 6), 20.0)), [[20, 20, 20, 1, 1, 1]])
    with pytest.raises(ValueError, match="broadcast"):
        ObsScaler([1.0, 2.0], 1.0, (W,))
    with pytest.raises(ValueError, match="obs_scale"):
        ObsScaler(0.0, [1.0, 0.0, 1.0], (W,))
    learner = small("d-maddqn", obs_shift=[1.0, 2.0, 3.0], obs_scale=2)
    assert learner.cfg.obs_shift == (1.0, 2.0, 3.0) and learner.cfg.obs_scale == 2.0
    with pytest.raises(ValueError, match="invalid value for obs_scale"):
        small("d-mappo", obs_scale=[1.0, -1.0, 1.0])


def test_observations_of_any_box_shape_are_flattened():
    box = spaces.Box(-1, 1, (2, 3), np.float32)
    learner = make_learner("d-mappo", box, ACT, N, **SMALL["mappo"])
    assert learner.obs_dim == 6 and learner.obs_shape == (2, 3)
    a = learner.act(np.zeros((B, N, 2, 3), np.float32), explore=False)
    assert_valid(a, (B, N))
    with pytest.raises(ValueError, match=r"\[B, 4, 2, 3\]"):
        learner.act(np.zeros((B, N, 6), np.float32), explore=False)


# ------------------------------------------------------------------ all learners, shapes
@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_composite_actions_shapes_valid_and_trainable(name):
    learner = small(name, seed=1)
    assert learner.action_space == ACT and learner.obs_space == OBS
    acts = drive(learner, 24)
    for a in acts:
        assert_valid(a, (B, N))
    assert learner.env_steps == 24 * B
    assert getattr(learner, "grad_steps", 0) + getattr(learner, "updates", 0) > 0
    learner.reset_state(explore=False)
    greedy = [learner.act(o, explore=False) for o in obs_seq(4, 3)]
    for a in greedy:
        assert_valid(a, (B, N))
    np.testing.assert_array_equal(greedy[0], greedy[1])  # period 2: held between decisions
    o = obs_seq(1)[0]
    learner.act(o, explore=True)
    with pytest.raises(ValueError, match="actions must be integers of shape"):
        learner.observe(o, np.zeros((B, N), np.int64), np.zeros((B, N)), o, np.zeros(B, bool))


@pytest.mark.parametrize("name", ["d-maddqn", "c-drqn"])
def test_branching_networks_have_value_and_advantage_heads(name):
    learner = small(name)
    keys = list(learner.member_params(0))
    assert any(k.endswith("head.value.weight") for k in keys)
    adv = [k for k in keys if k.endswith("head.advantage.weight")]
    assert len(adv) == 1 and learner.member_params(0)[adv[0]].shape[-1] == sum(NVEC)


def test_ppo_actor_has_one_logit_block_per_component():
    learner = small("f-mappo")
    assert learner.actor.layers[-1].weight.shape[-1] == sum(NVEC)
    F = learner.feat_dim
    assert learner.critic.layers[0].weight.shape[1] == F * (1 + N)  # MAPPO critic unchanged


# ---------------------------------------------------------------------- formulas by hand
def test_branching_head_is_dueling_per_branch():
    head = BranchingHead(1, 2, (2, 3))
    with torch.no_grad():
        head.value.weight.zero_()
        head.value.bias.fill_(5.0)
        head.advantage.weight.zero_()
        head.advantage.weight[0, 0, 0] = 1.0  # input 0 adds to branch 0's first advantage
        head.advantage.bias.copy_(torch.tensor([[[1.0, 3.0, 0.0, 3.0, 6.0]]]))
    q1, q2 = head(torch.tensor([[[0.0, 0.0], [4.0, 0.0]]]))  # two states: A_1 [1, 3], [5, 3]
    np.testing.assert_allclose(q1.detach().numpy()[0], [[5 + 1 - 2, 5 + 3 - 2],
                                                        [5 + 5 - 4, 5 + 3 - 4]])
    np.testing.assert_allclose(q2.detach().numpy()[0], [[5 + 0 - 3, 5 + 3 - 3, 5 + 6 - 3]] * 2)
    tanh = BranchingQNet(1, 2, (4,), (2, 3), activation="tanh")
    assert isinstance(tanh.trunk.layers[-1], torch.nn.Tanh)


def test_td_error_loss_huber_by_hand():
    q = torch.tensor([[[0.0, 5.0], [1.0, 1.0]]])  # [G=1, b=2, C=2]
    y = torch.tensor([[1.0, 1.0]])
    # Huber with delta 2: |e| <= 2 -> e^2 / 2, else 2 (|e| - 1). Row 0: errors 1, 4 -> 0.5, 6.
    np.testing.assert_allclose(td_error_loss(q, y, 2.0, branched=True).numpy(),
                               [[(0.5 + 6.0) / 2, 0.0]])
    np.testing.assert_allclose(td_error_loss(q[..., 1], y, 2.0, branched=False).numpy(),
                               [[6.0, 0.0]])


def test_branched_double_q_target_is_mean_of_per_branch_double_values():
    online = [torch.tensor([[1.0, 3.0]]), torch.tensor([[0.0, 0.0, 9.0]])]  # argmax 1, 2
    target = [torch.tensor([[10.0, 4.0]]), torch.tensor([[8.0, 1.0, 2.0]])]  # own max 10, 8
    value = double_q_value(online, target)
    np.testing.assert_allclose(value.numpy(), [(4.0 + 2.0) / 2])
    q_sa = torch.tensor([[1.0, 4.0]])  # per-branch Q(s, a_d) against the shared target 2
    loss = td_error_loss(q_sa, torch.tensor([2.0]), delta=1.0, branched=True)
    np.testing.assert_allclose(loss.numpy(), [(0.5 * 1.0 + (2.0 - 0.5)) / 2])


def test_product_categorical_log_prob_and_entropy_are_sums():
    torch.manual_seed(0)
    logits = torch.randn(5, sum(NVEC))
    a = torch.stack([torch.randint(0, n, (5,)) for n in NVEC], -1)
    logp, ent = categorical_logp_entropy(logits, a, NVEC)
    dists = [torch.distributions.Categorical(logits=b) for b in logits.split(NVEC, -1)]
    torch.testing.assert_close(logp, sum(d.log_prob(a[:, i]) for i, d in enumerate(dists)))
    torch.testing.assert_close(ent, sum(d.entropy() for d in dists))
    mode = categorical_mode(logits.numpy(), NVEC)
    np.testing.assert_array_equal(mode, np.stack([d.probs.argmax(-1).numpy() for d in dists],
                                                 -1))


# ------------------------------------------------------------- federation, checkpoints
@pytest.mark.parametrize("name", ["f-maddqn", "f-mappo", "f-drqn"])
def test_composite_federation_round_trip_and_average(name):
    learner = small(name, seed=2)
    drive(learner, 24)
    params = [learner.member_params(i) for i in range(N)]
    other = small(name, seed=5)
    other.load_member_params(1, params[3])
    for k, v in other.member_params(1).items():
        np.testing.assert_array_equal(v, params[3][k])
    learner.average_members()
    for k in params[0]:
        mean = sum(p[k] for p in params) / N
        np.testing.assert_allclose(learner.member_params(2)[k], mean, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["d-maddqn", "c-mappo", "f-drqn"])
def test_composite_checkpoint_round_trip(name, tmp_path):
    a = small(name, seed=4)
    drive(a, 20)
    torch.save(a.state_dict(include_buffer=True), tmp_path / "c.pt")
    b = small(name, seed=11)
    b.load_state_dict(torch.load(tmp_path / "c.pt", weights_only=False))
    a.reset_state()
    for o in obs_seq(4, 7):
        np.testing.assert_array_equal(a.act(o, explore=True), b.act(o, explore=True))
    flat = make_learner(name, OBS, spaces.Discrete(24), N, **SMALL[name.split("-")[1]])
    with pytest.raises(ValueError, match="checkpoint is for"):
        flat.load_state_dict(a.state_dict())


def test_learner_policy_checks_spaces():
    learner = small("d-maddqn")
    pol = LearnerPolicy(learner)
    pol.reset(B, N, spaces.MultiDiscrete(NVEC), np.random.default_rng(0))

    class View:
        def observation(self):
            return np.zeros((B, N, W), np.float32)

    assert_valid(pol.act(View()), (B, N))
    with pytest.raises(ValueError, match="learner was built for"):
        pol.reset(B, N, spaces.MultiDiscrete((3, 2, 5)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="learner was built for"):
        pol.reset(B, N + 1, ACT, np.random.default_rng(0))


# ---------------------------------------------------------------------- learning: a bandit
# Reward per agent = sum over components of PAYOFF[d][a_d]: the best composite action is the
# per-component argmax, (2, 0, 1). Observations are noise, so only the action matters.
PAYOFF = [np.array([0.0, 0.3, 1.0]), np.array([0.6, 0.0]), np.array([0.1, 0.9, 0.0, 0.2])]
BEST = np.array([2, 0, 1])
BANDIT = {"maddqn": {"hidden": (32,), "batch_size": 32, "learning_starts": 64, "lr": 3e-3,
                     "gamma": 0.0, "eps_decay_steps": 600, "eps_end": 0.05, "reward_scale": 1.0},
          "mappo": {"hidden": (32,), "rollout_decisions": 8, "epochs": 4, "lr": 3e-3,
                    "gamma": 0.0, "entropy_coef": 0.0},
          "drqn": {"embed": 16, "lstm": 16, "batch_size": 16, "seq_len": 4, "burn_in": 2,
                   "state_stride": 2, "learning_starts": 64, "lr": 3e-3, "gamma": 0.0,
                   "eps_decay_steps": 600, "eps_end": 0.05, "reward_scale": 1.0}}


def bandit_reward(a: np.ndarray) -> np.ndarray:
    return sum(PAYOFF[d][a[..., d]] for d in range(len(NVEC)))


@pytest.mark.parametrize("name", ["d-maddqn", "c-maddqn", "f-mappo", "d-drqn"])
def test_factorised_heads_learn_best_composite_action(name):
    learner = make_learner(name, OBS, ACT, N, seed=0, **BANDIT[name.split("-")[1]])
    rng = np.random.default_rng(0)
    obs = rng.normal(0, 0.1, (B, N, W)).astype(np.float32)
    for t in range(600):
        a = learner.act(obs, explore=True)
        nxt = rng.normal(0, 0.1, (B, N, W)).astype(np.float32)
        learner.observe(obs, a, bandit_reward(a), nxt, np.full(B, (t + 1) % 20 == 0))
        learner.update()
        obs = nxt
    learner.reset_state(explore=False)
    greedy = learner.act(obs, explore=False)
    np.testing.assert_array_equal(greedy, np.broadcast_to(BEST, greedy.shape))


def test_scenario_hints_reach_the_learner():
    """The orchestration passes `LearnerHints.as_overrides()` (lists for per-feature values)
    under the user's overrides."""
    from pybridge.api import LearnerHints

    hints = LearnerHints(obs_shift=np.array([1.0, 2.0, 3.0]), obs_scale=4.0, decision_period=3)
    learner = make_learner("f-drqn", OBS, ACT, N, **(hints.as_overrides() | {"embed": 4}))
    assert learner.cfg.decision_period == 3 and learner.streams.period == 3
    np.testing.assert_allclose(learner.scaler(np.full((1, 1, W), 5.0)), [[[1.0, 0.75, 0.5]]])
    sd = learner.policy_state_dict()
    np.testing.assert_allclose(sd["obs_shift"].numpy(), [1.0, 2.0, 3.0])
    default = make_learner("f-drqn", OBS, ACT, N)  # neutral without hints
    assert (default.cfg.obs_shift, default.cfg.obs_scale, default.cfg.decision_period) == (
        0.0, 1.0, 1)


def test_checkpoint_from_before_multidiscrete_still_loads():
    """Checkpoints written before this change carry n_actions and no action_space."""
    flat = make_learner("d-maddqn", OBS, spaces.Discrete(3), N, **SMALL["maddqn"])
    sd = flat.state_dict()
    del sd["action_space"]
    other = make_learner("d-maddqn", OBS, spaces.Discrete(3), N, seed=4, **SMALL["maddqn"])
    other.load_state_dict(sd)
    for k, v in flat.member_params(1).items():
        np.testing.assert_array_equal(v, other.member_params(1)[k])
    sd["n_actions"] = 4
    with pytest.raises(ValueError, match="checkpoint is for"):
        other.load_state_dict(sd)
