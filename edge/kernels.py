"""Private numba kernels. No validation here: the public wrappers in `edge.roi`,
`edge.rppg`, `edge.filters`, `edge.beats` and `edge.head_motion` check input and pass
contiguous arrays.

Why numba and not numpy: each kernel is a single pass over its data with no
temporaries (a numpy mean of a masked ROI makes three float copies of it, which is
what costs on a Pi), and the per-sample streaming projections run at O(window) per
sample without Python overhead. No ``fastmath`` (it changes NaN/inf behaviour) and no
``parallel`` (ROIs are too small to pay for threads); see `tests/test_edge_kernels.py`
for the numpy reference of every kernel.

Each kernel declares the one signature it is called with. When ``edge-vitals warmup`` has
compiled this file ahead of time (`edge.aot`), the names below are bound to that
extension module's functions and numba is not imported; otherwise they are lazily
compiled, cached ``njit`` functions. `BACKEND` says which.
"""

from pathlib import Path

import numpy as np

from edge import aot

SOURCE = Path(__file__).read_bytes()
"""This file's bytes: the compiled module must have been built from exactly these."""
SIGNATURES: dict[str, str] = {}
"""Kernel name -> numba signature, for the ahead-of-time build."""

_COMPILED = aot.load(SOURCE) if aot.kernel_mode() == "auto" else None
BACKEND = "aot" if _COMPILED is not None else "jit"
"""``aot`` (the compiled module, no numba in the process) or ``jit`` (numba)."""
if _COMPILED is None:
    from numba import njit


def _kernel(signature: str):
    """Bind a kernel to its compiled twin, or to a cached lazy ``njit`` of it."""

    def bind(fn):
        SIGNATURES[fn.__name__] = signature
        if _COMPILED is not None:
            return getattr(_COMPILED, fn.__name__)
        return njit(cache=True, nogil=True)(fn)

    return bind


_WINDOW = "void(float64[:, ::1], float64[::1], float64[::1], float64[::1])"
"""Every rPPG window kernel: (cn (l, 3), scratch s1 (l,), scratch s2 (l,), out h (l,))."""
_KALMAN = ("boolean(float64[::1], float64[:, ::1], float64, float64, float64, float64, boolean,"
           " float64, float64[::1], float64[:, ::1], float64[::1])")

# Pixel gates shared by the ROI kernel (8-bit levels).
SATURATED_LEVEL = 250
DARK_LEVEL = 12
# YCrCb skin box (Chai & Ngan, IEEE TCSVT 1999), on OpenCV's 8-bit YCrCb scale.
CR_MIN, CR_MAX = 133.0, 173.0
CB_MIN, CB_MAX = 77.0, 127.0


@_kernel("void(uint8[:, :, ::1], int64[:, ::1], boolean, float64[:, ::1])")
def _roi_sums(frame, boxes, skin_mask, out):  # pragma: no cover - compiled
    """Sum R, G, B and count the usable pixels of each box in one pass.

    frame : uint8 (H, W, 3) RGB; boxes : int64 (n, 4) as x0, y0, x1, y1 (exclusive);
    out : float64 (n, 5) receives sum_r, sum_g, sum_b, count, saturated. A pixel is used
    when no channel is saturated, not all are dark, and (if `skin_mask`) it is in the
    skin box; `saturated` counts the pixels left out for a saturated channel.
    """
    for i in range(boxes.shape[0]):
        sr = 0.0
        sg = 0.0
        sb = 0.0
        count = 0.0
        saturated = 0.0
        for y in range(boxes[i, 1], boxes[i, 3]):
            for x in range(boxes[i, 0], boxes[i, 2]):
                r = frame[y, x, 0]
                g = frame[y, x, 1]
                b = frame[y, x, 2]
                if r >= SATURATED_LEVEL or g >= SATURATED_LEVEL or b >= SATURATED_LEVEL:
                    saturated += 1.0
                    continue
                if r < DARK_LEVEL and g < DARK_LEVEL and b < DARK_LEVEL:
                    continue
                if skin_mask:
                    luma = 0.299 * r + 0.587 * g + 0.114 * b
                    cr = (r - luma) * 0.713 + 128.0
                    cb = (b - luma) * 0.564 + 128.0
                    if cr < CR_MIN or cr > CR_MAX or cb < CB_MIN or cb > CB_MAX:
                        continue
                sr += r
                sg += g
                sb += b
                count += 1.0
        out[i, 0] = sr
        out[i, 1] = sg
        out[i, 2] = sb
        out[i, 3] = count
        out[i, 4] = saturated


