"""Instruction-level golden model: a program on a DRAM image gives the exact final image.

The machine holds what the hardware holds -- scratchpad and accumulator rows and the
requantization lanes -- and executes the commands of :mod:`.isa` with the unit
models (:mod:`.dma`, :mod:`.array`, :mod:`.requant`).

Order. The three queues (load, execute, store) run concurrently in hardware; only the
dependency tokens order them. :func:`run` executes the queues' heads one at a time in a
*schedule* that respects the tokens: ``"program"`` takes the oldest runnable command,
``"load_first"`` / ``"store_first"`` prefer that queue (and so run it as far ahead as the
tokens allow), ``"store_last"`` runs stores only when nothing else can (so computes run
ahead of older stores). A program whose tokens order every conflicting access gives the same
DRAM image in every schedule; tests compare schedules to catch a missing token.

Errors (:class:`Status`), with the index of the failing command: an illegal opcode or
token bits (nothing of that command is done), a DMA command's :class:`~.dma.DmaError`,
a compute tile beyond the scratchpad/accumulator, a program that waits for a token that
can never come (deadlock), a fetch outside the DRAM window. The first error stops the
machine; what earlier commands did stays done. Fetching stops at a fetch error, the
commands fetched before it still run, and an error of one of them (a lower index) is
reported instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from amaranth.lib import enum

from . import array as golden
from .array import Dataflow, wrap
from .config import AcceleratorConfig
from .dma import DmaError, TensorDescriptor, dma_load, dma_store
from .isa import COMMAND_BYTES, Opcode, Queue, command_layout
from .bits import unpack
from .requant import LANE_PARAMS, requant_lanes

__all__ = ["Status", "Counters", "Result", "Machine", "run", "SCHEDULES"]

SCHEDULES = ("program", "load_first", "store_first", "store_last")


class Status(enum.Enum, shape=4):
    OK = 0
    ILLEGAL_OPCODE = 1
    ILLEGAL_TOKENS = 2
    DMA = 3             #: a DMA command failed; the DMA's code is in Result.dma_error
    COMPUTE_RANGE = 4   #: a tile's rows lie beyond the scratchpad or accumulator
    DEADLOCK = 5        #: a command waits for a token no queue can give
    FETCH_WINDOW = 6    #: the program lies (partly) outside the DRAM window
    NO_END = 7          #: the program ran past max_commands without an END


@dataclass
class Counters:
    """What the hardware's performance counters count (cycle counters excepted)."""

    commands: dict = field(default_factory=lambda: {q.name.lower(): 0 for q in Queue})
    useful_macs: int = 0           # rows x cols x beats of real operands, per tile
    array_beats: int = 0           # data beats streamed through the array
    dma_bytes_loaded: int = 0
    dma_bytes_stored: int = 0
    cycles: int | None = None      # the hardware counts cycles; this model does not


@dataclass
class Result:
    status: Status
    index: int | None = None          # the failing command, when status is not OK
    dma_error: DmaError = DmaError.OK
    counters: Counters = field(default_factory=Counters)


def _decoded_desc(d: dict) -> TensorDescriptor:
    return TensorDescriptor(d["base"], tuple(d["sizes"]), tuple(d["strides"]), 1 << d["elem_log2"],
                            tuple(d["pad_before"]), tuple(d["pad_after"]), d["pad_value"],
                            bool(d["transpose"]))


class Machine:
    """The accelerator's architectural state; :meth:`execute` runs one decoded command."""

    def __init__(self, cfg: AcceleratorConfig, dram: bytearray, window: tuple[int, int]):
        self.cfg, self.dram, self.window = cfg, dram, window
        self.spad = np.zeros((cfg.spad_rows, cfg.spad_row_elems), dtype=np.int64)
        self.acc = np.zeros((cfg.acc_rows, cfg.cols), dtype=np.int64)
        zero = unpack(LANE_PARAMS, 0)
        self.lanes = [dict(zero, qmin=-128, qmax=127) for _ in range(cfg.cols)]
        self.counters = Counters()

    # -- one command --------------------------------------------------------------------
    def execute(self, cmd: dict) -> tuple[Status, DmaError]:
        op = cmd["header"]["opcode"]
        body = cmd["body"]
        if op is Opcode.LOAD or op is Opcode.STORE:
            return self._dma(body["dma"], store=op is Opcode.STORE)
        if op is Opcode.COMPUTE:
            return self._compute(body["compute"]), DmaError.OK
        if op is Opcode.REQUANT:
            r = body["requant"]
            for j in (range(self.cfg.cols) if r["all_lanes"] else [r["lane"]]):
                self.lanes[j] = dict(r["params"])
            return Status.OK, DmaError.OK
        raise AssertionError(f"not a queue command: {op}")

    def _dma(self, d: dict, store: bool) -> tuple[Status, DmaError]:
        cfg = self.cfg
        target = "acc" if d["target"] else "spad"
        try:
            desc = _decoded_desc(d)
        except ValueError:
            return Status.DMA, DmaError.BAD_DESCRIPTOR
        if store != bool(d["store"]):
            return Status.DMA, DmaError.BAD_DESCRIPTOR
        if store:
            source = self.spad if target == "spad" else requant_lanes(cfg, self.acc, self.lanes)
            err = dma_store(cfg, source, self.dram, self.window, desc, d["row"], target)
            nbytes = "dma_bytes_stored"
        else:
            loaded = dma_load(cfg, self.dram, self.window, desc, d["row"], target)
            err = loaded.error
            if err is DmaError.OK:
                mem = self.spad if target == "spad" else self.acc
                mem[d["row"]:d["row"] + len(loaded.rows)] = loaded.rows
            nbytes = "dma_bytes_loaded"
        if err is not DmaError.OK:
            return Status.DMA, err
        setattr(self.counters, nbytes, getattr(self.counters, nbytes) + int(np.prod(desc.sizes)) * desc.elem_bytes)
        return Status.OK, DmaError.OK

    def _compute(self, c: dict) -> Status:
        cfg = self.cfg
        R, C, n = cfg.rows, cfg.cols, c["count"]
        ws = c["dataflow"] is Dataflow.WS
        if not cfg.supports("ws" if ws else "os"):
            return Status.ILLEGAL_OPCODE
        a_end = c["a_row"] + n
        b_end = c["b_row"] + (R if ws else n)
        c_end = c["c_row"] + (n if ws else R)
        if a_end > cfg.spad_rows or b_end > cfg.spad_rows or c_end > cfg.acc_rows:
            return Status.COMPUTE_RANGE
        if ws:
            res = golden.ws_tile(cfg, self.spad[c["a_row"]:a_end, :R], self.spad[c["b_row"]:b_end, :C])
        else:
            a = self.spad[c["a_row"]:a_end, :R].T
            res = golden.os_tile(cfg, a, self.spad[c["b_row"]:b_end, :C])
        rows = slice(c["c_row"], c_end)
        self.acc[rows] = wrap(self.acc[rows] + res, cfg.acc_bits) if c["accumulate"] else res
        self.counters.useful_macs += R * C * n
        self.counters.array_beats += n
        return Status.OK


