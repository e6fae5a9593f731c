"""Kalman tracking of a rate: kernel vs numpy reference, class vs function form, behaviour.

Expected numbers are worked out by hand in the comments (or come from the synthetic
truth), not from the code under test. Also run with NUMBA_DISABLE_JIT=1. Matrix names
(P, S, F) follow the Kalman literature, hence the naming rules are off here.
"""

# ruff: noqa: N803, N806

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from edge import kernels
from edge.errors import ConfigError, InputError
from edge.kalman import (
    KalmanConfig,
    ScalarKalman,
    measurement_variance,
    predict,
    process_noise,
    update,
)

RTOL = 1e-5
ATOL = 1e-9


# --- the function form against hand-worked numbers ---------------------------------


def test_predict_by_hand():
    # F = [[1, 1], [0, 1]]; F·P·Fᵀ = [[4 + 1, 1], [1, 1]]; Q(1) = 2·[[1/3, 1/2], [1/2, 1]]
    x, P = predict(np.array([70.0, 1.0]), np.diag([4.0, 1.0]), 1.0, 2.0)
    assert_allclose(x, [71.0, 1.0])
    assert_allclose(P, [[5.0 + 2.0 / 3.0, 2.0], [2.0, 3.0]])


def test_update_by_hand():
    # S = 6 + 2 = 8; K = [6, 2]/8 = [0.75, 0.25]; y = 73 - 70 = 3
    # x = [70 + 2.25, 0.5 + 0.75]; P = P - K·S·Kᵀ = [[6 - 4.5, 2 - 1.5], [., 3 - 0.5]]
    P0 = np.array([[6.0, 2.0], [2.0, 3.0]])
    x, P, y, S = update(np.array([70.0, 0.5]), P0, 73.0, 2.0)
    assert (y, S) == (3.0, 8.0)
    assert_allclose(x, [72.25, 1.25])
    assert_allclose(P, [[1.5, 0.5], [0.5, 2.5]])


def test_update_none_returns_the_prior():
    x0, P0 = np.array([70.0, 0.5]), np.array([[6.0, 2.0], [2.0, 3.0]])
    x, P, y, S = update(x0, P0, None, 2.0)
    assert_allclose(x, x0)
    assert_allclose(P, P0)
    assert math.isnan(y) and math.isnan(S)


def test_joseph_form_survives_a_tiny_r():
    # Posterior rate variance = P00·r/(P00 + r) ≈ r = 1e-10. The simple form (1 - K0)·P00
    # rounds 1 - K0 to 0 (K0 = 1 - 1e-19) and returns 0; Joseph adds K0²·r and keeps it.
    p00, r = 1e9, 1e-10
    P0 = np.array([[p00, 0.9999 * math.sqrt(p00)], [0.9999 * math.sqrt(p00), 1.0]])
    _, P, _, _ = update(np.array([70.0, 0.0]), P0, 70.0, r)
    assert_allclose(P[0, 0], p00 * r / (p00 + r), rtol=1e-6)
    assert_allclose(P, P.T, rtol=1e-9)
    assert np.linalg.eigvalsh(P).min() > 0.0


# --- the numba kernel against the numpy reference -----------------------------------


def step_reference(x, P, dt, q, z, r, gate):
    """Predict, then a gated update, with the numpy functions (the kernel's reference)."""
    x_prior, P_prior = predict(x, P, dt, q)
    if z is None:
        return x_prior, P_prior, x_prior, P_prior, (math.nan, math.nan), False
    x_post, P_post, y, S = update(x_prior, P_prior, z, r)
    if y * y / S > gate:
        return x_prior, P_prior, x_prior, P_prior, (y, S), False
    return x_prior, P_prior, x_post, P_post, (y, S), True


