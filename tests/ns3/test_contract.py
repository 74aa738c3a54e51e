"""pybridge.contract: a scenario binary's `--contract-json` (schema in docs/architecture.md)
parsed, schema-checked, turned into the segment's array table, and compared with the config
dataclass field by field. Hand-written contracts here; the real binaries' are checked in
test_ns3_env.py."""

from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass
from typing import ClassVar

import pytest

from pybridge.config import ScenarioConfig, param
from pybridge.contract import ContractError, load_contract, parse_contract


@dataclass(frozen=True)
class ToyConfig(ScenarioConfig):
    scenario: ClassVar[str] = "toy"
    n_agents: int = param(3, "agents", low=1, high=100)
    speed: float = param(2.0, "speed", unit="m/s", low=0.0, high=30.0, low_open=True)
    height: float = param(None, "derived default", unit="m", low=0.5, high=30.0)
    tiles: int = param("auto", "tiles or auto", choices=("auto",), low=1, high=64)
    mode: str = param("a", "one of a/b", choices=("a", "b"))
    seed: int = param(None, "master seed", low=0, high=2**63 - 1)


def toy_contract() -> dict:
    """What a binary prints for ToyConfig, written out by hand as CONTRACT.md shows it."""
    return {
        "contract_version": 1,
        "scenario": "toy",
        "binary": "fedmarl-toy",
        "layout_version": 3,
        "params": [
            {"name": "n_agents", "type": "int", "default": 3, "low": 1, "high": 100,
             "low_open": False, "choices": None, "unit": "", "doc": "agents"},
            {"name": "speed", "type": "float", "default": 2.0, "low": 0.0, "high": 30.0,
             "low_open": True, "choices": None, "unit": "m/s", "doc": "speed"},
            {"name": "height", "type": "float", "default": None, "low": 0.5, "high": 30.0,
             "low_open": False, "choices": None, "unit": "m", "doc": "derived default"},
            {"name": "tiles", "type": "int", "default": "auto", "low": 1, "high": 64,
             "low_open": False, "choices": ["auto"], "unit": "", "doc": "tiles or auto"},
            {"name": "mode", "type": "str", "default": "a", "low": None, "high": None,
             "low_open": False, "choices": ["a", "b"], "unit": "", "doc": "one of a/b"},
            # A C++ double prints 2^63 - 1 as 9.2233720368547758e+18.
            {"name": "seed", "type": "int", "default": None, "low": 0,
             "high": 9.2233720368547758e18, "low_open": False, "choices": None, "unit": "",
             "doc": "master seed"},
        ],
        "arrays": [
            {"name": "actions", "dtype": "i32", "shape": ["N"], "direction": "in", "doc": ""},
            {"name": "obs", "dtype": "f32", "shape": ["N", "W"], "direction": "out", "doc": ""},
            {"name": "reward", "dtype": "f32", "shape": ["N"], "direction": "out", "doc": ""},
            {"name": "hist", "dtype": "i32", "shape": [64], "direction": "out", "doc": ""},
            {"name": "metrics", "dtype": "f64", "shape": [16], "direction": "out", "doc": ""},
            {"name": "pair", "dtype": "u8", "shape": ["N", "N", 2], "direction": "out"},
            {"name": "step", "dtype": "f64", "shape": [1.0], "direction": "out",
             "doc": "one value, its count written as a float"},
        ],
        "dims": {"N": "number of agents", "W": "observation width"},
        "constants": {"hist_bins": 64, "metrics": ["sim_time", "step"], "metric_slots": 16},
    }


