"""``--method cnn``: the pulse from a small 1-D CNN on the ROI-mean RGB trace.

`CnnPulseStream` has the interface of `edge.rppg.PulseStream`, so the heart-rate estimator
reads it unchanged. Every ``hop`` samples the newest ``window`` RGB samples are normalised
(`normalise_window`), the net (run through `edge.backends`) maps them to a pulse segment and a
quality, and the segment is Hann-tapered, scaled to unit spread times its quality and
overlap-added. Window, hop and sampling rate come from the model's metadata.

Under head motion the net's learned colour weights pick up the motion more than POS's fixed
ones, so each window is blended towards POS's pulse of the same window (unit spread, not
scaled by the net's quality, which rates only the net's own pulse) by the sideways head speed
(`edge.head_motion.HeadSpeed`, set as `CnnPulseStream.head_speed_hps` before each sample): the
net's alone below ``blend_hps[0]``, POS's alone above ``blend_hps[1]``, linear between
(``rppg.cnn_pos_blend_hps``). Still and dark faces stay below the first speed.

The default model ships in ``edge/models/``; ``rppg.model_path`` selects another (``.onnx``
or ``.tflite``) exported with ``edge-vitals export``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge import kernels
from edge.backends import InferenceBackend, load_backend
from edge.config import RppgConfig
from edge.errors import ConfigError
from edge.rppg import TraceBuffers, _project_window

__all__ = ["DEFAULT_MODEL", "MOTION_SCALE", "CnnPulseStream", "default_model_path", "frame_inputs",
           "normalise_window"]

DEFAULT_MODEL = "temporal_pulse.onnx"
"""File name of the shipped default model in ``edge/models/``."""


def default_model_path(name: str = DEFAULT_MODEL) -> Path:
    """Path of a shipped model file (``edge/models/<name>``)."""
    return Path(__file__).resolve().parent / "models" / name


def normalise_window(rgb: np.ndarray, out: np.ndarray) -> None:
    """The temporal net's input: relative colour changes, scaled to unit overall spread.

    ``c = rgb / mean(rgb) - 1`` per channel (removes skin tone and light level), divided by
    the standard deviation over all channels and samples (keeps the ratios between channels,
    which carry the pulse's colour signature).

    Parameters
    ----------
    rgb : np.ndarray [shape=(T, 3)]
        ROI-mean R, G, B of one window, positive.
    out : np.ndarray [shape=(1, 3, T), dtype=float32]
        Written in place.
    """
    mean = rgb.mean(axis=0)
    mean[mean <= 0.0] = 1.0
    c = rgb / mean - 1.0
    sd = c.std()
    c /= sd if sd > 1e-9 else 1.0
    out[0] = c.T


MOTION_SCALE = 100.0
"""Scale of the frame net's motion input: a 1 % relative change between frames -> 1."""


def frame_inputs(prev: np.ndarray, cur: np.ndarray, motion: np.ndarray,
                 appearance: np.ndarray) -> None:
    """The frame net's inputs from two consecutive 36x36 RGB face crops.

    ``motion = MOTION_SCALE * (cur - prev) / (cur + prev + 1)`` (the normalised frame
    difference of DeepPhys, with a fixed scale so that its size keeps meaning from frame
    to frame); ``appearance`` is `cur` standardised over the crop.

    Parameters
    ----------
    prev, cur : np.ndarray [shape=(36, 36, 3), dtype=uint8]
        RGB crops of the previous and the current frame.
    motion, appearance : np.ndarray [shape=(1, 3, 36, 36), dtype=float32]
        Written in place.
    """
    a = prev.astype(np.float32).transpose(2, 0, 1)
    b = cur.astype(np.float32).transpose(2, 0, 1)
    np.divide(MOTION_SCALE * (b - a), a + b + 1.0, out=motion[0])
    sd = b.std()
    np.divide(b - b.mean(), sd if sd > 1e-6 else 1.0, out=appearance[0])


class CnnPulseStream(TraceBuffers):
    """Streaming pulse from a temporal CNN, with the interface of `edge.rppg.PulseStream`.

    Parameters
    ----------
    backend : InferenceBackend
        A loaded ``temporal`` model.
    fs : float
        Sampling rate of the trace; must equal the model's ``fs_hz``.
    keep_s : float
        How much history to keep.
    blend_hps : tuple of float, or None
        Head speeds (face heights per second) from which the pulse is blended towards
        POS's and at which it is POS's alone; ``None``: the net's at every speed.
    """

    def __init__(self, backend: InferenceBackend, *, fs: float, keep_s: float = 40.0,
                 blend_hps: tuple[float, float] | None = None):
        info = backend.info
        if info.kind != "temporal":
            raise ConfigError(f"--method cnn needs a temporal model; {info.name!r} is "
                              f"{info.kind!r}")
        if abs(fs - info.fs_hz) > 1e-6:
            raise ConfigError(f"rppg.sample_rate_hz must be {info.fs_hz:g} for model "
                              f"{info.name!r} (its training rate); got {fs:g}")
        self.backend = backend
        self.info = info
        self.window, self.hop = info.window, info.hop
        self.keep = max(round(keep_s * fs), 2 * self.window)
        self.rgb = np.zeros((2 * self.keep, 3))
        self.pulse = np.zeros(2 * self.keep)
        self._input = backend.inputs[next(iter(info.inputs))]
        self._taper = np.hanning(self.window + 2)[1:-1]
        self._segment = np.zeros(self.window)
        self.blend_hps = blend_hps
        self._cn = np.zeros((self.window, 3))
        self._s1 = np.zeros(self.window)
        self._s2 = np.zeros(self.window)
        self._pos = np.zeros(self.window)
        self.head_speed_hps = 0.0
        """Head speed now (face heights per second); the pipeline sets it every frame."""
        self.pos_weight = 0.0
        """Share of POS's pulse in the newest window (0-1)."""
        self.quality = 0.0
        """Quality output of the newest window (0-1)."""
        self.reset()

    @classmethod
    def from_config(cls, rppg: RppgConfig, *, keep_s: float, threads: int = 1) -> CnnPulseStream:
        """Load ``rppg.model_path`` (default: the shipped model) with `threads` threads."""
        path = rppg.model_path if rppg.model_path is not None else default_model_path()
        return cls(load_backend(path, threads=threads), fs=rppg.sample_rate_hz, keep_s=keep_s,
                   blend_hps=rppg.cnn_pos_blend_hps)

    def reset(self) -> None:
        """Forget all samples."""
        self.rgb[:] = 0.0
        self.pulse[:] = 0.0
        self.count = 0
        """Samples in the buffers now."""
        self.final_count = 0
        """Leading samples of `pulse` that are final."""
        self.dropped = 0
        """Samples moved out of the front of the buffers so far (absolute index offset)."""
        self.quality = 0.0
        self.head_speed_hps = 0.0
        self.pos_weight = 0.0

    def _add_window(self, start: int) -> None:
        rgb = self.rgb[start : self.count]
        normalise_window(rgb, self._input)
        pulse, quality = self.backend.run()[:2]
        seg = self._segment
        seg[:] = pulse.reshape(-1)
        seg -= seg.mean()
        sd = seg.std()
        self.quality = float(np.clip(quality.reshape(-1)[0], 0.0, 1.0))
        seg *= self.quality / sd if sd > 0.0 else 0.0
        self.pos_weight = w = self._pos_share()
        if w > 0.0:  # POS's share at unit spread: the net's quality is not POS's
            _project_window(kernels._pos_window, rgb, self._cn, self._s1, self._s2, self._pos)
            self._pos *= w
            seg *= 1.0 - w
            seg += self._pos
        seg *= self._taper
        self.pulse[start : self.count] += seg

    def _pos_share(self) -> float:
        """POS's share of the window's pulse at the current head speed."""
        if self.blend_hps is None:
            return 0.0
        low, high = self.blend_hps
        speed = self.head_speed_hps
        if speed <= low:
            return 0.0
        return 1.0 if speed >= high else (speed - low) / (high - low)

    def warmup(self) -> None:
        """Run the model once on a dummy window (first-run allocations happen here)."""
        self._input[:] = 0.0
        self.backend.run()

