"""Motion of the face's content, frame by frame, for the breathing rate and the CNN method.

Breathing lifts and lowers the head by a pixel or two. The face box cannot show it: the
tracker holds the box still until the face has really moved (`edge.roi`), and a Haar box
jitters by more than that anyway (on the simulator's clips box y correlated 0.00-0.08
with the head's true position). So the motion is measured on the picture itself.

Vertically: the green row profile of the face (the box's middle three fifths of columns,
its rows extended by a quarter of its height each way), divided by its mean, is matched
to that of a key frame by 1-D Lucas-Kanade (Gauss-Newton on the key profile's gradient,
started from the last shift), which gives sub-pixel shifts. Horizontally the same on the
column profile (the middle three fifths of rows, columns extended by a quarter of the
width each way). A new key frame is taken when a shift passes `rekey_px` or the box
moves, carrying the displacement over, so the traces are continuous.

Breathing moves the head up and down, not sideways: the horizontal trace is the
breathing estimator's measure of the head's own motion (`edge.breathing`), which in the
vertical trace cannot be told from breathing.

The profiles and the Gauss-Newton steps are numba kernels (`edge.kernels._row_profile`,
`_column_profile`, `_profile_shift`, numpy references in `tests/test_edge_kernels.py`):
in numpy the strided mean over ~25k pixels and the interpolations of each step took
0.043 ms per frame and axis on one x86 core and allocated per frame; as kernels
0.017 ms per axis, 0.034 ms for both, nothing allocated but a new key frame
(the simulator's cost model measures an update of both axes as ``head_motion_s``).
"""

from __future__ import annotations

import math

import numpy as np

from edge import kernels
from edge.types import Box
from edge.validate import valid_frame

__all__ = ["HeadMotion", "HeadSpeed"]

Region = tuple[int, int, int, int]
"""(y0, y1, x0, x1) of a frame."""
MIN_TEXTURE = 0.005
"""Smallest RMS gradient of a key profile (per pixel, relative to its mean) worth
tracking. The simulator's faces give 0.02-0.03 on both axes; a uniform skin patch with
camera noise 0.0015-0.002, on which Lucas-Kanade follows the noise by pixels. Below it
the displacement is NaN: unknown, not zero."""


class _AxisShift:
    """Displacement along one axis: a profile of a region matched to a key frame's."""

    def __init__(self, axis: int, *, rekey_px: float, iterations: int):
        self.axis = axis
        """0: the row profile gives the vertical shift; 1: the column profile, horizontal."""
        self._profile_kernel = kernels._row_profile if axis == 0 else kernels._column_profile
        self.rekey_px = rekey_px
        self.iterations = iterations
        self._buffer = np.zeros(0)
        self.reset()

    def reset(self) -> None:
        self._key: np.ndarray | None = None
        self._key_gradient = np.zeros(0)
        self._region: Region = (0, 0, 0, 0)
        self._offset_px = 0.0
        self._shift_px = 0.0

    def update(self, frame: np.ndarray, region: Region) -> float:
        """Displacement in `frame` of the profile of `region`."""
        y0, y1, x0, x1 = region
        length, across = (y1 - y0, x1 - x0) if self.axis == 0 else (x1 - x0, y1 - y0)
        if self._key is not None and region != self._region:  # measure, then rekey
            self._shift_px = self._match(self._profile(frame, self._region))
            self._rekey(frame, region)
        elif self._key is None or length < 8 or across <= 0:
            self._rekey(frame, region)
        else:
            self._shift_px = self._match(self._profile(frame, region))
            if abs(self._shift_px) > self.rekey_px:
                self._rekey(frame, region)
        if self._key is None:
            return np.nan
        return self._offset_px + self._shift_px

    def _rekey(self, frame: np.ndarray, region: Region) -> None:
        self._offset_px += self._shift_px
        self._shift_px = 0.0
        self._region = region
        profile = self._profile(frame, region)
        gradient = np.gradient(profile) if profile.size >= 8 else profile
        if profile.size < 8 or np.sqrt(np.mean(gradient * gradient)) < MIN_TEXTURE:
            self._key = None
            return
        self._key = profile.copy()
        self._key_gradient = gradient

    def _profile(self, frame: np.ndarray, region: Region) -> np.ndarray:
        """The region's profile over its mean (a view of a reused buffer)."""
        y0, y1, x0, x1 = region
        n = max(0, y1 - y0 if self.axis == 0 else x1 - x0)
        if self._buffer.size < n:
            self._buffer = np.zeros(2 * n)
        if self._profile_kernel(frame, y0, y1, x0, x1, self._buffer) <= 0.0:
            return self._buffer[:0]
        return self._buffer[:n]

    def _match(self, profile: np.ndarray) -> float:
        """Shift s with profile(y) ~ key(y - s), from the last shift."""
        key = self._key
        if key is None or profile.size != key.size:
            return self._shift_px
        return kernels._profile_shift(key, self._key_gradient, profile, self._shift_px,
                                      self.iterations)


