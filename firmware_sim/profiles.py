"""Device profiles: how much slower a Raspberry Pi runs each pipeline stage than the host.

A profile is a TOML file (shipped: ``zero2w``, ``pi3bplus``, ``pi4``, ``pi5``, ``host``)
with the board, its camera, per-stage-class slowdown factors (device time / host time)
and their sources, jitter and thermal models and the budgets a replay is judged against.
`DeviceProfile.service_times_s` turns host times into device times, deterministically for
a seeded ``numpy`` Generator. The shipped factors are priors from public benchmarks until
``edge-vitals calibrate device`` (`firmware_sim.calibrate`) measures the real board.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from edge import configio
from edge.configio import check, check_bool, choice, did_you_mean, numbers
from edge.errors import ConfigError

__all__ = [
    "SHIPPED_PROFILES", "STAGE_CLASSES", "STAGE_CLASS_NAMES", "BudgetSpec", "CameraSpec",
    "DeviceProfile", "FactorSources", "JitterSpec", "StageFactors", "ThermalSpec",
    "load_profile",
]

STAGE_CLASS_NAMES = ("decode", "frame", "numba", "python", "cnn")
"""Stage classes: groups of work that slow down alike on a smaller CPU."""

STAGE_CLASSES = {"decode": "decode", "validate": "python", "track": "frame", "roi": "numba",
                 "trace": "numba", "estimate": "python"}
"""Pipeline stage (`edge.pipeline.STAGES`, plus the video ``decode``) -> stage class."""

SHIPPED_PROFILES = ("zero2w", "pi3bplus", "pi4", "pi5", "host")
"""Profiles shipped in ``firmware_sim/profiles/<name>.toml``."""

QUEUE_POLICIES = ("latest", "v4l2")


def _check_str(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string; got {value!r}")


def _floats(obj: Any, names: tuple[str, ...]) -> None:
    for name in names:  # ints from TOML (``fps = 30``) are stored as floats
        object.__setattr__(obj, name, float(getattr(obj, name)))


@dataclass(frozen=True, kw_only=True, slots=True)
class CameraSpec:
    """The camera and how frames queue up when the pipeline falls behind.

    Attributes
    ----------
    model : str
        Camera and capture stack, free text.
    fps : float
        Frame rate the board typically runs (the simulator may override it).
    width_px, height_px : int
        Frame size delivered to the pipeline.
    buffer_count : int
        Capture buffers (picamera2 preview default 4; OpenCV V4L2 default 4).
    queue : str
        ``latest``: picamera2 keeps only the newest completed frame and silently drops
        older ones. ``v4l2``: OpenCV's V4L2 FIFO of `buffer_count` buffers; the driver
        drops new frames while it is full, and a slow reader gets stale frames.
    mjpeg_decode_on_cpu : bool
        Frames arrive as MJPEG and are decoded on the CPU (USB webcams), so the
        ``decode`` stage is charged; picamera2 delivers raw frames from the ISP.
    notes : str
        Free text.
    """

    model: str = "USB webcam, OpenCV V4L2, MJPG"
    fps: float = 30.0
    width_px: int = 640
    height_px: int = 480
    buffer_count: int = 4
    queue: str = "v4l2"
    mjpeg_decode_on_cpu: bool = True
    notes: str = ""

    def __post_init__(self) -> None:
        _check_str("camera.model", self.model)
        _check_str("camera.notes", self.notes)
        check("camera.fps", self.fps, 1, 240)
        check("camera.width_px", self.width_px, 16, 8192, integer=True)
        check("camera.height_px", self.height_px, 16, 8192, integer=True)
        check("camera.buffer_count", self.buffer_count, 1, 64, integer=True)
        choice("camera.queue", self.queue, QUEUE_POLICIES)
        check_bool("camera.mjpeg_decode_on_cpu", self.mjpeg_decode_on_cpu)
        _floats(self, ("fps",))


@dataclass(frozen=True, kw_only=True, slots=True)
class StageFactors:
    """Device time / host time per stage class (1.0 = as fast as the host)."""

    decode: float = 1.0
    frame: float = 1.0
    numba: float = 1.0
    python: float = 1.0
    cnn: float = 1.0

    def __post_init__(self) -> None:
        for name in STAGE_CLASS_NAMES:
            check(f"factors.{name}", getattr(self, name), 0.01, 10_000)
        _floats(self, STAGE_CLASS_NAMES)


@dataclass(frozen=True, kw_only=True, slots=True)
class FactorSources:
    """Where each factor comes from (a benchmark ratio, or a calibration run)."""

    decode: str = ""
    frame: str = ""
    numba: str = ""
    python: str = ""
    cnn: str = ""

    def __post_init__(self) -> None:
        for name in STAGE_CLASS_NAMES:
            _check_str(f"factors_source.{name}", getattr(self, name))


@dataclass(frozen=True, kw_only=True, slots=True)
class JitterSpec:
    """Per-call variation of the device time.

    Attributes
    ----------
    sigma : float
        Sigma of the lognormal multiplier ``exp(sigma * z)``, ``z ~ N(0, 1)`` (median 1,
        so that the factor scales median times, which is how it is calibrated).
    os_noise_probability : float
        Chance, per service (one push on the frame core, one job on a worker core), that
        the OS (interrupts, Wi-Fi, other processes) adds a delay (latency-sim §4.1).
    os_noise_ms : tuple of float
        ``(low, high)``: that delay is uniform in this range, in milliseconds.
    """

    sigma: float = 0.0
    os_noise_probability: float = 0.0
    os_noise_ms: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        check("jitter.sigma", self.sigma, 0.0, 2.0)
        check("jitter.os_noise_probability", self.os_noise_probability, 0.0, 1.0)
        low, high = numbers("jitter.os_noise_ms", self.os_noise_ms, 2, 0.0, 10_000.0)
        if low > high:
            raise ConfigError(f"jitter.os_noise_ms must be [low, high] with "
                              f"0 <= low <= high <= 10000; got {self.os_noise_ms!r}")
        object.__setattr__(self, "os_noise_ms", (low, high))
        _floats(self, ("sigma", "os_noise_probability"))


@dataclass(frozen=True, kw_only=True, slots=True)
class ThermalSpec:
    """Step model of thermal throttling.

    Attributes
    ----------
    throttle_after_s : float
        Seconds of sustained work before the clock drops.
    throttled_clock_ghz : float or None
        Clock after that; ``None`` = never throttles (fan, heatsink, light load).
        Every stage is then slowed by ``clock_ghz / throttled_clock_ghz`` (an upper
        bound for memory-bound stages, which slow down less).
    notes : str
        Free text.
    """

    throttle_after_s: float = 0.0
    throttled_clock_ghz: float | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        check("thermal.throttle_after_s", self.throttle_after_s, 0.0, 1e6)
        if self.throttled_clock_ghz is not None:
            check("thermal.throttled_clock_ghz", self.throttled_clock_ghz, 0.05, 10.0)
            _floats(self, ("throttled_clock_ghz",))
        _check_str("thermal.notes", self.notes)
        _floats(self, ("throttle_after_s",))


@dataclass(frozen=True, kw_only=True, slots=True)
class BudgetSpec:
    """Pass/fail limits of a replay on this device.

    Attributes
    ----------
    frame_deadline_ms : float or None
        Per-frame deadline; ``None`` = one frame period, ``1000 / camera.fps``
        (see `DeviceProfile.frame_deadline_ms`).
    p99_frame_ms : float or None
        Limit on the 99th-percentile per-frame latency; ``None`` = the deadline.
    max_drop_fraction : float
        Largest fraction of frames dropped other than by design (decimation).
    max_deadline_miss_fraction : float
        Largest fraction of processed frames that miss the deadline.
    max_rss_mb : float
        Resident-memory high-water mark limit, in MiB.
    max_time_to_first_hr_s : float
        Longest time from start to the first heart rate.
    """

    frame_deadline_ms: float | None = None
    p99_frame_ms: float | None = None
    max_drop_fraction: float = 0.01
    max_deadline_miss_fraction: float = 0.01
    max_rss_mb: float = 1000.0
    max_time_to_first_hr_s: float = 13.0

    def __post_init__(self) -> None:
        for name in ("frame_deadline_ms", "p99_frame_ms"):
            if getattr(self, name) is not None:
                check(f"budget.{name}", getattr(self, name), 0.1, 60_000)
                _floats(self, (name,))
        check("budget.max_drop_fraction", self.max_drop_fraction, 0.0, 1.0)
        check("budget.max_deadline_miss_fraction", self.max_deadline_miss_fraction,
                     0.0, 1.0)
        check("budget.max_rss_mb", self.max_rss_mb, 1.0, 1e6)
        check("budget.max_time_to_first_hr_s", self.max_time_to_first_hr_s, 0.1, 3600)
        _floats(self, ("max_drop_fraction", "max_deadline_miss_fraction", "max_rss_mb",
                       "max_time_to_first_hr_s"))


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceProfile:
    """A device to simulate: board, camera, slowdown factors, jitter, thermal, budgets.

    The defaults describe the host itself (factors 1, no jitter, no throttling).
    Variants come from `dataclasses.replace` or `with_fps`.
    """

    name: str = "host"
    description: str = ""
    cores: int = 4
    clock_ghz: float = 2.0
    memory_mb: int = 4096
    camera: CameraSpec = field(default_factory=CameraSpec)
    factors: StageFactors = field(default_factory=StageFactors)
    factors_source: FactorSources = field(default_factory=FactorSources)
    jitter: JitterSpec = field(default_factory=JitterSpec)
    thermal: ThermalSpec = field(default_factory=ThermalSpec)
    budget: BudgetSpec = field(default_factory=BudgetSpec)

    def __post_init__(self) -> None:
        _check_str("name", self.name)
        if not self.name or not all(c.isalnum() or c in "-_." for c in self.name):
            raise ConfigError(f"name must be non-empty letters, digits, '-', '_' or '.'; "
                              f"got {self.name!r}")
        _check_str("description", self.description)
        check("cores", self.cores, 1, 1024, integer=True)
        check("clock_ghz", self.clock_ghz, 0.05, 10.0)
        check("memory_mb", self.memory_mb, 16, 10_000_000, integer=True)
        _floats(self, ("clock_ghz",))
        throttled = self.thermal.throttled_clock_ghz
        if throttled is not None and throttled > self.clock_ghz:
            raise ConfigError(f"thermal.throttled_clock_ghz must be <= clock_ghz "
                              f"({self.clock_ghz:g}); got {throttled:g}")

    # -- derived budgets ---------------------------------------------------------------
    @property
    def frame_period_ms(self) -> float:
        """``1000 / camera.fps``."""
        return 1000.0 / self.camera.fps

    @property
    def frame_deadline_ms(self) -> float:
        """The per-frame deadline: ``budget.frame_deadline_ms``, else one frame period."""
        deadline = self.budget.frame_deadline_ms
        return self.frame_period_ms if deadline is None else deadline

    @property
    def p99_frame_ms(self) -> float:
        """The p99 per-frame latency limit: ``budget.p99_frame_ms``, else the deadline."""
        limit = self.budget.p99_frame_ms
        return self.frame_deadline_ms if limit is None else limit

    def with_fps(self, fps: float) -> DeviceProfile:
        """Copy with another camera frame rate (defaulted deadlines follow it)."""
        return replace(self, camera=replace(self.camera, fps=fps))

    # -- service-time model ------------------------------------------------------------
    def factor(self, stage: str) -> float:
        """Slowdown factor of a stage class (``"frame"``) or pipeline stage (``"track"``)."""
        return getattr(self.factors, _stage_class(stage))

    def thermal_multiplier(self, elapsed_s: float) -> float:
        """``clock_ghz / throttled_clock_ghz`` once `elapsed_s` >= ``throttle_after_s``, else 1."""
        throttled = self.thermal.throttled_clock_ghz
        if throttled is None or elapsed_s < self.thermal.throttle_after_s:
            return 1.0
        return self.clock_ghz / throttled

    def service_multiplier(self, stage: str, rng: np.random.Generator,
                           elapsed_s: float = 0.0) -> float:
        """Factor x lognormal jitter x thermal multiplier; draws one normal from `rng`."""
        z = rng.standard_normal()
        return self.factor(stage) * math.exp(self.jitter.sigma * z) * self.thermal_multiplier(
            elapsed_s)

    def os_noise_s(self, rng: np.random.Generator) -> float:
        """An OS delay in seconds (mostly 0); always draws two uniforms from `rng`."""
        hit, where = rng.random(2)
        if hit >= self.jitter.os_noise_probability:
            return 0.0
        low, high = self.jitter.os_noise_ms
        return (low + (high - low) * where) / 1000.0

    def device_time_s(self, host_s: float, stage: str, rng: np.random.Generator,
                      elapsed_s: float = 0.0) -> float:
        """Turn the host time of a one-stage service (a worker's job) into a device time.

        Parameters
        ----------
        host_s : float
            Time the stage took on the host, in seconds.
        stage : str
            A stage class (`STAGE_CLASS_NAMES`) or pipeline stage (`STAGE_CLASSES`).
        rng : np.random.Generator
            Source of the jitter: one normal and three uniforms per call, whatever the
            outcomes, so a seeded generator gives the same sequence.
        elapsed_s : float
            Device time since the workload started (for the thermal model).

        Returns
        -------
        float
            ``host_s * service_multiplier + os_noise_s``, in seconds.
        """
        return float(self.service_times_s([host_s], [stage], rng, elapsed_s)[0])

    def service_times_s(self, host_s: Sequence[float], stages: Sequence[str],
                        rng: np.random.Generator, elapsed_s: float = 0.0) -> np.ndarray:
        """Device times of the stages of one service, run back to back on one core.

        Each stage is scaled by its own factor and jitter; the OS delay comes at most once
        per service, not once per named stage, and lands in a stage with a chance in
        proportion to its time (an interruption comes at a random moment of the service).
        Draws one normal per stage, then three uniforms.
        """
        host = np.asarray(host_s, dtype=float)
        device = np.array([h * self.service_multiplier(stage, rng, elapsed_s)
                           for h, stage in zip(host, stages, strict=True)])
        delay_s = self.os_noise_s(rng)
        landing = rng.random()
        total = float(device.sum())
        if delay_s > 0.0:
            where = 0 if total <= 0.0 else int(np.searchsorted(
                np.cumsum(device), landing * total, side="right"))
            device[min(where, device.size - 1)] += delay_s
        return device

    # -- files -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceProfile:
        """Build from nested dicts as read from TOML; unknown or missing keys raise."""
        if not isinstance(data, dict):
            raise ConfigError(f"a device profile must be a table; got {type(data).__name__}")
        missing = [k for k in ("name", "factors") if k not in data]
        if missing:
            raise ConfigError(f"device profile lacks {', '.join(missing)}")
        factors = data["factors"]
        if isinstance(factors, dict):
            absent = [c for c in STAGE_CLASS_NAMES if c not in factors]
            if absent:
                raise ConfigError(f"[factors] lacks {', '.join(absent)} (every stage class "
                                  f"needs a factor: {', '.join(STAGE_CLASS_NAMES)})")
        return configio.from_dict(cls, data, what="device profile")

    @classmethod
    def from_toml(cls, path: str | Path) -> DeviceProfile:
        """Read a profile from a TOML file."""
        return _checked(configio.read_toml(path, what="device profile"), str(path))

    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict, the inverse of `from_dict` (``None`` values are left out)."""
        return configio.to_dict(self, skip_none=True)

    def to_toml(self) -> str:
        """TOML text that `from_toml` reads back to an equal profile."""
        return configio.to_toml(self)


def _stage_class(stage: str) -> str:
    if stage in STAGE_CLASS_NAMES:
        return stage
    if stage in STAGE_CLASSES:
        return STAGE_CLASSES[stage]
    known = STAGE_CLASS_NAMES + tuple(STAGE_CLASSES)
    raise ConfigError(f"unknown stage or stage class {stage!r} (known: {', '.join(known)})"
                      f"{did_you_mean(stage, known)}")


def _checked(data: dict[str, Any], source: str) -> DeviceProfile:
    try:
        return DeviceProfile.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load_profile(name_or_path: str | Path) -> DeviceProfile:
    """Load a shipped profile by name (``"pi4"``) or a user's profile from a ``.toml`` path.

    Raises
    ------
    ConfigError
        For an unknown name (with the shipped names and the closest match), an
        unreadable file or an invalid profile.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, Path) or text.endswith(".toml") or "/" in text or "\\" in text:
        return DeviceProfile.from_toml(name_or_path)
    if text not in SHIPPED_PROFILES:
        raise ConfigError(f"unknown device profile {text!r}: shipped profiles are "
                          f"{', '.join(SHIPPED_PROFILES)}, or give a path to a .toml file"
                          f"{did_you_mean(text, SHIPPED_PROFILES)}")
    source = f"shipped profile {text}"
    resource = resources.files("firmware_sim").joinpath("profiles", f"{text}.toml")
    return _checked(configio.parse_toml(resource.read_text(encoding="utf-8"), source), source)
