"""Live mode: a capture thread feeding the processing loop through a newest-frame queue.

A camera keeps its pace whether or not the pipeline keeps up; `LatestQueue` holds only the
newest few frames and counts the dropped ones, so readings stay current and memory flat.
An error on the capture thread is re-raised on the caller's thread after the frames
captured before it, never swallowed.

    with LiveSource(CameraSource(0)) as live:
        for frame, timestamp_s in live:          # the newest frame, on the caller's thread
            reading = pipe.push(frame, timestamp_s)
    print(live.stats)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from edge.errors import CaptureError, InputError

__all__ = ["LatestQueue", "LiveSource", "LiveStats"]


class LatestQueue:
    """Bounded FIFO whose `put` never blocks: when full, the oldest item is dropped.

    Parameters
    ----------
    maxsize : int
        Capacity (>= 1). One or two frames is right for live video.
    """

    def __init__(self, maxsize: int = 2):
        if not isinstance(maxsize, int) or maxsize < 1:
            raise InputError(f"queue size must be an integer >= 1; got {maxsize!r}")
        self._items: deque[Any] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        """Items dropped because the queue was full."""
        self.high_water = 0
        """Largest number of items held at once."""

    def put(self, item: Any) -> bool:
        """Append `item`, dropping the oldest if full; return True if one was dropped."""
        with self._cond:
            dropped = len(self._items) >= self._maxsize
            if dropped:
                self._items.popleft()
                self.dropped += 1
            self._items.append(item)
            self.high_water = max(self.high_water, len(self._items))
            self._cond.notify()
            return dropped

    def close(self) -> None:
        """No more items will come; `get` returns the rest, then raises `EOFError`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def get(self, timeout_s: float | None = None) -> Any:
        """Oldest item held; wait up to `timeout_s` for one.

        Raises
        ------
        EOFError
            The queue is closed and empty.
        TimeoutError
            Nothing arrived within `timeout_s`.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: self._items or self._closed, timeout=timeout_s):
                raise TimeoutError(f"no item within {timeout_s} s")
            if self._items:
                return self._items.popleft()
            raise EOFError("queue closed")

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


@dataclass(frozen=True, slots=True)
class LiveStats:
    """Counters of a live run."""

    captured: int
    """Frames the source delivered."""
    dropped: int
    """Frames dropped because the processing loop was behind."""
    queue_high_water: int
    """Most frames waiting at once (never more than the queue size)."""


class LiveSource:
    """Run a frame source on a capture thread; iterate the newest frames on this thread.

    Parameters
    ----------
    source : iterable of (frame, timestamp_s)
        A camera (or any `FrameSource`). Its ``close()``, if any, is called on `close`.
    queue_size : int
        Frames held between the threads (the oldest is dropped when full).
    frame_timeout_s : float
        A `CaptureError` is raised if no frame arrives for this long (a stalled camera).
    """

    def __init__(self, source: Iterable[tuple[Any, float]], *, queue_size: int = 2,
                 frame_timeout_s: float = 5.0):
        if not frame_timeout_s > 0:
            raise InputError(f"frame_timeout_s must be > 0; got {frame_timeout_s!r}")
        self.source = source
        self.queue = LatestQueue(queue_size)
        self.frame_timeout_s = float(frame_timeout_s)
        self.captured = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _capture(self) -> None:
        try:
            for item in self.source:
                if self._stop.is_set():
                    break
                self.captured += 1
                self.queue.put(item)
        except BaseException as exc:  # handed to the caller's thread, which re-raises it
            self._error = exc
        finally:
            self.queue.close()

    def start(self) -> LiveSource:
        """Start the capture thread (done by `__iter__` if needed)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._capture, name="edge-vitals-capture",
                                            daemon=True)
            self._thread.start()
        return self

    def __iter__(self) -> Iterator[tuple[Any, float]]:
        self.start()
        while True:
            try:
                item = self.queue.get(timeout_s=self.frame_timeout_s)
            except EOFError:
                self._raise_thread_error()
                return
            except TimeoutError:
                self._raise_thread_error()
                raise CaptureError(
                    f"no frame from the camera for {self.frame_timeout_s:g} s (stalled?)"
                ) from None
            yield item

    def _raise_thread_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    @property
    def stats(self) -> LiveStats:
        """Frames captured and dropped so far, and the queue's high-water mark."""
        return LiveStats(captured=self.captured, dropped=self.queue.dropped,
                         queue_high_water=self.queue.high_water)

    def close(self, *, join_timeout_s: float = 2.0) -> None:
        """Stop the capture thread and close the source."""
        self._stop.set()
        self.queue.close()
        close = getattr(self.source, "close", None)
        if self._thread is not None:
            self._thread.join(join_timeout_s)
        if close is not None:
            close()

    def __enter__(self) -> LiveSource:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
