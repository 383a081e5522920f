"""cocotb bench: the generated systolic array against the golden model, bit for bit.

Reads ``SYSTOLICA_CONFIG`` (JSON) and ``SYSTOLICA_SEED``; every test prints its seed.
"""

from __future__ import annotations

import random

import cocotb
import numpy as np

from ..model import accum
from ..model import array as golden
from .array_driver import ArrayDriver
from .array_sim import extreme_operands, random_operands
from .tb_common import CFG, SEED, rng_for
from .tb_gemm import split_results


def _ws(rng, m: int) -> golden.WsTile:
    return golden.WsTile(random_operands(CFG, rng, (m, CFG.rows)), random_operands(CFG, rng, (CFG.rows, CFG.cols), "w"))


def _os(rng, k: int) -> golden.OsTile:
    return golden.OsTile(random_operands(CFG, rng, (CFG.rows, k)), random_operands(CFG, rng, (k, CFG.cols), "w"))


def _assert_equal(got, tiles) -> None:
    want = golden.expected_outputs(CFG, tiles)
    assert len(got) == len(want), f"{len(got)} result vectors, golden model has {len(want)}"
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"result vector {n}: RTL {g} != golden {w}"


async def _run(dut, tiles, **kw):
    drv = ArrayDriver(dut, CFG)
    await drv.start()
    want = len(golden.expected_outputs(CFG, tiles))
    got, stats = await drv.run(tiles, want, **kw)
    _assert_equal(got, tiles)
    return stats


@cocotb.test(skip=not CFG.supports("ws"))
async def test_ws_back_to_back_tiles_have_no_bubble(dut):
    """Several WS tiles with M >= rows: after the first tile's weights, the data port
    accepts one beat every cycle (the next tile's weights load during compute)."""
    rng = rng_for("ws_b2b")
    tiles = [_ws(rng, CFG.rows + int(rng.integers(0, 5))) for _ in range(4)]
    st = await _run(dut, tiles)
    span = st.last_data_cycle - st.first_data_cycle + 1
    assert span == st.data_beats, (
        f"data beats took {span} cycles for {st.data_beats} beats: a bubble between tiles")


@cocotb.test(skip=not CFG.supports("os"))
async def test_os_tiles_back_to_back(dut):
    """OS tiles with K >= rows stream without a bubble; K = 1 and K < rows are exact too."""
    rng = rng_for("os_b2b")
    tiles = [_os(rng, CFG.rows + int(rng.integers(0, 4))) for _ in range(3)]
    st = await _run(dut, tiles)
    span = st.last_data_cycle - st.first_data_cycle + 1
    assert span == st.data_beats, f"OS beats took {span} cycles for {st.data_beats}: a bubble"
    await _run(dut, [_os(rng, 1), _os(rng, max(1, CFG.rows // 2)), _os(rng, 1)])


@cocotb.test()
async def test_mixed_dataflows_random_stalls(dut):
    """Random WS/OS tiles of random length (M, K from 1) with random gaps on both inputs."""
    rng = rng_for("mixed")
    tiles = []
    for _ in range(8):
        flow = CFG.dataflows[int(rng.integers(0, len(CFG.dataflows)))]
        n = int(rng.integers(1, 2 * CFG.rows + 3))
        tiles.append(_ws(rng, n) if flow == "ws" else _os(rng, n))
    await _run(dut, tiles, gap=0.3, rng=random.Random(SEED))


@cocotb.test()
async def test_extreme_operands_and_wraparound(dut):
    """The largest products of each sign (int8 -128/127, FP8 the largest finite values);
    with a narrow accumulator the sums wrap as the model defines (exact sum modulo
    2**acc_bits)."""
    rng = rng_for("extremes")
    k = max(CFG.rows, 4) if CFG.acc_bits > CFG.product_bits + 4 else 6 * CFG.rows
    tiles = []
    for fill_a, fill_b in extreme_operands(CFG):
        if CFG.supports("ws"):
            tiles.append(golden.WsTile(np.full((3, CFG.rows), fill_a), np.full((CFG.rows, CFG.cols), fill_b)))
        if CFG.supports("os"):
            tiles.append(golden.OsTile(np.full((CFG.rows, k), fill_a), np.full((k, CFG.cols), fill_b)))
    await _run(dut, tiles)
    del rng


@cocotb.test()
async def test_gemm_shapes_not_multiples_of_the_array(dut):
    """A GEMM with M, K, N not multiples of the array, tiled by the model's plan, run on
    the RTL and assembled: equals wrap(A @ B) computed directly."""
    rng = rng_for("gemm")
    m, k, n = (int(rng.integers(1, 3 * d + 2)) for d in (CFG.rows, CFG.rows, CFG.cols))
    a, b = random_operands(CFG, rng, (m, k)), random_operands(CFG, rng, (k, n), "w")
    direct = accum.matmul(CFG, a, b)
    for flow in CFG.dataflows:
        plan = golden.plan_gemm(CFG, a, b, flow)
        drv = ArrayDriver(dut, CFG)
        await drv.start()
        want = golden.expected_outputs(CFG, plan.tiles)
        got, _ = await drv.run(plan.tiles, len(want))
        _assert_equal(got, plan.tiles)
        c = golden.assemble(CFG, plan, split_results(plan, got))
        assert np.array_equal(c, direct), f"{flow} GEMM {m}x{k}x{n}: RTL tiles != A @ B (wrapped)"
