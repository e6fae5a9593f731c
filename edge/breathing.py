"""Breathing rate from the respiratory modulations of a pulse waveform, and from a face.

Contact PPG (`breathing_rate`): breathing modulates the pulse's intensity (RIIV), amplitude
(RIAV) and beat intervals (RIFV). Each is read as its beat-to-beat differences, which damp
the ~0.1 Hz Mayer wave that often outweighs breathing at rest, resampled to 4 Hz, and its
rate is the periodogram peak in 6-42 breaths/min. The modulations are fused by Smart
Fusion (Karlen et al., IEEE TBME 60(7):1946-1953, 2013): at least two clear peaks within
4 breaths/min, else no rate. Long spans are cut into 32 s windows (Charlton et al.,
Physiol. Meas. 37:610, 2016) and give the median of the windows that agree.

Camera (`stream_breathing`): the head's vertical breathing motion first, else the skin's
green-minus-blue colour (RIIV), each gated by the SNR of its peak. Under postural sway (a
smooth spectrum) the motion's breathing line is read by its height above the sway's local
spectral floor; no rate while the head moves sideways by more than a few pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.errors import InputError
from edge.filters import bandpass
from edge.motion_floor import CLEAR_MIN_DB, clear_line
from edge.rates import power_spectrum, quality_from_snr, spectral_peak

__all__ = ["BREATHING_BAND_HZ", "BreathingEstimate", "ModulationRate", "StreamBreathing",
           "breathing_rate", "stream_breathing"]

BREATHING_BAND_HZ = (0.1, 0.7)
RESAMPLE_HZ = 4.0
SEGMENT_S = 32.0
MIN_SPAN_S = 25.0
MIN_RATED_FRACTION = 1.0 / 3.0
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
        0-1: share of the band power of the beat-to-beat differences within one
        resolution bin (1 / segment length) of the peak and of its harmonic.
    noise_share : float
        The share that white noise on the beat series would give for the same peak once
        differenced and interpolated: the band's sum of sin^2(pi f T) sinc^4(f T) in
        those windows over its sum everywhere, T the median beat interval.
    """

    name: str
    rate_bpm: float | None
    power_share: float
    noise_share: float

    @property
    def clear(self) -> bool:
        """A rate, and more power at it than differenced white noise would put there."""
        return self.rate_bpm is not None and self.power_share > self.noise_share


@dataclass(frozen=True, kw_only=True, slots=True)
class BreathingEstimate:
    """A fused breathing rate and the per-modulation rates behind it.

    Attributes
    ----------
    breathing_rate_bpm : float or None
        Breaths per minute; ``None`` when the window is too short, when fewer than two
        modulations show a clear peak, or when those disagree (Smart Fusion); for a
        span of several windows, when too few windows give a rate or they disagree.
    quality : float
        0-1: mean `ModulationRate.power_share` of the modulations used; for several
        windows, the mean quality of the windows with a rate times their share of all
        windows; 0 without a rate.
    modulations : tuple of ModulationRate
        RIIV, RIAV and RIFV, in that order (empty when the window is too short); for
        several windows, those of the window whose rate is nearest the median (empty
        when too few windows give a rate).
    window_rates_bpm : tuple of (float or None)
        The fused rate of each ~32 s window (one entry for a single window).
    """

    breathing_rate_bpm: float | None
    quality: float
    modulations: tuple[ModulationRate, ...]
    window_rates_bpm: tuple[float | None, ...] = ()


