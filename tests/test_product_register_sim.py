"""``hw/dma_common.py``'s ``product_register`` (the DMA engines' on-chip rows, ``a * b * c``
in two register stages with ``a * b`` saturated) in Amaranth's simulator: for random
operands, near the saturation point and far past it, the value two cycles later is
``a * b * c`` exactly whenever that is at most ``bound`` (every command that passes the
check), and more than ``bound`` whenever the exact product is (unless ``c`` is 0); a
mutant that truncates ``a * b`` instead of saturating it is caught."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from systolica.hw import dma_common

from source_mutants import mutated


@pytest.mark.parametrize("bound", [64, 4096, 32768])
def test_product_register_is_exact_up_to_its_bound(bound, seed):
    _check(dma_common.product_register, bound, seed)


def test_truncating_mutant_is_caught(seed):
    changed = mutated("systolica.hw.dma_common",
                      "ab.eq(Mux(ab_full[bits:] != 0, (1 << bits) - 1, ab_full[:bits]))", "ab.eq(ab_full[:bits])")
    with pytest.raises(AssertionError):
        _check(changed.product_register, 4096, seed)


def _check(product_register, bound, seed):
    rng = np.random.default_rng(seed)
    m = Module()
    a, b, c = Signal(17), Signal(17), Signal(16)
    abc = product_register(m, "abc", a, b, c, bound=bound)
    bits = bound.bit_length() + 1

    def operands():
        kind = rng.integers(0, 4)
        if kind == 0:                                # anything the fields hold
            return int(rng.integers(0, 1 << 17)), int(rng.integers(0, 1 << 17)), int(rng.integers(0, 1 << 16))
        if kind == 1:                                # a product within the bound
            x = int(rng.integers(1, bound + 1))
            y = int(rng.integers(1, bound // x + 1))
            return x, y, int(rng.integers(0, bound // (x * y) + 1))
        if kind == 2:                                # a * b at the saturation point
            ab = (1 << bits) - 1 + int(rng.integers(-2, 3))
            x = int(rng.choice([1, ab]))
            return x, ab // x, int(rng.integers(0, 4))
        x = int(rng.integers(1, 1 << 17))            # a * b * c just past the bound
        return x, 1, bound // x + 1

    cases = [(x % (1 << 17), y % (1 << 17), z % (1 << 16)) for x, y, z in (operands() for _ in range(400))]

    async def bench(ctx):
        for n, (x, y, z) in enumerate(cases):
            ctx.set(a, x)
            ctx.set(b, y)
            ctx.set(c, z)
            await ctx.tick().repeat(2)
            got, exact = ctx.get(abc), x * y * z
            if exact <= bound or x * y < 1 << bits:
                assert got == exact, (n, x, y, z, got)
            elif z:
                assert got > bound, (n, x, y, z, got)
            else:
                assert got == 0, (n, x, y, z, got)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
