"""Tests of the pure parts of the speed benchmark; no benchmark is run here."""

import json
import shutil

import numpy as np
import pytest

from edge.config import PipelineConfig
from edge.types import Reading, Status
from firmware_sim.bench import speed
from firmware_sim.bench.speed import (
    MARKER,
    Row,
    format_markdown,
    parse_cli_summary,
    parse_marker,
    report_rows,
    summarize_ms,
    verdict,
)


# -- summarize_ms --------------------------------------------------------------------
def test_summarize_ms_converts_seconds_and_matches_numpy():
    durations_s = np.arange(1, 101) / 1000.0  # 1..100 ms
    out = summarize_ms(durations_s)
    assert out["median_ms"] == pytest.approx(50.5)
    assert out["p90_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 90))
    assert out["p99_ms"] == pytest.approx(np.percentile(np.arange(1, 101), 99))
    assert out["max_ms"] == pytest.approx(100.0)
    assert out["mean_ms"] == pytest.approx(50.5)


def test_summarize_ms_single_value_and_empty():
    out = summarize_ms(np.array([0.002]))
    assert all(v == pytest.approx(2.0) for v in out.values())
    with pytest.raises(ValueError, match="at least one"):
        summarize_ms(np.array([]))


# -- marker and CLI summary parsing --------------------------------------------------
def test_parse_marker_reads_the_childs_json():
    line = MARKER + json.dumps({"import_s": 0.2, "warmup_s": 0.3, "cv2_threads": 1}) + "\n"
    assert parse_marker(line) == {"import_s": 0.2, "warmup_s": 0.3, "cv2_threads": 1}


@pytest.mark.parametrize("line", [
    "some library chatter\n",
    MARKER + "{not json",
    MARKER + "[1, 2]",
    "x" + MARKER + "{}",
])
def test_parse_marker_ignores_other_lines(line):
    assert parse_marker(line) is None


@pytest.mark.parametrize("name", ["COLD_START_SCRIPT", "PROBE_SCRIPT"])
def test_child_scripts_compile(name):
    compile(getattr(speed, name), name, "exec")


def test_cold_start_script_prints_the_marker(tmp_path, rng):
    """The child really runs up to the first push and prints a breakdown `parse_marker` reads."""
    import subprocess
    import sys

    from videos import write_video

    frames = rng.integers(60, 200, size=(3, 48, 64, 3), dtype=np.uint8)
    clip = write_video(tmp_path / "clip.avi", frames)
    done = subprocess.run([sys.executable, "-c", speed.COLD_START_SCRIPT, str(clip)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    marked = [parse_marker(line) for line in done.stdout.splitlines() if line.startswith(MARKER)]
    assert len(marked) == 1
    steps = ("import_s", "open_s", "pipeline_init_s", "warmup_s", "decode_s", "push_s")
    assert all(marked[0][k] >= 0.0 for k in steps)
    assert marked[0]["in_process_s"] == pytest.approx(sum(marked[0][k] for k in steps))


def test_parse_cli_summary_matches_the_cli_output(capsys):
    """Guards against drift of ``edge-vitals run``'s summary lines."""
    from edge.cli.run import summarise

    readings = [Reading(timestamp_s=t, heart_rate_bpm=72.0, quality=0.9, status=Status.OK)
                for t in (10.0, 11.0)]
    summarise(readings, 1800, 1.55, PipelineConfig())
    out = parse_cli_summary(capsys.readouterr().err)
    assert out == {"frames": 1800, "loop_s": pytest.approx(1.6), "heart_rate_bpm": 72.0}


def test_parse_cli_summary_missing_lines():
    assert parse_cli_summary("Traceback ...") == {"frames": None, "loop_s": None,
                                                  "heart_rate_bpm": None}


# -- verdicts and the table ----------------------------------------------------------
@pytest.mark.parametrize(("value", "target", "higher", "expected"), [
    (0.5, 1.0, False, "met"),
    (1.0, 1.0, False, "met"),
    (1.5, 1.0, False, "MISSED"),
    (12.0, 10.0, True, "met"),
    (2.0, 10.0, True, "MISSED"),
    (None, 1.0, False, "n/a"),
    (float("nan"), 1.0, True, "n/a"),
])
def test_verdict(value, target, higher, expected):
    assert verdict(value, target, higher_is_better=higher) == expected


def test_format_markdown_aligns_columns():
    table = format_markdown([Row("a", "1"), Row("longer name", "22 | 3", "<= 1", "MISSED")])
    lines = table.splitlines()
    assert lines[0].startswith("| what") and lines[0].endswith("| verdict |")
    assert set(lines[1]) == {"|", "-"}
    assert len({len(line) for line in lines}) == 1  # every line padded to the same width
    assert "22 / 3" in lines[3]  # a pipe in a value would break the row
    assert lines[3].count("|") == 5


def _results(*, peers):
    pipeline = {"median_ms": 0.06, "p90_ms": 0.09, "p99_ms": 6.9, "max_ms": 9.1, "mean_ms": 0.5,
                "stage_median_ms": {"track": 0.004}, "stage_mean_ms": {"track": 0.4},
                "decode_ms_per_frame": 0.6, "predicted_frames_per_s": 900.0}
    run = {"frames_per_s": 750.0, "wall_s": 2.4, "loop_s": 1.6, "cpu_s": 2.3,
           "heart_rate_bpm": 72.0, "peak_rss_mb": 186.0}
    return {
        "pipeline": [{**pipeline, "decode_scale": 1, "size": "640x480"},
                     {**pipeline, "decode_scale": 2, "size": "320x240", "median_ms": 3.0}],
        "cli": [{"decode_scale": "auto", "kernels": "jit", "best": run, "runs": [run, run]}],
        "machine": {"kernels": "jit"},
        "rss_floor_mb": 10.0,
        "cold_start": {"median_s": 0.53, "runs_s": [0.52, 0.53, 0.54],
                       "breakdown_of_median": {"import_s": 0.2, "cv2_threads": 1}},
        "peers": peers,
    }


def test_report_rows_verdicts_and_peer_ratios():
    peers = [{"name": "vitallens", "version": "0.6.2", "model": "pos", "frames_per_s": 375.0,
              "heart_rate_bpm": 71.9, "peak_rss_mb": 763.0, "load_seconds": 1.5, "error": None},
             {"name": "open-rppg", "error": "runner exit 1: boom"}]
    rows = {r.what.strip(): r for r in report_rows(_results(peers=peers))}
    assert rows["pipeline ms/frame excl. decode, 640x480"].verdict == "met"
    assert rows["pipeline ms/frame excl. decode, 320x240"].verdict == "-"  # no target there
    assert rows["peak RSS MB, --decode-scale auto, jit kernels"].verdict == "MISSED"
    assert rows["cold start to first frame s (jit kernels, warm)"].verdict == "met"
    ratio = rows["our frames/s / vitallens's"]
    assert ratio.value == "2.0x" and ratio.target == ">= 10x" and ratio.verdict == "MISSED"
    assert rows["peer open-rppg"].value.startswith("error: runner exit 1")
    assert rows["peer open-rppg"].verdict == "n/a"


def test_report_rows_without_peers():
    rows = report_rows(_results(peers=None))
    assert not any(r.what.startswith("peer") for r in rows)
    assert "cv2 threads 1" in rows[-1].value


# -- clip cache and machine facts ----------------------------------------------------
def test_ensure_clip_reuses_a_clip_with_the_same_config(tmp_path, monkeypatch):
    import firmware_sim.world as world

    def no_render(*args, **kwargs):
        raise AssertionError("the clip should have been reused")

    config = world.WorldConfig(**speed.CLIP_CONFIG)
    video = tmp_path / "world-640x480-30fps-60s-seed60.avi"
    video.write_bytes(b"not really a video")
    meta = {"world_version": world.WORLD_VERSION, "codec": "MJPG", "config": config.to_dict()}
    (tmp_path / "world-640x480-30fps-60s-seed60.bench.json").write_text(json.dumps(meta))
    monkeypatch.setattr(world, "make_clip", no_render)
    assert speed.ensure_clip(tmp_path) == video


def test_ensure_clip_renders_when_the_config_differs(tmp_path, monkeypatch):
    import firmware_sim.world as world

    class RenderCalledError(Exception):
        pass

    def render(*args, **kwargs):
        raise RenderCalledError

    (tmp_path / "world-640x480-30fps-60s-seed60.avi").write_bytes(b"x")
    (tmp_path / "world-640x480-30fps-60s-seed60.bench.json").write_text('{"config": {}}')
    monkeypatch.setattr(world, "make_clip", render)
    with pytest.raises(RenderCalledError):
        speed.ensure_clip(tmp_path)
    assert not (tmp_path / "world-640x480-30fps-60s-seed60.bench.json").exists()


def test_machine_facts_and_line():
    facts = speed.machine_facts()
    assert facts["cores_used"] == 1 and facts["numpy"] == np.__version__
    line = speed.format_machine(facts)
    assert line.startswith("machine: ") and "numba" in line


@pytest.mark.skipif(shutil.which("true") is None, reason="needs the 'true' command")
def test_spawn_measured_reports_a_small_floor(tmp_path):
    out = speed.spawn_measured(["true"], stderr_path=tmp_path / "err")
    assert out["exit_code"] == 0 and out["wall_s"] > 0
    assert 0 < out["peak_rss_mb"] < 100  # the probe's own RSS, not this test process's
