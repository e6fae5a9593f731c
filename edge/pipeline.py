"""The streaming pipeline: ``reading = pipe.push(frame_rgb, timestamp_s)``.

One synchronous step per frame, with no clock of its own, so that a test or the simulator
can drive it frame by frame and observe each stage through a `Probe` (with
``roi.detect_in_background`` the face detector runs on a worker thread that `push` never
waits for, `edge.face_worker`; with ``rppg.estimate_in_background`` so do the estimators,
`edge.estimate_worker`):

    frame -> checks (`FrameCheck`) -> face box and skin mean (`FaceSkin`)
          -> uniform trace and pulse (`Trace`)
          -> every output interval: heart rate, breathing, SpO2, HRV (`edge.estimators`)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from edge.buffer import Resampler
from edge.config import PipelineConfig
from edge.errors import ConfigError
from edge.estimate_worker import (
    EstimateJob,
    Estimates,
    EstimateWorker,
    InlineEstimates,
)
from edge.estimators import BreathingStage, Estimator, HeartRateStage, HrvStage, Spo2Stage
from edge.face_skin import FaceSkin
from edge.frame_check import Break, FrameCheck
from edge.probe import STAGES, Probe, StageTimer
from edge.rppg import TraceBuffers
from edge.trace import Trace, history_s
from edge.types import Box, Reading, Status

__all__ = ["STAGES", "Pipeline", "Stages", "build_stages"]

NO_FACE_AFTER_S = 0.5
"""A reading says ``no_face`` when the last skin sample is older than this."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Stages:
    """The parts of a pipeline, in the order a frame goes through them."""

    frames: FrameCheck
    face: FaceSkin
    trace: Trace
    estimates: Estimates

    @property
    def estimators(self) -> tuple[Estimator, ...]:
        """The estimators in the order they run (SpO2 and HRV read the heart rate)."""
        return self.estimates.estimators

    @property
    def heart_rate(self) -> HeartRateStage:
        """The heart-rate estimator."""
        return self.estimates.heart_rate

    @property
    def breathing(self) -> BreathingStage:
        """The breathing-rate estimator."""
        return self.estimates.breathing

    @property
    def spo2(self) -> Spo2Stage:
        """The SpO2 estimator."""
        return self.estimates.spo2

    @property
    def hrv(self) -> HrvStage:
        """The SDNN/RMSSD estimator."""
        return self.estimates.hrv


def build_stages(config: PipelineConfig, probe: Probe) -> Stages:
    """Every stage of a pipeline for `config`, reporting its work to `probe` (the
    estimators count theirs per reading: `edge.estimate_worker.Estimates`).
    """
    rppg = config.rppg
    trace = Trace(config, probe=probe)
    blend = rppg.method == "cnn" and rppg.cnn_pos_blend_hps is not None  # by the head's speed
    face = FaceSkin(config, probe=probe, keep_s=history_s(config),
                    track_head=config.vitals.breathing,
                    on_head_speed=trace.set_head_speed if blend else None)
    return Stages(frames=FrameCheck(max_gap_s=rppg.max_gap_s), face=face, trace=trace,
                  estimates=Estimates(config))


