"""Code shared by the peer benchmark runners ``_peer_<name>.py`` next to this module.

The runners are executed by a peer venv's python (``python -I <runner> VIDEO ...``, see
:mod:`firmware_sim.bench.peers`), where firmware_sim is not installed; they put this folder on
``sys.path`` and import this file as the top-level module ``_peer_common``. So it imports only the
stdlib. It prints the ``"schema": "edge-vitals.peer-run/1"`` JSON line that
:func:`firmware_sim.bench.peers.parse_runner_output` reads.
"""

import json
import math
import os
import resource
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

SCHEMA = "edge-vitals.peer-run/1"


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and its waited-for children so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb(who: int) -> float:
    """Peak resident set size in MiB of ``who`` (``resource.RUSAGE_SELF`` or ``_CHILDREN``)."""
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux reports KiB


def repin_threads(mask: set[int]) -> int:
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


def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or None when ``value`` is None, NaN or infinite."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def run_timed(
    *,
    peer: str,
    model: str,
    load: Callable[[], Any],
    process: Callable[[Any], Any],
    describe: Callable[[Any, Any], Mapping[str, Any]],
) -> int:
    """Time a peer's load and processing steps, print the JSON result line, return exit code 0.

    Parameters
    ----------
    peer : str
        The peer's name, also the distribution whose version is reported.
    model : str
        The model or method the peer runs, reported as ``model``.
    load : callable
        ``load()`` imports the peer and builds its model or client; timed as ``load_seconds``.
    process : callable
        ``process(loaded)`` is the peer's whole processing of the video; timed as ``seconds`` and
        ``cpu_seconds`` (this process and its children).
    describe : callable
        ``describe(loaded, result)``, called after the timing, gives the peer-specific keys. It
        must give ``frames`` and ``heart_rate_bpm``; any others are printed after those.
    """
    mask = os.sched_getaffinity(0)  # as set by the parent (taskset), before any thread starts
    t0 = time.perf_counter()
    loaded = load()
    load_s = time.perf_counter() - t0
    repinned = repin_threads(mask)

    cpu0 = cpu_seconds()
    t1 = time.perf_counter()
    result = process(loaded)
    seconds = time.perf_counter() - t1
    cpu_s = cpu_seconds() - cpu0
    escaped = repin_threads(mask)

    extra = dict(describe(loaded, result))
    record = {
        "schema": SCHEMA,
        "peer": peer,
        "version": metadata.version(peer),
        "model": model,
        "frames": extra.pop("frames"),
        "seconds": seconds,
        "cpu_seconds": cpu_s,
        "load_seconds": load_s,
        "heart_rate_bpm": extra.pop("heart_rate_bpm"),
        **extra,
        "cores": sorted(mask),
        "repinned_threads": repinned,
        "escaped_threads": escaped,
        "peak_rss_mb": peak_rss_mb(resource.RUSAGE_SELF),
        "child_peak_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN),
    }
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
    return 0