@_kernel("void(float64[:, ::1], float64[:, ::1])")
def _normalise_window(rgb, cn):  # pragma: no cover - compiled
    """Cn = rgb / mean(rgb over the window) - 1, per channel; rgb, cn: (l, 3)."""
    n = rgb.shape[0]
    for c in range(3):
        m = 0.0
        for k in range(n):
            m += rgb[k, c]
        m /= n
        inv = 1.0 / m if m > 0.0 else 0.0
        for k in range(n):
            cn[k, c] = rgb[k, c] * inv - 1.0


@_kernel("float64(float64[::1])")
def _std(x):  # pragma: no cover - compiled
    n = x.shape[0]
    m = 0.0
    for k in range(n):
        m += x[k]
    m /= n
    v = 0.0
    for k in range(n):
        v += (x[k] - m) * (x[k] - m)
    return np.sqrt(v / n)


@_kernel(_WINDOW)
def _pos_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """POS (Wang et al. 2017): S = P·Cn with P = [[0, 1, -1], [-2, 1, 1]];
    h = S1 + (σ(S1)/σ(S2))·S2, zero-mean.
    """
    n = cn.shape[0]
    for k in range(n):
        s1[k] = cn[k, 1] - cn[k, 2]
        s2[k] = -2.0 * cn[k, 0] + cn[k, 1] + cn[k, 2]
    sd2 = _std(s2)
    alpha = _std(s1) / sd2 if sd2 > 0.0 else 0.0
    m = 0.0
    for k in range(n):
        h[k] = s1[k] + alpha * s2[k]
        m += h[k]
    m /= n
    for k in range(n):
        h[k] -= m


@_kernel(_WINDOW)
def _chrom_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """CHROM (de Haan & Jeanne 2013): X = 3Rn - 2Gn, Y = 1.5Rn + Gn - 1.5Bn,
    h = X - (σ(X)/σ(Y))·Y, zero-mean (within-window mean removal, no band-pass).
    """
    n = cn.shape[0]
    for k in range(n):
        s1[k] = 3.0 * cn[k, 0] - 2.0 * cn[k, 1]
        s2[k] = 1.5 * cn[k, 0] + cn[k, 1] - 1.5 * cn[k, 2]
    sd2 = _std(s2)
    alpha = _std(s1) / sd2 if sd2 > 0.0 else 0.0
    m = 0.0
    for k in range(n):
        h[k] = s1[k] - alpha * s2[k]
        m += h[k]
    m /= n
    for k in range(n):
        h[k] -= m


@_kernel(_WINDOW)
def _green_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """GREEN (Verkruysse et al. 2008): h = -Gn (blood absorbs green), zero-mean."""
    n = cn.shape[0]
    m = 0.0
    for k in range(n):
        h[k] = -cn[k, 1]
        m += h[k]
    m /= n
    for k in range(n):
        h[k] -= m


@_kernel("void(float64[:, ::1], float64, float64[:, ::1])")
def _covariance3(cn, offset, cov):  # pragma: no cover - compiled
    """Cov = (Cn + offset)ᵀ·(Cn + offset) / l for the (l, 3) window; Cn is zero-mean,
    so offset 0 gives the covariance and offset 1 the second moment of C / mean(C).
    """
    n = cn.shape[0]
    for i in range(3):
        for j in range(3):
            acc = 0.0
            for k in range(n):
                acc += (cn[k, i] + offset) * (cn[k, j] + offset)
            cov[i, j] = acc / n


