"""``PaddedRows`` (the load engine's padded row walker) on its own, in Amaranth's simulator:
random commands' bounds (pads and sizes of three dimensions, sizes of 0 among them, and
now and then one dimension with bounds past the down-counters' low bits), random steps,
and in every cycle the walker's flags (``data_row``, ``end``, ``last``) against the
padded indices ``(j0, j1, j2)`` walked in Python. The engine's suite
(``tests/test_dma_rtl.py``) sees the flags only through whole loads."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import dma_rows
from systolica.model.config import AcceleratorConfig

from source_mutants import mutated


def _bounds(rng, big: bool):
    """(pad_before, size, pad_after) of the three row dimensions; one is large when `big`."""
    dims = []
    for _ in range(3):
        while True:
            pb, size, pa = (int(x) for x in rng.integers(0, [4, 5, 4]))
            if pb + size + pa:
                break
        dims.append((pb, size, pa))
    if big:
        d = int(rng.integers(0, 3))
        dims = [(0, 1, 0)] * 3
        dims[d] = (int(rng.integers(200, 256)), int(rng.integers(0, 700)) if rng.random() < 0.3 else int(rng.integers(320, 700)), int(rng.integers(0, 256)))
    return dims


def _flags(dims, j):
    """(data_row, end bits, last) of the row at padded indices `j`."""
    ins = [pb <= x < pb + size for (pb, size, _), x in zip(dims, j)]
    ends = [x == pb + size + pa - 1 for (pb, size, pa), x in zip(dims, j)]
    return int(all(ins)), sum(int(e) << d for d, e in enumerate(ends)), int(all(ends))


def _advance(dims, j):
    j = list(j)
    for d in (2, 1, 0):
        if j[d] < sum(dims[d]) - 1:
            j[d] += 1
            return j
        j[d] = 0
    raise AssertionError("advanced past the last row")


def _bench(module, seed: int, commands: int = 60):
    cfg = AcceleratorConfig(rows=2, cols=2)
    dut = module.PaddedRows(cfg)
    rng = np.random.default_rng(seed)
    seen = {"big": 0, "rows": 0, "data": 0, "pad": 0, "empty size": 0, "mid-walk start": 0}

    async def bench(ctx):
        for n in range(commands):
            big = n % 10 == 3
            dims = _bounds(rng, big)
            seen["big"] += big
            seen["empty size"] += any(size == 0 for _, size, _ in dims)
            for d, (pb, size, pa) in enumerate(dims):
                ctx.set(dut.cmd.pad_before[d], pb)
                ctx.set(dut.cmd.sizes[d], size)
                ctx.set(dut.cmd.pad_after[d], pa)
            ctx.set(dut.take, 1)
            await ctx.tick()
            ctx.set(dut.take, 0)
            for _ in range(int(rng.integers(0, 3))):     # `start` a cycle or more after
                await ctx.tick()
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            j, stop = [0, 0, 0], (int(rng.integers(1, 40)) if rng.random() < 0.1 and not big else None)
            while True:
                got = (ctx.get(dut.data_row), ctx.get(dut.end), ctx.get(dut.last))
                assert got == _flags(dims, j), (n, dims, j, got)
                seen["rows"] += 1
                seen["data" if got[0] else "pad"] += 1
                if got[2] or stop == 0:          # the last row, or a new command mid-walk
                    seen["mid-walk start"] += stop == 0
                    break
                step = rng.random() < 0.7
                ctx.set(dut.advance, step)
                await ctx.tick()
                ctx.set(dut.advance, 0)
                if step:
                    j = _advance(dims, j)
                    stop = None if stop is None else stop - 1
            for _ in range(int(rng.integers(0, 3))):     # idle after the last row
                await ctx.tick()
                assert (ctx.get(dut.data_row), ctx.get(dut.end), ctx.get(dut.last)) == _flags(dims, j)
        assert all(seen.values()), seen

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def test_padded_rows_match_the_indices(seed):
    _bench(dma_rows, seed)


#: Mutants the bench must catch: an equality's flip-flop set a step early; counters too
#: narrow for an 8-bit pad and a 16-bit size; a dimension that never leaves its data, or
#: enters data of size 0; the sums of the command's terms told wrong (a first term equal
#: to the sum missed; index 0 taken as one short of the end at a padded size of 1, not
#: 2); dimension 1 stepping by dimension 0's end.
_MUTANTS = {
    "equality a step early": ("Mux(step[d], to[k][d] == 1, at[k][d])", "Mux(step[d], to[k][d] == 2, at[k][d])"),
    "counters too narrow": ("_COUNT_BITS = 18", "_COUNT_BITS = 9"),
    "never leaves the data": ("(j_in[d] & ~at[\"leave\"][d])", "j_in[d]"),
    "enters data of size 0": ("(at[\"enter\"][d] & sized[d])", "at[\"enter\"][d]"),
    "a sum's first term never n": ("for i in range(n + 1))).any()", "for i in range(n))).any()"),
    "index 0 one short of the end at size 1": ("_sums_to(terms, 2))]", "_sums_to(terms, 1))]"),
    "dimension 1 by dimension 0's end": ("j_end[2] & ~j_end[1], ", "j_end[2] & ~j_end[0], "),
}


@pytest.mark.parametrize("mutant", sorted(_MUTANTS))
def test_padded_rows_bench_catches_a_wrong_walker(mutant):
    with pytest.raises(AssertionError):
        _bench(mutated("systolica.hw.dma_rows", *_MUTANTS[mutant]), 1)
