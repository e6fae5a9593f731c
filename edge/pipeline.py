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

from edge.breathing import stream_breathing
from edge.buffer import Resampler
from edge.config import KalmanConfig, PipelineConfig
from edge.errors import ConfigError
from edge.filters import bandpass
from edge.head_motion import HeadMotion, HeadSpeed
from edge.heart_rate import HeartRateEstimator
from edge.kalman import ScalarKalman
from edge.pulse import analyze_pulse
from edge.rates import HR_BAND_HZ, power_spectrum, spectral_peak
from edge.roi import RoiSampler, RoiTracker
from edge.rppg import PulseStream
from edge.spo2 import (
    DEFAULT_CALIBRATION,
    UNCALIBRATED_QUALITY_CAP,
    load_calibration,
    ratio_of_ratios,
    ratio_quality,
)
from edge.types import Box, Reading, Status
from edge.validate import valid_frame, valid_timestamp

__all__ = ["STAGES", "Pipeline"]

STAGES = ("validate", "track", "roi", "trace", "estimate")
"""Names of the per-frame stages timed in `Pipeline.stage_s`, in order."""
WORK = ("detector_pixels", "near_detections", "roi_pixels", "trace_samples", "estimates",
        "vital_estimates", "hrv_analyses", "head_motion_updates")
"""Work done during the last `push`, counted in `Pipeline.work` (for cost models)."""

