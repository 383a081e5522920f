"""``hw/dma_common.py``'s ``product_register`` (the DMA engines' on-chip rows, ``a * b * c``
in two register stages, each product kept to the bound's width) in Amaranth's simulator:
for random operands, with the products at the bound, just past it and anywhere, the
value two cycles later is ``a * b * c`` exactly whenever that is at most ``bound`` (every
command that passes the check) and ``a * b * c`` modulo ``2 ** bound.bit_length()``
otherwise; a mutant that keeps one bit fewer is caught."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from systolica.hw import dma_common

from source_mutants import mutated


@pytest.mark.parametrize("bound", [64, 4096, 32768])
def test_product_register_is_exact_up_to_its_bound(bound, seed):
    _check(dma_common.product_register, bound, seed)


@pytest.mark.parametrize("bound", [4096, 5000])
def test_narrower_mutant_is_caught(bound, seed):
    changed = mutated("systolica.hw.dma_common", "bits = bound.bit_length()", "bits = bound.bit_length() - 1")
    with pytest.raises(AssertionError):
        _check(changed.product_register, bound, seed)


def _check(product_register, bound, seed):
    rng = np.random.default_rng(seed)
    m = Module()
    a, b, c = Signal(17), Signal(17), Signal(16)
    abc = product_register(m, "abc", a, b, c, bound=bound)
    bits = bound.bit_length()

    def operands():
        kind = rng.integers(0, 4)
        if kind == 0:                                # anything the fields hold
            return int(rng.integers(0, 1 << 17)), int(rng.integers(0, 1 << 17)), int(rng.integers(0, 1 << 16))
        if kind == 1:                                # a product within the bound
            x = int(rng.integers(1, bound + 1))
            y = int(rng.integers(1, bound // x + 1))
            return x, y, int(rng.integers(0, bound // (x * y) + 1))
        if kind == 2:                                # a * b * c at the bound
            x = int(rng.integers(1, bound + 1))
            return x, 1, bound // x
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
            if exact <= bound:
                assert got == exact, (n, x, y, z, got)
            else:
                assert got == exact % (1 << bits), (n, x, y, z, got)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
