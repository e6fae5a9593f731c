"""A daemon thread that runs one job at a time beside the frame path.

`submit` and `poll` never wait for the job: a job submitted while another waits replaces
it (the newest wins), results are kept until polled, `drop` makes the job at hand stale
(its result is discarded), and an error in the thread is raised by the next `poll`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["WorkerThread"]


class WorkerThread:
    """Runs ``run(job)`` for each job on a daemon thread named `name`, started by the
    first job.
    """

    def __init__(self, run: Callable[[Any], Any], *, name: str):
        self.run, self.name = run, name
        self._lock = threading.Condition()
        self._job: Any = None
        self._results: list[Any] = []
        self._running = False
        self._closed = False
        self._generation = 0
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def idle(self) -> bool:
        """No job waiting or running, and no result left to poll."""
        with self._lock:
            return self._job is None and not self._running and not self._results

    def submit(self, job: Any) -> None:
        """Queue `job` (it must not share buffers the caller changes) for the thread."""
        with self._lock:
            if self._closed:
                return
            self._job = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def poll(self) -> Any:
        """The oldest finished result, once (``None`` while none is ready)."""
        with self._lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            return self._results.pop(0) if self._results else None

    def drop(self) -> None:
        """Forget the job waiting, the results not polled and the result of the job running."""
        with self._lock:
            self._generation += 1
            self._job = None
            self._results.clear()

    def wait(self, timeout_s: float) -> bool:
        """Wait until no job waits or runs (its result is then ready); ``False`` on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._job is None and not self._running,
                                       timeout_s)

    def close(self) -> None:
        """Stop the thread once the job it has is done; further jobs are ignored."""
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def _serve(self) -> None:
        while True:
            with self._lock:
                while self._job is None and not self._closed:
                    self._lock.wait()
                if self._job is None:
                    return
                job, self._job, self._running = self._job, None, True
                generation = self._generation
            result, error = None, None
            try:
                result = self.run(job)
            except BaseException as exc:  # handed to the frame path by poll()
                error = exc
            with self._lock:
                if error is not None:
                    self._error = error
                elif generation == self._generation:
                    self._results.append(result)
                self._running = False
                self._lock.notify_all()
