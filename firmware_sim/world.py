"""World simulator: a synthetic subject in front of a synthetic camera, with ground truth.

Each frame follows the skin reflection model of Wang et al., "Algorithmic Principles of Remote
PPG", IEEE TBME 64(7):1479-1491, 2017, rendered as in our algorithms note (section 8.2)::

    C(x, t) = clip(Q(G * I(t) * [albedo(x) * (1 + skin(x) * u_p * m(t)) + specular(x, t)] + n))

with ``m(t) = a * p(t) + riiv * resp(t)`` along the blood-volume direction ``u_p`` (scaled so
that green gets ``m``). A real head-and-shoulders photograph (``assets/face.png``) supplies the
texture; a soft skin map over its face and neck decides where the pulse appears and where the
skin tone is recoloured (texture luminance kept). The person is composed on a plain textured
wall and moved by a per-frame affine warp, so the pulse moves with the skin. The camera adds
gain, shot and read noise, 8-bit quantisation, optional JPEG, timestamp jitter and dropped
frames. Heartbeats and breathing come from :mod:`firmware_sim.physiology`.

>>> clip = make_clip(WorldConfig(duration_s=10.0, heart_rate_bpm=80.0))   # doctest: +SKIP
>>> for frame_rgb, timestamp_s in clip.frames(): ...                      # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from statistics import NormalDist

import cv2
import numpy as np

from edge.errors import ConfigError, InputError
from firmware_sim.physiology import (
    Breathing,
    GroundTruth,
    SmoothPath,
    load_pulse_source,
    make_beat_times,
    ppg_beat_template,
    sample_pulse,
    two_gaussian_template,
)
from firmware_sim.sway import postural_sway
from firmware_sim.world_config import MOTION_PRESETS, SKIN_TONES_RGB, MotionPreset, WorldConfig
from firmware_sim.world_scene import Scene, build_scene

__all__ = [
    "MOTION_PRESETS",
    "SKIN_TONES_RGB",
    "WORLD_VERSION",
    "GroundTruth",
    "MotionPreset",
    "SyntheticClip",
    "WorldConfig",
    "demo_config",
    "make_clip",
    "write_clip",
    "write_oximeter_csv",
]

WORLD_VERSION = 1
_NOISE_KEY = 1000  # spawn-key prefix of the per-frame noise streams


@functools.lru_cache(maxsize=1)
def _normal_lut() -> np.ndarray:
    """Inverse normal CDF at the centres of 65536 equal-probability bins (float32)."""
    inv = NormalDist().inv_cdf
    return np.array([inv((k + 0.5) / 65536.0) for k in range(65536)], dtype=np.float32)


def _capture_times(config: WorldConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """True capture times of every nominal frame and the mask of delivered (not dropped) ones."""
    n_frames = max(1, round(config.duration_s * config.fps))
    period_s = 1.0 / config.fps
    times = np.arange(n_frames) * period_s
    jitter = np.clip(rng.normal(0.0, config.jitter_s, n_frames), -0.45 * period_s, 0.45 * period_s)
    times = times + jitter
    times[0] = max(times[0], 0.0)
    keep = rng.random(n_frames) >= config.drop_rate
    return times, keep


def _beat_template(config: WorldConfig) -> np.ndarray:
    """Two-Gaussian beat, or the mean beat of the configured real PPG recording."""
    if config.pulse_source is None:
        return two_gaussian_template()
    signal, fs_hz = load_pulse_source(
        config.pulse_source, column=config.pulse_source_column, fs_hz=config.pulse_source_fs_hz
    )
    try:
        return ppg_beat_template(signal, fs_hz=fs_hz)
    except InputError as exc:
        raise ConfigError(f"WorldConfig.pulse_source={str(config.pulse_source)!r}: {exc}") from exc


def _physiology(
    config: WorldConfig, rng: np.random.Generator, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pulse (zero-mean), instantaneous HR, respiration and beat times at ``times``."""
    breathing = Breathing(rate_bpm=config.breathing_rate_bpm, phase_rad=rng.uniform(0, 2 * np.pi))
    drift = SmoothPath.random(rng, amplitude=config.heart_rate_drift_bpm, band_hz=(0.01, 0.08))
    beats = make_beat_times(
        rng,
        duration_s=config.duration_s,
        heart_rate_bpm=config.heart_rate_bpm,
        heart_rate_end_bpm=config.heart_rate_end_bpm,
        drift=drift.zero_mean(config.duration_s),
        rsa_bpm=config.rsa_bpm,
        hrv_sdnn_ms=config.hrv_sdnn_ms,
        breathing=breathing,
    )
    resp = breathing.resp(times)
    pulse, heart_rate_bpm = sample_pulse(
        times,
        beat_times_s=beats,
        template=_beat_template(config),
        riav=1.0 + config.riav_fraction * resp,
    )
    return pulse - pulse.mean(), heart_rate_bpm, resp, beats


