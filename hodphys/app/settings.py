"""Problem configs: a dataclass of defaults, overridden by a TOML file and ``--set key=value``.

    cfg = resolve_config(Config, toml_path="my.toml", overrides=["dim=20", "lr=1e-3"])
"""
from __future__ import annotations

import dataclasses
import json
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any

from hodphys.errors import InputError


def _field_types(config_cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config_cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_cls)}


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


def _number(value: Any, expected: str) -> Any:
    """A TOML number as it is, a --set string parsed as one; else 'expected <kind>, got …'."""
    if isinstance(value, (int, float)):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {expected}, got {value!r}") from None


def _coerce(key: str, value: Any, kind: Any) -> Any:
    """Convert a TOML value or a --set string to the field's declared type."""
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = json.loads(value) if value.strip().startswith("[") else value.split(",")
        (item,) = set(typing.get_args(kind)[:1]) or {str}
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"expected a list, e.g. [{value!r}], got {value!r}")
        return [_coerce(key, v, item) for v in value]
    if origin in (typing.Union, types.UnionType):  # Optional[X], X | None
        if value is None or (isinstance(value, str) and value.lower() == "none"):
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:
        return value if isinstance(value, bool) else _parse_bool(str(value))
    if kind is int:
        number = _number(value, "an integer")
        if isinstance(number, bool) or not float(number).is_integer():
            raise ValueError(f"expected an integer, got {value!r}")
        if abs(number) >= 2 ** 63:
            raise ValueError(f"expected an integer smaller than 2**63 in size, got {value!r}")
        return int(number)
    if kind is float:
        number = float(_number(value, "a number"))
        if not math.isfinite(number):
            raise ValueError(f"expected a finite number, got {value!r}")
        return number
    if kind is str:
        if isinstance(value, (dict, list, bool)):
            raise ValueError(f"expected a string, got {value!r}")
        return str(value)
    return value


def resolve_config(config_cls: type, toml_path: str | Path | None = None,
                   overrides: list[str] | tuple[str, ...] = ()) -> Any:
    """Defaults ← TOML file ← ``key=value`` overrides; unknown keys and bad values raise ValueError."""
    kinds = _field_types(config_cls)
    values: dict[str, Any] = {}
    if toml_path is not None:
        try:
            with open(toml_path, "rb") as handle:
                values.update(tomllib.load(handle))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
            raise InputError(f"--config {toml_path}: cannot read it as TOML: {err}") from None
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep:
            raise InputError(f"--set {item!r}: expected key=value")
        values[key.strip()] = text.strip()
    unknown = sorted(set(values) - set(kinds))
    if unknown:
        raise InputError(f"unknown config key(s) {unknown} for {config_cls.__name__}; "
                         f"known keys: {sorted(kinds)}")
    coerced = {}
    for key, value in values.items():
        try:
            coerced[key] = _coerce(key, value, kinds[key])
        except (TypeError, ValueError, RecursionError) as err:
            raise InputError(f"config key {key!r}: {err}") from None
    return config_cls(**coerced)
