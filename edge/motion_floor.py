"""The one line of a head-motion spectrum that stands clear of its local floor.

Postural sway is a broadband random process (a smooth spectrum, most of its power below
0.5 Hz); breathing lifts the head at one rate (a line). So a breathing line can be read
through sway larger than itself by its height above the sway's local spectral floor rather
than by the total motion. The floor at each frequency is the median power within
`FLOOR_HALF_WIDTH_HZ` of the vertical and of the horizontal spectrum (breathing lifts the
head; sideways motion shows the sway alone) over ln 2, a periodogram bin's median over its
mean. Head motion made of a few slow sinusoids puts lines above the floor, vertically or
sideways: then no line is "the" breathing line and none is returned.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from edge.rates import power_spectrum, spectral_peak

__all__ = ["CLEAR_MIN_DB", "FLOOR_HALF_WIDTH_HZ", "RIVAL_SHARE", "ClearLine", "clear_line"]

CLEAR_MIN_DB = 9.0
"""Height above the local floor a line needs: a periodogram bin of sway alone exceeds 8x
its mean with probability e^-8, so a breathing line stands out at 1.5 px through a few px."""
FLOOR_HALF_WIDTH_HZ = 0.2
"""Half-width of the neighbourhood whose median power is the local floor."""
RIVAL_SHARE = 0.01
"""Another clear line with at least this share of the vertical line's power withholds it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ClearLine:
    """A spectral line and its height above the local floor.

    Attributes
    ----------
    rate_bpm : float
        Its frequency, per minute (parabolic interpolation).
    clear_db : float
        Its power over the local floor, dB.
    """

    rate_bpm: float
    clear_db: float


def clear_line(vertical_px: np.ndarray, horizontal_px: np.ndarray | None, *, fs: float,
               band_hz: tuple[float, float],
               min_clear_db: float = CLEAR_MIN_DB) -> ClearLine | None:
    """The one line of `vertical_px` in `band_hz` at least `min_clear_db` above the floor.

    Parameters
    ----------
    vertical_px : np.ndarray [shape=(n,)]
        Uniformly sampled vertical displacement of the face (finite), pixels.
    horizontal_px : np.ndarray [shape=(n,)], optional
        Its horizontal displacement; ignored when missing or not finite.
    fs : float
        Sampling rate, Hz.
    band_hz : tuple of float
        Band of the line.
    min_clear_db : float
        Height above the local floor the line needs.

    Returns
    -------
    ClearLine or None
        ``None`` when no vertical line stands clear, or another one does (vertical, beyond
        its main lobe, or horizontal).
    """
    vertical_px = np.asarray(vertical_px, dtype=np.float64)
    freq, power = power_spectrum(vertical_px - vertical_px.mean(), fs)
    spectra = [power]
    if horizontal_px is not None and np.all(np.isfinite(horizontal_px)):
        spectra.append(power_spectrum(horizontal_px - np.mean(horizontal_px), fs)[1])
    lo, hi = np.searchsorted(freq, band_hz[0]), np.searchsorted(freq, band_hz[1], side="right")
    half = round(float(FLOOR_HALF_WIDTH_HZ / (freq[1] - freq[0])))
    start, stop = max(lo - half, 0), min(hi + half, freq.size)
    pad = (half - (lo - start), half - (stop - hi))
    windows = [sliding_window_view(np.pad(p[start:stop], pad, mode="edge"), 2 * half + 1)
               for p in spectra]
    floor = np.median(np.concatenate(windows, axis=1), axis=1) / np.log(2.0)
    level = 10.0 ** (min_clear_db / 10.0)
    bins = np.arange(max(lo, 1), min(hi, power.size - 1))
    peaks = [bins[(p[bins] >= p[bins - 1]) & (p[bins] >= p[bins + 1])] for p in spectra]
    clear = [p[peak] / floor[peak - lo] for p, peak in zip(spectra, peaks, strict=True)]
    if peaks[0].size == 0:
        return None
    best = int(np.argmax(clear[0]))
    k, clear_db = int(peaks[0][best]), 10.0 * np.log10(clear[0][best])
    # another clear line, vertical beyond the main lobe or sideways (periodic head motion,
    # not broadband sway), stronger than a Hann sidelobe (-31 dB): no breathing line
    lobe_hz = 2.0 * fs / vertical_px.size
    rivals = [(c >= level) & (p[peak] >= RIVAL_SHARE * power[k])
              for p, peak, c in zip(spectra, peaks, clear, strict=True)]
    rivals[0] &= np.abs(freq[peaks[0]] - freq[k]) > lobe_hz
    if not clear_db >= min_clear_db or any(r.any() for r in rivals):
        return None
    peak = spectral_peak(freq, power, (freq[k - 1], freq[k + 1]), harmonic=False)
    if peak is None:
        return None
    return ClearLine(rate_bpm=peak.rate_per_min, clear_db=float(clear_db))
