"""fedmarl.io: atomic writes, JSONL logs cut back on resume, YAML/TOML config files."""

from __future__ import annotations

import os

import pytest

from fedmarl import io
from fedmarl.io import RunDir
from pybridge.config import ConfigError


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "report.md"
    io.write_atomic(path, "first version\n")
    assert path.read_text() == "first version\n"

    def torn_replace(src, dst):  # a crash between writing the temporary file and the rename
        raise KeyboardInterrupt

    monkeypatch.setattr(io.os, "replace", torn_replace)
    with pytest.raises(KeyboardInterrupt):
        io.write_atomic(path, b"second, never finished")
    monkeypatch.undo()
    assert path.read_text() == "first version\n"  # the old file is intact, not torn
    assert sorted(os.listdir(path.parent)) == ["report.md"]  # and no temporary left behind


def test_jsonl_append_read_and_torn_last_line(tmp_path):
    p = tmp_path / "m.jsonl"
    for e in range(3):
        io.append_jsonl(p, {"episode": e, "x": e * 0.5})
    with open(p, "a") as f:
        f.write('{"episode": 3, "x"')  # killed mid-line
    rows = io.read_jsonl(p)
    assert [r["episode"] for r in rows] == [0, 1, 2]
    # Nothing after a torn line is trusted (a later row glued to it is not a fresh start).
    with open(p, "a") as f:
        f.write('\n{"episode": 4, "x": 2.0}\n')
    assert [r["episode"] for r in io.read_jsonl(p)] == [0, 1, 2]
    assert io.read_jsonl(tmp_path / "absent.jsonl") == []


def test_rundir_resume_truncation_keeps_the_covered_episodes(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    for e in range(5):
        rd.append_jsonl("metrics.jsonl", {"episode": e})
        rd.append_jsonl("federation.jsonl", {"episode": e, "round": 2 * e})
        rd.append_jsonl("federation.jsonl", {"episode": e, "round": 2 * e + 1})
    rd.truncate_jsonl("metrics.jsonl", lambda r: r["episode"] < 3)
    rd.truncate_jsonl("federation.jsonl", lambda r: r["episode"] < 3)
    assert [r["episode"] for r in rd.read_jsonl("metrics.jsonl")] == [0, 1, 2]
    assert [r["round"] for r in rd.read_jsonl("federation.jsonl")] == [0, 1, 2, 3, 4, 5]
    # Appending after the cut continues the file cleanly.
    rd.append_jsonl("metrics.jsonl", {"episode": 3})
    assert [r["episode"] for r in rd.read_jsonl("metrics.jsonl")] == [0, 1, 2, 3]


def test_rundir_checkpoints_ignore_temporaries_and_config_is_required(tmp_path):
    rd = RunDir(tmp_path / "run")
    rd.ckpt_dir.mkdir(parents=True)
    for name in ("ckpt-000002.pt", "ckpt-000010.pt", ".ckpt-000011.pt.abc"):
        (rd.ckpt_dir / name).write_bytes(b"x")
    assert [p.name for p in rd.checkpoints()] == ["ckpt-000002.pt", "ckpt-000010.pt"]
    assert rd.latest_checkpoint().name == "ckpt-000010.pt"
    assert not rd.is_run()
    with pytest.raises(ConfigError, match="not a run directory"):
        rd.read_config()
    io.write_yaml(rd.config_path, {"algo": "f-maddqn", "params": {"n_channels": 2}})
    assert rd.read_config() == {"algo": "f-maddqn", "params": {"n_channels": 2}}


def test_csv_has_scalar_columns_in_first_seen_order(tmp_path):
    rd = RunDir(tmp_path)
    rd.write_csv([{"episode": 0, "loss": 1.5, "hist": [1, 2]}, {"episode": 1, "eps": 0.1}])
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "episode,loss,eps" and lines[2] == "1,,0.1"


def test_config_files_yaml_toml_and_their_errors(tmp_path):
    (tmp_path / "a.yaml").write_text("algo: d-maddqn\nparams: {n_channels: 3}\n")
    (tmp_path / "a.toml").write_text('algo = "d-maddqn"\n[params]\nn_channels = 3\n')
    assert io.read_config(tmp_path / "a.yaml") == io.read_config(tmp_path / "a.toml")
    (tmp_path / "bad.toml").write_text("algo = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        io.read_config(tmp_path / "bad.toml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        io.read_config(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match="cannot read config"):
        io.read_config(tmp_path / "missing.yaml")
