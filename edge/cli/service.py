"""``edge-vitals service install|uninstall|status``: the systemd unit of ``edge-vitals run``.

    edge-vitals service install [--user|--system] [--dry-run] [--systemctl] -- <run args>
    edge-vitals service status [--system]
    edge-vitals service uninstall [--system] [--systemctl]

The run arguments are checked at install time, so a mistake fails now (exit 2, one line)
rather than at every boot: ``edge-vitals run``'s parser, every file they name (it must exist
and be readable; the unit gets its absolute path), the ``--serve`` address and the pipeline
config. ``status`` shows the unit and, where systemd runs, its state, why it stopped and its
last log lines (exit 1 when it has failed).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from edge import service
from edge.errors import InputError

__all__ = ["HELP", "INPUT_FILE_OPTIONS", "OUTPUT_FILE_OPTIONS", "add_arguments", "check_run_args",
           "main"]

HELP = "install, remove or show the systemd unit"

INPUT_FILE_OPTIONS = ("config", "spo2_calibration", "model", "mqtt_password_file", "mqtt_ca",
                      "mqtt_cert", "mqtt_key")
"""Run options (by dest, where run has them) naming a file the service reads."""
OUTPUT_FILE_OPTIONS = ("csv",)
"""Options naming a file the service writes: its folder must exist."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals service``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    helps = {"install": "write the unit (run arguments after --)",
             "uninstall": "remove the unit", "status": "show the unit"}
    for name, help_text in helps.items():
        sp = actions.add_parser(name, help=help_text, description=help_text)
        scope = sp.add_mutually_exclusive_group()
        scope.add_argument("--user", dest="user", action="store_true", default=True,
                           help="a user unit in ~/.config/systemd/user (default)")
        scope.add_argument("--system", dest="user", action="store_false",
                           help="a system unit in /etc/systemd/system (needs sudo)")
        sp.add_argument("--unit-dir", metavar="DIR",
                        help="the unit's directory instead of systemd's (tests, image builds)")
        if name != "status":
            sp.add_argument("--systemctl", action="store_true",
                            help="also run systemctl daemon-reload and enable --now (install) "
                            "or disable --now (uninstall)")
        if name == "install":
            sp.add_argument("--dry-run", action="store_true",
                            help="print the unit, write nothing")
            sp.add_argument("--cache-dir", metavar="DIR",
                            help="NUMBA_CACHE_DIR of the service (default "
                            "~/.cache/edge-vitals/numba or /var/cache/edge-vitals/numba)")
            sp.add_argument("--run-as", metavar="USER",
                            help="User= of a system unit (default: the sudo user)")
            sp.add_argument("run_args", nargs=argparse.REMAINDER, metavar="-- RUN_ARGS",
                            help="arguments of 'edge-vitals run'")


class _RunArgsParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise InputError(f"invalid 'edge-vitals run' arguments for the service: {message}")


def _checked_path(value: str, option: str, *, output: bool = False) -> str:
    """`value` as an absolute path (the unit's working directory is not yours), if usable."""
    path = Path(value).expanduser().absolute()
    if output:
        if not path.parent.is_dir():
            raise InputError(f"{option}: folder {path.parent} does not exist")
    elif not path.is_file():
        raise InputError(f"{option}: no such file: {path}")
    elif not os.access(path, os.R_OK):
        raise InputError(f"{option}: cannot read {path} (permissions)")
    return str(path)


def _file_options(parser: argparse.ArgumentParser) -> tuple[dict[str, bool], set[str]]:
    """The run options that name files (option string -> is an output), and every option
    that takes a value.
    """
    files, valued = {}, set()
    for action in parser._actions:
        if action.nargs != 0:
            valued.update(action.option_strings)
        if action.dest in INPUT_FILE_OPTIONS or action.dest in OUTPUT_FILE_OPTIONS:
            files.update(dict.fromkeys(action.option_strings, action.dest in OUTPUT_FILE_OPTIONS))
    return files, valued


def _absolute_paths(args: list[str], parsed: argparse.Namespace,
                    parser: argparse.ArgumentParser) -> list[str]:
    """`args` with every file they name checked and made absolute."""
    (files, valued), out, i = _file_options(parser), [], 0
    while i < len(args):
        arg = args[i]
        name, eq, value = arg.partition("=")
        if name in files and eq:
            out.append(f"{name}={_checked_path(value, name, output=files[name])}")
        elif arg in files and i + 1 < len(args):
            out += [arg, _checked_path(args[i + 1], arg, output=files[arg])]
            i += 1
        elif arg in valued and i + 1 < len(args):
            out += args[i:i + 2]
            i += 1
        elif arg == parsed.source and parsed.source != "picamera":
            out.append(_checked_path(arg, "video"))
        else:
            out.append(arg)
        i += 1
    return out


