"""Analysis of a whole pulse waveform (rPPG BVP or contact PPG): `analyze_pulse`.

Heart rate comes from beats when the beats are clean: systolic peaks on the
band-passed waveform (local maxima, greedy minimum-distance suppression guided by the
spectral rate, as ``scipy.signal.find_peaks(distance=...)``), refined to sub-sample
timing by parabolic interpolation, inter-beat intervals (IBI) kept within 0.29-2 s
and within 30 % of their local median; HR = 60 / mean(IBI), which
is the definition an ECG R-R reference uses. Otherwise it falls back to the spectral
peak. SDNN and RMSSD are given for at least 30 s of mostly clean beats, over
normal-to-normal intervals: both beats match the mean beat (template correlation
>= 0.86, Orphanidou et al., "Signal-quality indices for the electrocardiogram and
photoplethysmogram", IEEE JBHI 19(3), 2015) and the interval is within 20 % of the
median of the accepted intervals around it (ectopic beats out, Task Force 1996).
The breathing rate comes from the same beats (`edge.breathing`, >= 30 s).

Every vital is ``None`` when its own gate fails (never a guess). The pulse is there when
the spectral peak stands clear or most beats match the mean beat; HRV is reported with
the beat-timing noise floor removed, or withheld when that floor is comparable to it.
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
UPSAMPLE = 8
MIN_MATCHING_BEATS = 0.6
"""Least share of beats matching the mean beat for any heart rate: white and brown noise
band-passed to the beat band reach 0.4-0.7 (10-30 s), a contact PPG 0.85-1."""
CLEAN_BEATS = 0.75
"""Share of matching beats above which the beats alone vouch for the pulse (quality > 0)
even when the spectral peak does not (a slow-drifting contact PPG can sit near 0 dB)."""


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
        HRV over the clean beats, for >= 30 s of mostly clean beats, with the beat-timing
        noise floor removed (see `hrv_status`); else ``None``.
    quality : float
        0-1: the larger of the spectral SNR's quality and the share of beats matching
        the mean beat (above `CLEAN_BEATS`); 0, with every vital ``None``, when neither
        vouches for a pulse.
    beats_s : np.ndarray [shape=(n_beats,)]
        Times of the detected systolic peaks, in seconds from the first sample.
    hrv_noise_ms : float or None
        SDNN that beat-timing noise alone would give: sqrt 2 times the larger of
        `beat_timing_noise_s` and `ibi_noise_bound_s`.
    hrv_quality : float
        0-1: `quality` times the share of the measured SDNN variance that is not noise.
    hrv_status : str
        ``"ok"`` (HRV given, noise removed), ``"below_noise_floor"`` (withheld: the
        noise floor is comparable to the value), or ``"too_short"`` (under 30 s or too
        few clean beats), or ``"no_pulse"``.
    """

    heart_rate_bpm: float | None
    breathing_rate_bpm: float | None
    sdnn_ms: float | None
    rmssd_ms: float | None
    quality: float
    beats_s: np.ndarray
    hrv_noise_ms: float | None = None
    hrv_quality: float = 0.0
    hrv_status: str = "no_pulse"


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


