"""Breathing rate, SpO2 and HRV in the streaming pipeline, with their statuses.

The clips are the tests' own skin patches (`tests/synthetic.make_skin_clip`), whose
breathing rate, ratio of ratios and beat times are set by construction; the expected
values below come from those settings (and from numpy on the true beat times), never
from the pipeline's own output.
"""

import json

import numpy as np
import pytest
from synthetic import make_skin_clip

import edge
from edge.cli import main as cli_main
from edge.spo2 import Spo2Calibration
from edge.types import Status

FULL = edge.PipelineConfig().with_changes(roi={"mode": "full"})
VITAL_STATUSES = ("status", "breathing_status", "spo2_status", "hrv_status")


def run(frames, times, config=FULL):
    with edge.Pipeline(config) as pipe:
        return [r for f, t in zip(frames, times, strict=True)
                if (r := pipe.push(f, t)) is not None]


@pytest.fixture(scope="module")
def skin_run():
    """45 s at 72 bpm (±5 with breathing), 12 breaths/min, ratio of ratios 0.611."""
    frames, t, beats = make_skin_clip(hr_bpm=72.0, rsa_bpm=5.0, br_bpm=12.0,
                                      ratio=(104.0 - 93.0) / 18.0, seconds=45.0, seed=1)
    return frames, t, beats, run(frames, t)


def test_breathing_rate_from_the_colour_trace(skin_run):
    *_, readings = skin_run
    late = [r for r in readings if r.timestamp_s >= 32.0]
    assert late and all(r.breathing_status is Status.OK for r in late)
    rates = np.array([r.breathing_rate_bpm for r in late])
    assert np.all(np.abs(rates - 12.0) <= 0.5)
    assert all(0.0 < r.breathing_quality <= 1.0 for r in late)


def test_breathing_warms_up_for_its_longer_window(skin_run):
    *_, readings = skin_run
    first = readings[0]
    assert all(getattr(first, s) is Status.WARMING_UP for s in VITAL_STATUSES)
    mid = [r for r in readings if 12.0 <= r.timestamp_s < 19.0]
    assert mid and all(r.status is Status.OK and r.breathing_status is Status.WARMING_UP
                       and r.breathing_rate_bpm is None for r in mid)
    assert all(r.hrv_status is Status.WARMING_UP and r.sdnn_ms is None for r in mid)


def test_uncalibrated_spo2_says_so_and_is_capped(skin_run):
    *_, readings = skin_run
    late = [r for r in readings if r.timestamp_s >= 20.0]
    assert late and all(r.spo2_status is Status.OK for r in late)
    assert not any(r.spo2_calibrated for r in late)
    assert max(r.spo2_quality for r in late) <= 0.3
    # the shipped line is 110 - 25 R: R = 0.611 gives 94.7 %
    assert np.median([r.spo2_pct for r in late]) == pytest.approx(110 - 25 * 11 / 18, abs=1.0)


def test_hrv_against_the_true_beats(skin_run):
    _, _, beats, readings = skin_run
    last = readings[-1]
    assert last.hrv_status is Status.OK and 0.0 < last.hrv_quality <= 1.0
    end = last.timestamp_s - FULL.rppg.projection_window_s
    ibi_ms = 1000.0 * np.diff(beats[(beats >= end - FULL.vitals.hrv_window_s) & (beats <= end)])
    sdnn = ibi_ms.std()
    rmssd = np.sqrt(np.mean(np.diff(ibi_ms) ** 2))
    assert last.sdnn_ms == pytest.approx(sdnn, rel=0.15)
    assert last.rmssd_ms == pytest.approx(rmssd, rel=0.2)


def test_calibrated_spo2_from_a_file(tmp_path):
    path = Spo2Calibration(a=104.0, b=18.0, ratio_range=(0.2, 2.0), calibrated=True).save(
        tmp_path / "cal.json")
    frames, t, _ = make_skin_clip(ratio=(104.0 - 90.0) / 18.0, seconds=25.0, seed=2)
    config = FULL.with_changes(vitals={"spo2_calibration": str(path), "hrv": False})
    late = [r for r in run(frames, t, config) if r.timestamp_s >= 20.0]
    assert late and all(r.spo2_calibrated and r.spo2_status is Status.OK for r in late)
    assert np.all(np.abs(np.array([r.spo2_pct for r in late]) - 90.0) <= 1.5)


