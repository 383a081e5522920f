"""A FIFO whose head is a register: cycle for cycle Amaranth's ``SyncFIFO``.

``SyncFIFO``'s head is an asynchronous read of distributed RAM; on the FPGA that read
began critical paths (the controller's: queue read pointer -> RAM -> the head's token
bits -> start -> token counters; the store engine's: pending burst -> beat lanes -> row
pop). Here the head lives
in a register, loaded from the RAM behind it when the head is taken or, when nothing
waits behind it, straight from the written entry. Seen from the ports nothing changes:
an entry written at cycle ``t`` into an empty queue is the head at ``t + 1``, ``depth``
entries fit, and ``w_rdy``, ``r_rdy``, ``r_data`` and ``level`` equal ``SyncFIFO``'s
every cycle (``tests/test_head_fifo_sim.py`` runs both side by side).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

__all__ = ["HeadFIFO"]


class HeadFIFO(wiring.Component):
    """First in, first out, ``depth`` entries of ``width`` bits, head in a register.

    Attributes
    ----------
    w_data, w_en : In
        Entry to write; written when ``w_en`` and ``w_rdy``.
    w_rdy : Out(1)
        Fewer than ``depth`` entries are queued.
    r_data : Out(width)
        The oldest entry (a register), valid while ``r_rdy`` (otherwise any value: it is
        not reset).
    r_rdy : Out(1)
        The queue holds an entry.
    r_en : In(1)
        Take the head (when ``r_rdy``).
    level : Out(range(depth + 1))
        Entries queued.
    """

    def __init__(self, *, width: int, depth: int):
        if depth < 1:
            raise ValueError(f"depth={depth}: allowed 1 or more")
        self.width, self.depth = width, depth
        super().__init__({
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1),
            "r_data": Out(width), "r_rdy": Out(1), "r_en": In(1),
            "level": Out(range(depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        level = Signal(range(self.depth + 1))
        head_valid = Signal()
        # the head's bits mean something only with ``head_valid``: they are not reset (a
        # flush of the controller's queues touches the valid bit, the level and the
        # pointers, not some 300 data bits) and load on every refill (their enable is
        # ``refill`` alone). Timing: both tops' critical paths ended at this register's
        # reset (run control's end of program -> the queues' flush).
        head = Signal(self.width, reset_less=True)
        m.d.comb += [self.level.eq(level), self.w_rdy.eq(level != self.depth),
                     self.r_rdy.eq(head_valid), self.r_data.eq(head)]
        write = self.w_en & self.w_rdy
        read = self.r_en & head_valid
        m.d.sync += level.eq(level + write - read)

        # entries behind the head (the head register holds one: depth - 1 more)
        refill = ~head_valid | read
        behind_rdy = Signal()
        behind_data = Signal(self.width)
        # a write waits behind the head unless it goes straight into the free head
        behind_write = write & ~(refill & ~behind_rdy)
        if self.depth == 2:
            # one entry behind: a register (a one-entry SyncFIFO's RAM has a zero-width
            # address, which Verilator's lint rejects)
            slot_valid = Signal(name="behind_valid")
            slot = Signal(self.width, name="behind_entry", reset_less=True)
            m.d.comb += [behind_rdy.eq(slot_valid), behind_data.eq(slot)]
            m.d.sync += slot_valid.eq(behind_write | (slot_valid & ~refill))
            with m.If(behind_write):
                m.d.sync += slot.eq(self.w_data)
        if self.depth > 2:
            m.submodules.behind = behind = SyncFIFO(width=self.width, depth=self.depth - 1)
            m.d.comb += [behind_rdy.eq(behind.r_rdy), behind_data.eq(behind.r_data), behind.r_en.eq(refill),
                         behind.w_data.eq(self.w_data), behind.w_en.eq(behind_write)]
        with m.If(refill):
            m.d.sync += [head.eq(Mux(behind_rdy, behind_data, self.w_data)),
                         head_valid.eq(behind_rdy | write)]
        return m
