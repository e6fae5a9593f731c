"""Replay a clip through the real `edge.Pipeline` on a modelled device's clock.

Frames are captured at the device's frame rate (seeded jitter), wait in the camera
stack's queue (picamera2 keeps the newest frame; OpenCV's V4L2 backend is a FIFO that
drops new frames when full), and only the survivors reach the real pipeline, with their
capture timestamps. Each stage's service time is the host cost model (`firmware_sim.costs`:
the work a `RecordingProbe` counted times unit costs) scaled by the device profile, on a
virtual clock: the same seed gives the same report whatever load the host is under. With
``roi.detect_in_background`` (and two cores or more) face detection runs on its own
modelled core (`firmware_sim.worker_model`) and its box reaches the pipeline when the
modelled detection ends; with ``rppg.estimate_in_background`` (and three cores or more) the
readings' estimates run on another, and a push that starts while they run waits for the
GIL. The host's own stage times (decode included: the time the source took to hand over
each frame) are kept apart, to check the model.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

import edge
from edge.probe import STAGES, RecordingProbe
from firmware_sim.costs import (
    REFERENCE_EVERY,
    ReferencePush,
    UnitCosts,
    load_unit_costs,
    stage_host_seconds,
    timed_items,
)
from firmware_sim.des import QueuePolicy, frame_times
from firmware_sim.profiles import STAGE_CLASSES, DeviceProfile
from firmware_sim.worker_model import EstimateWork, ModelledEstimates, ModelledWorker, WorkerJob

__all__ = ["STAGE_NAMES", "ReplayResult", "config_for", "policy_for", "replay"]

STAGE_NAMES = ("decode", *STAGES)
TRACK = STAGE_NAMES.index("track")
ESTIMATE = STAGE_NAMES.index("estimate")
CAPTURE_JITTER_S = 0.0005
CLOCK = time.thread_time
"""The host's own stage times count this thread's CPU seconds, not the wall clock: other
processes on the host do not inflate them (OpenCV runs single-threaded during a replay)."""


@dataclass
class ReplayResult:
    """Everything a replay measured; `firmware_sim.report` turns it into a report."""

    profile: DeviceProfile
    fps: float
    seed: int
    policy: QueuePolicy
    arrival_s: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray
    dropped: np.ndarray
    drop_cause: np.ndarray
    queue_depth: np.ndarray
    stage_device_s: np.ndarray
    """(n_frames, n_stages) modelled device seconds, NaN rows for dropped frames."""
    stage_host_model_s: np.ndarray
    stage_host_measured_s: np.ndarray
    readings: list[tuple[float, edge.Reading]] = field(default_factory=list)
    """(publication time on the device clock, reading)."""
    truth_errors_bpm: list[float] = field(default_factory=list)
    startup_host_s: dict[str, float] = field(default_factory=dict)
    config: edge.PipelineConfig = field(default_factory=edge.PipelineConfig)
    box_age_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Per frame: its capture time minus that of the frame whose detection gave the box
    in use (NaN: no box, or a dropped frame)."""
    host_slowdown: float = 1.0
    """This host's CPU seconds of a reference push now (sampled during the replay, as when
    the unit costs were measured) over those then: how loaded a shared host is."""
    host_decode_slowdown: float = 1.0
    """Likewise for OpenCV's C code (decode and face detection), from a reference decode."""
    after_reference: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    """Per frame: whether a sample of the reference push ran just before its decode (it
    flushed the caches; the host check leaves the frame out)."""
    worker_jobs: list[WorkerJob] = field(default_factory=list)
    """The detections of the modelled worker core (empty when detection runs inline)."""
    estimate_jobs: list[EstimateWork] = field(default_factory=list)
    """The readings' estimates on the modelled estimate core (empty when inline)."""
    gil_wait_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """Per frame: the modelled wait for the GIL at the start of its push (in ``validate``)."""


def policy_for(profile: DeviceProfile) -> QueuePolicy:
    """The queue of the profile's camera stack."""
    camera = profile.camera
    if camera.queue == "latest":
        return QueuePolicy.latest()
    return QueuePolicy.v4l2(camera.buffer_count)


def config_for(profile: DeviceProfile, config: edge.PipelineConfig) -> edge.PipelineConfig:
    """`config` on the profile's cores: face detection on a worker core needs two, the
    estimates on another a third; without them they run on the frame path.
    """
    if config.roi.detect_in_background and profile.cores < 2:
        config = config.with_changes(roi={"detect_in_background": False})
    if config.rppg.estimate_in_background and profile.cores < 3:
        config = config.with_changes(rppg={"estimate_in_background": False})
    return config


