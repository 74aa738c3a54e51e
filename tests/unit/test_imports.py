"""Import rules of the house (docs/architecture.md), checked for every module of every package.

- pybridge never imports torch, agents, federation or fedmarl (it is the simulator layer);
- agents and federation never import each other, pybridge or fedmarl (learners and the
  protocol stay usable on their own: agents see only gymnasium spaces and numpy arrays);
- no import cycles anywhere, function-local imports included (a local import that only breaks
  a cycle at run time is still a tangle).
The graph is built statically from the source (ast), so a rule is checked even for code paths
the tests never run; a run-time check confirms that importing pybridge and every registered
scenario loads no torch.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("pybridge", "agents", "federation", "fedmarl")
FORBIDDEN = {
    "pybridge": ("torch", "agents", "federation", "fedmarl"),
    "agents": ("pybridge", "federation", "fedmarl"),
    "federation": ("pybridge", "agents", "fedmarl", "torch"),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            mods[_module_name(path)] = path
    return mods


def _extensions() -> set[str]:
    """Compiled modules (pybridge._shm): leaves of the graph, `from pybridge import _shm`
    imports the extension, not the package. Found from the pybind11 sources, so the rule holds
    whether or not the extension is built yet."""
    found = set()
    for pkg in PACKAGES:
        for src in (ROOT / pkg).rglob("*.cc"):
            for name in re.findall(r"PYBIND11_MODULE\(\s*(\w+)", src.read_text()):
                found.add(f"{pkg}.{name}")
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules `name` imports anywhere in its body (resolved to the most specific module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                out.add(sub if sub in known else mod)
    return out


def _graph() -> nx.DiGraph:
    mods = _modules()
    known = set(mods) | _extensions()
    g = nx.DiGraph()
    g.add_nodes_from(known)
    for name, path in mods.items():
        for target in _imports(name, path, known):
            g.add_edge(name, target)
    return g


GRAPH = _graph()


def test_the_graph_sees_every_package():
    assert {n.split(".")[0] for n in GRAPH if n.split(".")[0] in PACKAGES} == set(PACKAGES)
    assert GRAPH.number_of_edges() > 50


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_forbidden(layer):
    bad = sorted((src, dst) for src, dst in GRAPH.edges
                 if src.split(".")[0] == layer and dst.split(".")[0] in FORBIDDEN[layer])
    assert not bad, f"{layer} must not import {FORBIDDEN[layer]}: {bad}"


def test_no_import_cycles():
    internal = GRAPH.subgraph([n for n in GRAPH if n.split(".")[0] in PACKAGES])
    cycles = [sorted(c) for c in nx.strongly_connected_components(internal) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def test_importing_pybridge_and_its_scenarios_loads_no_torch():
    code = ("import sys, pybridge, pybridge.scenarios as s\n"
            "[s.get(n) for n in s.names()]\n"
            "bad = [m for m in ('torch', 'agents', 'fedmarl') if m in sys.modules]\n"
            "assert not bad, bad\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       check=False)
    assert p.returncode == 0, p.stderr


# Shared layers name no scenario: the one allowed mention per file, with its reason.
SHARED = ("pybridge", "agents", "federation", "fedmarl", "ns3-scenarios/common")
OWN_FOLDERS = ("pybridge/scenarios/inx_factory/", "agents/baselines/inx_factory.py",
               "fedmarl/scenarios/inx_factory.py", "fedmarl/scenarios/inx_factory_ultra_dense.py")
ALLOWED = {
    "pybridge/scenarios/__init__.py": "the registry: DEFAULT, the scenario used when none is"
                                      " named, and an example in its docstring",
    "pybridge/native/include/fedmarl/shm_layout.h": "the layout comment counts one scenario's"
                                                    " arrays as an example",
}


def test_shared_layers_name_no_scenario():
    hits = []
    for top in SHARED:
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if (not path.is_file() or path.suffix not in (".py", ".h", ".cc", ".txt")
                    or rel.startswith(OWN_FOLDERS) or rel in ALLOWED):
                continue
            if "inx" in path.read_text(errors="replace").lower():
                hits.append(rel)
    assert not hits, f"scenario-specific code in shared layers: {hits}"
