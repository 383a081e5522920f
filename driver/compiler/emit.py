"""Operations -> commands: dependency tokens placed from what each operation reads and writes.

The schedules (:mod:`.gemm`, :mod:`.network`) produce :class:`Op` s in program order: a
command without tokens, the scratchpad/accumulator rows it reads and writes, and any
explicit ordering (``after``: earlier operations it must follow, e.g. a barrier after the
last store of a layer). :func:`emit` gives every command the tokens that make every
schedule of the machine equal to program order, and no more:

- for each operation and each neighbouring queue (load <-> execute <-> store), the
  *latest* earlier operation of that queue it conflicts with (it writes rows this one
  reads, reads rows this one writes, or writes rows this one writes), or names in
  ``after``;
- per token channel ``P -> Q``, walking ``Q``'s operations in program order: one that
  needs a ``P`` operation not yet covered by an earlier pop pops a token, and that ``P``
  operation pushes one. Queues run in order and finish in order, so the k-th push
  (in ``P``'s order) is the one the k-th pop waits for.

Every pop's push comes earlier in program order, so a program of any length runs in
queues of any depth without deadlock; every push is popped. Loads and stores never
touch the same rows (loads fill the scratchpad, stores read the accumulator); an order
between them goes through the execute queue (:func:`barrier`).
"""

from __future__ import annotations

import bisect
import dataclasses
from dataclasses import dataclass

from ...model.config import AcceleratorConfig
from ...model.isa import QUEUE_OF, Command, Opcode, Queue

__all__ = ["Op", "emit", "barrier", "load_op", "compute_op", "store_op", "requant_op"]

_ORDER = {Queue.LOAD: 0, Queue.EXECUTE: 1, Queue.STORE: 2}


@dataclass
class Op:
    """One command of a schedule: ``reads``/``writes`` are ``(memory, first row, end row)``
    with memory ``"spad"`` or ``"acc"``; ``after`` indices of earlier operations (in a
    neighbouring queue) it must follow; ``tag`` what a load reads (``"input"``: the
    layer's input, ``"weights"``), for chaining layers."""

    cmd: Command
    reads: tuple = ()
    writes: tuple = ()
    after: tuple = ()
    tag: str = ""

    @property
    def queue(self) -> Queue:
        return QUEUE_OF[self.cmd.opcode]


def load_op(desc, row: int, tag: str = "") -> Op:
    rows = desc.onchip_shape[0]
    return Op(Command(Opcode.LOAD, {"desc": desc, "row": row}), writes=(("spad", row, row + rows),), tag=tag)


def compute_op(cfg: AcceleratorConfig, *, a_row: int, b_row: int, c_row: int, count: int,
               accumulate: bool, rows_used: int, cols_used: int) -> Op:
    """A weight-stationary tile: weights ``b_row..+cfg.rows``, ``count`` inputs from ``a_row``."""
    body = {"dataflow": "ws", "accumulate": int(accumulate), "a_row": a_row, "b_row": b_row,
            "c_row": c_row, "count": count, "rows_used": rows_used, "cols_used": cols_used}
    return Op(Command(Opcode.COMPUTE, body),
              reads=(("spad", a_row, a_row + count), ("spad", b_row, b_row + cfg.rows)),
              writes=(("acc", c_row, c_row + count),))


def store_op(desc, row: int) -> Op:
    rows = desc.onchip_shape[0]
    return Op(Command(Opcode.STORE, {"desc": desc, "row": row, "target": "acc"}),
              reads=(("acc", row, row + rows),))


def requant_op(lane: int | None, params: dict) -> Op:
    return Op(Command(Opcode.REQUANT, {"lane": lane, "params": params}))


def barrier(cfg: AcceleratorConfig, after: tuple = ()) -> Op:
    """A one-row COMPUTE relaying 'these stores are done' (``after``) to the loads that
    name it in their ``after``: its accumulator row 0 is garbage, overwritten before anyone
    reads it (every tile starts with ``accumulate=0``). Adds one MAC to the MAC counter."""
    op = compute_op(cfg, a_row=0, b_row=0, c_row=0, count=1, accumulate=False, rows_used=1, cols_used=1)
    op.after = tuple(after)
    return op