def test_parse_and_array_table():
    c = parse_contract(json.dumps(toy_contract()), source="toy --contract-json")
    assert c.scenario == "toy" and c.binary == "fedmarl-toy" and c.layout_version == 3
    assert c.array("obs").shape == ("N", "W") and c.array("pair").doc == ""
    assert c.array("step").doc == "one value, its count written as a float"
    assert c.dims == {"N": "number of agents", "W": "observation width"}
    table = c.array_table({"N": 5, "W": 4})
    assert table == [
        ("actions", "i32", 5), ("obs", "f32", 20), ("reward", "f32", 5), ("hist", "i32", 64),
        ("metrics", "f64", 16), ("pair", "u8", 50), ("step", "f64", 1)]
    assert all(type(count) is int for _, _, count in table)
    assert c.constants["metrics"] == ["sim_time", "step"]
    with pytest.raises(ContractError, match="shape symbol 'W' has no value"):
        c.array_table({"N": 5})
    with pytest.raises(ContractError, match="0 elements"):
        c.array_table({"N": 0, "W": 4})
    with pytest.raises(ContractError, match="no array 'state'"):
        c.array("state")


def test_the_matching_dataclass_passes():
    parse_contract(toy_contract()).check_config(ToyConfig)


def _mutated(path: tuple, value) -> dict:
    data = copy.deepcopy(toy_contract())
    obj = data
    for key in path[:-1]:
        obj = obj[key]
    obj[path[-1]] = value
    return data


@pytest.mark.parametrize("index, key, value, message", [
    (1, "default", 3.0, "'speed': default 3.0 in the binary, 2.0 in ToyConfig"),
    (0, "type", "float", "'n_agents': type 'float' in the binary, 'int' in ToyConfig"),
    (0, "high", 99, "'n_agents': high 99 in the binary, 100 in ToyConfig"),
    (1, "low", 0.1, "'speed': low 0.1 in the binary, 0.0 in ToyConfig"),
    (1, "low_open", False, "'speed': low_open False in the binary, True in ToyConfig"),
    (2, "default", 1.5, "'height': default 1.5 in the binary, None in ToyConfig"),
    (3, "choices", None, "'tiles': choices None in the binary, \\['auto'\\] in ToyConfig"),
    (4, "choices", ["a", "c"], "'mode': choices \\['a', 'c'\\] in the binary"),
    (5, "default", 0, "'seed': default 0 in the binary, None in ToyConfig"),
    (4, "default", 1, "'mode': default 1 in the binary, 'a' in ToyConfig"),
])
def test_each_property_of_each_field_is_compared(index, key, value, message):
    c = parse_contract(_mutated(("params", index, key), value))
    with pytest.raises(ContractError, match="contract mismatch for toy parameter " + message):
        c.check_config(ToyConfig)


def test_float_formatting_noise_is_not_a_mismatch_but_a_real_difference_is():
    parse_contract(_mutated(("params", 1, "default"), 2.0000000000000004)).check_config(ToyConfig)
    for value in (2.000001, 2.0 + 2e-10):  # 12 significant digits: 1e-10 is a difference
        c = parse_contract(_mutated(("params", 1, "default"), value))
        with pytest.raises(ContractError, match="'speed': default"):
            c.check_config(ToyConfig)


def test_missing_and_extra_parameters_are_named():
    data = toy_contract()
    del data["params"][2]
    with pytest.raises(ContractError, match="'height': in ToyConfig but not in the binary"
                       r" \(the fedmarl-toy contract\)"):
        parse_contract(data).check_config(ToyConfig)
    data = toy_contract()
    data["params"].append({**data["params"][0], "name": "extra"})
    with pytest.raises(ContractError, match="'extra': in the binary .* but not in ToyConfig"):
        parse_contract(data).check_config(ToyConfig)


