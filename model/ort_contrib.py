"""onnxruntime's com.microsoft quantized operators (contrib ops), bit-exact to its x86-64
CPU kernels: ``QLinearAveragePool``, ``QLinearGlobalAveragePool`` and ``QLinearAdd``.
"""

from __future__ import annotations

import numpy as np

from .numerics import INT32_MIN, OUTPUT_TYPES, NumericsError, float32_scale_round
from .qargs import (
    _as_scale32,
    _int_zero_point,
    _pair,
    _quantized,
    _valid_counts,
    _window_geometry,
)

__all__ = ["qlinear_average_pool", "qlinear_global_average_pool", "qlinear_add"]


def qlinear_average_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *, kernel_shape,
                         strides=None, pads=None, count_include_pad: int = 0) -> np.ndarray:
    """onnxruntime's ``com.microsoft.QLinearAveragePool`` (2-D, NCHW), bit-exact.

    A float32 computation (``contrib_ops/cpu/quantization/qlinear_pool.cc``):

    1. ``xf = x_scale * float32(x - x_zero_point)`` (float32 multiply)
    2. ``s = 0.0f; s += xf`` over the window's taps inside the input, in row-major order
       (float32, sequential)
    3. ``s /= count`` (float32; count = taps inside, or ``kh*kw`` with count_include_pad)
    4. ``y = clamp(nearbyintf(s / y_scale + y_zero_point), lo, hi)`` (float32 divide, float32
       add, round half to even)

    Except where the kernel covers the whole (unpadded) image: onnxruntime then runs
    QLinearGlobalAveragePool (``mlas/lib/qlgavgpool.cpp``): ``acc = sum(x) - x_zp * HW``
    (int32), ``scale = x_scale / (y_scale * float32(HW))`` (float32; must lie in
    ``[2^-32, 256)``), then :func:`~.numerics.float32_scale_round`.

    ``pads`` ``[top, left, bottom, right]``; no dilation, no ceil_mode.
    """
    x, qt = _quantized("x", x, 4, "(N, C, H, W)")
    kernel = _pair("kernel_shape", kernel_shape, 1)
    stride = _pair("strides", 1 if strides is None else strides, 1)
    p = [0, 0, 0, 0] if pads is None else list(pads)
    if len(p) != 4:
        raise NumericsError(f"pads={pads!r}: need 4 values [top, left, bottom, right]")
    padding = (_pair("pads", (p[0], p[2]), 0), _pair("pads", (p[1], p[3]), 0))
    xzp = _int_zero_point("x_zero_point", x_zero_point, qt)
    yzp = _int_zero_point("y_zero_point", y_zero_point, qt)
    xs = _as_scale32("x_scale", x_scale)
    ys = _as_scale32("y_scale", y_scale)
    lo, hi, np_dtype = OUTPUT_TYPES[qt]
    counts = _valid_counts(x.shape, kernel, stride, padding, (1, 1))
    if tuple(kernel) == tuple(x.shape[2:]) and not any(p):
        return _global_average(x, xs, xzp, ys, yzp, qt)
    xf = np.multiply(np.float32(xs), (x.astype(np.int64) - xzp).astype(np.float32),
                     dtype=np.float32)                                                  # step 1
    s = None
    for vals, valid in _pool_windows_f32(xf, kernel, stride, padding):                 # step 2
        tap = np.where(valid, vals, np.float32(0))
        s = tap if s is None else np.add(s, tap, dtype=np.float32)
    count = (np.full_like(counts, kernel[0] * kernel[1]) if count_include_pad else counts)
    s = np.divide(s, count.astype(np.float32), dtype=np.float32)                        # step 3
    with np.errstate(over="ignore", invalid="ignore"):
        f = np.add(np.divide(s, np.float32(ys), dtype=np.float32), np.float32(yzp),
                   dtype=np.float32)                                                    # step 4
    r = np.rint(f)
    return np.clip(np.where(np.isfinite(r), r, 0), lo, hi).astype(np_dtype)