def test_kalman_step_kernel_matches_numpy(rng):
    q, gate = 1.5, 9.0
    x, P = np.array([72.0, 0.0]), np.diag([9.0, 1.0])
    xk, Pk = x.copy(), P.copy()
    x_prior, P_prior, stats = np.empty(2), np.empty((2, 2)), np.empty(3)
    n_accepted = n_rejected = n_missed = 0
    for i in range(300):
        dt = 0.0 if i % 50 == 7 else float(rng.uniform(0.05, 3.0))
        r = float(np.exp(rng.uniform(0.0, np.log(400.0))))
        z = float(72.0 + 10.0 * np.sin(i / 20.0) + rng.normal(0.0, math.sqrt(r)))
        if rng.uniform() < 0.1:
            z *= 2.0  # harmonic outlier
        if rng.uniform() < 0.2:
            z = None
        ref = step_reference(x, P, dt, q, z, r, gate)
        accepted = kernels._kalman_step(xk, Pk, dt, q, 0.0 if z is None else z, r, z is not None,
                                        gate, x_prior, P_prior, stats)
        assert bool(accepted) == ref[5]
        assert_allclose(x_prior, ref[0], rtol=RTOL, atol=ATOL)
        assert_allclose(P_prior, ref[1], rtol=RTOL, atol=ATOL)
        assert_allclose(xk, ref[2], rtol=RTOL, atol=ATOL)
        assert_allclose(Pk, ref[3], rtol=RTOL, atol=ATOL)
        assert_allclose(stats[:2], ref[4], rtol=RTOL, atol=ATOL)
        x, P = ref[2], ref[3]
        n_missed += z is None
        n_accepted += ref[5]
        n_rejected += z is not None and not ref[5]
    assert min(n_accepted, n_rejected, n_missed) >= 10  # every branch was exercised


# --- class form against the function form (filterpy's test_procedure_form) ----------


def procedure_form(times, zs, snrs, cfg):
    """The tracker written out with `predict` / `update`, gating and re-initialisation."""
    out, x, P, t_last, run, t_measured = [], None, None, None, 0, None
    for t, z, snr in zip(times, zs, snrs, strict=True):
        r = None if z is None else measurement_variance(
            snr_db=snr, r0=cfg.r0, r_min=cfg.r_min, r_max=cfg.r_max)
        after_gap = z is not None and t_measured is not None and t - t_measured > cfg.max_gap_s
        if z is not None:
            t_measured = t
        if after_gap:  # the rate restarts from z; the slope and its predicted variance stay
            x, P, t_last = np.array([z, x[1]]), np.diag([r, P[1, 1] + cfg.q * (t - t_last)]), t
            out.append((x[0], x[1], math.sqrt(P[0, 0]), True, True))
            run = 0
            continue
        if x is None:
            if z is not None:
                x, P, t_last = np.array([z, 0.0]), np.diag([r, cfg.initial_slope_var]), t
                out.append((x[0], x[1], math.sqrt(P[0, 0]), True, True))
            continue
        x, P = predict(x, P, t - t_last, cfg.q)
        t_last = t
        accepted = reinit = False
        if z is not None:
            x_post, P_post, y, S = update(x, P, z, r)
            if y * y / S <= cfg.gate:
                x, P, accepted, run = x_post, P_post, True, 0
            else:
                run += 1
                if run == cfg.reinit_after:
                    x, P = np.array([z, 0.0]), np.diag([r, cfg.initial_slope_var])
                    reinit, run = True, 0
        out.append((x[0], x[1], math.sqrt(P[0, 0]), accepted, reinit))
    return out


def test_class_matches_procedure_form(rng):
    cfg = KalmanConfig(q=0.8, r0=6.0, reinit_after=3, max_gap_s=4.0)
    n = 120
    times = np.cumsum(rng.uniform(0.2, 2.0, n))
    truth = 75.0 + 15.0 * np.sin(times / 15.0)
    truth[80:] += 35.0  # a genuine jump: rejected, then re-initialised
    zs = [float(v) for v in truth + rng.normal(0.0, 2.0, n)]
    for i in range(5, n, 17):
        zs[i] = 2.0 * zs[i]  # isolated harmonic outliers
    for i in [0, 1, *range(30, 36), 60]:
        zs[i] = None  # missed readings, including before the first measurement
    times[40:] += 4.0  # and a gap of >= 4.2 s (> max_gap_s) before reading 40: a restart
    zs[40] = zs[40] if zs[40] is not None else 80.0
    snrs = rng.uniform(-6.0, 12.0, n)
    expected = procedure_form(times, zs, snrs, cfg)
    kf = ScalarKalman(cfg)
    got = [kf.update(float(t), z, snr_db=float(s)) for t, z, s in zip(times, zs, snrs, strict=True)]
    got = [g for g in got if g is not None]
    assert len(got) == len(expected) == n - 2
    for g, e in zip(got, expected, strict=True):
        assert_allclose([g.rate, g.rate_per_s, g.std], e[:3], rtol=RTOL, atol=ATOL)
        assert (g.accepted, g.reinitialised) == e[3:]
    flags = [e[3:] for e in expected]
    assert (False, True) in flags  # a re-initialisation happened
    restart = got[40 - 2]  # readings 0 and 1 were missed before the first measurement
    assert restart.reinitialised and restart.rate == zs[40]
    assert restart.rate_per_s == got[39 - 2].rate_per_s != 0.0  # the slope is kept
    assert (False, False) in flags  # ... and plain rejections


