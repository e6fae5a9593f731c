"""The whole pipeline in face mode on world-simulator clips (a small subset of the
accuracy benchmark; `python -m firmware_sim.bench.accuracy` prints the full table)."""

import dataclasses

import numpy as np
import pytest

import edge
from edge.heart_rate import HeartRateTracker
from edge.pipeline import build_stages
from edge.probe import Probe
from firmware_sim.world import WorldConfig, make_clip


def heart_rate_errors(world, config=None, *, truth_window_s=10.0):
    config = config or edge.PipelineConfig()
    clip = make_clip(world)
    errors, statuses = [], []
    with edge.Pipeline(config) as pipe:
        for frame, t in clip.frames():
            reading = pipe.push(frame, t)
            if reading is None:
                continue
            statuses.append(reading.status)
            if reading.heart_rate_bpm is not None:
                truth = clip.truth.mean_heart_rate_bpm(max(0.0, t - truth_window_s), t)
                errors.append(reading.heart_rate_bpm - truth)
    return np.array(errors), statuses


BASE = WorldConfig(width=320, height=240, duration_s=20.0, fps=30.0)


# dim_dark: the quality gate withholds most readings there (about 30 % coverage in the
# benchmark), so the test asks for accuracy of what comes out, not for many readings.
@pytest.mark.parametrize(
    ("name", "changes", "max_mae_bpm", "min_readings"),
    [
        ("still", {"heart_rate_bpm": 66.0, "seed": 1}, 1.0, 8),
        ("still_fast", {"heart_rate_bpm": 140.0, "skin_tone": "medium", "seed": 2,
                        "width": 640, "height": 480}, 1.5, 3),
        ("motion", {"heart_rate_bpm": 84.0, "motion": "moderate", "seed": 3}, 2.5, 8),
        ("dim_dark", {"heart_rate_bpm": 75.0, "skin_tone": "dark", "light_level": 0.35,
                      "width": 640, "height": 480, "duration_s": 30.0, "seed": 4}, 3.0, 1),
    ],
)
def test_face_mode_heart_rate(name, changes, max_mae_bpm, min_readings):
    errors, statuses = heart_rate_errors(dataclasses.replace(BASE, **changes))
    assert errors.size >= min_readings, f"{name}: only {errors.size} readings passed the gate"
    assert np.mean(np.abs(errors)) <= max_mae_bpm
    assert edge.Status.NO_FACE not in statuses


def test_face_leaving_the_frame_gives_no_face_then_recovers():
    clip = make_clip(dataclasses.replace(BASE, heart_rate_bpm=70.0, seed=5))
    pipe = edge.Pipeline()
    readings = []
    for i, (frame, t) in enumerate(clip.frames()):
        if 150 <= i < 240:  # 3 s of an empty scene: the person stepped away
            frame = np.full_like(frame, 110)
        reading = pipe.push(frame, t)
        if reading is not None:
            readings.append(reading)
    during = [r for r in readings if 5.5 <= r.timestamp_s <= 7.5]
    assert during and all(r.status is edge.Status.NO_FACE for r in during)
    assert all(r.heart_rate_bpm is None for r in during)
    back = [r for r in readings if 8.0 <= r.timestamp_s < 14.0]
    assert back and all(r.status is edge.Status.RESYNC for r in back)  # the window refills
    after = [r for r in readings if r.timestamp_s >= 19.0]
    assert after[-1].status is edge.Status.OK
    assert abs(after[-1].heart_rate_bpm - 70.0) <= 3.0


def test_strong_in_band_motion_withholds_rather_than_guesses():
    world = dataclasses.replace(BASE, heart_rate_bpm=75.0, motion="strong", seed=6)
    errors, statuses = heart_rate_errors(world)
    assert all(abs(e) <= 5.0 for e in errors)  # whatever comes out is right ...
    assert statuses.count(edge.Status.LOW_QUALITY) >= len(statuses) // 2  # ... mostly nothing


def test_kalman_tracking_when_enabled_stays_on_the_truth_and_rejects_outliers():
    config = edge.PipelineConfig().with_changes(kalman={"enabled": True})
    world = dataclasses.replace(BASE, heart_rate_bpm=72.0, heart_rate_end_bpm=96.0, seed=9)
    # the tracked reading is the rate now (the raw one describes its 10 s window): it is
    # compared with the true rate of the last 2 s, and must beat the raw estimate there
    errors, _ = heart_rate_errors(world, config, truth_window_s=2.0)
    raw, _ = heart_rate_errors(world, truth_window_s=2.0)
    assert errors.size >= 8 and np.mean(np.abs(errors)) < 0.75 * np.mean(np.abs(raw))
    tracker = build_stages(config, Probe()).heart_rate.tracker
    assert isinstance(tracker, HeartRateTracker)
    assert tracker.update(20.0, 80.0, snr_db=6.0, window_s=10.0) == pytest.approx(80.0)  # starts
    assert tracker.update(21.0, 160.0, snr_db=6.0, window_s=10.0) is None  # harmonic: gated out
    assert tracker.update(22.0, 80.5, snr_db=6.0, window_s=10.0) == pytest.approx(80.5, abs=1.0)
    assert tracker.update(23.0, None, snr_db=0.0, window_s=10.0) is None  # nothing extrapolated
    assert build_stages(edge.PipelineConfig(), Probe()).heart_rate.tracker is None  # off: raw


def test_heart_rate_tracker_reports_a_ramp_now_not_at_the_window_middle():
    # a rate rising 1 bpm/s, each estimate describing the middle of its 10 s window (plus
    # the projection's 1.6 s): the tracked rate is the rate at the reading's time
    config = edge.PipelineConfig().with_changes(kalman={"enabled": True})
    tracker = HeartRateTracker(config.kalman, projection_window_s=1.6)
    delay_s = 5.0 + 1.6
    for t in np.arange(20.0, 60.0):
        tracked = tracker.update(t, 60.0 + (t - delay_s - 20.0), snr_db=10.0, window_s=10.0)
    assert tracked == pytest.approx(60.0 + (59.0 - 20.0), abs=1.0)


def breathing_readings(world):
    """Readings after the 32 s breathing window has filled (and a second to spare)."""
    clip = make_clip(world)
    config = edge.PipelineConfig().with_changes(vitals={"spo2": False, "hrv": False})
    with edge.Pipeline(config) as pipe:
        readings = [pipe.push(frame, t) for frame, t in clip.frames()]
    return [r for r in readings if r is not None and r.timestamp_s >= 33.0]


@pytest.mark.parametrize(("motion", "br_bpm", "seed"), [("still", 10.0, 31), ("mild", 20.0, 32)])
def test_face_mode_breathing_rate(motion, br_bpm, seed):
    world = dataclasses.replace(BASE, duration_s=45.0, breathing_rate_bpm=br_bpm, motion=motion,
                                seed=seed)
    late = breathing_readings(world)
    rates = np.array([r.breathing_rate_bpm for r in late if r.breathing_rate_bpm is not None])
    assert rates.size >= 0.5 * len(late) > 0
    assert np.mean(np.abs(rates - br_bpm)) <= 1.0


def test_face_mode_breathing_withheld_under_moderate_head_motion():
    world = dataclasses.replace(BASE, duration_s=45.0, breathing_rate_bpm=15.0,
                                motion="moderate", seed=33)
    late = breathing_readings(world)
    assert late and all(r.breathing_rate_bpm is None for r in late)
    assert all(r.breathing_status is edge.Status.LOW_QUALITY for r in late)
    assert sum(r.heart_rate_bpm is not None for r in late) >= 0.5 * len(late)
