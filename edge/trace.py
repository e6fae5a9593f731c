"""The trace stage: skin means at frame times -> a uniform RGB trace -> the pulse.

`Resampler` puts the means on the grid of ``rppg.sample_rate_hz``; the pulse stream
(POS, CHROM, ... or the CNN) projects it. The estimators read windows of final samples.
"""

from __future__ import annotations

import numpy as np

from edge.buffer import Resampler
from edge.config import PipelineConfig
from edge.probe import Probe
from edge.rppg import PulseStream, TraceBuffers, extract_pulse

__all__ = ["Trace", "history_s"]


def history_s(config: PipelineConfig) -> float:
    """Seconds of trace to keep: the longest window an estimator reads, plus two
    projection windows (the newest samples are not final yet).
    """
    rppg, vitals = config.rppg, config.vitals
    longest_s = max(rppg.long_window_s, vitals.breathing_window_s * vitals.breathing,
                    vitals.hrv_window_s * vitals.hrv)
    return longest_s + 2 * rppg.projection_window_s


class Trace:
    """Uniformly resampled RGB trace and its pulse, one skin sample at a time."""

    def __init__(self, config: PipelineConfig, *, probe: Probe):
        rppg = config.rppg
        self.probe = probe
        self.fs = rppg.sample_rate_hz
        self.max_gap_s = rppg.max_gap_s
        self.method = rppg.method
        keep_s = history_s(config)
        if rppg.method == "cnn":  # ONNX Runtime / LiteRT load only for this method
            from edge.cnn import CnnPulseStream

            self.stream: TraceBuffers = CnnPulseStream.from_config(rppg, keep_s=keep_s)
        else:
            self.stream = PulseStream(rppg.method, fs=self.fs,
                                      window_s=rppg.projection_window_s, keep_s=keep_s)
        self.resampler = Resampler(fs=self.fs, emit=self.stream.push)

    def warmup(self) -> None:
        """Compile (or load) the projection's kernels, or load the CNN's session."""
        if isinstance(self.stream, PulseStream):
            rgb = 100.0 + np.random.default_rng(0).random((64, 3))
            extract_pulse(rgb, fs=30.0, method=self.method)
        else:
            self.stream.warmup()

    def reset(self) -> None:
        """Forget every sample."""
        self.resampler.reset()
        self.stream.reset()

    def gap_before(self, timestamp_s: float) -> bool:
        """Whether the last skin sample is too old to interpolate from."""
        last = self.resampler.last_timestamp_s
        return last is not None and timestamp_s - last > self.max_gap_s

    def push(self, timestamp_s: float, rgb: np.ndarray) -> None:
        """Add a skin mean at `timestamp_s`; emits 0 or more uniform samples."""
        emitted = self.resampler.emitted_total
        self.resampler.push(timestamp_s, rgb)
        self.probe.work("trace_samples", self.resampler.emitted_total - emitted)

    def set_head_speed(self, speed_hps: float) -> None:
        """The head's sideways speed, for a stream that blends by it (the CNN)."""
        self.stream.head_speed_hps = speed_hps  # type: ignore[attr-defined]

    @property
    def last_sample_s(self) -> float | None:
        """Time of the last skin sample, or ``None`` since a reset."""
        return self.resampler.last_timestamp_s

    @property
    def available_s(self) -> float:
        """Seconds of final pulse samples."""
        return self.stream.final_count / self.fs

    def window(self, seconds: float) -> tuple[np.ndarray, np.ndarray] | None:
        """Views (rgb, pulse) of the newest `seconds` of final samples, or ``None`` if short."""
        n = round(seconds * self.fs)
        end = self.stream.final_count
        if end < n:
            return None
        return self.stream.rgb[end - n : end], self.stream.pulse[end - n : end]
