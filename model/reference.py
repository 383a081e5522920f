"""Layer-level quantized math, written directly (no tiling), in ONNX's shapes and semantics.

The golden reference that the compiler's tiled programs and the hardware must reproduce.
Each function follows the ONNX operator of the same name (opset 10..25 semantics for
int8/uint8); requantization goes through :mod:`.numerics` with onnxruntime's float32
scheme, so results are bit-exact to onnxruntime's CPU kernels.

Integer accumulation is exact (int64) and the int32 result wraps modulo 2^32, as the ONNX
spec allows ("accumulation may overflow if and only if in 32 bits") and as onnxruntime's
int32 GEMMs do.

Shapes: ``matmul_integer`` / ``qlinear_matmul`` follow ``numpy.matmul`` (batched, broadcast);
convolutions are channels-first ``(N, C, *spatial)`` with weights ``(M, C/group, *kernel)``,
any number of spatial dimensions (1-D, 2-D, 3-D).

The layer API below them (``linear``, ``conv2d``, ``clamp``/``relu``/``relu6``,
``max_pool2d``, ``avg_pool2d``, ``add``) is what the driver's compiler targets: NCHW,
framework-neutral, requantized by :class:`~.numerics.RequantParams` of either scheme
(TFLite fixed point or onnxruntime float32), with every integer step written out.
``qlinear_average_pool`` and ``qlinear_add`` model onnxruntime's com.microsoft operators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .numerics import (
    INT32_MAX,
    INT32_MIN,
    NumericsError,
    OUTPUT_TYPES,
    RequantParams,
    activation_range,
    float32_scale_round,
    multiply_by_quantized_multiplier,
    onnx_effective_scale,
    quantize_multiplier,
    requantize,
    wrap_int32,
)

__all__ = [
    # ONNX operators
    "matmul_integer",
    "conv_integer",
    "qlinear_matmul",
    "qlinear_conv",
    "quantize_linear",
    "dequantize_linear",
    # layer API (what the compiler targets)
    "linear",
    "conv2d",
    "clamp",
    "relu",
    "relu6",
    "max_pool2d",
    "avg_pool2d",
    "add",
    "add_tflite_params",
    "AddParams",
    # onnxruntime contrib operators
    "qlinear_average_pool",
    "qlinear_add",
]

_QTYPES = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8"}


def _qtype(name: str, a: np.ndarray) -> str:
    if a.dtype not in _QTYPES:
        raise NumericsError(f"{name}: dtype {a.dtype} not supported, allowed int8 or uint8")
    return _QTYPES[a.dtype]


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


def _conv_geometry(in_shape: Sequence[int], kernel: Sequence[int], strides, pads, dilations,
                   auto_pad: str):
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
    strides, dilations, begins, ends, out_shape = _conv_geometry(
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


# ======================================================================================
# Layer API: what the driver's compiler targets
# ======================================================================================
# Framework-neutral quantized layers, NCHW, every integer step explicit. Each one is built
# on the ONNX-semantics primitives above (matmul_integer / conv_integer) and the
# requantization lane of :mod:`.numerics`, so the same arithmetic the hardware implements
# (int32 accumulate, bias, scale, zero point, clamp) is the arithmetic checked here.
#
# Conventions shared by every layer:
#   * quantized tensors are numpy int8 or uint8 arrays; zero points are Python ints (or
#     numpy integers) inside their tensor's type;
#   * ``kernel``, ``stride``, ``dilation``: an int (both spatial axes) or a pair (h, w);
#   * ``padding``: an int (all four sides), a pair (ph, pw) (symmetric per axis), or
#     ``((top, bottom), (left, right))``;
#   * every bad argument raises :class:`~.numerics.NumericsError` naming it and its
#     allowed range.
# --------------------------------------------------------------------------------------
def _quantized(name: str, a, ndim: int | None = None, shape_doc: str = "") -> tuple[np.ndarray, str]:
    a = np.asarray(a)
    qt = _qtype(name, a)
    if ndim is not None and a.ndim != ndim:
        raise NumericsError(f"{name}: must be {ndim}-D {shape_doc}, got shape {a.shape}")
    if 0 in a.shape:
        raise NumericsError(f"{name}: must not be empty, got shape {a.shape}")
    return a, qt


def _int_zero_point(name: str, zp, qtype: str) -> int:
    """A per-tensor zero point as a Python int inside ``qtype``'s range."""
    a = np.asarray(zp)
    if a.size != 1:
        raise NumericsError(f"{name}: must be a scalar (per tensor), got shape {a.shape}")
    v = a.reshape(()).item()
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise NumericsError(f"{name}={v!r}: must be an integer")
    lo, hi, _ = OUTPUT_TYPES[qtype]
    if not lo <= int(v) <= hi:
        raise NumericsError(f"{name}={int(v)}: out of range for {qtype}, allowed {lo}..{hi}")
    return int(v)


