"""SpO2 pieces: ratio of ratios, the calibration line, its files; the streaming breathing
rate; the simulator's SpO2 and motion bursts. Expected values come from the signals'
construction."""

import json

import numpy as np
import pytest

from edge.breathing import stream_breathing
from edge.errors import ConfigError, InputError
from edge.spo2 import (
    DEFAULT_CALIBRATION,
    Spo2Calibration,
    fit_calibration,
    load_calibration,
    ratio_of_ratios,
)

FS = 30.0


def trace(*, ratio, n_s=10.0, hr_hz=1.2, noise=0.0, seed=0, intensity=None):
    """Skin RGB whose red AC/DC over blue AC/DC is `ratio`, and a POS-like pulse made
    from the same noisy channels (so their noise is in it too)."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(n_s * FS)) / FS
    blood = 0.003 * np.sin(2 * np.pi * hr_hz * t)
    weights = np.array([0.53 * ratio, 0.77, 0.53])
    dc = np.array([180.0, 120.0, 90.0])
    rel = blood[:, None] * weights + noise * rng.standard_normal((t.size, 3))
    if intensity is not None:
        rel = rel + intensity[:, None]
    rgb = dc * (1.0 + rel)
    pulse = rel[:, 1] - rel[:, 2] + 0.3 * (rel[:, 1] + rel[:, 2] - 2 * rel[:, 0])
    return rgb, pulse


@pytest.mark.parametrize("ratio", [0.4, 0.7, 1.1])
def test_ratio_of_ratios_clean(ratio):
    rgb, pulse = trace(ratio=ratio)
    est = ratio_of_ratios(rgb, pulse, fs=FS, heart_rate_bpm=72.0)
    assert est.ratio == pytest.approx(ratio, rel=1e-3)
    assert est.correlation > 0.99


def test_ratio_of_ratios_is_unbiased_in_noise():
    # sensor noise as large as the red pulse in every channel, and inside the pulse too
    ratios = []
    for seed in range(20):
        rgb, pulse = trace(ratio=0.6, n_s=20.0, noise=0.001, seed=seed)
        ratios.append(ratio_of_ratios(rgb, pulse, fs=FS, heart_rate_bpm=72.0).ratio)
    assert np.mean(ratios) == pytest.approx(0.6, rel=0.03)


def test_ratio_of_ratios_has_no_ratio_bias_at_high_noise():
    # noise 0.0012 per sample against a blue pulse of 0.0016: one 10 s window's ratio
    # scatters by ~15 %, and a plain AC_red / AC_blue averages ~2 % high (E[1/y] > 1/E[y])
    ratios = []
    for seed in range(2000):
        rgb, pulse = trace(ratio=0.7, noise=0.0012, seed=seed)
        ratios.append(ratio_of_ratios(rgb, pulse, fs=FS, heart_rate_bpm=72.0).ratio)
    assert np.std(ratios) > 0.1 * 0.7  # the regime where the bias would show
    assert np.mean(ratios) == pytest.approx(0.7, rel=0.01)  # the construction's ratio


@pytest.mark.parametrize("ratio", [0.5, 1.0])
def test_spectral_line_is_not_taken_for_noise(ratio):
    # a 10 Hz line in blue only (mains flicker of a coloured light, aliased at 30 fps)
    # that also reaches the pulse: it is no part of the broadband noise floor
    rgb, _ = trace(ratio=ratio)
    rel = rgb / np.array([180.0, 120.0, 90.0]) - 1.0
    rel[:, 2] += 0.002 * np.sin(2 * np.pi * 10.0 * np.arange(rel.shape[0]) / FS)
    pulse = rel[:, 1] - rel[:, 2] + 0.3 * (rel[:, 1] + rel[:, 2] - 2 * rel[:, 0])
    rgb = np.array([180.0, 120.0, 90.0]) * (1.0 + rel)
    est = ratio_of_ratios(rgb, pulse, fs=FS, heart_rate_bpm=72.0)
    assert est.ratio == pytest.approx(ratio, rel=1e-3)


def test_ratio_of_ratios_refuses_what_is_not_blood():
    rgb, pulse = trace(ratio=-0.5)  # red against blue: not a blood-volume change
    assert ratio_of_ratios(rgb, pulse, fs=FS, heart_rate_bpm=72.0) is None
    assert ratio_of_ratios(rgb[:40], pulse[:40], fs=FS, heart_rate_bpm=72.0) is None
    with pytest.raises(InputError):
        ratio_of_ratios(rgb[:, :2], pulse, fs=FS, heart_rate_bpm=72.0)
    with pytest.raises(InputError):
        ratio_of_ratios(rgb, pulse[:-1], fs=FS, heart_rate_bpm=72.0)


def test_calibration_line_range_and_cap():
    cal = Spo2Calibration(a=104.0, b=18.0, ratio_range=(0.3, 1.5), calibrated=True)
    assert cal.spo2_pct(0.6) == pytest.approx(104 - 18 * 0.6)
    assert cal.spo2_pct(0.2) is None and cal.spo2_pct(1.6) is None  # no extrapolation
    assert Spo2Calibration(a=120.0, b=10.0, ratio_range=(0.1, 2), calibrated=True).spo2_pct(
        0.5) == 100.0
    assert not DEFAULT_CALIBRATION.calibrated


def test_fit_recovers_the_line_from_noisy_ratios():
    rng = np.random.default_rng(1)
    spo2 = rng.uniform(82, 99, 300)
    ratios = (104.0 - spo2) / 18.0 + rng.normal(0, 0.05, spo2.size)  # noisy camera ratios
    cal = fit_calibration(ratios, spo2, camera="cam", light="lamp")
    assert cal.a == pytest.approx(104.0, rel=0.01) and cal.b == pytest.approx(18.0, rel=0.02)
    assert cal.calibrated and cal.n_points == 300 and cal.camera == "cam"
    assert cal.rms_error_pct == pytest.approx(18.0 * 0.05, rel=0.2)


def _recordings(rng, n_recordings, ratio_error_sd=0.03):
    """Desaturations whose ratios share a slow per-recording error (offset and tilt)."""
    ratios, spo2, which = [], [], []
    for k in range(n_recordings):
        s = np.linspace(rng.uniform(95, 99), rng.uniform(82, 89), 80)
        slow = rng.normal(0, ratio_error_sd) + rng.normal(0, ratio_error_sd) * (s - 90) / 8
        ratios.append((104.0 - s) / 18.0 + slow + rng.normal(0, 0.04, s.size))
        spo2.append(s)
        which.append(np.full(s.size, k))
    return np.concatenate(ratios), np.concatenate(spo2), np.concatenate(which)


def test_standard_errors_are_the_jackknife_over_recordings():
    ratios, spo2, which = _recordings(np.random.default_rng(4), 5)
    cal = fit_calibration(ratios, spo2, recording=which)
    left_out = []
    for k in range(5):  # independent reference: SpO2 = a - b R from R = c0 + c1 SpO2
        c1, c0 = np.polyfit(spo2[which != k], ratios[which != k], 1)
        left_out.append((-c0 / c1, -1.0 / c1))
    left_out = np.array(left_out)
    expected = np.sqrt(4 / 5 * ((left_out - left_out.mean(axis=0)) ** 2).sum(axis=0))
    assert (cal.a_se, cal.b_se) == pytest.approx(tuple(expected), rel=1e-9)
    assert cal.n_recordings == 5


def test_standard_errors_cover_the_true_slope():
    rng = np.random.default_rng(5)
    z = []
    for _ in range(200):
        ratios, spo2, which = _recordings(rng, 6)
        cal = fit_calibration(ratios, spo2, recording=which)
        z.append((cal.b - 18.0) / cal.b_se)
    z = np.abs(np.array(z))
    # Student's t with 5 degrees of freedom: 0.90 within 2, 0.64 within 1. The standard
    # error of a plain least-squares slope (readings as independent) gives ~0.45 and 0.2.
    assert 0.82 <= np.mean(z <= 2.0) <= 0.98
    assert 0.5 <= np.mean(z <= 1.0) <= 0.8


def test_too_few_recordings_give_no_standard_errors():
    ratios, spo2, which = _recordings(np.random.default_rng(6), 2)
    cal = fit_calibration(ratios, spo2, recording=which)
    assert cal.a_se is None and cal.b_se is None and cal.n_recordings == 2
    assert fit_calibration(ratios, spo2).a_se is None


@pytest.mark.parametrize(("ratios", "spo2", "match"), [
    ([0.5, 0.6], [95, 93], "at least 3"),
    ([0.5, 0.6, 0.7], [95, 95, 95.5], "spans"),
    ([0.5, 0.6, 0.7], [90, 93, 96], "does not fall"),
    ([0.5, 0.6], [95, 93, 90], "same length"),
])
def test_fit_refuses_what_cannot_give_a_line(ratios, spo2, match):
    with pytest.raises(InputError, match=match):
        fit_calibration(np.array(ratios), np.array(spo2))


def test_calibration_file_round_trip(tmp_path):
    cal = fit_calibration(np.array([0.4, 0.6, 0.8, 1.0]), np.array([96.8, 93.2, 89.6, 86.0]))
    loaded = load_calibration(cal.save(tmp_path / "c.json"))
    assert loaded == cal
    ratios, spo2, which = _recordings(np.random.default_rng(7), 3)
    cal = fit_calibration(ratios, spo2, recording=which)
    assert cal.b_se is not None and load_calibration(cal.save(tmp_path / "d.json")) == cal


@pytest.mark.parametrize("content", [
    b"\x80\x04\x95pickle", b"[1, 2]", b'{"a": 1}',
    json.dumps({"format": 1, "a": 1, "b": 2, "ratio_range": [0.5, 1], "calibrated": True,
                "extra": 0}).encode(),
    json.dumps({"format": 1, "a": "x", "b": 2, "ratio_range": [0.5, 1],
                "calibrated": True}).encode(),
    json.dumps({"format": 1, "a": 1, "b": 2, "ratio_range": [1, 0.5],
                "calibrated": True}).encode(),
])
def test_hostile_calibration_files(tmp_path, content):
    path = tmp_path / "c.json"
    path.write_bytes(content)
    with pytest.raises(ConfigError):
        load_calibration(path)


# -- streaming breathing rate --------------------------------------------------------------
def test_stream_breathing_reads_the_colour_not_the_brightness():
    t = np.arange(round(32 * FS)) / FS
    resp = 0.002 * np.sin(2 * np.pi * 0.25 * t)  # 15 breaths/min, in the blood colour
    sway = 0.01 * np.sin(2 * np.pi * 0.4 * t)  # 24/min head sway: brightness only, 5x larger
    rel = resp[:, None] * np.array([0.33, 0.77, 0.53]) + sway[:, None]
    rng = np.random.default_rng(2)
    rgb = np.array([180.0, 120.0, 90.0]) * (1 + rel + 2e-4 * rng.standard_normal(rel.shape))
    est = stream_breathing(rgb, fs=FS)
    assert est.breathing_rate_bpm == pytest.approx(15.0, abs=0.3)
    assert 0.0 < est.quality <= 1.0


def test_stream_breathing_gives_nothing_for_noise():
    rng = np.random.default_rng(3)
    rgb = 100.0 * (1.0 + 1e-3 * rng.standard_normal((round(32 * FS), 3)))
    est = stream_breathing(rgb, fs=FS)
    assert est.breathing_rate_bpm is None and est.quality == 0.0


# -- the simulator's SpO2 and motion bursts ------------------------------------------------
def test_simulated_spo2_sets_the_red_weight():
    from firmware_sim.world import WorldConfig, make_clip

    world = WorldConfig(width=64, height=48, duration_s=2.0, spo2_pct=90.0, spo2_end_pct=80.0,
                        spo2_calibration=(104.0, 18.0))
    clip = make_clip(world)
    spo2 = clip.truth.spo2_pct
    assert spo2[0] == pytest.approx(90.0) and spo2[-1] == pytest.approx(80.0, abs=0.2)
    mod = clip._modulation  # per frame: blood * (w_r, w_g, w_b) / w_g
    ratio = (mod[:, 0] / mod[:, 2])[np.abs(mod[:, 2]) > 1e-9]
    expected = ((104.0 - spo2) / 18.0)[np.abs(mod[:, 2]) > 1e-9]
    assert np.allclose(ratio, expected, rtol=1e-4)


@pytest.mark.parametrize("kwargs", [
    {"spo2_end_pct": 90.0}, {"spo2_pct": 40.0}, {"spo2_calibration": (104.0,)},
    {"spo2_pct": 99.0, "spo2_calibration": (90.0, 18.0)}, {"motion_bursts": ((1.0, -2.0),)},
    {"motion_bursts": "soon"},
])
def test_simulator_spo2_and_burst_settings_are_checked(kwargs):
    from firmware_sim.world import WorldConfig

    with pytest.raises(ConfigError):
        WorldConfig(**kwargs)


def test_motion_bursts_move_the_head_only_inside_them():
    from firmware_sim.world import WorldConfig, make_clip

    clip = make_clip(WorldConfig(width=64, height=48, duration_s=10.0, head_bob_px=0.0,
                                 motion_bursts=((4.0, 2.0),), seed=3))
    shift = np.abs(clip._affine[:, :, 2] - clip._affine[0, :, 2]).max(axis=1)
    t = clip.truth.timestamp_s
    assert shift[t < 3.4].max() < 1e-9 and shift[t > 6.6].max() < 1e-9
    assert shift[(t > 4.5) & (t < 5.5)].max() > 0.5
