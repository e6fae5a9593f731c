"""Synthetic physiology for the world simulator: heartbeats, breathing and ground truth.

The heart-rate trajectory is a base value or a linear ramp plus a smooth, zero-mean random
drift and respiratory sinus arrhythmia (RIFV). Beats are placed one inter-beat interval (IBI)
at a time from that trajectory, with white beat-to-beat variability on top. The pulse waveform
is a periodic beat template warped linearly onto each IBI, so the instantaneous heart rate of a
frame is ``60 / IBI`` of the beat it falls in and the time-average of the instantaneous heart
rate over an interval equals the number of beats per minute in it.

Beat templates are either a two-Gaussian systolic/diastolic shape or the ensemble-averaged beat
of a real PPG recording (peaks detected, beats resampled to a common phase axis and averaged).
The respiratory modulations follow Karlen et al., "Multiparameter respiratory rate estimation
from the photoplethysmogram", IEEE TBME 60(7):1946-1953, 2013 (RIIV, RIAV, RIFV).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.errors import ConfigError, InputError
from edge.rates import HR_BAND_HZ

__all__ = [
    "Breathing",
    "GroundTruth",
    "SmoothPath",
    "load_pulse_source",
    "make_beat_times",
    "ppg_beat_template",
    "sample_pulse",
    "two_gaussian_template",
]

TEMPLATE_POINTS = 256
_CSV_COLUMNS = ("frame_index", "timestamp_s", "pulse", "heart_rate_bpm", "breathing_rate_bpm")


@dataclass(frozen=True, kw_only=True, slots=True)
class SmoothPath:
    """A smooth random path: a weighted sum of sinusoids, evaluable at any time.

    Attributes
    ----------
    freqs_hz, phases_rad, weights : np.ndarray [shape=(n_components,)]
        Component frequencies, phases and weights; ``|path(t) - offset| <= sum(weights)``.
    offset : float
        Subtracted from every value (used to make a path zero-mean over a clip).
    """

    freqs_hz: np.ndarray
    phases_rad: np.ndarray
    weights: np.ndarray
    offset: float = 0.0

    @classmethod
    def random(
        cls,
        rng: np.random.Generator,
        *,
        amplitude: float,
        band_hz: tuple[float, float],
        n_components: int = 4,
    ) -> SmoothPath:
        """Draw a path whose absolute value never exceeds ``amplitude``."""
        freqs = rng.uniform(band_hz[0], band_hz[1], n_components)
        phases = rng.uniform(0.0, 2.0 * np.pi, n_components)
        weights = rng.uniform(0.5, 1.0, n_components)
        weights *= amplitude / weights.sum()
        return cls(freqs_hz=freqs, phases_rad=phases, weights=weights)

    def __call__(self, time_s: np.ndarray | float) -> np.ndarray:
        """Evaluate the path at ``time_s`` (any shape)."""
        t = np.asarray(time_s, dtype=np.float64)[..., None]
        arg = 2.0 * np.pi * self.freqs_hz * t + self.phases_rad
        return (self.weights * np.sin(arg)).sum(axis=-1) - self.offset

    def zero_mean(self, duration_s: float) -> SmoothPath:
        """Return a copy whose mean over ``[0, duration_s]`` is zero."""
        grid = np.linspace(0.0, duration_s, 2048)
        mean = float(np.mean(self(grid))) + self.offset
        return SmoothPath(
            freqs_hz=self.freqs_hz, phases_rad=self.phases_rad, weights=self.weights, offset=mean
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Breathing:
    """A sinusoidal breathing signal ``resp(t) = sin(2 pi f t + phase)``, in [-1, 1]."""

    rate_bpm: float
    phase_rad: float

    def resp(self, time_s: np.ndarray | float) -> np.ndarray:
        """Respiration signal (+1 = full inhalation) at ``time_s``."""
        t = np.asarray(time_s, dtype=np.float64)
        return np.sin(2.0 * np.pi * self.rate_bpm / 60.0 * t + self.phase_rad)


def make_beat_times(
    rng: np.random.Generator,
    *,
    duration_s: float,
    heart_rate_bpm: float,
    heart_rate_end_bpm: float | None,
    drift: SmoothPath,
    rsa_bpm: float,
    hrv_sdnn_ms: float,
    breathing: Breathing,
) -> np.ndarray:
    """Place systolic peaks so that the instantaneous heart rate follows the trajectory.

    ``HR(t) = ramp(t) + drift(t) + rsa_bpm * resp(t)``; each IBI is ``60 / HR(t_k)`` plus
    Gaussian beat-to-beat noise with standard deviation ``hrv_sdnn_ms`` at 60 bpm, scaled
    with the IBI (beat-to-beat variability in ms falls as the heart rate rises).

    Returns
    -------
    np.ndarray [shape=(n_beats,), dtype=float64]
        Beat (systolic peak) times in seconds. The first beat is before ``0`` and the last
        after ``duration_s``, so every time in the clip lies between two beats.
    """
    end_bpm = heart_rate_bpm if heart_rate_end_bpm is None else heart_rate_end_bpm
    sigma_s = hrv_sdnn_ms / 1000.0
    first_ibi_s = 60.0 / heart_rate_bpm
    t = -rng.uniform(0.05, 0.95) * first_ibi_s
    beats = [t]
    while t <= duration_s:
        ramp = heart_rate_bpm + (end_bpm - heart_rate_bpm) * np.clip(t / duration_s, 0.0, 1.0)
        hr_bpm = ramp + float(drift(t)) + rsa_bpm * float(breathing.resp(t))
        mean_ibi_s = 60.0 / max(hr_bpm, 20.0)
        ibi_s = mean_ibi_s + sigma_s * mean_ibi_s * rng.standard_normal()
        t += float(np.clip(ibi_s, 0.25, 3.0))
        beats.append(t)
    return np.asarray(beats, dtype=np.float64)


def sample_pulse(
    time_s: np.ndarray,
    *,
    beat_times_s: np.ndarray,
    template: np.ndarray,
    riav: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample the pulse waveform and the instantaneous heart rate at ``time_s``.

    Parameters
    ----------
    time_s : np.ndarray [shape=(n,)]
        Sample times in seconds, inside ``(beat_times_s[0], beat_times_s[-1])``.
    beat_times_s : np.ndarray [shape=(n_beats,)]
        Systolic peak times in seconds.
    template : np.ndarray [shape=(n_points,)]
        One beat on a periodic phase axis ``[0, 1)`` with the systolic peak at phase 0.
    riav : np.ndarray [shape=(n,)]
        Pulse-amplitude factor per sample (``1 + riav_fraction * resp``).

    Returns
    -------
    pulse : np.ndarray [shape=(n,), dtype=float64]
        The template warped onto each IBI, times ``riav``.
    heart_rate_bpm : np.ndarray [shape=(n,), dtype=float64]
        ``60 / IBI`` of the beat containing each sample.
    """
    k = np.clip(np.searchsorted(beat_times_s, time_s, side="right") - 1, 0, beat_times_s.size - 2)
    ibi_s = beat_times_s[k + 1] - beat_times_s[k]
    phase = (time_s - beat_times_s[k]) / ibi_s
    grid = np.arange(template.size) / template.size
    shape = np.interp(phase, grid, template, period=1.0)
    return shape * riav, 60.0 / ibi_s