def breathing_rate(beats_s: np.ndarray, peak_values: np.ndarray, trough_values: np.ndarray, *,
                   valid: np.ndarray | None = None,
                   band_hz: tuple[float, float] = BREATHING_BAND_HZ,
                   max_spread_bpm: float = MAX_SPREAD_BPM,
                   min_span_s: float = MIN_SPAN_S) -> BreathingEstimate:
    """Breathing rate of a span of beats (one window, or the median of ~32 s windows).

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
        The valid beats must span at least this long (a 30 s window spans ~29 s); each
        ~32 s window of a longer span needs the shorter of this and `MIN_SPAN_S`.

    Returns
    -------
    BreathingEstimate
    """
    t, peaks, troughs, ok = _checked(beats_s, peak_values, trough_values, valid)
    no_rate = BreathingEstimate(breathing_rate_bpm=None, quality=0.0, modulations=())
    if ok.sum() < 4:
        return no_rate
    first, last = t[ok][0], t[ok][-1]
    if last - first < min_span_s:
        return no_rate
    if last - first < 1.5 * SEGMENT_S:
        return _window_rate(t, peaks, troughs, ok, band_hz, max_spread_bpm)
    starts = np.append(np.arange(first, last - SEGMENT_S, 0.5 * SEGMENT_S), last - SEGMENT_S)
    windows = []
    for start in starts:
        inside = (t >= start) & (t <= start + SEGMENT_S)
        span_ok = ok & inside
        if span_ok.sum() < 4 or np.ptp(t[span_ok]) < min(min_span_s, MIN_SPAN_S):
            windows.append(no_rate)
            continue
        windows.append(_window_rate(t[inside], peaks[inside], troughs[inside], ok[inside],
                                    band_hz, max_spread_bpm))
    return _median_of_windows(windows, max_spread_bpm)


def _window_rate(t: np.ndarray, peaks: np.ndarray, troughs: np.ndarray, ok: np.ndarray,
                 band_hz: tuple[float, float], max_spread_bpm: float) -> BreathingEstimate:
    """Smart Fusion of the three modulations over one window."""
    pair = ok[1:] & ok[:-1]
    series = {
        "riiv": _successive_differences(t, ok, 0.5 * (peaks + troughs)),
        "riav": _successive_differences(t, ok, peaks - troughs),
        "rifv": _successive_differences(0.5 * (t[1:] + t[:-1]), pair, np.diff(t)),
    }
    rates = tuple(_modulation_rate(name, *series[name], band_hz) for name in MODULATIONS)
    return _smart_fusion(rates, max_spread_bpm)


def _median_of_windows(windows: list[BreathingEstimate],
                       max_spread_bpm: float) -> BreathingEstimate:
    """Median of the windows' rates, if enough windows give one and they agree."""
    rated = [w for w in windows if w.breathing_rate_bpm is not None]
    all_rates = tuple(w.breathing_rate_bpm for w in windows)
    rate = np.array([w.breathing_rate_bpm for w in rated])
    if len(rated) < max(2.0, MIN_RATED_FRACTION * len(windows)):
        return BreathingEstimate(breathing_rate_bpm=None, quality=0.0, modulations=(),
                                 window_rates_bpm=all_rates)
    q1, q3 = np.percentile(rate, [25, 75])
    median = float(np.median(rate))
    middle = rated[int(np.argmin(np.abs(rate - median)))]
    if q3 - q1 > max_spread_bpm:
        return BreathingEstimate(breathing_rate_bpm=None, quality=0.0,
                                 modulations=middle.modulations, window_rates_bpm=all_rates)
    quality = float(np.mean([w.quality for w in rated])) * len(rated) / len(windows)
    return BreathingEstimate(breathing_rate_bpm=median, quality=quality,
                             modulations=middle.modulations, window_rates_bpm=all_rates)


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


