"""Where the skin is: face detection and tracking, and the skin sub-ROIs.

Face detection (OpenCV's Haar cascade after CLAHE) costs tens of milliseconds, so it runs
on a downscaled grey image every ``detect_every_n_frames`` frames, or at once when the
face is lost, inline or on a worker thread (`edge.face_worker`); between detections the
box is reused. The skin sub-ROIs are cut from the
box with fixed proportions and averaged in one numba pass (`edge.kernels._roi_sums`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge.config import RoiConfig
from edge.errors import CaptureError
from edge.face_worker import Detection, DetectionJob, DetectorWorker, InlineDetection
from edge.kernels import _roi_sums
from edge.types import Box

__all__ = ["SUB_ROIS", "FaceDetector", "RoiSampler", "RoiTracker"]

# Sub-ROIs as fractions of the Haar face box: (x0, y0, x1, y1). Forehead, both cheeks
# and the nose: the skin that moves least, clear of the eyes (~0.3-0.45 of the height)
# and the mouth (~0.75-0.9). More skin pixels average more sensor noise away (√N).
SUB_ROIS = {
    "forehead": (0.22, 0.04, 0.78, 0.26),
    "left_cheek": (0.12, 0.45, 0.38, 0.75),
    "right_cheek": (0.62, 0.45, 0.88, 0.75),
    "nose": (0.40, 0.38, 0.60, 0.65),
}
MIN_USABLE_PIXELS = 25
NEAR_FACE_PX = (40, 48)
"""Face widths, in pixels of the searched image, of a re-detection around a known face,
tried in turn: 40 finds a light face at the least cost, but a dark face in dim light only
one time in five; 48 finds it six times in seven."""
STILL_IOU = 0.85
"""A detection overlapping the current box this much is detector jitter: the box stays."""
NEAR_RETRIES = 2
"""Failed re-detections near the face (on consecutive frames) before a full search."""
CASCADE = "haarcascade_frontalface_alt2.xml"
"""OpenCV's frontal cascade that, after CLAHE, also finds dark-skinned faces in dim light
(the ``default`` cascade missed every frame of the simulator's dark-skin clips)."""


class FaceDetector:
    """Haar-cascade frontal face detector on a downscaled grey frame."""

    def __init__(self, *, detect_width_px: int = 160):
        self.detect_width_px = detect_width_px
        self._cv2: Any = None
        self._cascade: Any = None
        self._clahe: Any = None
        self.pixels = 0
        """Pixels of the images full searches have covered so far (a work counter)."""
        self.near_searches = 0
        """Re-detections around a known face so far (a work counter)."""

    def _load(self) -> None:
        try:
            import cv2
        except ImportError as exc:  # pragma: no cover - cv2 is a hard dependency
            raise CaptureError(
                "face detection needs OpenCV; pip install 'opencv-python-headless>=4.9,<5'"
            ) from exc
        path = cv2.data.haarcascades + CASCADE
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise CaptureError(f"cannot load the Haar face cascade from {path}")
        self._cv2, self._cascade = cv2, cascade
        self._clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(4, 4))

    def detect(self, frame: np.ndarray) -> Box | None:
        """Return the largest face in an RGB frame, in frame pixels, or ``None``.

        Runs at `detect_width_px` (a smaller frame is enlarged to it, so that a face
        smaller than the cascade's window in it is still found); if nothing is found and
        the frame is larger, once more at 1.5 times that width (small or low-contrast faces).
        """
        if self._cascade is None:
            self._load()
        width = frame.shape[1]
        found = self.detect_at(frame, self.detect_width_px / width)
        if found is None and width > 1.5 * self.detect_width_px:
            found = self.detect_at(frame, 1.5 * self.detect_width_px / width)
        return found

    def detect_near(self, frame: np.ndarray, box: Box) -> Box | None:
        """Re-find a known face: search only around `box`, only at sizes near its own.

        The region is the box grown by half its size on every side, scaled (down, or up
        for a smaller face) so that the face is a `NEAR_FACE_PX` width, and the cascade
        only tries faces from 0.75 to 1.35 times that: about a hundredth of a full search.
        """
        if self._cascade is None:
            self._load()
        height, width = frame.shape[:2]
        x0, y0 = max(0, box.x - box.width // 2), max(0, box.y - box.height // 2)
        x1 = min(width, box.x + box.width + box.width // 2)
        y1 = min(height, box.y + box.height + box.height // 2)
        for face_px in NEAR_FACE_PX:
            lo, hi = round(0.75 * face_px), round(1.35 * face_px)
            self.near_searches += 1
            pixels = self.pixels
            found = self.detect_at(frame[y0:y1, x0:x1], face_px / max(box.width, 1),
                                   min_px=lo, max_px=hi)
            self.pixels = pixels  # counted as a near search, not as full-search pixels
            if found is not None:
                return Box(found.x + x0, found.y + y0, found.width, found.height)
        return None

    def detect_at(self, frame: np.ndarray, scale: float, *, min_px: int = 24,
                  max_px: int | None = None) -> Box | None:
        """The largest face in `frame` searched once at `scale`, in frame pixels, or ``None``.

        Faces from `min_px` to `max_px` (no limit if ``None``) pixels wide in the scaled
        image are searched; the pixels searched are counted in `pixels`.
        """
        if self._cascade is None:
            self._load()
        cv2 = self._cv2
        height, width = frame.shape[:2]
        small = frame
        if scale != 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            shrink = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            small = cv2.resize(frame, size, interpolation=shrink)
        # Local contrast equalisation: dark skin and dim light leave the cascade too
        # little edge contrast otherwise.
        grey = self._clahe.apply(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        self.pixels += grey.size
        limit = (max_px, max_px) if max_px else (0, 0)  # (0, 0): no upper limit
        faces = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=3,
                                               minSize=(min_px, min_px), maxSize=limit)
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        return Box(round(x / scale), round(y / scale), round(w / scale), round(h / scale))


class RoiTracker:
    """Face box over time: a detection every N frames (or on loss), the box kept between.

    Detections run on a runner (`edge.face_worker`): inline, inside `update`, or on a
    worker thread when ``config.detect_in_background``, in which case `update` never waits:
    it keeps the last box and adopts a new one when its detection arrives.
    """

    def __init__(self, config: RoiConfig, *, runner: Any = None):
        self.config = config
        self.detector = FaceDetector(detect_width_px=config.detect_width_px)
        if runner is None:
            background = config.detect_in_background and config.mode == "face"
            runner = (DetectorWorker if background else InlineDetection)(self.detector)
        self.runner = runner
        """Runs the detections (``on_frame_path``, ``idle``, ``submit``, ``poll``, ``close``)."""
        self.jobs = 0
        """Detection jobs submitted so far."""
        self.adopted: Detection | None = None
        """The `edge.face_worker.Detection` adopted by the last `update`, if any."""
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        """Forget the face (a detection still running for the old one is ignored)."""
        self._box: np.ndarray | None = None  # x, y, w, h as floats
        self.box_timestamp_s: float | None = None
        """Capture time of the frame whose detection last found the face in the box."""
        self._generation += 1
        self._near_misses = 0
        self._frames_since_detect = 0
        self._misses = 0

    def close(self) -> None:
        """Stop the runner."""
        self.runner.close()

    def update(self, frame: np.ndarray, timestamp_s: float = 0.0) -> Box | None:
        """Face box for this frame (``None`` if no face is known yet)."""
        mode = self.config.mode
        if mode == "full":
            return Box(0, 0, frame.shape[1], frame.shape[0])
        if mode == "fixed":
            return _clip_box(self.config.fixed_box, frame.shape)
        self.adopted = None
        self._adopt(self.runner.poll())
        self._frames_since_detect += 1
        due = self._box is None or self._frames_since_detect >= self.config.detect_every_n_frames
        if due and self.runner.idle:
            self._frames_since_detect = 0
            self.jobs += 1
            self.runner.submit(self._job(frame, timestamp_s))
            self._adopt(self.runner.poll())
        if self._box is None:
            return None
        return _clip_box(tuple(round(v) for v in self._box), frame.shape)

    def _job(self, frame: np.ndarray, timestamp_s: float) -> DetectionJob:
        near = None
        if self._box is not None and self.config.local_redetect:
            near = _clip_box(tuple(round(v) for v in self._box), frame.shape)
        # a full search costs a Pi several frame periods: after a near miss, look near the
        # face again on the next frame first
        full = near is None or self._near_misses >= NEAR_RETRIES
        return DetectionJob(frame=frame, timestamp_s=timestamp_s, near_box=near,
                            full_search=full, generation=self._generation)

    def _adopt(self, found: Detection | None) -> None:
        if found is None or found.generation != self._generation:
            return
        self.adopted = found
        if found.box is None and not found.searched_full:  # a near miss: retry next frame
            self._near_misses += 1
            self._frames_since_detect = self.config.detect_every_n_frames - 1
            return
        self._near_misses = 0
        if found.box is None:
            self._misses += 1
            if self._misses >= 2:  # two detections in a row without a face: it is gone
                self._box = None
                self.box_timestamp_s = None
            return
        self._misses = 0
        self.box_timestamp_s = found.timestamp_s
        new = np.array(found.box.to_list(), dtype=np.float64)
        iou = 0.0 if self._box is None else _overlap(self._box, new)
        if iou < 0.3:
            self._box = new
        elif iou < STILL_IOU:
            a = self.config.box_smoothing
            self._box = (1.0 - a) * self._box + a * new
        # else: the face has not really moved; keeping the box avoids a step in the ROI
        # means at the detection cadence (2 Hz by default: inside the heart-rate band)


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _clip_box(box: tuple[int, ...] | None, shape: tuple[int, ...]) -> Box | None:
    if box is None:
        return None
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(shape[1], x + w), min(shape[0], y + h)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))


class RoiSampler:
    """Mean RGB of the usable skin pixels in a box: its sub-ROIs in face mode, or all of it.

    Buffers are preallocated; `sample` returns a view that the next call overwrites.
    """

    def __init__(self, config: RoiConfig):
        self.whole_box = config.mode == "full"
        self.skin_mask = config.skin_mask and config.mode != "full"
        n = 1 if self.whole_box else len(SUB_ROIS)
        self._fractions = tuple(SUB_ROIS.values())
        self._boxes = np.zeros((n, 4), dtype=np.int64)
        self._sums = np.zeros((n, 5))
        self._total = np.zeros(5)
        self._mean = np.zeros(3)
        self.saturated_fraction = 0.0
        """Share of the last sample's scanned pixels left out for a saturated channel."""
        self.pixels_scanned = 0
        """Pixels visited by the ROI kernel so far (a work counter)."""

    def sample(self, frame: np.ndarray, box: Box) -> np.ndarray | None:
        """Mean (R, G, B) of the usable pixels, or ``None`` if too few are usable."""
        if self.whole_box:
            self._boxes[0] = (box.x, box.y, box.x + box.width, box.y + box.height)
            self.pixels_scanned += box.width * box.height
        else:
            for i, (fx0, fy0, fx1, fy1) in enumerate(self._fractions):
                x0, y0 = box.x + int(fx0 * box.width), box.y + int(fy0 * box.height)
                x1 = box.x + math.ceil(fx1 * box.width)
                y1 = box.y + math.ceil(fy1 * box.height)
                self._boxes[i] = (x0, y0, x1, y1)
                self.pixels_scanned += (x1 - x0) * (y1 - y0)
        # the kernel does not bounds-check: a box from an earlier, larger frame must not
        # read outside this one
        height, width = frame.shape[:2]
        np.clip(self._boxes[:, 0::2], 0, width, out=self._boxes[:, 0::2])
        np.clip(self._boxes[:, 1::2], 0, height, out=self._boxes[:, 1::2])
        _roi_sums(frame, self._boxes, self.skin_mask, self._sums)
        total = self._sums.sum(axis=0, out=self._total)
        self.saturated_fraction = total[4] / max(1.0, total[3] + total[4])
        if total[3] < MIN_USABLE_PIXELS:
            return None
        np.divide(total[:3], total[3], out=self._mean)
        return self._mean