def _device_frames(frames: Iterable[tuple[np.ndarray, float]], arrivals: np.ndarray,
                   ) -> Iterator[tuple[np.ndarray, float]]:
    """For each device capture time, the newest clip frame at or before it (hold), and the
    host seconds the source took to hand that frame over (its decode, for a file).
    """
    timed = timed_items(frames)
    first = next(timed, None)
    if first is None:
        return
    (current, _), decode_s = first
    upcoming = next(timed, None)
    for a in arrivals:
        while upcoming is not None and upcoming[0][1] <= a + 1e-9:
            (current, _), decode_s = upcoming
            upcoming = next(timed, None)
        yield current, decode_s


def replay(frames: Iterable[tuple[np.ndarray, float]], *, duration_s: float,
           profile: DeviceProfile, fps: float | None = None, seed: int = 0,
           config: edge.PipelineConfig | None = None, truth: object = None,
           costs: UnitCosts | None = None, mjpg_camera: bool | None = None,
           frame_bytes: float | None = None) -> ReplayResult:
    """Replay `frames` (a clip's ``(frame_rgb, timestamp_s)``) on the modelled device.

    Parameters
    ----------
    frames : iterable of (np.ndarray, float)
        The clip, in order.
    duration_s : float
        Length of the clip in seconds.
    profile : DeviceProfile
        The device: factors, jitter, camera queue, budget.
    fps : float, optional
        Camera frame rate; default the profile's.
    truth : firmware_sim.world.GroundTruth, optional
        For the accuracy of the readings under load.
    frame_bytes : float, optional
        Compressed bytes of a clip frame (its decode cost); default the cost model's
        reference clip's.
    """
    costs = costs or load_unit_costs()
    reference = ReferencePush()
    reference.times_s(1)
    samples: list[np.ndarray] = []
    with _opencv_threads(1):
        result = _replay(frames, duration_s=duration_s, profile=profile, fps=fps, seed=seed,
                         config=config or edge.PipelineConfig(), truth=truth, costs=costs,
                         mjpg_camera=mjpg_camera, frame_bytes=frame_bytes,
                         sample_speed=lambda: samples.append(reference.sample_s()))
    if not samples:  # a clip shorter than two seconds
        samples.append(reference.sample_s())
    push_s, decode_s = (float(np.median(np.concatenate(part)))
                        for part in zip(*samples, strict=True))
    if costs.reference_push_s > 0:
        result.host_slowdown = push_s / costs.reference_push_s
    if costs.reference_decode_s > 0:
        result.host_decode_slowdown = decode_s / costs.reference_decode_s
    return result


