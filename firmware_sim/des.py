"""Discrete-event core of the latency simulator: capture -> bounded queue -> worker(s).

Frames arrive at given capture times, wait in a bounded FIFO and are served by identical
workers on a virtual clock, exactly and deterministically. An arriving frame starts at once
on the lowest-index idle worker, else waits (``QueuePolicy.capacity`` counts waiting frames
only); a full queue drops the arriving frame (``"drop_newest"``, OpenCV's V4L2 FIFO) or the
oldest waiting one (``"drop_oldest"``, picamera2's newest frame). Completions at the same
instant as an arrival happen first.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError, InputError

__all__ = [
    "DROP_CAUSES",
    "DeadlineMisses",
    "DesResult",
    "QueuePolicy",
    "frame_times",
    "simulate",
]

#: ``when_full`` policy -> drop cause recorded for the frame it drops.
DROP_CAUSES = {"drop_newest": "queue_full_newest", "drop_oldest": "queue_full_oldest"}

#: Largest capture jitter allowed by :func:`frame_times`, as a fraction of the frame period.
_JITTER_CLIP_PERIODS = 0.45


@dataclass(frozen=True, kw_only=True, slots=True)
class QueuePolicy:
    """Bounded queue in front of the workers.

    Attributes
    ----------
    capacity : int
        Frames that may wait (not counting those in service), ``>= 1``.
    when_full : {"drop_newest", "drop_oldest"}
        What happens to a frame arriving at a full queue: it is dropped (``drop_newest``), or
        the oldest waiting frame is evicted to make room (``drop_oldest``).
    """

    capacity: int = 1
    when_full: str = "drop_oldest"

    def __post_init__(self) -> None:
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int | np.integer):
            raise ConfigError(f"capacity must be an int >= 1; got {self.capacity!r}")
        if self.capacity < 1:
            raise ConfigError(f"capacity must be >= 1 waiting frames; got {self.capacity}")
        if self.when_full not in DROP_CAUSES:
            raise ConfigError(
                f"when_full must be one of {sorted(DROP_CAUSES)}; got {self.when_full!r}"
            )

    @classmethod
    def latest(cls) -> QueuePolicy:
        """Picamera2 semantics: one waiting frame, replaced by each newer one."""
        return cls(capacity=1, when_full="drop_oldest")

    @classmethod
    def v4l2(cls, n: int = 4) -> QueuePolicy:
        """OpenCV V4L2 FIFO of ``n`` driver buffers: a new frame is dropped when all are full."""
        return cls(capacity=n, when_full="drop_newest")


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadlineMisses:
    """Deadline misses of one run.

    Attributes
    ----------
    deadline_s : float
        Deadline D in seconds; a processed frame misses it when its latency is ``> D``.
    late : int
        Processed frames whose latency exceeded the deadline.
    dropped : int
        Dropped frames (they never met any deadline).
    n : int
        Frames captured.
    """

    deadline_s: float
    late: int
    dropped: int
    n: int

    @property
    def total(self) -> int:
        """Late plus dropped frames."""
        return self.late + self.dropped

    @property
    def late_rate(self) -> float:
        """Late frames as a fraction of processed frames (0 if none was processed)."""
        processed = self.n - self.dropped
        return self.late / processed if processed else 0.0

    @property
    def total_rate(self) -> float:
        """Late plus dropped frames as a fraction of captured frames."""
        return self.total / self.n if self.n else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class DesResult:
    """Per-frame outcome of :func:`simulate` (arrays of shape ``(n,)`` unless noted).

    Attributes
    ----------
    arrival_s : np.ndarray [dtype=float64]
        Capture times.
    start_s, end_s : np.ndarray [dtype=float64]
        Service start and end times; NaN for dropped frames.
    latency_s : np.ndarray [dtype=float64]
        ``end_s - arrival_s``; NaN for dropped frames.
    wait_s : np.ndarray [dtype=float64]
        ``start_s - arrival_s``; NaN for dropped frames.
    dropped : np.ndarray [dtype=bool]
        Whether the frame was never processed.
    drop_cause : np.ndarray [dtype=object]
        ``""`` for processed frames, else ``"queue_full_newest"`` or ``"queue_full_oldest"``.
    queue_depth : np.ndarray [dtype=int64]
        Waiting frames seen by each arrival, before it is queued.
    worker : np.ndarray [dtype=int64]
        Worker index that served the frame; -1 if dropped.
    busy_s : np.ndarray [shape=(workers,), dtype=float64]
        Total service time per worker.
    makespan_s : float
        From the first arrival to the last completion (or last arrival, if later).
    """

    arrival_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    latency_s: np.ndarray
    wait_s: np.ndarray
    dropped: np.ndarray
    drop_cause: np.ndarray
    queue_depth: np.ndarray
    worker: np.ndarray
    busy_s: np.ndarray
    makespan_s: float

    def __len__(self) -> int:
        return int(self.arrival_s.size)

    @property
    def processed(self) -> int:
        """Number of frames that were served."""
        return int(np.count_nonzero(~self.dropped))

    @property
    def drop_fraction(self) -> float:
        """Dropped frames as a fraction of captured frames."""
        return float(np.count_nonzero(self.dropped)) / len(self)

    @property
    def utilisation(self) -> float:
        """Busy time over ``workers * makespan_s`` (0 for a zero-length run)."""
        capacity_s = self.busy_s.size * self.makespan_s
        return float(self.busy_s.sum() / capacity_s) if capacity_s > 0 else 0.0

    @property
    def max_queue_depth(self) -> int:
        """Largest number of waiting frames seen by an arrival."""
        return int(self.queue_depth.max())

    @property
    def completion_interval_s(self) -> np.ndarray:
        """Intervals between consecutive completions, shape ``(processed - 1,)``."""
        return np.diff(np.sort(self.end_s[~self.dropped]))

    def deadline_misses(self, deadline_s: float) -> DeadlineMisses:
        """Count processed frames later than ``deadline_s``, and dropped frames, separately."""
        late = np.count_nonzero(self.latency_s[~self.dropped] > deadline_s)
        return DeadlineMisses(
            deadline_s=float(deadline_s),
            late=int(late),
            dropped=int(np.count_nonzero(self.dropped)),
            n=len(self),
        )

    def longest_miss_run(self, deadline_s: float, *, include_dropped: bool = True) -> int:
        """Longest run of consecutive frames (in capture order) that missed ``deadline_s``.

        A dropped frame counts as a miss when ``include_dropped`` is true; otherwise it breaks
        the run (as a frame that met its deadline would).
        """
        miss = np.zeros(len(self), dtype=bool)
        miss[~self.dropped] = self.latency_s[~self.dropped] > deadline_s
        if include_dropped:
            miss |= self.dropped
        best = run = 0
        for m in miss.tolist():
            run = run + 1 if m else 0
            best = max(best, run)
        return best


def _check_trace(arrival_s: np.ndarray, service_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    arrival = np.asarray(arrival_s, dtype=np.float64)
    service = np.asarray(service_s, dtype=np.float64)
    if arrival.ndim != 1 or arrival.size == 0:
        raise InputError(f"arrival_s must be a non-empty 1-D array; got shape {arrival.shape}")
    if service.shape != arrival.shape:
        raise InputError(
            f"service_s must have the shape of arrival_s {arrival.shape}; got {service.shape}"
        )
    if not np.all(np.isfinite(arrival)) or np.any(np.diff(arrival) <= 0):
        raise InputError("arrival_s must be finite and strictly increasing")
    if not np.all(np.isfinite(service)) or np.any(service < 0):
        raise InputError(
            f"service_s must be finite and >= 0; got min {np.nanmin(service)!r} "
            f"with {np.count_nonzero(~np.isfinite(service))} non-finite values"
        )
    return arrival, service


def simulate(
    arrival_s: np.ndarray, service_s: np.ndarray, *, policy: QueuePolicy, workers: int = 1
) -> DesResult:
    """Run frames through a bounded queue and identical workers on a virtual clock.

    Parameters
    ----------
    arrival_s : np.ndarray [shape=(n,)]
        Capture times in seconds, strictly increasing.
    service_s : np.ndarray [shape=(n,)]
        Service time in seconds that each frame needs if it is processed, ``>= 0``.
    policy : QueuePolicy
        Capacity of the waiting queue and what to drop when it is full.
    workers : int
        Number of identical workers, ``>= 1``.

    Returns
    -------
    DesResult
    """
    if not isinstance(policy, QueuePolicy):
        raise ConfigError(f"policy must be a QueuePolicy; got {type(policy).__name__}")
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ConfigError(f"workers must be an int >= 1; got {workers!r}")
    arrival, service = _check_trace(arrival_s, service_s)
    start, worker_of, depth, cause = _sweep(
        arrival.tolist(), service.tolist(), policy.capacity, policy.when_full, int(workers)
    )
    start_s = np.array(start, dtype=np.float64)
    worker = np.array(worker_of, dtype=np.int64)
    dropped = worker < 0
    end_s = start_s + np.where(dropped, np.nan, service)
    busy_s = np.bincount(worker[~dropped], weights=service[~dropped], minlength=int(workers))
    last_s = max(float(np.nanmax(end_s)), float(arrival[-1]))
    result = DesResult(
        arrival_s=arrival.copy(),
        start_s=start_s,
        end_s=end_s,
        latency_s=end_s - arrival,
        wait_s=start_s - arrival,
        dropped=dropped,
        drop_cause=np.array(cause, dtype=object),
        queue_depth=np.array(depth, dtype=np.int64),
        worker=worker,
        busy_s=busy_s.astype(np.float64),
        makespan_s=last_s - float(arrival[0]),
    )
    for name in DesResult.__slots__:
        value = getattr(result, name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return result


def _sweep(
    arrival: list[float], service: list[float], capacity: int, when_full: str, workers: int
) -> tuple[list[float], list[int], list[int], list[str]]:
    """Event sweep over plain Python lists; returns start, worker, queue depth and drop cause."""
    n = len(arrival)
    start = [float("nan")] * n
    worker_of = [-1] * n
    depth = [0] * n
    cause = [""] * n
    idle = list(range(workers))  # heap of idle worker indices
    busy: list[tuple[float, int]] = []  # heap of (free_at_s, worker)
    waiting: deque[int] = deque()

    def serve(i: int, w: int, t_s: float) -> None:
        start[i], worker_of[i] = t_s, w
        heapq.heappush(busy, (t_s + service[i], w))

    def advance(until_s: float) -> None:
        # Completions up to and including until_s, in time order (lowest worker on ties).
        while busy and busy[0][0] <= until_s:
            free_s, w = heapq.heappop(busy)
            if waiting:
                serve(waiting.popleft(), w, free_s)
            else:
                heapq.heappush(idle, w)

    for i, t_s in enumerate(arrival):
        advance(t_s)
        depth[i] = len(waiting)
        if idle:
            serve(i, heapq.heappop(idle), t_s)
        elif len(waiting) < capacity:
            waiting.append(i)
        elif when_full == "drop_newest":
            cause[i] = DROP_CAUSES["drop_newest"]
        else:
            cause[waiting.popleft()] = DROP_CAUSES["drop_oldest"]
            waiting.append(i)
    advance(float("inf"))
    return start, worker_of, depth, cause


def frame_times(fps: float, n: int, *, jitter_s: float = 0.0, seed: int = 0) -> np.ndarray:
    """Capture times ``i / fps`` plus seeded Gaussian jitter.

    Parameters
    ----------
    fps : float
        Nominal frame rate in frames per second, ``> 0``.
    n : int
        Number of frames, ``>= 0``.
    jitter_s : float
        Standard deviation of the capture jitter in seconds, ``>= 0``. Each offset is clipped to
        ``±0.45 / fps`` so that frames stay in order at least ``0.1 / fps`` apart (a camera never
        delivers frames out of order).
    seed : int
        Seed for ``np.random.default_rng``.

    Returns
    -------
    np.ndarray [shape=(n,), dtype=float64]
        Strictly increasing capture times in seconds.
    """
    if not np.isfinite(fps) or fps <= 0:
        raise ConfigError(f"fps must be finite and > 0; got {fps!r}")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ConfigError(f"n must be an int >= 0; got {n!r}")
    if not np.isfinite(jitter_s) or jitter_s < 0:
        raise ConfigError(f"jitter_s must be finite and >= 0; got {jitter_s!r}")
    period_s = 1.0 / fps
    nominal_s = np.arange(n, dtype=np.float64) * period_s
    if jitter_s == 0.0:
        return nominal_s
    limit_s = _JITTER_CLIP_PERIODS * period_s
    offset_s = np.random.default_rng(seed).normal(0.0, jitter_s, size=n)
    return nominal_s + np.clip(offset_s, -limit_s, limit_s)
