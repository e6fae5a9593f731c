"""Benchmark runner for open-rppg, executed by the open-rppg venv's python (not ours).

Usage: ``python -I _peer_openrppg.py VIDEO [--model ME-flow.rlap]``. Imports only ``rppg`` (the
open-rppg package), the stdlib and ``_peer_common`` next to it. Prints one JSON line with
``"schema": "edge-vitals.peer-run/1"``.

Timed: ``Model.process_video(VIDEO)``, i.e. PyAV decode, BlazeFace detection every 5th frame
(worker threads), crop/resize and the model steps in its inference thread; it returns after those
threads are joined. Not timed: ``import rppg`` and ``rppg.Model(...)``, which loads the weights
and jit-compiles the JAX step (tens of seconds on one core): ``load_seconds``.
"""

import argparse
import os
import sys

# -I leaves this script's folder off sys.path (and firmware_sim is not installed in the peer
# venv), so put the folder back to import the shared stdlib-only helpers in _peer_common.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _peer_common import finite_or_none, run_timed


def _load(model_name: str):
    import rppg

    return rppg.Model(model_name)


def _describe(model, result: dict | None) -> dict:
    stats = model.statistic  # decoded frames = key + non-key; 'frames' also counts fill-ins
    return {
        "frames": int(stats["key"] + stats["dependent"]),
        "heart_rate_bpm": finite_or_none(None if result is None else result.get("hr")),
        "sqi": None if result is None or result.get("SQI") is None else float(result["SQI"]),
        "no_face_frames": int(stats["null"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("video")
    parser.add_argument("--model", default="ME-flow.rlap")
    args = parser.parse_args(argv)
    return run_timed(
        peer="open-rppg",
        model=args.model,
        load=lambda: _load(args.model),
        process=lambda model: model.process_video(args.video),
        describe=_describe,
    )


if __name__ == "__main__":
    sys.exit(main())
