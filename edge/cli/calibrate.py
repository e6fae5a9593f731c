"""``edge-vitals calibrate TARGET``: ``spo2`` is edge's own; other packages register
further targets (``device``, the latency simulator's) as entry points.
"""

from __future__ import annotations

import argparse

from edge.cli import registry

__all__ = ["BUILTIN", "HELP", "add_arguments", "main"]

HELP = "calibrate: 'device' for the latency simulator, 'spo2' against an oximeter"

BUILTIN = {"spo2": "edge.cli.calibrate_spo2"}
"""Edge's own targets: name -> module."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-command per target."""
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    targets = registry.loaders(registry.CALIBRATIONS_GROUP, BUILTIN)
    registry.add_subcommands(sub, targets, listed=targets, with_flags=targets)


def main(args: argparse.Namespace) -> int:
    """Run the chosen calibration."""
    targets = registry.loaders(registry.CALIBRATIONS_GROUP, BUILTIN)
    return int(registry.load(registry.CALIBRATIONS_GROUP, args.target, targets).main(args))
