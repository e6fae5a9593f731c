"""The ``edge-vitals`` command (also ``python -m edge``).

Edge's own commands are built in (`BUILTIN`); other packages register theirs as entry
points (`edge.cli.registry`). Only the chosen command's module is imported, all of them
for the help listing, so ``edge-vitals run`` loads none of the other packages.

Exit codes: 0 ok; 1 a verdict failed (a budget, an accuracy threshold); 2 bad input
or usage, with a one-line message on stderr and no traceback: a `VitalsError`, an
`OSError` at this boundary and a missing optional package each become one line. A
closed stdout (``edge-vitals run clip --json | head -1``) ends the run quietly, exit 0,
as coreutils do. ``-v`` or ``EDGE_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence

from edge.cli import registry
from edge.cli.options import Parser, missing_extra_message
from edge.errors import VitalsError

__all__ = ["BUILTIN", "EXIT_OK", "EXIT_USAGE", "EXIT_VERDICT", "main"]

BUILTIN = {"run": "edge.cli.run", "calibrate": "edge.cli.calibrate",
           "service": "edge.cli.service", "warmup": "edge.cli.warmup"}
"""Edge's own commands: name -> module."""

EXIT_OK, EXIT_VERDICT, EXIT_USAGE = 0, 1, 2


def _build_parser(commands: Mapping[str, registry.Loader],
                  chosen: str | None) -> tuple[Parser, dict, dict]:
    """The parser, the loaded command modules and the sub-parsers by command name."""
    parser = Parser(
        prog="edge-vitals",
        description="Heart rate from a face on camera, offline, on small devices. "
        "Not a medical device.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    if chosen is None:  # the help listing: every command's line, no flags
        loaded = registry.add_subcommands(sub, commands, listed=commands, with_flags=())
    else:
        loaded = registry.add_subcommands(sub, commands, listed=(), with_flags=[chosen])
    return parser, loaded, sub.choices


def _chosen_command(argv: Sequence[str], commands: Mapping[str, registry.Loader]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in commands else None
    return None


def _fail(message: object) -> int:
    print(f"edge-vitals: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = registry.loaders(registry.COMMANDS_GROUP, BUILTIN)
    chosen = _chosen_command(argv, commands)
    parser, modules, subparsers = _build_parser(commands, chosen)
    args, unknown = parser.parse_known_args(argv)
    if getattr(args, "unavailable", None):  # a registered command whose package is missing
        return _fail(args.unavailable)
    if unknown:
        parser.error(subparsers.get(args.command, parser).unrecognized(unknown))
    if args.version:
        from edge import __version__

        print(f"edge-vitals {__version__}")
        return EXIT_OK
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = args.verbose or os.environ.get("EDGE_DEBUG") == "1"
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr,
                        format="edge-vitals: %(levelname)s: %(message)s")
    try:
        return int(modules[args.command].main(args))
    except BrokenPipeError:  # the reader of stdout has gone (``| head``): end quietly
        _silence_stdout()
        return EXIT_OK
    except (VitalsError, OSError, ModuleNotFoundError) as exc:
        if debug:
            raise
        return _fail(_one_line(exc, args.command))
    except KeyboardInterrupt:
        print("edge-vitals: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException, command: str) -> str:
    """The message of an error that reached the command line, on one line."""
    if isinstance(exc, ModuleNotFoundError):
        return missing_extra_message(exc.name, needed_by=f"edge-vitals {command}")
    if isinstance(exc, OSError) and exc.strerror:
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot use{where}: {exc.strerror}"
    return " ".join(str(exc).split())


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (a test's stream)
        pass

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
