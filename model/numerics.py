"""Bit-exact integer requantization: the int32 accumulator to an int8/uint8 output.

Two scale schemes, each a transcription of what a real runtime computes, written so a
hardware engineer can mirror every function in RTL, one pipeline stage per numbered step:

``"tflite"`` -- fixed point, as TensorFlow Lite and gemmlowp do it
    The real scale is encoded once (host side) as a Q0.31 ``multiplier`` in ``[2^30, 2^31)``
    and a power-of-two ``shift`` (:func:`quantize_multiplier`). The datapath is integer
    only: :func:`multiply_by_quantized_multiplier`, either the default *double rounding*
    (left shift, :func:`saturating_rounding_doubling_high_mul`,
    :func:`rounding_divide_by_pot`; ``tensorflow/lite/kernels/internal/common.cc``) or
    ``TFLITE_SINGLE_ROUNDING`` (one 64-bit product, one rounding shift). Then the zero point
    is added and the result clamped to the activation range (TFLite's reference
    ``reference_integer_ops::ConvPerChannel`` / ``FullyConnected`` order).

``"onnx"`` -- float32 scale, as onnxruntime's MLAS does it
    ``MlasRequantizeOutput`` (``onnxruntime/core/mlas/lib/quantize.cpp``) used by
    QLinearConv and QLinearMatMul: int32 -> float32 (round to nearest even), one float32
    multiply by the effective scale (:func:`onnx_effective_scale`, computed in float32 as
    ``(a_scale * b_scale) / y_scale``), clamp to ``[qmin - zp, qmax - zp]`` in float32,
    round half to even to an integer, add the zero point.

Both schemes share :func:`requantize` (bias, zero point, activation clamp, int8/uint8,
per-tensor or per-channel parameters), driven by a frozen :class:`RequantParams`.

Integer conventions: every integer array is carried as ``int64`` and every intermediate
is exact; where the C++ reference works in int32 and wraps, the wrap is explicit
(:func:`wrap_int32`). In particular the **bias add wraps** (two's complement, modulo
2^32) in both schemes: TFLite's reference kernels do ``int32_t acc += bias`` and MLAS does
``_mm_add_epi32`` / ``int32_t += int32_t`` -- neither saturates (see :func:`requantize`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence, Union

import numpy as np

__all__ = [
    "scale_bits_problem",
    "output_range_problem",
    "INT32_MIN",
    "INT32_MAX",
    "OUTPUT_TYPES",
    "SCHEMES",
    "ROUNDINGS",
    "ACTIVATIONS",
    "NumericsError",
    "wrap_int32",
    "quantize_multiplier",
    "quantize_multipliers",
    "saturating_rounding_doubling_high_mul",
    "rounding_divide_by_pot",
    "multiply_by_quantized_multiplier",
    "tflite_effective_scale",
    "onnx_effective_scale",
    "float32_scale_round",
    "activation_range",
    "RequantParams",
    "requantize",
]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1

#: Output types of the requantizer: name -> (min, max, numpy dtype).
OUTPUT_TYPES: dict[str, tuple[int, int, type]] = {
    "int8": (-128, 127, np.int8),
    "uint8": (0, 255, np.uint8),
}
SCHEMES = ("tflite", "onnx")
ROUNDINGS = ("double", "single")
ACTIVATIONS = ("none", "relu", "relu6")

#: Shift range accepted by the datapath. Single rounding: TFLite DCHECKs
#: ``shift >= -31 && shift <= 30``. Double rounding: ``shift < -31`` never comes out of
#: QuantizeMultiplier, and a left shift of 31 or more is ``1 << 31`` in int32 (undefined
#: behaviour in TFLite's ``x * (1 << left_shift)``), so the same range applies.
SHIFT_RANGE = (-31, 30)


class NumericsError(ValueError):
    """An invalid numeric parameter; the message names it and its allowed range."""


ArrayLike = Union[int, float, Sequence, np.ndarray]


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------
def scale_bits_problem(bits: int) -> str | None:
    """Why the bits of a requantization ``scale`` are not a positive finite float32 (sign
    0, exponent not all ones, not zero), or None."""
    if bits >> 31 or (bits >> 23) & 0xFF == 0xFF or bits == 0:
        return f"scale bits {bits:#010x}: not a positive finite float32"
    return None


def output_range_problem(zero_point: int, qmin: int, qmax: int) -> str | None:
    """Why an integer output's zero point and clamp do not fit: the type is uint8 when
    ``qmax`` or the zero point exceed 127, else int8; all three inside it, ``qmin <= qmax``."""
    out = "uint8" if max(qmax, zero_point) > 127 else "int8"
    tlo, thi = (0, 255) if out == "uint8" else (-128, 127)
    for name, v in (("zero_point", zero_point), ("qmin", qmin), ("qmax", qmax)):
        if not tlo <= v <= thi:
            return f"{name}={v}: out of range for {out}, allowed {tlo}..{thi}"
    if qmin > qmax:
        return f"qmin={qmin} > qmax={qmax}"
    return None


def wrap_int32(x: ArrayLike) -> np.ndarray:
    """Two's complement wrap to int32, as int32 arithmetic does (returned as int64)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _as_int64(name: str, x: ArrayLike, lo: int | None = None, hi: int | None = None) -> np.ndarray:
    """Integer array (any integer dtype or Python ints) as int64, range-checked."""
    try:
        a = np.asarray(x)
    except OverflowError:
        a = np.asarray(x, dtype=object)
    if a.dtype == object:
        try:
            vals = [int(v) for v in a.ravel()]
        except (TypeError, ValueError):
            raise NumericsError(f"{name}: must be integers") from None
        if any(isinstance(v, (bool, float)) for v in a.ravel()):
            raise NumericsError(f"{name}: must be integers")
        if lo is not None:
            for v in vals:
                if not lo <= v <= hi:
                    raise NumericsError(f"{name}={v}: out of range, allowed {lo}..{hi}")
        elif any(not -(1 << 63) <= v < (1 << 63) for v in vals):
            raise NumericsError(f"{name}: does not fit int64")
        return np.array(vals, dtype=np.int64).reshape(a.shape)
    if not np.issubdtype(a.dtype, np.integer):
        raise NumericsError(f"{name}: must be integers, got dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and int(a.max()) >= (1 << 63):
        raise NumericsError(f"{name}={int(a.max())}: does not fit int64")
    a = a.astype(np.int64)
    if lo is not None and a.size:
        mn, mx = int(a.min()), int(a.max())
        if mn < lo or mx > hi:
            raise NumericsError(f"{name}={mn if mn < lo else mx}: out of range, allowed {lo}..{hi}")
    return a


def _check_output_type(out_dtype: str) -> tuple[int, int, type]:
    if out_dtype not in OUTPUT_TYPES:
        raise NumericsError(f"out_dtype={out_dtype!r}: unknown, allowed one of {list(OUTPUT_TYPES)}")
    return OUTPUT_TYPES[out_dtype]


def _check_rounding(rounding: str) -> None:
    if rounding not in ROUNDINGS:
        raise NumericsError(f"rounding={rounding!r}: unknown, allowed one of {list(ROUNDINGS)}")


def _check_scale(name: str, scale: float) -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise NumericsError(f"{name}={scale!r}: must be a finite real number > 0") from None
    if math.isnan(s) or math.isinf(s):
        raise NumericsError(f"{name}={s}: must be finite, allowed (0, inf)")
    if s <= 0.0:
        raise NumericsError(f"{name}={s}: must be positive, allowed (0, inf)")
    return s


# --------------------------------------------------------------------------------------
# TFLite / gemmlowp fixed point
# --------------------------------------------------------------------------------------
def quantize_multiplier(scale: float, rounding: str = "double") -> tuple[int, int]:
    """Encode a real scale as ``(multiplier, shift)``, exactly TFLite's QuantizeMultiplier.

    ``scale ~= multiplier * 2^(shift - 31)`` with ``multiplier`` a Q0.31 value in
    ``[2^30, 2^31)`` (or 0). Host-side, in float64 (``double``), as
    ``tensorflow/lite/kernels/internal/quantization_util.cc``:

    1. ``q, shift = frexp(scale)``: ``q`` in ``[0.5, 1)``, ``scale = q * 2^shift`` (exact).
    2. ``q_fixed = round(q * 2^31)``, ``round`` = TfLiteRound = ``std::round``: half away
       from zero (``q * 2^31`` is exact in double, only this rounding is inexact).
    3. If ``q_fixed == 2^31`` (``q`` rounded up to 1.0): ``q_fixed = 2^30; shift += 1``.
    4. If ``shift < -31`` (scale below about 2^-32): ``q_fixed = 0; shift = 0``, so the
       scaled result is 0 -- TFLite's "flush denormals to zero".
    5. ``rounding="single"`` only (TFLITE_SINGLE_ROUNDING): if ``shift > 30``:
       ``shift = 30; q_fixed = 2^31 - 1`` (saturate huge scales).

    Scales >= 1 give ``shift >= 1`` (a left shift). With ``rounding="double"`` a scale of
    2^30 or more gives ``shift >= 31``, which TFLite produces here but
    :func:`multiply_by_quantized_multiplier` rejects (see :data:`SHIFT_RANGE`).

    TFLite maps ``scale == 0`` to ``(0, 0)`` and accepts negative scales; a quantization
    scale must be positive, so both raise :class:`NumericsError` here, as do NaN and inf.
    """
    _check_rounding(rounding)
    s = _check_scale("scale", scale)
    q, shift = math.frexp(s)                       # step 1
    q_fixed = math.floor(q * (1 << 31) + 0.5)      # step 2 (q > 0: half away == floor(+0.5), exact)
    if q_fixed == (1 << 31):                       # step 3
        q_fixed //= 2
        shift += 1
    if shift < -31:                                # step 4
        shift = 0
        q_fixed = 0
    if rounding == "single" and shift > 30:        # step 5
        shift = 30
        q_fixed = (1 << 31) - 1
    return int(q_fixed), int(shift)


def quantize_multipliers(scales: ArrayLike, rounding: str = "double") -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` over an array of scales (per channel): int64 arrays."""
    flat = np.asarray(scales, dtype=np.float64)
    pairs = [quantize_multiplier(float(s), rounding) for s in flat.ravel()]
    mult = np.array([p[0] for p in pairs], dtype=np.int64).reshape(flat.shape)
    shift = np.array([p[1] for p in pairs], dtype=np.int64).reshape(flat.shape)
    return mult, shift


def _trunc_div_pot(x: np.ndarray, e: int) -> np.ndarray:
    """C++ signed division ``x / 2^e`` (rounds toward zero), for int64 ``x``."""
    return np.where(x >= 0, x >> e, -((-x) >> e))


def saturating_rounding_doubling_high_mul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values (ARM ``VQRDMULH``).

    Computes ``round(a * b / 2^31)`` for int32 ``a``, ``b`` (Q0.31 product), as
    ``gemmlowp/fixedpoint/fixedpoint.h``:

    1. ``overflow = (a == b == INT32_MIN)`` -- the only product that does not fit.
    2. ``ab = a * b`` in 64 bits (exact, ``|ab| <= 2^62``).
    3. ``nudge = 2^30`` if ``ab >= 0`` else ``1 - 2^30``.
    4. ``r = (ab + nudge) / 2^31`` with C++ division, i.e. truncated toward zero.
    5. ``overflow ? INT32_MAX : r``.

    Steps 3-4 equal ``(ab + 2^30) >> 31`` (arithmetic shift, i.e. floor) for every ``ab``:
    halves round up (toward +inf), so ``-0.5 -> 0`` and ``+0.5 -> 1``. That single
    add-and-shift is the cheaper RTL form; tests check the two forms agree.
    """
    a = _as_int64("a", a, INT32_MIN, INT32_MAX)
    b = _as_int64("b", b, INT32_MIN, INT32_MAX)
    overflow = (a == b) & (a == INT32_MIN)                          # step 1
    ab = a * b                                                      # step 2
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))               # step 3
    r = _trunc_div_pot(ab + nudge, 31)                              # step 4
    return np.where(overflow, INT32_MAX, r).astype(np.int64)        # step 5


def rounding_divide_by_pot(x: ArrayLike, exponent: ArrayLike) -> np.ndarray:
    """gemmlowp's RoundingDivideByPOT: ``x / 2^exponent``, round half away from zero.

    For int32 ``x`` and ``exponent`` in ``0..31`` (scalar or array, broadcast):

    1. ``mask = 2^exponent - 1``
    2. ``remainder = x & mask`` (low bits, two's complement)
    3. ``threshold = (mask >> 1) + (1 if x < 0 else 0)``
    4. ``result = (x >> exponent) + (1 if remainder > threshold else 0)``
       (``>>`` arithmetic)

    So ``1/2 -> 1``, ``-1/2 -> -1``, ``-3/2 -> -2``: ties away from zero.
    """
    x = _as_int64("x", x, INT32_MIN, INT32_MAX)
    e = _as_int64("exponent", exponent, 0, 31)
    mask = (np.int64(1) << e) - 1                                   # step 1
    remainder = x & mask                                            # step 2
    threshold = (mask >> 1) + (x < 0).astype(np.int64)              # step 3
    return (x >> e) + (remainder > threshold).astype(np.int64)      # step 4


def multiply_by_quantized_multiplier(
    x: ArrayLike, multiplier: ArrayLike, shift: ArrayLike, rounding: str = "double"
) -> np.ndarray:
    """TFLite's MultiplyByQuantizedMultiplier(int32 x, int32 multiplier, int shift).

    ``x * multiplier * 2^(shift - 31)`` rounded to an int32. Arguments broadcast, so a
    per-channel ``multiplier``/``shift`` of shape ``(C,)`` applies along the last axis.

    ``rounding="double"`` -- TFLite's default build (``common.cc``, ``#else`` branch):

    1. ``left = max(shift, 0)``, ``right = max(-shift, 0)``
    2. ``y = x * 2^left`` **wrapped to int32**: TFLite writes ``x * (1 << left_shift)``
       in int32 (annotated TFLITE_NO_SANITIZE_INTEGER_OVERFLOW) and the NEON path uses
       ``vshlq_s32``; neither saturates, so an overflowing left shift keeps the low 32 bits.
    3. ``y = saturating_rounding_doubling_high_mul(y, multiplier)`` (round half up)
    4. ``y = rounding_divide_by_pot(y, right)`` (round half away from zero)

    ``rounding="single"`` -- ``TFLITE_SINGLE_ROUNDING`` (also ruy's reference):

    1. ``total = 31 - shift`` (1..62); ``round = 2^(total - 1)``
    2. ``y = (x * multiplier + round) >> total`` in 64 bits (floor: ties toward +inf)
    3. ``int32(y)``: wrapped to int32 (TFLite DCHECKs that it fits; a release build's
       ``static_cast<int32_t>`` keeps the low 32 bits)

    The two differ by one LSB on some inputs because double rounding rounds twice (see the
    tests for a concrete case). ``multiplier`` must be in ``[0, 2^31)``, ``shift`` in
    :data:`SHIFT_RANGE`, ``x`` in int32.
    """
    _check_rounding(rounding)
    x = _as_int64("x", x, INT32_MIN, INT32_MAX)
    m = _as_int64("multiplier", multiplier, 0, INT32_MAX)
    s = _as_int64("shift", shift, *SHIFT_RANGE)
    if rounding == "double":
        left = np.maximum(s, 0)                                     # step 1
        right = np.maximum(-s, 0)
        y = wrap_int32(x << left)                                   # step 2
        y = saturating_rounding_doubling_high_mul(y, m)             # step 3
        return rounding_divide_by_pot(y, right)                     # step 4
    total = 31 - s                                                  # step 1
    rnd = np.int64(1) << (total - 1)
    y = (x * m + rnd) >> total                                      # step 2
    return wrap_int32(y)                                            # step 3


def tflite_effective_scale(input_scale: float, filter_scale: ArrayLike, output_scale: float) -> np.ndarray:
    """Real multiplier(s) as TFLite's PopulateConvolutionQuantizationParams computes them.

    Each scale is a float32 tensor parameter, widened to double; then
    ``double(input_scale) * double(filter_scale[c]) / double(output_scale)`` in float64
    (``tensorflow/lite/kernels/kernel_util.cc``). Returns float64, one per channel (shape
    of ``filter_scale``); feed it to :func:`quantize_multiplier`.
    """
    i = np.float64(np.float32(_check_scale("input_scale", input_scale)))
    o = np.float64(np.float32(_check_scale("output_scale", output_scale)))
    f = np.asarray(filter_scale, dtype=np.float32).astype(np.float64)
    for v in f.ravel():
        _check_scale("filter_scale", v)
    return i * f / o


# --------------------------------------------------------------------------------------
# ONNX / onnxruntime float32 scale
# --------------------------------------------------------------------------------------
def _as_float32_scale(name: str, scale: ArrayLike) -> np.ndarray:
    s = np.asarray(scale)
    if s.dtype == np.float16:
        s = s.astype(np.float32)  # exact widening
    s = s.astype(np.float32)
    if s.size and not np.all(np.isfinite(s)):
        raise NumericsError(f"{name}: must be finite in float32, allowed (0, 3.4e38]")
    if s.size and not np.all(s > 0):
        bad = s.ravel()[np.argmax(~(s.ravel() > 0))]
        raise NumericsError(f"{name}={float(bad)!r}: must be positive in float32, allowed (0, 3.4e38]")
    return s


def onnx_effective_scale(a_scale: ArrayLike, b_scale: ArrayLike, y_scale: ArrayLike) -> np.ndarray:
    """Output scale as onnxruntime computes it for QLinearConv / QLinearMatMul.

    ``float32(float32(a_scale * b_scale) / y_scale)``: two float32 operations, each
    rounded to nearest even (``qlinearconv.cc`` ComputeOutputScale and
    ``quantize_linear_matmul.cc``: ``a_scale * b_scale[i] / y_scale`` on ``float``).
    Float16 scales are widened exactly to float32 first. Broadcasts (per-channel
    ``b_scale``). Returns a float32 array.
    """
    a = _as_float32_scale("a_scale", a_scale)
    b = _as_float32_scale("b_scale", b_scale)
    y = _as_float32_scale("y_scale", y_scale)
    with np.errstate(over="ignore", under="ignore"):
        s = np.multiply(a, b, dtype=np.float32)
        s = np.divide(s, y, dtype=np.float32)
    return _as_float32_scale("effective scale (a_scale*b_scale/y_scale)", s)


def float32_scale_round(acc: ArrayLike, scale: ArrayLike, zero_point: ArrayLike,
                        qmin: ArrayLike, qmax: ArrayLike) -> np.ndarray:
    """MLAS requantization of int32 values by a float32 scale (no bias).

    1. ``f = float32(acc)`` -- int32 to float32, round to nearest even (``cvtdq2ps``)
    2. ``f = f * scale`` -- one float32 multiply, round to nearest even (``mulps``)
    3. ``f = min(max(f, float32(qmin - zp)), float32(qmax - zp))`` (``maxps``/``minps``;
       an overflow to +-inf is clamped here too)
    4. ``i = round_half_even(f)`` (``cvtps2dq`` under the default MXCSR)
    5. ``out = i + zp``

    Clamping before rounding equals rounding then clamping because the bounds are
    integers. ``acc`` must be int32; all arguments broadcast. Returns int64.
    """
    acc = _as_int64("acc", acc, INT32_MIN, INT32_MAX)
    scale = _as_float32_scale("scale", scale)
    zp = _as_int64("zero_point", zero_point)
    lo = (_as_int64("qmin", qmin) - zp).astype(np.float32)
    hi = (_as_int64("qmax", qmax) - zp).astype(np.float32)
    f = acc.astype(np.int32).astype(np.float32)                     # step 1
    with np.errstate(over="ignore"):
        f = np.multiply(f, scale, dtype=np.float32)                 # step 2
    f = np.minimum(np.maximum(f, lo), hi)                           # step 3
    i = np.rint(f).astype(np.int64)                                 # step 4
    return i + zp                                                   # step 5


# --------------------------------------------------------------------------------------
# activation range
# --------------------------------------------------------------------------------------
def _round_half_away_f32(v: np.float32) -> int:
    # std::round on a float: the float32 value is exact in float64 and so is |v| + 0.5.
    d = float(v)
    return int(math.copysign(math.floor(abs(d) + 0.5), d))


def activation_range(activation: str, output_scale: float, zero_point: int,
                     out_dtype: str = "int8") -> tuple[int, int]:
    """Quantized clamp ``(qmin, qmax)`` for a fused activation, as TFLite's
    CalculateActivationRangeQuantized (``tensorflow/lite/kernels/kernel_util.cc``).

    With ``quantize(f) = zero_point + int32(round(float32(f) / float32(output_scale)))``
    (``round`` half away from zero, float32 division) and the type range ``[lo, hi]``:

    - ``"none"``:  ``(lo, hi)``
    - ``"relu"``:  ``(max(lo, quantize(0)), hi)`` = ``(max(lo, zero_point), hi)``
    - ``"relu6"``: ``(max(lo, quantize(0)), min(hi, quantize(6)))``

    Where ``6 / output_scale`` does not fit an int32 the C++ cast is undefined; here it
    saturates, so the bound becomes ``hi``.
    """
    lo, hi, _ = _check_output_type(out_dtype)
    if activation not in ACTIVATIONS:
        raise NumericsError(f"activation={activation!r}: unknown, allowed one of {list(ACTIVATIONS)}")
    _check_scale("output_scale", output_scale)
    with np.errstate(over="ignore"):
        scale32 = np.float32(output_scale)
    if not (np.isfinite(scale32) and scale32 > 0):
        raise NumericsError(f"output_scale={output_scale!r}: not a positive finite float32, "
                            "allowed (1.2e-45, 3.4e38]")
    zp = int(zero_point)
    if not lo <= zp <= hi:
        raise NumericsError(f"zero_point={zp}: out of range for {out_dtype}, allowed {lo}..{hi}")

    def quantize(f: float) -> int:
        with np.errstate(over="ignore"):
            q = np.float32(f) / scale32
        r = _round_half_away_f32(q) if np.isfinite(q) else INT32_MAX
        return zp + min(max(r, INT32_MIN), INT32_MAX)

    if activation == "none":
        return lo, hi
    if activation == "relu":
        return max(lo, quantize(0.0)), hi
    return max(lo, quantize(0.0)), min(hi, quantize(6.0))


# --------------------------------------------------------------------------------------
# parameters and the requantize entry point
# --------------------------------------------------------------------------------------
def _norm_field(name: str, value, kind: type):
    """Scalar -> python scalar; sequence/array -> tuple of python scalars."""
    if value is None:
        return None
    if isinstance(value, (np.ndarray, list, tuple)):
        arr = np.asarray(value)
        if arr.ndim == 0:
            return kind(arr.item())
        if arr.ndim != 1 or arr.size == 0:
            raise NumericsError(f"{name}: must be a scalar or a non-empty 1-D sequence "
                                f"(one value per channel), got shape {arr.shape}")
        return tuple(kind(v) for v in arr.tolist())
    if isinstance(value, (bool, np.bool_)):
        raise NumericsError(f"{name}={value!r}: must be a number")
    return kind(value.item() if isinstance(value, np.generic) else value)


def _int_field(name: str, value):
    if value is None:
        return None
    vals = value if isinstance(value, tuple) else (value,)
    for v in vals:
        if isinstance(v, float) and not float(v).is_integer():
            raise NumericsError(f"{name}={v!r}: must be an integer")
    return _norm_field(name, value, int)


def _values(v) -> tuple:
    return v if isinstance(v, tuple) else (v,)


@dataclass(frozen=True)
class RequantParams:
    """Everything one requantization lane needs, per tensor or per channel.

    Each numeric field is a scalar (per tensor) or a tuple with one value per channel
    (per output column: the channel axis given to :func:`requantize`); all per-channel
    fields have the same length. Validated at construction.

    Parameters
    ----------
    scheme : ``"tflite"`` (fixed point) or ``"onnx"`` (float32 scale).
    zero_point : output zero point, inside the output type.
    out_dtype : ``"int8"`` or ``"uint8"``.
    multiplier, shift : ``"tflite"`` only. Q0.31 multiplier in ``[0, 2^31)`` and shift in
        :data:`SHIFT_RANGE` (from :func:`quantize_multiplier`).
    scale : ``"onnx"`` only. Effective float32 scale(s), positive and finite.
    rounding : ``"tflite"`` only, ``"double"`` (TFLite default) or ``"single"``.
    qmin, qmax : clamp range (activation), inside the output type, ``qmin <= qmax``;
        default the whole type. See :func:`activation_range`.
    """

    scheme: str
    zero_point: int | tuple[int, ...] = 0
    out_dtype: str = "int8"
    multiplier: int | tuple[int, ...] | None = None
    shift: int | tuple[int, ...] | None = None
    scale: float | tuple[float, ...] | None = None
    rounding: str = "double"
    qmin: int | tuple[int, ...] | None = None
    qmax: int | tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.scheme not in SCHEMES:
            raise NumericsError(f"scheme={self.scheme!r}: unknown, allowed one of {list(SCHEMES)}")
        lo, hi, _ = _check_output_type(self.out_dtype)
        _check_rounding(self.rounding)
        set_ = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731
        for k in ("zero_point", "multiplier", "shift", "qmin", "qmax"):
            set_(k, _int_field(k, getattr(self, k)))
        set_("scale", _norm_field("scale", self.scale, float))
        if self.qmin is None:
            set_("qmin", lo)
        if self.qmax is None:
            set_("qmax", hi)

        if self.scheme == "tflite":
            if self.multiplier is None or self.shift is None:
                raise NumericsError("scheme='tflite' needs multiplier and shift "
                                    "(see quantize_multiplier / RequantParams.from_tflite_scale)")
            if self.scale is not None:
                raise NumericsError("scale: only for scheme='onnx'; scheme='tflite' uses multiplier/shift")
            for v in _values(self.multiplier):
                if not 0 <= v <= INT32_MAX:
                    raise NumericsError(f"multiplier={v}: out of range, allowed 0..{INT32_MAX} (Q0.31)")
            for v in _values(self.shift):
                if not SHIFT_RANGE[0] <= v <= SHIFT_RANGE[1]:
                    raise NumericsError(f"shift={v}: out of range, allowed "
                                        f"{SHIFT_RANGE[0]}..{SHIFT_RANGE[1]}")
        else:
            if self.scale is None:
                raise NumericsError("scheme='onnx' needs scale (see onnx_effective_scale)")
            if self.multiplier is not None or self.shift is not None:
                raise NumericsError("multiplier/shift: only for scheme='tflite'; scheme='onnx' uses scale")
            for v in _values(self.scale):
                if not math.isfinite(v) or not v > 0:
                    raise NumericsError(f"scale={v}: must be positive and finite, allowed (0, 3.4e38]")
                v32 = np.float32(v)
                if not (np.isfinite(v32) and v32 > 0) or float(v32) != v:
                    raise NumericsError(f"scale={v!r}: must be a positive finite float32 value "
                                        "(pass np.float32 values, e.g. from onnx_effective_scale)")

        for k in ("zero_point", "qmin", "qmax"):
            for v in _values(getattr(self, k)):
                if not lo <= v <= hi:
                    raise NumericsError(f"{k}={v}: out of range for {self.out_dtype}, allowed {lo}..{hi}")
        lengths = {k: len(getattr(self, k)) for k in self._fields() if isinstance(getattr(self, k), tuple)}
        if len(set(lengths.values())) > 1:
            raise NumericsError("per-channel fields must all have the same length, got "
                                + ", ".join(f"{k}={n}" for k, n in lengths.items()))
        qmins, qmaxs = np.broadcast_arrays(np.array(self.qmin), np.array(self.qmax))
        if np.any(qmins > qmaxs):
            raise NumericsError(f"qmin={self.qmin} > qmax={self.qmax}: need qmin <= qmax")

    @staticmethod
    def _fields() -> tuple[str, ...]:
        return ("zero_point", "multiplier", "shift", "scale", "qmin", "qmax")

    @property
    def channels(self) -> int | None:
        """Number of channels for per-channel parameters, None if all per tensor."""
        for k in self._fields():
            v = getattr(self, k)
            if isinstance(v, tuple):
                return len(v)
        return None

    # -- constructors from real scales --------------------------------------------------
    @classmethod
    def from_tflite_scale(cls, effective_scale, zero_point=0, out_dtype: str = "int8", *,
                          rounding: str = "double", qmin=None, qmax=None) -> "RequantParams":
        """Fixed-point parameters from real effective scale(s) via :func:`quantize_multiplier`."""
        s = np.asarray(effective_scale, dtype=np.float64)
        for v in s.ravel():
            _check_scale("effective_scale", v)
        m, sh = quantize_multipliers(s, rounding)
        return cls("tflite", zero_point, out_dtype, multiplier=_norm_field("multiplier", m, int),
                   shift=_norm_field("shift", sh, int), rounding=rounding, qmin=qmin, qmax=qmax)

    @classmethod
    def from_onnx_scale(cls, effective_scale, zero_point=0, out_dtype: str = "int8", *,
                        qmin=None, qmax=None) -> "RequantParams":
        """Float32 parameters from effective scale(s) (rounded to float32 if needed)."""
        s = _as_float32_scale("effective_scale", effective_scale)
        return cls("onnx", zero_point, out_dtype, scale=_norm_field("scale", s, float),
                   qmin=qmin, qmax=qmax)

    @classmethod
    def for_layer(cls, scheme: str, input_scale: float, weight_scale, output_scale: float,
                  zero_point: int = 0, out_dtype: str = "int8", *, activation: str = "none",
                  rounding: str = "double") -> "RequantParams":
        """Parameters of a quantized linear/conv layer, the way each runtime derives them.

        ``"tflite"``: effective scale by :func:`tflite_effective_scale` (float64), encoded
        by :func:`quantize_multiplier`. ``"onnx"``: :func:`onnx_effective_scale` (float32).
        The clamp is :func:`activation_range` for both (ONNX has no fused activation; the
        clamp is applied after the zero point like the final saturation).
        ``weight_scale`` may be per output channel.
        """
        qmin, qmax = activation_range(activation, output_scale, zero_point, out_dtype)
        if scheme == "tflite":
            eff = tflite_effective_scale(input_scale, weight_scale, output_scale)
            return cls.from_tflite_scale(eff, zero_point, out_dtype, rounding=rounding,
                                         qmin=qmin, qmax=qmax)
        if scheme == "onnx":
            eff = onnx_effective_scale(input_scale, weight_scale, output_scale)
            return cls.from_onnx_scale(eff, zero_point, out_dtype, qmin=qmin, qmax=qmax)
        raise NumericsError(f"scheme={scheme!r}: unknown, allowed one of {list(SCHEMES)}")


def _channel_array(v, dtype, ndim: int, axis: int) -> np.ndarray:
    a = np.asarray(v, dtype=dtype)
    if a.ndim == 0:
        return a
    shape = [1] * ndim
    shape[axis] = a.size
    return a.reshape(shape)


def requantize(acc: ArrayLike, params: RequantParams, *, bias: ArrayLike | None = None,
               axis: int = -1) -> np.ndarray:
    """Requantize int32 accumulators to the output type: the requantization unit's lane.

    ``acc`` holds int32 values (any integer dtype; values outside int32 raise).
    ``bias`` (int32, scalar or one per channel) and per-channel ``params`` apply along
    ``axis`` (default the last: one value per output column).

    Scheme ``"tflite"`` (TFLite reference integer kernels):

    1. ``acc = wrap_int32(acc + bias)``
    2. ``y = multiply_by_quantized_multiplier(acc, multiplier, shift, rounding)``
    3. ``y = wrap_int32(y + zero_point)`` (int32 add as in C++; cannot wrap for |y| < 2^31 - 255)
    4. ``y = min(max(y, qmin), qmax)``
    5. cast to ``out_dtype`` (exact: the range is inside the type)

    Scheme ``"onnx"`` (onnxruntime MlasRequantizeOutput):

    1. ``acc = wrap_int32(acc + bias)``
    2-6. :func:`float32_scale_round` with ``scale``, ``zero_point``, ``qmin``, ``qmax``
       (float32 convert, float32 multiply, clamp, round half even, add zero point)
    7. cast to ``out_dtype``

    Bias overflow: both TFLite (``int32_t acc += bias_data[c]``) and onnxruntime
    (``_mm_add_epi32`` / ``int32_t +=``) add the bias in int32 without saturation, so the
    sum wraps modulo 2^32; this model wraps the same way.
    """
    if not isinstance(params, RequantParams):
        raise TypeError(f"params must be a RequantParams, got {type(params).__name__}")
    acc = _as_int64("acc", acc, INT32_MIN, INT32_MAX)
    nd = max(acc.ndim, 1)
    if not -nd <= axis < nd:
        raise NumericsError(f"axis={axis}: out of range for a {acc.ndim}-D accumulator, "
                            f"allowed {-nd}..{nd - 1}")
    ax = axis % nd
    c = params.channels
    if c is not None and (acc.ndim == 0 or acc.shape[ax] != c):
        raise NumericsError(f"params have {c} channels but acc has shape {acc.shape} "
                            f"(axis {axis})")
    if bias is not None:
        b = _as_int64("bias", bias, INT32_MIN, INT32_MAX)
        if b.ndim > 1 or (b.ndim == 1 and (acc.ndim == 0 or b.size != acc.shape[ax])):
            raise NumericsError(f"bias: must be a scalar or one value per channel along axis "
                                f"{axis} ({acc.shape[ax] if acc.ndim else 1}), got shape {b.shape}")
        acc = wrap_int32(acc + _channel_array(b, np.int64, acc.ndim, ax))
    lo, hi, np_dtype = OUTPUT_TYPES[params.out_dtype]
    ch = lambda v, dt=np.int64: _channel_array(v, dt, acc.ndim, ax)  # noqa: E731
    zp, qmin, qmax = ch(params.zero_point), ch(params.qmin), ch(params.qmax)
    if params.scheme == "tflite":
        y = multiply_by_quantized_multiplier(acc, ch(params.multiplier), ch(params.shift),
                                             params.rounding)
        y = wrap_int32(y + zp)
        y = np.minimum(np.maximum(y, qmin), qmax)
    else:
        y = float32_scale_round(acc, ch(params.scale, np.float32), zp, qmin, qmax)
    return y.astype(np_dtype)
