"""Pipeline configuration: frozen, keyword-only dataclasses with checked fields.

Variants come from `dataclasses.replace` or `PipelineConfig.with_changes`; files are TOML
(`PipelineConfig.from_toml`), with one table per section (``[roi]``, ``[rppg]``,
``[kalman]``, ``[vitals]``) and unknown keys rejected with a suggestion (`edge.configio`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge import configio
from edge.configio import check, check_bool, choice, numbers
from edge.errors import ConfigError
from edge.rates import HR_BAND_HZ

__all__ = ["METHOD_NAMES", "ROI_MODES", "KalmanConfig", "PipelineConfig", "RoiConfig",
           "RppgConfig", "VitalsConfig", "check_range"]

METHOD_NAMES = ("pos", "chrom", "green", "lgi", "pbv", "omit", "cnn")
ROI_MODES = ("face", "full", "fixed")


check_range = check
"""`edge.configio.check`, under its older name."""


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
        Re-detect a known face only around its box and near its size (much cheaper than
        a full search); a full search runs at the start and when that fails.
    box_smoothing : float
        Weight of a new detection in the smoothed box (1 = no smoothing).
    skin_mask : bool
        Keep only YCrCb skin-coloured pixels in face mode (``full`` mode never masks).
    detect_in_background : bool
        Run face detection on a worker thread beside the frame path (another core), so
        that `push` never waits for it; the box in use is then a few frames old. Off: the
        detection runs inside `push`, deterministically (files, tests, one-core boards).
    """

    mode: str = "face"
    fixed_box: tuple[int, int, int, int] | None = None
    detect_every_n_frames: int = 15
    detect_width_px: int = 160
    local_redetect: bool = True
    box_smoothing: float = 0.3
    skin_mask: bool = True
    detect_in_background: bool = False

    def __post_init__(self) -> None:
        choice("roi.mode", self.mode, ROI_MODES)
        check_bool("roi.detect_in_background", self.detect_in_background)
        check_bool("roi.local_redetect", self.local_redetect)
        check_bool("roi.skin_mask", self.skin_mask)
        check("roi.detect_every_n_frames", self.detect_every_n_frames, 1, 10_000)
        check("roi.detect_width_px", self.detect_width_px, 64, 4096)
        check("roi.box_smoothing", self.box_smoothing, 0.01, 1.0)
        if self.mode == "fixed":
            box = None if self.fixed_box is None else numbers("roi.fixed_box",
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
        the heart rate is withheld (status ``low_quality``); the default sits above what
        pure noise gives.
    max_band_luma_fraction : float
        Largest in-band swing of the ROI brightness (relative, 0.005 = 0.5 %) that is
        still taken for a pulse; above it motion or light changes dominate and the
        heart rate is withheld (``low_quality``).
    max_gap_s : float
        A larger gap between timestamps resets the window (status ``resync``).
    cnn_pos_blend_hps : tuple of float, or None
        For ``cnn``: sideways head speeds (face heights per second,
        `edge.head_motion.HeadSpeed`) over which each window's pulse is blended from the
        net's to POS's; ``None`` keeps the net's at every speed (``[100, 100]`` in TOML,
        which has no null).
    estimate_in_background : bool
        Make each reading's estimates (heart rate, breathing, SpO2, HRV) on a worker
        thread from a snapshot of the trace, so that `push` never waits for them; the
        reading comes out of the first push after they are done. Off: inside `push`,
        deterministically (files, tests, boards with fewer than three cores).
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
    estimate_in_background: bool = False

    def __post_init__(self) -> None:
        choice("rppg.method", self.method, METHOD_NAMES)
        check_bool("rppg.estimate_in_background", self.estimate_in_background)
        if self.model_path is not None and not (
                isinstance(self.model_path, str)
                and self.model_path.endswith((".onnx", ".tflite"))):
            raise ConfigError(f"rppg.model_path must be an .onnx or .tflite file name or None; "
                              f"got {self.model_path!r}")
        check("rppg.sample_rate_hz", self.sample_rate_hz, 8.0, 240.0)
        check("rppg.projection_window_s", self.projection_window_s, 0.5, 5.0)
        check("rppg.hr_window_s", self.hr_window_s, 4.0, 120.0)
        check("rppg.long_window_s", self.long_window_s, self.hr_window_s, 120.0)
        check("rppg.min_window_s", self.min_window_s, 3.0, self.hr_window_s)
        check("rppg.output_interval_s", self.output_interval_s, 0.05, 60.0)
        check("rppg.min_snr_db", self.min_snr_db, -30.0, 30.0)
        check("rppg.max_band_luma_fraction", self.max_band_luma_fraction, 0.0001, 1.0)
        check("rppg.max_gap_s", self.max_gap_s, 0.1, 60.0)
        low, high = numbers("rppg.band_bpm", self.band_bpm, 2)
        nyquist_bpm = 30.0 * self.sample_rate_hz
        if not 20.0 <= low < high <= min(300.0, nyquist_bpm):
            raise ConfigError(
                f"rppg.band_bpm must satisfy 20 <= low < high <= {min(300.0, nyquist_bpm):g}; "
                f"got {self.band_bpm!r}"
            )
        object.__setattr__(self, "band_bpm", (float(low), float(high)))
        if self.cnn_pos_blend_hps is not None:
            low, high = numbers("rppg.cnn_pos_blend_hps", self.cnn_pos_blend_hps, 2)
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
        that also undoes the estimate's delay (a reading then says the rate at its time,
        not at the middle of its window). Off by default: it helps on rate ramps but not
        at a steady rate with motion bursts.
    q : float
        Process noise intensity (white-noise acceleration), in (unit/s²)²/s; small, as
        the delay compensation multiplies the slope. 0 allows no change of slope.
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
        restarts the rate from it (variance R), as the prediction across the gap is
        stale; the slope is kept, its variance grown over the gap. ``inf`` never restarts.
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
        check("kalman.q", self.q, 0.0, 1e6)
        check("kalman.r0", self.r0, 0.0, 1e9, open_low=True)
        check("kalman.r_min", self.r_min, 0.0, 1e9, open_low=True)
        check("kalman.r_max", self.r_max, self.r_min, 1e9)
        check("kalman.gate", self.gate, 0.0, math.inf, open_low=True)
        check("kalman.reinit_after", self.reinit_after, 1, 1000, integer=True)
        if self.initial_rate_var is not None:
            check("kalman.initial_rate_var", self.initial_rate_var, 0.0, 1e9, open_low=True)
        check("kalman.initial_slope_var", self.initial_slope_var, 0.0, 1e9)
        check("kalman.max_gap_s", self.max_gap_s, 0.0, math.inf, open_low=True)


