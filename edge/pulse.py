"""Analysis of a whole pulse waveform (rPPG BVP or contact PPG): `analyze_pulse`.

Heart rate comes from beats when the beats are clean: systolic peaks on the
band-passed waveform (local maxima, greedy minimum-distance suppression guided by the
spectral rate, as ``scipy.signal.find_peaks(distance=...)``), refined to sub-sample
timing by parabolic interpolation, inter-beat intervals (IBI) kept within 0.29-2 s
and within 30 % of their local median (algorithms §3.4); HR = 60 / mean(IBI), which
is the definition an ECG R-R reference uses. Otherwise it falls back to the spectral
peak. SDNN and RMSSD are given for at least 30 s of mostly clean beats, over
normal-to-normal intervals: both beats match the mean beat (template correlation
>= 0.86, Orphanidou et al., "Signal-quality indices for the electrocardiogram and
photoplethysmogram", IEEE JBHI 19(3), 2015) and the interval is within 20 % of the
median of the accepted intervals around it (ectopic beats out, Task Force 1996).
The breathing rate comes from the same beats (`edge.breathing`, >= 30 s).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.breathing import BreathingEstimate, breathing_rate
from edge.filters import bandpass
from edge.kernels import _local_maxima
from edge.rates import HR_BAND_HZ, power_spectrum, quality_from_snr, spectral_peak
from edge.validate import valid_fs, valid_signal

__all__ = ["PulseAnalysis", "analyze_pulse", "detect_beats"]

BEAT_BAND_HZ = (0.5, 5.0)
IBI_RANGE_S = (60.0 / 210.0, 2.0)
IBI_MEDIAN_TOLERANCE = 0.3
MIN_HRV_SECONDS = 30.0
MIN_BEAT_COVERAGE = 0.6
MIN_HRV_COVERAGE = 0.8
MIN_BEAT_CORRELATION = 0.86  # template-matching SQI threshold of Orphanidou et al. 2015
NN_MEDIAN_TOLERANCE = 0.2
RESP_WAVE_BAND_HZ = (0.05, 5.0)


@dataclass(frozen=True, kw_only=True, slots=True)
class PulseAnalysis:
    """What `analyze_pulse` found in a pulse waveform.

    Attributes
    ----------
    heart_rate_bpm : float or None
        Mean heart rate; ``None`` when the waveform shows no pulse.
    breathing_rate_bpm : float or None
        Breathing rate in breaths/min from the respiratory modulations of the beats
        (Smart Fusion, `edge.breathing`); ``None`` under 30 s or when they disagree.
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
    return _beat_peaks(x, fs, rate_hint_bpm)[1]


def _beat_peaks(x: np.ndarray, fs: float, rate_hint_bpm: float) -> tuple[np.ndarray, np.ndarray]:
    """Peak sample indices and their sub-sample times (s), parabolic in time."""
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
    return peaks, (peaks + np.clip(delta, -0.5, 0.5)) / fs


def _local_median(values: np.ndarray, half: int = 5) -> np.ndarray:
    """Median of each value and its `half` neighbours on either side (edges repeated)."""
    padded = np.pad(values, half, mode="edge")
    return np.array([np.median(padded[i : i + 2 * half + 1]) for i in range(values.size)])


