import dataclasses

import numpy as np
import pytest
from synthetic import make_face_clip

import edge
from edge import Pipeline, PipelineConfig, Status
from edge.errors import ConfigError, InputError
from edge.probe import STAGES, WORK, Probe, RecordingProbe
from firmware_sim.world import WorldConfig, make_clip

FULL = PipelineConfig().with_changes(roi={"mode": "full"})


def _run(frames, timestamps, config=FULL):
    pipe = Pipeline(config)
    pushed = (pipe.push(f, t) for f, t in zip(frames, timestamps, strict=True))
    return [r for r in pushed if r is not None]


@pytest.mark.parametrize("hr_bpm", [52.0, 96.0, 164.0])
def test_heart_rate_of_a_synthetic_clip(hr_bpm):
    frames, t = make_face_clip(hr_bpm=hr_bpm, seconds=16, seed=int(hr_bpm))
    readings = _run(frames, t)
    ok = [r for r in readings if r.status is Status.OK]
    assert len(ok) >= 8
    assert all(abs(r.heart_rate_bpm - hr_bpm) <= 2.0 for r in ok)
    assert all(0.5 < r.quality <= 1.0 for r in ok)


def test_readings_come_once_per_interval_and_start_warming_up():
    frames, t = make_face_clip(seconds=12)
    readings = _run(frames, t)
    times = np.array([r.timestamp_s for r in readings])
    assert np.allclose(np.diff(times), 1.0, atol=1 / 30 + 1e-9)
    assert readings[0].status is Status.WARMING_UP and readings[0].heart_rate_bpm is None
    assert readings[-1].status is Status.OK
    assert all(r.latency_ms > 0 for r in readings)


def test_jitter_and_drops_are_resampled():
    frames, t = make_face_clip(hr_bpm=80, seconds=16, jitter_s=0.008, drop_rate=0.1, seed=3)
    ok = [r for r in _run(frames, t) if r.status is Status.OK]
    assert ok and all(abs(r.heart_rate_bpm - 80) <= 2.0 for r in ok)


def test_a_long_gap_resyncs_then_recovers():
    frames, t = make_face_clip(hr_bpm=70, seconds=24)
    t = t.copy()
    t[360:] += 5.0  # a 5 s hole after 12 s
    readings = _run(frames, t)
    after = [r for r in readings if r.timestamp_s > 17.0]
    assert after[0].status is Status.RESYNC and after[0].heart_rate_bpm is None
    assert after[-1].status is Status.OK and abs(after[-1].heart_rate_bpm - 70) <= 2


def test_black_frames_are_no_face_not_a_number():
    frames = np.zeros((90, 60, 80, 3), dtype=np.uint8)
    readings = _run(frames, np.arange(90) / 30)
    assert readings and all(r.status is Status.NO_FACE for r in readings)
    assert all(r.heart_rate_bpm is None and r.quality == 0.0 for r in readings)


def test_noise_is_low_quality_not_a_confident_rate(rng):
    frames = rng.integers(60, 200, (450, 40, 40, 3), dtype=np.uint8)
    readings = _run(frames, np.arange(450) / 30)
    late = [r for r in readings if r.timestamp_s > 8]
    assert late
    for r in late:
        assert r.status is Status.LOW_QUALITY or r.quality < 0.5


def test_face_mode_without_a_face_says_no_face():
    frames, t = make_face_clip(seconds=4)  # an ellipse is no face for the detector
    readings = _run(frames, t, PipelineConfig())
    assert readings and all(r.status is Status.NO_FACE for r in readings)


def test_fixed_box_mode_uses_the_box():
    frames, t = make_face_clip(hr_bpm=90, seconds=14)
    config = PipelineConfig().with_changes(roi={"mode": "fixed", "fixed_box": (60, 30, 40, 60),
                                                "skin_mask": False})
    ok = [r for r in _run(frames, t, config) if r.status is Status.OK]
    assert ok and abs(ok[-1].heart_rate_bpm - 90) <= 2
    assert ok[-1].face_box == edge.Box(60, 30, 40, 60)


def test_process_video_equals_a_push_replay():
    frames, _t = make_face_clip(seconds=10)
    track = edge.process_video(frames, config=FULL, fps=30.0)
    pushed = _run(frames, np.arange(len(frames)) / 30.0)
    replay = edge.Track.from_readings(pushed)
    for field in dataclasses.fields(track):
        if field.name == "latency_ms":
            continue
        a, b = getattr(track, field.name), getattr(replay, field.name)
        np.testing.assert_array_equal(a, b)


def test_reset_forgets_everything():
    frames, t = make_face_clip(seconds=10)
    pipe = Pipeline(FULL)
    for f, ts in zip(frames, t, strict=False):
        pipe.push(f, ts)
    pipe.reset()
    first = [r for r in (pipe.push(f, ts) for f, ts in zip(frames[:40], t[:40], strict=False)) if r]
    assert first[0].status is Status.WARMING_UP


