"""Soak test of live mode: a looping video paced at a camera's frame rate, for minutes.

    python -m firmware_sim.bench.soak_live --minutes 10 [--clip face.avi] [--json out.json]

A `PacedLoopSource` loops a video at 30 fps on the capture thread of `edge.live.LiveSource`
while the caller's thread runs `Pipeline.push`; every `--sample-s` the script records RSS,
queue depth and drops, and at the end the heart rate against the clip's truth.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge.capture.video_file import VideoFileSource
from edge.cli.run import live_config
from edge.config import PipelineConfig
from edge.live import LiveSource
from edge.pipeline import Pipeline

__all__ = ["PacedLoopSource", "main", "rss_mb"]


def rss_mb() -> float:
    """Current resident set size of this process in MiB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")  # pragma: no cover - not Linux


class PacedLoopSource:
    """Frames of `path`, looped forever, delivered on a real-time `fps` schedule.

    Timestamps are host monotonic seconds at delivery, as a USB camera gives them.
    """

    def __init__(self, path: str | Path, *, fps: float = 30.0):
        self.path, self.fps = Path(path), float(fps)
        self.loops = 0
        self.late = 0
        """Frames delivered more than one period after their slot (the source fell behind)."""
        self._closed = False

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        period, start, i = 1.0 / self.fps, time.monotonic(), 0
        while not self._closed:
            with VideoFileSource(self.path) as src:
                for frame, _ in src:
                    due = start + i * period
                    now = time.monotonic()
                    if due > now:
                        time.sleep(due - now)
                    elif now - due > period:
                        self.late += 1
                    i += 1
                    yield frame, time.monotonic()
                    if self._closed:
                        return
            self.loops += 1

    def close(self) -> None:
        """Stop after the current frame."""
        self._closed = True


def _clip(args: argparse.Namespace, tmp: Path) -> tuple[Path, float | None]:
    if args.clip:
        return Path(args.clip), None
    path = tmp / "soak.avi"  # rendered in a child process, so that RSS is live mode's alone
    subprocess.run([sys.executable, "-m", "edge", "synth", str(path), "--hr", str(args.hr),
                    "--seconds", "20", "--size", args.size, "--codec", "MJPG", "--seed", "5"],
                   check=True, stdout=subprocess.DEVNULL)
    return path, float(args.hr)


def soak(clip: Path, *, minutes: float, fps: float, sample_s: float,
         queue_size: int) -> dict[str, object]:
    """Run live mode over the paced loop; return the figures."""
    samples: list[dict[str, float]] = []
    hr: list[float] = []
    push_ms: list[float] = []
    n_frames = n_readings = 0
    source = PacedLoopSource(clip, fps=fps)
    with Pipeline(live_config(PipelineConfig())) as pipe, \
            LiveSource(source, queue_size=queue_size) as live:
        rss_start = rss_mb()
        t0 = next_sample = time.monotonic()
        for frame, t in live:
            started = time.perf_counter()
            reading = pipe.push(frame, t)
            push_ms.append((time.perf_counter() - started) * 1e3)
            n_frames += 1
            if reading is not None:
                n_readings += 1
                if reading.heart_rate_bpm is not None:
                    hr.append(reading.heart_rate_bpm)
            now = time.monotonic()
            if now >= next_sample:
                samples.append({"t_s": round(now - t0, 1), "rss_mb": round(rss_mb(), 1),
                                "queue": len(live.queue), "dropped": live.queue.dropped})
                next_sample += sample_s
            if now - t0 >= minutes * 60.0:
                break
        stats = live.stats
    elapsed = time.monotonic() - t0
    return {
        "minutes": round(elapsed / 60.0, 2), "fps_target": fps,
        "frames_processed": n_frames, "frames_captured": stats.captured,
        "frames_dropped": stats.dropped, "queue_size": queue_size,
        "queue_high_water": stats.queue_high_water, "source_late_frames": source.late,
        "loops": source.loops, "readings": n_readings,
        "rss_start_mb": round(rss_start, 1), "rss_end_mb": round(rss_mb(), 1),
        "rss_max_sampled_mb": max(s["rss_mb"] for s in samples),
        "push_ms_median": round(statistics.median(push_ms), 3),
        "push_ms_p99": round(float(np.percentile(push_ms, 99)), 3),
        "push_ms_max": round(max(push_ms), 1),
        "hr_median_bpm": round(statistics.median(hr), 1) if hr else None,
        "hr_readings": len(hr), "samples": samples,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line of the soak benchmark."""
    parser = argparse.ArgumentParser(prog="python -m firmware_sim.bench.soak_live",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--clip", help="video to loop (default: a synthetic 72 bpm clip)")
    parser.add_argument("--hr", type=float, default=72.0, help="HR of the synthetic clip")
    parser.add_argument("--size", default="640x480", help="size of the synthetic clip")
    parser.add_argument("--queue-size", type=int, default=2)
    parser.add_argument("--sample-s", type=float, default=30.0, help="RSS sampling period")
    parser.add_argument("--json", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        clip, truth = _clip(args, Path(tmp))
        result = soak(clip, minutes=args.minutes, fps=args.fps, sample_s=args.sample_s,
                      queue_size=args.queue_size)
    result["hr_truth_bpm"] = truth
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary))
    rss = [s["rss_mb"] for s in result["samples"]]  # type: ignore[union-attr]
    print(f"soak: {result['minutes']} min, {result['frames_processed']} frames processed of "
          f"{result['frames_captured']} captured, {result['frames_dropped']} dropped, queue "
          f"high-water {result['queue_high_water']}/{args.queue_size}; RSS start "
          f"{result['rss_start_mb']} MiB, end {result['rss_end_mb']} MiB (sampled "
          f"{min(rss)}-{max(rss)}); HR median {result['hr_median_bpm']} (truth {truth})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
