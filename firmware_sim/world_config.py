"""Configuration of the world simulator: ``WorldConfig`` and its presets.

:mod:`firmware_sim.world` re-exports everything here. Fields carry their units in their
names; ``__post_init__`` raises ``ConfigError`` naming the field, the value and the allowed
range (checks from `edge.configio`); variants come from ``dataclasses.replace``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.configio import check, choice, did_you_mean, numbers
from edge.errors import ConfigError

__all__ = ["MOTION_PRESETS", "SKIN_TONES_RGB", "MotionPreset", "WorldConfig"]

#: Diffuse skin colour (R, G, B) in DN at light level 1 and gain 1 (an exposure that keeps
#: the brightest skin channel clear of saturation, as auto-exposure would).
SKIN_TONES_RGB = {
    "light": (205.0, 154.0, 128.0),
    "medium": (190.0, 127.0, 95.0),
    "dark": (112.0, 72.0, 52.0),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class MotionPreset:
    """Head motion amplitudes (at 480 frame rows) and the band of the smooth random paths."""

    translation_px: float
    rotation_deg: float
    scale_fraction: float
    band_hz: tuple[float, float]


MOTION_PRESETS = {
    "still": MotionPreset(
        translation_px=0.0, rotation_deg=0.0, scale_fraction=0.0, band_hz=(0.05, 0.3)
    ),
    "mild": MotionPreset(
        translation_px=3.0, rotation_deg=1.5, scale_fraction=0.01, band_hz=(0.03, 0.3)
    ),
    "moderate": MotionPreset(
        translation_px=8.0, rotation_deg=4.0, scale_fraction=0.03, band_hz=(0.05, 0.5)
    ),
    "strong": MotionPreset(
        translation_px=24.0, rotation_deg=12.0, scale_fraction=0.08, band_hz=(0.05, 1.2)
    ),
}

_OPTIONAL_FIELDS = frozenset(
    {"heart_rate_end_bpm", "exposure_s", "pulse_amplitude", "pulse_source_fs_hz", "jpeg_quality",
     "spo2_pct", "spo2_end_pct"}
)
_INT_FIELDS = frozenset({"width", "height", "jpeg_quality", "seed"})
_RANGES: dict[str, tuple[float, float]] = {
    "width": (16, 4096),
    "height": (16, 4096),
    "fps": (1.0, 240.0),
    "duration_s": (0.5, 3600.0),
    "heart_rate_bpm": (30.0, 220.0),
    "heart_rate_end_bpm": (30.0, 220.0),
    "heart_rate_drift_bpm": (0.0, 20.0),
    "hrv_sdnn_ms": (0.0, 200.0),
    "breathing_rate_bpm": (4.0, 60.0),
    "spo2_pct": (50.0, 100.0),
    "spo2_end_pct": (50.0, 100.0),
    "rsa_bpm": (0.0, 15.0),
    "riiv_fraction": (0.0, 0.05),
    "riav_fraction": (0.0, 0.9),
    "head_bob_px": (0.0, 50.0),
    "sway_rms_px": (0.0, 50.0),
    "light_level": (0.01, 4.0),
    "exposure_gain": (0.1, 16.0),
    "exposure_s": (1e-5, 1.0),
    "illumination_drift_fraction": (0.0, 0.5),
    "flicker_hz": (0.0, 1000.0),
    "flicker_fraction": (0.0, 0.5),
    "specular_fraction": (0.0, 1.0),
    "pulse_amplitude": (0.0, 0.1),
    "pulse_source_fs_hz": (1.0, 100000.0),
    "read_noise_dn": (0.0, 50.0),
    "conversion_gain_dn_per_e": (0.0, 10.0),
    "jpeg_quality": (1, 100),
    "jitter_s": (0.0, 0.1),
    "drop_rate": (0.0, 0.5),
    "seed": (0, 2**63 - 1),
}


@dataclass(frozen=True, kw_only=True, slots=True)
class WorldConfig:
    """Everything that defines a synthetic clip; the same config and seed give the same clip.

    Parameters
    ----------
    width, height : int
        Frame size in pixels.
    fps, duration_s : float
        Nominal frame rate (Hz) and clip length (s).
    heart_rate_bpm, heart_rate_end_bpm : float
        Heart rate at the start; with an end value it ramps linearly to it over the clip.
    heart_rate_drift_bpm : float
        Amplitude of a smooth random drift of the heart rate, zero-mean over the clip.
    hrv_sdnn_ms : float
        Standard deviation of the random beat-to-beat IBI variation added on top of the
        trajectory, at 60 bpm; it scales with the IBI (about 13 ms at 140 bpm). The total
        SDNN is larger: RSA and drift add to it.
    breathing_rate_bpm, rsa_bpm : float
        Breathing rate and the respiratory sinus arrhythmia amplitude (RIFV), bpm.
    riiv_fraction, riav_fraction : float
        Respiratory modulation of the skin DC (fraction of green) and of the pulse amplitude.
    head_bob_px : float
        Vertical head motion at the breathing rate, pixels (up on inhalation).
    motion : str
        Head-motion preset, a key of ``MOTION_PRESETS`` (amplitudes scale with height / 480).
    motion_bursts : tuple of (start_s, duration_s)
        Intervals of added ``strong`` head motion (eased in and out over 0.5 s).
    skin_tone : str or tuple of 3 floats
        A key of ``SKIN_TONES_RGB`` or an explicit diffuse RGB in DN (1-255).
    light_level, exposure_gain : float
        Illumination (1 normal, about 0.35 dim) and camera gain; noise grows with the gain.
    exposure_s : float, optional
        Exposure time; default ``1 / fps``. Mains flicker is attenuated by ``sinc(f * T)``.
    illumination_drift_fraction, flicker_hz, flicker_fraction : float
        Slow light drift amplitude; mains flicker frequency (0 = none) and depth.
    specular_fraction : float
        Peak white forehead highlight as a fraction of full scale; varies with head pose.
    pulse_amplitude : float, optional
        Pulse AC/DC (peak-to-peak) in green; default 0.002-0.004 by skin tone (darker lower).
    pulse_rgb_weights : tuple of 3 floats
        Relative pulse strength per channel (blood-volume signature), scaled so green = 1.
    spo2_pct, spo2_end_pct : float, optional
        Blood oxygen saturation at the start, and at the end (a linear desaturation or
        recovery). When given, the red weight becomes ``R * blue`` with the ratio of
        ratios ``R = (A - SpO2) / B`` of `spo2_calibration`, so that a camera that sees
        the skin's own AC/DC measures R; default: the weights as given.
    spo2_calibration : tuple of 2 floats
        The (A, B) of ``SpO2 = A - B * R`` that this simulated camera and skin obey.
    pulse_source, pulse_source_column, pulse_source_fs_hz : optional
        CSV with a real PPG; its ensemble-averaged beat replaces the two-Gaussian template.
        Column default ``ppg``/``PPG``/``pleth``; rate from ``time_s`` or ``<N>hz`` in the name.
    read_noise_dn, conversion_gain_dn_per_e : float
        Read noise (DN) and shot-noise scale: variance = gain * conversion * signal.
    jpeg_quality : int, optional
        Encode and decode every frame as JPEG at this quality.
    jitter_s, drop_rate : float
        Timestamp jitter (standard deviation, clipped to 0.45 frame) and frame-drop probability.
    seed : int
        Seed of every random choice (paths, beats, noise, drops).
    sway_rms_px : float
        Broadband postural sway on both axes (`firmware_sim.sway`), RMS per axis in pixels
        at 480 frame rows, independent of ``motion`` and the breathing bob; 0 = none.
    """

    width: int = 640
    height: int = 480
    fps: float = 30.0
    duration_s: float = 30.0
    heart_rate_bpm: float = 72.0
    heart_rate_end_bpm: float | None = None
    heart_rate_drift_bpm: float = 1.0
    hrv_sdnn_ms: float = 30.0
    breathing_rate_bpm: float = 15.0
    rsa_bpm: float = 3.0
    riiv_fraction: float = 0.002
    riav_fraction: float = 0.15
    head_bob_px: float = 1.5
    motion: str = "still"
    motion_bursts: tuple[tuple[float, float], ...] = ()
    skin_tone: str | tuple[float, float, float] = "light"
    light_level: float = 1.0
    exposure_gain: float = 1.0
    exposure_s: float | None = None
    illumination_drift_fraction: float = 0.02
    flicker_hz: float = 100.0
    flicker_fraction: float = 0.01
    specular_fraction: float = 0.06
    pulse_amplitude: float | None = None
    pulse_rgb_weights: tuple[float, float, float] = (0.33, 0.77, 0.53)
    spo2_pct: float | None = None
    spo2_end_pct: float | None = None
    spo2_calibration: tuple[float, float] = (110.0, 25.0)
    pulse_source: str | Path | None = None
    pulse_source_column: str | None = None
    pulse_source_fs_hz: float | None = None
    read_noise_dn: float = 1.5
    conversion_gain_dn_per_e: float = 0.05
    jpeg_quality: int | None = None
    jitter_s: float = 0.0
    drop_rate: float = 0.0
    seed: int = 0
    sway_rms_px: float = 0.0

    def __post_init__(self) -> None:
        """Check every field; raise ConfigError naming the field, value and allowed range."""
        for name, (lo, hi) in _RANGES.items():
            value = getattr(self, name)
            if not (value is None and name in _OPTIONAL_FIELDS):
                check(f"WorldConfig.{name}", value, lo, hi, integer=name in _INT_FIELDS)
        if self.exposure_s is not None and self.exposure_s > 1.0 / self.fps:
            raise ConfigError(
                f"WorldConfig.exposure_s must be <= 1 / fps = {1.0 / self.fps:.4g}; "
                f"got {self.exposure_s!r}"
            )
        if self.jitter_s > 0.25 / self.fps:
            raise ConfigError(
                f"WorldConfig.jitter_s must be in [0, 0.25 / fps = {0.25 / self.fps:.4g}]; "
                f"got {self.jitter_s!r}"
            )
        try:
            bursts = tuple(numbers("WorldConfig.motion_bursts", p, 2) for p in self.motion_bursts)
        except (TypeError, ConfigError):  # the message below says what a burst is
            bursts = ((math.nan, math.nan),)
        if not all(a >= 0.0 and b > 0.0 for a, b in bursts):
            raise ConfigError(
                "WorldConfig.motion_bursts must be (start_s >= 0, duration_s > 0) pairs; "
                f"got {self.motion_bursts!r}"
            )
        object.__setattr__(self, "motion_bursts", bursts)
        choice("WorldConfig.motion", self.motion, MOTION_PRESETS)
        if isinstance(self.skin_tone, str):
            if self.skin_tone not in SKIN_TONES_RGB:
                raise ConfigError(
                    f"WorldConfig.skin_tone must be one of {', '.join(SKIN_TONES_RGB)} or 3 "
                    f"numbers in [1, 255]; got {self.skin_tone!r}"
                    f"{did_you_mean(self.skin_tone, SKIN_TONES_RGB)}"
                )
        else:
            object.__setattr__(
                self, "skin_tone", numbers("WorldConfig.skin_tone", self.skin_tone, 3, 1, 255)
            )
        weights = numbers("WorldConfig.pulse_rgb_weights", self.pulse_rgb_weights, 3, 0.0, 10.0)
        if weights[1] <= 0:
            raise ConfigError(f"WorldConfig.pulse_rgb_weights needs green > 0; got {weights!r}")
        object.__setattr__(self, "pulse_rgb_weights", weights)
        a, b = numbers("WorldConfig.spo2_calibration", self.spo2_calibration, 2)
        if not (50.0 <= a <= 200.0 and 1.0 <= b <= 100.0):
            raise ConfigError(
                f"WorldConfig.spo2_calibration must be (A in [50, 200], B in [1, 100]); "
                f"got {self.spo2_calibration!r}"
            )
        object.__setattr__(self, "spo2_calibration", (a, b))
        if self.spo2_end_pct is not None and self.spo2_pct is None:
            raise ConfigError("WorldConfig.spo2_end_pct needs spo2_pct")
        for value in (self.spo2_pct, self.spo2_end_pct):
            if value is not None and not 0.0 < (a - value) / b * weights[2] <= 10.0:
                raise ConfigError(
                    f"WorldConfig.spo2_pct={value} gives a red weight outside (0, 10] with "
                    f"spo2_calibration={self.spo2_calibration}"
                )
        if self.pulse_source is not None and not Path(self.pulse_source).is_file():
            raise ConfigError(
                f"WorldConfig.pulse_source must be a CSV file; got {self.pulse_source!r}"
            )

    def spo2_at(self, time_s: np.ndarray) -> np.ndarray:
        """True SpO2 (%) at `time_s`: the linear path from `spo2_pct` to `spo2_end_pct`,
        or the value the pulse weights imply when `spo2_pct` is ``None``.
        """
        a, b = self.spo2_calibration
        if self.spo2_pct is None:
            w = self.pulse_rgb_weights
            return np.full(np.shape(time_s), a - b * w[0] / w[2])
        end = self.spo2_pct if self.spo2_end_pct is None else self.spo2_end_pct
        fraction = np.clip(np.asarray(time_s, dtype=np.float64) / self.duration_s, 0.0, 1.0)
        return self.spo2_pct + (end - self.spo2_pct) * fraction

    @property
    def skin_rgb(self) -> tuple[float, float, float]:
        """Diffuse skin colour in DN at light level 1."""
        if isinstance(self.skin_tone, str):
            return SKIN_TONES_RGB[self.skin_tone]
        return self.skin_tone

    @property
    def pulse_ac_dc(self) -> float:
        """Pulse AC/DC in green: ``pulse_amplitude`` or the skin-tone default (0.002-0.004)."""
        if self.pulse_amplitude is not None:
            return float(self.pulse_amplitude)
        return float(np.interp(self.skin_rgb[1], [70.0, 170.0], [0.002, 0.004]))

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict of the fields (tuples as lists, paths as strings)."""
        out: dict[str, object] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
            if isinstance(value, Path):
                out[f.name] = str(value)
        return out
