"""``edge-vitals calibrate device|spo2``: the two calibrations, each in its own module.

``device`` (in `firmware_sim.calibrate`) measures this board for the latency simulator;
``spo2`` (`edge.cli_calibrate_spo2`) fits SpO2 = A - B·R against a reference oximeter.
"""

from __future__ import annotations

import argparse
import importlib

__all__ = ["TARGETS", "add_arguments", "main"]

TARGETS: dict[str, tuple[str, str]] = {
    "device": ("firmware_sim.calibrate",
               "measure this board's slowdown factors for the latency simulator"),
    "spo2": ("edge.cli_calibrate_spo2",
             "fit the SpO2 calibration from videos and a reference oximeter's log"),
}
"""Target name -> (module, one-line help)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One sub-command per target."""
    sub = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    for name, (module_name, help_text) in TARGETS.items():
        target = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module_name).add_arguments(target)


def main(args: argparse.Namespace) -> int:
    """Run the chosen calibration."""
    return int(importlib.import_module(TARGETS[args.target][0]).main(args))
