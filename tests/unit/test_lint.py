"""The code base stays ruff-clean (DESIGN.md conventions); the rules live in pyproject.toml."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    p = subprocess.run([str(ruff), "check", "pybridge", "agents", "federation", "fedmarl",
                        "tests"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