_QUEUES = tuple(_ORDER)


class _RowMap:
    """The last operation index per row of one memory, as sorted runs of equal value."""

    def __init__(self, rows: int):
        self.starts, self.values, self.rows = [0], [-1], rows

    def _split(self, at: int) -> int:
        """Index of the run starting at ``at`` (split there if needed)."""
        if at >= self.rows:
            return len(self.starts)
        k = bisect.bisect_right(self.starts, at) - 1
        if self.starts[k] == at:
            return k
        self.starts.insert(k + 1, at)
        self.values.insert(k + 1, self.values[k])
        return k + 1

    def latest(self, lo: int, hi: int) -> int:
        k = bisect.bisect_right(self.starts, lo) - 1
        best, starts, values = -1, self.starts, self.values
        while k < len(starts) and starts[k] < hi:
            if values[k] > best:
                best = values[k]
            k += 1
        return best

    def assign(self, lo: int, hi: int, value: int) -> None:
        a = self._split(lo)
        b = self._split(hi)
        self.starts[a:b] = [lo]
        self.values[a:b] = [value]


def _conflict(maps, op: Op, p: int) -> int:
    """The latest operation of queue ``p`` that ``op`` conflicts with (-1: none)."""
    d = -1
    for mem, lo, hi in op.reads:
        if hi > lo:
            d = max(d, maps[mem, "w", p].latest(lo, hi))
    for mem, lo, hi in op.writes:
        if hi > lo:
            d = max(d, maps[mem, "r", p].latest(lo, hi), maps[mem, "w", p].latest(lo, hi))
    return d


def _needs(cfg: AcceleratorConfig, ops: list[Op]) -> list[dict[Queue, int]]:
    """Per operation, the latest earlier operation of each neighbouring queue it must follow."""
    size = {"spad": cfg.spad_rows, "acc": cfg.acc_rows}
    maps = {(m, kind, q): _RowMap(n) for m, n in size.items() for kind in "rw" for q in range(3)}
    out = []
    for i, op in enumerate(ops):
        q = _ORDER[op.queue]
        need = {p: _conflict(maps, op, p) for p in (q - 1, q + 1) if 0 <= p <= 2}
        for a in op.after:
            p = _ORDER[ops[a].queue]
            if p not in need or not 0 <= a < i:
                raise ValueError(f"op {i}: 'after' names op {a}, not an earlier op of a neighbouring queue")
            need[p] = max(need[p], a)
        if q != 1 and _conflict(maps, op, 2 - q) >= 0:
            raise ValueError(f"op {i}: touches rows of the {_QUEUES[2 - q].name.lower()} queue, "
                             "which only the execute queue can order")
        for mem, lo, hi in op.reads:
            if hi > lo:
                maps[mem, "r", q].assign(lo, hi, i)
        for mem, lo, hi in op.writes:
            if hi > lo:
                maps[mem, "w", q].assign(lo, hi, i)
        out.append({_QUEUES[p]: d for p, d in need.items()})
    return out


def emit(cfg: AcceleratorConfig, ops: list[Op]) -> list[Command]:
    """The commands of ``ops`` with their tokens (see the module docstring)."""
    needs = _needs(cfg, ops)
    bits = [dict(pop_prev=False, pop_next=False, push_prev=False, push_next=False) for _ in ops]
    queues = [op.queue for op in ops]
    for producer in Queue:
        for consumer in Queue:
            if abs(_ORDER[producer] - _ORDER[consumer]) != 1:
                continue
            side = "prev" if _ORDER[producer] < _ORDER[consumer] else "next"    # seen from the consumer
            back = "next" if side == "prev" else "prev"                       # seen from the producer
            covered = -1
            for i, q in enumerate(queues):
                if q is not consumer:
                    continue
                d = needs[i].get(producer, -1)
                if d > covered:
                    bits[i][f"pop_{side}"] = True
                    bits[d][f"push_{back}"] = True
                    covered = d
    return [dataclasses.replace(op.cmd, **b) for op, b in zip(ops, bits)]
