"""The external channel-allocation trace: what another simulator ran, in a file we can check.

A trace is one NPZ file (numpy's zip of .npy arrays, readable without this project) holding the
arrays below and a JSON header in the array `header` (a 0-d unicode string). Schema, units and
a how-to: docs/trace-format.md; the header's JSON schema: docs/trace-format.schema.json, written
from `header_schema()` (tests/unit/test_external_trace.py keeps the two equal).

Header: `format` = FORMAT, `version` = VERSION, `scenario` = "inx-factory", `source` (free
text: which simulator, which commit), `rate_formula` ("shannon" or "fbl": how their `rate` was
computed from their SINR), and the scenario constants under `constants`: the names, units and
ranges of InxFactoryConfig's parameters (HEADER_REQUIRED must be there, HEADER_OPTIONAL may).

Arrays (T steps, N access points, D devices; float arrays any float dtype, stored float64 here):
  required  ap_pos [T, N, 3] m, dev_pos [T, D, 3] m, dev_ap [D] int (the AP serving each
            device), channel [T, N] int in [0, n_channels)
  optional  episode [T] int, non-decreasing (steps of one episode are consecutive; default 0),
            power_dbm [T, N] transmit power per AP (default constants.tx_power_dbm),
            gain_db [T, D, N] large-scale gain AP -> device: -(path loss + shadowing), dB,
            los [T, D, N] bool LOS state per link, fading_power [T, D, N] |h|^2 (mean 1),
            sinr_db [T, D] what their simulator computed on the channel in use, dB,
            rate [T, D] bps/Hz, from their SINR by `rate_formula`.
`load_trace` checks all of it and raises one TraceError (a ConfigError: the CLI prints one line)
naming the field, never a traceback from deep inside.
"""

from __future__ import annotations

import dataclasses
import json
import zipfile
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from pybridge.config import ConfigError, field_kind
from pybridge.scenarios.inx_factory.config import InxFactoryConfig

FORMAT = "fedmarl-channel-trace"
VERSION = 1
SCENARIO = "inx-factory"
RATE_FORMULAS = ("shannon", "fbl")
# The scenario constants a trace must state (they fix the link budget, the LOS model, the fading
# rate f_D T and the number of channels), and those it may (the config's defaults otherwise).
HEADER_REQUIRED = ("carrier_freq_ghz", "channel_bandwidth_hz", "tx_power_dbm", "noise_figure_db",
                   "clutter", "step_duration", "n_channels", "speed", "shadow_corr_distance")
HEADER_OPTIONAL = ("clutter_density", "clutter_size", "clutter_height", "blocklength",
                   "error_prob")

POS_LIMIT_M = 1e5  # |coordinate| beyond 100 km: a unit mistake (mm?), not a factory
GAIN_RANGE_DB = (-300.0, 30.0)  # large-scale gain; positive values far above 0 are linear/loss
SINR_RANGE_DB = (-200.0, 200.0)
RATE_RANGE = (0.0, 100.0)  # bps/Hz
POWER_RANGE_DBM = (-60.0, 40.0)  # the config's tx_power_dbm range


class TraceError(ConfigError):
    """A trace file that does not follow the format: one message naming the field."""


@dataclass
class Trace:
    """A validated trace: the header, the config its constants make, and the arrays."""

    path: str
    header: dict[str, Any]
    cfg: InxFactoryConfig
    ap_pos: np.ndarray  # [T, N, 3]
    dev_pos: np.ndarray  # [T, D, 3]
    dev_ap: np.ndarray  # [D]
    channel: np.ndarray  # [T, N]
    episode: np.ndarray  # [T]
    power_dbm: np.ndarray  # [T, N]
    optional: dict[str, np.ndarray] = field(default_factory=dict)  # gain_db, los, ...

    @property
    def T(self) -> int:
        return self.ap_pos.shape[0]

    @property
    def N(self) -> int:
        return self.ap_pos.shape[1]

    @property
    def D(self) -> int:
        return self.dev_pos.shape[1]

    @property
    def rate_formula(self) -> str:
        return self.header["rate_formula"]

    def get(self, name: str) -> np.ndarray | None:
        return self.optional.get(name)

    def episodes(self) -> list[slice]:
        """The steps of each episode, in order."""
        cuts = np.flatnonzero(np.diff(self.episode)) + 1
        bounds = [0, *cuts.tolist(), self.T]
        return [slice(a, b) for a, b in pairwise(bounds)]


