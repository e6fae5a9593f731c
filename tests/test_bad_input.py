"""Bad input everywhere a user can reach (issue #7, item 2).

Each case must end in a clear `edge.VitalsError` or a status, never an unhandled exception,
a hang, or a confident wrong number (a heart rate whose status is not ``ok``, or one from
a signal with no pulse in it). The broad random search is `test_fuzz.py`; these are the
targeted properties and the named cases of the issue.
"""

import os
import struct
import warnings

import cv2
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import make_face_clip
from videos import write_video

import edge
from edge.capture.video_file import VideoFileSource
from edge.cli import main as cli_main
from edge.errors import InputError, VitalsError
from edge.filters import bandpass
from edge.rates import heart_rate
from edge.rppg import METHODS, extract_pulse
from edge.validate import valid_frame, valid_signal
from firmware_sim.world import WorldConfig, make_clip

NO_JIT = os.environ.get("NUMBA_DISABLE_JIT") == "1"
PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FULL = edge.PipelineConfig().with_changes(roi={"mode": "full"})

# -- property tests on the public signal functions -----------------------------------------
DTYPES = st.sampled_from([np.float64, np.float32, np.float16, np.int64, np.int16, np.uint8,
                          np.bool_, np.complex128])
ELEMENTS = st.floats(allow_nan=True, allow_infinity=True, width=64)


def arrays(min_dims=0, max_dims=2, max_side=400):
    """Arrays of any of DTYPES and shape, with NaN, inf and huge values for floats."""
    def build(dtype):
        elements = ELEMENTS if np.issubdtype(dtype, np.floating) else None
        if dtype is np.float16 or dtype is np.float32:
            elements = st.floats(allow_nan=True, allow_infinity=True, width=16 if dtype is
                                 np.float16 else 32)
        return hnp.arrays(dtype, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims,
                                                  min_side=0, max_side=max_side),
                          elements=elements)
    return DTYPES.flatmap(build)


def _no_warnings(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow or a discarded imaginary part is a bug
        return fn(*args, **kwargs)


@PROPERTY
@given(arrays(), st.sampled_from([8.0, 30.0, 125.0]))
def test_analyze_pulse_on_any_array(x, fs):
    try:
        result = _no_warnings(edge.analyze_pulse, x, fs=fs)
    except InputError:
        return
    assert 0.0 <= result.quality <= 1.0
    if result.heart_rate_bpm is not None:
        assert 20.0 <= result.heart_rate_bpm <= 300.0


@PROPERTY
@given(arrays(), st.sampled_from([10.0, 30.0]))
def test_heart_rate_on_any_array(x, fs):
    try:
        peak = _no_warnings(heart_rate, x, fs=fs)
    except InputError:
        return
    if peak is not None:
        assert 42.0 <= peak.rate_per_min <= 210.0 and np.isfinite(peak.snr_db)


@PROPERTY
@given(arrays(min_dims=1, max_dims=3, max_side=120), st.sampled_from(sorted(METHODS)))
def test_extract_pulse_on_any_array(rgb, method):
    try:
        pulse = _no_warnings(extract_pulse, rgb, fs=30.0, method=method)
    except InputError:
        return
    assert pulse.shape == (rgb.shape[0],) and np.all(np.isfinite(pulse))


@PROPERTY
@given(arrays(max_side=300))
def test_bandpass_and_valid_signal_on_any_array(x):
    try:
        y = _no_warnings(bandpass, x, fs=30.0, low_hz=0.7, high_hz=3.5)
    except InputError:
        with pytest.raises(InputError):
            valid_signal(x)
        return
    assert y.shape == (x.size,) and np.all(np.isfinite(y))


@PROPERTY
@given(st.floats(-1e90, 1e90), st.integers(180, 2000))
def test_constant_signals_give_no_rate(value, n):
    x = np.full(n, value)
    assert heart_rate(x, fs=30.0) is None
    result = edge.analyze_pulse(x, fs=30.0)
    assert result.heart_rate_bpm is None and result.quality == 0.0


@PROPERTY
@given(hnp.arrays(st.sampled_from([np.uint8, np.float32, np.int16, np.bool_]),
                  hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=20)))
