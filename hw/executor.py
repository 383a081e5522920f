"""Execute unit: compute commands -> scratchpad reads -> the array -> accumulator writes.

Each command is one tile of :func:`systolica.model.isa.compute_layout` (semantics in
:meth:`systolica.model.machine.Machine._compute`). The unit issues the tile's scratchpad
reads (WS: ``rows`` weight rows, then ``count`` A rows; OS: ``count`` A
rows and ``count`` B rows), queues the rows, streams them into the array as weight and
data beats, and writes each result vector into the accumulator (WS: row ``c_row + i``
for the ``i``-th input row; OS: rows drain bottom first, to ``c_row + rows - 1 - i``).

Tiles overlap: the next command issues its reads while earlier tiles are still in the
array (the array double-buffers weights), so WS tiles with ``count >= rows`` stream
without a bubble when the two read ports do not meet in one bank.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.array import Dataflow
from ..model.config import AcceleratorConfig
from ..model.isa import compute_layout
from .accumulator import acc_write_layout
from .head_fifo import HeadFIFO, room_next
from .scratchpad import READ_LATENCY, delayed, read_port_signature, spad_row_layout
from .systolic_array import data_beat_layout, result_beat_layout, weight_row_layout

__all__ = ["Executor", "ROW_QUEUE_DEPTH", "TILES_IN_FLIGHT"]

#: Scratchpad rows per operand between the issuer and the array: requests queued, in
#: flight, and rows waiting for the array. A row's slot is held four cycles when the array
#: takes it at once (queued, read, written, taken), so 4 sustain one row per cycle; one
#: more absorbs a cycle lost to a bank conflict.
ROW_QUEUE_DEPTH = 5
#: Tiles whose results may still be coming out of the array.
TILES_IN_FLIGHT = 4


def _tile_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """What the result side needs of a tile."""
    # ``start``: the accumulator row of its first result (WS: ``c_row``, OS: the bottom row,
    # ``c_row + rows - 1``); the others follow it up (WS) or down (OS) one by one.
    # ``one`` / ``two``: ``results`` is 1 / 2 (the tile's last result is then known from bits)
    return data.StructLayout({"dataflow": Dataflow, "accumulate": 1, "start": range(cfg.acc_rows),
                              "results": range(1, 1 << 16), "one": 1, "two": 1})


class _RowQueue:
    """A scratchpad read port and the FIFO its rows land in.

    Requests leave from a two-entry queue whose head is a register, so the port's
    ``valid``, address and tag are registers, and its ``ready`` (the scratchpad's bank
    arbitration, which compares the other ports' addresses) stops at that queue. (Timing:
    a cross-block path was the issuer's row counter -> ``base + i`` -> the scratchpad's
    arbitration -> ``ready`` -> the counter.) A request enters the queue (``put``, with
    ``addr`` and ``tag``) only while ``room``: ``reserved`` counts the requests queued, in
    flight and the rows in the FIFO, so a response always finds its slot (responses cannot
    wait)."""

    def __init__(self, m: Module, name: str, port, cfg: AcceleratorConfig, tag_bits: int):
        row_bits = data.Layout.cast(spad_row_layout(cfg)).size
        # (the rows' FIFO keeps its head in a register, cycle for cycle a SyncFIFO, so what
        # the array's feed decides from the head row and tag starts at flip-flops, not at
        # a distributed RAM's read; timing: the 8x8 top at a8989be, `a_rows.consume` -> its
        # RAM -> the weights' load decision -> a 5.43 ns route -> `a_rows_reserved`, -0.86 ns)
        # The array's take reaches the queue a cycle late (``late_read``: two heads, the
        # read a register), so it meets only the heads' flags and select, not the level,
        # the pointers and the RAM's slices behind them (timing: the 8x8 top at 2aa321b
        # --seed 2, the array's `os_wait` -> `ready` -> the take -> `b_rows.behind_level`,
        # -1.57 ns, and `behind_raddr1`, -1.50 ns). Its ``w_rdy`` counts the take a cycle
        # late: a row lands at least two cycles after ``room`` (which counts it at once)
        # let its request in, so it always finds the slot.
        self.fifo = m.submodules[name] = HeadFIFO(width=row_bits + tag_bits, depth=ROW_QUEUE_DEPTH,
                                                  heads=2, late_read=True)
        layout = data.StructLayout({"addr": range(cfg.spad_rows), "tag": tag_bits})
        reqs = m.submodules[f"{name}_reqs"] = HeadFIFO(width=layout.size, depth=2)
        self.put = Signal(name=f"{name}_put")
        self.entry = data.View(layout, reqs.w_data)       # the request ``put`` queues
        head = data.View(layout, reqs.r_data)
        reserved = Signal(range(ROW_QUEUE_DEPTH + 1), name=f"{name}_reserved")
        # ``room`` (``reserved < ROW_QUEUE_DEPTH`` and the request queue's ``w_rdy``) is a
        # register, set from their next values, so the issuer's put and its command's
        # last row start at a flip-flop, not at the count's compare (timing: the 8x8 top at
        # a0840f4, `a_rows_reserved` -> the compare -> the issuer's last row -> its command
        # queue's read -> the executor's `cmd_ready_next` -> a 3.14 ns route -> the execute
        # dispatcher's `free0`, -0.62 ns)
        self.room = Signal(name=f"{name}_room", init=1)
        inc, dec = self.put & self.room, self.fifo.r_en
        m.d.comb += [reqs.w_en.eq(self.put),
                     port.req.valid.eq(reqs.r_rdy), port.req.payload.addr.eq(head.addr),
                     reqs.r_en.eq(port.req.ready)]
        m.d.sync += [reserved.eq(reserved + inc - dec), self.room.eq(room_next(reserved, ROW_QUEUE_DEPTH, inc, dec) & reqs.w_rdy_next)]
        # the tag of the row arriving: the head's, READ_LATENCY cycles ago
        tag = delayed(m, head.tag, READ_LATENCY, f"{name}_tag")
        m.d.comb += [self.fifo.w_en.eq(port.resp.valid),
                     self.fifo.w_data.eq(port.resp.payload.as_value() | (tag << row_bits))]
        self.valid = self.fifo.r_rdy
        self.row = data.View(spad_row_layout(cfg), self.fifo.r_data[:row_bits])
        self.head_tag = self.fifo.r_data[row_bits:]


class _Issuer:
    """Requests rows ``base .. base + n - 1`` of each queued command on one read port, in
    command order (``n`` may be 0). Commands enter with ``(base, n, tag)`` when accepted."""

    def __init__(self, m: Module, name: str, cfg: AcceleratorConfig, base, n, tag):
        # (``final`` is ``n - 1``, the index of the last row, queued beside ``n`` so the
        # last row is an equality of registers, no subtraction after the head (timing: the
        # 8x8 top at d439d8e, the queue's head -> ``n - 1``'s carry chain -> the last row
        # -> the read and ``i``'s clear, -1.56 ns); with ``n`` 0 it is all ones, which
        # ``i`` (at most ``n``) never reaches)
        # ``zero`` / ``one``: ``n`` is 0 / 1, so the head's first row decides from bits
        self.layout = data.StructLayout({"base": range(cfg.spad_rows), "final": 17, "zero": 1, "one": 1,
                                         "tag": len(tag)})
        self.cmds = m.submodules[f"{name}_cmds"] = HeadFIFO(width=self.layout.size, depth=TILES_IN_FLIGHT)
        self.entry = Signal(self.layout)
        m.d.comb += [self.entry.base.eq(base), self.entry.final.eq(n - 1), self.entry.zero.eq(n == 0),
                     self.entry.one.eq(n == 1), self.entry.tag.eq(tag)]
        self.name = name

    def drive(self, m: Module, accepted, queue: "_RowQueue", last_tag: bool) -> None:
        """Feed ``queue``'s requests; with ``last_tag`` the request tag's bit 0 marks the
        command's last row (the rest of the tag is the command's)."""
        m.d.comb += [self.cmds.w_en.eq(accepted), self.cmds.w_data.eq(self.entry.as_value())]
        head = data.View(self.layout, self.cmds.r_data)
        i = Signal(17, name=f"{self.name}_i")
        # whether row i is the last (`i == final`) and whether a row is left (`i != n`), from
        # registers: the head's first row reads its `one` and `zero` bits, a later row
        # `at_final`, set with `i`'s step from `i + 1 == final` (a later row always has one
        # left: the last row's request takes the head). Timing: the 8x8 top at e54d26e,
        # `issue_b_i` -> `i == final` -> the queue's read -> its storage's `late_hit`, -1.40 ns
        first = Signal(name=f"{self.name}_first", init=1)
        at_final = Signal(name=f"{self.name}_at_final")
        last = Mux(first, head.one, at_final)
        m.d.comb += [
            queue.put.eq(self.cmds.r_rdy & ~(first & head.zero) & queue.room),
            queue.entry.addr.eq(head.base + i),
            queue.entry.tag.eq(head.tag | last if last_tag else head.tag),
        ]
        with m.If(self.cmds.r_rdy & ((first & head.zero) | (queue.put & last))):
            m.d.comb += self.cmds.r_en.eq(1)
            m.d.sync += [i.eq(0), first.eq(1)]
        with m.Elif(queue.put):
            m.d.sync += [i.eq(i + 1), first.eq(0), at_final.eq(i + 1 == head.final)]


class Executor(wiring.Component):
    """Runs compute commands on the array, reading the scratchpad, writing the accumulator.

    Attributes
    ----------
    cmd : In(stream.Signature(compute_layout(cfg)))
        Compute commands, accepted one per tile while the unit has room for it (its
        ``ready`` is a register).
    cmd_ready_next : Out(1)
        ``cmd.ready`` of the next cycle (the register's input: this cycle's command and the
        queues' reads), for a producer that keeps its own copy of ``ready``.
    done : Out(1)
        High for one cycle when a tile's last result has been written to the accumulator
        (tiles finish in command order).
    busy : Out(1)
        A tile is issuing or in flight.
    read_a, read_b : Out(flipped scratchpad read ports)
        A rows; weight rows (WS) or B rows (OS).
    data, weights : Out(array data / weight streams)
    result : In(array result stream, always ready)
    acc_write : Out(stream.Signature(acc_write_layout(cfg)))
        Result rows into the accumulator (its ``ready`` is always high), from registers:
        a result leaves the cycle after it came out of the array.
    acc_write_valid_next : Out(1)
        ``acc_write.valid``'s next value (it is a register), for a consumer that keeps its
        own copy of it.
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        read_sig = read_port_signature(cfg.spad_rows, spad_row_layout(cfg), backpressure=False)
        super().__init__({
            "cmd": In(stream.Signature(compute_layout(cfg))), "cmd_ready_next": Out(1),
            "done": Out(1),
            "busy": Out(1),
            "read_a": In(read_sig), "read_b": In(read_sig),
            "data": Out(stream.Signature(data_beat_layout(cfg))),
            "weights": Out(stream.Signature(weight_row_layout(cfg))),
            "result": In(stream.Signature(result_beat_layout(cfg), always_ready=True)),
            "acc_write": Out(stream.Signature(acc_write_layout(cfg))), "acc_write_valid_next": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        ws_only, os_only = cfg.dataflows == ("ws",), cfg.dataflows == ("os",)

        # -- an accepted command goes to the A issuer, the B issuer and the result side --------
        new = self.cmd.payload
        new_os = Signal()
        m.d.comb += new_os.eq(1 if os_only else (0 if ws_only else new.dataflow == Dataflow.OS))
        issue_a = _Issuer(m, "issue_a", cfg, new.a_row, new.count, Cat(0, new_os))
        issue_b = _Issuer(m, "issue_b", cfg, new.b_row,
                          Mux(new_os, new.count, R), ~new_os)
        # (the head in a register: the result rows' addresses start at registers)
        m.submodules.tiles = tiles = HeadFIFO(width=data.Layout.cast(_tile_layout(cfg)).size,
                                              depth=TILES_IN_FLIGHT)
        # ``ready`` (room in all three queues) is one register, set from the rooms' next
        # values (below: the tile queue's), and ``cmd_ready_next`` is its input: the
        # execute dispatcher keeps its own "the issue register is free" from it, beside
        # its start (timing: the 8x8 top at
        # e54d26e, the tile queue's room -> a 5.77 ns route -> the dispatcher's start -> a
        # 5.98 ns route -> its issue register, -3.87 ns)
        # Room in the tile queue is room in all three: an accepted command enters the three
        # at once, and each issuer takes its head (a command's last row request) strictly
        # before the tile's last result leaves the tile queue (the results need all of the
        # tile's A rows and its weights or B rows in the array, each issued only after its
        # request). So the tile queue holds at least as many commands as either issuer's
        # (`tests/test_executor_queues_sim.py` checks it every cycle), and the issuers'
        # reads, which come from their row logic, stay out of ``ready`` (timing: the 8x8
        # top at 4b04c65 --seed 2, `issue_a_first` -> the issuer's last row -> its queue's
        # read -> `w_rdy_next` -> `cmd_ready_next` -> the execute dispatcher's `free0`,
        # eight levels, -0.42 ns)
        ready = Signal(name="cmd_ready", init=1)
        ready_next = tiles.w_rdy_next
        m.d.sync += ready.eq(ready_next)
        m.d.comb += [self.cmd.ready.eq(ready), self.cmd_ready_next.eq(ready_next)]
        accepted = self.cmd.valid & self.cmd.ready
        tile = Signal(_tile_layout(cfg))
        m.d.comb += [tile.dataflow.eq(Mux(new_os, Dataflow.OS, Dataflow.WS)),
                     tile.accumulate.eq(new.accumulate),
                     tile.start.eq(Mux(new_os, new.c_row + R - 1, new.c_row)),
                     tile.results.eq(Mux(new_os, R, new.count)),
                     tile.one.eq(Mux(new_os, R == 1, new.count == 1)),
                     tile.two.eq(Mux(new_os, R == 2, new.count == 2)),
                     tiles.w_en.eq(accepted), tiles.w_data.eq(tile.as_value())]

        # A rows tagged (last, os); B rows tagged weight (WS) or operand (OS). The B issuer
        # runs ahead of the A issuer, so the next tile's weights load during this tile.
        qa = _RowQueue(m, "a_rows", self.read_a, cfg, tag_bits=2)
        qb = _RowQueue(m, "b_rows", self.read_b, cfg, tag_bits=1)
        issue_a.drive(m, accepted, qa, last_tag=True)
        issue_b.drive(m, accepted, qb, last_tag=False)

        # -- rows into the array ------------------------------------------------------------
        a_last, a_os = qa.head_tag[0], qa.head_tag[1]
        b_is_weight = qb.head_tag[0]
        d, w = self.data, self.weights
        m.d.comb += [
            w.valid.eq(qb.valid & b_is_weight),
            d.valid.eq(qa.valid & (~a_os | (qb.valid & ~b_is_weight))),
            d.payload.dataflow.eq(Mux(a_os, Dataflow.OS, Dataflow.WS)),
            d.payload.last.eq(a_last),
        ]
        m.d.comb += [d.payload.a[i].eq(qa.row[i]) for i in range(R)]
        m.d.comb += [d.payload.b[j].eq(Mux(a_os, qb.row[j], 0)) for j in range(C)]
        m.d.comb += [w.payload[j].eq(qb.row[j]) for j in range(C)]
        took_d = d.valid & d.ready
        m.d.comb += [qa.fifo.r_en.eq(took_d),
                     qb.fifo.r_en.eq((w.valid & w.ready) | (took_d & a_os))]

        # -- results into the accumulator ---------------------------------------------------
        head = data.View(_tile_layout(cfg), tiles.r_data)
        res = self.result
        head_os = head.dataflow == Dataflow.OS
        aw = self.acc_write
        # the n-th result's row, start + n (WS) or start - n (OS), without an adder in front
        # of the write: the tile's first takes ``start``, a later one the register stepped
        # from the row before (timing: the tile queue -> c_row + n -> the accumulator's
        # read address was the 4x4 top's path)
        first = Signal(init=1)              # n == 0
        following = Signal.like(aw.payload.addr)
        addr = Mux(first, head.start, following)
        # the write leaves from registers, and ``done`` with it (timing: the 8x8 top at
        # a770115, 80.8 MHz: the array's drain flags -> its result's valid -> a 3.25 ns route
        # -> the accumulator's read-port conflict (an accumulating write holds the bank) ->
        # the store engine's read acceptance -> the bank's read enable; +1 cycle per tile)
        w_valid = Signal(name="acc_write_valid")
        w = Signal(aw.payload.shape(), name="acc_write_reg")
        w_done = Signal(name="tile_done")
        m.d.sync += [w_valid.eq(res.valid), w.addr.eq(addr), w.data.eq(res.payload.c),
                     w.accumulate.eq(head.accumulate), w_done.eq(0)]
        m.d.comb += [aw.valid.eq(w_valid), aw.payload.eq(w), self.done.eq(w_done),
                     self.acc_write_valid_next.eq(res.valid)]
        # whether this result is the tile's last, from registers: the tile's first result
        # reads ``one``; a later one ``at_last``, set as the result before it is taken from
        # ``two`` or from ``rest``, the results after the next one (timing: the tile queue's
        # head -> ``n == results - 1`` -> the queue's read -> its write enable was the 8x8
        # top's path at b175d54; cycle for cycle the same)
        rest = Signal(16)
        at_last = Signal()
        last = Mux(first, head.one, at_last)
        with m.If(res.valid):
            m.d.sync += following.eq(Mux(head_os, addr - 1, addr + 1))
            with m.If(last):
                m.d.sync += [first.eq(1), w_done.eq(1)]
                m.d.comb += tiles.r_en.eq(1)
            with m.Elif(first):
                m.d.sync += [first.eq(0), rest.eq(head.results - 2), at_last.eq(head.two)]
            with m.Else():
                m.d.sync += [rest.eq(rest - 1), at_last.eq(rest == 1)]
        m.d.comb += self.busy.eq(issue_a.cmds.r_rdy | issue_b.cmds.r_rdy | tiles.r_rdy | w_valid)
        return m
