"""``edge-vitals run --png F``: heart rate, breathing rate and SpO2 over time.

`PlotSeries` keeps what the plot needs in bounded memory: at most `capacity` readings,
every `stride`-th one; when it is full it drops every other point and doubles the
stride, so a run of any length keeps between `capacity` / 2 and `capacity` points
evenly spread over it. `write_png` draws it with matplotlib (the ``plot`` extra): each
vital's value, its quality on a 0-1 axis beside it, and its status as background
shading (warming up, low quality, no face, gap).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.reasons import VITAL_STATUS
from edge.types import Reading, Status

__all__ = ["PANELS", "STATUS_COLOURS", "PlotSeries", "write_png"]

PANELS = (("heart_rate_bpm", "quality", "heart rate (bpm)", 10.0),
          ("breathing_rate_bpm", "breathing_quality", "breathing (/min)", 6.0),
          ("spo2_pct", "spo2_quality", "SpO2 (%)", 4.0))
"""(value field, quality field, axis label, smallest value span shown) per panel: the
span keeps a steady vital from looking like a wild one on a zoomed-in axis."""

STATUS_COLOURS = {Status.WARMING_UP: "#d9d9d9", Status.LOW_QUALITY: "#fdd49e",
                  Status.NO_FACE: "#fc9272", Status.RESYNC: "#bcbddc"}
"""Background of the stretches where a vital is withheld, by its status (ok: none)."""

_STATUS_CODES = list(Status)


class PlotSeries:
    """The readings ``--png`` draws, decimated to at most `capacity` points."""

    def __init__(self, capacity: int = 4000):
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2; got {capacity}")
        self.capacity = capacity
        self.stride = 1
        self._seen = 0
        self.n = 0
        self.time_s = np.empty(capacity)
        self.values = np.empty((len(PANELS), capacity))
        self.quality = np.empty((len(PANELS), capacity))
        self.status = np.empty((len(PANELS), capacity), dtype=np.int8)

    def add(self, reading: Reading) -> None:
        """Keep the reading if it falls on the stride."""
        self._seen += 1
        if (self._seen - 1) % self.stride:
            return
        if self.n == self.capacity:  # halve: keep points 0, 2, 4, ... and double the stride
            keep = slice(0, self.n, 2)
            self.n = len(range(self.n)[keep])
            for arr in (self.time_s, self.values, self.quality, self.status):
                arr[..., : self.n] = arr[..., keep].copy()
            self.stride *= 2
            if (self._seen - 1) % self.stride:
                return
        i = self.n
        self.time_s[i] = reading.timestamp_s
        for row, (key, quality, _, _) in enumerate(PANELS):
            value = getattr(reading, key)
            self.values[row, i] = np.nan if value is None else value
            self.quality[row, i] = getattr(reading, quality)
            self.status[row, i] = _STATUS_CODES.index(getattr(reading, VITAL_STATUS[key]))
        self.n += 1


def _shade(ax: object, time_s: np.ndarray, status: np.ndarray) -> None:
    """Background spans where the status is not ok (each point until the next)."""
    edges = np.r_[time_s, time_s[-1] + (time_s[-1] - time_s[-2] if time_s.size > 1 else 1.0)]
    start = 0
    for i in range(1, status.size + 1):
        if i == status.size or status[i] != status[start]:
            colour = STATUS_COLOURS.get(_STATUS_CODES[status[start]])
            if colour is not None:
                ax.axvspan(edges[start], edges[i], color=colour, lw=0)  # type: ignore[attr-defined]
            start = i


def write_png(series: PlotSeries, path: str | Path, *, title: str = "") -> Path:
    """Draw `series` to `path` (PNG); needs matplotlib (``pip install 'edge-vitals[plot]'``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    n = series.n
    fig, axes = plt.subplots(len(PANELS), 1, sharex=True, figsize=(10, 7), squeeze=False)
    time_s = series.time_s[:n]
    for row, (_, _, label, span) in enumerate(PANELS):
        ax = axes[row, 0]
        values = series.values[row, :n]
        if n:
            _shade(ax, time_s, series.status[row, :n])
            ax.plot(time_s, values, color="#08519c", lw=1.4)
        if np.isfinite(values).any():
            middle = 0.5 * (np.nanmin(values) + np.nanmax(values))
            half = max(span, np.nanmax(values) - np.nanmin(values)) / 2 * 1.1
            ax.set_ylim(middle - half, middle + half)
        else:
            ax.set_yticks([])
            ax.text(0.5, 0.5, "withheld throughout (see the shading)", transform=ax.transAxes,
                    ha="center", va="center", color="#636363")
        ax.set_ylabel(label)
        twin = ax.twinx()
        if n:
            twin.plot(time_s, series.quality[row, :n], color="#31a354", lw=0.8, alpha=0.7)
        twin.set_ylim(0.0, 1.05)
        twin.set_ylabel("quality", color="#31a354")
    axes[-1, 0].set_xlabel("time (s)")
    legend = [Patch(color=c, label=s.value.replace("_", " ")) for s, c in STATUS_COLOURS.items()]
    fig.legend(handles=legend, loc="upper right", ncol=len(legend), fontsize="small",
               title="withheld:", title_fontsize="small")
    fig.suptitle(title or "edge-vitals run", x=0.02, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
