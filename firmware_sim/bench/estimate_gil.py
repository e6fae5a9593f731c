"""What a busy estimate worker costs the frame thread (``python -m
firmware_sim.bench.estimate_gil``).

Pushes paced at 30 frames/s (as from a camera) on the speed benchmark's clip, three ways:
nothing beside them, the estimators' heaviest work (an HRV analysis and a breathing
estimate of 32 s windows) back to back in a thread, and the same in a process (no GIL
shared). For each it prints the push's wall time, its wall minus CPU time (waits inside
the push) and how late the frame thread starts a push after the frame is due (the wait for
the GIL on waking). Two rounds; figures in ms.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import numpy as np

SECONDS = 5.0
FRAMES = 1200


def _estimator_work(rgb: np.ndarray, pulse: np.ndarray, calls: object) -> None:
    from edge.breathing import stream_breathing
    from edge.estimators import hrv_from_window

    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < SECONDS:
        hrv_from_window(rgb, pulse, fs=30.0)
        stream_breathing(rgb, fs=30.0)
        done += 1
    calls.value = done  # type: ignore[attr-defined]


def _paced(pipe: object, frames: list[np.ndarray], first: int) -> dict[str, np.ndarray]:
    wall, inside, late = [], [], []
    start = time.perf_counter()
    for k in range(int(30 * SECONDS)):
        due = start + k / 30.0
        time.sleep(max(0.0, due - time.perf_counter()))
        w0, c0 = time.perf_counter(), time.thread_time()
        i = first + k
        pipe.push(frames[i % len(frames)], i / 30.0)  # type: ignore[attr-defined]
        w1 = time.perf_counter()
        wall.append(w1 - w0)
        inside.append(w1 - w0 - (time.thread_time() - c0))
        late.append(w0 - due)
    return {name: 1000 * np.array(v) for name, v in
            (("push", wall), ("wall-cpu", inside), ("start late", late))}


def main() -> None:
    """Print the three ways, two rounds."""
    import edge
    from edge.capture.video_file import VideoFileSource
    from firmware_sim.bench.speed import ensure_clip

    clip = ensure_clip(Path(".bench/clips"))
    with VideoFileSource(clip) as source:
        frames = [item[0].copy() for item, _ in zip(source, range(FRAMES), strict=False)]
    pipe = edge.Pipeline()
    pipe.warmup()
    for i in range(FRAMES - 50):  # a full trace
        pipe.push(frames[i], i / 30.0)
    rgb, pulse = (np.array(a) for a in pipe.trace.window(32.0))
    tick = FRAMES - 50
    fork = multiprocessing.get_context("fork")
    for rnd in (1, 2):
        for how in ("idle", "thread", "process"):
            calls = fork.Value("i", 0)
            kind = {"thread": threading.Thread, "process": fork.Process}.get(how)
            worker = None if kind is None else kind(target=_estimator_work,
                                                    args=(rgb, pulse, calls))
            if worker is not None:
                worker.start()
            ms = _paced(pipe, frames, tick)
            tick += int(30 * SECONDS)
            if worker is not None:
                worker.join()
            parts = "; ".join(f"{name} p50 {np.percentile(v, 50):.2f} p90 "
                              f"{np.percentile(v, 90):.2f} p99 {np.percentile(v, 99):.2f}"
                              for name, v in ms.items())
            print(f"round {rnd}, {how:7s}: {parts}; worker calls {calls.value}", flush=True)


if __name__ == "__main__":
    main()
