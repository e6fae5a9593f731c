"""Exported ONNX / TFLite files against torch, through the runtime's own backends.

Seeded random-weight models are exported fresh into a temporary folder; fp32 files must
match torch to a relative error of 1e-4 (max abs error / max |output|) on fresh inputs.
int8 quality is judged on the trained models (validation set: the export report and
`test_edge_backends.py`), since random weights make int8 comparisons meaningless.
"""

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge.backends import ModelInfo, load_backend  # noqa: E402
from export import formats, verify  # noqa: E402
from export.models import MODELS, build, cost  # noqa: E402

pytestmark = pytest.mark.export


def fresh(name):
    torch.manual_seed(3)
    model = build(name).eval()
    spec = MODELS[name]
    params, macs = cost(model, spec.inputs)
    temporal = spec.kind == "temporal"
    window = spec.inputs["rgb"][2] if temporal else 1
    outputs = ({"pulse": [1, window], "quality": [1, 1]} if temporal else {"pulse_diff": [1, 1]})
    info = ModelInfo(name=name, kind=spec.kind,
                     inputs={k: list(v) for k, v in spec.inputs.items()}, outputs=outputs,
                     fs_hz=30.0, window=window, hop=8 if temporal else 1,
                     params=params, macs=macs, version="test")
    return model, info


@pytest.mark.parametrize("name", list(MODELS))
def test_onnx_matches_torch_and_keeps_its_metadata(name, tmp_path):
    model, info = fresh(name)
    path = formats.write_onnx(model, info, tmp_path / f"{name}.onnx")
    backend = load_backend(path)
    assert backend.info == info
    errors = verify.parity(verify.TorchBackend(model, info), {"onnx": backend}, n_samples=20)
    assert errors["onnx"]["max_rel"] <= 1e-4


@pytest.mark.parametrize("name", list(MODELS))
def test_tflite_matches_torch_and_names_its_tensors(name, tmp_path):
    pytest.importorskip("litert_torch")
    model, info = fresh(name)
    path = formats.write_tflite(model, info, tmp_path / f"{name}.tflite")
    backend = load_backend(path)
    assert dataclasses.replace(backend.info, tensor_names={}) == info
    assert set(backend.info.tensor_names) == set(info.inputs) | set(info.outputs)
    errors = verify.parity(verify.TorchBackend(model, info), {"tflite": backend}, n_samples=20)
    assert errors["tflite"]["max_rel"] <= 1e-4


def test_int8_onnx_loads_with_int8_metadata(tmp_path):
    model, info = fresh("temporal_pulse")
    fp32 = formats.write_onnx(model, info, tmp_path / "t.onnx")
    rng = np.random.default_rng(1)
    calib = [{"rgb": rng.standard_normal(info.inputs["rgb"]).astype(np.float32)} for _ in range(20)]
    backend = load_backend(formats.write_onnx_int8(fp32, info, tmp_path / "t_int8.onnx", calib))
    assert backend.info.precision == "int8"
    backend.inputs["rgb"][:] = calib[0]["rgb"]
    assert all(np.all(np.isfinite(o)) for o in backend.run())


