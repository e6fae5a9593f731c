"""``edge-vitals service install|uninstall|status``: the systemd unit of ``edge-vitals run``.

    edge-vitals service install [--user|--system] [--dry-run] [--systemctl] -- <run args>
    edge-vitals service status [--system]
    edge-vitals service uninstall [--system] [--systemctl]

The run arguments are checked against ``edge-vitals run``'s parser at install time, so a
typo fails now rather than at every boot.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from edge import service
from edge.errors import InputError

__all__ = ["HELP", "add_arguments", "check_run_args", "main"]

HELP = "install, remove or show the systemd unit"


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


def check_run_args(run_args: list[str]) -> list[str]:
    """Strip a leading ``--`` and check the arguments with ``edge-vitals run``'s parser."""
    from edge.cli import run

    args = run_args[1:] if run_args[:1] == ["--"] else list(run_args)
    if not args:
        raise InputError("give the run arguments after --, e.g. "
                         "edge-vitals service install -- --camera 0 --json")
    parser = _RunArgsParser(prog="edge-vitals run", add_help=False)
    run.add_arguments(parser)
    parsed = parser.parse_args(args)
    if sum([bool(parsed.source), parsed.camera is not None, parsed.demo]) != 1:
        raise InputError("the service needs exactly one source in its run arguments: "
                         "--camera N, picamera, or a video file")
    return args


def _systemctl(action: str, user: bool) -> None:
    if shutil.which("systemctl") is None:
        raise InputError("systemctl not found (no systemd here); the unit file is written")
    for command in service.systemctl_hint(action, user=user):
        print("+ " + shlex.join(command), file=sys.stderr)
        if subprocess.run(command, check=False).returncode != 0:
            raise InputError(f"'{shlex.join(command)}' failed")


def main(args: argparse.Namespace) -> int:
    """Install, remove or show the unit."""
    directory = Path(args.unit_dir) if args.unit_dir else None
    if args.action == "status":
        path, text = service.status(user=args.user, directory=directory)
        if text is None:
            print(f"edge-vitals: no unit at {path}", file=sys.stderr)
            return 1
        print(f"# {path}\n{text}", end="")
        return 0
    if args.action == "uninstall":
        if args.systemctl:
            _systemctl("uninstall", args.user)
        removed = service.uninstall(user=args.user, directory=directory)
        print(f"edge-vitals: {'removed ' + str(removed) if removed else 'no unit to remove'}",
              file=sys.stderr)
        return 0
    spec = service.ServiceSpec(run_args=tuple(check_run_args(args.run_args)), user=args.user,
                               python=sys.executable, run_as=args.run_as,
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
