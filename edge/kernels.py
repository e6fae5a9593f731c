"""Private numba kernels, unchecked: their callers (`edge.roi`, `edge.rppg`, `edge.filters`,
`edge.pulse`, `edge.head_motion`, `edge.kalman`, `edge.cnn`) validate and pass contiguous arrays.

Numba, not numpy: one pass per kernel with no temporaries (a numpy masked ROI mean makes three
float copies, which is what costs on a Pi). No ``fastmath`` (NaN/inf) and no ``parallel`` (ROIs
are too small for threads). After ``edge-vitals warmup`` (`edge.aot`) the names are bound to the
compiled module and numba is not imported; else they are cached lazy ``njit``s (`BACKEND`).
"""

from pathlib import Path

import numpy as np

from edge import aot

SOURCE = Path(__file__).read_bytes()  # the compiled module must come from exactly these bytes
SIGNATURES: dict[str, str] = {}  # kernel name -> numba signature, for the ahead-of-time build

_COMPILED = aot.load(SOURCE) if aot.kernel_mode() == "auto" else None
BACKEND = "aot" if _COMPILED is not None else "jit"  # aot: the compiled module, no numba
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


# Every rPPG window kernel: (cn (l, 3), scratch s1 (l,), scratch s2 (l,), out h (l,)).
_WINDOW = "void(float64[:, ::1], float64[::1], float64[::1], float64[::1])"
_KALMAN = ("boolean(float64[::1], float64[:, ::1], float64, float64, float64, float64, boolean,"
           " float64, float64[::1], float64[:, ::1], float64[::1])")

SATURATED_LEVEL, DARK_LEVEL = 250, 12  # pixel gates of the ROI kernel, 8-bit levels
# YCrCb skin box (Chai & Ngan, IEEE TCSVT 1999), on OpenCV's 8-bit YCrCb scale.
CR_MIN, CR_MAX = 133.0, 173.0
CB_MIN, CB_MAX = 77.0, 127.0


@_kernel("void(uint8[:, :, ::1], int64[:, ::1], boolean, float64[:, ::1])")
def _roi_sums(frame, boxes, skin_mask, out):  # pragma: no cover - compiled
    """Per box (x0, y0, x1, y1 exclusive): out[i] = sum_r, sum_g, sum_b, count of the usable
    pixels (none saturated, not all dark, skin if `skin_mask`), count of the saturated ones.
    """
    for i in range(boxes.shape[0]):
        sr = sg = sb = count = saturated = 0.0
        for y in range(boxes[i, 1], boxes[i, 3]):
            for x in range(boxes[i, 0], boxes[i, 2]):
                r, g, b = frame[y, x, 0], frame[y, x, 1], frame[y, x, 2]
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
        out[i, 0], out[i, 1], out[i, 2], out[i, 3], out[i, 4] = sr, sg, sb, count, saturated


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


@_kernel("void(float64[::1])")
def _center(h):  # pragma: no cover - compiled
    """Subtract the mean of h from h, in place."""
    n = h.shape[0]
    m = 0.0
    for k in range(n):
        m += h[k]
    m /= n
    for k in range(n):
        h[k] -= m


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
    """POS (Wang et al. 2017): S = [[0, 1, -1], [-2, 1, 1]]·Cn, h = S1 + σ(S1)/σ(S2)·S2."""
    n = cn.shape[0]
    for k in range(n):
        s1[k] = cn[k, 1] - cn[k, 2]
        s2[k] = -2.0 * cn[k, 0] + cn[k, 1] + cn[k, 2]
    sd2 = _std(s2)
    alpha = _std(s1) / sd2 if sd2 > 0.0 else 0.0
    for k in range(n):
        h[k] = s1[k] + alpha * s2[k]
    _center(h)


@_kernel(_WINDOW)
def _chrom_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """CHROM (de Haan & Jeanne 2013): h = X - σ(X)/σ(Y)·Y, X = 3R-2G, Y = 1.5R+G-1.5B."""
    n = cn.shape[0]
    for k in range(n):
        s1[k] = 3.0 * cn[k, 0] - 2.0 * cn[k, 1]
        s2[k] = 1.5 * cn[k, 0] + cn[k, 1] - 1.5 * cn[k, 2]
    sd2 = _std(s2)
    alpha = _std(s1) / sd2 if sd2 > 0.0 else 0.0
    for k in range(n):
        h[k] = s1[k] - alpha * s2[k]
    _center(h)


@_kernel(_WINDOW)
def _green_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """GREEN (Verkruysse et al. 2008): h = -Gn (blood absorbs green), zero-mean."""
    n = cn.shape[0]
    for k in range(n):
        h[k] = -cn[k, 1]
    _center(h)


@_kernel("void(float64[:, ::1], float64, float64[:, ::1])")
def _covariance3(cn, offset, cov):  # pragma: no cover - compiled
    """(Cn + offset)ᵀ·(Cn + offset) / l: covariance (offset 0), 2nd moment of C/mean(C) (1)."""
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
    for k in range(n):
        dot = u[0] * cn[k, 0] + u[1] * cn[k, 1] + u[2] * cn[k, 2]
        h[k] = cn[k, 1] - u[1] * dot
    _center(h)


@_kernel(_WINDOW)
def _lgi_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """LGI (Pilz et al. 2018): G with the top direction of (Cn + 1)'s 2nd moment taken out."""
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
    """OMIT (Álvarez Casado 2023): G with q1 of QR(Cn + 1), its first sample, taken out."""
    u = np.empty(3)
    for i in range(3):
        u[i] = cn[0, i] + 1.0
    norm = np.sqrt(u[0] * u[0] + u[1] * u[1] + u[2] * u[2])
    for i in range(3):
        u[i] = u[i] / norm if norm > 0.0 else 0.0
    n = cn.shape[0]
    for k in range(n):
        c0, c1, c2 = cn[k, 0] + 1.0, cn[k, 1] + 1.0, cn[k, 2] + 1.0
        dot = u[0] * c0 + u[1] * c1 + u[2] * c2
        h[k] = c1 - u[1] * dot
    _center(h)


