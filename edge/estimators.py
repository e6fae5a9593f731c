"""The estimate stage: each vital from the trace, as the fields of a `Reading`.

Each estimator has ``estimate(t, trace, fields) -> dict`` (its fields of the reading;
`fields` holds those of the estimators before it: SpO2 and HRV need the heart rate),
``restart()`` when the signal starts again and ``reset()`` to forget everything.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from edge.breathing import stream_breathing
from edge.config import KalmanConfig, PipelineConfig
from edge.filters import bandpass
from edge.heart_rate import HeartRateEstimator, HeartRateTracker
from edge.kalman import ScalarKalman
from edge.probe import Probe
from edge.pulse import analyze_pulse
from edge.rates import HR_BAND_HZ, power_spectrum, spectral_peak
from edge.spo2 import (
    DEFAULT_CALIBRATION,
    UNCALIBRATED_QUALITY_CAP,
    load_calibration,
    ratio_of_ratios,
    ratio_quality,
)
from edge.trace import Trace
from edge.types import Status

__all__ = ["BREATHING_CONFIRM_BPM", "BREATHING_TRACKING", "SPO2_TRACKING", "BreathingStage",
           "HeartRateStage", "HrvStage", "Spo2Stage", "hrv_from_window"]

BREATHING_TRACKING = KalmanConfig(q=0.05, r_min=0.25, r_max=25.0, max_gap_s=math.inf)
"""Kalman tuning of the breathing rate (breaths/min): slow changes, R from its quality."""
BREATHING_CONFIRM_BPM = 1.0
"""A breathing rate after none is given only when the previous window's estimate agrees
within this many breaths/min, so that a lone value of one window (under head motion, often
a motion line) is not given."""
SPO2_TRACKING = KalmanConfig(q=0.0005, r_min=10.0, r_max=100.0, max_gap_s=math.inf)
"""Kalman tuning of SpO2 (%): one window scatters by about a point, and readings 1 s apart
share most of their samples, so each counts for little (large R); desaturation is slow."""
Fields = dict[str, Any]


class Estimator:
    """Base of the estimators: nothing to forget."""

    def restart(self) -> None:
        """The signal starts again."""

    def reset(self) -> None:
        """Forget everything."""
        self.restart()


class HeartRateStage(Estimator):
    """Heart rate, quality and status; Kalman-tracked when ``config.kalman.enabled``."""

    def __init__(self, config: PipelineConfig, *, probe: Probe):
        self.probe = probe
        self.estimator = HeartRateEstimator(config.rppg)
        self.tracker = (HeartRateTracker(config.kalman,
                                         projection_window_s=config.rppg.projection_window_s)
                        if config.kalman.enabled else None)

    def reset(self) -> None:
        """Forget the previous rate and the tracker's state."""
        self.estimator.reset()
        if self.tracker is not None:
            self.tracker.reset()

    def warmup(self) -> None:
        """Compile (or load) the tracker's kernel on a tracker of its own."""
        if self.tracker is not None:
            kalman = ScalarKalman(self.tracker.kalman.config)
            kalman.update(0.0, 70.0, snr_db=3.0)
            kalman.update(1.0, 71.0, snr_db=3.0)

    def estimate(self, t: float, trace: Trace, fields: Fields) -> Fields:
        """``heart_rate_bpm``, ``quality`` and ``status`` at `t`."""
        hr = self.estimator.estimate(trace.stream, t)
        self.probe.work("estimates", 1)
        rate = hr.heart_rate_bpm
        if self.tracker is not None:
            rate = self.tracker.update(t, rate, snr_db=hr.snr_db, window_s=hr.window_s)
        if rate is None:
            return {"heart_rate_bpm": None, "quality": 0.0, "status": Status.LOW_QUALITY}
        return {"heart_rate_bpm": rate, "quality": hr.quality, "status": Status.OK}


