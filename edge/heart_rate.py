"""Heart rate from the streaming pulse: spectral peak, soft tracking, adaptive window.

`HeartRateEstimator` reads the newest ``hr_window_s`` of the pulse: a motion gate on the
ROI brightness first (motion or changing light dominating the band means no rate), then
the Hann periodogram's peak, weighted towards the previous rate (re-locking onto a
clearly stronger peak after `RELOCK_TICKS` readings), with an SNR gate that follows the
window; below the gate it retries on ``long_window_s`` and keeps that only if it agrees
with the short window. `HeartRateTracker` smooths the estimates with a Kalman filter and
predicts the rate now from the rate of the window's middle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.config import KalmanConfig, RppgConfig
from edge.kalman import ScalarKalman
from edge.rates import (
    SpectralPeak,
    band_amplitude,
    power_spectrum,
    quality_from_snr,
    spectral_peak,
)
from edge.rppg import PulseStream

__all__ = ["HeartRateEstimate", "HeartRateEstimator", "HeartRateTracker", "snr_gate_db"]

PRIOR_SD_BPM = 12.0
"""Spread of the soft tracking window around the previous rate, per second of its age."""
PRIOR_MAX_AGE_S = 5.0
RELOCK_TICKS = 3
RELOCK_MARGIN_DB = 3.0
RELOCK_DISTANCE_BPM = 6.0
REFERENCE_WINDOW_S = 10.0
EDGE_MARGIN_DB = 3.0
"""Extra SNR a peak within one bin of the band's ends needs: slow light drift and sway
leak into the lowest bins and can form a weak peak there."""
RETRY_AGREEMENT_BPM = 6.0
"""The long-window retry must land within this of the short window's (sub-gate) peak,
one bin of a 10 s window; a 20 s window of noise can otherwise hold a spurious peak."""


@dataclass(frozen=True, slots=True)
class HeartRateEstimate:
    """One heart-rate estimate; `heart_rate_bpm` is ``None`` below the quality gate."""

    heart_rate_bpm: float | None
    snr_db: float
    quality: float
    window_s: float


def snr_gate_db(min_snr_db: float, window_s: float) -> float:
    """The SNR gate for a window: `min_snr_db` holds at 10 s and moves by -3 dB per doubling.

    With signal bands of ±1/window_s, the SNR that pure noise reaches falls by 3 dB each
    time the window doubles (twice as many bins share the band).
    """
    return min_snr_db - 10.0 * math.log10(window_s / REFERENCE_WINDOW_S)


class HeartRateEstimator:
    """Stateful heart-rate estimator over a `PulseStream` (see the module docstring)."""

    def __init__(self, config: RppgConfig):
        self.config = config
        self.fs = config.sample_rate_hz
        self.reset()

    def reset(self) -> None:
        """Forget the previous rate."""
        self._prev: tuple[float, float] | None = None  # (timestamp_s, bpm)
        self._disagree = 0

    def estimate(self, stream: PulseStream, t: float) -> HeartRateEstimate:
        """Estimate at time `t` from the final samples of `stream`."""
        cfg = self.config
        available = stream.final_count
        if self.motion_fraction(stream) > cfg.max_band_luma_fraction:
            return HeartRateEstimate(None, -np.inf, 0.0, cfg.hr_window_s)
        peak, window_s, gate_db = None, cfg.hr_window_s, cfg.min_snr_db
        short: SpectralPeak | None = None
        for wanted_s in (cfg.hr_window_s, cfg.long_window_s):
            n = min(available, round(wanted_s * self.fs))
            window_s = n / self.fs
            gate_db = snr_gate_db(cfg.min_snr_db, window_s)
            peak = self._peak(stream.final_pulse(n), t, window_s)
            if (peak is not None and peak.snr_db >= gate_db) or available <= n:
                break
            short = peak
        if short is not None and peak is not None and (
                abs(peak.rate_per_min - short.rate_per_min) > RETRY_AGREEMENT_BPM):
            peak = None  # the long window found a peak the recent signal does not show
        if peak is not None and self._near_band_edge(peak.rate_per_min, window_s):
            gate_db += EDGE_MARGIN_DB
        if peak is None or peak.snr_db < gate_db:
            snr = -np.inf if peak is None else peak.snr_db
            return HeartRateEstimate(None, snr, 0.0, window_s)
        self._prev = (t, peak.rate_per_min)
        quality = quality_from_snr(peak.snr_db, min_snr_db=gate_db)
        return HeartRateEstimate(peak.rate_per_min, peak.snr_db, quality, window_s)

    def _near_band_edge(self, rate_bpm: float, window_s: float) -> bool:
        """Within one resolution bin (60 / window_s bpm) of either end of the band."""
        low, high = self.config.band_bpm
        return min(rate_bpm - low, high - rate_bpm) < 60.0 / window_s

    def motion_fraction(self, stream: PulseStream) -> float:
        """Largest in-band swing of the ROI brightness over the last window (0.01 = 1 %)."""
        rgb = stream.recent_rgb(round(self.config.hr_window_s * self.fs))
        luma = rgb.sum(axis=1)
        mean = luma.mean()
        if luma.size < 8 or mean <= 0:
            return 0.0
        band_hz = (self.config.band_bpm[0] / 60.0, self.config.band_bpm[1] / 60.0)
        return band_amplitude(luma / mean - 1.0, self.fs, band_hz)

    def _peak(self, pulse: np.ndarray, t: float, window_s: float) -> SpectralPeak | None:
        freq, power = power_spectrum(pulse, self.fs)
        band_hz = (self.config.band_bpm[0] / 60.0, self.config.band_bpm[1] / 60.0)
        half = 1.0 / window_s  # the window's true resolution: null SNR independent of it
        best = spectral_peak(freq, power, band_hz, snr_half_width_hz=half)
        if best is None or self._prev is None or t - self._prev[0] > PRIOR_MAX_AGE_S:
            self._disagree = 0
            return best
        age_s = max(1.0, t - self._prev[0])
        tracked = spectral_peak(freq, power, band_hz, prior_hz=self._prev[1] / 60.0,
                                prior_sd_hz=PRIOR_SD_BPM * age_s / 60.0, snr_half_width_hz=half)
        if tracked is None:
            return best
        far = abs(best.rate_per_min - tracked.rate_per_min) > RELOCK_DISTANCE_BPM
        if far and best.snr_db > tracked.snr_db + RELOCK_MARGIN_DB:
            self._disagree += 1
            if self._disagree >= RELOCK_TICKS:
                self._disagree = 0
                return best
        else:
            self._disagree = 0
        return tracked


class HeartRateTracker:
    """Kalman-tracked heart rate, reported for the time of the reading.

    A spectral estimate describes the middle of its window, ``window_s / 2`` before `t`
    (plus the projection's latency): the tracker takes it at that time and reports its
    prediction for `t`, the rate plus the slope times that delay, so that a ramp is not
    reported seconds late. The slope is shrunk by how well it is known,
    ``s²/(s² + var(s))``, so that a slope lost in its own noise is not multiplied by the
    delay. A missing estimate only advances the tracker, and an estimate the innovation
    gate rejects gives ``None`` too, until repeated rejections re-initialise the tracker.

    Parameters
    ----------
    config : KalmanConfig
        The tracker's tuning.
    projection_window_s : float
        Latency of the pulse projection, added to the half window.
    """

    def __init__(self, config: KalmanConfig, *, projection_window_s: float):
        self.kalman = ScalarKalman(config)
        self.projection_window_s = projection_window_s

    def reset(self) -> None:
        """Forget the rate."""
        self.kalman.reset()

    def update(self, t: float, rate_bpm: float | None, *, snr_db: float,
               window_s: float) -> float | None:
        """The tracked rate at `t` given the estimate of the window ending at `t`, or ``None``."""
        kalman = self.kalman
        measured_t = t - 0.5 * window_s - self.projection_window_s
        if kalman.t_s is not None:
            measured_t = max(measured_t, kalman.t_s)
        if rate_bpm is None:
            kalman.update(measured_t, None)
            return None
        tracked = kalman.update(measured_t, rate_bpm, snr_db=snr_db)
        if tracked is None or not (tracked.accepted or tracked.reinitialised):
            return None
        slope = tracked.rate_per_s
        slope_var = kalman.P[1, 1]
        if slope * slope + slope_var > 0.0:
            slope *= slope * slope / (slope * slope + slope_var)
        return tracked.rate + slope * (t - measured_t)
