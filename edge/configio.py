"""Checking, reading and writing frozen config dataclasses.

One set of helpers for every config of the package and of the tools built on it, so that
every check says the same things the same way: a `ConfigError` naming the field, the
value and what is allowed, with a did-you-mean suggestion for misspelt names.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import math
import tomllib
from collections.abc import Iterable
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.errors import ConfigError

__all__ = ["check", "check_bool", "choice", "closest", "did_you_mean", "from_dict",
           "numbers", "parse_toml", "read_toml", "to_dict", "to_toml", "with_changes"]


def closest(value: object, choices: Iterable[str]) -> str | None:
    """The choice `value` most likely meant, or ``None``.

    A choice that starts with `value` wins (``pi3`` -> ``pi3bplus``), then the closest by
    `difflib`; case is ignored.
    """
    choices = list(choices)
    text = str(value).lower()
    lowered = {c.lower(): c for c in choices}
    starting = [c for c in lowered if text and c.startswith(text)]
    hint = difflib.get_close_matches(text, starting or list(lowered), n=1,
                                     cutoff=0.0 if starting else 0.6)
    return lowered[hint[0]] if hint else None


def did_you_mean(value: object, choices: Iterable[str], *, prefix: str = "") -> str:
    """``"; did you mean 'x'?"`` for the `closest` choice (`prefix` put before it), or ``""``."""
    hint = closest(value, choices)
    return f"; did you mean '{prefix}{hint}'?" if hint is not None else ""


def _is_number(value: object, *, integer: bool = False) -> bool:
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    return isinstance(value, kinds) and not isinstance(value, bool | np.bool_)


def check(name: str, value: Any, low: float, high: float, *, integer: bool = False,
          open_low: bool = False) -> None:
    """Raise `ConfigError` unless `value` is a number (an integer if `integer`; never a bool)
    in ``[low, high]`` (``(low, high]`` if `open_low`); NaN is never in range.
    """
    in_range = _is_number(value, integer=integer) and (
        (low < value if open_low else low <= value) and value <= high)
    if not in_range:
        kind = "an integer" if integer else "a number"
        bracket = "(" if open_low else "["
        raise ConfigError(f"{name} must be {kind} in {bracket}{low}, {high}]; got {value!r}")


def check_bool(name: str, value: object) -> None:
    """Raise `ConfigError` unless `value` is ``True`` or ``False`` (not "no", not 0)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false; got {value!r}")


def numbers(name: str, value: Any, count: int, low: float = -math.inf,
            high: float = math.inf) -> tuple[float, ...]:
    """`value` (a list, tuple or array) as a tuple of `count` floats in ``[low, high]``.

    Elements must be finite numbers (not bools, not strings); `ConfigError` otherwise.
    """
    items: tuple[Any, ...] = ()
    if not isinstance(value, str | bytes | dict):
        with contextlib.suppress(TypeError):  # not iterable, or a 0-d array
            items = tuple(value)
    if len(items) != count or not all(
            _is_number(v) and math.isfinite(v) and low <= v <= high for v in items):
        bounds = f" in [{low}, {high}]" if math.isfinite(low) or math.isfinite(high) else ""
        raise ConfigError(f"{name} must be {count} numbers{bounds}; got {value!r}")
    return tuple(float(v) for v in items)


def choice(name: str, value: object, choices: Iterable[str]) -> None:
    """Raise `ConfigError` unless `value` is one of `choices`, suggesting the closest."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}"
                          f"{did_you_mean(value, choices)}")


def _check_keys(cls: type, data: object, *, prefix: str, what: str) -> None:
    """`data` must be a dict whose keys are all field names of `cls`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or what} must be a table; "
                          f"got {type(data).__name__}")
    known = [f.name for f in fields(cls)]
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"{what} keys must be strings; got {key!r} in "
                              f"{prefix.rstrip('.') or what}")
        if key not in known:
            raise ConfigError(f"unknown {what} key '{prefix}{key}'"
                              f"{did_you_mean(key, known, prefix=prefix)}")


def from_dict(cls: type, data: Any, *, what: str = "config", prefix: str = "") -> Any:
    """Build the dataclass `cls` from a dict as read from TOML; nested tables build the
    fields whose default is a dataclass, lists become tuples.

    Unknown keys raise `ConfigError` with the closest known key; `what` names the kind of
    file in messages, `prefix` is the dotted path of `cls` inside it (``"rppg."``).
    """
    _check_keys(cls, data, prefix=prefix, what=what)
    defaults = cls()
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        default = getattr(defaults, key)
        if is_dataclass(default):
            kwargs[key] = from_dict(type(default), value, what=what, prefix=f"{prefix}{key}.")
        else:
            kwargs[key] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def with_changes(obj: Any, changes: dict[str, Any], *, what: str = "config",
                 prefix: str = "") -> Any:
    """Copy of the dataclass `obj` with `changes`; a dict given for a dataclass field
    changes fields of that one. Unknown names raise `ConfigError` with a suggestion.
    """
    _check_keys(type(obj), changes, prefix=prefix, what=what)
    new = {}
    for key, value in changes.items():
        current = getattr(obj, key)
        if is_dataclass(current) and isinstance(value, dict):
            value = with_changes(current, value, what=what, prefix=f"{prefix}{key}.")
        elif is_dataclass(current) and not isinstance(value, type(current)):
            raise ConfigError(f"{prefix}{key} must be a dict of changes or a "
                              f"{type(current).__name__}; got {value!r}")
        new[key] = value
    return replace(obj, **new)


def to_dict(obj: Any, *, skip_none: bool = False) -> dict[str, Any]:
    """Nested plain dict of a dataclass (the inverse of `from_dict`); ``None`` values are
    left out if `skip_none`.
    """
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if value is not None or not skip_none:
            out[f.name] = to_dict(value, skip_none=skip_none) if is_dataclass(value) else value
    return out


def to_toml(obj: Any) -> str:
    """TOML text of a dataclass that `from_dict` (after `tomllib`) reads back to an equal one.

    Nested dataclasses become ``[tables]``. TOML has no null, so a ``None`` is left out,
    which reads back as the default; a ``None`` where the default is not ``None`` raises
    `ConfigError`.
    """
    lines: list[str] = []
    _write_table(obj, "", lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _write_table(obj: Any, prefix: str, lines: list[str]) -> None:
    if prefix:
        lines += ["", f"[{prefix.rstrip('.')}]"]
    tables = []
    defaults = type(obj)()
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            tables.append(f.name)
        elif value is not None:
            lines.append(f"{f.name} = {_toml_value(value, f'{prefix}{f.name}')}")
        elif getattr(defaults, f.name) is not None:
            raise ConfigError(f"cannot write {prefix}{f.name} = None to TOML (no null in TOML, "
                              f"and leaving it out would read back as the default)")
    for name in tables:
        _write_table(getattr(obj, name), f"{prefix}{name}.", lines)


def _toml_value(value: Any, name: str) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # also inf and nan, which TOML spells the same way
    if isinstance(value, str | Path):
        # a JSON string is a TOML basic string, except that TOML wants DEL escaped
        return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v, name) for v in value) + "]"
    raise ConfigError(f"cannot write {name} = {value!r} ({type(value).__name__}) to TOML")


def parse_toml(text: str, source: str) -> dict[str, Any]:
    """`tomllib.loads`, with a syntax error as a `ConfigError` naming `source`."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}") from None


def read_toml(path: str | Path, *, what: str = "config file") -> dict[str, Any]:
    """Read and parse a TOML file; any failure is a `ConfigError` naming `what` and `path`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text (TOML)") from None
    return parse_toml(text, f"{what} {path}")
