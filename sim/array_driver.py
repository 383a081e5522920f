"""Drive a ``SystolicArray`` (its Verilog top) from cocotb: tiles in, result vectors out.

Used by the array bench and the demo/benchmark. Inputs are driven after the falling
edge, ``ready``/``valid`` are sampled in the read-only phase before the next rising edge.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from ..hw.systolic_array import last_result_after
from ..model.array import ArrayOutput
from ..model.config import AcceleratorConfig
from .array_sim import decode_result, streams_for
from .tb_common import start

__all__ = ["ArrayDriver", "RunStats", "streams_for"]


@dataclass
class RunStats:
    cycles: int = 0                 # first input beat offered .. last result seen
    data_beats: int = 0
    first_data_cycle: int = -1      # cycle of the first / last accepted data beat
    last_data_cycle: int = -1
    data_stall_cycles: int = 0      # data offered but not accepted
    accepted_cycles: list = field(default_factory=list)


class ArrayDriver:
    """Clock, reset and stream the array's three ports."""

    def __init__(self, dut, cfg: AcceleratorConfig):
        self.dut, self.cfg = dut, cfg

    async def start(self) -> None:
        await start(self.dut, {"data__valid": 0, "weights__valid": 0})

    def _decode(self, raw: int) -> ArrayOutput:
        return decode_result(self.cfg, raw)

    async def run(self, tiles: list, expect: int, *, gap: float = 0.0, rng: random.Random | None = None,
                  max_cycles: int | None = None) -> tuple[list[ArrayOutput], RunStats]:
        """Stream ``tiles``; return every result vector seen and stats.

        Runs until ``expect`` vectors came out, then ``last_result_after(cfg) + 2``
        cycles more, so that extra vectors are caught too.

        ``gap`` is the probability that an input stream offers nothing in a cycle
        (random stalls from the producer side; ``rng`` makes it replayable).
        """
        dut, cfg = self.dut, self.cfg
        rng = rng or random.Random(0)
        data_beats, weight_beats = streams_for(cfg, tiles)
        budget = max_cycles or 4 * (len(data_beats) + len(weight_beats)) + 8 * (cfg.rows + cfg.cols) + 64
        di = wi = 0
        outs: list[ArrayOutput] = []
        st = RunStats(data_beats=len(data_beats))
        cycle = 0
        while len(outs) < expect or di < len(data_beats) or wi < len(weight_beats):
            if cycle > budget:
                raise AssertionError(
                    f"timeout after {cycle} cycles: {di}/{len(data_beats)} data beats, "
                    f"{wi}/{len(weight_beats)} weight beats accepted, {len(outs)}/{expect} results")
            offer_d = di < len(data_beats) and not (gap and rng.random() < gap)
            offer_w = wi < len(weight_beats) and not (gap and rng.random() < gap)
            dut.data__valid.value = int(offer_d)
            if offer_d:
                dut.data__payload.value = data_beats[di]
            dut.weights__valid.value = int(offer_w)
            if offer_w:
                dut.weights__payload.value = weight_beats[wi]
            await ReadOnly()
            took_d = offer_d and bool(dut.data__ready.value)
            took_w = offer_w and bool(dut.weights__ready.value)
            if dut.result__valid.value:
                outs.append(self._decode(dut.result__payload.value.to_unsigned()))
            if offer_d and not took_d:
                st.data_stall_cycles += 1
            if took_d:
                if st.first_data_cycle < 0:
                    st.first_data_cycle = cycle
                st.last_data_cycle = cycle
                st.accepted_cycles.append(cycle)
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
            di += took_d
            wi += took_w
            cycle += 1
        dut.data__valid.value = 0
        dut.weights__valid.value = 0
        st.cycles = cycle
        # Nothing more may come out: an extra vector is as wrong as a missing one.
        for _ in range(last_result_after(cfg) + 2):
            await ReadOnly()
            if dut.result__valid.value:
                outs.append(self._decode(dut.result__payload.value.to_unsigned()))
            await RisingEdge(dut.clk)
            await FallingEdge(dut.clk)
        return outs, st