@_kernel("void(float64[:, ::1], float64[::1], float64[::1])")
def _project_out(cn, u, h):  # pragma: no cover - compiled
    """H = G row of (I - u·uᵀ)·Cnᵀ, zero-mean; u is a unit 3-vector."""
    n = cn.shape[0]
    m = 0.0
    for k in range(n):
        dot = u[0] * cn[k, 0] + u[1] * cn[k, 1] + u[2] * cn[k, 2]
        h[k] = cn[k, 1] - u[1] * dot
        m += h[k]
    m /= n
    for k in range(n):
        h[k] -= m


@_kernel(_WINDOW)
def _lgi_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """LGI (Pilz et al. 2018): project out the dominant direction u1 of the window
    (first left-singular vector of the un-centred 3 x l window = top eigenvector of its
    3x3 second-moment matrix, by power iteration) and keep G.
    """
    cov = np.empty((3, 3))
    _covariance3(cn, 1.0, cov)
    u = np.array([0.577350269, 0.577350269, 0.577350269])
    v = np.empty(3)
    for _ in range(50):
        for i in range(3):
            v[i] = cov[i, 0] * u[0] + cov[i, 1] * u[1] + cov[i, 2] * u[2]
        norm = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
        if norm == 0.0:
            break
        for i in range(3):
            u[i] = v[i] / norm
    _project_out(cn, u, h)


@_kernel(_WINDOW)
def _omit_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """OMIT (Álvarez Casado & Bordallo López 2023): q1 = first column of Q in the QR
    decomposition of the 3 x l window, i.e. the unit direction of its first sample;
    project it out and keep G. Uses the un-centred window (Cn + 1).
    """
    u = np.empty(3)
    for i in range(3):
        u[i] = cn[0, i] + 1.0
    norm = np.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
    for i in range(3):
        u[i] = u[i] / norm if norm > 0.0 else 0.0
    n = cn.shape[0]
    m = 0.0
    for k in range(n):
        c0 = cn[k, 0] + 1.0
        c1 = cn[k, 1] + 1.0
        c2 = cn[k, 2] + 1.0
        dot = u[0] * c0 + u[1] * c1 + u[2] * c2
        h[k] = c1 - u[1] * dot
        m += h[k]
    m /= n
    for k in range(n):
        h[k] -= m


@_kernel(_WINDOW)
def _pbv_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """PBV (de Haan & van Leest 2014): signature p = σ(Cn)/‖σ(Cn)‖,
    w = (CnᵀCn)⁻¹·p, h = Cn·w / (pᵀ·w), zero-mean.
    """
    n = cn.shape[0]
    cov = np.empty((3, 3))
    _covariance3(cn, 0.0, cov)
    p = np.empty(3)
    for i in range(3):
        p[i] = np.sqrt(max(cov[i, i], 0.0))
    pn = np.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    if pn == 0.0:
        for k in range(n):
            h[k] = 0.0
        return
    for i in range(3):
        p[i] /= pn
        cov[i, i] += 1e-12 + 1e-6 * cov[i, i]  # Tikhonov guard for a singular window
    w = _solve3(cov, p)
    scale = p[0] * w[0] + p[1] * w[1] + p[2] * w[2]
    scale = 1.0 / scale if scale != 0.0 else 0.0
    m = 0.0
    for k in range(n):
        h[k] = (cn[k, 0] * w[0] + cn[k, 1] * w[1] + cn[k, 2] * w[2]) * scale
        m += h[k]
    m /= n
    for k in range(n):
        h[k] -= m


@_kernel("float64[::1](float64[:, ::1], float64[::1])")
def _solve3(a, b):  # pragma: no cover - compiled
    """Solve the 3x3 system a·x = b by Cramer's rule (zeros if singular)."""
    det = (
        a[0, 0] * (a[1, 1] * a[2, 2] - a[1, 2] * a[2, 1])
        - a[0, 1] * (a[1, 0] * a[2, 2] - a[1, 2] * a[2, 0])
        + a[0, 2] * (a[1, 0] * a[2, 1] - a[1, 1] * a[2, 0])
    )
    x = np.zeros(3)
    if det == 0.0:
        return x
    for col in range(3):
        m = a.copy()
        for r in range(3):
            m[r, col] = b[r]
        x[col] = (
            m[0, 0] * (m[1, 1] * m[2, 2] - m[1, 2] * m[2, 1])
            - m[0, 1] * (m[1, 0] * m[2, 2] - m[1, 2] * m[2, 0])
            + m[0, 2] * (m[1, 0] * m[2, 1] - m[1, 1] * m[2, 0])
        ) / det
    return x


