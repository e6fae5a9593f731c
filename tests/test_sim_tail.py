"""MLPerf early-stopping tail estimates against the worked table and SciPy."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy.special import betainc

from edge.errors import ConfigError
from firmware_sim.tail import (
    early_stopping_rank,
    min_samples,
    regularised_beta,
    summary_ms,
    tail_estimate,
)

# a worked table of LoadGen early-stopping ranks (c = 0.99, d = 0): n -> (p90 rank, p99 rank)
WORKED_TABLE = [(64, 1, 0), (600, 43, 0), (1800, 150, 8), (18000, 1706, 149)]


@pytest.mark.parametrize(("n", "rank_p90", "rank_p99"), WORKED_TABLE)
def test_worked_table(n, rank_p90, rank_p99):
    assert early_stopping_rank(n, 0.90) == rank_p90
    assert early_stopping_rank(n, 0.99) == rank_p99


def test_min_samples_matches_loadgen_messages():
    assert min_samples(0.99) == 662  # "would need ... at least 662 total queries"
    assert early_stopping_rank(661, 0.99) == 0
    assert early_stopping_rank(662, 0.99) == 1
    # p90: t = 1 needs 0.9^(h+1) + (h+1) 0.1 0.9^h <= 0.01, first true at h = 63 -> n = 64
    h = 63
    assert 0.9 ** (h + 1) + (h + 1) * 0.1 * 0.9**h <= 0.01 < 0.9**h + h * 0.1 * 0.9 ** (h - 1)
    assert min_samples(0.90) == 64
    assert early_stopping_rank(0, 0.9) == 0
    assert early_stopping_rank(1, 0.9) == 0


def test_rank_is_the_largest_passing_t():
    # re-derive n = 1800, p99 straight from SciPy's betainc: t = 8 passes, t = 9 does not
    n, p = 1800, 0.99
    assert betainc(n - 8, 8 + 1, p) <= 0.01 < betainc(n - 9, 9 + 1, p)


def test_lower_confidence_and_tolerance_claim_more():
    assert early_stopping_rank(1800, 0.99, confidence=0.9) > 8
    assert early_stopping_rank(1800, 0.99, tolerance=0.001) > 8
    assert min_samples(0.99, 0.9) < 662


def test_regularised_beta_matches_scipy_on_a_grid():
    xs = np.concatenate(([0.0, 1e-6, 1.0], np.linspace(0.01, 0.99, 25), [0.999, 0.9999]))
    for a in [1, 2, 3, 5, 8, 13, 40, 100, 661, 1500]:
        for b in [1, 2, 4, 9, 30, 150, 1000]:
            for x in xs:
                ref = float(betainc(a, b, x))
                got = regularised_beta(a, b, x)
                if ref > 1e-100:  # deeper, SciPy itself drifts (see the exact test below)
                    assert got == pytest.approx(ref, rel=1e-9, abs=1e-300), (a, b, x)
                else:
                    assert got < 1e-99, (a, b, x)


@pytest.mark.parametrize(
    ("a", "b", "x"), [(661, 30, 0.33666666666666667), (40, 9, 0.7), (5, 150, 0.01)]
)
def test_regularised_beta_exact_binomial_tail(a, b, x):
    # I_x(a, b) = P(Binomial(a + b - 1, x) >= a), summed exactly in rationals
    n_trials, xq = a + b - 1, Fraction(x)
    exact = sum(
        math.comb(n_trials, k) * xq**k * (1 - xq) ** (n_trials - k) for k in range(a, n_trials + 1)
    )
    assert regularised_beta(a, b, x) == pytest.approx(float(exact), rel=1e-10)


def test_regularised_beta_closed_forms():
    # I_x(a, 1) = x^a ; I_x(1, b) = 1 - (1 - x)^b
    assert regularised_beta(7, 1, 0.3) == pytest.approx(0.3**7, rel=1e-12)
    assert regularised_beta(1, 5, 0.2) == pytest.approx(1 - 0.8**5, rel=1e-12)
    # large arguments stay accurate (LoadGen-sized runs)
    assert regularised_beta(17000, 1001, 0.95) == pytest.approx(
        float(betainc(17000, 1001, 0.95)), rel=1e-8
    )


def test_regularised_beta_rejects_non_integers():
    with pytest.raises(ConfigError, match="integers"):
        regularised_beta(1.5, 2, 0.5)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        regularised_beta(1, 2, 1.5)


def test_tail_estimate_none_then_value(rng):
    small = tail_estimate(rng.random(100), 0.99)
    assert small.value is None and not small.claimable
    assert (small.rank, small.n, small.needed_n) == (0, 100, 662)
    samples = rng.permutation(np.arange(1, 2001, dtype=float))  # 1 .. 2000, shuffled
    est = tail_estimate(samples, 0.99)
    assert est.rank == early_stopping_rank(2000, 0.99) >= 1
    assert est.value == 2000 - est.rank + 1  # the rank-th largest
    assert est.value >= np.percentile(samples, 99)  # conservative: never below the raw p99


def test_tail_estimate_ignores_dropped_frames():
    x = np.r_[np.arange(1.0, 65.0), np.full(10, np.nan)]
    est = tail_estimate(x, 0.9)
    assert (est.n, est.rank, est.value) == (64, 1, 64.0)


def test_summary_ms():
    x_s = np.r_[np.arange(1, 1801) * 1e-3, np.nan]  # 1 .. 1800 ms plus a dropped frame
    s = summary_ms(x_s)
    assert s["count"] == 1800
    assert s["mean_ms"] == pytest.approx(900.5)
    assert s["p50_ms"] == pytest.approx(900.5)
    assert s["max_ms"] == pytest.approx(1800.0)
    assert s["es_p90_ms"] == pytest.approx(1800 - 150 + 1)
    assert s["es_p99_ms"] == pytest.approx(1800 - 8 + 1)
    assert (s["es_p90_rank"], s["es_p99_rank"]) == (150, 8)
    short = summary_ms(np.arange(1, 101) * 1e-3)
    assert short["es_p99_ms"] is None and short["es_p99_needed_n"] == 662
    assert short["es_p90_ms"] is not None
    empty = summary_ms(np.array([np.nan]))
    assert empty["count"] == 0 and empty["mean_ms"] is None and empty["es_p90_ms"] is None
    assert all(v is None or math.isfinite(v) for v in s.values())


def test_level_validation():
    with pytest.raises(ConfigError, match="percentile"):
        early_stopping_rank(100, 99)
    with pytest.raises(ConfigError, match="confidence"):
        min_samples(0.99, 1.0)
    with pytest.raises(ConfigError, match="n must"):
        early_stopping_rank(-1, 0.9)
