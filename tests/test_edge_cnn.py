"""`--method cnn`: the input normalisation, the streaming overlap-add and the pipeline."""

import numpy as np
import pytest

import edge
from edge.backends import ModelInfo
from edge.cnn import CnnPulseStream, default_model_path, normalise_window
from edge.errors import ConfigError
from edge.rppg import PulseStream


class EchoBackend:
    """A stand-in model: the pulse is the window's green channel, the quality 0.5."""

    def __init__(self, *, window=16, hop=4, fs=30.0, kind="temporal"):
        self.info = ModelInfo(name="echo", kind=kind, inputs={"rgb": [1, 3, window]},
                              outputs={"pulse": [1, window], "quality": [1, 1]}, fs_hz=fs,
                              window=window, hop=hop)
        self.inputs = {"rgb": np.zeros((1, 3, window), np.float32)}
        self.runs = 0

    def run(self):
        self.runs += 1
        return self.inputs["rgb"][:, 1, :].copy(), np.full((1, 1), 0.5, np.float32)


def test_normalise_window_removes_level_and_scale(rng):
    rgb = np.array([150.0, 100.0, 80.0]) * (1 + 0.01 * rng.standard_normal((64, 3)))
    a = np.empty((1, 3, 64), np.float32)
    b = np.empty_like(a)
    normalise_window(rgb, a)
    normalise_window(3.0 * rgb, b)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a[0].mean(axis=1), 0.0, atol=1e-5)
    assert a.std() == pytest.approx(1.0, rel=1e-5)


def test_normalise_window_survives_a_constant_window():
    out = np.ones((1, 3, 8), np.float32)
    normalise_window(np.full((8, 3), 100.0), out)
    assert np.all(out == 0.0)


def test_stream_bookkeeping_matches_pulse_stream(rng):
    backend = EchoBackend()
    stream = CnnPulseStream(backend, fs=30.0, keep_s=1.0)
    reference = PulseStream("pos", fs=30.0, window_s=16 / 30, keep_s=1.0)
    assert stream.keep == reference.keep == 32
    rgb = 100.0 + rng.random((200, 3))
    for sample in rgb:
        stream.push(sample)
        assert stream.count <= 2 * stream.keep  # compacts like PulseStream
    # one run per hop once a window is full; the newest window - hop samples are still open
    assert backend.runs == (200 - 16) // 4 + 1
    assert stream.count - stream.final_count == 16 - 4
    assert stream.dropped + stream.count == 200
    np.testing.assert_array_equal(stream.recent_rgb(5), rgb[-5:])
    assert stream.final_pulse(10).shape == (10,)
    assert stream.quality == 0.5
    stream.reset()
    assert stream.count == stream.final_count == stream.dropped == 0


def test_stream_pulse_follows_the_echoed_signal():
    fs, n = 30.0, 600
    t = np.arange(n) / fs
    pulse = np.sin(2 * np.pi * 1.3 * t)
    rgb = 100.0 * (1 + 0.003 * np.outer(pulse, [0.5, 1.0, 0.7]))
    stream = CnnPulseStream(EchoBackend(window=32, hop=8), fs=fs, keep_s=30.0)
    for sample in rgb:
        stream.push(sample)
    out = stream.final_pulse(400)
    assert np.corrcoef(out, pulse[stream.final_count - 400 : stream.final_count])[0, 1] > 0.99


def pos_overlap_add(rgb, window, hop):
    """Numpy reference: POS (paper formula) per window, unit spread (not scaled by the
    net's quality), Hann-tapered, summed."""
    taper = np.hanning(window + 2)[1:-1]
    out = np.zeros(len(rgb))
    for start in range(0, len(rgb) - window + 1, hop):
        cn = rgb[start : start + window] / rgb[start : start + window].mean(axis=0) - 1
        s = cn @ np.array([[0, 1, -1], [-2, 1, 1]]).T
        h = s[:, 0] + s[:, 0].std() / s[:, 1].std() * s[:, 1]
        h -= h.mean()
        out[start : start + window] += taper * h / h.std()
    return out


def streamed(rgb, *, blend_hps, head_speed_hps, window=32, hop=8):
    stream = CnnPulseStream(EchoBackend(window=window, hop=hop), fs=30.0, keep_s=30.0,
                            blend_hps=blend_hps)
    for sample in rgb:
        stream.head_speed_hps = head_speed_hps
        stream.push(sample)
    return stream, stream.final_pulse(stream.final_count)


@pytest.mark.parametrize("speed, pos_share", [(0.0, 0.0), (0.01, 0.0), (0.0125, 0.25),
                                             (0.02, 1.0), (0.5, 1.0)])
