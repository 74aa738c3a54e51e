"""`fedmarl reproduce ultra-dense`: its runs, its deployment of shared models at a new N, and the
whole pipeline (train, twin, ns-3, validate, secure-round costs, claims, page) at a tiny size."""

from __future__ import annotations

import dataclasses
import json

from fedmarl.reproduce import reproduce
from fedmarl.runs import deployed_policy
from fedmarl.scenarios import inx_factory_ultra_dense as ud
from fedmarl.train import TrainConfig


def test_specs_train_every_learner_at_every_n_with_secagg_for_f_only():
    b = ud.BUDGETS["full"]
    specs = ud.run_specs(b, seed=3)
    assert set(specs) == ({f"{a}-n{n}" for a in ud.LEARNERS for n in b.n_trained}
                          | {f"f-maddqn-cluster{ud.CLUSTER}-n1000"})
    assert specs[f"f-maddqn-cluster{ud.CLUSTER}-n1000"]["agent"]["cluster_size"] == ud.CLUSTER
    for name, spec in specs.items():
        cfg = TrainConfig.from_dict(spec)  # a valid training config
        n = int(name.rsplit("-n", 1)[1])
        assert cfg.params["n_subnetworks"] == n and cfg.params["n_channels"] == ud.K
        assert cfg.seed == 3
        if name.startswith("f-"):
            assert cfg.aggregation == "secure" and cfg.tau_agg == ud.TAU_AGG
    # C-: the replay of all agents, C_BATCH_MEMBERS members' batches per gradient step
    c, f = specs["c-maddqn-n1000"]["agent"], specs["f-maddqn-n1000"]["agent"]
    assert c["buffer_size"] == 64_000 * 1000 and c["batch_size"] == 256 * ud.C_BATCH_MEMBERS
    assert "buffer_size" not in f
    # N = 1000 runs do not fit side by side in 24 GiB
    assert b.max_parallel_runs == 1


def _tiny_budget() -> ud.Budget:
    return ud.Budget(n_trained=(6,), n_deployed=(9,), train_episodes=1, n_envs=1,
                     episode_steps=12, eval_episodes=1, ns3_episodes=1, validate_episodes=1,
                     validate_steps=6,
                     eps_decay_fraction=0.5, secagg_bench_n=(12,), tau_agg=6,
                     max_parallel_runs=1)


def test_the_whole_study_at_a_tiny_size_writes_its_page_and_checks_every_claim(tmp_path):
    study = dataclasses.replace(ud.STUDY, budgets={"quick": _tiny_budget(),
                                                   "full": _tiny_budget()})
    r = reproduce(study, out=tmp_path / "out", quick=True, work=tmp_path / "work")
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    # every policy at every N on the twin; at the untrained N the trained networks tiled over
    # the new agents, and F-'s global model
    assert set(data["twin"]["6"]) == {*ud.BASELINES, *ud.LEARNERS}
    assert set(data["twin"]["9"]) == {*ud.BASELINES, *ud.LEARNERS, "f-maddqn-global"}
    # ns-3 at the trained N with the URLLC traffic: a delay was measured for every policy
    assert set(data["ns3"]) == {"6"}
    for e in data["ns3"]["6"].values():
        assert e["packets_delivered"] > 0 and 0 < e["delay_mean_s"] <= e["delay_p99_s"]
    assert {"f-maddqn-n6", "cgc"} == set(data["validate"])
    assert all(v["verdicts"] for v in data["validate"].values())
    # secure rounds: the F- run's own (12 transitions per agent, tau_agg 6) and a measured one
    own, measured = data["secagg"]["6"], data["secagg"]["12"]
    assert own["rounds"] >= 1 and own["bytes_per_client_sent"] > 0 and own["seconds"] > 0
    assert measured["measured_outside_training"] and measured["bytes_per_client_sent"] > 0
    assert measured["params"] == own["params"]  # the trained model's size
    assert data["claims"]["secagg_sublinear"]["n"] == [6, 12]
    assert set(data["claims"]) == {c.key for c in ud.CLAIMS}
    assert all(isinstance(c["holds"], bool) for c in r["claims"].values())
    page = (tmp_path / "out" / "index.md").read_text()
    assert "{b[" not in page and "{r[" not in page  # every placeholder filled in
    assert page.count("**holds**") + page.count("**does not hold**") >= len(ud.CLAIMS)
    for png in ("throughput_vs_n", "fairness_interference_vs_n", "ns3_latency_vs_n",
                "secagg_vs_n", "training_reward"):
        assert (tmp_path / "out" / f"{png}.png").stat().st_size > 0
    # deployed at a new N the learner carries no replay of its own (it only acts)
    pol = deployed_policy(tmp_path / "work" / "f-maddqn-n6", 9, ud.setting(9, _tiny_budget()),
                          members="average")
    assert pol.learner.n_agents == 9 and pol.learner.buffer.capacity == 1