def _motion(
    config: WorldConfig,
    rng: np.random.Generator,
    times: np.ndarray,
    resp: np.ndarray,
    pivot: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame affine matrices (n, 2, 3) of the head and the specular strength (n,).

    The ``motion`` presets are deliberate head movements (turning, nodding, leaning: a few
    smooth slow sinusoids with rotation and scale); ``sway_rms_px`` adds the involuntary
    broadband postural sway of `firmware_sim.sway` on top, from its own random stream.
    """
    preset: MotionPreset = MOTION_PRESETS[config.motion]
    px = preset.translation_px * config.height / 480.0
    amplitudes = (px, 0.6 * px, preset.rotation_deg, preset.scale_fraction)
    tx, ty, angle_deg, scale = (
        SmoothPath.random(rng, amplitude=a, band_hz=preset.band_hz)(times) for a in amplitudes
    )
    if config.motion_bursts:  # strong motion inside each burst, eased in and out over 0.5 s
        strong = MOTION_PRESETS["strong"]
        px = strong.translation_px * config.height / 480.0
        envelope = _burst_envelope(times, config.motion_bursts)
        extra = (px, 0.6 * px, strong.rotation_deg, strong.scale_fraction)
        tx, ty, angle_deg, scale = (
            base + envelope * SmoothPath.random(rng, amplitude=a, band_hz=strong.band_hz)(times)
            for base, a in zip((tx, ty, angle_deg, scale), extra, strict=True)
        )
    if config.sway_rms_px > 0.0:
        sway = postural_sway(config.seed, times, rms_px=config.sway_rms_px * config.height / 480.0)
        tx, ty = tx + sway[:, 0], ty + sway[:, 1]
    ty = ty - config.head_bob_px * resp  # up on inhalation
    # cv2.getRotationMatrix2D about the pivot, vectorised, then the translation
    a = (1.0 + scale) * np.cos(np.deg2rad(angle_deg))
    b = (1.0 + scale) * np.sin(np.deg2rad(angle_deg))
    cx, cy = pivot
    affine = np.empty((times.size, 2, 3))
    affine[:, 0] = np.column_stack([a, b, (1 - a) * cx - b * cy + tx])
    affine[:, 1] = np.column_stack([-b, a, b * cx + (1 - a) * cy + ty])
    pose = 1.0 + angle_deg / 15.0 + 3.0 * scale + tx / (0.25 * config.width)
    return affine, config.specular_fraction * np.clip(pose, 0.0, 2.0)


def _burst_envelope(times: np.ndarray, bursts: tuple[tuple[float, float], ...]) -> np.ndarray:
    """1 inside each (start_s, duration_s) burst, 0 outside, raised-cosine edges of 0.5 s."""
    ramp_s = 0.5
    envelope = np.zeros_like(times)
    for start_s, duration_s in bursts:
        rise = np.clip((times - start_s) / ramp_s + 0.5, 0.0, 1.0)
        fall = np.clip((start_s + duration_s - times) / ramp_s + 0.5, 0.0, 1.0)
        envelope = np.maximum(envelope, 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall)))
    return envelope


def _illumination(config: WorldConfig, rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
    """Light level per frame: slow drift times exposure-averaged mains flicker."""
    drift = SmoothPath.random(
        rng, amplitude=config.illumination_drift_fraction, band_hz=(0.005, 0.05)
    )
    exposure_s = config.exposure_s if config.exposure_s is not None else 1.0 / config.fps
    # mean of sin(2 pi f t) over [t, t + T] = sinc(f T) * sin(2 pi f (t + T / 2))
    depth = config.flicker_fraction * np.sinc(config.flicker_hz * exposure_s)
    phase = rng.uniform(0.0, 2.0 * np.pi)
    flicker = depth * np.sin(2.0 * np.pi * config.flicker_hz * (times + exposure_s / 2) + phase)
    return config.light_level * (1.0 + drift(times)) * (1.0 + flicker)


class SyntheticClip:
    """A rendered-on-demand synthetic video with its ground truth; build with :func:`make_clip`.

    Attributes
    ----------
    config : WorldConfig
    truth : GroundTruth
        One entry per delivered frame, in delivery order.

    Notes
    -----
    Frames are rendered into buffers owned by the clip: use one clip from one thread at a time.
    """

    def __init__(
        self,
        *,
        config: WorldConfig,
        truth: GroundTruth,
        scene: Scene,
        frame_index: np.ndarray,
        gain: np.ndarray,
        modulation: np.ndarray,
        specular: np.ndarray,
        affine: np.ndarray,
    ) -> None:
        self.config = config
        self.truth = truth
        self._scene = scene
        self._frame_index = frame_index  # nominal (capture) index: seeds the frame's noise
        self._gain = gain
        self._modulation = modulation.astype(np.float32)
        self._specular = specular.astype(np.float32)
        self._affine = affine
        self._moving = config.motion != "still" or config.head_bob_px > 0 or config.sway_rms_px > 0
        self._work = scene.layer.copy()
        self._warped = np.empty_like(self._work)
        self._alpha1 = np.empty((config.height, config.width), dtype=np.float32)
        shape = (config.height, config.width, 3)
        self._image = np.empty(shape, dtype=np.float32)
        self._noise = np.empty(shape, dtype=np.float32)
        self._sigma = np.empty(shape, dtype=np.float32)
        self._alpha = np.empty(shape, dtype=np.float32)
        self._person = np.empty(shape, dtype=np.float32)

    def __len__(self) -> int:
        """Number of delivered frames."""
        return len(self.truth)

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        """Yield ``(frame_rgb, timestamp_s)``: uint8 (H, W, 3) C-contiguous RGB, true time in s."""
        for i in range(len(self)):
            yield self.frame_at(i), float(self.truth.timestamp_s[i])

    def _check_index(self, i: int) -> int:
        if not 0 <= i < len(self):
            raise IndexError(f"frame index must be in [0, {len(self)}); got {i}")
        return int(i)

    def face_box_at(self, i: int) -> tuple[int, int, int, int]:
        """Head box ``(x, y, w, h)`` in pixels in delivered frame ``i`` (clipped to the frame)."""
        matrix = self._affine[self._check_index(i)]
        corners = self._scene.face_corners @ matrix[:, :2].T + matrix[:, 2]
        x0, y0 = np.rint(corners.min(axis=0))
        x1, y1 = np.rint(corners.max(axis=0))
        x0, x1 = np.clip([x0, x1], 0, self.config.width)
        y0, y1 = np.clip([y0, y1], 0, self.config.height)
        return int(x0), int(y0), int(x1 - x0), int(y1 - y0)

    def frame_at(self, i: int) -> np.ndarray:
        """Render delivered frame ``i`` as uint8 (H, W, 3) RGB."""
        i = self._check_index(i)
        scene, cfg = self._scene, self.config
        y0, y1, x0, x1 = scene.bbox
        skin = self._work[y0:y1, x0:x1, :3]  # rewritten in full every frame
        np.multiply(scene.skin, self._modulation[i], out=skin)
        skin += scene.layer[y0:y1, x0:x1, :3]
        skin += scene.spec * self._specular[i]
        layer = self._work
        if self._moving:
            size = (cfg.width, cfg.height)
            layer = cv2.warpAffine(
                self._work,
                self._affine[i],
                size,
                dst=self._warped,
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE,
            )
        # image = wall * (1 - alpha) + premultiplied person, on contiguous 3-channel arrays
        # (numpy is slow on the strided 4-channel views; 3-channel float warps are slow in cv2)
        image, alpha = self._image, self._alpha
        cv2.extractChannel(layer, 3, dst=self._alpha1)
        cv2.cvtColor(self._alpha1, cv2.COLOR_GRAY2RGB, dst=alpha)
        np.multiply(scene.wall, alpha, out=image)
        np.subtract(scene.wall, image, out=image)
        np.add(image, cv2.cvtColor(layer, cv2.COLOR_RGBA2RGB, dst=self._person), out=image)
        np.multiply(image, np.float32(self._gain[i]), out=image)
        self._add_noise(image, int(self._frame_index[i]))
        frame = cv2.add(image, 0.0, dtype=cv2.CV_8U)  # round and saturate to 8 bits
        if cfg.jpeg_quality is not None:
            bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
            _, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
            frame = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        return np.ascontiguousarray(frame)

    def _add_noise(self, image: np.ndarray, nominal_index: int) -> None:
        """Add shot noise (variance = gain * conversion * signal) and read noise, in place.

        Unit normals come from a 16-bit inverse-CDF table indexed by ``Generator.integers``: about
        4x faster than ``standard_normal`` (1.8 vs 7.3 ms per 640x480 frame), tails cut at 4.3.
        """
        cfg = self.config
        if cfg.read_noise_dn == 0 and cfg.conversion_gain_dn_per_e == 0:
            return
        seq = np.random.SeedSequence(cfg.seed, spawn_key=(_NOISE_KEY, nominal_index))
        codes = np.random.default_rng(seq).integers(0, 65536, size=image.shape, dtype=np.uint16)
        np.take(_normal_lut(), codes, out=self._noise)
        np.multiply(
            image, np.float32(cfg.exposure_gain * cfg.conversion_gain_dn_per_e), out=self._sigma
        )
        self._sigma += np.float32(cfg.read_noise_dn**2)
        cv2.sqrt(self._sigma, dst=self._sigma)
        self._noise *= self._sigma
        image += self._noise


def make_clip(config: WorldConfig) -> SyntheticClip:
    """Simulate the subject, the light and the camera for ``config``; frames render lazily."""
    if not isinstance(config, WorldConfig):
        raise InputError(f"make_clip needs a WorldConfig; got {type(config).__name__}")
    rng_time, rng_body, rng_scene, rng_motion, rng_light = (
        np.random.default_rng(s) for s in np.random.SeedSequence(config.seed).spawn(5)
    )
    times, keep = _capture_times(config, rng_time)
    pulse, heart_rate_bpm, resp, beats = _physiology(config, rng_body, times)
    scene = build_scene(config, rng_scene)
    affine, specular = _motion(config, rng_motion, times, resp, scene.pivot)
    light = _illumination(config, rng_light, times)
    weights = np.tile(np.asarray(config.pulse_rgb_weights) / config.pulse_rgb_weights[1],
                      (times.size, 1))
    spo2_pct = config.spo2_at(times)
    if config.spo2_pct is not None:  # the red weight that gives R = (A - SpO2) / B
        a_pct, b_pct = config.spo2_calibration
        weights[:, 0] = (a_pct - spo2_pct) / b_pct * weights[:, 2]
    blood = config.pulse_ac_dc * pulse + config.riiv_fraction * resp  # relative green change
    truth = GroundTruth(
        timestamp_s=times[keep],
        pulse=pulse[keep],
        heart_rate_bpm=heart_rate_bpm[keep],
        breathing_rate_bpm=np.full(int(keep.sum()), float(config.breathing_rate_bpm)),
        beat_times_s=beats,
        spo2_pct=spo2_pct[keep],
    )
    return SyntheticClip(
        config=config,
        truth=truth,
        scene=scene,
        frame_index=np.flatnonzero(keep),
        gain=(config.exposure_gain * light)[keep],
        modulation=(blood[:, None] * weights)[keep],
        specular=specular[keep],
        affine=affine[keep],
    )


def write_clip(
    clip: SyntheticClip,
    path: str | Path,
    *,
    codec: str = "FFV1",
    on_frame: Callable[[int], object] | None = None,
) -> Path:
    """Write the video plus ``<stem>.truth.csv`` and ``<stem>.truth.json`` next to it.

    Parameters
    ----------
    clip : SyntheticClip
    path : str or Path
        Video file (``.avi``; FFV1 is lossless, MJPG is for benchmark clips).
    codec : {"FFV1", "MJPG"}
    on_frame : callable, optional
        Called with 1 after each frame (e.g. a progress bar's ``update``).

    Returns
    -------
    Path
        The video path. The container is constant-frame-rate at ``config.fps`` and cannot
        hold jitter or drops; the truth CSV has the true timestamps.
    """
    if codec not in ("FFV1", "MJPG"):
        raise InputError(f"codec must be 'FFV1' or 'MJPG'; got {codec!r}")
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"output folder does not exist: {path.parent}")
    cfg = clip.config
    fourcc = cv2.VideoWriter_fourcc(*codec)
    writer = cv2.VideoWriter(str(path), fourcc, float(cfg.fps), (cfg.width, cfg.height))
    if not writer.isOpened():
        raise InputError(f"cannot write {codec} video to {path} (try an .avi name)")
    try:
        for frame, _ in clip.frames():
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            if on_frame is not None:
                on_frame(1)
    finally:
        writer.release()
    clip.truth.to_csv(path.with_name(f"{path.stem}.truth.csv"))
    meta = {
        "version": WORLD_VERSION,
        "seed": cfg.seed,
        "codec": codec,
        "config": cfg.to_dict(),
        "beat_times_s": clip.truth.beat_times_s.tolist(),
    }
    path.with_name(f"{path.stem}.truth.json").write_text(json.dumps(meta, indent=1), "utf-8")
    if cfg.spo2_pct is not None:  # what a reference oximeter beside the camera would log
        write_oximeter_csv(clip, path.with_name(f"{path.stem}.spo2.csv"))
    return path


def write_oximeter_csv(clip: SyntheticClip, path: str | Path, *, period_s: float = 1.0) -> Path:
    """A reference oximeter's log of the clip's true SpO2: ``timestamp_s,spo2_pct`` once a
    second (the format ``edge-vitals calibrate spo2`` reads).
    """
    truth = clip.truth
    t = np.arange(0.0, float(truth.timestamp_s[-1]) + 1e-9, period_s)
    spo2 = np.interp(t, truth.timestamp_s, truth.spo2_pct)
    path = Path(path)
    np.savetxt(path, np.column_stack([t, spo2]), delimiter=",", header="timestamp_s,spo2_pct",
               comments="", fmt="%.6g")
    return path


def demo_config() -> WorldConfig:
    """A pleasant 40 s, 640x480, 30 fps clip: 72 bpm, 15 breaths/min, mild head motion.

    Long enough for every vital (SpO2 after 10 s, breathing after 20 s, HRV after 32 s),
    and exposed without clipping the skin (light 0.6), which SpO2 needs.
    """
    return WorldConfig(
        width=640,
        height=480,
        fps=30.0,
        duration_s=40.0,
        heart_rate_bpm=72.0,
        breathing_rate_bpm=15.0,
        motion="mild",
        head_bob_px=1.5,
        light_level=0.6,
        seed=7,
    )
