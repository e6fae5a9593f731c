"""Every numba kernel against a plain numpy (or scipy) reference, rtol 1e-5.

Also run by CI with NUMBA_DISABLE_JIT=1, so that the kernels' Python logic is covered.
"""

import numpy as np
import pytest
import scipy.signal as ss
from numpy.testing import assert_allclose

from edge import kernels as k

RTOL = 1e-5


def _ycrcb(frame):
    rgb = frame.astype(np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    cr = (rgb[..., 0] - luma) * 0.713 + 128
    cb = (rgb[..., 2] - luma) * 0.564 + 128
    return cr, cb


def roi_sums_reference(frame, boxes, skin_mask):
    out = np.zeros((len(boxes), 5))
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        patch = frame[y0:y1, x0:x1]
        saturated = (patch >= 250).any(axis=-1)
        out[i, 4] = saturated.sum()
        ok = ~saturated & ~(patch < 12).all(axis=-1)
        if skin_mask:
            cr, cb = _ycrcb(patch)
            ok &= (cr >= 133) & (cr <= 173) & (cb >= 77) & (cb <= 127)
        out[i, :3] = patch[ok].astype(np.float64).sum(axis=0)
        out[i, 3] = ok.sum()
    return out


@pytest.mark.parametrize("skin_mask", [False, True])
def test_roi_sums_matches_numpy(rng, skin_mask):
    frame = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    frame[10:30, 10:40] = (200, 140, 110)  # a skin-coloured patch
    frame[0:5, 0:5] = 255  # saturated
    frame[50:55, 0:5] = 3  # dark
    boxes = np.array([[0, 0, 80, 60], [10, 10, 40, 30], [5, 45, 50, 58]], dtype=np.int64)
    out = np.zeros((3, 5))
    k._roi_sums(frame, boxes, skin_mask, out)
    assert_allclose(out, roi_sums_reference(frame, boxes, skin_mask), rtol=RTOL)
    if skin_mask:
        assert out[1, 3] == 600  # the whole skin patch passes the YCrCb gate


def test_normalise_window_matches_numpy(rng):
    rgb = 100 + 20 * rng.random((48, 3))
    cn = np.zeros_like(rgb)
    k._normalise_window(rgb, cn)
    assert_allclose(cn, rgb / rgb.mean(axis=0) - 1, rtol=RTOL, atol=1e-12)


def _window(rng, n=48):
    rgb = np.array([150.0, 100.0, 80.0]) * (1 + 0.01 * rng.standard_normal((n, 3)))
    return rgb / rgb.mean(axis=0) - 1


def _run(kernel, cn):
    n = cn.shape[0]
    h = np.zeros(n)
    kernel(cn, np.zeros(n), np.zeros(n), h)
    return h


def test_pos_matches_paper_formula(rng):
    cn = _window(rng)
    s = cn @ np.array([[0, 1, -1], [-2, 1, 1]]).T
    ref = s[:, 0] + s[:, 0].std() / s[:, 1].std() * s[:, 1]
    assert_allclose(_run(k._pos_window, cn), ref - ref.mean(), rtol=RTOL, atol=1e-12)


def test_chrom_matches_paper_formula(rng):
    cn = _window(rng)
    x = 3 * cn[:, 0] - 2 * cn[:, 1]
    y = 1.5 * cn[:, 0] + cn[:, 1] - 1.5 * cn[:, 2]
    ref = x - x.std() / y.std() * y
    assert_allclose(_run(k._chrom_window, cn), ref - ref.mean(), rtol=RTOL, atol=1e-12)


def test_green_is_inverted_green(rng):
    cn = _window(rng)
    assert_allclose(_run(k._green_window, cn), -(cn[:, 1] - cn[:, 1].mean()), rtol=RTOL)


def test_lgi_matches_svd_projection(rng):
    cn = _window(rng)
    c = (cn + 1).T  # 3 x l, un-centred
    u, _, _ = np.linalg.svd(c)
    u1 = u[:, :1]
    ref = ((np.eye(3) - u1 @ u1.T) @ c)[1]
    assert_allclose(_run(k._lgi_window, cn), ref - ref.mean(), rtol=1e-4, atol=1e-9)


def test_omit_matches_qr_projection(rng):
    cn = _window(rng)
    c = (cn + 1).T
    q, _ = np.linalg.qr(c)
    q1 = q[:, :1]
    ref = ((np.eye(3) - q1 @ q1.T) @ c)[1]
    assert_allclose(_run(k._omit_window, cn), ref - ref.mean(), rtol=RTOL, atol=1e-12)


def test_pbv_matches_linear_solve(rng):
    cn = _window(rng)
    cov = cn.T @ cn / cn.shape[0]
    p = np.sqrt(np.diag(cov))
    p /= np.linalg.norm(p)
    w = np.linalg.solve(cov, p)
    ref = cn @ w / (p @ w)
    assert_allclose(_run(k._pbv_window, cn), ref - ref.mean(), rtol=1e-4, atol=1e-9)


def test_solve3_and_std_and_covariance(rng):
    a = rng.random((3, 3)) + 3 * np.eye(3)
    b = rng.random(3)
    assert_allclose(k._solve3(a, b), np.linalg.solve(a, b), rtol=RTOL)
    assert_allclose(k._solve3(np.zeros((3, 3)), b), np.zeros(3))
    x = rng.random(50)
    assert_allclose(k._std(x), x.std(), rtol=RTOL)
    cn = _window(rng)
    cov = np.zeros((3, 3))
    k._covariance3(cn, 1.0, cov)
    assert_allclose(cov, (cn + 1).T @ (cn + 1) / cn.shape[0], rtol=RTOL)


def test_overlap_add(rng):
    out = rng.random(10)
    before = out.copy()
    h, taper = rng.random(10), np.hanning(10)
    k._overlap_add(h, taper, out)
    assert_allclose(out, before + h * taper, rtol=RTOL)


def test_sosfilt_matches_scipy(rng):
    sos = ss.butter(3, [0.7, 3.5], btype="band", fs=30, output="sos")
    x = rng.standard_normal(500)
    y = np.zeros_like(x)
    k._sosfilt(sos, x, y)
    assert_allclose(y, ss.sosfilt(sos, x), rtol=RTOL, atol=1e-12)


def test_local_maxima_matches_scipy(rng):
    x = rng.standard_normal(400)
    idx = np.zeros(400, dtype=np.int64)
    n = k._local_maxima(x, idx)
    ref, _ = ss.find_peaks(x)
    np.testing.assert_array_equal(idx[:n], ref)


def test_local_maxima_plateau_takes_first_sample():
    x = np.array([0.0, 1.0, 2.0, 2.0, 2.0, 1.0, 3.0, 3.0])  # last plateau never falls
    idx = np.zeros(8, dtype=np.int64)
    n = k._local_maxima(x, idx)
    assert idx[:n].tolist() == [2]


def test_row_profile_matches_numpy(rng):
    frame = rng.integers(0, 256, (60, 50, 3), dtype=np.uint8)
    out = np.full(40, -1.0)
    mean = k._row_profile(frame, 5, 45, 7, 43, out)
    rows = frame[5:45, 7:43, 1].astype(np.float64).mean(axis=1)
    assert mean == pytest.approx(rows.mean(), rel=RTOL)
    assert_allclose(out, rows / rows.mean(), rtol=RTOL)
    bright = np.full((4, 4, 3), 255, np.uint8)  # sums beyond uint8 must not wrap
    assert k._row_profile(bright, 0, 4, 0, 4, out) == 255.0
    assert k._row_profile(frame, 5, 5, 7, 43, out) == 0.0


def test_column_profile_matches_numpy(rng):
    frame = rng.integers(0, 256, (60, 50, 3), dtype=np.uint8)
    out = np.full(40, -1.0)
    mean = k._column_profile(frame, 5, 45, 7, 43, out)
    columns = frame[5:45, 7:43, 1].astype(np.float64).mean(axis=0)
    assert mean == pytest.approx(columns.mean(), rel=RTOL)
    assert_allclose(out[:36], columns / columns.mean(), rtol=RTOL)
    assert np.all(out[36:] == -1.0)
    bright = np.full((4, 4, 3), 255, np.uint8)
    assert k._column_profile(bright, 0, 4, 0, 4, out) == 255.0
    assert k._column_profile(frame, 5, 45, 7, 7, out) == 0.0


def profile_shift_reference(key, profile, shift, iterations):
    """Gauss-Newton on np.interp, as first written in numpy."""
    y = np.arange(key.size, dtype=np.float64)
    gradient = np.gradient(key)
    s = shift
    for _ in range(iterations):
        q = y - s
        inside = (q >= 2.0) & (q <= key.size - 3.0)
        g = np.interp(q[inside], y, gradient)
        error = profile[inside] - np.interp(q[inside], y, key)
        step = -float(g @ error) / max(float(g @ g), 1e-12)
        s += step
        if abs(step) < 1e-3:
            break
    return s


@pytest.mark.parametrize("true_shift", [-2.3, 0.4, 1.7])
def test_profile_shift_matches_numpy(rng, true_shift):
    y = np.arange(120.0)
    smooth = np.convolve(rng.standard_normal(160), np.hanning(15), mode="same")
    key = 1.0 + 0.1 * np.interp(y + 20, np.arange(160.0), smooth)
    profile = 1.0 + 0.1 * np.interp(y + 20 - true_shift, np.arange(160.0), smooth)
    got = k._profile_shift(key, np.gradient(key), profile, 0.0, 4)
    assert got == pytest.approx(profile_shift_reference(key, profile, 0.0, 4), rel=RTOL)
    assert got == pytest.approx(true_shift, abs=0.05)
