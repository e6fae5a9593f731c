"""The estimates on a modelled core: a reading comes out when the modelled job ends, a push
that starts while a job runs waits for the GIL, and the report shows the estimate core."""

import dataclasses

import numpy as np
import pytest

import edge
from edge.estimate_worker import Estimated, EstimateJob
from edge.types import Reading, Status
from firmware_sim.costs import load_unit_costs
from firmware_sim.profiles import load_profile
from firmware_sim.replay import replay
from firmware_sim.report import build_report, to_markdown
from firmware_sim.worker_model import GIL_SWITCH_S, ModelledEstimates
from firmware_sim.world import WorldConfig, make_clip

CLIP = WorldConfig(width=320, height=240, duration_s=12.0, heart_rate_bpm=70.0, seed=5)
BACKGROUND = edge.PipelineConfig().with_changes(roi={"detect_in_background": True},
                                                rppg={"estimate_in_background": True})


class FixedEstimates:
    """One heart-rate estimate per job, and a note of each restart."""

    def __init__(self):
        self.restarts = []

    def run(self, job):
        return Estimated(reading=Reading(timestamp_s=job.timestamp_s, heart_rate_bpm=70.0,
                                         status=Status.OK), units={"estimates": 1})

    def restart(self, *, forget=False):
        self.restarts.append(forget)


def _modelled(frame_busy_share=0.0):
    costs = dataclasses.replace(load_unit_costs(), estimate_s=0.01, spread_sigma={})
    model = ModelledEstimates(FixedEstimates(), costs=costs, profile=load_profile("host"),
                              rng=np.random.default_rng(0))  # factors 1: host time, jittered
    model.frame_busy_share = frame_busy_share
    model.now_s = 10.0
    model.submit(EstimateJob(timestamp_s=10.0, face_box=None, trace=None,
                             head_window=lambda n, fs: {}, saturation=0.0))
    model.place(10.0)
    return model


def test_a_reading_comes_out_when_its_modelled_job_ends_not_before():
    model = _modelled()
    (job,) = model.jobs
    assert job.start_s == 10.0 and job.end_s == pytest.approx(10.01, rel=0.1)  # 10 ms
    model.now_s = job.end_s - 1e-6
    assert model.poll() is None and not model.idle
    model.now_s = job.end_s
    assert model.poll().reading.timestamp_s == 10.0 and model.idle


def test_a_busy_frame_core_stretches_the_job_and_a_busy_job_makes_a_push_wait():
    free, half = _modelled(0.0).jobs[0], _modelled(0.5).jobs[0]
    assert (half.end_s - half.start_s) == pytest.approx(2 * (free.end_s - free.start_s),
                                                        rel=0.3)
    model = _modelled()
    waits = [model.gil_wait_s(10.0 + k * 1e-4) for k in range(50)]  # inside the 10 ms job
    assert all(0.0 <= w <= GIL_SWITCH_S for w in waits) and max(waits) > 0.0
    assert model.gil_wait_s(9.999) == 0.0 and model.gil_wait_s(10.5) == 0.0


def test_a_restart_drops_a_reading_not_yet_out():
    model = _modelled()
    model.restart(forget=True)
    model.now_s = 11.0
    assert model.poll() is None and model.estimates.restarts == [True]


@pytest.fixture(scope="module")
def clip():
    return make_clip(CLIP)


def _run(clip, profile, config):
    result = replay(clip.frames(), duration_s=CLIP.duration_s, profile=profile, seed=0,
                    config=config, truth=clip.truth)
    return result, build_report(result, clip="test")


def test_the_estimate_core_takes_the_estimates_off_the_frame_path(clip):
    profile = load_profile("zero2w")
    inline, _ = _run(clip, profile, BACKGROUND.with_changes(
        rppg={"estimate_in_background": False}))
    worker, report = _run(clip, profile, BACKGROUND)
    _, again = _run(clip, profile, BACKGROUND)
    assert report == again  # deterministic
    estimate = 5  # decode, validate, track, roi, trace, estimate
    assert np.nanmax(inline.stage_device_s[:, estimate]) > 0.02  # ~0.7 ms x 40 on the path
    assert np.nanpercentile(worker.stage_device_s[~worker.dropped, estimate], 95) < 0.005
    # the same readings, published once their modelled job is over
    assert [r.heart_rate_bpm for _, r in worker.readings] == \
        [r.heart_rate_bpm for _, r in inline.readings]
    ends = {job.timestamp_s: job.end_s for job in worker.estimate_jobs}
    assert ends and all(published >= ends[r.timestamp_s] for published, r in worker.readings
                        if r.timestamp_s in ends)
    estimates = report["modelled"]["estimates"]
    assert estimates["mode"] == "worker" and estimates["jobs"] == len(worker.estimate_jobs)
    assert 0 < estimates["worker_utilisation"] < 1
    assert estimates["reading_delay_ms"]["p50_ms"] > 0
    assert "estimates on a worker core" in to_markdown(report)


def test_fewer_than_three_cores_keep_the_estimates_inline(clip):
    two_cores = dataclasses.replace(load_profile("pi4"), cores=2)
    result, report = _run(clip, two_cores, BACKGROUND)
    assert result.estimate_jobs == [] and report["modelled"]["estimates"]["mode"] == "inline"
    assert report["modelled"]["detector"]["mode"] == "worker"
