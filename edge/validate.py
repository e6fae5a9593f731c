"""Checks at the public boundary: each raises `InputError` saying what was expected
and what came. Kernels behind these checks assume valid, contiguous input.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge.errors import InputError

__all__ = ["valid_frame", "valid_fs", "valid_signal", "valid_timestamp"]

MIN_FRAME_PX = 8
MAX_TIMESTAMP_S = 1e12
"""Largest |timestamp_s| accepted (31,700 years). Beyond it a float64 cannot resolve a
frame period (at 1e15 s one step is 0.125 s), and nanosecond or microsecond clocks passed
as seconds land there."""
MIN_FS_HZ, MAX_FS_HZ = 1e-3, 1e6
"""Sampling rates accepted: durations (n / fs) and window lengths in samples (s * fs) must
stay representable; a denormal rate would make them infinite."""
MAX_SIGNAL_ABS = 1e100
"""Largest |value| of a signal: its squares and their sums stay finite."""


def _describe(x: Any) -> str:
    if isinstance(x, np.ndarray):
        return f"{x.dtype} {x.shape}"
    return type(x).__name__


def valid_frame(frame: Any) -> np.ndarray:
    """Return `frame` as a C-contiguous ``uint8 (H, W, 3)`` RGB array, or raise.

    Raises
    ------
    InputError
        For anything that is not a uint8 array of shape ``(H, W, 3)`` with H, W >= 8.
    """
    if (
        not isinstance(frame, np.ndarray)
        or frame.dtype != np.uint8
        or frame.ndim != 3
        or frame.shape[2] != 3
        or min(frame.shape[:2]) < MIN_FRAME_PX
    ):
        raise InputError(
            f"frame must be a uint8 (H, W, 3) RGB array with H, W >= {MIN_FRAME_PX}; "
            f"got {_describe(frame)}"
        )
    return np.ascontiguousarray(frame)


def valid_timestamp(timestamp_s: Any, last_s: float | None) -> float:
    """Return `timestamp_s` as a float after checking it is finite and after `last_s`."""
    try:
        t = float(timestamp_s)
    except (TypeError, ValueError):
        raise InputError(
            f"timestamp_s must be a number of seconds; got {type(timestamp_s).__name__}"
        ) from None
    if not math.isfinite(t):
        raise InputError(f"timestamp_s must be finite; got {t}")
    if abs(t) > MAX_TIMESTAMP_S:
        raise InputError(
            f"timestamp_s must be in seconds, |t| <= {MAX_TIMESTAMP_S:g}; got {t:g} "
            "(nanoseconds or microseconds passed as seconds?)"
        )
    if last_s is not None and t <= last_s:
        raise InputError(
            f"timestamp_s must increase strictly; got {t:.6f} s after {last_s:.6f} s"
        )
    return t


def valid_fs(fs: Any, *, name: str = "fs") -> float:
    """Return a sampling rate in Hz as a float, finite and positive."""
    try:
        value = float(fs)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a sampling rate in Hz; got {fs!r}") from None
    if not (MIN_FS_HZ <= value <= MAX_FS_HZ):  # also false for NaN
        raise InputError(
            f"{name} must be a rate in Hz within [{MIN_FS_HZ:g}, {MAX_FS_HZ:g}]; got {value}"
        )
    return value


def valid_signal(signal: Any, *, name: str = "signal", min_samples: int = 2) -> np.ndarray:
    """Return a finite 1-D signal as contiguous float64, or raise.

    Complex values and magnitudes above `MAX_SIGNAL_ABS` are refused: the first would
    lose their imaginary part silently, the second overflow in the spectrum (squares).
    """
    if np.iscomplexobj(signal):
        raise InputError(f"{name} must be real; got complex values {_describe(signal)}")
    try:
        x = np.asarray(signal, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(
            f"{name} must be a 1-D array of numbers; got {_describe(signal)}"
        ) from None
    if x.ndim != 1:
        raise InputError(f"{name} must be 1-D (n_samples,); got shape {x.shape}")
    if x.size < min_samples:
        raise InputError(f"{name} needs at least {min_samples} samples; got {x.size}")
    if not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise InputError(f"{name} must be finite; got {bad} NaN or inf value(s)")
    peak = float(np.abs(x).max()) if x.size else 0.0
    if peak > MAX_SIGNAL_ABS:
        raise InputError(f"{name} values must be within ±{MAX_SIGNAL_ABS:g}; got {peak:g}")
    return np.ascontiguousarray(x)