class HeadMotion:
    """Horizontal and vertical displacement of the face's content since the first frame.

    Pixels, positive rightwards and downwards; NaN on an axis along which the face has
    too little texture to track (`MIN_TEXTURE`). `update` once per frame with the
    tracker's box.
    """

    def __init__(self, *, rekey_px: float = 3.0, iterations: int = 4):
        self._vertical = _AxisShift(0, rekey_px=rekey_px, iterations=iterations)
        self._horizontal = _AxisShift(1, rekey_px=rekey_px, iterations=iterations)

    def reset(self) -> None:
        """Forget the key frames; the next displacements are 0."""
        self._horizontal.reset()
        self._vertical.reset()

    def update(self, frame: np.ndarray, box: Box) -> tuple[float, float]:
        """Displacement (horizontal_px, vertical_px) of the face in `frame` (uint8 RGB,
        H x W x 3) inside `box`.
        """
        if frame.dtype != np.uint8 or frame.ndim != 3 or not frame.flags.c_contiguous:
            frame = valid_frame(frame)
        height, width = frame.shape[:2]
        # rows extended by a quarter each way, the middle three fifths of the columns
        y0, y1 = max(0, box.y - box.height // 4), min(height, box.y + box.height + box.height // 4)
        x0, x1 = max(0, box.x + box.width // 5), min(width, box.x + box.width - box.width // 5)
        vertical = self._vertical.update(frame, (y0, y1, x0, x1))
        # columns extended by a quarter each way, the middle three fifths of the rows
        y0, y1 = max(0, box.y + box.height // 5), min(height, box.y + box.height - box.height // 5)
        x0, x1 = max(0, box.x - box.width // 4), min(width, box.x + box.width + box.width // 4)
        horizontal = self._horizontal.update(frame, (y0, y1, x0, x1))
        return horizontal, vertical


class HeadSpeed:
    """RMS sideways speed of the face, in face heights per second, over about `window_s`.

    Fed the horizontal displacement of `HeadMotion` once per frame. The position is first
    smoothed over `smooth_s` (an exponential mean: frame-to-frame differences of the raw
    track are mostly its sub-pixel noise), its change per second is squared, divided by
    the face height squared and averaged exponentially over `window_s`. A NaN
    displacement (no texture) leaves the estimate as it was.

    Sideways only, as in `edge.breathing`: breathing bobs the head up and down, and the
    vertical track also carries more camera noise. With both axes a still face read
    0.009-0.012 at 640x480, 0.017-0.023 at 320x240 and 0.033-0.045 at 160x120 (5th-95th
    percentiles over 1.6 s windows, the simulator's clips), as much as
    moderate head motion at the lower resolutions; sideways only:

    ============  ===============  =============  ===========  ===========
    frames        still (light,    mild motion    moderate     strong
                  dark at 0.35)
    ============  ===============  =============  ===========  ===========
    640x480       0.0004-0.0014    0.003-0.012    0.019-0.073  0.17-0.37
    320x240       0.0007-0.0030    0.004-0.011    0.020-0.074  0.18-0.37
    160x120       0.0018-0.0079    0.005-0.013    0.020-0.070  0.17-0.37
    ============  ===============  =============  ===========  ===========
    """

    def __init__(self, *, window_s: float = 1.6, smooth_s: float = 0.1):
        self.window_s = window_s
        self.smooth_s = smooth_s
        self.reset()

    def reset(self) -> None:
        """Forget the track; the speed is 0 until two frames have been seen."""
        self._t: float | None = None
        self._x = 0.0
        self._mean_square = 0.0
        self.speed_hps = 0.0
        """The newest RMS speed, face heights per second."""

    def update(self, timestamp_s: float, horizontal_px: float, face_height_px: float) -> float:
        """Add one frame's horizontal displacement; return `speed_hps`."""
        if not math.isfinite(horizontal_px) or face_height_px <= 0.0:
            return self.speed_hps
        if self._t is None:
            self._t, self._x = timestamp_s, horizontal_px
            return self.speed_hps
        dt = timestamp_s - self._t
        if dt <= 0.0:
            return self.speed_hps
        step = (1.0 - math.exp(-dt / self.smooth_s)) * (horizontal_px - self._x)
        self._t, self._x = timestamp_s, self._x + step
        square = step * step / (dt * dt * face_height_px * face_height_px)
        self._mean_square += (1.0 - math.exp(-dt / self.window_s)) * (square - self._mean_square)
        self.speed_hps = math.sqrt(self._mean_square)
        return self.speed_hps
