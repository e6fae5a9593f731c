"""Metric functions against values worked out by hand."""

import math

import numpy as np
import pytest

from edge.errors import InputError
from firmware_sim import metrics

# three pairs with an estimate (errors -2, +2, -5) and one window without a reading
EST = [70.0, 80.0, math.nan, 95.0]
REF = [72.0, 78.0, 75.0, 100.0]


def test_mae_rmse_mape_by_hand():
    assert metrics.mae(EST, REF) == pytest.approx((2 + 2 + 5) / 3)
    assert metrics.rmse(EST, REF) == pytest.approx(math.sqrt((4 + 4 + 25) / 3))
    assert metrics.mape(EST, REF) == pytest.approx(100 / 3 * (2 / 72 + 2 / 78 + 5 / 100))


def test_pearson_by_hand():
    # est mean 245/3, ref mean 250/3; deviations times 3: est (-35, -5, 40), ref (-34, -16, 50)
    cov = (-35 * -34) + (-5 * -16) + (40 * 50)
    var_e = 35**2 + 5**2 + 40**2
    var_r = 34**2 + 16**2 + 50**2
    assert metrics.pearson_r(EST, REF) == pytest.approx(cov / math.sqrt(var_e * var_r))
    assert metrics.pearson_r([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert metrics.pearson_r([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_coverage_counts_only_items_with_a_reference():
    assert metrics.coverage(EST, REF) == pytest.approx(0.75)
    assert metrics.coverage([70.0, math.nan], [math.nan, 70.0]) == 0.0
    assert math.isnan(metrics.coverage([70.0], [math.nan]))


def test_bland_altman_by_hand():
    ba = metrics.bland_altman(EST, REF)
    # differences -2, +2, -5: mean -5/3; squared deviations (1/9 + 121/9 + 100/9) / 2
    sd = math.sqrt((1 + 121 + 100) / 9 / 2)
    assert ba.bias == pytest.approx(-5 / 3) and ba.sd == pytest.approx(sd) and ba.n == 3
    assert ba.lower == pytest.approx(-5 / 3 - 1.96 * sd)
    assert ba.upper == pytest.approx(-5 / 3 + 1.96 * sd)


def test_summary_standard_errors_and_json():
    s = metrics.summarize(EST, REF, snr=[1.0, math.nan, 3.0, math.nan])
    err = np.array([2.0, 2.0, 5.0])
    assert s.n == 4 and s.n_estimated == 3 and s.coverage == pytest.approx(0.75)
    assert s.se_mae_bpm == pytest.approx(err.std() / math.sqrt(3))
    r = metrics.pearson_r(EST, REF)
    assert s.se_r == pytest.approx(math.sqrt((1 - r * r) / 1))
    assert s.snr_db == pytest.approx(2.0)
    empty = metrics.summarize([math.nan], [70.0]).to_dict()
    assert empty["mae_bpm"] is None and empty["coverage"] == 0.0


def test_snr_of_two_tones_is_their_power_ratio():
    fs = 30.0
    t = np.arange(int(60 * fs)) / fs
    # 72 bpm with amplitude 1 in the signal bands, 3 Hz (180 bpm) with 0.5 outside them
    x = np.sin(2 * np.pi * 1.2 * t) + 0.5 * np.sin(2 * np.pi * 3.0 * t)
    snr = metrics.snr_db(x, fs=fs, reference_bpm=72.0)
    assert snr == pytest.approx(10 * math.log10(4), abs=0.1)
    # the harmonic counts as signal: adding 2x HR raises the SNR by its power
    y = x + 0.5 * np.sin(2 * np.pi * 2.4 * t)
    assert metrics.snr_db(y, fs=fs, reference_bpm=72.0) == pytest.approx(
        10 * math.log10(1.25 / 0.25), abs=0.1)
    assert math.isnan(metrics.snr_db(np.ones(300), fs=fs, reference_bpm=72.0))
    assert math.isnan(metrics.snr_db(x, fs=fs, reference_bpm=math.nan))


def test_mismatched_lengths_and_empty_inputs():
    with pytest.raises(InputError, match="same length"):
        metrics.mae([1.0, 2.0], [1.0])
    assert math.isnan(metrics.mae([], []))
    assert math.isnan(metrics.rmse([math.nan], [70.0]))
    assert math.isnan(metrics.pearson_r([70.0, 71.0], [70.0, 72.0]))  # fewer than 3 pairs