# --- behaviour ----------------------------------------------------------------------


def track(kf, times, zs, **quality):
    pairs = zip(times, zs, strict=True)
    return np.array([kf.update(float(t), float(z), **quality).rate for t, z in pairs])


def test_constant_rate_is_smoothed(rng):
    t = np.arange(60.0)
    z = 72.0 + rng.normal(0.0, 4.0, t.size)
    est = track(ScalarKalman(KalmanConfig(q=0.5, r0=16.0)), t, z, snr_db=0.0)
    raw_mae, mae = np.abs(z - 72.0).mean(), np.abs(est - 72.0).mean()
    assert mae < 0.8 * raw_mae, (mae, raw_mae)


def ramp_truth(t):
    """70 bpm for 10 s, a ramp to 110 bpm over 30 s (reaching 90 at 25 s), then 110."""
    return np.clip(70.0 + (t - 10.0) * 40.0 / 30.0, 70.0, 110.0)


def shift_lag_s(t, est):
    """Delay τ of the estimate: the least-squares fit of est(t) ≈ truth(t - τ)."""
    taus = np.arange(-5.0, 5.0 + 1e-9, 0.01)
    cost = [np.sum((est - ramp_truth(t - tau)) ** 2) for tau in taus]
    return float(taus[int(np.argmin(cost))])


def midpoint_time_s(t, est):
    """First time the estimate reaches 90 bpm, linearly interpolated between readings."""
    i = int(np.argmax(est >= 90.0))
    return float(t[i - 1] + (90.0 - est[i - 1]) / (est[i] - est[i - 1]))


def test_ramp_tracked_better_than_raw_and_lag_is_small(rng):
    t = np.arange(0.0, 51.0)  # 1 Hz readings
    cfg = KalmanConfig(q=1.0, r0=9.0)  # R = 9 bpm² at 0 dB: the noise below
    raw_maes, maes, lags = [], [], []
    for _ in range(10):
        z = ramp_truth(t) + rng.normal(0.0, 3.0, t.size)
        est = track(ScalarKalman(cfg), t, z, snr_db=0.0)
        raw_maes.append(np.abs(z - ramp_truth(t)).mean())
        maes.append(np.abs(est - ramp_truth(t)).mean())
        lags.append(shift_lag_s(t, est))
    clean = track(ScalarKalman(cfg), t, ramp_truth(t), snr_db=0.0)
    clean_lag, clean_mid_lag = shift_lag_s(t, clean), midpoint_time_s(t, clean) - 25.0
    print(f"ramp: raw MAE {np.mean(raw_maes):.2f} bpm, tracked MAE {np.mean(maes):.2f} bpm, "
          f"lag {np.mean(lags):+.2f} s (range {min(lags):+.2f}..{max(lags):+.2f}); noiseless: "
          f"lag {clean_lag:+.2f} s, midpoint lag {clean_mid_lag:+.2f} s, "
          f"worst error {np.abs(clean - ramp_truth(t)).max():.2f} bpm")
    assert np.mean(maes) < 0.8 * np.mean(raw_maes)
    assert all(m < r for m, r in zip(maes, raw_maes, strict=True))
    assert abs(np.mean(lags)) < 0.5  # a constant-velocity model follows a ramp
    assert abs(clean_lag) < 0.25 and abs(clean_mid_lag) < 0.25
    assert np.abs(clean - ramp_truth(t)).max() < 1.5  # only the corners cost a little