def test_a_bad_calibration_file_is_a_config_error(tmp_path):
    path = tmp_path / "cal.json"
    path.write_text(json.dumps({"format": 1, "a": 104, "b": 18, "ratio_range": [0.2, 2],
                                "calibrated": True, "offset": 3}))
    with pytest.raises(edge.ConfigError, match="unknown keys"):
        edge.Pipeline(FULL.with_changes(vitals={"spo2_calibration": str(path)}))


# -- a vital that cannot be estimated is None, and its status says why -----------------------
def _assert_all_withheld(readings, status):
    assert readings
    for r in readings:
        assert all(getattr(r, s) is status for s in VITAL_STATUSES)
        assert (r.heart_rate_bpm, r.breathing_rate_bpm, r.spo2_pct, r.sdnn_ms, r.rmssd_ms) == (
            None, None, None, None, None)
        assert (r.quality, r.breathing_quality, r.spo2_quality, r.hrv_quality) == (0, 0, 0, 0)


def test_no_face_withholds_every_vital():
    rng = np.random.default_rng(3)
    frames = rng.integers(80, 100, (150, 120, 160, 3), dtype=np.uint8)  # a grey wall
    _assert_all_withheld(run(frames, np.arange(150) / 30.0, edge.PipelineConfig()),
                         Status.NO_FACE)


@pytest.mark.parametrize("config", [FULL, edge.PipelineConfig()], ids=["full", "face"])
def test_dark_frames_withhold_every_vital(config):
    frames = np.zeros((150, 120, 160, 3), dtype=np.uint8)
    _assert_all_withheld(run(frames, np.arange(150) / 30.0, config), Status.NO_FACE)


def test_a_face_that_leaves_withholds_every_vital():
    from firmware_sim.world import WorldConfig, make_clip

    clip = make_clip(WorldConfig(width=320, height=240, duration_s=14.0, seed=4))
    frames = np.stack([f for f, _ in clip.frames()])
    frames[300:] = 90  # the face leaves at 10 s: a plain background
    readings = run(frames, clip.truth.timestamp_s, edge.PipelineConfig())
    assert any(r.status is Status.OK for r in readings if r.timestamp_s < 10.0)
    _assert_all_withheld([r for r in readings if r.timestamp_s >= 10.6], Status.NO_FACE)


def test_saturated_pixels_withhold_spo2_only():
    frames, t, _ = make_skin_clip(seconds=16.0, saturated_fraction=0.05, seed=5)
    late = [r for r in run(frames, t) if r.timestamp_s >= 12.0]
    assert late and all(r.status is Status.OK and r.heart_rate_bpm is not None for r in late)
    assert all(r.spo2_pct is None and r.spo2_status is Status.LOW_QUALITY for r in late)


def test_a_motion_burst_withholds_the_pulse_vitals():
    # from 14 s, the whole patch brightens and darkens by 3 % at 1.5 Hz (in the heart band)
    frames, t, _ = make_skin_clip(seconds=24.0, swing=(14.0, 24.0, 1.5, 0.03), seed=6)
    readings = run(frames, t)
    assert all(r.status is Status.OK for r in readings if 8.0 <= r.timestamp_s < 14.0)
    burst = [r for r in readings if r.timestamp_s >= 18.0]  # the gate needs ~4 s of it
    assert burst
    for r in burst:
        assert r.status is Status.LOW_QUALITY and r.heart_rate_bpm is None
        assert r.spo2_status is Status.LOW_QUALITY and r.spo2_pct is None
        assert r.hrv_status is Status.LOW_QUALITY and r.sdnn_ms is None


def test_timestamp_gap_resyncs_every_vital():
    frames, t, _ = make_skin_clip(seconds=16.0, seed=7)
    t = t.copy()
    t[240:] += 5.0  # a 5 s hole at 8 s
    readings = run(frames, t)
    after = [r for r in readings if 13.0 <= r.timestamp_s < 18.0]
    assert after and all(getattr(after[0], s) is Status.RESYNC for s in VITAL_STATUSES)


