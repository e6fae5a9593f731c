"""A deterministic host cost model of the pipeline, from unit costs and named work counts.

The modelled replay must give the same report for the same seed whatever else the host
is doing, so it never uses a frame's wall-clock time: a `edge.probe.RecordingProbe`
counts what each push did (`edge.probe.WORK`), and each stage's host time is a per-push
part plus that work times unit costs, measured once on a reference host by timing the real
pipeline's stages (`measure_unit_costs`, shipped in ``profiles/host_costs.json``).
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import TypeVar

import numpy as np

from edge.errors import ConfigError

__all__ = [
    "ReferencePush",
    "UnitCosts",
    "decode_host_seconds",
    "detection_host_seconds",
    "estimates_host_seconds",
    "handoff_per_pixel_s",
    "load_unit_costs",
    "measure_decode_costs",
    "measure_unit_costs",
    "median_costs",
    "stage_host_seconds",
    "timed_items",
]

COSTS_FILE = "host_costs.json"
T = TypeVar("T")
REFERENCE_EVERY = 60
"""Frames between two samples of the host's speed (`ReferencePush.sample_s`) in a timed
pipeline run: the same in the unit costs' measurement and in a replay, so that the two
speeds compare like with like."""


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitCosts:
    """Host seconds per push of each stage and per unit of its work."""

    decode_per_pixel_s: float
    """MJPG decode + BGR->RGB of a file's frame (`edge.capture.VideoFileSource`), per pixel
    of the decoded (possibly reduced) frame: the inverse DCT, upsampling and colour."""
    validate_s: float
    """The frame checks of one push."""
    track_s: float
    """The tracker's bookkeeping of one push, without a search."""
    detector_per_pixel_s: float
    """Full face detection (resize, grey, CLAHE, Haar), per pixel of the image searched."""
    near_detection_s: float
    """One re-detection around a known face (`edge.roi.FaceDetector.detect_near`)."""
    handoff_per_pixel_s: float
    """Copying a frame for the detector's worker thread, per pixel."""
    roi_s: float
    """The ROI stage of a push with a face box, without its pixels (Python, gain)."""
    roi_per_pixel_s: float
    """The ROI kernel, per pixel visited."""
    trace_s: float
    """The trace stage of a push with a skin sample, without its samples."""
    trace_per_sample_s: float
    """Resampling and the streaming POS projection, per uniform sample."""
    head_motion_s: float
    """One update of the face's motion, both axes (`edge.head_motion`)."""
    estimate_overhead_s: float
    """The estimate stage of a push that makes no estimate (is a reading due?)."""
    estimate_s: float
    """One heart-rate estimate (spectrum of a 10 s window, peak, SNR, motion gate)."""
    vital_estimate_s: float
    """One breathing-rate or SpO2 estimate (their mean)."""
    hrv_analysis_s: float
    """One SDNN/RMSSD beat analysis of a 32 s window."""
    decode_s: float = 0.0
    """The per-frame part of a decode (reading the packet, the call)."""
    decode_per_byte_s: float = 0.0
    """The decode's entropy decoding, per byte of the compressed frame: a dim, flat frame
    compresses to half the bytes of a bright one and decodes in about 0.7 of the time."""
    reference_frame_bytes: float = 0.0
    """Compressed bytes of a 640x480 frame of the clip the decode costs were measured on,
    assumed for frames whose size the replay is not told."""
    estimate_handoff_s: float = 0.0
    """Making the snapshot of a reading's inputs for the estimate worker
    (`edge.estimate_worker.EstimateJob.snapshot`), after a frame's decode."""
    spread_sigma: dict[str, float] = field(default_factory=dict)
    """Spread of this host's times around the model, per stage (``decode``, each of
    `edge.probe.STAGES`, ``detect``): the lognormal sigma that puts the p99 of a stage's
    per-push part where it was measured (cache misses, the garbage collector, the OS)."""
    reference_push_s: float = 0.0
    """Median CPU seconds of a `ReferencePush` when the costs were measured, so that a later
    check can tell how much slower a shared host runs now."""
    reference_decode_s: float = 0.0
    """Likewise, a JPEG decode of the reference push's frame (`ReferencePush.sample_s`)."""
    host: str = ""
    measured: str = ""

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON)."""
        return asdict(self)


def detection_host_seconds(costs: UnitCosts, *, pixels: int, near_searches: int) -> float:
    """Host seconds of a face search: `pixels` of full search and `near_searches`."""
    return costs.detector_per_pixel_s * pixels + costs.near_detection_s * near_searches


def estimates_host_seconds(costs: UnitCosts, work: Mapping[str, int]) -> float:
    """Host seconds of a reading's estimates: heart rate, breathing/SpO2 and HRV."""
    return (costs.estimate_s * work.get("estimates", 0)
            + costs.vital_estimate_s * work.get("vital_estimates", 0)
            + costs.hrv_analysis_s * work.get("hrv_analyses", 0))


