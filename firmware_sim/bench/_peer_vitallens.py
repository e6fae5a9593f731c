"""Benchmark runner for vitallens, executed by the vitallens venv's python (not ours).

Usage: ``python -I _peer_vitallens.py VIDEO [--method pos]``. Imports only vitallens (and what it
installs) plus the stdlib. Prints one JSON line with ``"schema": "edge-vitals.peer-run/1"``.

Timed: ``VitalLens(...)(VIDEO)``, i.e. ffprobe, face detection (ONNX, 1 scan/s, frames decoded
by an ffmpeg subprocess), the ROI decode (a second ffmpeg pass), POS and vitallens-core's HR.
Not timed: ``import vitallens`` and the client constructor (face detector load): ``load_seconds``.
"""

import argparse
import json
import math
import os
import resource
import sys
import time
from importlib import metadata

SCHEMA = "edge-vitals.peer-run/1"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def _repin_threads(mask: set[int]) -> int:
    """Move every thread of this process back onto ``mask``; return how many were outside it.

    taskset pins the process, but onnxruntime pins its intra-op pool threads to cores of its own
    choosing, escaping the one-core limit. Threads are listed from /proc (Linux only).
    """
    moved = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            if os.sched_getaffinity(int(tid)) != mask:
                os.sched_setaffinity(int(tid), mask)
                moved += 1
        except (ProcessLookupError, PermissionError):
            continue  # thread ended meanwhile, or not ours to move
    return moved


def _frame_count(video: str, results: list) -> int:
    if results:
        return int(results[0]["n"])
    # No face: vitallens returns []; count frames the way it probed them.
    from prpy.ffmpeg.probe import probe_video

    return int(probe_video(video)[1])


def _heart_rate_bpm(results: list) -> float | None:
    if not results:
        return None
    hr = results[0].get("vitals", {}).get("heart_rate", {}).get("value")
    if hr is None or not math.isfinite(float(hr)):
        return None
    return float(hr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("video")
    parser.add_argument("--method", default="pos")
    args = parser.parse_args(argv)

    mask = os.sched_getaffinity(0)  # as set by the parent (taskset), before any thread starts
    t0 = time.perf_counter()
    import vitallens

    client = vitallens.VitalLens(method=args.method, export_to_json=False)
    load_s = time.perf_counter() - t0
    repinned = _repin_threads(mask)

    cpu0 = _cpu_seconds()
    t1 = time.perf_counter()
    results = client(args.video)
    seconds = time.perf_counter() - t1
    cpu_s = _cpu_seconds() - cpu0
    escaped = _repin_threads(mask)

    record = {
        "schema": SCHEMA,
        "peer": "vitallens",
        "version": metadata.version("vitallens"),
        "model": args.method,
        "frames": _frame_count(args.video, results),
        "seconds": seconds,
        "cpu_seconds": cpu_s,
        "load_seconds": load_s,
        "heart_rate_bpm": _heart_rate_bpm(results),
        "faces": len(results),
        "cores": sorted(mask),
        "repinned_threads": repinned,
        "escaped_threads": escaped,
        "peak_rss_mb": _peak_rss_mb(resource.RUSAGE_SELF),
        "child_peak_rss_mb": _peak_rss_mb(resource.RUSAGE_CHILDREN),
    }
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
