"""The ``edge-vitals`` command (also ``python -m edge``).

Subcommands live in their own modules and are imported only when invoked, so that
``edge-vitals run`` never imports `firmware_sim` or `export`. Each module provides
``add_arguments(parser)`` and ``main(args) -> int``.

Exit codes: 0 ok; 1 a verdict failed (a budget, an accuracy threshold); 2 bad input
or usage, with a one-line message on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from edge.errors import VitalsError

__all__ = ["SUBCOMMANDS", "main"]

SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("edge.cli_run", "measure vitals from a video file, a camera or the demo clip"),
    "synth": ("firmware_sim.synth_cli", "render a synthetic face video with known vitals"),
    "simulate": ("firmware_sim.simulate_cli",
                 "replay a video on a modelled device and check its latency budget"),
    "calibrate": ("edge.cli_calibrate",
                  "calibrate: 'device' for the latency simulator, 'spo2' against an oximeter"),
    "export": ("export.cli", "train and export the CNNs to ONNX/TFLite (needs the export extra)"),
    "eval": ("firmware_sim.eval_cli",
             "heart-rate accuracy on a dataset (UBFC-rPPG, PURE or generic layout)"),
    "service": ("edge.cli_service", "install, remove or show the systemd unit"),
    "warmup": ("edge.cli_warmup", "compile and cache the numba kernels (first boot is not slow)"),
}
"""Subcommand name -> (module, one-line help)."""

EXIT_OK, EXIT_VERDICT, EXIT_USAGE = 0, 1, 2


def _build_parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-vitals",
        description="Heart rate from a face on camera, offline, on small devices. "
        "Not a medical device.",
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module_name).add_arguments(sp)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = _chosen_command(argv)
    parser = _build_parser(chosen)
    args = parser.parse_args(argv)
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
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        return int(module.main(args))
    except VitalsError as exc:
        if debug:
            raise
        print(f"edge-vitals: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("edge-vitals: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
