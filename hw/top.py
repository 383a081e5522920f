"""The accelerator: one AXI4 manager port (DRAM), one AXI4-Lite subordinate port (CSRs),
one interrupt.

::

    host --AXI4-Lite--> [ CSRs ] --> [ controller: fetch -> load | execute | store queues ]
                                          |            |              |
    DRAM <--AXI4--> [ read arbiter ] <- [ DMA load ]  [ core ]      [ REQUANT lanes, DMA store ]
                                          |            scratchpad -> array -> accumulator
                                          +--> scratchpad / accumulator rows   |
                         [ DMA store ] <-- scratchpad rows, or accumulator -> requantization

The command fetch and the DMA load share the read channels (``ARID`` 1 and 0); the DMA
store owns the write channels.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect

from ..model.config import AcceleratorConfig
from ..model.csr import COUNTER_NAMES
from .axi import axi4_signature, axil_signature, connect_members
from .axi_read_arbiter import AxiReadArbiter
from .controller import FETCH_ID, Controller
from .core import Core
from .csr import CsrBlock
from .perf_counters import activity_layout
from .dma_load import DmaLoad
from .dma_store import DmaStore
from .multiplier import check_target
from .requant_unit import RequantUnit

__all__ = ["Top", "TOP_NAME"]

#: The top module's name in the generated Verilog.
TOP_NAME = "systolica_top"


class Top(wiring.Component):
    """Attributes
    ----------
    axi : Out(axi4_signature(addr_bits, bus_bits))    DRAM.
    axil : In(axil_signature())                       CSRs (see :mod:`systolica.model.csr`).
    irq : Out(1)                                      Level: a program finished (if enabled).
    activity : Out(activity_layout())                 Per cycle: running, each queue's busy and
                                                      stall (what the cycle counters count; for
                                                      testbenches and debug LEDs).

    ``target``: the requantization lanes' and the fetch unit's command check's multipliers
    (:mod:`systolica.hw.stage_multiplier`; the array's PEs are modules of their own,
    generated with theirs).
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        check_target(target)
        self.cfg, self.target = cfg, target
        super().__init__({
            "axi": Out(axi4_signature(cfg.addr_bits, cfg.bus_bits)),
            "axil": In(axil_signature()),
            "irq": Out(1),
            "activity": Out(activity_layout()),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.csr = csr = CsrBlock(cfg)
        m.submodules.controller = ctl = Controller(cfg, self.target)
        m.submodules.core = core = Core(cfg)
        m.submodules.load = load = DmaLoad(cfg, check=False)      # the fetch unit checks
        m.submodules.store = store = DmaStore(cfg, check=False)
        m.submodules.requant = rq = RequantUnit(cfg, self.target)
        m.submodules.reads = reads = AxiReadArbiter(cfg.addr_bits, cfg.bus_bits, 0, FETCH_ID)

        # host side
        wiring.connect(m, wiring.flipped(self.axil), csr.axil)
        m.d.comb += [ctl.program_base.eq(csr.program_base), ctl.program_len.eq(csr.program_len),
                     ctl.doorbell.eq(csr.doorbell), ctl.stop.eq(csr.stop), self.irq.eq(csr.irq),
                     self.activity.eq(ctl.activity),
                     csr.busy.eq(ctl.busy), csr.done.eq(ctl.done), csr.error.eq(ctl.error),
                     csr.dma_error.eq(ctl.dma_error), csr.error_index.eq(ctl.error_index)]
        m.d.comb += [ctl.window.lo.eq(csr.window_lo), ctl.window.hi.eq(csr.window_hi),
                     load.window.eq(ctl.program_window), store.window.eq(ctl.program_window)]
        m.d.comb += [csr.counters[k].eq(getattr(ctl.counters, name)) for k, name in enumerate(COUNTER_NAMES)]

        # DRAM: fetch and DMA load share the read channels, the DMA store has the write channels
        connect(m, load.axi, reads.m0)
        connect(m, ctl.fetch, reads.m1)
        connect_members(m, reads.axi, self.axi)
        connect_members(m, store.axi, self.axi)

        # queues to units
        connect(m, ctl.load_cmd, load.cmd)
        connect(m, load.status, ctl.load_status)
        connect(m, ctl.store_cmd, store.cmd)
        connect(m, store.status, ctl.store_status)
        m.d.comb += [ctl.load_moved.eq(load.moved), ctl.store_moved.eq(store.moved)]
        connect(m, ctl.exec_cmd, core.cmd)
        m.d.comb += [ctl.exec_ready_next.eq(core.cmd_ready_next), ctl.exec_done.eq(core.done)]
        connect(m, ctl.requant_param, rq.param)
        connect(m, load.spad_write, core.spad_write)
        connect(m, load.acc_write, core.acc_write)
        self._store_path(m, store, core, rq)
        return m

    def _store_path(self, m: Module, store, core, rq) -> None:
        """Store rows: scratchpad rows straight, accumulator rows through requantization.
        Every row request of one store command has the same target."""
        req, rsp = store.store_req, store.store_rsp
        # where responses come from: the target of the last request. A response follows its
        # request by a cycle or more (both memories register their reads) and a command's
        # first request waits for every response of the command before, so no response
        # meets a stale `target` (timing: it was `req.valid ? req.target : to_acc`, which put
        # the store engine's request logic in front of the row queue's write; cycle for cycle
        # the same)
        target = Signal()
        with m.If(req.valid):
            m.d.sync += target.eq(req.payload.target)
        sp, ac = core.spad_read, core.acc_read
        m.d.comb += [
            sp.req.valid.eq(req.valid & ~req.payload.target), sp.req.payload.addr.eq(req.payload.addr),
            ac.req.valid.eq(req.valid & req.payload.target), ac.req.payload.addr.eq(req.payload.addr),
            req.ready.eq(Mux(req.payload.target, ac.req.ready, sp.req.ready)),
            # accumulator rows into requantization
            rq.acc.valid.eq(ac.resp.valid), ac.resp.ready.eq(rq.acc.ready),
            rq.acc.payload.c.eq(ac.resp.payload),
            # rows back to the store engine
            rsp.valid.eq(Mux(target, rq.out.valid, sp.resp.valid)),
            rq.out.ready.eq(rsp.ready & target),
            rsp.payload.eq(Mux(target, rq.out.payload.q.as_value(), sp.resp.payload.as_value())),
        ]

