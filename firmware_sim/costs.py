"""A deterministic host cost model of the pipeline, from unit costs and named work counts.

The modelled replay must give the same report for the same seed whatever else the host
is doing, so it never uses a frame's wall-clock time: a `edge.probe.RecordingProbe`
counts what each push did (`edge.probe.WORK`), and each stage's host time is that work
times a unit cost measured once on a reference host (`measure_unit_costs`, shipped in
``profiles/host_costs.json``).
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np

__all__ = ["UnitCosts", "load_unit_costs", "measure_unit_costs", "stage_host_seconds"]

COSTS_FILE = "host_costs.json"


@dataclass(frozen=True, kw_only=True, slots=True)
class UnitCosts:
    """Host seconds per unit of work."""

    decode_per_pixel_s: float
    """MJPG decode + BGR->RGB, per pixel of the delivered frame."""
    detector_per_pixel_s: float
    """Full face detection (resize, grey, CLAHE, Haar), per pixel of the image searched."""
    near_detection_s: float
    """One re-detection around a known face (`edge.roi.FaceDetector.detect_near`)."""
    push_overhead_s: float
    """Validation and Python bookkeeping of one `push` with no other work."""
    roi_per_pixel_s: float
    """ROI sampling of a face box (the numba kernel and its wrapper), per pixel visited."""
    trace_per_sample_s: float
    """Resampling and the streaming POS projection, per uniform sample."""
    estimate_s: float
    """One heart-rate estimate (spectrum of a 10 s window, peak, SNR, motion gate)."""
    vital_estimate_s: float = 0.0
    """One breathing-rate or SpO2 estimate (their mean: 32 s and 10 s windows)."""
    hrv_analysis_s: float = 0.0
    """One SDNN/RMSSD beat analysis of a 32 s window (every 5 s)."""
    head_motion_s: float = 0.0
    """One update of the face's motion, both axes (`edge.head_motion`), per frame with a face."""
    host: str = ""
    measured: str = ""

    def to_dict(self) -> dict[str, object]:
        """Plain dict (JSON)."""
        return asdict(self)


def stage_host_seconds(costs: UnitCosts, work: Mapping[str, int], *,
                       frame_pixels: int) -> np.ndarray:
    """Host seconds of decode and each of `edge.probe.STAGES` for one frame.

    Returns ``[decode, validate, track, roi, trace, estimate]`` for a push that did
    `work` (units by name, `edge.probe.WORK`, as a `RecordingProbe` keeps them).
    """
    return np.array([
        costs.decode_per_pixel_s * frame_pixels,
        0.5 * costs.push_overhead_s,
        0.5 * costs.push_overhead_s + costs.detector_per_pixel_s * work["detector_pixels"]
        + costs.near_detection_s * work["near_detections"],
        costs.roi_per_pixel_s * work["roi_pixels"],
        costs.trace_per_sample_s * work["trace_samples"]
        + costs.head_motion_s * work["head_motion_updates"],
        costs.estimate_s * work["estimates"] + costs.vital_estimate_s * work["vital_estimates"]
        + costs.hrv_analysis_s * work["hrv_analyses"],
    ])


def load_unit_costs(path: str | Path | None = None) -> UnitCosts:
    """The shipped reference costs, or those in `path`."""
    if path is None:
        text = resources.files("firmware_sim").joinpath("profiles", COSTS_FILE).read_text()
    else:
        text = Path(path).read_text(encoding="utf-8")
    return UnitCosts(**json.loads(text))


