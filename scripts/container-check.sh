#!/usr/bin/env bash
# Build docker/Dockerfile with podman and run the README's entry points inside the image:
# `make test` and a short main job. Prints the image size and the time of every stage.
# A benchmark (tens of minutes on 2 cores), not part of the test suite; docker/README.md reports
# its last result.
#
#   scripts/container-check.sh                 # base localhost/debian:bookworm, made if missing
#   BASE=python:3.11-slim-bookworm scripts/container-check.sh   # where a registry is reachable
#
# Where no image registry is reachable the base image is made locally: debootstrap of Debian
# bookworm (minbase) into a folder, imported with `podman import` (needs the Debian packages
# podman and debootstrap, and root). pip inside the build reaches PyPI as usual; a local folder
# of wheels (PIP_FIND_LINKS, default /opt/wheels where it exists: the CPU torch wheel of these
# machines) is mounted into the build so torch is the CPU build.
#
# Running: `podman run` where the OCI runtime works. In sandboxes where it cannot (crun refusing
# rlimits or a hybrid cgroup hierarchy, as on the development machines), the same commands run
# as build steps of a throw-away image FROM the built one under chroot isolation: the image's
# filesystem, environment and working directory, without the OCI runtime. The log says which.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=${BASE:-localhost/debian:bookworm}
IMAGE=${IMAGE:-localhost/fedmarl-ns3:check}
WORK=${WORK:-/tmp/fedmarl-container-check}
WHEELS=${PIP_FIND_LINKS:-/opt/wheels}
MAIN_JOB_ARGS=${MAIN_JOB_ARGS:---train-episodes 2 --episodes 2 --out /tmp/main-job}
mkdir -p "$WORK"

stamp() { date +%s; }
took() { echo "$(( $(stamp) - $1 )) s"; }
declare -A TIMES

command -v podman >/dev/null || { echo "container-check: podman not found (apt-get install -y podman debootstrap)" >&2; exit 2; }

# 1. the base image
t0=$(stamp)
if ! podman image exists "$BASE"; then
  if [ "$BASE" != "localhost/debian:bookworm" ]; then
    podman pull "$BASE"
  else
    command -v debootstrap >/dev/null || { echo "container-check: debootstrap not found" >&2; exit 2; }
    rootfs="$WORK/rootfs"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian
    tar -C "$rootfs" -c . | podman import - "$BASE"
    rm -rf "$rootfs"
  fi
fi
TIMES[base]=$(took "$t0")

# 2. the build context: tracked and untracked-but-not-ignored files only (no .venv, no build/)
ctx="$WORK/context"
rm -rf "$ctx" && mkdir -p "$ctx"
git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -C "$ctx" -x

# 3. the image
build_args=(--isolation chroot --build-arg "BASE=$BASE" -f docker/Dockerfile -t "$IMAGE")
if [ -d "$WHEELS" ]; then
  build_args+=(--volume "$WHEELS:$WHEELS:ro" --build-arg "PIP_FIND_LINKS=$WHEELS")
fi
# pip's CA bundle of this machine (PIP_CERT), e.g. where a proxy inspects TLS
CERT=${PIP_CERT:-}
if [ -n "$CERT" ] && [ -f "$CERT" ]; then
  build_args+=(--volume "$CERT:/etc/pip-ca.crt:ro" --build-arg "PIP_CERT=/etc/pip-ca.crt")
fi
t0=$(stamp)
podman build "${build_args[@]}" "$ctx"
TIMES[build]=$(took "$t0")
SIZE=$(podman image inspect "$IMAGE" --format '{{.Size}}')

# 4. the entry points inside the image
run_inside() {  # NAME COMMAND: podman run, or a chroot-isolated build step FROM the image
  local name=$1 cmd=$2
  if podman run --rm "$IMAGE" true >/dev/null 2>&1; then
    echo "[container-check] $name: podman run"
    podman run --rm "$IMAGE" sh -c "$cmd"
  else
    echo "[container-check] $name: podman run is refused here; running it as a chroot-isolated build step"
    printf 'FROM %s\nRUN %s\n' "$IMAGE" "$cmd" > "$WORK/Containerfile.$name"
    podman build --isolation chroot --no-cache -f "$WORK/Containerfile.$name" \
      -t "localhost/fedmarl-ns3-$name:check" "$WORK"
    podman rmi -f "localhost/fedmarl-ns3-$name:check" >/dev/null
  fi
}
t0=$(stamp)
run_inside test "make test"
TIMES[make_test]=$(took "$t0")
t0=$(stamp)
run_inside mainjob ".venv/bin/fedmarl run $MAIN_JOB_ARGS && cat /tmp/main-job/report.md | head -30"
TIMES[main_job]=$(took "$t0")

echo "[container-check] image $IMAGE (FROM $BASE): $((SIZE / 1000000)) MB"
for k in base build make_test main_job; do echo "[container-check] $k: ${TIMES[$k]}"; done
echo "[container-check] machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, $(free -g | awk '/Mem:/ {print $2}') GiB"