def check_run_args(run_args: list[str]) -> list[str]:
    """Strip a leading ``--``, check the arguments as the module docstring says, and return
    them with the files they name as absolute paths.
    """
    from edge.cli import run
    from edge.cli.options import config_from_args

    args = run_args[1:] if run_args[:1] == ["--"] else list(run_args)
    if not args:
        raise InputError("give the run arguments after --, e.g. "
                         "edge-vitals service install -- --camera 0 --json")
    parser = _RunArgsParser(prog="edge-vitals run", add_help=False, allow_abbrev=False)
    run.add_arguments(parser)
    parsed = parser.parse_args(args)
    if sum([bool(parsed.source), parsed.camera is not None, parsed.demo]) != 1:
        raise InputError("the service needs exactly one source in its run arguments: "
                         "--camera N, picamera, or a video file")
    args = _absolute_paths(args, parsed, parser)
    if getattr(parsed, "serve", None) is not None:
        from edge.live_page import parse_address

        parse_address(parsed.serve)
    config_from_args(parser.parse_args(args))  # a config file that cannot load fails now
    return args


def _systemctl(action: str, user: bool) -> None:
    if shutil.which("systemctl") is None:
        raise InputError("systemctl not found (no systemd here); the unit file is written")
    for command in service.systemctl_hint(action, user=user):
        print("+ " + shlex.join(command), file=sys.stderr)
        if subprocess.run(command, check=False).returncode != 0:
            raise InputError(f"'{shlex.join(command)}' failed")


def _query(command: list[str]) -> str | None:
    """`command`'s stdout, or None if it cannot run or fails (no systemd here)."""
    try:
        res = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout if res.returncode == 0 else None


def _systemd_version() -> int | None:
    """The systemd version here, which decides the restart back-off the unit can use."""
    text = _query(["systemctl", "--version"]) if shutil.which("systemctl") else None
    return service.parse_systemd_version(text or "")


def _unit_state(user: bool) -> tuple[list[str], bool]:
    """Lines on the unit's state, reason and log; True if it has failed."""
    scope = ["--user"] if user else []
    shown = _query(["systemctl", *scope, "show", service.UNIT_NAME,
                    "-p", ",".join(service.SHOW_PROPERTIES)]) if shutil.which("systemctl") else None
    if shown is None:
        return ["state: unknown (systemctl cannot reach systemd here)"], False
    properties = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
    journal = _query(["journalctl", *scope, "-u", service.UNIT_NAME, "-n", "10", "--no-pager",
                      "-o", "cat"])
    lines = service.describe_state(properties, (journal or "").splitlines(), user=user)
    return lines, properties.get("ActiveState") == "failed"


def main(args: argparse.Namespace) -> int:
    """Install, remove or show the unit."""
    directory = Path(args.unit_dir) if args.unit_dir else None
    if args.action == "status":
        path, text = service.status(user=args.user, directory=directory)
        if text is None:
            print(f"edge-vitals: no unit at {path}", file=sys.stderr)
            return 1
        lines, failed = _unit_state(args.user)
        print(f"# {path}\n{text}\n" + "\n".join(lines))
        return 1 if failed else 0
    if args.action == "uninstall":
        if args.systemctl:
            _systemctl("uninstall", args.user)
        removed = service.uninstall(user=args.user, directory=directory)
        print(f"edge-vitals: {'removed ' + str(removed) if removed else 'no unit to remove'}",
              file=sys.stderr)
        return 0
    spec = service.ServiceSpec(run_args=tuple(check_run_args(args.run_args)), user=args.user,
                               python=sys.executable, run_as=args.run_as,
                               systemd_version=_systemd_version(),
                               cache_dir=Path(args.cache_dir) if args.cache_dir else None)
    if args.dry_run:
        print(service.unit_text(spec), end="")
        return 0
    path = service.install(spec, directory=directory)
    print(f"edge-vitals: wrote {path}", file=sys.stderr)
    if "--mqtt-password" in spec.run_args:
        print("edge-vitals: the unit holds the MQTT password (mode 0600); "
              "prefer --mqtt-password-file", file=sys.stderr)
    if args.systemctl:
        _systemctl("install", args.user)
    else:
        cache = spec.cache_dir or service.default_cache_dir(user=args.user)
        steps = [f"edge-vitals warmup --cache-dir {cache}",
                 *(shlex.join(c) for c in service.systemctl_hint("install", user=args.user))]
        if args.user:
            steps.append("loginctl enable-linger $USER   # start at boot without a login")
        print("edge-vitals: next:\n  " + "\n  ".join(steps), file=sys.stderr)
    return 0
