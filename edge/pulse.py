"""Analysis of a whole pulse waveform (rPPG BVP or contact PPG): `analyze_pulse`.

Heart rate comes from beats when the beats are clean: systolic peaks on the
band-passed waveform (local maxima, greedy minimum-distance suppression guided by the
spectral rate, as ``scipy.signal.find_peaks(distance=...)``), refined to sub-sample
timing by parabolic interpolation, inter-beat intervals (IBI) kept within 0.29-2 s
and within 30 % of their local median (algorithms §3.4); HR = 60 / mean(IBI), which
is the definition an ECG R-R reference uses. Otherwise it falls back to the spectral
peak. SDNN and RMSSD are given for at least 30 s of mostly clean beats.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.filters import bandpass
from edge.kernels import _local_maxima
from edge.rates import power_spectrum, quality_from_snr, spectral_peak
from edge.validate import valid_fs, valid_signal

__all__ = ["PulseAnalysis", "analyze_pulse", "detect_beats"]

HR_BAND_HZ = (0.7, 3.5)
BEAT_BAND_HZ = (0.5, 5.0)
IBI_RANGE_S = (60.0 / 210.0, 2.0)
IBI_MEDIAN_TOLERANCE = 0.3
MIN_HRV_SECONDS = 30.0
MIN_BEAT_COVERAGE = 0.6
MIN_HRV_COVERAGE = 0.8


@dataclass(frozen=True, kw_only=True, slots=True)
class PulseAnalysis:
    """What `analyze_pulse` found in a pulse waveform.

    Attributes
    ----------
    heart_rate_bpm : float or None
        Mean heart rate; ``None`` when the waveform shows no pulse.
    breathing_rate_bpm : float or None
        Breathing rate (not estimated by this version: always ``None``).
    sdnn_ms, rmssd_ms : float or None
        HRV over the clean beats, for >= 30 s of mostly clean beats; else ``None``.
    quality : float
        0-1, from the spectral SNR of the pulse.
    beats_s : np.ndarray [shape=(n_beats,)]
        Times of the detected systolic peaks, in seconds from the first sample.
    """

    heart_rate_bpm: float | None
    breathing_rate_bpm: float | None
    sdnn_ms: float | None
    rmssd_ms: float | None
    quality: float
    beats_s: np.ndarray


def detect_beats(signal: np.ndarray, *, fs: float, rate_hint_bpm: float) -> np.ndarray:
    """Systolic peak times (s) of a band-passed pulse, at least 0.6 periods apart."""
    x = valid_signal(signal)
    fs = valid_fs(fs)
    idx = np.empty(x.size, dtype=np.int64)
    n = _local_maxima(x, idx)
    peaks = idx[:n]
    peaks = peaks[x[peaks] > 0.0]  # systolic peaks rise above the zero-mean baseline
    min_distance = 0.6 * 60.0 / rate_hint_bpm * fs
    keep = np.ones(peaks.size, dtype=bool)
    taken = np.zeros(peaks.size, dtype=bool)
    for i in np.argsort(-x[peaks], kind="stable"):  # tallest first
        if not keep[i]:
            continue
        taken[i] = True
        near = np.abs(peaks - peaks[i]) < min_distance
        keep &= ~near | taken
    peaks = peaks[taken]
    a, b, c = x[peaks - 1], x[peaks], x[np.minimum(peaks + 1, x.size - 1)]
    denom = a - 2 * b + c
    delta = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, 1.0), 0.0)
    return (peaks + np.clip(delta, -0.5, 0.5)) / fs


def clean_intervals(beats_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inter-beat intervals (s) and a mask of those that pass the artefact checks."""
    ibi = np.diff(beats_s)
    if ibi.size == 0:
        return ibi, np.zeros(0, dtype=bool)
    ok = (ibi >= IBI_RANGE_S[0]) & (ibi <= IBI_RANGE_S[1])
    half = 5
    padded = np.pad(ibi, half, mode="edge")
    local = np.array([np.median(padded[i : i + 2 * half + 1]) for i in range(ibi.size)])
    ok &= np.abs(ibi - local) <= IBI_MEDIAN_TOLERANCE * local
    return ibi, ok


def analyze_pulse(signal: np.ndarray, *, fs: float) -> PulseAnalysis:
    """Heart rate, HRV and quality of a pulse waveform.

    Parameters
    ----------
    signal : np.ndarray [shape=(n_samples,)]
        Pulse waveform (rPPG BVP or contact PPG, systolic peaks upwards), uniformly
        sampled, at least 6 s long.
    fs : float
        Sampling rate in Hz (at least 8).

    Returns
    -------
    PulseAnalysis
    """
    fs = valid_fs(fs)
    x = valid_signal(signal, min_samples=max(8, int(np.ceil(6 * fs))))
    if fs < 8.0:
        from edge.errors import InputError

        raise InputError(f"fs must be at least 8 Hz for heart rate; got {fs:g}")
    empty = PulseAnalysis(heart_rate_bpm=None, breathing_rate_bpm=None, sdnn_ms=None,
                          rmssd_ms=None, quality=0.0, beats_s=np.zeros(0))
    if np.ptp(x) == 0.0:
        return empty
    hr_band = bandpass(x, fs=fs, low_hz=HR_BAND_HZ[0], high_hz=min(HR_BAND_HZ[1], 0.45 * fs))
    freq, power = power_spectrum(hr_band, fs)
    peak = spectral_peak(freq, power, HR_BAND_HZ)
    if peak is None:
        return empty
    quality = quality_from_snr(peak.snr_db)
    beat_wave = bandpass(x, fs=fs, low_hz=BEAT_BAND_HZ[0], high_hz=min(BEAT_BAND_HZ[1], 0.45 * fs))
    beats = detect_beats(beat_wave, fs=fs, rate_hint_bpm=peak.rate_per_min)
    ibi, ok = clean_intervals(beats)
    duration_s = x.size / fs
    coverage = float(ibi[ok].sum() / duration_s) if ibi.size else 0.0
    heart_rate = peak.rate_per_min
    if coverage >= MIN_BEAT_COVERAGE and ok.sum() >= 3:
        heart_rate = 60.0 / float(ibi[ok].mean())
    sdnn = rmssd = None
    if duration_s >= MIN_HRV_SECONDS and coverage >= MIN_HRV_COVERAGE:
        good = ibi[ok]
        pairs = ok[1:] & ok[:-1]
        sdnn = 1000.0 * float(np.std(good, ddof=1))
        rmssd = 1000.0 * float(np.sqrt(np.mean(np.diff(ibi)[pairs] ** 2)))
    return PulseAnalysis(heart_rate_bpm=heart_rate, breathing_rate_bpm=None, sdnn_ms=sdnn,
                         rmssd_ms=rmssd, quality=quality, beats_s=beats)
