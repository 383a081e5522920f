"""Two AXI4 read managers on one port: the DMA load engine and the command fetch unit.

Each manager uses its own ARID; read data is routed back by RID. Address requests are
granted by fixed priority (``m0`` first), and a request once presented keeps the grant
until it is accepted (AXI: a valid request may not change or be withdrawn).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi import axi4_read_members

__all__ = ["AxiReadArbiter"]

_AR = ("arid", "araddr", "arlen", "arsize", "arburst", "arprot", "arcache", "arlock")
_R = ("rdata", "rresp", "rlast", "rid")


class AxiReadArbiter(wiring.Component):
    """Attributes
    ----------
    m0, m1 : In(AXI4 read channels)
        The managers; ``m0`` uses ARID ``id0``, ``m1`` ARID ``id1``.
    axi : Out(AXI4 read channels)
        The shared port.
    """

    def __init__(self, addr_bits: int, data_bits: int, id0: int = 0, id1: int = 1):
        self.ids = (id0, id1)
        sig = wiring.Signature(axi4_read_members(addr_bits, data_bits))
        super().__init__({"m0": In(sig), "m1": In(sig), "axi": Out(sig)})

    def elaborate(self, platform):
        m = Module()
        managers, axi = (self.m0, self.m1), self.axi
        locked = Signal()                   # a presented request keeps its grant
        owner = Signal()
        pick = Mux(locked, owner, ~self.m0.arvalid)
        with m.If(axi.arvalid & ~axi.arready):
            m.d.sync += [locked.eq(1), owner.eq(pick)]
        with m.Else():
            m.d.sync += locked.eq(0)
        for name in _AR:
            m.d.comb += getattr(axi, name).eq(Mux(pick, getattr(self.m1, name), getattr(self.m0, name)))
        m.d.comb += axi.arvalid.eq(Mux(pick, self.m1.arvalid, self.m0.arvalid))
        for k, mgr in enumerate(managers):
            m.d.comb += mgr.arready.eq(axi.arready & (pick == k))
            mine = axi.rid == self.ids[k]
            m.d.comb += [getattr(mgr, name).eq(getattr(axi, name)) for name in _R]
            m.d.comb += mgr.rvalid.eq(axi.rvalid & mine)
        m.d.comb += axi.rready.eq(Mux(axi.rid == self.ids[1], self.m1.rready, self.m0.rready))
        return m
