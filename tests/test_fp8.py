"""model/fp8.py and model/accum.py against references nobody here wrote: ml_dtypes (decode,
casts), numpy float64 (exact products), Python's ``math.fsum`` (exact sums, correctly
rounded) and numpy's float64 -> float32 rounding.

The products are checked exhaustively: all 256 x 256 code pairs of every format pair.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from systolica.model import accum, fp8
from systolica.model.config import AcceleratorConfig

PAIRS = [("fp8_e4m3", "fp8_e4m3"), ("fp8_e5m2", "fp8_e5m2"), ("fp8_e4m3", "fp8_e5m2"),
         ("fp8_e5m2", "fp8_e4m3")]
ALL = np.arange(256, dtype=np.uint8)
COUNTS: dict[str, int] = {}


@pytest.mark.parametrize("t", fp8.FP8_TYPES)
def test_decode_matches_ml_dtypes_for_every_code(t):
    """Fields as the PE decodes them give exactly ml_dtypes' value of all 256 codes."""
    want = fp8.to_float64(ALL, t)
    f = fp8.decode(ALL, t)
    lsb = fp8.fp8_type(t).lsb_exp
    assert np.array_equal(f.nan, np.isnan(want)) and np.array_equal(f.inf, np.isinf(want))
    fin = ~(f.nan | f.inf)
    value = np.where(f.sign == 1, -1.0, 1.0) * f.sig * np.exp2(f.shift + lsb)
    assert np.array_equal(value[fin], want[fin])
    assert np.array_equal(np.signbit(value[fin]), np.signbit(want[fin]))  # -0 too
    assert int(np.count_nonzero(f.nan)) == (2 if t == "fp8_e4m3" else 6)
    assert float(want[fp8.max_code(t)]) == fp8.fp8_type(t).max_magnitude


@pytest.mark.parametrize("a_type, b_type", PAIRS)
def test_every_product_is_exact(a_type, b_type, capsys):
    """All 65536 products: the fixed-point product (integer x 2**-frac) equals ml_dtypes'
    values multiplied in float64 (exact: at most 8 significant bits), NaN and infinities
    as IEEE says; every product fits ``product_bits``."""
    cfg = AcceleratorConfig(input_type=a_type, weight_type=b_type)
    a, b = np.meshgrid(ALL, ALL, indexing="ij")
    ints, flags = fp8.product_fixed(a, b, a_type, b_type)
    with np.errstate(invalid="ignore"):
        ref = fp8.to_float64(a, a_type) * fp8.to_float64(b, b_type)
    nan, pinf, ninf = np.isnan(ref), np.isposinf(ref), np.isneginf(ref)
    assert np.array_equal(flags == fp8.NAN, nan)
    assert np.array_equal(flags == fp8.POS_INF, pinf)
    assert np.array_equal(flags == fp8.NEG_INF, ninf)
    fin = ~(nan | pinf | ninf)
    scaled = ref[fin] * 2.0 ** cfg.product_frac_bits  # exact power-of-two scaling
    got = ints[fin]
    mismatches = sum(int(g) != int(w) for g, w in zip(got, scaled))
    assert mismatches == 0
    assert all(int(v) == 0 for v in ints[~fin])
    lim = 1 << (cfg.product_bits - 1)
    assert all(-lim <= int(v) < lim for v in got)
    assert max(abs(int(v)) for v in got) >= lim // 2  # and product_bits is not wider than needed
    COUNTS[f"{a_type} x {b_type}"] = a.size
    with capsys.disabled():
        print(f"\n{a_type} x {b_type}: {a.size} products ({int(fin.sum())} finite, {int(nan.sum())} NaN, "
              f"{int(pinf.sum() + ninf.sum())} infinite), 0 mismatches against ml_dtypes/float64")


def _float16_all() -> np.ndarray:
    return np.arange(1 << 16, dtype=np.uint16).view(np.float16)


