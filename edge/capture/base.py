"""The frame-source interface shared by files, arrays and cameras."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["FrameSource", "SourceBase", "native_stderr_silenced"]


@runtime_checkable
class FrameSource(Protocol):
    """Iterates ``(frame_rgb, timestamp_s)``: uint8 (H, W, 3) RGB and seconds."""

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]: ...

    def close(self) -> None:
        """Release the source."""


class SourceBase:
    """Context-manager plumbing for sources; subclasses implement `__iter__` and `close`."""

    fps: float | None = None
    """Nominal frame rate, if the source knows one."""
    frame_count: int | None = None
    """Number of frames, if the source knows it in advance."""

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        """Release the underlying file or device."""

    def __enter__(self) -> SourceBase:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Point file descriptor 2 at /dev/null for native code; Python's sys.stderr is kept."""
    try:
        saved = os.dup(2)
    except OSError:  # pragma: no cover - no fd 2 (embedded interpreter)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
