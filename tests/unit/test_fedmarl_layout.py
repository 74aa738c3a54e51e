"""fedmarl names no scenario outside fedmarl/scenarios/, and the study engine on a toy study (import
cycles of every package: tests/unit/test_imports.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from fedmarl.reproduce import reproduce
from fedmarl.study import Claim, check_claims

ROOT = Path(__file__).resolve().parents[2]
FEDMARL = ROOT / "fedmarl"


def test_only_fedmarl_scenarios_names_a_scenario():
    """Outside fedmarl/scenarios/ (a study is about one paper's scenario) no fedmarl module names
    a scenario; even the CLI's default comes from the registry (pybridge.scenarios.DEFAULT)."""
    for p in FEDMARL.rglob("*.py"):
        if "scenarios" in p.relative_to(FEDMARL).parts:
            continue
        assert "inx" not in p.read_text().lower(), p


@dataclass(frozen=True)
class Budget:
    n: int


def _bigger(d):
    return {"a": d["a"], "b": d["b"], "holds": d["a"] > d["b"]}


class ToyStudy:
    """No training runs: evaluate() makes two numbers; one claim holds, one does not."""

    name = "toy"
    scenario = "toy"
    budgets: ClassVar[dict[str, Budget]] = {"quick": Budget(1), "full": Budget(2)}
    claims = (Claim("a_beats_b", "a is larger than b", _bigger),
              Claim("b_beats_a", "b is larger than a",
                    lambda d: {"holds": d["b"] > d["a"]}))

    def run_specs(self, budget, seed):
        return {}

    def evaluate(self, runs, budget, seed, log):
        return {"a": 2.0 * budget.n, "b": 1.0, "_raw": [1, 2, 3]}, {"toy_eval": 0.0}

    def figures(self, data, runs, out):
        (out / "fig.txt").write_text(str(data["_raw"]))

    def page(self, result):
        return f"# toy\n{result['claims']['a_beats_b']['holds']}\n"


def test_reproduce_engine_checks_claims_and_writes_the_page(tmp_path):
    r = reproduce(ToyStudy(), out=tmp_path / "out", quick=True, work=tmp_path / "work",
                  jobs=1, log=lambda s: None)
    assert r["claims"]["a_beats_b"] == {"claim": "a is larger than b", "a": 2.0, "b": 1.0,
                                        "holds": True}
    assert r["claims"]["b_beats_a"]["holds"] is False
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["mode"] == "quick" and saved["budget"] == {"n": 1}
    assert "_raw" not in saved and saved["a"] == 2.0  # raw arrays are for claims, not the file
    assert set(saved["timings_s"]) >= {"training", "toy_eval", "total"}
    assert (tmp_path / "out" / "index.md").read_text() == "# toy\nTrue\n"
    assert (tmp_path / "out" / "fig.txt").read_text() == "[1, 2, 3]"
    assert check_claims(ToyStudy.claims, {"a": 0, "b": 1})["b_beats_a"]["holds"] is True


def test_studies_registry_lists_the_inx_factory_study():
    from fedmarl import scenarios as studies

    assert "inx-factory" in studies.study_names()
    assert studies.get("inx-factory").scenario == "inx-factory"
