"""Breathing rate from the pulse (`edge.breathing`) against independent references."""

import numpy as np
import pytest
import scipy.signal as ss
from test_edge_pulse import load_columns

from edge import analyze_pulse
from edge.breathing import breathing_rate, stream_breathing
from edge.errors import InputError

BIDMC = ("signals/bidmc_01_125hz.csv", 125.0, "ppg", "resp")
NEUROKIT = ("signals/neurokit_bio_resting_5min_100hz.csv", 100.0, "PPG", "RSP")
RECORDS = [BIDMC, NEUROKIT]


def respiration_rate(resp, fs):
    """Breaths/min of a respiration trace: 0.1-0.7 Hz band-pass, Welch peak (scipy only)."""
    sos = ss.butter(2, [0.1, 0.7], btype="band", fs=fs, output="sos")
    breath = ss.sosfiltfilt(sos, resp - resp.mean())
    freq, power = ss.welch(breath, fs=fs, nperseg=int(64 * fs), nfft=int(1024 * fs))
    band = (freq >= 0.1) & (freq <= 0.7)
    return 60.0 * freq[band][np.argmax(power[band])]


def modulated_pulse(rng, *, br_bpm, fs=50.0, seconds=90.0, hr_bpm=72.0):
    """Gaussian beats whose interval, amplitude and baseline follow a breathing sine."""
    f_br = br_bpm / 60.0
    beats = [0.5]
    while beats[-1] < seconds - 1.0:  # respiratory sinus arrhythmia: +-5 % interval
        beats.append(beats[-1] + 60.0 / hr_bpm * (1 + 0.05 * np.sin(2 * np.pi * f_br * beats[-1])))
    beats = np.array(beats)
    t = np.arange(0.0, seconds, 1.0 / fs)
    amplitude = 1.0 + 0.2 * np.sin(2 * np.pi * f_br * beats + 1.0)
    wave = 0.3 * np.sin(2 * np.pi * f_br * t + 2.0)  # intensity (baseline) variation
    for b, a in zip(beats, amplitude, strict=True):
        wave += a * np.exp(-0.5 * ((t - b) / 0.08) ** 2)
    return wave + 0.02 * rng.standard_normal(t.size), fs


@pytest.mark.parametrize(("name", "fs", "ppg", "resp"), RECORDS)
def test_breathing_from_ppg_matches_respiration(shared_data, name, fs, ppg, resp):
    data = load_columns(shared_data / name)
    reference = respiration_rate(data[resp], fs)
    result = analyze_pulse(data[ppg], fs=fs)
    assert result.breathing_rate_bpm is not None
    assert abs(result.breathing_rate_bpm - reference) <= 2.0


@pytest.mark.parametrize(("name", "fs", "ppg", "resp"), RECORDS)
def test_breathing_from_ppg_is_never_confidently_wrong(shared_data, name, fs, ppg, resp):
    data = load_columns(shared_data / name)
    reference = respiration_rate(data[resp], fs)
    rate = analyze_pulse(data[ppg], fs=fs).breathing_rate_bpm
    assert rate is None or abs(rate - reference) <= 2.0


def beats_with_mayer_wave(rng, *, br_bpm, mayer_gain, seconds=120.0, hr_bpm=72.0):
    """Beat times, peak and trough values driven by breathing plus a 0.1 Hz Mayer wave.

    The Mayer wave enters all three modulations `mayer_gain` times as strongly as
    breathing does, as the baroreflex oscillation does in a resting subject.
    """
    f_br, f_mayer = br_bpm / 60.0, 0.1

    def drive(t):
        return np.sin(2 * np.pi * f_br * t) + mayer_gain * np.sin(2 * np.pi * f_mayer * t + 1.0)

    beats = [0.5]
    while beats[-1] < seconds - 1.0:
        beats.append(beats[-1] + 60.0 / hr_bpm * (1 + 0.03 * drive(beats[-1])))
    beats = np.array(beats)
    amplitude = 1.0 + 0.1 * drive(beats + 0.3) + 0.01 * rng.standard_normal(beats.size)
    baseline = 0.1 * drive(beats + 0.6) + 0.01 * rng.standard_normal(beats.size)
    return beats, baseline + amplitude / 2, baseline - amplitude / 2


def test_a_mayer_wave_stronger_than_breathing_does_not_win(rng):
    beats, peaks, troughs = beats_with_mayer_wave(rng, br_bpm=16.0, mayer_gain=1.5)
    estimate = breathing_rate(beats, peaks, troughs)
    assert estimate.breathing_rate_bpm == pytest.approx(16.0, abs=1.0)
    assert len(estimate.window_rates_bpm) >= 6  # 120 s: 32 s windows, 50 % overlap


