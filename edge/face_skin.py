"""The face stage: where the face is, the mean colour of its skin, and how the head moves.

`FaceSkin.locate` is the only step that runs the face detector: inside the push, or on a
worker thread beside the frame path (`edge.face_worker`) whose newest box it adopts.
`sample` keeps the skin mean continuous when the box moves; `follow_head` measures the
head's motion for breathing and the CNN method.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from edge.config import PipelineConfig
from edge.head_motion import HeadMotion, HeadSpeed
from edge.probe import Probe
from edge.roi import RoiSampler, RoiTracker
from edge.types import Box

__all__ = ["SATURATION_SMOOTHING", "FaceSkin", "HeadTrace"]

SATURATION_SMOOTHING = 0.02
"""Per-frame weight of the newest saturated-pixel fraction in its running mean (~2 s)."""


class HeadTrace:
    """Ring of ``(timestamp_s, horizontal_px, vertical_px)``, one row per frame with a face."""

    def __init__(self, capacity: int):
        self._rows = np.zeros((capacity, 3))
        self.count = 0
        """Rows written since the last `reset` (the ring keeps the newest `capacity`)."""

    def reset(self) -> None:
        """Forget every row."""
        self.count = 0

    def add(self, timestamp_s: float) -> np.ndarray:
        """A new row with `timestamp_s`; the caller writes the displacements into it."""
        row = self._rows[self.count % self._rows.shape[0]]
        row[0] = timestamp_s
        self.count += 1
        return row

    def resampled(self, n: int, fs: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The newest `n` samples of both displacements at `fs`, or ``None`` if too few."""
        size = self._rows.shape[0]
        if self.count < 8:
            return None
        if self.count <= size:
            t, x_px, y_px = self._rows[: self.count].T
        else:  # oldest first
            t, x_px, y_px = np.roll(self._rows, -(self.count % size), axis=0).T
        grid = t[-1] - np.arange(n)[::-1] / fs
        if grid[0] < t[0]:
            return None
        return np.interp(grid, t, x_px), np.interp(grid, t, y_px)


class FaceSkin:
    """Face box, gain-compensated skin mean RGB, saturation and head motion per frame.

    Parameters
    ----------
    config : PipelineConfig
        Its ``roi`` section; ``rppg.projection_window_s`` for the head speed.
    probe : Probe
        Told the detector's and the ROI kernel's work.
    keep_s : float
        Seconds of head motion to keep (at up to 4 frames per sample at ``fs``).
    track_head : bool
        Measure the head's motion on frames with a face.
    on_head_speed : callable, optional
        Given the sideways head speed (heights per second) after each measurement.
    """

    def __init__(self, config: PipelineConfig, *, probe: Probe, keep_s: float,
                 track_head: bool, on_head_speed: Callable[[float], Any] | None = None):
        self.config = config
        self.probe = probe
        self.tracker = RoiTracker(config.roi)
        self.sampler = RoiSampler(config.roi)
        self.track_head = track_head or on_head_speed is not None
        self.on_head_speed = on_head_speed
        self.head_motion = HeadMotion()
        self.head_speed = HeadSpeed(window_s=config.rppg.projection_window_s)
        self.head = HeadTrace(round(4 * keep_s * config.rppg.sample_rate_hz))
        self._gain = np.ones(3)
        self._new_rgb = np.zeros(3)
        self._corrected = np.zeros(3)
        self.reset()

    def warmup(self) -> None:
        """Compile (or load) the ROI kernel and load the face detector."""
        frame = np.full((64, 64, 3), 128, dtype=np.uint8)
        RoiSampler(self.config.roi).sample(frame, Box(0, 0, 64, 64))
        if self.config.roi.mode == "face":
            self.tracker.detector.detect(frame)

    def reset(self) -> None:
        """Forget the face and the signal."""
        self.tracker.reset()
        self.restart()

    def restart(self) -> None:
        """Start the signal afresh (gain, saturation, head motion); keep the face."""
        self.head_motion.reset()
        self.head_speed.reset()
        self.head.reset()
        self.last_box: Box | None = None
        """The box of the last usable skin sample (``None`` after a restart)."""
        self._gain[:] = 1.0
        self.saturation = 0.0
        """Running mean of the ROI's saturated-pixel fraction."""

    def locate(self, frame: np.ndarray, timestamp_s: float = 0.0) -> Box | None:
        """The face box in `frame` (captured at `timestamp_s`), or ``None`` if none is known."""
        tracker = self.tracker
        jobs = tracker.jobs
        box = tracker.update(frame, timestamp_s)
        found = tracker.adopted
        if tracker.runner.on_frame_path:
            if found is not None:
                self.probe.work("detector_pixels", found.detector_pixels)
                self.probe.work("near_detections", found.near_searches)
        elif tracker.jobs > jobs:  # the frame handed to the worker is copied
            self.probe.work("handoff_pixels", frame.shape[0] * frame.shape[1])
        return box

    def close(self) -> None:
        """Stop the face detector's worker, if any."""
        self.tracker.close()

    def sample(self, frame: np.ndarray, box: Box) -> np.ndarray | None:
        """Skin mean RGB in `box`, made continuous across box changes (``None`` if unusable).

        When the box moves, the mean steps (other pixels). Sampling the same frame with
        the old box too gives the step as a per-channel ratio; the running gain absorbs
        it, so only changes over time reach the pulse.
        """
        sampler = self.sampler
        scanned = sampler.pixels_scanned
        rgb = sampler.sample(frame, box)
        self.saturation += SATURATION_SMOOTHING * (sampler.saturated_fraction - self.saturation)
        if rgb is None:
            self.last_box = None
        else:
            if self.last_box is not None and box != self.last_box:
                self._new_rgb[:] = rgb
                old = sampler.sample(frame, self.last_box)
                if old is not None and np.all(self._new_rgb > 0):
                    self._gain *= old / self._new_rgb
                rgb = self._new_rgb
            self.last_box = box
            rgb = np.multiply(rgb, self._gain, out=self._corrected)
        self.probe.work("roi_pixels", sampler.pixels_scanned - scanned)
        return rgb

    def follow_head(self, frame: np.ndarray, box: Box, timestamp_s: float) -> None:
        """Measure the head's motion in `box` (if tracked) and pass on its speed."""
        if not self.track_head:
            return
        row = self.head.add(timestamp_s)
        row[1], row[2] = self.head_motion.update(frame, box)
        self.probe.work("head_motion_updates", 1)
        if self.on_head_speed is not None:
            self.on_head_speed(self.head_speed.update(timestamp_s, row[1], box.height))

    def head_window(self, n: int, fs: float) -> dict[str, Any]:
        """The newest `n` samples of the head's motion at `fs` and the face's height, as
        keyword arguments of `edge.breathing.stream_breathing` (empty if unknown).
        """
        motion = None if self.last_box is None else self.head.resampled(n, fs)
        if motion is None:
            return {}
        return {"horizontal_px": motion[0], "vertical_px": motion[1],
                "face_height_px": float(self.last_box.height)}  # type: ignore[union-attr]
