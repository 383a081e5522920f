"""The proofs ``make formal`` runs, and the mutants that show they bite.

A proof is a harness (:mod:`.fetch_proof`, :mod:`.dma_proof`, :mod:`.arbiter_proof`) on a
small configuration (:func:`small_config`) at a bounded depth: SymbiYosys ``mode bmc``
finds no assertion failing in any of the first ``depth`` cycles after reset, for any
inputs the assumptions allow. The same harness runs in ``mode cover`` to the same depth:
every cover (a request waiting for READY, the in-flight limit reached, the second
command or program issuing a request, ...) must be reached, which shows the depth spans
the behaviour the rules are about. Depths are where the solver's time per step (about
doubling per step on these designs) stays within a few minutes on two cores.

A mutant breaks one master in one place -- a subclass that overrides an output or a
register after the component's own ``elaborate``, or a patched module constant -- and
its proof must find a counterexample naming one of the expected properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..hw import dma_bursts, dma_load, dma_store, fetch
from ..model.config import AcceleratorConfig
from .arbiter_proof import ReadArbiterProof
from .dma_proof import DmaLoadProof, DmaStoreProof
from .fetch_proof import FREE_CHECK, ControllerFetchProof, FetchProof
from .harness import Harness, Patch
from .mutants import (ArbiterRToM0, ArbiterWithoutLock, FetchDropsValidOnHalt, FetchLongBurst,
                      FetchReaddressesOnHalt, LoadDropsValidOnError, LoadShortensOnBeat,
                      StoreDropsWvalidOnError, StoreReaddressesOnB, StoreWlastEveryBeat)

__all__ = ["Proof", "Mutant", "PROOFS", "MUTANTS", "small_config"]


def small_config(bus_bits: int) -> AcceleratorConfig:
    """A 2x2 array with 16-row memories, queues of 2, on a ``bus_bits`` bus."""
    return AcceleratorConfig(rows=2, cols=2, spad_rows=16, spad_banks=1, acc_rows=16, acc_banks=1,
                             queue_depth=2, bus_bits=bus_bits)


@dataclass(frozen=True)
class Proof:
    name: str                                   # unique, e.g. "fetch/bus64"
    component: str                              # what is proved, in words
    make: Callable[[AcceleratorConfig], Harness]
    bus_bits: int
    depth: int
    quick: bool = False                         # part of `make test`
    covers_beyond: tuple[str, ...] = ()         # covers this depth is known not to reach

    def harness(self) -> Harness:
        return self.make(small_config(self.bus_bits))


def _proof(kind: str, component: str, make, depths: dict[int, int], quick=(), beyond=None) -> list[Proof]:
    return [Proof(f"{kind}/bus{bus}", component, make, bus, depth, bus in quick, (beyond or {}).get(bus, ()))
            for bus, depth in depths.items()]


PROOFS: list[Proof] = [
    # On a 32-bit bus one command is a 16-beat read: handing it on and a next program's read
    # lie beyond these depths (the 64-bit proofs reach them; the rules do not depend on it).
    # The pipelined command check (hw/command_check.py LATENCY, 5) keeps a command in CHECK
    # five cycles longer than a combinational one would: the depths grew with the stages, so the covers below are reached again.
    *_proof("fetch", "Fetch (AR/R), controller's promises assumed", FetchProof, {64: 27, 32: 29},
            beyond={32: ("next_program_reads",)}),
    # Run control's registered end of program (hw/run_control.py ``finish``) starts the
    # next program a cycle later: the 64-bit controller proof grew by one (29 -> 30).
    *_proof("controller_fetch", "Controller.fetch port (Fetch in place)", ControllerFetchProof, {64: 30, 32: 19},
            beyond={32: ("command_done", "next_program_reads")}),
    *_proof("dma_load", "DmaLoad (AR/R)", DmaLoadProof, {64: 14, 32: 14}),
    # The burst walker's output register (hw/dma_bursts.py) delays a command's first burst
    # by a cycle: the 64-bit store proof grew by one so that its covers are reached again.
    *_proof("dma_store", "DmaStore (AW/W/B)", DmaStoreProof, {64: 14, 32: 11},
            beyond={32: ("b_awaiting_full",)}),
    *_proof("read_arbiter", "AxiReadArbiter (AR/R of two managers)", ReadArbiterProof, {64: 12, 32: 12},
            quick=(64,)),
]


@dataclass(frozen=True)
class Mutant:
    name: str
    breaks: str                                 # what is broken, in words
    make: Callable[[AcceleratorConfig], Harness]
    expect: tuple[str, ...]                     # the counterexample must fail one of these
    depth: int
    bus_bits: int = 64
    quick: bool = False
    long: bool = False                          # minutes of solver time: only with --long

    def harness(self) -> Harness:
        return self.make(small_config(self.bus_bits))


def _patch(module, name, value) -> tuple:
    return (Patch(module, name, value),)


MUTANTS: list[Mutant] = [
    Mutant("fetch_drops_valid_on_halt", FetchDropsValidOnHalt.__doc__,
           lambda cfg: FetchProof(cfg, component=FetchDropsValidOnHalt), ("ar_valid_held",), 10),
    Mutant("fetch_readdresses_on_halt", FetchReaddressesOnHalt.__doc__,
           lambda cfg: FetchProof(cfg, component=FetchReaddressesOnHalt), ("ar_addr_held",), 10),
    Mutant("fetch_long_burst", FetchLongBurst.__doc__,
           lambda cfg: FetchProof(cfg, component=FetchLongBurst), ("ar_one_command", "ar_in_page"), 10),
    Mutant("fetch_one_read_too_many", "MUTANT: FETCH_OUTSTANDING = 3 in the hardware (2 declared)",
           lambda cfg: FetchProof(cfg, patches=(FREE_CHECK, *_patch(fetch, "FETCH_OUTSTANDING", 3))),
           ("r_in_flight_limit",), 10),
    Mutant("load_drops_valid_on_error", LoadDropsValidOnError.__doc__,
           lambda cfg: DmaLoadProof(cfg, component=LoadDropsValidOnError), ("ar_valid_held",), 8),
    Mutant("load_shortens_on_beat", LoadShortensOnBeat.__doc__,
           lambda cfg: DmaLoadProof(cfg, component=LoadShortensOnBeat), ("ar_len_held",), 8),
    Mutant("load_splits_at_8k", "MUTANT: the burst walker splits at 8 KiB pages (AXI_PAGE_BYTES = 8192)",
           lambda cfg: DmaLoadProof(cfg, patches=_patch(dma_bursts, "AXI_PAGE_BYTES", 8192)),
           ("ar_in_page",), 8),
    Mutant("load_one_burst_too_many", "MUTANT: OUTSTANDING_BURSTS = 9 in the hardware (8 declared)",
           lambda cfg: DmaLoadProof(cfg, patches=_patch(dma_load, "OUTSTANDING_BURSTS", 9)),
           ("r_in_flight_limit",), 14),
    Mutant("store_drops_wvalid_on_error", StoreDropsWvalidOnError.__doc__,
           lambda cfg: DmaStoreProof(cfg, component=StoreDropsWvalidOnError), ("w_valid_held",), 10),
    Mutant("store_wlast_every_beat", StoreWlastEveryBeat.__doc__,
           lambda cfg: DmaStoreProof(cfg, component=StoreWlastEveryBeat), ("w_last_on_last_beat",), 10),
    Mutant("store_readdresses_on_b", StoreReaddressesOnB.__doc__,
           # the window's low end is also a burst that may cross a page: since the store
           # engine's row counts are registered (timing), the solver's first failure can be
           # that rule, at the step a new AW shows the wrong address
           lambda cfg: DmaStoreProof(cfg, component=StoreReaddressesOnB), ("aw_addr_held", "aw_in_page"), 10),
    Mutant("store_splits_at_8k", "MUTANT: the burst walker splits at 8 KiB pages (AXI_PAGE_BYTES = 8192)",
           lambda cfg: DmaStoreProof(cfg, patches=_patch(dma_bursts, "AXI_PAGE_BYTES", 8192)),
           ("aw_in_page",), 8),
    Mutant("store_one_write_too_many", "MUTANT: OUTSTANDING_WRITES = 9 in the hardware (8 declared)",
           lambda cfg: DmaStoreProof(cfg, patches=_patch(dma_store, "OUTSTANDING_WRITES", 9)),
           ("b_awaiting_limit",), 14, long=True),
    Mutant("arbiter_without_lock", ArbiterWithoutLock.__doc__,
           lambda cfg: ReadArbiterProof(cfg, component=ArbiterWithoutLock),
           ("ar_valid_held", "ar_addr_held", "ar_id_held"), 6, quick=True),
    Mutant("arbiter_r_to_m0", ArbiterRToM0.__doc__,
           lambda cfg: ReadArbiterProof(cfg, component=ArbiterRToM0), ("m0_r_routed",), 4),
]
