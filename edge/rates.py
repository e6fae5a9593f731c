"""Rates from waveforms: spectral peak with parabolic interpolation and an SNR quality.

Heart rate is the highest peak of the Hann-windowed periodogram inside the band,
refined by parabolic interpolation of the log power on the zero-padded grid
(Smith, "Spectral Audio Signal Processing"). The SNR is the power within ±6 bpm of
the peak and of its second harmonic over the rest of the band, in dB (de Haan &
Jeanne 2013; rPPG-Toolbox ``_calculate_SNR`` as the behavioural reference).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.errors import InputError
from edge.validate import valid_fs, valid_signal

__all__ = ["HR_BAND_HZ", "SpectralPeak", "band_amplitude", "heart_rate", "power_spectrum",
           "quality_from_snr", "spectral_peak"]

HR_BAND_HZ = (0.7, 3.5)
"""The heart band in Hz (42-210 bpm): beat finding and waveform heart rates use it."""
SNR_HALF_WIDTH_BPM = 6.0


@dataclass(frozen=True, slots=True)
class SpectralPeak:
    """A rate estimate from a spectrum."""

    rate_per_min: float
    """Peak frequency in cycles per minute (bpm for heart rate)."""
    snr_db: float
    """Power near the peak (and its harmonic) over the rest of the band, in dB."""


def _n_fft(n: int, fs: float) -> int:
    # Zero-pad to a grid of at most 1/64 Hz and at least 4x the window.
    target = max(4 * n, math.ceil(64 * fs))
    return 1 << (target - 1).bit_length()


def power_spectrum(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed, zero-padded periodogram of a detrended signal: (freq_hz, power)."""
    n = x.size
    t = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(t, x, 1)
    y = (x - (slope * t + intercept)) * np.hanning(n)
    n_fft = _n_fft(n, fs)
    power = np.abs(np.fft.rfft(y, n_fft)) ** 2
    return np.fft.rfftfreq(n_fft, 1.0 / fs), power


def band_amplitude(x: np.ndarray, fs: float, band_hz: tuple[float, float]) -> float:
    """Largest sinusoid amplitude in `band_hz` of a detrended signal (Hann, zero-padded).

    For ``x`` = a trace over its mean minus 1, this is a relative amplitude (0.01 = 1 %).
    """
    n = x.size
    freq, power = power_spectrum(x, fs)
    in_band = (freq >= band_hz[0]) & (freq <= band_hz[1])
    if not in_band.any():
        return 0.0
    return float(2.0 * np.sqrt(power[in_band].max()) / np.hanning(n).sum())


def spectral_peak(freq_hz: np.ndarray, power: np.ndarray, band_hz: tuple[float, float], *,
                  prior_hz: float | None = None, prior_sd_hz: float = 0.25,
                  harmonic: bool = True,
                  snr_half_width_hz: float = SNR_HALF_WIDTH_BPM / 60.0) -> SpectralPeak | None:
    """Pick the rate from a power spectrum.

    With `prior_hz`, peaks are weighted by a Gaussian around the prior (a soft tracking
    window); the SNR is always measured on the unweighted spectrum. With `harmonic`,
    a strong peak at half the chosen frequency (>= 50 % of its power, in band) wins,
    since the second harmonic of a pulse can outgrow the fundamental.

    Only local maxima count: a band edge on a slope is not a peak. Returns ``None``
    when the band holds no local maximum. `snr_half_width_hz` is the half-width of the
    "signal" bands of the SNR: 0.1 Hz (6 bpm) is the toolbox's value and the true
    resolution of a 10 s window; pass ``1 / window_s`` for other windows, so that the
    SNR of pure noise does not depend on the window length.
    """
    lo = int(np.searchsorted(freq_hz, band_hz[0]))
    hi = int(np.searchsorted(freq_hz, band_hz[1], side="right"))
    if hi - lo < 3 or not np.any(power[lo:hi] > 0):
        return None
    candidates = _local_maxima_in(power, lo, hi)
    if candidates.size == 0:
        return None
    score = power[candidates]
    if prior_hz is not None:
        score = score * np.exp(-0.5 * ((freq_hz[candidates] - prior_hz) / prior_sd_hz) ** 2)
    k = int(candidates[np.argmax(score)])
    if harmonic and prior_hz is None:
        k_half = int(np.argmin(np.abs(freq_hz - freq_hz[k] / 2)))
        if k_half >= lo + 1:
            k_best = k_half - 1 + int(np.argmax(power[k_half - 1 : k_half + 2]))
            if power[k_best] >= 0.5 * power[k] and _is_local_max(power, k_best):
                k = k_best
    f_peak = _parabolic(freq_hz, power, k)
    return SpectralPeak(60.0 * f_peak, _snr_db(freq_hz, power, f_peak, lo, hi, snr_half_width_hz))


