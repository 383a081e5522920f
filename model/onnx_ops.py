"""ONNX operator semantics for int8/uint8 tensors, bit-exact to onnxruntime's CPU kernels.

Each function follows the ONNX operator of the same name (opset 10..25 semantics for
int8/uint8); requantization goes through :mod:`.numerics` with onnxruntime's float32
scheme, so results are bit-exact to onnxruntime's CPU kernels.

Integer accumulation is exact (int64) and the int32 result wraps modulo 2^32, as the ONNX
spec allows ("accumulation may overflow if and only if in 32 bits") and as onnxruntime's
int32 GEMMs do.

Shapes: ``matmul_integer`` / ``qlinear_matmul`` follow ``numpy.matmul`` (batched, broadcast);
convolutions are channels-first ``(N, C, *spatial)`` with weights ``(M, C/group, *kernel)``,
any number of spatial dimensions (1-D, 2-D, 3-D).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .numerics import (
    OUTPUT_TYPES,
    NumericsError,
    RequantParams,
    float32_scale_round,
    onnx_effective_scale,
    requantize,
    wrap_int32,
)
from .qargs import _qtype

__all__ = [
    "matmul_integer",
    "conv_integer",
    "qlinear_matmul",
    "qlinear_conv",
    "quantize_linear",
    "dequantize_linear",
    "conv_geometry",
]


def _zero_point(name: str, zp, like: np.ndarray) -> np.ndarray:
    """Zero point as int64 (0 if None); its dtype must match the quantized tensor's."""
    if zp is None:
        return np.zeros((), dtype=np.int64)
    zp = np.asarray(zp)
    if zp.dtype != like.dtype:
        raise NumericsError(f"{name}: dtype {zp.dtype} must match the tensor's dtype {like.dtype}")
    return zp.astype(np.int64)


def _scalar(name: str, v) -> np.ndarray:
    a = np.asarray(v)
    if a.size != 1:
        raise NumericsError(f"{name}: must be a scalar or a 1-element tensor, got shape {a.shape}")
    return a.reshape(())


# --------------------------------------------------------------------------------------
# integer products
# --------------------------------------------------------------------------------------
def _matmul_operands(a, b, a_zero_point, b_zero_point):
    a = np.asarray(a)
    b = np.asarray(b)
    _qtype("a", a)
    _qtype("b", b)
    if a.ndim < 1 or b.ndim < 1:
        raise NumericsError("a, b: must have at least one dimension")
    azp = _zero_point("a_zero_point", a_zero_point, a)
    bzp = _zero_point("b_zero_point", b_zero_point, b)
    # ONNX: a 1-D a_zero_point of M (>1) elements is per row, b's of N elements per column.
    if azp.ndim == 1 and azp.size == 1:
        azp = azp.reshape(())
    elif azp.ndim == 1:
        azp = azp.reshape(-1, 1)
    if bzp.ndim == 1 and bzp.size == 1:
        bzp = bzp.reshape(())
    A = a.astype(np.int64) - azp
    B = b.astype(np.int64) - bzp
    return A, B


def matmul_integer(a, b, a_zero_point=None, b_zero_point=None) -> np.ndarray:
    """ONNX MatMulInteger: ``(a - a_zero_point) @ (b - b_zero_point)`` as int32.

    ``a``/``b`` int8 or uint8 (numpy.matmul shapes). ``a_zero_point`` scalar or per row
    (``M`` elements or ``[..., M, 1]``), ``b_zero_point`` scalar or per column (``N``
    elements or ``[..., 1, N]``); zero points have their tensor's dtype. The exact sum
    wraps to int32.
    """
    A, B = _matmul_operands(a, b, a_zero_point, b_zero_point)
    return wrap_int32(np.matmul(A, B)).astype(np.int32)


