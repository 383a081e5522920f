"""Drive the requantization unit (its Verilog top) from cocotb: parameter words in, vectors
through with random gaps and backpressure, output vectors back. Shared by the int8 and FP8
benches (``tb_requant.py``, ``tb_requant_fp8.py``).
"""

from __future__ import annotations

import numpy as np
from cocotb.triggers import ReadOnly

from ..hw.requant import LATENCY, acc_vector_layout, out_vector_layout, param_write_layout
from ..model import accum
from ..model.bits import pack, unpack
from ..model.numerics import RequantParams
from ..model.requant import lane_fields
from .tb_common import CFG, next_cycle, start

__all__ = ["RequantDriver"]


class RequantDriver:
    """Clock, reset and the three streams of the requantization unit."""

    def __init__(self, dut):
        self.dut = dut
        self.acc_l, self.out_l = acc_vector_layout(CFG), out_vector_layout(CFG)
        self.param_l = param_write_layout(CFG)

    async def start(self) -> None:
        await start(self.dut, {"acc__valid": 0, "param__valid": 0, "out__ready": 1})

    async def _cycle(self) -> None:
        await next_cycle(self.dut)

    async def load(self, params: RequantParams, bias=None) -> None:
        """Write every lane's parameters (waits until the unit accepts each)."""
        await self.load_fields(lane_fields(params, CFG.cols, bias))

    async def load_fields(self, fields: list[dict]) -> None:
        """Write lane ``j``'s parameter word from ``fields[j]`` (a dict of its fields)."""
        dut = self.dut
        for j, f in enumerate(fields):
            dut.param__valid.value = 1
            dut.param__payload.value = pack(self.param_l, {"lane": j, "p": f})
            await ReadOnly()
            while not dut.param__ready.value:
                await self._cycle()
                await ReadOnly()
            await self._cycle()
        dut.param__valid.value = 0

    async def run(self, acc: np.ndarray, rng=None, gap: float = 0.0, stall: float = 0.0):
        """Stream ``acc`` (n, cols); returns (output rows as uint8 array, last flags, stats)."""
        dut = self.dut
        beats = [pack(self.acc_l, {"c": [accum.to_fields(CFG, v) for v in row], "last": i == len(acc) - 1})
                 for i, row in enumerate(acc.tolist())]
        got, lasts = [], []
        i = cycle = 0
        first_in = last_out = -1
        while len(got) < len(beats):
            if cycle > 20 * len(beats) + 100:
                raise AssertionError(f"timeout: {i}/{len(beats)} vectors in, {len(got)} out")
            offer = i < len(beats) and not (gap and rng.random() < gap)
            ready = not (stall and rng.random() < stall)
            dut.acc__valid.value = int(offer)
            if offer:
                dut.acc__payload.value = beats[i]
            dut.out__ready.value = int(ready)
            await ReadOnly()
            if offer and dut.acc__ready.value:
                first_in = cycle if first_in < 0 else first_in
                i += 1
            if ready and dut.out__valid.value:
                v = unpack(self.out_l, dut.out__payload.value.to_unsigned())
                got.append(v["q"])
                lasts.append(bool(v["last"]))
                last_out = cycle
            await self._cycle()
            cycle += 1
        dut.acc__valid.value = 0
        dut.out__ready.value = 1
        for _ in range(LATENCY + 2):  # nothing more may come out
            await ReadOnly()
            assert not dut.out__valid.value, "an extra output vector"
            await self._cycle()
        return np.array(got, dtype=np.uint8).reshape(-1, CFG.cols), lasts, (first_in, last_out)


