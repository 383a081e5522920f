"""Instruction-level golden model: the contract for every program, legal or not.

:class:`Machine` holds what the hardware holds across programs -- scratchpad and
accumulator rows and the requantization lanes (nothing clears them between programs; a
reset sets them to zero, the lanes to :func:`~.requant.lane_reset`) -- and :meth:`Machine.run`
executes one program on a DRAM image and gives the exact final image, the status, the
failing command and the counters. Every input type runs the same way: for FP8
configurations the scratchpad holds FP8 codes, the accumulator exact fixed-point sums with
their special-value flags (:mod:`.accum`; an accumulating tile adds sums and ORs flags),
and REQUANT sets FP8 lanes (:mod:`.requant_fp8`).

The program as a network of processes
    The *fetch* unit reads commands in order from ``PROGRAM_BASE`` (one per
    :data:`~.isa.COMMAND_BYTES`), checks each (:func:`~.isa.check_command`) and appends it
    to its queue -- load, execute or store -- when that queue holds fewer than
    ``cfg.queue_depth`` commands that have not started (else fetch waits). Each queue starts
    its commands in order; a command starts when the tokens it pops are there
    (:func:`~.isa.pops`) and every channel it pushes on has room for one more
    (:data:`~.isa.TOKEN_MAX`, counting pushes of commands that started and have not
    finished); it pushes (:func:`~.isa.pushes`) when it has finished. Every channel has one
    writer and one reader, so -- like any Kahn process network with blocking reads and
    bounded buffers -- *which* commands run is the same whatever the timing; a program whose
    tokens order every conflicting access (race free) also leaves the same DRAM image and
    on-chip state. :func:`run` can execute the queues in several token-respecting
    ``schedule``\\ s; tests compare them to catch a missing token.

How a program ends (the status, :class:`~.isa.Status`, and ``ERROR_INDEX``)
    - ``END`` fetched and every command run: ``OK``.
    - **Fetch stops in front of a command it cannot take**: ``PROGRAM_ALIGN`` (index 0, a
      ``PROGRAM_BASE`` not a multiple of 64), ``NO_END`` (index ``PROGRAM_LEN``: that many
      commands fetched without an END), ``FETCH_WINDOW`` (the command's 64 bytes not inside
      the window), ``DMA`` with the AXI error of the fetch's read (the DRAM answered
      SLVERR/DECERR), or any error of :func:`~.isa.check_command` (illegal opcode or token
      bits, a DMA descriptor that fails its checks, a tile beyond the memories, bad
      REQUANT parameters). That command is never queued, nothing after it is fetched, and
      **every command before it still runs** as far as the tokens allow: the error is
      *precise*, the state is that of the commands before it. Then the program ends with
      that error and its index, whatever is left waiting.
    - **Deadlock**: nothing can start any more (heads wait for tokens that will never
      come, or for room in a token channel), nothing runs, fetch cannot help. ``DEADLOCK``
      with the index of the oldest waiting command. Left-over commands are dropped.
    - **A bus error** (an R or B response SLVERR/DECERR to a LOAD or STORE, see
      :mod:`.bus`): the failing command completes its transfer (faulted bytes read as 0,
      writes to them are dropped) and pushes no tokens; from then on **no command starts
      anywhere** and fetch stops; commands already running complete; ``DMA`` with the code
      and the lowest failing index. Which commands of *other* queues had started when the
      error arrived depends on timing: such a result is not ``exact``. The hardware reports
      how many commands of each queue ran (the ``*_commands`` counters); given those
      (``started=``), the machine checks they are a possible outcome and gives the exact
      state for them.
    - **Abort** (CTRL.abort from the host while a program runs) stops the same way, with
      ``ABORTED`` (index 0) unless a bus error stopped the program first.
    Errors rank: a bus error, then ``ABORTED``, then a fetch stop, then ``DEADLOCK``.
    Whatever the status, the next doorbell starts with empty queues and token counters.

Counters (what the hardware's counters count, except cycles, busy and stall)
    ``commands``: commands that ran, per queue (a command with a bus error counts);
    ``useful_macs``: ``count * rows_used * cols_used`` per tile (see
    :func:`~.isa.compute_layout`); ``array_beats``: data beats through the array;
    ``dma_bytes_loaded``/``dma_bytes_stored``: element bytes of the LOADs/STOREs that ran.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from . import array as golden
from .array import Dataflow, wrap
from .bus import Fault, byte_fault, check_faults, faulted_blocks, read_error, write_error
from .config import AcceleratorConfig
from .dma import DmaError, TensorDescriptor, descriptor_from_fields, dma_store, load_rows
from .isa import (COMMAND_BYTES, QUEUE_OF, TOKEN_CHANNELS, TOKEN_MAX, Opcode, Queue, Status,
                  check_decoded, decode_command, pops, pushes, tile_rows)
from . import accum
from .requant import lane_reset, requant_lanes

__all__ = ["Status", "Counters", "Result", "Machine", "run", "fetch_one", "fetched", "SCHEDULES", "Fault",
           "Inadmissible", "reset_lanes"]

SCHEDULES = ("program", "load_first", "store_first", "store_last")
_PREFERENCE = {"program": [], "load_first": [Queue.LOAD], "store_first": [Queue.STORE],
               "store_last": [Queue.LOAD, Queue.EXECUTE]}


class Inadmissible(AssertionError):
    """``started`` counts that no execution of the program can produce."""


@dataclass
class Counters:
    """What the hardware's performance counters count (cycle counters excepted)."""

    commands: dict = field(default_factory=lambda: {q.name.lower(): 0 for q in Queue})
    useful_macs: int = 0           # count * rows_used * cols_used per tile
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
    #: False when a bus error or an abort ended the program and ``started`` was not given:
    #: the commands other queues had started then are the hardware's (timing's) choice.
    exact: bool = True

    @classmethod
    def from_registers(cls, status: dict, counters: dict) -> "Result":
        """What a hardware run reports: ``status`` as :func:`~.csr.decode_status` gives it
        plus ``error_index``, ``counters`` by :data:`~.csr.COUNTER_NAMES`."""
        from .csr import QUEUE_COMMANDS

        c = counters
        n = Counters(commands={q: c[name] for q, name in QUEUE_COMMANDS.items()},
                     useful_macs=c["useful_macs"], dma_bytes_loaded=c["dma_bytes_loaded"],
                     dma_bytes_stored=c["dma_bytes_stored"], cycles=c["cycles"])
        code = Status(int(getattr(status["error"], "value", status["error"])))
        return cls(code, None if code is Status.OK else int(status["error_index"]),
                   DmaError(int(getattr(status["dma_error"], "value", status["dma_error"]))), n)