def conv_geometry(in_shape: Sequence[int], kernel: Sequence[int], strides, pads, dilations,
                  auto_pad: str):
    """The window geometry of ONNX Conv/ConvInteger/pools: ``(strides, dilations, begins,
    ends, out_shape)`` per spatial axis (``pads`` ``[begin_0.., end_0..]`` or ``auto_pad``
    NOTSET, VALID, SAME_UPPER, SAME_LOWER); NumericsError if the output would be empty."""
    r = len(kernel)
    strides = list(strides) if strides else [1] * r
    dilations = list(dilations) if dilations else [1] * r
    if len(strides) != r or len(dilations) != r:
        raise NumericsError(f"strides/dilations: need {r} values each, got {strides}, {dilations}")
    if any(s < 1 for s in strides) or any(d < 1 for d in dilations):
        raise NumericsError(f"strides={strides}, dilations={dilations}: must be >= 1")
    eff_k = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    if auto_pad in ("NOTSET", "", None):
        pads = list(pads) if pads else [0] * (2 * r)
        if len(pads) != 2 * r or any(p < 0 for p in pads):
            raise NumericsError(f"pads={pads}: need {2 * r} non-negative values (begins, ends)")
        begins, ends = pads[:r], pads[r:]
    elif auto_pad == "VALID":
        begins, ends = [0] * r, [0] * r
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        begins, ends = [], []
        for n, s, ek in zip(in_shape, strides, eff_k):
            out = -(-n // s)
            total = max(0, (out - 1) * s + ek - n)
            small, big = total // 2, total - total // 2
            begins.append(small if auto_pad == "SAME_UPPER" else big)
            ends.append(big if auto_pad == "SAME_UPPER" else small)
    else:
        raise NumericsError(f"auto_pad={auto_pad!r}: unknown, allowed NOTSET, VALID, SAME_UPPER, SAME_LOWER")
    out_shape = [(n + pb + pe - ek) // s + 1
                 for n, pb, pe, ek, s in zip(in_shape, begins, ends, eff_k, strides)]
    if any(o < 1 for o in out_shape):
        raise NumericsError(f"convolution output would be empty: input {list(in_shape)}, "
                            f"kernel {list(kernel)}, pads {begins + ends}, dilations {dilations}")
    return strides, dilations, begins, ends, out_shape


def _conv_exact(X: np.ndarray, W: np.ndarray, group: int, strides, pads, dilations,
                auto_pad: str) -> np.ndarray:
    """Exact int64 grouped convolution of zero-point-free operands (pads are zeros)."""
    n, c = X.shape[:2]
    m, cg = W.shape[:2]
    kernel = W.shape[2:]
    if X.ndim != W.ndim or X.ndim < 3:
        raise NumericsError(f"x {X.shape} and w {W.shape}: need (N, C, *spatial) and "
                            "(M, C/group, *kernel) with the same rank >= 3")
    if group < 1 or c % group or m % group or cg != c // group:
        raise NumericsError(f"group={group}: x has {c} channels and w {W.shape} "
                            f"(needs C % group == 0, M % group == 0, w.shape[1] == C/group)")
    strides, dilations, begins, ends, out_shape = conv_geometry(
        X.shape[2:], kernel, strides, pads, dilations, auto_pad)
    Xp = np.pad(X, [(0, 0), (0, 0)] + list(zip(begins, ends)))
    Xg = Xp.reshape(n, group, cg, *Xp.shape[2:])
    Wg = W.reshape(group, m // group, cg, *kernel)
    out = np.zeros((n, group, m // group, *out_shape), dtype=np.int64)
    for k in np.ndindex(*kernel):
        window = tuple(slice(ki * d, ki * d + (o - 1) * s + 1, s)
                       for ki, d, o, s in zip(k, dilations, out_shape, strides))
        xs = Xg[(slice(None), slice(None), slice(None)) + window]      # (N, G, Cg, *O)
        ws = Wg[(slice(None), slice(None), slice(None)) + k]           # (G, Mg, Cg)
        out += np.einsum("ngc...,gmc->ngm...", xs, ws)
    return out.reshape(n, m, *out_shape)


def conv_integer(x, w, x_zero_point=None, w_zero_point=None, *, auto_pad: str = "NOTSET",
                 dilations=None, group: int = 1, kernel_shape=None, pads=None,
                 strides=None) -> np.ndarray:
    """ONNX ConvInteger: int32 convolution of ``x - x_zero_point`` by ``w - w_zero_point``.

    ``x`` ``(N, C, *spatial)``, ``w`` ``(M, C/group, *kernel)``, int8/uint8.
    ``x_zero_point`` is a scalar; ``w_zero_point`` a scalar or one per output channel.
    Padding is with ``x_zero_point`` (a zero after subtracting it). ``pads`` is
    ``[begin_0, ..., begin_r, end_0, ..., end_r]``; ``auto_pad`` NOTSET, VALID,
    SAME_UPPER or SAME_LOWER. The exact sum wraps to int32.
    """
    x = np.asarray(x)
    w = np.asarray(w)
    _qtype("x", x)
    _qtype("w", w)
    if kernel_shape is not None and list(kernel_shape) != list(w.shape[2:]):
        raise NumericsError(f"kernel_shape={list(kernel_shape)}: must equal w.shape[2:]={list(w.shape[2:])}")
    xzp = _scalar("x_zero_point", _zero_point("x_zero_point", x_zero_point, x))
    wzp = _zero_point("w_zero_point", w_zero_point, w)
    if wzp.ndim == 1 and wzp.size == w.shape[0]:
        wzp = wzp.reshape((-1,) + (1,) * (w.ndim - 1))
    else:
        wzp = _scalar("w_zero_point", wzp)
    X = x.astype(np.int64) - xzp
    W = w.astype(np.int64) - wzp
    acc = _conv_exact(X, W, int(group), strides, pads, dilations, auto_pad)
    return wrap_int32(acc).astype(np.int32)


# --------------------------------------------------------------------------------------
# quantized linear ops (requantized by numerics, onnxruntime's float32 scheme)
# --------------------------------------------------------------------------------------
def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
                   y_zero_point) -> np.ndarray:
    """ONNX QLinearMatMul, bit-exact to onnxruntime.

    1. ``acc = matmul_integer(a, b, a_zero_point, b_zero_point)`` (int32)
    2. ``scale = onnx_effective_scale(a_scale, b_scale, y_scale)`` (float32)
    3. :func:`~.numerics.requantize` with the ``"onnx"`` scheme, zero point
       ``y_zero_point``, output type of ``y_zero_point`` (saturating to its range).

    ``a_scale``, ``y_scale``, ``y_zero_point`` are scalars; ``b_scale``/``b_zero_point``
    scalar or per column (``N`` elements, or ``[..., 1, N]`` matching b's batch dims).
    Float16 scales are widened exactly to float32 (onnxruntime computes in float32).
    """
    acc = matmul_integer(a, b, a_zero_point, b_zero_point)
    yzp = np.asarray(y_zero_point)
    out_dtype = _qtype("y_zero_point", yzp)
    yzp = int(_scalar("y_zero_point", yzp))
    a_s = _scalar("a_scale", a_scale)
    y_s = _scalar("y_scale", y_scale)
    b_s = np.asarray(b_scale)
    if b_s.ndim <= 1:
        scale = onnx_effective_scale(a_s, b_s.reshape(-1) if b_s.size > 1 else b_s.reshape(()), y_s)
        params = RequantParams.from_onnx_scale(scale, yzp, out_dtype)
        return requantize(acc, params, axis=-1)
    # Batched per-column parameters [..., 1, N]: same arithmetic, broadcast over batches.
    scale = onnx_effective_scale(a_s, b_s, y_s)
    lo, hi, np_dtype = OUTPUT_TYPES[out_dtype]
    return float32_scale_round(acc, scale, yzp, lo, hi).astype(np_dtype)


def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point,
                 B=None, *, auto_pad: str = "NOTSET", dilations=None, group: int = 1,
                 kernel_shape=None, pads=None, strides=None) -> np.ndarray:
    """ONNX QLinearConv, bit-exact to onnxruntime.

    1. ``acc = conv_integer(x, w, x_zero_point, w_zero_point, ...)`` (int32, NCHW)
    2. ``scale[m] = onnx_effective_scale(x_scale, w_scale[m], y_scale)`` (float32)
    3. :func:`~.numerics.requantize` along the channel axis 1 with bias ``B`` (int32, one
       per output channel, added with int32 wraparound), zero point ``y_zero_point``,
       output type of ``y_zero_point``.

    ``w_scale``/``w_zero_point`` are scalars or one per output channel (per-channel).
    """
    acc = conv_integer(x, w, x_zero_point, w_zero_point, auto_pad=auto_pad, dilations=dilations,
                       group=group, kernel_shape=kernel_shape, pads=pads, strides=strides)
    yzp = np.asarray(y_zero_point)
    out_dtype = _qtype("y_zero_point", yzp)
    m = acc.shape[1]
    w_s = np.asarray(w_scale)
    if w_s.size == 1:
        w_s = w_s.reshape(())
    elif w_s.ndim != 1 or w_s.size != m:
        raise NumericsError(f"w_scale: must be a scalar or {m} values (one per output channel), "
                            f"got shape {w_s.shape}")
    scale = onnx_effective_scale(_scalar("x_scale", x_scale), w_s, _scalar("y_scale", y_scale))
    params = RequantParams.from_onnx_scale(scale, int(_scalar("y_zero_point", yzp)), out_dtype)
    bias = None
    if B is not None:
        bias = np.asarray(B)
        if bias.dtype != np.int32 or bias.shape != (m,):
            raise NumericsError(f"B: must be int32 with shape ({m},), got {bias.dtype} {bias.shape}")
    return requantize(acc, params, bias=bias, axis=1)


# --------------------------------------------------------------------------------------
# quantize / dequantize
# --------------------------------------------------------------------------------------
def _per_axis(name: str, v: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    if v.size == 1:
        return v.reshape(())
    if v.ndim != 1:
        raise NumericsError(f"{name}: must be a scalar or 1-D (per axis), got shape {v.shape} "
                            "(blocked quantization is not modelled)")
    if not -len(shape) <= axis < len(shape):
        raise NumericsError(f"axis={axis}: out of range for rank {len(shape)}")
    ax = axis % len(shape)
    if v.size != shape[ax]:
        raise NumericsError(f"{name}: {v.size} values but axis {axis} has {shape[ax]}")
    dims = [1] * len(shape)
    dims[ax] = v.size
    return v.reshape(dims)


def quantize_linear(x, y_scale, y_zero_point=None, *, axis: int = 1,
                    output_dtype: str | None = None) -> np.ndarray:
    """ONNX QuantizeLinear to int8/uint8, as onnxruntime's MLAS does it.

    1. ``f = float32(x) / float32(y_scale)`` (float32 division, round to nearest even)
    2. ``f = clamp(f, qmin - zp, qmax - zp)``; NaN becomes ``qmin - zp`` (SSE
       ``maxps``/``minps`` return the bound when the input is NaN)
    3. ``q = round_half_even(f) + zp``

    ``y_scale``/``y_zero_point`` scalar or per ``axis`` (1-D). The output type is the zero
    point's dtype, else ``output_dtype`` (``"int8"``/``"uint8"``), else uint8 (ONNX default).
    ``x`` is rounded to float32 first, as an ONNX float tensor holds it.
    """
    x = np.asarray(x).astype(np.float32)
    if y_zero_point is not None:
        zp_arr = np.asarray(y_zero_point)
        qt = _qtype("y_zero_point", zp_arr)
        if output_dtype is not None and output_dtype != qt:
            raise NumericsError(f"output_dtype={output_dtype!r} does not match y_zero_point's {qt}")
    else:
        qt = output_dtype or "uint8"
        if qt not in OUTPUT_TYPES:
            raise NumericsError(f"output_dtype={qt!r}: unknown, allowed one of {list(OUTPUT_TYPES)}")
        zp_arr = np.zeros((), dtype=OUTPUT_TYPES[qt][2])
    lo, hi, np_dtype = OUTPUT_TYPES[qt]
    scale = np.asarray(y_scale)
    if scale.dtype != np.float32:
        raise NumericsError(f"y_scale: dtype {scale.dtype} not supported, allowed float32")
    if scale.size and not np.all(np.isfinite(scale) & (scale > 0)):
        raise NumericsError("y_scale: must be positive and finite, allowed (0, 3.4e38]")
    scale = _per_axis("y_scale", scale, x.shape, axis)
    zp = _per_axis("y_zero_point", zp_arr.astype(np.int64), x.shape, axis)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        f = np.divide(x, scale, dtype=np.float32)                      # step 1
    lo_f = (lo - zp).astype(np.float32)
    hi_f = (hi - zp).astype(np.float32)
    f = np.where(np.isnan(f), lo_f, f)                                  # step 2
    f = np.minimum(np.maximum(f, lo_f), hi_f)
    q = np.rint(f).astype(np.int64) + zp                                # step 3
    return q.astype(np_dtype)


def dequantize_linear(x, x_scale, x_zero_point=None, *, axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear from int8/uint8: ``float32(int32(x) - zp) * x_scale``.

    One float32 multiply (the difference is exact in float32). ``x_scale`` (float32) and
    ``x_zero_point`` scalar or per ``axis``. Returns float32.
    """
    x = np.asarray(x)
    _qtype("x", x)
    zp = _zero_point("x_zero_point", x_zero_point, x)
    scale = np.asarray(x_scale)
    if scale.dtype != np.float32:
        raise NumericsError(f"x_scale: dtype {scale.dtype} not supported, allowed float32")
    scale = _per_axis("x_scale", scale, x.shape, axis)
    zp = _per_axis("x_zero_point", zp, x.shape, axis)
    d = (x.astype(np.int64) - zp).astype(np.float32)
    return np.multiply(d, scale, dtype=np.float32)
