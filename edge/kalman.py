"""Kalman tracking of one vital rate (heart or breathing rate) over irregular readings.

Constant-velocity model (white-noise acceleration), as in `algorithms.md` §3.3:

    state        x = [rate, d rate/dt]ᵀ                 e.g. bpm and bpm/s
    transition   F(dt) = [[1, dt], [0, 1]]              dt = time since the last update
    process      Q(dt) = q·[[dt³/3, dt²/2], [dt²/2, dt]]  q in (unit/s²)²/s
    measurement  z = H·x + v,  H = [1, 0],  v ~ N(0, R)

Q(dt) is the exact discretisation of white noise on the acceleration, so the filter
is dt-aware: one step of 1 s and two steps of 0.5 s give the same prior, and readings
may come at any spacing or be missed (``update(t_s, None)`` predicts only, filterpy's
``update(None)``).

R comes from the reading's quality (`measurement_variance`). Each measurement goes
through an innovation gate: it is used only if y²/S <= `gate` (9 = 3σ), with
y = z - H·x⁻ and S = H·P⁻·Hᵀ + R. After `reinit_after` gated-out measurements in a row
the filter re-initialises from the latest one: a run of rejections means the filter,
not the measurement, is wrong (a genuine jump, or lock-on to a harmonic before).

Two forms, tested against each other (filterpy's ``test_procedure_form``):

- `predict` and `update`: pure numpy functions, the readable reference;
- `ScalarKalman`: the stateful tracker, which runs the numba kernel
  `edge.kernels._kalman_step` (predict + gated update in place, no allocation).
"""

# Matrix names (P, F, K, S, A) follow the Kalman literature (filterpy, pykalman).
# ruff: noqa: N802, N803, N806

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.config import KalmanConfig
from edge.errors import InputError
from edge.kernels import _kalman_step
from edge.validate import MAX_TIMESTAMP_S

__all__ = [
    "KalmanConfig",
    "ScalarKalman",
    "TrackedRate",
    "measurement_variance",
    "predict",
    "process_noise",
    "transition_matrix",
    "update",
]

H = np.array([[1.0, 0.0]])
"""Measurement matrix: only the rate is observed."""
MAX_RATE = 1e6
"""Largest |measurement| `ScalarKalman.update` takes (its square must stay finite)."""


def measurement_variance(
    *,
    snr_db: float | None = None,
    quality: float | None = None,
    r0: float = 10.0,
    r_min: float = 1.0,
    r_max: float = 400.0,
) -> float:
    """Measurement variance R of a reading, in unit², from its SNR or its 0-1 quality.

    Give exactly one of:

    - `snr_db`: R = r0·10^(-snr_db/10), clipped to [r_min, r_max]. The variance of a
      spectral-peak frequency falls in proportion to the noise-to-signal power ratio;
      r0 is the variance at 0 dB (§3.3: r0 ≈ 4-25 bpm²).
    - `quality` in [0, 1]: R = r_min^quality · r_max^(1 - quality), a geometric
      interpolation (1 -> r_min, 0.5 -> √(r_min·r_max), 0 -> r_max). Because
      `edge.rates.quality_from_snr` is 1 - exp(-(snr - gate)/5.77 dB), log R is then
      roughly linear in the SNR near the gate, as with `snr_db`.

    Raises
    ------
    InputError
        If neither or both are given, or the value is NaN or out of range.
    """
    if (snr_db is None) == (quality is None):
        raise InputError(
            f"give exactly one of snr_db or quality; got snr_db={snr_db!r}, quality={quality!r}"
        )
    if snr_db is not None:
        if math.isnan(snr_db):
            raise InputError("snr_db must be a number (inf and -inf are allowed); got nan")
        r = r0 * 10.0 ** (-min(snr_db, 300.0) / 10.0) if snr_db > -300.0 else math.inf
        return float(min(max(r, r_min), r_max))
    if not 0.0 <= quality <= 1.0:  # type: ignore[operator]  # also False for NaN
        raise InputError(f"quality must be in [0, 1]; got {quality!r}")
    return float(r_min**quality * r_max ** (1.0 - quality))  # type: ignore[operator]


def transition_matrix(dt: float) -> np.ndarray:
    """F(dt) = [[1, dt], [0, 1]]: the rate moves by its slope times dt."""
    return np.array([[1.0, dt], [0.0, 1.0]])


def process_noise(dt: float, q: float) -> np.ndarray:
    """Q(dt) = q·[[dt³/3, dt²/2], [dt²/2, dt]] for white-noise acceleration of intensity q."""
    return q * np.array([[dt**3 / 3.0, dt**2 / 2.0], [dt**2 / 2.0, dt]])


