import numpy as np
import pytest

from edge.errors import InputError
from edge.rates import heart_rate, power_spectrum, quality_from_snr, spectral_peak


@pytest.mark.parametrize("bpm", [45.0, 61.3, 88.8, 120.0, 150.5, 179.0])
def test_heart_rate_of_a_sinusoid_is_exact_to_a_fraction_of_a_bin(bpm, rng):
    fs = 30.0
    t = np.arange(0, 10, 1 / fs)
    x = np.sin(2 * np.pi * bpm / 60 * t + rng.uniform(0, 6)) + 0.05 * rng.standard_normal(t.size)
    peak = heart_rate(x, fs=fs)
    assert peak is not None
    assert abs(peak.rate_per_min - bpm) < 0.5  # the true resolution of 10 s is 6 bpm
    assert peak.snr_db > 5


def test_white_noise_has_a_low_snr(rng):
    peak = heart_rate(rng.standard_normal(300), fs=30.0)
    assert peak is None or peak.snr_db < 0


def test_harmonic_check_prefers_the_fundamental_when_it_is_strong():
    fs = 30.0
    t = np.arange(0, 10, 1 / fs)
    x = 0.8 * np.sin(2 * np.pi * 1.0 * t) + 1.0 * np.sin(2 * np.pi * 2.0 * t)
    assert abs(heart_rate(x, fs=fs).rate_per_min - 60.0) < 1.0


def test_prior_selects_the_nearby_peak():
    fs = 30.0
    t = np.arange(0, 10, 1 / fs)
    x = np.sin(2 * np.pi * 1.2 * t) + 1.3 * np.sin(2 * np.pi * 2.5 * t)
    freq, power = power_spectrum(x, fs)
    free = spectral_peak(freq, power, (0.7, 3.5))
    tracked = spectral_peak(freq, power, (0.7, 3.5), prior_hz=1.2, prior_sd_hz=0.2)
    assert abs(free.rate_per_min - 150) < 1 and abs(tracked.rate_per_min - 72) < 1


def test_quality_is_monotonic_in_snr_and_bounded():
    snrs = np.linspace(-10, 30, 50)
    q = [quality_from_snr(s) for s in snrs]
    assert q[0] == 0.0 and all(0 <= v < 1 for v in q) and np.all(np.diff(q) >= 0)
    assert quality_from_snr(float("nan")) == 0.0


def test_heart_rate_input_checks():
    with pytest.raises(InputError, match="at least"):
        heart_rate(np.ones(10), fs=30.0)
    with pytest.raises(InputError, match="fs/2"):
        heart_rate(np.ones(100), fs=5.0)
    assert heart_rate(np.ones(300), fs=30.0) is None  # flat: no peak