def reset_lanes(cfg: AcceleratorConfig) -> list[dict]:
    """The requantization lanes after reset (:func:`~.requant.lane_reset`)."""
    return [dict(lane_reset(cfg)) for _ in range(cfg.cols)]


@dataclass
class _Program:
    """One program's run: its fetch position, queues and tokens."""

    cfg: AcceleratorConfig
    base: int
    length: int
    window: tuple[int, int]
    faults: tuple[Fault, ...]
    size: int
    idx: int = 0
    stop: tuple[int, Status, DmaError] | None = None   # fetch stopped in front of idx
    ended: bool = False
    pending: tuple[int, dict] | None = None           # fetched, waiting for queue room
    queues: dict = field(default_factory=lambda: {q: deque() for q in Queue})
    tokens: dict = field(default_factory=lambda: dict.fromkeys(TOKEN_CHANNELS, 0))
    ran: dict = field(default_factory=lambda: dict.fromkeys(Queue, 0))


class Machine:
    """The accelerator's architectural state (see the module docstring)."""

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self.spad = np.zeros((cfg.spad_rows, cfg.spad_row_elems), dtype=np.int64)
        # partial-sum elements (model.accum): int64, or Python ints for FP8 (up to 131 bits)
        self.acc = np.zeros((cfg.acc_rows, cfg.cols), dtype=object if cfg.is_float else np.int64)
        self.lanes = reset_lanes(cfg)

    # -- one program --------------------------------------------------------------------
    def run(self, dram: bytearray, program_base: int, window: tuple[int, int], *,
            program_len: int = (1 << 32) - 1, faults=(), schedule: str = "program",
            started: dict | None = None, aborted: bool = False) -> Result:
        """Run the program at ``program_base`` on ``dram`` (changed in place).

        ``program_len`` is the PROGRAM_LEN CSR; ``faults`` the DRAM's fault ranges
        (:mod:`.bus`); ``started``, per queue name, how many commands of each queue the
        hardware ran (the ``*_commands`` counters) when a bus error or ``aborted`` ended
        the program; ``schedule`` one of :data:`SCHEDULES`.
        """
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule={schedule!r}: allowed one of {list(SCHEDULES)}")
        p = _Program(self.cfg, program_base, program_len, tuple(window), check_faults(faults), len(dram))
        counters = Counters()
        limit = None if started is None else {Queue[k.upper()]: v for k, v in started.items()}
        failures: list[tuple[int, DmaError]] = []
        halted = aborted and limit is None
        while not halted:
            while self._fetch(p, dram):
                pass
            ready = [q for q in Queue if self._runnable(p, q, limit, failures)]
            if not ready:
                break
            q = self._pick(p, ready, schedule)
            index, cmd = p.queues[q].popleft()
            for ch in pops(q, cmd["header"]):
                p.tokens[ch] -= 1
            err = self._execute(cmd, dram, p, counters)
            p.ran[q] += 1
            counters.commands[q.name.lower()] += 1
            if err is not DmaError.OK:
                failures.append((index, q, err))
                halted = limit is None        # stop the world; with `started`, follow it
            else:
                for ch in pushes(q, cmd["header"]):
                    p.tokens[ch] += 1
        return self._result(p, counters, failures, limit, aborted)

    def _fetch(self, p: _Program, dram) -> bool:
        """One fetch step; False when fetch cannot move."""
        if p.stop is not None or p.ended:
            return False
        if p.pending is None:
            stop, cmd = fetch_one(self.cfg, dram, p.base, p.idx, p.length, p.window, p.faults)
            if stop is not None:
                p.stop = stop
                return False
            if cmd["header"]["opcode"] is Opcode.END:
                p.ended = True
                return False
            p.pending = (p.idx, cmd)
        q = QUEUE_OF[p.pending[1]["header"]["opcode"]]
        if len(p.queues[q]) >= self.cfg.queue_depth:
            return False
        p.queues[q].append(p.pending)
        p.pending = None
        p.idx += 1
        return True

    @staticmethod
    def _runnable(p: _Program, q: Queue, limit, failures) -> bool:
        if not p.queues[q] or (limit is not None and p.ran[q] >= limit.get(q, 0)):
            return False
        h = p.queues[q][0][1]["header"]
        if any(p.tokens[ch] == 0 for ch in pops(q, h)):
            return False
        if any(p.tokens[ch] >= TOKEN_MAX for ch in pushes(q, h)):
            return False
        if any(fq is q for _, fq, _ in failures):
            return False                    # a queue stops after its bus error
        return True

    @staticmethod
    def _pick(p: _Program, ready: list, schedule: str) -> Queue:
        preferred = [q for q in _PREFERENCE[schedule] if q in ready]
        return preferred[0] if preferred else min(ready, key=lambda q: p.queues[q][0][0])

    def _result(self, p: _Program, counters: Counters, failures, limit, aborted) -> Result:
        if limit is not None:
            for q in Queue:
                if p.ran[q] != limit.get(q, 0):
                    raise Inadmissible(f"the hardware ran {limit.get(q, 0)} {q.name} commands; "
                                       f"{p.ran[q]} can run")
            if not failures and not aborted:
                raise Inadmissible("started= given, but no bus error or abort ended the program")
        exact = limit is not None or not (failures or aborted)
        if failures:
            index, _, err = min(failures, key=lambda f: f[0])
            return Result(Status.DMA, index, err, counters, exact)
        if aborted:
            return Result(Status.ABORTED, 0, DmaError.OK, counters, exact)
        if p.stop is not None:
            return Result(p.stop[1], p.stop[0], p.stop[2], counters, exact)
        waiting = [p.queues[q][0][0] for q in Queue if p.queues[q]]
        if waiting or p.pending is not None or not p.ended:
            return Result(Status.DEADLOCK, min(waiting) if waiting else p.idx, DmaError.OK, counters, exact)
        return Result(Status.OK, None, DmaError.OK, counters, exact)

    # -- one command --------------------------------------------------------------------
    def _execute(self, cmd: dict, dram, p: _Program, counters: Counters) -> DmaError:
        """Run one checked command; returns its bus error (OK for all but LOAD/STORE)."""
        op, body = cmd["header"]["opcode"], cmd["body"]
        if op is Opcode.COMPUTE:
            self.compute(body["compute"], counters)
            return DmaError.OK
        if op is Opcode.REQUANT:
            r = body["requant"]
            for j in (range(self.cfg.cols) if r["all_lanes"] else [r["lane"]]):
                self.lanes[j] = dict(r["params"])
            return DmaError.OK
        d = body["dma"]
        desc = d.get("_desc") or descriptor_from_fields(d)
        target = "acc" if d["target"] else "spad"
        nbytes = int(np.prod(desc.sizes)) * desc.elem_bytes
        if op is Opcode.STORE:
            counters.dma_bytes_stored += nbytes
            return self._store(desc, d["row"], target, dram, p)
        counters.dma_bytes_loaded += nbytes
        return self._load(desc, d["row"], target, dram, p)

    def compute(self, c: dict, counters: Counters | None = None) -> None:
        """One checked COMPUTE tile (:func:`~.isa.compute_layout`)."""
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        ws = c["dataflow"] is Dataflow.WS
        na, nb, nc = tile_rows(cfg, c)
        a = self.spad[c["a_row"]:c["a_row"] + na]
        b = self.spad[c["b_row"]:c["b_row"] + nb, :C]
        res = golden.ws_tile(cfg, a[:, :R], b) if ws else golden.os_tile(cfg, a[:, :R].T, b)
        rows = slice(c["c_row"], c["c_row"] + nc)
        if not c["accumulate"]:
            self.acc[rows] = res
        elif cfg.is_float:          # sums add (wrapping at acc_bits), flags OR
            self.acc[rows] = accum.add(cfg, self.acc[rows], res)
        else:
            self.acc[rows] = wrap(self.acc[rows] + res, cfg.acc_bits)
        if counters is not None:
            counters.useful_macs += c["count"] * (c["rows_used"] or R) * (c["cols_used"] or C)
            counters.array_beats += c["count"]

    def _load(self, desc: TensorDescriptor, row: int, target: str, dram, p: _Program) -> DmaError:
        err = read_error(self.cfg, p.faults, p.size, desc)
        lo, hi = desc.extent
        view = dram
        if err is not DmaError.OK or hi > len(dram):
            view = bytearray(dram) + bytes(max(0, hi - len(dram)))
            for a, b in faulted_blocks(p.faults, p.size, lo, hi):
                view[a:b] = bytes(b - a)
        rows = load_rows(self.cfg, view, desc, target)      # checked at fetch
        mem = self.spad if target == "spad" else self.acc
        mem[row:row + len(rows)] = rows
        return err

    def _store(self, desc: TensorDescriptor, row: int, target: str, dram, p: _Program) -> DmaError:
        cfg = self.cfg
        source = self.spad if target == "spad" else requant_lanes(cfg, self.acc, self.lanes)
        err = write_error(cfg, p.faults, p.size, desc)
        lo, hi = desc.extent
        if err is DmaError.OK and hi <= len(dram):
            status = dma_store(cfg, source, dram, p.window, desc, row, target)
        else:
            scratch = bytearray(dram) + bytes(max(0, hi - len(dram)))
            status = dma_store(cfg, source, scratch, p.window, desc, row, target)
            for a, b in faulted_blocks(p.faults, p.size, lo, hi):
                scratch[a:b] = (bytes(dram[a:min(b, len(dram))]) + bytes(b - a))[:b - a]
            dram[:] = scratch[:len(dram)]
        assert status is DmaError.OK, "checked at fetch"
        return err


