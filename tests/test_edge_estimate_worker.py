"""The estimate stage on a worker thread: push never waits for it, its readings are those
of the inline stage, a restart drops a stale one, and its errors reach the frame path."""

import dataclasses
import os
import threading

import numpy as np
import pytest

from edge import Pipeline, PipelineConfig, Status
from edge.estimate_worker import (
    Estimated,
    EstimateJob,
    EstimateWorker,
    InlineEstimates,
    TraceSnapshot,
)
from edge.probe import RecordingProbe
from edge.types import Reading

WAIT_S = 10.0  # a bound on waits for the worker thread, so that a bug fails instead of hanging
BOX = (20, 10, 40, 50)
WORKER = PipelineConfig().with_changes(roi={"mode": "fixed", "fixed_box": BOX},
                                       rppg={"estimate_in_background": True})


class HeldEstimates:
    """Estimates that finish only once the test releases them (a heart rate of 71)."""

    def __init__(self):
        self.entered = threading.Event()
        self.release = threading.Event()
        self.threads, self.restarts = [], []

    def run(self, job):
        self.threads.append(threading.current_thread())
        self.entered.set()
        assert self.release.wait(WAIT_S), "the test never released the estimates"
        return Estimated(reading=Reading(timestamp_s=job.timestamp_s, heart_rate_bpm=71.0,
                                         status=Status.OK, face_box=job.face_box),
                         units={"estimates": 1})

    def restart(self, *, forget=False):
        self.restarts.append(forget)


def _frame(i):
    """A skin patch whose green pulses at 1.2 Hz."""
    level = 120 + round(3 * np.sin(2 * np.pi * 1.2 * i / 30))
    return np.full((80, 100, 3), (170, level, 100), dtype=np.uint8)


def _held_pipeline(probe=None):
    pipe = Pipeline(WORKER, probe=probe)
    assert isinstance(pipe.estimate_runner, EstimateWorker)  # the config chose the worker
    held = HeldEstimates()
    pipe.estimate_runner = EstimateWorker(held)
    return pipe, held


def _push_until_handoff(pipe, probe, start=0):
    for i in range(start, start + 600):
        pipe.push(_frame(i), i / 30)
        if probe.units["estimate_handoffs"]:
            return i
    raise AssertionError("no reading was handed to the worker")


def test_push_never_waits_for_the_estimate_worker_and_returns_its_reading_after_release():
    probe = RecordingProbe()
    pipe, held = _held_pipeline(probe)
    handoff = _push_until_handoff(pipe, probe)
    assert held.entered.wait(WAIT_S)
    assert threading.main_thread() not in held.threads
    for i in range(handoff + 1, handoff + 90):  # 3 s of frames while the estimates are held
        reading = pipe.push(_frame(i), i / 30)
        assert reading is None  # the next reading is due but the worker is busy: no wait
        assert probe.units["estimates"] == 0  # no estimate on the frame path
    held.release.set()
    assert pipe.estimate_runner.wait(WAIT_S)
    i = handoff + 90
    reading = pipe.push(_frame(i), i / 30)
    assert reading is not None and reading.heart_rate_bpm == 71.0
    assert reading.timestamp_s == handoff / 30  # its own time, not the push's
    assert reading.latency_ms > 0.0
    pipe.close()


def test_a_reading_from_before_a_restart_is_dropped():
    probe = RecordingProbe()
    pipe, held = _held_pipeline(probe)
    handoff = _push_until_handoff(pipe, probe)
    assert held.entered.wait(WAIT_S)
    pipe.reset()
    held.release.set()
    assert pipe.estimate_runner.wait(WAIT_S)
    assert pipe.push(_frame(handoff + 1), (handoff + 1) / 30) is None
    _push_until_handoff(pipe, probe, start=handoff + 2)  # the next job restarts first
    assert pipe.estimate_runner.wait(WAIT_S)
    assert held.restarts == [True]
    pipe.close()


def _readings(config, clip):
    pipe = Pipeline(config)
    out = []
    for frame, t in clip.frames():
        reading = pipe.push(frame, t)
        if isinstance(pipe.estimate_runner, EstimateWorker):
            assert pipe.estimate_runner.wait(WAIT_S)  # deterministic: the job ends now
        if reading is not None:
            out.append(dataclasses.replace(reading, latency_ms=0.0))
    pipe.close()
    return out


def test_worker_readings_are_the_inline_readings():
    from firmware_sim.world import WorldConfig, make_clip

    clip = make_clip(WorldConfig(width=320, height=240, duration_s=40.0, seed=7))
    inline = _readings(PipelineConfig(), clip)
    worker = _readings(PipelineConfig().with_changes(rppg={"estimate_in_background": True}),
                       clip)
    with_rates = [r for r in inline if r.heart_rate_bpm is not None]
    assert len(with_rates) > 20  # and an HRV analysis ran on some of them:
    assert any(r.hrv_status is not Status.WARMING_UP for r in with_rates)
    assert any(r.breathing_rate_bpm is not None for r in inline)
    assert worker == inline


def test_a_snapshot_is_a_copy():
    pipe = Pipeline(PipelineConfig().with_changes(roi={"mode": "fixed", "fixed_box": BOX}))
    for i in range(300):
        pipe.push(_frame(i), i / 30)
    snapshot = TraceSnapshot(pipe.trace)
    before = snapshot.window(5.0)[1].copy()
    assert np.array_equal(before, pipe.trace.window(5.0)[1])
    for i in range(300, 330):
        pipe.push(_frame(i), i / 30)
    assert np.array_equal(snapshot.window(5.0)[1], before)
    assert not np.array_equal(pipe.trace.window(5.0)[1], before)


def test_a_worker_error_is_raised_on_the_frame_path():
    class Broken:
        def run(self, job):
            raise RuntimeError("estimator gone")

    worker = EstimateWorker(Broken())
    worker.submit(EstimateJob(timestamp_s=0.0, face_box=None, trace=None,
                              head_window=lambda n, fs: {}, saturation=0.0))
    assert worker.wait(WAIT_S)
    with pytest.raises(RuntimeError, match="estimator gone"):
        worker.poll()
    worker.close()


def test_the_default_config_estimates_inline_and_live_runs_use_the_worker(monkeypatch):
    from edge.cli import run as run_module

    assert isinstance(Pipeline().estimate_runner, InlineEstimates)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    assert run_module.live_config(PipelineConfig()).rppg.estimate_in_background is True
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert run_module.live_config(PipelineConfig()).rppg.estimate_in_background is False
