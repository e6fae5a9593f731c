"""``edge-vitals export`` (also ``python -m export``): train, export, check parity, report.

    edge-vitals export --model all --format onnx,tflite --int8 --train --out edge/models

simulates the training and validation sets if they are missing (``--data``), trains
(``--train``; otherwise the weights in ``--runs`` are used), writes fp32 (and with
``--int8`` int8) files of each format with their metadata, then loads every file through
`edge.backends` and prints the parity report (torch vs ONNX Runtime vs LiteRT) and the
validation metrics, also written to ``<out>/<model>.report.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["HELP", "add_arguments", "main"]

HELP = "train and export the CNNs to ONNX/TFLite (needs the export extra)"

DATA_SIZES = {  # (kind, split) -> (clips, seconds)
    ("traces", "train"): (240, 20.0), ("traces", "val"): (48, 20.0),
    ("crops", "train"): (60, 10.0), ("crops", "val"): (12, 10.0),
}
HOP = 8
TRAINING_DATA = ("edge-vitals world simulator v1 (firmware_sim.world): random subjects, skin "
                 "tones, light, head motion, JPEG, 15-30 fps, real PPG beat shapes; seeds "
                 "10000+ (train), 20000+ (validation)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``edge-vitals export``."""
    parser.add_argument("--model", default="all",
                        help="temporal_pulse, frame_pulse or all (default all)")
    parser.add_argument("--format", default="onnx,tflite", help="comma list of onnx, tflite")
    parser.add_argument("--int8", action="store_true", help="also write int8 files")
    parser.add_argument("--train", action="store_true", help="(re)train before exporting")
    parser.add_argument("--data", type=Path, default=Path(".bench/cnn_data"),
                        help="simulated data sets (made here if missing)")
    parser.add_argument("--runs", type=Path, default=Path(".bench/cnn_runs"),
                        help="trained weights (.npz + .json)")
    parser.add_argument("--out", type=Path, default=Path("out/models"), help="output folder")
    parser.add_argument("--workers", type=int, default=2, help="processes for simulation")


def _ensure_data(data_dir: Path, prefix: str, workers: int) -> None:
    from export.data import make_set

    for (kind, split), (n, seconds) in DATA_SIZES.items():
        path = data_dir / f"{kind}_{split}.npz"
        if kind == prefix and not path.is_file():
            print(f"simulating {path} ({n} clips of {seconds:g} s)", file=sys.stderr)
            make_set(path, kind=kind, split=split, n_clips=n, duration_s=seconds,
                     workers=workers)


def _info(name: str, model: Any, weights: Path, val_pearson: float) -> Any:
    from edge.backends import ModelInfo
    from export.models import MODELS, cost

    spec = MODELS[name]
    params, macs = cost(model, spec.inputs)
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()[:12]
    outputs = ({"pulse": [1, spec.inputs["rgb"][2]], "quality": [1, 1]}
               if spec.kind == "temporal" else {"pulse_diff": [1, 1]})
    temporal = spec.kind == "temporal"
    return ModelInfo(
        name=name, kind=spec.kind, inputs={k: list(v) for k, v in spec.inputs.items()},
        outputs=outputs, fs_hz=30.0, window=spec.inputs["rgb"][2] if temporal else 1,
        hop=HOP if temporal else 1, params=params, macs=macs, version=digest,
        normalisation=("edge.cnn.normalise_window: rgb / mean - 1 per channel, then / std "
                       "over the window" if temporal else
                       "edge.cnn.frame_inputs: motion = 100 (c_t - c_t-1) / (c_t + c_t-1 + 1), "
                       "appearance = crop standardised"),
        output_meaning=("pulse: waveform over the window (zero-mean, arbitrary scale); "
                        "quality: 0-1 self-estimated correlation with the true pulse"
                        if temporal else "pulse_diff: pulse derivative at this frame "
                        "(arbitrary scale, zero-mean over training frames)"),
        training_data=TRAINING_DATA, validation={"torch_window_pearson": round(val_pearson, 4)},
    )


def _calibration(name: str, data_dir: Path) -> list[dict[str, np.ndarray]]:
    from export.data import load_set
    from export.train import frame_batch, temporal_batch

    rng = np.random.default_rng(7)
    if name == "temporal_pulse":
        x, _ = temporal_batch(load_set(data_dir / "traces_train.npz"), rng, 1000, noise_max=0.0)
        return [{"rgb": x[i : i + 1]} for i in range(len(x))]
    # 16 sequences of 50 frames: 800 frames from 16 of the 60 training clips (int8 vs
    # fp32 per-frame r on the validation crops 0.9976; 200 frames from 4 clips: 0.9968)
    motion, appearance, _ = frame_batch(load_set(data_dir / "crops_train.npz"), rng, 16, 50)
    return [{"motion": motion[i : i + 1], "appearance": appearance[i : i + 1]}
            for i in range(len(motion))]


