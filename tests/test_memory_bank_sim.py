"""``hw/memory_bank.py`` against a list of rows in the simulator: random lane-masked
writes and reads, hot rows so that reads meet the writes of the same and the previous
cycles. Every cycle after the first read, ``r_data`` is the row read ``READ_LATENCY``
cycles before as it was before that cycle's write, or, with no read since, the same row
still.

The FPGA's block RAM returns undefined bits where a read meets a write of its row in the
same cycle, which the simulator does not show. A *poisoned* bank (``POISON``) shows it:
its block returns the complement of the written lanes after such a read, held with the
row. A bank with the ``"old"`` rule keeps its contract with the poison; one with
``"unused"`` does not (so the poison matters), and ``test_accumulator_collisions_sim.py``
runs the accumulator on poisoned ``"unused"`` banks.

Mutants: the read's row on ``r_data`` a cycle early (no output register), a read port
that sees the write of its own cycle, and the ``"old"`` rule without its forwarding, with
the forwarding's compare a cycle off, or with the forwarded lanes not held with the row."""

import gc

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import memory_bank
from systolica.hw.memory_bank import READ_LATENCY, MemoryBank

from source_mutants import mutated


#: after a read that meets a write of its row in the block, the complement of the lanes
#: written, until the next read (``hit``: the read met one)
POISON = ("        read = rp.data\n",
          "        from amaranth.hdl import Cat, Mux\n"
          "        self.hit = hit = Signal(name='collided')\n"
          "        bad = Signal(len(wp.en), name='poisoned_lanes')\n"
          "        met_now = Mux(rp.en & (rp.addr == wp.addr), wp.en, 0)\n"
          "        m.d.sync += hit.eq(met_now.any())\n"
          "        with m.If(rp.en):\n"
          "            m.d.sync += bad.eq(met_now)\n"
          "        g = self.width // len(wp.en)\n"
          "        read = Cat(Mux(bad[i], ~rp.data[i * g:(i + 1) * g], rp.data[i * g:(i + 1) * g])\n"
          "                   for i in range(len(wp.en)))\n")


def poisoned():
    """``hw/memory_bank.py`` with its block poisoned (``POISON``)."""
    return mutated("systolica.hw.memory_bank", *POISON)


def bank_traffic(module, width, depth, granularity, seed, read_during_write="old") -> dict:
    """Random traffic on ``module.MemoryBank``; returns what was seen (asserts inside). Also
    run by ``test_accumulator_collisions_sim.py`` on its poisoned banks."""
    rng = np.random.default_rng(seed)
    dut = module.MemoryBank(width=width, depth=depth, granularity=granularity, read_during_write=read_during_write)
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


@pytest.mark.parametrize("width, depth, granularity", [(32, 16, 8), (24, 8, None), (64, 4, 16)])
def test_old_rule_holds_with_the_blocks_collisions_poisoned(width, depth, granularity, seed):
    seen = bank_traffic(poisoned(), width, depth, granularity, seed)
    assert all(seen.values()), seen


def test_the_poison_breaks_a_bank_without_the_old_rule(seed):
    with pytest.raises(AssertionError, match="r_data="):
        bank_traffic(poisoned(), 32, 16, 8, seed, read_during_write="unused")


@pytest.mark.filterwarnings("ignore:.*created but never used")  # the refused bank
def test_bank_granularity_must_divide_the_width():
    with pytest.raises(ValueError, match="granularity=5: must divide width=32"):
        MemoryBank(width=32, depth=4, granularity=5)
    gc.collect()  # the refused bank's "never used" warning, here and not in a later test


#: (a transparent read port changes nothing with "old": the block's write is the delayed
#: one, whose lanes the read takes anyway; it is caught with "unused", whose banks return
#: the old row in the simulator, the accumulator's test's unpoisoned reference)
_MUTANTS = {
    "no output register": ("m.d.sync += out.eq(read)", "m.d.comb += out.eq(read)"),
    "transparent read port, unused": ("rp = mem.read_port(transparent_for=())",
                                      "rp = mem.read_port(transparent_for=(wp,))"),
    "no forwarding": ("met = Mux(r_en & (r_addr == w_addr), w_en, 0)", "met = Mux(0, w_en, 0)"),
    "compared with the write a cycle late": ('w_en, w_addr, w_data = _registers(m, "met", *late)',
                                             'w_en, w_addr, w_data = _registers(m, "met", *_registers(m, "x", *late))'),
    "forwarded lanes not held": ("        with m.If(r_en):\n            m.d.sync += [taken.eq(met)",
                                 "        with m.If(1):\n            m.d.sync += [taken.eq(met)"),
}


@pytest.mark.parametrize("name", list(_MUTANTS))
def test_memory_bank_mutant_is_caught(name, seed):
    changed = mutated("systolica.hw.memory_bank", *_MUTANTS[name])
    with pytest.raises(AssertionError, match="r_data="):
        bank_traffic(changed, 32, 16, 8, seed, read_during_write="unused" if name.endswith("unused") else "old")

