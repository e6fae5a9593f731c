"""Pipeline configuration: frozen, keyword-only dataclasses with checked fields.

Variants come from `dataclasses.replace`; files are TOML (`PipelineConfig.from_toml`),
with one table per section (``[roi]``, ``[rppg]``, ``[kalman]``) and unknown keys rejected
with a suggestion.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from edge.errors import ConfigError
from edge.rates import HR_BAND_HZ

__all__ = ["METHOD_NAMES", "ROI_MODES", "KalmanConfig", "PipelineConfig", "RoiConfig",
           "RppgConfig", "VitalsConfig", "check_range"]

METHOD_NAMES = ("pos", "chrom", "green", "lgi", "pbv", "omit", "cnn")
ROI_MODES = ("face", "full", "fixed")


def check_range(name: str, value: float, low: float, high: float, *,
                open_low: bool = False) -> None:
    """Raise `ConfigError` unless `value` is a number in [low, high] ((low, high] if
    `open_low`); the message names the field, the range and the value.
    """
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and (low < value if open_low else low <= value) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ConfigError(f"{name} must be a number in {bracket}{low}, {high}]; got {value!r}")


def check_bool(name: str, value: object) -> None:
    """Raise `ConfigError` unless `value` is ``True`` or ``False`` (not "no", not 0)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false; got {value!r}")


def _numbers(name: str, value: object, count: int) -> tuple[float, ...]:
    """`value` as `count` finite numbers, or `ConfigError` naming the field."""
    ok = isinstance(value, list | tuple) and len(value) == count and all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in value)
    if not ok:
        raise ConfigError(f"{name} must be {count} numbers; got {value!r}")
    return tuple(float(v) for v in value)  # type: ignore[union-attr]


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        hint = difflib.get_close_matches(str(value), choices, n=1)
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}{extra}")


@dataclass(frozen=True, kw_only=True, slots=True)
class RoiConfig:
    """Where the skin signal comes from.

    Attributes
    ----------
    mode : str
        ``face`` (Haar face detection + forehead/cheek ROIs), ``full`` (the whole frame
        is skin, for pre-cropped skin videos) or ``fixed`` (`fixed_box` is the face box).
    fixed_box : tuple of int or None
        ``(x, y, width, height)`` in pixels, required by ``fixed``.
    detect_every_n_frames : int
        Face detection period while a face is tracked; detection also runs on loss.
    detect_width_px : int
        Width the frame is downscaled to before a full face detection.
    local_redetect : bool
        Re-detect a known face only around its box and near its size (a seventh of the
        time of a full search); a full search runs at the start and when that fails.
    box_smoothing : float
        Weight of a new detection in the smoothed box (1 = no smoothing).
    skin_mask : bool
        Keep only YCrCb skin-coloured pixels in face mode (``full`` mode never masks).
    """

    mode: str = "face"
    fixed_box: tuple[int, int, int, int] | None = None
    detect_every_n_frames: int = 15
    detect_width_px: int = 160
    local_redetect: bool = True
    box_smoothing: float = 0.3
    skin_mask: bool = True

    def __post_init__(self) -> None:
        _check_choice("roi.mode", self.mode, ROI_MODES)
        check_bool("roi.local_redetect", self.local_redetect)
        check_bool("roi.skin_mask", self.skin_mask)
        check_range("roi.detect_every_n_frames", self.detect_every_n_frames, 1, 10_000)
        check_range("roi.detect_width_px", self.detect_width_px, 64, 4096)
        check_range("roi.box_smoothing", self.box_smoothing, 0.01, 1.0)
        if self.mode == "fixed":
            box = None if self.fixed_box is None else _numbers("roi.fixed_box",
                                                                self.fixed_box, 4)
            if box is None or min(box[2:]) <= 0 or min(box[:2]) < 0:
                raise ConfigError(
                    f"roi.fixed_box must be (x, y, width, height) >= 0 with a positive size "
                    f"when roi.mode is 'fixed'; got {box!r}"
                )
            object.__setattr__(self, "fixed_box", tuple(int(v) for v in box))


