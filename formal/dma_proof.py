"""The DMA engines' AXI4 masters: load (AR/R, :class:`systolica.hw.dma_load.DmaLoad`) and
store (AW/W/B, :class:`systolica.hw.dma_store.DmaStore`).

Both engines check their commands (``check=True``): a free command is any command, and
an illegal one ends at the check with no beat. The accelerator's engines run with
``check=False`` behind the fetch unit's checker (the same :func:`check_command`), so the
commands they get are a subset of those that pass the check here, run the same way.

Commands are bounded (:data:`COMMAND_BOUNDS`) to keep the solver's arithmetic small:
within the proofs' depth an engine cannot finish walking a larger command anyway.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal

from ..hw import dma_load, dma_store
from ..model.config import AcceleratorConfig
from ..model.dma import DIMS
from .axi_props import Props, ReadSubordinate, WriteSubordinate, burst_rules, handshake_rules
from .fetch_proof import ar_payload
from .harness import Harness

__all__ = ["DmaLoadProof", "DmaStoreProof", "COMMAND_BOUNDS"]

_AW_PAYLOAD = ("awaddr", "awlen", "awsize", "awburst", "awid", "awprot", "awcache", "awlock")
_W_PAYLOAD = ("wdata", "wstrb", "wlast")

#: Bounds of the free commands: sizes, |strides| (bytes), pads, base (bytes).
COMMAND_BOUNDS = {"size": 3, "stride": 255, "pad": 1, "base": (1 << 14) - 1}


def bounded_commands(p: Props, cmd) -> None:
    """Assume commands within :data:`COMMAND_BOUNDS` (any values of the other fields)."""
    c, b = cmd.payload, COMMAND_BOUNDS
    ok = c.base <= b["base"]
    for d in range(DIMS):
        ok = ok & (c.sizes[d] <= b["size"]) & (c.strides[d] <= b["stride"]) & (c.strides[d] >= -b["stride"])
        ok = ok & (c.pad_before[d] <= b["pad"]) & (c.pad_after[d] <= b["pad"])
    p.assume("cmd_bounded", ~cmd.valid | ok,
             f"commands: sizes <= {b['size']}, |strides| <= {b['stride']}, pads <= {b['pad']}, "
             f"base < {b['base'] + 1}")


def second_command(p: Props, cmd) -> Signal:
    """High once the engine has taken two commands (since reset)."""
    taken = Signal(2, name="commands_taken")
    with p.m.If((cmd.valid & cmd.ready) & (taken != 3)):
        p.m.d.sync += taken.eq(taken + 1)
    return taken >= 2


class DmaLoadProof(Harness):
    """AR rules and at most :data:`~systolica.hw.dma_load.OUTSTANDING_BURSTS` reads in
    flight; commands, window, row-write readiness and the status handshake are free."""

    def __init__(self, cfg: AcceleratorConfig, *, component=None, patches=()):
        self.cfg = cfg
        self.limit = dma_load.OUTSTANDING_BURSTS          # declared, read before any patch
        super().__init__((component or dma_load.DmaLoad)(cfg, check=True), patches)

    def properties(self, m: Module, p: Props) -> None:
        dut = self.dut
        ar = dut.axi
        bounded_commands(p, dut.cmd)
        handshake_rules(p, "ar", ar.arvalid, ar.arready, ar_payload(ar))
        burst_rules(p, "ar", ar.arvalid, ar.araddr, ar.arlen, ar.arsize, ar.arburst, self.cfg.bus_bytes)
        ReadSubordinate(p, ar, limit=self.limit)
        p.cover("ar_waits", p.past(ar.arvalid & ~ar.arready, "ar_was_waiting") & ar.arvalid,
                "a read request waits for ARREADY")
        p.cover("second_command_reads", second_command(p, dut.cmd) & ar.arvalid,
                "the second command issues a read")


class DmaStoreProof(Harness):
    """AW and W rules, AW bursts inside 4 KiB, WLAST on the right beat, at most
    :data:`~systolica.hw.dma_store.OUTSTANDING_WRITES` writes awaiting B. Commands,
    window, AW/W readiness and row-request readiness are free; rows come back one per
    request, in order (the memories' promise), B as the subordinate may send it."""

    def __init__(self, cfg: AcceleratorConfig, *, component=None, patches=()):
        self.cfg = cfg
        self.limit = dma_store.OUTSTANDING_WRITES
        super().__init__((component or dma_store.DmaStore)(cfg, check=True), patches)

    def properties(self, m: Module, p: Props) -> None:
        dut, cfg = self.dut, self.cfg
        axi = dut.axi
        bounded_commands(p, dut.cmd)
        handshake_rules(p, "aw", axi.awvalid, axi.awready,
                        {name[2:]: getattr(axi, name) for name in _AW_PAYLOAD})
        handshake_rules(p, "w", axi.wvalid, axi.wready, {name[1:]: getattr(axi, name) for name in _W_PAYLOAD})
        burst_rules(p, "aw", axi.awvalid, axi.awaddr, axi.awlen, axi.awsize, axi.awburst, cfg.bus_bytes)
        WriteSubordinate(p, axi, limit=self.limit)
        # rows: one per request, in request order, held until taken (a stream)
        req, rsp = dut.store_req, dut.store_rsp
        asked = Signal(8, name="rows_requested")
        given = Signal(8, name="rows_given")
        m.d.sync += [asked.eq(asked + (req.valid & req.ready)), given.eq(given + (rsp.valid & rsp.ready))]
        p.assume("rows_only_requested", ~rsp.valid | (asked != given), "a row comes only for a request")
        handshake_rules(p, "row", rsp.valid, rsp.ready, {"data": rsp.payload}, assume=True)
        p.cover("aw_waits", p.past(axi.awvalid & ~axi.awready, "aw_was_waiting") & axi.awvalid,
                "a write address waits for AWREADY")
        p.cover("w_waits", p.past(axi.wvalid & ~axi.wready, "w_was_waiting") & axi.wvalid,
                "a write beat waits for WREADY")
        p.cover("second_command_writes", second_command(p, dut.cmd) & axi.awvalid,
                "the second command issues a write")
