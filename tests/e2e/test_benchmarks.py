"""The long experiments, as benchmarks (`make bench` = `pytest -m benchmark -s`; `make test`
deselects them): each study's quick budget end to end, its page and claims written."""

from __future__ import annotations

import json

import pytest

from fedmarl.reproduce import reproduce
from fedmarl.study import clean


@pytest.mark.benchmark
@pytest.mark.parametrize("study", ["edge-offload", "inx-factory"])
def test_reproduce_quick_writes_the_page_with_every_claim_checked(study, tmp_path):
    r = reproduce(study, out=tmp_path / "out", quick=True, work=tmp_path / "work")
    page = (tmp_path / "out" / "index.md").read_text()
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["mode"] == "quick" and data["claims"] == json.loads(json.dumps(clean(r["claims"])))
    assert all(isinstance(c["holds"], bool) for c in data["claims"].values())
    verdicts = ("**holds**", "**does not hold**", "**inconclusive**")
    assert sum(page.count(v) for v in verdicts) >= len(data["claims"])
    assert any(p.suffix == ".png" for p in (tmp_path / "out").iterdir())
    print(f"\n[bench] reproduce {study} --quick: {r['timings_s']['total']:.0f} s")
