"""Writers for the export formats, each with the `edge.backends.ModelInfo` metadata.

| format | fp32 | int8 | metadata |
|---|---|---|---|
| ``onnx`` | ``torch.onnx.export(dynamo=True, external_data=False)``, opset 18 | ORT ``quantize_static``, QDQ, per-channel s8/s8 | ``metadata_props["edge_vitals"]`` |
| ``tflite`` | ``litert_torch.convert`` (no TensorFlow) | ai-edge-quantizer ``static_wi8_ai8``, min-max ranges | the flatbuffer's ``metadata["edge_vitals"]``, and a sidecar ``<file>.json`` for ``tflite_runtime`` |

Calibration data for
int8 comes from the training set (never the validation set the parity report uses). The
int8 writers can keep named submodules of the net in float (``float_modules``,
`export.models.ModelSpec`): ONNX nodes are named after their module
(``projection.trend/conv1d_18``), litert-torch names TFLite tensors ``..._<module>;<n>``.
"""  # noqa: E501

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from edge.backends import METADATA_KEY, ModelInfo, sidecar_path, with_tflite_metadata

__all__ = ["FORMATS", "set_onnx_metadata", "write_onnx", "write_onnx_int8", "write_tflite",
           "write_tflite_int8", "write_tflite_metadata"]

FORMATS = {"onnx": ".onnx", "tflite": ".tflite"}
"""Format name -> file suffix."""
OPSET = 18


def set_onnx_metadata(path: Path, info: ModelInfo) -> None:
    """Write `info` into the .onnx file's metadata (replacing any), and drop the exporter's
    per-node stack traces.
    """
    import onnx

    model = onnx.load(str(path))
    names = {node.name for node in model.graph.node}
    for node in model.graph.node:  # the exporter's per-node stack traces: half the file
        scopes = {p.key: p.value for p in node.metadata_props}.get("pkg.torch.onnx.name_scopes")
        if scopes:  # ['', 'projection', 'projection.trend', 'conv1d_18'] -> projection.trend/...
            name = "/".join(ast.literal_eval(scopes)[-2:]).lstrip("/")
            if name not in names:
                names.add(name)
                node.name = name
        del node.metadata_props[:]
    for value in model.graph.value_info:
        del value.metadata_props[:]
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, info.to_json()
    model.doc_string = f"edge-vitals {info.name} {info.precision}: {info.output_meaning}"
    onnx.save(model, str(path))


def write_onnx(model: torch.nn.Module, info: ModelInfo, path: Path) -> Path:
    """fp32 ONNX with static batch-1 shapes and the metadata inside."""
    args = tuple(torch.zeros(shape) for shape in info.inputs.values())
    torch.onnx.export(model.eval(), args, str(path), dynamo=True, external_data=False,
                      input_names=list(info.inputs), output_names=list(info.outputs),
                      opset_version=OPSET, verbose=False)
    set_onnx_metadata(path, info)
    return path


class _CalibrationReader:
    """`onnxruntime.quantization.CalibrationDataReader` over a list of input dicts."""

    def __init__(self, samples: list[dict[str, np.ndarray]]):
        self._it: Iterator[dict[str, np.ndarray]] = iter(samples)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def write_onnx_int8(fp32_path: Path, info: ModelInfo, path: Path,
                    calibration: list[dict[str, np.ndarray]], *,
                    float_modules: tuple[str, ...] = ()) -> Path:
    """int8 ONNX (QDQ, per-channel, signed weights and activations) from the fp32 file.

    The nodes of `float_modules` and of their submodules stay float.
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    reader = type("Reader", (_CalibrationReader, CalibrationDataReader), {})(calibration)
    excluded = [node.name for node in onnx.load(str(fp32_path)).graph.node
                if any(f"{node.name.rpartition('/')[0]}.".startswith(f"{m}.")
                       for m in float_modules)]
    quantize_static(str(fp32_path), str(path), reader, quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8,
                    weight_type=QuantType.QInt8, nodes_to_exclude=excluded)
    set_onnx_metadata(path, dataclasses.replace(info, precision="int8"))
    return path


def _tensor_names(path: Path, info: ModelInfo) -> dict[str, str]:
    """Logical name -> tensor name in the .tflite file, from its serving signature."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    sig = interp._get_full_signature_list()["serving_default"]
    names = {d["index"]: d["name"] for d in interp.get_tensor_details()}
    out = {k: names[i] for k, i in sig["inputs"].items()}
    for k, logical in enumerate(info.outputs):
        out[logical] = names[sig["outputs"][f"output_{k}"]]
    return out


def write_tflite_metadata(path: Path, info: ModelInfo) -> None:
    """The `ModelInfo` JSON inside the file (metadata table) and in its sidecar."""
    text = dataclasses.replace(info, tensor_names=_tensor_names(path, info)).to_json()
    path.write_bytes(with_tflite_metadata(path.read_bytes(), text))
    sidecar_path(path).write_text(text, "utf-8")


def write_tflite(model: torch.nn.Module, info: ModelInfo, path: Path) -> Path:
    """fp32 TFLite through litert-torch (NCHW inputs as in torch), metadata inside and beside."""
    import litert_torch

    kwargs = {name: torch.zeros(shape) for name, shape in info.inputs.items()}
    litert_torch.convert(model.eval(), (), sample_kwargs=kwargs).export(str(path))
    write_tflite_metadata(path, info)
    return path


def _min_max_ranges(qt: object, calibration: list[dict[str, np.ndarray]]) -> dict:
    """Per-tensor min and max over all `calibration` samples, as ai-edge-quantizer QSVs.

    ``Quantizer.calibrate`` merges samples with a moving average (0.95) of each sample's
    min and max. For a tensor with one value per sample (the frame net's output) every
    sample's min equals its max, so the range collapses to about the latest value and
    int8 clips nearly everything: r 0.80 instead of 0.997 against fp32 on the validation
    crops. Calibrating one sample at a time and taking the true min / max over samples
    gives the same ranges as ORT's MinMax calibrator.
    """
    merged: dict[str, dict[str, np.ndarray]] = {}
    for sample in calibration:
        for name, qsv in qt.calibrate({"serving_default": [sample]}, num_threads=1).items():
            if name not in merged:
                merged[name] = dict(qsv)
            else:
                merged[name]["min"] = np.minimum(merged[name]["min"], qsv["min"])
                merged[name]["max"] = np.maximum(merged[name]["max"], qsv["max"])
    return merged


def write_tflite_int8(fp32_path: Path, info: ModelInfo, path: Path,
                      calibration: list[dict[str, np.ndarray]], *,
                      float_modules: tuple[str, ...] = ()) -> Path:
    """int8 TFLite with ai-edge-quantizer (static int8 weights and activations, min-max ranges).

    The ops of `float_modules` and of their submodules (output tensors named
    ``..._<module>;<n>`` or ``..._<module>/...``) stay float.
    """
    from ai_edge_quantizer import algorithm_manager, qtyping, quantizer, recipe

    qt = quantizer.Quantizer(str(fp32_path))
    qt.load_quantization_recipe(recipe.static_wi8_ai8())
    for module in float_modules:
        qt.update_quantization_recipe(
            regex=f"_{re.escape(module)}[;/]",
            operation_name=qtyping.TFLOperationName.ALL_SUPPORTED,
            algorithm_key=algorithm_manager.AlgorithmName.NO_QUANTIZE)
    qt.quantize(_min_max_ranges(qt, calibration)).export_model(str(path), overwrite=True)
    write_tflite_metadata(path, dataclasses.replace(info, precision="int8"))
    return path