@pytest.mark.parametrize("br_bpm", [8.0, 24.0])
def test_slow_and_fast_breathing_alone_are_measured(rng, br_bpm):
    beats, peaks, troughs = beats_with_mayer_wave(rng, br_bpm=br_bpm, mayer_gain=0.0)
    assert breathing_rate(beats, peaks, troughs).breathing_rate_bpm == pytest.approx(
        br_bpm, abs=1.0)


def test_white_beat_series_over_minutes_give_no_rate(rng):
    for _ in range(10):
        beats = np.cumsum(rng.uniform(0.6, 1.0, 400))
        noise = breathing_rate(beats, rng.standard_normal(400), rng.standard_normal(400))
        assert noise.breathing_rate_bpm is None


@pytest.mark.parametrize("br_bpm", [12.0, 20.0])
@pytest.mark.parametrize("fs", [30.0, 100.0])
def test_synthetic_breathing_modulations(rng, br_bpm, fs):
    wave, fs = modulated_pulse(rng, br_bpm=br_bpm, fs=fs)
    result = analyze_pulse(wave, fs=fs)
    assert result.breathing_rate_bpm == pytest.approx(br_bpm, abs=1.0)


def test_two_modulations_are_enough_and_each_is_reported():
    f_br = 15.0 / 60.0
    beats = np.cumsum(np.full(80, 0.8))
    beats += 0.03 * np.sin(2 * np.pi * f_br * beats)  # RIFV
    peaks = 1.0 + 0.2 * np.sin(2 * np.pi * f_br * beats)  # RIAV; RIIV is then 0.5 + 0.1 sin
    estimate = breathing_rate(beats, peaks, np.zeros_like(beats))
    assert estimate.breathing_rate_bpm == pytest.approx(15.0, abs=1.0)
    assert [m.name for m in estimate.modulations] == ["riiv", "riav", "rifv"]
    assert all(m.clear for m in estimate.modulations)
    flat = breathing_rate(np.cumsum(np.full(80, 0.8)), peaks, np.zeros(80))  # no RIFV
    assert flat.breathing_rate_bpm == pytest.approx(15.0, abs=1.0)
    assert 0.0 < flat.quality <= 1.0


def test_noise_and_short_windows_give_no_rate(rng):
    assert analyze_pulse(rng.standard_normal(6000), fs=50.0).breathing_rate_bpm is None
    beats = np.cumsum(rng.uniform(0.6, 1.0, 100))
    noisy = breathing_rate(beats, rng.standard_normal(100), rng.standard_normal(100))
    assert noisy.breathing_rate_bpm is None and noisy.quality == 0.0
    wave, fs = modulated_pulse(rng, br_bpm=15.0, seconds=20.0)
    assert analyze_pulse(wave, fs=fs).breathing_rate_bpm is None
    short = breathing_rate(beats[:25], np.ones(25), np.zeros(25))
    assert short.breathing_rate_bpm is None and short.modulations == ()


def test_disagreeing_modulations_give_no_rate():
    beats = np.cumsum(np.full(80, 0.8))
    amplitude = 1.0 + 0.2 * np.sin(2 * np.pi * 12.0 / 60.0 * beats)  # RIAV at 12/min
    baseline = 0.3 * np.sin(2 * np.pi * 24.0 / 60.0 * beats)  # RIIV at 24/min
    peaks, troughs = baseline + amplitude / 2, baseline - amplitude / 2
    estimate = breathing_rate(beats, peaks, troughs)
    assert estimate.breathing_rate_bpm is None


def test_input_checks():
    with pytest.raises(InputError, match="one length"):
        breathing_rate(np.arange(5.0), np.ones(4), np.ones(5))
    with pytest.raises(InputError, match="increasing"):
        breathing_rate(np.array([0.0, 1.0, 1.0, 2.0]), np.ones(4), np.zeros(4))


# -- breathing from the head's vertical motion (camera path) -----------------------------