def _successive_differences(t: np.ndarray, ok: np.ndarray,
                            v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Differences of successive valid values, at the midpoints of their times.

    A difference that spans an invalid value is dropped, not taken across the gap.
    """
    values = np.full(t.size, np.nan)
    values[ok] = v[ok]
    dv = np.diff(values)
    keep = np.isfinite(dv)
    return (0.5 * (t[1:] + t[:-1]))[keep], dv[keep]


def _modulation_rate(name: str, t: np.ndarray, v: np.ndarray,
                     band_hz: tuple[float, float]) -> ModulationRate:
    """Rate of one difference series: 4 Hz linear resampling, periodogram peak, parabolic."""
    none = ModulationRate(name=name, rate_bpm=None, power_share=0.0, noise_share=1.0)
    if t.size < 4 or np.ptp(v) == 0.0:
        return none
    grid = np.arange(t[0], t[-1], 1.0 / RESAMPLE_HZ)
    freq, power = power_spectrum(np.interp(grid, t, v), RESAMPLE_HZ)
    half_hz = RESAMPLE_HZ / grid.size
    peak = spectral_peak(freq, power, band_hz, harmonic=False, snr_half_width_hz=half_hz)
    if peak is None:
        return none
    # SNR = S/N with S + N the band power, so S / (S + N) = 1 / (1 + 10^(-SNR/10)).
    share = 1.0 / (1.0 + 10.0 ** (-peak.snr_db / 10.0))
    f = freq[(freq >= band_hz[0]) & (freq <= band_hz[1])]
    f_peak = peak.rate_per_min / 60.0
    near = (np.abs(f - f_peak) <= half_hz) | (np.abs(f - 2 * f_peak) <= half_hz)
    # White noise on the beats, differenced (power |2 sin(pi f T)|^2) and then linearly
    # interpolated (a triangle of half-width T: amplitude T sinc^2(f T)).
    beat_s = np.median(np.diff(t))
    white = np.sin(np.pi * f * beat_s) ** 2 * np.sinc(f * beat_s) ** 4
    return ModulationRate(name=name, rate_bpm=peak.rate_per_min, power_share=share,
                          noise_share=float(white[near].sum() / white.sum()))


def _smart_fusion(rates: tuple[ModulationRate, ...], max_spread_bpm: float) -> BreathingEstimate:
    """Share-weighted mean of the clear modulations, or no rate if they disagree."""
    used = [m for m in rates if m.clear]
    rate = np.array([m.rate_bpm for m in used])
    if len(used) < 2 or rate.max() - rate.min() > max_spread_bpm:
        return BreathingEstimate(breathing_rate_bpm=None, quality=0.0, modulations=rates,
                                 window_rates_bpm=(None,))
    share = np.array([m.power_share for m in used])
    fused = float(np.sum(share * rate) / share.sum())
    return BreathingEstimate(breathing_rate_bpm=fused, quality=float(share.mean()),
                             modulations=rates, window_rates_bpm=(fused,))


# -- streaming: the pipeline's breathing rate --------------------------------------------

STREAM_MIN_SNR_DB = 4.0
"""Power at the colour trace's breathing peak over the rest of the band needed for a rate;
wrong peaks under head motion stayed well below it on the simulator's clips."""
MOTION_MIN_SNR_DB = 2.0
"""SNR of the head-motion breathing peak needed for a rate (lower than the colour gate:
the motion trace carries no pulse or colour noise, and the residual and sway gates guard it)."""
MOTION_MAX_RESIDUAL = 0.008
"""Largest RMS of the band's vertical motion outside the peak, as a fraction of the face
height: more means other head motion that makes breathing-like peaks of its own."""
MOTION_MAX_SWAY = 0.014
"""Largest RMS of the face's horizontal motion around the band (0.05-1.4 Hz), as a
fraction of the face height, for any rate: more is deliberate head movement (turning,
leaning) whose own lines stand clear of the sway floor, or sway too large for a 1-2 px
breathing line to; it moves the head vertically and skin texture under the ROI too."""


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


def stream_breathing(rgb: np.ndarray, *, fs: float, vertical_px: np.ndarray | None = None,
                     horizontal_px: np.ndarray | None = None,
                     face_height_px: float | None = None,
                     band_hz: tuple[float, float] = BREATHING_BAND_HZ,
                     min_snr_db: float = STREAM_MIN_SNR_DB) -> StreamBreathing:
    """Breathing rate from a window (>= ~20 s) of the skin's mean RGB and head motion.

    With `vertical_px` (the face's vertical displacement, `edge.head_motion`) the rate is
    read first from it (breathing lifts the head): a peak of `MOTION_MIN_SNR_DB` with little
    other motion (`MOTION_MAX_RESIDUAL`), else the one line that stands `CLEAR_MIN_DB`
    clear of the sway's local floor (`edge.motion_floor`); else the colour estimate, the
    blood-volume intensity variation (RIIV) on the mean-normalised green-minus-blue trace
    (orthogonal to a change of brightness). A head that moves sideways (`horizontal_px`) by
    more than `MOTION_MAX_SWAY` of the face height gets no rate.

    Parameters
    ----------
    rgb : np.ndarray [shape=(n, 3)]
        Uniformly sampled mean skin RGB.
    fs : float
        Sampling rate, Hz (of `rgb` and of the motion traces).
    vertical_px : np.ndarray [shape=(m,)], optional
        Uniformly sampled vertical displacement of the face, pixels.
    horizontal_px : np.ndarray [shape=(m,)], optional
        Its horizontal displacement, pixels; read only with `vertical_px`.
    face_height_px : float, optional
        Face height in pixels, the scale of `MOTION_MAX_RESIDUAL` and `MOTION_MAX_SWAY`;
        needed with `vertical_px`.
    """
    none = StreamBreathing(breathing_rate_bpm=None, quality=0.0, snr_db=-np.inf)
    if vertical_px is not None and face_height_px is not None and face_height_px > 0:
        vertical = np.asarray(vertical_px, dtype=np.float64)
        horizontal = None if horizontal_px is None else np.asarray(horizontal_px, np.float64)
        if horizontal is not None and _sway_px(horizontal, fs, band_hz) > (
                MOTION_MAX_SWAY * face_height_px):  # NaN (untracked) compares False
            return none
        motion = _motion_rate(vertical, fs, face_height_px, band_hz)
        if motion is None and vertical.size >= 8 and np.all(np.isfinite(vertical)):
            motion = _clear_rate(vertical, horizontal, fs, band_hz)
        if motion is not None:
            return motion
    n = rgb.shape[0]
    dc = rgb.mean(axis=0)
    if n < 8 or np.any(dc <= 0.0):
        return none
    return _band_rate(rgb[:, 1] / dc[1] - rgb[:, 2] / dc[2], fs, band_hz, min_snr_db)[0]


def _band_rate(x: np.ndarray, fs: float, band_hz: tuple[float, float],
               min_snr_db: float) -> tuple[StreamBreathing, np.ndarray]:
    """Rate of the spectral peak of `x` band-passed around `band_hz`, gated at
    `min_snr_db`, and the band-passed `x`.
    """
    filtered = _around_band(x, fs, band_hz)
    freq, power = power_spectrum(filtered, fs)
    peak = spectral_peak(freq, power, band_hz, harmonic=False, snr_half_width_hz=fs / x.size)
    if peak is None or peak.snr_db < min_snr_db:
        snr = -np.inf if peak is None else peak.snr_db
        return StreamBreathing(breathing_rate_bpm=None, quality=0.0, snr_db=snr), filtered
    return StreamBreathing(breathing_rate_bpm=peak.rate_per_min, snr_db=peak.snr_db,
                           quality=quality_from_snr(peak.snr_db, min_snr_db=min_snr_db)), filtered


def _sway_px(horizontal_px: np.ndarray, fs: float, band_hz: tuple[float, float]) -> float:
    """RMS of the head's horizontal motion around the breathing band (NaN if unknown)."""
    sway = np.asarray(horizontal_px, dtype=np.float64)
    if sway.size < 8 or not np.all(np.isfinite(sway)):
        return np.nan
    return float(_around_band(sway - sway.mean(), fs, band_hz).std())


def _around_band(x: np.ndarray, fs: float, band_hz: tuple[float, float]) -> np.ndarray:
    """`x` band-passed an octave either side of `band_hz` (0.05-1.4 Hz for breathing)."""
    return bandpass(x, fs=fs, low_hz=0.5 * band_hz[0], high_hz=min(2.0 * band_hz[1], 0.45 * fs))


def _motion_rate(vertical_px: np.ndarray, fs: float, face_height_px: float,
                 band_hz: tuple[float, float]) -> StreamBreathing | None:
    """Breathing rate of the head's vertical motion, or ``None`` if unclear."""
    if vertical_px.size < 8 or not np.all(np.isfinite(vertical_px)):
        return None
    estimate, bob = _band_rate(vertical_px - vertical_px.mean(), fs, band_hz,
                               MOTION_MIN_SNR_DB)
    if estimate.breathing_rate_bpm is None:
        return None
    # the share of the band power outside the peak is 1 / (1 + 10^(SNR/10))
    residual = bob.std() / np.sqrt(1.0 + 10.0 ** (estimate.snr_db / 10.0))
    if residual > MOTION_MAX_RESIDUAL * face_height_px:
        return None
    return estimate


def _clear_rate(vertical_px: np.ndarray, horizontal_px: np.ndarray | None, fs: float,
                band_hz: tuple[float, float]) -> StreamBreathing | None:
    """The vertical motion's one clear line (`edge.motion_floor`) as a breathing rate."""
    line = clear_line(vertical_px, horizontal_px, fs=fs, band_hz=band_hz)
    if line is None:
        return None
    return StreamBreathing(breathing_rate_bpm=line.rate_bpm, snr_db=line.clear_db,
                           quality=quality_from_snr(line.clear_db, min_snr_db=CLEAR_MIN_DB))
