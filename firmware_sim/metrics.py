"""Heart-rate evaluation metrics, as plain functions of estimate and reference.

Estimates and references are arrays of the same shape, one value per window or video;
``NaN`` in `estimate` means "no reading" (it lowers the coverage and is left out of the
error metrics); pairs whose reference is ``NaN`` are left out of everything.

- MAE = (1/n)·Σ|ŷ − y|, RMSE = sqrt((1/n)·Σ(ŷ − y)²), MAPE = (100/n)·Σ|ŷ − y|/y,
  Pearson r = cov(ŷ, y)/(σ_ŷ·σ_y), with the rPPG-Toolbox standard errors
  SE(MAE) = std(|e|)/√n and SE(r) = sqrt((1 − r²)/(n − 2)).
- Bland-Altman: bias = mean(ŷ − y), limits of agreement bias ± 1.96·SD(ŷ − y).
- SNR (de Haan & Jeanne 2013, rPPG-Toolbox ``_calculate_SNR``): power of the predicted
  pulse within ±6 bpm of the *reference* heart rate and of its second harmonic over the
  power in the rest of 0.6-3.3 Hz, in dB.
- Coverage: the share of windows (or videos) with a reference that got a reading.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from edge.errors import InputError
from edge.rates import power_spectrum

__all__ = ["BlandAltman", "Summary", "bland_altman", "coverage", "mae", "mape", "pearson_r",
           "rmse", "snr_db", "summarize"]

SNR_BAND_HZ = (0.6, 3.3)
SNR_HALF_WIDTH_HZ = 0.1  # ±6 bpm


def _pairs(estimate: object, reference: object) -> tuple[np.ndarray, np.ndarray]:
    """The (estimate, reference) pairs where both are finite, as float64 arrays."""
    est = np.asarray(estimate, dtype=np.float64).ravel()
    ref = np.asarray(reference, dtype=np.float64).ravel()
    if est.shape != ref.shape:
        raise InputError(f"estimate and reference must have the same length; got {est.size} "
                         f"and {ref.size}")
    ok = np.isfinite(est) & np.isfinite(ref)
    return est[ok], ref[ok]


def mae(estimate: object, reference: object) -> float:
    """Mean absolute error, in the unit of the inputs; ``NaN`` when no pair is left."""
    est, ref = _pairs(estimate, reference)
    return float(np.mean(np.abs(est - ref))) if est.size else math.nan


def rmse(estimate: object, reference: object) -> float:
    """Root-mean-square error; ``NaN`` when no pair is left."""
    est, ref = _pairs(estimate, reference)
    return float(np.sqrt(np.mean((est - ref) ** 2))) if est.size else math.nan


def mape(estimate: object, reference: object) -> float:
    """Mean absolute percentage error, in %, over pairs with a positive reference."""
    est, ref = _pairs(estimate, reference)
    keep = ref > 0
    if not keep.any():
        return math.nan
    return float(100.0 * np.mean(np.abs(est[keep] - ref[keep]) / ref[keep]))


def pearson_r(estimate: object, reference: object) -> float:
    """Pearson correlation; ``NaN`` with fewer than 3 pairs or a constant side."""
    est, ref = _pairs(estimate, reference)
    if est.size < 3:
        return math.nan
    de, dr = est - est.mean(), ref - ref.mean()
    denom = math.sqrt(float(de @ de) * float(dr @ dr))
    if not (denom > 0 and math.isfinite(denom)):
        return math.nan
    return float(np.clip(de @ dr / denom, -1.0, 1.0))  # rounding can step past ±1


def coverage(estimate: object, reference: object) -> float:
    """Share of the items with a finite reference that have a finite estimate (0-1)."""
    est = np.asarray(estimate, dtype=np.float64).ravel()
    ref = np.asarray(reference, dtype=np.float64).ravel()
    if est.shape != ref.shape:
        raise InputError(f"estimate and reference must have the same length; got {est.size} "
                         f"and {ref.size}")
    has_ref = np.isfinite(ref)
    if not has_ref.any():
        return math.nan
    return float(np.mean(np.isfinite(est[has_ref])))


@dataclass(frozen=True, slots=True)
class BlandAltman:
    """Bias and 95 % limits of agreement of estimate − reference."""

    bias: float
    sd: float
    lower: float
    upper: float
    n: int


def bland_altman(estimate: object, reference: object) -> BlandAltman:
    """Bias = mean(ŷ − y); limits bias ± 1.96·SD (sample SD, ddof=1)."""
    est, ref = _pairs(estimate, reference)
    if est.size < 2:
        bias = float(np.mean(est - ref)) if est.size else math.nan
        return BlandAltman(bias, math.nan, math.nan, math.nan, int(est.size))
    diff = est - ref
    bias, sd = float(diff.mean()), float(diff.std(ddof=1))
    return BlandAltman(bias, sd, bias - 1.96 * sd, bias + 1.96 * sd, int(est.size))


def snr_db(pulse: object, *, fs: float, reference_bpm: float) -> float:
    """SNR of a predicted pulse against the reference heart rate, in dB (toolbox form).

    Power within ±6 bpm of ``reference_bpm`` and of twice it, over the power in the rest
    of 0.6-3.3 Hz, on a Hann periodogram of the detrended pulse. ``NaN`` for a pulse
    shorter than 2 s, a flat one, or a missing reference.
    """
    x = np.asarray(pulse, dtype=np.float64).ravel()
    if (not math.isfinite(reference_bpm) or reference_bpm <= 0 or x.size < 2 * fs
            or not np.all(np.isfinite(x)) or np.ptp(x) == 0):
        return math.nan
    freq, power = power_spectrum(x, fs)
    band = (freq >= SNR_BAND_HZ[0]) & (freq <= SNR_BAND_HZ[1])
    f0 = reference_bpm / 60.0
    signal = (np.abs(freq - f0) <= SNR_HALF_WIDTH_HZ) | (np.abs(freq - 2 * f0) <= SNR_HALF_WIDTH_HZ)
    p_signal = float(power[band & signal].sum())
    p_noise = float(power[band & ~signal].sum())
    if p_noise <= 0 or p_signal <= 0:
        return math.nan
    return 10.0 * math.log10(p_signal / p_noise)


@dataclass(frozen=True, slots=True)
class Summary:
    """All metrics of one set of (estimate, reference) pairs."""

    n: int
    """Items with a reference."""
    n_estimated: int
    """Items with a reference and an estimate (the error metrics' n)."""
    coverage: float
    mae_bpm: float
    se_mae_bpm: float
    rmse_bpm: float
    mape_pct: float
    pearson_r: float
    se_r: float
    snr_db: float
    """Mean SNR over the items that have one (``NaN`` if none)."""
    bias_bpm: float
    loa_lower_bpm: float
    loa_upper_bpm: float

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-ready: ``NaN`` becomes ``None``."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}


def summarize(estimate: object, reference: object, snr: object | None = None) -> Summary:
    """Every metric at once; `snr` is an optional per-item SNR array (dB, ``NaN`` = none)."""
    est, ref = _pairs(estimate, reference)
    n_ref = int(np.isfinite(np.asarray(reference, dtype=np.float64)).sum())
    err = np.abs(est - ref)
    r = pearson_r(est, ref)
    se_r = math.nan
    if math.isfinite(r) and est.size > 2:
        se_r = math.sqrt((1 - r * r) / (est.size - 2))
    ba = bland_altman(est, ref)
    snr_arr = np.asarray([] if snr is None else snr, dtype=np.float64)
    snr_arr = snr_arr[np.isfinite(snr_arr)]
    return Summary(
        n=n_ref,
        n_estimated=int(est.size),
        coverage=coverage(estimate, reference),
        mae_bpm=mae(est, ref),
        se_mae_bpm=float(err.std() / math.sqrt(err.size)) if err.size else math.nan,
        rmse_bpm=rmse(est, ref),
        mape_pct=mape(est, ref),
        pearson_r=r,
        se_r=se_r,
        snr_db=float(snr_arr.mean()) if snr_arr.size else math.nan,
        bias_bpm=ba.bias,
        loa_lower_bpm=ba.lower,
        loa_upper_bpm=ba.upper,
    )
