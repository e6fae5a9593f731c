"""Result containers: `Box`, `Status`, `Reading` (one output) and `Track` (many).

`Reading` is what `Pipeline.push` returns; `Track` is what `process_video` returns,
the same readings as numpy arrays. A vital that cannot be estimated is ``None`` in a
`Reading` (``NaN`` in a `Track`), and `Reading.status` says why.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = ["Box", "Reading", "Status", "Track"]


class Status(str, enum.Enum):
    """Why a reading holds what it holds."""

    OK = "ok"
    """Every vital that could be estimated has passed its quality gate."""
    WARMING_UP = "warming_up"
    """Not enough signal yet for a first estimate (the analysis window is filling)."""
    NO_FACE = "no_face"
    """No face (or no usable skin) in the recent frames."""
    LOW_QUALITY = "low_quality"
    """Signal present but too noisy for an estimate that could be trusted."""
    RESYNC = "resync"
    """A timestamp gap reset the analysis window; estimates restart."""

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels: top-left corner ``(x, y)``, width and height."""

    x: int
    y: int
    width: int
    height: int

    def to_list(self) -> list[int]:
        """Return ``[x, y, width, height]``."""
        return [self.x, self.y, self.width, self.height]

    def scaled(self, x_factor: float, y_factor: float) -> Box:
        """The same box in an image `x_factor` times wider and `y_factor` times taller."""
        return Box(round(self.x * x_factor), round(self.y * y_factor),
                   round(self.width * x_factor), round(self.height * y_factor))


@dataclass(frozen=True, kw_only=True, slots=True)
class Reading:
    """One output of the pipeline, at ``timestamp_s`` of the frame that produced it.

    Attributes
    ----------
    timestamp_s : float
        Capture time of the newest frame in the analysis window, in seconds.
    heart_rate_bpm, breathing_rate_bpm, spo2_pct, sdnn_ms, rmssd_ms : float or None
        The vitals; ``None`` when not estimable now (see `status`).
    spo2_calibrated : bool
        True only when `spo2_pct` comes from a user-fitted calibration.
    quality : float
        0 (no trust) to 1 (clean, strong signal) for the heart-rate estimate.
    status : Status
        ``ok``, ``warming_up``, ``no_face``, ``low_quality`` or ``resync``: the heart
        rate's, which every other vital needs too.
    face_box : Box or None
        The skin box the signal came from, in frame pixels.
    latency_ms : float
        Processing time of the `push` call that produced this reading.
    breathing_quality, spo2_quality, hrv_quality : float
        0-1 for the breathing rate, SpO2 and SDNN/RMSSD; 0 when the vital is ``None``.
        Uncalibrated SpO2 is capped at 0.3.
    breathing_status, spo2_status, hrv_status : Status
        Why that vital is ``None`` (or ``ok``): e.g. ``warming_up`` while its longer
        window fills, ``low_quality`` when its own gate withholds it.
    breathing_reason, spo2_reason, hrv_reason : str or None
        Which gate withheld that vital, when its status is ``low_quality``: ``off``
        (turned off in the config), ``no_heart_rate``, ``rejected`` (a jump its tracker
        refused); breathing ``no_rhythm``, ``unconfirmed`` (a first rate that the previous
        window does not agree with); SpO2 ``saturated`` (skin pixels clipped),
        ``too_noisy`` (red and blue do not pulse clearly together), ``weak_pulse``,
        ``out_of_range`` (ratio outside the calibration); HRV ``too_short`` (too few
        clean beats), ``below_noise_floor``, ``no_pulse``. ``None`` otherwise.
    """

    timestamp_s: float
    heart_rate_bpm: float | None = None
    breathing_rate_bpm: float | None = None
    spo2_pct: float | None = None
    spo2_calibrated: bool = False
    sdnn_ms: float | None = None
    rmssd_ms: float | None = None
    quality: float = 0.0
    status: Status = Status.WARMING_UP
    face_box: Box | None = None
    latency_ms: float = 0.0
    breathing_quality: float = 0.0
    spo2_quality: float = 0.0
    hrv_quality: float = 0.0
    breathing_status: Status = Status.WARMING_UP
    spo2_status: Status = Status.WARMING_UP
    hrv_status: Status = Status.WARMING_UP
    breathing_reason: str | None = None
    spo2_reason: str | None = None
    hrv_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict with the field names as keys."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in _STATUSES:
            out[name] = getattr(self, name).value
        out["face_box"] = None if self.face_box is None else self.face_box.to_list()
        return out


_VITALS = ("heart_rate_bpm", "breathing_rate_bpm", "spo2_pct", "sdnn_ms", "rmssd_ms")
_QUALITIES = ("quality", "breathing_quality", "spo2_quality", "hrv_quality")
_STATUSES = ("status", "breathing_status", "spo2_status", "hrv_status")


@dataclass(frozen=True, kw_only=True, slots=True)
class Track:
    """Many readings as arrays of shape ``(n_readings,)``; ``NaN`` where a vital is ``None``.

    `face_box` has shape ``(n_readings, 4)`` (x, y, width, height), ``NaN`` rows when
    there was no box; `status` and the per-vital statuses hold the status strings.
    """

    timestamp_s: np.ndarray
    heart_rate_bpm: np.ndarray
    breathing_rate_bpm: np.ndarray
    spo2_pct: np.ndarray
    spo2_calibrated: np.ndarray
    sdnn_ms: np.ndarray
    rmssd_ms: np.ndarray
    quality: np.ndarray
    status: np.ndarray
    face_box: np.ndarray
    latency_ms: np.ndarray
    breathing_quality: np.ndarray
    spo2_quality: np.ndarray
    hrv_quality: np.ndarray
    breathing_status: np.ndarray
    spo2_status: np.ndarray
    hrv_status: np.ndarray

    @classmethod
    def from_readings(cls, readings: Sequence[Reading]) -> Track:
        """Stack readings into arrays."""

        def column(name: str) -> np.ndarray:
            values = [getattr(r, name) for r in readings]
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        boxes = np.full((len(readings), 4), np.nan)
        for i, r in enumerate(readings):
            if r.face_box is not None:
                boxes[i] = r.face_box.to_list()
        return cls(
            timestamp_s=column("timestamp_s"),
            **{name: column(name) for name in _VITALS},
            spo2_calibrated=np.array([r.spo2_calibrated for r in readings], dtype=bool),
            **{name: column(name) for name in _QUALITIES},
            **{name: np.array([getattr(r, name).value for r in readings], dtype=object)
               for name in _STATUSES},
            face_box=boxes,
            latency_ms=column("latency_ms"),
        )

    def __len__(self) -> int:
        return int(self.timestamp_s.shape[0])

    def to_dict(self) -> dict[str, list[Any]]:
        """Lists per field, ``None`` in place of ``NaN``; JSON-ready."""
        out: dict[str, list[Any]] = {}
        for f in fields(self):
            arr = getattr(self, f.name)
            if arr.dtype.kind == "f":
                out[f.name] = [None if np.isnan(v) else float(v) for v in arr.ravel()]
                if arr.ndim == 2:
                    out[f.name] = [
                        None if np.isnan(row).any() else [int(v) for v in row] for row in arr
                    ]
            else:
                out[f.name] = arr.tolist()
        return out

    def mean_heart_rate_bpm(self) -> float | None:
        """Mean of the heart-rate readings that passed the quality gate, or ``None``."""
        hr = self.heart_rate_bpm[np.isfinite(self.heart_rate_bpm)]
        return float(hr.mean()) if hr.size else None