@_kernel("void(float64[::1], float64[::1], float64[::1])")
def _overlap_add(h, taper, out):  # pragma: no cover - compiled
    """Out += h * taper, element-wise over the window (taper of ones = plain OLA)."""
    for k in range(h.shape[0]):
        out[k] += h[k] * taper[k]


@_kernel("void(float64[:, ::1], float64[::1], float64[::1])")
def _sosfilt(sos, x, y):  # pragma: no cover - compiled
    """Cascade of biquads, direct form II transposed, zero initial state.

    sos : (n_sections, 6) rows b0 b1 b2 a0 a1 a2 with a0 == 1; x, y : (n,) float64.
    """
    n = x.shape[0]
    for k in range(n):
        y[k] = x[k]
    for s in range(sos.shape[0]):
        b0, b1, b2 = sos[s, 0], sos[s, 1], sos[s, 2]
        a1, a2 = sos[s, 4], sos[s, 5]
        z1 = 0.0
        z2 = 0.0
        for k in range(n):
            xk = y[k]
            yk = b0 * xk + z1
            z1 = b1 * xk - a1 * yk + z2
            z2 = b2 * xk - a2 * yk
            y[k] = yk


@_kernel("float64(uint8[:, :, ::1], int64, int64, int64, int64, float64[::1])")
def _row_profile(frame, y0, y1, x0, x1, out):  # pragma: no cover - compiled
    """Mean green of each row y0..y1 over columns x0..x1 into out, divided by their
    mean; returns that mean (0 for an empty region, out then untouched).
    """
    n_rows, n_cols = y1 - y0, x1 - x0
    if n_rows <= 0 or n_cols <= 0:
        return 0.0
    total = 0.0
    for i in range(n_rows):
        acc = 0.0  # float: exact for these sums, and no uint8 wrap without the JIT
        for x in range(x0, x1):
            acc += frame[y0 + i, x, 1]
        out[i] = acc / n_cols
        total += out[i]
    mean = total / n_rows
    if mean > 0.0:
        for i in range(n_rows):
            out[i] /= mean
    return mean


@_kernel("float64(uint8[:, :, ::1], int64, int64, int64, int64, float64[::1])")
def _column_profile(frame, y0, y1, x0, x1, out):  # pragma: no cover - compiled
    """Mean green of each column x0..x1 over rows y0..y1 into out, divided by their
    mean; returns that mean (0 for an empty region, out then untouched).
    """
    n_rows, n_cols = y1 - y0, x1 - x0
    if n_rows <= 0 or n_cols <= 0:
        return 0.0
    for j in range(n_cols):
        out[j] = 0.0
    for y in range(y0, y1):  # row by row: the frame's memory order
        for j in range(n_cols):
            out[j] += frame[y, x0 + j, 1]
    total = 0.0
    for j in range(n_cols):
        out[j] /= n_rows
        total += out[j]
    mean = total / n_cols
    if mean > 0.0:
        for j in range(n_cols):
            out[j] /= mean
    return mean


@_kernel("float64(float64[::1], float64[::1], float64[::1], float64, int64)")
def _profile_shift(key, gradient, profile, shift, iterations):  # pragma: no cover - compiled
    """1-D Lucas-Kanade: shift s with profile(y) ~ key(y - s), Gauss-Newton from `shift`.

    key(y - s) and its gradient are linearly interpolated; rows whose source y - s
    falls within 2 samples of either end are left out. Stops early on a step < 1e-3.
    """
    n = key.shape[0]
    s = shift
    for _ in range(iterations):
        num = 0.0
        den = 0.0
        for i in range(n):
            q = i - s
            if q < 2.0 or q > n - 3.0:
                continue
            j = int(np.floor(q))
            f = q - j
            g = gradient[j] * (1.0 - f) + gradient[j + 1] * f
            e = profile[i] - (key[j] * (1.0 - f) + key[j + 1] * f)
            num += g * e
            den += g * g
        step = -num / max(den, 1e-12)
        s += step
        if abs(step) < 1e-3:
            break
    return s


