import numpy as np
import pytest
import scipy.signal as ss
from numpy.testing import assert_allclose

from edge.errors import InputError
from edge.filters import bandpass, butter_bandpass_sos, sosfilt, sosfiltfilt


@pytest.mark.parametrize(
    ("low", "high", "fs", "order"),
    [(0.7, 3.5, 30.0, 2), (0.5, 8.0, 125.0, 3), (0.1, 0.5, 4.0, 2), (0.75, 3.0, 30.0, 1),
     (0.5, 5.0, 100.0, 4)],
)
def test_design_has_the_frequency_response_of_scipy_butter(low, high, fs, order):
    ours = butter_bandpass_sos(low, high, fs=fs, order=order)
    ref = ss.butter(order, [low, high], btype="band", fs=fs, output="sos")
    _, h_ours = ss.sosfreqz(ours, 1024, fs=fs)
    _, h_ref = ss.sosfreqz(ref, 1024, fs=fs)
    assert_allclose(np.abs(h_ours), np.abs(h_ref), atol=1e-9)
    assert_allclose(h_ours, h_ref, atol=1e-9)  # same phase too


def test_sosfilt_matches_scipy(rng):
    sos = butter_bandpass_sos(0.7, 3.5, fs=30.0)
    x = rng.standard_normal(300)
    assert_allclose(sosfilt(sos, x), ss.sosfilt(sos, x), rtol=1e-9, atol=1e-12)


def test_sosfiltfilt_matches_scipy_away_from_the_edges(rng):
    sos = butter_bandpass_sos(0.7, 3.5, fs=30.0)
    x = rng.standard_normal(900)
    ours, ref = sosfiltfilt(sos, x), ss.sosfiltfilt(sos, x)
    assert_allclose(ours[150:-150], ref[150:-150], atol=1e-6)


def test_bandpass_keeps_in_band_and_removes_out_of_band():
    fs = 30.0
    t = np.arange(0, 30, 1 / fs)
    inside = np.sin(2 * np.pi * 1.5 * t)
    y = bandpass(inside + 2 * np.sin(2 * np.pi * 0.05 * t) + np.sin(2 * np.pi * 8 * t), fs=fs,
                 low_hz=0.7, high_hz=3.5)
    assert np.abs(y - inside)[60:-60].max() < 0.1


@pytest.mark.parametrize(("low", "high"), [(0.0, 3.0), (3.0, 1.0), (1.0, 20.0)])
def test_bad_band_edges(low, high):
    with pytest.raises(InputError, match="band edges"):
        butter_bandpass_sos(low, high, fs=30.0)
