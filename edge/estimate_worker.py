"""The estimate stage beside the frame path: a snapshot in, a finished `Reading` out.

When a reading is due, the pipeline hands an `EstimateJob` (the reading's time and box,
the trace, the head's motion over the breathing window and the skin's saturation) to a
runner, and returns the runner's `Estimated` readings as they come. Two runners ship:
`InlineEstimates` runs the estimators at once inside `push` (deterministic: files and
tests), and `EstimateWorker` runs them on a thread on a snapshot of the trace, so that
`push` never waits for them. A thread and not a process: the estimators hold the GIL for
most of their work, but a push only waits for it on waking (up to one switch interval,
``sys.getswitchinterval()``) while a job runs, and a second process would add a second
interpreter with its own numba to the device's memory. A runner has ``on_frame_path``,
``idle``, ``submit(job)``, ``poll()``, ``restart(forget=...)`` and ``close()``; the
simulator drives its own on a modelled clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.config import PipelineConfig
from edge.estimators import BreathingStage, Estimator, HeartRateStage, HrvStage, Spo2Stage
from edge.probe import RecordingProbe
from edge.trace import Trace
from edge.types import Box, Reading
from edge.worker_thread import WorkerThread

__all__ = ["EstimateJob", "EstimateWorker", "Estimated", "Estimates", "InlineEstimates",
           "TraceSnapshot"]


class TraceSnapshot:
    """A copy of a trace's buffers at one instant, read as the estimators read a `Trace`
    (``fs``, ``available_s``, ``window(seconds)``) and its stream (``final_count``,
    ``final_pulse(n)``, ``recent_rgb(n)``).
    """

    def __init__(self, trace: Trace):
        stream = trace.stream
        self.fs = trace.fs
        self.rgb = stream.rgb[: stream.count].copy()
        self.pulse = stream.pulse[: stream.count].copy()
        self.count, self.final_count = stream.count, stream.final_count

    @property
    def stream(self) -> TraceSnapshot:
        """The buffers themselves (a `Trace` keeps them in its ``stream``)."""
        return self

    @property
    def available_s(self) -> float:
        """Seconds of final pulse samples."""
        return self.final_count / self.fs

    def window(self, seconds: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Views (rgb, pulse) of the newest `seconds` of final samples, or ``None`` if short."""
        n = round(seconds * self.fs)
        end = self.final_count
        return None if end < n else (self.rgb[end - n : end], self.pulse[end - n : end])

    def final_pulse(self, n_samples: int) -> np.ndarray:
        """View of the newest `n_samples` final pulse samples (fewer if not available)."""
        return self.pulse[max(0, self.final_count - n_samples) : self.final_count]

    def recent_rgb(self, n_samples: int) -> np.ndarray:
        """View of the newest `n_samples` RGB samples, final or not."""
        return self.rgb[max(0, self.count - n_samples) : self.count]


@dataclass(frozen=True, kw_only=True, slots=True)
class EstimateJob:
    """What the estimators read for one reading.

    Attributes
    ----------
    timestamp_s : float
        The reading's time (the frame that made it due).
    face_box : Box
        The box of that frame's skin sample.
    trace : Trace or a snapshot of one
        Read through ``fs``, ``available_s``, ``window(seconds)`` and ``stream``.
    head_window : callable
        ``(n, fs) -> dict``: the head's motion over the newest `n` samples
        (`edge.face_skin.FaceSkin.head_window`).
    saturation : float
        Running saturated fraction of the ROI.
    """

    timestamp_s: float
    face_box: Box
    trace: Any
    head_window: Callable[[int, float], dict[str, Any]]
    saturation: float

    @classmethod
    def snapshot(cls, *, timestamp_s: float, face_box: Box, trace: Trace, face: Any,
                 breathing: BreathingStage) -> EstimateJob:
        """A job that holds copies only, for a runner on another thread."""
        seconds = breathing.window_s(trace)
        head = {} if seconds is None else face.head_window(round(seconds * trace.fs), trace.fs)
        return cls(timestamp_s=timestamp_s, face_box=face_box,
                   trace=TraceSnapshot(trace),
                   head_window=lambda n, fs: head, saturation=float(face.saturation))


@dataclass(frozen=True, kw_only=True, slots=True)
class Estimated:
    """A finished reading and the estimators' work for it (`edge.probe.WORK` names)."""

    reading: Reading
    units: dict[str, int] = field(default_factory=dict)


