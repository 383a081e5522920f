"""cocotb bench: the requantization unit of FP8 configurations against the golden model.

Lane parameters (:func:`systolica.model.requant_fp8.fp8_lane_params`) go in through the
``param`` port; partial-sum vectors (exact sums with NaN/infinity flags) stream through
with random gaps and backpressure; every output vector is compared with
:func:`systolica.model.requant_fp8.fp8_requant_golden`: FP8 E4M3/E5M2 (round to nearest
even, saturating, NaN kept), int8 and uint8, ReLU, per-tensor and per-channel scales,
biases in accumulator units; ties, subnormal outputs, saturation and special values must
all occur. Reads ``SYSTOLICA_CONFIG`` and ``SYSTOLICA_SEED``.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np

from ..hw.requant import LATENCY
from ..model.requant_fp8 import fp8_lane_fields, fp8_requant_lanes
from .requant_driver import RequantDriver
from .requant_fp8_stimulus import OUTS, events, random_elements, random_fixed_bias, random_fp8_params
from .tb_common import CFG, SEED, Coverage, rng_for


def _assert_equal(got: np.ndarray, acc, fields, what: str) -> None:
    want = fp8_requant_lanes(CFG, acc, fields)
    bad = np.argwhere(got != want)
    if bad.size:
        r, c = bad[0]
        raise AssertionError(f"{what}: {len(bad)} mismatches; first at vector {r} column {c}: "
                             f"element={int(acc[r, c])} RTL={int(got[r, c]):#04x} "
                             f"golden={int(want[r, c]):#04x} lane={fields[c]}")


@cocotb.test()
async def test_fp8_requant_random_cases(dut):
    """Every output type, per tensor and per channel, with and without bias, random gaps
    and backpressure; the stimulus must reach every rounding and special case."""
    np_rng = rng_for("fp8_cases")
    rng = random.Random(SEED ^ 0xF8)
    drv = RequantDriver(dut)
    await drv.start()
    cov = Coverage()
    wanted = ["nan", "relu_zero", "tie", "subnormal", "saturate", "clamp"] + (["inf"] if CFG.acc_format.inf else [])
    for case in cov.until(wanted, least=16, most=160):
        per_channel = bool(case & 4)
        params = random_fp8_params(rng, OUTS[case % 4], per_channel, CFG.cols, pow2=case % 8 < 4)
        bias = random_fixed_bias(CFG, rng, per_channel) if case % 3 else None
        fields = fp8_lane_fields(CFG, params, bias)
        acc = random_elements(CFG, rng, 24, params)
        cov.update(e for row in acc for j, x in enumerate(row) for e in events(CFG, int(x), fields[j]))
        await drv.load_fields(fields)
        got, lasts, _ = await drv.run(acc, np_rng, gap=0.25, stall=0.25)
        _assert_equal(got, acc, fields, f"case {case} ({params.out_type}, per_channel={per_channel})")
        assert lasts == [False] * (len(acc) - 1) + [True], f"case {case}: last flags {lasts}"
    cov.require(wanted)


@cocotb.test()
async def test_fp8_requant_one_vector_per_cycle(dut):
    """No gaps, no backpressure: one vector per cycle, the first result LATENCY cycles
    after the first vector."""
    rng = random.Random(SEED)
    drv = RequantDriver(dut)
    await drv.start()
    fields = fp8_lane_fields(CFG, random_fp8_params(rng, "fp8_e4m3", True, CFG.cols), None)
    acc = random_elements(CFG, rng, 48)
    await drv.load_fields(fields)
    got, _, (first_in, last_out) = await drv.run(acc)
    _assert_equal(got, acc, fields, "throughput run")
    assert last_out - first_in == len(acc) - 1 + LATENCY, (
        f"{len(acc)} vectors took {last_out - first_in + 1} cycles, expected {len(acc) + LATENCY}")
