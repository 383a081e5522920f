"""Mutants: each a subclass of one master that breaks it in one place, after the
component's own ``elaborate`` (a later assignment in the same module wins). Only the
formal checks use them (:data:`systolica.formal.jobs.MUTANTS`); the hardware has no hooks.
Mutants that change a module constant instead are :class:`~.harness.Patch` es in
:mod:`.jobs`."""

from __future__ import annotations

from amaranth.hdl import Mux

from ..hw.axi import AxiResp
from ..hw.axi_read_arbiter import AxiReadArbiter
from ..hw.dma_load import DmaLoad
from ..hw.dma_store import DmaStore
from ..hw.fetch import Fetch
from ..model.isa import COMMAND_BYTES
from .fetch_proof import AR_PAYLOAD

__all__ = ["FetchDropsValidOnHalt", "FetchReaddressesOnHalt", "FetchLongBurst", "LoadDropsValidOnError",
           "LoadShortensOnBeat", "StoreDropsWvalidOnError", "StoreWlastEveryBeat", "StoreReaddressesOnB",
           "ArbiterWithoutLock", "ArbiterRToM0"]


def _mutant(base: type, name: str, breaks: str, hook) -> type:
    """``base`` with ``hook(component, module)`` applied after its ``elaborate``."""

    def elaborate(self, platform):
        m = base.elaborate(self, platform)
        hook(self, m)
        return m

    return type(name, (base,), {"elaborate": elaborate, "__doc__": f"MUTANT: {breaks}"})


def _drop_request_on_halt(c, m):
    with m.If(c.halt):
        m.d.sync += c._ar_valid.eq(0)


def _base_address_on_halt(c, m):
    with m.If(c.halt):
        m.d.comb += c.axi.araddr.eq(c.program_base)


def _read_too_long(c, m):
    m.d.comb += c.axi.arlen.eq(COMMAND_BYTES // c.cfg.bus_bytes)


def _drop_request_on_error(c, m):
    with m.If(c.axi.rvalid & (c.axi.rresp != AxiResp.OKAY)):
        m.d.comb += c.axi.arvalid.eq(0)


def _zero_len_on_beat(c, m):
    with m.If(c.axi.rvalid):
        m.d.comb += c.axi.arlen.eq(0)


def _drop_beat_on_error(c, m):
    with m.If(c.axi.bvalid & (c.axi.bresp != AxiResp.OKAY)):
        m.d.comb += c.axi.wvalid.eq(0)


def _last_on_every_beat(c, m):
    m.d.comb += c.axi.wlast.eq(1)


def _window_address_on_b(c, m):
    with m.If(c.axi.bvalid):
        m.d.comb += c.axi.awaddr.eq(c.window.lo)


def _priority_without_lock(c, m):
    pick = ~c.m0.arvalid
    for name in (*AR_PAYLOAD, "arvalid"):
        m.d.comb += getattr(c.axi, name).eq(Mux(pick, getattr(c.m1, name), getattr(c.m0, name)))
    for k, mgr in enumerate((c.m0, c.m1)):
        m.d.comb += mgr.arready.eq(c.axi.arready & (pick == k))


def _all_beats_to_m0(c, m):
    m.d.comb += c.m0.rvalid.eq(c.axi.rvalid)


FetchDropsValidOnHalt = _mutant(Fetch, "FetchDropsValidOnHalt",
                                "halt withdraws a read request that waits for ARREADY", _drop_request_on_halt)
FetchReaddressesOnHalt = _mutant(Fetch, "FetchReaddressesOnHalt",
                                 "while halt is high the request shows the program base as its address",
                                 _base_address_on_halt)
FetchLongBurst = _mutant(Fetch, "FetchLongBurst", "a command read one beat too long", _read_too_long)
LoadDropsValidOnError = _mutant(DmaLoad, "LoadDropsValidOnError",
                                "an R beat with an error response withdraws the waiting read request",
                                _drop_request_on_error)
LoadShortensOnBeat = _mutant(DmaLoad, "LoadShortensOnBeat",
                             "ARLEN reads 0 while an R beat arrives (the payload changes while waiting)",
                             _zero_len_on_beat)
StoreDropsWvalidOnError = _mutant(DmaStore, "StoreDropsWvalidOnError",
                                  "a B response with an error withdraws the waiting W beat", _drop_beat_on_error)
StoreWlastEveryBeat = _mutant(DmaStore, "StoreWlastEveryBeat", "WLAST on every W beat", _last_on_every_beat)
StoreReaddressesOnB = _mutant(DmaStore, "StoreReaddressesOnB",
                              "while a B response arrives the write address shows the window's low end",
                              _window_address_on_b)
ArbiterWithoutLock = _mutant(AxiReadArbiter, "ArbiterWithoutLock",
                             "fixed priority without keeping a waiting request's grant", _priority_without_lock)
ArbiterRToM0 = _mutant(AxiReadArbiter, "ArbiterRToM0", "every R beat is shown to manager 0, whatever its RID",
                       _all_beats_to_m0)