NO_FACE_AFTER_S = 0.5
"""A reading says ``no_face`` when the last skin sample is older than this."""
BREATHING_TRACKING = KalmanConfig(q=0.05, r_min=0.25, r_max=25.0, max_gap_s=math.inf)
"""Kalman tuning of the breathing rate (breaths/min): slow changes, R from its quality."""
SPO2_TRACKING = KalmanConfig(q=0.0005, r_min=10.0, r_max=100.0, max_gap_s=math.inf)
"""Kalman tuning of SpO2 (%): one 10 s window scatters by ~1 point, and readings 1 s
apart share 90 % of their samples, so each counts for little (large R); desaturation
is slow. Tuned on simulator clips: MAE 0.93 -> 0.73 points against q=0.002, R>=0.5."""
SATURATION_SMOOTHING = 0.02
"""Per-frame weight of the newest saturated-pixel fraction in its running mean (~2 s)."""


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
        vitals = config.vitals
        longest_s = max(rppg.long_window_s, vitals.breathing_window_s * vitals.breathing,
                        vitals.hrv_window_s * vitals.hrv)
        keep_s = longest_s + 2 * rppg.projection_window_s
        if rppg.method == "cnn":  # ONNX Runtime / LiteRT load only for this method
            from edge.cnn import CnnPulseStream

            self.stream = CnnPulseStream.from_config(rppg, keep_s=keep_s)
        else:
            self.stream = PulseStream(rppg.method, fs=self.fs,
                                      window_s=rppg.projection_window_s, keep_s=keep_s)
        self.heart_rate = HeartRateEstimator(rppg)
        self.hr_tracker = ScalarKalman(config.kalman) if config.kalman.enabled else None
        self.br_tracker = ScalarKalman(BREATHING_TRACKING) if vitals.track else None
        self.spo2_tracker = ScalarKalman(SPO2_TRACKING) if vitals.track else None
        self.spo2_ratio: float | None = None
        """Red/blue ratio of ratios of the last reading's SpO2 window, before calibration
        and tracking (``None`` when none was measured); what a calibration is fitted to."""
        self.spo2_calibration = (DEFAULT_CALIBRATION if vitals.spo2_calibration is None
                                 else load_calibration(vitals.spo2_calibration))
        self.resampler = Resampler(fs=self.fs, emit=self.stream.push)
        self.head_motion = HeadMotion()
        self.head_speed = HeadSpeed(window_s=rppg.projection_window_s)
        self._speed_to_stream = rppg.method == "cnn" and rppg.cnn_pos_blend_hps is not None
        """Give the CNN stream the head speed (it blends towards POS under motion)."""
        self._track_head = vitals.breathing or self._speed_to_stream
        self._head_px = np.zeros((round(4 * keep_s * self.fs), 3))
        """Ring of (timestamp_s, horizontal and vertical displacement of the face) per frame,
        for breathing and the CNN method's head speed (room for frames at up to 4x `fs`);
        `_head_count` rows written so far."""
        self._head_count = 0
        self._gain = np.ones(3)
        self._new_rgb = np.zeros(3)
        self._corrected = np.zeros(3)
        self.stage_s = np.zeros(len(STAGES))
        """Seconds spent in each of `STAGES` during the last `push`."""
        self.vital_estimates = 0
        """Breathing-rate and SpO2 estimates so far (each counts one; a work counter)."""
        self.hrv_analyses = 0
        """Beat analyses for SDNN/RMSSD so far (a work counter)."""
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
        self._frame_shape: tuple[int, ...] | None = None
        self._next_output_t: float | None = None
        self._resync = False
        self.heart_rate.reset()
        for tracker in (self.hr_tracker, self.br_tracker, self.spo2_tracker):
            if tracker is not None:
                tracker.reset()

    def _restart_signal(self) -> None:
        self.resampler.reset()
        self.stream.reset()
        self.head_motion.reset()
        self.head_speed.reset()
        self._head_count = 0
        self._last_box: Box | None = None
        self._gain[:] = 1.0
        self._saturation = 0.0
        self._hrv: tuple[float | None, float | None, float, Status] = (
            None, None, 0.0, Status.WARMING_UP)
        self._hrv_due_s = -math.inf

    def warmup(self) -> None:
        """Compile (or load from the cache) the numba kernels this pipeline uses and load
        the face detector, so that the first real frame pays for neither.
        """
        from edge.rppg import extract_pulse

        rgb = 100.0 + np.random.default_rng(0).random((64, 3))
        if self.config.rppg.method == "cnn":
            self.stream.warmup()
        else:
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
            a gap over ``config.rppg.max_gap_s`` restarts the window (status ``resync``),
            and so does a change of frame size.
        """
        if self._closed:
            raise ConfigError("push() on a closed Pipeline")
        clock = time.perf_counter
        t_start = clock()
        work, detector = self.work, self.tracker.detector
        work[0], work[1] = detector.pixels, detector.near_searches
        work[2] = self.sampler.pixels_scanned
        work[3] = self.resampler.emitted_total
        work[5], work[6] = self.vital_estimates, self.hrv_analyses
        frame = valid_frame(frame)
        t = valid_timestamp(timestamp_s, self._last_t)
        if self._last_t is not None and t - self._last_t > self.config.rppg.max_gap_s:
            self._restart_signal()
            self._resync = True
        if frame.shape != self._frame_shape:
            if self._frame_shape is not None:  # a new camera mode: nothing carries over
                self.tracker.reset()
                self._restart_signal()
                self._resync = True
            self._frame_shape = frame.shape
        self._last_t = t
        t1 = clock()
        box = self.tracker.update(frame)
        t2 = clock()
        rgb = None if box is None else self._sample(frame, box)
        t3 = clock()
        work[7] = 0
        if rgb is not None:
            self._add_sample(t, rgb)
            if self._track_head:  # box is set when rgb is
                row = self._head_px[self._head_count % self._head_px.shape[0]]
                row[0] = t
                row[1], row[2] = self.head_motion.update(frame, box)  # type: ignore[arg-type]
                self._head_count += 1
                work[7] = 1
                if self._speed_to_stream:
                    self.stream.head_speed_hps = self.head_speed.update(  # type: ignore[union-attr]
                        t, row[1], box.height)  # type: ignore[union-attr]
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
        work[5] = self.vital_estimates - work[5]
        work[6] = self.hrv_analyses - work[6]
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
        self._saturation += SATURATION_SMOOTHING * (self.sampler.saturated_fraction
                                                    - self._saturation)
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
            return _empty_reading(t, Status.NO_FACE, box)
        available_s = self.stream.final_count / self.fs
        if available_s < rppg.min_window_s:
            status = Status.RESYNC if self._resync else Status.WARMING_UP
            return _empty_reading(t, status, box)
        self._resync = False
        hr = self.heart_rate.estimate(self.stream, t)
        rate = self._track(t, hr.heart_rate_bpm, hr.snr_db, hr.window_s)
        status = Status.OK if rate is not None else Status.LOW_QUALITY
        quality = hr.quality if rate is not None else 0.0
        return Reading(timestamp_s=t, heart_rate_bpm=rate, quality=quality, status=status,
                       face_box=box, **self._breathing(t), **self._spo2(t, rate, quality),
                       **self._hrv_fields(t, rate))

    def _window(self, seconds: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Views (rgb, pulse) of the newest `seconds` of final samples, or ``None`` if short."""
        n = round(seconds * self.fs)
        end = self.stream.final_count
        if end < n:
            return None
        return self.stream.rgb[end - n : end], self.stream.pulse[end - n : end]

    def _breathing(self, t: float) -> dict[str, Any]:
        vitals = self.config.vitals
        if not vitals.breathing:
            return {"breathing_status": Status.LOW_QUALITY}
        available_s = self.stream.final_count / self.fs
        if available_s < vitals.breathing_min_window_s:
            return {"breathing_status": Status.WARMING_UP}
        rgb, _ = self._window(min(available_s, vitals.breathing_window_s))  # type: ignore[misc]
        estimate = stream_breathing(rgb, fs=self.fs, **self._head_motion(rgb.shape[0]))
        self.vital_estimates += 1
        rate = _tracked(self.br_tracker, t, estimate.breathing_rate_bpm, estimate.quality)
        if rate is None:
            return {"breathing_status": Status.LOW_QUALITY}
        return {"breathing_rate_bpm": rate, "breathing_quality": estimate.quality,
                "breathing_status": Status.OK}

    def _head_motion(self, n: int) -> dict[str, Any]:
        """The newest `n` samples of the face's motion at `fs`, and its height."""
        size = self._head_px.shape[0]
        if self._head_count < 8 or self._last_box is None:
            return {}
        if self._head_count <= size:
            t, x_px, y_px = self._head_px[: self._head_count].T
        else:  # oldest first
            t, x_px, y_px = np.roll(self._head_px, -(self._head_count % size), axis=0).T
        grid = t[-1] - np.arange(n)[::-1] / self.fs
        if grid[0] < t[0]:
            return {}
        return {"horizontal_px": np.interp(grid, t, x_px),
                "vertical_px": np.interp(grid, t, y_px),
                "face_height_px": float(self._last_box.height)}

    def _spo2(self, t: float, heart_rate_bpm: float | None, hr_quality: float) -> dict[str, Any]:
        vitals = self.config.vitals
        calibration = self.spo2_calibration
        withheld = {"spo2_status": Status.LOW_QUALITY}
        if not vitals.spo2:
            return withheld
        window = self._window(vitals.spo2_window_s)
        if window is None:
            return {"spo2_status": Status.WARMING_UP}
        spo2 = quality = self.spo2_ratio = None
        if heart_rate_bpm is not None and self._saturation <= vitals.max_saturated_fraction:
            estimate = ratio_of_ratios(*window, fs=self.fs, heart_rate_bpm=heart_rate_bpm)
            self.vital_estimates += 1
            if estimate is not None:
                self.spo2_ratio = estimate.ratio
                quality = hr_quality * ratio_quality(estimate)
                spo2 = calibration.spo2_pct(estimate.ratio) if quality > 0.0 else None
        spo2 = _tracked(self.spo2_tracker, t, spo2, quality)
        if spo2 is None:
            return withheld
        if not calibration.calibrated:
            quality = min(quality, UNCALIBRATED_QUALITY_CAP)  # type: ignore[type-var]
        return {"spo2_pct": min(100.0, spo2), "spo2_calibrated": calibration.calibrated,
                "spo2_quality": quality, "spo2_status": Status.OK}

    def _hrv_fields(self, t: float, heart_rate_bpm: float | None) -> dict[str, Any]:
        """SDNN and RMSSD, recomputed every ``hrv_interval_s`` over ``hrv_window_s``."""
        vitals = self.config.vitals
        if not vitals.hrv or heart_rate_bpm is None:
            return {"hrv_status": Status.LOW_QUALITY}
        if t >= self._hrv_due_s:
            self._hrv_due_s = t + vitals.hrv_interval_s
            window = self._window(vitals.hrv_window_s)
            if window is None:
                self._hrv = (None, None, 0.0, Status.WARMING_UP)
            else:
                self._hrv = _hrv_of(*window, fs=self.fs)
                self.hrv_analyses += 1
        sdnn, rmssd, quality, status = self._hrv
        return {"sdnn_ms": sdnn, "rmssd_ms": rmssd, "hrv_quality": quality, "hrv_status": status}

    def _track(self, t: float, rate_bpm: float | None, snr_db: float,
               window_s: float) -> float | None:
        """The Kalman-tracked heart rate at `t`, or ``None``.

        A spectral estimate describes the middle of its window, ``window_s / 2`` before
        `t` (plus the projection's latency): the tracker takes it at that time and the
        reading is its prediction for `t`, rate plus slope times that delay, so a ramp
        is not reported seconds late. The slope is shrunk by how well it is known,
        ``s²/(s² + var(s))``: a slope lost in its own noise (a steady rate, or the first
        estimates after a gap) would otherwise have its noise multiplied by the ~7 s delay;
        a ramp's slope passes nearly whole. A missing estimate only advances the tracker (no
        extrapolated value comes out); an estimate the innovation gate rejects comes out
        as ``None`` too, until repeated rejections re-initialise the tracker on it.
        """
        tracker = self.hr_tracker
        if tracker is None:
            return rate_bpm
        measured_t = t - 0.5 * window_s - self.config.rppg.projection_window_s
        if tracker.t_s is not None:
            measured_t = max(measured_t, tracker.t_s)
        if rate_bpm is None:
            tracker.update(measured_t, None)
            return None
        tracked = tracker.update(measured_t, rate_bpm, snr_db=snr_db)
        if tracked is None or not (tracked.accepted or tracked.reinitialised):
            return None
        slope = tracked.rate_per_s
        slope_var = tracker.P[1, 1]
        if slope * slope + slope_var > 0.0:
            slope *= slope * slope / (slope * slope + slope_var)
        return tracked.rate + slope * (t - measured_t)