def face_frame(dy_px, dx_px=0.0, *, height=240, width=200):
    """A face-like picture: a smooth texture moved down by `dy_px`, right by `dx_px`."""
    y = np.arange(height)[:, None] - dy_px
    x = np.arange(width)[None, :] - dx_px
    picture = (120 + 40 * np.sin(2 * np.pi * y / 37.0) + 25 * np.sin(2 * np.pi * y / 11.0 + 1.0)
               + 30 * np.sin(2 * np.pi * x / 29.0) + 15 * np.sin(2 * np.pi * x / 13.0 + 2.0))
    return np.repeat(np.clip(picture, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def test_head_motion_follows_sub_pixel_shifts():
    from edge.head_motion import HeadMotion
    from edge.types import Box

    motion = HeadMotion()
    box = Box(40, 60, 120, 120)
    steps = np.linspace(0.0, 6.0, 120)
    down = 4.0 * np.sin(steps)  # both cross the key-frame limit
    right = 3.5 * np.cos(1.7 * steps) - 3.5
    measured = np.array([motion.update(face_frame(dy, dx), box)
                         for dy, dx in zip(down, right, strict=True)])
    assert np.max(np.abs(measured[:, 0] - right)) < 0.05
    assert np.max(np.abs(measured[:, 1] - down)) < 0.05


def test_head_motion_is_unknown_on_a_patch_without_texture(rng):
    from edge.head_motion import HeadMotion
    from edge.types import Box

    motion = HeadMotion()
    box = Box(8, 8, 48, 48)
    for _ in range(5):  # camera noise on a flat patch: nothing to follow
        flat = np.clip(150 + rng.normal(0, 1.0, (64, 64, 3)), 0, 255).astype(np.uint8)
        assert np.all(np.isnan(motion.update(flat, box)))
    x, y = motion.update(face_frame(0.0)[:64, :64], box)
    assert np.isfinite(x) and np.isfinite(y)


@pytest.mark.parametrize("freq_hz, amplitude_px", [(0.2, 4.0), (0.5, 8.0), (1.0, 2.0)])
def test_head_speed_is_the_rms_sideways_speed_in_face_heights(rng, freq_hz, amplitude_px):
    from edge.head_motion import HeadSpeed

    fs, height_px = 30.0, 160.0
    t = np.arange(0.0, 20.0, 1 / fs)
    x = amplitude_px * np.sin(2 * np.pi * freq_hz * t) + rng.normal(0, 0.02, t.size)
    speed = HeadSpeed()
    readings = np.array([speed.update(*row, height_px) for row in zip(t, x, strict=True)])
    # a sine's RMS speed 2 pi f A / sqrt(2), times the 0.1 s smoother's gain at f
    expected = (2 * np.pi * freq_hz * amplitude_px / np.sqrt(2) / height_px
                / np.sqrt(1 + (2 * np.pi * freq_hz * 0.1) ** 2))
    assert np.median(readings[t > 5]) == pytest.approx(expected, rel=0.1)


def test_head_speed_of_a_still_face_is_small_and_unknown_frames_are_skipped(rng):
    from edge.head_motion import HeadSpeed

    speed = HeadSpeed()
    for i in range(300):  # 0.05 px of tracking noise on a 160 px face
        speed.update(i / 30, rng.normal(0, 0.05), 160.0)
    assert speed.speed_hps < 0.005
    before = speed.speed_hps
    assert speed.update(10.0, np.nan, 160.0) == before
    assert speed.update(299 / 30, 50.0, 160.0) == before  # not a later frame
    assert speed.update(10.0, 50.0, 160.0) > 0.2  # a jump of a third of the face
    speed.reset()
    assert speed.speed_hps == 0.0


def head_bob_window(rng, *, br_bpm, random_px, fs=30.0, seconds=32.0):
    """Vertical face motion: a 1.5 px breathing bob plus four random head-motion lines."""
    t = np.arange(0.0, seconds, 1.0 / fs)
    bob = 1.5 * np.sin(2 * np.pi * br_bpm / 60.0 * t)
    freqs = rng.uniform(0.05, 0.5, 4)
    lines = sum(random_px * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    rgb = 100.0 + rng.standard_normal((t.size, 3))  # colour with no breathing in it
    return rgb, bob + lines, fs


@pytest.mark.parametrize("br_bpm", [8.0, 16.0, 24.0])
def test_head_motion_gives_the_rate_that_colour_cannot(rng, br_bpm):
    rgb, vertical_px, fs = head_bob_window(rng, br_bpm=br_bpm, random_px=0.3)
    assert stream_breathing(rgb, fs=fs).breathing_rate_bpm is None
    estimate = stream_breathing(rgb, fs=fs, vertical_px=vertical_px, face_height_px=167.0)
    assert estimate.breathing_rate_bpm == pytest.approx(br_bpm, abs=0.5)


def test_sideways_head_motion_withholds_the_rate(rng):
    rgb, vertical_px, fs = head_bob_window(rng, br_bpm=16.0, random_px=0.3)
    t = np.arange(vertical_px.size) / fs
    for sway_px, expected in ((0.5, 16.0), (4.0, None)):  # the gate: 2.3 px RMS at 167 px
        horizontal_px = sway_px * np.sin(2 * np.pi * 0.23 * t + 1.0)
        estimate = stream_breathing(rgb, fs=fs, vertical_px=vertical_px,
                                    horizontal_px=horizontal_px, face_height_px=167.0)
        assert estimate.breathing_rate_bpm == (None if expected is None
                                               else pytest.approx(expected, abs=0.5))


def test_strong_head_motion_gives_no_rate(rng):
    rgb, vertical_px, fs = head_bob_window(rng, br_bpm=16.0, random_px=2.0)
    estimate = stream_breathing(rgb, fs=fs, vertical_px=vertical_px, face_height_px=167.0)
    assert estimate.breathing_rate_bpm is None
