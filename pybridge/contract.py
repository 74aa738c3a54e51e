"""The contract between Python and a scenario binary, read from the binary itself.

`<binary> --contract-json` prints one JSON object (schema: docs/architecture.md, "The contract";
version 1): the scenario's parameters with type, default and range, the shared-memory arrays
with dtype, shape expression and direction, the meaning of the shape symbols, and constants
both sides need. It is the one source of truth: Python builds the segment's array table from it
(`Contract.array_table`, symbol values from `spec.ns3_dims(cfg)`) and checks the scenario's
config dataclass against it field by field (`Contract.check_config`), so a binary built from
different declarations is refused at connect time with one message naming the first difference.

`load_contract` runs a binary once per (path, modification time, size) and caches the result.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pybridge.config import ScenarioConfig, field_kind

CONTRACT_VERSION = 1
DTYPES = ("f32", "f64", "i32", "u8")  # the bridge's dtype codes
DIRECTIONS = ("in", "out")
PARAM_TYPES = ("int", "float", "str", "bool")
# The per-parameter properties compared with the dataclass, in the order they are reported.
CHECKED = ("type", "default", "low", "high", "low_open", "choices")
TIMEOUT = 30.0  # s; printing the contract builds no scenario: a second at most


class ContractError(RuntimeError):
    """A binary's contract is unreadable, malformed or disagrees with the Python side."""


@dataclass(frozen=True)
class ArrayDecl:
    """One segment array: element type, shape (ints and dim symbols), direction."""

    name: str
    dtype: str
    shape: tuple[int | str, ...]
    direction: str
    doc: str = ""

    def count(self, dims: Mapping[str, int]) -> int:
        """Number of elements for the symbol values `dims`."""
        n = 1
        for item in self.shape:
            if isinstance(item, str):
                if item not in dims:
                    raise ContractError(f"array {self.name!r}: shape symbol {item!r} has no"
                                        f" value (the scenario gives {', '.join(dims) or '-'})")
                item = dims[item]
            n *= int(item)
        if n <= 0:
            raise ContractError(f"array {self.name!r}: shape {list(self.shape)} with {dict(dims)}"
                                f" has {n} elements")
        return n


@dataclass(frozen=True)
class Contract:
    """A parsed, schema-checked `--contract-json`."""

    scenario: str
    binary: str
    layout_version: int
    params: tuple[dict[str, Any], ...]
    arrays: tuple[ArrayDecl, ...]
    dims: dict[str, str]
    constants: dict[str, Any]
    source: str = ""  # where it came from, for messages

    def array(self, name: str) -> ArrayDecl:
        for a in self.arrays:
            if a.name == name:
                return a
        raise ContractError(f"{self._where()}: no array {name!r}")

    def array_table(self, dims: Mapping[str, int]) -> list[tuple[str, str, int]]:
        """[(name, dtype, count)] for `Bridge.launch`, in the contract's order."""
        return [(a.name, a.dtype, a.count(dims)) for a in self.arrays]

    def param(self, name: str) -> dict[str, Any] | None:
        for p in self.params:
            if p["name"] == name:
                return p
        return None

    def check_config(self, config_cls: type[ScenarioConfig]) -> None:
        """The dataclass's fields and the binary's parameters agree: names, type, default,
        low, high, low_open and choices. ContractError naming the first difference."""
        fields = dataclasses.fields(config_cls)
        names = {f.name for f in fields}
        label = f"contract mismatch for {self.scenario} parameter"
        for f in fields:
            theirs = self.param(f.name)
            if theirs is None:
                raise ContractError(f"{label} {f.name!r}: in {config_cls.__name__} but not in"
                                    f" the binary ({self._where()})")
            ours = python_param(f)
            for key in CHECKED:
                if not _same(ours[key], theirs[key]):
                    raise ContractError(
                        f"{label} {f.name!r}: {key} {theirs[key]!r} in the binary,"
                        f" {ours[key]!r} in {config_cls.__name__} ({self._where()};"
                        " rebuild the binary, or fix the declaration that is wrong)")
        extra = [p["name"] for p in self.params if p["name"] not in names]
        if extra:
            raise ContractError(f"{label} {extra[0]!r}: in the binary ({self._where()}) but not"
                                f" in {config_cls.__name__}")

    def _where(self) -> str:
        return self.source or f"the {self.binary} contract"


def python_param(f: dataclasses.Field) -> dict[str, Any]:
    """A config field as the contract states a parameter (type, default, range, choices)."""
    m = f.metadata
    choices = m.get("choices")
    return {"type": field_kind(f), "default": f.default, "low": m.get("low"),
            "high": m.get("high"), "low_open": bool(m.get("low_open", False)),
            "choices": None if choices is None else list(choices)}


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _same(a: Any, b: Any) -> bool:
    """Equal, numbers to 12 significant digits (a binary may print a double's shortest form)."""
    if _is_number(a) and _is_number(b):
        return a == b or math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=0.0)
    if _is_number(a) or _is_number(b):
        return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


