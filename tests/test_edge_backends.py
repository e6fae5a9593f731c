"""The shipped CNN files through ONNX Runtime and LiteRT, without torch.

The two runtimes are independent implementations, so fp32 agreement between them (and
with the torch numbers recorded at export time) is the parity check that needs no torch;
`test_export_parity.py` (marker ``export``) compares against torch itself.
"""

import json
import sys

import numpy as np
import pytest

from edge.backends import (
    ModelInfo,
    embedded_tflite_metadata,
    load_backend,
    sidecar_path,
    with_tflite_metadata,
)
from edge.cnn import CnnPulseStream, default_model_path
from edge.errors import BackendError, InputError

MODELS = ("temporal_pulse", "frame_pulse")
VARIANTS = ("", "_int8")


def model_file(name, variant, suffix):
    return default_model_path(f"{name}{variant}{suffix}")


def needs_litert():
    return pytest.importorskip("ai_edge_litert", reason="ai-edge-litert not installed")


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_shipped_model_is_small_and_carries_its_metadata(name, variant, suffix):
    if suffix == ".tflite":
        needs_litert()
    path = model_file(name, variant, suffix)
    assert path.stat().st_size <= 200 * 1024
    backend = load_backend(path, threads=1)
    info = backend.info
    if suffix == ".tflite":  # inside the file, and the same in the sidecar for tflite_runtime
        assert json.loads(embedded_tflite_metadata(path)) == json.loads(
            sidecar_path(path).read_text())
    assert info.name == name
    assert info.precision == ("int8" if variant else "fp32")
    assert info.fs_hz == 30.0 and info.params > 0 and info.macs > 0
    assert set(backend.inputs) == set(info.inputs)
    for buf, shape in zip(backend.inputs.values(), info.inputs.values(), strict=True):
        assert buf.shape == tuple(shape) and buf.dtype == np.float32
    outs = backend.run()
    assert [o.shape for o in outs] == [tuple(s) for s in info.outputs.values()]
    assert all(np.all(np.isfinite(o)) for o in outs)


@pytest.mark.parametrize("name", MODELS)
def test_onnx_runtime_and_litert_agree_on_fp32(name, rng):
    needs_litert()
    ort = load_backend(model_file(name, "", ".onnx"))
    lite = load_backend(model_file(name, "", ".tflite"))
    assert ort.info.version == lite.info.version
    for _ in range(20):
        for key, buf in ort.inputs.items():
            buf[:] = rng.standard_normal(buf.shape)
            lite.inputs[key][:] = buf
        for a, b in zip(ort.run(), lite.run(), strict=True):
            assert np.max(np.abs(a - b)) <= 1e-4 * max(1.0, np.max(np.abs(a)))


def realistic_trace(rng, *, hr_bpm=75.0, seconds=20.0, fs=30.0):
    """ROI means as the simulator gives them: pulse 0.3 %, breathing, drift, noise."""
    t = np.arange(round(seconds * fs)) / fs
    pulse = np.sin(2 * np.pi * hr_bpm / 60 * t) + 0.3 * np.sin(4 * np.pi * hr_bpm / 60 * t + 1)
    level = 1 + 0.002 * np.sin(2 * np.pi * 0.25 * t) + 0.003 * t / seconds
    rgb = np.array([180.0, 120.0, 90.0]) * level[:, None]
    rgb *= 1 + 0.0015 * np.outer(pulse, [0.43, 1.0, 0.69])
    return rgb + rng.normal(0, 0.15, rgb.shape)


# On the validation set (the acceptance figure, in the shipped report) both int8 files keep
# a mean pulse correlation >= 0.95 with fp32; on this one synthetic trace ai-edge-quantizer's
# int8 (per-tensor activations, int8 I/O) scores about 0.94, ORT's QDQ per-channel 0.99+.
@pytest.mark.parametrize(("suffix", "min_r"), [(".onnx", 0.98), (".tflite", 0.9)])
def test_int8_pulse_follows_fp32(suffix, min_r, rng):
    if suffix == ".tflite":
        needs_litert()
    rgb = realistic_trace(rng)
    pulses = []
    for variant in VARIANTS:
        stream = CnnPulseStream(load_backend(model_file("temporal_pulse", variant, suffix)),
                                fs=30.0)
        for sample in rgb:
            stream.push(sample)
        pulses.append(stream.final_pulse(stream.final_count))
    assert np.corrcoef(*pulses)[0, 1] >= min_r


