"""Benchmark runner for open-rppg, executed by the open-rppg venv's python (not ours).

Usage: ``python -I _peer_openrppg.py VIDEO [--model ME-flow.rlap]``. Imports only ``rppg`` (the
open-rppg package) and the stdlib. Prints one JSON line with ``"schema": "edge-vitals.peer-run/1"``.

Timed: ``Model.process_video(VIDEO)``, i.e. PyAV decode, BlazeFace detection every 5th frame
(worker threads), crop/resize and the model steps in its inference thread; it returns after those
threads are joined. Not timed: ``import rppg`` and ``rppg.Model(...)``, which loads the weights
and jit-compiles the JAX step (tens of seconds on one core): ``load_seconds``.
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


def _heart_rate_bpm(result: dict | None) -> float | None:
    hr = None if result is None else result.get("hr")
    if hr is None or not math.isfinite(float(hr)):
        return None
    return float(hr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("video")
    parser.add_argument("--model", default="ME-flow.rlap")
    args = parser.parse_args(argv)

    mask = os.sched_getaffinity(0)  # as set by the parent (taskset), before any thread starts
    t0 = time.perf_counter()
    import rppg

    model = rppg.Model(args.model)
    load_s = time.perf_counter() - t0
    repinned = _repin_threads(mask)

    cpu0 = _cpu_seconds()
    t1 = time.perf_counter()
    result = model.process_video(args.video)
    seconds = time.perf_counter() - t1
    cpu_s = _cpu_seconds() - cpu0
    escaped = _repin_threads(mask)

    stats = model.statistic  # decoded frames = key + non-key; 'frames' also counts fill-ins
    record = {
        "schema": SCHEMA,
        "peer": "open-rppg",
        "version": metadata.version("open-rppg"),
        "model": args.model,
        "frames": int(stats["key"] + stats["dependent"]),
        "seconds": seconds,
        "cpu_seconds": cpu_s,
        "load_seconds": load_s,
        "heart_rate_bpm": _heart_rate_bpm(result),
        "sqi": None if result is None or result.get("SQI") is None else float(result["SQI"]),
        "no_face_frames": int(stats["null"]),
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