@contextmanager
def _opencv_threads(n: int) -> Iterator[None]:
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _replay(frames: Iterable[tuple[np.ndarray, float]], *, duration_s: float,
            profile: DeviceProfile, fps: float | None, seed: int, config: edge.PipelineConfig,
            truth: object, costs: UnitCosts, mjpg_camera: bool | None,
            frame_bytes: float | None, sample_speed: Callable[[], None]) -> ReplayResult:
    config = config_for(profile, config)
    background = config.roi.mode == "face" and config.roi.detect_in_background
    fps = float(fps or profile.camera.fps)
    mjpg = profile.camera.mjpeg_decode_on_cpu if mjpg_camera is None else mjpg_camera
    rng = np.random.default_rng(seed)
    n = max(1, int(duration_s * fps))
    arrivals = frame_times(fps, n, jitter_s=CAPTURE_JITTER_S, seed=seed)
    policy = policy_for(profile)
    result = _empty_result(profile, fps, seed, policy, arrivals, config)
    t0 = time.perf_counter()
    probe = RecordingProbe(clock=CLOCK)
    host_rng = np.random.default_rng([seed, 2])
    spread = np.array([costs.spread_sigma.get(name, 0.0) for name in STAGE_NAMES])
    pipe = edge.Pipeline(config, probe=probe)
    t1 = time.perf_counter()
    pipe.warmup()
    worker = None
    if background:
        worker = ModelledWorker(pipe.face.tracker.detector, costs=costs, profile=profile,
                                rng=np.random.default_rng([seed, 1]))
        pipe.face.tracker.runner = worker
        result.worker_jobs = worker.jobs
    estimates = None
    if config.rppg.estimate_in_background:
        estimates = ModelledEstimates(pipe.stages.estimates, costs=costs, profile=profile,
                                      rng=np.random.default_rng([seed, 3]))
        pipe.estimate_runner = estimates
        result.estimate_jobs = estimates.jobs
    result.startup_host_s["pipeline_init_s"] = t1 - t0
    result.startup_host_s["warmup_s"] = time.perf_counter() - t1  # numba cache, cascade
    queue: deque[tuple[int, np.ndarray]] = deque()
    free_at = -np.inf
    recent: deque[tuple[float, float]] = deque()  # (start, end) of the last second's pushes

    def serve(i: int, frame: np.ndarray, start: float) -> float:
        jobs = 0 if worker is None else len(worker.jobs)
        if worker is not None:
            worker.now_s = start
        gil_s = 0.0
        if estimates is not None:
            while recent and recent[0][1] <= start - 1.0:
                recent.popleft()
            estimates.now_s = start
            estimates.frame_busy_share = sum(e - max(s, start - 1.0) for s, e in recent)
            gil_s = estimates.gil_wait_s(start)
        reading = pipe.push(frame, float(arrivals[i]))
        result.stage_host_measured_s[i, 1:] = [probe.stage_s[name] for name in STAGES]
        if worker is not None and len(worker.jobs) > jobs:  # ran here, but on the worker core
            result.stage_host_measured_s[i, TRACK] -= worker.submit_s
        if estimates is not None:  # likewise the estimates, on the estimate core
            result.stage_host_measured_s[i, ESTIMATE] -= estimates.measured_s
        box_t = pipe.face.tracker.box_timestamp_s
        result.box_age_s[i] = np.nan if box_t is None else arrivals[i] - box_t
        pixels = frame.shape[0] * frame.shape[1]
        host = stage_host_seconds(costs, probe.units, frame_pixels=pixels,
                                  frame_bytes=frame_bytes)
        # the host check's model: this host's spread around the cost model, a file's decode;
        # the track's spread was measured on pushes with no search and no hand-off, so the
        # frame copy and the searches are not spread with it
        noise = np.exp(spread * host_rng.standard_normal(host.size))
        result.stage_host_model_s[i] = host * noise
        result.stage_host_model_s[i, TRACK] = host[TRACK] + costs.track_s * (noise[TRACK] - 1)
        if not mjpg:  # a Pi camera's RGB frame costs the one copy picamera2 makes of it
            host[0] = costs.handoff_per_pixel_s * pixels
        device = profile.service_times_s(host, [STAGE_CLASSES[n] for n in STAGE_NAMES], rng,
                                         start)
        device[STAGE_NAMES.index("validate")] += gil_s  # the push waits for the GIL first
        result.stage_device_s[i] = device
        result.gil_wait_s[i] = gil_s
        end = start + float(np.sum(device))
        result.start_s[i], result.end_s[i] = start, end
        if estimates is not None:
            estimates.place(end)
            recent.append((start, end))
        if reading is not None:
            result.readings.append((end, reading))
            _score(result, reading, truth, config)
        return end

    nominal = np.arange(n) / fps  # which clip frame is captured: jitter only moves time
    for i, (frame, decode_s) in enumerate(_device_frames(frames, nominal)):
        result.stage_host_measured_s[i, 0] = decode_s
        a = arrivals[i]
        while queue and free_at <= a:
            j, fj = queue.popleft()
            free_at = serve(j, fj, max(free_at, arrivals[j]))
        result.queue_depth[i] = len(queue)
        if not queue and free_at <= a:
            free_at = serve(i, frame, a)
        elif len(queue) < policy.capacity:
            queue.append((i, frame.copy()))
        elif policy.when_full == "drop_newest":
            _drop(result, i, "queue_full_newest")
        else:
            j, _ = queue.popleft()
            _drop(result, j, "queue_full_oldest")
            queue.append((i, frame.copy()))
        if i % REFERENCE_EVERY == REFERENCE_EVERY - 1 and i + 1 < n:
            sample_speed()
            result.after_reference[i + 1] = True
    while queue:
        j, fj = queue.popleft()
        free_at = serve(j, fj, max(free_at, arrivals[j]))
    pipe.close()
    return result


def _empty_result(profile: DeviceProfile, fps: float, seed: int, policy: QueuePolicy,
                  arrivals: np.ndarray, config: edge.PipelineConfig) -> ReplayResult:
    n, k = arrivals.size, len(STAGE_NAMES)
    return ReplayResult(
        profile=profile, fps=fps, seed=seed, policy=policy, arrival_s=arrivals,
        start_s=np.full(n, np.nan), end_s=np.full(n, np.nan), dropped=np.zeros(n, bool),
        drop_cause=np.full(n, "", dtype=object), queue_depth=np.zeros(n, np.int64),
        stage_device_s=np.full((n, k), np.nan), stage_host_model_s=np.full((n, k), np.nan),
        stage_host_measured_s=np.full((n, k), np.nan), config=config,
        box_age_s=np.full(n, np.nan), gil_wait_s=np.full(n, np.nan),
        after_reference=np.zeros(n, bool))


def _drop(result: ReplayResult, i: int, cause: str) -> None:
    result.dropped[i] = True
    result.drop_cause[i] = cause


def _score(result: ReplayResult, reading: edge.Reading, truth: object,
           config: edge.PipelineConfig) -> None:
    if truth is None or reading.heart_rate_bpm is None:
        return
    t = reading.timestamp_s
    start = max(0.0, t - config.rppg.hr_window_s)
    result.truth_errors_bpm.append(reading.heart_rate_bpm - truth.mean_heart_rate_bpm(start, t))