def _normalise_template(beat: np.ndarray) -> np.ndarray:
    """Zero-mean, unit peak-to-peak version of ``beat``."""
    beat = beat - beat.mean()
    return beat / np.ptp(beat)


def two_gaussian_template(n_points: int = TEMPLATE_POINTS) -> np.ndarray:
    """Two-Gaussian PPG beat: systolic peak at phase 0, diastolic wave at phase 0.40.

    Returns
    -------
    np.ndarray [shape=(n_points,), dtype=float64]
        Zero-mean, peak-to-peak 1, periodic on ``[0, 1)``.
    """
    phase = np.arange(n_points) / n_points
    beat = np.zeros(n_points)
    # Widths chosen so that the 2nd harmonic has 0.43x the fundamental's amplitude, as
    # in the real contact PPGs the tests use (0.39 and 0.44 measured there).
    for centre, width, height in ((0.0, 0.15, 1.0), (0.40, 0.13, 0.35)):
        for wrap in (-1.0, 0.0, 1.0):
            beat += height * np.exp(-0.5 * ((phase - centre - wrap) / width) ** 2)
    return _normalise_template(beat)


def _fft_bandpass(signal: np.ndarray, fs_hz: float, band_hz: tuple[float, float]) -> np.ndarray:
    """Zero-phase brick-wall band-pass by FFT (offline use only)."""
    spectrum = np.fft.rfft(signal - signal.mean())
    freqs = np.fft.rfftfreq(signal.size, d=1.0 / fs_hz)
    spectrum[(freqs < band_hz[0]) | (freqs > band_hz[1])] = 0.0
    return np.fft.irfft(spectrum, n=signal.size)