def test_valid_frame_accepts_only_uint8_rgb(frame):
    try:
        out = valid_frame(frame)
    except InputError as exc:
        assert "uint8 (H, W, 3)" in str(exc)
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.flags.c_contiguous and min(out.shape[:2]) >= 8


def test_signal_edge_cases_by_name():
    fs = 30.0
    t = np.arange(600) / fs
    with pytest.raises(InputError, match="real"):
        edge.analyze_pulse(np.sin(t) + 1j, fs=fs)
    with pytest.raises(InputError, match="within"):
        heart_rate(1e300 * np.sin(2 * np.pi * 1.2 * t), fs=fs)
    with pytest.raises(InputError, match="finite"):
        edge.analyze_pulse(np.r_[np.sin(t), np.nan], fs=fs)
    with pytest.raises(InputError, match="at least"):
        edge.analyze_pulse(np.zeros(0), fs=fs)
    with pytest.raises(InputError, match="1-D"):
        heart_rate(np.zeros((300, 3)), fs=fs)
    # a huge but representable pulse keeps its rate (the analysis is scale-free)
    big = edge.analyze_pulse(1e90 * np.sin(2 * np.pi * 1.2 * t), fs=fs)
    assert big.heart_rate_bpm == pytest.approx(72.0, abs=1.0)


# -- timestamps ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def face_frames():
    frames, t = make_face_clip(hr_bpm=75, seconds=24, size=(48, 64), pulse_amplitude=0.006,
                               seed=21)
    return frames, t


def _readings(pipe, frames, times):
    out = []
    for frame, t in zip(frames, times, strict=True):
        r = pipe.push(frame, t)
        if r is not None:
            out.append(r)
    return out


def _assert_honest(readings, hr_bpm=None, tol=3.0):
    """Every heart rate comes with status ok and a quality; if given, it is right."""
    for r in readings:
        if r.heart_rate_bpm is not None:
            assert r.status is edge.Status.OK and r.quality > 0
            if hr_bpm is not None:
                assert abs(r.heart_rate_bpm - hr_bpm) <= tol, r
        else:
            assert r.status is not edge.Status.OK or r.quality == 0


def test_repeated_and_backward_timestamps_are_input_errors(face_frames):
    frames, _ = face_frames
    with edge.Pipeline(FULL) as pipe:
        pipe.push(frames[0], 5.0)
        with pytest.raises(InputError, match="increase strictly"):
            pipe.push(frames[1], 5.0)
        with pytest.raises(InputError, match="increase strictly"):
            pipe.push(frames[1], 4.0)
        assert pipe.push(frames[1], 5.04) is None  # the pipeline goes on after the error


@pytest.mark.parametrize("t", [float("nan"), float("inf"), None, "soon", 1.7e18, -1e13])
def test_unusable_timestamps(face_frames, t):
    with edge.Pipeline(FULL) as pipe, pytest.raises(InputError, match="timestamp_s"):
        pipe.push(face_frames[0][0], t)


def test_nanosecond_clock_as_seconds_is_refused_not_hung(face_frames):
    # at 1e15 s a float64 step is 0.125 s; the resampler's grid could not advance (a hang)
    frames, _ = face_frames
    with edge.Pipeline(FULL) as pipe, pytest.raises(InputError, match="nanoseconds"):
        pipe.push(frames[0], 1e15)


def test_timestamps_jumping_by_hours_resync_and_recover(face_frames):
    frames, t = face_frames
    half = len(t) // 2
    times = np.r_[t[:half], t[half:] + 3 * 3600.0]  # the clock jumps three hours mid-clip
    with edge.Pipeline(FULL) as pipe:
        readings = _readings(pipe, frames, times)
    statuses = [r.status for r in readings]
    assert edge.Status.RESYNC in statuses
    after = [r for r in readings if r.timestamp_s > 3 * 3600.0]
    assert after[-1].status is edge.Status.OK  # the window refilled after the jump
    assert len(readings) <= 24 + 2  # no burst of readings for the empty hours
    _assert_honest(readings, hr_bpm=75.0)


