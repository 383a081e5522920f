"""``hw/carry_save.py``'s ``sum3`` == Python's ``a + b + c`` on random terms of mixed widths
and signedness, extremes included (Amaranth simulator), and a mutant whose carries are
not moved up a bit is caught."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from source_mutants import mutated

#: (shape of a, b, c): the check's extent (signed, wide) and the requant product's terms
SHAPES = [
    (signed(40), signed(50), signed(50)),
    (signed(48), unsigned(31), signed(32)),
    (unsigned(8), unsigned(8), unsigned(8)),
    (signed(3), unsigned(17), signed(9)),
]


def _extremes(shape):
    lo, hi = (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed else (0, (1 << shape.width) - 1)
    return lo, hi


def _check(sum3, shapes, rng, n=200):
    m = Module()
    a, b, c = (Signal(s, name=k) for s, k in zip(shapes, "abc"))
    total = sum3(m, "total", a, b, c)
    cases = [tuple(_extremes(s)[i] for s in shapes) for i in (0, 1)]
    for _ in range(n):
        cases.append(tuple(int(rng.integers(*_extremes(s), endpoint=True)) for s in shapes))
    sim = Simulator(m)
    seen = []

    async def bench(ctx):
        for x, y, z in cases:
            ctx.set(a, x)
            ctx.set(b, y)
            ctx.set(c, z)
            seen.append((x + y + z, ctx.get(total)))

    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "_".join(f"{'s' if x.signed else 'u'}{x.width}" for x in s))
def test_sum3_is_exact(shapes, seed):
    from systolica.hw.carry_save import sum3

    for want, got in _check(sum3, shapes, np.random.default_rng(seed)):
        assert got == want, f"sum3 gave {got}, a + b + c = {want}"


def test_a_mutant_with_unshifted_carries_is_caught(seed):
    mutant = mutated("systolica.hw.carry_save", "(y & z)) << 1)", "(y & z)) << 0)")
    seen = _check(mutant.sum3, SHAPES[0], np.random.default_rng(seed))
    assert any(got != want for want, got in seen)
