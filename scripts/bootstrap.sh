#!/usr/bin/env bash
# Idempotent set-up for a fresh machine (called by `make run` and `make test`):
#   1. create .venv (reused when present),
#   2. install the pinned Python dependencies when pyproject.toml changed since the last install
#      (the ns-3 3.44 wheel takes ~2 minutes the first time; torch is the CPU build),
#   3. configure and build the native parts (CMakeLists.txt) with -j2.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
STAMP=$VENV/.fedmarl-deps.sha256

if [ ! -x "$VENV/bin/python" ]; then
  echo "[bootstrap] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi

want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  echo "[bootstrap] installing pinned dependencies into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  # torch first, by exact version: with an unpinned resolver pass it could pick a CUDA build.
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
  "$VENV/bin/python" -m pip install --quiet -e ".[test]"
  echo "$want" > "$STAMP"
else
  # The editable install is cheap to check; it also restores the `fedmarl` entry point.
  "$VENV/bin/python" -c "import fedmarl, pybridge, agents, federation" 2>/dev/null \
    || "$VENV/bin/python" -m pip install --quiet --no-deps -e .
fi

# Native build (ns-3 scenarios and the bridge extension). CMake finds ns-3 inside the venv's
# ns3 wheel unless NS3_ROOT points at a system or source-built ns-3.
cmake -S . -B build -DPython_EXECUTABLE="$PWD/$VENV/bin/python" ${NS3_ROOT:+-DNS3_ROOT="$NS3_ROOT"} >/dev/null
cmake --build build -j2
