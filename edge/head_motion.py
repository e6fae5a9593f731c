"""Vertical motion of the face's content, frame by frame, for the breathing rate.

Breathing lifts and lowers the head by a pixel or two. The face box cannot show it: the
tracker holds the box still until the face has really moved (`edge.roi`), and a Haar box
jitters by more than that anyway (on the simulator's clips box y correlated 0.00-0.08
with the head's true position). So the motion is measured on the picture itself: the
green row profile of the face (the box's middle three fifths of columns, its rows
extended by a quarter of its height each way), divided by its mean, is matched to that
of a key frame by 1-D Lucas-Kanade (Gauss-Newton on the key profile's gradient, started
from the last shift), which gives sub-pixel shifts. A new key frame is taken when the
shift passes `rekey_px` or the box moves, carrying the displacement over, so the trace
is continuous.

The row means and the Gauss-Newton steps are numba kernels (`edge.kernels._row_profile`,
`_profile_shift`, numpy references in `tests/test_edge_kernels.py`): in numpy the
strided mean over ~25k pixels and the interpolations of each step took 0.043 ms per
frame on one x86 core and allocated per frame; as kernels 0.017 ms, nothing allocated
but a new key frame (`firmware_sim.costs` measures the update as ``head_motion_s``).
"""

from __future__ import annotations

import numpy as np

from edge import kernels
from edge.types import Box
from edge.validate import valid_frame

__all__ = ["VerticalMotion"]


class VerticalMotion:
    """Vertical displacement of the face's content since the first frame, in pixels.

    Positive is downwards. `update` once per frame with the tracker's box.
    """

    def __init__(self, *, rekey_px: float = 3.0, iterations: int = 4):
        self.rekey_px = rekey_px
        self.iterations = iterations
        self._buffer = np.zeros(0)
        self.reset()

    def reset(self) -> None:
        """Forget the key frame; the next displacement is 0."""
        self._key: np.ndarray | None = None
        self._key_gradient = np.zeros(0)
        self._region = (0, 0, 0, 0)
        self._offset_px = 0.0
        self._shift_px = 0.0

    def update(self, frame: np.ndarray, box: Box) -> float:
        """Displacement of the face in `frame` (uint8 RGB, H x W x 3) inside `box`."""
        if frame.dtype != np.uint8 or frame.ndim != 3 or not frame.flags.c_contiguous:
            frame = valid_frame(frame)
        x0, x1 = box.x + box.width // 5, box.x + box.width - box.width // 5
        y0 = max(0, box.y - box.height // 4)
        y1 = min(frame.shape[0], box.y + box.height + box.height // 4)
        region = (y0, y1, max(0, x0), min(frame.shape[1], x1))
        if self._key is not None and region != self._region:  # measure, then rekey
            self._shift_px = self._match(self._profile(frame, self._region))
            self._rekey(frame, region)
        elif self._key is None or region[1] - region[0] < 8 or region[3] <= region[2]:
            self._rekey(frame, region)
        else:
            self._shift_px = self._match(self._profile(frame, region))
            if abs(self._shift_px) > self.rekey_px:
                self._rekey(frame, region)
        return self._offset_px + self._shift_px

    def _rekey(self, frame: np.ndarray, region: tuple[int, int, int, int]) -> None:
        self._offset_px += self._shift_px
        self._shift_px = 0.0
        self._region = region
        profile = self._profile(frame, region)
        if profile.size < 8:
            self._key = None
            return
        self._key = profile.copy()
        self._key_gradient = np.gradient(self._key)

    def _profile(self, frame: np.ndarray, region: tuple[int, int, int, int]) -> np.ndarray:
        """Mean green of each row of `region` over its mean (a view of a reused buffer)."""
        y0, y1, x0, x1 = region
        n = max(0, y1 - y0)
        if self._buffer.size < n:
            self._buffer = np.zeros(2 * n)
        if kernels._row_profile(frame, y0, y1, x0, x1, self._buffer) <= 0.0:
            return self._buffer[:0]
        return self._buffer[:n]

    def _match(self, profile: np.ndarray) -> float:
        """Shift s (rows) with profile(y) ~ key(y - s), from the last shift."""
        key = self._key
        if key is None or profile.size != key.size:
            return self._shift_px
        return kernels._profile_shift(key, self._key_gradient, profile, self._shift_px,
                                      self.iterations)
