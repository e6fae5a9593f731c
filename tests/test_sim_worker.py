"""The detector's worker on a modelled core: its box arrives when the modelled detection
ends, deterministically, and the report shows the worker and the age of the box."""

import dataclasses

import numpy as np
import pytest

import edge
from edge.face_worker import DetectionJob
from edge.types import Box
from firmware_sim.costs import load_unit_costs
from firmware_sim.profiles import load_profile
from firmware_sim.replay import replay
from firmware_sim.report import build_report, to_markdown
from firmware_sim.worker_model import ModelledWorker
from firmware_sim.world import WorldConfig, make_clip

CLIP = WorldConfig(width=320, height=240, duration_s=8.0, heart_rate_bpm=70.0, seed=5)
WORKER = edge.PipelineConfig().with_changes(roi={"detect_in_background": True})


class CountingDetector:
    """Finds the same box everywhere; each full search covers 1000 pixels."""

    pixels = 0
    near_searches = 0

    def detect(self, frame):
        self.pixels += 1000
        return Box(1, 2, 30, 40)

    def detect_near(self, frame, box):
        self.near_searches += 1
        return box


def test_a_modelled_detection_is_adopted_when_it_ends_not_before():
    costs = dataclasses.replace(load_unit_costs(), detector_per_pixel_s=1e-6, spread_sigma={})
    profile = load_profile("host")  # factors 1: device time = host time x small jitter
    worker = ModelledWorker(CountingDetector(), costs=costs, profile=profile,
                            rng=np.random.default_rng(0))
    worker.now_s = 10.0
    worker.submit(DetectionJob(frame=np.zeros((4, 4, 3), np.uint8), timestamp_s=9.5,
                               near_box=None, full_search=True, generation=0))
    (job,) = worker.jobs
    assert job.start_s == 10.0 and job.end_s == pytest.approx(10.001, rel=0.1)  # 1000 px
    assert not worker.idle
    worker.now_s = job.end_s - 1e-6
    assert worker.poll() is None
    worker.now_s = job.end_s
    found = worker.poll()
    assert found.box == Box(1, 2, 30, 40) and found.timestamp_s == 9.5 and worker.idle


@pytest.fixture(scope="module")
def clip():
    return make_clip(CLIP)


def _run(clip, profile, config, seed=0):
    result = replay(clip.frames(), duration_s=CLIP.duration_s, profile=profile, seed=seed,
                    config=config, truth=clip.truth)
    return result, build_report(result, clip="test")


def test_the_worker_replay_is_deterministic_and_reports_the_box_age(clip):
    profile = load_profile("zero2w")
    first, report = _run(clip, profile, WORKER)
    _, again = _run(clip, profile, WORKER)
    assert report == again
    detector = report["modelled"]["detector"]
    assert detector["mode"] == "worker" and detector["detections"] == len(first.worker_jobs)
    assert 0 < detector["worker_utilisation"] < 1
    # no box before the first detection ends; afterwards every box is at least as old as
    # the shortest modelled detection
    before = first.arrival_s < first.worker_jobs[0].end_s
    assert np.all(np.isnan(first.box_age_s[before]))
    shortest_s = min(job.end_s - job.start_s for job in first.worker_jobs)
    aged = np.isfinite(first.box_age_s)
    assert aged.any() and np.all(first.box_age_s[aged] >= shortest_s - 1e-9)
    assert "worker core" in to_markdown(report)


def test_the_worker_takes_detection_off_the_frame_path(clip):
    profile = load_profile("zero2w")
    inline, _ = _run(clip, profile, edge.PipelineConfig())
    worker, _ = _run(clip, profile, WORKER)
    track = 2  # decode, validate, track, ...
    done_inline, done_worker = ~inline.dropped, ~worker.dropped
    assert np.nanmax(inline.stage_device_s[done_inline, track]) > 0.03  # searches on the path
    # a frame copy at most (OS noise aside: 2-10 ms on 1 % of stages)
    assert np.nanpercentile(worker.stage_device_s[done_worker, track], 95) < 0.005
    assert inline.worker_jobs == []


def test_one_core_keeps_detection_inline(clip):
    one_core = dataclasses.replace(load_profile("pi4"), cores=1)
    result, report = _run(clip, one_core, WORKER)
    assert result.worker_jobs == [] and report["modelled"]["detector"]["mode"] == "inline"
