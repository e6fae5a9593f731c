"""Breathing through broadband postural sway (edge.motion_floor, edge.breathing).

Expected rates are the ones put into the synthetic head motion; the sway is the
simulator's broadband process (firmware_sim.sway), not a few sinusoids.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.breathing import BREATHING_BAND_HZ, MOTION_MAX_SWAY, _sway_px, stream_breathing
from edge.motion_floor import clear_line
from firmware_sim.sway import postural_sway

FS = 30.0
T = np.arange(0.0, 32.0, 1.0 / FS)


def swaying_head(seed: int, *, sway_px: float, bob_px: float, rate_bpm: float):
    """Horizontal and vertical face motion: broadband sway plus a breathing bob."""
    sway = postural_sway(seed, T, rms_px=sway_px)
    bob = bob_px * np.sin(2 * np.pi * rate_bpm / 60.0 * T + seed)
    return sway[:, 0], sway[:, 1] - bob


def flat_rgb(seed: int) -> np.ndarray:
    return 100.0 + 0.1 * np.random.default_rng(seed).standard_normal((T.size, 3))


def test_a_breathing_line_reads_through_sway_as_large_as_itself():
    # 2.5 px RMS of broadband sway and a 2.5 px bob: too much other motion for the plain
    # estimate; on a 200 px face the sideways motion stays under the gate, on 100 px not
    errors, withheld = [], 0
    for seed in range(20):
        rate = 15.0 + seed % 10
        horizontal, vertical = swaying_head(seed, sway_px=2.5, bob_px=2.5, rate_bpm=rate)
        estimate = stream_breathing(flat_rgb(seed), fs=FS, vertical_px=vertical,
                                    horizontal_px=horizontal, face_height_px=200.0)
        if estimate.breathing_rate_bpm is not None:
            errors.append(estimate.breathing_rate_bpm - rate)
            assert 0.0 < estimate.quality <= 1.0
        small = stream_breathing(flat_rgb(seed), fs=FS, vertical_px=vertical,
                                 horizontal_px=horizontal, face_height_px=100.0)
        gated = _sway_px(horizontal, FS, BREATHING_BAND_HZ) > MOTION_MAX_SWAY * 100.0
        withheld += gated
        assert small.breathing_rate_bpm is None or not gated
    assert len(errors) >= 15 and withheld >= 10
    assert np.max(np.abs(errors)) <= 1.0


def test_sway_alone_rarely_has_a_clear_line():
    given = 0
    for seed in range(40):
        horizontal, vertical = swaying_head(seed, sway_px=1.5, bob_px=0.0, rate_bpm=15.0)
        given += clear_line(vertical, horizontal, fs=FS, band_hz=(0.1, 0.7)) is not None
    assert given <= 4


def test_several_clear_lines_are_head_motion_not_breathing():
    rng = np.random.default_rng(5)
    vertical = 1.5 * np.sin(2 * np.pi * 0.25 * T) + 1.5 * np.sin(2 * np.pi * 0.5 * T + 1.0)
    vertical += 0.05 * rng.standard_normal(T.size)
    assert clear_line(vertical, None, fs=FS, band_hz=(0.1, 0.7)) is None
    one = 1.5 * np.sin(2 * np.pi * 0.25 * T) + 0.05 * rng.standard_normal(T.size)
    line = clear_line(one, None, fs=FS, band_hz=(0.1, 0.7))
    assert line is not None and line.rate_bpm == pytest.approx(15.0, abs=0.3)
    assert line.clear_db > 20.0


def test_the_horizontal_spectrum_only_helps_the_floor():
    horizontal, vertical = swaying_head(3, sway_px=1.5, bob_px=1.5, rate_bpm=18.0)
    with_reference = clear_line(vertical, horizontal, fs=FS, band_hz=(0.1, 0.7))
    unknown = clear_line(vertical, np.full(T.size, np.nan), fs=FS, band_hz=(0.1, 0.7))
    alone = clear_line(vertical, None, fs=FS, band_hz=(0.1, 0.7))
    assert with_reference is not None and with_reference.rate_bpm == pytest.approx(18.0, abs=1.0)
    assert unknown == alone  # a horizontal trace with gaps is not read


def test_a_sideways_line_is_periodic_head_motion_not_sway():
    rng = np.random.default_rng(8)
    vertical = 1.5 * np.sin(2 * np.pi * 0.25 * T) + 0.05 * rng.standard_normal(T.size)
    rocking = 2.0 * np.sin(2 * np.pi * 13.0 / 60.0 * T) + 0.05 * rng.standard_normal(T.size)
    assert clear_line(vertical, rocking, fs=FS, band_hz=(0.1, 0.7)) is None
    sway = postural_sway(8, T, rms_px=1.0)[:, 0]  # broadband: no line of its own
    line = clear_line(vertical + postural_sway(9, T, rms_px=1.0)[:, 1], sway, fs=FS,
                      band_hz=(0.1, 0.7))
    assert line is not None and line.rate_bpm == pytest.approx(15.0, abs=0.5)
