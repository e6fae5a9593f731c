"""SpO2 from the skin's colour pulse: ratio of ratios and a calibration.

Pulse oximetry compares how strongly blood volume modulates two wavelengths::

    R = (AC_red / DC_red) / (AC_blue / DC_blue),        SpO2 = A - B·R

An RGB camera has no near-infrared channel, so red/blue stands in for red/IR, and A and B
depend on the camera, the light and the skin: fit them against a reference oximeter
(`fit_calibration`, ``edge-vitals calibrate spo2``). `DEFAULT_CALIBRATION` is the textbook
contact-oximeter line 110 - 25·R; readings made with it say ``spo2_calibrated = False`` and
their quality is capped at `UNCALIBRATED_QUALITY_CAP`. No value comes out for a ratio outside
the calibration's range (no extrapolation) or when the ratio cannot be trusted.

`ratio_of_ratios` reads each channel's AC along the pipeline's pulse (its cross-spectrum with
the pulse over the heart rate ± 0.4 Hz, so noise independent of the pulse averages out) on a
detrended, Tukey-tapered window; it takes off the sensor-noise floor that the pulse shares
with each channel (bins above `NOISE_FROM_HZ`, spectral lines left out) and the bias of a
ratio of two noisy numbers (Tin, J. Am. Stat. Assoc. 60, 1965). Calibration files are JSON
(never pickle) with a format version; unknown keys are refused.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from edge.errors import ConfigError, InputError

__all__ = [
    "DEFAULT_CALIBRATION",
    "UNCALIBRATED_QUALITY_CAP",
    "RatioEstimate",
    "Spo2Calibration",
    "fit_calibration",
    "load_calibration",
    "ratio_of_ratios",
    "ratio_quality",
]

CALIBRATION_FORMAT = 1
UNCALIBRATED_QUALITY_CAP = 0.3
"""Highest quality a reading made with `DEFAULT_CALIBRATION` can carry."""
BAND_HALF_WIDTH_HZ = 0.4
"""AC is read in heart rate ± this."""
NOISE_FROM_HZ = 4.0
"""Cross-spectrum bins above this hold only sensor noise (white in time); their mean
is the noise floor taken off the band."""
TAPER_FRACTION = 0.25
"""Share of the window in the Tukey taper's two cosine edges."""
LINE_POWER_FACTOR = 10.0
"""A noise bin whose red + blue power exceeds this many times the median is a spectral
line, not noise (for white noise a bin's power is exponential: P > 10 x median is
2^-10, about 1 bin in 1000)."""
MAX_RELATIVE_ERROR = 0.5
"""Largest relative standard error of AC_red or AC_blue for which a ratio is given."""
MIN_CORRELATION = 0.3
"""Below this correlation with the pulse a channel's AC is noise (quality 0)."""
MIN_RECORDINGS_FOR_SE = 3
"""Fewest recordings from which `fit_calibration` gives standard errors of A and B."""


