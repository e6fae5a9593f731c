import numpy as np
import pytest
from synthetic import make_face_clip
from videos import write_video

from edge.capture.arrays import ArraySource
from edge.capture.video_file import VideoFileSource
from edge.errors import InputError
from edge.video import open_source, process_video


@pytest.fixture
def clip_path(tmp_path, rng):
    frames = rng.integers(0, 256, (45, 48, 64, 3), dtype=np.uint8)
    return write_video(tmp_path / "clip.avi", frames, fps=15.0), frames


def test_file_source_gives_rgb_frames_and_timestamps(clip_path):
    path, frames = clip_path
    with VideoFileSource(path) as src:
        got = list(src)
    assert len(got) == 45 and src.fps == 15.0 and not src.truncated
    np.testing.assert_array_equal(got[7][0], frames[7])  # lossless, and RGB not BGR
    times = np.array([t for _, t in got])
    np.testing.assert_allclose(times, np.arange(45) / 15.0, atol=1e-6)


def test_fps_override_sets_the_timestamps(clip_path):
    path, _ = clip_path
    times = [t for _, t in VideoFileSource(path, fps=30.0)]
    np.testing.assert_allclose(times, np.arange(45) / 30.0)


def test_missing_empty_and_non_video_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        VideoFileSource(tmp_path / "nope.avi")
    empty = tmp_path / "empty.avi"
    empty.touch()
    with pytest.raises(InputError, match="empty"):
        VideoFileSource(empty)
    text = tmp_path / "notes.avi"
    text.write_text("not a video at all\n" * 200)
    with pytest.raises(InputError, match="not a video"):
        VideoFileSource(text)


def test_truncated_file_is_reported(tmp_path, rng):
    frames = rng.integers(0, 256, (60, 48, 64, 3), dtype=np.uint8)
    path = write_video(tmp_path / "full.avi", frames, codec="MJPG")
    data = path.read_bytes()
    half = tmp_path / "half.avi"
    half.write_bytes(data[: len(data) // 2])
    src = VideoFileSource(half)
    n = sum(1 for _ in src)
    assert 0 < n < 60 and src.truncated
    stub = tmp_path / "stub.avi"
    stub.write_bytes(data[:1500])
    with pytest.raises(InputError):
        list(VideoFileSource(stub))


def test_array_source_checks():
    frames = np.zeros((5, 20, 20, 3), np.uint8)
    assert [t for _, t in ArraySource(frames, fps=10)] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    with pytest.raises(InputError, match="exactly one"):
        ArraySource(frames)
    with pytest.raises(InputError, match="one value per frame"):
        ArraySource(frames, timestamps_s=[0, 1])


def test_open_source_rejects_unknown_things():
    with pytest.raises(InputError, match="fps="):
        open_source(np.zeros((5, 20, 20, 3), np.uint8))
    with pytest.raises(InputError, match="got int"):
        open_source(42)


def test_process_video_on_a_file_finds_the_heart_rate(tmp_path):
    frames, _ = make_face_clip(hr_bpm=84, seconds=14, seed=5)
    path = write_video(tmp_path / "face.avi", frames)
    config = __import__("edge").PipelineConfig().with_changes(roi={"mode": "full"})
    track = process_video(path, config=config)
    hr = track.heart_rate_bpm[np.isfinite(track.heart_rate_bpm)]
    assert hr.size >= 5 and np.all(np.abs(hr - 84) <= 2)
    assert len(track) == 13 and track.to_dict()["status"][0] == "warming_up"


@pytest.mark.parametrize("codec", ["MJPG", "FFV1"])
@pytest.mark.parametrize("scale", [2, 4])
def test_reduced_decoding_matches_a_downscaled_full_decode(tmp_path, codec, scale):
    frames, _ = make_face_clip(seconds=1, size=(96, 128), noise_dn=0.0, seed=2)
    path = write_video(tmp_path / "clip.avi", frames, codec=codec)
    full = [f for f, _ in VideoFileSource(path)]
    small = list(VideoFileSource(path, decode_scale=scale))
    assert small[0][0].shape == (96 // scale, 128 // scale, 3)
    assert [t for _, t in small] == pytest.approx(np.arange(len(full)) / 30.0)
    for (f, _), ref in zip(small, full, strict=True):
        # DCT scaling and area averaging agree on the block means to a few levels
        area = ref.reshape(96 // scale, scale, 128 // scale, scale, 3).mean(axis=(1, 3))
        assert np.abs(f.astype(float).mean(axis=(0, 1)) - area.mean(axis=(0, 1))).max() < 1.5


def test_auto_decode_scale_keeps_320_pixels(clip_path, tmp_path, rng):
    frames = rng.integers(0, 256, (3, 480, 640, 3), dtype=np.uint8)
    path = write_video(tmp_path / "vga.avi", frames, codec="MJPG")
    assert VideoFileSource(path, decode_scale="auto").decode_scale == 2
    assert VideoFileSource(clip_path[0], decode_scale="auto").decode_scale == 1  # 64 px wide
    with pytest.raises(InputError, match="decode_scale"):
        VideoFileSource(path, decode_scale=3)