class BreathingStage(Estimator):
    """Breathing rate from the newest ``breathing_window_s``, with the head's motion."""

    def __init__(self, config: PipelineConfig, *, probe: Probe,
                 head_window: Callable[[int, float], Fields]):
        self.vitals = config.vitals
        self.probe = probe
        self.head_window = head_window
        self.tracker = ScalarKalman(BREATHING_TRACKING) if self.vitals.track else None
        self.restart()

    def restart(self) -> None:
        """Forget the last estimate: the next rate needs confirming again."""
        self._last_bpm: float | None = None
        self._giving = False

    def reset(self) -> None:
        """Forget the tracker's state and the last estimate."""
        if self.tracker is not None:
            self.tracker.reset()
        self.restart()

    def _confirmed(self, rate_bpm: float | None) -> bool:
        """Whether `rate_bpm` may be given: rates are being given, or the previous estimate
        agrees with it (`BREATHING_CONFIRM_BPM`).
        """
        last, self._last_bpm = self._last_bpm, rate_bpm
        if rate_bpm is None:
            self._giving = False
            return False
        self._giving = self._giving or (
            last is not None and abs(rate_bpm - last) <= BREATHING_CONFIRM_BPM)
        return self._giving

    def window_s(self, trace: Trace) -> float | None:
        """Seconds of `trace` the next estimate reads (``None``: too few yet, or off)."""
        vitals, available_s = self.vitals, trace.available_s
        if not vitals.breathing or available_s < vitals.breathing_min_window_s:
            return None
        return min(available_s, vitals.breathing_window_s)

    def estimate(self, t: float, trace: Trace, fields: Fields) -> Fields:
        """``breathing_rate_bpm`` and its quality, status and reason at `t`."""
        if not self.vitals.breathing:
            return {"breathing_status": Status.LOW_QUALITY, "breathing_reason": "off"}
        seconds = self.window_s(trace)
        if seconds is None:
            return {"breathing_status": Status.WARMING_UP}
        rgb, _ = trace.window(seconds)  # type: ignore[misc]
        estimate = stream_breathing(rgb, fs=trace.fs,
                                    **self.head_window(rgb.shape[0], trace.fs))
        self.probe.work("vital_estimates", 1)
        if not self._confirmed(estimate.breathing_rate_bpm):
            _tracked(self.tracker, t, None, None)
            reason = "no_rhythm" if estimate.breathing_rate_bpm is None else "unconfirmed"
            return {"breathing_status": Status.LOW_QUALITY, "breathing_reason": reason}
        rate = _tracked(self.tracker, t, estimate.breathing_rate_bpm, estimate.quality)
        if rate is None:
            self._giving = False
            return {"breathing_status": Status.LOW_QUALITY, "breathing_reason": "rejected"}
        return {"breathing_rate_bpm": rate, "breathing_quality": estimate.quality,
                "breathing_status": Status.OK}


class Spo2Stage(Estimator):
    """SpO2 by the ratio of ratios over ``spo2_window_s``, at the heart rate's quality.

    Withheld without a heart rate and while the ROI's running saturated fraction
    (`saturation`, a callable) is above ``max_saturated_fraction``.
    """

    def __init__(self, config: PipelineConfig, *, probe: Probe,
                 saturation: Callable[[], float]):
        self.vitals = config.vitals
        self.probe = probe
        self.saturation = saturation
        self.tracker = ScalarKalman(SPO2_TRACKING) if self.vitals.track else None
        self.calibration = (DEFAULT_CALIBRATION if self.vitals.spo2_calibration is None
                            else load_calibration(self.vitals.spo2_calibration))
        self.ratio: float | None = None
        """Ratio of ratios of the last window measured, before calibration and tracking."""

    def reset(self) -> None:
        """Forget the tracker's state."""
        if self.tracker is not None:
            self.tracker.reset()

    def estimate(self, t: float, trace: Trace, fields: Fields) -> Fields:
        """``spo2_pct``, ``spo2_calibrated`` and SpO2's quality, status and reason at `t`."""
        vitals, calibration = self.vitals, self.calibration
        if not vitals.spo2:
            return {"spo2_status": Status.LOW_QUALITY, "spo2_reason": "off"}
        window = trace.window(vitals.spo2_window_s)
        if window is None:
            return {"spo2_status": Status.WARMING_UP}
        heart_rate_bpm = fields["heart_rate_bpm"]
        spo2 = quality = self.ratio = None
        if heart_rate_bpm is None:
            reason = "no_heart_rate"
        elif self.saturation() > vitals.max_saturated_fraction:
            reason = "saturated"
        else:
            estimate = ratio_of_ratios(*window, fs=trace.fs, heart_rate_bpm=heart_rate_bpm)
            self.probe.work("vital_estimates", 1)
            reason = "too_noisy"  # red and blue out of phase, or noise swamps their AC
            if estimate is not None:
                self.ratio = estimate.ratio
                quality = fields["quality"] * ratio_quality(estimate)
                reason = "weak_pulse"
                if quality > 0.0:
                    spo2 = calibration.spo2_pct(estimate.ratio)
                    reason = "out_of_range"
        tracked = _tracked(self.tracker, t, spo2, quality)
        if tracked is None:
            reason = "rejected" if spo2 is not None else reason
            return {"spo2_status": Status.LOW_QUALITY, "spo2_reason": reason}
        if not calibration.calibrated:
            quality = min(quality, UNCALIBRATED_QUALITY_CAP)  # type: ignore[type-var]
        return {"spo2_pct": min(100.0, tracked), "spo2_calibrated": calibration.calibrated,
                "spo2_quality": quality, "spo2_status": Status.OK}


