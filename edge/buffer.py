"""Timestamped ROI means -> a uniformly sampled trace.

Frames arrive with irregular timestamps (jitter, dropped frames, a slow moment).
`Resampler` emits samples on the grid ``t0 + k / fs`` by linear interpolation between
the two frames around each grid time, so the projection methods and the spectrum see
a uniform rate. Gaps too long to interpolate across are the caller's to detect (with
`last_timestamp_s`) and answer with `reset`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["Resampler"]


class Resampler:
    """Linear-interpolating resampler to a uniform grid, one input sample at a time.

    Parameters
    ----------
    fs : float
        Output rate in Hz.
    emit : callable
        Called with each output sample, an array of shape (3,).
    """

    def __init__(self, *, fs: float, emit: Callable[[np.ndarray], None]):
        self.period_s = 1.0 / fs
        self.emit = emit
        self._last_t: float | None = None
        self._last_value = np.zeros(3)
        self._next_t = 0.0
        self._out = np.zeros(3)
        self.emitted = 0
        self.emitted_total = 0
        """Outputs emitted since construction (never reset; a work counter)."""

    def reset(self) -> None:
        """Forget the last sample; the next one starts a new grid."""
        self._last_t = None
        self.emitted = 0

    @property
    def last_timestamp_s(self) -> float | None:
        """Timestamp of the last input, or ``None`` before the first (or after a reset)."""
        return self._last_t

    def push(self, timestamp_s: float, value: np.ndarray) -> None:
        """Add one input sample (timestamps must increase); emits 0 or more outputs."""
        if self._last_t is None:
            self._start(timestamp_s, value)
            return
        dt = timestamp_s - self._last_t
        while self._next_t <= timestamp_s:
            w = (self._next_t - self._last_t) / dt
            np.multiply(self._last_value, 1.0 - w, out=self._out)
            self._out += w * value  # 3 floats: cheaper than avoiding the temporary
            self.emit(self._out)
            self.emitted += 1
            self.emitted_total += 1
            self._next_t += self.period_s
        self._last_t = timestamp_s
        self._last_value[:] = value

    def _start(self, timestamp_s: float, value: np.ndarray) -> None:
        self._last_t = timestamp_s
        self._last_value[:] = value
        self._out[:] = value
        self.emit(self._out)
        self.emitted = 1
        self.emitted_total += 1
        self._next_t = timestamp_s + self.period_s