class Pipeline:
    """Streaming vital-signs estimator for RGB frames with timestamps.

    Parameters
    ----------
    config : PipelineConfig, optional
        Defaults to ``PipelineConfig()`` (face mode, POS, 10 s window, 1 s interval).
    probe : Probe, optional
        Told each push's seconds per stage and work (e.g. `edge.probe.RecordingProbe`);
        by default nothing is recorded.

    Examples
    --------
    >>> with edge.Pipeline() as pipe:                           # doctest: +SKIP
    ...     for frame, t in source:
    ...         reading = pipe.push(frame, t)
    ...         if reading is not None:
    ...             print(reading.heart_rate_bpm, reading.status)
    """

    def __init__(self, config: PipelineConfig | None = None, *, probe: Probe | None = None):
        config = PipelineConfig() if config is None else config
        if not isinstance(config, PipelineConfig):
            raise ConfigError(f"config must be a PipelineConfig; got {type(config).__name__}")
        if probe is not None and not isinstance(probe, Probe):
            raise ConfigError(f"probe must be an edge.probe.Probe; got {type(probe).__name__}")
        self.config = config
        self.probe = Probe() if probe is None else probe
        self.stages = build_stages(config, self.probe)
        self.frames, self.face, self.trace = self.stages.frames, self.stages.face, self.stages.trace
        runner = EstimateWorker if config.rppg.estimate_in_background else InlineEstimates
        self.estimate_runner: InlineEstimates | EstimateWorker = runner(self.stages.estimates)
        """Runs each reading's estimates: inside `push`, or on a worker thread."""
        self._outbox: deque[Reading] = deque()
        self._closed = False
        self.reset()

    @property
    def spo2_ratio(self) -> float | None:
        """Red/blue ratio of ratios of the last SpO2 window measured, before calibration and
        tracking (``None`` when the last attempt measured none); what a calibration fits.
        """
        return self.stages.spo2.ratio

    @property
    def stream(self) -> TraceBuffers:
        """The pulse stream (its final samples are what the estimators read)."""
        return self.trace.stream

    @property
    def resampler(self) -> Resampler:
        """The resampler that puts skin means on the uniform grid."""
        return self.trace.resampler

    @property
    def fs(self) -> float:
        """Sampling rate of the trace, Hz."""
        return self.trace.fs

    # -- lifecycle -------------------------------------------------------------------
    def reset(self) -> None:
        """Clear buffers, the face and the rate history; the next frame starts afresh."""
        self.frames.reset()
        self.face.reset()
        self.trace.reset()
        self.estimate_runner.restart(forget=True)
        self._outbox.clear()
        self._next_output_t: float | None = None
        self._resync = False

    def warmup(self) -> None:
        """Compile (or load from the cache) the numba kernels this pipeline uses and load
        the face detector, so that the first real frame pays for neither.
        """
        self.trace.warmup()
        self.face.warmup()
        self.stages.heart_rate.warmup()

    def close(self) -> None:
        """Release resources (the workers); further `push` calls raise."""
        self._closed = True
        self.face.close()
        self.estimate_runner.close()

    def __enter__(self) -> Pipeline:
        self.warmup()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- the per-frame step ----------------------------------------------------------
    def push(self, frame: Any, timestamp_s: float) -> Reading | None:
        """Process one frame; return a `Reading` when one is due, else ``None``.

        Parameters
        ----------
        frame : np.ndarray [shape=(H, W, 3), dtype=uint8]
            RGB frame.
        timestamp_s : float
            Capture time in seconds, strictly increasing. Spacing may be irregular;
            a gap over ``config.rppg.max_gap_s`` restarts the window (status ``resync``),
            and so does a change of frame size.
        """
        if self._closed:
            raise ConfigError("push() on a closed Pipeline")
        self.probe.start()
        timer = StageTimer(self.probe)
        frame, t, broke = self.frames.check(frame, timestamp_s)
        if broke is not Break.NONE:
            self._restart(new_camera=broke is Break.FRAME_SIZE)
        timer.lap("validate")
        box = self.face.locate(frame, t)
        timer.lap("track")
        rgb = None if box is None else self.face.sample(frame, box)
        timer.lap("roi")
        if rgb is not None:
            if self.trace.gap_before(t):  # the face was gone too long to interpolate across
                self._restart()
            self.trace.push(t, rgb)
            self.face.follow_head(frame, box, t)  # type: ignore[arg-type]
        timer.lap("trace")
        reading = self._reading_if_due(t, box if rgb is not None else None)
        timer.lap("estimate")
        return None if reading is None else replace(reading, latency_ms=timer.total_ms)

    def _reading_if_due(self, t: float, box: Box | None) -> Reading | None:
        """The oldest reading ready: one the estimators finished, or one due now that needs
        no estimate (the estimators' readings come in the order they were due).
        """
        due = self._due(t, box)
        runner = self.estimate_runner
        while (estimated := runner.poll()) is not None:
            if runner.on_frame_path:  # their work was this push's
                for name, units in estimated.units.items():
                    self.probe.work(name, units)
            self._outbox.append(estimated.reading)
        if due is not None:
            self._outbox.append(due)
        return self._outbox.popleft() if self._outbox else None

    def _restart(self, *, new_camera: bool = False) -> None:
        """Start the signal again (readings say ``resync`` until it refills); a new camera
        mode forgets the face too.
        """
        if new_camera:
            self.face.reset()
        else:
            self.face.restart()
        self.trace.reset()
        self.estimate_runner.restart()
        self._resync = True

    def _due(self, t: float, box: Box | None) -> Reading | None:
        """A reading every ``output_interval_s`` (skipping intervals the stream fell behind):
        one without vitals, or ``None`` once its estimates are handed to the runner.
        """
        interval = self.config.rppg.output_interval_s
        if self._next_output_t is None:
            self._next_output_t = t + interval
            return None
        if t < self._next_output_t:
            return None
        reading = self._reading(t, box)
        behind = math.ceil((t - self._next_output_t) / interval)
        self._next_output_t += interval * max(1, behind)
        return reading

    def _reading(self, t: float, box: Box | None) -> Reading | None:
        last_skin_t = self.trace.last_sample_s
        if box is None or last_skin_t is None or t - last_skin_t > NO_FACE_AFTER_S:
            return _empty_reading(t, Status.NO_FACE, box)
        if self.trace.available_s < self.config.rppg.min_window_s:
            return _empty_reading(t, Status.RESYNC if self._resync else Status.WARMING_UP, box)
        self._resync = False
        if self.estimate_runner.on_frame_path:  # reads the live trace
            job = EstimateJob(timestamp_s=t, face_box=box, trace=self.trace,
                              head_window=self.face.head_window,
                              saturation=self.face.saturation)
        else:  # copies for the worker thread
            job = EstimateJob.snapshot(timestamp_s=t, face_box=box, trace=self.trace,
                                       face=self.face, breathing=self.stages.breathing)
            self.probe.work("estimate_handoffs", 1)
        self.estimate_runner.submit(job)
        return None


def _empty_reading(t: float, status: Status, box: Box | None) -> Reading:
    """A reading with no vitals, every vital for the same reason."""
    return Reading(timestamp_s=t, status=status, face_box=box, breathing_status=status,
                   spo2_status=status, hrv_status=status)

