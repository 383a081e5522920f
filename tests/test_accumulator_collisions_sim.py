"""The accumulator never uses a bank read of the row written in the same cycle.

``hw/accumulator.py`` builds its banks with ``read_during_write="unused"``: synthesis
adds no collision logic, and on the FPGA such a read returns a row nobody specified. The
accumulator forwards that write's sum instead. Here its banks are replaced by a poisoned
bank that returns the complement of the row after every such collision, and the
accumulator, driven with random traffic on a few hot rows (accumulates, DMA writes, reads,
backpressure), must show the same ports cycle for cycle as with the real banks. The
poison itself is shown to matter: it breaks an ``"unused"`` bank in the bank's own test
(``test_memory_bank_sim.py``), it fires here, and an accumulator without one of its two
forwards of that sum is caught.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import accumulator
from systolica.model.config import AcceleratorConfig

from source_mutants import mutated
from test_memory_bank_sim import poisoned

CFG = AcceleratorConfig(rows=2, cols=3, spad_rows=64, spad_banks=2, acc_rows=16, acc_banks=2)
CYCLES = 1500

def _traffic(seed):
    """Per cycle: (write, dma_write, read request, response ready), hot rows."""
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (CFG.acc_bits - 1)), (1 << (CFG.acc_bits - 1)) - 1
    hot = [0, 1, CFG.acc_rows // CFG.acc_banks, CFG.acc_rows - 1]   # both banks
    row = lambda: int(rng.choice(hot)) if rng.random() < 0.8 else int(rng.integers(0, CFG.acc_rows))  # noqa: E731
    sums = lambda: [int(v) for v in rng.integers(lo, hi, size=CFG.cols, endpoint=True)]  # noqa: E731
    return [(rng.random() < 0.6, row(), sums(), rng.random() < 0.6,
             rng.random() < 0.3, row(), sums(),
             rng.random() < 0.7, row(),
             rng.random() < 0.7) for _ in range(CYCLES)]


def _ports(monkeypatch, bank_module, traffic, acc_module=accumulator) -> tuple[list, int]:
    """The accumulator's outputs every cycle, and how often a bank read met its write."""
    banks = []

    def add_banks(*args, **kwargs):
        made = bank_module.add_banks(*args, **kwargs)
        banks.extend(made)
        return made

    monkeypatch.setattr(acc_module, "add_banks", add_banks)
    dut = acc_module.Accumulator(CFG)
    seen, hits = [], [0]

    async def bench(ctx):
        for w_valid, w_addr, w_data, acc, d_valid, d_addr, d_data, r_valid, r_addr, r_ready in traffic:
            ctx.set(dut.write.valid, w_valid)
            ctx.set(dut.write.payload.addr, w_addr)
            ctx.set(dut.write.payload.accumulate, acc)
            ctx.set(dut.dma_write.valid, d_valid)
            ctx.set(dut.dma_write.payload.addr, d_addr)
            for j in range(CFG.cols):
                ctx.set(dut.write.payload.data[j], w_data[j])
                ctx.set(dut.dma_write.payload.data[j], d_data[j])
            ctx.set(dut.read.req.valid, r_valid)
            ctx.set(dut.read.req.payload.addr, r_addr)
            ctx.set(dut.read.resp.ready, r_ready)
            resp_valid = ctx.get(dut.read.resp.valid)
            seen.append((ctx.get(dut.dma_write.ready), ctx.get(dut.read.req.ready), resp_valid,
                         tuple(ctx.get(dut.read.resp.payload[j]) for j in range(CFG.cols)) if resp_valid else None))
            hits[0] += sum(ctx.get(b.hit) for b in banks if hasattr(b, "hit"))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen, hits[0]


def _same_ports(monkeypatch, seed, acc_module=accumulator):
    from systolica.hw import memory_bank

    traffic = _traffic(seed)
    real, _ = _ports(monkeypatch, memory_bank, traffic, acc_module)
    with_poison, hits = _ports(monkeypatch, poisoned(), traffic, acc_module)
    assert hits > 20, f"only {hits} colliding reads (seed {seed})"
    assert sum(r[2] for r in real) > 200, "too few responses"
    for cycle, (a, b) in enumerate(zip(real, with_poison)):
        assert a == b, f"cycle {cycle}: real banks {a}, poisoned banks {b} (seed {seed})"


def test_accumulator_never_uses_a_colliding_read(monkeypatch, seed):
    _same_ports(monkeypatch, seed)


#: the accumulator without one of its forwards of S3's sum (the row being written) reads
#: the colliding row
_MUTANTS = {
    "a read does not take S3's sum": (
        'from_oldest = delayed(m, s3_valid & (s3_addr == req.p.addr), BANK_READ_LATENCY, "from_oldest")',
        'from_oldest = delayed(m, s3_valid & (s3_addr == req.p.addr) & 0, BANK_READ_LATENCY, "from_oldest")'),
    "an accumulate does not take S3's sum": (
        's2_from_oldest = delayed(m, s3_valid & (s3_addr == s0_addr), 2, "s2_from_oldest")',
        's2_from_oldest = delayed(m, s3_valid & (s3_addr == s0_addr) & 0, 2, "s2_from_oldest")'),
}


@pytest.mark.parametrize("name", list(_MUTANTS))
def test_accumulator_mutant_reads_the_collision(monkeypatch, seed, name):
    changed = mutated("systolica.hw.accumulator", *_MUTANTS[name])
    with pytest.raises(AssertionError, match="poisoned banks"):
        _same_ports(monkeypatch, seed, changed)
