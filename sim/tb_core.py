"""cocotb bench: the compute core (scratchpad -> array -> accumulator under the execute
unit) against the instruction-level machine model, bit for bit.

The scratchpad is filled with random operands through its DMA write port, random compute
tiles (WS and OS, random rows, lengths and accumulate flags) run back to back, and every
accumulator row is read back and compared with :class:`systolica.model.machine.Machine`.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import ReadOnly

from ..hw.accumulator import acc_dma_write_layout, acc_row_layout
from ..hw.scratchpad import spad_write_layout
from ..model.array import Dataflow
from ..model.bits import pack, unpack
from ..model.isa import compute_layout
from ..model.machine import Machine
from .tb_common import CFG, next_cycle, rng_for, start

IDLE = {"cmd__valid": 0, "spad_write__valid": 0, "spad_read__req__valid": 0,
        "acc_write__valid": 0, "acc_read__req__valid": 0, "acc_read__resp__ready": 1}


async def _setup(dut, rng) -> Machine:
    """Reset; random scratchpad, zero accumulator, in the core and in the model."""
    await start(dut, IDLE)
    machine = Machine(CFG)
    machine.spad[:] = rng.integers(-128, 128, size=machine.spad.shape)
    sl, al = spad_write_layout(CFG), acc_dma_write_layout(CFG)
    mask = (1 << CFG.spad_row_bytes) - 1
    for r in range(CFG.spad_rows):
        dut.spad_write__valid.value = 1
        dut.spad_write__payload.value = pack(sl, {"addr": r, "data": machine.spad[r].tolist(), "mask": mask})
        await next_cycle(dut)
    dut.spad_write__valid.value = 0
    for r in range(CFG.acc_rows):
        dut.acc_write__valid.value = 1
        dut.acc_write__payload.value = pack(al, {"addr": r, "data": [0] * CFG.cols})
        await next_cycle(dut)
    dut.acc_write__valid.value = 0
    return machine


def _random_tile(rng, acc_limit: int = CFG.acc_rows) -> dict:
    """A random tile whose results land in accumulator rows below ``acc_limit``."""
    flow = CFG.dataflows[int(rng.integers(len(CFG.dataflows)))]
    count = int(rng.integers(1, min(2 * CFG.rows + 4, acc_limit + 1)))
    b_rows = CFG.rows if flow == "ws" else count
    c_rows = count if flow == "ws" else CFG.rows
    return {"dataflow": Dataflow.from_name(flow), "accumulate": int(rng.random() < 0.5),
            "a_row": int(rng.integers(0, CFG.spad_rows - count + 1)),
            "b_row": int(rng.integers(0, CFG.spad_rows - b_rows + 1)),
            "c_row": int(rng.integers(0, acc_limit - c_rows + 1)), "count": count}


async def _run_tiles(dut, tiles: list[dict], gap: float, rng, dma_rows=()) -> tuple[int, list]:
    """Offer the tiles (with random gaps); returns the cycles until the last one is done
    and the DMA row writes the accumulator accepted meanwhile: ``dma_rows`` are offered on
    ``acc_write`` one after another, now and then, each with random sums, and a write
    counts as accepted where ``valid`` and ``ready`` are both high (a write the
    accumulator did not take but said it did leaves its row as it was). Checks that
    ``cmd_ready_next`` says the next cycle's ``cmd.ready``."""
    layout, al = compute_layout(CFG), acc_dma_write_layout(CFG)
    i = done = cycle = 0
    ready_next = None
    written, rows = [], list(dma_rows)
    lim = 1 << (CFG.acc_bits - 1)
    while done < len(tiles):
        assert cycle < 40 * sum(t["count"] + CFG.rows for t in tiles) + 200, (
            f"timeout: {i} of {len(tiles)} tiles accepted, {done} done")
        offer = i < len(tiles) and not (gap and rng.random() < gap)
        dut.cmd__valid.value = int(offer)
        if offer:
            dut.cmd__payload.value = pack(layout, tiles[i])
        write = bool(rows) and rng.random() < 0.7
        if write:
            data = rng.integers(-lim, lim, size=CFG.cols).tolist()
            dut.acc_write__payload.value = pack(al, {"addr": rows[0], "data": data})
        dut.acc_write__valid.value = int(write)
        await ReadOnly()
        ready = int(dut.cmd__ready.value)
        assert ready_next is None or ready == ready_next, f"cycle {cycle}: cmd_ready_next said {ready_next}"
        ready_next = int(dut.cmd_ready_next.value)
        i += offer and bool(ready)
        done += int(dut.done.value)
        if write and dut.acc_write__ready.value:
            written.append((rows.pop(0), data))
        await next_cycle(dut)
        cycle += 1
    dut.cmd__valid.value = 0
    dut.acc_write__valid.value = 0
    return cycle, written


