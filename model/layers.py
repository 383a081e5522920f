"""The layer API the driver's compiler targets: quantized layers written directly (no tiling).

Framework-neutral quantized layers, NCHW, every integer step explicit (``linear``,
``conv2d``, ``clamp``/``relu``/``relu6``, ``max_pool2d``, ``avg_pool2d``, ``add``). Each one
is built on the ONNX-semantics primitives of :mod:`.onnx_ops` (``matmul_integer`` /
``conv_integer``) and the requantization lane of :mod:`.numerics`, so the same arithmetic
the hardware implements (int32 accumulate, bias, scale, zero point, clamp) is the
arithmetic checked here; requantized by :class:`~.numerics.RequantParams` of either scheme
(TFLite fixed point or onnxruntime float32).

Conventions shared by every layer:

* quantized tensors are numpy int8 or uint8 arrays; zero points are Python ints (or numpy
  integers) inside their tensor's type;
* ``kernel``, ``stride``, ``dilation``: an int (both spatial axes) or a pair (h, w);
* ``padding``: an int (all four sides), a pair (ph, pw) (symmetric per axis), or
  ``((top, bottom), (left, right))``;
* every bad argument raises :class:`~.numerics.NumericsError` naming it and its allowed
  range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .numerics import (
    INT32_MAX,
    INT32_MIN,
    OUTPUT_TYPES,
    NumericsError,
    RequantParams,
    activation_range,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize,
    wrap_int32,
)
from .onnx_ops import conv_integer
from .ort_contrib import qlinear_add
from .qargs import (
    _as_scale32,
    _int_zero_point,
    _pair,
    _padding,
    _pool_windows,
    _quantized,
    _valid_counts,
    _window_geometry,
)

__all__ = [
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
]


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