# ------------------------------------------------------------------------------- the header
def header_schema() -> dict[str, Any]:
    """JSON schema (draft 2020-12) of the header, built from InxFactoryConfig's declarations:
    the file in docs/ is this, so the format and the config cannot drift apart."""
    props: dict[str, Any] = {}
    for row, f in zip(InxFactoryConfig.describe(), dataclasses.fields(InxFactoryConfig),
                      strict=True):
        if row["name"] not in HEADER_REQUIRED + HEADER_OPTIONAL:
            continue
        m = f.metadata
        kind = {"int": "integer", "float": "number", "str": "string"}[field_kind(f)]
        p: dict[str, Any] = {"type": kind if row["name"] in HEADER_REQUIRED else [kind, "null"],
                             "description": f"{m.get('doc', '')}" + (
                                 f" [{m['unit']}]" if m.get("unit") else "")}
        if m.get("choices"):
            p["enum"] = list(m["choices"])
        if m.get("low") is not None:
            p["exclusiveMinimum" if m.get("low_open") else "minimum"] = m["low"]
        if m.get("high") is not None:
            p["maximum"] = m["high"]
        props[row["name"]] = p
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "fedmarl-channel-trace-header-v1",
        "title": "fedmarl channel-allocation trace header (the `header` array of the NPZ)",
        "type": "object",
        "required": ["format", "version", "scenario", "rate_formula", "constants"],
        "properties": {
            "format": {"const": FORMAT},
            "version": {"const": VERSION},
            "scenario": {"const": SCENARIO},
            "source": {"type": "string", "description": "which simulator wrote it"},
            "rate_formula": {"enum": list(RATE_FORMULAS), "description": (
                "how `rate` was computed from `sinr_db`: Shannon log2(1+g), or the"
                " finite-blocklength normal approximation with constants.blocklength and"
                " constants.error_prob")},
            "constants": {"type": "object", "required": list(HEADER_REQUIRED),
                          "additionalProperties": False, "properties": props},
        },
    }


def _check_header(path: str, header: Any) -> tuple[dict[str, Any], InxFactoryConfig]:
    if not isinstance(header, dict):
        raise TraceError(f"trace {path}: header must be a JSON object")
    if header.get("format") != FORMAT:
        raise TraceError(f"trace {path}: header.format must be {FORMAT!r},"
                         f" got {header.get('format')!r}")
    if header.get("version") != VERSION:
        raise TraceError(f"trace {path}: unknown header.version {header.get('version')!r}"
                         f" (this reader knows version {VERSION})")
    if header.get("scenario") != SCENARIO:
        raise TraceError(f"trace {path}: header.scenario must be {SCENARIO!r},"
                         f" got {header.get('scenario')!r}")
    if header.get("rate_formula") not in RATE_FORMULAS:
        raise TraceError(f"trace {path}: header.rate_formula must be one of"
                         f" {', '.join(RATE_FORMULAS)}, got {header.get('rate_formula')!r}")
    consts = header.get("constants")
    if not isinstance(consts, dict):
        raise TraceError(f"trace {path}: header.constants must be an object of scenario"
                         " constants")
    missing = [k for k in HEADER_REQUIRED if k not in consts]
    if missing:
        raise TraceError(f"trace {path}: header.constants lacks {', '.join(missing)}")
    unknown = sorted(set(consts) - set(HEADER_REQUIRED + HEADER_OPTIONAL))
    if unknown:
        raise TraceError(f"trace {path}: header.constants has unknown field(s)"
                         f" {', '.join(unknown)} (known: {', '.join(HEADER_REQUIRED + HEADER_OPTIONAL)})")
    try:
        cfg = InxFactoryConfig.from_params(**{k: v for k, v in consts.items() if v is not None})
    except ConfigError as e:
        raise TraceError(f"trace {path}: header.constants: {e}") from None
    return header, cfg


