"""``hw/carry_save.py``'s ``sum3`` and ``sum_of`` == Python's sums on random terms of mixed
widths and signedness, extremes included (Amaranth simulator), and a mutant whose carries
are not moved up a bit, or whose sum is a bit too narrow, is caught."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from source_mutants import mutated

#: (shapes of the terms): the check's extent (signed, wide), the requant product's terms
#: (four and five, as stage 7 adds them), and more
SHAPES = [
    (signed(63), unsigned(47), signed(49), unsigned(24)),
    (signed(8), signed(8), signed(8), signed(8), signed(8)),
    (unsigned(5), signed(6)),
    (signed(40), signed(50), signed(50)),
    (signed(48), unsigned(31), signed(32)),
    (unsigned(8), unsigned(8), unsigned(8)),
    (signed(3), unsigned(17), signed(9)),
]


def _extremes(shape):
    lo, hi = (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed else (0, (1 << shape.width) - 1)
    return lo, hi


def _check(sum_of, shapes, rng, n=200):
    m = Module()
    terms = [Signal(sh, name=f"t{k}") for k, sh in enumerate(shapes)]
    total = sum_of(m, "total", *terms)
    cases = [tuple(_extremes(sh)[i] for sh in shapes) for i in (0, 1)]
    for _ in range(n):
        cases.append(tuple(int(rng.integers(*_extremes(sh), endpoint=True)) for sh in shapes))
    sim = Simulator(m)
    seen = []

    async def bench(ctx):
        for case in cases:
            for t, v in zip(terms, case):
                ctx.set(t, v)
            seen.append((sum(case), ctx.get(total)))

    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: "_".join(f"{'s' if x.signed else 'u'}{x.width}" for x in s))
def test_sums_are_exact(shapes, seed):
    from systolica.hw.carry_save import sum3, sum_of

    for want, got in _check(sum_of if len(shapes) != 3 else lambda m, n, a, b, c: sum3(m, n, a, b, c),
                            shapes, np.random.default_rng(seed)):
        assert got == want, f"the carry-save sum gave {got}, the terms add up to {want}"


@pytest.mark.parametrize("mutant", [("(y & z)) << 1)", "(y & z)) << 0)"),
                                    ("(len(values) - 1).bit_length()", "(len(values) - 2).bit_length()")],
                         ids=["unshifted carries", "a bit too narrow"])
def test_a_wrong_sum_is_caught(mutant, seed):
    changed = mutated("systolica.hw.carry_save", *mutant)
    seen = _check(changed.sum_of, SHAPES[1], np.random.default_rng(seed))
    assert any(got != want for want, got in seen)
