"""Honest tail percentiles: the MLPerf LoadGen early-stopping estimator.

A raw ``np.percentile(latency, 99)`` over a few hundred frames claims more than the data
supports. LoadGen's early-stopping criterion fixes the percentile ``p``, a confidence ``c``
and a tolerance ``d``; with ``h`` samples under the bound and ``t`` over it, the bound holds
when ``I(p - d; h, t + 1) <= 1 - c`` (I: regularised incomplete beta). The estimate is the
``t``-th largest sample for the largest passing ``t`` (``t = 0``: too few samples). For
integer arguments I is a binomial tail, summed in log space (no SciPy at run time).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.errors import ConfigError, InputError

__all__ = [
    "TailEstimate",
    "early_stopping_rank",
    "min_samples",
    "regularised_beta",
    "summary_ms",
    "tail_estimate",
]


def regularised_beta(a: int, b: int, x: float) -> float:
    """Regularised incomplete beta function ``I_x(a, b)`` for integer ``a, b >= 1``.

    Parameters
    ----------
    a, b : int
        Shape parameters, positive integers (same order as ``scipy.special.betainc``).
    x : float
        Point in ``[0, 1]``.

    Returns
    -------
    float
        ``P(Binomial(a + b - 1, x) >= a)``, computed as a log-space sum of the binomial terms.
    """
    if isinstance(a, bool) or isinstance(b, bool) or int(a) != a or int(b) != b:
        raise ConfigError(f"a and b must be integers; got a={a!r}, b={b!r}")
    a, b = int(a), int(b)
    if a < 1 or b < 1:
        raise ConfigError(f"a and b must be >= 1; got a={a}, b={b}")
    if not 0.0 <= x <= 1.0:
        raise ConfigError(f"x must be in [0, 1]; got {x!r}")
    if x == 0.0:
        return 0.0
    if x == 1.0:
        return 1.0
    n_trials = a + b - 1
    log_x, log_1mx = math.log(x), math.log1p(-x)
    # First term of the upper tail, exactly: C(N, a) x^a (1 - x)^(N - a), with log m! = lgamma(m+1)
    log_first = (
        math.lgamma(n_trials + 1)
        - math.lgamma(a + 1)
        - math.lgamma(n_trials - a + 1)
        + a * log_x
        + (n_trials - a) * log_1mx
    )
    # Then term(k + 1) / term(k) = (N - k) / (k + 1) * x / (1 - x), summed in log space
    k = np.arange(a, n_trials, dtype=np.float64)
    steps = np.log(n_trials - k) - np.log(k + 1.0) + (log_x - log_1mx)
    log_terms = log_first + np.concatenate(([0.0], np.cumsum(steps)))
    top = float(log_terms.max())
    return min(1.0, math.exp(top) * float(np.exp(log_terms - top).sum()))


def _check_levels(percentile: float, confidence: float, tolerance: float) -> None:
    if not 0.0 < percentile < 1.0:
        raise ConfigError(f"percentile must be a fraction in (0, 1), e.g. 0.99; got {percentile!r}")
    if not 0.0 < confidence < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), e.g. 0.99; got {confidence!r}")
    if not 0.0 <= tolerance < percentile:
        raise ConfigError(f"tolerance must be in [0, percentile={percentile}); got {tolerance!r}")


def _passes(n: int, t: int, x: float, alpha: float) -> bool:
    """Whether ``t`` over-latency samples out of ``n`` still allow the claim."""
    h = n - t
    return h >= 1 and regularised_beta(h, t + 1, x) <= alpha


def early_stopping_rank(
    n: int, percentile: float, *, confidence: float = 0.99, tolerance: float = 0.0
) -> int:
    """Rank ``t`` of the early-stopping estimate of a tail percentile.

    Parameters
    ----------
    n : int
        Number of latency samples (queries, frames), ``>= 0``.
    percentile : float
        Tail percentile as a fraction, e.g. ``0.9`` or ``0.99``.
    confidence : float
        Confidence ``c`` of the claim (LoadGen: 0.99).
    tolerance : float
        Tolerance ``d`` subtracted from the percentile (LoadGen: 0).

    Returns
    -------
    int
        The largest ``t`` with ``I(p - d; n - t, t + 1) <= 1 - c``: the estimate is the
        ``t``-th largest sample. 0 when ``n`` is too small to claim the percentile.

    Examples
    --------
    >>> early_stopping_rank(1800, 0.99)
    8
    """
    _check_levels(percentile, confidence, tolerance)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ConfigError(f"n must be an integer >= 0; got {n!r}")
    n = int(n)
    x, alpha = percentile - tolerance, 1.0 - confidence
    if not _passes(n, 1, x, alpha):
        return 0
    # I(x; n - t, t + 1) = P(Bin(n, x) >= n - t) grows with t, so the passing t form a prefix.
    lo, hi = 1, n - 1  # lo passes; find the last t in [lo, hi] that passes
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _passes(n, mid, x, alpha):
            lo = mid
        else:
            hi = mid - 1
    return lo


def min_samples(percentile: float, confidence: float = 0.99, *, tolerance: float = 0.0) -> int:
    """Smallest number of samples for which ``early_stopping_rank`` is at least 1.

    Parameters
    ----------
    percentile : float
        Tail percentile as a fraction, e.g. ``0.99``.
    confidence : float
        Confidence ``c`` of the claim.
    tolerance : float
        Tolerance ``d`` subtracted from the percentile.

    Returns
    -------
    int
        The minimum ``n`` (662 for p99 at 99% confidence, as LoadGen reports).
    """
    _check_levels(percentile, confidence, tolerance)
    x, alpha = percentile - tolerance, 1.0 - confidence
    hi = 2
    while not _passes(hi, 1, x, alpha):
        hi *= 2
    lo = hi // 2  # fails (or is 1, which always fails: h would be 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _passes(mid, 1, x, alpha):
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True, kw_only=True, slots=True)
class TailEstimate:
    """Early-stopping estimate of one tail percentile.

    Attributes
    ----------
    percentile : float
        Tail percentile as a fraction (e.g. 0.99).
    confidence : float
        Confidence of the claim.
    value : float or None
        The ``rank``-th largest finite sample (same unit as the samples), or None when there
        are too few samples to claim the percentile.
    rank : int
        ``t`` from :func:`early_stopping_rank`; 0 when not claimable.
    n : int
        Number of finite samples used.
    needed_n : int
        Minimum number of samples for any claim at this percentile and confidence.
    """

    percentile: float
    confidence: float
    value: float | None
    rank: int
    n: int
    needed_n: int

    @property
    def claimable(self) -> bool:
        """Whether enough samples exist for an estimate."""
        return self.value is not None


def _finite(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1:
        raise InputError(f"samples must be 1-D; got shape {x.shape}")
    return x[np.isfinite(x)]


def tail_estimate(
    samples: np.ndarray, percentile: float, *, confidence: float = 0.99, tolerance: float = 0.0
) -> TailEstimate:
    """Early-stopping estimate of a tail percentile of ``samples``.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        Latencies (any unit). NaN and inf (e.g. dropped frames) are ignored.
    percentile : float
        Tail percentile as a fraction, e.g. ``0.99``.
    confidence, tolerance : float
        As in :func:`early_stopping_rank`.

    Returns
    -------
    TailEstimate
    """
    x = _finite(samples)
    rank = early_stopping_rank(x.size, percentile, confidence=confidence, tolerance=tolerance)
    value = float(np.partition(x, x.size - rank)[x.size - rank]) if rank else None
    return TailEstimate(
        percentile=percentile,
        confidence=confidence,
        value=value,
        rank=rank,
        n=int(x.size),
        needed_n=min_samples(percentile, confidence, tolerance=tolerance),
    )


def summary_ms(samples_s: np.ndarray, *, confidence: float = 0.99) -> dict[str, float | int | None]:
    """Flat latency summary in milliseconds, with honest p90/p99.

    Parameters
    ----------
    samples_s : np.ndarray [shape=(n,)]
        Latencies in seconds; NaN (dropped frames) are ignored.
    confidence : float
        Confidence of the early-stopping estimates.

    Returns
    -------
    dict
        ``count``; ``mean_ms``, ``p50_ms``, ``p90_ms``, ``p99_ms`` (plain ``np.percentile``) and
        ``max_ms``, all None when there is no sample; ``es_p90_ms`` / ``es_p99_ms`` (None when not
        claimable), ``es_p90_rank`` / ``es_p99_rank`` and ``es_p90_needed_n`` /
        ``es_p99_needed_n``.
    """
    x_ms = _finite(samples_s) * 1e3
    out: dict[str, float | int | None] = {"count": int(x_ms.size)}
    empty = x_ms.size == 0
    out["mean_ms"] = None if empty else float(x_ms.mean())
    for q in (50, 90, 99):
        out[f"p{q}_ms"] = None if empty else float(np.percentile(x_ms, q))
    out["max_ms"] = None if empty else float(x_ms.max())
    for q in (90, 99):
        est = tail_estimate(x_ms, q / 100, confidence=confidence)
        out[f"es_p{q}_ms"] = est.value
        out[f"es_p{q}_rank"] = est.rank
        out[f"es_p{q}_needed_n"] = est.needed_n
    return out