@_kernel("int64(float64[::1], int64[::1])")
def _local_maxima(x, out):  # pragma: no cover - compiled
    """Indices of strict local maxima (plateaus: their first sample) into out; count."""
    count = 0
    n = x.shape[0]
    k = 1
    while k < n - 1:
        if x[k] > x[k - 1]:
            j = k
            while j < n - 1 and x[j + 1] == x[k]:
                j += 1
            if j < n - 1 and x[j + 1] < x[k]:
                out[count] = k
                count += 1
            k = j + 1
        else:
            k += 1
    return count


@_kernel(_KALMAN)
def _kalman_step(  # pragma: no cover - compiled
    x, P, dt, q, z, r, has_z, gate, x_prior, P_prior, stats  # noqa: N803 (P as in the literature)
):
    """One step of the constant-velocity scalar-rate Kalman filter, in place.

    Predict over `dt` seconds, then (if `has_z`) a gated update with the measurement `z`
    of variance `r`; the numpy reference is `edge.kalman.predict` / `edge.kalman.update`.

    x : float64 (2,) state [rate, d rate/dt], posterior on return;
    P : float64 (2, 2) state covariance, posterior on return;
    x_prior, P_prior : float64 (2,), (2, 2), receive the predicted state and covariance;
    stats : float64 (3,) receives innovation y, its variance S and y²/S (NaN without z).
    Returns True when the measurement passed the gate y²/S <= `gate` and was used.
    """
    # Predict: x⁻ = F·x with F = [[1, dt], [0, 1]]
    x0 = x[0] + dt * x[1]
    x1 = x[1]
    # P⁻ = F·P·Fᵀ + Q, Q = q·[[dt³/3, dt²/2], [dt²/2, dt]] (white-noise acceleration)
    p00 = P[0, 0] + dt * (P[0, 1] + P[1, 0]) + dt * dt * P[1, 1] + q * dt * dt * dt / 3.0
    p01 = P[0, 1] + dt * P[1, 1] + q * dt * dt / 2.0
    p10 = P[1, 0] + dt * P[1, 1] + q * dt * dt / 2.0
    p11 = P[1, 1] + q * dt
    x_prior[0] = x0
    x_prior[1] = x1
    P_prior[0, 0] = p00
    P_prior[0, 1] = p01
    P_prior[1, 0] = p10
    P_prior[1, 1] = p11
    # Without a measurement (or when it is gated out) the posterior is the prior.
    x[0] = x0
    x[1] = x1
    P[0, 0] = p00
    P[0, 1] = p01
    P[1, 0] = p10
    P[1, 1] = p11
    if not has_z:
        stats[0] = np.nan
        stats[1] = np.nan
        stats[2] = np.nan
        return False
    # Innovation y = z - H·x⁻ and its variance S = H·P⁻·Hᵀ + R, with H = [1, 0]
    y = z - x0
    s = p00 + r
    stats[0] = y
    stats[1] = s
    stats[2] = y * y / s
    if y * y > gate * s:
        return False
    # Gain K = P⁻·Hᵀ / S; x = x⁻ + K·y
    k0 = p00 / s
    k1 = p10 / s
    x[0] = x0 + k0 * y
    x[1] = x1 + k1 * y
    # Joseph form P = A·P⁻·Aᵀ + K·R·Kᵀ with A = I - K·H = [[1 - k0, 0], [-k1, 1]]
    m00 = (1.0 - k0) * p00  # M = A·P⁻
    m01 = (1.0 - k0) * p01
    m10 = p10 - k1 * p00
    m11 = p11 - k1 * p01
    P[0, 0] = m00 * (1.0 - k0) + k0 * k0 * r  # P = M·Aᵀ + K·R·Kᵀ
    P[0, 1] = m01 - m00 * k1 + k0 * k1 * r
    P[1, 0] = m10 * (1.0 - k0) + k1 * k0 * r
    P[1, 1] = m11 - m10 * k1 + k1 * k1 * r
    return True
