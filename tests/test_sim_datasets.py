"""Dataset loaders on tiny fake datasets written by hand in each layout."""

import json
import math

import cv2
import numpy as np
import pytest
from videos import write_video

from edge.errors import InputError
from firmware_sim.datasets import Reference, find_recordings, make_dataset, subject_of


def _ppg(hr_bpm, seconds, fs):
    """A pulse-like wave (fundamental + harmonic) at hr_bpm, and its sample times."""
    t = np.arange(int(seconds * fs)) / fs
    phase = 2 * np.pi * hr_bpm / 60 * t
    return t, np.sin(phase) + 0.3 * np.sin(2 * phase + 0.5)


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory):
    frames = np.full((4, 16, 16, 3), 120, np.uint8)
    return write_video(tmp_path_factory.mktemp("v") / "tiny.avi", frames)


def test_ubfc_ground_truth_txt(tmp_path, tiny_video):
    t, ppg = _ppg(75.0, 20.0, 30.0)
    for i, lines in enumerate([(ppg, np.full_like(t, 75.0), t), (ppg, np.full_like(t, 75.0), t)]):
        folder = tmp_path / f"subject{i + 1}"
        folder.mkdir()
        (folder / "vid.avi").write_bytes(tiny_video.read_bytes())
        sep = "\n" if i == 0 else " "  # some copies hold all three rows on one line
        (folder / "ground_truth.txt").write_text(
            sep.join("  ".join(f"{v:.7e}" for v in row) for row in lines) + "\n")
    (tmp_path / "notes").mkdir()  # folders without a video or ground truth are skipped
    recs = find_recordings(tmp_path, "ubfc")
    assert [r.name for r in recs] == ["subject1", "subject2"]
    for rec in recs:
        ref = rec.reference()
        assert ref.kind == "signal"
        assert ref.heart_rate(0.0, 20.0) == pytest.approx(75.0, abs=0.3)
        assert ref.heart_rate(10.0, 20.0) == pytest.approx(75.0, abs=0.5)
        assert math.isnan(ref.heart_rate(17.0, 25.0))  # under 6 s of signal left


def test_ubfc_dataset1_xmp_and_bad_files(tmp_path, tiny_video):
    t, ppg = _ppg(90.0, 15.0, 60.0)
    folder = tmp_path / "subject1"
    folder.mkdir()
    (folder / "vid.avi").write_bytes(tiny_video.read_bytes())
    rows = [f"{1000 * ti + 123:.0f},90,98,{v:.4f}" for ti, v in zip(t, ppg, strict=True)]
    (folder / "gtdump.xmp").write_text("\n".join(rows))
    (rec,) = find_recordings(tmp_path, "ubfc")
    assert rec.reference().heart_rate(0.0, 15.0) == pytest.approx(90.0, abs=0.3)
    (folder / "ground_truth.txt").write_text("1 2 3\n4 5 6\n")  # two lines only
    (rec,) = find_recordings(tmp_path, "ubfc")
    with pytest.raises(InputError, match="3 lines"):
        rec.reference()
    (folder / "ground_truth.txt").write_text("a b c\n")
    with pytest.raises(InputError, match="not a UBFC"):
        rec.reference()


def test_pure_layout(tmp_path):
    name = "01-02"
    images = tmp_path / name / name
    images.mkdir(parents=True)
    start = 1_400_000_000_000_000_000
    frame_ns = [start + round(i * 1e9 / 30) for i in range(3)]
    for ns in frame_ns:
        cv2.imwrite(str(images / f"Image{ns}.png"), np.full((12, 12, 3), (10, 20, 30), np.uint8))
    t, ppg = _ppg(66.0, 20.0, 60.0)
    package = [{"Timestamp": start + round(ti * 1e9) - 5_000_000,
                "Value": {"waveform": float(v), "pulseRate": 66}} for ti, v in zip(t, ppg,
                                                                                   strict=True)]
    (tmp_path / name / f"{name}.json").write_text(
        json.dumps({"/Image": [{"Timestamp": ns} for ns in frame_ns], "/FullPackage": package}))
    (rec,) = find_recordings(tmp_path, "pure")
    assert rec.name == name and rec.subject == "01"
    frames = list(rec.open())
    assert len(frames) == 3 and frames[0][0][0, 0].tolist() == [30, 20, 10]  # RGB
    assert [f[1] for f in frames] == pytest.approx([0, 1 / 30, 2 / 30], abs=1e-6)
    assert rec.reference().heart_rate(0.0, 19.0) == pytest.approx(66.0, abs=0.3)
    (tmp_path / name / f"{name}.json").write_text("{not json")
    with pytest.raises(InputError, match="not readable JSON"):
        rec.reference()