# ------------------------------------------------------------------------------ parsing
def parse_contract(data: str | bytes | Mapping[str, Any], source: str = "") -> Contract:
    """A Contract from `--contract-json` output (text or decoded), schema checked."""
    where = source or "contract"
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ContractError(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, Mapping):
        raise ContractError(f"{where}: expected a JSON object, got {type(data).__name__}")

    def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str) -> Any:
        if key not in obj:
            raise ContractError(f"{where}: {what} has no {key!r}")
        value = obj[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ContractError(f"{where}: {what} {key!r} must be {_kind_name(kind)}, got"
                                f" {value!r}")
        return value

    version = need(data, "contract_version", int, "the contract")
    if version != CONTRACT_VERSION:
        raise ContractError(f"{where}: contract_version {version}; this Python side reads"
                            f" version {CONTRACT_VERSION} (rebuild the binary or update pybridge)")
    scenario = need(data, "scenario", str, "the contract")
    binary = need(data, "binary", str, "the contract")
    layout = need(data, "layout_version", int, "the contract")
    dims = need(data, "dims", dict, "the contract")
    for sym, doc in dims.items():
        if not isinstance(doc, str):
            raise ContractError(f"{where}: dims[{sym!r}] must be a string (its meaning)")
    constants = need(data, "constants", dict, "the contract")
    params = tuple(_parse_param(p, i, where) for i, p in
                   enumerate(need(data, "params", list, "the contract")))
    _unique([p["name"] for p in params], "parameter", where)
    arrays = tuple(_parse_array(a, i, dims, where) for i, a in
                   enumerate(need(data, "arrays", list, "the contract")))
    _unique([a.name for a in arrays], "array", where)
    return Contract(scenario, binary, layout, params, arrays, dict(dims), dict(constants), source)


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {int: "an integer", str: "a string", dict: "an object", list: "a list",
             bool: "true or false"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _unique(names: Sequence[str], what: str, where: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ContractError(f"{where}: {what} {n!r} is declared twice")
        seen.add(n)


def _parse_param(p: Any, i: int, where: str) -> dict[str, Any]:
    if not isinstance(p, Mapping) or not isinstance(p.get("name"), str):
        raise ContractError(f"{where}: params[{i}] must be an object with a string 'name'")
    what = f"parameter {p['name']!r}"
    missing = [k for k in CHECKED if k not in p]
    if missing:
        raise ContractError(f"{where}: {what} has no {', '.join(map(repr, missing))}")
    if p["type"] not in PARAM_TYPES:
        raise ContractError(f"{where}: {what} type {p['type']!r} is not one of"
                            f" {', '.join(PARAM_TYPES)}")
    for key in ("low", "high"):
        if p[key] is not None and not _is_number(p[key]):
            raise ContractError(f"{where}: {what} {key} must be a number or null, got"
                                f" {p[key]!r}")
    if not isinstance(p["low_open"], bool):
        raise ContractError(f"{where}: {what} low_open must be true or false")
    if p["choices"] is not None and not isinstance(p["choices"], list):
        raise ContractError(f"{where}: {what} choices must be a list or null")
    return dict(p)


def _parse_array(a: Any, i: int, dims: Mapping[str, str], where: str) -> ArrayDecl:
    if not isinstance(a, Mapping) or not isinstance(a.get("name"), str):
        raise ContractError(f"{where}: arrays[{i}] must be an object with a string 'name'")
    what = f"array {a['name']!r}"
    if a.get("dtype") not in DTYPES:
        raise ContractError(f"{where}: {what} dtype {a.get('dtype')!r} is not one of"
                            f" {', '.join(DTYPES)}")
    if a.get("direction") not in DIRECTIONS:
        raise ContractError(f"{where}: {what} direction {a.get('direction')!r} is not one of"
                            f" {', '.join(DIRECTIONS)}")
    shape = a.get("shape")
    if not isinstance(shape, list) or not shape:
        raise ContractError(f"{where}: {what} shape must be a non-empty list")
    for item in shape:
        if isinstance(item, str):
            if item not in dims:
                raise ContractError(f"{where}: {what} uses shape symbol {item!r}, which 'dims'"
                                    " does not declare")
        elif not _is_number(item) or int(item) != item or item <= 0:
            raise ContractError(f"{where}: {what} shape item {item!r} must be a positive"
                                " integer or a dim symbol")
    doc = a.get("doc", "")
    return ArrayDecl(a["name"], a["dtype"], tuple(int(x) if _is_number(x) else x for x in shape),
                     a["direction"], doc if isinstance(doc, str) else "")


# ------------------------------------------------------------------------------ loading
_CACHE: dict[tuple[str, int, int], Contract] = {}
_CACHE_LOCK = threading.Lock()


def load_contract(binary: str | os.PathLike) -> Contract:
    """The contract `binary --contract-json` prints (run once per path, mtime and size)."""
    path = Path(binary).resolve()
    try:
        st = path.stat()
    except OSError as exc:
        raise ContractError(f"cannot read the contract of {path}: {exc}") from None
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
    try:
        proc = subprocess.run([str(path), "--contract-json"], capture_output=True, text=True,
                              timeout=TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise ContractError(f"{path} --contract-json did not finish within {TIMEOUT:g} s") from None
    except OSError as exc:
        raise ContractError(f"cannot run {path} --contract-json: {exc}") from None
    if proc.returncode != 0:
        tail = "\n    ".join(proc.stderr.strip().splitlines()[-5:])
        raise ContractError(f"{path} --contract-json exited with status {proc.returncode}"
                            " (a binary built before the contract existed? rebuild it)"
                            + (f":\n    {tail}" if tail else ""))
    contract = parse_contract(proc.stdout, source=f"{path.name} --contract-json")
    with _CACHE_LOCK:
        _CACHE[key] = contract
    return contract
