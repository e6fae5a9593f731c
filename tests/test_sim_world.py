"""Tests of the world simulator (firmware_sim.world) and its synth command.

Every expected value comes from the configuration or from an independent computation in the
test (plain numpy FFTs, a simple RGB skin rule), never from the simulator's own output.
"""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from edge.errors import ConfigError, InputError
from firmware_sim.physiology import GroundTruth, ppg_beat_template
from firmware_sim.world import WorldConfig, demo_config, make_clip, write_clip

SMALL = {"width": 160, "height": 120}


def _peak_bpm(signal: np.ndarray, fs_hz: float, band_hz: tuple[float, float]) -> float:
    """Frequency (per minute) of the largest spectral peak in ``band_hz``."""
    x = signal - signal.mean()
    n_fft = 16 * x.size
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft))
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / fs_hz)
    band = (freqs >= band_hz[0]) & (freqs <= band_hz[1])
    return float(60.0 * freqs[band][np.argmax(spectrum[band])])


def _skin_rule(frame: np.ndarray) -> np.ndarray:
    """Classic RGB skin rule (Kovac et al. 2003, daylight) as a boolean mask."""
    r, g, b = (frame[..., k].astype(np.int16) for k in range(3))
    spread = frame.max(axis=2).astype(np.int16) - frame.min(axis=2)
    return (r > 95) & (g > 40) & (b > 20) & (spread > 15) & (r - g > 15) & (r > b)


def _skin_green_trace(clip) -> np.ndarray:
    """Mean green of skin-rule pixels inside the face box (mask fixed from frame 0)."""
    frames = [frame for frame, _ in clip.frames()]
    x, y, w, h = clip.face_box_at(0)
    mask = np.zeros(frames[0].shape[:2], dtype=bool)
    mask[y : y + h, x : x + w] = _skin_rule(frames[0])[y : y + h, x : x + w]
    assert mask.sum() > 200, "the face box should hold skin pixels"
    return np.array([f[..., 1][mask].mean() for f in frames])


def test_same_seed_gives_identical_clip_and_other_seed_differs():
    config = WorldConfig(
        **SMALL,
        duration_s=2.0,
        motion="moderate",
        jitter_s=0.002,
        drop_rate=0.1,
        jpeg_quality=85,
        seed=11,
    )
    a, b = make_clip(config), make_clip(config)
    frames_a = [f for f, _ in a.frames()]
    assert len(frames_a) == len(a) == len(b)
    for (fa, ta), (fb, tb), (fa2, _) in zip(a.frames(), b.frames(), a.frames(), strict=True):
        assert fa.dtype == np.uint8 and fa.shape == (120, 160, 3) and fa.flags.c_contiguous
        assert np.array_equal(fa, fb) and np.array_equal(fa, fa2) and ta == tb
    for name in ("timestamp_s", "pulse", "heart_rate_bpm", "breathing_rate_bpm", "beat_times_s"):
        assert np.array_equal(getattr(a.truth, name), getattr(b.truth, name))
    other = make_clip(dataclasses.replace(config, seed=12))
    assert not np.array_equal(next(other.frames())[0], frames_a[0])
    assert not np.array_equal(other.truth.beat_times_s[:5], a.truth.beat_times_s[:5])


def test_skin_green_carries_the_configured_heart_rate():
    hr_bpm, duration_s = 84.0, 20.0
    config = WorldConfig(
        **SMALL, duration_s=duration_s, heart_rate_bpm=hr_bpm, head_bob_px=0.0, seed=3
    )
    clip = make_clip(config)
    green = _skin_green_trace(clip)
    assert abs(_peak_bpm(green, config.fps, (0.7, 3.5)) - hr_bpm) <= 2.0
    assert abs(clip.truth.mean_heart_rate_bpm(0.0, duration_s) - hr_bpm) <= 1.0
    # positive sign convention: skin green follows truth.pulse (after a 1 s detrend)
    kernel = np.ones(31) / 31
    detrended = green - np.convolve(green, kernel, mode="same")
    inner = slice(30, -30)
    assert np.corrcoef(detrended[inner], clip.truth.pulse[inner])[0, 1] > 0.5


