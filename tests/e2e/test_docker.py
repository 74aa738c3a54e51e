"""The container recipes run the README's own entry points. They are really built with podman by
scripts/container-check.sh (a benchmark, too slow for CI; docker/README.md has its result);
this keeps them from drifting away from the commands CI does run."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = [ROOT / "docker" / "Dockerfile", ROOT / "docker" / "Dockerfile.ns3-source"]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("## Set-up: two commands on a fresh machine", 1)[1].split("```")[1]
    return [line.split("#")[0].strip() for line in block.splitlines()
            if line.strip() and not line.startswith("bash")]


def test_readme_has_exactly_two_setup_commands_and_ci_runs_one():
    cmds = readme_commands()
    assert cmds == ["make run", "make test"]
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_make_targets_go_through_bootstrap():
    mk = (ROOT / "Makefile").read_text()
    for target in ("run", "test"):
        assert re.search(rf"^{target}: bootstrap\b", mk, re.MULTILINE), target
    assert "./scripts/bootstrap.sh" in mk


def test_dockerfiles_use_the_same_entry_points():
    for path in DOCKERFILES:
        text = path.read_text()
        runs = " ".join(re.findall(r"^RUN (.+?)(?<!\\)$", text, re.MULTILINE | re.DOTALL))
        assert "./scripts/bootstrap.sh" in runs, path.name
        cmd = re.search(r'^CMD \["make", "run"\]$', text, re.MULTILINE)
        assert cmd, f"{path.name} must default to the README's main job"
        assert text.startswith("#")
        # the base: python:3.11 by default, or another Debian bookworm through ARG BASE (a local
        # debootstrap image where no registry is reachable: scripts/container-check.sh)
        base = re.search(r"^ARG BASE=(\S+)$", text, re.MULTILINE)
        assert "FROM python:3.11" in text or (
            base and base.group(1).startswith("python:3.11") and "FROM ${BASE}" in text), path.name


def test_container_check_builds_the_dockerfile_and_runs_both_entry_points():
    text = (ROOT / "scripts" / "container-check.sh").read_text()
    assert "-f docker/Dockerfile" in text and "podman build" in text
    assert '"make test"' in text and "fedmarl run" in text


def test_source_build_passes_ns3_root_to_cmake():
    text = (ROOT / "docker" / "Dockerfile.ns3-source").read_text()
    assert "NS3_ROOT=" in text
    assert "NS3_ROOT" in (ROOT / "scripts" / "bootstrap.sh").read_text()
    assert "NS3_ROOT" in (ROOT / "CMakeLists.txt").read_text()
