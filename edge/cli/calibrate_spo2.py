"""``edge-vitals calibrate spo2``: fit SpO2 = A - B·R from videos and a reference oximeter.

A calibration holds for one camera, one light and the exposure and white balance it was
made with (lock them); record a desaturation or several people so that SpO2 varies. The
JSON it writes is what ``edge-vitals run --spo2-calibration FILE`` uses.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.cli.options import check_outputs, config_from_args
from edge.errors import InputError
from edge.spo2 import MIN_RECORDINGS_FOR_SE
from edge.spo2_calibration import calibrate

__all__ = ["HELP", "SE_WARNING_FRACTION", "add_arguments", "main"]

HELP = "fit the SpO2 calibration from videos and a reference oximeter's log"

SE_WARNING_FRACTION = 0.02
"""Warn when the standard error of B is above this fraction of B."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals calibrate spo2``."""
    parser.add_argument("recordings", nargs="+", metavar="VIDEO:OXIMETER.csv",
                        help="a video and its reference oximeter log, joined by ':'")
    parser.add_argument("--out", type=Path, required=True, metavar="CALIBRATION.json",
                        help="where to write the calibration")
    parser.add_argument("--camera", default="", help="camera model (stored in the file)")
    parser.add_argument("--light", default="", help="light source (stored in the file)")
    parser.add_argument("--config", metavar="TOML", help="pipeline config file")
    parser.add_argument("--roi", choices=("face", "full"), help="as for run")


def _split(recording: str) -> tuple[str, str]:
    video, sep, oximeter = recording.rpartition(":")
    if not sep or not video or not oximeter:
        raise InputError(f"give each recording as VIDEO:OXIMETER.csv; got {recording!r}")
    return video, oximeter


def main(args: argparse.Namespace) -> int:
    """Fit, print the line and its residual, write the file; returns 0."""
    config = config_from_args(args)
    check_outputs(args, files=("out",))
    recordings = [_split(r) for r in args.recordings]
    result = calibrate(recordings, config=config, camera=args.camera, light=args.light)
    result.save(args.out)
    lo, hi = result.ratio_range
    print(f"SpO2 = {result.a:.2f} - {result.b:.2f} * R   ({result.n_points} readings from "
          f"{result.n_recordings} recording(s), R {lo:.3f}-{hi:.3f}, "
          f"rms residual {result.rms_error_pct:.2f} %)")
    if result.a_se is None or result.b_se is None:
        print(f"how well A and B are known needs at least {MIN_RECORDINGS_FOR_SE} recordings; "
              "record more before trusting this line", file=sys.stderr)
    else:
        print(f"standard errors (jackknife over recordings): A +-{result.a_se:.2f}, "
              f"B +-{result.b_se:.2f} ({100 * result.b_se / result.b:.1f} % of B)")
        if result.b_se > SE_WARNING_FRACTION * result.b:
            print(f"B is known only to +-{100 * result.b_se / result.b:.0f} %: record more "
                  "desaturations (the error shrinks as 1/sqrt(recordings))", file=sys.stderr)
    print(f"wrote {args.out}; use it: edge-vitals run ... --spo2-calibration {args.out}")
    return 0
