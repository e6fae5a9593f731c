"""Command-line pieces that several commands share, public for registered commands.

- `config_from_args`: the pipeline config of ``--config`` and the override flags.
- `check_output_file`, `check_output_dir`, `check_outputs`: every path a command will
  write is checked before the work starts, so a typo costs one line, not a lost run.
- `require_extra`, `missing_extra_message`: an optional package that is not installed
  is named with the command that installs it.
- `Parser`: an `argparse.ArgumentParser` whose errors are one line with a "did you mean".
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import NoReturn

from edge.config import PipelineConfig
from edge.configio import did_you_mean
from edge.errors import InputError

__all__ = ["EXTRAS", "Parser", "check_output_dir", "check_output_file", "check_outputs",
           "config_from_args", "missing_extra_message", "require_extra"]

EXTRAS = {
    "torch": "pip install torch==2.13.0, then pip install 'edge-vitals[export]'",
    "onnx": "pip install 'edge-vitals[export]'",
    "onnxscript": "pip install 'edge-vitals[export]'",
    "litert_torch": "pip install 'edge-vitals[export]'",
    "ai_edge_quantizer": "pip install 'edge-vitals[export]'",
    "matplotlib": "pip install 'edge-vitals[plot]'",
    "paho": "pip install 'edge-vitals[mqtt]'",
    "ai_edge_litert": "pip install 'edge-vitals[tflite]'",
    "tqdm": "pip install tqdm",
    "scipy": "pip install scipy",
}
"""Top-level module -> the command that installs it."""


def config_from_args(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline config of a command's ``--config`` file and its override flags
    (``--method``, ``--model``, ``--roi``, ``--spo2-calibration``, where it has them).
    """
    path = getattr(args, "config", None)
    config = PipelineConfig.from_toml(path) if path else PipelineConfig()
    overrides = {("rppg", "method"): "method", ("rppg", "model_path"): "model",
                 ("roi", "mode"): "roi", ("vitals", "spo2_calibration"): "spo2_calibration"}
    for (section, key), flag in overrides.items():
        value = getattr(args, flag, None)
        if value:
            config = config.with_changes(**{section: {key: value}})
    return config


# -- output paths ---------------------------------------------------------------------------
def _writable_folder(folder: Path, *, flag: str, path: object) -> None:
    if not folder.is_dir():
        raise InputError(f"{flag} {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{flag} {path}: cannot write in {folder} (permission denied)")


def check_output_file(path: str | os.PathLike[str], *, flag: str) -> Path:
    """`path` if a file can be written there; else `InputError` naming `flag` (one line).

    The folder must exist (it is not created: a missing one is usually a typo) and be
    writable; the path must not be a folder or a read-only file.
    """
    out = Path(path).expanduser()
    if out.is_dir():
        raise InputError(f"{flag} {path}: is a folder; give a file name")
    folder = out.parent
    if not folder.exists():
        existing = next(p for p in folder.parents if p.exists())
        if not existing.is_dir():
            raise InputError(f"{flag} {path}: {existing} is not a folder")
        raise InputError(f"{flag} {path}: folder {folder} does not exist")
    _writable_folder(folder, flag=flag, path=path)
    if out.exists() and not os.access(out, os.W_OK):
        raise InputError(f"{flag} {path}: the file is not writable")
    return out


def check_output_dir(path: str | os.PathLike[str], *, flag: str) -> Path:
    """`path` if it is, or can be made, a writable folder; else `InputError` (one line).

    A missing folder is fine (the command makes it) when its nearest existing parent is a
    writable folder.
    """
    out = Path(path).expanduser()
    existing = next(p for p in [out, *out.absolute().parents] if p.exists())
    _writable_folder(existing, flag=flag, path=path)
    return out


def check_outputs(args: argparse.Namespace, *, files: Iterable[str] = (),
                  dirs: Iterable[str] = ()) -> None:
    """Check the output paths held by `args`' attributes `files` and `dirs` (those set).

    The flag in a message is the attribute's (``png`` -> ``--png``).
    """
    for names, check in ((files, check_output_file), (dirs, check_output_dir)):
        for name in names:
            value = getattr(args, name, None)
            if value is not None and not isinstance(value, bool):
                check(value, flag="--" + name.replace("_", "-"))


# -- optional packages ----------------------------------------------------------------------
def missing_extra_message(module: str | None, *, needed_by: str = "this") -> str:
    """One line: `module` is not installed, and how to install it."""
    top = (module or "?").split(".")[0]
    how = EXTRAS.get(top, "reinstall edge-vitals with the package that provides it")
    return f"{needed_by} needs {top}, which is not installed: {how}"


def require_extra(*modules: str, needed_by: str) -> None:
    """`InputError` (one line, with the install command) unless every module imports.

    Checked with `importlib.util.find_spec`, so nothing is imported here.
    """
    for module in modules:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise InputError(missing_extra_message(module, needed_by=needed_by))


# -- argument errors ------------------------------------------------------------------------
_INVALID_CHOICE = re.compile(
    r"invalid choice: (?P<value>'[^']*'|\S+) \(choose from (?P<choices>.*)\)")


class Parser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose usage errors are one line on stderr, exit 2.

    A value outside ``choices`` (a flag's or a subcommand's) gets the closest choice as a
    "did you mean" (`edge.configio.did_you_mean`); the line ends with where help is.
    """

    def error(self, message: str) -> NoReturn:
        """Print ``PROG: error: MESSAGE[; did you mean 'x'?] (PROG --help)`` and exit 2."""
        match = _INVALID_CHOICE.search(message)
        if match:
            value = match["value"].strip("'")
            choices = [c.strip().strip("'") for c in match["choices"].split(",")]
            message = (f"{message[:match.start()]}unknown '{value}' (one of "
                       f"{', '.join(choices)}){did_you_mean(value, choices)}")
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def unrecognized(self, unknown: list[str]) -> str:
        """The message for arguments nobody took, with the closest flag of this parser."""
        flags = set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", self.format_help()))
        flag = next((a.split("=")[0] for a in unknown if a.startswith("-")), None)
        hint = did_you_mean(flag, flags) if flag is not None else ""
        return f"unrecognized arguments: {' '.join(unknown)}{hint}"

