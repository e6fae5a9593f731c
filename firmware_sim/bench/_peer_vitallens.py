"""Benchmark runner for vitallens, executed by the vitallens venv's python (not ours).

Usage: ``python -I _peer_vitallens.py VIDEO [--method pos]``. Imports only vitallens (and what it
installs), the stdlib and ``_peer_common`` next to it. Prints one JSON line with
``"schema": "edge-vitals.peer-run/1"``.

Timed: ``VitalLens(...)(VIDEO)``, i.e. ffprobe, face detection (ONNX, 1 scan/s, frames decoded
by an ffmpeg subprocess), the ROI decode (a second ffmpeg pass), POS and vitallens-core's HR.
Not timed: ``import vitallens`` and the client constructor (face detector load): ``load_seconds``.
"""

import argparse
import os
import sys

# -I leaves this script's folder off sys.path (and firmware_sim is not installed in the peer
# venv), so put the folder back to import the shared stdlib-only helpers in _peer_common.py.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _peer_common import finite_or_none, run_timed


def _load(method: str):
    import vitallens

    return vitallens.VitalLens(method=method, export_to_json=False)


def _frame_count(video: str, results: list) -> int:
    if results:
        return int(results[0]["n"])
    # No face: vitallens returns []; count frames the way it probed them.
    from prpy.ffmpeg.probe import probe_video

    return int(probe_video(video)[1])


def _heart_rate_bpm(results: list) -> float | None:
    if not results:
        return None
    return finite_or_none(results[0].get("vitals", {}).get("heart_rate", {}).get("value"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("video")
    parser.add_argument("--method", default="pos")
    args = parser.parse_args(argv)
    return run_timed(
        peer="vitallens",
        model=args.method,
        load=lambda: _load(args.method),
        process=lambda client: client(args.video),
        describe=lambda client, results: {
            "frames": _frame_count(args.video, results),
            "heart_rate_bpm": _heart_rate_bpm(results),
            "faces": len(results),
        },
    )


if __name__ == "__main__":
    sys.exit(main())