class HrvStage(Estimator):
    """SDNN and RMSSD, recomputed every ``hrv_interval_s`` over ``hrv_window_s``."""

    def __init__(self, config: PipelineConfig, *, probe: Probe):
        self.vitals = config.vitals
        self.probe = probe
        self.restart()

    def restart(self) -> None:
        """Forget the last analysis; the next reading with a heart rate makes one."""
        self._last: tuple[float | None, float | None, float, Status, str | None] = (
            None, None, 0.0, Status.WARMING_UP, None)
        self._due_s = -math.inf

    def estimate(self, t: float, trace: Trace, fields: Fields) -> Fields:
        """``sdnn_ms``, ``rmssd_ms`` and their quality, status and reason at `t`."""
        vitals = self.vitals
        if not vitals.hrv:
            return {"hrv_status": Status.LOW_QUALITY, "hrv_reason": "off"}
        if fields["heart_rate_bpm"] is None:
            return {"hrv_status": Status.LOW_QUALITY, "hrv_reason": "no_heart_rate"}
        if t >= self._due_s:
            self._due_s = t + vitals.hrv_interval_s
            window = trace.window(vitals.hrv_window_s)
            if window is None:
                self._last = (None, None, 0.0, Status.WARMING_UP, None)
            else:
                self._last = hrv_from_window(*window, fs=trace.fs)
                self.probe.work("hrv_analyses", 1)
        sdnn, rmssd, quality, status, reason = self._last
        return {"sdnn_ms": sdnn, "rmssd_ms": rmssd, "hrv_quality": quality, "hrv_status": status,
                "hrv_reason": reason}


def hrv_from_window(rgb: np.ndarray, pulse: np.ndarray, *, fs: float
                    ) -> tuple[float | None, float | None, float, Status, str | None]:
    """SDNN (ms), RMSSD (ms), quality, status and reason of one window of the trace.

    The reason is ``None`` with an SDNN, else `analyze_pulse`'s ``hrv_status`` (why not).

    Beat timing needs the highest pulse SNR more than motion robustness: of the pulse and
    the inverted green channel (blood absorbs green; on a still face it carries more of
    the pulse than a projection mixing in red and blue), the one with the higher spectral
    SNR gets the beat analysis (`edge.pulse.analyze_pulse`). Both are first limited to the
    heart band (`HR_BAND_HZ`): at camera rates the harmonics add more timing noise than shape.

    Parameters
    ----------
    rgb : np.ndarray [shape=(n, 3)]
        ROI-mean R, G, B at `fs`.
    pulse : np.ndarray [shape=(n,)]
        The projected pulse of the same samples.
    fs : float
        Sampling rate in Hz.
    """
    mean_green = rgb[:, 1].mean()
    candidates = [pulse] if mean_green <= 0.0 else [pulse, 1.0 - rgb[:, 1] / mean_green]
    high_hz = min(HR_BAND_HZ[1], 0.45 * fs)
    waves = [bandpass(x, fs=fs, low_hz=HR_BAND_HZ[0], high_hz=high_hz) for x in candidates]
    best = analyze_pulse(max(waves, key=lambda x: _pulse_snr_db(x, fs)), fs=fs)
    if best.sdnn_ms is None:  # no clean beats, or timing noise as large as the variability
        return None, None, 0.0, Status.LOW_QUALITY, best.hrv_status
    return best.sdnn_ms, best.rmssd_ms, best.hrv_quality, Status.OK, None


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
