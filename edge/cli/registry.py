"""What other packages add to ``edge-vitals``, found through entry points.

Edge names no other package: a package that adds a command, a calibration target or a
frame source declares an entry point in one of the groups below (in its
``pyproject.toml``). A command or target is a module with ``HELP`` (one line),
``add_arguments(parser)`` and ``main(args) -> int``; a source is a callable with no
arguments that returns a `ClipSource`.
"""

from __future__ import annotations

import argparse
import functools
import importlib
from collections.abc import Callable, Collection, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any, Protocol

from edge.cli.options import missing_extra_message
from edge.errors import InputError

__all__ = ["CALIBRATIONS_GROUP", "COMMANDS_GROUP", "SOURCES_GROUP", "ClipSource", "Loader",
           "add_subcommands", "load", "loaders", "try_load"]

COMMANDS_GROUP = "edge_vitals.commands"
CALIBRATIONS_GROUP = "edge_vitals.calibrations"
SOURCES_GROUP = "edge_vitals.sources"

Loader = Callable[[], Any]


class ClipSource(Protocol):
    """A registered source of frames with a known truth (``edge-vitals run --demo``)."""

    frames: Iterable[tuple[Any, float]]
    """(RGB uint8 frame, timestamp_s) pairs."""
    frame_count: int | None
    truth: str
    """What the clip holds, in one line (``72.0 bpm, 15 breaths/min``)."""


def loaders(group: str, builtin: Mapping[str, str] | None = None) -> dict[str, Loader]:
    """Name -> loader: edge's own modules (`builtin`: name -> module) first, then the
    group's entry points by name (an entry point cannot replace a built-in).
    """
    found: dict[str, Loader] = {name: functools.partial(importlib.import_module, module)
                                for name, module in (builtin or {}).items()}
    for point in sorted(entry_points(group=group), key=lambda p: p.name):
        found.setdefault(point.name, point.load)
    return found


def try_load(name: str, table: Mapping[str, Loader]) -> tuple[Any, str]:
    """(object, "") or (None, why it does not load)."""
    try:
        return table[name](), ""
    except ModuleNotFoundError as exc:  # an optional package left out of the install
        return None, missing_extra_message(exc.name, needed_by=f"'{name}'")
    except (ImportError, AttributeError) as exc:
        return None, f"'{name}' is registered but does not load ({exc})"


def load(group: str, name: str, table: Mapping[str, Loader] | None = None) -> Any:
    """The object registered as `name` (in `table`, by default the group's entry points);
    an `InputError` in one line if it is not there or does not load.
    """
    table = loaders(group) if table is None else table
    if name not in table:
        raise InputError(_unavailable(f"'{name}' is not installed (no entry point in group "
                                      f"{group})"))
    found, why = try_load(name, table)
    if found is None:
        raise InputError(_unavailable(why))
    return found


def _unavailable(why: str) -> str:
    if "pip install" in why or "reinstall" in why:  # `missing_extra_message` says how
        return why
    return f"{why}; reinstall edge-vitals with the package that provides it"


def add_subcommands(sub: Any, table: Mapping[str, Loader], *,
                    listed: Collection[str], with_flags: Collection[str]) -> dict[str, Any]:
    """One sub-parser per name of `table` on `sub` (``parser.add_subparsers()``).

    The modules `listed` are loaded for their help line, those in `with_flags` also add
    their flags. One that does not load is listed as not available, and choosing it sets
    ``args.unavailable`` to the one-line reason. Returns the loaded modules by name.
    """
    loaded = {}
    for name in table:
        if name not in listed and name not in with_flags:
            sub.add_parser(name)
            continue
        module, why = try_load(name, table)
        help_text = module.HELP if module is not None else f"(not available: {why})"
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text,
                                                         description=help_text)
        if module is None:
            parser.set_defaults(unavailable=_unavailable(why))
            continue
        loaded[name] = module
        if name in with_flags:
            module.add_arguments(parser)
    return loaded
