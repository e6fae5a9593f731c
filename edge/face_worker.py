"""Face detection beside the frame path: a job in, a box stamped with its frame's time out.

The tracker (`edge.roi.RoiTracker`) decides when a detection is due and hands a
`DetectionJob` to a runner; it adopts the runner's `Detection` when one is ready. Two
runners ship: `InlineDetection` runs the job at once inside `push` (one core, and
deterministic: what files and tests use), and `DetectorWorker` runs it on a thread, so
that `push` never waits for the Haar cascade (OpenCV releases the GIL while it searches).
A runner has ``on_frame_path``, ``idle``, ``submit(job)``, ``poll()`` and ``close()``; the
simulator drives its own on a modelled clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.types import Box
from edge.worker_thread import WorkerThread

__all__ = ["Detection", "DetectionJob", "DetectorWorker", "InlineDetection", "run_job"]


@dataclass(frozen=True, kw_only=True, slots=True)
class DetectionJob:
    """One face search on one frame.

    Attributes
    ----------
    frame : np.ndarray [shape=(H, W, 3), dtype=uint8]
        RGB frame (a runner on another thread gets its own copy).
    timestamp_s : float
        The frame's capture time; the result carries it.
    near_box : Box or None
        Search around this known face first (`edge.roi.FaceDetector.detect_near`).
    full_search : bool
        Search the whole frame when there is no near box or the near search finds nothing.
    generation : int
        The tracker's generation when the job was made (a reset makes older results stale).
    """

    frame: np.ndarray
    timestamp_s: float
    near_box: Box | None
    full_search: bool
    generation: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Detection:
    """What a job found, stamped with its frame's time.

    Attributes
    ----------
    box : Box or None
        The face found, in frame pixels, or ``None``.
    timestamp_s : float
        Capture time of the frame searched.
    searched_full : bool
        A full search ran (``False``: only the near search ran, and it missed if `box` is None).
    generation : int
        The job's generation.
    detector_pixels : int
        Pixels of the images the full search covered (a work count).
    near_searches : int
        Near searches run (0, 1 or 2: a second working size after a miss; a work count).
    """

    box: Box | None
    timestamp_s: float
    searched_full: bool
    generation: int
    detector_pixels: int = 0
    near_searches: int = 0


def run_job(detector: object, job: DetectionJob) -> Detection:
    """Run `job` with `detector` (an `edge.roi.FaceDetector`): near first, then full if asked."""
    pixels, near = detector.pixels, detector.near_searches  # type: ignore[attr-defined]
    found = None
    if job.near_box is not None:
        found = detector.detect_near(job.frame, job.near_box)  # type: ignore[attr-defined]
    searched_full = found is None and job.full_search
    if searched_full:
        found = detector.detect(job.frame)  # type: ignore[attr-defined]
    return Detection(box=found, timestamp_s=job.timestamp_s, searched_full=searched_full,
                     generation=job.generation,
                     detector_pixels=detector.pixels - pixels,  # type: ignore[attr-defined]
                     near_searches=detector.near_searches - near)  # type: ignore[attr-defined]


class InlineDetection:
    """Runs each job at once, on the frame path: its result is ready in the same push."""

    on_frame_path = True

    def __init__(self, detector: object):
        self.detector = detector
        self._result: Detection | None = None

    @property
    def idle(self) -> bool:
        """Always ready for a job."""
        return True

    def submit(self, job: DetectionJob) -> None:
        """Run `job` now."""
        self._result = run_job(self.detector, job)

    def poll(self) -> Detection | None:
        """The result of the last job, once."""
        result, self._result = self._result, None
        return result

    def close(self) -> None:
        """Nothing to release."""


class DetectorWorker:
    """Runs jobs on a daemon thread (`edge.worker_thread.WorkerThread`), one at a time;
    `submit` and `poll` never wait for it.

    `submit` copies the frame (the caller may reuse its buffer); a job submitted while
    another waits replaces it (the newest frame wins). An error in the thread is raised by
    the next `poll`; `close` waits for the job at hand.
    """

    on_frame_path = False

    def __init__(self, detector: object):
        self.detector = detector
        self._thread = WorkerThread(lambda job: run_job(detector, job),
                                    name="edge-vitals-detector")

    @property
    def idle(self) -> bool:
        """No job waiting or running, and no result left to poll."""
        return self._thread.idle

    def submit(self, job: DetectionJob) -> None:
        """Queue `job` (on a copy of its frame) for the thread."""
        self._thread.submit(DetectionJob(
            frame=np.array(job.frame, copy=True), timestamp_s=job.timestamp_s,
            near_box=job.near_box, full_search=job.full_search, generation=job.generation))

    def poll(self) -> Detection | None:
        """The finished job's result, once (``None`` while none is ready)."""
        return self._thread.poll()  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the thread once the job it has is done; further jobs are ignored."""
        self._thread.close()