def _write(name: str, model: Any, info: Any, formats: list[str], int8: bool, out: Path,
           data_dir: Path) -> dict[str, Path]:
    from export import formats as fmt
    from export.models import MODELS

    files: dict[str, Path] = {}
    calib = _calibration(name, data_dir) if int8 else []
    keep = MODELS[name].float_modules
    if "onnx" in formats:
        files["onnx_fp32"] = fmt.write_onnx(model, info, out / f"{name}.onnx")
        if int8:
            files["onnx_int8"] = fmt.write_onnx_int8(files["onnx_fp32"], info,
                                                     out / f"{name}_int8.onnx", calib,
                                                     float_modules=keep)
    if "tflite" in formats:
        files["tflite_fp32"] = fmt.write_tflite(model, info, out / f"{name}.tflite")
        if int8:
            files["tflite_int8"] = fmt.write_tflite_int8(files["tflite_fp32"], info,
                                                         out / f"{name}_int8.tflite", calib,
                                                         float_modules=keep)
    return files


def _validate(name: str, reference: Any, backends: dict[str, Any], data_dir: Path,
              ) -> dict[str, Any]:
    from export import verify
    from export.data import load_set

    if name != "temporal_pulse":
        data = load_set(data_dir / "crops_val.npz")
        return {"frame": verify.frame_metrics({"torch": reference, **backends}, data)}
    data = load_set(data_dir / "traces_val.npz")
    results = {"torch": verify.run_streams(reference, data), "pos": verify.run_streams(None, data)}
    for key, be in backends.items():
        results[key] = verify.run_streams(be, data)
    report: dict[str, Any] = {k: verify.stream_metrics(v) for k, v in results.items()}
    for key in backends:
        if key.endswith("_int8"):
            fp32 = key.replace("_int8", "_fp32")
            report[f"{key}_vs_{fp32}"] = verify.compare_streams(
                results.get(fp32, results["torch"]), results[key])
    return report


def _update_metadata(path: Path, info: Any, validation: dict[str, Any]) -> None:
    from export import formats as fmt

    precision = "int8" if "_int8" in path.name else "fp32"
    new = dataclasses.replace(info, precision=precision,
                              validation={**info.validation, **validation})
    if path.suffix == ".onnx":
        fmt.set_onnx_metadata(path, new)
    else:
        fmt.write_tflite_metadata(path, new)


def export_model(name: str, args: argparse.Namespace, formats: list[str]) -> dict[str, Any]:
    """Train (if asked), export, verify one model; returns its report."""
    from edge.backends import load_backend
    from export import verify
    from export.models import MODELS
    from export.train import TrainConfig, load_weights, train

    prefix = "traces" if MODELS[name].kind == "temporal" else "crops"
    _ensure_data(args.data, prefix, args.workers)
    weights = args.runs / f"{name}.npz"
    if args.train or not weights.is_file():
        if not args.train:
            from edge.errors import InputError

            raise InputError(f"no trained weights at {weights}; add --train")
        cfg = TrainConfig(model=name, **({} if name == "temporal_pulse" else
                                         {"steps": 600, "batch": 128, "lr": 2e-3}))
        weights = train(cfg, args.data, args.runs)
    model, meta = load_weights(weights)
    info = _info(name, model, weights, float(meta["val_pearson"]))
    args.out.mkdir(parents=True, exist_ok=True)
    files = _write(name, model, info, formats, args.int8, args.out, args.data)
    reference = verify.TorchBackend(model, info)
    backends = {key: load_backend(path) for key, path in files.items()}
    report: dict[str, Any] = {"params": info.params, "macs": info.macs, "version": info.version}
    fp32 = {k: v for k, v in backends.items() if k.endswith("_fp32")}
    report["parity_fp32_vs_torch"] = verify.parity(reference, fp32)
    report["validation"] = _validate(name, reference, backends, args.data)
    for key, path in files.items():
        own = {k: v for k, v in report["validation"].items() if k.startswith(key)}
        if name != "temporal_pulse":
            own = {"frame": report["validation"]["frame"].get(key)}
        _update_metadata(path, info, own)
    # sizes last: the TFLite files carry their metadata, which the validation just grew
    report["files"] = {k: {"path": str(p), "bytes": p.stat().st_size} for k, p in files.items()}
    return report


def main(args: argparse.Namespace) -> int:
    """Run the export; print and save the report."""
    from edge.cli.options import check_outputs, require_extra
    from edge.errors import InputError

    require_extra("torch", "onnx", needed_by="edge-vitals export")
    check_outputs(args, dirs=("out", "data", "runs"))
    from export.formats import FORMATS
    from export.models import MODELS

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise InputError(f"--format must be a comma list of {', '.join(FORMATS)}; got "
                         f"{args.format!r}")
    names = list(MODELS) if args.model == "all" else [args.model]
    if any(n not in MODELS for n in names):
        raise InputError(f"--model must be one of {', '.join(MODELS)} or all; got {args.model!r}")
    for name in names:
        report = export_model(name, args, formats)
        path = args.out / f"{name}.report.json"
        path.write_text(json.dumps(report, indent=1) + "\n", "utf-8")
        print(json.dumps(report, indent=1))
        print(f"report: {path}", file=sys.stderr)
    print("next: python -m firmware_sim.bench.accuracy --method cnn", file=sys.stderr)
    return 0


def cli(argv: list[str] | None = None) -> int:
    """``python -m export``."""
    from edge.cli.options import Parser
    from edge.errors import VitalsError

    parser = Parser(prog="python -m export", description=__doc__.split("\n")[0])
    add_arguments(parser)
    try:
        return main(parser.parse_args(argv))
    except VitalsError as exc:  # one line, as from edge-vitals export
        print(f"python -m export: error: {exc}", file=sys.stderr)
        return 2
