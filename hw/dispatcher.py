"""One queue's dispatcher: starts the queue's head when its tokens allow, tracks the
commands its unit is running, gives their tokens when they finish.

The token rules come from :mod:`systolica.model.isa` (:func:`~systolica.model.isa.token_bits`),
the same table the machine model and the ISA encoder read.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import DmaError
from ..model.isa import Queue, command_layout, header_layout, token_bits
from .copies import kept_copies
from .head_fifo import HeadFIFO
from .tokens import CHANNELS, channel_events_layout

__all__ = ["Dispatcher", "entry_layout", "completion_layout", "failure_layout"]


def entry_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """A queued command: its bits and its index in the program."""
    return data.StructLayout({"cmd": command_layout(cfg), "index": 32})


def completion_layout() -> data.StructLayout:
    """A unit's report that its oldest running command finished, with its bus error."""
    return data.StructLayout({"error": DmaError})


def failure_layout() -> data.StructLayout:
    """A command that finished with a bus error."""
    return data.StructLayout({"index": 32, "error": DmaError})


def _channel_name(ch) -> str:
    return f"{ch[0].name.lower()}_{ch[1].name.lower()}"


class Dispatcher(wiring.Component):
    """Parameters
    ----------
    cfg : AcceleratorConfig
    queue : Queue
        The queue served; its token bits map to channels by ``token_bits(queue)``.
    in_flight : int
        Commands the unit may run at once (their completions come back in order).

    Attributes
    ----------
    head : In(stream.Signature(entry_layout(cfg)))
        The queue's oldest command (the queue FIFO's read side). Taken when it starts.
    head_headers, head_pick : In(data.ArrayLayout(header_layout, 2)), In(1)
        Two headers of which ``head_headers[head_pick]`` is the head's whenever
        ``head.valid`` (the queue's two head registers and its select, ``HeadFIFO``'s
        ``c_heads`` and ``c_pick``): the token check is made for each and chosen by
        ``head_pick`` last (timing: the 8x8 top at 075d98f --seed 2, the execute queue's
        ``c_now_oldest`` -> the head's select -> the token check -> the start, the worst
        path).
    issue : Out(stream.Signature(entry_layout(cfg)))
        The started command, to the unit, from a register. The head starts (its tokens are
        popped and its pushes reserved, it counts as running) when its pops are
        ``available``, its pushes have ``room``, ``halt`` is low, fewer than ``in_flight``
        commands run and the register is free or being taken (with ``in_flight`` 1,
        nothing running means it is free: ``ready`` plays no part); ``valid`` rises the next
        cycle (timing: the token counters and the unit's command register are a register
        apart; +1 cycle per command start).
    ready_next : In(1)
        With ``in_flight`` above 1: ``issue.ready`` of the next cycle (the unit's ready is
        a register and this is its input), from which the dispatcher keeps its own copy of
        "the issue register is free". Unused with ``in_flight`` 1.
    complete : In(stream.Signature(completion_layout(), always_ready=True))
        The oldest running command finished (``error`` OK, or a bus error); at the
        earliest the cycle after the unit took it from ``issue``.
    available, room : In(channel_events_layout())
        From :class:`~systolica.hw.tokens.TokenCounters`.
    pop, reserve, push, release : Out(channel_events_layout())
        To :class:`~systolica.hw.tokens.TokenCounters`: on a start, the pops and the
        reserved pushes; on a completion, the pushes (OK) or their release (bus error).
    halt : In(1)
        Start nothing (a bus error or an abort stops the world).
    busy : Out(1)
        Commands are running (one cycle after the start, until the completion cycle).
    startable : Out(1)
        The head could start now but for the unit (tokens allow it, not halted).
    stall : Out(1)
        A head is waiting and nothing runs: the unit idles for want of a token (or halt).
    completed : Out(1)
        A command finished this cycle (with or without a bus error).
    failure : Out(stream.Signature(failure_layout(), always_ready=True))
        A command finished with a bus error (its index and the error).
    """

    @staticmethod
    def spaced_starts(in_flight: int) -> bool:
        """Whether a dispatcher with ``in_flight`` never starts in two cycles in a row: with
        one command in flight, the command started counts from the next cycle (``room``
        is 0 then), and a unit completes it at the earliest two cycles after the start."""
        return in_flight == 1

    def __init__(self, cfg: AcceleratorConfig, queue: Queue, in_flight: int):
        self.cfg, self.queue, self.in_flight = cfg, queue, in_flight
        entry = entry_layout(cfg)
        events = channel_events_layout()
        super().__init__({
            "head": In(stream.Signature(entry)), "issue": Out(stream.Signature(entry)),
            "head_headers": In(data.ArrayLayout(header_layout, 2)), "head_pick": In(1),
            "complete": In(stream.Signature(completion_layout(), always_ready=True)),
            "available": In(events), "room": In(events),
            "pop": Out(events), "reserve": Out(events), "push": Out(events), "release": Out(events),
            "ready_next": In(1), "halt": In(1), "busy": Out(1), "startable": Out(1), "stall": Out(1), "completed": Out(1),
            "failure": Out(stream.Signature(failure_layout(), always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        bits = {bit: ch for bit, ch in token_bits(self.queue).items() if ch is not None}
        # the running commands: their header (push bits) and index, oldest first, the
        # oldest in a register (`HeadFIFO`, cycle for cycle a `SyncFIFO`), so a failure's
        # index and the completion's token events start at flip-flops, not at a distributed
        # RAM's read (timing: the 8x8 top at 3c4552c, `store_dispatch.running`'s read
        # address -> its RAM -> the index's compare in the run control -> `new_error`,
        # -1.04 ns)
        track = data.StructLayout({"header": header_layout, "index": 32})
        m.submodules.running = running = HeadFIFO(width=track.size, depth=self.in_flight)
        oldest = data.View(track, running.r_data)

        def tokens_allow(h):
            ok = 1
            for bit, ch in bits.items():
                have = getattr(self.available if bit.startswith("pop") else self.room, _channel_name(ch))
                ok = ok & (~getattr(h, bit) | have)
            return ok
        hs = self.head_headers
        allow = [tokens_allow(h) for h in hs]
        tokens_ok = Mux(self.head_pick, allow[1], allow[0])
        may_start = Signal()
        held = Signal(entry_layout(self.cfg), name="held")      # the issue register
        held_valid = Signal(name="held_valid")
        start = Signal()
        # the start's terms but the token check, which each token event takes per head (below)
        start_events = Signal(name="start_events")
        # with one command in flight the issue register is free whenever nothing runs (a
        # started command runs until it completes, and the unit completes only what it
        # took): the unit's `ready` needs no part in the start, nor in the register's
        # enable, which is its own empty flag (timing: the unit's ready came from across
        # the chip). With more, a start waits for the register to be free or taken.
        one = self.in_flight == 1
        if one:
            free = ~held_valid
        else:
            # ``free`` (``~held_valid | issue.ready``) is a register of its own, set from
            # their next values, so neither the start nor the issue register's wide enable
            # waits for the unit's ready to cross the chip (timing: the 8x8 top at e54d26e,
            # the executor's tile queue room -> a 5.77 ns route -> the start -> a 5.98 ns
            # route -> ``held_valid``, -3.87 ns)
            # It is kept twice: `free0` for the start that the dispatcher's own registers
            # and queues take, `free1` for the same start as the token counters' events,
            # so each can sit by what it drives (timing: the 8x8 top at e007b07 --seed 2,
            # `execute_dispatch.free` -> a 4.12 ns route -> the counters' events ->
            # `load_execute_total`, -0.31 ns; `free` -> `free`, -0.10 ns by default)
            free_now = Signal(name="free_now")
            free, free_events = kept_copies(m, ~Mux(free_now, start, held_valid) | self.ready_next, 2,
                                            name="free", shape=1, init=1)
            m.d.comb += free_now.eq(free)
        # the running queue is written a cycle after the start, from the issue register
        # (which loaded the started head: a start needs `free`) and `started`, a register,
        # so the start reaches neither the queue's write nor its level and flags (timing:
        # the 8x8 top at 075d98f --seed 2, `execute_queue.c_now_oldest` -> the token check
        # -> the start -> `running`'s write -> `running.behind_level`, nine LUT levels,
        # -1.01 ns). A started command counts as running from the next cycle as before:
        # `room` and `busy` count `started` too. Its entry is at the queue's head two
        # cycles after the start, the earliest a unit can complete it (it takes the
        # command from the issue register a cycle after the start, and completes at the
        # earliest a cycle after it took it).
        started = Signal(name="started")
        m.d.sync += started.eq(start)
        # (with one in flight, a started command fills it)
        room_if_started = running.level < self.in_flight - 1 if self.in_flight > 1 else 0
        room = Mux(started, room_if_started, running.level < self.in_flight)
        m.d.comb += [
            may_start.eq(self.head.valid & tokens_ok & ~self.halt),
            self.startable.eq(may_start),
            start.eq(may_start & room & (1 if one else free)),
            start_events.eq(self.head.valid & ~self.halt & room & (free if one else free_events)),
            self.issue.valid.eq(held_valid),
            self.issue.payload.eq(held),
        ]
        # the register takes the head whenever it is free (or, with more than one in
        # flight, being taken), started or not (its bits mean something only with
        # ``held_valid``): so its wide enable does not hang on the token counters
        # (timing: the controller's critical path before)
        with m.If(free):
            m.d.sync += held.eq(self.head.payload)
        with m.If(free | self.issue.ready if one else free):
            m.d.sync += held_valid.eq(start)
        new = Signal(track)
        m.d.comb += [self.head.ready.eq(start), new.header.eq(held.cmd.header), new.index.eq(held.index),
                     running.w_en.eq(started), running.w_data.eq(new.as_value())]
        # each event is made for each of the two head registers from its own bits (its
        # tokens allow a start and it names the channel) and chosen by the select, then
        # taken with the start's other terms, so the heads' registers reach the counters
        # through the token check and one choice, not through the start and the header's
        # wide select after it (timing: the 8x8 top at 2aa321b --seed 4, `c_heads` -> the
        # token check -> the start -> the events -> `execute_load_total`, seven LUT
        # levels, -1.01 ns). (``hs[head_pick]`` is the head's header whenever one is valid.)
        for bit, ch in bits.items():
            event = self.pop if bit.startswith("pop") else self.reserve
            wanted = [allow[k] & getattr(hs[k], bit) for k in range(2)]
            m.d.comb += getattr(event, _channel_name(ch)).eq(start_events & Mux(self.head_pick, wanted[1], wanted[0]))

        # completions, oldest first
        done = self.complete.valid
        ok = self.complete.payload.error == DmaError.OK
        m.d.comb += [running.r_en.eq(done), self.completed.eq(done),
                     self.failure.valid.eq(done & ~ok),
                     self.failure.payload.index.eq(oldest.index),
                     self.failure.payload.error.eq(self.complete.payload.error)]
        for bit, ch in bits.items():
            if bit.startswith("push"):
                name = _channel_name(ch)
                pushed = done & getattr(oldest.header, bit)
                m.d.comb += [getattr(self.push, name).eq(pushed & ok),
                             getattr(self.release, name).eq(pushed & ~ok)]
        # with nothing running the issue register is empty (a started command runs until
        # its unit has taken it and completed), so a head starts exactly when it may: the
        # stall takes `may_start`, not `start` (timing: the 8x8 top at de8b1de, `free` ->
        # a 4.54 ns route to the start's logic, shared with the top's `activity` port ->
        # 4.54 ns back -> `held_valid` -> `free`, -1.52 ns)
        busy = running.r_rdy | started
        m.d.comb += [self.busy.eq(busy),
                     self.stall.eq(self.head.valid & ~busy & ~may_start)]
        return m


# the channel names the dispatcher drives must be the counters' names
assert {_channel_name(ch) for q in Queue for ch in token_bits(q).values() if ch} == set(CHANNELS)