def _channel_zero_points(name: str, zp, qtype: str, channels: int) -> np.ndarray:
    """Weight zero point(s): a scalar, or one per output channel; int64 array."""
    a = np.asarray(0 if zp is None else zp)
    if a.size == 1:
        return np.asarray(_int_zero_point(name, a, qtype), dtype=np.int64)
    if a.ndim != 1 or a.size != channels:
        raise NumericsError(f"{name}: must be a scalar or {channels} values (one per output "
                            f"channel), got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        raise NumericsError(f"{name}: must be integers, got dtype {a.dtype}")
    lo, hi, _ = OUTPUT_TYPES[qtype]
    if a.min() < lo or a.max() > hi:
        bad = int(a.min()) if a.min() < lo else int(a.max())
        raise NumericsError(f"{name}={bad}: out of range for {qtype}, allowed {lo}..{hi}")
    return a.astype(np.int64)


def _pair(name: str, v, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``minimum``."""
    vals = (v, v) if isinstance(v, (int, np.integer)) and not isinstance(v, bool) else v
    try:
        vals = tuple(vals)
    except TypeError:
        raise NumericsError(f"{name}={v!r}: must be an int or a pair (h, w) of ints") from None
    if len(vals) != 2 or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) for x in vals):
        raise NumericsError(f"{name}={v!r}: must be an int or a pair (h, w) of ints")
    if any(x < minimum for x in vals):
        raise NumericsError(f"{name}={v!r}: each value must be >= {minimum}")
    return int(vals[0]), int(vals[1])


def _padding(v) -> tuple[tuple[int, int], tuple[int, int]]:
    """``padding`` as ((top, bottom), (left, right)), all >= 0."""
    try:
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
            p = _pair("padding", v, 0)
            return (p[0], p[0]), (p[1], p[1])
        items = tuple(v)
        if len(items) == 2 and all(isinstance(x, (int, np.integer)) for x in items):
            p = _pair("padding", items, 0)
            return (p[0], p[0]), (p[1], p[1])
        if len(items) == 2:
            return _pair("padding", items[0], 0), _pair("padding", items[1], 0)
    except (TypeError, NumericsError):
        pass
    raise NumericsError(f"padding={v!r}: must be an int, a pair (ph, pw) or "
                        "((top, bottom), (left, right)) of ints >= 0")


def _window_geometry(spatial: tuple[int, int], kernel, stride, padding, dilation):
    """Output size per axis for a 2-D sliding window; raises if it would be empty."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (pt, pb), (pl, pr) = padding
    eff = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
    out = ((spatial[0] + pt + pb - eff[0]) // sh + 1, (spatial[1] + pl + pr - eff[1]) // sw + 1)
    if spatial[0] + pt + pb < eff[0] or spatial[1] + pl + pr < eff[1]:
        raise NumericsError(f"kernel={kernel} with dilation={dilation}: the window (extent {eff}) "
                            f"does not fit the padded input {spatial} + padding {padding}")
    return out


# --------------------------------------------------------------------------------------
# linear and conv2d
# --------------------------------------------------------------------------------------
def _check_params(params: RequantParams, channels: int) -> None:
    if not isinstance(params, RequantParams):
        raise NumericsError(f"params: must be a RequantParams, got {type(params).__name__}")
    if params.channels is not None and params.channels != channels:
        raise NumericsError(f"params: per-channel fields have {params.channels} values, "
                            f"the layer has {channels} output channels")


def _check_bias(bias, channels: int) -> np.ndarray | None:
    if bias is None:
        return None
    b = np.asarray(bias)
    if not np.issubdtype(b.dtype, np.integer) or b.shape != (channels,):
        raise NumericsError(f"bias: must be {channels} integers (one per output channel, "
                            f"int32 range), got dtype {b.dtype} shape {b.shape}")
    if b.size and (b.min() < INT32_MIN or b.max() > INT32_MAX):
        raise NumericsError(f"bias: out of range, allowed {INT32_MIN}..{INT32_MAX} (int32)")
    return b.astype(np.int64)


def linear(x, w, bias, x_zp, w_zp, params: RequantParams) -> np.ndarray:
    """Quantized fully connected layer: ``y[n, m] = requant(sum_k (x - x_zp)(w - w_zp) + b)``.

    ``x`` ``(N, K)`` int8/uint8; ``w`` ``(K, M)`` int8 (or uint8); ``bias`` ``(M,)`` int32
    or None; ``x_zp`` scalar; ``w_zp`` scalar or ``(M,)`` (per output channel; int8
    symmetric weights have 0). ``params`` (either scheme, per tensor or ``M`` channels)
    carries scale, output zero point, output type and the activation clamp.

    1. ``acc[n, m] = sum_k (x[n, k] - x_zp) * (w[k, m] - w_zp[m])`` exact, wrapped to int32
       (:func:`matmul_integer`)
    2. ``y = requantize(acc, params, bias=bias, axis=-1)``: ``acc + bias[m]`` (int32 wrap),
       scale, ``+ zero_point``, clamp to ``[qmin, qmax]``, cast to ``params.out_dtype``.

    With ``params`` from ``RequantParams.for_layer("onnx", ...)`` and no bias this is
    ONNX QLinearMatMul; with a bias it is QLinearConv with a 1x1 kernel.
    """
    x, xt = _quantized("x", x, 2, "(N, K)")
    w, wt = _quantized("w", w, 2, "(K, M)")
    if x.shape[1] != w.shape[0]:
        raise NumericsError(f"x {x.shape} and w {w.shape}: inner dimensions differ "
                            "(need x (N, K), w (K, M))")
    m = w.shape[1]
    _check_params(params, m)
    b = _check_bias(bias, m)
    xzp = _int_zero_point("x_zp", x_zp, xt)
    wzp = _channel_zero_points("w_zp", w_zp, wt, m)
    acc = wrap_int32((x.astype(np.int64) - xzp) @ (w.astype(np.int64) - wzp))   # step 1
    return requantize(acc, params, bias=b, axis=-1)                             # step 2


def conv2d(x, w, bias, x_zp, w_zp, params: RequantParams, stride=1, padding=0, dilation=1,
           groups: int = 1) -> np.ndarray:
    """Quantized 2-D convolution, NCHW, grouped or depthwise.

    ``x`` ``(N, C, H, W)`` int8/uint8; ``w`` ``(M, C/groups, kh, kw)``; ``bias`` ``(M,)``
    int32 or None; ``x_zp`` scalar; ``w_zp`` scalar or ``(M,)``. ``groups`` divides C and
    M; depthwise is ``groups == C`` (``M = C * depth_multiplier``; output channel
    ``g * M/groups + j`` reads input channel ``g``).

    1. ``acc = conv_integer(x, w, x_zp, w_zp, ...)``: the input padded with ``x_zp``
       (a real zero), ``acc[n, m, i, j] = sum_{c, ki, kj} (xp[n, g*C/groups + c,
       i*sh + ki*dh, j*sw + kj*dw] - x_zp) * (w[m, c, ki, kj] - w_zp[m])``, exact, then
       wrapped to int32
    2. ``y = requantize(acc, params, bias=bias, axis=1)`` (per output channel on axis 1)

    Output size per axis: ``(H + pad_begin + pad_end - ((k - 1) * d + 1)) // s + 1``.
    """
    x, xt = _quantized("x", x, 4, "(N, C, H, W)")
    w, wt = _quantized("w", w, 4, "(M, C/groups, kh, kw)")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise NumericsError(f"groups={groups!r}: must be an int >= 1")
    c, m = x.shape[1], w.shape[0]
    if c % groups or m % groups or w.shape[1] != c // groups:
        raise NumericsError(f"groups={groups}: x has C={c} channels and w shape {w.shape}; need "
                            "C % groups == 0, M % groups == 0 and w.shape[1] == C / groups")
    stride = _pair("stride", stride, 1)
    dilation = _pair("dilation", dilation, 1)
    pads = _padding(padding)
    _window_geometry(x.shape[2:], w.shape[2:], stride, pads, dilation)
    _check_params(params, m)
    b = _check_bias(bias, m)
    xzp = np.asarray(_int_zero_point("x_zp", x_zp, xt), dtype=x.dtype)
    wzp = _channel_zero_points("w_zp", w_zp, wt, m).astype(w.dtype)
    (pt, pb), (pl, pr) = pads
    acc = conv_integer(x, w, xzp, wzp, group=int(groups), strides=list(stride),      # step 1
                       dilations=list(dilation), pads=[pt, pl, pb, pr])
    return requantize(acc, params, bias=b, axis=1)                                  # step 2


# --------------------------------------------------------------------------------------
# activations
# --------------------------------------------------------------------------------------
def clamp(x, qmin: int, qmax: int) -> np.ndarray:
    """``min(max(x, qmin), qmax)`` on quantized values, same dtype (an unfused activation).

    ``qmin <= qmax``, both inside x's type. ReLU/ReLU6 in the quantized domain are exactly
    this clamp with bounds from :func:`~.numerics.activation_range`.
    """
    x, qt = _quantized("x", x)
    lo, hi, _ = OUTPUT_TYPES[qt]
    for name, v in (("qmin", qmin), ("qmax", qmax)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise NumericsError(f"{name}={v!r}: must be an int inside {qt}, allowed {lo}..{hi}")
    if qmin > qmax:
        raise NumericsError(f"qmin={qmin} > qmax={qmax}: need qmin <= qmax")
    return np.minimum(np.maximum(x, x.dtype.type(qmin)), x.dtype.type(qmax))


def relu(x, scale: float, zero_point: int) -> np.ndarray:
    """Quantized ReLU: ``clamp(x, max(lo, zero_point), hi)`` (x's scale and zero point).

    Bounds from ``activation_range("relu", scale, zero_point, dtype)``; equal to
    ``Quantize(Relu(Dequantize(x)))`` with the same scale and zero point.
    """
    x, qt = _quantized("x", x)
    return clamp(x, *activation_range("relu", scale, _int_zero_point("zero_point", zero_point, qt), qt))


def relu6(x, scale: float, zero_point: int) -> np.ndarray:
    """Quantized ReLU6: ``clamp(x, max(lo, zp), min(hi, zp + round(6 / scale)))``.

    Bounds from ``activation_range("relu6", scale, zero_point, dtype)`` (TFLite's
    CalculateActivationRangeQuantized: float32 ``6 / scale``, rounded half away from zero).
    Equal to ``Quantize(Clip(Dequantize(x), 0, 6))`` with the same scale and zero point,
    except where ``6 / scale`` is an exact .5 tie (scale 4 or 12), which QuantizeLinear
    rounds half to even.
    """
    x, qt = _quantized("x", x)
    return clamp(x, *activation_range("relu6", scale, _int_zero_point("zero_point", zero_point, qt), qt))


# --------------------------------------------------------------------------------------
# pooling
# --------------------------------------------------------------------------------------
def _pool_windows(x: np.ndarray, kernel, stride, pads, dilation, fill: int):
    """Yield, per kernel offset (row-major), the (N, C, OH, OW) window values and a
    validity mask (False where the tap lies in the padding, which holds ``fill``)."""
    (pt, pb), (pl, pr) = pads
    oh, ow = _window_geometry(x.shape[2:], kernel, stride, pads, dilation)
    xp = np.pad(x.astype(np.int64), [(0, 0), (0, 0), (pt, pb), (pl, pr)], constant_values=fill)
    vp = np.pad(np.ones(x.shape[2:], dtype=bool), [(pt, pb), (pl, pr)], constant_values=False)
    (sh, sw), (dh, dw) = stride, dilation
    for ki in range(kernel[0]):
        for kj in range(kernel[1]):
            rows = slice(ki * dh, ki * dh + (oh - 1) * sh + 1, sh)
            cols = slice(kj * dw, kj * dw + (ow - 1) * sw + 1, sw)
            yield xp[:, :, rows, cols], vp[rows, cols]


def _valid_counts(x_shape, kernel, stride, pads, dilation) -> np.ndarray:
    """Number of non-padding taps per output position (OH, OW); raises if any is 0."""
    counts = 0
    dummy = np.zeros((1, 1) + tuple(x_shape[2:]), dtype=np.int8)
    for _, valid in _pool_windows(dummy, kernel, stride, pads, dilation, 0):
        counts = counts + valid.astype(np.int64)
    if np.any(counts == 0):
        i, j = np.argwhere(counts == 0)[0]
        raise NumericsError(f"padding={pads}, dilation={dilation}: the window of output "
                            f"({i}, {j}) covers only padding; reduce padding")
    return counts


def _pool_args(x, kernel, stride, padding, dilation=1):
    x, qt = _quantized("x", x, 4, "(N, C, H, W)")
    kernel = _pair("kernel", kernel, 1)
    stride = _pair("stride", stride, 1)
    dilation = _pair("dilation", dilation, 1)
    pads = _padding(padding)
    counts = _valid_counts(x.shape, kernel, stride, pads, dilation)
    return x, qt, kernel, stride, pads, dilation, counts


def _clamp_bounds(qt: str, qmin, qmax) -> tuple[int, int]:
    lo, hi, _ = OUTPUT_TYPES[qt]
    qmin = lo if qmin is None else qmin
    qmax = hi if qmax is None else qmax
    for name, v in (("qmin", qmin), ("qmax", qmax)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise NumericsError(f"{name}={v!r}: must be an int inside {qt}, allowed {lo}..{hi}")
    if qmin > qmax:
        raise NumericsError(f"qmin={qmin} > qmax={qmax}: need qmin <= qmax")
    return int(qmin), int(qmax)


def max_pool2d(x, kernel, stride, padding=0, dilation=1, *, qmin=None, qmax=None) -> np.ndarray:
    """Max pooling on quantized values, NCHW (exact: max commutes with the affine map).

    ``y[n, c, i, j] = max over taps (ki, kj) inside the input of x[n, c, i*sh + ki*dh - pt,
    j*sw + kj*dw - pl]``, then ``clamp(y, qmin, qmax)`` (a fused activation; default the
    whole type). Padding never wins: it holds the type minimum, and every window must
    contain at least one input element (else NumericsError). Output dtype = x's.
    """
    x, qt, kernel, stride, pads, dilation, _ = _pool_args(x, kernel, stride, padding, dilation)
    qmin, qmax = _clamp_bounds(qt, qmin, qmax)
    lo = OUTPUT_TYPES[qt][0]
    out = None
    for vals, _ in _pool_windows(x, kernel, stride, pads, dilation, lo):
        out = vals if out is None else np.maximum(out, vals)
    return np.clip(out, qmin, qmax).astype(x.dtype)


def avg_pool2d(x, kernel, stride, padding=0, count_include_pad: bool = False, *, x_zp=None,
               qmin=None, qmax=None) -> np.ndarray:
    """Average pooling on quantized values, NCHW: TFLite's integer AveragePool.

    Input and output share scale and zero point (TFLite requires it). Per output element,
    as ``reference_integer_ops::AveragePool`` (int8) and ``reference_ops::AveragePool``
    (uint8) in ``tensorflow/lite/kernels/internal/reference``:

    1. ``acc = sum of the stored values x (zero point not subtracted) over the window's
       taps inside the input``; ``count = number of those taps``
    2. ``acc = (acc + count//2) // count`` if ``acc > 0`` else ``-((-acc + count//2) //
       count)``, i.e. TFLite's ``(acc +- count/2) / count`` with C++ truncating division:
       ``acc / count`` rounded to nearest, **ties away from zero**
    3. ``y = clamp(acc, qmin, qmax)`` (fused activation, default the whole type), cast.

    ``count_include_pad=True`` (not a TFLite mode; ONNX's and PyTorch's flag): the padding
    holds ``x_zp`` (a real 0, so ``x_zp`` is required) and ``count`` is always
    ``kh * kw`` -- exactly TFLite's AveragePool on the input explicitly padded with
    ``x_zp`` and no padding. No dilation (neither TFLite nor ONNX's QLinearAveragePool has
    it). Every window must contain at least one input element.
    """
    x, qt, kernel, stride, pads, dilation, counts = _pool_args(x, kernel, stride, padding)
    qmin, qmax = _clamp_bounds(qt, qmin, qmax)
    if count_include_pad:
        if x_zp is None:
            raise NumericsError("x_zp: required with count_include_pad=True (padding holds it)")
        fill = _int_zero_point("x_zp", x_zp, qt)
        counts = np.full_like(counts, kernel[0] * kernel[1])
    else:
        fill = 0
    acc = 0
    for vals, valid in _pool_windows(x, kernel, stride, pads, dilation, fill):      # step 1
        acc = acc + (vals if count_include_pad else np.where(valid, vals, 0))
    half = counts // 2
    q = np.where(acc > 0, (acc + half) // counts, -((-acc + half) // counts))     # step 2
    return np.clip(q, qmin, qmax).astype(x.dtype)                                 # step 3


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
        n = x.shape[2] * x.shape[3]
        with np.errstate(over="ignore", under="ignore"):
            scale = np.float32(xs / np.float32(ys * np.float32(n)))
        if not (2.0 ** -32 <= scale < 256.0):
            raise NumericsError(f"x_scale / (y_scale * {n}) = {float(scale)!r}: out of "
                                "onnxruntime's global-pool range, allowed [2^-32, 256)")
        acc = x.astype(np.int64).sum(axis=(2, 3), keepdims=True) - xzp * n
        return float32_scale_round(acc, scale, yzp, lo, hi).astype(np_dtype)
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


def _as_scale32(name: str, v) -> float:
    a = np.asarray(v)
    if a.size != 1:
        raise NumericsError(f"{name}: must be a scalar, got shape {a.shape}")
    with np.errstate(over="ignore"):
        s = np.float32(a.reshape(()).astype(np.float64))
    if not (np.isfinite(s) and s > 0):
        raise NumericsError(f"{name}={a.reshape(()).item()!r}: must be a positive finite "
                            "float32, allowed (1.4e-45, 3.4e38]")
    return s


# --------------------------------------------------------------------------------------
# residual add
# --------------------------------------------------------------------------------------
ADD_LEFT_SHIFT = 20
ADD_SCHEMES = ("tflite", "onnx")


@dataclass(frozen=True)
class AddParams:
    """Host-computed integer parameters of TFLite's quantized Add (``kernels/add.cc``).

    ``a_offset``/``b_offset`` are the negated input zero points, ``left_shift`` is 20;
    each (multiplier, shift) pair is a Q0.31 multiplier and a shift <= 0 (a right shift).
    """

    a_offset: int
    b_offset: int
    y_offset: int
    left_shift: int
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    y_multiplier: int
    y_shift: int
    qmin: int
    qmax: int
    rounding: str = "double"


def _smaller_than_one_exp(name: str, real: float, rounding: str) -> tuple[int, int]:
    """TFLite's QuantizeMultiplierSmallerThanOneExp: CHECKs ``0 < real < 1``, shift <= 0."""
    if not 0.0 < real < 1.0:
        raise NumericsError(f"{name}={real!r}: TFLite's Add needs it in (0, 1)")
    m, s = quantize_multiplier(real, rounding)
    if s > 0:  # unreachable for real < 1; kept as TFLite's TFLITE_CHECK_LE(shift, 0)
        raise NumericsError(f"{name}={real!r}: shift {s} > 0")
    return m, s


def add_tflite_params(a_scale, a_zp: int, b_scale, b_zp: int, y_scale, y_zp: int,
                      out_dtype: str = "int8", *, activation: str = "none",
                      rounding: str = "double") -> AddParams:
    """TFLite's Add Prepare (``tensorflow/lite/kernels/add.cc``), host side, float64.

    Scales are float32 tensor parameters (rounded to float32 here first):

    1. ``twice_max = double(2 * max(a_scale, b_scale))`` (float32 doubling, exact)
    2. ``real_a = double(a_scale) / twice_max``, ``real_b = double(b_scale) / twice_max``
       (each <= 0.5)
    3. ``real_y = twice_max / double(float32(2^20 * y_scale))`` (the ``int * float``
       product is float32, exact); must be < 1, i.e. ``max(a_scale, b_scale) / y_scale <
       2^19``
    4. each real multiplier -> (multiplier, shift) by QuantizeMultiplierSmallerThanOneExp
       (:func:`~.numerics.quantize_multiplier`, shift <= 0)
    5. ``(qmin, qmax) = activation_range(activation, y_scale, y_zp, out_dtype)``
    """
    if out_dtype not in OUTPUT_TYPES:
        raise NumericsError(f"out_dtype={out_dtype!r}: unknown, allowed one of {list(OUTPUT_TYPES)}")
    a_s, b_s, y_s = (_as_scale32(n, v) for n, v in
                     (("a_scale", a_scale), ("b_scale", b_scale), ("y_scale", y_scale)))
    twice_max = float(np.float32(2) * max(a_s, b_s))                              # step 1
    real_a = float(a_s) / twice_max                                               # step 2
    real_b = float(b_s) / twice_max
    with np.errstate(over="ignore"):
        denom = np.float32(np.float32(1 << ADD_LEFT_SHIFT) * y_s)
    real_y = twice_max / float(denom)                                             # step 3
    if not real_y < 1.0:
        raise NumericsError(f"max(a_scale, b_scale) / y_scale = {max(a_s, b_s) / y_s:.6g}: "
                            "TFLite's Add needs it < 2^19 (output multiplier < 1)")
    am, ash = _smaller_than_one_exp("a_scale / (2 * max input scale)", real_a, rounding)  # step 4
    bm, bsh = _smaller_than_one_exp("b_scale / (2 * max input scale)", real_b, rounding)
    ym, ysh = _smaller_than_one_exp("2 * max input scale / (2^20 * y_scale)", real_y, rounding)
    qmin, qmax = activation_range(activation, float(y_s), int(y_zp), out_dtype)   # step 5
    return AddParams(-int(a_zp), -int(b_zp), int(y_zp), ADD_LEFT_SHIFT, am, ash, bm, bsh,
                     ym, ysh, qmin, qmax, rounding)


def _add_tflite_apply(a: np.ndarray, b: np.ndarray, p: AddParams, np_dtype) -> np.ndarray:
    """TFLite's integer AddFunc (``reference_integer_ops/add.h``; uint8: ``reference_ops``)."""
    mbqm = lambda v, m, s: multiply_by_quantized_multiplier(v, m, s, p.rounding)  # noqa: E731
    a_val = a.astype(np.int64) + p.a_offset                       # 1. remove zero points
    b_val = b.astype(np.int64) + p.b_offset
    a_sh = a_val << p.left_shift                                  # 2. * 2^20 (|.| < 2^28)
    b_sh = b_val << p.left_shift
    a_sc = mbqm(a_sh, p.a_multiplier, p.a_shift)                  # 3. to the common scale
    b_sc = mbqm(b_sh, p.b_multiplier, p.b_shift)
    raw_sum = a_sc + b_sc                                         # 4. add (fits int32)
    raw_out = mbqm(raw_sum, p.y_multiplier, p.y_shift) + p.y_offset   # 5. to y's scale, + zp
    return np.clip(raw_out, p.qmin, p.qmax).astype(np_dtype)     # 6. clamp, cast


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


def add(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, *, out_dtype: str | None = None,
        activation: str = "none", scheme: str = "tflite", rounding: str = "double") -> np.ndarray:
    """Residual add with requantization: ``y ~= (a_scale (a - a_zp) + b_scale (b - b_zp)) /
    y_scale + y_zp``, elementwise, ``a`` and ``b`` of the same shape and dtype.

    ``scheme="tflite"`` (default; integer only, what the hardware implements): TFLite's
    quantized Add, parameters by :func:`add_tflite_params` (host side), then per element
    (``reference_integer_ops::AddFunc``; all int32):

    1. ``a' = a - a_zp``, ``b' = b - b_zp``                      (|.| <= 255)
    2. ``a' <<= 20``, ``b' <<= 20``                              (|.| < 2^28)
    3. ``a' = MultiplyByQuantizedMultiplierSmallerThanOneExp(a', a_multiplier, a_shift)``,
       same for ``b'`` (each input to the common scale ``2 * max(a_scale, b_scale) / 2^20``)
    4. ``s = a' + b'``
    5. ``y = MultiplyByQuantizedMultiplierSmallerThanOneExp(s, y_multiplier, y_shift) + y_zp``
    6. ``y = clamp(y, qmin, qmax)`` (``activation``: none/relu/relu6 on y's scale), cast

    where MultiplyByQuantizedMultiplierSmallerThanOneExp is
    :func:`~.numerics.multiply_by_quantized_multiplier` with shift <= 0 (``rounding``
    "double": SaturatingRoundingDoublingHighMul then RoundingDivideByPOT; "single":
    TFLITE_SINGLE_ROUNDING).

    ``scheme="onnx"``: onnxruntime's com.microsoft QLinearAdd (:func:`qlinear_add`, float32
    with fma), then the ``activation`` clamp; ``rounding`` does not apply.

    ``out_dtype`` defaults to the inputs' dtype.
    """
    a, qt = _quantized("a", a)
    b, bt = _quantized("b", b)
    if bt != qt or a.shape != b.shape:
        raise NumericsError(f"a {a.dtype}{a.shape} and b {b.dtype}{b.shape}: need the same "
                            "dtype and shape (residual add)")
    out_dtype = qt if out_dtype is None else out_dtype
    if out_dtype not in OUTPUT_TYPES:
        raise NumericsError(f"out_dtype={out_dtype!r}: unknown, allowed one of {list(OUTPUT_TYPES)}")
    az = _int_zero_point("a_zp", a_zp, qt)
    bz = _int_zero_point("b_zp", b_zp, qt)
    yz = _int_zero_point("y_zp", y_zp, out_dtype)
    if scheme == "tflite":
        p = add_tflite_params(a_scale, az, b_scale, bz, y_scale, yz, out_dtype,
                              activation=activation, rounding=rounding)
        return _add_tflite_apply(a, b, p, OUTPUT_TYPES[out_dtype][2])
    if scheme == "onnx":
        if out_dtype != qt:
            raise NumericsError(f"out_dtype={out_dtype!r}: scheme='onnx' (QLinearAdd) needs the "
                                f"inputs' type {qt!r}")
        qmin, qmax = activation_range(activation, float(_as_scale32("y_scale", y_scale)), yz, qt)
        y = qlinear_add(a, a_scale, np.asarray(az, a.dtype), b, b_scale, np.asarray(bz, a.dtype),
                        y_scale, np.asarray(yz, a.dtype))
        return np.clip(y, qmin, qmax).astype(y.dtype)
    raise NumericsError(f"scheme={scheme!r}: unknown, allowed one of {list(ADD_SCHEMES)}")

