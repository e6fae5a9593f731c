"""Inference backends for the project's small CNNs: ONNX Runtime (core) and LiteRT (optional).

One interface for both::

    backend = load_backend("temporal_pulse.onnx", threads=1)
    backend.inputs["rgb"][:] = window          # preallocated float32 buffers, filled in place
    pulse, quality = backend.run()             # outputs in `backend.info.outputs` order

Model constants (input shapes, sampling rate, window, hop, normalisation, output meaning)
come from the model's metadata, the single schema `ModelInfo` that the exporter writes:

- ONNX: the JSON string under the ``edge_vitals`` key of the model's ``metadata_props``;
- TFLite: the same JSON in the flatbuffer's ``metadata`` table under the same key, read
  with the schema module that ``ai-edge-litert`` ships (the interpreter API has no reader
  for it); and, for ``tflite_runtime`` (no schema module) and older files, in a sidecar
  file ``<model>.tflite.json``. The embedded copy wins when both are there.

Before first use the backend checks that the model's input and output names and shapes
are those the metadata promises (`BackendError` otherwise). Sessions are created once,
with explicit providers and thread counts; nothing is loaded with pickle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge.errors import BackendError, InputError

__all__ = ["BACKENDS", "METADATA_KEY", "SCHEMA_VERSION", "InferenceBackend", "ModelInfo",
           "OnnxBackend", "TfliteBackend", "embedded_tflite_metadata", "load_backend",
           "sidecar_path", "with_tflite_metadata"]

METADATA_KEY = "edge_vitals"
"""Key of the `ModelInfo` JSON in ONNX ``metadata_props`` and in TFLite's metadata table."""
SCHEMA_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class ModelInfo:
    """What a model file says about itself; written by the exporter, read here.

    Attributes
    ----------
    name : str
        Registry name of the architecture (``temporal_pulse``, ``frame_pulse``).
    kind : str
        ``temporal`` (one run per window of the RGB trace) or ``frame`` (one run per frame).
    inputs, outputs : dict of str to list of int
        Tensor names and shapes (batch 1), in order.
    fs_hz : float
        Sampling rate the model was trained at, in Hz.
    window : int
        Samples per run (temporal nets; 1 for frame nets).
    hop : int
        Samples between runs in the streaming runtime.
    precision : str
        ``fp32`` or ``int8``.
    normalisation, output_meaning, training_data : str
        Human-readable model card.
    params, macs : int
        Parameters and multiply-accumulates per run.
    version : str
        Model version (changes whenever the weights do).
    tensor_names : dict of str to str
        Name of each input and output tensor in the file, where it differs from the
        logical name (TFLite converters rename them, e.g. ``serving_default_rgb``).
    validation : dict
        Metrics on the held-out synthetic validation set at export time.
    """

    name: str
    kind: str
    inputs: dict[str, list[int]]
    outputs: dict[str, list[int]]
    fs_hz: float
    window: int
    hop: int
    precision: str = "fp32"
    normalisation: str = ""
    output_meaning: str = ""
    training_data: str = ""
    params: int = 0
    macs: int = 0
    version: str = "0"
    validation: dict[str, Any] = field(default_factory=dict)
    tensor_names: dict[str, str] = field(default_factory=dict)
    schema: int = SCHEMA_VERSION

    def to_json(self) -> str:
        """The metadata string stored in (or next to) the model file."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str, *, source: str = "model") -> ModelInfo:
        """Parse and check a metadata string; `BackendError` names what is wrong."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BackendError(f"{source}: metadata is not valid JSON ({exc})") from exc
        if not isinstance(data, dict) or data.get("schema") != SCHEMA_VERSION:
            got = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise BackendError(f"{source}: metadata schema must be {SCHEMA_VERSION}; got {got!r}")
        try:
            info = cls(**data)
        except TypeError as exc:
            raise BackendError(f"{source}: metadata fields do not match ModelInfo ({exc})") from exc
        if info.kind not in ("temporal", "frame") or info.window < 1 or info.hop < 1:
            raise BackendError(f"{source}: metadata kind/window/hop invalid: {info.kind!r}, "
                               f"{info.window}, {info.hop}")
        return info


