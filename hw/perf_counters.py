"""Performance counters: 64-bit, cleared when a program starts, counting while it runs.

The names and their meaning are :data:`systolica.model.csr.COUNTER_NAMES`; the machine
model predicts every one but ``cycles``, ``*_busy`` and ``*_stall`` (timing), which the
RTL harness checks against its own count (:mod:`systolica.sim.native`).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.csr import COUNTER_BITS, COUNTER_NAMES
from .multiplier import check_target
from .run_control import QUEUES
from .stage_multiplier import StageMultiplier

__all__ = ["PerfCounters", "counters_layout", "tile_macs_layout", "activity_layout", "QUEUE_PREFIX",
           "MACS_LATENCY"]

#: Counter prefix of each queue (``exec_busy`` is the execute queue's).
QUEUE_PREFIX = {"load": "load", "execute": "exec", "store": "store"}

#: Cycles from a tile's start (``tile.valid``) to its MACs in ``useful_macs``: the tile
#: registered, rows * cols, the operands again, the product, the product again, the add.
MACS_LATENCY = 6


def counters_layout() -> data.StructLayout:
    """The performance counters by name (:data:`systolica.model.csr.COUNTER_NAMES`)."""
    return data.StructLayout({name: COUNTER_BITS for name in COUNTER_NAMES})


def activity_layout() -> data.StructLayout:
    """What the cycle counters count, cycle by cycle (bit 0 ``running`` first): the top
    level shows it so that a testbench can count it on its own (``sim/native.py``)."""
    flags = data.ArrayLayout(1, len(QUEUES))
    return data.StructLayout({"running": 1, "busy": flags, "stall": flags})


def tile_macs_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """What a started tile contributes to ``useful_macs``: ``count * rows * cols``."""
    return data.StructLayout({"count": 16, "rows": range(cfg.rows + 1), "cols": range(cfg.cols + 1)})


class PerfCounters(wiring.Component):
    """Attributes
    ----------
    clear : In(1)
        A program starts: every counter to 0.
    running : In(1)
        Count ``cycles`` (and busy/stall) while high.
    busy, stall, completed : In(data.ArrayLayout(1, 3))
        Per queue (load, execute, store): a command runs; the head waits with nothing
        running; a command finished (one cycle).
    tile : In(stream.Signature(tile_macs_layout(cfg), always_ready=True))
        A tile started (its MACs are in ``useful_macs`` :data:`MACS_LATENCY` cycles later).
    loaded, stored : In(range(bus_bytes + 1))
        Bytes the DMA moved this cycle.
    counters : Out(counters_layout())
        A cycle's ``running``, ``busy``, ``stall``, ``completed``, ``loaded`` and
        ``stored`` are in the counters two cycles later (they are registered first).
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        check_target(target)
        self.cfg, self.target = cfg, target
        flags = data.ArrayLayout(1, len(QUEUES))
        super().__init__({
            "clear": In(1), "running": In(1),
            "busy": In(flags), "stall": In(flags), "completed": In(flags),
            "tile": In(stream.Signature(tile_macs_layout(cfg), always_ready=True)),
            "loaded": In(range(cfg.bus_bytes + 1)), "stored": In(range(cfg.bus_bytes + 1)),
            "counters": Out(counters_layout()),
        })

    def elaborate(self, platform):
        m = Module()
        cnt = self.counters
        # a tile's MACs: operands registered, rows * cols registered, the product
        # registered, then added (one multiplier per stage: timing). The product's
        # operands and the product are registered once more (``count_d``, ``area_d``,
        # ``macs_d``): a multiplier is a DSP block in its own column, and a flip-flop
        # with one source and one sink can sit beside it (timing: the 8x8 top at a0840f4,
        # `area` -> a 3.49 ns route -> the MULT18X18D -> a 3.68 ns route -> `macs`, -1.62 ns)
        # The operands' second registers and the product's are a StageMultiplier's, on the
        # ECP5 the DSP block's own (``target``; timing: the 8x8 top at 01bcdc9 --seed 2,
        # `count_d` -> a 2.67 ns route -> the MULT18X18D -> a 3.04 ns route -> `macs`,
        # -0.15 ns)
        t = Signal(tile_macs_layout(self.cfg))
        t_valid, area, count, area_valid = Signal(), Signal(16), Signal(16), Signal()
        operands_valid = Signal()
        macs_valid, macs_d, macs_d_valid = Signal(), Signal(32), Signal()
        mult = m.submodules.macs = StageMultiplier(unsigned(16), unsigned(16), self.target)
        m.d.comb += [mult.a.eq(count), mult.b.eq(area), mult.en.eq(1)]
        m.d.sync += [t.eq(self.tile.payload), t_valid.eq(self.tile.valid),
                     area.eq(t.rows * t.cols), count.eq(t.count), area_valid.eq(t_valid),
                     operands_valid.eq(area_valid), macs_valid.eq(operands_valid),
                     macs_d.eq(mult.p), macs_d_valid.eq(macs_valid)]
        # the per-cycle inputs are registered first (timing: the engines' handshakes end
        # at a register, not in a 64-bit adder); a clear drops its cycle's events as before
        ev = {}
        for name in ("running", "busy", "stall", "completed", "loaded", "stored"):
            port = getattr(self, name)
            ev[name] = Signal.like(port, name=f"{name}_r")
            m.d.sync += ev[name].eq(Mux(self.clear, 0, port))
        incr = {name: 0 for name in COUNTER_NAMES}
        incr["cycles"] = ev["running"]
        for k, q in enumerate(QUEUES):
            p = QUEUE_PREFIX[q]
            incr[f"{p}_busy"] = ev["busy"][k] & ev["running"]
            incr[f"{p}_stall"] = ev["stall"][k] & ev["running"]
            incr[f"{p}_commands"] = ev["completed"][k]
        with m.If(macs_d_valid):
            m.d.sync += cnt.useful_macs.eq(cnt.useful_macs + macs_d)
        incr["dma_bytes_loaded"] = ev["loaded"]
        incr["dma_bytes_stored"] = ev["stored"]
        for name in COUNTER_NAMES:
            if name != "useful_macs":
                m.d.sync += getattr(cnt, name).eq(getattr(cnt, name) + incr[name])
        with m.If(self.clear):
            m.d.sync += [getattr(cnt, name).eq(0) for name in COUNTER_NAMES]
        return m