def _find_peaks(x: np.ndarray, min_distance: int) -> np.ndarray:
    """Local maxima above zero, keeping the highest within ``min_distance`` samples."""
    cand = np.flatnonzero((x[1:-1] > x[:-2]) & (x[1:-1] >= x[2:]) & (x[1:-1] > 0)) + 1
    blocked = np.zeros(x.size, dtype=bool)
    kept = []
    for i in cand[np.argsort(-x[cand], kind="stable")]:
        if not blocked[i]:
            kept.append(i)
            blocked[max(i - min_distance + 1, 0) : i + min_distance] = True
    return np.sort(np.asarray(kept, dtype=np.int64))


def ppg_beat_template(
    signal: np.ndarray, *, fs_hz: float, n_points: int = TEMPLATE_POINTS
) -> np.ndarray:
    """Ensemble-average one beat of a real PPG recording.

    Beats are found on a 0.7-3.5 Hz band-passed copy, refined to the systolic maximum of a
    0.5-8 Hz copy, resampled peak-to-peak onto ``n_points`` phases and median-averaged over
    the beats whose IBI is within 25 % of the median.

    Parameters
    ----------
    signal : np.ndarray [shape=(n,)]
        PPG samples (systolic peaks pointing up).
    fs_hz : float
        Sampling rate in Hz.
    n_points : int
        Template length.

    Returns
    -------
    np.ndarray [shape=(n_points,), dtype=float64]
        Zero-mean, peak-to-peak 1, periodic, systolic peak at phase 0.

    Raises
    ------
    InputError
        If fewer than 5 clean beats are found.
    """
    x = np.asarray(signal, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 10 * fs_hz:
        raise InputError(f"PPG needs at least 10 s of samples; got {x.size / fs_hz:.1f} s")
    coarse = _fft_bandpass(x, fs_hz, HR_BAND_HZ)
    shape = _fft_bandpass(x, fs_hz, (0.5, 8.0))
    peaks = _find_peaks(coarse, int(0.33 * fs_hz))
    half = max(1, int(0.12 * fs_hz))
    starts = np.maximum(peaks - half, 0)
    peaks = np.unique(
        [s + int(np.argmax(shape[s : p + half])) for s, p in zip(starts, peaks, strict=True)]
    )
    ibi = np.diff(peaks)
    good = np.flatnonzero(np.abs(ibi - np.median(ibi)) < 0.25 * np.median(ibi)) if ibi.size else []
    if len(good) < 5:
        raise InputError(f"PPG template needs at least 5 clean beats; found {len(good)}")
    phase = np.arange(n_points) / n_points
    beats = []
    for j in good:
        seg = shape[peaks[j] : peaks[j + 1] + 1]
        seg = seg - np.linspace(0.0, seg[-1] - seg[0], seg.size)  # close the cycle
        beats.append(np.interp(phase, np.linspace(0.0, 1.0, seg.size), seg))
    return _normalise_template(np.median(np.asarray(beats), axis=0))


def load_pulse_source(
    path: str | Path, *, column: str | None = None, fs_hz: float | None = None
) -> tuple[np.ndarray, float]:
    """Read a PPG column from a CSV file with a header row.

    Parameters
    ----------
    path : str or Path
        CSV file.
    column : str, optional
        Column name; default: the first of ``ppg``, ``PPG``, ``pleth``, ``PLETH``.
    fs_hz : float, optional
        Sampling rate; default: from a ``time_s`` column, else from ``<N>hz`` in the file name.

    Returns
    -------
    signal : np.ndarray [shape=(n,), dtype=float64]
    fs_hz : float

    Raises
    ------
    ConfigError
        If the file, the column or the sampling rate cannot be found.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            header = f.readline().split(",")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"pulse_source: cannot read a CSV header from {path}: {exc}") from exc
    header = [h.strip() for h in header]
    names = [column] if column else ["ppg", "PPG", "pleth", "PLETH"]
    found = [n for n in names if n in header]
    if not found:
        raise ConfigError(f"pulse_source: column {names} not in {path.name}; columns: {header}")
    columns = [header.index(found[0])] + ([header.index("time_s")] if "time_s" in header else [])
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=1, usecols=columns, ndmin=2)
    except ValueError as exc:
        raise ConfigError(f"pulse_source: {path.name} has non-numeric values: {exc}") from exc
    if fs_hz is None and table.shape[1] == 2 and table.shape[0] > 1:
        time_s = table[:, 1]
        fs_hz = (time_s.size - 1) / float(time_s[-1] - time_s[0])  # robust to rounding
    if fs_hz is None:
        match = re.search(r"(\d+(?:\.\d+)?)hz", path.name, flags=re.IGNORECASE)
        if match is None:
            raise ConfigError(
                f"pulse_source: no time_s column and no '<N>hz' in {path.name}; "
                "set pulse_source_fs_hz"
            )
        fs_hz = float(match.group(1))
    return table[:, 0].astype(np.float64), float(fs_hz)


@dataclass(frozen=True, kw_only=True, slots=True, eq=False)
class GroundTruth:
    """What the simulated subject really did, per delivered frame.

    Attributes
    ----------
    timestamp_s : np.ndarray [shape=(n_frames,), dtype=float64]
        True capture time of each delivered frame, in seconds.
    pulse : np.ndarray [shape=(n_frames,), dtype=float64]
        Pulse waveform applied to the skin (unitless, zero-mean over the clip, peak-to-peak
        about 1; positive = brighter skin). Multiply by the pulse amplitude for AC/DC.
    heart_rate_bpm : np.ndarray [shape=(n_frames,), dtype=float64]
        Instantaneous heart rate (``60 / IBI`` of the current beat), beats per minute.
    breathing_rate_bpm : np.ndarray [shape=(n_frames,), dtype=float64]
        Breathing rate, breaths per minute.
    beat_times_s : np.ndarray [shape=(n_beats,), dtype=float64]
        Systolic peak times in seconds, including the beat before the first frame and the one
        after the last (empty when loaded from a CSV without its JSON sidecar).
    spo2_pct : np.ndarray [shape=(n_frames,)] or None
        Blood oxygen saturation, % (``None`` when loaded from a CSV).
    """

    timestamp_s: np.ndarray
    pulse: np.ndarray
    heart_rate_bpm: np.ndarray
    breathing_rate_bpm: np.ndarray
    beat_times_s: np.ndarray
    spo2_pct: np.ndarray | None = None

    def __len__(self) -> int:
        """Number of delivered frames."""
        return int(self.timestamp_s.size)

    def mean_heart_rate_bpm(self, start_s: float, end_s: float) -> float:
        """Time-average of the instantaneous heart rate over ``[start_s, end_s]``, in bpm.

        Exact (beats counted by linear phase between systolic peaks) when the beat times cover
        the interval; otherwise the per-frame values are held until the next frame.
        """
        if not end_s > start_s:
            raise InputError(f"need end_s > start_s; got start_s={start_s}, end_s={end_s}")
        beats = self.beat_times_s
        if beats.size >= 2 and beats[0] <= start_s and beats[-1] >= end_s:
            count = np.interp([start_s, end_s], beats, np.arange(beats.size, dtype=np.float64))
            return float(60.0 * (count[1] - count[0]) / (end_s - start_s))
        t = self.timestamp_s
        if t.size == 0:
            raise InputError("ground truth has no frames")
        # sample-and-hold: frame j holds from t_j to t_(j+1); the first frame also before t_0
        lo = np.clip(np.concatenate([[-np.inf], t[1:]]), start_s, end_s)
        hi = np.clip(np.concatenate([t[1:], [np.inf]]), start_s, end_s)
        return float(np.average(self.heart_rate_bpm, weights=hi - lo))

    def to_csv(self, path: str | Path) -> Path:
        """Write one row per delivered frame, at full float64 precision.

        Columns: ``frame_index, timestamp_s, pulse, heart_rate_bpm, breathing_rate_bpm``.
        """
        path = Path(path)
        table = np.column_stack(
            [
                np.arange(len(self), dtype=np.float64),
                self.timestamp_s,
                self.pulse,
                self.heart_rate_bpm,
                self.breathing_rate_bpm,
            ]
        )
        fmt = ["%d"] + ["%.17g"] * 4
        np.savetxt(path, table, delimiter=",", header=",".join(_CSV_COLUMNS), comments="", fmt=fmt)
        return path

    @classmethod
    def from_csv(cls, path: str | Path) -> GroundTruth:
        """Read a file written by :meth:`to_csv`.

        Beat times come from the sibling ``<stem>.json`` (written by ``write_clip``) when it
        exists; otherwise ``beat_times_s`` is empty.
        """
        path = Path(path)
        with path.open(encoding="utf-8") as f:
            header = tuple(h.strip() for h in f.readline().split(","))
        if header != _CSV_COLUMNS:
            raise InputError(f"truth CSV header must be {_CSV_COLUMNS}; got {header}")
        table = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2).reshape(-1, 5)
        sidecar = path.with_suffix(".json")
        beats: list[float] = []
        if sidecar.exists():
            beats = json.loads(sidecar.read_text(encoding="utf-8")).get("beat_times_s", [])
        return cls(
            timestamp_s=table[:, 1].copy(),
            pulse=table[:, 2].copy(),
            heart_rate_bpm=table[:, 3].copy(),
            breathing_rate_bpm=table[:, 4].copy(),
            beat_times_s=np.asarray(beats, dtype=np.float64),
        )
