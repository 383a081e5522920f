"""FP8 numerics, exactly: OCP E4M3FN and E5M2 values, products, sums and rounding.

Formats (facts in :data:`systolica.model.config.INPUT_TYPES`):

- ``fp8_e4m3`` (OCP E4M3FN, ``ml_dtypes.float8_e4m3fn``): sign, 4 exponent bits (bias 7),
  3 mantissa bits, subnormals down to ``2**-9``, max 448, **no infinities**, NaN is
  ``S.1111.111`` (0x7F / 0xFF).
- ``fp8_e5m2`` (``ml_dtypes.float8_e5m2``, IEEE-like): 5 exponent bits (bias 15), 2
  mantissa bits, subnormals down to ``2**-16``, max 57344, ``S.11111.00`` is infinity,
  ``S.11111.xx`` (xx != 0) NaN.

Every finite FP8 value is ``(-1)**sign * sig * 2**(shift + lsb_exp)`` with ``sig`` the
significand with its hidden bit (``man_bits + 1`` bits), ``shift = max(exponent, 1) - 1``
and ``lsb_exp`` the least subnormal's exponent (-9, -16): :func:`decode` gives these
fields exactly as the hardware decodes them.

**Products** are exact: ``sig_a * sig_b`` shifted by ``shift_a + shift_b`` is an integer
in units of ``2**-product_frac_bits`` (E4M3: 18, E5M2: 32, mixed: 25). **Sums** are exact:
integers, never rounded inside a dot product, so a result does not depend on the order
of summation or on tiling. Special values travel as flags beside the sum (:data:`NAN`,
:data:`POS_INF`, :data:`NEG_INF`), OR-ed together: a NaN operand, ``0 * inf`` or
``inf + (-inf)`` give NaN, as IEEE 754 says. A finite product contributes its exact value;
a special one contributes 0 to the sum and its flag.

**Rounding** to FP8 is to nearest, ties to even, from the exact value (one rounding);
``saturate=True`` (ONNX's default) clamps to the largest finite magnitude (infinities
too), NaN stays NaN. ml_dtypes is the reference for every conversion
(``tests/test_fp8.py`` checks :func:`encode` against it); it does not saturate, so
:func:`cast_to_fp8` clips first.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import NamedTuple

import ml_dtypes
import numpy as np

from .config import INPUT_TYPES, InputType

__all__ = [
    "FP8_TYPES", "NAN", "POS_INF", "NEG_INF", "Fp8Error", "Fields", "fp8_type", "np_dtype", "as_codes",
    "decode", "to_float64", "fixed", "product_fixed", "matmul_fixed", "resolve", "fp8_matmul",
    "round_nearest_even", "encode", "encode_array", "cast_to_fp8", "to_float32", "to_int",
    "nan_code", "max_code",
]

#: The FP8 input types, by configuration name.
FP8_TYPES = tuple(n for n, t in INPUT_TYPES.items() if t.is_float)

#: Special-value flags of a product or a sum (the order of ``AccumulatorFormat.flag_names``).
NAN, POS_INF, NEG_INF = 1, 2, 4


class Fp8Error(ValueError):
    """Bad argument to an FP8 function; the message names it and what is allowed."""


class Fields(NamedTuple):
    """Decoded FP8 codes (numpy arrays of the codes' shape)."""

    sign: np.ndarray   #: 0 or 1
    sig: np.ndarray    #: significand with the hidden bit (0 for zeros and subnormal zero)
    shift: np.ndarray  #: max(exponent field, 1) - 1
    nan: np.ndarray    #: bool
    inf: np.ndarray    #: bool (never set for E4M3)


def fp8_type(name: str) -> InputType:
    t = INPUT_TYPES.get(name) if isinstance(name, str) else None
    if t is None or not t.is_float:
        raise Fp8Error(f"type={name!r}: not an FP8 type, allowed one of {list(FP8_TYPES)}")
    return t


def np_dtype(t: InputType | str) -> np.dtype:
    """The ml_dtypes dtype holding type ``t``'s bits."""
    t = fp8_type(t) if isinstance(t, str) else t
    return np.dtype(getattr(ml_dtypes, t.np_name))


def as_codes(x) -> np.ndarray:
    """FP8 codes as uint8: an ml_dtypes float8 array gives its bits; integers must be
    8-bit codes, ``0..255`` or their signed view ``-128..127`` (a scratchpad byte)."""
    x = np.asarray(x)
    if any(x.dtype == np_dtype(n) for n in FP8_TYPES):
        return x.view(np.uint8)
    if x.dtype.kind not in "iu":
        raise Fp8Error(f"codes: dtype {x.dtype} is not an FP8 or integer array")
    if x.size and (x.min() < -128 or x.max() > 255):
        raise Fp8Error("codes: values outside -128..255 (8-bit codes)")
    return (x.astype(np.int64) & 0xFF).astype(np.uint8)


def decode(codes, t: InputType | str) -> Fields:
    """The fields of FP8 codes, bit for bit as the PE decodes them."""
    t = fp8_type(t) if isinstance(t, str) else t
    c = as_codes(codes).astype(np.int64)
    m_bits, e_bits = t.man_bits, t.exp_bits
    e = (c >> m_bits) & ((1 << e_bits) - 1)
    m = c & ((1 << m_bits) - 1)
    top = e == (1 << e_bits) - 1
    if t.has_inf:
        inf, nan = top & (m == 0), top & (m != 0)
    else:
        inf, nan = np.zeros(c.shape, bool), top & (m == (1 << m_bits) - 1)
    sig = m | ((e != 0).astype(np.int64) << m_bits)
    return Fields(c >> 7, sig, np.maximum(e, 1) - 1, nan, inf)


def to_float64(codes, t: InputType | str) -> np.ndarray:
    """The values of FP8 codes as float64 (exact), decoded by ml_dtypes."""
    return as_codes(codes).view(np_dtype(t)).astype(np.float64)


def fixed(codes, t: InputType | str) -> tuple[np.ndarray, np.ndarray]:
    """Exact values as integers in units of ``2**lsb_exp`` (int64), and the flags; special
    values are 0 with their flag."""
    f = decode(codes, t)
    special = f.nan | f.inf
    mag = np.where(special, 0, f.sig << f.shift)
    flags = np.where(f.nan, NAN, 0) | np.where(f.inf & (f.sign == 0), POS_INF, 0) \
        | np.where(f.inf & (f.sign == 1), NEG_INF, 0)
    return np.where(f.sign == 1, -mag, mag), flags.astype(np.uint8)


def _product_flags(ia, fa, ib, fb) -> np.ndarray:
    """IEEE flags of products (broadcasting): NaN operand or 0 * inf is NaN; inf * nonzero
    is inf with the sign of the product."""
    nan = ((fa | fb) & NAN).astype(bool)
    inf_a, inf_b = (fa & (POS_INF | NEG_INF)) != 0, (fb & (POS_INF | NEG_INF)) != 0
    zero_a, zero_b = (fa == 0) & (ia == 0), (fb == 0) & (ib == 0)
    nan |= (inf_a & zero_b) | (zero_a & inf_b)
    inf = (inf_a | inf_b) & ~nan
    neg_a = ((fa & NEG_INF) != 0) | (ia < 0)
    neg_b = ((fb & NEG_INF) != 0) | (ib < 0)
    neg = neg_a ^ neg_b
    return (np.where(nan, NAN, 0) | np.where(inf & ~neg, POS_INF, 0)
            | np.where(inf & neg, NEG_INF, 0)).astype(np.uint8)


def product_fixed(a, b, a_type: str, b_type: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise exact products (broadcasting): integers in units of
    ``2**-product_frac_bits`` (object array of Python ints) and the product flags."""
    ia, fa = fixed(a, a_type)
    ib, fb = fixed(b, b_type or a_type)
    flags = _product_flags(ia, fa, ib, fb)
    return np.asarray(ia, dtype=object) * np.asarray(ib, dtype=object), flags


def matmul_fixed(a, b, a_type: str, b_type: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``A @ B`` of FP8 codes ``a`` (M, K) and ``b`` (K, N): the sums (object array
    of Python ints in units of ``2**-product_frac_bits``, never rounded or wrapped) and
    the OR of every product's flags (uint8)."""
    ia, fa = fixed(a, a_type)
    ib, fb = fixed(b, b_type or a_type)
    if ia.ndim != 2 or ib.ndim != 2 or ia.shape[1] != ib.shape[0]:
        raise Fp8Error(f"matmul shapes do not chain: A{ia.shape} @ B{ib.shape}")
    k = ia.shape[1]
    bound = int(np.abs(ia).max(initial=0)) * int(np.abs(ib).max(initial=0)) * k
    if bound < 1 << 62:  # int64 is exact
        sums = (ia @ ib).astype(object)
    else:
        sums = ia.astype(object) @ ib.astype(object)
    flags = np.zeros((ia.shape[0], ib.shape[1]), np.uint8)
    for kk in range(k):  # K passes of (M, N) keep memory small
        flags |= _product_flags(ia[:, kk, None], fa[:, kk, None], ib[None, kk, :], fb[None, kk, :])
    return sums, flags


def resolve(sums, flags, frac_bits: int) -> np.ndarray:
    """Values of exact sums: ``Fraction(sum, 2**frac_bits)``, or ``nan`` (NaN flag, or both
    infinities), ``inf`` / ``-inf`` (object array)."""
    sums, flags = np.asarray(sums, dtype=object), np.asarray(flags)
    out = np.empty(sums.shape, dtype=object)
    for idx in np.ndindex(sums.shape):
        f = int(flags[idx])
        if f & NAN or (f & POS_INF and f & NEG_INF):
            out[idx] = math.nan
        elif f & POS_INF:
            out[idx] = math.inf
        elif f & NEG_INF:
            out[idx] = -math.inf
        else:
            out[idx] = Fraction(int(sums[idx]), 1 << frac_bits)
    return out


def fp8_matmul(a, b, a_type: str = "fp8_e4m3", b_type: str | None = None) -> np.ndarray:
    """The golden FP8 matmul: ``A @ B`` summed exactly. ``a`` (M, K) and ``b`` (K, N) are
    FP8 codes (or ml_dtypes float8 arrays); returns an object array of exact
    ``Fraction`` sums, ``nan``, ``inf`` or ``-inf``."""
    b_type = b_type or a_type
    sums, flags = matmul_fixed(a, b, a_type, b_type)
    return resolve(sums, flags, -(fp8_type(a_type).lsb_exp + fp8_type(b_type).lsb_exp))


# -- rounding ---------------------------------------------------------------------------
def _floor_log2(mag: Fraction) -> int:
    n, d = mag.numerator, mag.denominator
    e = n.bit_length() - d.bit_length()
    if (n << max(0, -e)) < (d << max(0, e)):  # mag < 2**e
        e -= 1
    return e


def _round_dyadic(n: int, e: int, man_bits: int, lsb_exp: int) -> tuple[int, int]:
    """``|n| * 2**e`` rounded to nearest even with ``man_bits`` mantissa bits and least step
    ``2**lsb_exp``: ``(K, q)``, the result being ``K * 2**q`` (integers only: fast)."""
    n = abs(n)
    if n == 0:
        return 0, lsb_exp
    q = max(n.bit_length() - 1 + e - man_bits, lsb_exp)
    s = q - e
    if s <= 0:
        return n << -s, q
    k, rem, half = n >> s, n & ((1 << s) - 1), 1 << (s - 1)
    return k + (rem > half or (rem == half and k & 1)), q


def _round(x: Fraction, man_bits: int, lsb_exp: int) -> tuple[int, int]:
    """``|x|`` rounded as :func:`_round_dyadic`, for any rational ``x``."""
    n, d = x.numerator, x.denominator
    if d & (d - 1) == 0:  # a power of two: every float and every exact sum
        return _round_dyadic(n, 1 - d.bit_length(), man_bits, lsb_exp)
    mag = abs(x)
    q = max(_floor_log2(mag) - man_bits, lsb_exp)
    return round(mag / Fraction(2) ** q), q  # Fraction.__round__: half to even


def round_nearest_even(x: Fraction, man_bits: int, lsb_exp: int) -> Fraction:
    """``x`` rounded to a binary float with ``man_bits`` stored mantissa bits and least
    step ``2**lsb_exp`` (subnormals), to nearest with ties to even; no upper bound."""
    x = Fraction(x)
    k, q = _round(x, man_bits, lsb_exp)
    r = k * Fraction(2) ** q
    return r if x >= 0 else -r


def max_code(t: InputType | str) -> int:
    """Code of the largest finite magnitude (0x7E for E4M3, 0x7B for E5M2)."""
    t = fp8_type(t) if isinstance(t, str) else t
    return _magnitude_code(t.max_magnitude, 0, t)


def nan_code(t: InputType | str, sign: int = 0) -> int:
    """The canonical NaN (ml_dtypes' ``float('nan')``): 0x7F for E4M3, 0x7E for E5M2."""
    t = fp8_type(t) if isinstance(t, str) else t
    return (sign << 7) | (0x7F if not t.has_inf else 0x7E)


def _inf_code(t: InputType, sign: int) -> int:
    return (sign << 7) | (((1 << t.exp_bits) - 1) << t.man_bits)


def _magnitude_code(k: int, q: int, t: InputType) -> int:
    """Code bits (without the sign) of the representable magnitude ``k * 2**q``."""
    if k == 0:
        return 0
    e = k.bit_length() - 1 + q
    if e < 1 - t.bias:  # subnormal
        return k << (q - t.lsb_exp)
    shift = q - e + t.man_bits
    mant = k << shift if shift >= 0 else k >> -shift
    return ((e + t.bias) << t.man_bits) | (mant - (1 << t.man_bits))


def _beyond(k: int, q: int, limit: int) -> bool:
    """``k * 2**q > limit``."""
    return (k << q if q >= 0 else k) > (limit if q >= 0 else limit << -q)


def encode(x, t: InputType | str, saturate: bool = True) -> int:
    """The FP8 code of ``x`` (``Fraction``, ``int`` or ``float``, including ``nan``,
    ``inf`` and ``-0.0``), rounded once to nearest even. ``saturate``: beyond the largest
    finite magnitude (infinities too) gives it, with the sign; else E5M2 gives infinity and
    E4M3 NaN. NaN keeps its sign bit (canonical payload)."""
    t = fp8_type(t) if isinstance(t, str) else t
    if isinstance(x, float):
        sign = int(math.copysign(1.0, x) < 0)  # -0.0 too
        if math.isnan(x):
            return nan_code(t, sign)
        if math.isinf(x):
            return (sign << 7) | max_code(t) if saturate else (
                _inf_code(t, sign) if t.has_inf else nan_code(t, sign))
        x = Fraction(x)
    else:
        x = Fraction(x)
        sign = int(x < 0)
    k, q = _round(x, t.man_bits, t.lsb_exp)
    if _beyond(k, q, t.max_magnitude):
        if saturate:
            return (sign << 7) | max_code(t)
        return _inf_code(t, sign) if t.has_inf else nan_code(t, sign)
    return (sign << 7) | _magnitude_code(k, q, t)


def encode_array(x, t: InputType | str, saturate: bool = True) -> np.ndarray:
    """:func:`encode` elementwise (floats, Fractions, ints); uint8 codes."""
    x = np.asarray(x, dtype=object)
    return np.array([encode(v, t, saturate) for v in x.ravel()], dtype=np.uint8).reshape(x.shape)


def cast_to_fp8(x, t: InputType | str, saturate: bool = True) -> np.ndarray:
    """Cast a float array (float16/32/64) to FP8 with ml_dtypes, as ONNX ``Cast`` does:
    clipped to the largest finite magnitude first when ``saturate`` (ml_dtypes alone
    does not saturate). Returns the ml_dtypes float8 array."""
    dt = np_dtype(t)
    x = np.asarray(x)
    if saturate:
        big = float(ml_dtypes.finfo(dt).max)
        x = np.clip(x, -big, big)
    with np.errstate(invalid="ignore", over="ignore"):
        return x.astype(dt)


def to_float32(x) -> np.float32:
    """An exact value (``Fraction``, ``nan``, ``+-inf``) rounded once to float32, to nearest
    even; beyond the largest finite float32 (after rounding) gives infinity; a negative
    value too small for the least subnormal gives -0.0."""
    if isinstance(x, float) and not math.isfinite(x):
        return np.float32(x)
    x = Fraction(x)
    r = round_nearest_even(x, 23, -149)
    if abs(r) >= Fraction(2) ** 128:
        return np.float32(math.copysign(math.inf, r))
    return np.float32(math.copysign(float(r), -1.0 if x < 0 else 1.0))  # exact; -0 kept


def to_int(x, zero_point: int, qmin: int, qmax: int) -> int:
    """An exact value rounded half to even, plus ``zero_point``, clamped to
    ``[qmin, qmax]``; ``nan`` gives ``qmin`` (as onnxruntime's QuantizeLinear),
    ``+-inf`` the bound. (The clamp tests ``qmin`` first, as the hardware does, which
    decides what a word with ``qmin > qmax`` gives.)"""
    if isinstance(x, float) and math.isnan(x):
        t = qmin
    elif isinstance(x, float) and math.isinf(x):
        t = qmax if x > 0 else qmin
    else:
        t = round(Fraction(x)) + zero_point
    return qmin if t < qmin else qmax if t > qmax else t
