"""Calibrating SpO2 against a reference pulse oximeter worn while the videos were taken.

Every reading with a measured ratio of ratios is paired with the oximeter's mean SpO2 over
that reading's window, and a straight line SpO2 = A - B·R is fitted through all pairs
(`edge.spo2.fit_calibration`). The oximeter's log is a CSV with ``timestamp_s,spo2_pct``
(seconds from the video's first frame).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from edge.config import PipelineConfig
from edge.errors import InputError
from edge.pipeline import Pipeline
from edge.spo2 import Spo2Calibration, fit_calibration
from edge.video import open_source

__all__ = ["calibrate", "collect_pairs", "pair_ratios", "read_oximeter_csv"]


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
