"""Batch processing: `process_video` is a loop over `Pipeline.push`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edge.capture.arrays import ArraySource
from edge.capture.base import FrameSource
from edge.capture.video_file import VideoFileSource
from edge.config import PipelineConfig
from edge.errors import InputError
from edge.pipeline import Pipeline
from edge.types import Reading, Track

__all__ = ["open_source", "process_video"]


def open_source(source: Any, *, fps: float | None = None) -> FrameSource:
    """Turn a path, an array of frames or a frame source into a `FrameSource`."""
    if isinstance(source, str | Path):
        return VideoFileSource(source, fps=fps)
    if isinstance(source, np.ndarray):
        if fps is None:
            raise InputError("frames given as an array need fps= (frames per second)")
        return ArraySource(source, fps=fps)
    if isinstance(source, FrameSource):
        return source
    if isinstance(source, list | tuple):
        if fps is None:
            raise InputError("frames given as a list need fps= (frames per second)")
        return ArraySource(source, fps=fps)
    raise InputError(
        "process_video takes a video path, an array (n, H, W, 3) of RGB frames, a list of "
        f"frames or a FrameSource; got {type(source).__name__}"
    )


def process_video(source: Any, *, config: PipelineConfig | None = None, fps: float | None = None,
                  on_reading: Callable[[Reading], None] | None = None) -> Track:
    """Run the pipeline over a whole video and return every reading.

    Parameters
    ----------
    source : str, Path, np.ndarray [shape=(n, H, W, 3), dtype=uint8], list or FrameSource
        A video file, frames in memory (with `fps`), or any iterable source of
        ``(frame_rgb, timestamp_s)``.
    config : PipelineConfig, optional
        Pipeline settings (default: face mode, POS).
    fps : float, optional
        Frame rate for frames in memory; for a file, overrides the container's rate.
    on_reading : callable, optional
        Called with each reading as it is produced (progress, printing).

    Returns
    -------
    Track
        The readings as arrays; the same as calling `Pipeline.push` on every frame.
    """
    frames: Iterable[tuple[np.ndarray, float]] = open_source(source, fps=fps)
    readings: list[Reading] = []
    with Pipeline(config) as pipe:
        try:
            for frame, timestamp_s in frames:
                reading = pipe.push(frame, timestamp_s)
                if reading is not None:
                    readings.append(reading)
                    if on_reading is not None:
                        on_reading(reading)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()
    return Track.from_readings(readings)
