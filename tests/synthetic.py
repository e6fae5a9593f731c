"""A tiny synthetic face clip with known heart and breathing rates, for tests.

Deliberately independent of `firmware_sim.world` (a skin-coloured ellipse on a grey
background), so that the end-to-end tests do not share code with the simulator the
benchmarks use.
"""

from __future__ import annotations

import numpy as np

SKIN_RGB = np.array([0.7682, 0.5121, 0.3841]) * 230  # de Haan & Jeanne skin tone
PULSE_RGB = np.array([0.33, 0.77, 0.53])  # PBV-like pulse signature


def make_face_clip(*, hr_bpm: float = 72.0, br_bpm: float = 15.0, fps: float = 30.0,
                   seconds: float = 20.0, size: tuple[int, int] = (120, 160),
                   jitter_s: float = 0.0, drop_rate: float = 0.0, pulse_amplitude: float = 0.004,
                   noise_dn: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Frames (n, H, W, 3) uint8 RGB and timestamps (n,) in seconds.

    The ellipse's colour is modulated along `PULSE_RGB` at `hr_bpm`, and its vertical
    position by 2 px at `br_bpm`.
    """
    rng = np.random.default_rng(seed)
    height, width = size
    n_all = round(seconds * fps)
    t_all = np.arange(n_all) / fps + rng.uniform(-jitter_s, jitter_s, n_all)
    keep = rng.random(n_all) >= drop_rate
    keep[0] = True
    t = np.sort(t_all[keep])
    yy, xx = np.mgrid[0:height, 0:width]
    frames = np.empty((t.size, height, width, 3), dtype=np.uint8)
    for i, ts in enumerate(t):
        cy = height * 0.5 + 2.0 * np.sin(2 * np.pi * br_bpm / 60 * ts)
        inside = ((xx - width / 2) / (width * 0.28)) ** 2 + ((yy - cy) / (height * 0.4)) ** 2 <= 1
        pulse = pulse_amplitude * np.sin(2 * np.pi * hr_bpm / 60 * ts)
        colour = SKIN_RGB * (1 + pulse * PULSE_RGB)
        img = np.full((height, width, 3), 90.0)
        img[inside] = colour
        img += rng.normal(0, noise_dn, img.shape)
        frames[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return frames, t


SKIN_PATCH_RGB = np.array([176.0, 118.0, 88.0])


def make_skin_clip(*, hr_bpm: float = 72.0, rsa_bpm: float = 0.0, br_bpm: float = 15.0,
                   ratio: float | tuple[float, float] = 0.6, seconds: float = 40.0,
                   fps: float = 30.0, size: tuple[int, int] = (32, 32),
                   pulse_amplitude: float = 0.004, riiv_amplitude: float = 0.003,
                   noise_dn: float = 1.0, saturated_fraction: float = 0.0,
                   swing: tuple[float, float, float, float] | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pre-cropped skin patch (for ``roi.mode = "full"``): frames, timestamps, beat times.

    Blood volume ``m(t) = pulse_amplitude * cos(phase(t)) + riiv_amplitude * resp(t)``
    modulates each channel by ``m * w`` with the blue and green weights of `PULSE_RGB`
    and the red weight ``ratio * w_blue``: the camera's ratio of ratios is `ratio`
    (or goes linearly from ``ratio[0]`` to ``ratio[1]``). The heart rate swings by
    `rsa_bpm` with breathing, so beats are not evenly spaced; systolic peaks are where
    the phase crosses a multiple of 2 pi. `saturated_fraction` of the pixels are white
    (255). `swing` = (start_s, end_s, frequency_hz, depth) multiplies the whole patch by
    ``1 + depth * sin(2 pi f t)`` in that interval (brightness change from motion).
    """
    rng = np.random.default_rng(seed)
    n = round(seconds * fps)
    t = np.arange(n) / fps
    resp = np.sin(2 * np.pi * br_bpm / 60.0 * t)
    fine_t = np.arange(round(seconds * 1000) + 1) / 1000.0
    hr_fine = hr_bpm + rsa_bpm * np.sin(2 * np.pi * br_bpm / 60.0 * fine_t)
    phase_fine = 2 * np.pi * np.cumsum(hr_fine / 60.0) / 1000.0
    phase = np.interp(t, fine_t, phase_fine)
    beats = np.interp(np.arange(1, phase_fine[-1] / (2 * np.pi)) * 2 * np.pi, phase_fine, fine_t)
    r_lo, r_hi = (ratio, ratio) if np.isscalar(ratio) else ratio
    r_t = r_lo + (r_hi - r_lo) * t / seconds
    weights = np.tile(PULSE_RGB, (n, 1))
    weights[:, 0] = r_t * PULSE_RGB[2]
    blood = pulse_amplitude * np.cos(phase) + riiv_amplitude * resp
    gain = np.ones(n)
    if swing is not None:
        start_s, end_s, f_hz, depth = swing
        inside = (t >= start_s) & (t < end_s)
        gain[inside] += depth * np.sin(2 * np.pi * f_hz * t[inside])
    colour = SKIN_PATCH_RGB * (1.0 + blood[:, None] * weights) * gain[:, None]
    height, width = size
    n_saturated = round(saturated_fraction * height * width)
    frames = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        img = colour[i] + rng.normal(0.0, noise_dn, (height, width, 3))
        flat = img.reshape(-1, 3)
        flat[:n_saturated] = 255.0
        frames[i] = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return frames, t, beats
