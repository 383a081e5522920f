"""Controller: fetch, three queues with their dispatchers, tokens, run control, counters.

::

    CSRs --> [ RunControl ] --start/halt/finish--------------------------------+
                  ^ status                                                     |
    DRAM --AXI--> [ Fetch + CommandCheck ] --> load | execute | store queues   |
                                                   |      |       |            |
                                    [ Dispatcher ] x 3 <--> [ TokenCounters ]  |
                                       |      |       |                        |
                               DMA load  executor  LaneWriter / DMA store      |
                                       \\______|_______/--> [ PerfCounters ] <-+

The semantics -- which command runs when, how a program ends, what each counter counts --
are the machine model's (:mod:`systolica.model.machine`); each block's docstring says its
part. The queues keep their heads in registers (:mod:`systolica.hw.head_fifo`).
The window, base and length are latched at the doorbell; commands are checked
before they are queued, so the DMA engines get only legal commands.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import DmaError, dma_command_layout
from ..model.isa import TOKEN_CHANNELS, Opcode, Queue, Status, command_layout, compute_layout, header_layout
from .axi import axi4_read_members
from .head_fifo import HeadFIFO
from .dispatcher import Dispatcher, entry_layout
from .dma_common import window_layout
from .fetch import FETCH_ID, Fetch
from .lane_writer import LaneWriter
from .perf_counters import PerfCounters, activity_layout, counters_layout
from .requant import param_write_layout
from .run_control import QUEUES, RunControl
from .tokens import CHANNELS, TokenCounters

__all__ = ["Controller", "counters_layout", "FETCH_ID", "EXEC_IN_FLIGHT"]

#: Compute tiles the execute dispatcher lets the executor run at once.
EXEC_IN_FLIGHT = 8


class Controller(wiring.Component):
    """See the module docstring.

    Attributes
    ----------
    program_base, program_len, window, doorbell, stop : In
        From the CSRs.
    busy, done, error, dma_error, error_index : Out
        Status: ``done`` stays high from the end of a program to the next doorbell.
    counters : Out(counters_layout())
    activity : Out(activity_layout())
        Per cycle: running, and each queue's busy and stall (what the counters count).
    fetch : Out(AXI4 read channels), ID :data:`FETCH_ID`.
    program_window : Out(window_layout(cfg))
        The running program's window (latched at the doorbell).
    load_cmd, load_status, store_cmd, store_status : to the DMA engines (checked commands).
    load_moved, store_moved : In
        Bytes the engines moved this cycle (the DMA-bytes counters).
    exec_cmd : Out(stream of compute_layout), exec_done : In(1) (one pulse per tile).
    exec_ready_next : In(1)
        ``exec_cmd.ready`` of the next cycle (the executor's ``cmd_ready_next``).
    requant_param : Out(stream of the requantization unit's parameter writes).

    ``target``: the fetch unit's command check's multipliers (:class:`~.fetch.Fetch`).
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        self.cfg, self.target = cfg, target
        dma = dma_command_layout(cfg)
        bus = range(cfg.bus_bytes + 1)
        super().__init__({
            "program_base": In(cfg.addr_bits), "program_len": In(32),
            "window": In(window_layout(cfg)), "doorbell": In(1), "stop": In(1),
            "busy": Out(1), "done": Out(1), "error": Out(Status), "dma_error": Out(DmaError),
            "error_index": Out(32), "counters": Out(counters_layout()), "activity": Out(activity_layout()),
            "fetch": Out(wiring.Signature(axi4_read_members(cfg.addr_bits, cfg.bus_bits))),
            "program_window": Out(window_layout(cfg)),
            "load_cmd": Out(stream.Signature(dma)), "load_status": In(stream.Signature(DmaError)),
            "store_cmd": Out(stream.Signature(dma)), "store_status": In(stream.Signature(DmaError)),
            "load_moved": In(bus), "store_moved": In(bus),
            "exec_cmd": Out(stream.Signature(compute_layout(cfg))), "exec_ready_next": In(1),
            "exec_done": In(1),
            "requant_param": Out(stream.Signature(param_write_layout(cfg))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        m.submodules.run = run = RunControl(cfg)
        m.submodules.fetch = fetch = Fetch(cfg, self.target)
        in_flight = {Queue.LOAD: 1, Queue.EXECUTE: EXEC_IN_FLIGHT, Queue.STORE: 1}
        # (a dispatcher with one command in flight never starts in two cycles in a row:
        # its channels' `available` may take a pop a cycle late, hw/tokens.py)
        spaced = [name for name, (_, reader) in zip(CHANNELS, TOKEN_CHANNELS) if Dispatcher.spaced_starts(in_flight[reader])]
        m.submodules.tokens = tokens = TokenCounters(spaced=spaced)
        m.submodules.counters = perf = PerfCounters(cfg, self.target)
        flush = run.clear       # a register: at the start and the cycle after the end

        # -- CSRs and status -------------------------------------------------------------
        m.d.comb += [
            run.doorbell.eq(self.doorbell), run.stop.eq(self.stop),
            run.program_base.eq(self.program_base), run.program_len.eq(self.program_len),
            run.window.eq(self.window), self.program_window.eq(run.program_window),
            self.busy.eq(run.running), self.done.eq(run.done), self.error.eq(run.status),
            self.error_index.eq(run.index), self.dma_error.eq(run.dma_error),
            self.counters.eq(perf.counters),
        ]

        # -- fetch into the queues ---------------------------------------------------------
        wiring.connect(m, fetch.axi, wiring.flipped(self.fetch))
        # between programs nothing moves: fetch hands nothing over, no head starts (a
        # command a deadlocked fetch still held must not slip into the flushed queues)
        # (``run.hold`` is ``run.halt | ~run.running | run.start``, as one register)
        m.d.comb += [fetch.start.eq(run.start), fetch.halt.eq(run.hold),
                     fetch.program_base.eq(run.base), fetch.program_len.eq(run.length),
                     fetch.window.eq(run.program_window),
                     run.fetch_stopped.eq(fetch.stopped), run.fetch_blocked.eq(fetch.blocked),
                     run.fetch_quiet.eq(fetch.quiet), run.fetch_status.eq(fetch.status),
                     run.fetch_index.eq(fetch.index), run.fetch_dma_error.eq(fetch.dma_error)]
        entry = entry_layout(cfg)
        # the command's header (opcode, token bits) is the entry's low bits
        header_bits = header_layout.size
        assert entry["cmd"].offset == 0 and command_layout(cfg)["header"].offset == 0
        dispatchers = {}
        for k, q in enumerate(Queue):
            name = QUEUES[k]
            # two head registers, the read applied a cycle late: the dispatcher's start (its
            # tokens, its unit) reaches one flip-flop of the queue (`taken`), not the heads'
            # flags nor the enable of some 300 head bits (queue_depth >= 2); a command waits
            # a cycle longer for room in a full queue. The dispatcher's start reads the
            # head's flag and header from a copy of their own (`copy`), which can sit beside
            # the dispatcher and the token counters, not among the heads' 400 bits (timing:
            # the 8x8 top's path at dadd812, the load queue's `now_oldest` -> its head's flag
            # -> 2.80 ns -> the token check -> the start -> a token count)
            fifo = m.submodules[f"{name}_queue"] = ResetInserter(flush)(
                HeadFIFO(width=entry.size, depth=cfg.queue_depth, heads=2, late_read=True, copy=header_bits))
            d = dispatchers[q] = m.submodules[f"{name}_dispatch"] = Dispatcher(cfg, q, in_flight[q])
            src = getattr(fetch, name)
            m.d.comb += [fifo.w_en.eq(src.valid), fifo.w_data.eq(src.payload.as_value()),
                         src.ready.eq(fifo.w_rdy),
                         d.head.valid.eq(fifo.c_rdy), d.head.payload.eq(Cat(fifo.c_data, fifo.r_data[header_bits:])),
                         d.head_headers.eq(fifo.c_heads), d.head_pick.eq(fifo.c_pick),
                         fifo.r_en.eq(d.head.ready),
                         d.halt.eq(run.queue_hold[k]),
                         d.available.eq(tokens.available), d.room.eq(tokens.room),
                         run.busy[k].eq(d.busy), run.startable[k].eq(d.startable),
                         run.head_valid[k].eq(fifo.r_rdy), run.head_index[k].eq(d.head.payload.index),
                         perf.busy[k].eq(d.busy), perf.stall[k].eq(d.stall),
                         self.activity.busy[k].eq(d.busy), self.activity.stall[k].eq(d.stall),
                         perf.completed[k].eq(d.completed)]
        for event in ("pop", "reserve", "push", "release"):
            value = 0
            for d in dispatchers.values():
                value = value | getattr(d, event).as_value()
            m.d.comb += getattr(tokens, event).eq(value)
        m.d.comb += [tokens.clear.eq(flush), perf.clear.eq(run.start), perf.running.eq(run.running),
                     self.activity.running.eq(run.running)]

        self._units(m, dispatchers, run, perf)
        return m

    def _units(self, m: Module, dispatchers: dict, run, perf) -> None:
        """Each dispatcher's started commands to its unit, and the unit's completions back."""
        cfg = self.cfg
        # load: the DMA load engine
        ld = dispatchers[Queue.LOAD]
        m.d.comb += [self.load_cmd.valid.eq(ld.issue.valid),
                     self.load_cmd.payload.eq(ld.issue.payload.cmd.body.dma),
                     ld.issue.ready.eq(self.load_cmd.ready),
                     self.load_status.ready.eq(1),
                     ld.complete.valid.eq(self.load_status.valid),
                     ld.complete.payload.error.eq(self.load_status.payload),
                     run.load_failure.valid.eq(ld.failure.valid),
                     run.load_failure.payload.eq(ld.failure.payload),
                     perf.loaded.eq(self.load_moved)]

        # execute: the executor; its MACs counted when a tile starts
        ex = dispatchers[Queue.EXECUTE]
        c = ex.issue.payload.cmd.body.compute
        m.d.comb += [self.exec_cmd.valid.eq(ex.issue.valid), self.exec_cmd.payload.eq(c),
                     ex.issue.ready.eq(self.exec_cmd.ready), ex.ready_next.eq(self.exec_ready_next),
                     ex.complete.valid.eq(self.exec_done),
                     perf.tile.valid.eq(ex.issue.valid & ex.issue.ready),
                     perf.tile.payload.count.eq(c.count),
                     perf.tile.payload.rows.eq(Mux(c.rows_used == 0, cfg.rows, c.rows_used)),
                     perf.tile.payload.cols.eq(Mux(c.cols_used == 0, cfg.cols, c.cols_used))]

        # store: REQUANT into the lanes, STORE to the DMA store engine (one at a time)
        st = dispatchers[Queue.STORE]
        m.submodules.lanes = lanes = LaneWriter(cfg)
        is_requant = st.issue.payload.cmd.header.opcode == Opcode.REQUANT
        wiring.connect(m, lanes.param, wiring.flipped(self.requant_param))
        m.d.comb += [lanes.cmd.valid.eq(st.issue.valid & is_requant),
                     lanes.cmd.payload.eq(st.issue.payload.cmd.body.requant),
                     self.store_cmd.valid.eq(st.issue.valid & ~is_requant),
                     self.store_cmd.payload.eq(st.issue.payload.cmd.body.dma),
                     st.issue.ready.eq(Mux(is_requant, lanes.cmd.ready, self.store_cmd.ready)),
                     self.store_status.ready.eq(1),
                     st.complete.valid.eq(self.store_status.valid | lanes.done),
                     st.complete.payload.error.eq(Mux(self.store_status.valid, self.store_status.payload,
                                                      DmaError.OK)),
                     run.store_failure.valid.eq(st.failure.valid),
                     run.store_failure.payload.eq(st.failure.payload),
                     perf.stored.eq(self.store_moved)]
