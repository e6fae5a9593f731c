"""Butterworth band-pass design and zero-phase filtering, without SciPy at run time.

SciPy would add much resident memory to the device process for two functions,
so the design (analog prototype → band-pass transform → bilinear transform) is
written here in numpy and the filtering loop is a numba kernel. The tests compare
both against ``scipy.signal.butter`` / ``sosfilt`` / ``sosfiltfilt``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from edge.errors import InputError
from edge.kernels import _sosfilt
from edge.validate import valid_fs, valid_signal

__all__ = ["bandpass", "butter_bandpass_sos", "sosfilt", "sosfiltfilt"]


MIN_RELATIVE_EDGE = 1e-5
"""Lowest band edge as a fraction of fs: below it the design loses float64 precision."""


@lru_cache(maxsize=32)
def _design(low_hz: float, high_hz: float, fs: float, order: int) -> np.ndarray:
    # Analog Butterworth low-pass prototype poles on the unit circle, left half-plane.
    k = np.arange(1, order + 1)
    proto = np.exp(1j * np.pi * (2 * k + order - 1) / (2 * order))
    # Pre-warped band edges (rad/s) for the bilinear transform.
    w1, w2 = 2 * fs * np.tan(np.pi * np.array([low_hz, high_hz]) / fs)
    w0_sq, bw = w1 * w2, w2 - w1
    # Low-pass -> band-pass: each prototype pole p gives the roots of s² - p·bw·s + w0² = 0.
    disc = np.sqrt((proto * bw) ** 2 - 4 * w0_sq + 0j)
    s_poles = np.concatenate([(proto * bw + disc) / 2, (proto * bw - disc) / 2])
    z_poles = (2 * fs + s_poles) / (2 * fs - s_poles)
    sections = [np.array([1.0, 0.0, -1.0, *_pair(a, b)]) for a, b in _pairs(z_poles)]
    sos = np.array(sections)
    # Unit gain at the (digital) centre frequency.
    w_centre = 2 * np.arctan(np.sqrt(w0_sq) / (2 * fs))
    z = np.exp(1j * w_centre)
    gain = np.prod([np.polyval(s[:3], z) / np.polyval(s[3:], z) for s in sos])
    sos[0, :3] /= abs(gain)
    return sos


def _pairs(poles: np.ndarray) -> list[tuple[complex, complex]]:
    """Group poles into conjugate pairs, and real poles two by two."""
    tol = 1e-9
    upper = sorted((p for p in poles if p.imag > tol), key=lambda p: abs(p))
    real = sorted((p.real for p in poles if abs(p.imag) <= tol))
    pairs = [(p, np.conj(p)) for p in upper]
    pairs += [(complex(real[i]), complex(real[i + 1])) for i in range(0, len(real), 2)]
    return pairs


def _pair(a: complex, b: complex) -> tuple[float, float, float]:
    """Denominator (1, a1, a2) of (1 - a z⁻¹)(1 - b z⁻¹)."""
    return 1.0, float(-(a + b).real), float((a * b).real)


def butter_bandpass_sos(low_hz: float, high_hz: float, *, fs: float, order: int = 2) -> np.ndarray:
    """Design a digital Butterworth band-pass as second-order sections.

    Parameters
    ----------
    low_hz, high_hz : float
        Pass-band edges (-3 dB) in Hz, ``0 < low_hz < high_hz < fs / 2``.
    fs : float
        Sampling rate in Hz.
    order : int
        Order of the low-pass prototype; the band-pass has ``2 * order`` poles.

    Returns
    -------
    np.ndarray [shape=(order, 6), dtype=float64]
        Rows ``b0 b1 b2 a0 a1 a2`` as in ``scipy.signal``.
    """
    fs = valid_fs(fs)
    if not 0 < low_hz < high_hz < fs / 2:
        raise InputError(
            f"band edges must satisfy 0 < low < high < fs/2 = {fs / 2:g} Hz; "
            f"got {low_hz:g}, {high_hz:g}"
        )
    if not 1 <= int(order) <= 8:
        raise InputError(f"order must be in 1..8; got {order}")
    if low_hz < MIN_RELATIVE_EDGE * fs:
        raise InputError(f"low_hz must be at least {MIN_RELATIVE_EDGE:g} * fs = "
                         f"{MIN_RELATIVE_EDGE * fs:g} Hz for a stable design; got {low_hz:g}")
    with np.errstate(all="ignore"):
        sos = _design(float(low_hz), float(high_hz), fs, int(order)).copy()
    if not np.all(np.isfinite(sos)):
        raise InputError(f"no stable band-pass for {low_hz:g}-{high_hz:g} Hz at fs = {fs:g} Hz")
    return sos


def sosfilt(sos: np.ndarray, signal: np.ndarray) -> np.ndarray:
    """Causal filtering with zero initial state (``scipy.signal.sosfilt`` without ``zi``)."""
    x = valid_signal(signal)
    y = np.empty_like(x)
    _sosfilt(np.ascontiguousarray(sos, dtype=np.float64), x, y)
    return y


def sosfiltfilt(sos: np.ndarray, signal: np.ndarray, *, pad_s: float | None = None,
                fs: float | None = None) -> np.ndarray:
    """Zero-phase filtering: forward, then backward, over an odd-reflected extension.

    The extension (``pad_s`` seconds at `fs`, default three times the number of
    coefficients, as SciPy) lets the start-up transient die out before the signal.
    """
    x = valid_signal(signal)
    sos = np.ascontiguousarray(sos, dtype=np.float64)
    pad = 3 * (2 * sos.shape[0] + 1) if pad_s is None or fs is None else int(pad_s * fs)
    pad = min(pad, x.size - 1)
    ext = np.concatenate([2 * x[0] - x[pad:0:-1], x, 2 * x[-1] - x[-2 : -pad - 2 : -1]])
    fwd = np.empty_like(ext)
    _sosfilt(sos, ext, fwd)
    back = np.empty_like(ext)
    _sosfilt(sos, np.ascontiguousarray(fwd[::-1]), back)
    return back[::-1][pad : pad + x.size].copy()


def bandpass(signal: np.ndarray, *, fs: float, low_hz: float, high_hz: float,
             order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass of a 1-D signal, with a 2-period edge extension."""
    sos = butter_bandpass_sos(low_hz, high_hz, fs=fs, order=order)
    return sosfiltfilt(sos, signal, pad_s=2.0 / low_hz, fs=fs)
