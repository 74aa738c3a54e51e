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
LOGS=build/logs  # each step's full output; shown (tail) when the step fails

mkdir -p "$LOGS"

# step NAME LOGFILE COMMAND...: one line per step; the full output goes to the log, whose last
# lines are printed (and the script stops) if the command fails.
step() {
  local name=$1 log=$2
  shift 2
  local t0=$SECONDS
  printf '[bootstrap] %s ... ' "$name"
  if "$@" >"$log" 2>&1; then
    echo "done ($((SECONDS - t0)) s)"
  else
    local rc=$?
    echo "FAILED (exit $rc); last lines of $log:"
    tail -n 40 "$log" | sed 's/^/  | /'
    exit "$rc"
  fi
}

if [ ! -x "$VENV/bin/python" ]; then
  step "creating $VENV with $($PYTHON --version)" "$LOGS/venv.log" "$PYTHON" -m venv "$VENV"
fi

want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$STAMP" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
  # torch first, by exact version: with an unpinned resolver pass it could pick a CUDA build.
  step "installing pinned dependencies into $VENV (first time: a few minutes)" "$LOGS/pip.log" \
    sh -c "'$VENV/bin/python' -m pip install --upgrade pip &&
           '$VENV/bin/python' -m pip install 'torch==2.13.0' &&
           '$VENV/bin/python' -m pip install -e '.[test]'"
  echo "$want" > "$STAMP"
else
  # The editable install is cheap to check; it also restores the `fedmarl` entry point.
  "$VENV/bin/python" -c "import fedmarl, pybridge, agents, federation" 2>/dev/null \
    || step "restoring the editable install" "$LOGS/pip.log" \
         "$VENV/bin/python" -m pip install --no-deps -e .
fi

# Native build (ns-3 scenarios and the bridge extension). CMake finds ns-3 inside the venv's
# ns3 wheel unless NS3_ROOT points at a system or source-built ns-3.
step "configuring the native build (CMake)" "$LOGS/cmake-configure.log" \
  cmake -S . -B build -DPython_EXECUTABLE="$PWD/$VENV/bin/python" ${NS3_ROOT:+-DNS3_ROOT="$NS3_ROOT"}
step "building the ns-3 scenarios and the bridge (-j2; first time: several minutes)" \
  "$LOGS/cmake-build.log" cmake --build build -j2