def decode_host_seconds(costs: UnitCosts, *, frame_pixels: int,
                        frame_bytes: float | None = None) -> float:
    """Host seconds of an MJPG decode to `frame_pixels` of a frame of `frame_bytes`
    compressed bytes (else the reference clip's, `UnitCosts.reference_frame_bytes`).
    """
    size = costs.reference_frame_bytes if frame_bytes is None else frame_bytes
    return (costs.decode_s + costs.decode_per_pixel_s * frame_pixels
            + costs.decode_per_byte_s * size)


def stage_host_seconds(costs: UnitCosts, work: Mapping[str, int], *,
                       frame_pixels: int, frame_bytes: float | None = None) -> np.ndarray:
    """Host seconds of decode and each of `edge.probe.STAGES` for one frame.

    Returns ``[decode, validate, track, roi, trace, estimate]`` for a push that did
    `work` (units by name, `edge.probe.WORK`, as a `RecordingProbe` keeps them) on a
    decoded frame of `frame_pixels`, `frame_bytes` compressed (`decode_host_seconds`).
    """
    face = work["roi_pixels"] > 0
    return np.array([
        decode_host_seconds(costs, frame_pixels=frame_pixels, frame_bytes=frame_bytes),
        costs.validate_s,
        costs.track_s + costs.handoff_per_pixel_s * work["handoff_pixels"]
        + detection_host_seconds(costs, pixels=work["detector_pixels"],
                                 near_searches=work["near_detections"]),
        face * costs.roi_s + costs.roi_per_pixel_s * work["roi_pixels"],
        face * costs.trace_s + costs.trace_per_sample_s * work["trace_samples"]
        + costs.head_motion_s * work["head_motion_updates"],
        costs.estimate_overhead_s + estimates_host_seconds(costs, work)
        + costs.estimate_handoff_s * work["estimate_handoffs"],
    ])


def load_unit_costs(path: str | Path | None = None) -> UnitCosts:
    """The shipped reference costs, or those in `path`."""
    if path is None:
        text = resources.files("firmware_sim").joinpath("profiles", COSTS_FILE).read_text()
    else:
        text = Path(path).read_text(encoding="utf-8")
    return UnitCosts(**json.loads(text))


def measure_unit_costs(*, seconds: float = 60.0, repeats: int = 300) -> UnitCosts:
    """Measure the unit costs on this machine (OpenCV single-threaded, in CPU seconds of
    this thread: time lost to other processes does not count).

    The real pipeline (inline detection, all vitals) runs over a `seconds`-long 640x480
    MJPG simulator clip decoded by `edge.capture.VideoFileSource`; each push's stage times
    and work counts give the decode, the per-push parts and the per-estimate costs. The
    per-unit parts a clip hardly varies (ROI and full-search pixels, the frame copy, trace
    samples, head motion) come from timing those calls alone on a frame of the clip.
    """
    import cv2

    from firmware_sim.calibrate import machine_facts
    from firmware_sim.world import WorldConfig, make_clip, write_clip

    cv2.setNumThreads(1)  # as in a replay; not pinned to a core either, as a replay is not
    clip = make_clip(WorldConfig(duration_s=seconds, seed=1))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_clip(clip, Path(tmp) / "clip.avi", codec="MJPG")
        decode_s, stage_s, units, handoff_s, (reference_s, reference_decode_s) = \
            _timed_pipeline(path)
    frame = clip.frame_at(0)
    micro = _unit_micro_costs(frame, repeats)
    track, roi, trace = stage_s["track"], stage_s["roi"], stage_s["trace"]
    searched = (units["detector_pixels"] > 0) | (units["near_detections"] > 0)
    track_s = float(np.median(track[~searched]))
    near_only = (units["near_detections"] == 1) & (units["detector_pixels"] == 0)
    face = units["roi_pixels"] > 0
    trace_rest = (trace - micro["trace_per_sample_s"] * units["trace_samples"]
                  - micro["head_motion_s"] * units["head_motion_updates"])
    return UnitCosts(
        **measure_decode_costs(),
        validate_s=float(np.median(stage_s["validate"])), track_s=track_s,
        detector_per_pixel_s=micro["detector_per_pixel_s"],
        near_detection_s=float(np.median(track[near_only])) - track_s,
        handoff_per_pixel_s=micro["handoff_per_pixel_s"],
        roi_s=float(np.median(roi[face] - micro["roi_per_pixel_s"] * units["roi_pixels"][face])),
        roi_per_pixel_s=micro["roi_per_pixel_s"],
        trace_s=float(np.median(trace_rest[face])),
        trace_per_sample_s=micro["trace_per_sample_s"], head_motion_s=micro["head_motion_s"],
        **_estimate_costs(stage_s["estimate"], units), estimate_handoff_s=handoff_s,
        spread_sigma={"decode": _log_spread(decode_s),
                      "validate": _log_spread(stage_s["validate"]),
                      "track": _log_spread(track[~searched]), "roi": _log_spread(roi[face]),
                      "trace": _log_spread(trace[face]),
                      "estimate": _log_spread(stage_s["estimate"][units["estimates"] > 0]),
                      "detect": _log_spread(track[near_only])},
        reference_push_s=reference_s, reference_decode_s=reference_decode_s,
        host=f"{machine_facts()['cpu']} ({platform.machine()})",
        measured=time.strftime("%Y-%m-%d"))