@dataclass(frozen=True, kw_only=True, slots=True)
class VitalsConfig:
    """Breathing rate, SpO2 and HRV in the streaming pipeline (heart rate is `rppg`).

    Attributes
    ----------
    breathing, spo2, hrv : bool
        Estimate that vital (each costs a little time once per output interval).
    breathing_window_s : float
        Window of the breathing rate.
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
        (`edge.estimators.BREATHING_TRACKING`, `edge.estimators.SPO2_TRACKING`); the heart
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
        check("vitals.breathing_window_s", self.breathing_window_s, 10.0, 300.0)
        check("vitals.breathing_min_window_s", self.breathing_min_window_s, 10.0,
                    self.breathing_window_s)
        check("vitals.spo2_window_s", self.spo2_window_s, 4.0, 60.0)
        check("vitals.max_saturated_fraction", self.max_saturated_fraction, 0.0, 1.0)
        check("vitals.hrv_window_s", self.hrv_window_s, 30.0, 600.0)
        check("vitals.hrv_interval_s", self.hrv_interval_s, 0.1, 600.0)
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
        return configio.from_dict(cls, data)

    @classmethod
    def from_toml(cls, path: str | Path) -> PipelineConfig:
        """Read a TOML file with ``[roi]``, ``[rppg]``, ``[kalman]`` and ``[vitals]`` tables."""
        return cls.from_dict(configio.read_toml(path))

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict, the inverse of `from_dict`."""
        return configio.to_dict(self)

    def with_changes(self, **sections: dict[str, Any]) -> PipelineConfig:
        """Copy with fields of some sections changed: ``with_changes(roi={"mode": "full"})``.

        Unknown sections or fields raise `ConfigError` with a suggestion.
        """
        return configio.with_changes(self, sections)
