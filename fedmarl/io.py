"""Files of the orchestration layer: atomic writes, JSONL logs, config files, run directories.

Everything `fedmarl` writes goes through `write_atomic` (temporary file in the same folder,
then rename), so a crash or kill never leaves a torn report, checkpoint or config behind. Config
files are YAML (`.yaml`/`.yml`) or TOML (`.toml`), read into a plain mapping with one clear
`ConfigError` for an unreadable or malformed file. This module imports nothing else of fedmarl.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from pybridge.config import ConfigError


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write via a temporary file and rename, so a crash never leaves a torn file."""
    path = Path(path)
    if isinstance(data, str):
        data = data.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2).encode())


# ------------------------------------------------------------------------------ config files
def read_config(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML or TOML file (by suffix; anything else is read as YAML)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    if path.suffix == ".toml":
        try:
            import tomllib  # Python >= 3.11
        except ModuleNotFoundError as exc:
            raise ConfigError(f"{path}: TOML config files need Python >= 3.11; use YAML") from exc
        try:
            data: Any = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    else:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(data).__name__}")
    return data


def write_yaml(path: str | os.PathLike, data: dict[str, Any]) -> None:
    write_atomic(path, yaml.safe_dump(data, sort_keys=False).encode())


# ------------------------------------------------------------------------------------ JSONL
def append_jsonl(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one row and fsync: a kill loses at most the row being written."""
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a JSONL file ([] if absent), up to a torn last line."""
    p = Path(path)
    if not p.exists():
        return []
    rows = []
    for line in p.read_text().splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a kill: everything before it is good
    return rows


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Flat CSV of the rows' scalar fields (list/dict values left out), columns in first-seen
    order."""
    cols: list[str] = []
    for r in rows:
        cols += [k for k, v in r.items() if k not in cols and not isinstance(v, list | dict)]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


# ---------------------------------------------------------------------------- run directory
class RunDir:
    """Files of one training run (layout in fedmarl/train.py); metric files are append-only
    and cut back on resume."""

    CONFIG = "config.yaml"

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.ckpt_dir = self.path / "checkpoints"

    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    def is_run(self) -> bool:
        return self.config_path.exists()

    def read_config(self) -> dict[str, Any]:
        if not self.is_run():
            raise ConfigError(f"{self.path} is not a run directory (no {self.CONFIG})")
        return read_config(self.config_path)

    def checkpoints(self) -> list[Path]:
        # Only finished checkpoints: write_atomic's temporaries start with a dot.
        return sorted(self.ckpt_dir.glob("ckpt-*.pt"))

    def latest_checkpoint(self) -> Path | None:
        ckpts = self.checkpoints()
        return ckpts[-1] if ckpts else None

    def append_jsonl(self, name: str, row: dict[str, Any]) -> None:
        append_jsonl(self.path / name, row)

    def read_jsonl(self, name: str) -> list[dict[str, Any]]:
        return read_jsonl(self.path / name)

    def truncate_jsonl(self, name: str, keep: Callable[[dict[str, Any]], bool]) -> None:
        """Keep only the rows `keep` accepts (resume: the episodes the checkpoint covers)."""
        write_jsonl(self.path / name, [r for r in self.read_jsonl(name) if keep(r)])

    def write_csv(self, rows: list[dict[str, Any]], name: str = "metrics.csv") -> None:
        if rows:
            write_atomic(self.path / name, csv_text(rows).encode())
