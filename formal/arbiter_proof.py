"""The read arbiter (:class:`systolica.hw.axi_read_arbiter.AxiReadArbiter`): two managers
that keep the AXI rules make one port that keeps them."""

from __future__ import annotations

from amaranth.hdl import Module

from ..hw.axi_read_arbiter import AxiReadArbiter
from ..model.config import AcceleratorConfig
from .axi_props import Props, burst_rules, handshake_rules
from .fetch_proof import ar_payload
from .harness import Harness

__all__ = ["ReadArbiterProof"]


class ReadArbiterProof(Harness):
    """Assumes each manager keeps the AR rules with its own ARID (and INCR bursts inside
    4 KiB); asserts the shared port keeps them, a request waiting there keeps its grant,
    an accepted request is exactly the accepted manager's, and R goes to the manager its
    RID names."""

    def __init__(self, cfg: AcceleratorConfig, component=AxiReadArbiter):
        self.cfg = cfg
        self.ids = (0, 1)
        super().__init__(component(cfg.addr_bits, cfg.bus_bits, *self.ids))

    def properties(self, m: Module, p: Props) -> None:
        arb, bb = self.dut, self.cfg.bus_bytes
        managers = (arb.m0, arb.m1)
        for k, mgr in enumerate(managers):
            handshake_rules(p, f"m{k}_ar", mgr.arvalid, mgr.arready, ar_payload(mgr), assume=True)
            p.assume(f"m{k}_own_id", ~mgr.arvalid | (mgr.arid == self.ids[k]), f"manager {k} uses ARID {self.ids[k]}")
            burst_rules(p, f"m{k}_ar", mgr.arvalid, mgr.araddr, mgr.arlen, mgr.arsize, mgr.arburst, bb,
                        assume=True)
        axi = arb.axi
        handshake_rules(p, "ar", axi.arvalid, axi.arready, ar_payload(axi))
        burst_rules(p, "ar", axi.arvalid, axi.araddr, axi.arlen, axi.arsize, axi.arburst, bb)
        payload = ar_payload(axi)
        accepted_by = []
        for k, mgr in enumerate(managers):
            mine = ar_payload(mgr)
            same = mgr.arvalid
            for name, value in payload.items():
                same = same & (value == mine[name])
            p.check(f"m{k}_accepted_is_forwarded", ~(mgr.arvalid & mgr.arready) | (axi.arvalid & axi.arready & same),
                    f"a request of manager {k} is accepted only as its own request is accepted on the port")
            accepted_by.append(mgr.arvalid & mgr.arready)
        p.check("ar_accepted_once", ~(axi.arvalid & axi.arready) | (accepted_by[0] ^ accepted_by[1]),
                "an accepted request is accepted for exactly one manager")
        for k, mgr in enumerate(managers):
            routed = axi.rid == self.ids[k]
            p.check(f"m{k}_r_routed", (mgr.rvalid == (axi.rvalid & routed)) &
                    (~(axi.rvalid & routed) | (axi.rready == mgr.rready)) &
                    (mgr.rdata == axi.rdata) & (mgr.rresp == axi.rresp) & (mgr.rlast == axi.rlast),
                    f"R beats with RID {self.ids[k]} go to manager {k}, with its RREADY")
        held_for_m1 = p.past(axi.arvalid & ~axi.arready & (axi.arid == self.ids[1]) & managers[0].arvalid,
                             "m1_held_grant")
        p.cover("m1_keeps_grant", held_for_m1 & axi.arvalid & axi.arready & (axi.arid == self.ids[1]),
                "manager 1's waiting request is accepted although manager 0 asked meanwhile")
