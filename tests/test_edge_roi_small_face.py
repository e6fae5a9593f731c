"""A face smaller than the cascade's window (a frame decoded at 1/4 or 1/8) stays found:
the searches enlarge the image, so the tracker re-finds it near its box."""

import cv2
import pytest

from edge.config import RoiConfig
from edge.roi import RoiTracker
from firmware_sim.world import WorldConfig, make_clip


@pytest.mark.parametrize("reduce", [4, 8])
def test_a_small_face_is_found_then_refound_near_its_box(reduce):
    clip = make_clip(WorldConfig(width=320, height=240, duration_s=1.1, seed=61))
    tracker = RoiTracker(RoiConfig(detect_every_n_frames=5))
    boxes = []
    for frame, t in clip.frames():
        h, w = frame.shape[:2]
        small = cv2.resize(frame, (w // reduce, h // reduce), interpolation=cv2.INTER_AREA)
        boxes.append(tracker.update(small, t))
    assert all(box is not None for box in boxes)
    assert boxes[0].width < 24  # under the full search's smallest face at its own size
    assert tracker.detector.pixels == 160 * 120  # one full search: the first frame only
    assert tracker.detector.near_searches == len(boxes) // 5  # then every 5th frame
