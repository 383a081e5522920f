"""Control and status registers: the host's AXI4-Lite port onto the controller.

The decoder is built from the register table :data:`systolica.model.csr.REGISTERS`, which
also holds the map's rules (per-byte writes, RO writes ignored, W1C, counter latches,
SLVERR for offsets that are no register). Only ``awaddr[11:2]`` / ``araddr[11:2]`` select
a register: the byte lanes of a write are its ``wstrb``.

Timing:

- Write: AW and W are each taken into a one-entry holding register, in either order or
  together (``awready``/``wready`` are low while it is full). The cycle after both are
  held, the write applies and B rises; B is held until ``bready``. One write per two
  cycles at best.
- Read: AR is taken when no response waits or the waiting one leaves this cycle
  (``arready = ~rvalid | rready``); the registers (and counters) are sampled in the AR
  handshake cycle, R is valid the next cycle and held until ``rready``. A read and a write
  in the same cycle: the read gives the value before the write.
- ``doorbell`` is high for one cycle, the cycle after a write of CTRL with ``wdata[0]``
  and ``wstrb[0]`` set, unless ``busy`` was high in that write's cycle. A controller that
  raises ``busy`` the cycle after the doorbell is seen busy by any read the host issues
  after the doorbell write's B response. ``stop`` likewise, from ``wdata[1]`` (CTRL.abort), while
  ``busy`` is high.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.csr import (COUNTER_NAMES, COUNTERS_LAYOUT, CSR_ADDR_BITS, CSR_DATA_BITS,
                         CTRL_LAYOUT, IRQ_LAYOUT, REGISTER, REGISTERS, STATUS_LAYOUT, Access,
                         counter_register)
from ..model.dma import DmaError
from ..model.isa import Status
from .axi import AxiResp, axil_signature

__all__ = ["CsrBlock"]

_WORD = slice(2, CSR_ADDR_BITS)  # the address bits that select a register


def _word(name: str) -> int:
    return REGISTER[name].offset >> 2


class CsrBlock(wiring.Component):
    """The register map of :mod:`systolica.model.csr` behind an AXI4-Lite subordinate.

    Parameters
    ----------
    cfg : AcceleratorConfig
        ``addr_bits`` sets the width of the address registers.

    Attributes
    ----------
    axil : In(axil_signature(CSR_ADDR_BITS, 32))
        The host's port (see the module docstring for its timing).
    program_base : Out(addr_bits)
        PROGRAM_BASE_HI:PROGRAM_BASE_LO, the byte address of the first command.
    program_len : Out(32)
        PROGRAM_LEN, the most commands to fetch.
    window_lo, window_hi : Out(addr_bits)
        The DRAM window ``[lo, hi)`` (WINDOW_LO_*, WINDOW_HI_*).
    doorbell : Out(1)
        One-cycle pulse: start the program.
    stop : Out(1)
        One-cycle pulse: stop the running program.
    busy : In(1)
        A program is running (doorbells are ignored).
    done : In(1)
        The last program finished (level); its rising edge sets IRQ_STATUS.done.
    error : In(Status)
        How it finished.
    dma_error : In(DmaError)
        The DMA's code when ``error`` is ``Status.DMA``.
    error_index : In(32)
        Index of the failing command.
    counters : In(COUNTERS_LAYOUT)
        The 64-bit performance counters, in :data:`~systolica.model.csr.COUNTER_NAMES` order.
    irq : Out(1)
        IRQ_STATUS & IRQ_ENABLE (level, from registers).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        super().__init__({
            "axil": In(axil_signature(CSR_ADDR_BITS, CSR_DATA_BITS)),
            "program_base": Out(cfg.addr_bits),
            "program_len": Out(REGISTER["PROGRAM_LEN"].bits(cfg)),
            "window_lo": Out(cfg.addr_bits),
            "window_hi": Out(cfg.addr_bits),
            "doorbell": Out(1), "stop": Out(1),
            "busy": In(1),
            "done": In(1),
            "error": In(Status),
            "dma_error": In(DmaError),
            "error_index": In(REGISTER["ERROR_INDEX"].bits(cfg)),
            "counters": In(COUNTERS_LAYOUT),
            "irq": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        stored = {r.name: Signal(r.bits(self.cfg), init=r.reset, name=r.name.lower())
                  for r in REGISTERS if r.access in (Access.RW, Access.W1C) and r.bits(self.cfg)}
        latches = [Signal(32, name=f"{c}_hi_latch") for c in COUNTER_NAMES]
        self._write_channel(m, stored)
        self._irq(m, stored)
        self._read_channel(m, self._read_values(m, stored, latches), latches)
        m.d.comb += [
            self.program_base.eq(_pair(stored, "PROGRAM_BASE")),
            self.program_len.eq(stored["PROGRAM_LEN"]),
            self.window_lo.eq(_pair(stored, "WINDOW_LO")),
            self.window_hi.eq(_pair(stored, "WINDOW_HI")),
        ]
        return m

    # -- write: AW and W held, applied together, answered on B ----------------------------
    def _write_channel(self, m: Module, stored: dict) -> None:
        axil = self.axil
        aw_full, w_full, b_valid = Signal(), Signal(), Signal()
        word = Signal(len(axil.awaddr[_WORD]))
        wdata, wstrb = Signal(CSR_DATA_BITS), Signal(CSR_DATA_BITS // 8)
        bresp = Signal(AxiResp)
        apply = Signal()
        m.d.comb += [axil.awready.eq(~aw_full), axil.wready.eq(~w_full),
                     axil.bvalid.eq(b_valid), axil.bresp.eq(bresp),
                     apply.eq(aw_full & w_full & ~b_valid)]
        with m.If(axil.awvalid & ~aw_full):
            m.d.sync += [aw_full.eq(1), word.eq(axil.awaddr[_WORD])]
        with m.If(axil.wvalid & ~w_full):
            m.d.sync += [w_full.eq(1), wdata.eq(axil.wdata), wstrb.eq(axil.wstrb)]

        sel = {r.name: apply & (word == r.offset >> 2) for r in REGISTERS}
        mapped = Cat(word == r.offset >> 2 for r in REGISTERS).any()
        with m.If(apply):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), b_valid.eq(1),
                         bresp.eq(Mux(mapped, AxiResp.OKAY, AxiResp.SLVERR))]
        with m.Elif(axil.bready):
            m.d.sync += b_valid.eq(0)

        byte_mask = Cat(b.replicate(8) for b in wstrb)
        written = wdata & byte_mask
        for name, reg in stored.items():
            with m.If(sel[name]):
                if REGISTER[name].access is Access.RW:
                    m.d.sync += reg.eq((reg & ~byte_mask) | written)
                else:  # W1C
                    m.d.sync += reg.eq(reg & ~written)
        ctrl = data.View(CTRL_LAYOUT, written[:Shape.cast(CTRL_LAYOUT).width])
        m.d.sync += [self.doorbell.eq(sel["CTRL"] & ctrl.doorbell & ~self.busy),
                     self.stop.eq(sel["CTRL"] & ctrl.abort & self.busy)]

    # -- interrupt: set on done's rising edge (after a W1C write, so the set wins) --------
    def _irq(self, m: Module, stored: dict) -> None:
        status = data.View(IRQ_LAYOUT, stored["IRQ_STATUS"])
        enable = data.View(IRQ_LAYOUT, stored["IRQ_ENABLE"])
        done_q = Signal()
        m.d.sync += done_q.eq(self.done)
        with m.If(self.done & ~done_q):
            m.d.sync += status.done.eq(1)
        m.d.comb += self.irq.eq(status.done & enable.done)

    # -- read: what each register reads, sampled on AR, answered on R ---------------------
    def _read_values(self, m: Module, stored: dict, latches: list) -> dict:
        status = Signal(STATUS_LAYOUT)
        m.d.comb += [status.busy.eq(self.busy), status.done.eq(self.done),
                     status.error.eq(self.error), status.dma_error.eq(self.dma_error)]
        values = {"STATUS": status.as_value(), "ERROR_INDEX": self.error_index}
        for r in REGISTERS:
            if r.access in (Access.RW, Access.W1C):
                values[r.name] = stored.get(r.name, Const(0, 1))  # zero-width: reads 0
            elif r.access is Access.WO:
                values[r.name] = Const(0, 1)
        values["ID"] = Const(REGISTER["ID"].reset, CSR_DATA_BITS)
        values["VERSION"] = Const(REGISTER["VERSION"].reset, CSR_DATA_BITS)
        for i, c in enumerate(COUNTER_NAMES):
            values[counter_register(c, "LO")] = self.counters[i][:32]
            values[counter_register(c, "HI")] = latches[i]
        assert set(values) == set(REGISTER), sorted(set(REGISTER) ^ set(values))
        return values

    def _read_channel(self, m: Module, values: dict, latches: list) -> None:
        axil = self.axil
        r_valid = Signal()
        rdata = Signal(CSR_DATA_BITS)
        rresp = Signal(AxiResp)
        take = Signal()
        m.d.comb += [axil.arready.eq(~r_valid | axil.rready), take.eq(axil.arvalid & axil.arready),
                     axil.rvalid.eq(r_valid), axil.rdata.eq(rdata), axil.rresp.eq(rresp)]
        word = axil.araddr[_WORD]
        with m.If(take):
            m.d.sync += r_valid.eq(1)
            with m.Switch(word):
                for r in REGISTERS:
                    with m.Case(r.offset >> 2):
                        m.d.sync += [rdata.eq(values[r.name]), rresp.eq(AxiResp.OKAY)]
                with m.Default():
                    m.d.sync += [rdata.eq(0), rresp.eq(AxiResp.SLVERR)]
        with m.Elif(axil.rready):
            m.d.sync += r_valid.eq(0)
        for i, c in enumerate(COUNTER_NAMES):  # reading LO latches HI of the same cycle
            with m.If(take & (word == _word(counter_register(c, "LO")))):
                m.d.sync += latches[i].eq(self.counters[i][32:])


def _pair(stored: dict, name: str):
    """An address from its LO and HI registers (HI absent at ``addr_bits`` 32)."""
    hi = stored.get(f"{name}_HI")
    return Cat(stored[f"{name}_LO"], *([hi] if hi is not None else []))