def clean_intervals(beats_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inter-beat intervals (s) and a mask of those that pass the artefact checks."""
    ibi = np.diff(beats_s)
    if ibi.size == 0:
        return ibi, np.zeros(0, dtype=bool)
    ok = (ibi >= IBI_RANGE_S[0]) & (ibi <= IBI_RANGE_S[1])
    ok &= np.abs(ibi - _local_median(ibi)) <= IBI_MEDIAN_TOLERANCE * _local_median(ibi)
    return ibi, ok


def template_correlation(wave: np.ndarray, peaks: np.ndarray) -> np.ndarray:
    """Pearson correlation of each beat with the mean beat (Orphanidou et al. 2015).

    Each beat is the stretch of `wave` within half a median period of its peak; beats
    too close to either end get 0. A clean pulse has r >= 0.86 for nearly every beat.
    """
    r = np.zeros(peaks.size)
    if peaks.size < 3:
        return r
    half = int(0.5 * np.median(np.diff(peaks)))
    inside = (peaks - half >= 0) & (peaks + half < wave.size)
    if half < 2 or inside.sum() < 3:
        return r
    beats = wave[peaks[inside, None] + np.arange(-half, half + 1)]
    beats = beats - beats.mean(axis=1, keepdims=True)
    template = beats.mean(axis=0)
    norm = np.linalg.norm(beats, axis=1) * np.linalg.norm(template)
    r[inside] = beats @ template / np.where(norm > 0, norm, np.inf)
    return r


def normal_intervals(ibi: np.ndarray, beat_ok: np.ndarray) -> np.ndarray:
    """Mask of normal-to-normal (NN) intervals for HRV.

    An interval is NN when both of its beats look like the average beat, it lies in
    0.29-2 s, and it is within 20 % of the median of the surrounding accepted
    intervals (the usual rule against ectopic beats, Task Force 1996). The median is
    taken over accepted intervals only, so a run of artefacts cannot shift it.
    """
    candidate = beat_ok[1:] & beat_ok[:-1] & (ibi >= IBI_RANGE_S[0]) & (ibi <= IBI_RANGE_S[1])
    nn = np.zeros(ibi.size, dtype=bool)
    idx = np.flatnonzero(candidate)
    if idx.size:
        local = _local_median(ibi[idx])
        nn[idx] = np.abs(ibi[idx] - local) <= NN_MEDIAN_TOLERANCE * local
    return nn


def hrv_ms(ibi: np.ndarray, nn: np.ndarray) -> tuple[float, float] | None:
    """SDNN and RMSSD (ms) over NN intervals; RMSSD only over successive NN pairs."""
    pairs = nn[1:] & nn[:-1]
    if nn.sum() < 3 or pairs.sum() < 2:
        return None
    sdnn = 1000.0 * float(np.std(ibi[nn], ddof=1))
    rmssd = 1000.0 * float(np.sqrt(np.mean(np.diff(ibi)[pairs] ** 2)))
    return sdnn, rmssd


def beat_breathing(x: np.ndarray, fs: float, peaks: np.ndarray, beats_s: np.ndarray,
                   valid: np.ndarray) -> BreathingEstimate:
    """Breathing rate from the beats of a whole waveform `x` (see `edge.breathing`).

    Peak and trough values are read on a 0.05-5 Hz band-pass of `x`, which keeps the
    breathing band (RIIV) but not the drift.
    """
    wave = bandpass(x, fs=fs, low_hz=RESP_WAVE_BAND_HZ[0],
                    high_hz=min(RESP_WAVE_BAND_HZ[1], 0.45 * fs))
    troughs = np.empty(peaks.size)
    troughs[1:] = np.minimum.reduceat(wave, peaks)[:-1]  # minimum between successive peaks
    troughs[0] = wave[max(0, peaks[0] - int(fs)) : peaks[0] + 1].min()
    return breathing_rate(beats_s, wave[peaks], troughs, valid=valid)


def analyze_pulse(signal: np.ndarray, *, fs: float) -> PulseAnalysis:
    """Heart rate, HRV, breathing rate and quality of a pulse waveform.

    Parameters
    ----------
    signal : np.ndarray [shape=(n_samples,)]
        Pulse waveform (rPPG BVP or contact PPG, systolic peaks upwards), uniformly
        sampled, at least 6 s long (30 s for HRV and breathing rate).
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
    beat_wave = bandpass(x, fs=fs, low_hz=BEAT_BAND_HZ[0], high_hz=min(BEAT_BAND_HZ[1], 0.45 * fs))
    peaks, beats = _beat_peaks(beat_wave, fs, peak.rate_per_min)
    ibi, ok = clean_intervals(beats)
    duration_s = x.size / fs
    heart_rate = peak.rate_per_min
    if ibi[ok].sum() >= MIN_BEAT_COVERAGE * duration_s and ok.sum() >= 3:
        heart_rate = 60.0 / float(ibi[ok].mean())
    nn = normal_intervals(ibi, template_correlation(beat_wave, peaks) >= MIN_BEAT_CORRELATION)
    hrv = breathing = None
    if duration_s >= MIN_HRV_SECONDS:
        if ibi[nn].sum() >= MIN_HRV_COVERAGE * duration_s:
            hrv = hrv_ms(ibi, nn)
        valid = np.ones(beats.size, dtype=bool)  # beats whose intervals are all NN
        valid[1:] &= nn
        valid[:-1] &= nn
        if valid.sum() >= 4:
            breathing = beat_breathing(x, fs, peaks, beats, valid).breathing_rate_bpm
    sdnn, rmssd = hrv if hrv is not None else (None, None)
    return PulseAnalysis(heart_rate_bpm=heart_rate, breathing_rate_bpm=breathing, sdnn_ms=sdnn,
                         rmssd_ms=rmssd, quality=quality_from_snr(peak.snr_db), beats_s=beats)
