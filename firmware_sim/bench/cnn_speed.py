"""Inference time of the shipped CNNs in ONNX Runtime and LiteRT, fp32 and int8, one thread.

For every model file in ``edge/models`` (or a folder given): parameters and
multiply-accumulates per run (from the file's metadata), file size, and the median time
of one run over `--runs` runs after `--warmup` runs, batch 1, one thread. The temporal
net runs once per ``hop`` samples, so its cost per frame is the run time / hop.

    python -m firmware_sim.bench.cnn_speed [MODELS_DIR] [--runs 300] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from edge.backends import BACKENDS, load_backend
from edge.cnn import default_model_path
from edge.errors import BackendError


def time_backend(path: Path, *, runs: int, warmup: int) -> dict[str, object]:
    """One row of the table for one model file."""
    backend = load_backend(path, threads=1)
    rng = np.random.default_rng(0)
    for buf in backend.inputs.values():
        buf[:] = rng.standard_normal(buf.shape)
    for _ in range(warmup):
        backend.run()
    times = np.empty(runs)
    for k in range(runs):
        t0 = time.perf_counter()
        backend.run()
        times[k] = time.perf_counter() - t0
    info = backend.info
    run_us = float(np.median(times) * 1e6)
    return {"file": path.name, "model": info.name, "runtime": path.suffix.lstrip("."),
            "precision": info.precision, "params": info.params, "macs": info.macs,
            "bytes": path.stat().st_size, "run_us": round(run_us, 1),
            "per_frame_us": round(run_us / info.hop, 1)}


def main(argv: list[str] | None = None) -> int:
    """Print the speed table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models_dir", nargs="?", type=Path, default=default_model_path().parent)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    rows = []
    for path in sorted(args.models_dir.iterdir()):
        if path.suffix not in BACKENDS:
            continue
        try:
            rows.append(time_backend(path, runs=args.runs, warmup=args.warmup))
        except BackendError as exc:  # e.g. no LiteRT installed: say so, time the rest
            print(f"skipped {path.name}: {exc}", file=sys.stderr)
    print("| model | runtime | precision | params | MACs/run | file KB | µs/run | µs/frame |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['runtime']} | {r['precision']} | {r['params']:,} | "
              f"{r['macs']:,} | {r['bytes'] / 1024:.1f} | {r['run_us']:.0f} | "
              f"{r['per_frame_us']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