def test_stream_blends_towards_pos_with_head_speed(rng, speed, pos_share):
    rgb = np.array([150.0, 100.0, 80.0]) * (1 + 0.01 * rng.standard_normal((200, 3)))
    net_only = streamed(rgb, blend_hps=None, head_speed_hps=speed)[1]
    stream, out = streamed(rgb, blend_hps=(0.01, 0.02), head_speed_hps=speed)
    pos = pos_overlap_add(rgb, 32, 8)[: len(out)]
    assert stream.pos_weight == pytest.approx(pos_share)
    np.testing.assert_allclose(out, (1 - pos_share) * net_only + pos_share * pos, atol=1e-9)
    if pos_share == 1.0:  # and the net's pulse really is another signal
        assert np.corrcoef(out, net_only)[0, 1] < 0.9


def test_stream_refuses_a_frame_model_or_another_rate():
    with pytest.raises(ConfigError, match="temporal model"):
        CnnPulseStream(EchoBackend(kind="frame"), fs=30.0)
    with pytest.raises(ConfigError, match="sample_rate_hz must be 30"):
        CnnPulseStream(EchoBackend(), fs=25.0)


def test_model_path_must_name_a_model_file():
    with pytest.raises(ConfigError, match="model_path"):
        edge.RppgConfig(method="cnn", model_path="weights.pt")


@pytest.mark.parametrize("blend", [(0.03, 0.01), (-0.1, 0.1), (0.01,), "fast", (0.0, 1e9)])
def test_pos_blend_speeds_must_be_an_ordered_pair(blend):
    with pytest.raises(ConfigError, match="cnn_pos_blend_hps"):
        edge.RppgConfig(method="cnn", cnn_pos_blend_hps=blend)


def test_pos_blend_speeds_read_from_a_dict_and_may_be_off():
    config = edge.PipelineConfig.from_dict({"rppg": {"cnn_pos_blend_hps": [0.02, 0.04]}})
    assert config.rppg.cnn_pos_blend_hps == (0.02, 0.04)
    assert edge.RppgConfig(cnn_pos_blend_hps=None).cnn_pos_blend_hps is None


def heart_rates(config, *, hr_bpm=78.0, seed=4):
    from firmware_sim.world import WorldConfig, make_clip

    clip = make_clip(WorldConfig(width=160, height=120, duration_s=18.0, heart_rate_bpm=hr_bpm,
                                 seed=seed))
    out = []
    with edge.Pipeline(config) as pipe:
        for frame, t in clip.frames():
            reading = pipe.push(frame, t)
            if reading is not None and reading.heart_rate_bpm is not None:
                out.append(reading.heart_rate_bpm - clip.truth.mean_heart_rate_bpm(t - 10, t))
    return np.array(out)


@pytest.mark.parametrize("model", [None, "temporal_pulse.tflite", "temporal_pulse_int8.onnx"])
def test_pipeline_with_the_shipped_models_finds_the_heart_rate(model):
    if model is not None and model.endswith(".tflite"):
        pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed")
    path = None if model is None else str(default_model_path(model))
    config = edge.PipelineConfig().with_changes(rppg={"method": "cnn", "model_path": path})
    errors = heart_rates(config)
    assert errors.size >= 4
    assert np.mean(np.abs(errors)) <= 2.0


@pytest.mark.parametrize("motion, pos_share", [("still", 0.0), ("strong", 1.0)])
def test_pipeline_hands_the_pulse_to_pos_under_head_motion(motion, pos_share):
    from firmware_sim.world import WorldConfig, make_clip

    clip = make_clip(WorldConfig(width=320, height=240, duration_s=6.0, motion=motion,
                                 seed=12))
    config = edge.PipelineConfig().with_changes(rppg={"method": "cnn"},
                                                vitals={"breathing": False})
    shares = []
    with edge.Pipeline(config) as pipe:
        for frame, t in clip.frames():
            pipe.push(frame, t)
            if t > 3.0:
                shares.append(pipe.stream.pos_weight)
    assert np.mean(shares) == pytest.approx(pos_share, abs=0.1)


def test_shipped_model_reads_a_slow_pulse_at_its_fundamental():
    # The first temporal net read 45 bpm as 90 (its band-pass favoured the 2nd harmonic).
    from firmware_sim.world import WorldConfig, make_clip

    clip = make_clip(WorldConfig(width=320, height=240, duration_s=24.0, heart_rate_bpm=48.0,
                                 seed=11))
    errors = []
    with edge.Pipeline(edge.PipelineConfig().with_changes(rppg={"method": "cnn"})) as pipe:
        for frame, t in clip.frames():
            reading = pipe.push(frame, t)
            if reading is not None and reading.heart_rate_bpm is not None:
                errors.append(reading.heart_rate_bpm - clip.truth.mean_heart_rate_bpm(t - 10, t))
    assert len(errors) >= 4
    assert np.max(np.abs(errors)) <= 3.0


def test_method_cnn_never_imports_torch_or_the_export_package():
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import sys
        import numpy as np
        import edge
        cfg = edge.PipelineConfig().with_changes(roi={"mode": "full"}, rppg={"method": "cnn"})
        edge.process_video(np.full((40, 32, 32, 3), 100, np.uint8), config=cfg, fps=30)
        print("torch" in sys.modules, "export" in sys.modules, "firmware_sim" in sys.modules)
    """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert res.stdout.split() == ["False", "False", "False"]