@pytest.mark.parametrize("suffix", [".onnx", ".tflite"])
def test_int8_keeps_the_temporal_projection_float(suffix, tmp_path):
    # POS's moving powers are often within one int8 step of zero: quantised, their ratio
    # divides by zero (LiteRT's int8 DIV refuses to run, ORT gives inf); an all-zero
    # window (the runtime's warm-up) is the extreme case
    model, info = fresh("temporal_pulse")
    keep = MODELS["temporal_pulse"].float_modules
    assert keep == ("projection",)
    rng = np.random.default_rng(1)
    calib = [{"rgb": rng.standard_normal(info.inputs["rgb"]).astype(np.float32)} for _ in range(20)]
    if suffix == ".onnx":
        import onnx

        fp32 = formats.write_onnx(model, info, tmp_path / "t.onnx")
        path = formats.write_onnx_int8(fp32, info, tmp_path / "t_int8.onnx", calib,
                                       float_modules=keep)
        graph = onnx.load(str(path)).graph
        producer = {out: node.op_type for node in graph.node for out in node.output}
        div = next(node for node in graph.node if node.op_type == "Div")
        assert div.name.startswith("projection/")
        assert all(producer[i] != "DequantizeLinear" for i in div.input)
    else:
        pytest.importorskip("ai_edge_quantizer")
        from ai_edge_litert.interpreter import Interpreter

        fp32 = formats.write_tflite(model, info, tmp_path / "t.tflite")
        path = formats.write_tflite_int8(fp32, info, tmp_path / "t_int8.tflite", calib,
                                         float_modules=keep)
        interp = Interpreter(model_path=str(path))
        dtypes = {d["index"]: d["dtype"] for d in interp.get_tensor_details()}
        divs = [op for op in interp._get_ops_details() if op["op_name"] == "DIV"]
        assert len(divs) == 1 and dtypes[divs[0]["outputs"][0]] == np.float32
    backend = load_backend(path)
    assert backend.info.precision == "int8"
    for window in (calib[0]["rgb"], np.zeros(info.inputs["rgb"], np.float32)):
        backend.inputs["rgb"][:] = window
        assert all(np.all(np.isfinite(o)) for o in backend.run())


def test_training_is_seeded(tmp_path):
    from export.train import TrainConfig, load_weights, train

    rng = np.random.default_rng(0)
    n = 400
    t = np.arange(n) / 30.0
    pulse = np.sin(2 * np.pi * 1.2 * t)
    rgb = 120.0 * (1 + 0.003 * np.outer(pulse, [0.4, 1.0, 0.7])) + rng.normal(0, 0.1, (n, 3))
    arrays = {"offsets": np.array([0, n]), "rgb": rgb, "pulse": pulse,
              "heart_rate_bpm": np.full(n, 72.0), "timestamp_s": t}
    for split in ("train", "val"):
        np.savez(tmp_path / f"traces_{split}.npz", **arrays)
    cfg = TrainConfig(steps=5, batch=8)
    w1, _ = load_weights(train(cfg, tmp_path, tmp_path / "a"))
    w2, _ = load_weights(train(cfg, tmp_path, tmp_path / "b"))
    for a, b in zip(w1.state_dict().values(), w2.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)


def test_int8_tflite_ranges_are_the_min_and_max_over_calibration_samples(tmp_path):
    # ai-edge-quantizer's own calibrate() averages each sample's min and max; for a
    # one-value output that collapses the range to about the last value
    pytest.importorskip("ai_edge_quantizer")
    from ai_edge_quantizer import quantizer, recipe

    model, info = fresh("frame_pulse")
    fp32 = formats.write_tflite(model, info, tmp_path / "f.tflite")
    rng = np.random.default_rng(4)
    calib = [{name: rng.standard_normal(shape).astype(np.float32)
              for name, shape in MODELS["frame_pulse"].inputs.items()} for _ in range(30)]
    with torch.no_grad():
        outs = np.array([float(model(*(torch.from_numpy(s[n]) for n in info.inputs)))
                         for s in calib])
    motion = np.concatenate([s["motion"] for s in calib])
    qt = quantizer.Quantizer(str(fp32))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    ranges = formats._min_max_ranges(qt, calib)
    names = load_backend(fp32).info.tensor_names
    out, inp = ranges[names["pulse_diff"]], ranges[names["motion"]]
    tol = 1e-6 * np.abs(outs).max()
    assert abs(float(np.min(out["min"])) - outs.min()) <= tol
    assert abs(float(np.max(out["max"])) - outs.max()) <= tol
    assert float(np.min(inp["min"])) == motion.min() and float(np.max(inp["max"])) == motion.max()
    path = formats.write_tflite_int8(fp32, info, tmp_path / "f_int8.tflite", calib)
    assert load_backend(path).info.precision == "int8"