async def _check_accumulator(dut, machine: Machine) -> None:
    """Read every accumulator row back; compare with the model."""
    layout = acc_row_layout(CFG)
    got, asked = [], 0
    while len(got) < CFG.acc_rows:
        dut.acc_read__req__valid.value = int(asked < CFG.acc_rows)
        dut.acc_read__req__payload.value = asked % CFG.acc_rows
        await ReadOnly()
        if dut.acc_read__resp__valid.value:
            got.append(unpack(layout, dut.acc_read__resp__payload.value.to_unsigned()))
        asked += asked < CFG.acc_rows and bool(dut.acc_read__req__ready.value)
        await next_cycle(dut)
    dut.acc_read__req__valid.value = 0
    for r, (g, w) in enumerate(zip(got, machine.acc.tolist())):
        assert g == w, f"accumulator row {r}: RTL {g} != model {w}"


def _apply(machine: Machine, tiles: list[dict]) -> None:
    for t in tiles:
        machine.compute(t)


@cocotb.test()
async def test_random_tiles_match_machine(dut):
    """Random WS/OS tiles back to back and with gaps, accumulate or overwrite."""
    rng = rng_for("core_random")
    machine = await _setup(dut, rng)
    for gap in (0.0, 0.3):
        tiles = [_random_tile(rng) for _ in range(12)]
        await _run_tiles(dut, tiles, gap, rng)
        _apply(machine, tiles)
        await _check_accumulator(dut, machine)


@cocotb.test()
async def test_dma_writes_beside_tiles(dut):
    """DMA row writes into the accumulator's upper half while tiles write its lower half:
    a write is taken exactly when ``acc_write.ready`` says so (the tiles' result rows
    win the write port; ``ready`` is a register of its own, a copy of the executor's)."""
    rng = rng_for("core_dma_beside")
    machine = await _setup(dut, rng)
    half = CFG.acc_rows // 2
    for gap in (0.0, 0.3):
        tiles = [_random_tile(rng, half) for _ in range(12)]
        rows = [half + int(r) for r in rng.integers(0, CFG.acc_rows - half, size=4 * CFG.acc_rows)]
        _, written = await _run_tiles(dut, tiles, gap, rng, rows)
        _apply(machine, tiles)
        for row, data in written:
            machine.acc[row] = data
        await _check_accumulator(dut, machine)
        assert written, "no DMA write was taken beside the tiles"


@cocotb.test(skip=not CFG.supports("ws") or CFG.spad_banks < 2)
async def test_ws_tiles_stream(dut):
    """Long WS tiles with A and weights in different banks: cycles per tile (logged)."""
    rng = rng_for("core_stream")
    machine = await _setup(dut, rng)
    half, m = CFG.spad_rows // 2, max(2 * CFG.rows, 16)
    tiles = [{"dataflow": Dataflow.WS, "accumulate": int(k > 0), "a_row": 0, "b_row": half + (k % 2) * CFG.rows,
              "c_row": 0, "count": min(m, half, CFG.acc_rows)} for k in range(4)]
    cycles, _ = await _run_tiles(dut, tiles, 0.0, rng)
    _apply(machine, tiles)
    await _check_accumulator(dut, machine)
    beats = sum(t["count"] for t in tiles)
    cocotb.log.warning(f"core {CFG.name}: {len(tiles)} WS tiles, {beats} beats in {cycles} cycles "
                       f"(array latency {CFG.rows + CFG.cols}, pipeline fill included)")
