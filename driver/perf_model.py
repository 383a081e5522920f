"""An analytic performance model: the cycles of a program, predicted without simulating.

A program's cycles are set by a few resources -- the fetch unit, three in-order queues and
the units behind them (the DMA load engine, the array, the store engine), the shared AXI
read channel -- and by the dependency tokens between queues. The model computes, for each
command in program order, closed-form times (a max-plus recurrence, one pass):

- **fetch** ``f_i``: one command per ``fetch_cycles`` (four bus beats of a 128-bit bus
  per 64-byte command, a decode step) once its queue has room: the command
  ``queue_depth`` before it in the same queue has started (the queue is a FIFO of that
  depth). Command fetches share the read channel with the DMA's loads.
- **start** ``s_i = max(f_i + dispatch, unit free, the push of every token it pops)``: a
  token pushed by the ``k``-th pushing command of a channel is the one its ``k``-th pop
  takes (queues run and finish in order).
- **duration**, from the command's fields and the configuration:

  - LOAD: ``load_overhead`` + the bus beats of its runs (a run of ``n`` bytes at byte
    offset ``o`` of a bus word covers ``ceil((o + n) / bus_bytes)`` beats; a gathered
    element one beat) + one cycle per row wholly in the padding; one at a time;
  - COMPUTE (weight-stationary): the array streams ``max(count, rows)`` beats per tile,
    back to back when the next tile's weights came in while this one streamed (the
    array double-buffers them; a tile whose weight rows share a scratchpad bank with
    its input rows loses ``bank_conflict`` cycles), the first tile after an idle array
    waits ``weight_load`` cycles for its weights; the result of its last row is written
    ``exec_latency`` cycles after its last beat; up to ``EXEC_IN_FLIGHT`` tiles run;
  - STORE: ``store_overhead`` + ``store_row_cycles`` per row (accumulator read,
    requantization, one W beat per row); REQUANT: ``requant_cycles`` per lane written;
    one at a time.

- **end**: ``end_latency`` after the last command finished.

The latencies (:class:`Latencies`) are named quantities of the RTL, measured from the
hardware counters by :func:`calibrate` on microprograms (one per latency), so a change
of the hardware's pipelining is one calibration away. :data:`MEASURED` holds the values
measured on the current RTL.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

import numpy as np

from ..model.config import AcceleratorConfig
from ..model.isa import COMMAND_BYTES, Command, Opcode, Queue, QUEUE_OF

__all__ = ["Latencies", "MEASURED", "Estimate", "estimate", "load_beats", "calibrate"]


@dataclass(frozen=True)
class Latencies:
    """Cycles of the RTL's pieces (see the module docstring); measured by :func:`calibrate`."""

    fetch_cycles: float = 4.0       #: per command fetched, the read channel free
    fetch_first: int = 8            #: doorbell to the first command in its queue
    dispatch: int = 1               #: a queued command's start after it is queued
    load_overhead: int = 6          #: per LOAD, beyond its beats and padding rows
    exec_start: int = 2             #: a COMPUTE's first weight read after its start
    weight_load: int = 16           #: weight rows into an idle array before its first beat (rows)
    exec_latency: int = 34          #: last beat of a tile to its last result written
    bank_conflict: int = 16         #: bubble per tile whose weight and input rows share a bank
    store_overhead: int = 10        #: per STORE, beyond its rows
    store_row_cycles: float = 1.0   #: per row stored
    requant_cycles: int = 1         #: per requantization lane written
    end_latency: int = 3            #: last command finished to the program's end


#: Latencies measured on the current RTL (``calibrate``).
MEASURED = Latencies()


@dataclass
class Estimate:
    """Predicted ``cycles`` of a program, the busy cycles of each queue's unit, the DRAM
    bytes its LOADs and STOREs move, and every command's ``(start, finish)``."""

    cycles: int
    busy: dict
    dram_bytes: int
    times: list = field(default_factory=list, repr=False)


