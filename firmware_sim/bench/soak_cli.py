"""Soak of the command's own loop: ``run --camera`` for a simulated week, in minutes.

    python -m firmware_sim.bench.soak --through-cli --hours 168 --json out.json

Drives `edge.cli.loop.run_loop`, the loop of ``edge-vitals run`` (a camera's), with
the sinks ``run`` makes from its own flags (text on a null stream, ``--csv
/dev/null``), a `LiveSource` and its queue, the running `RunSummary` and a `PlotSeries`.
The source is synthetic and live: small frames on a capture thread, stamped at `fps`
and paced at `speed` simulated seconds per wall second, so a week passes in minutes.

Two pipelines: ``replay`` (default) plays back the readings a real `Pipeline` made from
a one-minute world-simulator clip, with new timestamps, at almost no cost: it soaks
the loop, the sinks, the queue and the summary, which is what can grow here. ``real``
runs `edge.Pipeline` itself on the clip's frames (give ``--fps 15``; much slower:
the pipeline's own cost bounds the speed); the pipeline alone is soaked by
``python -m firmware_sim.bench.soak``. Every simulated hour records RSS, readings,
frames captured and dropped.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import numpy as np

import edge
from edge.cli.loop import run_loop
from edge.cli.options import Parser, config_from_args
from edge.cli.plot import PlotSeries
from edge.cli.run import add_arguments, live_config, make_sinks
from edge.cli.summary import RunSummary
from edge.live import LiveSource
from firmware_sim.bench.soak import RSS_TARGET_MB, _ping_pong, _rss_mb
from firmware_sim.world import WorldConfig, make_clip

__all__ = ["CLIP_FPS", "MAX_LAG_S", "ReplayPipeline", "SyntheticCamera", "report",
           "soak_through_cli"]

MAX_LAG_S = 0.02
"""Wall seconds behind schedule after which the camera rebases its clock (no burst)."""

CLIP_FPS = 15.0
"""Frame rate of the world-simulator clip the frames (and the replayed readings) come from;
the camera stamps them at its own ``fps`` (``real``: give ``--fps 15``)."""


class SyntheticCamera:
    """`frames` in a loop, stamped at `fps` and paced at `speed` times real time.

    Calls `on_hour(hour)` on the capture thread at each simulated hour, and stops after
    `hours`. It sleeps before every frame, if only for 0 s, so that the loop's thread gets
    the interpreter between frames as it would between a real camera's. When the whole
    process was stalled (other programs on the machine) for more than `MAX_LAG_S`, the
    schedule resumes from now instead of catching up in a burst: at 3000x a 0.1 s stall
    would otherwise deliver five simulated minutes of frames at once, mostly dropped.
    """

    def __init__(self, frames: list[np.ndarray], *, fps: float, hours: float, speed: float,
                 on_hour: Any):
        self.frames, self.fps, self.speed = frames, float(fps), float(speed)
        self.n_total = round(hours * 3600.0 * fps)
        self.on_hour = on_hour
        self._closed = threading.Event()

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        order = _ping_pong(len(self.frames)) if len(self.frames) > 2 else np.arange(1)
        per_hour = round(3600.0 * self.fps)
        start = time.perf_counter()
        for i in range(self.n_total):
            if self._closed.is_set():
                return
            timestamp_s = i / self.fps
            ahead_s = timestamp_s / self.speed - (time.perf_counter() - start)
            if ahead_s < -MAX_LAG_S:  # the machine stalled us: resume the schedule from now
                start -= -ahead_s
                ahead_s = 0.0
            time.sleep(max(0.0, ahead_s))  # 0 still hands the GIL to the loop's thread
            if i and i % per_hour == 0:
                self.on_hour(i // per_hour)
            yield self.frames[order[i % order.size]], timestamp_s
        self.on_hour(self.n_total // per_hour)

    def close(self) -> None:
        """Stop at the next frame."""
        self._closed.set()


class ReplayPipeline:
    """Plays `readings` back in a loop, one each `interval_s` of frame time, restamped.

    Ticks stay on the grid of the first frame; a tick that no frame reached (frames
    dropped) is skipped, not caught up later.
    """

    def __init__(self, readings: list[edge.Reading], *, interval_s: float):
        self.readings, self.interval_s = readings, interval_s
        self._due_s: float | None = None
        self._next = 0

    def push(self, frame: np.ndarray, timestamp_s: float) -> edge.Reading | None:
        """The next recorded reading when one is due, else ``None``."""
        if self._due_s is None:
            self._due_s = timestamp_s + self.interval_s
        if timestamp_s < self._due_s:
            return None
        late_s = (timestamp_s - self._due_s) % self.interval_s
        self._due_s = timestamp_s - late_s + self.interval_s  # the next tick after this frame
        reading = self.readings[self._next % len(self.readings)]
        self._next += 1
        return dataclasses.replace(reading, timestamp_s=timestamp_s)


def _record(frames: list[np.ndarray], fps: float, config: edge.PipelineConfig,
            ) -> list[edge.Reading]:
    with edge.Pipeline(config) as pipe:
        found = [pipe.push(f, i / fps) for i, f in enumerate(frames)]
    return [r for r in found if r is not None]


def soak_through_cli(*, hours: float, fps: float = 2.0, speed: float = 3000.0,
                     pipeline: str = "replay", size: tuple[int, int] = (160, 120),
                     clip_s: float = 60.0) -> dict[str, Any]:
    """Run the soak; returns the per-hour records and the summary figures."""
    world = WorldConfig(width=size[0], height=size[1], duration_s=clip_s, fps=CLIP_FPS,
                        heart_rate_bpm=72.0, motion="still", seed=11)
    frames = [f.copy() for f, _ in make_clip(world).frames()]
    parser = Parser(prog="edge-vitals run")
    add_arguments(parser)
    args = parser.parse_args(["--camera", "0", "--csv", os.devnull, "--no-progress"])
    config = config_from_args(args)
    pipe: Any = (ReplayPipeline(_record(frames, CLIP_FPS, config),
                                interval_s=config.rppg.output_interval_s)
                 if pipeline == "replay" else None)
    summary, plot = RunSummary(config), PlotSeries()
    hourly: list[dict[str, float]] = []
    live: LiveSource | None = None

    def on_hour(hour: int) -> None:
        hourly.append({"hour": hour, "rss_mb": round(_rss_mb(), 2),
                       "readings": summary.readings, "frames": summary.frames,
                       "dropped": live.queue.dropped if live else 0})

    camera = SyntheticCamera(frames, fps=fps, hours=hours, speed=speed, on_hour=on_hour)
    with ExitStack() as stack, open(os.devnull, "w", encoding="utf-8") as null:
        sinks = make_sinks(args, config, stack, stream=null)
        if pipe is None:
            pipe = stack.enter_context(edge.Pipeline(live_config(config)))  # as run --camera
        live = stack.enter_context(LiveSource(camera, queue_size=args.queue))
        wall_s = run_loop(live, pipe, sinks=sinks, summary=summary, live=live, plot=plot)
        stats = live.stats
    gc.collect()
    return {"pipeline": pipeline, "fps": fps, "speed": speed, "frame_size": list(size),
            "simulated_h": hours, "wall_s": round(wall_s, 1), "hourly": hourly,
            **_figures(hourly, summary.readings, stats.dropped, stats.captured, hours),
            "frames_processed": summary.frames, "summary_bytes": summary.nbytes,
            "plot_points": plot.n}


def _figures(hourly: list[dict[str, float]], readings: int, dropped: int, captured: int,
             hours: float) -> dict[str, Any]:
    rss = [h["rss_mb"] for h in hourly]
    per_hour = np.diff([0] + [h["readings"] for h in hourly])
    growth = rss[-1] - rss[0] if rss else float("nan")
    return {"readings": readings, "dropped": dropped, "captured": captured,
            "readings_per_s": readings / (3600.0 * hours),
            "readings_per_hour_min": int(per_hour.min()) if per_hour.size else 0,
            "readings_per_hour_max": int(per_hour.max()) if per_hour.size else 0,
            "rss_first_hour_mb": rss[0] if rss else None, "rss_end_mb": rss[-1] if rss else None,
            "rss_max_mb": max(rss) if rss else None, "rss_growth_mb": round(growth, 2),
            "rss_ok": bool(growth <= RSS_TARGET_MB)}


def report(result: dict[str, Any]) -> str:
    """The lines the command prints."""
    return (f"soak --through-cli ({result['pipeline']} pipeline): {result['simulated_h']:g} h "
            f"simulated in {result['wall_s']:.0f} s wall; {result['readings']} readings "
            f"({result['readings_per_s']:.3f}/s; per hour {result['readings_per_hour_min']}-"
            f"{result['readings_per_hour_max']}), {result['captured']} frames captured, "
            f"{result['dropped']} dropped\nRSS {result['rss_first_hour_mb']} MB after hour 1 -> "
            f"{result['rss_end_mb']} MB at the end (max {result['rss_max_mb']}): growth "
            f"{result['rss_growth_mb']:+.2f} MB (target <= {RSS_TARGET_MB:g}) "
            f"{'ok' if result['rss_ok'] else 'MISSED'}")

