"""Run control: starts a program, stops it, and says how it ended.

The rules are the machine model's (:mod:`systolica.model.machine`, "How a program ends"):

- ``doorbell`` while idle starts a program: the window, base and length are latched, every
  queue and token counter is cleared (``start``), ``done`` falls.
- A bus error reported by a dispatcher, or ``stop`` (the host's CTRL.abort), raises ``halt``: nothing starts any
  more, fetch stops; the program ends once nothing runs and fetch is quiet.
- Otherwise the program ends when nothing can happen any more (*quiescent*, two cycles
  in a row so that no token or queue write is still in transit): fetch has stopped or waits
  for queue room with no read in flight, no dispatcher runs a command and no head can start.
- The status ranks: a bus error (the lowest failing index), then ``ABORTED``, then fetch's
  own stop (an error in front of a command), then ``DEADLOCK`` (commands were left: the
  oldest waiting head's index), else ``OK``. The queues and tokens are cleared the cycle
  after the end (``clear``).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import DmaError
from ..model.isa import Queue, Status
from .copies import kept_copies, kept_wire
from .dispatcher import failure_layout
from .dma_common import window_layout

__all__ = ["RunControl", "QUEUES"]

#: Dispatchers in port order.
QUEUES = tuple(q.name.lower() for q in Queue)


class RunControl(wiring.Component):
    """Attributes
    ----------
    doorbell, stop : In(1)
        From the CSRs (``stop``, CTRL.abort, is ignored while idle, ``doorbell`` while running).
    program_base, program_len, window : In
        From the CSRs; latched at the doorbell as ``base``, ``length``, ``program_window``.
    running, done : Out(1)
        ``done`` stays high from the end of a program to the next doorbell.
    status, index, dma_error : Out
        How the last program ended (valid with ``done``).
    start, finish : Out(1)
        One-cycle pulses: a program starts (the cycle after the doorbell, ``running``
        already high, the parameters latched) / ends (``running`` falls, ``done`` rises
        the next cycle).
    clear : Out(1)
        Clear the queues and tokens: with ``start``, and the cycle after ``finish``.
    halt : Out(1)
        A bus error or an abort: start nothing more.
    hold : Out(1)
        Start nothing and fetch nothing: ``halt``, or no program runs, or ``start`` (the
        queues are cleared then). A register equal to ``halt | ~running | start`` in every
        cycle (timing: fetch reads it through no LUT).
    queue_hold : Out(data.ArrayLayout(1, 3))
        ``hold`` again, one copy per dispatcher; ``hold`` and these are kept apart
        (:func:`~systolica.hw.copies.kept_copies`), so each can sit beside the dispatcher's
        start decision (timing: the 8x8 top at 56e24bb, `run.hold` -> a 3.31 ns route ->
        the load dispatcher's start -> the token counters' `load_execute_total`, -0.61 ns).
        ``hold`` is driven by the copy ``hold0``, these by ``hold1`` .. ``hold3``.
    fetch_stopped, fetch_blocked, fetch_quiet : In(1)
    fetch_status, fetch_index, fetch_dma_error : In
        The fetch unit's state (:class:`~systolica.hw.fetch.Fetch`).
    busy, startable, head_valid : In(data.ArrayLayout(1, 3))
        Per queue (load, execute, store): commands run; the head could start (never while
        the queue's ``queue_hold``: a held dispatcher starts nothing); a head waits.
    head_index : In(data.ArrayLayout(32, 3))
    load_failure, store_failure : In(stream of failure_layout(), always ready)
        Bus errors of DMA commands.
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        fail = In(stream.Signature(failure_layout(), always_ready=True))
        flags = data.ArrayLayout(1, len(QUEUES))
        super().__init__({
            "doorbell": In(1), "stop": In(1),
            "program_base": In(cfg.addr_bits), "program_len": In(32), "window": In(window_layout(cfg)),
            "base": Out(cfg.addr_bits), "length": Out(32), "program_window": Out(window_layout(cfg)),
            "running": Out(1), "done": Out(1), "status": Out(Status), "index": Out(32),
            "dma_error": Out(DmaError), "start": Out(1), "finish": Out(1), "clear": Out(1), "halt": Out(1),
            "hold": Out(1, init=1), "queue_hold": Out(flags, init=[1] * len(QUEUES)),
            "fetch_stopped": In(1), "fetch_blocked": In(1), "fetch_quiet": In(1),
            "fetch_status": In(Status), "fetch_index": In(32), "fetch_dma_error": In(DmaError),
            "busy": In(flags), "startable": In(flags), "head_valid": In(flags),
            "head_index": In(data.ArrayLayout(32, len(QUEUES))),
            "load_failure": fail, "store_failure": fail,
        })

    def elaborate(self, platform):
        m = Module()
        start = self.start                  # the cycle after the doorbell: parameters latched
        go = self.doorbell & ~self.running
        m.d.sync += start.eq(go)
        with m.If(go):
            m.d.sync += [self.running.eq(1), self.done.eq(0), self.base.eq(self.program_base),
                         self.length.eq(self.program_len), self.program_window.eq(self.window)]

        # -- stop the world: bus errors (the lowest index kept) and abort -------------------
        failed, aborted = Signal(), Signal()
        m.d.comb += self.halt.eq(failed | aborted)
        ld, st = self.load_failure, self.store_failure
        m.d.sync += failed.eq(failed | ld.valid | st.valid)
        # the lowest failing index, ranked a cycle behind ``failed`` in two stages (timing:
        # the two chained 32-bit compares hung on the dispatchers' running-command FIFOs);
        # ``finish`` comes at least three cycles after the last completion, when it is ranked
        new_valid, new_index, new_error = Signal(), Signal(32), Signal(DmaError)
        take_st = st.valid & (~ld.valid | (st.payload.index < ld.payload.index))
        m.d.sync += [new_valid.eq(ld.valid | st.valid),
                     new_index.eq(Mux(take_st, st.payload.index, ld.payload.index)),
                     new_error.eq(Mux(take_st, st.payload.error, ld.payload.error))]
        ranked, fail_index, fail_error = Signal(), Signal(32), Signal(DmaError)
        with m.If(new_valid & (~ranked | (new_index < fail_index))):
            m.d.sync += [ranked.eq(1), fail_index.eq(new_index), fail_error.eq(new_error)]
        with m.If(self.stop & self.running):
            m.d.sync += aborted.eq(1)
        # ``hold``'s next value is ``halt | ~running | start`` of the next cycle: a doorbell
        # (``go``) leaves ``running`` low or raises ``start``, ``finish`` lowers ``running``,
        # and otherwise ``running`` stays while ``failed``/``aborted`` take the failures and
        # the stop (a stop while idle is covered by ``~running``)
        # (`hold0` for fetch, `hold1` .. for the dispatchers: kept copies all, as Yosys
        # merges a plain register into a kept copy that loads the same value)
        hold_next = ~self.running | self.finish | self.halt | ld.valid | st.valid | self.stop
        fetch_hold, *queue_holds = kept_copies(m, hold_next, 1 + len(QUEUES), name="hold", shape=1, init=1)
        m.d.comb += [self.hold.eq(fetch_hold)] + [self.queue_hold[k].eq(r) for k, r in enumerate(queue_holds)]

        # -- the end: quiescent two cycles in a row -----------------------------------------
        # (settled: ``halt``, or fetch stopped or blocked and no head can start; a held
        # dispatcher starts nothing, so ``halt`` needs no part in the startables' term)
        busy = self.busy.as_value().any()
        unstartable = ~self.startable.as_value().any()
        quiescent = Signal()
        before = Signal()
        # the terms but the startables are wires kept apart, each from registers, so the
        # startables (the dispatchers' token checks) reach each end through one LUT
        # (timing: the 8x8 top at 96f7162 --seed 2, `controller.c_heads` -> the execute
        # dispatcher's token check -> a 4.40 ns route -> three LUT levels -> `finish`,
        # -0.77 ns)
        calm = kept_wire(m, self.running & ~start & self.fetch_quiet & ~busy
                         & (self.halt | self.fetch_stopped | self.fetch_blocked), name="run_calm")
        ending = kept_wire(m, calm & before & ~self.finish, name="run_ending")
        m.d.comb += quiescent.eq(calm & unstartable)
        m.d.sync += before.eq(quiescent)
        # ``finish`` is a register: high the cycle after the second quiescent cycle (nothing
        # can happen in between; an abort in that cycle is reported). Timing: the token
        # counters -> a dispatcher's start decision -> the end of the program -> the flush of
        # the queues was both tops' critical path. +1 cycle per program.
        m.d.sync += self.finish.eq(ending & unstartable)
        # ``clear`` is a register too: the cycle after the doorbell (with ``start``) and the
        # cycle after ``finish`` (nothing moves then: ``running`` is low)
        m.d.sync += self.clear.eq(go | self.finish)

        lowest = _lowest_head(m, self.head_valid, self.head_index)
        # whether commands were left, registered as the heads are for `lowest` (the cycle
        # before `finish` was quiescent: nothing reached a queue or left one, and fetch
        # did not move), so the queues' `r_rdy` reach only a flip-flop (timing: the 8x8
        # top at 36ebc1a --seed 2, `execute_queue.r_rdy` -> routes of 3.73 and 2.99 ns ->
        # `status`, -0.46 ns; -0.82 to `index` at 9ccfb6f --seed 2)
        left = Signal()
        m.d.sync += left.eq(self.head_valid.as_value().any() | self.fetch_blocked | ~self.fetch_stopped)
        fetch_error = self.fetch_stopped & (self.fetch_status != Status.OK)
        with m.If(self.finish):
            m.d.sync += [self.running.eq(0), self.done.eq(1), failed.eq(0), ranked.eq(0), aborted.eq(0)]
            with m.If(failed):
                m.d.sync += [self.status.eq(Status.DMA), self.index.eq(fail_index),
                             self.dma_error.eq(fail_error)]
            with m.Elif(aborted):
                m.d.sync += [self.status.eq(Status.ABORTED), self.index.eq(0), self.dma_error.eq(DmaError.OK)]
            with m.Elif(fetch_error):
                m.d.sync += [self.status.eq(self.fetch_status), self.index.eq(self.fetch_index),
                             self.dma_error.eq(self.fetch_dma_error)]
            with m.Elif(left):
                m.d.sync += [self.status.eq(Status.DEADLOCK), self.index.eq(lowest),
                             self.dma_error.eq(DmaError.OK)]
            with m.Else():
                m.d.sync += [self.status.eq(Status.OK), self.index.eq(0), self.dma_error.eq(DmaError.OK)]
        with m.If(go):
            m.d.sync += [self.status.eq(Status.OK), self.index.eq(0), self.dma_error.eq(DmaError.OK)]
        return m


def _lowest_head(m: Module, valid, index) -> Signal:
    """The lowest ``index[k]`` with ``valid[k]`` (all ones when none is), registered.

    ``finish`` comes after two quiescent cycles in a row: in them no command was handed
    to a queue or taken from one, so the heads of the first are those of the second. The
    heads are registered first and ranked from the registers, so the value this register
    holds at ``finish`` is the first quiescent cycle's. The queues' read ports to the
    status register was the whole top's critical path (three chained 32-bit compares);
    here the compares run side by side, and they start from flip-flops (timing: the
    controller alone before, 84.6 MHz: a queue's ``now_oldest`` -> its head's index ->
    the compares' carry chains -> this register)."""
    n = len(index)
    valid_r = Signal(n, name="lowest_valid_in")
    index_r = [Signal(32, name=f"lowest_index_in{k}") for k in range(n)]
    m.d.sync += [valid_r.eq(valid.as_value())] + [index_r[k].eq(index[k]) for k in range(n)]
    valid, index = valid_r, index_r
    keys = [Cat(index[k], ~valid[k]) for k in range(n)]      # not waiting: above every index
    lowest = Signal(32, name="lowest_head", init=(1 << 32) - 1)
    value = Mux(valid.any(), 0, (1 << 32) - 1)
    for k in range(n):  # key k wins when below the keys before it and not above those after
        wins = 1
        for j in range(n):
            if j != k:
                wins = wins & ((keys[k] < keys[j]) if j < k else (keys[k] <= keys[j]))
        value = value | Mux(wins & valid[k], index[k], 0)
    m.d.sync += lowest.eq(value)
    return lowest