def test_shipped_reports_hold_the_acceptance_figures():
    report = json.loads(default_model_path("temporal_pulse.report.json").read_text())
    for parity in report["parity_fp32_vs_torch"].values():
        assert parity["max_rel"] <= 1e-4
    val = report["validation"]
    for key in ("onnx_int8_vs_onnx_fp32", "tflite_int8_vs_tflite_fp32"):
        assert val[key]["pulse_r_mean"] >= 0.95
        assert val[key]["hr_diff_mae_bpm"] <= 1.0


def test_shipped_frame_report_holds_the_int8_figures():
    """The frame net's int8 files against torch fp32 on the validation crops (per frame and
    integrated pulse); its HR difference rests on the few clips above the SNR gate."""
    report = json.loads(default_model_path("frame_pulse.report.json").read_text())
    for parity in report["parity_fp32_vs_torch"].values():
        assert parity["max_rel"] <= 1e-4
    frame = report["validation"]["frame"]
    for key in ("onnx_int8", "tflite_int8"):
        assert frame[key]["r_vs_torch"] >= 0.95
        assert frame[key]["pulse_r_vs_torch"] >= 0.95
        assert frame[key]["clips_compared_vs_torch"] >= 3
        assert frame[key]["hr_diff_mae_bpm_vs_torch"] <= 1.0


def test_model_info_round_trips_through_json():
    info = ModelInfo(name="m", kind="temporal", inputs={"rgb": [1, 3, 8]},
                     outputs={"pulse": [1, 8], "quality": [1, 1]}, fs_hz=30.0, window=8, hop=2,
                     validation={"r": 0.5}, tensor_names={"rgb": "serving_default_rgb"})
    assert ModelInfo.from_json(info.to_json()) == info


@pytest.mark.parametrize(("text", "match"), [
    ("not json", "not valid JSON"),
    ('{"schema": 99}', "schema must be 1"),
    ('{"schema": 1, "name": "m"}', "do not match ModelInfo"),
])
def test_bad_metadata_is_a_backend_error(text, match):
    with pytest.raises(BackendError, match=match):
        ModelInfo.from_json(text)


def test_missing_or_unknown_model_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_backend(tmp_path / "absent.onnx")
    with pytest.raises(InputError, match=r"\.onnx or \.tflite"):
        load_backend(tmp_path / "model.pt")
    with pytest.raises(InputError, match="threads"):
        load_backend(model_file("temporal_pulse", "", ".onnx"), threads=0)


def _metadata(path):
    """The shipped file's ModelInfo JSON (inside it, else beside it) as a dict."""
    return json.loads(embedded_tflite_metadata(path) or sidecar_path(path).read_text())


def test_tflite_without_metadata_or_with_wrong_shapes_is_refused(tmp_path):
    needs_litert()
    src = model_file("temporal_pulse", "", ".tflite")
    dst = tmp_path / src.name
    dst.write_bytes(with_tflite_metadata(src.read_bytes(), None))
    with pytest.raises(BackendError, match="no edge-vitals metadata inside it"):
        load_backend(dst)
    meta = _metadata(src)
    meta["inputs"]["rgb"] = [1, 3, 64]
    sidecar_path(dst).write_text(json.dumps(meta))  # the older layout: beside the file
    with pytest.raises(BackendError, match="do not match its metadata"):
        load_backend(dst)


def test_tflite_metadata_inside_the_file_round_trips_and_wins_over_a_sidecar(tmp_path):
    needs_litert()
    src = model_file("temporal_pulse", "_int8", ".tflite")
    meta = _metadata(src)
    dst = tmp_path / src.name
    dst.write_bytes(with_tflite_metadata(src.read_bytes(), json.dumps(meta)))
    assert json.loads(embedded_tflite_metadata(dst)) == meta
    sidecar_path(dst).write_text(json.dumps({**meta, "inputs": {"rgb": [1, 3, 64]}}))
    backend = load_backend(dst)
    assert backend.info.inputs == meta["inputs"] != {"rgb": [1, 3, 64]}  # the sidecar is ignored
    reference = load_backend(src)
    x = np.random.default_rng(5).normal(size=meta["inputs"]["rgb"]).astype(np.float32)
    backend.inputs["rgb"][:] = x
    reference.inputs["rgb"][:] = x
    for a, b in zip(backend.run(), reference.run(), strict=True):
        assert np.array_equal(a, b)  # the rewritten flatbuffer is the same model


def test_tflite_without_a_runtime_names_the_extra(monkeypatch):
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime",
                "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(BackendError, match=r"edge-vitals\[tflite\]"):
        load_backend(model_file("temporal_pulse", "", ".tflite"))