def _float32_cases(t: str, rng) -> np.ndarray:
    """Every midpoint between neighbouring FP8 values (ties), one float32 step either side,
    the range ends, and random float32 bit patterns."""
    v = np.unique(np.abs(fp8.to_float64(ALL, t)[np.isfinite(fp8.to_float64(ALL, t))]))
    v = np.concatenate([v, [2 * v[-1] - v[-2]]])  # the step beyond the largest value
    mid = ((v[:-1] + v[1:]) / 2).astype(np.float32)
    near = np.concatenate([mid, np.nextafter(mid, np.float32(np.inf)), np.nextafter(mid, np.float32(0))])
    rand = rng.integers(0, 1 << 32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, -1e-30, 3e38], np.float32)
    both = np.concatenate([near, -near, rand, special, v.astype(np.float32), -v.astype(np.float32)])
    return both.astype(np.float32)


@pytest.mark.parametrize("saturate", [True, False])
@pytest.mark.parametrize("t", fp8.FP8_TYPES)
def test_encode_matches_ml_dtypes(t, saturate, seed):
    """The exact-rational rounding (:func:`fp8.encode`, used by requantization) gives
    ml_dtypes' cast of every float16 and of float32 ties and random bit patterns."""
    rng = np.random.default_rng(seed)
    for x in (_float16_all(), _float32_cases(t, rng)):
        want = fp8.cast_to_fp8(x, t, saturate).view(np.uint8)
        got = fp8.encode_array([float(v) for v in x], t, saturate)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, f"{t}: encode({x[bad[:4]]}) = {got[bad[:4]]}, ml_dtypes {want[bad[:4]]}"


def test_saturation_and_specials():
    e4, e5 = "fp8_e4m3", "fp8_e5m2"
    assert fp8.encode(Fraction(464), e4, saturate=False) == 0x7E  # a tie: 14 * 32 is even
    assert fp8.encode(Fraction(465), e4) == 0x7E           # would round to 480: saturates to 448
    assert fp8.encode(Fraction(465), e4, saturate=False) == 0x7F  # E4M3: NaN
    assert fp8.encode(Fraction(61440), e5, saturate=False) == 0x7C  # a tie to 8 * 8192: +inf
    assert fp8.encode(Fraction(-61440), e5) == 0xFB        # saturated: -57344
    assert fp8.encode(-math.inf, e5) == 0xFB and fp8.encode(math.nan, e5) == 0x7E
    assert fp8.encode(Fraction(1, 2 ** 10), e4) == 0x00     # exactly half the least subnormal: even
    assert fp8.encode(Fraction(3, 2 ** 11), e4) == 0x01
    assert fp8.encode(Fraction(-1, 2 ** 11), e4) == 0x80    # rounds to -0


