"""model/requant_fp8.py (exact sum x scale, one rounding) against ml_dtypes and numpy.

Where the exact value ``(sum + bias) * 2**-frac * scale`` is a float64 (|sum| < 2**29 and a
float32 scale: at most 53 significant bits), one rounding from it is what numpy's float64 ->
float32 cast and ``np.rint`` give, and what ml_dtypes' FP8 cast gives of a float32. Its
float64 -> FP8 cast rounds twice, through float32 (ml_dtypes 0.6.0: 0.021484374731699063,
just below an E5M2 midpoint, becomes the midpoint in float32 and then rounds up), so the FP8
reference is ml_dtypes' cast of the value rounded to float32 *to odd*, which makes the second
rounding the correct one (float32 has far more than the FP8 mantissa + 2 bits). The golden
model must agree with them on every element.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from systolica.model import accum, fp8
from systolica.model.config import AcceleratorConfig
from systolica.model.numerics import NumericsError
from systolica.model.requant_fp8 import Fp8RequantParams, fixed_bias, fp8_requant_golden, requantize_fp8

CONFIGS = [dict(input_type="fp8_e4m3"), dict(input_type="fp8_e5m2"),
           dict(input_type="fp8_e4m3", weight_type="fp8_e5m2")]


def _to_float32_odd(v: np.ndarray) -> np.ndarray:
    """float64 -> float32 rounded to odd: truncated toward zero, the last bit set when inexact."""
    f = v.astype(np.float32)
    inexact = f.astype(np.float64) != v
    over = inexact & (np.abs(f.astype(np.float64)) > np.abs(v))
    f[over] = np.nextafter(f[over], np.float32(0))
    bits = f.view(np.uint32)
    bits[inexact] |= 1
    return bits.view(np.float32)


def _cases(cfg, rng, n):
    sums = rng.integers(-(1 << 28), 1 << 28, n) >> rng.integers(0, 28, n)
    scales = np.float32(np.exp2(rng.uniform(-60, 40, n))) * np.float32(rng.choice([1.0, 1.5, 1.25, 1.1], n))
    scales[: n // 4] = np.float32(np.exp2(rng.integers(-40, 30, n // 4)))  # powers of two: ties
    return sums, scales.astype(np.float32)


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(f.values()))
def test_requantize_fp8_matches_ml_dtypes_and_numpy(fields, relu, seed):
    cfg = AcceleratorConfig(**fields)
    rng = np.random.default_rng(seed)
    sums, scales = _cases(cfg, rng, 3000)
    frac = cfg.acc_format.frac_bits
    v = sums.astype(np.float64) * np.exp2(-frac) * scales.astype(np.float64)  # exact
    if relu:
        v = np.maximum(v, 0.0)
    elements = accum.pack(cfg, sums.astype(object))
    for out in ("fp8_e4m3", "fp8_e5m2"):
        want = fp8.cast_to_fp8(_to_float32_odd(v), out, saturate=True).view(np.uint8)
        got = [requantize_fp8(cfg, int(e), out, float(s), relu=relu) for e, s in zip(elements, scales)]
        assert got == want.tolist()
    want32 = v.astype(np.float32)
    got32 = np.array([requantize_fp8(cfg, int(e), "fp32", float(s), relu=relu) for e, s in zip(elements, scales)],
                     np.float32)
    assert np.array_equal(got32.view(np.uint32), want32.view(np.uint32))
    zp = int(rng.integers(-20, 20))
    want_i = np.clip(np.rint(v) + zp, -100, 120).astype(np.int64) & 0xFF
    got_i = [requantize_fp8(cfg, int(e), "int8", float(s), relu=relu, zero_point=zp, qmin=-100, qmax=120)
             for e, s in zip(elements, scales)]
    assert got_i == want_i.tolist()


def test_special_sums_and_bias():
    cfg = AcceleratorConfig(input_type="fp8_e5m2")
    frac = cfg.acc_format.frac_bits
    one = 1 << frac
    nan, pinf, ninf = (int(accum.pack(cfg, np.array([5 * one], object), np.array([f], np.uint8))[0])
                       for f in (fp8.NAN, fp8.POS_INF, fp8.NEG_INF))
    both = int(accum.pack(cfg, np.array([0], object), np.array([fp8.POS_INF | fp8.NEG_INF], np.uint8))[0])
    assert requantize_fp8(cfg, nan, "fp8_e4m3", 1.0) == 0x7F and requantize_fp8(cfg, both, "fp8_e5m2", 1.0) == 0x7E
    assert requantize_fp8(cfg, pinf, "fp8_e5m2", 1.0) == 0x7B and requantize_fp8(cfg, ninf, "fp8_e4m3", 1.0) == 0xFE
    assert requantize_fp8(cfg, ninf, "fp8_e4m3", 1.0, relu=True) == 0x00
    assert requantize_fp8(cfg, nan, "int8", 1.0, zero_point=3) == 0x80  # qmin
    assert math.isinf(requantize_fp8(cfg, pinf, "fp32", 1.0))
    # the bias is added exactly in accumulator units: 3 - 3 = 0
    three = int(accum.pack(cfg, np.array([3 * one], object))[0])
    assert requantize_fp8(cfg, three, "fp8_e4m3", 1.0, bias=-3 * one) == 0x00
    assert int(fixed_bias(cfg, 0.75, 0.25)) == 3 * one
    assert int(fixed_bias(cfg, 1.0, 3.0)) == round(one / 3)


def test_golden_unit_and_parameter_checks():
    cfg = AcceleratorConfig(rows=2, cols=3, input_type="fp8_e4m3")
    one = 1 << cfg.acc_format.frac_bits
    acc = accum.pack(cfg, np.array([[one, -2 * one, 448 * one]], dtype=object))
    out = fp8_requant_golden(cfg, acc, Fp8RequantParams("fp8_e4m3", (1.0, 0.5, 2.0)))
    assert out.tolist() == [[0x38, 0xB8, 0x7E]]  # 1.0, -1.0, 896 saturated to 448
    for bad in (dict(out_type="fp16", scale=1.0), dict(out_type="int8", scale=-1.0),
                dict(out_type="int8", scale=0.1), dict(out_type="int8", scale=1.0, zero_point=200)):
        with pytest.raises(NumericsError):
            Fp8RequantParams(**bad)


def test_lane_problem_accepts_what_the_parameters_allow_and_names_the_rest():
    from systolica.model.requant_fp8 import fp8_lane_fields, fp8_lane_problem

    cfg = AcceleratorConfig(rows=1, cols=2, input_type="fp8_e4m3")
    for p in (Fp8RequantParams("fp8_e5m2", (0.5, float(np.float32(1e-40)))), Fp8RequantParams("uint8", 2.0, zero_point=200)):
        assert all(fp8_lane_problem(cfg, f) is None for f in fp8_lane_fields(cfg, p))
    good = fp8_lane_fields(cfg, Fp8RequantParams("int8", 1.0))[0]
    for change, needle in ((dict(scale=0x7F800000), "not a positive finite float32"),
                           (dict(scale=0xBF800000), "not a positive finite float32"),
                           (dict(out_type=3), "out_type=3"), (dict(qmin=5, qmax=4), "qmin=5 > qmax=4"),
                           (dict(zero_point=-129), "zero_point=-129")):
        assert needle in fp8_lane_problem(cfg, {**good, **change})