def test_pulse_is_absent_from_the_wall():
    config = WorldConfig(
        **SMALL,
        duration_s=20.0,
        heart_rate_bpm=90.0,
        head_bob_px=0.0,
        illumination_drift_fraction=0.0,
        flicker_fraction=0.0,
        seed=5,
    )
    clip = make_clip(config)
    wall = np.array([f[2:20, 2:30, 1].mean() for f, _ in clip.frames()])
    skin = _skin_green_trace(clip)
    freqs = np.fft.rfftfreq(wall.size, d=1.0 / config.fps)
    band = (freqs >= 0.7) & (freqs <= 3.5)
    near_hr = np.abs(freqs - 90.0 / 60.0) <= 0.05

    def peak_to_median(trace: np.ndarray) -> float:
        spectrum = np.abs(np.fft.rfft(trace - trace.mean()))
        return float(spectrum[near_hr].max() / np.median(spectrum[band]))

    assert peak_to_median(skin) > 6.0
    assert peak_to_median(wall) < 4.0


def test_heart_rate_ramp_runs_from_start_to_end():
    config = WorldConfig(
        width=64, height=48, duration_s=30.0, heart_rate_bpm=60.0, heart_rate_end_bpm=90.0, seed=2
    )
    truth = make_clip(config).truth
    assert abs(truth.mean_heart_rate_bpm(0.0, 5.0) - 62.5) <= 2.5
    assert abs(truth.mean_heart_rate_bpm(25.0, 30.0) - 87.5) <= 2.5
    slope_bpm_per_s = np.polyfit(truth.timestamp_s, truth.heart_rate_bpm, 1)[0]
    assert slope_bpm_per_s == pytest.approx(1.0, abs=0.15)


def test_head_bob_and_truth_follow_the_breathing_rate():
    br_bpm = 12.0
    config = WorldConfig(**SMALL, duration_s=30.0, breathing_rate_bpm=br_bpm, head_bob_px=3.0)
    clip = make_clip(config)
    box_y = np.array([clip.face_box_at(i)[1] for i in range(len(clip))], dtype=float)
    assert np.ptp(box_y) >= 4
    assert abs(_peak_bpm(box_y, config.fps, (0.08, 0.7)) - br_bpm) <= 1.0
    assert np.all(clip.truth.breathing_rate_bpm == br_bpm)


