"""cocotb bench: the generated requantization unit against the golden model, bit for bit.

Every test loads lane parameters through the ``param`` port, streams accumulator
vectors with random gaps while the consumer applies random backpressure, and compares
every output vector with :func:`systolica.model.requant.requant_golden`. Reads
``SYSTOLICA_CONFIG`` (JSON) and ``SYSTOLICA_SEED``; every test prints its seed.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np

from ..hw.requant import LATENCY
from ..model.numerics import INT32_MAX, INT32_MIN, OUTPUT_TYPES, SHIFT_RANGE, RequantParams
from ..model.requant import requant_golden
from .requant_driver import RequantDriver
from .tb_common import CFG, rng_for

ACC_MIN, ACC_MAX = -(1 << (CFG.acc_bits - 1)), (1 << (CFG.acc_bits - 1)) - 1


# -- stimulus ---------------------------------------------------------------------------
def _accumulators(rng, n: int) -> np.ndarray:
    """``n`` vectors over the accumulator's whole range: extremes, small values (ties at
    small scales), powers of two and uniform values."""
    pool = [ACC_MIN, ACC_MAX, 0, 1, -1, 2, -2, 3, -3, INT32_MIN, INT32_MAX, 1 << 20, -(1 << 20)]
    pool = [v for v in pool if ACC_MIN <= v <= ACC_MAX]
    shape = (n, CFG.cols)
    kind = rng.integers(0, 4, size=shape)
    uniform = rng.integers(ACC_MIN, ACC_MAX, size=shape, endpoint=True, dtype=np.int64)
    small = rng.integers(-4096, 4097, size=shape)
    pow2 = rng.choice([-1, 1], size=shape) << rng.integers(0, min(CFG.acc_bits - 1, 62), size=shape)
    special = rng.choice(pool, size=shape)
    return np.select([kind == 0, kind == 1, kind == 2], [uniform, small, np.clip(pow2, ACC_MIN, ACC_MAX)],
                     special).astype(np.int64)


def _per(rng, per_channel: bool, draw):
    """One value (per tensor) or a tuple of one per column (per channel)."""
    return tuple(draw() for _ in range(CFG.cols)) if per_channel else draw()


def _clamp(rng, out_dtype: str, zp):
    """A random activation range around the zero point (none, ReLU-like or narrow)."""
    lo, hi, _ = OUTPUT_TYPES[out_dtype]
    kind = int(rng.integers(0, 3))
    z = zp if isinstance(zp, int) else zp[0]
    if kind == 0:
        return lo, hi
    if kind == 1:
        return z, hi                                   # ReLU: quantize(0) = zero point
    qmin = int(rng.integers(lo, z + 1))
    return qmin, int(rng.integers(max(qmin, z), hi + 1))  # e.g. ReLU6


def random_params(rng, scheme: str, out_dtype: str, per_channel: bool, rounding: str = "double"):
    lo, hi, _ = OUTPUT_TYPES[out_dtype]
    zp = _per(rng, per_channel, lambda: int(rng.integers(lo, hi + 1)))
    qmin, qmax = _clamp(rng, out_dtype, zp)
    if isinstance(zp, tuple):  # keep every channel's zero point inside its clamp range
        zp = tuple(min(max(z, qmin), qmax) for z in zp)
    if scheme == "tflite":
        def mult():
            return int(rng.choice([1 << 30, INT32_MAX, int(rng.integers(1 << 30, 1 << 31))]))

        return RequantParams("tflite", zp, out_dtype, multiplier=_per(rng, per_channel, mult),
                             shift=_per(rng, per_channel, lambda: int(rng.integers(SHIFT_RANGE[0],
                                                                                   SHIFT_RANGE[1] + 1))),
                             rounding=rounding, qmin=qmin, qmax=qmax)

    def scale():
        kind = int(rng.integers(0, 5))
        if kind == 0:   # exact powers of two: many exact .5 ties
            return float(np.float32(2.0 ** int(rng.integers(-24, 4))))
        if kind == 1:   # subnormal or tiny: everything rounds to 0
            return float(rng.choice(np.array([1e-45, 1e-40, 2.0 ** -126, 1e-20], dtype=np.float32)))
        if kind == 2:   # large: saturation
            return float(np.float32(2.0 ** rng.uniform(0, 40)))
        return float(np.float32(2.0 ** rng.uniform(-30, 2)))

    return RequantParams("onnx", zp, out_dtype, scale=_per(rng, per_channel, scale), qmin=qmin, qmax=qmax)


def random_bias(rng, per_channel: bool):
    draw = lambda: int(rng.choice([0, INT32_MIN, INT32_MAX, int(rng.integers(-(1 << 20), 1 << 20))]))  # noqa: E731
    return _per(rng, per_channel, draw)


def _assert_equal(got: np.ndarray, acc, params, bias, what: str) -> None:
    want = requant_golden(CFG, acc, params, bias).view(np.uint8)
    bad = np.argwhere(got != want)
    if bad.size:
        r, c = bad[0]
        raise AssertionError(
            f"{what}: {len(bad)} mismatches; first at vector {r} column {c}: acc={int(acc[r, c])} "
            f"RTL={int(got[r, c])} golden={int(want[r, c])} params={params} bias={bias}")


async def _cases(dut, scheme: str, rounding: str = "double", cases: int = 6, n: int = 48) -> None:
    rng = rng_for(f"{scheme}_{rounding}")
    drv = RequantDriver(dut)
    await drv.start()
    for case in range(cases):
        out_dtype = ("int8", "uint8")[case % 2]
        per_channel = bool(case & 2)
        params = random_params(rng, scheme, out_dtype, per_channel, rounding)
        bias = random_bias(rng, per_channel) if case % 3 else None
        acc = _accumulators(rng, n)
        await drv.load(params, bias)
        got, lasts, _ = await drv.run(acc, rng, gap=0.25, stall=0.25)
        _assert_equal(got, acc, params, bias, f"{scheme}/{rounding} case {case} ({out_dtype}, "
                                              f"{'per-channel' if per_channel else 'per-tensor'})")
        assert lasts == [i == n - 1 for i in range(n)], "last flags do not pass through"


@cocotb.test()
async def test_tflite_double_rounding_matches_golden(dut):
    await _cases(dut, "tflite", "double")


@cocotb.test()
async def test_tflite_single_rounding_matches_golden(dut):
    await _cases(dut, "tflite", "single")


@cocotb.test()
async def test_onnx_float32_scale_matches_golden(dut):
    await _cases(dut, "onnx", cases=8)


def _edge_accumulators() -> np.ndarray:
    """Small integers of both signs (exact ties at power-of-two scales), the extremes,
    values whose int32 -> float32 conversion itself rounds (ties to even), and values
    whose rounding carries out of the 24-bit mantissa (all its bits set, rounding up)."""
    vals = list(range(-40, 41)) + [ACC_MIN, ACC_MAX, INT32_MIN, INT32_MAX, INT32_MIN + 1,
                                   (1 << 24) + 1, (1 << 24) + 3, -(1 << 24) - 1, (1 << 25) + 2,
                                   (1 << 25) + 6, (1 << 30) + 64, -(1 << 30) - 192,
                                   (1 << 25) - 1, -(1 << 25) + 1, (1 << 26) - 1, -(1 << 26) + 2,
                                   (1 << 29) - 16, (1 << 31) - 64]
    vals = [v for v in vals if ACC_MIN <= v <= ACC_MAX]
    vals += [0] * (-len(vals) % CFG.cols)
    return np.array(vals, dtype=np.int64).reshape(-1, CFG.cols)


EDGE_PARAMS = [
    # ONNX: exact ties (.5) at power-of-two and 1.5 scales; smallest normal and a
    # subnormal scale (everything rounds to 0); the largest float32 (saturation)
    *[RequantParams("onnx", zp, dt, scale=s) for s in (0.5, 0.25, 1.5, 0.125, 1.0, 2.0 ** -126,
                                                       float(np.float32(1e-45)), float(np.finfo(np.float32).max), 2.0 ** -24)
      for dt, zp in (("int8", 0), ("uint8", 128))],
    # TFLite: multiplier 2^30 (0.5) with right shifts: RoundingDivideByPOT ties;
    # the largest multiplier with every extreme shift
    *[RequantParams("tflite", 3, "int8", multiplier=m, shift=sh, rounding=r)
      for m in (1 << 30, INT32_MAX) for sh in (-31, -8, -2, -1, 0, 1, 30) for r in ("double", "single")],
]


@cocotb.test()
async def test_edge_vectors_ties_and_extremes(dut):
    """Deterministic edge cases: rounding ties in every rounding step, the smallest and
    largest scales, every extreme shift, accumulator extremes."""
    drv = RequantDriver(dut)
    await drv.start()
    acc = _edge_accumulators()
    for params in EDGE_PARAMS:
        await drv.load(params)
        got, _, _ = await drv.run(acc)
        _assert_equal(got, acc, params, None, "edge vectors")


@cocotb.test()
async def test_onnx_near_ties_expose_every_float_rounding(dut):
    """Accumulators chosen so that ``acc * scale`` lands within a few ulps of ``k + 0.5``:
    the final round-half-even then depends on the int -> float32 rounding (large
    accumulators) and on the float32 product rounding, so any shortcut in either shows."""
    rng = rng_for("near_ties")
    drv = RequantDriver(dut)
    await drv.start()
    top = min(CFG.acc_bits, 32) - 2
    for case in range(6):
        scales = np.float32(100.0 * 2.0 ** -rng.uniform(8, top, size=CFG.cols))
        params = RequantParams("onnx", 0, "int8", scale=tuple(float(v) for v in scales))
        k = rng.integers(-100, 100, size=(64, CFG.cols)) + 0.5
        acc = np.rint(k / scales.astype(np.float64)).astype(np.int64) + rng.integers(-3, 4, size=k.shape)
        acc = np.clip(acc, ACC_MIN, ACC_MAX)
        await drv.load(params)
        got, _, _ = await drv.run(acc)
        _assert_equal(got, acc, params, None, f"near ties, case {case}")


def _product_tie(rng) -> tuple[int, float]:
    """An accumulator and a float32 scale whose exact product lies halfway between two
    adjacent float32 values next to ``k + 0.5``, so the product's round-to-nearest-even
    decides the output integer. With ``F`` in the binade ``[2^e, 2^(e+1))`` the two
    neighbours of ``k + 0.5`` are ``k + 0.5 +- 2^(e-24)``; scaled by ``2^(24-e)`` the
    target is the odd integer ``N = (2k+1) 2^(23-e) + sigma``, split as ``acc * m`` with
    ``m`` odd and the scale ``m 2^(e-24)``."""
    amax = min(ACC_MAX, (1 << 24) - 1)  # acc exact in float32
    while True:
        e = int(rng.integers(3, 7))
        k = int(rng.integers(1 << e, (1 << (e + 1)) - 1))
        n = (2 * k + 1) * (1 << (23 - e)) + int(rng.choice([-1, 1]))
        m_lo = max(3, -(-n // amax)) | 1
        for m in range(m_lo, m_lo + 4000, 2):
            if n % m == 0 and n // m <= amax:
                return n // m, float(np.float32(m * 2.0 ** (e - 24)))


@cocotb.test()
async def test_onnx_product_ties_round_to_even(dut):
    """float32 products that are exact ties next to ``k + 0.5``: a product rounding that
    is not nearest-even (half up, half down) changes the output."""
    rng = rng_for("product_ties")
    drv = RequantDriver(dut)
    await drv.start()
    for case in range(16):
        pairs = [_product_tie(rng) for _ in range(CFG.cols)]
        acc = np.array([[a for a, _ in pairs], [-a for a, _ in pairs]], dtype=np.int64)
        lo, hi, _ = OUTPUT_TYPES["int8"]
        params = RequantParams("onnx", 0, "int8", scale=tuple(s for _, s in pairs), qmin=lo, qmax=hi)
        await drv.load(params)
        got, _, _ = await drv.run(acc)
        _assert_equal(got, acc, params, None, f"product ties, case {case}")


@cocotb.test()
async def test_layer_parameters_with_activations(dut):
    """Parameters derived from real layer scales, as each runtime derives them, with
    none / ReLU / ReLU6 clamps, per-tensor and per-channel weight scales."""
    rng = rng_for("layers")
    drv = RequantDriver(dut)
    await drv.start()
    for scheme in ("tflite", "onnx"):
        for activation in ("none", "relu", "relu6"):
            for out_dtype, zp in (("int8", int(rng.integers(-20, 20))), ("uint8", int(rng.integers(0, 40)))):
                w_scale = np.float32(2.0 ** rng.uniform(-10, -4, size=CFG.cols))
                params = RequantParams.for_layer(scheme, np.float32(2.0 ** rng.uniform(-8, -2)), w_scale,
                                                 np.float32(2.0 ** rng.uniform(-6, 0)), zp, out_dtype,
                                                 activation=activation)
                bias = tuple(int(b) for b in rng.integers(-(1 << 16), 1 << 16, size=CFG.cols))
                acc = _accumulators(rng, 16)
                await drv.load(params, bias)
                got, _, _ = await drv.run(acc, rng, gap=0.1, stall=0.1)
                _assert_equal(got, acc, params, bias, f"{scheme} {activation} {out_dtype}")


@cocotb.test()
async def test_one_vector_per_cycle_and_fixed_latency(dut):
    """With no gaps and no backpressure the unit takes a vector every cycle and the
    first result appears LATENCY cycles after the first vector is accepted."""
    rng = rng_for("throughput")
    drv = RequantDriver(dut)
    await drv.start()
    params = random_params(rng, "onnx", "int8", True)
    acc = _accumulators(rng, 64)
    await drv.load(params)
    got, _, (first_in, last_out) = await drv.run(acc)
    _assert_equal(got, acc, params, None, "throughput run")
    assert last_out - first_in == len(acc) - 1 + LATENCY, (
        f"{len(acc)} vectors took {last_out - first_in + 1} cycles, expected {len(acc) + LATENCY}")
    cocotb.log.warning(f"requant {CFG.cols} lanes: {len(acc)} vectors in {last_out - first_in + 1} "
                       f"cycles, latency {LATENCY}")
    if "SYSTOLICA_RESULT" in os.environ:  # for `make bench`
        with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
            json.dump({"vectors": len(acc), "cycles": last_out - first_in + 1,
                       "latency": last_out - first_in - (len(acc) - 1)}, f)
