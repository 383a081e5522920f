"""model/numerics.py, bit-exact, against independent pure-Python (int / Fraction) references.

The references below are written directly from the C++ they model, with Python ints (no
numpy, no shared code with the module):

- gemmlowp ``fixedpoint.h``: SaturatingRoundingDoublingHighMul, RoundingDivideByPOT;
- TFLite ``common.cc``: MultiplyByQuantizedMultiplier, default (double rounding) and
  ``TFLITE_SINGLE_ROUNDING``;
- TFLite ``quantization_util.cc``: QuantizeMultiplier (``frexp`` + ``std::round``);
- TFLite ``kernel_util.cc``: CalculateActivationRangeQuantized.

The "onnx" requantization scheme is cross-checked against a plain numpy float32 formula.
"""

from __future__ import annotations

import math
import sys
from fractions import Fraction

import numpy as np
import pytest

from systolica.model import numerics as nm
from systolica.model.numerics import INT32_MAX, INT32_MIN, NumericsError, RequantParams

INT32_EDGES = [INT32_MIN, INT32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, 1 << 30,
               INT32_MAX - 1, INT32_MAX]
MULT_EDGES = [0, 1, 1 << 30, (1 << 30) + 1, INT32_MAX - 1, INT32_MAX]


# --------------------------------------------------------------------------------------
# independent references (Python ints)
# --------------------------------------------------------------------------------------
def _int32(v: int) -> int:
    """static_cast<int32_t> of a wider integer: keep the low 32 bits, two's complement."""
    return ((v + (1 << 31)) % (1 << 32)) - (1 << 31)


def _cxx_div(n: int, d: int) -> int:
    """C++ integer division (truncates toward zero), d > 0."""
    q = abs(n) // d
    return q if n >= 0 else -q


def _round_half_away(v: Fraction) -> int:
    """std::round / TfLiteRound: nearest, ties away from zero (exact, on a Fraction)."""
    n = math.floor(abs(v) + Fraction(1, 2))
    return n if v >= 0 else -n


def ref_srdhm(a: int, b: int) -> int:
    """gemmlowp fixedpoint.h SaturatingRoundingDoublingHighMul(int32 a, int32 b)."""
    overflow = a == b and a == INT32_MIN
    ab_64 = a * b
    nudge = (1 << 30) if ab_64 >= 0 else 1 - (1 << 30)
    ab_x2_high32 = _int32(_cxx_div(ab_64 + nudge, 1 << 31))
    return INT32_MAX if overflow else ab_x2_high32


