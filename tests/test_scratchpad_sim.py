"""``hw/scratchpad.py`` against the machine model (:mod:`systolica.model.memory`) in
Amaranth's simulator: random byte-masked DMA writes and reads on all three ports, on a few
hot rows of every bank, so reads meet each other in a bank and meet the writes of their
own and of the cycles before. Every cycle each port's ``ready`` is
:func:`~systolica.model.memory.spad_read_grants`'s, and each accepted read's row arrives
exactly ``READ_LATENCY`` cycles later as :class:`~systolica.model.memory.ScratchpadModel`
held it before the write of the read's cycle. The same runs with poisoned banks
(``test_memory_bank_sim.POISON``: the block RAM's undefined bits after a collision).
With banks of the ``"unused"`` rule the poison breaks it. Mutants: the bank's address
from a port that lost its bank, and a read enable from the highest-priority port alone."""

import functools

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import scratchpad
from systolica.model.config import AcceleratorConfig
from systolica.model.memory import SPAD_READERS, ScratchpadModel, spad_read_grants

from source_mutants import mutated
from test_memory_bank_sim import poisoned

CFG = AcceleratorConfig(rows=2, cols=4, spad_rows=64, spad_banks=4)
CYCLES = 1500


def _run(monkeypatch, module, seed, bank_module=None) -> dict:
    """Random traffic; asserts inside; returns counts of what was seen."""
    if bank_module is not None:
        monkeypatch.setattr(module, "add_banks", bank_module.add_banks)
    rng = np.random.default_rng(seed)
    per_bank = CFG.spad_rows // CFG.spad_banks
    hot = [b * per_bank + r for b in range(CFG.spad_banks) for r in (0, 1)]
    row = lambda: int(rng.choice(hot)) if rng.random() < 0.8 else int(rng.integers(0, CFG.spad_rows))  # noqa: E731
    elems = CFG.spad_row_elems
    model = ScratchpadModel(CFG)
    dut = module.Scratchpad(CFG)
    seen = {"accepted": 0, "waited": 0, "read of the row written this cycle": 0,
            "read of the row written the cycle before": 0}

    async def bench(ctx):
        due = [[] for _ in range(module.READ_LATENCY)]     # rows arriving in k cycles
        last_write = None
        for cycle in range(CYCLES):
            w = (row(), [int(v) for v in rng.integers(-128, 128, size=elems)],
                 int(rng.integers(0, 1 << CFG.spad_row_bytes))) if rng.random() < 0.6 else None
            ctx.set(dut.write.valid, w is not None)
            if w is not None:
                ctx.set(dut.write.payload.addr, w[0])
                for i, v in enumerate(w[1]):
                    ctx.set(dut.write.payload.data[i], v)
                ctx.set(dut.write.payload.mask, w[2])
            requests = {name: row() for name in SPAD_READERS if rng.random() < 0.6}
            for name in SPAD_READERS:
                port = getattr(dut, name)
                ctx.set(port.req.valid, name in requests)
                ctx.set(port.req.payload.addr, requests.get(name, row()))
            granted = spad_read_grants(CFG, requests)
            for name in SPAD_READERS:
                port = getattr(dut, name)
                got = ctx.get(port.req.ready)
                if name in requests:
                    assert got == (name in granted), f"cycle {cycle}: {name}.ready={got} (seed {seed})"
                arriving = [r for n, r in due[0] if n == name]
                assert ctx.get(port.resp.valid) == bool(arriving), f"cycle {cycle}: {name}.resp.valid (seed {seed})"
                if arriving:
                    got_row = [ctx.get(port.resp.payload[i]) for i in range(elems)]
                    assert got_row == arriving[0], (f"cycle {cycle}: {name} row {got_row}, "
                                                    f"expected {arriving[0]} (seed {seed})")
            due.pop(0)
            due.append([(name, [int(v) for v in model.read(requests[name])]) for name in sorted(granted)])
            seen["accepted"] += len(granted)
            seen["waited"] += len(requests) - len(granted)
            for name in granted:
                seen["read of the row written this cycle"] += w is not None and requests[name] == w[0]
                seen["read of the row written the cycle before"] += requests[name] == last_write
            if w is not None:
                model.write(*w)
            last_write = w[0] if w is not None else None
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


@pytest.mark.parametrize("banks", ["real", "poisoned"])
def test_scratchpad_follows_the_model(monkeypatch, seed, banks):
    seen = _run(monkeypatch, scratchpad, seed, poisoned() if banks == "poisoned" else None)
    assert all(v > 20 for v in seen.values()), seen


_MUTANTS = {
    "address from a port that lost its bank": (
        "            for req, bank, row in reversed(reqs[:-1]):  # the highest priority is assigned last",
        "            for req, bank, row in reqs[:-1]:"),
    "read enable from read_a alone": (
        "mb.r_en.eq(Cat(req.valid & (bank == b) for req, bank, _ in reqs).any())",
        "mb.r_en.eq(Cat(req.valid & (bank == b) for req, bank, _ in reqs[:1]).any())"),
}


@pytest.mark.parametrize("name", list(_MUTANTS))
def test_scratchpad_mutant_is_caught(monkeypatch, seed, name):
    with pytest.raises(AssertionError, match="row|valid|ready"):
        _run(monkeypatch, mutated("systolica.hw.scratchpad", *_MUTANTS[name]), seed)


def test_the_poison_breaks_a_scratchpad_of_unused_rule_banks(monkeypatch, seed):
    """The traffic makes collisions that matter: banks without the ``"old"`` rule fail."""
    bank_module = poisoned()
    monkeypatch.setattr(bank_module, "add_banks", functools.partial(bank_module.add_banks, read_during_write="unused"))
    with pytest.raises(AssertionError, match="row"):
        _run(monkeypatch, scratchpad, seed, bank_module)
