"""One memory bank: a write port, and a read port whose data leaves from a register.

Contract: a read with ``r_en`` in cycle ``t`` puts row ``r_addr``, as it was before
cycle ``t``'s write (the read port is not transparent), on ``r_data`` in cycle
``t + READ_LATENCY``; ``r_data`` then holds until the next read's row arrives. A write
with ``w_en`` (one bit per ``granularity`` bits of the row, or one bit for the whole row)
in cycle ``t`` changes the row from cycle ``t + 1`` on.

``read_during_write`` says what a read of the row written in the same cycle returns:
``"old"`` (the default), the row before the write; ``"unused"``, a row the caller never
uses (it forwards that write's data itself). Either way the memory carries Yosys's
``no_rw_check`` attribute, so synthesis adds no collision logic of its own: for ``"old"``
it delayed the write a cycle, compared the addresses and put the delayed write's bits on
a LUT in front of the output register, after the block RAM's 5.83 ns clock to data
(timing: the 8x8 top at 15d1319, `scratchpad.bank0.mem` -> a 4.45 ns route -> that LUT ->
`bank0.out`, -0.64 ns, 38 endpoints; at a770115 the accumulator's path ended at the
compare). The simulators return the old row.

``"old"`` is kept here instead, with the same parts in other places: the block writes
each write a cycle late, from registers; a read's address and that delayed write's are
compared a cycle after the read, from registers; and the lanes the delayed write wrote
take its bits *after* the output register, in ``r_data``. So the block's read ends at a
flip-flop with nothing in front of it, and the lanes a read met hold, with the row, until
the next read. On the FPGA a read of the row the block writes in that cycle returns
undefined bits in the lanes written (the others are the row's); those are exactly the
lanes that take the delayed write's bits. None of these registers has a reset, as
``out`` has none: a write in the cycle of a reset still lands, as a write port's does,
and ``r_data`` holds across a reset as it does without one.

The read's row goes from the memory's synchronous read port straight into the output
register, with nothing between them. Timing: on the ECP5, Yosys maps the read port to a
``DP16KD`` without the block's own output register (``REGMODE "NOREG"``), whose clock to
data is 5.83 ns of the 10 ns at 100 MHz; with the bank select and the forwarding
multiplexers after it, the block RAM's read ended the core's critical path (11.97 ns at
``16bd633``, ``bench/fpga_timing.md``). Here that read ends at a flip-flop, and every
multiplexer after the bank (the lanes taken above, the bank select) lies in the next
cycle. The ECP5 flow moves that flip-flop into the block itself, its output register
(``systolica/fpga_outreg.py``): 0.96 ns from the clock instead of 5.83.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal, Value, unsigned
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
        The row read ``READ_LATENCY`` cycles before, from registers (none reset).
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
        lanes = 1 if self.granularity is None else self.width // self.granularity
        m.submodules.mem = mem = Memory(shape=unsigned(self.width), depth=self.depth, init=[],
                                        attrs={"no_rw_check": 1})
        wp = mem.write_port(granularity=self.granularity)
        rp = mem.read_port(transparent_for=())
        m.d.comb += [rp.en.eq(self.r_en), rp.addr.eq(self.r_addr)]
        if self.read_during_write == "old":       # the block writes a cycle late
            late = _registers(m, "late", self.w_en, self.w_addr, self.w_data)
            m.d.comb += [wp.en.eq(late[0]), wp.addr.eq(late[1]), wp.data.eq(late[2])]
        else:
            m.d.comb += [wp.en.eq(self.w_en), wp.addr.eq(self.w_addr), wp.data.eq(self.w_data)]
        # the block's read row (on the FPGA, undefined in the lanes the block writes in the
        # cycle of the read, see the module docstring)
        read = rp.data
        out = Signal(self.width, name="out", reset_less=True)
        m.d.sync += out.eq(read)
        if self.read_during_write == "unused":
            m.d.comb += self.r_data.eq(out)
            return m
        # a cycle after the read: its address against the write the block did in its cycle
        r_en, r_addr = _registers(m, "read", self.r_en, self.r_addr)
        w_en, w_addr, w_data = _registers(m, "met", *late)
        met = Mux(r_en & (r_addr == w_addr), w_en, 0)
        # with the row: the lanes that take that write's bits, and its bits (held until
        # the next read, as the row is)
        taken = Signal(lanes, name="taken", reset_less=True)
        bits = Signal(self.width, name="taken_bits", reset_less=True)
        with m.If(r_en):
            m.d.sync += [taken.eq(met), bits.eq(w_data)]
        lane = self.width // lanes
        m.d.comb += self.r_data.eq(Cat(Mux(taken[i], bits[i * lane:(i + 1) * lane], out[i * lane:(i + 1) * lane])
                                       for i in range(lanes)))
        return m


def _registers(m: Module, name: str, *values) -> list[Signal]:
    """Each of ``values`` a cycle later, in registers ``{name}_0`` .. without a reset."""
    regs = [Signal(Value.cast(v).shape(), name=f"{name}_{k}", reset_less=True) for k, v in enumerate(values)]
    m.d.sync += [r.eq(v) for r, v in zip(regs, values)]
    return regs


def add_banks(m: Module, count: int, *, width: int, depth: int, granularity: int | None = None,
              read_during_write: str = "old") -> list[MemoryBank]:
    """``count`` banks of ``depth`` rows, submodules ``bank0`` .. of ``m``."""
    banks = [MemoryBank(width=width, depth=depth, granularity=granularity, read_during_write=read_during_write)
             for _ in range(count)]
    for b, bank in enumerate(banks):
        m.submodules[f"bank{b}"] = bank
    return banks
