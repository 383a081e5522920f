"""One requantization lane in Amaranth's simulator, one element per cycle (shared by the
lane tests)."""

from __future__ import annotations

from amaranth.hdl import Value
from amaranth.sim import Simulator

from systolica.hw.requant import LATENCY
from systolica.model.bits import pack

__all__ = ["run_lane"]


def run_lane(dut, layout, cases, x_bits: int) -> list[list[int]]:
    """``cases``: (parameter fields of ``layout``, elements); the lane's output for every
    element, each ``LATENCY`` cycles after it went in (``x_bits``: the input's width)."""
    got = []

    async def bench(ctx):
        ctx.set(dut.en, 1)
        for fields, elems in cases:
            ctx.set(Value.cast(dut.p), pack(layout, fields))
            outs = []
            for k in range(len(elems) + LATENCY):
                if k < len(elems):
                    ctx.set(Value.cast(dut.x), int(elems[k]) & ((1 << x_bits) - 1))
                await ctx.tick()
                if k >= LATENCY - 1 and len(outs) < len(elems):
                    outs.append(ctx.get(dut.q))
            got.append(outs)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got
