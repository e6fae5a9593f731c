"""USB / V4L2 cameras through OpenCV, with host monotonic timestamps."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import numpy as np

from edge.capture.base import SourceBase, native_stderr_silenced
from edge.capture.video_file import import_cv2
from edge.errors import CaptureError, InputError

log = logging.getLogger(__name__)

__all__ = ["CameraSource"]


class CameraSource(SourceBase):
    """Frames from an OpenCV camera (index ``N`` -> ``/dev/videoN``).

    Parameters
    ----------
    index : int
        Camera index.
    width, height : int
        Requested capture size in pixels (the driver may pick the nearest).
    fps : float
        Requested frame rate.
    mjpg : bool
        Ask for MJPG, which most USB cameras need for 30 fps at 640x480 (USB 2 bandwidth);
        the frames are decoded by OpenCV and delivered as RGB.

    Timestamps are host `time.monotonic` seconds taken when ``read`` returns; V4L2 buffer
    timestamps are not exposed by OpenCV.
    """

    def __init__(self, index: int = 0, *, width: int = 640, height: int = 480, fps: float = 30.0,
                 mjpg: bool = True):
        if not isinstance(index, int) or index < 0:
            raise InputError(f"camera index must be an integer >= 0; got {index!r}")
        cv2 = import_cv2()
        self._cv2 = cv2
        with native_stderr_silenced():  # OpenCV warns on fd 2; we raise one clear error
            self._cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
        if not self._cap.isOpened():
            self._cap.release()
            raise CaptureError(f"cannot open camera {index} (/dev/video{index}): no such device "
                               "or it is busy")
        if mjpg:
            self._cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self.fps = float(self._cap.get(cv2.CAP_PROP_FPS) or fps)
        self.index = index
        self.width_px = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height_px = int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        """Size the driver chose (the nearest mode it has to the one asked for)."""
        code = int(self._cap.get(cv2.CAP_PROP_FOURCC) or 0)
        self.fourcc = code.to_bytes(4, "little").decode("latin-1")
        if (self.width_px, self.height_px) != (width, height) or abs(self.fps - fps) > 0.5:
            log.warning("camera %d gives %dx%d at %g fps (%s); asked for %dx%d at %g fps", index,
                        self.width_px, self.height_px, self.fps, self.fourcc, width, height, fps)

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        cv2 = self._cv2
        while self._cap is not None:
            ok, bgr = self._cap.read()
            t = time.monotonic()
            if not ok:
                raise CaptureError(f"camera {self.index} stopped delivering frames")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), t

    def close(self) -> None:
        """Release the camera."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
