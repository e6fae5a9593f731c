"""The streaming pipeline: ``reading = pipe.push(frame_rgb, timestamp_s)``.

One synchronous step per frame, no threads and no clock of its own, so that tests and
`firmware_sim` can drive it frame by frame and time every stage:

    frame -> face box (RoiTracker) -> skin mean RGB (RoiSampler, numba)
          -> uniform trace (Resampler) -> pulse (PulseStream: POS, CHROM, ...)
          -> every output interval: heart rate from the spectrum + SNR quality
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from types import TracebackType
from typing import Any

import numpy as np

from edge.buffer import Resampler
from edge.config import PipelineConfig
from edge.errors import ConfigError
from edge.heart_rate import HeartRateEstimator
from edge.kalman import ScalarKalman
from edge.roi import RoiSampler, RoiTracker
from edge.rppg import PulseStream
from edge.types import Box, Reading, Status
from edge.validate import valid_frame, valid_timestamp

__all__ = ["STAGES", "Pipeline"]

STAGES = ("validate", "track", "roi", "trace", "estimate")
"""Names of the per-frame stages timed in `Pipeline.stage_s`, in order."""
WORK = ("detector_pixels", "near_detections", "roi_pixels", "trace_samples", "estimates")
"""Work done during the last `push`, counted in `Pipeline.work` (for cost models)."""

NO_FACE_AFTER_S = 0.5
"""A reading says ``no_face`` when the last skin sample is older than this."""


class Pipeline:
    """Streaming vital-signs estimator for RGB frames with timestamps.

    Parameters
    ----------
    config : PipelineConfig, optional
        Defaults to ``PipelineConfig()`` (face mode, POS, 10 s window, 1 s interval).

    Examples
    --------
    >>> with edge.Pipeline() as pipe:                           # doctest: +SKIP
    ...     for frame, t in source:
    ...         reading = pipe.push(frame, t)
    ...         if reading is not None:
    ...             print(reading.heart_rate_bpm, reading.status)
    """

    def __init__(self, config: PipelineConfig | None = None):
        config = PipelineConfig() if config is None else config
        if not isinstance(config, PipelineConfig):
            raise ConfigError(f"config must be a PipelineConfig; got {type(config).__name__}")
        self.config = config
        rppg = config.rppg
        self.fs = rppg.sample_rate_hz
        self.tracker = RoiTracker(config.roi)
        self.sampler = RoiSampler(config.roi)
        self.stream = PulseStream(rppg.method, fs=self.fs, window_s=rppg.projection_window_s,
                                  keep_s=rppg.long_window_s + 2 * rppg.projection_window_s)
        self.heart_rate = HeartRateEstimator(rppg)
        self.hr_tracker = ScalarKalman(config.kalman) if config.kalman.enabled else None
        self.resampler = Resampler(fs=self.fs, emit=self.stream.push)
        self._gain = np.ones(3)
        self._new_rgb = np.zeros(3)
        self._corrected = np.zeros(3)
        self.stage_s = np.zeros(len(STAGES))
        """Seconds spent in each of `STAGES` during the last `push`."""
        self.work = np.zeros(len(WORK), dtype=np.int64)
        """Units of each kind of `WORK` done during the last `push`."""
        self._closed = False
        self.reset()

    # -- lifecycle -------------------------------------------------------------------
    def reset(self) -> None:
        """Clear buffers, the face and the rate history; the next frame starts afresh."""
        self.tracker.reset()
        self._restart_signal()
        self._last_t: float | None = None
        self._next_output_t: float | None = None
        self._resync = False
        self.heart_rate.reset()
        if self.hr_tracker is not None:
            self.hr_tracker.reset()

    def _restart_signal(self) -> None:
        self.resampler.reset()
        self.stream.reset()
        self._last_box: Box | None = None
        self._gain[:] = 1.0

    def warmup(self) -> None:
        """Compile (or load from the cache) the numba kernels this pipeline uses and load
        the face detector, so that the first real frame pays for neither.
        """
        from edge.rppg import extract_pulse

        rgb = 100.0 + np.random.default_rng(0).random((64, 3))
        extract_pulse(rgb, fs=30.0, method=self.config.rppg.method)
        frame = np.full((64, 64, 3), 128, dtype=np.uint8)
        RoiSampler(self.config.roi).sample(frame, Box(0, 0, 64, 64))
        if self.hr_tracker is not None:
            tracker = ScalarKalman(self.config.kalman)
            tracker.update(0.0, 70.0, snr_db=3.0)
            tracker.update(1.0, 71.0, snr_db=3.0)
        if self.config.roi.mode == "face":
            self.tracker.detector.detect(frame)

    def close(self) -> None:
        """Release resources; further `push` calls raise."""
        self._closed = True

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
            a gap over ``config.rppg.max_gap_s`` restarts the window (status ``resync``).
        """
        if self._closed:
            raise ConfigError("push() on a closed Pipeline")
        clock = time.perf_counter
        t_start = clock()
        work, detector = self.work, self.tracker.detector
        work[0], work[1] = detector.pixels, detector.near_searches
        work[2] = self.sampler.pixels_scanned
        work[3] = self.resampler.emitted_total
        frame = valid_frame(frame)
        t = valid_timestamp(timestamp_s, self._last_t)
        if self._last_t is not None and t - self._last_t > self.config.rppg.max_gap_s:
            self._restart_signal()
            self._resync = True
        self._last_t = t
        t1 = clock()
        box = self.tracker.update(frame)
        t2 = clock()
        rgb = None if box is None else self._sample(frame, box)
        t3 = clock()
        if rgb is not None:
            self._add_sample(t, rgb)
        t4 = clock()
        reading = None
        if self._next_output_t is None:
            self._next_output_t = t + self.config.rppg.output_interval_s
        elif t >= self._next_output_t:
            reading = self._estimate(t, box if rgb is not None else None)
            interval = self.config.rppg.output_interval_s
            behind = math.ceil((t - self._next_output_t) / interval)
            self._next_output_t += interval * max(1, behind)
        t5 = clock()
        work[0] = detector.pixels - work[0]
        work[1] = detector.near_searches - work[1]
        work[2] = self.sampler.pixels_scanned - work[2]
        work[3] = self.resampler.emitted_total - work[3]
        work[4] = reading is not None and reading.status in (Status.OK, Status.LOW_QUALITY)
        stage = self.stage_s
        stage[0], stage[1], stage[2] = t1 - t_start, t2 - t1, t3 - t2
        stage[3], stage[4] = t4 - t3, t5 - t4
        if reading is not None:
            reading = _with_latency(reading, 1000.0 * (t5 - t_start))
        return reading

    def _sample(self, frame: np.ndarray, box: Box) -> np.ndarray | None:
        """Skin mean RGB in `box`, made continuous across box changes.

        When the tracker moves the box, the mean steps (other pixels). Sampling the
        same frame with the old box too gives the step as a per-channel ratio; the
        running gain absorbs it, so only changes over time reach the pulse.
        """
        rgb = self.sampler.sample(frame, box)
        if rgb is None:
            self._last_box = None
            return None
        if self._last_box is not None and box != self._last_box:
            self._new_rgb[:] = rgb
            old = self.sampler.sample(frame, self._last_box)
            if old is not None and np.all(self._new_rgb > 0):
                self._gain *= old / self._new_rgb
            rgb = self._new_rgb
        self._last_box = box
        np.multiply(rgb, self._gain, out=self._corrected)
        return self._corrected

    def _add_sample(self, t: float, rgb: np.ndarray) -> None:
        last = self.resampler.last_timestamp_s
        if last is not None and t - last > self.config.rppg.max_gap_s:
            self._restart_signal()  # the face was gone too long to interpolate across
            self._resync = True
        self.resampler.push(t, rgb)

    # -- estimation ------------------------------------------------------------------
    def _estimate(self, t: float, box: Box | None) -> Reading:
        rppg = self.config.rppg
        last_skin_t = self.resampler.last_timestamp_s
        if box is None or last_skin_t is None or t - last_skin_t > NO_FACE_AFTER_S:
            return Reading(timestamp_s=t, status=Status.NO_FACE, face_box=box)
        available_s = self.stream.final_count / self.fs
        if available_s < rppg.min_window_s:
            status = Status.RESYNC if self._resync else Status.WARMING_UP
            return Reading(timestamp_s=t, status=status, face_box=box)
        self._resync = False
        hr = self.heart_rate.estimate(self.stream, t)
        rate = self._track(t, hr.heart_rate_bpm, hr.snr_db)
        status = Status.OK if rate is not None else Status.LOW_QUALITY
        quality = hr.quality if rate is not None else 0.0
        return Reading(timestamp_s=t, heart_rate_bpm=rate, quality=quality, status=status,
                       face_box=box)

    def _track(self, t: float, rate_bpm: float | None, snr_db: float) -> float | None:
        """The Kalman-tracked heart rate, or ``None``.

        A missing estimate only advances the tracker (no extrapolated value comes out);
        an estimate the innovation gate rejects comes out as ``None`` too, until repeated
        rejections re-initialise the tracker on the new rate.
        """
        if self.hr_tracker is None:
            return rate_bpm
        if rate_bpm is None:
            self.hr_tracker.update(t, None)
            return None
        tracked = self.hr_tracker.update(t, rate_bpm, snr_db=snr_db)
        if tracked is None or not (tracked.accepted or tracked.reinitialised):
            return None
        return tracked.rate


def _with_latency(reading: Reading, latency_ms: float) -> Reading:
    return replace(reading, latency_ms=latency_ms)