def _local_maxima_in(power: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Indices k in [lo, hi) with power[k] >= both neighbours (a peak, not a band edge)."""
    k = np.arange(max(lo, 1), min(hi, power.size - 1))
    return k[(power[k] >= power[k - 1]) & (power[k] >= power[k + 1]) & (power[k] > 0)]


def _is_local_max(power: np.ndarray, k: int) -> bool:
    return 0 < k < power.size - 1 and power[k] >= power[k - 1] and power[k] >= power[k + 1]


def _parabolic(freq_hz: np.ndarray, power: np.ndarray, k: int) -> float:
    # δ = ½(α − γ)/(α − 2β + γ) on log power, δ ∈ [−½, ½].
    a, b, c = np.log(power[k - 1 : k + 2] + 1e-300)
    denom = a - 2 * b + c
    delta = 0.0 if denom == 0 else float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5))
    return float(freq_hz[k] + delta * (freq_hz[1] - freq_hz[0]))


def _snr_db(freq_hz: np.ndarray, power: np.ndarray, f_peak: float, lo: int, hi: int,
            half: float) -> float:
    f = freq_hz[lo:hi]
    p = power[lo:hi]
    signal = (np.abs(f - f_peak) <= half) | (np.abs(f - 2 * f_peak) <= half)
    noise = float(p[~signal].sum())
    sig = float(p[signal].sum())
    if noise <= 0:
        return 60.0
    return float(10.0 * np.log10(max(sig, 1e-300) / noise))


def quality_from_snr(snr_db: float, *, min_snr_db: float = -1.0) -> float:
    """Map an SNR in dB to a 0-1 quality: 0 at `min_snr_db`, 0.5 at +4 dB over it, -> 1."""
    if not math.isfinite(snr_db) or snr_db <= min_snr_db:
        return 0.0
    return float(1.0 - math.exp(-(snr_db - min_snr_db) / 5.77))


def heart_rate(bvp: np.ndarray, *, fs: float,
               band_bpm: tuple[float, float] = (42.0, 210.0)) -> SpectralPeak | None:
    """Heart rate of a pulse waveform from its spectral peak.

    Parameters
    ----------
    bvp : np.ndarray [shape=(n_samples,)]
        Pulse waveform, uniformly sampled, at least 3 s long.
    fs : float
        Sampling rate in Hz.
    band_bpm : tuple of float
        Search band in beats per minute.

    Returns
    -------
    SpectralPeak or None
        ``rate_per_min`` in bpm and the SNR in dB; ``None`` for a flat signal.
    """
    fs = valid_fs(fs)
    x = valid_signal(bvp, name="bvp", min_samples=max(8, int(3 * fs)))
    if band_bpm[1] / 60.0 >= fs / 2:
        raise InputError(f"band_bpm upper edge must be below fs/2 = {30 * fs:g} bpm")
    if np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x).max())):
        return None  # flat: nothing but rounding noise
    freq, power = power_spectrum(x, fs)
    return spectral_peak(freq, power, (band_bpm[0] / 60.0, band_bpm[1] / 60.0))
