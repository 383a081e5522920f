"""Tensor-aware DMA: a load engine and a store engine on one AXI4 manager port.

The load engine (:class:`~.dma_load.DmaLoad`) owns the read channels (AR, R), the store
engine (:class:`~.dma_store.DmaStore`) the write channels (AW, W, B), so a load and a
store run at the same time without arbitration. Both follow :mod:`systolica.model.dma`
bit for bit: the same checks (BAD_DESCRIPTOR, ROW_RANGE, WINDOW) before any beat, the same
runs and bursts, the same rows and DRAM bytes.
"""

from __future__ import annotations

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out, connect, flipped

from ..model.config import AcceleratorConfig
from .axi import axi4_signature, connect_members
from .dma_common import window_layout
from .dma_load import DmaLoad
from .dma_store import DmaStore

__all__ = ["Dma"]


class Dma(wiring.Component):
    """Load and store engines sharing one AXI4 port.

    Parameters
    ----------
    cfg : AcceleratorConfig
        ``addr_bits``, ``bus_bits`` (AXI), the on-chip row shapes and capacities.

    Attributes
    ----------
    load_cmd, load_status, spad_write, acc_write :
        The load engine's ports (see :class:`~.dma_load.DmaLoad`).
    store_cmd, store_status, store_req, store_rsp :
        The store engine's ports (see :class:`~.dma_store.DmaStore`).
    window : In(window_layout(cfg))
        The host's DRAM window ``[lo, hi)``; hold it stable while a command runs.
    axi : Out(axi4_signature(addr_bits, bus_bits))
        AXI4 manager; one ID, INCR bursts of full bus width.
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self._load = DmaLoad(cfg)
        self._store = DmaStore(cfg)
        ld, st = self._load.signature.members, self._store.signature.members
        super().__init__({
            "load_cmd": ld["cmd"], "load_status": ld["status"],
            "spad_write": ld["spad_write"], "acc_write": ld["acc_write"],
            "store_cmd": st["cmd"], "store_status": st["status"],
            "store_req": st["store_req"], "store_rsp": st["store_rsp"],
            "window": In(window_layout(cfg)),
            "axi": Out(axi4_signature(cfg.addr_bits, cfg.bus_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.load = ld = self._load
        m.submodules.store = st = self._store
        m.d.comb += [ld.window.eq(self.window), st.window.eq(self.window)]
        connect(m, flipped(self.load_cmd), ld.cmd)
        connect(m, ld.status, flipped(self.load_status))
        connect(m, ld.spad_write, flipped(self.spad_write))
        connect(m, ld.acc_write, flipped(self.acc_write))
        connect(m, flipped(self.store_cmd), st.cmd)
        connect(m, st.status, flipped(self.store_status))
        connect(m, st.store_req, flipped(self.store_req))
        connect(m, flipped(self.store_rsp), st.store_rsp)
        connect_members(m, ld.axi, self.axi)
        connect_members(m, st.axi, self.axi)
        return m

