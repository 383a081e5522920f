"""PE arithmetic (hw/arith.py) in Amaranth's simulator == the golden numerics, bit for bit.

No Verilator build: a combinational harness puts a few multiply-accumulates side by side.
Every A code meets a spread of B codes (zeros, subnormals, the extremes, NaN, infinities,
random) in the default suite; ``-m slow`` checks all 256 x 256 pairs of every format pair
(about a minute per pair). Accumulation (wrap at ``acc_bits``, flags OR-ed) is checked on
random partial sums.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Module, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from systolica.hw.arith import arithmetic_for
from systolica.model import accum, fp8
from systolica.model.bits import layout_width
from systolica.model.config import AcceleratorConfig

LANES = 12
PAIRS = [("fp8_e4m3", "fp8_e4m3"), ("fp8_e5m2", "fp8_e5m2"), ("fp8_e4m3", "fp8_e5m2"),
         ("fp8_e5m2", "fp8_e4m3")]


class _MacLanes(wiring.Component):
    """``out[j] = accumulate(acc[j], multiply(a, b[j]))`` and ``pair[j] = add_partials(acc[j],
    out[j])`` for ``LANES`` lanes (combinational)."""

    def __init__(self, cfg, with_pair: bool):
        self.ar, self.with_pair = arithmetic_for(cfg), with_pair
        op, acc = self.ar.operand_shape, self.ar.acc_shape
        super().__init__({"a": In(op), "b": In(data.ArrayLayout(op, LANES)),
                          "acc": In(data.ArrayLayout(acc, LANES)),
                          "out": Out(data.ArrayLayout(acc, LANES)), "pair": Out(data.ArrayLayout(acc, LANES))})

    def elaborate(self, platform):
        m = Module()
        for j in range(LANES):
            total = self.ar.accumulate(self.acc[j], self.ar.multiply(self.a, self.b[j]))
            m.d.comb += self.out[j].eq(total)
            if self.with_pair:
                m.d.comb += self.pair[j].eq(self.ar.add_partials(self.acc[j], self.out[j]))
        return m


def _elements(cfg, raw: int) -> list[int]:
    """Signed elements from the raw bits of an ArrayLayout(acc_shape, LANES) port."""
    w = cfg.acc_elem_bits
    vals = [(raw >> (j * w)) & ((1 << w) - 1) for j in range(LANES)]
    return [v - (1 << w) if v >> (w - 1) else v for v in vals]


def _lanes(cfg, values, width: int) -> int:
    return sum((int(v) & ((1 << width) - 1)) << (j * width) for j, v in enumerate(values))


def _products(cfg, a: int, b) -> np.ndarray:
    """Golden elements of ``a * b`` (elementwise over ``b``)."""
    b = np.asarray(b)
    if not cfg.is_float:
        return accum.pack(cfg, a * b.astype(np.int64))
    return accum.pack(cfg, *fp8.product_fixed(np.uint8(a), b.astype(np.uint8), cfg.input_type, cfg.weight_type))


def _run(cfg, steps, with_pair: bool = False) -> list[tuple[list[int], list[int]]]:
    """``steps``: (a, b row of LANES, acc row of LANES elements); the hardware's (out, pair)."""
    dut = _MacLanes(cfg, with_pair)
    got = []

    async def bench(ctx):
        for a, b, acc in steps:
            ctx.set(Value.cast(dut.a), int(a) & 0xFF)
            ctx.set(Value.cast(dut.b), _lanes(cfg, b, 8))
            ctx.set(Value.cast(dut.acc), _lanes(cfg, acc, cfg.acc_elem_bits))
            got.append((_elements(cfg, ctx.get(Value.cast(dut.out))),
                        _elements(cfg, ctx.get(Value.cast(dut.pair)))))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return got


