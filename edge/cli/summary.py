"""The end-of-run summary of ``edge-vitals run``, kept in bounded memory.

A service runs for months, so the loop never keeps its readings: `RunSummary.add` folds
each one into fixed-size counters. Medians come from a fixed-bin histogram per vital
at 0.1 unit resolution (each value rounded to the nearest 0.1), so the median printed
is the exact median of the rounded values (within 0.05 of the exact one), in memory
that does not grow with the run. Per vital it also counts why the vital was withheld,
so that a vital that never appeared is explained ("SpO2: never: ...").
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from typing import IO

import numpy as np

from edge.config import PipelineConfig
from edge.errors import InputError
from edge.reasons import withheld_reason
from edge.types import Reading, Status

__all__ = ["Histogram", "RunSummary", "VitalSpec"]


class Histogram:
    """Counts of values in fixed bins of `step` over [`low`, `high`] (outside: clipped).

    Memory is ``(high - low) / step`` integers whatever the number of values.
    """

    def __init__(self, *, low: float, high: float, step: float = 0.1):
        self.low, self.step = float(low), float(step)
        self.counts = np.zeros(round((high - low) / step) + 1, dtype=np.int64)
        self.n = 0

    def add(self, value: float) -> None:
        """Count one value."""
        index = round((value - self.low) / self.step)
        self.counts[min(max(index, 0), self.counts.size - 1)] += 1
        self.n += 1

    def _kth(self, k: int) -> float:
        """The k-th smallest (0-based) value counted, at bin resolution."""
        index = int(np.searchsorted(np.cumsum(self.counts), k + 1))
        return self.low + index * self.step

    def median(self) -> float | None:
        """Median of the values counted (the mean of the two middle ones for even counts)."""
        if self.n == 0:
            return None
        return 0.5 * (self._kth((self.n - 1) // 2) + self._kth(self.n // 2))


@dataclass(frozen=True, kw_only=True, slots=True)
class VitalSpec:
    """How the summary shows one vital."""

    key: str
    """`Reading` field of the value."""
    name: str
    unit: str
    low: float
    high: float
    switch: str
    """``config.vitals`` flag that turns it on ("" for the heart rate, always on)."""
    window: str
    """``config.vitals`` window it waits for ("" for none)."""


VITALS = (
    VitalSpec(key="heart_rate_bpm", name="heart rate", unit="bpm", low=0.0, high=300.0,
              switch="", window=""),
    VitalSpec(key="breathing_rate_bpm", name="breathing rate", unit="breaths/min", low=0.0,
              high=120.0, switch="breathing", window="breathing_min_window_s"),
    VitalSpec(key="spo2_pct", name="SpO2", unit="%", low=0.0, high=100.0, switch="spo2",
              window="spo2_window_s"),
    VitalSpec(key="sdnn_ms", name="HRV", unit="ms SDNN", low=0.0, high=2000.0, switch="hrv",
              window="hrv_window_s"),
)


class RunSummary:
    """Running totals of a run: frames, readings, per-vital histograms and reasons.

    Its size is fixed at construction (`nbytes`), however many readings it sees.
    """

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.frames = 0
        self.readings = 0
        self.all_no_face = True
        self.spo2_uncalibrated = 0
        self.values = {v.key: Histogram(low=v.low, high=v.high) for v in VITALS}
        self.why: dict[str, Counter[str]] = {v.key: Counter() for v in VITALS}

    @property
    def nbytes(self) -> int:
        """Bytes held by the histograms (the only part that could be large)."""
        return sum(h.counts.nbytes for h in self.values.values())

    def add(self, reading: Reading) -> None:
        """Fold one reading in."""
        self.readings += 1
        self.all_no_face = self.all_no_face and reading.status is Status.NO_FACE
        if reading.spo2_pct is not None and not reading.spo2_calibrated:
            self.spo2_uncalibrated += 1
        for spec in VITALS:
            value = getattr(reading, spec.key)
            if value is not None:
                self.values[spec.key].add(value)
            else:
                self.why[spec.key][withheld_reason(reading, spec.key) or "withheld"] += 1

    def never(self, spec: VitalSpec) -> str:
        """Why `spec`'s vital never appeared, in one phrase."""
        if spec.switch and not getattr(self.config.vitals, spec.switch):
            return f"turned off in the config (vitals.{spec.switch})"
        total = sum(self.why[spec.key].values())
        if total == 0:
            return "no readings"
        parts = []
        for reason, count in self.why[spec.key].most_common(3):
            if reason == "warming up" and spec.window:
                reason = (f"warming up (needs {getattr(self.config.vitals, spec.window):g} s "
                          "of steady signal)")
            parts.append(f"{reason} in {100 * count / total:.0f} % of readings")
        return ", ".join(parts)

    def print(self, elapsed_s: float, *, truth: str | None = None,
              stream: IO[str] | None = None) -> None:
        """The summary lines (``edge-vitals: ...``) on `stream` (stderr by default).

        Raises `InputError` when face mode found no face in any reading.
        """
        err = sys.stderr if stream is None else stream
        fps = self.frames / elapsed_s if elapsed_s > 0 else float("nan")
        print(f"edge-vitals: {self.frames} frames in {elapsed_s:.1f} s ({fps:.0f} frames/s), "
              f"{self.readings} readings", file=err)
        if self.config.roi.mode == "face" and self.readings and self.all_no_face:
            raise InputError("no face found in the video; for a pre-cropped skin video use "
                             "--roi full")
        for spec in VITALS:
            hist = self.values[spec.key]
            if hist.n == 0:
                print(f"edge-vitals: {spec.name}: never: {self.never(spec)}", file=err)
                continue
            note = ""
            if spec.key == "spo2_pct" and self.spo2_uncalibrated:
                note = " (uncalibrated: see the README)"
            print(f"edge-vitals: {spec.name} median {hist.median():.1f} {spec.unit} over "
                  f"{hist.n} readings{note}", file=err)
        if truth is not None:
            print(f"edge-vitals: demo clip truth {truth}", file=err)

