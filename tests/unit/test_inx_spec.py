"""The inx-factory scenario's declarations (its ScenarioSpec) and the registry that finds it."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from pybridge import ConfigError, make_vec_env, scenarios
from pybridge.api import Column, ScenarioSpec
from pybridge.scenarios.inx_factory import SPEC, InxFactoryConfig


def test_registry_finds_the_builtin_scenario():
    assert scenarios.get("inx-factory") is SPEC and "inx-factory" in scenarios.names()
    assert isinstance(SPEC, ScenarioSpec) and SPEC.config_cls is InxFactoryConfig
    with pytest.raises(ConfigError, match="unknown scenario 'edge'; available: .*inx-factory"):
        scenarios.get("edge")
    with pytest.raises(ValueError, match="already registered"):
        scenarios.register(type(SPEC)())


def test_names_spaces_and_dims_follow_the_config():
    cfg = SPEC.make_config(n_subnetworks=3, n_devices=2, n_channels=5, obs_reduce="full")
    assert SPEC.agent_names(cfg) == ["subnet_0", "subnet_1", "subnet_2"]
    assert SPEC.env_name == "inx_factory_v0" and SPEC.ns3_binary == "fedmarl-inx-factory"
    assert SPEC.observation_space(cfg) == spaces.Box(-150.0, 150.0, (10,), np.float32)
    assert SPEC.action_space(cfg) == spaces.Discrete(5)
    assert SPEC.state_space(cfg).shape == (3 * 11,)
    assert SPEC.observation_space(cfg) is not SPEC.observation_space(cfg)  # new each call
    assert SPEC.ns3_dims(cfg) == {"N": 3, "M": 2, "K": 5, "W": 10}
    assert SPEC.baselines_module == "agents.baselines.inx_factory"
    assert SPEC.validation_module == "pybridge.scenarios.inx_factory.validation"


def test_learner_hints_are_the_learners_former_defaults_and_follow_tau_max():
    assert SPEC.learner_hints(SPEC.make_config()).as_overrides() == {
        "obs_shift": 20.0, "obs_scale": 20.0, "decision_period": 10}
    assert SPEC.learner_hints(SPEC.make_config(tau_max=4)).decision_period == 4


def _twin_summary():
    cfg = SPEC.make_config(n_subnetworks=4, episode_steps=6)
    rec = SPEC.recorder(cfg)
    with make_vec_env("inx-factory", 2, n_subnetworks=4, episode_steps=6) as env:
        env.reset(seed=0)
        for t in range(6):
            _, reward, _, _, info = env.step(np.full((2, 4), t % 4))
            rec.add_step(info, reward)
            scalars = SPEC.step_scalars(info, reward)
            assert scalars["mean_rate"] == pytest.approx(float(info["rate"].mean()), rel=1e-12)
    return rec.summary()


def test_columns_headline_and_reference_name_summary_keys():
    summary = _twin_summary()
    assert summary["episodes"] == 2
    for col in SPEC.columns:
        assert col.key in summary, col
    assert SPEC.headline in summary
    for method, figures in SPEC.reference.items():
        assert set(figures) <= set(summary), method
    assert SPEC.reference["cgc"]["mean_rate_shannon"] == 12.80 and SPEC.reference_source
    ns3_keys = {"delay_mean_s", "delay_p99_s", "packet_loss", "packet_error_rate"}
    assert {c.key for c in SPEC.ns3_columns} == ns3_keys
    col = Column("delay_mean_s", "delay us", "{:.3g}", 1e6)
    assert col.format({"delay_mean_s": 2.5e-5}) == "25"
    assert Column("mean_rate", "mean FBL").format({"mean_rate": 11.23456}) == "11.235"


def test_tolerances_are_complete_and_explained():
    names = [t.metric for t in SPEC.tolerances]
    assert len(names) == len(set(names))
    assert {"mean_rate", "p5_rate", "jain_fairness", "ks_rate", "delay_p99_s",
            "packet_error_rate", "airtime"} <= set(names)
    for t in SPEC.tolerances:
        assert t.kind in ("abs", "rel", "ks", "ratio") and t.value > 0 and t.reason, t
    by = {t.metric: t for t in SPEC.tolerances}
    assert (by["mean_rate"].kind, by["mean_rate"].value) == ("rel", 0.05)
    assert (by["ks_gain"].kind, by["ks_gain"].value) == ("ks", 0.05)
    assert (by["packet_error_rate"].kind, by["packet_error_rate"].value) == ("ratio", 2.0)


def test_validation_samples_of_a_recorded_episode():
    ep = {"rate": np.arange(12.0).reshape(3, 2, 2), "rate_shannon": np.ones((3, 2, 2)),
          "sinr": np.full((3, 2, 2), 100.0)}
    s = SPEC.validation_samples(ep)
    assert s["rate"].shape == (3, 4) and s["rate"][1].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert s["rate_shannon"].shape == (3, 4)
    np.testing.assert_allclose(s["sinr_db"], np.full(12, 20.0), rtol=1e-12)
