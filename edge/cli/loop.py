"""The loop of ``edge-vitals run``: frames through the pipeline to the sinks.

One function, `run_loop`, shared by ``run`` (files, cameras, the demo) and the
simulator's soak benchmark, which drives it for a simulated week. It keeps no
readings: each one goes to the sinks, the live page, the running `RunSummary` and (for
``--png``) the bounded `PlotSeries`, then is dropped, so memory stays flat for months.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any

from edge.cli.plot import PlotSeries
from edge.cli.summary import RunSummary
from edge.live import LiveSource
from edge.types import Reading

__all__ = ["run_loop"]


def run_loop(frames: Iterable[tuple[Any, float]], pipe: Any, *, sinks: Sequence[Any],
             summary: RunSummary, live: LiveSource | None = None, page: Any = None,
             plot: PlotSeries | None = None, progress: Any = None) -> float:
    """Push every frame, hand each reading on; returns the seconds it took.

    Parameters
    ----------
    frames : iterable of (frame, timestamp_s)
        The source (a `LiveSource` for cameras and ``--realtime``; `live` is then it).
    pipe : edge.Pipeline
        Anything with ``push(frame, timestamp_s) -> Reading | None``.
    sinks : sequence
        Each gets ``write(reading)``.
    summary : RunSummary
        Counts the frames and folds in every reading.
    live : LiveSource, optional
        A live source ends on Ctrl-C or SIGTERM (a service's stop) with a line, not an
        error; its drops go to the live `page`.
    page : edge.live_page.LivePage, optional
        Gets ``publish(reading, frames_dropped=...)``.
    plot : PlotSeries, optional
        Keeps what ``--png`` draws, decimated to a bounded size.
    progress : tqdm bar, optional
        Cleared before the readings are written and redrawn after, so that no old bar
        is left between the lines on a terminal.
    """
    started = time.perf_counter()
    try:
        for frame, timestamp_s in frames:
            summary.frames += 1
            reading = pipe.push(frame, timestamp_s)
            if reading is not None:
                _hand_on(reading, sinks=sinks, summary=summary, live=live, page=page,
                         plot=plot, progress=progress)
    except KeyboardInterrupt:
        if live is None:
            raise
        print("edge-vitals: stopped", file=sys.stderr)  # Ctrl-C or SIGTERM ends a camera run
    return time.perf_counter() - started


def _hand_on(reading: Reading, *, sinks: Sequence[Any], summary: RunSummary,
             live: LiveSource | None, page: Any, plot: PlotSeries | None,
             progress: Any) -> None:
    summary.add(reading)
    if plot is not None:
        plot.add(reading)
    if progress is not None:
        progress.clear()
    for sink in sinks:
        sink.write(reading)
    if progress is not None:
        progress.refresh()
    if page is not None:
        page.publish(reading, frames_dropped=live.queue.dropped if live else 0)