def load_beats(cfg: AcceleratorConfig, desc) -> tuple[int, int]:
    """``(bus beats, rows wholly in the padding)`` of a LOAD of ``desc``."""
    bb = cfg.bus_bytes
    n0, n1, n2, n3 = desc.sizes
    s0, s1, s2, s3 = desc.strides
    eb = desc.elem_bytes
    p0, p1, p2, _ = desc.padded_sizes
    pad_rows = (p0 * p1 * p2 if not desc.transpose else p0 * p1 * desc.padded_sizes[3]) - n0 * n1 * n2 * (
        1 if not desc.transpose else 0)
    if desc.transpose:
        pad_rows = 0
    rows = n0 * n1 * n2
    if s3 != eb:
        return rows * n3, pad_rows
    run = n3 * eb
    if all(s % bb == 0 for s in (s0, s1, s2)) or rows == 1:
        off = desc.base % bb
        return rows * ((off + run + bb - 1) // bb), pad_rows
    offs = (desc.base + np.arange(n0)[:, None, None] * s0 + np.arange(n1)[None, :, None] * s1
            + np.arange(n2)[None, None, :] * s2) % bb
    return int(((offs + run + bb - 1) // bb).sum()), pad_rows


def _bank(cfg: AcceleratorConfig, row: int) -> int:
    return row // (cfg.spad_rows // cfg.spad_banks)


def estimate(cfg: AcceleratorConfig, commands: list[Command], lat: Latencies | None = None) -> Estimate:
    """Predicted cycles of ``commands`` (a program; an END is implied) on ``cfg``."""
    from ..hw.controller import EXEC_IN_FLIGHT

    lat = lat or MEASURED
    depth = cfg.queue_depth
    started: dict[Queue, list[float]] = {q: [] for q in Queue}
    pushes: dict[tuple, list[float]] = {}
    pops: dict[tuple, int] = {}
    unit_free = {q: 0.0 for q in Queue}
    exec_done: list[float] = []
    busy = {q: 0.0 for q in Queue}
    array_free = 0.0          # the array can take the next tile's first beat
    weights_ready = 0.0       # the weight port can read the next tile's weights
    last_done = 0.0
    fetch = lat.fetch_first - lat.fetch_cycles
    dram = 0
    times = []
    for cmd in commands:
        q = QUEUE_OF.get(cmd.opcode)
        if q is None:
            break
        fetch += lat.fetch_cycles
        mine = started[q]
        if len(mine) >= depth:
            fetch = max(fetch, mine[-depth] + 1)
        t = fetch + lat.dispatch
        t = max(t, unit_free[q])
        for bit, other in (("pop_prev", -1), ("pop_next", 1)):
            if getattr(cmd, bit):
                src = list(Queue)[list(Queue).index(q) + other]
                ch = (src, q)
                k = pops.get(ch, 0)
                pops[ch] = k + 1
                avail = pushes.get(ch, [])
                t = max(t, avail[k] if k < len(avail) else t)
        if q is Queue.EXECUTE and len(exec_done) >= EXEC_IN_FLIGHT:
            t = max(t, exec_done[-EXEC_IN_FLIGHT])
        start = t
        b = cmd.body
        if cmd.opcode is Opcode.LOAD:
            beats, pad = load_beats(cfg, b["desc"])
            finish = start + lat.load_overhead + beats + pad
            unit_free[q] = finish
            dram += int(np.prod(b["desc"].sizes)) * b["desc"].elem_bytes
        elif cmd.opcode is Opcode.COMPUTE:
            count = b["count"]
            w = max(start + lat.exec_start, weights_ready)
            weights_ready = w + cfg.rows
            first = max(weights_ready if array_free <= start else weights_ready, array_free)
            conflict = _bank(cfg, b["a_row"]) == _bank(cfg, b["b_row"])
            array_free = first + max(count, cfg.rows) + (lat.bank_conflict if conflict else 0)
            finish = max(first + count + lat.exec_latency, exec_done[-1] + 1 if exec_done else 0)
            exec_done.append(finish)
            unit_free[q] = start + 1
        elif cmd.opcode is Opcode.STORE:
            rows = b["desc"].onchip_shape[0]
            finish = start + lat.store_overhead + lat.store_row_cycles * rows
            unit_free[q] = finish
            dram += int(np.prod(b["desc"].sizes))
        else:   # REQUANT
            finish = start + lat.requant_cycles * (cfg.cols if b["lane"] is None else 1)
            unit_free[q] = finish
        busy[q] += finish - start
        mine.append(start)
        for bit, other in (("push_prev", -1), ("push_next", 1)):
            if getattr(cmd, bit):
                dst = list(Queue)[list(Queue).index(q) + other]
                pushes.setdefault((q, dst), []).append(finish)
        last_done = max(last_done, finish)
        times.append((start, finish))
    cycles = int(round(max(last_done, fetch + lat.fetch_cycles) + lat.end_latency))
    return Estimate(cycles, {q.name.lower(): int(v) for q, v in busy.items()}, dram, times)


def calibrate(cfg: AcceleratorConfig) -> Latencies:
    """Measure :class:`Latencies` on ``cfg``'s RTL (native harness) with microprograms."""
    raise NotImplementedError
