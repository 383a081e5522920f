"""On-chip RAM as the accelerator's DRAM: an AXI4 subordinate plus a byte port for the host.

One :class:`~amaranth.lib.memory.Memory` of ``size // bus_bytes`` words of ``bus_bits``,
byte-writable, at byte addresses ``[0, size)``, with one read and one write port on one
address (so Yosys maps it to block RAM, ``DP16KD`` on ECP5; a second port pair would need
cross-port read-during-write guarantees a block RAM does not give, and Yosys would build
the RAM from flip-flops). Two users share it:

- ``axi``: an AXI4 subordinate. One burst at a time, reads and writes taking turns when
  both wait. Bursts ``FIXED``, ``INCR`` and ``WRAP`` (2, 4, 8 or 16 beats, start aligned
  to the size), narrow transfers (``AxSIZE`` below the bus width; the address advances
  by the size from the aligned address, a read beat carries the whole word), write strobes
  applied per byte. ``AxID`` comes back as ``BID``/``RID``. A burst is answered SLVERR
  on every beat (reads give 0, writes change nothing, all W beats are still taken) when
  any byte lies outside ``[0, size)``, when an ``INCR`` burst crosses a 4 KiB boundary,
  when ``AxSIZE`` exceeds the bus width, for the reserved burst type 3 and for a
  ``WRAP`` burst of another length or an unaligned start. Read beats go out one per cycle
  with ``RREADY`` high.
- ``host``: byte reads and writes (the UART bridge): a request (``re`` or ``we`` high
  for one cycle) is held until no AXI burst is in progress, then served before the next
  burst; ``done`` is high for one cycle when it is, with the read byte on ``rdata``.

Parameters
----------
addr_bits, data_bits : int
    The AXI4 port's widths (``cfg.addr_bits``, ``cfg.bus_bits``).
size : int
    Bytes, a power of two and a multiple of ``data_bits // 8``.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .axi import AxiBurst, AxiResp, axi4_signature

__all__ = ["AxiRam", "host_port_signature"]

#: INCR bursts must not cross this boundary (AXI4).
BOUNDARY_BYTES = 4096


def host_port_signature(addr_bits: int) -> wiring.Signature:
    """A byte port as the user (the bridge) sees it: a request ``addr``, ``re`` or ``we``
    (one cycle), ``wdata`` out; ``done`` (one cycle, later) and ``rdata`` in. One request
    at a time: the next after ``done``."""
    return wiring.Signature({"addr": Out(addr_bits), "re": Out(1), "we": Out(1), "wdata": Out(8),
                             "rdata": In(8), "done": In(1)})


class _Burst:
    """The registers of the burst being served and its address arithmetic (see the module
    docstring); :meth:`next_addr` and :meth:`error` are combinational on the registers."""

    def __init__(self, m: Module, addr_bits: int, bus_log2: int, size: int):
        A = addr_bits
        self.id, self.addr = Signal(1, name="burst_id"), Signal(A, name="burst_addr")
        self.len, self.size = Signal(8, name="burst_len"), Signal(3, name="burst_size")
        self.burst = Signal(2, name="burst_type")
        self.beat = Signal(8, name="burst_beat")
        step, aligned = Signal(A, name="burst_step"), Signal(A, name="burst_aligned")
        span = Signal(A, name="burst_span")       # bytes covered minus one; WRAP: the wrap mask
        incr = Signal(A, name="burst_incr")
        lo, hi = Signal(A, name="burst_lo"), Signal(A + 1, name="burst_hi")
        fixed, wrap = self.burst == AxiBurst.FIXED, self.burst == AxiBurst.WRAP
        m.d.comb += [
            step.eq(1 << self.size),
            aligned.eq((self.addr >> self.size) << self.size),
            span.eq(((self.len + 1) << self.size) - 1),
            incr.eq(aligned + step),
            lo.eq(Mux(wrap, self.addr & ~span, self.addr)),
            hi.eq(Mux(fixed, aligned + step - 1, Mux(wrap, lo | span, aligned + span))),
        ]
        self.next_addr = Mux(fixed, self.addr, Mux(wrap, (self.addr & ~span) | (incr & span), incr))
        wrap_bad = ((self.len != 1) & (self.len != 3) & (self.len != 7) & (self.len != 15)) | (aligned != self.addr)
        boundary = exact_log2(BOUNDARY_BYTES)
        self.error = ((self.size > bus_log2) | (self.burst == 3) | (wrap & wrap_bad) | (hi >= size) |
                      ((self.burst == AxiBurst.INCR) & ((lo >> boundary) != (hi >> boundary))))

    def load(self, ax: dict):
        return [self.id.eq(ax["id"]), self.addr.eq(ax["addr"]), self.len.eq(ax["len"]),
                self.size.eq(ax["size"]), self.burst.eq(ax["burst"]), self.beat.eq(0)]


class AxiRam(wiring.Component):
    """Attributes
    ----------
    axi : In(axi4_signature(addr_bits, data_bits))   AXI4 subordinate (see the module docstring).
    host : In(host_port_signature(addr_bits))         Byte port of the host bridge.
    """

    def __init__(self, addr_bits: int, data_bits: int, size: int):
        bus_bytes = data_bits // 8
        if size & (size - 1) or size < bus_bytes:
            raise ValueError(f"size={size}: must be a power of two of at least {bus_bytes} bytes")
        self.addr_bits, self.data_bits, self.size = addr_bits, data_bits, size
        self.bus_log2 = exact_log2(bus_bytes)
        super().__init__({"axi": In(axi4_signature(addr_bits, data_bits)),
                          "host": In(host_port_signature(addr_bits))})

    def _word(self, addr):
        return addr[self.bus_log2:exact_log2(self.size)]

    def elaborate(self, platform):
        m = Module()
        axi = self.axi
        m.submodules.mem = mem = Memory(shape=self.data_bits, depth=self.size >> self.bus_log2, init=[])
        rd, wr = mem.read_port(transparent_for=()), mem.write_port(granularity=8)
        b = _Burst(m, self.addr_bits, self.bus_log2, self.size)
        err = Signal()
        host_now, host_pending = self._host(m, rd, wr)      # host_now: a host request is served now
        with m.If(~host_now):
            m.d.comb += [rd.addr.eq(self._word(b.addr)), wr.addr.eq(self._word(b.addr)), wr.data.eq(axi.wdata),
                         rd.en.eq(0)]

        r_valid, r_last = Signal(), Signal()
        issued = Signal(9)          # beats of the read burst read from the memory so far
        prefer_write = Signal()     # reads and writes take turns when both wait
        ar = {"id": axi.arid, "addr": axi.araddr, "len": axi.arlen, "size": axi.arsize, "burst": axi.arburst}
        aw = {"id": axi.awid, "addr": axi.awaddr, "len": axi.awlen, "size": axi.awsize, "burst": axi.awburst}
        m.d.comb += [axi.rid.eq(b.id), axi.bid.eq(b.id), axi.rvalid.eq(r_valid), axi.rlast.eq(r_last),
                     axi.rdata.eq(Mux(err, 0, rd.data)), axi.rresp.eq(Mux(err, AxiResp.SLVERR, AxiResp.OKAY)),
                     axi.bresp.eq(Mux(err, AxiResp.SLVERR, AxiResp.OKAY))]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += host_now.eq(host_pending)     # before the next burst
                take_write = ~host_pending & axi.awvalid & (prefer_write | ~axi.arvalid)
                with m.If(take_write):
                    m.d.comb += axi.awready.eq(1)
                    m.d.sync += b.load(aw) + [prefer_write.eq(0)]
                    m.next = "CHECK_WRITE"
                with m.Elif(~host_pending & axi.arvalid):
                    m.d.comb += axi.arready.eq(1)
                    m.d.sync += b.load(ar) + [prefer_write.eq(1)]
                    m.next = "CHECK_READ"
            with m.State("CHECK_READ"):
                m.d.sync += err.eq(b.error)
                m.next = "READ"
            with m.State("CHECK_WRITE"):
                m.d.sync += err.eq(b.error)
                m.next = "WRITE"
            with m.State("READ"):
                # the read port's data register is the R output register
                advance = ~r_valid | axi.rready
                m.d.comb += rd.en.eq(advance)
                with m.If(advance):
                    with m.If(issued <= b.len):
                        m.d.sync += [r_valid.eq(1), r_last.eq(issued == b.len), issued.eq(issued + 1),
                                     b.addr.eq(b.next_addr)]
                    with m.Else():
                        m.d.sync += r_valid.eq(0)
                with m.If(r_valid & axi.rready & r_last):
                    m.d.sync += [issued.eq(0), r_valid.eq(0), r_last.eq(0)]
                    m.next = "IDLE"
            with m.State("WRITE"):
                m.d.comb += axi.wready.eq(1)
                with m.If(axi.wvalid):
                    m.d.comb += wr.en.eq(Mux(err, 0, axi.wstrb))
                    m.d.sync += [b.addr.eq(b.next_addr), b.beat.eq(b.beat + 1)]
                    with m.If(b.beat == b.len):
                        m.next = "RESPOND"
            with m.State("RESPOND"):
                m.d.comb += axi.bvalid.eq(1)
                with m.If(axi.bready):
                    m.next = "IDLE"
        return m

    def _host(self, m: Module, rd, wr) -> tuple[Signal, Signal]:
        """Hold a host request until the FSM lets it through (``host_now``), serve it on the
        memory's ports, answer ``done`` the next cycle."""
        host = self.host
        pending, is_write = Signal(), Signal()
        addr, wdata = Signal.like(host.addr), Signal(8)
        lane_q = Signal(self.bus_log2)
        host_now, done = Signal(), Signal()
        with m.If(host.re | host.we):
            m.d.sync += [pending.eq(1), is_write.eq(host.we), addr.eq(host.addr), wdata.eq(host.wdata)]
        with m.If(host_now):
            m.d.comb += [rd.addr.eq(self._word(addr)), wr.addr.eq(self._word(addr)), rd.en.eq(~is_write),
                         wr.data.eq(Cat([wdata] * (self.data_bits // 8))),
                         wr.en.eq(Mux(is_write, 1 << addr[:self.bus_log2], 0))]
            m.d.sync += [pending.eq(0), lane_q.eq(addr[:self.bus_log2])]
        m.d.sync += done.eq(host_now)
        m.d.comb += [host.done.eq(done), host.rdata.eq(rd.data.word_select(lane_q, 8))]
        return host_now, pending
