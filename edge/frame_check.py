"""The first stage of a push: a valid frame and timestamp, and whether the stream broke.

A gap longer than ``rppg.max_gap_s`` cannot be interpolated across, and a new frame size
means a new camera mode: either way the signal must start again.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np

from edge.validate import valid_frame, valid_timestamp

__all__ = ["Break", "FrameCheck"]


class Break(enum.Enum):
    """Why the stream cannot continue from the previous frame."""

    NONE = "none"
    GAP = "gap"
    """Too long since the previous frame: restart the signal, keep the face."""
    FRAME_SIZE = "frame_size"
    """A new frame size: nothing carries over, not even the face."""


class FrameCheck:
    """Checks each frame and timestamp and says whether the stream broke before it."""

    def __init__(self, *, max_gap_s: float):
        self.max_gap_s = max_gap_s
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame."""
        self._last_t: float | None = None
        self._frame_shape: tuple[int, ...] | None = None

    def check(self, frame: Any, timestamp_s: float) -> tuple[np.ndarray, float, Break]:
        """The frame as an array, its time, and the break before it; raises `InputError`."""
        frame = valid_frame(frame)
        t = valid_timestamp(timestamp_s, self._last_t)
        broke = Break.NONE
        if self._last_t is not None and t - self._last_t > self.max_gap_s:
            broke = Break.GAP
        if frame.shape != self._frame_shape:
            if self._frame_shape is not None:
                broke = Break.FRAME_SIZE
            self._frame_shape = frame.shape
        self._last_t = t
        return frame, t, broke
