"""The host check's rule: a stage agrees when its modelled median is within ±25 % of the
measured one and its p99 within ±50 %, or when the two are closer than the probe resolves."""

import numpy as np

from firmware_sim.report import _agreement


def times_s(median_s, p99_s, n=1000):
    """n stage times whose median and 99th percentile are (about) the ones given."""
    x = np.full(n, median_s)
    x[-20:] = p99_s
    return x


def test_a_model_within_the_tolerances_agrees_and_one_outside_does_not():
    measured = times_s(100e-6, 400e-6)
    assert _agreement(times_s(120e-6, 560e-6), measured)["agrees"]          # 1.2 and 1.4
    assert not _agreement(times_s(130e-6, 400e-6), measured)["agrees"]      # median 1.3
    assert not _agreement(times_s(100e-6, 640e-6), measured)["agrees"]      # p99 1.6


def test_stages_of_a_few_microseconds_agree_when_closer_than_the_probe_resolves():
    assert _agreement(times_s(1e-6, 3e-6), times_s(2e-6, 4e-6))["agrees"]    # ratio 0.5, 1 us
    assert not _agreement(times_s(10e-6, 30e-6), times_s(20e-6, 40e-6))["agrees"]  # 10 us
