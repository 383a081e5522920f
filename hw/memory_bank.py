"""One memory bank: a write port, and a read port whose data leaves from a register.

Contract: a read with ``r_en`` in cycle ``t`` puts row ``r_addr``, as it was before
cycle ``t``'s write (the read port is not transparent), on ``r_data`` in cycle
``t + READ_LATENCY``; ``r_data`` then holds until the next read's row arrives. A write
with ``w_en`` (one bit per ``granularity`` bits of the row, or one bit for the whole row)
in cycle ``t`` changes the row from cycle ``t + 1`` on.

``read_during_write`` says what a read of the row written in the same cycle returns:
``"old"`` (the default), the row before the write; ``"unused"``, a row the caller never
uses (it forwards that write's data itself). With ``"unused"`` the memory carries Yosys's
``no_rw_check`` attribute, so synthesis adds no collision logic: on the ECP5 it compared
the addresses and kept the written row in flip-flops, one per bit and a multiplexer in
front of the output register (timing: the 8x8 top at a770115 ended at that compare). The
simulators still return the old row.

The read's row goes from the memory's synchronous read port straight into the output
register, with nothing between them. Timing: on the ECP5, Yosys maps the read port to a
``DP16KD`` without the block's own output register (``REGMODE "NOREG"``), whose clock to
data is 5.61 ns of the 10 ns at 100 MHz; with the bank select and the forwarding
multiplexers after it, the block RAM's read ended the core's critical path (11.97 ns at
``16bd633``, ``bench/fpga_timing.md``). Here that read ends at a flip-flop, and every
multiplexer after the bank starts a cycle of its own.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["MemoryBank", "add_banks", "READ_LATENCY", "READ_DURING_WRITE"]

#: Cycles from a read's ``r_en`` to its row on ``r_data``.
READ_LATENCY = 2
#: What a read of the row written in the same cycle returns (see the module docstring).
READ_DURING_WRITE = ("old", "unused")


class MemoryBank(wiring.Component):
    """``depth`` rows of ``width`` bits (see the module docstring).

    Attributes
    ----------
    w_en : In(width // granularity, or 1)
        Write the row's lanes whose bit is set.
    w_addr, w_data : In
        The row written and its bits.
    r_en, r_addr : In
        Read row ``r_addr``.
    r_data : Out(width)
        The row read ``READ_LATENCY`` cycles before, from a register (not reset).
    """

    def __init__(self, *, width: int, depth: int, granularity: int | None = None,
                 read_during_write: str = "old"):
        if granularity is not None and (granularity < 1 or width % granularity):
            raise ValueError(f"granularity={granularity}: must divide width={width}")
        if read_during_write not in READ_DURING_WRITE:
            raise ValueError(f"read_during_write={read_during_write!r}: allowed {', '.join(READ_DURING_WRITE)}")
        self.width, self.depth, self.granularity = width, depth, granularity
        self.read_during_write = read_during_write
        lanes = 1 if granularity is None else width // granularity
        super().__init__({
            "w_en": In(lanes), "w_addr": In(range(depth)), "w_data": In(width),
            "r_en": In(1), "r_addr": In(range(depth)), "r_data": Out(width),
        })

    def elaborate(self, platform):
        m = Module()
        attrs = {"no_rw_check": 1} if self.read_during_write == "unused" else None
        m.submodules.mem = mem = Memory(shape=unsigned(self.width), depth=self.depth, init=[], attrs=attrs)
        wp = mem.write_port(granularity=self.granularity)
        rp = mem.read_port(transparent_for=())
        out = Signal(self.width, name="out", reset_less=True)
        m.d.comb += [wp.en.eq(self.w_en), wp.addr.eq(self.w_addr), wp.data.eq(self.w_data),
                     rp.en.eq(self.r_en), rp.addr.eq(self.r_addr), self.r_data.eq(out)]
        m.d.sync += out.eq(rp.data)
        return m


def add_banks(m: Module, count: int, *, width: int, depth: int, granularity: int | None = None,
              read_during_write: str = "old") -> list[MemoryBank]:
    """``count`` banks of ``depth`` rows, submodules ``bank0`` .. of ``m``."""
    banks = [MemoryBank(width=width, depth=depth, granularity=granularity, read_during_write=read_during_write)
             for _ in range(count)]
    for b, bank in enumerate(banks):
        m.submodules[f"bank{b}"] = bank
    return banks
