"""Wall-clock replay: frames injected at the real frame rate into a threaded capture queue.

The modelled replay (`firmware_sim.replay`) is deterministic but cannot see threading
problems; here a capture thread releases frames at their real times into the profile's
queue, the caller's thread runs the real pipeline, and latencies are host clock readings.
A slower device is stood in for by sleeping ``(factor - 1)`` times each frame's host time.
Errors in the capture thread are re-raised in the caller's thread.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

import edge
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


def wall_clock_replay(frames: Sequence[np.ndarray], *, fps: float, profile: DeviceProfile,
                      policy: QueuePolicy, config: edge.PipelineConfig | None = None,
                      dilate: bool = True) -> WallResult:
    """Run the real pipeline on frames released at `fps` in real time."""
    pipe = edge.Pipeline(config)
    pipe.warmup()
    capture = _Capture(frames, fps, policy)
    latencies, readings = [], 0
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
        t0 = time.monotonic()
        if pipe.push(frames[i], i / fps) is not None:
            readings += 1
        host_s = time.monotonic() - t0
        time.sleep((factor - 1.0) * host_s)
        latencies.append(time.monotonic() - released)
    capture.join()
    return WallResult(frames=len(frames), processed=len(latencies), dropped=capture.dropped,
                      latency_s=np.array(latencies), readings=readings,
                      max_queue_depth=capture.max_depth)