def fetch_one(cfg: AcceleratorConfig, dram, base: int, idx: int, length: int, window,
              faults: tuple[Fault, ...] = ()) -> tuple[tuple | None, dict | None]:
    """What fetch makes of command ``idx``: ``(stop, None)`` when it stops in front of it
    (``stop = (idx, Status, DmaError)``), else ``(None, decoded command)`` (END included)."""
    if base % COMMAND_BYTES:
        return (0, Status.PROGRAM_ALIGN, DmaError.OK), None
    if idx >= length:
        return (idx, Status.NO_END, DmaError.OK), None
    addr = base + idx * COMMAND_BYTES
    if not (window[0] <= addr and addr + COMMAND_BYTES <= window[1]):
        return (idx, Status.FETCH_WINDOW, DmaError.OK), None
    bus = byte_fault(faults, len(dram), addr, addr + COMMAND_BYTES)
    if bus is not DmaError.OK:
        return (idx, Status.DMA, bus), None
    raw = int.from_bytes(dram[addr:addr + COMMAND_BYTES], "little")
    try:
        cmd = decode_command(cfg, raw)
    except ValueError:  # not an Opcode
        return (idx, Status.ILLEGAL_OPCODE, DmaError.OK), None
    status, dma_error = check_decoded(cfg, cmd, window)
    if status is not Status.OK:
        return (idx, status, dma_error), None
    return None, cmd