def beat_timing_noise_s(wave: np.ndarray, peaks: np.ndarray, beats_s: np.ndarray,
                        fs: float) -> float:
    """Standard deviation (s) of a detected peak time owing to the noise on `wave`.

    The beats are aligned on the mean beat by least squares over their whole length (three
    Gauss-Newton steps on `wave` upsampled 8x by FFT), far steadier than their peaks,
    and the mean beat, scaled to each, is taken out. What is left differs from beat to
    beat by noise and hardly by the slow changes of shape, so the successive differences
    of those residuals (over sqrt 2) are noise realisations; added to the mean beat, the
    spread of their parabolic peaks is the timing noise, non-linearity and all. NaN when
    there are too few beats to say.
    """
    if peaks.size < 5:
        return np.nan
    half = int(0.5 * np.median(np.diff(peaks)))
    inside = (peaks - half - 2 >= 0) & (peaks + half + 3 < wave.size)
    if half < 3 or inside.sum() < 5:
        return np.nan
    fine = np.fft.irfft(np.fft.rfft(wave), UPSAMPLE * wave.size) * UPSAMPLE
    grid = beats_s[inside, None] * fs + np.arange(-half, half + 1)
    for _ in range(3):
        beats = np.interp(grid * UPSAMPLE, np.arange(fine.size), fine)
        template = beats.mean(axis=0)
        scale = beats @ template / max(float(template @ template), 1e-300)
        residual = beats - scale[:, None] * template
        slope = np.gradient(template)
        shift = -(residual @ slope) / np.maximum(scale * float(slope @ slope), 1e-300)
        grid = grid + np.clip(shift, -1.0, 1.0)[:, None]
    # the mean beat at sub-sample phases spread evenly over one sample (golden ratio)
    offsets = np.arange(-half * UPSAMPLE, half * UPSAMPLE + 1) / UPSAMPLE
    centres = grid[:, half, None] + offsets
    mean_beat = np.interp(centres * UPSAMPLE, np.arange(fine.size), fine).mean(axis=0)
    phase = (np.arange(residual.shape[0] - 1) * 0.6180339887) % 1.0 - 0.5
    taps = np.arange(-half, half + 1) - phase[:, None]
    synthetic = (np.interp(taps, offsets, mean_beat) * np.median(scale)
                 + np.diff(residual, axis=0) / np.sqrt(2.0))
    near = slice(half - half // 2, half + half // 2 + 1)  # the peak within a quarter period
    k = half - half // 2 + np.argmax(synthetic[:, near], axis=1)
    rows = np.arange(k.size)
    a, b, c = synthetic[rows, k - 1], synthetic[rows, k], synthetic[rows, k + 1]
    denom = a - 2 * b + c
    delta = np.where(denom < 0, 0.5 * (a - c) / np.where(denom < 0, denom, 1.0), 0.0)
    return float(np.std(k + np.clip(delta, -0.5, 0.5) - half - phase) / fs)


def ibi_noise_bound_s(ibi: np.ndarray, nn: np.ndarray) -> float:
    """Least beat-timing noise (s) that the NN intervals themselves show.

    Independent noise e on each beat adds ``-var(e)`` to the covariance of successive
    intervals (they share a beat, with opposite signs), while heart rhythm keeps them alike
    (positive covariance) unless it alternates beat by beat. So minus that covariance,
    when positive, is a floor under var(e), whatever the noise's source (including what
    `beat_timing_noise_s` cannot see, such as a jitter that changes the beat's shape).
    """
    pairs = nn[1:] & nn[:-1]
    if pairs.sum() < 4:
        return 0.0
    mean = ibi[nn].mean()
    covariance = float(np.mean((ibi[:-1][pairs] - mean) * (ibi[1:][pairs] - mean)))
    return float(np.sqrt(max(0.0, -covariance)))


def hrv_without_noise(sdnn_ms: float, rmssd_ms: float,
                      noise_s: float) -> tuple[float | None, float | None, float]:
    """SDNN and RMSSD with independent beat-timing noise of SD `noise_s` removed, and the
    share of the SDNN variance that is not noise.

    Noise e on each beat adds ``2 var(e)`` to the IBI variance and ``6 var(e)`` to the
    mean square of successive IBI differences. Both are withheld (``None``) when the
    noise leaves less than its own floor, i.e. explains over half the measured variance.
    """
    if not np.isfinite(noise_s):
        return None, None, 0.0
    noise_ms = 1000.0 * noise_s
    sdnn_sq = sdnn_ms**2 - 2.0 * noise_ms**2
    rmssd_sq = rmssd_ms**2 - 6.0 * noise_ms**2
    share = max(0.0, sdnn_sq) / max(sdnn_ms**2, 1e-12)
    if sdnn_sq < 2.0 * noise_ms**2 or rmssd_sq < 6.0 * noise_ms**2:
        return None, None, share
    return float(np.sqrt(sdnn_sq)), float(np.sqrt(rmssd_sq)), share


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
    # a pulse is there when its spectral peak stands clear or its beats look alike
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
    matching = template_correlation(beat_wave, peaks) >= MIN_BEAT_CORRELATION
    quality = _pulse_quality(peak.snr_db, float(matching.mean()) if matching.size else 0.0)
    if quality == 0.0:
        return empty
    nn = normal_intervals(ibi, matching)
    sdnn = rmssd = noise_ms = breathing = None
    hrv_quality, hrv_status = 0.0, "too_short"
    if duration_s >= MIN_HRV_SECONDS:
        hrv = hrv_ms(ibi, nn) if ibi[nn].sum() >= MIN_HRV_COVERAGE * duration_s else None
        if hrv is not None:
            noise_s = max(beat_timing_noise_s(beat_wave, peaks, beats, fs),
                          ibi_noise_bound_s(ibi, nn))
            sdnn, rmssd, share = hrv_without_noise(*hrv, noise_s)
            noise_ms = float(np.sqrt(2.0) * 1000.0 * noise_s) if np.isfinite(noise_s) else None
            hrv_status = "ok" if sdnn is not None else "below_noise_floor"
            hrv_quality = quality * share if sdnn is not None else 0.0
        valid = np.ones(beats.size, dtype=bool)  # beats whose intervals are all NN
        valid[1:] &= nn
        valid[:-1] &= nn
        if valid.sum() >= 4:
            breathing = beat_breathing(x, fs, peaks, beats, valid).breathing_rate_bpm
    return PulseAnalysis(heart_rate_bpm=heart_rate, breathing_rate_bpm=breathing, sdnn_ms=sdnn,
                         rmssd_ms=rmssd, quality=quality, beats_s=beats, hrv_noise_ms=noise_ms,
                         hrv_quality=hrv_quality, hrv_status=hrv_status)


def _pulse_quality(snr_db: float, matching_share: float) -> float:
    """0-1 quality of a pulse from its spectral SNR and its share of beats that match."""
    if matching_share < MIN_MATCHING_BEATS:
        return 0.0
    beat_quality = max(0.0, (matching_share - CLEAN_BEATS) / (1.0 - CLEAN_BEATS))
    return max(quality_from_snr(snr_db), beat_quality)
