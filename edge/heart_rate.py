"""Heart rate from the streaming pulse: spectral peak, soft tracking, adaptive window.

Every output interval the newest ``hr_window_s`` of final pulse samples go through
`edge.rates` (Hann periodogram, parabolic peak, SNR). The previous rate, if recent,
weights the peaks with a Gaussian whose spread grows with its age, so a motion peak
does not pull the estimate away; when the global peak has been clearly stronger (3 dB)
for `RELOCK_TICKS` readings in a row, the estimate re-locks onto it. When the SNR is
below the gate, the estimate is tried once more on ``long_window_s`` (longer windows
average more noise away, at the price of a slower response), and kept only if it agrees
with the short window's own best peak; if that fails too, there is no heart rate
(``low_quality``). The SNR's signal bands are ±1/window wide (the
window's true resolution) and the gate follows the window length (`snr_gate_db`).

A motion gate comes first: the pulse modulates the skin's brightness by about 0.05-0.3 %;
when the brightness of the ROI (sum of R, G, B over its mean) swings by more than
``max_band_luma_fraction`` (0.5 %) at some frequency inside the heart-rate band, head
motion or changing light dominates the window, and the projection cannot be trusted to
have removed it: no heart rate (``low_quality``) rather than the motion's rate. On the
simulator, still and moderately moving heads stay under 0.12 %, strong in-band motion
reaches 0.9-2.6 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.config import RppgConfig
from edge.rates import (
    SpectralPeak,
    band_amplitude,
    power_spectrum,
    quality_from_snr,
    spectral_peak,
)
from edge.rppg import PulseStream

__all__ = ["HeartRateEstimate", "HeartRateEstimator", "snr_gate_db"]

PRIOR_SD_BPM = 12.0
"""Spread of the soft tracking window around the previous rate, per second of its age."""
PRIOR_MAX_AGE_S = 5.0
RELOCK_TICKS = 3
RELOCK_MARGIN_DB = 3.0
RELOCK_DISTANCE_BPM = 6.0
REFERENCE_WINDOW_S = 10.0
EDGE_MARGIN_DB = 3.0
"""Extra SNR a peak within one bin of the band's ends needs: slow light drift and sway
leak into the lowest bins and can form a weak peak there (45 bpm read for 78 bpm on a
small simulator clip, at qualities 0.01-0.23, before this margin)."""
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
    time the window doubles (twice as many bins share the band); measured 99th
    percentiles on POS of white-noise traces: +1.5, -1.6 and -4.6 dB at 6, 10 and 20 s.
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
