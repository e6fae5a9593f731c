"""rPPG projection methods: from ROI-mean RGB traces to a blood-volume-pulse signal.

Each method maps a short window of the RGB trace (normalised by its mean) to a pulse
segment; segments are overlap-added (Wang et al. 2017, "Algorithmic
Principles of Remote PPG", IEEE TBME 64(7)). `PulseStream` does this sample by sample
for the streaming pipeline; the functions `pos`, `chrom`, ... do it for a whole trace
and are the same code (a loop over `PulseStream.push`).

Methods (window kernels in `edge.kernels`):

- POS: Wang et al. 2017; window 1.6 s, step one sample, plain overlap-add.
- CHROM: de Haan & Jeanne, IEEE TBME 60(10), 2013; Hann windows, 50 % overlap.
- GREEN: Verkruysse et al., Opt. Express 16(26), 2008.
- LGI: Pilz et al., CVPR Workshops 2018.
- PBV: de Haan & van Leest, Physiol. Meas. 35(9), 2014.
- OMIT: Álvarez Casado & Bordallo López, IEEE JBHI 2023.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge import kernels
from edge.errors import InputError
from edge.validate import valid_fs

__all__ = ["METHODS", "Method", "PulseStream", "TraceBuffers", "chrom", "extract_pulse", "green",
           "lgi", "omit", "pbv", "pos"]


@dataclass(frozen=True, slots=True)
class Method:
    """A projection method: its window kernel and how windows are laid out."""

    name: str
    kernel: Callable[..., None]
    hop_fraction: float
    """Step between windows as a fraction of the window (0 = one sample)."""
    hann: bool
    """Taper each window with a Hann window before overlap-adding."""


METHODS: dict[str, Method] = {
    "pos": Method("pos", kernels._pos_window, 0.0, hann=False),
    "chrom": Method("chrom", kernels._chrom_window, 0.5, hann=True),
    "green": Method("green", kernels._green_window, 0.5, hann=True),
    "lgi": Method("lgi", kernels._lgi_window, 0.5, hann=True),
    "pbv": Method("pbv", kernels._pbv_window, 0.5, hann=True),
    "omit": Method("omit", kernels._omit_window, 0.5, hann=True),
}


class TraceBuffers:
    """The RGB trace and pulse buffers a pulse stream keeps, index-aligned.

    Subclasses fill ``rgb`` (capacity, 3) and ``pulse`` (capacity,) and keep ``count``
    (samples held), ``final_count`` (leading pulse samples that no longer change),
    ``keep`` (samples kept when the buffers are full) and ``dropped`` (samples moved out
    of the front so far).
    """

    rgb: np.ndarray
    pulse: np.ndarray
    count: int
    final_count: int
    keep: int
    dropped: int
    window: int
    hop: int

    def push(self, rgb: np.ndarray) -> None:
        """Append one RGB mean (3,); every `hop` samples, project the newest `window`."""
        if self.count == self.rgb.shape[0]:
            self._compact()
        n = self.count
        self.rgb[n] = rgb
        self.count = n + 1
        start = self.count - self.window
        if start >= 0 and (start + self.dropped) % self.hop == 0:
            self._add_window(start)
            self.final_count = start + self.hop

    def _add_window(self, start: int) -> None:
        """Add the pulse of ``rgb[start:count]`` into ``pulse[start:count]``."""
        raise NotImplementedError

    def _compact(self) -> None:
        shift = self.count - self.keep
        self.rgb[: self.keep] = self.rgb[shift : self.count]
        self.pulse[: self.keep] = self.pulse[shift : self.count]
        self.pulse[self.keep :] = 0.0
        self.count = self.keep
        self.final_count = max(0, self.final_count - shift)
        self.dropped += shift

    def final_pulse(self, n_samples: int) -> np.ndarray:
        """View of the newest `n_samples` final pulse samples (fewer if not available)."""
        end = self.final_count
        return self.pulse[max(0, end - n_samples) : end]

    def recent_rgb(self, n_samples: int) -> np.ndarray:
        """View of the newest `n_samples` RGB samples."""
        return self.rgb[max(0, self.count - n_samples) : self.count]


class PulseStream(TraceBuffers):
    """Streaming overlap-add projection of a uniformly sampled RGB trace.

    Push one RGB sample at a time; `final_count` says how many pulse samples will not
    change any more (the newest ``window`` samples are still being added to). Buffers
    are preallocated; when full, the newest `keep` samples move to the front.

    Parameters
    ----------
    method : str
        A key of `METHODS`.
    fs : float
        Sampling rate of the trace in Hz.
    window_s : float
        Projection window in seconds.
    keep_s : float
        How much history to keep (the longest analysis window that reads it).
    """

    def __init__(self, method: str, *, fs: float, window_s: float = 1.6, keep_s: float = 40.0):
        if method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
        self.method = METHODS[method]
        fs = valid_fs(fs)
        self.window = max(4, round(window_s * fs))
        self.hop = max(1, round(self.method.hop_fraction * self.window))
        self.keep = max(round(keep_s * fs), 2 * self.window)
        capacity = 2 * self.keep
        self.rgb = np.zeros((capacity, 3))
        self.pulse = np.zeros(capacity)
        self._cn = np.zeros((self.window, 3))
        self._s1 = np.zeros(self.window)
        self._s2 = np.zeros(self.window)
        self._h = np.zeros(self.window)
        hann = np.hanning(self.window + 2)[1:-1]
        self._taper = hann if self.method.hann else np.ones(self.window)
        self.count = 0
        """Samples in the buffers now."""
        self.final_count = 0
        """Leading samples of `pulse` that are final."""
        self.dropped = 0
        """Samples moved out of the front of the buffers so far (absolute index offset)."""

    def reset(self) -> None:
        """Forget all samples."""
        self.rgb[:] = 0.0
        self.pulse[:] = 0.0
        self.count = self.final_count = self.dropped = 0

    def _add_window(self, start: int) -> None:
        _project_window(self.method.kernel, self.rgb[start : self.count], self._cn, self._s1,
                        self._s2, self._h)
        kernels._overlap_add(self._h, self._taper, self.pulse[start : self.count])


def _project_window(kernel: Callable[..., None], rgb: np.ndarray, cn: np.ndarray,
                    s1: np.ndarray, s2: np.ndarray, h: np.ndarray) -> None:
    """The pulse of one RGB window (n, 3) by a method's `kernel`, into `h` (n,).

    Scaled to unit spread, so that no window dominates an overlap-added sum; `cn`, `s1`
    and `s2` are the kernel's work buffers, reused from window to window.
    """
    kernels._normalise_window(rgb, cn)
    kernel(cn, s1, s2, h)
    sd = kernels._std(h)
    if sd > 0.0:
        h /= sd



def extract_pulse(rgb: np.ndarray, *, fs: float, method: str = "pos",
                  window_s: float = 1.6) -> np.ndarray:
    """Pulse signal of a whole RGB trace with one of `METHODS`.

    Parameters
    ----------
    rgb : np.ndarray [shape=(n_samples, 3)]
        ROI-mean R, G, B, uniformly sampled at `fs`, non-negative.
    fs : float
        Sampling rate in Hz.
    method : str
        ``pos``, ``chrom``, ``green``, ``lgi``, ``pbv`` or ``omit``.
    window_s : float
        Projection window in seconds.

    Returns
    -------
    np.ndarray [shape=(n_samples,), dtype=float64]
        The pulse; its last window is only partly overlap-added.
    """
    if np.iscomplexobj(rgb):
        raise InputError("rgb must be real ROI means; got complex values")
    try:
        rgb = np.asarray(rgb, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"rgb must be an array of numbers; got {type(rgb).__name__}") from None
    if rgb.ndim != 2 or rgb.shape[1] != 3:
        raise InputError(f"rgb must have shape (n_samples, 3); got {rgb.shape}")
    if not np.all(np.isfinite(rgb)) or np.any(rgb < 0):
        raise InputError("rgb must be finite and non-negative (ROI means of 8-bit levels)")
    fs = valid_fs(fs)
    if not (isinstance(window_s, int | float) and 0 < window_s < math.inf):
        raise InputError(f"window_s must be a finite, positive number of seconds; got {window_s!r}")
    if rgb.shape[0] < round(window_s * fs):
        raise InputError(
            f"rgb needs at least one window ({round(window_s * fs)} samples); got {rgb.shape[0]}"
        )
    stream = PulseStream(method, fs=fs, window_s=window_s, keep_s=rgb.shape[0] / fs + window_s)
    for sample in rgb:
        stream.push(sample)
    return stream.pulse[: stream.count].copy()


def _method_function(name: str) -> Callable[..., np.ndarray]:
    def run(rgb: np.ndarray, *, fs: float, window_s: float = 1.6) -> np.ndarray:
        return extract_pulse(rgb, fs=fs, method=name, window_s=window_s)

    run.__name__ = name
    run.__doc__ = f"`extract_pulse` with ``method={name!r}``."
    return run


pos = _method_function("pos")
chrom = _method_function("chrom")
green = _method_function("green")
lgi = _method_function("lgi")
pbv = _method_function("pbv")
omit = _method_function("omit")