@pytest.mark.parametrize("path, value, message", [
    (("contract_version",), 2, "contract_version 2; this Python side reads version 1"),
    (("scenario",), 5, "'scenario' must be a string"),
    (("layout_version",), True, "'layout_version' must be an integer"),
    (("dims",), [], "'dims' must be an object"),
    (("arrays", 0, "dtype"), "i64", "array 'actions' dtype 'i64' is not one of f32, f64, i32"),
    (("arrays", 1, "direction"), "inout", "array 'obs' direction 'inout'"),
    (("arrays", 1, "shape"), ["N", "Q"], "symbol 'Q', which 'dims' does not declare"),
    (("arrays", 3, "shape"), [0], "shape item 0 must be a positive integer"),
    (("arrays", 3, "shape"), [2.5], "shape item 2.5 must be a positive integer"),
    (("arrays", 3), 5, r"arrays\[3\] must be an object with a string 'name'"),
    (("params", 2), "x", r"params\[2\] must be an object with a string 'name'"),
    (("arrays", 3, "shape"), [], "shape must be a non-empty list"),
    (("arrays", 3, "name"), "obs", "array 'obs' is declared twice"),
    (("params", 0, "type"), "list", "parameter 'n_agents' type 'list' is not one of"),
    (("params", 0, "low"), "1", "parameter 'n_agents' low must be a number or null"),
    (("params", 1, "low_open"), 0, "parameter 'speed' low_open must be true or false"),
    (("params", 1, "name"), "n_agents", "parameter 'n_agents' is declared twice"),
])
def test_schema_errors_are_one_clear_message(path, value, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(_mutated(path, value), source="toy --contract-json")


def test_missing_keys_and_bad_json():
    data = toy_contract()
    del data["constants"]
    with pytest.raises(ContractError, match="the contract has no 'constants'"):
        parse_contract(data)
    data = toy_contract()
    del data["params"][0]["low_open"]
    with pytest.raises(ContractError, match="parameter 'n_agents' has no 'low_open'"):
        parse_contract(data)
    with pytest.raises(ContractError, match="toy: not JSON"):
        parse_contract("{not json", source="toy")
    with pytest.raises(ContractError, match="expected a JSON object"):
        parse_contract("[1, 2]")


def _fake_binary(tmp_path, body: str):
    """An executable that behaves like a scenario binary's --contract-json."""
    exe = tmp_path / "fedmarl-toy"
    exe.write_text(f"#!{sys.executable}\n{body}\n")
    exe.chmod(0o755)
    return exe


def test_load_contract_runs_the_binary_once_per_build(tmp_path):
    calls = tmp_path / "calls"
    body = (f"import sys, json\nopen({str(calls)!r}, 'a').write('x')\n"
            "assert sys.argv[1:] == ['--contract-json'], sys.argv\n"
            f"print(json.dumps({toy_contract()!r}))")
    exe = _fake_binary(tmp_path, body)
    a = load_contract(exe)
    b = load_contract(exe)
    assert a is b and calls.read_text() == "x"
    assert a.source == "fedmarl-toy --contract-json"
    # A rebuild (new mtime) is read again.
    st = exe.stat()
    os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    load_contract(exe)
    assert calls.read_text() == "xx"


def test_the_cache_tells_binaries_apart_by_path(tmp_path):
    """Two builds with the same size and modification time are still two binaries."""
    exes = []
    for name in ("toy", "yot"):
        d = tmp_path / name
        d.mkdir()
        exes.append(_fake_binary(d, f"import json\nprint(json.dumps({_mutated(('scenario',), name)!r}))"))
    st = exes[0].stat()
    for exe in exes:
        os.utime(exe, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert exes[0].stat().st_size == exes[1].stat().st_size
    assert [load_contract(e).scenario for e in exes] == ["toy", "yot"]


def test_load_contract_failures_name_the_binary(tmp_path):
    exe = _fake_binary(tmp_path, "import sys\nsys.stderr.write('unknown flag\\n')\nsys.exit(2)")
    with pytest.raises(ContractError, match="(?s)exited with status 2.*rebuild it.*unknown flag"):
        load_contract(exe)
    with pytest.raises(ContractError, match="cannot read the contract"):
        load_contract(tmp_path / "missing")
    exe2 = tmp_path / "sub"
    exe2.mkdir()
    garbage = _fake_binary(exe2, "print('hello')")
    with pytest.raises(ContractError, match="fedmarl-toy --contract-json: not JSON"):
        load_contract(garbage)
