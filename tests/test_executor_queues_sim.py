"""The executor's ``cmd.ready`` is its tile queue's room alone (``hw/executor.py``): an
accepted command enters three queues at once (the tile queue and the two issuers'), and
the argument is that the tile queue always holds at least as many commands as either
issuer's, so its room is room in all three. Here the compute core (executor, scratchpad,
array, accumulator) runs in Amaranth's simulator on random legal compute commands offered
at random, and every cycle the issuers' queue levels are at most the tile queue's and,
whenever ``cmd.ready`` is high, each issuer's queue has room. ``done`` never pulses more
often than tiles were accepted, and by the end (the last 600 cycles offer nothing) once
for each. Every row the scratchpad returns finds room in its row queue (which takes the
array's read a cycle late, ``late_read``, while ``reserved`` counts it at once). A mutant
with shallower issuer queues breaks the room check; one that reserves a row more than a
row queue holds breaks the rows' check."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import core as core_module
from systolica.hw import executor as executor_module
from systolica.model.array import Dataflow
from systolica.model.config import AcceleratorConfig
from systolica.model.isa import tile_rows

from source_mutants import mutated

CFG = AcceleratorConfig(rows=2, cols=2, spad_rows=32, acc_rows=32)
CYCLES = 2500


def _spied(executor_cls):
    """``executor_cls`` that keeps its command queues (the issuers' and the tile queue) on
    ``self.queues`` when elaborated."""
    class Spied(executor_cls):
        def elaborate(self, platform):
            m = super().elaborate(platform)
            self.queues = {name: m.submodules[name] for name in ("issue_a_cmds", "issue_b_cmds", "tiles")}
            self.row_queues = {name: m.submodules[name] for name in ("a_rows", "b_rows")}
            return m
    return Spied


def _command(rng, cfg: AcceleratorConfig) -> dict:
    """A random legal compute tile (mostly short, now and then long)."""
    dataflow = Dataflow.WS if "os" not in cfg.dataflows or ("ws" in cfg.dataflows and rng.random() < 0.5) \
        else Dataflow.OS
    count = int(rng.choice([1, 1, 2, 3, 4, int(rng.integers(1, 12))]))
    c = {"dataflow": dataflow, "count": count}
    na, nb, nc = tile_rows(cfg, c)
    return {"dataflow": dataflow, "accumulate": int(rng.integers(2)), "count": count,
            "a_row": int(rng.integers(0, cfg.spad_rows - na + 1)), "b_row": int(rng.integers(0, cfg.spad_rows - nb + 1)),
            "c_row": int(rng.integers(0, cfg.acc_rows - nc + 1)), "rows_used": 0, "cols_used": 0}


def _run(monkeypatch, executor_cls, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    monkeypatch.setattr(core_module, "Executor", _spied(executor_cls))
    dut = core_module.Core(CFG)
    ex = dut._ex
    seen = {"accepted": 0, "done": 0, "full": 0, "ready_with_room_checked": 0, "rows": 0, "rows_full": 0}

    async def bench(ctx):
        ctx.set(dut.acc_read.req.valid, 0)
        ctx.set(dut.spad_read.req.valid, 0)
        ctx.set(dut.spad_write.valid, 0)
        ctx.set(dut.acc_write.valid, 0)
        q = ex.queues
        offered = None
        accepted = 0
        for cycle in range(CYCLES):
            # offer commands in bursts, then let the tiles drain
            offering = (cycle // 400) % 2 == 0 and cycle < CYCLES - 600
            if offered is None and offering and rng.random() < 0.8:
                offered = _command(rng, CFG)
            ctx.set(dut.cmd.valid, int(offered is not None))
            if offered is not None:
                ctx.set(dut.cmd.payload, offered)
            await ctx.delay(1e-9)
            levels = {name: ctx.get(f.level) for name, f in q.items()}
            assert levels["issue_a_cmds"] <= levels["tiles"], (cycle, levels)
            assert levels["issue_b_cmds"] <= levels["tiles"], (cycle, levels)
            if ctx.get(dut.cmd.ready):
                assert ctx.get(q["issue_a_cmds"].w_rdy) and ctx.get(q["issue_b_cmds"].w_rdy), (cycle, levels)
                seen["ready_with_room_checked"] += 1
            seen["full"] += not ctx.get(q["tiles"].w_rdy)
            for name, f in ex.row_queues.items():
                if ctx.get(f.w_en):
                    assert ctx.get(f.w_rdy), (cycle, name, "a row found its queue full")
                    seen["rows"] += 1
                seen["rows_full"] += ctx.get(f.level) >= f.depth - 1
            took = offered is not None and ctx.get(dut.cmd.ready)
            seen["done"] += ctx.get(dut.done)
            assert seen["done"] <= accepted, cycle
            await ctx.tick()
            if took:
                accepted += 1
                offered = None
        seen["accepted"] = accepted
        assert seen["done"] == accepted, seen

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen


def test_the_tile_queue_has_room_whenever_the_issuers_need_it(monkeypatch, seed):
    seen = _run(monkeypatch, executor_module.Executor, seed)
    print(seen)
    # the traffic filled the tile queue and offered commands in most other cycles
    assert seen["full"] and seen["accepted"] > 50, seen
    # rows came, and queues were near full (the array stalls on OS drains and weights)
    assert seen["rows"] > 500 and seen["rows_full"], seen


def test_shallower_issuer_queues_break_the_room_check(monkeypatch):
    # (an issuer's queue two deep: the tile queue's room is then not room in it)
    changed = mutated("systolica.hw.executor", 'HeadFIFO(width=self.layout.size, depth=TILES_IN_FLIGHT)',
                      'HeadFIFO(width=self.layout.size, depth=2)')
    with pytest.raises(AssertionError):
        _run(monkeypatch, changed.Executor, 1)


def test_reserving_more_rows_than_a_row_queue_holds_drops_rows(monkeypatch):
    changed = mutated("systolica.hw.executor", "room_next(reserved, ROW_QUEUE_DEPTH, inc, dec)",
                      "room_next(reserved, ROW_QUEUE_DEPTH + 2, inc, dec)")
    with pytest.raises(AssertionError, match="a row found its queue full"):
        _run(monkeypatch, changed.Executor, 1)
