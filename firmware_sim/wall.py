"""Wall-clock replay: frames injected at the real frame rate into a threaded capture queue.

The modelled replay (`firmware_sim.replay`) is deterministic but cannot see threading
problems; here a capture thread releases frames at their real times into the profile's
queue, the caller's thread runs the real pipeline, and latencies are host clock readings.
A slower device is stood in for by making each push last ``factor`` times its CPU time
(a sleep tops up what the push took in wall time; on a shared host, time lost to other
processes is not multiplied by the factor); with ``roi.detect_in_background`` the real
detector thread runs, each search dilated the same way by the profile's ``frame`` factor,
and with ``rppg.estimate_in_background`` the real estimate thread, each reading's
estimates dilated by its ``python`` factor.
Errors in the capture thread are re-raised in the caller's thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import edge
from edge.estimate_worker import EstimateWorker
from edge.face_worker import DetectorWorker
from edge.probe import STAGES, RecordingProbe
from firmware_sim.des import QueuePolicy
from firmware_sim.profiles import DeviceProfile

__all__ = ["WallResult", "wall_clock_replay"]


@dataclass(frozen=True, kw_only=True, slots=True)
class WallResult:
    """Measured (not modelled) figures of a wall-clock replay."""

    frames: int
    processed: int
    dropped: int
    latency_s: np.ndarray
    """Capture (release) to end of processing, per processed frame."""
    readings: int
    max_queue_depth: int
    stage_s: dict[str, np.ndarray]
    """Each pipeline stage's seconds per processed frame, times the profile's factor (the
    push is made to last that long), by `edge.probe.STAGES` name."""


class _Capture(threading.Thread):
    def __init__(self, frames: Sequence[np.ndarray], fps: float, policy: QueuePolicy):
        super().__init__(name="edge-vitals-capture", daemon=True)
        self.frames, self.period_s, self.policy = frames, 1.0 / fps, policy
        self.queue: deque[tuple[int, float]] = deque()
        self.lock = threading.Condition()
        self.done = False
        self.dropped = 0
        self.max_depth = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            start = time.monotonic()
            for i in range(len(self.frames)):
                due = start + i * self.period_s
                time.sleep(max(0.0, due - time.monotonic()))
                with self.lock:
                    self._offer(i, time.monotonic())
                    self.lock.notify()
        except BaseException as exc:
            self.error = exc
        finally:
            with self.lock:
                self.done = True
                self.lock.notify()

    def _offer(self, i: int, t: float) -> None:
        if len(self.queue) >= self.policy.capacity:
            self.dropped += 1
            if self.policy.when_full == "drop_newest":
                return
            self.queue.popleft()
        self.queue.append((i, t))
        self.max_depth = max(self.max_depth, len(self.queue))


def _lasting(factor: float, call: Any, *args: Any) -> Any:
    """``call(*args)``, made to last `factor` times its CPU seconds of wall time."""
    wall_s, cpu_s = time.monotonic(), time.thread_time()
    out = call(*args)
    cpu_s, wall_s = time.thread_time() - cpu_s, time.monotonic() - wall_s
    time.sleep(max(0.0, factor * cpu_s - wall_s))
    return out


class _DilatedDetector:
    """A face detector whose searches take `factor` times their CPU time (in wall time)."""

    def __init__(self, detector: Any, factor: float):
        self.detector, self.factor = detector, factor

    @property
    def pixels(self) -> int:
        return self.detector.pixels

    @property
    def near_searches(self) -> int:
        return self.detector.near_searches

    def detect(self, frame: np.ndarray) -> Any:
        return _lasting(self.factor, self.detector.detect, frame)

    def detect_near(self, frame: np.ndarray, box: Any) -> Any:
        return _lasting(self.factor, self.detector.detect_near, frame, box)


class _DilatedEstimates:
    """A reading's estimates that take `factor` times their CPU time (in wall time)."""

    def __init__(self, estimates: Any, factor: float):
        self.estimates, self.factor = estimates, factor

    def run(self, job: Any) -> Any:
        return _lasting(self.factor, self.estimates.run, job)

    def restart(self, *, forget: bool = False) -> None:
        self.estimates.restart(forget=forget)


def wall_clock_replay(frames: Sequence[np.ndarray], *, fps: float, profile: DeviceProfile,
                      policy: QueuePolicy, config: edge.PipelineConfig | None = None,
                      dilate: bool = True, on_frame: Any = None) -> WallResult:
    """Run the real pipeline on frames released at `fps` in real time.

    `on_frame`, if given, is called after each frame is processed or dropped (progress).
    """
    probe = RecordingProbe(clock=time.thread_time)
    pipe = edge.Pipeline(config, probe=probe)
    pipe.warmup()
    tracker = pipe.face.tracker
    if isinstance(tracker.runner, DetectorWorker):
        factor = profile.factor("frame") if dilate else 1.0
        tracker.runner = DetectorWorker(_DilatedDetector(tracker.detector, factor))
    if isinstance(pipe.estimate_runner, EstimateWorker):
        factor = profile.factor("estimate") if dilate else 1.0
        pipe.estimate_runner = EstimateWorker(_DilatedEstimates(pipe.stages.estimates, factor))
    capture = _Capture(frames, fps, policy)
    latencies, readings, stages = [], 0, []
    capture.start()
    factor = profile.factor("python") if dilate else 1.0
    while True:
        with capture.lock:
            while not capture.queue and not capture.done:
                capture.lock.wait()
            if capture.error is not None:
                raise capture.error
            if not capture.queue:
                break
            i, released = capture.queue.popleft()
        if _lasting(factor, pipe.push, frames[i], i / fps) is not None:
            readings += 1
        latencies.append(time.monotonic() - released)
        stages.append([factor * probe.stage_s[name] for name in STAGES])
        if on_frame is not None:
            on_frame(capture.dropped + len(latencies))
    capture.join()
    pipe.close()
    return WallResult(frames=len(frames), processed=len(latencies), dropped=capture.dropped,
                      latency_s=np.array(latencies), readings=readings,
                      max_queue_depth=capture.max_depth,
                      stage_s=dict(zip(STAGES, np.array(stages).reshape(-1, len(STAGES)).T,
                                       strict=True)))