def predict(x: np.ndarray, P: np.ndarray, dt: float, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Predict the state `dt` seconds ahead (reference form; returns new arrays).

    Parameters
    ----------
    x : np.ndarray [shape=(2,)]
        State [rate, d rate/dt], in unit and unit/s.
    P : np.ndarray [shape=(2, 2)]
        State covariance.
    dt : float
        Time step in seconds, >= 0.
    q : float
        Process noise intensity in (unit/s²)²/s.

    Returns
    -------
    x_prior, P_prior : np.ndarray [shape=(2,)], np.ndarray [shape=(2, 2)]
    """
    F = transition_matrix(dt)
    x_prior = F @ x  # x⁻ = F·x
    P_prior = F @ P @ F.T + process_noise(dt, q)  # P⁻ = F·P·Fᵀ + Q
    return x_prior, P_prior


def update(
    x: np.ndarray, P: np.ndarray, z: float | None, r: float
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Correct the state with a measurement `z` of the rate (reference form, no gating).

    Parameters
    ----------
    x, P : np.ndarray [shape=(2,)], np.ndarray [shape=(2, 2)]
        Prior state and covariance.
    z : float or None
        Measured rate; ``None`` is a missed measurement (the prior is returned).
    r : float
        Measurement variance, in unit².

    Returns
    -------
    x, P : np.ndarray [shape=(2,)], np.ndarray [shape=(2, 2)]
        Posterior state and covariance (new arrays).
    innovation, S : float
        y = z - H·x⁻ and its variance S = H·P⁻·Hᵀ + R (NaN for a missed measurement).
    """
    if z is None:
        return x.copy(), P.copy(), math.nan, math.nan
    y = z - (H @ x)[0]  # innovation y = z - H·x⁻
    S = (H @ P @ H.T)[0, 0] + r  # innovation variance S = H·P⁻·Hᵀ + R
    K = P @ H.T / S  # gain K = P⁻·Hᵀ·S⁻¹, shape (2, 1)
    x_post = x + K[:, 0] * y  # x = x⁻ + K·y
    A = np.eye(2) - K @ H
    P_post = A @ P @ A.T + r * (K @ K.T)  # Joseph: (I-KH)·P⁻·(I-KH)ᵀ + K·R·Kᵀ
    return x_post, P_post, float(y), float(S)


@dataclass(frozen=True, slots=True)
class TrackedRate:
    """One output of `ScalarKalman.update`.

    Attributes
    ----------
    rate : float
        Filtered rate (posterior), in the measurement's unit (bpm for heart rate).
    rate_per_s : float
        Filtered slope, in unit/s.
    std : float
        Posterior standard deviation of the rate, in unit.
    accepted : bool
        The measurement passed the gate and was used (False for a missed one).
    reinitialised : bool
        The state was set from this measurement: the first one, or the
        `KalmanConfig.reinit_after`-th gated-out one in a row (then `accepted` is False).
    """

    rate: float
    rate_per_s: float
    std: float
    accepted: bool
    reinitialised: bool


class ScalarKalman:
    """Track one rate over timestamped, irregular, possibly missing readings.

    Examples
    --------
    >>> kf = ScalarKalman(KalmanConfig(q=1.0))
    >>> kf.update(0.0, 72.0, snr_db=5.0).rate
    72.0
    >>> kf.update(1.0, None).accepted          # a missed reading: predict only
    False

    After each `update`, `x_prior`/`P_prior` (predicted) and `x`/`P` (posterior) hold
    the state, `innovation` and `S` the last innovation and its variance (NaN when
    there was no measurement or for the first one), `accepted` whether it was used,
    and `rejections` the number of gated-out measurements in a row. Missed readings
    do not break a run of rejections. A measurement more than `KalmanConfig.max_gap_s`
    after the previous one restarts the rate from it (the slope is kept).
    """

    def __init__(self, config: KalmanConfig | None = None):
        self.config = config if config is not None else KalmanConfig()
        self._x = np.zeros(2)
        self._P = np.zeros((2, 2))
        self._x_prior = np.zeros(2)
        self._P_prior = np.zeros((2, 2))
        self._stats = np.full(3, np.nan)  # innovation, S, innovation²/S
        self.reset()

    def reset(self) -> None:
        """Forget the state; the next measurement initialises it."""
        self._t_s: float | None = None
        self._z_t_s: float | None = None  # time of the last measurement (None: not one yet)
        self._initialised = False
        self._x[:] = 0.0
        self._P[:] = 0.0
        self._x_prior[:] = 0.0
        self._P_prior[:] = 0.0
        self._stats[:] = np.nan
        self.accepted = False
        self.rejections = 0

    @property
    def t_s(self) -> float | None:
        """Time of the last update, seconds (``None`` before the first)."""
        return self._t_s

    @property
    def initialised(self) -> bool:
        """True once a measurement has set the state."""
        return self._initialised

    @property
    def x(self) -> np.ndarray:
        """Posterior state [rate, slope] after the last update (a copy)."""
        return self._x.copy()

    @property
    def P(self) -> np.ndarray:
        """Posterior covariance after the last update (a copy)."""
        return self._P.copy()

    @property
    def x_prior(self) -> np.ndarray:
        """Predicted state of the last update (a copy)."""
        return self._x_prior.copy()

    @property
    def P_prior(self) -> np.ndarray:
        """Predicted covariance of the last update (a copy)."""
        return self._P_prior.copy()

    @property
    def innovation(self) -> float:
        """Innovation y = z - H·x⁻ of the last measurement (NaN if missed)."""
        return float(self._stats[0])

    @property
    def S(self) -> float:
        """Innovation variance S = H·P⁻·Hᵀ + R of the last measurement (NaN if missed)."""
        return float(self._stats[1])

    def measurement_variance(
        self, *, snr_db: float | None = None, quality: float | None = None
    ) -> float:
        """`measurement_variance` with this filter's r0, r_min and r_max."""
        c = self.config
        return measurement_variance(
            snr_db=snr_db, quality=quality, r0=c.r0, r_min=c.r_min, r_max=c.r_max
        )

    def update(
        self,
        t_s: float,
        z: float | None = None,
        *,
        snr_db: float | None = None,
        quality: float | None = None,
    ) -> TrackedRate | None:
        """Advance to time `t_s` and use the measurement `z` if there is one.

        Parameters
        ----------
        t_s : float
            Time of the reading in seconds, not earlier than the previous one.
        z : float or None
            Measured rate; ``None`` for a missed reading (predict only).
        snr_db, quality : float, optional
            Exactly one is required with a measurement; it sets R
            (`measurement_variance`).

        Returns
        -------
        TrackedRate or None
            ``None`` until the first measurement has initialised the filter.
        """
        t_s = self._check_time(t_s)
        if z is not None and not (isinstance(z, int | float) and abs(z) <= MAX_RATE):
            raise InputError(f"z must be a finite rate within ±{MAX_RATE:g} or None; got {z!r}")
        r = self.measurement_variance(snr_db=snr_db, quality=quality) if z is not None else 0.0
        gap = z is not None and self._z_t_s is not None and (
            t_s - self._z_t_s > self.config.max_gap_s)
        if z is not None:
            self._z_t_s = t_s
        if gap:
            # Restart the rate from z; keep the slope, whose variance grew over the gap.
            slope_var = self._P[1, 1] + self.config.q * (t_s - self._t_s)  # type: ignore[operator]
            return self._start(t_s, z, r, slope=float(self._x[1]),  # type: ignore[arg-type]
                               slope_var=slope_var)
        if not self._initialised:
            return None if z is None else self._start(t_s, z, r)
        dt = t_s - self._t_s  # type: ignore[operator]
        self._t_s = t_s
        c = self.config
        has_z = z is not None
        self.accepted = bool(
            _kalman_step(self._x, self._P, dt, c.q, float(z) if has_z else 0.0, r, has_z,
                         c.gate, self._x_prior, self._P_prior, self._stats)
        )
        if self.accepted:
            self.rejections = 0
        elif has_z:
            self.rejections += 1
            if self.rejections >= c.reinit_after:
                self._initialise(z, r)  # type: ignore[arg-type]
                return self._result(reinitialised=True)
        return self._result(reinitialised=False)

    def _check_time(self, t_s: float) -> float:
        if not (isinstance(t_s, int | float) and abs(t_s) <= MAX_TIMESTAMP_S):
            raise InputError(
                f"t_s must be a finite time in seconds within ±{MAX_TIMESTAMP_S:g}; got {t_s!r}"
            )
        if self._t_s is not None and t_s < self._t_s:
            raise InputError(f"t_s must not go backwards; got {t_s} after {self._t_s}")
        return float(t_s)

    def _start(self, t_s: float, z: float, r: float, *, slope: float = 0.0,
               slope_var: float | None = None) -> TrackedRate:
        """(Re)start the track at `t_s` from the measurement `z`, which counts as used."""
        self._t_s = t_s
        self._initialise(z, r)
        self._x[1] = slope
        if slope_var is not None:
            self._P[1, 1] = slope_var
        self._x_prior[:] = self._x
        self._P_prior[:] = self._P
        self._stats[:] = np.nan
        self.accepted = True
        return self._result(reinitialised=True)

    def _initialise(self, z: float, r: float) -> None:
        """Set x = [z, 0] and P = diag(initial rate variance (or R), initial slope variance)."""
        c = self.config
        self._x[:] = (z, 0.0)
        self._P[:] = 0.0
        self._P[0, 0] = c.initial_rate_var if c.initial_rate_var is not None else r
        self._P[1, 1] = c.initial_slope_var
        self._initialised = True
        self.accepted = False
        self.rejections = 0

    def _result(self, *, reinitialised: bool) -> TrackedRate:
        return TrackedRate(
            rate=float(self._x[0]),
            rate_per_s=float(self._x[1]),
            std=math.sqrt(max(self._P[0, 0], 0.0)),
            accepted=self.accepted,
            reinitialised=reinitialised,
        )
