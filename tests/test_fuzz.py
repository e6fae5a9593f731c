"""Fuzzing of every public entry point with hypothesis: nothing but a `VitalsError` may escape.

The default is a modest number of examples per entry point so that CI stays fast; a long
run sets ``EDGE_FUZZ_EXAMPLES``::

    EDGE_FUZZ_EXAMPLES=3000 python -m pytest tests/test_fuzz.py -p no:cacheprovider

Bugs it found are fixed; their inputs stay as explicit ``@example`` cases.
"""

import json
import math
import os
import tempfile
import tomllib
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import edge
from edge.errors import VitalsError
from edge.filters import bandpass, butter_bandpass_sos
from edge.kalman import ScalarKalman
from edge.rates import heart_rate
from edge.rppg import METHODS, extract_pulse
from firmware_sim import metrics
from firmware_sim.datasets import Recording
from firmware_sim.profiles import DeviceProfile, load_profile

EXAMPLES = int(os.environ.get("EDGE_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))

NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                    st.sampled_from([0, 1, -1, 1e-300, 1e300, 30.0, 8.0]))
ANYTHING = st.one_of(NUMBERS, st.none(), st.booleans(), st.text(max_size=8),
                     st.lists(NUMBERS, max_size=5))


def signals(max_side=600):
    dtype = st.sampled_from([np.float64, np.float32, np.int32, np.uint8])
    return dtype.flatmap(lambda d: hnp.arrays(
        d, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=max_side),
        elements=st.floats(allow_nan=True, allow_infinity=True, width=32)
        if np.issubdtype(d, np.floating) else None))


@FUZZ
@given(signals(), NUMBERS)
def test_fuzz_analyze_pulse(x, fs):
    try:
        result = edge.analyze_pulse(x, fs=fs)
    except VitalsError:
        return
    assert 0.0 <= result.quality <= 1.0
    assert result.heart_rate_bpm is None or math.isfinite(result.heart_rate_bpm)


@FUZZ
@given(signals(), NUMBERS, st.tuples(NUMBERS, NUMBERS))
def test_fuzz_heart_rate(x, fs, band):
    try:
        peak = heart_rate(x, fs=fs, band_bpm=band)
    except VitalsError:
        return
    assert peak is None or (math.isfinite(peak.rate_per_min) and math.isfinite(peak.snr_db))


@FUZZ
@given(signals(max_side=200).map(lambda a: a.reshape(-1, 3) if a.size % 3 == 0 else a),
       st.sampled_from([*sorted(METHODS), "ica", ""]), NUMBERS, NUMBERS)
def test_fuzz_extract_pulse(rgb, method, fs, window_s):
    try:
        pulse = extract_pulse(rgb, fs=fs, method=method, window_s=window_s)
    except VitalsError:
        return
    assert np.all(np.isfinite(pulse))


@FUZZ
@given(signals(), NUMBERS, NUMBERS, NUMBERS, st.integers(-2, 8))
def test_fuzz_filters(x, fs, low, high, order):
    try:
        y = bandpass(x, fs=fs, low_hz=low, high_hz=high)
        sos = butter_bandpass_sos(low, high, fs=fs, order=order)
    except VitalsError:
        return
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(sos))


FRAMES = st.one_of(
    hnp.arrays(np.uint8, st.tuples(st.integers(8, 40), st.integers(8, 40), st.just(3))),
    hnp.arrays(st.sampled_from([np.uint8, np.float32, np.int64]),
               hnp.array_shapes(min_dims=0, max_dims=4, max_side=12)),
    st.sampled_from([None, "frame", 3]),
)
STEPS = st.one_of(st.floats(0.001, 0.2), st.sampled_from([0.0, -0.5, 3600.0, 1e9, math.nan,
                                                          math.inf, 2.0]))


@FUZZ
@given(st.lists(st.tuples(FRAMES, STEPS), min_size=1, max_size=40),
       st.sampled_from(["face", "full"]), st.sampled_from(sorted(METHODS)))
def test_fuzz_pipeline_push(steps, mode, method):
    config = edge.PipelineConfig().with_changes(roi={"mode": mode}, rppg={"method": method})
    pipe = edge.Pipeline(config)  # no warmup: the first frames pay the compilation
    t = 0.0
    for frame, dt in steps:
        t += dt
        try:
            reading = pipe.push(frame, t)
        except VitalsError:
            continue
        if reading is not None and reading.heart_rate_bpm is not None:
            assert reading.status is edge.Status.OK and 0 < reading.quality <= 1


