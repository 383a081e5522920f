"""Random programs for the fuzzer: legal ones whose tokens order every conflicting access
(so the machine model predicts the final state exactly), and illegal ones made from them.

A legal program is built command by command. Each command gets random fields that pass the
fetch unit's checks (:func:`systolica.model.isa.check_command`) and a *footprint* (the
scratchpad rows, accumulator rows, requantization lanes and DRAM bytes it reads and writes).
Happens-before is tracked with vector clocks (program order inside a queue, the k-th pop of
a channel after the k-th push); when the new command conflicts with an earlier command of
another queue that does not happen before it, a token is added: pushed by the latest command
of that queue (or by a no-op command inserted there when it already pushes on that channel)
and popped by the new command; load and store queues meet through a no-op tile of the
execute queue. Every push is popped by the next command of the receiving queue, so no
channel holds more than one token and the program never deadlocks.

No-ops use rows kept apart from the random commands: the top ``rows + 1`` scratchpad rows
(never written but by load no-ops' own row) and the top ``rows`` accumulator rows.

Illegal variants (:func:`corrupt`): a command replaced by random bits that fail a check, a
removed push or an extra pop (deadlock, never a race). (A missing END, a short
PROGRAM_LEN, an unaligned PROGRAM_BASE, a window that leaves the program out are made by
:mod:`.fuzz_cases`, which also makes sure a program without END never runs on into the
commands of another: they were not made to follow it, and would race.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model.array import Dataflow
from ..model.bits import pack, unpack
from ..model.config import AcceleratorConfig
from ..model.dma import TensorDescriptor, command_fields, touched_bytes
from ..model.isa import (COMMAND_BYTES, NEXT, PREV, Opcode, Queue, QUEUE_OF, Status, check_command,
                         command_layout)
from .commands import random_command, random_lane_params

__all__ = ["Footprint", "ProgramBuilder", "legal_program", "corrupt"]


@dataclass
class Footprint:
    """What a command reads and writes: sets of (kind, item); DRAM as byte ranges."""

    reads: set = field(default_factory=set)
    writes: set = field(default_factory=set)
    dram_reads: list = field(default_factory=list)
    dram_writes: list = field(default_factory=list)

    def conflicts(self, other: "Footprint") -> bool:
        if self.writes & (other.reads | other.writes) or other.writes & self.reads:
            return True
        return (_overlap(self.dram_writes, other.dram_reads + other.dram_writes)
                or _overlap(other.dram_writes, self.dram_reads))


def _overlap(a: list, b: list) -> bool:
    return any(x0 < y1 and y0 < x1 for x0, x1 in a for y0, y1 in b)


def _rows(kind: str, start: int, n: int) -> set:
    return {(kind, r) for r in range(start, start + n)}


class ProgramBuilder:
    """Builds one legal program (see the module docstring) for ``cfg`` over DRAM bytes
    ``data`` = ``(lo, hi)`` (loads and stores stay inside; no other region is touched)."""

    def __init__(self, rng: np.random.Generator, cfg: AcceleratorConfig, data: tuple[int, int]):
        self.rng, self.cfg, self.data = rng, cfg, data
        self.cmds: list[dict] = []          # {"queue", "header", "body", "fp", "vc"}
        self.by_queue = {q: [] for q in Queue}   # command numbers of each queue
        self.pushers = {}                   # channel -> command numbers that push, in order
        self.pops = {}                      # channel -> pops placed so far
        self.spad_free = cfg.spad_rows - (cfg.rows + 1)
        self.acc_free = cfg.acc_rows - cfg.rows

    # -- footprints and random legal commands --------------------------------------------
    def _dma_desc(self, store: bool, target: str) -> tuple[TensorDescriptor, int] | None:
        rng, cfg = self.rng, self.cfg
        width = cfg.cols if target == "acc" else cfg.spad_row_elems
        capacity = self.acc_free if target == "acc" else self.spad_free
        eb = 1 if (store or target == "spad") else int(rng.choice([4, cfg.acc_elem_bytes]))
        n3 = int(rng.integers(1, width + 1))
        sizes = [1, int(rng.integers(1, 3)), int(rng.integers(1, 4)), n3]
        pads = ([0] * 4, [0] * 4)
        transpose = False
        if not store and rng.random() < 0.4:
            pads = ([0, 0, int(rng.integers(0, 2)), int(rng.integers(0, 2))],
                    [0, 0, int(rng.integers(0, 2)), int(rng.integers(0, 2))])
            if sizes[3] + pads[0][3] + pads[1][3] > width:
                pads = ([0] * 4, [0] * 4)
        if not store and target == "spad" and rng.random() < 0.15:
            transpose = True
        strides = [0, 0, 0, eb]
        strides[2] = eb * n3 + int(rng.integers(0, 8)) * eb
        strides[1] = strides[2] * sizes[2] + int(rng.integers(0, 16))
        r = rng.random()
        if r < 0.1:
            strides[2] = -strides[2]
        elif r < 0.2:
            strides[3] = eb * int(rng.integers(2, 4))          # a gather
        elif r < 0.25:
            strides[2] = 0                                      # broadcast rows
        lo, hi = self.data
        span = sum(abs(s) * (n - 1) for s, n in zip(strides, sizes)) + eb
        if span >= hi - lo:
            return None
        below = abs(strides[2]) * (sizes[2] - 1) if strides[2] < 0 else 0   # bytes before base
        base = lo + int(rng.integers(0, hi - lo - span + 1)) + below
        desc = TensorDescriptor(base, tuple(sizes), tuple(strides), eb, tuple(pads[0]), tuple(pads[1]),
                                int(rng.integers(-100, 100)) if not store else 0, transpose)
        rows_needed = desc.onchip_shape[0]
        if desc.onchip_shape[1] > width or rows_needed > capacity:
            return None
        if transpose and desc.padded_sizes[3] > width:
            return None
        assert all(lo <= a and b <= hi for a, b in touched_bytes(desc)), (desc, self.data)
        row = int(rng.integers(0, capacity - rows_needed + 1))
        return desc, row

    def _random_dma(self, store: bool):
        target = "acc" if self.rng.random() < 0.4 else "spad"
        for _ in range(20):
            got = self._dma_desc(store, target)
            if got is not None:
                desc, row = got
                fields = command_fields(self.cfg, desc, row, target, store=store)
                fp = Footprint()
                rows = _rows(target, row, desc.onchip_shape[0])
                ranges = [tuple(r) for r in touched_bytes(desc)]
                if store:
                    fp.reads |= rows | ({("lanes", 0)} if target == "acc" else set())
                    fp.dram_writes = ranges
                else:
                    fp.writes |= rows
                    fp.dram_reads = ranges
                return {"dma": fields}, fp
        return None

    def _random_compute(self):
        rng, cfg = self.rng, self.cfg
        flows = [Dataflow.from_name(d) for d in cfg.dataflows]
        df = flows[int(rng.integers(len(flows)))]
        ws = df is Dataflow.WS
        count = int(rng.integers(1, 3 * cfg.rows + 1)) if rng.random() < 0.95 else int(rng.integers(1, 64))
        na, nb, nc = count, (cfg.rows if ws else count), (count if ws else cfg.rows)
        if max(na, nb) > self.spad_free or nc > self.acc_free:
            return None
        c = {"dataflow": df, "accumulate": int(rng.integers(2)),
             "a_row": int(rng.integers(0, self.spad_free - na + 1)),
             "b_row": int(rng.integers(0, self.spad_free - nb + 1)),
             "c_row": int(rng.integers(0, self.acc_free - nc + 1)), "count": count,
             "rows_used": int(rng.integers(0, cfg.rows + 1)), "cols_used": int(rng.integers(0, cfg.cols + 1))}
        fp = Footprint(reads=_rows("spad", c["a_row"], na) | _rows("spad", c["b_row"], nb),
                       writes=_rows("acc", c["c_row"], nc))
        if c["accumulate"]:
            fp.reads |= fp.writes
        return {"compute": c}, fp

    def _random_requant(self):
        while True:
            params = random_lane_params(self.rng, self.cfg)
            r = {"all_lanes": int(self.rng.random() < 0.5), "lane": int(self.rng.integers(self.cfg.cols)),
                 "params": params}
            raw = pack(command_layout(self.cfg), {"header": {"opcode": Opcode.REQUANT}, "body": {"requant": r}})
            if check_command(self.cfg, raw, (0, 0))[0] is Status.OK:
                return {"requant": r}, Footprint(writes={("lanes", 0)})

    def _nop(self, queue: Queue):
        cfg, top = self.cfg, self.cfg.spad_rows - 1
        if queue is Queue.LOAD:   # one byte into the load no-op row (nobody reads it)
            desc = TensorDescriptor(self.data[0], (1,), (1,))
            return {"dma": command_fields(cfg, desc, top, "spad")}, Footprint(dram_reads=[(self.data[0], self.data[0] + 1)])
        if queue is Queue.EXECUTE:  # reads never-written rows, writes no-op accumulator rows
            ws = cfg.supports("ws")
            c = {"dataflow": Dataflow.WS if ws else Dataflow.OS, "accumulate": 0,
                 "a_row": top - cfg.rows, "b_row": top - cfg.rows, "c_row": cfg.acc_rows - cfg.rows,
                 "count": 1, "rows_used": 1, "cols_used": 1}
            return {"compute": c}, Footprint()
        return self._random_requant()

    # -- happens-before ---------------------------------------------------------------------
    def _append(self, queue: Queue, op: Opcode, body: dict, fp: Footprint, pops=()) -> int:
        last = self._last_of(queue)
        vc = dict(self.cmds[last]["vc"]) if last is not None else dict.fromkeys(Queue, -1)
        header = {"opcode": op, "pop_prev": 0, "pop_next": 0, "push_prev": 0, "push_next": 0}
        for ch in pops:
            k = self.pops.get(ch, 0)
            pusher = self.cmds[self.pushers[ch][k]]
            for q in Queue:
                vc[q] = max(vc[q], pusher["vc"][q])
            self.pops[ch] = k + 1
            header["pop_prev" if PREV.get(queue) == ch[0] else "pop_next"] = 1
        n = len(self.cmds)
        vc[queue] = n
        self.cmds.append({"queue": queue, "header": header, "body": body, "fp": fp, "vc": vc})
        self.by_queue[queue].append(n)
        return n

    def _last_of(self, queue: Queue) -> int | None:
        return self.by_queue[queue][-1] if self.by_queue[queue] else None

    def _push_from(self, queue: Queue, to: Queue) -> tuple:
        """Make the latest command of ``queue`` (or a new no-op) push on ``(queue, to)``."""
        ch = (queue, to)
        bit = "push_next" if NEXT.get(queue) == to else "push_prev"
        last = self._last_of(queue)
        if last is None or self.cmds[last]["header"][bit]:
            body, fp = self._nop(queue)
            last = self._append(queue, _OP[queue](body), body, fp, self._needed(queue, fp))
        self.cmds[last]["header"][bit] = 1
        self.pushers.setdefault(ch, []).append(last)
        return ch

    def _needed(self, queue: Queue, fp: Footprint) -> list:
        """Channels to pop so that every conflicting earlier command happens before (a
        no-op tile is inserted to relay between the load and store queues)."""
        vc = dict.fromkeys(Queue, -1)
        last = self._last_of(queue)
        if last is not None:
            vc = dict(self.cmds[last]["vc"])

        def late(other):   # commands of `other` after the last one known to happen before
            known = vc[other]
            return any(self.cmds[i]["fp"].conflicts(fp) for i in reversed(self.by_queue[other]) if i > known)

        pops = []
        near = [q for q in (PREV.get(queue), NEXT.get(queue)) if q is not None]
        far = [q for q in Queue if q is not queue and q not in near and late(q)]
        relay = False
        for other in far:            # load <-> store: a no-op tile pops from there ...
            body, nfp = self._nop(Queue.EXECUTE)
            self._append(Queue.EXECUTE, Opcode.COMPUTE, body, nfp, [self._push_from(other, Queue.EXECUTE)])
            relay = True
        for other in near:           # ... and pushes here like any execute command
            if late(other) or (relay and other is Queue.EXECUTE):
                ch = self._push_from(other, queue)
                pops.append(ch)
                pusher = self.cmds[self.pushers[ch][self.pops.get(ch, 0)]]
                for q in Queue:
                    vc[q] = max(vc[q], pusher["vc"][q])
        return pops

    def add_random(self) -> None:
        r = self.rng.random()
        queue, op, got = (Queue.LOAD, Opcode.LOAD, self._random_dma(False)) if r < 0.35 else \
            (Queue.EXECUTE, Opcode.COMPUTE, self._random_compute()) if r < 0.65 else \
            (Queue.STORE, Opcode.REQUANT, self._random_requant()) if r < 0.75 else \
            (Queue.STORE, Opcode.STORE, self._random_dma(True))
        if got is None:
            return
        body, fp = got
        pops = self._needed(queue, fp)
        self._append(queue, op, body, fp, pops)

    def add_flood(self, n: int) -> None:
        """``n`` load no-ops pushing to execute, then ``n`` execute no-ops popping them:
        a token channel filled past :data:`~systolica.model.isa.TOKEN_MAX`."""
        for _ in range(n):
            body, fp = self._nop(Queue.LOAD)
            k = self._append(Queue.LOAD, Opcode.LOAD, body, fp, self._needed(Queue.LOAD, fp))
            self.cmds[k]["header"]["push_next"] = 1
            self.pushers.setdefault((Queue.LOAD, Queue.EXECUTE), []).append(k)
        for _ in range(n):
            body, fp = self._nop(Queue.EXECUTE)
            self._append(Queue.EXECUTE, Opcode.COMPUTE, body, fp, [(Queue.LOAD, Queue.EXECUTE)])

    def commands(self) -> list[int]:
        """The program's commands as bits (END appended)."""
        layout = command_layout(self.cfg)
        out = [pack(layout, {"header": c["header"], "body": c["body"]}) for c in self.cmds]
        return out + [0]