def _spread(t: str, rng) -> np.ndarray:
    """LANES B codes: +-0, least/largest subnormal, least normal, 1.0, the largest finite,
    NaN (and both infinities for E5M2), the rest random."""
    v = fp8.to_float64(np.arange(256), t)
    sub = np.flatnonzero((v > 0) & (v < 2.0 ** (1 - fp8.fp8_type(t).bias)))
    fixed = [0x00, 0x80, int(sub[0]), int(sub[-1]), int(sub[-1]) + 1, int(np.flatnonzero(v == 1.0)[0]),
             fp8.max_code(t), 0x80 | fp8.max_code(t), fp8.nan_code(t)]
    fixed += [0x7C, 0xFC] if t == "fp8_e5m2" else [0xFF]
    return np.array(fixed + list(rng.integers(0, 256, LANES - len(fixed))), np.int64)


def _check_products(cfg, a_codes, b_rows) -> int:
    zero = [0] * LANES
    got = _run(cfg, [(a, b, zero) for a, b in zip(a_codes, b_rows)])
    for a, b, (out, _) in zip(a_codes, b_rows, got):
        want = [int(v) for v in _products(cfg, int(a), b)]
        assert out == want, f"a={int(a):#04x}, b={[hex(int(x)) for x in b]}: hardware {out} != golden {want}"
    return len(a_codes) * LANES


@pytest.mark.parametrize("a_type, w_type", PAIRS)
def test_fp8_products_in_the_amaranth_simulator(a_type, w_type, seed):
    """Every A code times LANES B codes spread over the special cases: ``0 + a * b`` from
    the hardware equals the golden product element (exact value and flags)."""
    cfg = AcceleratorConfig(rows=1, cols=1, input_type=a_type, weight_type=w_type)
    assert layout_width(arithmetic_for(cfg).acc_shape) == cfg.acc_elem_bits
    b = _spread(w_type, np.random.default_rng(seed))
    assert _check_products(cfg, range(256), [b] * 256) == 256 * LANES


@pytest.mark.slow
@pytest.mark.parametrize("a_type, w_type", PAIRS)
def test_every_fp8_product_in_the_amaranth_simulator(a_type, w_type, capsys):
    """All 65536 (a, b) code pairs through the hardware multiply-accumulate."""
    cfg = AcceleratorConfig(rows=1, cols=1, input_type=a_type, weight_type=w_type)
    blocks = [np.arange(k, k + LANES) % 256 for k in range(0, 256, LANES)]  # the last block wraps
    assert {int(v) for b in blocks for v in b} == set(range(256))
    n = _check_products(cfg, [a for a in range(256) for _ in blocks], blocks * 256)
    with capsys.disabled():
        print(f"\n{a_type} x {w_type}: all 65536 code pairs ({n} evaluated, the last B block wraps) "
              "hardware == golden, 0 mismatches")


@pytest.mark.parametrize("fields", [dict(input_type="fp8_e4m3", acc_bits=37),
                                    dict(input_type="fp8_e5m2"),
                                    dict(input_type="fp8_e4m3", weight_type="fp8_e5m2", acc_bits=51),
                                    dict(input_type="int8", acc_bits=16)],
                         ids=lambda f: "-".join(str(v) for v in f.values()))
def test_accumulate_wraps_and_ors_flags_like_the_model(fields, seed):
    """Random partial sums (extremes included, every flag combination) plus random
    products: ``accumulate`` and ``add_partials`` equal :func:`accum.add`."""
    cfg = AcceleratorConfig(rows=1, cols=1, **fields)
    rng, wide = np.random.default_rng(seed), random.Random(seed)
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    steps = []
    for _ in range(24):
        a = int(rng.integers(0, 256)) if cfg.is_float else int(rng.integers(-128, 128))
        b = rng.integers(0, 256, LANES) if cfg.is_float else rng.integers(-128, 128, LANES)
        sums = np.array([wide.choice([lo, hi, 0, -1, wide.randint(lo, hi)]) for _ in range(LANES)], object)
        flags = rng.integers(0, 1 << cfg.acc_format.flag_bits, LANES)
        steps.append((a, b, accum.pack(cfg, sums, flags)))
    for (a, b, acc), (out, pair) in zip(steps, _run(cfg, steps, with_pair=True)):
        want = accum.add(cfg, acc, _products(cfg, a, b))
        assert out == [int(v) for v in want]
        assert pair == [int(v) for v in accum.add(cfg, acc, want)]
