"""Run control's end of a program under random inputs, against the machine model's rule
written out plainly: the program ends (``finish``) the cycle after the second quiescent
cycle in a row, quiescent being "running, not the start cycle, fetch quiet, no dispatcher
busy, and either halted or fetch stopped/blocked with no head able to start".

The hardware computes the same from kept wires and the startables' term apart (timing);
this bench holds it to the plain rule in every cycle. The inputs keep the one promise the
dispatchers make: a head is never startable while its queue is held (``queue_hold``)."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw.run_control import RunControl
from systolica.model.config import AcceleratorConfig
from source_mutants import mutated

CFG = AcceleratorConfig(rows=2, cols=2)


def _end_bench(run_control, seed: int, cycles: int = 3000) -> int:
    """Random inputs for ``cycles`` cycles; returns how many programs ended."""
    rng = np.random.default_rng(seed)
    dut = run_control(CFG)
    ends = []

    async def drive(ctx):
        p_idle = 0.5
        for cycle in range(cycles):
            if cycle % 200 == 0:               # calm stretches and busy ones
                p_idle = float(rng.choice([0.3, 0.7, 0.95]))
            ctx.set(dut.doorbell, int(rng.random() < 0.2))
            ctx.set(dut.stop, int(rng.random() < 0.01))
            ctx.set(dut.fetch_quiet, int(rng.random() < p_idle))
            ctx.set(dut.fetch_stopped, int(rng.random() < 0.6))
            ctx.set(dut.fetch_blocked, int(rng.random() < 0.3))
            for f in (dut.load_failure, dut.store_failure):
                ctx.set(f.valid, int(rng.random() < 0.005))
                ctx.set(f.payload.index, int(rng.integers(0, 50)))
            held = ctx.get(dut.queue_hold)
            for k in range(3):
                ctx.set(dut.busy[k], int(rng.random() > p_idle))
                ctx.set(dut.startable[k], int(rng.random() > p_idle) & (1 - held[k]))
                ctx.set(dut.head_valid[k], int(rng.random() < 0.3))
            await ctx.tick()

    async def watch(ctx):
        quiet_before, finish_want = 0, 0
        async for _, _, running, start, halt, quiet, stopped, blocked, busy, startable, finish in \
                ctx.tick().sample(dut.running, dut.start, dut.halt, dut.fetch_quiet, dut.fetch_stopped,
                                  dut.fetch_blocked, dut.busy, dut.startable, dut.finish):
            # `finish` as sampled is the register after this edge; compare with the rule
            # applied to the cycle before it
            assert finish == finish_want, (finish, finish_want)
            ends.append(finish)
            settled = 1 if halt else (stopped | blocked) & (not any(startable))
            quiescent = int(running and not start and quiet and not any(busy) and settled)
            finish_want = int(quiescent and quiet_before and not finish)
            quiet_before = quiescent

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(watch, background=True)
    sim.run()
    return sum(ends)


def test_run_control_ends_as_the_plain_rule_says(seed):
    ended = _end_bench(RunControl, seed)
    assert ended > 20, ended                  # the bench reaches the end often


#: Mutants of the end's terms in ``hw/run_control.py``.
_END_MUTANTS = {
    "startables left out of finish": ("self.finish.eq(ending & unstartable)", "self.finish.eq(ending)"),
    "startables left out of before": ("quiescent.eq(calm & unstartable)", "quiescent.eq(calm)"),
    "halt not a way to settle": ("& (self.halt | self.fetch_stopped", "& (self.fetch_stopped"),
    "one end not two quiet cycles": ("calm & before & ~self.finish", "calm & ~self.finish"),
}


@pytest.mark.parametrize("mutant", sorted(_END_MUTANTS))
def test_end_bench_catches(mutant, seed):
    changed = mutated("systolica.hw.run_control", *_END_MUTANTS[mutant])
    with pytest.raises(AssertionError):
        _end_bench(changed.RunControl, seed)
