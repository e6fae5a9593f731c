import numpy as np
import pytest
from numpy.testing import assert_allclose

from edge.errors import InputError
from edge.rates import heart_rate
from edge.rppg import METHODS, PulseStream, extract_pulse

SKIN = np.array([180.0, 120.0, 90.0])
PULSE = np.array([0.33, 0.77, 0.53])


def _trace(rng, bpm, seconds=20.0, fs=30.0, motion=0.0):
    t = np.arange(0, seconds, 1 / fs)
    pulse = 0.003 * np.sin(2 * np.pi * bpm / 60 * t)
    light = 1 + 0.02 * np.sin(2 * np.pi * 0.2 * t) + motion * np.sin(2 * np.pi * 0.33 * t)
    rgb = SKIN * light[:, None] * (1 + pulse[:, None] * PULSE)
    return rgb + 0.05 * rng.standard_normal(rgb.shape)


@pytest.mark.parametrize("method", sorted(METHODS))
@pytest.mark.parametrize("bpm", [55.0, 95.0, 150.0])
def test_each_method_recovers_the_pulse_rate(method, bpm, rng):
    pulse = extract_pulse(_trace(rng, bpm), fs=30.0, method=method)
    peak = heart_rate(pulse[60:-60], fs=30.0)
    assert abs(peak.rate_per_min - bpm) < 1.5


def test_pos_suppresses_an_intensity_change_that_green_cannot(rng):
    rgb = _trace(rng, 75.0, motion=0.05)  # strong intensity wobble at 20 bpm-ish
    green = heart_rate(extract_pulse(rgb, fs=30.0, method="green")[60:-60], fs=30.0,
                       band_bpm=(15, 210))
    pos = heart_rate(extract_pulse(rgb, fs=30.0, method="pos")[60:-60], fs=30.0,
                     band_bpm=(15, 210))
    assert abs(pos.rate_per_min - 75) < 1.5
    assert abs(green.rate_per_min - 75) > 5


def test_stream_with_compaction_equals_one_long_buffer(rng):
    rgb = _trace(rng, 80.0, seconds=30.0)
    long = PulseStream("pos", fs=30.0, keep_s=40.0)
    short = PulseStream("pos", fs=30.0, keep_s=5.0)  # compacts several times
    for sample in rgb:
        long.push(sample)
        short.push(sample)
    n = 100
    assert short.dropped > 0
    assert_allclose(short.final_pulse(n), long.final_pulse(n), rtol=1e-9)
    assert long.final_count == rgb.shape[0] - long.window + 1


@pytest.mark.parametrize("method", ["chrom", "lgi"])
def test_windowed_methods_finalise_after_each_hop(method, rng):
    stream = PulseStream(method, fs=30.0)
    for sample in _trace(rng, 70.0, seconds=5.0):
        stream.push(sample)
    assert stream.count - stream.window < stream.final_count <= stream.count


def test_extract_pulse_input_checks():
    with pytest.raises(InputError, match=r"\(n_samples, 3\)"):
        extract_pulse(np.ones((100, 4)), fs=30.0)
    with pytest.raises(InputError, match="non-negative"):
        extract_pulse(np.full((100, 3), -1.0), fs=30.0)
    with pytest.raises(InputError, match="one window"):
        extract_pulse(np.ones((10, 3)), fs=30.0)
    with pytest.raises(InputError, match="method"):
        extract_pulse(np.ones((100, 3)), fs=30.0, method="ica")