# -- frames ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["face", "full"])
@pytest.mark.parametrize("level", [0, 255])
def test_black_and_saturated_frames_give_no_heart_rate(mode, level):
    frame = np.full((48, 64, 3), level, np.uint8)
    config = edge.PipelineConfig().with_changes(roi={"mode": mode})
    with edge.Pipeline(config) as pipe:
        readings = _readings(pipe, [frame] * 300, np.arange(300) / 30.0)
    assert readings and all(r.heart_rate_bpm is None for r in readings)
    assert {r.status for r in readings} <= {edge.Status.NO_FACE, edge.Status.WARMING_UP,
                                             edge.Status.LOW_QUALITY}


def test_flashes_of_black_and_saturated_frames_in_a_good_clip(face_frames):
    frames, t = face_frames
    frames = frames.copy()
    frames[200:215] = 0  # half a second of black
    frames[400:403] = 255  # a flash
    with edge.Pipeline(FULL) as pipe:
        readings = _readings(pipe, frames, t)
    _assert_honest(readings, hr_bpm=75.0)
    assert readings[-1].status is edge.Status.OK


@pytest.fixture(scope="module")
def world_clip():
    world = WorldConfig(width=128, height=96, duration_s=24.0, heart_rate_bpm=80.0,
                        pulse_amplitude=0.01, seed=5)
    clip = make_clip(world)
    frames = np.stack([f for f, _ in clip.frames()])
    return frames, clip.truth


def test_face_that_appears_and_disappears(world_clip):
    frames, truth = world_clip
    frames = frames.copy()
    wall = np.full_like(frames[0], 90)
    gone = (truth.timestamp_s >= 9.0) & (truth.timestamp_s < 11.0)
    frames[gone] = wall  # the person leaves the picture for 2 s
    frames[truth.timestamp_s < 1.0] = wall  # and arrives after a second
    config = edge.PipelineConfig()
    with edge.Pipeline(config) as pipe:
        readings = _readings(pipe, frames, truth.timestamp_s)
    by_time = {round(r.timestamp_s): r for r in readings}
    assert by_time[10].status is edge.Status.NO_FACE and by_time[10].heart_rate_bpm is None
    assert readings[-1].status is edge.Status.OK
    _assert_honest(readings, hr_bpm=truth.mean_heart_rate_bpm(0, 24), tol=4.0)


@pytest.mark.parametrize("mode", ["face", "full"])
def test_frame_size_changing_mid_stream(world_clip, mode):
    # the box of the last large frame must not be read on a smaller one (the numba kernel
    # does not bounds-check: this was an out-of-bounds read)
    frames, truth = world_clip
    small = np.full((12, 16, 3), 120, np.uint8)
    config = edge.PipelineConfig().with_changes(roi={"mode": mode})
    with edge.Pipeline(config) as pipe:
        readings = _readings(pipe, [*frames[:60], *[small] * 60], truth.timestamp_s[:120])
    assert all(r.heart_rate_bpm is None for r in readings)


def test_4k_frames_without_a_face():
    frame = np.random.default_rng(1).integers(0, 256, (2160, 3840, 3), dtype=np.uint8)
    with edge.Pipeline() as pipe:
        readings = _readings(pipe, [frame] * 3, [0.0, 0.6, 1.2])
    assert all(r.status is edge.Status.NO_FACE for r in readings)


@pytest.mark.skipif(NO_JIT, reason="scanning a 4K face in pure Python takes minutes")
def test_4k_frames_with_a_face(world_clip):
    frames, truth = world_clip
    big = [cv2.resize(f, (3840, 2160), interpolation=cv2.INTER_NEAREST) for f in frames[:45]]
    with edge.Pipeline() as pipe:
        readings = _readings(pipe, big, truth.timestamp_s[:45])
    assert readings and readings[-1].face_box is not None
    assert readings[-1].face_box.width > 500  # found in full-resolution coordinates


@pytest.mark.parametrize(
    "frame",
    [np.zeros((32, 32)), np.zeros((32, 32, 4), np.uint8), np.zeros((4, 4, 3), np.uint8),
     np.zeros((32, 32, 3), np.float32), None, [[0, 0, 0]]],
    ids=["2d", "rgba", "tiny", "float", "none", "list"],
)
def test_wrong_frames_are_input_errors(frame):
    with edge.Pipeline(FULL) as pipe, pytest.raises(InputError, match="uint8"):
        pipe.push(frame, 0.0)


