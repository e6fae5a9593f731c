"""Frames already in memory: an array (n, H, W, 3) or any sequence of RGB frames."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from edge.capture.base import SourceBase
from edge.errors import InputError
from edge.validate import valid_fs

__all__ = ["ArraySource"]


class ArraySource(SourceBase):
    """Frames from memory with timestamps ``i / fps``, or explicit `timestamps_s`.

    Parameters
    ----------
    frames : np.ndarray [shape=(n, H, W, 3), dtype=uint8] or sequence of (H, W, 3) arrays
        RGB frames.
    fps : float, optional
        Frame rate for evenly spaced timestamps.
    timestamps_s : array-like [shape=(n,)], optional
        Capture times in seconds (instead of `fps`).
    """

    def __init__(self, frames: np.ndarray | Sequence[np.ndarray], *, fps: float | None = None,
                 timestamps_s: Sequence[float] | np.ndarray | None = None):
        if (fps is None) == (timestamps_s is None):
            raise InputError("frames in memory need exactly one of fps= or timestamps_s=")
        self.frames = frames
        n = len(frames)
        if timestamps_s is None:
            self.fps = valid_fs(fps, name="fps")
            self.timestamps_s = np.arange(n) / self.fps
        else:
            self.timestamps_s = np.asarray(timestamps_s, dtype=np.float64)
            if self.timestamps_s.shape != (n,):
                raise InputError(
                    f"timestamps_s must have one value per frame ({n}); "
                    f"got shape {self.timestamps_s.shape}"
                )
        self.frame_count = n

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        for frame, t in zip(self.frames, self.timestamps_s, strict=True):
            yield frame, float(t)
