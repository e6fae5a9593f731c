"""Postural sway of a seated person: a broadband random head displacement on both axes.

Quiet stance and quiet sitting sway is not a few sinusoids but a stochastic process: a slow,
non-oscillatory drift of the set point ("rambling") under a faster, damped oscillation about it
("trembling"; Zatsiorsky & Duarte, "Instant equilibrium point and its migration in standing
tasks: rambling and trembling components of the stabilogram", Motor Control 3(1):28-38, 1999).
Kiemel, Oie & Jeka, "Slow dynamics of postural sway are in the feedback loop", J. Neurophysiol.
95:1410-1418, 2006, fit it as a linear third-order stochastic model: a first-order slow process
driving a damped second-order one. The spectrum here is that model's,

    S(f) ~ 1 / (1 + (f / SLOW_HZ)^2) * 1 / ((1 - (f / F0_HZ)^2)^2 + (2 DAMPING f / F0_HZ)^2),

which puts ~98 % of the power below 0.5 Hz (65 % below 0.1 Hz), as centre-of-pressure spectra
of quiet posture show.
Sitting sways less than standing but with the same spectral character (Garcia-Masso et al.,
"Postural control mechanisms in healthy adults in sitting and standing positions", Perceptual
and Motor Skills 121(1):119-134, 2015; Floessel et al., "Comparison of measurements for
recording postural control in standing and seated position in healthy individuals", J. Funct.
Morphol. Kinesiol. 9(4):178, 2024), a few millimetres RMS. The presets are RMS per axis in
pixels at 480 frame rows, where the simulator's face is ~167 px high (~0.75 px per mm of a
~22 cm head): "quiet" ~2 mm, "relaxed" ~3.5 mm, "restless" ~5.5 mm.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SWAY_PRESETS_PX", "postural_sway", "sway_spectrum"]

SWAY_PRESETS_PX = {"none": 0.0, "quiet": 1.5, "relaxed": 2.5, "restless": 4.0}
SLOW_HZ = 0.08
F0_HZ = 0.6
DAMPING = 0.8
_GRID_HZ = 50.0
_SWAY_KEY = 2000  # spawn key of the sway's random stream (apart from the clip's other streams)


def sway_spectrum(freq_hz: np.ndarray) -> np.ndarray:
    """Unnormalised power spectral density of the sway model at `freq_hz`."""
    u = np.asarray(freq_hz, dtype=np.float64) / F0_HZ
    slow = 1.0 / (1.0 + (np.asarray(freq_hz) / SLOW_HZ) ** 2)
    return slow / ((1.0 - u * u) ** 2 + (2.0 * DAMPING * u) ** 2)


def postural_sway(seed: int, times_s: np.ndarray, *, rms_px: float) -> np.ndarray:
    """Horizontal and vertical sway (n, 2) in pixels at `times_s`, each axis `rms_px` RMS.

    Gaussian noise shaped by `sway_spectrum` (random phases on a uniform grid that spans
    `times_s`, so the path depends on the seed and that span), the two axes independent and
    each scaled to `rms_px` over the clip; zero when `rms_px` is 0.
    """
    times_s = np.asarray(times_s, dtype=np.float64)
    if rms_px <= 0.0 or times_s.size == 0:
        return np.zeros((times_s.size, 2))
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(_SWAY_KEY,)))
    n = int(np.ceil((times_s.max() + 1.0) * _GRID_HZ)) + 1
    grid = np.arange(n) / _GRID_HZ
    freq = np.fft.rfftfreq(n, 1.0 / _GRID_HZ)
    amplitude = np.sqrt(sway_spectrum(freq))
    amplitude[0] = 0.0
    out = np.empty((times_s.size, 2))
    for axis in range(2):
        real, imag = rng.standard_normal((2, freq.size))
        spectrum = amplitude * (real + 1j * imag)
        path = np.fft.irfft(spectrum, n)
        path = np.interp(times_s, grid, path)
        path -= path.mean()
        out[:, axis] = path * (rms_px / max(path.std(), 1e-12))
    return out