def _hrv_of(rgb: np.ndarray, pulse: np.ndarray, *,
            fs: float) -> tuple[float | None, float | None, float, Status]:
    """SDNN, RMSSD, quality and status from the cleaner of two waveforms of a window.

    Beat timing needs the highest pulse SNR more than motion robustness: on a still
    face the green channel (inverted: blood absorbs) carries about three times the
    pulse-to-noise of POS, whose projection mixes in the weaker red and blue, and
    POS's beat times jitter by tens of ms. The one with the higher spectral SNR gets
    the beat analysis (POS when motion dominates the green channel; one analysis, ~3 ms
    on x86, every ``hrv_interval_s``). Both are first limited to the heart band
    (`HR_BAND_HZ`): at camera rates the harmonics above it add more timing noise than
    shape (RMSSD 54 ms with them, 43 ms without, 40 ms true, on the tests' synthetic
    skin clip).
    """
    mean_green = rgb[:, 1].mean()
    candidates = [pulse] if mean_green <= 0.0 else [pulse, 1.0 - rgb[:, 1] / mean_green]
    high_hz = min(HR_BAND_HZ[1], 0.45 * fs)
    waves = [bandpass(x, fs=fs, low_hz=HR_BAND_HZ[0], high_hz=high_hz) for x in candidates]
    best = analyze_pulse(max(waves, key=lambda x: _pulse_snr_db(x, fs)), fs=fs)
    if best.sdnn_ms is None:
        return None, None, 0.0, Status.LOW_QUALITY
    return best.sdnn_ms, best.rmssd_ms, best.quality, Status.OK


def _pulse_snr_db(wave: np.ndarray, fs: float) -> float:
    """Spectral SNR of the heart-rate peak of a waveform (-inf without a peak)."""
    freq, power = power_spectrum(wave, fs)
    peak = spectral_peak(freq, power, HR_BAND_HZ)
    return -math.inf if peak is None else peak.snr_db


def _tracked(tracker: ScalarKalman | None, t: float, value: float | None,
             quality: float | None) -> float | None:
    """`value` through `tracker` (if any): ``None`` when missing or gated out, except
    that repeated rejections re-initialise the tracker on the new value.
    """
    if tracker is None or value is None:
        if tracker is not None:
            tracker.update(t, None)
        return value
    tracked = tracker.update(t, value, quality=quality)
    if tracked is None or not (tracked.accepted or tracked.reinitialised):
        return None
    return tracked.rate


def _empty_reading(t: float, status: Status, box: Box | None) -> Reading:
    """A reading with no vitals, every vital for the same reason."""
    return Reading(timestamp_s=t, status=status, face_box=box, breathing_status=status,
                   spo2_status=status, hrv_status=status)


def _with_latency(reading: Reading, latency_ms: float) -> Reading:
    return replace(reading, latency_ms=latency_ms)