def test_face_box_follows_the_skin_under_strong_motion():
    clip = make_clip(WorldConfig(**SMALL, duration_s=6.0, motion="strong", seed=4))
    shifts = []
    for i, (frame, _) in enumerate(clip.frames()):
        if i % 15:
            continue
        x, y, w, h = clip.face_box_at(i)
        ys, xs = np.nonzero(_skin_rule(frame)[max(y - h // 4, 0) : y + h, x : x + w])
        centre = np.array([x + xs.mean(), max(y - h // 4, 0) + ys.mean()])
        assert np.all(np.abs(centre - [x + w / 2, y + h / 2]) < [w / 4, h / 2])
        shifts.append((x, y))
    assert np.ptp(np.array(shifts), axis=0).max() >= 4  # the head did move


def test_drops_and_jitter():
    fps, duration_s, drop_rate = 30.0, 20.0, 0.1
    config = WorldConfig(
        width=64,
        height=48,
        fps=fps,
        duration_s=duration_s,
        drop_rate=drop_rate,
        jitter_s=0.003,
        seed=9,
    )
    clip = make_clip(config)
    expected = duration_s * fps * (1 - drop_rate)
    assert abs(len(clip) - expected) <= 4 * np.sqrt(duration_s * fps * drop_rate)
    t = clip.truth.timestamp_s
    assert len(t) == len(clip) and np.all(np.diff(t) > 0)
    steady = np.diff(t)[np.diff(t) < 1.5 / fps]
    assert 0.002 < steady.std() < 0.006  # jitter present, and about the configured size
    assert np.diff(t).max() > 1.5 / fps  # a dropped frame leaves a gap

    regular = make_clip(WorldConfig(width=64, height=48, fps=25.0, duration_s=4.0))
    assert len(regular) == 100
    assert np.allclose(np.diff(regular.truth.timestamp_s), 1 / 25.0, atol=1e-12)


def test_write_clip_round_trip(tmp_path):
    clip = make_clip(WorldConfig(**SMALL, duration_s=1.5, motion="mild", drop_rate=0.05, seed=1))
    path = write_clip(clip, tmp_path / "clip.avi", codec="FFV1")
    capture = cv2.VideoCapture(str(path))
    read = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        read.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    assert len(read) == len(clip)
    assert all(np.array_equal(r, f) for r, (f, _) in zip(read, clip.frames(), strict=True))

    truth = GroundTruth.from_csv(tmp_path / "clip.truth.csv")
    for name in ("timestamp_s", "pulse", "heart_rate_bpm", "breathing_rate_bpm", "beat_times_s"):
        assert np.array_equal(getattr(truth, name), getattr(clip.truth, name)), name
    meta = json.loads((tmp_path / "clip.truth.json").read_text())
    assert meta["seed"] == 1 and meta["config"]["motion"] == "mild"

    mjpg = write_clip(clip, tmp_path / "clip_mjpg.avi", codec="MJPG")
    capture = cv2.VideoCapture(str(mjpg))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == len(clip)
    with pytest.raises(InputError, match="codec"):
        write_clip(clip, tmp_path / "x.avi", codec="H264")


def test_mean_heart_rate_is_a_time_average():
    beats = np.array([0.0, 0.5, 1.5, 2.5])  # IBIs 0.5, 1, 1 s -> 120, 60, 60 bpm
    t = np.arange(0.0, 2.5, 0.1)
    hr = np.where(t < 0.5, 120.0, 60.0)
    truth = GroundTruth(
        timestamp_s=t,
        pulse=np.zeros_like(t),
        heart_rate_bpm=hr,
        breathing_rate_bpm=np.full_like(t, 15.0),
        beat_times_s=beats,
    )
    assert truth.mean_heart_rate_bpm(0.0, 1.5) == pytest.approx((120 * 0.5 + 60 * 1.0) / 1.5)
    no_beats = dataclasses.replace(truth, beat_times_s=np.array([]))
    assert no_beats.mean_heart_rate_bpm(0.0, 1.5) == pytest.approx(80.0, abs=0.5)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("heart_rate_bpm", -5.0),
        ("fps", 0.0),
        ("motion", "wobbly"),
        ("skin_tone", "green"),
        ("drop_rate", 1.0),
        ("width", 64.5),
        ("jpeg_quality", 0),
        ("pulse_rgb_weights", (0.3, 0.7)),
    ],
)
def test_invalid_config_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        WorldConfig(**{field: value})


def test_ppg_template_recovers_a_known_beat_shape():
    rng = np.random.default_rng(0)
    fs_hz, n = 100.0, 256
    phase_grid = np.arange(n) / n
    arg = 2 * np.pi * phase_grid  # a smooth beat with a dicrotic shoulder, max at phase 0.06
    known = np.cos(arg) + 0.5 * np.cos(2 * arg - 0.8) + 0.2 * np.cos(3 * arg - 1.6)
    beats = np.cumsum(rng.normal(0.8, 0.03, 120))
    t = np.arange(0.0, beats[-1], 1 / fs_hz)
    k = np.searchsorted(beats, t, side="right") - 1
    valid = (k >= 0) & (k < beats.size - 1)
    phase = (t[valid] - beats[k[valid]]) / np.diff(beats)[k[valid]]
    signal = np.interp(phase, phase_grid, known, period=1.0) + rng.normal(0, 0.02, phase.size)
    template = ppg_beat_template(signal, fs_hz=fs_hz)
    peak_first = np.roll(known, -int(np.argmax(known)))  # documented: systolic peak at phase 0
    assert np.corrcoef(template, peak_first)[0, 1] > 0.98
    assert np.ptp(template) == pytest.approx(1.0) and abs(template.mean()) < 1e-9


def test_real_ppg_morphology(shared_data):
    source = shared_data / "signals" / "bidmc_01_125hz.csv"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    base = WorldConfig(**SMALL, duration_s=20.0, heart_rate_bpm=66.0, head_bob_px=0.0, seed=6)
    real = make_clip(dataclasses.replace(base, pulse_source=source, pulse_source_column="ppg"))
    default = make_clip(base)
    assert np.array_equal(real.truth.beat_times_s, default.truth.beat_times_s)
    assert not np.allclose(real.truth.pulse, default.truth.pulse)
    assert abs(_peak_bpm(real.truth.pulse, base.fps, (0.7, 3.5)) - 66.0) <= 2.0
    assert abs(_peak_bpm(_skin_green_trace(real), base.fps, (0.7, 3.5)) - 66.0) <= 2.0
    with pytest.raises(ConfigError, match="pulse_source"):
        make_clip(dataclasses.replace(base, pulse_source=source, pulse_source_column="nope"))


def test_demo_config_and_synth_command(tmp_path):
    demo = demo_config()
    assert (demo.width, demo.height, demo.fps, demo.duration_s) == (640, 480, 30.0, 40.0)
    assert (demo.heart_rate_bpm, demo.breathing_rate_bpm) == (72.0, 15.0)

    from edge.cli import main

    out = tmp_path / "s.avi"
    argv = ["synth", str(out), "--seconds", "1", "--size", "64x48", "--hr", "90", "--seed", "3"]
    assert main(argv) == 0
    truth = GroundTruth.from_csv(tmp_path / "s.truth.csv")
    assert len(truth) == 30 and out.stat().st_size > 0
    assert main(["synth", str(out), "--size", "64by48"]) == 2
    assert main(["synth", str(out), "--hr", "500"]) == 2