def fetched(cfg: AcceleratorConfig, dram, base: int, window, *, program_len: int = (1 << 32) - 1,
            faults=()) -> tuple[list[tuple[int, dict]], tuple]:
    """Every command fetch hands to a queue, in order, and where (why) it stops; the stop
    is ``(index, Status.OK, DmaError.OK)`` at an END."""
    faults = check_faults(faults)
    out = []
    for idx in range(program_len + 1):
        stop, cmd = fetch_one(cfg, dram, base, idx, program_len, window, faults)
        if stop is not None:
            return out, stop
        if cmd["header"]["opcode"] is Opcode.END:
            return out, (idx, Status.OK, DmaError.OK)
        out.append((idx, cmd))
    raise AssertionError("unreachable")


def run(cfg: AcceleratorConfig, dram: bytearray, program_base: int, window: tuple[int, int], *,
        schedule: str = "program", max_commands: int = (1 << 32) - 1, faults=(),
        started: dict | None = None, aborted: bool = False) -> Result:
    """Run one program on a machine fresh from reset (see :meth:`Machine.run`);
    ``max_commands`` is PROGRAM_LEN."""
    return Machine(cfg).run(dram, program_base, window, program_len=max_commands, faults=faults,
                            schedule=schedule, started=started, aborted=aborted)
