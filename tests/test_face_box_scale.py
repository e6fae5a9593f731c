"""`face_box` is in the source video's pixels whatever the decode scale (#18)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from videos import write_video

pytest.importorskip("firmware_sim.world")


@pytest.fixture(scope="module")
def face_clip(tmp_path_factory):
    from firmware_sim.world import WorldConfig, make_clip

    clip = make_clip(WorldConfig(duration_s=8.0, seed=5, width=640, height=480))
    frames = np.stack([frame for frame, _ in clip.frames()])
    path = write_video(tmp_path_factory.mktemp("boxes") / "face.avi", frames, codec="MJPG")
    return path, clip.face_box_at(len(clip) - 1)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_face_box_is_in_source_pixels_at_every_decode_scale(face_clip, scale):
    path, (x, y, w, h) = face_clip
    out = subprocess.run([sys.executable, "-m", "edge", "run", str(path), "--json",
                          "--decode-scale", str(scale)], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    box = [json.loads(line)["face_box"] for line in out.splitlines() if line.strip()][-1]
    # The detector's box is its own convention (a square a little larger than the
    # simulator's face outline), so compare centres and sizes: a box left in decoded
    # pixels would sit at half or a quarter of the coordinates.
    centre = (box[0] + box[2] / 2, box[1] + box[3] / 2)
    assert centre == pytest.approx((x + w / 2, y + h / 2), abs=2.0 + scale)
    assert 0.9 * w <= box[2] <= 1.4 * w