@dataclass(frozen=True, kw_only=True, slots=True)
class RppgConfig:
    """Pulse extraction and heart-rate estimation.

    Attributes
    ----------
    method : str
        Projection method: ``pos``, ``chrom``, ``green``, ``lgi``, ``pbv`` or ``omit``; or
        ``cnn``, the temporal CNN of `edge.cnn` (window and hop from the model file).
    model_path : str or None
        Model file (``.onnx`` or ``.tflite``) for ``cnn``; ``None`` uses the shipped one.
    sample_rate_hz : float
        Uniform rate the timestamped ROI means are resampled to.
    projection_window_s : float
        Window of the projection methods (1.6 s in POS and CHROM).
    hr_window_s : float
        Length of the spectral analysis window for heart rate.
    long_window_s : float
        Window tried when the SNR over `hr_window_s` is below `min_snr_db`.
    min_window_s : float
        Shortest window that gives a first (provisional) heart rate.
    output_interval_s : float
        Time between readings.
    band_bpm : tuple of float
        Heart-rate search band, in beats per minute.
    min_snr_db : float
        Below this spectral SNR (for a 10 s window; -3 dB per doubling of the window)
        the heart rate is withheld (status ``low_quality``). The default, -1 dB, is
        above the 99th percentile of the SNR pure noise gives (POS on white-noise
        traces, 10 s windows, 15 and 30 fps: -1.8 and -1.4 dB).
    max_band_luma_fraction : float
        Largest in-band swing of the ROI brightness (relative, 0.005 = 0.5 %) that is
        still taken for a pulse; above it motion or light changes dominate and the
        heart rate is withheld (``low_quality``).
    max_gap_s : float
        A larger gap between timestamps resets the window (status ``resync``).
    cnn_pos_blend_hps : tuple of float, or None
        For ``cnn``: sideways head speeds (face heights per second, RMS over about a
        projection window, `edge.head_motion.HeadSpeed`) between which each window's pulse is
        blended from the net's to POS's (below the first the net's alone, above the
        second POS's alone); ``None`` keeps the net's at every speed (in a TOML file,
        which has no None, ``[100, 100]`` does the same). See `edge.cnn`.
    """

    method: str = "pos"
    model_path: str | None = None
    sample_rate_hz: float = 30.0
    projection_window_s: float = 1.6
    hr_window_s: float = 10.0
    long_window_s: float = 20.0
    min_window_s: float = 6.0
    output_interval_s: float = 1.0
    band_bpm: tuple[float, float] = (60.0 * HR_BAND_HZ[0], 60.0 * HR_BAND_HZ[1])
    min_snr_db: float = -1.0
    max_band_luma_fraction: float = 0.005
    max_gap_s: float = 1.0
    cnn_pos_blend_hps: tuple[float, float] | None = (0.01, 0.02)

    def __post_init__(self) -> None:
        _check_choice("rppg.method", self.method, METHOD_NAMES)
        if self.model_path is not None and not (
                isinstance(self.model_path, str)
                and self.model_path.endswith((".onnx", ".tflite"))):
            raise ConfigError(f"rppg.model_path must be an .onnx or .tflite file name or None; "
                              f"got {self.model_path!r}")
        check_range("rppg.sample_rate_hz", self.sample_rate_hz, 8.0, 240.0)
        check_range("rppg.projection_window_s", self.projection_window_s, 0.5, 5.0)
        check_range("rppg.hr_window_s", self.hr_window_s, 4.0, 120.0)
        check_range("rppg.long_window_s", self.long_window_s, self.hr_window_s, 120.0)
        check_range("rppg.min_window_s", self.min_window_s, 3.0, self.hr_window_s)
        check_range("rppg.output_interval_s", self.output_interval_s, 0.05, 60.0)
        check_range("rppg.min_snr_db", self.min_snr_db, -30.0, 30.0)
        check_range("rppg.max_band_luma_fraction", self.max_band_luma_fraction, 0.0001, 1.0)
        check_range("rppg.max_gap_s", self.max_gap_s, 0.1, 60.0)
        low, high = _numbers("rppg.band_bpm", self.band_bpm, 2)
        nyquist_bpm = 30.0 * self.sample_rate_hz
        if not 20.0 <= low < high <= min(300.0, nyquist_bpm):
            raise ConfigError(
                f"rppg.band_bpm must satisfy 20 <= low < high <= {min(300.0, nyquist_bpm):g}; "
                f"got {self.band_bpm!r}"
            )
        object.__setattr__(self, "band_bpm", (float(low), float(high)))
        if self.cnn_pos_blend_hps is not None:
            low, high = _numbers("rppg.cnn_pos_blend_hps", self.cnn_pos_blend_hps, 2)
            if not 0.0 <= low <= high <= 100.0:
                raise ConfigError(f"rppg.cnn_pos_blend_hps must satisfy 0 <= low <= high <= 100"
                                  f" or be None; got {self.cnn_pos_blend_hps!r}")
            object.__setattr__(self, "cnn_pos_blend_hps", (float(low), float(high)))