_OP = {Queue.LOAD: lambda body: Opcode.LOAD, Queue.EXECUTE: lambda body: Opcode.COMPUTE,
       Queue.STORE: lambda body: Opcode.REQUANT if "requant" in body else Opcode.STORE}


def legal_program(rng: np.random.Generator, cfg: AcceleratorConfig, data: tuple[int, int], n: int,
                  flood: int = 0) -> list[int]:
    """About ``n`` random commands (+ no-ops and an END), race free."""
    b = ProgramBuilder(rng, cfg, data)
    if flood:
        b.add_flood(flood)
    for _ in range(n):
        b.add_random()
    return b.commands()


def corrupt(rng: np.random.Generator, cfg: AcceleratorConfig, commands: list[int], window) -> tuple[list[int], str]:
    """An illegal variant of a legal program: returns the commands and what was done."""
    cmds = list(commands)
    layout = command_layout(cfg)
    k = int(rng.integers(len(cmds)))
    r = rng.random()
    if r < 0.5:       # a command that fails a check
        for _ in range(200):
            raw = random_command(rng, cfg, window)
            if check_command(cfg, raw, window)[0] is not Status.OK:
                cmds[k] = raw
                return cmds, f"bad command at {k}"
        return cmds, "none"
    c = unpack(layout, cmds[k])
    op = c["header"]["opcode"]
    q = QUEUE_OF.get(op)
    if q is None:
        return cmds, "none"
    h = c["header"]
    pushes = [b for b in ("push_prev", "push_next") if h[b]]
    if r < 0.75 and pushes:
        h[pushes[int(rng.integers(len(pushes)))]] = 0
        what = f"push removed at {k}"
    else:
        legal = [b for b in ("pop_prev", "pop_next") if (PREV if b == "pop_prev" else NEXT).get(q)]
        free = [b for b in legal if not h[b]]
        if not free:
            return cmds, "none"
        h[free[int(rng.integers(len(free)))]] = 1
        what = f"pop added at {k}"
    member = {Opcode.LOAD: "dma", Opcode.STORE: "dma", Opcode.COMPUTE: "compute", Opcode.REQUANT: "requant"}[op]
    cmds[k] = pack(layout, {"header": h, "body": {member: c["body"][member]}})
    return cmds, what


def program_bytes(commands: list[int]) -> bytes:
    return b"".join(c.to_bytes(COMMAND_BYTES, "little") for c in commands)