class Estimates:
    """The four estimators, run in order on one job at a time (SpO2 and HRV read the
    heart rate); their work is counted per job, not per push.
    """

    def __init__(self, config: PipelineConfig):
        self.probe = RecordingProbe()
        self._job: EstimateJob | None = None
        self.heart_rate = HeartRateStage(config, probe=self.probe)
        self.breathing = BreathingStage(config, probe=self.probe, head_window=self._head_window)
        self.spo2 = Spo2Stage(config, probe=self.probe, saturation=self._saturation)
        self.hrv = HrvStage(config, probe=self.probe)

    @property
    def estimators(self) -> tuple[Estimator, ...]:
        """The estimators in the order they run."""
        return self.heart_rate, self.breathing, self.spo2, self.hrv

    def run(self, job: EstimateJob) -> Estimated:
        """The reading of `job`."""
        self._job = job
        self.probe.start()
        fields: dict[str, Any] = {}
        for estimator in self.estimators:
            fields.update(estimator.estimate(job.timestamp_s, job.trace, fields))
        self._job = None
        units = {name: n for name, n in self.probe.units.items() if n}
        return Estimated(reading=Reading(timestamp_s=job.timestamp_s, face_box=job.face_box,
                                         **fields), units=units)

    def restart(self, *, forget: bool = False) -> None:
        """The signal starts again; `forget` also drops the rate histories (a reset)."""
        for estimator in self.estimators:
            if forget:
                estimator.reset()
            else:
                estimator.restart()

    def _head_window(self, n: int, fs: float) -> dict[str, Any]:
        return self._job.head_window(n, fs)  # type: ignore[union-attr]

    def _saturation(self) -> float:
        return self._job.saturation  # type: ignore[union-attr]


class InlineEstimates:
    """Runs each job at once, on the frame path: its reading is ready in the same push."""

    on_frame_path = True

    def __init__(self, estimates: Estimates):
        self.estimates = estimates
        self._result: Estimated | None = None

    @property
    def idle(self) -> bool:
        """Always ready for a job."""
        return True

    def submit(self, job: EstimateJob) -> None:
        """Run `job` now."""
        self._result = self.estimates.run(job)

    def poll(self) -> Estimated | None:
        """The last job's reading, once."""
        result, self._result = self._result, None
        return result

    def restart(self, *, forget: bool = False) -> None:
        """Restart the estimators now."""
        self.estimates.restart(forget=forget)

    def close(self) -> None:
        """Nothing to release."""


class EstimateWorker:
    """Runs jobs on a thread (`edge.worker_thread.WorkerThread`); `submit` and `poll` never
    wait for it. `restart` drops the job at hand and its reading, and the thread restarts
    the estimators before its next job.
    """

    on_frame_path = False

    def __init__(self, estimates: Any):
        self.estimates = estimates
        self.thread = WorkerThread(self._run, name="edge-vitals-estimates")
        self._restart_lock = threading.Lock()
        self._restart: bool | None = None  # None, or whether to forget the histories too

    @property
    def idle(self) -> bool:
        """No job waiting or running, and no reading left to poll."""
        return self.thread.idle

    def submit(self, job: EstimateJob) -> None:
        """Queue `job` (it must hold copies: `EstimateJob.snapshot`); a waiting one is replaced."""
        self.thread.submit(job)

    def poll(self) -> Estimated | None:
        """The oldest finished reading, once (``None`` while none is ready)."""
        return self.thread.poll()  # type: ignore[no-any-return]

    def restart(self, *, forget: bool = False) -> None:
        """Drop the job and readings at hand; the thread restarts the estimators first."""
        with self._restart_lock:
            self._restart = forget or bool(self._restart)
        self.thread.drop()

    def wait(self, timeout_s: float) -> bool:
        """Wait until no job waits or runs; ``False`` on timeout."""
        return self.thread.wait(timeout_s)

    def close(self) -> None:
        """Stop the thread once the job it has is done."""
        self.thread.close()

    def _run(self, job: EstimateJob) -> Estimated:
        with self._restart_lock:
            restart, self._restart = self._restart, None
        if restart is not None:
            self.estimates.restart(forget=restart)
        return self.estimates.run(job)  # type: ignore[no-any-return]