def test_vitals_can_be_switched_off():
    frames, t, _ = make_skin_clip(seconds=14.0, seed=8)
    config = FULL.with_changes(vitals={"breathing": False, "spo2": False, "hrv": False})
    late = [r for r in run(frames, t, config) if r.timestamp_s >= 12.0]
    assert late and all(r.status is Status.OK for r in late)
    assert all(r.breathing_rate_bpm is None and r.spo2_pct is None and r.sdnn_ms is None
               for r in late)


def test_track_and_json_carry_every_vital(skin_run):
    *_, readings = skin_run
    track = edge.Track.from_readings(readings)
    assert len(track) == len(readings)
    assert np.isfinite(track.breathing_rate_bpm).sum() == sum(
        r.breathing_rate_bpm is not None for r in readings)
    assert set(track.spo2_status) <= {s.value for s in Status}
    row = readings[-1].to_dict()
    assert json.loads(json.dumps(row))["breathing_status"] == "ok"
    assert track.to_dict()["hrv_status"][-1] == "ok"


# -- calibration: fit from recordings, then use it -------------------------------------------
def test_calibration_round_trip_recovers_a_and_b():
    from edge.spo2 import fit_calibration
    from edge.spo2_calibration import pair_ratios

    a_true, b_true = 104.0, 18.0
    ratios, spo2 = [], []
    for seed, (start, end) in enumerate(((98.0, 84.0), (95.0, 86.0))):
        frames, t, _ = make_skin_clip(ratio=((a_true - start) / b_true, (a_true - end) / b_true),
                                      seconds=40.0, noise_dn=0.5, seed=20 + seed)
        ref = start + (end - start) * t / 40.0  # the oximeter: SpO2 follows R linearly
        r, s = pair_ratios(zip(frames, t, strict=True), t, ref, FULL)
        ratios.append(r)
        spo2.append(s)
    fitted = fit_calibration(np.concatenate(ratios), np.concatenate(spo2))
    assert fitted.calibrated and fitted.n_points > 40
    assert fitted.a == pytest.approx(a_true, rel=0.02)
    assert fitted.b == pytest.approx(b_true, rel=0.02)


def _write_recording(tmp_path, name, start, end, seed):
    from videos import write_video

    frames, _, _ = make_skin_clip(ratio=((104 - start) / 18, (104 - end) / 18), seconds=30.0,
                                  noise_dn=0.5, seed=seed)
    video = write_video(tmp_path / f"{name}.avi", frames)
    csv = tmp_path / f"{name}.csv"
    ts = np.arange(0, 30.5, 1.0)
    np.savetxt(csv, np.column_stack([ts, start + (end - start) * ts / 30.0]), delimiter=",",
               header="timestamp_s,spo2_pct", comments="", fmt="%.4f")
    return video, csv