def timed_items(items: Iterable[T]) -> Iterator[tuple[T, float]]:
    """Each of `items` with the CPU seconds (this thread) its source took to hand it over:
    a video file's decode.
    """
    source = iter(items)
    while True:
        start = time.thread_time()
        item = next(source, None)
        seconds = time.thread_time() - start
        if item is None:
            return
        yield item, seconds


def measure_decode_costs(seconds: float = 10.0) -> dict[str, float]:
    """The decode's per-frame, per-pixel and per-byte costs: a least-squares fit to the
    median decode time of a bright and a dim simulator clip (25 and 11 KB a frame) each
    read at decode scales 1, 2 and 4, so that pixels and bytes vary apart.
    """
    import cv2

    from edge.capture.video_file import VideoFileSource
    from firmware_sim.world import WorldConfig, make_clip, write_clip

    cv2.setNumThreads(1)
    rows, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for k, scene in enumerate(({}, {"skin_tone": "dark", "light_level": 0.35})):
            clip = make_clip(WorldConfig(duration_s=seconds, seed=1, **scene))
            path = write_clip(clip, Path(tmp) / f"clip{k}.avi", codec="MJPG")
            for scale in (1, 2, 4):
                with VideoFileSource(path, decode_scale=scale) as source:
                    frame_bytes = path.stat().st_size / (source.frame_count or 1)
                    timed = list(timed_items(source))
                pixels = timed[0][0][0].shape[0] * timed[0][0][0].shape[1]
                times = [seconds for _, seconds in timed]
                rows.append((1.0, pixels, frame_bytes, float(np.median(times))))
            sizes.append(frame_bytes)
    table = np.array(rows)
    fit = np.linalg.lstsq(table[:, :3], table[:, 3], rcond=None)[0]
    return {"decode_s": max(0.0, float(fit[0])), "decode_per_pixel_s": max(0.0, float(fit[1])),
            "decode_per_byte_s": max(0.0, float(fit[2])), "reference_frame_bytes": sizes[0]}


def handoff_per_pixel_s(repeats: int = 300) -> float:
    """Copying a 640x480 RGB frame for the detector's worker, per pixel, cycling through 16
    frames: the frame a push hands over is fresh from the decoder, not in the cache (a warm
    copy takes 0.6 of the time).
    """
    frames = [np.full((480, 640, 3), k, np.uint8) for k in range(16)]
    tick = iter(range(10**9))
    return median_call_s(lambda: np.array(frames[next(tick) % 16], copy=True),
                         repeats) / (480 * 640)