def _pair(value: object, name: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ConfigError(f"Spo2Calibration.{name} must be two numbers; got {value!r}") from None
    return lo, hi


@dataclass(frozen=True, kw_only=True, slots=True)
class Spo2Calibration:
    """``SpO2 = a - b·R`` for ratios in `ratio_range`, and where it came from.

    Attributes
    ----------
    a, b : float
        Intercept (%) and slope (% per unit of R).
    ratio_range : tuple of 2 floats
        Ratios the fit covered; no SpO2 is given outside (no extrapolation).
    calibrated : bool
        True for a calibration fitted against a reference oximeter.
    camera, light : str
        What the calibration was made with (free text); it is valid only for them.
    n_recordings, n_points : int
        Recordings and (ratio, reference) pairs the fit used.
    rms_error_pct : float or None
        Root-mean-square residual of the fit, SpO2 percentage points.
    a_se, b_se : float or None
        Standard errors of `a` and `b` (jackknife over recordings; ``None`` from fewer
        than `MIN_RECORDINGS_FOR_SE` recordings). Readings within a recording share
        its slow errors, so only whole recordings say how well the line is known.
    fitted_on : str
        ISO date of the fit.
    source : str
        Free text: how the coefficients were obtained.
    """

    a: float
    b: float
    ratio_range: tuple[float, float]
    calibrated: bool
    camera: str = ""
    light: str = ""
    n_recordings: int = 0
    n_points: int = 0
    rms_error_pct: float | None = None
    a_se: float | None = None
    b_se: float | None = None
    fitted_on: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        for name in ("a", "b"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ConfigError(f"Spo2Calibration.{name} must be a finite number; got {value!r}")
        lo, hi = _pair(self.ratio_range, "ratio_range")
        if not 0.0 < lo < hi:
            raise ConfigError(f"Spo2Calibration.ratio_range must be 0 < low < high; got {lo}, {hi}")
        object.__setattr__(self, "ratio_range", (lo, hi))

    def spo2_pct(self, ratio: float) -> float | None:
        """SpO2 for a ratio of ratios, capped at 100 %; ``None`` outside `ratio_range`."""
        lo, hi = self.ratio_range
        if not lo <= ratio <= hi:
            return None
        return min(100.0, self.a - self.b * ratio)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready dict with the file format version."""
        out = asdict(self)
        out["ratio_range"] = list(self.ratio_range)
        return {"format": CALIBRATION_FORMAT, **out}

    def save(self, path: str | Path) -> Path:
        """Write the calibration as JSON."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path


DEFAULT_CALIBRATION = Spo2Calibration(
    a=110.0,
    b=25.0,
    ratio_range=(0.3, 1.6),
    calibrated=False,
    source="textbook red/IR contact-oximeter line, not fitted to any camera",
)
"""Uncalibrated: readings say ``spo2_calibrated = False`` and carry a capped quality."""


def load_calibration(path: str | Path) -> Spo2Calibration:
    """Read a calibration file written by `Spo2Calibration.save` (JSON)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read SpO2 calibration {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"SpO2 calibration {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
        raise ConfigError(
            f"SpO2 calibration {path} must be a JSON object with \"format\": "
            f"{CALIBRATION_FORMAT} (made by `edge-vitals calibrate spo2`)"
        )
    known = {f.name for f in fields(Spo2Calibration)}
    unknown = sorted(set(data) - known - {"format"})
    if unknown:
        raise ConfigError(f"SpO2 calibration {path}: unknown keys {unknown}")
    kwargs = {k: v for k, v in data.items() if k != "format"}
    try:
        return Spo2Calibration(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"SpO2 calibration {path}: {exc}") from None


def fit_calibration(
    ratios: np.ndarray,
    spo2_pct: np.ndarray,
    *,
    recording: np.ndarray | None = None,
    camera: str = "",
    light: str = "",
) -> Spo2Calibration:
    """Fit ``SpO2 = a - b·R`` to paired ratios and reference readings (least squares
    of R on SpO2, see the comment in the code), with standard errors of a and b.

    Parameters
    ----------
    ratios, spo2_pct : np.ndarray [shape=(n,)]
        Ratio of ratios from the camera and the reference oximeter's SpO2 at the same
        times; at least 3 finite pairs with some spread in SpO2 (a desaturation or
        several subjects), or the slope is meaningless.
    recording : np.ndarray [shape=(n,)], optional
        Which recording each pair comes from (any labels); default: one recording.
        From `MIN_RECORDINGS_FOR_SE` recordings on, the fit's standard errors are the
        jackknife over recordings (each left out in turn); a noisy camera needs more.
    """
    r = np.asarray(ratios, dtype=np.float64).ravel()
    s = np.asarray(spo2_pct, dtype=np.float64).ravel()
    labels = np.zeros(r.size, dtype=np.int64) if recording is None else np.ravel(recording)
    if r.shape != s.shape or labels.shape != r.shape:
        raise InputError("ratios, spo2_pct and recording must have the same length; got "
                         f"{r.size}, {s.size}, {labels.size}")
    ok = np.isfinite(r) & np.isfinite(s)
    r, s, labels = r[ok], s[ok], labels[ok]
    if r.size < 3:
        raise InputError(f"need at least 3 finite (ratio, SpO2) pairs to fit; got {r.size}")
    if np.ptp(s) < 2.0 or np.ptp(r) <= 0.0:
        raise InputError(
            f"the reference SpO2 spans {np.ptp(s):.1f} points; a slope needs at least 2 "
            "(record a desaturation or several subjects)"
        )
    a_pct, b_pct = _fit_line(r, s)
    if math.isnan(b_pct):
        raise InputError("the camera's ratio does not fall as SpO2 rises in these recordings; "
                         "no calibration can be fitted (check exposure and the reference)")
    names = np.unique(labels)
    a_se = b_se = None
    if names.size >= MIN_RECORDINGS_FOR_SE:
        left_out = np.array([_fit_line(r[labels != k], s[labels != k]) for k in names])
        if np.all(np.isfinite(left_out)):
            spread = left_out - left_out.mean(axis=0)
            a_se, b_se = (float(v) for v in
                          np.sqrt((names.size - 1) / names.size * (spread**2).sum(axis=0)))
    residual = s - (a_pct - b_pct * r)
    return Spo2Calibration(
        a=float(a_pct),
        b=float(b_pct),
        ratio_range=(float(r.min()), float(r.max())),
        calibrated=True,
        camera=camera,
        light=light,
        n_recordings=int(names.size),
        n_points=int(r.size),
        rms_error_pct=float(np.sqrt(np.mean(residual**2))),
        a_se=a_se,
        b_se=b_se,
        fitted_on=_dt.date.today().isoformat(),
        source="fit_calibration: least squares against a reference oximeter",
    )


def _fit_line(r: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """(a, b) of ``SpO2 = a - b·R``; both nan when R does not fall as SpO2 rises."""
    # The camera's ratio is the noisy variable and the oximeter's reading the precise
    # one, so fit R = (a - SpO2) / b (noise in R biases nothing) and solve for a and b;
    # fitting SpO2 on R instead would flatten the slope (regression dilution).
    if np.ptp(s) <= 0.0:
        return math.nan, math.nan
    slope, intercept = np.polyfit(s, r, 1)
    if slope >= 0.0:
        return math.nan, math.nan
    b_pct = -1.0 / slope
    return float(intercept * b_pct), float(b_pct)


@dataclass(frozen=True, kw_only=True, slots=True)
class RatioEstimate:
    """Ratio of ratios over one window and how far it can be trusted.

    Attributes
    ----------
    ratio : float
        (AC/DC red) / (AC/DC blue).
    correlation : float
        0-1: the weaker of the red and blue channels' correlation with the pulse.
    """

    ratio: float
    correlation: float


def _tukey(n_samples: int) -> np.ndarray:
    """Tukey window: flat, with raised-cosine edges over `TAPER_FRACTION` of it."""
    taper = np.ones(n_samples)
    n_edge = max(1, round(TAPER_FRACTION * n_samples / 2))
    edge = 0.5 * (1.0 - np.cos(np.pi * (np.arange(n_edge) + 0.5) / n_edge))
    taper[:n_edge] = edge
    taper[n_samples - n_edge :] = edge[::-1]
    return taper


def _detrended(x: np.ndarray) -> np.ndarray:
    """`x` [shape=(n,) or (n, k)] minus its least-squares straight line along axis 0."""
    t = np.linspace(-1.0, 1.0, x.shape[0])
    design = np.column_stack([np.ones_like(t), t])
    coef, *_ = np.linalg.lstsq(design, x, rcond=None)
    return x - design @ coef


def _noise_bins(spectra: np.ndarray, freq_hz: np.ndarray) -> np.ndarray:
    """Bins above `NOISE_FROM_HZ` that are not spectral lines (mask over `freq_hz`)."""
    noise = freq_hz >= NOISE_FROM_HZ
    power = (np.abs(spectra) ** 2).sum(axis=1)
    return noise & (power <= LINE_POWER_FACTOR * np.median(power[noise]))


def _ac_and_covariance(spectra: np.ndarray, p_spectrum: np.ndarray, band: np.ndarray,
                       noise: np.ndarray, taper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AC (2,) of red and blue along the pulse, and its noise covariance (2, 2).

    ``AC = Σ_band Re(C·P*) − n_band·mean_noise Re(C·P*)`` is ``Σ_t c(t)·g(t)`` with
    ``g = taper·(n/2)·irfft(P over the band)``, so white noise of per-sample covariance
    ``S`` gives ``Cov(AC) = S·Σ g²``; ``S = mean_noise Re(C·C^H) / Σ taper²``.
    """
    n_samples = taper.size
    cross = (spectra * np.conj(p_spectrum)[:, None]).real
    ac = cross[band].sum(axis=0) - band.sum() * cross[noise].mean(axis=0)
    g = taper * (n_samples / 2) * np.fft.irfft(np.where(band, p_spectrum, 0.0), n_samples)
    per_sample = (spectra[noise].T @ np.conj(spectra[noise])).real / noise.sum()
    covariance = per_sample / float((taper**2).sum()) * float((g**2).sum())
    return ac, covariance


def ratio_of_ratios(rgb: np.ndarray, pulse: np.ndarray, *, fs: float,
                    heart_rate_bpm: float) -> RatioEstimate | None:
    """Red/blue ratio of ratios of a skin RGB trace, AC read along its pulse.

    Parameters
    ----------
    rgb : np.ndarray [shape=(n, 3)]
        Mean skin RGB per sample (the pipeline's trace), same samples as `pulse`.
    pulse : np.ndarray [shape=(n,)]
        Pulse waveform of the same window (any scale and sign).
    fs : float
        Sampling rate, Hz (at least 2 * `NOISE_FROM_HZ`).
    heart_rate_bpm : float
        The window's heart rate: AC is read within ±0.4 Hz of it.

    Returns
    -------
    RatioEstimate or None
        ``None`` when the window is under 2 s, a channel has no DC, red and blue do
        not pulse in phase (no blood signal), or noise swamps their AC (relative
        standard error above `MAX_RELATIVE_ERROR`).
    """
    rgb = np.asarray(rgb, dtype=np.float64)
    pulse = np.asarray(pulse, dtype=np.float64)
    if rgb.ndim != 2 or rgb.shape[1] != 3 or pulse.shape != (rgb.shape[0],):
        raise InputError(f"rgb must be (n, 3) and pulse (n,); got {rgb.shape} and {pulse.shape}")
    n = rgb.shape[0]
    dc = rgb.mean(axis=0)
    if n < 2 * fs or np.any(dc <= 0.0) or fs < 2.0 * NOISE_FROM_HZ:
        return None
    taper = _tukey(n)
    spectra = np.fft.rfft(_detrended(rgb[:, (0, 2)] / dc[[0, 2]]) * taper[:, None], axis=0)
    p_spectrum = np.fft.rfft(_detrended(pulse) * taper)
    freq_hz = np.fft.rfftfreq(n, 1.0 / fs)
    band = np.abs(freq_hz - heart_rate_bpm / 60.0) <= BAND_HALF_WIDTH_HZ
    noise = _noise_bins(spectra, freq_hz)
    (ac_red, ac_blue), cov = _ac_and_covariance(spectra, p_spectrum, band, noise, taper)
    if ac_red * ac_blue <= 0.0:  # red and blue pulse in opposite phase: not blood
        return None
    if max(cov[0, 0] / ac_red**2, cov[1, 1] / ac_blue**2) > MAX_RELATIVE_ERROR**2:
        return None
    # E[x/y] ~ (x/y)(1 + var y / y^2 - cov xy / (x y)): take the second-order bias off
    ratio = ac_red / ac_blue * (1.0 - cov[1, 1] / ac_blue**2 + cov[0, 1] / (ac_red * ac_blue))
    cross = (spectra[band] * np.conj(p_spectrum[band])[:, None]).sum(axis=0)
    power_c = (np.abs(spectra[band]) ** 2).sum(axis=0)
    power_p = float((np.abs(p_spectrum[band]) ** 2).sum())
    corr = np.abs(cross.real) / np.sqrt(power_c * power_p + 1e-300)
    return RatioEstimate(ratio=float(ratio), correlation=float(corr.min()))


def ratio_quality(estimate: RatioEstimate) -> float:
    """0-1 from the weaker channel's correlation with the pulse (0 at `MIN_CORRELATION`)."""
    return float(np.clip((estimate.correlation - MIN_CORRELATION) / (0.9 - MIN_CORRELATION),
                         0.0, 1.0))