CONFIG_KEYS = {
    "roi": ["mode", "fixed_box", "detect_every_n_frames", "detect_width_px", "local_redetect",
            "box_smoothing", "skin_mask", "modee"],
    "rppg": ["method", "sample_rate_hz", "hr_window_s", "long_window_s", "min_window_s",
             "band_bpm", "min_snr_db", "max_gap_s", "output_interval_s", "cnn_pos_blend_hps",
             "methd"],
    "kalman": ["enabled", "q", "r0", "gate", "reinit_after"],
    "rpgg": ["method"],
}
CONFIGS = st.dictionaries(
    st.sampled_from(sorted(CONFIG_KEYS)),
    st.sampled_from(sorted(CONFIG_KEYS)).flatmap(
        lambda section: st.dictionaries(st.sampled_from(CONFIG_KEYS[section]), ANYTHING,
                                        max_size=4)),
    max_size=3)


@FUZZ
@example({"rppg": {"band_bpm": "ab"}})
@example({"rppg": {"band_bpm": [60.0]}})
@example({"rppg": {"cnn_pos_blend_hps": None}})
@example({"rppg": {"cnn_pos_blend_hps": [0.02, 0.01]}})
@given(CONFIGS)
def test_fuzz_config_from_dict(data):
    try:
        config = edge.PipelineConfig.from_dict(data)
    except VitalsError:
        return
    assert edge.PipelineConfig.from_dict(config.to_dict()) == config


@FUZZ
@example({"rppg": {"methd": "chrom"}})
@given(CONFIGS)
def test_fuzz_config_with_changes(sections):
    try:
        config = edge.PipelineConfig().with_changes(**sections)
    except VitalsError:
        return
    assert config == edge.PipelineConfig.from_dict(sections)


PROFILE_KEYS = {"camera": ["fps", "width_px", "queue", "buffer_count", "mjpeg_decode_on_cpu"],
                "factors": ["numba", "cnn", "frame"], "jitter": ["sigma", "os_noise_ms"],
                "thermal": ["throttled_clock_ghz", "notes"], "budget": ["frame_deadline_ms"],
                "camrea": ["fps"]}


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(PROFILE_KEYS)), st.sampled_from(
    sorted(PROFILE_KEYS)).flatmap(lambda section: st.dictionaries(
        st.sampled_from(PROFILE_KEYS[section]), ANYTHING, max_size=3)), max_size=3),
    st.one_of(NUMBERS, st.text(max_size=4)))
def test_fuzz_device_profile(sections, cores):
    profile = load_profile("pi4")
    data = profile.to_dict() | {"cores": cores}
    for name, changes in sections.items():
        data[name] = data.get(name, {}) | changes
    try:
        changed = DeviceProfile.from_dict(data)
    except VitalsError:
        return
    assert DeviceProfile.from_dict(tomllib.loads(changed.to_toml())) == changed


@FUZZ
@given(st.lists(st.tuples(NUMBERS, st.one_of(st.none(), NUMBERS), NUMBERS), max_size=30))
def test_fuzz_kalman(updates):
    tracker = ScalarKalman(edge.config.KalmanConfig())
    for t, rate, snr in updates:
        try:
            result = tracker.update(t, rate, snr_db=snr)
        except VitalsError:
            continue
        if result is not None:
            assert math.isfinite(result.rate)


@FUZZ
@given(st.lists(NUMBERS, max_size=40), st.lists(NUMBERS, max_size=40))
def test_fuzz_metrics(a, b):
    n = min(len(a), len(b))
    est, ref = np.array(a[:n], dtype=float), np.array(b[:n], dtype=float)
    with np.errstate(all="ignore"):
        summary = metrics.summarize(est, ref, snr=est)
    json.dumps(summary.to_dict())
    metrics.snr_db(est, fs=30.0, reference_bpm=float(ref[0]) if n else math.nan)


FILE_BYTES = st.one_of(
    st.binary(max_size=2000),
    st.lists(st.lists(NUMBERS, max_size=60).map(lambda r: " ".join(map(str, r))), max_size=4)
    .map(lambda lines: "\n".join(lines).encode()),
)


@FUZZ
@given(st.sampled_from(["ubfc", "ubfc-xmp", "pure", "generic"]), FILE_BYTES,
       st.floats(-10, 100), st.floats(-10, 100))
def test_fuzz_dataset_reference_files(layout, data, start, end):
    with tempfile.TemporaryDirectory() as tmp:
        name = {"ubfc": "ground_truth.txt", "ubfc-xmp": "gtdump.xmp", "pure": "01-01.json",
                "generic": "v.csv"}[layout]
        path = Path(tmp) / name
        path.write_bytes(data)
        rec = Recording("r", "r", layout.split("-")[0], Path(tmp) / "v.avi", reference_path=path)
        try:
            value = rec.reference().heart_rate(start, end)
        except VitalsError:
            return
        assert math.isnan(value) or 20 <= value <= 300


@FUZZ
@given(st.binary(min_size=1, max_size=4000), st.sampled_from([".avi", ".mp4", ".mkv"]))
def test_fuzz_video_files(data, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x{suffix}"
        path.write_bytes(data)
        try:
            track = edge.process_video(path, config=edge.PipelineConfig().with_changes(
                roi={"mode": "full"}))
        except VitalsError:
            return
        assert len(track) >= 0