@dataclass(frozen=True, kw_only=True, slots=True)
class KalmanConfig:
    """Tuning of a `ScalarKalman`; "unit" is the rate's unit (bpm for heart rate).

    Attributes
    ----------
    enabled : bool
        Track the heart rate of the streaming pipeline with a `edge.kalman.ScalarKalman`
        that also undoes the estimate's delay (a reading then says the rate at its
        time, not at the middle of its window). Off by default: on HR ramps it cuts the
        error against the current rate by two thirds (by a quarter on ramps with motion
        bursts), but at a steady rate with motion bursts it is a little worse than the raw
        estimates (``python -m firmware_sim.bench.vitals --parts tracking``).
    q : float
        Process noise intensity (white-noise acceleration), in (unit/s²)²/s. §3.3
        suggests 0.5-2 (bpm/s²)²/s at rest; with the delay compensation a smaller q
        (0.03) keeps the slope, which the prediction multiplies by ~7 s, steadier and
        did better on ramps and bursts alike (0.01-1 tried). 0 allows no change of
        slope.
    r0 : float
        Measurement variance at 0 dB SNR, in unit²: R = r0·10^(-snr_db/10).
    r_min, r_max : float
        Clip range of the measurement variance, in unit². A 0-1 quality maps onto it
        geometrically (quality 1 -> r_min, 0 -> r_max), see `measurement_variance`.
    gate : float
        Largest normalised squared innovation y²/S that is accepted (9 = 3σ); ``inf``
        turns gating off.
    reinit_after : int
        Re-initialise from the measurement after this many gated-out ones in a row.
    initial_rate_var : float or None
        Variance of the rate after (re-)initialisation, in unit²; ``None`` uses the
        initialising measurement's variance R.
    initial_slope_var : float
        Variance of the slope after (re-)initialisation, in (unit/s)²; the slope starts
        at 0.
    max_gap_s : float
        A measurement that comes more than this many seconds after the previous one
        restarts the rate from it (variance R); the slope is kept, its variance grown
        over the gap. Without the restart the prediction across a gap (a burst of
        motion, a lost face) is stale, and the first, still disturbed, measurements
        after it kick the slope, an error the delay compensation multiplies by ~7 s.
        ``inf`` never restarts.
    """

    enabled: bool = False
    q: float = 0.03
    r0: float = 10.0
    r_min: float = 1.0
    r_max: float = 400.0
    gate: float = 9.0
    reinit_after: int = 5
    initial_rate_var: float | None = None
    initial_slope_var: float = 1.0
    max_gap_s: float = 5.0

    def __post_init__(self) -> None:
        check_bool("kalman.enabled", self.enabled)
        check_range("kalman.q", self.q, 0.0, 1e6)
        check_range("kalman.r0", self.r0, 0.0, 1e9, open_low=True)
        check_range("kalman.r_min", self.r_min, 0.0, 1e9, open_low=True)
        check_range("kalman.r_max", self.r_max, self.r_min, 1e9)
        check_range("kalman.gate", self.gate, 0.0, math.inf, open_low=True)
        if not isinstance(self.reinit_after, int) or isinstance(self.reinit_after, bool) or (
            not 1 <= self.reinit_after <= 1000
        ):
            raise ConfigError(
                f"kalman.reinit_after must be an integer in [1, 1000]; got {self.reinit_after!r}"
            )
        if self.initial_rate_var is not None:
            check_range("kalman.initial_rate_var", self.initial_rate_var, 0.0, 1e9, open_low=True)
        check_range("kalman.initial_slope_var", self.initial_slope_var, 0.0, 1e9)
        check_range("kalman.max_gap_s", self.max_gap_s, 0.0, math.inf, open_low=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class VitalsConfig:
    """Breathing rate, SpO2 and HRV in the streaming pipeline (heart rate is `rppg`).

    Attributes
    ----------
    breathing, spo2, hrv : bool
        Estimate that vital (each costs a little time once per output interval).
    breathing_window_s : float
        Window of the breathing rate (32 s: 1.9 breaths/min bins before interpolation).
    breathing_min_window_s : float
        First breathing rate after this much trace.
    spo2_window_s : float
        Window of the ratio of ratios.
    spo2_calibration : str or None
        JSON file from ``edge-vitals calibrate spo2``; ``None`` uses the uncalibrated
        default (readings say ``spo2_calibrated = false``).
    max_saturated_fraction : float
        SpO2 is withheld while more of the ROI's pixels than this are saturated.
    hrv_window_s, hrv_interval_s : float
        Window of SDNN/RMSSD (at least 30 s) and how often they are recomputed.
    track : bool
        Smooth the breathing rate and SpO2 with a Kalman tracker each
        (`edge.pipeline.BREATHING_TRACKING`, `edge.pipeline.SPO2_TRACKING`); the heart
        rate's tracker is the `kalman` section.
    """

    breathing: bool = True
    spo2: bool = True
    hrv: bool = True
    breathing_window_s: float = 32.0
    breathing_min_window_s: float = 20.0
    spo2_window_s: float = 10.0
    spo2_calibration: str | None = None
    max_saturated_fraction: float = 0.01
    hrv_window_s: float = 32.0
    hrv_interval_s: float = 5.0
    track: bool = True

    def __post_init__(self) -> None:
        for name in ("breathing", "spo2", "hrv", "track"):
            check_bool(f"vitals.{name}", getattr(self, name))
        check_range("vitals.breathing_window_s", self.breathing_window_s, 10.0, 300.0)
        check_range("vitals.breathing_min_window_s", self.breathing_min_window_s, 10.0,
                    self.breathing_window_s)
        check_range("vitals.spo2_window_s", self.spo2_window_s, 4.0, 60.0)
        check_range("vitals.max_saturated_fraction", self.max_saturated_fraction, 0.0, 1.0)
        check_range("vitals.hrv_window_s", self.hrv_window_s, 30.0, 600.0)
        check_range("vitals.hrv_interval_s", self.hrv_interval_s, 0.1, 600.0)
        if self.spo2_calibration is not None and not isinstance(self.spo2_calibration, str):
            raise ConfigError(
                f"vitals.spo2_calibration must be a file path; got {self.spo2_calibration!r}"
            )


@dataclass(frozen=True, kw_only=True, slots=True)
class PipelineConfig:
    """Everything `edge.Pipeline` needs; sections `roi`, `rppg`, `kalman` and `vitals`."""

    roi: RoiConfig = field(default_factory=RoiConfig)
    rppg: RppgConfig = field(default_factory=RppgConfig)
    kalman: KalmanConfig = field(default_factory=KalmanConfig)
    vitals: VitalsConfig = field(default_factory=VitalsConfig)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        """Build from nested dicts (``{"roi": {...}, "rppg": {...}}``); unknown keys raise."""
        return _from_dict(cls, data, prefix="")

    @classmethod
    def from_toml(cls, path: str | Path) -> PipelineConfig:
        """Read a TOML file with ``[roi]`` and ``[rppg]`` tables."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text (TOML)") from None
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict, the inverse of `from_dict`."""
        return _to_dict(self)

    def with_changes(self, **sections: dict[str, Any]) -> PipelineConfig:
        """Copy with fields of some sections changed: ``with_changes(roi={"mode": "full"})``."""
        changed = {name: replace(getattr(self, name), **vals) for name, vals in sections.items()}
        return replace(self, **changed)


def _from_dict(cls: type, data: dict[str, Any], prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'} must be a table; got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ConfigError(f"config keys must be strings; got {key!r} in {prefix or 'config'}")
        if key not in known:
            hint = difflib.get_close_matches(key, list(known), n=1)
            extra = f"; did you mean '{prefix}{hint[0]}'?" if hint else ""
            raise ConfigError(f"unknown config key '{prefix}{key}'{extra}")
        default = getattr(cls(), key)
        if is_dataclass(default):
            kwargs[key] = _from_dict(type(default), value, prefix=f"{prefix}{key}.")
        elif isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


def _to_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = _to_dict(value) if is_dataclass(value) else value
    return out