def test_to_float32_and_to_int_match_numpy(seed):
    """Exact values rounded once to float32 agree with numpy's float64 -> float32 cast
    for values that are float64s; integer rounding agrees with ``np.rint``."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(5000) * np.exp2(rng.integers(-160, 130, 5000))
    x = np.concatenate([x, [3.4028235677973366e38, 3.4028235677973366e38 * (1 + 2 ** -25), 1e-46, 2.0 ** -150]])
    with np.errstate(over="ignore"):
        want = x.astype(np.float32)
    got = np.array([fp8.to_float32(Fraction(float(v))) for v in x], np.float32)
    assert np.array_equal(got.view(np.uint32), want.view(np.uint32))
    y = rng.integers(-600, 600, 3000) / 4.0
    assert [fp8.to_int(Fraction(v), 3, -128, 127) for v in y] == list(np.clip(np.rint(y) + 3, -128, 127))
    assert fp8.to_int(math.nan, 0, -128, 127) == -128 and fp8.to_int(-math.inf, 5, -128, 127) == -128


def _random_codes(rng, shape, t: str, special: float = 0.0) -> np.ndarray:
    """Random finite codes (every binade, subnormals, zeros), with a share of NaN/inf."""
    c = rng.integers(0, 256, shape).astype(np.uint8)
    fin = np.isfinite(fp8.to_float64(c, t))
    c = np.where(fin, c, 0).astype(np.uint8)
    if special:
        nan_inf = [fp8.nan_code(t)] + ([0x7C, 0xFC] if t == "fp8_e5m2" else [])
        mask = rng.random(shape) < special
        c[mask] = rng.choice(nan_inf, int(mask.sum()))
    return c


@pytest.mark.parametrize("a_type, b_type", PAIRS)
def test_fp8_matmul_is_the_exact_sum(a_type, b_type, seed):
    """fp8_matmul equals the exact sum of the ml_dtypes values (``math.fsum`` is correctly
    rounded, so float(exact) == fsum), with IEEE special values."""
    rng = np.random.default_rng(seed)
    a = _random_codes(rng, (7, 40), a_type, 0.02)
    b = _random_codes(rng, (40, 5), b_type, 0.02)
    got = fp8.fp8_matmul(a, b, a_type, b_type)
    fa, fb = fp8.to_float64(a, a_type), fp8.to_float64(b, b_type)
    for i in range(7):
        for j in range(5):
            with np.errstate(invalid="ignore"):
                prods = fa[i] * fb[:, j]
            g = got[i, j]
            if np.isnan(prods).any() or (np.isposinf(prods).any() and np.isneginf(prods).any()):
                assert isinstance(g, float) and math.isnan(g)
            elif np.isinf(prods).any():
                assert g == prods[np.isinf(prods)][0]
            else:
                assert isinstance(g, Fraction) and g == sum(Fraction(float(p)) for p in prods)
                assert float(g) == math.fsum(prods)


@pytest.mark.parametrize("a_type, b_type", PAIRS)
def test_sums_do_not_depend_on_order_or_tiling(a_type, b_type, seed):
    """Exact accumulation: any permutation of K and any split into tiles added as the
    accumulator adds them give the same elements, bits and flags."""
    cfg = AcceleratorConfig(input_type=a_type, weight_type=b_type)
    rng = np.random.default_rng(seed)
    a = _random_codes(rng, (6, 50), a_type, 0.01)
    b = _random_codes(rng, (50, 4), b_type, 0.01)
    whole = accum.matmul(cfg, a, b)
    perm = rng.permutation(50)
    assert np.array_equal(accum.matmul(cfg, a[:, perm], b[perm]), whole)
    cuts = sorted(rng.choice(np.arange(1, 50), 4, replace=False))
    total = accum.pack(cfg, np.zeros((6, 4), np.int64))
    for lo, hi in zip([0, *cuts], [*cuts, 50]):
        total = accum.add(cfg, total, accum.matmul(cfg, a[:, lo:hi], b[lo:hi]))
    assert np.array_equal(total, whole)


def test_accumulator_wraps_and_flags_or():
    """Beyond ``exact_terms`` the fixed-point sum wraps modulo 2**acc_bits (defined, like
    int8); flags OR, and +inf with -inf is NaN."""
    cfg = AcceleratorConfig(input_type="fp8_e5m2", acc_bits=65)
    big = np.full((1, 4), 0x7B, np.uint8)          # 57344: each product is the largest
    s, f = accum.unpack(cfg, accum.matmul(cfg, big, big.T))
    assert int(s[0, 0]) == accum.wrap(np.array([4 * (57344 ** 2 << 32)], dtype=object), 65)[0]
    inf = np.array([[0x7C, 0xFC]], np.uint8)        # +inf, -inf
    one = np.array([[0x3C], [0x3C]], np.uint8)      # 1.0
    e = accum.matmul(cfg, inf, one)
    assert accum.unpack(cfg, e)[1][0, 0] == fp8.POS_INF | fp8.NEG_INF
    assert math.isnan(accum.values(cfg, e)[0, 0])
    zero_inf = accum.matmul(cfg, np.array([[0x00]], np.uint8), np.array([[0x7C]], np.uint8))
    assert math.isnan(accum.values(cfg, zero_inf)[0, 0])
