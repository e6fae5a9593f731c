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
