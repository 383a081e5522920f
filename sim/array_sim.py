"""The array's streams as packed beats, and a driver for Amaranth's simulator.

:func:`streams_for` and :func:`decode_result` are shared with the cocotb driver
(``array_driver.py``); :func:`run_array_pysim` streams tiles through a
:class:`~systolica.hw.systolic_array.SystolicArray` in Amaranth's own simulator (no
Verilator build), for fast unit tests of the array and its PE arithmetic.
"""

from __future__ import annotations

import random

import numpy as np
from amaranth.hdl import ClockDomain, Module, Value
from amaranth.sim import Simulator

from ..hw.systolic_array import (SystolicArray, data_beat_layout, last_result_after, result_beat_layout,
                                 weight_row_layout)
from ..model import accum, fp8
from ..model.array import ArrayOutput, Dataflow, OsTile, WsTile
from ..model.bits import pack, unpack
from ..model.config import AcceleratorConfig

__all__ = ["streams_for", "decode_result", "run_array_pysim", "random_operands", "extreme_operands"]


def random_operands(cfg: AcceleratorConfig, rng: np.random.Generator, shape, which: str = "a") -> np.ndarray:
    """Random operands of ``input_type`` (``which="a"``) or ``weight_type`` (``"w"``): int8
    values with a share of -128/127, or FP8 codes over every binade with a share of zeros
    and the largest magnitudes and, rarely, NaN and infinities."""
    if not cfg.is_float:
        x = rng.integers(-128, 128, size=shape, dtype=np.int64)
        mask = rng.random(shape) < 0.1
        x[mask] = rng.choice([-128, 127], size=int(mask.sum()))
        return x
    t = cfg.a_type if which == "a" else cfg.w_type
    x = rng.integers(0, 256, size=shape, dtype=np.int64)
    kind = rng.random(shape)
    x[kind < 0.15] = rng.choice([0x00, 0x80, fp8.max_code(t), 0x80 | fp8.max_code(t)], int((kind < 0.15).sum()))
    rare = [fp8.nan_code(t)] + ([0x7C, 0xFC] if t.has_inf else [])
    x[kind > 0.98] = rng.choice(rare, int((kind > 0.98).sum()))
    return x


def extreme_operands(cfg: AcceleratorConfig) -> list[tuple[int, int]]:
    """(A, B) fill values that give the largest products of each sign: int8 -128/127, FP8
    the largest finite magnitudes."""
    if not cfg.is_float:
        return [(-128, -128), (127, 127), (-128, 127)]
    a, w = fp8.max_code(cfg.a_type), fp8.max_code(cfg.w_type)
    return [(a | 0x80, w | 0x80), (a, w), (a | 0x80, w)]


def _operands(x) -> list:
    """Operand rows as Python lists; FP8 codes in their unsigned 8-bit form."""
    return [[int(v) for v in row] for row in x.tolist()]


def streams_for(cfg: AcceleratorConfig, tiles: list) -> tuple[list[int], list[int]]:
    """Encode ``tiles`` as (data beats, weight beats), each a list of packed payloads."""
    dl, wl = data_beat_layout(cfg), weight_row_layout(cfg)
    zeros_b = [0] * cfg.cols
    data_beats, weight_beats = [], []
    for t in tiles:
        if isinstance(t, WsTile):
            w = accum.check_operand(cfg, "w", t.w, (None, None), "w")
            weight_beats += [pack(wl, row) for row in _operands(w)]
            rows = _operands(accum.check_operand(cfg, "a", t.a, (None, None)))
            data_beats += [pack(dl, {"a": r, "b": zeros_b, "dataflow": Dataflow.WS,
                                     "last": n == len(rows) - 1}) for n, r in enumerate(rows)]
        elif isinstance(t, OsTile):
            k = t.a.shape[1]
            a_cols = _operands(accum.check_operand(cfg, "a", t.a, (None, None)).T)
            b_rows = _operands(accum.check_operand(cfg, "b", t.b, (None, None), "w"))
            data_beats += [pack(dl, {"a": a_cols[n], "b": b_rows[n], "dataflow": Dataflow.OS,
                                     "last": n == k - 1}) for n in range(k)]
        else:
            raise TypeError(f"not a tile: {t!r}")
    return data_beats, weight_beats


def decode_result(cfg: AcceleratorConfig, raw: int) -> ArrayOutput:
    """One result beat (packed) as the golden model's :class:`ArrayOutput`."""
    r = unpack(result_beat_layout(cfg), raw)
    return ArrayOutput(tuple(accum.as_element(cfg, c) for c in r["c"]), r["dataflow"], bool(r["last"]))


def run_array_pysim(cfg: AcceleratorConfig, tiles: list, *, gap: float = 0.0,
                    rng: random.Random | None = None, before: list = (),
                    reset_after: int = 0) -> list[ArrayOutput]:
    """Stream ``tiles`` through the array in Amaranth's simulator; every result vector,
    including any that come out after the expected ones (the inputs' last cycle is followed
    by ``last_result_after(cfg) + 2`` watched cycles: every vector has left by then). ``gap``: probability that an input stream offers nothing in a cycle.

    ``before``: tiles streamed first, for ``reset_after`` cycles at most, then the array's
    synchronous reset is held for one cycle (whatever is in flight is dropped) and
    ``tiles`` run; only their results are returned. This shows that no state a reset
    leaves alone (the PEs' data registers have none) reaches a result."""
    dut = SystolicArray(cfg)
    top = Module()
    top.domains.sync = sync = ClockDomain()
    top.submodules.array = dut
    rng = rng or random.Random(0)
    outs: list[ArrayOutput] = []

    async def stream(ctx, data_beats, weight_beats, cycles: int | None, keep: bool):
        budget = 4 * (len(data_beats) + len(weight_beats)) + 8 * (cfg.rows + cfg.cols) + 64
        di = wi = quiet = cycle = 0
        while di < len(data_beats) or wi < len(weight_beats) or quiet < last_result_after(cfg) + 2:
            if cycles is not None and cycle >= cycles:
                return
            assert cycle < budget, f"timeout: {di}/{len(data_beats)} data, {wi}/{len(weight_beats)} weights"
            offer_d = di < len(data_beats) and not (gap and rng.random() < gap)
            offer_w = wi < len(weight_beats) and not (gap and rng.random() < gap)
            ctx.set(dut.data.valid, offer_d)
            ctx.set(dut.weights.valid, offer_w)
            if offer_d:
                ctx.set(Value.cast(dut.data.payload), data_beats[di])
            if offer_w:
                ctx.set(Value.cast(dut.weights.payload), weight_beats[wi])
            took_d = offer_d and ctx.get(dut.data.ready)
            took_w = offer_w and ctx.get(dut.weights.ready)
            if keep and ctx.get(dut.result.valid):
                outs.append(decode_result(cfg, ctx.get(Value.cast(dut.result.payload))))
            quiet = quiet + 1 if di == len(data_beats) and wi == len(weight_beats) else 0
            await ctx.tick()
            di, wi, cycle = di + took_d, wi + took_w, cycle + 1

    async def bench(ctx):
        if before:
            await stream(ctx, *streams_for(cfg, before), reset_after, keep=False)
            ctx.set(dut.data.valid, 0)
            ctx.set(dut.weights.valid, 0)
            ctx.set(sync.rst, 1)
            await ctx.tick()
            ctx.set(sync.rst, 0)
        await stream(ctx, *streams_for(cfg, tiles), None, keep=True)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return outs