class InferenceBackend(Protocol):
    """What the runtime needs from a backend."""

    info: ModelInfo
    inputs: dict[str, np.ndarray]

    def run(self) -> tuple[np.ndarray, ...]:
        """Run on the current contents of `inputs`; outputs in ``info.outputs`` order."""
        ...


def _check_io(kind: str, model: dict[str, tuple[int, ...]], meta: dict[str, list[int]],
              source: str) -> None:
    expected = {k: tuple(v) for k, v in meta.items()}
    if model != expected:
        raise BackendError(f"{source}: model {kind} {model} do not match its metadata {expected}")


def _buffers(info: ModelInfo) -> dict[str, np.ndarray]:
    return {name: np.zeros(shape, dtype=np.float32) for name, shape in info.inputs.items()}


class OnnxBackend:
    """ONNX Runtime session with explicit providers and intra-op threads.

    Parameters
    ----------
    path : Path
        ``.onnx`` file with `ModelInfo` under ``metadata_props[METADATA_KEY]``.
    threads : int
        Intra-op threads (inter-op is 1; execution is sequential).
    providers : tuple of str
        ONNX Runtime execution providers, in order of preference.
    """

    def __init__(self, path: Path, *, threads: int = 1,
                 providers: tuple[str, ...] = ("CPUExecutionProvider",)):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options,
                                                providers=list(providers))
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BackendError(f"{path}: ONNX Runtime cannot load it ({exc})") from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise BackendError(f"{path}: no '{METADATA_KEY}' entry in the ONNX metadata_props; "
                               "export models with 'edge-vitals export'")
        self.info = ModelInfo.from_json(meta[METADATA_KEY], source=str(path))
        _check_io("inputs", {i.name: tuple(i.shape) for i in self.session.get_inputs()},
                  self.info.inputs, str(path))
        _check_io("outputs", {o.name: tuple(o.shape) for o in self.session.get_outputs()},
                  self.info.outputs, str(path))
        self.inputs = _buffers(self.info)
        self._output_names = list(self.info.outputs)

    def run(self) -> tuple[np.ndarray, ...]:
        """Run on the current contents of `inputs`."""
        return tuple(self.session.run(self._output_names, self.inputs))


def _tflite_interpreter() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise BackendError("the TFLite backend needs 'ai-edge-litert': "
                               "pip install 'edge-vitals[tflite]'") from None
    return Interpreter


def sidecar_path(path: Path) -> Path:
    """Where the sidecar `ModelInfo` JSON of a ``.tflite`` file lives: ``<file>.json``."""
    return path.with_name(path.name + ".json")