class ReferencePush:
    """A push of a 640x480 frame with a fixed face-sized box, cycling through 16 frames
    (15 MB, as fresh frames from a camera are not in the cache): how fast this host runs
    the pipeline's stages now, memory included.
    """

    def __init__(self) -> None:
        import edge

        box = (235, 140, 170, 200)
        config = edge.PipelineConfig().with_changes(roi={"mode": "fixed", "fixed_box": box})
        self._pipe = edge.Pipeline(config)
        rng = np.random.default_rng(0)
        self._frames = [np.clip(rng.normal((180, 120, 100), 8, (480, 640, 3)), 0, 255)
                        .astype(np.uint8) for _ in range(16)]
        self._tick = 0
        self._jpeg: np.ndarray | None = None

    def sample_s(self) -> tuple[np.ndarray, np.ndarray]:
        """Times of 20 pushes after 3 that bring the reference's data back into the cache,
        and of 20 JPEG decodes of one of its frames after 3 (OpenCV's C code, which a
        shared host's load slows by its own amount): a sample taken between two frames of
        a pipeline run (every `REFERENCE_EVERY`).
        """
        import cv2

        if self._jpeg is None:
            self._jpeg = cv2.imencode(".jpg", self._frames[0])[1]
        decode = np.empty(23)
        for k in range(decode.size):
            start = time.thread_time()
            cv2.imdecode(self._jpeg, cv2.IMREAD_COLOR)
            decode[k] = time.thread_time() - start
        return self.times_s(23)[3:], decode[3:]

    def times_s(self, repeats: int) -> np.ndarray:
        """CPU seconds (this thread) of each of `repeats` pushes."""
        times = np.empty(repeats)
        for k in range(repeats):
            self._tick += 1
            frame = self._frames[self._tick % len(self._frames)]
            start = time.thread_time()
            self._pipe.push(frame, self._tick / 30.0)
            times[k] = time.thread_time() - start
        return times


def median_costs(runs: list[UnitCosts]) -> UnitCosts:
    """Each cost (and each spread) the median of its values in `runs`."""
    dicts = [run.to_dict() for run in runs]
    out = dict(dicts[-1])
    for key, value in out.items():
        if isinstance(value, float):
            out[key] = float(np.median([d[key] for d in dicts]))
    out["spread_sigma"] = {name: float(np.median([d["spread_sigma"][name] for d in dicts]))
                           for name in out["spread_sigma"]}
    return UnitCosts(**out)


def _log_spread(seconds: np.ndarray) -> float:
    """Lognormal sigma that puts the p99 of `seconds` where it is, given their median."""
    return round(float(np.log(np.percentile(seconds, 99) / np.median(seconds)) / 2.326), 3)


def _timed_pipeline(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray],
                                         dict[str, np.ndarray], float, tuple[float, ...]]:
    """Decode seconds, stage seconds and work units of every push of the clip at `path`;
    the median seconds of a snapshot for the estimate worker, taken where a hand-off happens:
    after a frame's decode, one frame after each reading (outside the pushes' times); and
    the medians of the reference push and decode sampled every `REFERENCE_EVERY` frames (the
    frame after a sample is left out: the sample flushed the caches).
    """
    import edge
    from edge.capture.video_file import VideoFileSource
    from edge.estimate_worker import EstimateJob
    from edge.probe import STAGES, WORK, RecordingProbe

    probe = RecordingProbe(clock=time.thread_time)
    pipe = edge.Pipeline(edge.PipelineConfig(), probe=probe)
    pipe.warmup()
    decode, stages, work, handoff = [], [], [], []
    reference = ReferencePush()
    reference.times_s(1)
    samples = []

    def snapshot() -> None:
        EstimateJob.snapshot(timestamp_s=0.0, face_box=pipe.face.last_box, trace=pipe.trace,
                             face=pipe.face, breathing=pipe.stages.breathing)

    with VideoFileSource(path) as source:
        for frame, (item, decode_s) in enumerate(timed_items(source), start=1):
            if work and work[-1][WORK.index("estimates")] > 0:
                t2 = time.thread_time()
                snapshot()
                handoff.append(time.thread_time() - t2)
            pipe.push(*item)
            if frame > 1 and frame % REFERENCE_EVERY == 1:
                continue  # the frame after a sample
            decode.append(decode_s)
            stages.append([probe.stage_s[name] for name in STAGES])
            work.append([probe.units[name] for name in WORK])
            if frame % REFERENCE_EVERY == 0:
                samples.append(reference.sample_s())
    pipe.close()
    stage_s, units = np.array(stages), np.array(work)
    return (np.array(decode), {name: stage_s[:, k] for k, name in enumerate(STAGES)},
            {name: units[:, k] for k, name in enumerate(WORK)}, float(np.median(handoff)),
            tuple(float(np.median(np.concatenate(part))) for part in zip(*samples, strict=True)))