def ref_rdbpot(x: int, exponent: int) -> int:
    """gemmlowp fixedpoint.h RoundingDivideByPOT(int32 x, int exponent)."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def ref_mbqm_double(x: int, multiplier: int, shift: int) -> int:
    """TFLite common.cc MultiplyByQuantizedMultiplier, default (double rounding) build."""
    left_shift = shift if shift > 0 else 0
    right_shift = 0 if shift > 0 else -shift
    return ref_rdbpot(ref_srdhm(_int32(x * (1 << left_shift)), multiplier), right_shift)


def ref_mbqm_single(x: int, multiplier: int, shift: int) -> int:
    """TFLite common.cc MultiplyByQuantizedMultiplier, TFLITE_SINGLE_ROUNDING build."""
    total_shift = 31 - shift
    round_ = 1 << (total_shift - 1)
    result = (x * multiplier + round_) >> total_shift
    return _int32(result)


REF_MBQM = {"double": ref_mbqm_double, "single": ref_mbqm_single}


def ref_quantize_multiplier(scale: float, rounding: str = "double") -> tuple[int, int]:
    """TFLite quantization_util.cc QuantizeMultiplier(double) for scale > 0."""
    q, shift = math.frexp(scale)
    q_fixed = _round_half_away(Fraction(q) * (1 << 31))
    assert q_fixed <= 1 << 31
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if rounding == "single" and shift > 30:
        shift, q_fixed = 30, (1 << 31) - 1
    return q_fixed, shift


def _random_int32(rng, n: int) -> list[int]:
    """n int32 values: INT32_EDGES first, then a mix of full range, small, near the ends."""
    full = rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True)
    small = rng.integers(-1000, 1000, size=n)
    ends = np.clip(np.where(rng.random(n) < 0.5, INT32_MIN, INT32_MAX)
                   + rng.integers(-50, 50, size=n), INT32_MIN, INT32_MAX)
    pick = rng.integers(0, 3, size=n)
    return (INT32_EDGES + [int(v) for v in np.choose(pick, [full, small, ends])])[:n]


def _random_multipliers(rng, n: int) -> list[int]:
    """n multipliers in [0, 2^31): MULT_EDGES, then mostly Q0.31 normalized [2^30, 2^31)."""
    norm = rng.integers(1 << 30, INT32_MAX, size=n, endpoint=True)
    anyv = rng.integers(0, INT32_MAX, size=n, endpoint=True)
    return (MULT_EDGES + [int(v) for v in np.where(rng.random(n) < 0.8, norm, anyv)])[:n]


# --------------------------------------------------------------------------------------
# gemmlowp primitives
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("a, b, want", [
    (INT32_MIN, INT32_MIN, INT32_MAX),              # the one saturating case
    (INT32_MIN, INT32_MAX, -INT32_MAX),             # -2^31 * (2^31-1) / 2^31, exact
    (INT32_MAX, INT32_MAX, INT32_MAX - 1),          # (2^31-1)^2 / 2^31 = 2^31 - 2 + 2^-31
    (INT32_MIN, 1 << 30, -(1 << 30)),
    (1 << 30, 1, 1),                                # +0.5 -> 1 (half up)
    (-(1 << 30), 1, 0),                             # -0.5 -> 0 (half up, toward +inf)
    (-(1 << 30) - 1, 1, -1),                        # just below -0.5 -> -1
    (3 << 29, 1, 1),                                # 0.75 -> 1
    (3 << 29, 2, 2),                                # 1.5 -> 2
    (-(3 << 29), 2, -1),                            # -1.5 -> -1 (half up)
    (0, INT32_MIN, 0),
])
def test_srdhm_edge_vectors(a, b, want):
    assert int(nm.saturating_rounding_doubling_high_mul(a, b)) == want
    assert ref_srdhm(a, b) == want


def test_srdhm_matches_fixedpoint_h(seed):
    """Module (numpy, nudge + truncating division) == fixedpoint.h on Python ints, and
    both == the single add-and-floor-shift form ``(a*b + 2^30) >> 31`` (except overflow)."""
    rng = np.random.default_rng(seed)
    a = _random_int32(rng, 4000)
    b = _random_int32(rng, 4000)
    pairs = [(x, y) for x in INT32_EDGES for y in INT32_EDGES] + list(zip(a, b))
    a_arr = np.array([p[0] for p in pairs], dtype=np.int64)
    b_arr = np.array([p[1] for p in pairs], dtype=np.int64)
    got = nm.saturating_rounding_doubling_high_mul(a_arr, b_arr).tolist()
    for (x, y), g in zip(pairs, got):
        want = ref_srdhm(x, y)
        assert g == want, (x, y, g, want)
        if not x == y == INT32_MIN:
            assert want == (x * y + (1 << 30)) >> 31, (x, y)


@pytest.mark.parametrize("x, exponent, want", [
    (-3, 1, -2), (-1, 1, -1), (1, 1, 1), (3, 1, 2), (-2, 1, -1), (2, 1, 1),
    (-5, 2, -1), (-6, 2, -2), (6, 2, 2), (5, 2, 1), (7, 0, 7), (-7, 0, -7),
    (INT32_MIN, 31, -1), (INT32_MAX, 31, 1), (INT32_MIN, 1, -(1 << 30)), (-(1 << 30), 31, -1),
    ((1 << 30) - 1, 31, 0), (-(1 << 30) + 1, 31, 0),
])
def test_rdbpot_edge_vectors(x, exponent, want):
    assert int(nm.rounding_divide_by_pot(x, exponent)) == want
    assert ref_rdbpot(x, exponent) == want


@pytest.mark.parametrize("exponent", range(32))
def test_rdbpot_matches_fixedpoint_h(exponent, seed):
    """Every exponent: module == fixedpoint.h == exact x / 2^e rounded half away from zero;
    includes every exact tie (+-(k + 1/2) * 2^e) that fits int32."""
    rng = np.random.default_rng([seed, exponent])
    xs = _random_int32(rng, 600)
    if exponent:
        half = 1 << (exponent - 1)
        ks = rng.integers(-(1 << (31 - exponent)), 1 << (31 - exponent), size=100)
        xs += [v for k in ks for v in (int(k) * (1 << exponent) + half, int(k) * (1 << exponent) - half)
               if INT32_MIN <= v <= INT32_MAX]
    got = nm.rounding_divide_by_pot(np.array(xs, dtype=np.int64), exponent).tolist()
    for x, g in zip(xs, got):
        assert g == ref_rdbpot(x, exponent) == _round_half_away(Fraction(x, 1 << exponent)), (x, g)


# --------------------------------------------------------------------------------------
# MultiplyByQuantizedMultiplier
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("rounding", nm.ROUNDINGS)
@pytest.mark.parametrize("shift", range(nm.SHIFT_RANGE[0], nm.SHIFT_RANGE[1] + 1))
def test_mbqm_matches_tflite(shift, rounding, seed):
    """Every shift in SHIFT_RANGE, random and extreme x / multipliers (2^31 - 1 included)."""
    rng = np.random.default_rng([seed, shift - nm.SHIFT_RANGE[0]])
    xs = _random_int32(rng, 300)
    ms = _random_multipliers(rng, len(xs))
    got = nm.multiply_by_quantized_multiplier(np.array(xs), np.array(ms), shift, rounding).tolist()
    ref = REF_MBQM[rounding]
    for x, m, g in zip(xs, ms, got):
        assert g == ref(x, m, shift), (x, m, shift, rounding, g)


def test_mbqm_per_channel_broadcast(seed):
    """Per-channel multiplier/shift of shape (C,) apply along the last axis."""
    rng = np.random.default_rng(seed)
    x = np.array(_random_int32(rng, 35)).reshape(7, 5)
    ms = np.array(_random_multipliers(rng, 11)[-5:])
    shifts = rng.integers(nm.SHIFT_RANGE[0], nm.SHIFT_RANGE[1] + 1, size=5)
    for rounding, ref in REF_MBQM.items():
        got = nm.multiply_by_quantized_multiplier(x, ms, shifts, rounding)
        want = [[ref(int(x[i, c]), int(ms[c]), int(shifts[c])) for c in range(5)] for i in range(7)]
        assert got.tolist() == want


def test_double_and_single_rounding_differ_somewhere():
    """Search (fixed seed) for an input where the two TFLite builds disagree by one LSB;
    each result still equals its own reference there."""
    rng = np.random.default_rng(20240601)
    for _ in range(200):
        x = rng.integers(INT32_MIN, INT32_MAX, size=1000, endpoint=True)
        m = rng.integers(1 << 30, INT32_MAX, size=1000, endpoint=True)
        s = rng.integers(-31, 1, size=1000)
        d = nm.multiply_by_quantized_multiplier(x, m, s, "double")
        si = nm.multiply_by_quantized_multiplier(x, m, s, "single")
        hits = np.flatnonzero(d != si)
        if hits.size:
            break
    assert hits.size, "no input found where double and single rounding differ"
    i = int(hits[0])
    xi, mi, sh = int(x[i]), int(m[i]), int(s[i])
    dv, sv = int(d[i]), int(si[i])
    print(f"\ndouble vs single rounding differ at x={xi}, multiplier={mi}, shift={sh}: "
          f"double={dv}, single={sv}")
    assert dv != sv
    assert dv == ref_mbqm_double(xi, mi, sh)
    assert sv == ref_mbqm_single(xi, mi, sh)
    assert abs(dv - sv) == 1


# --------------------------------------------------------------------------------------
# QuantizeMultiplier
# --------------------------------------------------------------------------------------
EDGE_SCALES = (
    [2.0 ** k for k in range(-40, 40)]                  # exact powers of two
    + [1.0, 3.0, 1.5, 0.1, 1 / 3, 1e-3, 123456.789]
    + [1 - 2.0 ** -33,                                  # q * 2^31 rounds up to 2^31 -> (2^30, shift+1)
       (1 - 2.0 ** -32) * 2.0 ** -5,                    # q * 2^31 = 2^31 - 0.5 exactly: tie, rounds up
       0.5 + 2.0 ** -32,                                # q * 2^31 = 2^30 + 0.5: half away -> 2^30 + 1
       0.5 + 3 * 2.0 ** -32,                            # 2^30 + 1.5 -> 2^30 + 2
       2.0 ** -32 * (1 - 2.0 ** -40),                   # just below 2^-32, rounds up: not flushed
       2.0 ** -32, 2.0 ** -33, 2.0 ** -32 * 0.75,       # at / below the flush threshold
       sys.float_info.min, 5e-324,                      # smallest normal / subnormal double
       2.0 ** 30, 2.0 ** 31 - 1, 1e300, sys.float_info.max]
)


@pytest.mark.parametrize("rounding", nm.ROUNDINGS)
def test_quantize_multiplier_matches_tflite(rounding, seed):
    rng = np.random.default_rng(seed)
    scales = EDGE_SCALES + list(2.0 ** rng.uniform(-40, 40, size=3000))
    for scale in scales:
        got = nm.quantize_multiplier(scale, rounding)
        assert got == ref_quantize_multiplier(scale, rounding), (scale, got)
        m, shift = got
        assert isinstance(m, int) and isinstance(shift, int)
        if m == 0:
            assert shift == 0 and scale < 2.0 ** -32
        elif rounding == "single" and ref_quantize_multiplier(scale, "double")[1] > 30:
            assert got == (INT32_MAX, 30)               # huge scale (>= ~2^30) saturated
        else:
            # Q0.31 multiplier in [2^30, 2^31), within half an LSB of the real scale.
            assert (1 << 30) <= m <= INT32_MAX
            err = abs(Fraction(m) * Fraction(2) ** (shift - 31) - Fraction(scale))
            assert err <= Fraction(2) ** (shift - 32), (scale, m, shift)


@pytest.mark.parametrize("scale, want", [
    (1.0, (1 << 30, 1)),
    (0.5, (1 << 30, 0)),
    (0.75, (3 << 29, 0)),
    (3.0, (3 << 29, 2)),
    (1 - 2.0 ** -33, (1 << 30, 1)),                    # q rounds up to 1.0
    ((1 - 2.0 ** -32) * 2.0 ** -5, (1 << 30, -4)),     # exact tie at 2^31 - 0.5, rounds up
    (0.5 + 2.0 ** -32, ((1 << 30) + 1, 0)),            # tie, half away (half even would give 2^30)
    (2.0 ** -32, (1 << 30, -31)),
    (2.0 ** -32 * (1 - 2.0 ** -40), (1 << 30, -31)),   # below 2^-32 but rounds up: kept
    (2.0 ** -33, (0, 0)),                              # flushed to zero
    (1e-20, (0, 0)),
])
def test_quantize_multiplier_edge_vectors(scale, want):
    assert nm.quantize_multiplier(scale) == want
    assert ref_quantize_multiplier(scale) == want


def test_quantize_multiplier_large_scales():
    """scale >= 2^30: double rounding returns TFLite's shift >= 31 (rejected by the datapath),
    single rounding saturates to (2^31 - 1, 30)."""
    assert nm.quantize_multiplier(2.0 ** 30, "double") == (1 << 30, 31)
    assert nm.quantize_multiplier(2.0 ** 30, "single") == (INT32_MAX, 30)
    assert nm.quantize_multiplier(2.0 ** 29, "single") == (1 << 30, 30)
    m, s = nm.quantize_multiplier(2.0 ** 30, "double")
    with pytest.raises(NumericsError, match="shift"):
        nm.multiply_by_quantized_multiplier(1, m, s)


def test_quantize_multipliers_array(seed):
    rng = np.random.default_rng(seed)
    scales = 2.0 ** rng.uniform(-35, 10, size=(3, 4))
    m, s = nm.quantize_multipliers(scales)
    assert m.shape == s.shape == (3, 4) and m.dtype == s.dtype == np.int64
    for idx in np.ndindex(3, 4):
        assert (int(m[idx]), int(s[idx])) == ref_quantize_multiplier(float(scales[idx]))


# --------------------------------------------------------------------------------------
# error cases: each message names the parameter
# --------------------------------------------------------------------------------------
def _raises_naming(name: str, fn, *args, **kwargs) -> None:
    with pytest.raises(NumericsError) as info:
        fn(*args, **kwargs)
    assert name in str(info.value), (name, str(info.value))


@pytest.mark.parametrize("scale", [0.0, -0.0, -1.0, -1e-30, math.nan, math.inf, -math.inf, "x"])
def test_quantize_multiplier_rejects_bad_scale(scale):
    _raises_naming("scale", nm.quantize_multiplier, scale)


@pytest.mark.parametrize("name, kwargs", [
    ("multiplier", dict(multiplier=-1)),
    ("multiplier", dict(multiplier=1 << 31)),
    ("shift", dict(shift=31)),
    ("shift", dict(shift=-32)),
    ("x", dict(x=1 << 31)),
    ("x", dict(x=INT32_MIN - 1)),
    ("x", dict(x=1.5)),
    ("rounding", dict(rounding="nearest")),
])
def test_mbqm_rejects_out_of_range(name, kwargs):
    args = dict(x=1, multiplier=1 << 30, shift=0)
    args.update(kwargs)
    _raises_naming(name, nm.multiply_by_quantized_multiplier, **args)


@pytest.mark.parametrize("name, fn, args", [
    ("a=", nm.saturating_rounding_doubling_high_mul, (1 << 31, 1)),
    ("b=", nm.saturating_rounding_doubling_high_mul, (1, INT32_MIN - 1)),
    ("x=", nm.rounding_divide_by_pot, (1 << 31, 1)),
    ("exponent", nm.rounding_divide_by_pot, (1, 32)),
    ("exponent", nm.rounding_divide_by_pot, (1, -1)),
    ("rounding", nm.quantize_multiplier, (0.5, "banker")),
])
def test_primitives_reject_out_of_range(name, fn, args):
    _raises_naming(name, fn, *args)


# --------------------------------------------------------------------------------------
# activation range (TFLite CalculateActivationRangeQuantized)
# --------------------------------------------------------------------------------------
def ref_activation_range(activation: str, scale: float, zp: int, out_dtype: str) -> tuple[int, int]:
    lo, hi = {"int8": (-128, 127), "uint8": (0, 255)}[out_dtype]

    def quantize(f: float) -> int:
        with np.errstate(over="ignore"):
            q = np.float32(f) / np.float32(scale)       # float32 division, as the C++ does
        r = _round_half_away(Fraction(float(q))) if np.isfinite(q) else INT32_MAX
        return zp + min(max(r, INT32_MIN), INT32_MAX)

    if activation == "none":
        return lo, hi
    if activation == "relu":
        return max(lo, quantize(0.0)), hi
    return max(lo, quantize(0.0)), min(hi, quantize(6.0))


@pytest.mark.parametrize("out_dtype", list(nm.OUTPUT_TYPES))
@pytest.mark.parametrize("activation", nm.ACTIVATIONS)
def test_activation_range(activation, out_dtype, seed):
    rng = np.random.default_rng(seed)
    lo, hi = nm.OUTPUT_TYPES[out_dtype][:2]
    # 12 -> 6/12 = 0.5 (half away: 1, half even would give 0); 4 -> 1.5; 1e-38 -> 6/s = inf.
    scales = [12.0, 4.0, 1.0, 0.5, 0.05, 6 / 255, 6 / 127, 1e-38, 1e-3]
    scales += list(10 ** rng.uniform(-4, 1, size=40))
    for scale in scales:
        for zp in (lo, hi, (lo + hi) // 2, int(rng.integers(lo, hi + 1))):
            got = nm.activation_range(activation, scale, zp, out_dtype)
            assert got == ref_activation_range(activation, scale, zp, out_dtype), (scale, zp)
    assert nm.activation_range("none", 0.1, 0, out_dtype) == (lo, hi)


def test_activation_range_tie_vectors():
    assert nm.activation_range("relu6", 12.0, 0, "int8") == (0, 1)         # round(0.5) = 1
    assert nm.activation_range("relu6", 12.0, -128, "int8") == (-128, -127)
    assert nm.activation_range("relu6", 4.0, 10, "uint8") == (10, 12)       # round(1.5) = 2
    assert nm.activation_range("relu", 0.1, -5, "int8") == (-5, 127)
    assert nm.activation_range("relu6", 1e-38, 3, "int8") == (3, 127)      # 6/s overflows


@pytest.mark.parametrize("name, args", [
    ("activation", ("gelu", 0.1, 0, "int8")),
    ("output_scale", ("relu", 0.0, 0, "int8")),
    ("output_scale", ("relu", math.nan, 0, "int8")),
    ("output_scale", ("relu", 1e-50, 0, "int8")),      # positive double, 0 in float32
    ("output_scale", ("relu", 1e39, 0, "int8")),       # inf in float32
    ("zero_point", ("relu", 0.1, 128, "int8")),
    ("zero_point", ("relu", 0.1, -1, "uint8")),
    ("out_dtype", ("relu", 0.1, 0, "int16")),
])
def test_activation_range_rejects(name, args):
    _raises_naming(name, nm.activation_range, *args)


# --------------------------------------------------------------------------------------
# RequantParams validation
# --------------------------------------------------------------------------------------
def test_requant_params_valid():
    p = RequantParams("tflite", zero_point=-3, multiplier=1 << 30, shift=-5)
    assert (p.qmin, p.qmax, p.channels) == (-128, 127, None)
    p = RequantParams("onnx", zero_point=(1, 2, 3), out_dtype="uint8",
                      scale=np.array([0.5, 0.25, 0.125], np.float32))
    assert (p.qmin, p.qmax, p.channels, p.scale) == (0, 255, 3, (0.5, 0.25, 0.125))
    p = RequantParams.from_tflite_scale([0.5, 1e-3], zero_point=4, rounding="single")
    assert p.multiplier == (1 << 30, nm.quantize_multiplier(1e-3, "single")[0])
    p = RequantParams.for_layer("onnx", 0.02, [0.003, 0.004], 0.1, 5, activation="relu6")
    assert p.qmin == 5 and p.channels == 2


@pytest.mark.parametrize("name, kwargs", [
    ("scheme", dict(scheme="gemmlowp", multiplier=1, shift=0)),
    ("out_dtype", dict(scheme="tflite", multiplier=1, shift=0, out_dtype="int4")),
    ("rounding", dict(scheme="tflite", multiplier=1, shift=0, rounding="up")),
    ("zero_point", dict(scheme="tflite", multiplier=1, shift=0, zero_point=128)),
    ("zero_point", dict(scheme="onnx", scale=0.5, zero_point=-1, out_dtype="uint8")),
    ("zero_point", dict(scheme="tflite", multiplier=1, shift=0, zero_point=(0, 300))),
    ("zero_point", dict(scheme="tflite", multiplier=1, shift=0, zero_point=1.5)),
    ("multiplier", dict(scheme="tflite", multiplier=1 << 31, shift=0)),
    ("multiplier", dict(scheme="tflite", multiplier=-1, shift=0)),
    ("multiplier", dict(scheme="tflite", shift=0)),
    ("shift", dict(scheme="tflite", multiplier=1, shift=31)),
    ("shift", dict(scheme="tflite", multiplier=(1, 2), shift=(0, -32))),
    ("scale", dict(scheme="tflite", multiplier=1, shift=0, scale=0.5)),
    ("scale", dict(scheme="onnx")),
    ("scale", dict(scheme="onnx", scale=0.1)),                  # not a float32 value
    ("scale", dict(scheme="onnx", scale=0.0)),
    ("scale", dict(scheme="onnx", scale=math.inf)),
    ("scale", dict(scheme="onnx", scale=math.nan)),
    ("multiplier", dict(scheme="onnx", scale=0.5, multiplier=1, shift=0)),
    ("qmin", dict(scheme="onnx", scale=0.5, qmin=-129)),
    ("qmax", dict(scheme="onnx", scale=0.5, qmax=256, out_dtype="uint8")),
    ("qmin", dict(scheme="onnx", scale=0.5, qmin=10, qmax=9)),
    ("per-channel", dict(scheme="onnx", scale=(0.5, 0.25), zero_point=(1, 2, 3))),
    ("scale", dict(scheme="onnx", scale=[[0.5]])),
])
def test_requant_params_rejects(name, kwargs):
    _raises_naming(name, RequantParams, **kwargs)


def test_requantize_rejects():
    p = RequantParams("onnx", scale=(0.5, 0.25))
    acc = np.zeros((2, 2), dtype=np.int32)
    _raises_naming("acc", nm.requantize, [1 << 31, 0], p)
    _raises_naming("acc", nm.requantize, acc.astype(np.float32), p)
    _raises_naming("channels", nm.requantize, np.zeros((2, 3), dtype=np.int32), p)
    _raises_naming("bias", nm.requantize, acc, p, bias=[1, 2, 3])
    _raises_naming("bias", nm.requantize, acc, p, bias=[1 << 31, 0])
    _raises_naming("axis", nm.requantize, acc, p, axis=2)
    with pytest.raises(TypeError):
        nm.requantize([1], {"scheme": "onnx"})


# --------------------------------------------------------------------------------------
# requantize, end to end
# --------------------------------------------------------------------------------------
def _accumulators(rng, shape) -> np.ndarray:
    """int32 accumulators: small (ties with power-of-two scales), mid, and full range."""
    small = rng.integers(-300, 300, size=shape)
    mid = rng.integers(-(1 << 20), 1 << 20, size=shape)
    full = rng.integers(INT32_MIN, INT32_MAX, size=shape, endpoint=True)
    acc = np.choose(rng.integers(0, 3, size=shape), [small, mid, full])
    acc.reshape(-1)[:4] = [INT32_MIN, INT32_MAX, 0, -1]
    return acc


def _biases(rng, c: int) -> np.ndarray:
    """Per-channel int32 biases: the first small, the rest either small or (40%) near the
    int32 ends, so acc + bias wraps."""
    near_end = np.where(rng.random(c) < 0.5, INT32_MIN, INT32_MAX) + rng.integers(-1000, 1000, size=c)
    bias = np.where(rng.random(c) < 0.4, np.clip(near_end, INT32_MIN, INT32_MAX),
                    rng.integers(-300, 300, size=c))
    bias[0] = rng.integers(-300, 300)
    return bias


@pytest.mark.parametrize("out_dtype", list(nm.OUTPUT_TYPES))
@pytest.mark.parametrize("rounding", nm.ROUNDINGS)
def test_requantize_tflite_matches_reference(rounding, out_dtype, seed):
    """acc + bias (int32 wrap) -> MultiplyByQuantizedMultiplier -> + zp (int32) -> clamp."""
    rng = np.random.default_rng(seed)
    lo, hi, np_dtype = nm.OUTPUT_TYPES[out_dtype]
    c = 6
    acc = _accumulators(rng, (40, c))
    bias = _biases(rng, c)
    scales = np.concatenate([[2.0 ** -12, 0.5, 1.0], 2.0 ** rng.uniform(-34, 3, size=c - 3)])
    zp = rng.integers(lo, hi + 1, size=c)
    qmin = rng.integers(lo, (lo + hi) // 2, size=c)
    qmax = rng.integers((lo + hi) // 2, hi + 1, size=c)
    p = RequantParams.from_tflite_scale(scales, zp, out_dtype, rounding=rounding, qmin=qmin, qmax=qmax)
    got = nm.requantize(acc, p, bias=bias)
    assert got.dtype == np_dtype
    ref = REF_MBQM[rounding]
    for (i, ch), g in np.ndenumerate(got):
        m, s = ref_quantize_multiplier(float(scales[ch]), rounding)
        y = _int32(ref(_int32(int(acc[i, ch]) + int(bias[ch])), m, s) + int(zp[ch]))
        assert g == min(max(y, int(qmin[ch])), int(qmax[ch])), (i, ch)


def numpy_onnx_requantize(acc, bias, scale, zp, qmin, qmax, np_dtype):
    """The onnxruntime formula, straight numpy: int32 add (wraps), float32 convert and
    multiply, round half to even, add the zero point, saturate."""
    s = acc.astype(np.int32) + bias.astype(np.int32)
    f = s.astype(np.float32) * np.asarray(scale, dtype=np.float32)
    assert f.dtype == np.float32
    return np.clip(np.rint(f).astype(np.float64) + zp, qmin, qmax).astype(np_dtype)


@pytest.mark.parametrize("out_dtype", list(nm.OUTPUT_TYPES))
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_requantize_onnx_matches_numpy_float32(per_channel, out_dtype, seed):
    rng = np.random.default_rng(seed)
    lo, hi, np_dtype = nm.OUTPUT_TYPES[out_dtype]
    c = 8
    with np.errstate(over="ignore"):
        for scale_kind in ("pow2", "random", "huge"):
            acc = _accumulators(rng, (200, c))
            bias = _biases(rng, c) if per_channel else _biases(rng, 1)[0]
            shape = (c,) if per_channel else ()
            scale = {"pow2": lambda: 2.0 ** rng.integers(-3, 0, size=shape),  # exact .5 ties
                     "random": lambda: 10 ** rng.uniform(-9, -1, size=shape),
                     "huge": lambda: 10 ** rng.uniform(20, 38, size=shape)}[scale_kind]()
            scale = np.asarray(scale, dtype=np.float32)
            zp = rng.integers(lo, hi + 1, size=shape)
            p = RequantParams("onnx", zero_point=zp, out_dtype=out_dtype, scale=scale)
            got = nm.requantize(acc, p, bias=bias)
            want = numpy_onnx_requantize(acc, bias, scale, zp, lo, hi, np_dtype)
            assert got.dtype == want.dtype and np.array_equal(got, want), scale_kind
            if scale_kind == "pow2":  # guard: exact ties really occur inside the output range
                f = (acc.astype(np.int32) + np.int32(bias)).astype(np.float64) * scale
                assert np.any((f - np.floor(f) == 0.5) & (np.abs(f) < 100))


def test_requantize_onnx_rounds_half_to_even():
    p = RequantParams("onnx", scale=np.float32(0.5))
    acc = np.array([1, 3, 5, -1, -3, -5, 253, 255, 257, -255, -257])
    assert nm.requantize(acc, p).tolist() == [0, 2, 2, 0, -2, -2, 126, 127, 127, -128, -128]


def test_requantize_bias_wraps():
    p = RequantParams("onnx", scale=np.float32(2.0 ** -24))
    # INT32_MAX + 1 wraps to INT32_MIN: -2^31 * 2^-24 = -128 (a saturating add would give 127)
    assert nm.requantize([INT32_MAX], p, bias=1).tolist() == [-128]
    q = RequantParams("tflite", multiplier=1 << 30, shift=-23)
    assert nm.requantize([INT32_MAX], q, bias=1).tolist() == [-128]


def test_effective_scales(seed):
    rng = np.random.default_rng(seed)
    a = np.float32(rng.uniform(1e-3, 1))
    b = rng.uniform(1e-3, 1, size=5).astype(np.float32)
    y = np.float32(rng.uniform(1e-3, 1))
    got = nm.onnx_effective_scale(a, b, y)
    assert got.dtype == np.float32
    assert np.array_equal(got, (a * b) / y)                      # two float32 operations
    h = b.astype(np.float16)
    assert np.array_equal(nm.onnx_effective_scale(a, h, y), (a * h.astype(np.float32)) / y)
    t = nm.tflite_effective_scale(float(a), b, float(y))
    assert t.dtype == np.float64
    assert t.tolist() == [float(a) * float(v) / float(y) for v in b]
    _raises_naming("b_scale", nm.onnx_effective_scale, a, np.float32(0), y)
    _raises_naming("filter_scale", nm.tflite_effective_scale, 0.1, [0.1, -1.0], 0.1)
    _raises_naming("input_scale", nm.tflite_effective_scale, math.nan, [0.1], 0.1)