def with_tflite_metadata(data: bytes, text: str | None) -> bytes:
    """A ``.tflite`` flatbuffer with its `METADATA_KEY` entry set to ``text`` (None: removed).

    What the exporter uses to put a `ModelInfo` JSON inside the file; needs ``ai_edge_litert``
    (its schema module) and ``flatbuffers``. Other metadata entries are kept.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(data, 0))
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_KEY.encode()]
    if text is not None:
        buffer = schema.BufferT()
        buffer.data = list(text.encode("utf-8"))
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = METADATA_KEY
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def embedded_tflite_metadata(path: Path) -> str | None:
    """The `METADATA_KEY` entry of a ``.tflite`` file's metadata table, or None.

    None also when ``ai_edge_litert``'s flatbuffer schema module is not installed.
    """
    try:
        from ai_edge_litert import schema_py_generated as schema
    except ImportError:
        return None
    buf = Path(path).read_bytes()
    try:
        model = schema.Model.GetRootAs(buf, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if entry.Name() == METADATA_KEY.encode():
                return bytes(model.Buffers(entry.Buffer()).DataAsNumpy()).decode("utf-8")
    except Exception as exc:  # a corrupt flatbuffer fails in struct, index or decode errors
        raise BackendError(f"{path}: cannot read its TFLite metadata ({exc})") from exc
    return None


class TfliteBackend:
    """LiteRT (``ai_edge_litert``, else ``tflite_runtime``) interpreter.

    Integer (int8/uint8) model inputs and outputs are quantised and dequantised here with
    the tensors' own scale and zero point, so callers always see float32.

    Parameters
    ----------
    path : Path
        ``.tflite`` file with its `ModelInfo` inside (`embedded_tflite_metadata`) or in
        `sidecar_path` ``(path)``.
    threads : int
        Interpreter threads.
    """

    def __init__(self, path: Path, *, threads: int = 1):
        embedded, meta = embedded_tflite_metadata(path), sidecar_path(path)
        if embedded is not None:
            self.info = ModelInfo.from_json(embedded, source=str(path))
        elif meta.is_file():
            self.info = ModelInfo.from_json(meta.read_text("utf-8"), source=str(meta))
        else:
            raise BackendError(f"{path}: no edge-vitals metadata inside it and no "
                               f"{meta.name} beside it")
        interpreter_cls = _tflite_interpreter()
        try:
            self.interpreter = interpreter_cls(model_path=str(path), num_threads=threads)
            self.interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"{path}: the TFLite interpreter cannot load it ({exc})") from exc
        rename = self.info.tensor_names
        ins = _by_logical_name(self.interpreter.get_input_details(), self.info.inputs, rename)
        outs = _by_logical_name(self.interpreter.get_output_details(), self.info.outputs, rename)
        _check_io("inputs", {n: tuple(int(s) for s in d["shape"]) for n, d in ins.items()},
                  self.info.inputs, str(path))
        _check_io("outputs", {n: tuple(int(s) for s in d["shape"]) for n, d in outs.items()},
                  self.info.outputs, str(path))
        self._in = [(n, ins[n]) for n in self.info.inputs]
        self._out = [outs[n] for n in self.info.outputs]
        self.inputs = _buffers(self.info)

    def run(self) -> tuple[np.ndarray, ...]:
        """Run on the current contents of `inputs`."""
        interp = self.interpreter
        for name, detail in self._in:
            interp.set_tensor(detail["index"], _quantise(self.inputs[name], detail))
        interp.invoke()
        return tuple(_dequantise(interp.get_tensor(d["index"]), d) for d in self._out)


def _by_logical_name(details: list[dict[str, Any]], logical: dict[str, list[int]],
                     rename: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Tensor details keyed by logical name (file names that map to none are kept as is)."""
    to_logical = {rename.get(n, n): n for n in logical}
    return {to_logical.get(d["name"], d["name"]): d for d in details}


def _quantise(x: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x
    scale, zero = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.rint(x / scale) + zero, info.min, info.max).astype(dtype)


def _dequantise(y: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return y
    scale, zero = detail["quantization"]
    return ((y.astype(np.float32) - zero) * scale).astype(np.float32)


BACKENDS = {".onnx": OnnxBackend, ".tflite": TfliteBackend}
"""File suffix -> backend class."""


def load_backend(path: str | Path, *, threads: int = 1) -> InferenceBackend:
    """Open a model file with the backend its suffix names (`BACKENDS`).

    Raises
    ------
    InputError
        The file does not exist or has an unknown suffix.
    BackendError
        The runtime is missing, or the file or its metadata cannot be used.
    """
    path = Path(path)
    if path.suffix not in BACKENDS:
        raise InputError(f"model file must end in {' or '.join(BACKENDS)}; got {path.name!r}")
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    if not isinstance(threads, int) or threads < 1:
        raise InputError(f"threads must be a positive integer; got {threads!r}")
    return BACKENDS[path.suffix](path, threads=threads)