def test_harmonic_outliers_are_gated_out(rng):
    t = np.arange(60.0)
    z = 72.0 + rng.normal(0.0, 2.0, t.size)
    outlier = np.zeros(t.size, dtype=bool)
    outlier[8::6] = True
    z[outlier] *= 2.0  # the second harmonic wins the spectral peak now and then
    kf = ScalarKalman(KalmanConfig(q=0.5, r0=4.0))
    results = [kf.update(float(ti), float(zi), snr_db=0.0) for ti, zi in zip(t, z, strict=True)]
    accepted = np.array([r.accepted for r in results])
    assert not accepted[outlier].any()
    assert accepted[~outlier].mean() > 0.95
    assert not any(r.reinitialised for r in results[1:])  # never k rejections in a row
    assert max(abs(r.rate - 72.0) for r in results) < 4.0


@pytest.mark.parametrize("reinit_after", [5, 3])
def test_genuine_jump_reinitialises_after_k_rejections(reinit_after):
    kf = ScalarKalman(KalmanConfig(q=1.0, r0=4.0, reinit_after=reinit_after))
    for t in range(20):
        kf.update(float(t), 70.0, snr_db=0.0)
    for k in range(1, reinit_after):
        r = kf.update(19.0 + k, 110.0, snr_db=0.0)
        assert (r.accepted, r.reinitialised) == (False, False)
        assert abs(r.rate - 70.0) < 1.0  # held near the old rate
        assert kf.rejections == k  # counted in a row
    results = [kf.update(19.0 + k, 110.0, snr_db=0.0)
               for k in range(reinit_after, reinit_after + 3)]
    r = results[0]
    assert (r.accepted, r.reinitialised) == (False, True)
    # re-initialised from the measurement: rate z, slope 0, std √R = √4
    assert (r.rate, r.rate_per_s, r.std) == (110.0, 0.0, 2.0)
    assert kf.rejections == 0
    assert all(r.accepted for r in results[1:])


def test_missed_update_predicts_and_grows_the_variance():
    cfg = KalmanConfig(q=2.0, r0=4.0)
    kf = ScalarKalman(cfg)
    assert kf.update(0.0, None) is None  # nothing to track yet
    for t, z in [(0.0, 70.0), (1.0, 71.0), (2.0, 72.5)]:
        kf.update(t, z, snr_db=0.0)
    (x0, x1), P = kf.x, kf.P
    r = kf.update(3.5, None)
    dt = 1.5
    # x⁻ = [x0 + dt·x1, x1]; P00⁻ = P00 + 2·dt·P01 + dt²·P11 + q·dt³/3
    assert_allclose([r.rate, r.rate_per_s], [x0 + dt * x1, x1], rtol=1e-12)
    p00 = P[0, 0] + 2 * dt * P[0, 1] + dt * dt * P[1, 1] + 2.0 * dt**3 / 3.0
    assert_allclose(r.std**2, p00, rtol=1e-12)
    assert r.std**2 > P[0, 0]
    assert (r.accepted, r.reinitialised) == (False, False)
    assert math.isnan(kf.innovation) and math.isnan(kf.S)
    assert_allclose(kf.P, kf.P_prior)  # no measurement: posterior = prior


def test_dt_scaling_two_half_steps_equal_one_step():
    cfg = KalmanConfig(q=2.0, r0=4.0, initial_slope_var=1.0)
    a, b = ScalarKalman(cfg), ScalarKalman(cfg)
    for kf in (a, b):
        kf.update(10.0, 70.0, snr_db=0.0)  # P = diag(4, 1)
    a.update(10.5, None)
    # after 0.5 s: P00 = 4 + 0.25·1 + 2·0.125/3, P01 = 0.5·1 + 2·0.25/2, P11 = 1 + 2·0.5
    assert_allclose(a.P, [[4.25 + 0.25 / 3.0, 0.75], [0.75, 2.0]], rtol=1e-12)
    a.update(11.0, None)
    b.update(11.0, None)
    # after 1 s, either way: P00 = 4 + 1 + 2/3, P01 = 1 + 1, P11 = 1 + 2
    expected = [[5.0 + 2.0 / 3.0, 2.0], [2.0, 3.0]]
    assert_allclose(a.P, expected, rtol=1e-12)
    assert_allclose(b.P, expected, rtol=1e-12)
    # the growth is not linear in time: the second half step adds 4x the first
    assert_allclose((5.0 + 2.0 / 3.0 - 4.25 - 0.25 / 3.0) / (0.25 + 0.25 / 3.0), 4.0)