# ------------------------------------------------------------------------------- the arrays
def _array(path: str, data: Any, name: str, required: bool) -> np.ndarray | None:
    if name not in data.files:
        if required:
            raise TraceError(f"trace {path}: required array {name!r} is missing")
        return None
    try:
        return data[name]
    except ValueError as e:  # object arrays need pickle: refused
        raise TraceError(f"trace {path}: array {name!r} cannot be read without pickle"
                         f" (object dtype?): {e}") from None


def _shape(path: str, name: str, a: np.ndarray, want: tuple, symbols: str) -> None:
    if a.shape != want:
        raise TraceError(f"trace {path}: {name} must have shape [{symbols}] = {list(want)},"
                         f" got {list(a.shape)}")


def _float(path: str, name: str, a: np.ndarray, lo: float, hi: float, unit: str) -> np.ndarray:
    if a.dtype.kind not in "fiu":
        raise TraceError(f"trace {path}: {name} must be a float array, got dtype {a.dtype}")
    a = a.astype(np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise TraceError(f"trace {path}: {name} has {int(bad.sum())} NaN/inf value(s),"
                         f" first at index {list(idx)}")
    if a.size and (a.min() < lo or a.max() > hi):
        raise TraceError(f"trace {path}: {name} must lie in [{lo:g}, {hi:g}] {unit}, got"
                         f" [{a.min():.4g}, {a.max():.4g}]")
    return a


def _int(path: str, name: str, a: np.ndarray, lo: int, hi: int) -> np.ndarray:
    if a.dtype.kind not in "iu":
        raise TraceError(f"trace {path}: {name} must be an integer array, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (a.min() < lo or a.max() > hi):
        raise TraceError(f"trace {path}: {name} must lie in [{lo}, {hi}], got"
                         f" [{a.min()}, {a.max()}]")
    return a


def load_trace(path: str | Path) -> Trace:
    """Read and check a trace file (see the module docstring); raises TraceError."""
    p = str(path)
    if not Path(p).is_file():
        raise TraceError(f"trace {p}: no such file")
    try:
        data = np.load(p, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise TraceError(f"trace {p}: not an NPZ file ({e})") from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise TraceError(f"trace {p}: not an NPZ archive (a single .npy array?)")
    with data:
        h = _array(p, data, "header", True)
        if h.dtype.kind != "U" or h.ndim != 0:
            raise TraceError(f"trace {p}: header must be a 0-d string array holding JSON")
        try:
            header = json.loads(str(h))
        except json.JSONDecodeError as e:
            raise TraceError(f"trace {p}: header is not valid JSON ({e})") from None
        header, cfg = _check_header(p, header)
        return _check_arrays(p, data, header, cfg)


def _check_arrays(p: str, data: Any, header: dict[str, Any], cfg: InxFactoryConfig) -> Trace:
    ap = _array(p, data, "ap_pos", True)
    if ap.ndim != 3 or ap.shape[2] != 3 or ap.shape[0] < 2 or ap.shape[1] < 1:
        raise TraceError(f"trace {p}: ap_pos must have shape [T, N, 3] with T >= 2, N >= 1,"
                         f" got {list(ap.shape)}")
    T, N = ap.shape[:2]
    ap = _float(p, "ap_pos", ap, -POS_LIMIT_M, POS_LIMIT_M, "m")
    dev = _array(p, data, "dev_pos", True)
    if dev.ndim != 3 or dev.shape[0] != T or dev.shape[2] != 3:
        raise TraceError(f"trace {p}: dev_pos must have shape [T, D, 3] = [{T}, D, 3],"
                         f" got {list(dev.shape)}")
    D = dev.shape[1]
    dev = _float(p, "dev_pos", dev, -POS_LIMIT_M, POS_LIMIT_M, "m")
    dev_ap = _array(p, data, "dev_ap", True)
    _shape(p, "dev_ap", dev_ap, (D,), "D")
    dev_ap = _int(p, "dev_ap", dev_ap, 0, N - 1)
    served = np.bincount(dev_ap, minlength=N)
    if (served == 0).any():
        raise TraceError(f"trace {p}: dev_ap leaves access point(s)"
                         f" {np.flatnonzero(served == 0)[:5].tolist()} without a device")
    K = cfg.n_channels
    ch = _array(p, data, "channel", True)
    _shape(p, "channel", ch, (T, N), "T, N")
    ch = _int(p, "channel", ch, 0, K - 1)
    ep = _array(p, data, "episode", False)
    if ep is None:
        ep = np.zeros(T, dtype=np.int64)
    else:
        _shape(p, "episode", ep, (T,), "T")
        ep = _int(p, "episode", ep, 0, np.iinfo(np.int64).max)
        if (np.diff(ep) < 0).any():
            raise TraceError(f"trace {p}: episode must be non-decreasing (an episode's steps"
                             " are consecutive)")
    pw = _array(p, data, "power_dbm", False)
    if pw is None:
        pw = np.full((T, N), cfg.tx_power_dbm)
    else:
        _shape(p, "power_dbm", pw, (T, N), "T, N")
        pw = _float(p, "power_dbm", pw, *POWER_RANGE_DBM, "dBm")
    opt: dict[str, np.ndarray] = {}
    link = (T, D, N)
    for name, lo_hi, unit in (("gain_db", GAIN_RANGE_DB, "dB"),
                              ("fading_power", (0.0, 1e4), "(|h|^2, linear)")):
        a = _array(p, data, name, False)
        if a is not None:
            _shape(p, name, a, link, "T, D, N")
            opt[name] = _float(p, name, a, *lo_hi, unit)
    if "gain_db" in opt and opt["gain_db"].size and np.all(
            (opt["gain_db"] > 0) & (opt["gain_db"] <= 1)):
        raise TraceError(f"trace {p}: gain_db looks linear (all values in (0, 1]); it must be"
                         " in dB, -(path loss + shadowing)")
    los = _array(p, data, "los", False)
    if los is not None:
        _shape(p, "los", los, link, "T, D, N")
        if los.dtype != np.bool_ and (los.dtype.kind not in "iu"
                                      or not np.isin(los, (0, 1)).all()):
            raise TraceError(f"trace {p}: los must be bool (or 0/1), got dtype {los.dtype}")
        opt["los"] = los.astype(bool)
    for name, lo_hi, unit in (("sinr_db", SINR_RANGE_DB, "dB"), ("rate", RATE_RANGE, "bps/Hz")):
        a = _array(p, data, name, False)
        if a is not None:
            _shape(p, name, a, (T, D), "T, D")
            opt[name] = _float(p, name, a, *lo_hi, unit)
    known = {"header", "ap_pos", "dev_pos", "dev_ap", "channel", "episode", "power_dbm",
             "gain_db", "los", "fading_power", "sinr_db", "rate"}
    unknown = sorted(set(data.files) - known)
    if unknown:
        raise TraceError(f"trace {p}: unknown array(s) {', '.join(unknown)} (known:"
                         f" {', '.join(sorted(known))})")
    return Trace(p, header, cfg, ap, dev, dev_ap, ch, ep, pw, opt)


def save_trace(path: str | Path, constants: dict[str, Any], arrays: dict[str, np.ndarray],
               rate_formula: str = "shannon", source: str = "") -> Path:
    """Write a trace atomically (a temporary file renamed into place: never a torn file) and
    check it by reading it back; returns the path."""
    header = {"format": FORMAT, "version": VERSION, "scenario": SCENARIO, "source": source,
              "rate_formula": rate_formula, "constants": dict(constants)}
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    try:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, header=np.array(json.dumps(header)), **arrays)
        load_trace(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