def test_strided_views_are_accepted():
    frame = np.full((64, 64, 3), 100, np.uint8)
    with edge.Pipeline(FULL) as pipe:
        pipe.push(frame[::2, ::2], 0.0)
        pipe.push(frame[..., ::-1], 0.04)
        pipe.push(np.asfortranarray(frame), 0.08)


# -- files -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def avi(tmp_path_factory):
    frames, _ = make_face_clip(hr_bpm=72, seconds=14, size=(48, 64), seed=3)
    return write_video(tmp_path_factory.mktemp("avi") / "face.avi", frames)


def _with_rate(src, dst, rate, scale=1, usec=None):
    """A copy of an AVI whose headers claim ``rate / scale`` frames/s."""
    data = bytearray(src.read_bytes())
    strh, avih = data.find(b"strh"), data.find(b"avih")
    struct.pack_into("<II", data, strh + 28, scale, rate)
    struct.pack_into("<I", data, avih + 8, round(1e6 * scale / rate) if usec is None else usec)
    dst.write_bytes(bytes(data))
    return dst


def test_container_without_a_frame_rate(avi, tmp_path):
    # FFmpeg would silently assume 25 frames/s: 72 bpm would come out as 60, "ok"
    lying = _with_rate(avi, tmp_path / "norate.avi", rate=0, usec=0)
    with pytest.raises(InputError, match=r"does not state its frame rate.*--fps"):
        VideoFileSource(lying)
    track = edge.process_video(lying, config=FULL, fps=30.0)
    hr = track.heart_rate_bpm[np.isfinite(track.heart_rate_bpm)]
    assert hr.size and np.all(np.abs(hr - 72) <= 2)


def test_container_with_an_absurd_frame_rate(avi, tmp_path):
    with pytest.raises(InputError, match="5000 frames/s; pass the real rate with --fps"):
        VideoFileSource(_with_rate(avi, tmp_path / "fast.avi", rate=5000))


def test_container_frame_rate_ten_times_too_high_gives_no_number(tmp_path):
    # the pulse appears at 10x its rate, above the band: withheld rather than wrong
    frames, _ = make_face_clip(hr_bpm=72, seconds=120, size=(16, 16), seed=4, noise_dn=0.5)
    path = write_video(tmp_path / "long.avi", frames)
    track = edge.process_video(_with_rate(path, tmp_path / "x10.avi", rate=300), config=FULL)
    assert len(track) >= 8 and not np.isfinite(track.heart_rate_bpm).any()


def _corrupt(src, dst):
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(0)
    for start in rng.integers(len(data) // 4, len(data), 20):
        data[start : start + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "header_only", "zero", "noise"])
def test_damaged_files_through_the_cli(avi, tmp_path, damage, capsys):
    path = tmp_path / f"{damage}.avi"
    data = avi.read_bytes()
    if damage == "corrupt":
        _corrupt(avi, path)
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 3])
    elif damage == "header_only":
        path.write_bytes(data[:600])
    elif damage == "zero":
        path.write_bytes(b"")
    else:
        path.write_bytes(np.random.default_rng(2).bytes(50_000))
    code = cli_main(["run", str(path), "--roi", "full", "--json"])  # raises on a bug
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert err.strip().splitlines()[-1].startswith("edge-vitals: error:")


def test_damaged_file_in_python(avi, tmp_path):
    try:
        track = edge.process_video(_corrupt(avi, tmp_path / "c.avi"), config=FULL)
    except VitalsError:
        return
    ok = track.status == "ok"
    assert np.all(np.isfinite(track.heart_rate_bpm[ok]))
    assert not np.isfinite(track.heart_rate_bpm[~ok]).any()


@pytest.mark.slow
def test_no_ok_reading_far_from_the_truth_on_a_small_simulator_clip():
    from firmware_sim.datasets import subject_worlds

    world = subject_worlds(4, seconds=30, width=320, height=240)[1]
    clip = make_clip(world)
    with edge.Pipeline() as pipe:
        for frame, t in clip.frames():
            r = pipe.push(frame, t)
            if r is not None and r.heart_rate_bpm is not None:
                truth = clip.truth.mean_heart_rate_bpm(max(0.0, t - 10.0), t)
                assert abs(r.heart_rate_bpm - truth) <= 5.0, (t, r.heart_rate_bpm, truth)