def qlinear_global_average_pool(x, x_scale, x_zero_point, y_scale, y_zero_point, *,
                                channels_last: int = 0) -> np.ndarray:
    """onnxruntime's ``com.microsoft.QLinearGlobalAveragePool`` (NCHW, any spatial rank >= 1),
    bit-exact (``MlasQLinearGlobalAveragePoolNchw``, ``mlas/lib/qlgavgpool.cpp``):

    1. ``acc = sum(x over the image) - x_zero_point * HW`` (int32)
    2. ``scale = float32(x_scale / float32(y_scale * float32(HW)))`` (float32; must lie in
       ``[2^-32, 256)``, MLAS's range check)
    3. :func:`~.numerics.float32_scale_round` with ``y_zero_point``, saturating to the type

    Output ``(N, C, 1, ..., 1)``. ``channels_last`` must be 0 (NHWC is not modelled).
    """
    if channels_last:
        raise NumericsError(f"channels_last={channels_last!r}: only 0 (NCHW) is modelled")
    x, qt = _quantized("x", x)
    if x.ndim < 3:
        raise NumericsError(f"x: must be (N, C, *spatial) with at least one spatial dimension, "
                            f"got shape {x.shape}")
    return _global_average(x, _as_scale32("x_scale", x_scale),
                           _int_zero_point("x_zero_point", x_zero_point, qt),
                           _as_scale32("y_scale", y_scale),
                           _int_zero_point("y_zero_point", y_zero_point, qt), qt)


def _global_average(x: np.ndarray, xs, xzp: int, ys, yzp: int, qt: str) -> np.ndarray:
    n = int(np.prod(x.shape[2:]))
    lo, hi, np_dtype = OUTPUT_TYPES[qt]
    with np.errstate(over="ignore", under="ignore"):
        scale = np.float32(xs / np.float32(ys * np.float32(n)))                        # step 2
    if not (2.0 ** -32 <= scale < 256.0):
        raise NumericsError(f"x_scale / (y_scale * {n}) = {float(scale)!r}: out of "
                            "onnxruntime's global-pool range, allowed [2^-32, 256)")
    axes = tuple(range(2, x.ndim))
    acc = x.astype(np.int64).sum(axis=axes, keepdims=True) - xzp * n                    # step 1
    return float32_scale_round(acc, scale, yzp, lo, hi).astype(np_dtype)             # step 3


def _pool_windows_f32(xf: np.ndarray, kernel, stride, pads):
    """:func:`_pool_windows` for a float32 tensor (padding holds 0.0, masked anyway)."""
    (pt, pb), (pl, pr) = pads
    oh, ow = _window_geometry(xf.shape[2:], kernel, stride, pads, (1, 1))
    xp = np.pad(xf, [(0, 0), (0, 0), (pt, pb), (pl, pr)])
    vp = np.pad(np.ones(xf.shape[2:], dtype=bool), [(pt, pb), (pl, pr)], constant_values=False)
    (sh, sw) = stride
    for ki in range(kernel[0]):
        for kj in range(kernel[1]):
            rows = slice(ki, ki + (oh - 1) * sh + 1, sh)
            cols = slice(kj, kj + (ow - 1) * sw + 1, sw)
            yield xp[:, :, rows, cols], vp[rows, cols]


