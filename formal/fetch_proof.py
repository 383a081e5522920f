"""The command fetch unit's AXI4 read master: the unit alone
(:class:`systolica.hw.fetch.Fetch`, with the controller's promises as assumptions) and
in place (the :class:`systolica.hw.controller.Controller`'s ``fetch`` port, no
assumptions but the subordinate's)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal

from ..hw import controller, fetch
from ..model.config import AcceleratorConfig
from ..model.isa import COMMAND_BYTES
from .axi_props import Props, ReadSubordinate, burst_rules, handshake_rules
from .harness import FreeCommandCheck, Harness, Patch

__all__ = ["FetchProof", "ControllerFetchProof", "ar_payload", "FREE_CHECK", "AR_PAYLOAD"]

AR_PAYLOAD = ("araddr", "arlen", "arsize", "arburst", "arid", "arprot", "arcache", "arlock")

#: The fetch unit's command checker abstracted: any verdict in any cycle.
FREE_CHECK = Patch(fetch, "CommandCheck", FreeCommandCheck)


def ar_payload(axi) -> dict:
    return {name[2:]: getattr(axi, name) for name in AR_PAYLOAD}


def fetch_master_rules(p: Props, ar, bus_bytes: int, limit: int) -> None:
    """AR rules, at most ``limit`` reads in flight, one aligned 64-byte burst per command."""
    handshake_rules(p, "ar", ar.arvalid, ar.arready, ar_payload(ar))
    burst_rules(p, "ar", ar.arvalid, ar.araddr, ar.arlen, ar.arsize, ar.arburst, bus_bytes)
    ReadSubordinate(p, ar, limit=limit)
    p.check("ar_one_command",
            ~ar.arvalid | ((ar.araddr[:6] == 0) & (ar.arlen == COMMAND_BYTES // bus_bytes - 1)),
            "a command read is one 64-byte burst at a 64-byte aligned address")
    p.cover("ar_waits", p.past(ar.arvalid & ~ar.arready, "ar_was_waiting") & ar.arvalid,
            "a read request waits for ARREADY")


class FetchProof(Harness):
    """The fetch unit alone. ``start``, ``halt``, the program registers and the window are
    free but for the controller's two promises (assumed here, and kept by the controller
    as :class:`ControllerFetchProof` shows): the program registers change only as a
    program starts, and a program starts only while fetch is quiet."""

    def __init__(self, cfg: AcceleratorConfig, component=None, patches=(FREE_CHECK,)):
        self.cfg = cfg
        self.limit = fetch.FETCH_OUTSTANDING            # declared, read before any patch
        super().__init__((component or fetch.Fetch)(cfg), patches)

    def properties(self, m: Module, p: Props) -> None:
        dut = self.dut
        p.stable_unless("program", dut.start, {"base": dut.program_base, "len": dut.program_len,
                                               "window": dut.window},
                        "changes only in the cycle a program starts (latched at the doorbell)")
        p.assume("start_when_quiet", ~dut.start | dut.quiet,
                 "a program starts only while fetch is quiet (a program ends only then)")
        fetch_master_rules(p, dut.axi, self.cfg.bus_bytes, self.limit)
        handed = Signal(name="command_handed")         # a command went to a queue
        for q in (dut.load, dut.execute, dut.store):
            with m.If(q.valid & q.ready):
                m.d.sync += handed.eq(1)
        _next_program_covers(m, p, handed, dut.start, dut.axi, "handed to its queue")


def _next_program_covers(m: Module, p: Props, done, start, ar, what: str) -> None:
    """Covers: a command ``done`` (read, checked, ...), then a new program reads."""
    after = Signal(name="program_after_command")
    with m.If(start & done):
        m.d.sync += after.eq(1)
    p.cover("command_done", done, f"a command read, checked and {what}")
    p.cover("next_program_reads", after & ar.arvalid, f"a program after one whose command was {what} reads")


class ControllerFetchProof(Harness):
    """The controller's ``fetch`` port (the fetch unit in place): CSR inputs, doorbell,
    abort, the DMA engines' statuses and the executor's completions are all free."""

    def __init__(self, cfg: AcceleratorConfig, patches=(FREE_CHECK,)):
        self.cfg = cfg
        self.limit = fetch.FETCH_OUTSTANDING
        super().__init__(controller.Controller(cfg), patches)

    def properties(self, m: Module, p: Props) -> None:
        fetch_master_rules(p, self.dut.fetch, self.cfg.bus_bytes, self.limit)
        dut = self.dut
        dispatched = Signal(name="command_dispatched")
        with m.If(dut.load_cmd.valid | dut.store_cmd.valid | dut.exec_cmd.valid | dut.requant_param.valid):
            m.d.sync += dispatched.eq(1)
        starts = ~p.past(dut.busy, "was_busy") & dut.busy      # a doorbell was taken
        _next_program_covers(m, p, dispatched, starts, dut.fetch, "dispatched to its unit")
