"""Validated scenario configurations.

A scenario's parameters are one frozen dataclass whose fields carry their own documentation:
unit, bounds or choices, and the source of the default. `make_env(**params)`, the CLI's
`--set key=value` and config files all go through `from_params`, and the ns-3 scenario binary's
`--contract-json` is checked against the same fields at connect time, so a parameter has one
stable name everywhere and bad input fails in one place with one clear message.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


def param(default: Any, doc: str, *, source: str = "ours", unit: str = "",
          low: float | None = None, high: float | None = None,
          choices: tuple | None = None, low_open: bool = False) -> Any:
    """A dataclass field with the metadata `ScenarioConfig` validates and documents."""
    meta = {"doc": doc, "source": source, "unit": unit, "low": low, "high": high,
            "choices": choices, "low_open": low_open}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class ScenarioConfig:
    """Base class: subclasses declare their parameters with `param(...)`.

    Every scenario declares `seed` (int, default None): the seed of the first reset without a
    seed; None draws fresh entropy there, as Gymnasium's reset() does (the cores read it).
    """

    scenario: ClassVar[str] = ""

    @classmethod
    def param_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_params(cls, **params: Any):
        """Build and validate a config; unknown keys and out-of-range values raise ConfigError."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(
                f"unknown parameter(s) for scenario {cls.scenario!r}: {', '.join(unknown)}. "
                f"Known: {', '.join(sorted(known))}")
        coerced = {name: _coerce(known[name], value) for name, value in params.items()}
        cfg = cls(**coerced)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            _check_field(self.scenario, f, getattr(self, f.name))
        self._validate_relations()

    def _validate_relations(self) -> None:
        """Cross-parameter checks; subclasses override."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any):
        return type(self).from_params(**{**self.to_dict(), **changes})

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One row per parameter (name, default, unit, range, doc, source) for docs and the CLI."""
        rows = []
        for f in dataclasses.fields(cls):
            m = f.metadata
            if m.get("choices"):
                rng = " | ".join(str(c) for c in m["choices"])
            elif m.get("low") is not None or m.get("high") is not None:
                lo = "(" if m.get("low_open") else "["
                rng = f"{lo}{_fmt(m.get('low'))}, {_fmt(m.get('high'))}]"
            else:
                rng = ""
            rows.append({"name": f.name, "default": f.default, "unit": m.get("unit", ""),
                         "range": rng, "doc": m.get("doc", ""), "source": m.get("source", "")})
        return rows


def _fmt(x: float | None) -> str:
    return "inf" if x is None else f"{x:g}"


def field_kind(f: dataclasses.Field) -> str:
    """"bool", "int", "float" or "str": the field's declared type (annotations may be strings
    under `from __future__ import annotations`; `int | None` counts as int)."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    t = t.replace("Optional[", "").replace("]", "").replace("| None", "").replace("None |", "")
    t = t.strip()
    if t not in ("bool", "int", "float", "str"):
        raise TypeError(f"parameter {f.name!r}: unsupported type {f.type!r}")
    return t


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """Accept the natural spellings from strings (CLI, TOML) without accepting nonsense.

    The declared type decides (not the default, which may be None = derived, or a choice such
    as "auto"); a value listed in the field's choices is kept as it is.
    """
    if value is None:
        return None
    kind = field_kind(f)
    choices = f.metadata.get("choices")
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        if isinstance(value, bool):
            return value
        raise ConfigError(f"parameter {f.name!r} must be true or false, got {value!r}")
    if isinstance(value, str) and choices and value in choices:
        return value
    if kind == "int":
        try:
            as_float = float(value)
        except (TypeError, ValueError):
            if isinstance(value, str) and choices:
                return value  # not a choice either: _check_field names the choices
            raise ConfigError(f"parameter {f.name!r} must be an integer, got {value!r}") from None
        if isinstance(value, bool) or not math.isfinite(as_float) or as_float != int(as_float):
            raise ConfigError(f"parameter {f.name!r} must be an integer, got {value!r}")
        return int(value) if isinstance(value, int) else int(as_float)
    if kind == "float":
        if isinstance(value, bool):
            raise ConfigError(f"parameter {f.name!r} must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"parameter {f.name!r} must be a number, got {value!r}") from None
    return value


def _check_field(scenario: str, f: dataclasses.Field, value: Any) -> None:
    m = f.metadata
    if value is None:
        return  # None means "derived from other parameters"; documented per field
    choices, low, high = m.get("choices"), m.get("low"), m.get("high")
    if choices and value in choices:
        return
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not numeric or (low is None and high is None):
        if choices:
            raise ConfigError(f"{scenario}: parameter {f.name!r} must be one of "
                              f"{', '.join(map(str, choices))}; got {value!r}")
        if not numeric and (low is not None or high is not None):
            raise ConfigError(f"{scenario}: parameter {f.name!r} must be a number, got {value!r}")
        return
    if math.isnan(value):
        raise ConfigError(f"{scenario}: parameter {f.name!r} is NaN")
    too_low = low is not None and (value <= low if m.get("low_open") else value < low)
    too_high = high is not None and value > high
    if too_low or too_high:
        lo = "(" if m.get("low_open") else "["
        raise ConfigError(f"{scenario}: parameter {f.name!r} = {value!r} is out of range "
                          f"{lo}{_fmt(low)}, {_fmt(high)}] {m.get('unit', '')}".rstrip())
