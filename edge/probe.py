"""What a `Pipeline.push` did, by name: seconds per stage and units of work.

The pipeline reports to a `Probe`, which does nothing by default; a cost model or a
benchmark passes a `RecordingProbe` (``Pipeline(config, probe=RecordingProbe())``) and
reads the last push's figures by name.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["STAGES", "WORK", "Probe", "RecordingProbe", "StageTimer"]

STAGES = ("validate", "track", "roi", "trace", "estimate")
"""The per-frame stages of `Pipeline.push`, in order."""
WORK = ("detector_pixels", "near_detections", "handoff_pixels", "roi_pixels",
        "trace_samples", "estimates", "vital_estimates", "hrv_analyses", "head_motion_updates",
        "estimate_handoffs")
"""Kinds of work a push reports: pixels of full face searches and re-detections near a
known face (both on the frame path only), pixels of frames copied for the detector's
worker, pixels the ROI kernel visited, uniform trace samples, heart-rate estimates,
breathing and SpO2 estimates, SDNN/RMSSD analyses (these three on the frame path only),
head-motion updates, snapshots handed to the estimate worker."""


class Probe:
    """Observer of the pipeline's work; this base class ignores everything.

    `clock` times the stages (and a reading's ``latency_ms``): wall-clock seconds by
    default; a cost model may pass ``time.thread_time`` to count only this thread's CPU.
    """

    clock = staticmethod(time.perf_counter)

    def start(self) -> None:
        """A push begins."""

    def stage(self, name: str, seconds: float) -> None:
        """Stage `name` (one of `STAGES`) took `seconds`."""

    def work(self, name: str, units: int) -> None:
        """`units` of work `name` (one of `WORK`) were done."""


class RecordingProbe(Probe):
    """Keeps the last push's seconds per stage and units of each kind of work."""

    def __init__(self, *, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.stage_s = dict.fromkeys(STAGES, 0.0)
        self.units = dict.fromkeys(WORK, 0)

    def start(self) -> None:
        """Zero every figure."""
        for name in STAGES:
            self.stage_s[name] = 0.0
        for name in WORK:
            self.units[name] = 0

    def stage(self, name: str, seconds: float) -> None:
        """Keep `seconds` as the stage's time."""
        self.stage_s[name] = seconds

    def work(self, name: str, units: int) -> None:
        """Add `units` to the count of `name`; an unknown name raises `KeyError`."""
        if name not in self.units:
            raise KeyError(f"unknown kind of work {name!r}; one of {', '.join(WORK)}")
        self.units[name] += units


class StageTimer:
    """Times consecutive stages of one push and reports each to a probe."""

    def __init__(self, probe: Probe):
        self.probe = probe
        self.clock = probe.clock
        self.start_s = self._last_s = self.clock()

    def lap(self, name: str) -> None:
        """Stage `name` ends now (it began where the previous one ended)."""
        now = self.clock()
        self.probe.stage(name, now - self._last_s)
        self._last_s = now

    @property
    def total_ms(self) -> float:
        """Milliseconds from the start to the end of the last stage."""
        return 1000.0 * (self._last_s - self.start_s)