def test_calibrate_spo2_cli_then_run_with_it(tmp_path, capsys):
    recordings = [_write_recording(tmp_path, f"r{k}", s, e, 30 + k)
                  for k, (s, e) in enumerate(((97, 86), (93, 85)))]
    out = tmp_path / "cal.json"
    args = ["calibrate", "spo2", *[f"{v}:{c}" for v, c in recordings], "--out", str(out),
            "--roi", "full", "--camera", "test patch"]
    assert cli_main(args) == 0
    printed = capsys.readouterr()
    assert "SpO2 = " in printed.out
    assert "at least 3 recordings" in printed.err  # two cannot say how well B is known
    saved = json.loads(out.read_text())
    assert saved["calibrated"] is True and saved["camera"] == "test patch"
    assert saved["a"] == pytest.approx(104, rel=0.05) and saved["b"] == pytest.approx(18, rel=0.1)
    assert cli_main(["run", str(recordings[0][0]), "--roi", "full", "--json", "--no-progress",
                     "--spo2-calibration", str(out)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    spo2 = [row for row in rows if row["spo2_pct"] is not None]
    assert spo2 and all(row["spo2_calibrated"] for row in spo2)


def test_calibrate_spo2_cli_gives_standard_errors_from_three_recordings(tmp_path, capsys):
    recordings = [_write_recording(tmp_path, f"r{k}", s, e, 40 + k)
                  for k, (s, e) in enumerate(((97, 86), (93, 85), (98, 88)))]
    out = tmp_path / "cal.json"
    args = ["calibrate", "spo2", *[f"{v}:{c}" for v, c in recordings], "--out", str(out),
            "--roi", "full"]
    assert cli_main(args) == 0
    printed = capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["n_recordings"] == 3 and saved["b_se"] > 0.0 and saved["a_se"] > 0.0
    assert f"B +-{saved['b_se']:.2f}" in printed
    # the line is known to its standard errors: the true one lies within a few of them
    assert abs(saved["b"] - 18.0) <= 4 * saved["b_se"] + 0.02 * 18.0


@pytest.mark.parametrize("content", ["time,spo2\n0,97\n", "timestamp_s,spo2_pct\n0,97\n1,abc\n",
                                     "timestamp_s,spo2_pct\n0,97\n0,96\n",
                                     "timestamp_s,spo2_pct\n0,140\n"])
def test_calibrate_spo2_rejects_bad_oximeter_files(tmp_path, capsys, content):
    video, _ = _write_recording(tmp_path, "r", 97, 90, 40)
    csv = tmp_path / "bad.csv"
    csv.write_text(content)
    code = cli_main(["calibrate", "spo2", f"{video}:{csv}", "--out", str(tmp_path / "c.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "oximeter CSV" in err


def bobbing_patch(bob_px, *, sway_px=0.0, br_bpm=15.0, hr_bpm=72.0, seconds=30.0, fps=30.0,
                  seed=2):
    """A skin patch with a texture that moves up and down by `bob_px` at `br_bpm` and
    sideways by `sway_px` at 13/min, and a pulse in its colour; the texture repeats a
    whole number of times over the patch, so its mean colour (what the ROI sees) does not
    follow the motion."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * fps)) / fps
    y, x = np.arange(60.0)[:, None], np.arange(48.0)[None, :]
    frames = np.empty((t.size, 60, 48, 3), np.uint8)
    for i, ts in enumerate(t):
        yy = y - bob_px * np.sin(2 * np.pi * br_bpm / 60 * ts)
        xx = x - sway_px * np.sin(2 * np.pi * 13.0 / 60 * ts)
        texture = (1 + 0.15 * np.sin(2 * np.pi * yy / 20) + 0.08 * np.sin(2 * np.pi * yy / 12 + 1)
                   + 0.06 * np.sin(2 * np.pi * xx / 16))
        pulse = 1 + 0.004 * np.sin(2 * np.pi * hr_bpm / 60 * ts) * np.array([0.33, 0.77, 0.53])
        img = texture[..., None] * np.array([176.0, 118.0, 88.0]) * pulse
        img = np.broadcast_to(img, (60, 48, 3)) + rng.normal(0, 1.0, (60, 48, 3))
        frames[i] = np.clip(np.round(img), 0, 255)
    return frames, t


def test_breathing_rate_from_the_head_bob_when_colour_has_none():
    frames, t = bobbing_patch(1.5)
    late = [r for r in run(frames, t) if r.timestamp_s >= 25.0]
    assert late and all(r.breathing_status is Status.OK for r in late)
    assert np.all(np.abs(np.array([r.breathing_rate_bpm for r in late]) - 15.0) <= 0.5)
    still, t = bobbing_patch(0.0)
    late = [r for r in run(still, t) if r.timestamp_s >= 25.0]
    assert late and all(r.breathing_rate_bpm is None for r in late)


def test_breathing_rate_withheld_when_the_head_sways():
    frames, t = bobbing_patch(1.5, sway_px=3.0)  # 2.1 px RMS on a 60 px face
    late = [r for r in run(frames, t) if r.timestamp_s >= 25.0]
    assert late and all(r.breathing_rate_bpm is None for r in late)
    assert all(r.breathing_status is Status.LOW_QUALITY for r in late)
    assert all(r.heart_rate_bpm is not None for r in late)
