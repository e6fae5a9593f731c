"""Breathing rate from the respiratory modulations of a pulse waveform.

Breathing modulates the pulse in three ways (algorithms §4.1), each read once per beat:

- RIIV, intensity (baseline) variation: the mean of each systolic peak and the trough
  before it (the "baseline wander" feature of Charlton et al. 2016);
- RIAV, amplitude variation: systolic peak minus the trough before it;
- RIFV, frequency variation (respiratory sinus arrhythmia): the inter-beat intervals.

Each beat-sampled series is linearly interpolated to 4 Hz and its rate is the highest
local maximum of the (Welch-averaged) periodogram in 0.1-0.7 Hz (6-42 breaths/min),
refined by parabolic interpolation. No "prefer half the frequency" rule: Mayer waves
(~0.1 Hz) would then win over breathing at ~0.2 Hz. The estimates are fused as in the
Smart Fusion of Karlen, Raman, Ansermino & Dumont, "Multiparameter respiratory rate
estimation from the photoplethysmogram", IEEE TBME 60(7):1946-1953, 2013: only
modulations with a clear peak (more of the band power near the peak than flat noise
would put there) count, at least two must count, and when they spread over more than
4 breaths/min the window gives no rate rather than a confident wrong one. Otherwise
the rate is their mean weighted by the share of band power at the peak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError
from edge.filters import bandpass
from edge.rates import power_spectrum, quality_from_snr, spectral_peak

__all__ = ["BREATHING_BAND_HZ", "BreathingEstimate", "ModulationRate", "StreamBreathing",
           "breathing_rate", "stream_breathing"]

BREATHING_BAND_HZ = (0.1, 0.7)
RESAMPLE_HZ = 4.0
SEGMENT_S = 32.0
MIN_SPAN_S = 25.0
MAX_SPREAD_BPM = 4.0
MODULATIONS = ("riiv", "riav", "rifv")


@dataclass(frozen=True, kw_only=True, slots=True)
class ModulationRate:
    """The rate one respiratory modulation shows on its own.

    Attributes
    ----------
    name : str
        ``"riiv"``, ``"riav"`` or ``"rifv"``.
    rate_bpm : float or None
        Spectral peak in breaths per minute; ``None`` when the series is too short or flat.
    power_share : float
        0-1: share of the band power within one resolution bin (1 / segment length) of
        the peak and of its harmonic.
    noise_share : float
        The share that flat (white) noise would give for the same peak: the fraction
        of band bins in those windows.
    """

    name: str
    rate_bpm: float | None
    power_share: float
    noise_share: float

    @property
    def clear(self) -> bool:
        """A rate, and more power at it than flat noise would put there."""
        return self.rate_bpm is not None and self.power_share > self.noise_share


@dataclass(frozen=True, kw_only=True, slots=True)
class BreathingEstimate:
    """A fused breathing rate and the per-modulation rates behind it.

    Attributes
    ----------
    breathing_rate_bpm : float or None
        Breaths per minute; ``None`` when the window is too short, when fewer than two
        modulations show a clear peak, or when those disagree (Smart Fusion).
    quality : float
        0-1: mean `ModulationRate.power_share` of the modulations used; 0 without a rate.
    modulations : tuple of ModulationRate
        RIIV, RIAV and RIFV, in that order (empty when the window is too short).
    """

    breathing_rate_bpm: float | None
    quality: float
    modulations: tuple[ModulationRate, ...]


def breathing_rate(beats_s: np.ndarray, peak_values: np.ndarray, trough_values: np.ndarray, *,
                   valid: np.ndarray | None = None,
                   band_hz: tuple[float, float] = BREATHING_BAND_HZ,
                   max_spread_bpm: float = MAX_SPREAD_BPM,
                   min_span_s: float = MIN_SPAN_S) -> BreathingEstimate:
    """Breathing rate of one window of beats.

    Parameters
    ----------
    beats_s : np.ndarray [shape=(n_beats,)]
        Systolic peak times in seconds, increasing.
    peak_values, trough_values : np.ndarray [shape=(n_beats,)]
        Pulse waveform at each systolic peak and at the trough before it, on a waveform
        that keeps the breathing band (no high-pass above ~0.05 Hz), in signal units.
    valid : np.ndarray [shape=(n_beats,), dtype=bool], optional
        Beats to use (e.g. without artefacts or ectopic beats); an interval is used when
        both of its beats are valid. Default: all.
    band_hz : tuple of float
        Breathing band in Hz; 0.1-0.7 Hz is 6-42 breaths/min.
    max_spread_bpm : float
        Largest disagreement (max - min, breaths/min) of the modulations used.
    min_span_s : float
        The valid beats must span at least this long (a 30 s window spans ~29 s).

    Returns
    -------
    BreathingEstimate
    """
    t, peaks, troughs, ok = _checked(beats_s, peak_values, trough_values, valid)
    no_rate = BreathingEstimate(breathing_rate_bpm=None, quality=0.0, modulations=())
    if ok.sum() < 4 or t[ok][-1] - t[ok][0] < min_span_s:
        return no_rate
    pair = ok[1:] & ok[:-1]
    series = {
        "riiv": (t[ok], 0.5 * (peaks + troughs)[ok]),
        "riav": (t[ok], (peaks - troughs)[ok]),
        "rifv": (0.5 * (t[1:] + t[:-1])[pair], np.diff(t)[pair]),
    }
    rates = tuple(_modulation_rate(name, *series[name], band_hz) for name in MODULATIONS)
    return _smart_fusion(rates, max_spread_bpm)


def _checked(beats_s, peak_values, trough_values, valid):
    t = np.asarray(beats_s, dtype=np.float64)
    peaks = np.asarray(peak_values, dtype=np.float64)
    troughs = np.asarray(trough_values, dtype=np.float64)
    ok = np.ones(t.shape, dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if t.ndim != 1 or not t.shape == peaks.shape == troughs.shape == ok.shape:
        raise InputError(
            "beats_s, peak_values, trough_values and valid must be 1-D of one length; got "
            f"{t.shape}, {peaks.shape}, {troughs.shape}, {ok.shape}"
        )
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(peaks[ok]))
            and np.all(np.isfinite(troughs[ok]))):
        raise InputError("beat times and values must be finite")
    if np.any(np.diff(t) <= 0):
        raise InputError("beats_s must be strictly increasing")
    return t, peaks, troughs, ok


def _modulation_rate(name: str, t: np.ndarray, v: np.ndarray,
                     band_hz: tuple[float, float]) -> ModulationRate:
    """Rate of one beat-sampled series: 4 Hz linear resampling, Welch peak, parabolic."""
    none = ModulationRate(name=name, rate_bpm=None, power_share=0.0, noise_share=1.0)
    if t.size < 4 or np.ptp(v) == 0.0:
        return none
    grid = np.arange(t[0], t[-1], 1.0 / RESAMPLE_HZ)
    freq, power, segment_s = _welch(np.interp(grid, t, v), RESAMPLE_HZ)
    half_hz = 1.0 / segment_s
    peak = spectral_peak(freq, power, band_hz, harmonic=False, snr_half_width_hz=half_hz)
    if peak is None:
        return none
    # SNR = S/N with S + N the band power, so S / (S + N) = 1 / (1 + 10^(-SNR/10)).
    share = 1.0 / (1.0 + 10.0 ** (-peak.snr_db / 10.0))
    f = freq[(freq >= band_hz[0]) & (freq <= band_hz[1])]
    f_peak = peak.rate_per_min / 60.0
    near = (np.abs(f - f_peak) <= half_hz) | (np.abs(f - 2 * f_peak) <= half_hz)
    return ModulationRate(name=name, rate_bpm=peak.rate_per_min, power_share=share,
                          noise_share=float(near.mean()))


def _welch(x: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean periodogram of ~32 s segments, 50 % overlap (one segment for short windows)."""
    n_seg = int(SEGMENT_S * fs)
    if x.size < 1.5 * n_seg:
        freq, power = power_spectrum(x, fs)
        return freq, power, x.size / fs
    starts = range(0, x.size - n_seg + 1, n_seg // 2)
    spectra = [power_spectrum(x[s : s + n_seg], fs) for s in starts]
    return spectra[0][0], np.mean([p for _, p in spectra], axis=0), SEGMENT_S


def _smart_fusion(rates: tuple[ModulationRate, ...], max_spread_bpm: float) -> BreathingEstimate:
    """Share-weighted mean of the clear modulations, or no rate if they disagree."""
    used = [m for m in rates if m.clear]
    rate = np.array([m.rate_bpm for m in used])
    if len(used) < 2 or rate.max() - rate.min() > max_spread_bpm:
        return BreathingEstimate(breathing_rate_bpm=None, quality=0.0, modulations=rates)
    share = np.array([m.power_share for m in used])
    fused = float(np.sum(share * rate) / share.sum())
    return BreathingEstimate(breathing_rate_bpm=fused, quality=float(share.mean()),
                             modulations=rates)


# -- streaming: the pipeline's breathing rate --------------------------------------------

STREAM_MIN_SNR_DB = 4.0
"""Power at the breathing peak over the rest of the band (half-width 1 / window) needed
for a rate. On simulator windows (8-24 breaths/min, 320x240 and 640x480) a still face gave
8-14 dB at 640x480, and every wrong peak under moderate head motion stayed below 1.5 dB
(at 1.5 dB, 7 % of the moving windows came out, at an MAE of 7.4 breaths/min)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StreamBreathing:
    """Breathing rate of the pipeline's recent trace.

    Attributes
    ----------
    breathing_rate_bpm : float or None
        Breaths per minute; ``None`` when the peak is not clear enough.
    quality : float
        0-1 from the SNR of the peak (0 without a rate).
    snr_db : float
        That SNR.
    """

    breathing_rate_bpm: float | None
    quality: float
    snr_db: float


def stream_breathing(rgb: np.ndarray, *, fs: float,
                     band_hz: tuple[float, float] = BREATHING_BAND_HZ,
                     min_snr_db: float = STREAM_MIN_SNR_DB) -> StreamBreathing:
    """Breathing rate from a window (>= ~20 s) of the skin's mean RGB.

    The estimate is the intensity variation of the blood volume (RIIV), read on the
    mean-normalised green-minus-blue trace: that projection is orthogonal to a change of
    brightness, so it cancels most head motion and light changes (as the first axis of
    POS does) but keeps the blood-volume colour change that breathing drives. The
    beat-by-beat modulations of `breathing_rate` (RIIV/RIAV/RIFV per beat) need clean
    beats that a 30 fps camera pulse rarely gives (they stay in `analyze_pulse` for
    contact PPG), and the pulse-amplitude envelope and the face box's vertical motion
    were wrong more often than right on the simulator's clips, so neither is fused here.

    Parameters
    ----------
    rgb : np.ndarray [shape=(n, 3)]
        Uniformly sampled mean skin RGB.
    fs : float
        Sampling rate, Hz.
    """
    n = rgb.shape[0]
    dc = rgb.mean(axis=0)
    if n < 8 or np.any(dc <= 0.0):
        return StreamBreathing(breathing_rate_bpm=None, quality=0.0, snr_db=-np.inf)
    low, high = 0.5 * band_hz[0], min(2.0 * band_hz[1], 0.45 * fs)
    riiv = bandpass(rgb[:, 1] / dc[1] - rgb[:, 2] / dc[2], fs=fs, low_hz=low, high_hz=high)
    freq, power = power_spectrum(riiv, fs)
    peak = spectral_peak(freq, power, band_hz, harmonic=False, snr_half_width_hz=fs / n)
    if peak is None or peak.snr_db < min_snr_db:
        snr = -np.inf if peak is None else peak.snr_db
        return StreamBreathing(breathing_rate_bpm=None, quality=0.0, snr_db=snr)
    return StreamBreathing(breathing_rate_bpm=peak.rate_per_min, snr_db=peak.snr_db,
                           quality=quality_from_snr(peak.snr_db, min_snr_db=min_snr_db))
