"""Raspberry Pi cameras through picamera2, with sensor timestamps and explicit channel order.

picamera2 comes from Raspberry Pi OS's apt (``sudo apt install python3-picamera2``), because
it needs the system's libcamera; a venv sees it only when made with
``python3 -m venv --system-site-packages``. It is imported when a `PicameraSource` is made.
picamera2 imports Debian's ``simplejpeg``, compiled for Debian's numpy 1.24, which fails
("numpy.dtype size changed") next to the venv's numpy 2; the ``pi`` extra installs a
simplejpeg wheel built for numpy 2 into the venv, which shadows it.

Two traps this module handles:

- **Channel order.** picamera2's formats are named after DRM fourccs, which list channels
  from the most significant byte: ``"RGB888"`` is **B, G, R** in memory and ``"BGR888"`` is
  **R, G, B** (see ``FORMAT_TABLE`` in picamera2's ``request.py``). So the camera is asked for
  ``"BGR888"``: the ISP writes RGB, and the copy that ``make_array`` makes anyway is the
  frame, with no second, channel-reversing pass (a strided 0.9 MB copy per 640x480 frame,
  milliseconds on a Zero 2 W).
- **Time.** ``SensorTimestamp`` in a request's metadata is the sensor's start-of-exposure
  time in nanoseconds (CLOCK_BOOTTIME); it is converted to seconds. Host time at
  ``capture_request`` would add the scheduling jitter of this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from edge.capture.base import SourceBase
from edge.errors import CaptureError, InputError

__all__ = ["PicameraSource", "import_picamera2", "sensor_time_s"]

NS_PER_S = 1_000_000_000
RGB_IN_MEMORY = "BGR888"
"""The picamera2 format whose pixels are R, G, B in memory (DRM fourcc naming)."""


def import_picamera2() -> Any:
    """Import ``picamera2.Picamera2`` or raise `CaptureError` with the install hint."""
    try:
        from picamera2 import Picamera2
    except ImportError:
        raise CaptureError(
            "the Pi camera needs picamera2: sudo apt install python3-picamera2, and a venv made "
            "with 'python3 -m venv --system-site-packages' (it is not on PyPI for Pi OS)"
        ) from None
    except ValueError as exc:  # Debian's simplejpeg is built for numpy 1; the venv has numpy 2
        raise CaptureError(
            f"picamera2 cannot load with this numpy ({exc}); in the venv: "
            "pip install 'edge-vitals[pi]' (a simplejpeg built for numpy 2)"
        ) from None
    return Picamera2


def sensor_time_s(metadata: dict[str, Any]) -> float:
    """``SensorTimestamp`` (ns) of a request's metadata, in seconds."""
    try:
        return metadata["SensorTimestamp"] / NS_PER_S
    except KeyError:
        raise CaptureError("the camera gave a frame without a SensorTimestamp") from None


class PicameraSource(SourceBase):
    """Frames of a Raspberry Pi camera (CSI) as ``(frame_rgb, timestamp_s)``.

    Parameters
    ----------
    camera_num : int
        Which camera (0 unless the board has two).
    width, height : int
        Frame size in pixels (the ISP scales the sensor mode to it).
    fps : float
        Frame rate, fixed through ``FrameDurationLimits``.
    picamera2_class : type, optional
        Stand-in for ``picamera2.Picamera2`` (tests); imported lazily if None.
    """

    def __init__(self, camera_num: int = 0, *, width: int = 640, height: int = 480,
                 fps: float = 30.0, picamera2_class: Any = None):
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise InputError(f"camera size must be positive integers; got {width}x{height}")
        if not 1.0 <= fps <= 240.0:
            raise InputError(f"camera fps must be in [1, 240]; got {fps}")
        picamera2 = picamera2_class or import_picamera2()
        frame_us = round(1e6 / fps)
        try:
            cam = picamera2(camera_num)
        except (IndexError, RuntimeError) as exc:
            raise CaptureError(f"cannot open Pi camera {camera_num}: {exc}") from None
        self._cam: Any = cam
        try:
            config = cam.create_video_configuration(
                main={"size": (width, height), "format": RGB_IN_MEMORY},
                controls={"FrameDurationLimits": (frame_us, frame_us)}, buffer_count=4)
            cam.configure(config)
            cam.start()
        except RuntimeError as exc:
            self.close()
            raise CaptureError(f"cannot start Pi camera {camera_num}: {exc}") from None
        self.fps = float(fps)
        self.camera_num = camera_num

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        while self._cam is not None:
            request = self._cam.capture_request()
            try:  # make_array copies the buffer out; hand it straight back to the camera
                frame = np.ascontiguousarray(request.make_array("main"))
                t = sensor_time_s(request.get_metadata())
            finally:
                request.release()
            yield frame, t

    def close(self) -> None:
        """Stop and release the camera."""
        cam, self._cam = getattr(self, "_cam", None), None
        if cam is not None:
            try:
                cam.stop()
            finally:
                cam.close()
