"""``hw/memory_bank.py`` against a list of rows in the simulator: random lane-masked
writes and reads, hot rows so that reads meet the writes of the same and the previous
cycles. Every cycle after the first read, ``r_data`` is the row read ``READ_LATENCY``
cycles before as it was before that cycle's write, or, with no read since, the same row
still. Mutants: the read's row on ``r_data`` a cycle early (no output register), and a
read port that sees the write of its own cycle."""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import memory_bank
from systolica.hw.memory_bank import READ_LATENCY, MemoryBank

from source_mutants import mutated


def bank_traffic(module, width, depth, granularity, seed) -> dict:
    """Random traffic on ``module.MemoryBank``; returns what was seen (asserts inside). Also
    run by ``test_accumulator_collisions_sim.py`` on its poisoned banks."""
    rng = np.random.default_rng(seed)
    dut = module.MemoryBank(width=width, depth=depth, granularity=granularity)
    lanes = 1 if granularity is None else width // granularity
    lane_bits = width // lanes
    bits = lambda: int.from_bytes(rng.bytes(width // 8 + 1), "little") % (1 << width)  # noqa: E731
    rows = [bits() for _ in range(depth)]
    seen = {"read of the row written this cycle": 0, "read of the row written the cycle before": 0,
            "partial write": 0, "held without reads": 0}

    async def bench(ctx):
        for addr in range(depth):                  # known contents
            ctx.set(dut.w_en, (1 << lanes) - 1)
            ctx.set(dut.w_addr, addr)
            ctx.set(dut.w_data, rows[addr])
            await ctx.tick()
        ctx.set(dut.w_en, 0)
        expected = [None] * READ_LATENCY           # r_data of the next cycles
        shown, last_write = None, None
        for cycle in range(3000):
            hot = rng.random() < 0.5
            w_addr = int(rng.integers(0, 2 if hot else depth))
            r_addr = w_addr if rng.random() < 0.3 else int(rng.integers(0, 2 if hot else depth))
            w_en = int(rng.integers(0, 1 << lanes)) if rng.random() < 0.6 else 0
            r_en = rng.random() < 0.6
            w_data = bits()
            for port, value in ((dut.w_en, w_en), (dut.w_addr, w_addr), (dut.w_data, w_data),
                                (dut.r_en, r_en), (dut.r_addr, r_addr)):
                ctx.set(port, value)
            due = expected.pop(0)
            shown = due if due is not None else shown
            if shown is not None:
                got = ctx.get(dut.r_data)
                assert got == shown, f"cycle {cycle}: r_data={got:#x}, expected {shown:#x} (seed {seed})"
                seen["held without reads"] += due is None
            expected.append(rows[r_addr] if r_en else None)
            if r_en:
                seen["read of the row written this cycle"] += bool(w_en) and r_addr == w_addr
                seen["read of the row written the cycle before"] += r_addr == last_write
            last_write = w_addr if w_en else None
            seen["partial write"] += 0 < w_en < (1 << lanes) - 1
            for lane in range(lanes):
                if w_en >> lane & 1:
                    mask = ((1 << lane_bits) - 1) << (lane * lane_bits)
                    rows[w_addr] = rows[w_addr] & ~mask | w_data & mask
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    if lanes == 1:
        del seen["partial write"]
    return seen


@pytest.mark.parametrize("width, depth, granularity", [(32, 16, 8), (24, 8, None), (64, 4, 16)])
def test_memory_bank_reads_through_its_output_register(width, depth, granularity, seed):
    seen = bank_traffic(memory_bank, width, depth, granularity, seed)
    assert all(seen.values()), seen


@pytest.mark.filterwarnings("ignore:.*created but never used")  # the refused bank
def test_bank_granularity_must_divide_the_width():
    with pytest.raises(ValueError, match="granularity=5: must divide width=32"):
        MemoryBank(width=32, depth=4, granularity=5)
    gc.collect()  # the refused bank's "never used" warning, here and not in a later test


_MUTANTS = {
    "no output register": ("m.d.sync += out.eq(rp.data)", "m.d.comb += out.eq(rp.data)"),
    "transparent read port": ("rp = mem.read_port(transparent_for=())",
                              "rp = mem.read_port(transparent_for=(wp,))"),
}


@pytest.mark.parametrize("name", list(_MUTANTS))
def test_memory_bank_mutant_is_caught(name, seed):
    changed = mutated("systolica.hw.memory_bank", *_MUTANTS[name])
    with pytest.raises(AssertionError, match="r_data="):
        bank_traffic(changed, 32, 16, 8, seed)