def measure_unit_costs(*, repeats: int = 200) -> UnitCosts:
    """Measure the unit costs on this machine (one core, OpenCV single-threaded)."""
    import cv2

    import edge
    from edge.breathing import stream_breathing
    from edge.buffer import Resampler
    from edge.config import RoiConfig, RppgConfig
    from edge.estimators import hrv_from_window
    from edge.head_motion import HeadMotion
    from edge.heart_rate import HeartRateEstimator
    from edge.roi import FaceDetector, RoiSampler
    from edge.rppg import PulseStream
    from edge.spo2 import ratio_of_ratios
    from firmware_sim.calibrate import machine_facts, median_call_s
    from firmware_sim.world import WorldConfig, make_clip

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    cv2.setNumThreads(1)
    frame, _ = next(iter(make_clip(WorldConfig(duration_s=1.0, seed=1)).frames()))
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, 90])
    pixels = frame.shape[0] * frame.shape[1]
    decode = median_call_s(lambda: cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR),
                                            cv2.COLOR_BGR2RGB), repeats) / pixels
    detector = FaceDetector(detect_width_px=160)
    face = detector.detect(frame)  # also loads the cascade
    detect = median_call_s(lambda: detector.detect_at(frame, 0.25), repeats // 4) / (160 * 120)
    near = median_call_s(lambda: detector.detect_near(frame, face), repeats // 4)
    sampler = RoiSampler(RoiConfig())
    before = sampler.pixels_scanned
    sampler.sample(frame, face)
    roi_s = median_call_s(lambda: sampler.sample(frame, face), repeats)
    roi = roi_s / ((sampler.pixels_scanned - before) / (repeats + 2))  # per call: 1 + 1 + repeats
    motion = HeadMotion()
    motion.update(frame, face)  # the key frames; then a frame moved by a pixel, and back
    moved = iter([np.roll(frame, (1, 1), axis=(0, 1)), frame] * (repeats + 2))
    head = median_call_s(lambda: motion.update(next(moved), face), repeats)
    stream = PulseStream("pos", fs=30.0, keep_s=40.0)
    resampler = Resampler(fs=30.0, emit=stream.push)
    rng = np.random.default_rng(0)
    n = 1200  # 40 s at 30 Hz of a 72 bpm pulse in noise, so every estimator does its full work
    pulse = 0.3 * np.sin(2 * np.pi * 1.2 * np.arange(n) / 30.0)[:, None] * [0.33, 0.77, 0.53]
    for i, sample in enumerate(100.0 + pulse + 0.05 * rng.standard_normal((n, 3))):
        resampler.push(i / 30.0, sample)
    clock = iter(range(1201, 10**9))
    value = np.array([100.0, 90.0, 80.0])
    trace = median_call_s(lambda: resampler.push(next(clock) / 30.0, value), repeats)
    estimator = HeartRateEstimator(RppgConfig())
    estimate = median_call_s(lambda: estimator.estimate(stream, 30.0), repeats // 4)
    breathing = median_call_s(lambda: stream_breathing(stream.rgb[:960], fs=30.0), repeats // 4)
    ratio = median_call_s(lambda: ratio_of_ratios(stream.rgb[:300], stream.pulse[:300], fs=30.0,
                                                  heart_rate_bpm=72.0), repeats // 4)
    window = stream.rgb[:960], stream.pulse[:960]
    hrv = median_call_s(lambda: hrv_from_window(*window, fs=30.0), repeats // 10)
    pipe = edge.Pipeline(edge.PipelineConfig(roi=RoiConfig(mode="fixed", fixed_box=(0, 0, 2, 2))))
    tick = iter(range(1, 10**9))
    tiny = np.zeros((8, 8, 3), np.uint8)
    overhead = median_call_s(lambda: pipe.push(tiny, next(tick) * 1e-4), repeats)
    return UnitCosts(decode_per_pixel_s=decode, detector_per_pixel_s=detect,
                     near_detection_s=near, push_overhead_s=overhead,
                     roi_per_pixel_s=roi, trace_per_sample_s=trace, estimate_s=estimate,
                     vital_estimate_s=0.5 * (breathing + ratio), hrv_analysis_s=hrv,
                     head_motion_s=head,
                     host=f"{machine_facts()['cpu']} ({platform.machine()})",
                     measured=time.strftime("%Y-%m-%d"))


if __name__ == "__main__":  # regenerate the shipped reference: python -m firmware_sim.costs
    out = Path(__file__).resolve().parent / "profiles" / COSTS_FILE
    out.parent.mkdir(exist_ok=True)
    costs = measure_unit_costs()
    out.write_text(json.dumps(costs.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(json.dumps(costs.to_dict(), indent=1))