def _fma_f32(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """float32 fused multiply-add ``round32(a * b + c)`` with one rounding (vfmadd).

    ``a * b`` of two float32 is exact in float64; the float64 sum ``s`` carries an error
    ``e`` (TwoSum), so rounding ``s`` to float32 is correct except when ``s`` is exactly a
    float32 midpoint and ``e != 0``: then the true value lies on ``e``'s side.
    """
    p = a.astype(np.float64) * b.astype(np.float64)
    c64 = c.astype(np.float64)
    s = p + c64
    bb = s - p
    e = (p - (s - bb)) + (c64 - bb)
    r = s.astype(np.float32)
    r64 = r.astype(np.float64)
    other = np.nextafter(r, np.where(s > r64, np.float32(np.inf), np.float32(-np.inf)))
    midpoint = (s != r64) & ((r64 + other.astype(np.float64)) / 2 == s)
    fix = midpoint & (e != 0) & ((e > 0) == (other.astype(np.float64) > r64))
    return np.where(fix, other, r)


def _cvtps_epi32(f: np.ndarray) -> np.ndarray:
    """x86 cvtps2dq: round half to even; NaN or outside int32 gives INT32_MIN."""
    ok = np.isfinite(f) & (f >= -2.0 ** 31) & (f < 2.0 ** 31)
    return np.where(ok, np.rint(np.where(ok, f, 0)), INT32_MIN).astype(np.int64)


def qlinear_add(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
                y_zero_point) -> np.ndarray:
    """onnxruntime's ``com.microsoft.QLinearAdd`` for same-shape int8/uint8 inputs, bit-exact
    to its x86-64 AVX2/FMA kernel (``mlas/lib/intrinsics/avx2/qladd_avx2.cpp``, selected on
    every CPU with AVX2 and FMA3; the GCC build contracts the C++ ``x*y + z`` into fma).

    1. ``ra = float32(a_scale / y_scale)``, ``rb = float32(b_scale / y_scale)``
    2. ``fixed = float32(y_zp) - fma(ra, a_zp, float32(rb * b_zp))``
    3. ``t = fma(float32(b), rb, fixed)``, ``v = fma(float32(a), ra, t)`` (vfmadd: one
       rounding each)
    4. ``i = cvtps2dq(v)`` (round half to even; NaN or outside int32 -> INT32_MIN)
    5. saturate to the type (``packs_epi32`` then ``packs/packus_epi16``), cast.

    One-element tensors take onnxruntime's scalar-input path, which swaps the roles (``a``
    becomes the broadcast scalar): ``fixed = float32(y_zp) - fma(rb, b_zp, float32(ra *
    a_zp))``, ``fixed = fma(float32(a), ra, fixed)``, ``v = fma(float32(b), rb, fixed)``.

    Not the SSE2-only or ARM NEON kernels, which round differently on rare inputs.
    """
    a, qt = _quantized("a", a)
    b, bt = _quantized("b", b)
    if bt != qt or a.shape != b.shape:
        raise NumericsError(f"a {a.dtype}{a.shape} and b {b.dtype}{b.shape}: need the same "
                            "dtype and shape (residual add)")
    az = _int_zero_point("a_zero_point", a_zero_point, qt)
    bz = _int_zero_point("b_zero_point", b_zero_point, qt)
    yz = _int_zero_point("y_zero_point", y_zero_point, qt)
    a_s, b_s, y_s = (_as_scale32(n, v) for n, v in
                     (("a_scale", a_scale), ("b_scale", b_scale), ("y_scale", y_scale)))
    lo, hi, np_dtype = OUTPUT_TYPES[qt]
    af, bf = a.astype(np.float32), b.astype(np.float32)
    with np.errstate(over="ignore", under="ignore"):
        ra = np.float32(a_s / y_s)                                                     # step 1
        rb = np.float32(b_s / y_s)
    fma = lambda p, q, r: _fma_f32(*np.broadcast_arrays(  # noqa: E731
        np.asarray(p, np.float32), np.asarray(q, np.float32), np.asarray(r, np.float32)))
    if a.size > 1:
        fixed = np.float32(yz) - fma(ra, az, np.float32(rb * np.float32(bz)))          # step 2
        v = fma(af, ra, fma(bf, rb, fixed))                                            # step 3
    else:  # scalar path: (b, a) in the roles of (InputA, scalar InputB)
        fixed = np.float32(yz) - fma(rb, bz, np.float32(ra * np.float32(az)))
        v = fma(bf, rb, fma(af, ra, fixed))
    i = _cvtps_epi32(np.asarray(v, np.float32))                                        # step 4
    return np.clip(i, lo, hi).astype(np_dtype).reshape(a.shape)                        # step 5
