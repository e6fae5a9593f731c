"""``edge-vitals eval`` on tiny world-simulator datasets written in each layout."""

import json
import subprocess
import sys

import numpy as np
import pytest

import edge
from edge.cli import main as cli_main
from firmware_sim.datasets import find_recordings, make_dataset
from firmware_sim.eval_cli import run_eval, summaries
from firmware_sim.physiology import GroundTruth

SMALL = {"seconds": 12.0, "width": 128, "height": 96, "pulse_amplitude": 0.01}


@pytest.fixture(scope="module")
def ubfc(tmp_path_factory):
    root = tmp_path_factory.mktemp("ubfc")
    make_dataset(root, "ubfc", subjects=2, **SMALL)
    return root


def _truth_implied_mae(root, window_s=10.0):
    """MAE of the pipeline's readings at each window's end against the simulator's truth."""
    errors = []
    for video in sorted(root.glob("subject*/vid.avi")):
        truth = GroundTruth.from_csv(video.with_name("vid.truth.csv"))
        track = edge.process_video(video)
        t0 = truth.timestamp_s[0]
        t_rel = track.timestamp_s - t0
        near = (t_rel >= window_s - 1.0) & (t_rel <= window_s + 0.5)
        t_end, hr = track.timestamp_s[near][-1], track.heart_rate_bpm[near][-1]
        if np.isfinite(hr):
            errors.append(abs(hr - truth.mean_heart_rate_bpm(t_end - window_s, t_end)))
    return float(np.mean(errors))


def test_eval_reproduces_the_mae_the_simulator_truth_implies(ubfc):
    results = run_eval(find_recordings(ubfc, "ubfc"), edge.PipelineConfig(), workers=1)
    summary = summaries(results)
    assert [len(r["windows"]) for r in results] == [1, 1]
    assert summary["window"]["coverage"] == 1.0
    assert summary["window"]["mae_bpm"] < 3.0
    assert summary["window"]["mae_bpm"] == pytest.approx(_truth_implied_mae(ubfc), abs=0.5)
    assert summary["window_vs_truth"]["mae_bpm"] == pytest.approx(_truth_implied_mae(ubfc),
                                                                   abs=1e-9)
    # the reference method itself agrees with the simulator's truth
    assert summary["window_reference_vs_truth"]["mae_bpm"] < 0.5


def test_cli_writes_json_markdown_and_png(ubfc, tmp_path):
    out = {k: tmp_path / f"r.{k}" for k in ("json", "md", "png")}
    res = subprocess.run(
        [sys.executable, "-m", "edge", "eval", str(ubfc), "--format", "ubfc", "--workers", "2",
         "--json", str(out["json"]), "--md", str(out["md"]), "--png", str(out["png"])],
        capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert "| subject1 |" in res.stdout and "10 s windows vs reference" in res.stdout
    data = json.loads(out["json"].read_text())
    assert set(data["overall"]) >= {"window", "video", "window_vs_truth"}
    assert [r["name"] for r in data["recordings"]] == ["subject1", "subject2"]
    assert "### Overall" in out["md"].read_text()
    assert out["png"].read_bytes()[:4] == b"\x89PNG"


def test_max_mae_threshold_and_bad_input_exit_codes(ubfc, tmp_path, capsys):
    base = ["eval", str(ubfc), "--format", "ubfc", "--workers", "1"]
    assert cli_main([*base, "--max-mae", "0.0001"]) == 1
    assert "above --max-mae" in capsys.readouterr().err
    assert cli_main(["eval", str(tmp_path / "nope"), "--format", "ubfc"]) == 2
    err = capsys.readouterr().err
    assert "dataset folder not found" in err and "Traceback" not in err
    assert cli_main(["eval", str(ubfc), "--format", "pure"]) == 2
    assert "no pure recordings" in capsys.readouterr().err
    assert cli_main([*base, "--workers", "0"]) == 2


def test_a_broken_video_is_reported_and_the_rest_evaluated(ubfc, tmp_path, capsys):
    root = tmp_path / "mixed"
    for name in ("subject1", "subject2"):
        (root / name).mkdir(parents=True)
        for f in (ubfc / name).iterdir():
            (root / name / f.name).write_bytes(f.read_bytes())
    (root / "subject2" / "vid.avi").write_bytes(b"\x00" * 4096)
    assert cli_main(["eval", str(root), "--format", "ubfc", "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "subject2: not a video" in captured.err and "error: not a video" in captured.out
    (root / "subject1" / "vid.avi").write_bytes(b"")
    assert cli_main(["eval", str(root), "--format", "ubfc", "--workers", "1"]) == 2


@pytest.mark.parametrize(("layout", "reference"), [("pure", "csv"), ("generic", "csv"),
                                                   ("generic", "signal")])
def test_other_layouts_evaluate(tmp_path, layout, reference):
    (world,) = make_dataset(tmp_path, layout, subjects=1, reference=reference, **SMALL)
    (result,) = run_eval(find_recordings(tmp_path, layout), edge.PipelineConfig(), workers=1)
    assert "error" not in result, result
    (window,) = result["windows"]
    assert window["reference_bpm"] == pytest.approx(world.heart_rate_bpm, abs=2.0)
    assert window["estimate_bpm"] == pytest.approx(window["reference_bpm"], abs=3.0)
