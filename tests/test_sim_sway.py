"""Tests of the simulator's postural sway (firmware_sim.sway) and its place in a clip.

Expected values come from the configuration (the requested RMS) or from plain numpy
periodograms computed here, never from the sway module's own figures.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge.errors import ConfigError
from firmware_sim.sway import postural_sway
from firmware_sim.world import WorldConfig, make_clip


def test_sway_has_the_requested_rms_on_each_axis_and_is_reproducible():
    t = np.arange(0.0, 90.0, 1.0 / 30.0)
    sway = postural_sway(7, t, rms_px=4.0)
    assert sway.shape == (t.size, 2)
    np.testing.assert_allclose(sway.std(axis=0), 4.0, rtol=1e-6)
    np.testing.assert_array_equal(sway, postural_sway(7, t, rms_px=4.0))
    assert not np.allclose(sway, postural_sway(8, t, rms_px=4.0))
    assert np.all(postural_sway(7, t, rms_px=0.0) == 0.0)


def test_sway_is_broadband_mostly_slow_and_the_axes_independent():
    t = np.arange(0.0, 600.0, 0.1)
    shares, correlations, lines = [], [], []
    for seed in range(5):
        sway = postural_sway(seed, t, rms_px=2.0)
        correlations.append(abs(np.corrcoef(sway.T)[0, 1]))
        power = np.abs(np.fft.rfft(sway[:, 0])) ** 2
        freq = np.fft.rfftfreq(t.size, 0.1)
        shares.append(power[freq < 0.5].sum() / power[1:].sum())
        band = (freq >= 0.1) & (freq <= 0.7)
        lines.append(power[band].max() / power[band].sum())  # no spectral line dominates
    assert min(shares) > 0.85
    assert np.mean(correlations) < 0.2
    assert max(lines) < 0.15  # a sinusoid would hold most of the band


def test_sway_moves_the_face_box_and_defaults_to_none():
    base = WorldConfig(width=320, height=240, duration_s=30.0, head_bob_px=0.0, seed=3)
    still = make_clip(base)
    swaying = make_clip(WorldConfig(width=320, height=240, duration_s=30.0, head_bob_px=0.0,
                                    seed=3, sway_rms_px=8.0))
    boxes = np.array([swaying.face_box_at(i) for i in range(len(swaying))], dtype=float)
    still_boxes = np.array([still.face_box_at(i) for i in range(len(still))], dtype=float)
    assert np.ptp(still_boxes[:, :2], axis=0).max() == 0.0
    # 8 px at 480 rows is 4 px at 240 rows; the box corners are whole pixels
    np.testing.assert_allclose((boxes[:, :2] + 0.5 * boxes[:, 2:]).std(axis=0), 4.0, atol=0.6)


def test_sway_must_be_a_sane_amplitude():
    with pytest.raises(ConfigError, match="sway_rms_px"):
        make_clip(WorldConfig(sway_rms_px=-1.0))