def _estimate_costs(estimate_s: np.ndarray, units: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Per-push overhead and per-estimate costs: least squares over the median time of
    each mix of estimates the pushes made (estimates, breathing/SpO2, HRV); a mix needs
    two pushes.
    """
    mix = np.stack([units["estimates"], units["vital_estimates"], units["hrv_analyses"]], 1)
    kinds, group, count = np.unique(mix, axis=0, return_inverse=True, return_counts=True)
    # the first push of each kind may load or compile something: left out
    medians = np.array([np.median(estimate_s[group.ravel() == g][1:])
                        for g in np.flatnonzero(count > 1)])
    kinds = kinds[count > 1]
    design = np.column_stack([np.ones(len(kinds)), kinds])
    if np.linalg.matrix_rank(design) < design.shape[1]:
        raise ConfigError(f"the clip made too few kinds of estimate to fit their costs: {kinds}")
    fit = np.linalg.lstsq(design, medians, rcond=None)[0]
    names = ("estimate_overhead_s", "estimate_s", "vital_estimate_s", "hrv_analysis_s")
    return {name: max(0.0, float(v)) for name, v in zip(names, fit, strict=True)}


def median_call_s(call: Callable[[], object], repeats: int) -> float:
    """Median CPU seconds (this thread) of `repeats` calls of `call`, after one untimed."""
    call()
    times = np.empty(repeats)
    for i in range(repeats):
        start = time.thread_time()
        call()
        times[i] = time.thread_time() - start
    return float(np.median(times))


def _unit_micro_costs(frame: np.ndarray, repeats: int) -> dict[str, float]:
    """Per-unit costs timed alone: full search and ROI per pixel, copy, trace, head."""
    from edge.buffer import Resampler
    from edge.config import RoiConfig
    from edge.head_motion import HeadMotion
    from edge.roi import FaceDetector, RoiSampler
    from edge.rppg import PulseStream
    from edge.types import Box

    detector = FaceDetector(detect_width_px=160)
    face = detector.detect(frame)  # also loads the cascade
    if face is None:
        raise ConfigError("no face in the cost-measurement frame")
    detect = median_call_s(lambda: detector.detect_at(frame, 0.25), repeats // 4) / (160 * 120)
    handoff = handoff_per_pixel_s(repeats)
    sampler = RoiSampler(RoiConfig())
    per_box = []
    for grow in (1.0, 1.5):
        box = Box(face.x, face.y, round(face.width * grow), round(face.height * grow))
        before = sampler.pixels_scanned
        sampler.sample(frame, box)
        per_box.append((sampler.pixels_scanned - before,
                        median_call_s(lambda b=box: sampler.sample(frame, b), repeats)))
    (p0, t0), (p1, t1) = per_box
    motion = HeadMotion()
    motion.update(frame, face)  # the key frames; then a frame moved by a pixel, and back
    moved = iter([np.roll(frame, (1, 1), axis=(0, 1)), frame] * (repeats + 2))
    head = median_call_s(lambda: motion.update(next(moved), face), repeats)
    stream = PulseStream("pos", fs=30.0, keep_s=40.0)
    resampler = Resampler(fs=30.0, emit=stream.push)
    for i in range(1200):
        resampler.push(i / 30.0, np.array([100.0, 90.0, 80.0]) + 0.1 * np.sin(i))
    clock = iter(range(1201, 10**9))
    value = np.array([100.0, 90.0, 80.0])
    trace = median_call_s(lambda: resampler.push(next(clock) / 30.0, value), repeats)
    return {"detector_per_pixel_s": detect, "handoff_per_pixel_s": handoff,
            "roi_per_pixel_s": max(0.0, (t1 - t0) / (p1 - p0)), "head_motion_s": head,
            "trace_per_sample_s": trace}


if __name__ == "__main__":  # regenerate the shipped reference: python -m firmware_sim.costs
    import sys  # (--decode, --handoff: only those costs, the rest kept)

    out = Path(__file__).resolve().parent / "profiles" / COSTS_FILE
    out.parent.mkdir(exist_ok=True)
    parts = {"--decode": measure_decode_costs,
             "--handoff": lambda: {"handoff_per_pixel_s": handoff_per_pixel_s()}}
    chosen = [measure for flag, measure in parts.items() if flag in sys.argv[1:]]
    if chosen:
        costs = UnitCosts(**{**load_unit_costs().to_dict(),
                             **{k: v for measure in chosen for k, v in measure().items()}})
    else:  # the median of three: the parts timed inside the pipeline drift on a shared host
        costs = median_costs([measure_unit_costs() for _ in range(3)])
    out.write_text(json.dumps(costs.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(json.dumps(costs.to_dict(), indent=1))
