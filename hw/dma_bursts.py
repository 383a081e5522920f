"""The DMA's address walker: a command's runs, split into AXI4 INCR bursts.

Exactly :func:`systolica.model.dma.bursts`: one run per row vector ``(i0, i1, i2)`` in
row-major order (``sizes[3] * elem_bytes`` bytes) when the innermost stride is one
element, else one run per element; each run split greedily at its end, at 256 beats and
at 4 KiB boundaries. Addresses are computed by adding strides (no multiplier); they wrap
at ``addr_bits``, which cannot matter because the window check passed first.

The bursts leave from a register (timing: the burst's size is two minimums and an adder
from the walker's state, and the AXI address channel and the engines' burst queues start
at this register): the first burst of a command is valid the second cycle after
``start``, and the walker moves on whenever the register is free or being taken, so a
burst per cycle as before.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import AXI_MAX_BEATS, AXI_PAGE_BYTES, dma_command_layout
from .dma_common import Decoded

__all__ = ["BurstGen", "burst_layout"]


def burst_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """One burst: AxADDR, beats (AxLEN + 1), bytes of the run it carries, the byte lane
    of its first byte, and whether it is the command's last burst."""
    lanes = (cfg.bus_bytes - 1).bit_length() or 1
    return data.StructLayout({
        "addr": cfg.addr_bits,
        "beats": range(1, AXI_MAX_BEATS + 1),
        "nbytes": range(1, AXI_MAX_BEATS * cfg.bus_bytes + 1),
        "offset": lanes,
        "last": 1,
    })


class BurstGen(wiring.Component):
    """Walks the runs of ``cmd`` and gives its bursts in order.

    Attributes
    ----------
    cmd : In(dma_command_layout(cfg))
        The command; stable from ``start`` until the last burst was taken.
    start : In(1)
        Begin walking ``cmd`` (ignored while busy).
    bursts : Out(stream.Signature(burst_layout(cfg)))
        The bursts (from a register); ``last`` marks the command's final one.
    busy : Out(1)
        Bursts remain to be given (in the walker or in the output register).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        super().__init__({
            "cmd": In(dma_command_layout(cfg)),
            "start": In(1),
            "bursts": Out(stream.Signature(burst_layout(cfg))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        dec = Decoded(m, self.cmd)
        aw = cfg.addr_bits
        bb = cfg.bus_bytes
        lanes = (bb - 1).bit_length()

        i = [Signal(16, name=f"i{d}") for d in range(4)]
        a = [Signal(aw, name=f"a{d}") for d in range(4)]   # address of (i0..id, 0, ...)
        cur = Signal(aw)
        rem = Signal(20)                                     # bytes left in the run
        busy = Signal()
        out_valid = Signal()
        m.d.comb += [self.busy.eq(busy | out_valid), self.bursts.valid.eq(out_valid)]

        # -- the next burst from `cur` ---------------------------------------------------
        offset = cur[:lanes] if lanes else 0
        page_left = Signal(range(AXI_PAGE_BYTES + 1))
        beats_left = Signal(range(AXI_MAX_BEATS * bb + 1))
        m.d.comb += [page_left.eq(AXI_PAGE_BYTES - cur[:12]),
                     beats_left.eq(AXI_MAX_BEATS * bb - offset)]
        nbytes = Signal(range(AXI_MAX_BEATS * bb + 1))
        m.d.comb += nbytes.eq(_min(_min(rem, page_left), beats_left))

        n = dec.n
        at_end = [i[d] == n[d] - 1 for d in range(4)]
        run_done = rem == nbytes
        last_run = at_end[0] & at_end[1] & at_end[2] & (dec.contiguous | at_end[3])
        out = Signal(burst_layout(cfg), name="next_burst")
        m.d.comb += [
            out.addr.eq(cur),
            out.nbytes.eq(nbytes),
            out.offset.eq(offset),
            out.beats.eq((offset + nbytes + bb - 1) >> lanes),
            out.last.eq(run_done & last_run),
        ]

        # -- the next run: element i3 + 1 (gathers), else the next row vector ---------------
        next_elem = ~dec.contiguous & ~at_end[3]
        new_addr = Signal(aw)
        m.d.comb += new_addr.eq(Mux(next_elem, a[3] + dec.s[3],
                                Mux(~at_end[2], a[2] + dec.s[2],
                                Mux(~at_end[1], a[1] + dec.s[1], a[0] + dec.s[0]))))

        # -- the output register: takes the walker's burst when free or being taken ------------
        advance = busy & (~out_valid | self.bursts.ready)
        with m.If(advance):
            m.d.sync += [self.bursts.payload.eq(out), out_valid.eq(1)]
        with m.Elif(self.bursts.ready):
            m.d.sync += out_valid.eq(0)

        with m.If(self.start & ~busy):
            m.d.sync += [busy.eq(1), cur.eq(self.cmd.base), rem.eq(dec.run_bytes)]
            m.d.sync += [x.eq(0) for x in i] + [x.eq(self.cmd.base) for x in a]
        with m.Elif(advance):
            m.d.sync += [cur.eq(cur + nbytes), rem.eq(rem - nbytes)]
            with m.If(run_done):
                m.d.sync += [cur.eq(new_addr), rem.eq(dec.run_bytes), a[3].eq(new_addr)]
                with m.If(last_run):
                    m.d.sync += busy.eq(0)
                with m.Elif(next_elem):
                    m.d.sync += i[3].eq(i[3] + 1)
                with m.Else():
                    m.d.sync += i[3].eq(0)
                    # the innermost row dimension that steps; the ones inside it restart
                    with m.If(~at_end[2]):
                        m.d.sync += [i[2].eq(i[2] + 1), a[2].eq(new_addr)]
                    with m.Elif(~at_end[1]):
                        m.d.sync += [i[2].eq(0), i[1].eq(i[1] + 1), a[2].eq(new_addr), a[1].eq(new_addr)]
                    with m.Else():
                        m.d.sync += [i[2].eq(0), i[1].eq(0), i[0].eq(i[0] + 1),
                                     a[2].eq(new_addr), a[1].eq(new_addr), a[0].eq(new_addr)]
        return m


def _min(x, y):
    return Mux(x < y, x, y)