def test_generic_layout_subjects_and_pulse_csvs(tmp_path, tiny_video):
    for stem in ("s1_forehead", "s1_cheek", "s10-face", "s2", "other"):
        (tmp_path / f"{stem}.avi").write_bytes(tiny_video.read_bytes())
    (tmp_path / "ground_truth.csv").write_text("subject,heart_rate_bpm\ns1,70\ns10,80\n")
    t, ppg = _ppg(100.0, 12.0, 30.0)
    (tmp_path / "s2.csv").write_text(
        "timestamp_s,ppg\n" + "\n".join(f"{a},{b}" for a, b in zip(t, ppg, strict=True)))
    recs = {r.name: r for r in find_recordings(tmp_path, "generic")}
    assert sorted(recs) == ["s10-face", "s1_cheek", "s1_forehead", "s2"]  # "other": no reference
    assert recs["s1_cheek"].subject == "s1" and recs["s10-face"].subject == "s10"
    assert recs["s1_forehead"].reference().heart_rate(0, 10) == 70.0
    assert recs["s2"].reference().heart_rate(0.0, 12.0) == pytest.approx(100.0, abs=0.5)


def test_subject_prefix_rule():
    subjects = ["india_video1", "india_video12"]
    assert subject_of("india_video12_forehead", subjects) == "india_video12"
    assert subject_of("s10_x", ["s1"]) is None
    assert subject_of("s1", ["s1"]) == "s1"


@pytest.mark.parametrize(
    ("layout", "setup", "match"),
    [
        ("generic", lambda p: None, "no generic recordings"),
        ("ubfc", lambda p: None, "no ubfc recordings"),
        ("pure", lambda p: None, "no pure recordings"),
        ("generic", lambda p: (p / "ground_truth.csv").write_text("name,hr\nx,1\n"),
         "subject,heart_rate_bpm"),
        ("generic", lambda p: (p / "ground_truth.csv").write_text("subject,heart_rate_bpm\nx,5\n"),
         "20-300"),
        ("dicom", lambda p: None, "format must be one of"),
    ],
)
def test_bad_datasets_are_input_errors(tmp_path, layout, setup, match):
    setup(tmp_path)
    with pytest.raises(InputError, match=match):
        find_recordings(tmp_path, layout)


def test_missing_folder():
    with pytest.raises(InputError, match="not found"):
        find_recordings("/nonexistent/dataset", "ubfc")


def test_constant_reference():
    ref = Reference(heart_rate_bpm=64.0)
    assert ref.kind == "constant" and ref.heart_rate(0, 10) == 64.0
    assert math.isnan(Reference().heart_rate(0, 10))


@pytest.mark.parametrize("layout", ["ubfc", "pure", "generic"])
def test_simulator_datasets_round_trip(tmp_path, layout):
    worlds = make_dataset(tmp_path, layout, subjects=2, seconds=7.0, width=48, height=36)
    recs = find_recordings(tmp_path, layout)
    assert len(recs) == 2
    for rec, world in zip(recs, worlds, strict=True):
        ref = rec.reference().heart_rate(0.0, 7.0)
        assert ref == pytest.approx(world.heart_rate_bpm, abs=3.0)
        frames = list(rec.open())
        assert len(frames) == 210 and frames[0][0].shape == (36, 48, 3)