def _tokens_legal(h: dict, queue: Queue) -> bool:
    if queue is Queue.LOAD and (h["pop_prev"] or h["push_prev"]):
        return False
    if queue is Queue.STORE and (h["pop_next"] or h["push_next"]):
        return False
    return True


def run(cfg: AcceleratorConfig, dram: bytearray, program_base: int, window: tuple[int, int], *,
        schedule: str = "program", max_commands: int = 1 << 20) -> Result:
    """Fetch and run the program at ``program_base`` in ``dram`` (changed in place).

    Fetch goes in order until END: an illegal opcode or token bits stop it there. The
    queues then run in ``schedule`` (see the module docstring).
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule={schedule!r}: allowed one of {list(SCHEDULES)}")
    machine = Machine(cfg, dram, window)
    layout = command_layout(cfg)
    queues: dict[Queue, list[tuple[int, dict]]] = {q: [] for q in Queue}
    fetch_error: tuple[Status, int] | None = None
    for index in range(max_commands):
        addr = program_base + index * COMMAND_BYTES
        if not (window[0] <= addr and addr + COMMAND_BYTES <= window[1]) or addr + COMMAND_BYTES > len(dram):
            fetch_error = (Status.FETCH_WINDOW, index)
            break
        raw = int.from_bytes(dram[addr:addr + COMMAND_BYTES], "little")
        try:
            header = unpack(layout["header"].shape, raw)
        except ValueError:  # not an Opcode
            fetch_error = (Status.ILLEGAL_OPCODE, index)
            break
        op = header["opcode"]
        if op is Opcode.END:
            break
        queue = {Opcode.LOAD: Queue.LOAD, Opcode.COMPUTE: Queue.EXECUTE}.get(op, Queue.STORE)
        if not _tokens_legal(header, queue):
            fetch_error = (Status.ILLEGAL_TOKENS, index)
            break
        queues[queue].append((index, unpack(layout, raw)))
    else:
        fetch_error = (Status.NO_END, max_commands)

    result = _drain(machine, queues, schedule)
    if result.status is Status.OK and fetch_error is not None:
        result = Result(fetch_error[0], fetch_error[1], counters=machine.counters)
    return result


def _drain(machine: Machine, queues: dict, schedule: str) -> Result:
    """Run the queued commands under their tokens until all are done or one fails."""
    # tokens[(from, to)]: pushed and not yet popped
    tokens = {(a, b): 0 for a in Queue for b in Queue}
    prev = {Queue.EXECUTE: Queue.LOAD, Queue.STORE: Queue.EXECUTE}
    nxt = {Queue.LOAD: Queue.EXECUTE, Queue.EXECUTE: Queue.STORE}
    heads = {q: 0 for q in Queue}
    preference = {"program": [], "load_first": [Queue.LOAD], "store_first": [Queue.STORE],
                  "store_last": [Queue.LOAD, Queue.EXECUTE]}[schedule]

    def runnable(q: Queue) -> bool:
        if heads[q] >= len(queues[q]):
            return False
        h = queues[q][heads[q]][1]["header"]
        return ((not h["pop_prev"] or tokens[(prev[q], q)] > 0) and
                (not h["pop_next"] or tokens[(nxt[q], q)] > 0))

    while any(heads[q] < len(queues[q]) for q in Queue):
        ready = [q for q in Queue if runnable(q)]
        if not ready:
            index = min(queues[q][heads[q]][0] for q in Queue if heads[q] < len(queues[q]))
            return Result(Status.DEADLOCK, index, counters=machine.counters)
        preferred = [q for q in preference if q in ready]
        q = preferred[0] if preferred else min(ready, key=lambda q: queues[q][heads[q]][0])
        index, cmd = queues[q][heads[q]]
        heads[q] += 1
        h = cmd["header"]
        if h["pop_prev"]:
            tokens[(prev[q], q)] -= 1
        if h["pop_next"]:
            tokens[(nxt[q], q)] -= 1
        status, dma_error = machine.execute(cmd)
        if status is not Status.OK:
            return Result(status, index, dma_error, machine.counters)
        machine.counters.commands[q.name.lower()] += 1
        if h["push_prev"]:
            tokens[(q, prev[q])] += 1
        if h["push_next"]:
            tokens[(q, nxt[q])] += 1
    return Result(Status.OK, counters=machine.counters)