@_kernel(_WINDOW)
def _pbv_window(cn, s1, s2, h):  # pragma: no cover - compiled
    """PBV (de Haan & van Leest 2014): p = σ(Cn)/‖σ(Cn)‖, w = (CnᵀCn)⁻¹·p, h = Cn·w/(pᵀ·w)."""
    n = cn.shape[0]
    cov = np.empty((3, 3))
    _covariance3(cn, 0.0, cov)
    p = np.empty(3)
    for i in range(3):
        p[i] = np.sqrt(max(cov[i, i], 0.0))
    pn = np.sqrt(p[0] * p[0] + p[1] * p[1] + p[2] * p[2])
    if pn == 0.0:
        h[:] = 0.0
        return
    for i in range(3):
        p[i] /= pn
        cov[i, i] += 1e-12 + 1e-6 * cov[i, i]  # Tikhonov guard for a singular window
    w = _solve3(cov, p)
    scale = p[0] * w[0] + p[1] * w[1] + p[2] * w[2]
    scale = 1.0 / scale if scale != 0.0 else 0.0
    for k in range(n):
        h[k] = (cn[k, 0] * w[0] + cn[k, 1] * w[1] + cn[k, 2] * w[2]) * scale
    _center(h)


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
    """Biquad cascade, direct form II transposed, zero state; sos rows b0 b1 b2 1 a1 a2."""
    n = x.shape[0]
    for k in range(n):
        y[k] = x[k]
    for s in range(sos.shape[0]):
        b0, b1, b2 = sos[s, 0], sos[s, 1], sos[s, 2]
        a1, a2 = sos[s, 4], sos[s, 5]
        z1 = z2 = 0.0
        for k in range(n):
            xk = y[k]
            yk = b0 * xk + z1
            z1 = b1 * xk - a1 * yk + z2
            z2 = b2 * xk - a2 * yk
            y[k] = yk


@_kernel("float64(uint8[:, :, ::1], int64, int64, int64, int64, float64[::1])")
def _row_profile(frame, y0, y1, x0, x1, out):  # pragma: no cover - compiled
    """Mean green per row over x0..x1 into out, over their mean; returns it (0 if empty)."""
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
    """Mean green per column over y0..y1 into out, over their mean; returns it (0 if empty)."""
    n_rows, n_cols = y1 - y0, x1 - x0
    if n_rows <= 0 or n_cols <= 0:
        return 0.0
    out[:n_cols] = 0.0
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
    """1-D Lucas-Kanade: s with profile(y) ~ key(y - s), by Gauss-Newton from `shift`."""
    n, s = key.shape[0], shift
    for _ in range(iterations):
        num = den = 0.0
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
    """Constant-velocity Kalman step in place (reference: `edge.kalman.predict`, `update`):
    predict x [rate, rate/s], P over `dt` s into x_prior, P_prior; if `has_z`, update with z
    (variance r); stats = y, S, y²/S (NaN without z). True when y²/S <= `gate` and z was used.
    """
    x0 = x[0] + dt * x[1]  # x⁻ = F·x, F = [[1, dt], [0, 1]]
    # P⁻ = F·P·Fᵀ + Q, Q = q·[[dt³/3, dt²/2], [dt²/2, dt]] (white-noise acceleration)
    p00 = P[0, 0] + dt * (P[0, 1] + P[1, 0]) + dt * dt * P[1, 1] + q * dt * dt * dt / 3.0
    p01 = P[0, 1] + dt * P[1, 1] + q * dt * dt / 2.0
    p10 = P[1, 0] + dt * P[1, 1] + q * dt * dt / 2.0
    p11 = P[1, 1] + q * dt
    x_prior[0], x_prior[1] = x0, x[1]
    P_prior[0, 0], P_prior[0, 1], P_prior[1, 0], P_prior[1, 1] = p00, p01, p10, p11
    x[0] = x0  # the posterior is the prior without z or when z is gated out
    P[0, 0], P[0, 1], P[1, 0], P[1, 1] = p00, p01, p10, p11
    if not has_z:
        stats[0] = stats[1] = stats[2] = np.nan
        return False
    y = z - x0  # innovation y = z - H·x⁻, H = [1, 0]
    s = p00 + r  # its variance S = H·P⁻·Hᵀ + R
    stats[0], stats[1], stats[2] = y, s, y * y / s
    if y * y > gate * s:
        return False
    k0 = p00 / s  # gain K = P⁻·Hᵀ / S; x = x⁻ + K·y
    k1 = p10 / s
    x[0], x[1] = x0 + k0 * y, x[1] + k1 * y
    # Joseph form P = A·P⁻·Aᵀ + K·R·Kᵀ with A = I - K·H = [[1 - k0, 0], [-k1, 1]]
    m00, m01 = (1.0 - k0) * p00, (1.0 - k0) * p01  # M = A·P⁻
    m10, m11 = p10 - k1 * p00, p11 - k1 * p01
    P[0, 0], P[0, 1] = m00 * (1.0 - k0) + k0 * k0 * r, m01 - m00 * k1 + k0 * k1 * r  # M·Aᵀ + KRKᵀ
    P[1, 0], P[1, 1] = m10 * (1.0 - k0) + k1 * k0 * r, m11 - m10 * k1 + k1 * k1 * r
    return True
