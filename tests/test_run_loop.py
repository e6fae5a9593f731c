"""The loop of ``edge-vitals run``: bounded memory, a summary that says why, a closed stdout."""

import io
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
from synthetic import make_face_clip
from videos import write_video

from edge.cli.loop import run_loop
from edge.cli.plot import PlotSeries, write_png
from edge.cli.summary import Histogram, RunSummary
from edge.config import PipelineConfig
from edge.sinks import TextSink
from edge.types import Reading, Status


class FakePipe:
    """A reading every `every` frames, with a heart rate that wanders."""

    def __init__(self, every=1, seed=0):
        self.every, self.n = every, 0
        self.rng = np.random.default_rng(seed)

    def push(self, frame, timestamp_s):
        self.n += 1
        if self.n % self.every:
            return None
        return Reading(timestamp_s=timestamp_s, heart_rate_bpm=60 + 40 * self.rng.random(),
                       quality=0.8, status=Status.OK, spo2_status=Status.LOW_QUALITY)


def _frames(n):
    frame = np.zeros((4, 4, 3), np.uint8)
    return ((frame, i / 30.0) for i in range(n))


def test_the_loop_keeps_no_readings():
    """Ten times the readings, the same memory: nothing is kept per reading."""
    sizes = []
    for n in (2_000, 20_000):
        summary, plot = RunSummary(PipelineConfig()), PlotSeries(capacity=500)
        tracemalloc.start()
        with open(os.devnull, "w") as null:  # the text sink really formats every line
            run_loop(_frames(n), FakePipe(), sinks=[TextSink(null)], summary=summary,
                     plot=plot)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert summary.readings == n and plot.n <= 500
        sizes.append((summary.nbytes, peak))
    assert sizes[0][0] == sizes[1][0]
    # a kept Reading costs ~200 bytes: 18,000 more would add ~3.6 MB
    assert sizes[1][1] - sizes[0][1] < 200_000, sizes


def test_histogram_median_is_the_median_of_the_rounded_values():
    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 1000):
        values = 50 + 30 * rng.random(n)
        hist = Histogram(low=0.0, high=300.0)
        for v in values:
            hist.add(v)
        assert hist.median() == pytest.approx(np.median(np.round(values, 1)), abs=1e-9)
        assert abs(hist.median() - np.median(values)) <= 0.05 + 1e-9


def test_plot_series_stays_bounded_and_even():
    plot = PlotSeries(capacity=10)
    for i in range(1000):
        plot.add(Reading(timestamp_s=float(i), heart_rate_bpm=70.0))
    assert 5 <= plot.n <= 10
    steps = np.diff(plot.time_s[: plot.n])
    assert np.all(steps == steps[0]) and plot.time_s[0] == 0.0
    assert plot.time_s[plot.n - 1] >= 1000 - 2 * steps[0]


def test_png_is_written(tmp_path):
    pytest.importorskip("matplotlib")
    plot = PlotSeries()
    for i in range(60):
        ok = i >= 10
        plot.add(Reading(timestamp_s=float(i), heart_rate_bpm=70.0 + i % 3 if ok else None,
                         quality=0.7 if ok else 0.0,
                         status=Status.OK if ok else Status.WARMING_UP))
    path = write_png(plot, tmp_path / "r.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _readings(n, **fields):
    return [Reading(timestamp_s=float(i), heart_rate_bpm=72.0, quality=0.8, status=Status.OK,
                    **fields) for i in range(n)]


def test_summary_says_why_a_vital_never_appeared():
    summary = RunSummary(PipelineConfig())
    for r in _readings(19, spo2_status=Status.LOW_QUALITY, hrv_status=Status.WARMING_UP,
                       breathing_rate_bpm=15.0, breathing_status=Status.OK):
        summary.add(r)
    summary.add(Reading(timestamp_s=20.0, status=Status.NO_FACE, spo2_status=Status.NO_FACE,
                        hrv_status=Status.NO_FACE, breathing_status=Status.NO_FACE))
    err = io.StringIO()
    summary.print(20.0, stream=err)
    text = err.getvalue()
    assert "heart rate median 72.0 bpm over 19 readings" in text
    assert "breathing rate median 15.0" in text
    assert "SpO2: never: low quality in 95 % of readings, no face in 5 % of readings" in text
    assert "HRV: never: warming up (needs 32 s of steady signal) in 95 %" in text


def test_summary_names_a_vital_turned_off():
    config = PipelineConfig().with_changes(vitals={"spo2": False})
    summary = RunSummary(config)
    for r in _readings(3, spo2_status=Status.LOW_QUALITY):
        summary.add(r)
    err = io.StringIO()
    summary.print(3.0, stream=err)
    assert "SpO2: never: turned off in the config (vitals.spo2)" in err.getvalue()


def test_text_line_gives_each_withheld_vital_its_reason():
    reading = Reading(timestamp_s=5.0, heart_rate_bpm=70.0, status=Status.OK,
                      breathing_status=Status.WARMING_UP, spo2_status=Status.LOW_QUALITY,
                      sdnn_ms=40.0, hrv_status=Status.OK)
    line = TextSink(io.StringIO()).line(reading)
    assert line.endswith("(BR: warming up; SpO2: low quality)")
    both = Reading(timestamp_s=5.0, heart_rate_bpm=70.0, status=Status.OK)
    assert TextSink(io.StringIO()).line(both).endswith("(BR, SpO2, HRV: warming up)")
    assert "SpO2" not in TextSink(io.StringIO(), off=["spo2_pct"]).line(reading).split("(")[1]
    no_hr = Reading(timestamp_s=5.0, status=Status.NO_FACE)
    assert TextSink(io.StringIO()).line(no_hr).endswith("no_face")


@pytest.fixture(scope="module")
def skin_video(tmp_path_factory):
    frames, _ = make_face_clip(hr_bpm=75, seconds=14, seed=11)
    return write_video(tmp_path_factory.mktemp("loop") / "skin.avi", frames)


def test_closed_stdout_ends_the_run_quietly(skin_video):
    """``edge-vitals run clip --json | head -1``: exit 0, nothing on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "edge", "run", str(skin_video), "--roi",
                             "full", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert first.startswith("{")
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_run_png_draws_the_run(skin_video, tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "run.png"
    res = subprocess.run([sys.executable, "-m", "edge", "run", str(skin_video), "--roi", "full",
                          "--png", str(png)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr
    assert png.read_bytes()[:4] == b"\x89PNG" and "plot written" in res.stderr


@pytest.mark.slow
def test_soak_through_cli_short():
    from firmware_sim.bench.soak_cli import soak_through_cli

    result = soak_through_cli(hours=2.0, speed=20_000.0)
    assert [h["hour"] for h in result["hourly"]] == [1, 2]
    assert abs(result["readings"] - 7200) <= 72  # about one a second
    assert result["dropped"] + result["frames_processed"] == result["captured"]
    assert result["rss_growth_mb"] <= 5.0


def test_live_sources_detect_faces_on_a_worker_when_there_is_a_second_core(monkeypatch):
    import edge.cli.run as run_module
    from edge.config import PipelineConfig

    monkeypatch.setattr(run_module.os, "cpu_count", lambda: 4)
    assert run_module.live_config(PipelineConfig()).roi.detect_in_background is True
    monkeypatch.setattr(run_module.os, "cpu_count", lambda: 1)
    assert run_module.live_config(PipelineConfig()).roi.detect_in_background is False
    assert PipelineConfig().roi.detect_in_background is False  # files: inline, deterministic