def test_process_noise_is_consistent_over_split_steps():
    # Q(1) = F(½)·Q(½)·F(½)ᵀ + Q(½): white-noise acceleration composes exactly
    F = np.array([[1.0, 0.5], [0.0, 1.0]])
    assert_allclose(F @ process_noise(0.5, 3.0) @ F.T + process_noise(0.5, 3.0),
                    process_noise(1.0, 3.0), rtol=1e-12)


def test_first_measurement_initialises_and_reset_forgets():
    kf = ScalarKalman(KalmanConfig(r0=10.0, initial_rate_var=25.0, initial_slope_var=2.0))
    r = kf.update(3.0, 80.0, quality=0.5)
    assert (r.rate, r.rate_per_s, r.std) == (80.0, 0.0, 5.0)
    assert (r.accepted, r.reinitialised) == (True, True)
    assert_allclose(kf.P, np.diag([25.0, 2.0]))
    kf.reset()
    assert not kf.initialised
    assert kf.update(1.0, None) is None  # time may restart after a reset
    assert kf.update(1.0, 60.0, snr_db=0.0).rate == 60.0


def test_same_timestamp_is_allowed_and_time_cannot_go_back():
    kf = ScalarKalman()
    kf.update(5.0, 70.0, snr_db=10.0)
    assert kf.update(5.0, None).std == kf.update(5.0, None).std  # dt = 0: no growth
    with pytest.raises(InputError, match="backwards"):
        kf.update(4.0, 70.0, snr_db=10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"z": 70.0}, "exactly one"), ({"z": math.nan, "snr_db": 0.0}, "finite"),
     ({"z": 70.0, "snr_db": 0.0, "quality": 0.5}, "exactly one"),
     ({"z": 70.0, "quality": 1.5}, "quality"), ({"z": 70.0, "snr_db": math.nan}, "snr_db")],
)
def test_bad_measurements_raise(kwargs, match):
    with pytest.raises(InputError, match=match):
        ScalarKalman().update(0.0, **kwargs)


def test_measurement_variance_mapping():
    # SNR: R = r0·10^(-snr/10), clipped to [r_min, r_max]
    assert measurement_variance(snr_db=0.0, r0=10.0) == 10.0
    assert_allclose(measurement_variance(snr_db=10.0, r0=10.0), 1.0)
    assert_allclose(measurement_variance(snr_db=-10.0, r0=10.0), 100.0)
    assert measurement_variance(snr_db=30.0, r0=10.0, r_min=1.0) == 1.0
    assert measurement_variance(snr_db=-40.0, r0=10.0, r_max=400.0) == 400.0
    assert measurement_variance(snr_db=-math.inf, r_max=400.0) == 400.0
    assert measurement_variance(snr_db=math.inf, r_min=1.0) == 1.0
    # quality: geometric between r_max (0) and r_min (1)
    assert measurement_variance(quality=1.0, r_min=1.0, r_max=400.0) == 1.0
    assert measurement_variance(quality=0.0, r_min=1.0, r_max=400.0) == 400.0
    assert_allclose(measurement_variance(quality=0.5, r_min=1.0, r_max=400.0), 20.0)


@pytest.mark.parametrize(
    ("field", "value"),
    [("q", -1.0), ("r0", 0.0), ("r_min", 0.0), ("r_max", 0.5), ("gate", 0.0),
     ("reinit_after", 0), ("reinit_after", 2.5), ("initial_rate_var", -1.0),
     ("initial_slope_var", -1.0), ("q", "1")],
)
def test_config_is_checked(field, value):
    with pytest.raises(ConfigError, match=field):
        KalmanConfig(**{field: value})
