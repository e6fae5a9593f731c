"""Video files through OpenCV (imported when a file is opened), as RGB with timestamps.

Timestamps come from the container (``CAP_PROP_POS_MSEC``) when it gives increasing
ones, else from the frame index and the frame rate. A file that stops decoding before
the frame count its header promised is reported as truncated (a warning, and
`VideoFileSource.truncated`); a file with no decodable frame is an `InputError`.
The decoder's own messages about broken data (FFmpeg and OpenCV write them straight
to file descriptor 2) are silenced while the file is opened and read, since the
source reports those problems itself in one line.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge.capture.base import SourceBase, native_stderr_silenced
from edge.errors import CaptureError, InputError
from edge.validate import valid_fs

__all__ = ["DECODE_SCALES", "VideoFileSource", "import_cv2"]

log = logging.getLogger(__name__)

MIN_FPS, MAX_FPS = 1.0, 1000.0


DECODE_SCALES = (1, 2, 4, 8)
AUTO_MIN_WIDTH_PX = 320


def _decode_scale(value: int | str, width: int) -> int:
    if value == "auto":
        fitting = [s for s in DECODE_SCALES if width // s >= AUTO_MIN_WIDTH_PX]
        return max(fitting, default=1)
    if value not in DECODE_SCALES:
        raise InputError(f"decode_scale must be one of 1, 2, 4, 8 or 'auto'; got {value!r}")
    return int(value)


def _avi_declares_no_rate(path: Path) -> bool:
    """True for an AVI whose headers give no frame rate (FFmpeg then guesses 25 frames/s).

    The video stream header (``strh``) holds the rate as ``dwRate / dwScale``; the main
    header (``avih``) holds ``dwMicroSecPerFrame``. With both unset, the timestamps the
    decoder makes up would scale every rate by a wrong factor.
    """
    try:
        with open(path, "rb") as f:
            head = f.read(65536)
    except OSError:
        return False
    if head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return False
    avih, strh = head.find(b"avih"), head.find(b"strh")
    if avih < 0 or strh < 0 or len(head) < max(avih + 12, strh + 36):
        return False
    if head[strh + 8 : strh + 12] != b"vids":  # the first stream is not the video
        return False
    usec_per_frame = int.from_bytes(head[avih + 8 : avih + 12], "little")
    scale = int.from_bytes(head[strh + 28 : strh + 32], "little")
    rate = int.from_bytes(head[strh + 32 : strh + 36], "little")
    return (rate == 0 or scale == 0) and usec_per_frame == 0


def import_cv2() -> Any:
    """Import OpenCV or raise `CaptureError` with an install hint."""
    try:
        import cv2
    except ImportError as exc:  # pragma: no cover - a hard dependency
        raise CaptureError(
            "video input needs OpenCV; pip install 'opencv-python-headless>=4.9,<5'"
        ) from exc
    return cv2


class VideoFileSource(SourceBase):
    """Frames of a video file as ``(frame_rgb, timestamp_s)``.

    Parameters
    ----------
    path : str or Path
        A video file OpenCV can decode (AVI, MP4, MKV, ...).
    fps : float, optional
        Override the container's frame rate; timestamps become ``index / fps``.
    decode_scale : int or "auto"
        Deliver frames reduced by 1, 2, 4 or 8 in each dimension. For MJPG files the
        reduction happens inside the JPEG decoder (DCT scaling, several times faster
        than a full decode); other codecs are decoded in full and resized. ``auto``
        picks the largest factor that keeps the width at 320 px or more. The ROI
        means are averages, so a reduced frame carries the same pulse signal.

    Raises
    ------
    InputError
        Missing, empty or undecodable file, or no usable frame rate.
    """

    def __init__(self, path: str | Path, *, fps: float | None = None,
                 decode_scale: int | str = 1):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"video file not found: {self.path}")
        if self.path.stat().st_size == 0:
            raise InputError(f"video file is empty (0 bytes): {self.path}")
        cv2 = import_cv2()
        self._cv2 = cv2
        with native_stderr_silenced():
            self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise InputError(f"not a video OpenCV can decode: {self.path}")
        self._fps_override = None if fps is None else valid_fs(fps, name="fps")
        container_fps = float(self._cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if self._fps_override is None and _avi_declares_no_rate(self.path):
            self.close()
            raise InputError(
                f"{self.path} does not state its frame rate (the decoder would guess "
                f"{container_fps:g} frames/s); pass the real rate with --fps"
            )
        self.fps = self._fps_override or container_fps
        if not (math.isfinite(self.fps) and MIN_FPS <= self.fps <= MAX_FPS):
            self.close()
            raise InputError(
                f"{self.path} reports {container_fps:g} frames/s; pass the real rate with --fps"
            )
        width = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.source_size_px = (width, int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0))
        """Width and height of the video as stored (0 if the container does not say)."""
        self.decode_scale = _decode_scale(decode_scale, width)
        self.width_px = width // self.decode_scale
        """Width of the delivered frames (0 if the container does not say)."""
        fourcc = int(self._cap.get(cv2.CAP_PROP_FOURCC) or 0)
        codec = fourcc.to_bytes(4, "little").decode("latin-1").upper()
        self._jpeg_packets = self.decode_scale > 1 and codec in ("MJPG", "MJPEG", "JPEG")
        if self._jpeg_packets and not self._cap.set(cv2.CAP_PROP_FORMAT, -1):
            self._jpeg_packets = False  # the backend cannot hand out raw packets
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        self.frames_read = 0
        self.truncated = False
        self._used = False

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        if self._used:
            raise InputError("a VideoFileSource can be iterated once; open the file again")
        self._used = True
        cv2, cap = self._cv2, self._cap
        last_t = -math.inf
        use_container_time = self._fps_override is None
        while True:
            with native_stderr_silenced():
                ok, bgr = cap.read()
            if not ok:
                break
            t = self.frames_read / self.fps
            if use_container_time:
                t_container = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if self.frames_read > 0 and not t_container > last_t:
                    use_container_time = False  # container times unusable: index / fps
                else:
                    t = t_container
            last_t = t
            self.frames_read += 1
            yield self._to_rgb(bgr), t
        self._finish()

    def _to_rgb(self, data: np.ndarray) -> np.ndarray:
        cv2, scale = self._cv2, self.decode_scale
        if self._jpeg_packets:
            flag = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                    8: cv2.IMREAD_REDUCED_COLOR_8}[scale]
            bgr = cv2.imdecode(data.reshape(-1), flag)
            if bgr is None:
                raise InputError(f"frame {self.frames_read - 1} of {self.path} is not valid JPEG")
        elif scale > 1:
            height, width = data.shape[:2]
            size = (max(8, width // scale), max(8, height // scale))
            bgr = cv2.resize(data, size, interpolation=cv2.INTER_AREA)
        else:
            bgr = data
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _finish(self) -> None:
        if self.frames_read == 0:
            self.close()
            raise InputError(f"no decodable frame in {self.path} (corrupt or truncated file?)")
        if self.frame_count is not None and self.frames_read < 0.98 * self.frame_count - 1:
            self.truncated = True
            log.warning("%s ended after %d of the %d frames its header lists (truncated?)",
                        self.path, self.frames_read, self.frame_count)

    def close(self) -> None:
        """Release the decoder."""
        if getattr(self, "_cap", None) is not None:
            self._cap.release()
            self._cap = None
