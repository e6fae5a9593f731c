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

Amplitudes. No published RMS of the head (or face) displacement of a person sitting still
was found; seated studies give centre-of-pressure (CoP) figures relative to standing:
sitting sways less than standing (Garcia-Masso et al., "Postural control mechanisms in
healthy adults in sitting and standing positions", Percept. Mot. Skills 121(1):119-134,
2015; 32 adults, lower CoP RMS seated), or about as much (Floessel et al., "Comparison of
measurements for recording postural control in standing and seated position in healthy
individuals", J. Funct. Morphol. Kinesiol. 9(4):178, 2024; 66 adults, seated and standing
CoP fluctuations agree within 9.1 %). The amplitudes are therefore those of quiet standing,
an upper bound for sitting: CoP RMS 3.3 +- 1.1 mm medio-lateral and 5.0 +- 2.5 mm
antero-posterior, 16 adults standing with eyes open at ground level (Wuehr et al., "Balance control
and anti-gravity muscle activity during the experience of fear at heights", Physiol. Rep.
2(2):e00232, 2014, PMC3966255, table 3), the head taken to sway as much as the CoP (head and
CoP sway correlate in path, area and velocity: Sakaguchi et al., Auris Nasus Larynx
22(3):151-157, 1995). The medio-lateral figure is the frame's horizontal axis; the vertical
axis gets the same RMS for want of a seated figure (a seated trunk's fore-aft sway moves the
face mostly in depth).

Camera model: the simulator's face box is 144 px wide at 480 frame rows, and a face is
~14-15 cm wide, so ~1.0 px per mm at 480 rows. Presets (RMS per axis, px at 480 rows):
"still" 2.2 (the medio-lateral mean minus one SD), "typical" 3.3 (the mean), "restless" 5.5
(the mean plus two SD).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SWAY_PRESETS_PX", "postural_sway", "sway_spectrum"]

SWAY_PRESETS_PX = {"none": 0.0, "still": 2.2, "typical": 3.3, "restless": 5.5}
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
