"""``edge-vitals calibrate spo2``: fit SpO2 = A - B·R from videos and a reference oximeter.

Each recording is a video of the face and a CSV from a reference pulse oximeter worn at
the same time (``timestamp_s,spo2_pct``, seconds from the video's first frame). The
pipeline runs over each video; every reading with a measured ratio of ratios is paired
with the oximeter's mean SpO2 over that reading's window, and a straight line is fitted
through all pairs (`edge.spo2.fit_calibration`). The result is a JSON file that
``edge-vitals run --spo2-calibration FILE`` (or ``[vitals] spo2_calibration``) uses.

A calibration holds for one camera, one light and the exposure and white balance it was
made with (lock them); record a desaturation or several people so that SpO2 varies.
With three or more recordings the fit also prints the standard errors of A and B
(jackknife over recordings) and warns when B is known to worse than
`SE_WARNING_FRACTION`: a camera's noise, not the method, sets how many recordings that
takes.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from edge.cli_run import config_from_args
from edge.config import PipelineConfig
from edge.errors import InputError
from edge.pipeline import Pipeline
from edge.spo2 import MIN_RECORDINGS_FOR_SE, Spo2Calibration, fit_calibration
from edge.video import open_source

__all__ = ["add_arguments", "calibrate", "collect_pairs", "main", "pair_ratios",
           "read_oximeter_csv"]

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


def read_oximeter_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(timestamp_s, spo2_pct) from a CSV with those two header names, time-sorted."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as exc:
        raise InputError(f"cannot read oximeter CSV {path}: {exc.strerror}") from None
    if not rows or not {"timestamp_s", "spo2_pct"} <= set(rows[0]):
        raise InputError(f"oximeter CSV {path} needs a header with timestamp_s and spo2_pct")
    try:
        table = np.array([[float(r["timestamp_s"]), float(r["spo2_pct"])] for r in rows])
    except (TypeError, ValueError):
        raise InputError(f"oximeter CSV {path} has a value that is not a number") from None
    if not np.isfinite(table).all() or np.any(np.diff(table[:, 0]) <= 0):
        raise InputError(f"oximeter CSV {path}: times must be finite and increasing")
    if np.any((table[:, 1] < 50) | (table[:, 1] > 100)):
        raise InputError(f"oximeter CSV {path}: SpO2 values must be within 50-100 %")
    return table[:, 0], table[:, 1]


def collect_pairs(video: str | Path, oximeter_csv: str | Path,
                  config: PipelineConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ratios, reference SpO2) for every reading of `video` that measured a ratio."""
    ref_t, ref_spo2 = read_oximeter_csv(oximeter_csv)
    source = open_source(video)
    try:
        return pair_ratios(source, ref_t, ref_spo2, config)
    finally:
        source.close()


def pair_ratios(frames: Iterable[tuple[np.ndarray, float]], ref_t: np.ndarray,
                ref_spo2: np.ndarray, config: PipelineConfig | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Run the pipeline over `frames`; pair each measured ratio with the reference.

    The reference is the oximeter's mean over the reading's SpO2 window, which ends
    one projection window before the reading (the newest pulse samples are not final).
    """
    config = config or PipelineConfig()
    window_s = config.vitals.spo2_window_s
    lag_s = config.rppg.projection_window_s
    ratios, reference = [], []
    with Pipeline(config) as pipe:
        for frame, t in frames:
            reading = pipe.push(frame, t)
            if reading is None or pipe.spo2_ratio is None:
                continue
            start, end = t - lag_s - window_s, t - lag_s
            if start < ref_t[0] or end > ref_t[-1]:
                continue
            ratios.append(pipe.spo2_ratio)
            grid = np.linspace(start, end, 21)
            reference.append(float(np.interp(grid, ref_t, ref_spo2).mean()))
    return np.array(ratios), np.array(reference)


def _split(recording: str) -> tuple[str, str]:
    video, sep, oximeter = recording.rpartition(":")
    if not sep or not video or not oximeter:
        raise InputError(f"give each recording as VIDEO:OXIMETER.csv; got {recording!r}")
    return video, oximeter


def calibrate(recordings: Sequence[tuple[str, str]], *, config: PipelineConfig | None = None,
              camera: str = "", light: str = "") -> Spo2Calibration:
    """Fit a calibration from (video, oximeter CSV) pairs."""
    ratios, spo2, which = [], [], []
    for k, (video, oximeter) in enumerate(recordings):
        r, s = collect_pairs(video, oximeter, config)
        ratios.append(r)
        spo2.append(s)
        which.append(np.full(r.size, k))
    return fit_calibration(np.concatenate(ratios), np.concatenate(spo2),
                           recording=np.concatenate(which), camera=camera, light=light)


def main(args: argparse.Namespace) -> int:
    """Fit, print the line and its residual, write the file; returns 0."""
    config = config_from_args(args)
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