def test_bad_input_raises_input_error():
    pipe = Pipeline(FULL)
    frame = np.zeros((40, 40, 3), dtype=np.uint8)
    with pytest.raises(InputError, match="uint8"):
        pipe.push(frame.astype(np.float32), 0.0)
    with pytest.raises(InputError, match="finite"):
        pipe.push(frame, float("nan"))
    pipe.push(frame, 1.0)
    with pytest.raises(InputError, match="increase strictly"):
        pipe.push(frame, 1.0)
    with pytest.raises(InputError, match="increase strictly"):
        pipe.push(frame, 0.5)
    pipe.push(frame, 1.1)  # the pipeline is still usable after a rejected frame


def test_frame_size_may_change_mid_stream():
    pipe = Pipeline(FULL)
    pipe.push(np.full((40, 40, 3), 120, np.uint8), 0.0)
    pipe.push(np.full((80, 60, 3), 120, np.uint8), 0.04)


def test_closed_pipeline_and_bad_config():
    with Pipeline(FULL) as pipe:
        pass
    with pytest.raises(ConfigError):
        pipe.push(np.zeros((40, 40, 3), np.uint8), 0.0)
    with pytest.raises(ConfigError, match="PipelineConfig"):
        Pipeline({"roi": "full"})


def test_the_probe_gets_each_stage_time_by_name():
    probe = RecordingProbe()
    pipe = Pipeline(FULL, probe=probe)
    pipe.push(np.full((40, 40, 3), 120, np.uint8), 0.0)
    assert set(probe.stage_s) == set(STAGES)
    assert all(s >= 0.0 for s in probe.stage_s.values()) and sum(probe.stage_s.values()) > 0.0


def test_default_probe_records_nothing_and_a_wrong_probe_is_refused():
    pipe = Pipeline(FULL)
    assert type(pipe.probe) is Probe
    assert pipe.push(np.full((40, 40, 3), 120, np.uint8), 0.0) is None
    with pytest.raises(ConfigError, match="probe"):
        Pipeline(FULL, probe=RecordingProbe)  # the class, not an instance
    with pytest.raises(KeyError, match="unknown kind"):
        RecordingProbe().work("roi_pixel", 1)


def _pushes(config, frames, times):
    """(reading, work units by name) of every push."""
    probe = RecordingProbe()
    pipe = Pipeline(config, probe=probe)
    out = []
    for frame, t in zip(frames, times, strict=True):
        reading = pipe.push(frame, t)
        out.append((reading, dict(probe.units)))
    return pipe, out


def test_work_counts_are_what_each_push_did():
    config = FULL.with_changes(vitals={"spo2": False, "hrv": False})
    frames, t = make_face_clip(seconds=24, size=(60, 80))
    pipe, pushes = _pushes(config, frames, t)
    assert all(set(work) == set(WORK) for _, work in pushes)
    # full mode: no face search, the whole 80x60 frame sampled, the head followed each frame
    assert all(w["detector_pixels"] == 0 and w["near_detections"] == 0 for _, w in pushes)
    assert all(w["roi_pixels"] == 80 * 60 and w["head_motion_updates"] == 1 for _, w in pushes)
    # every uniform sample reached the pulse stream (no restart in this clip)
    assert sum(w["trace_samples"] for _, w in pushes) == pipe.stream.count + pipe.stream.dropped
    # one heart-rate estimate on each output tick with a rate or low quality, none elsewhere
    estimated = (Status.OK, Status.LOW_QUALITY)
    for reading, w in pushes:
        assert w["estimates"] == (reading is not None and reading.status in estimated)
        ran = reading is not None and reading.breathing_status in estimated
        assert w["vital_estimates"] == ran and w["hrv_analyses"] == 0
    assert sum(w["vital_estimates"] for _, w in pushes) >= 2  # breathing ran after its 20 s


def test_face_search_work_full_then_near_the_face():
    clip = make_clip(WorldConfig(width=320, height=240, duration_s=1.1, fps=30.0, seed=3))
    frames, times = zip(*clip.frames(), strict=True)
    config = PipelineConfig().with_changes(roi={"detect_every_n_frames": 15})
    _, pushes = _pushes(config, frames, times)
    detector = [w["detector_pixels"] for _, w in pushes]
    near = [w["near_detections"] for _, w in pushes]
    assert detector[0] == 160 * 120  # the first frame: one full search, at 160 px wide
    assert sum(detector) == detector[0]  # the face stays found: no other full search
    assert [i for i, n in enumerate(near) if n] == [15, 30]  # then every 15th frame, near it
    assert all(w["roi_pixels"] > 0 for _, w in pushes)


def test_a_frame_without_a_face_counts_a_search_and_no_skin():
    _, pushes = _pushes(PipelineConfig(), [np.zeros((120, 160, 3), np.uint8)], [0.0])
    (_, work), = pushes
    assert work["detector_pixels"] == 160 * 120 and work["roi_pixels"] == 0
    assert work["trace_samples"] == 0 and work["head_motion_updates"] == 0
