"""Dependency-token counters: one per channel of :data:`systolica.model.isa.TOKEN_CHANNELS`.

Each channel counts tokens its writer queue has pushed and its reader queue has not yet
popped (``count``), plus the pushes of commands that have started and not yet finished
(``reserved``): a command may start only if every channel it pushes on has room,
``count + reserved < TOKEN_MAX``, so no counter ever overflows and the program behaves as
the machine model says (:mod:`systolica.model.machine`: a bounded channel, like a full
queue, makes its writer wait).

A pop reaches the writer's side a cycle late: the reader's start meets only the flag it
reads itself (``available``), and ``count + reserved`` and ``room`` take the pop from a
register, so no start crosses from one dispatcher to the other within a cycle (timing:
the 8x8 top at 36ebc1a --seed 2, the load queue's heads -> the token check -> the load
dispatcher's start -> its pop -> a 2.95 ns route -> ``execute_load_total``, -0.73 ns; at
9ccfb6f --seed 2 the store's start -> its pop -> a 3.48 ns route ->
``execute_store_count``, -1.70 ns). So ``room`` counts a token popped in the cycle
before as still there: a writer whose channel holds ``TOKEN_MAX`` tokens and reserved
pushes starts a cycle later after a pop than it could. No result changes (the machine
model's rule is a bound, not a time), nor any cycle of a program whose channels never
fill. ``available`` is exact, but on the channels of ``spaced`` readers, which never start
in two cycles in a row (a dispatcher with one command in flight): there it takes the pop
from the register too, so it is stale only in the cycle after a pop, when the reader
cannot start (timing: the 8x8 top at 9ccfb6f --seed 2, the store dispatcher's start ->
its pop -> a 3.48 ns route -> ``execute_store_available``, -1.48 ns). No cycle changes.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..model.isa import TOKEN_BITS, TOKEN_CHANNELS, TOKEN_MAX

__all__ = ["TokenCounters", "channel_events_layout", "CHANNELS"]

#: Channel names in counter order, e.g. ``"load_execute"``.
CHANNELS = tuple(f"{a.name.lower()}_{b.name.lower()}" for a, b in TOKEN_CHANNELS)


def channel_events_layout() -> data.StructLayout:
    """One bit per channel (a ``(from, to)`` pair of :data:`TOKEN_CHANNELS`)."""
    return data.StructLayout({name: 1 for name in CHANNELS})


class TokenCounters(wiring.Component):
    """Attributes
    ----------
    clear : In(1)
        Empty every channel (a new program starts); wins over the events of its cycle.
    pop : In(channel_events_layout())
        The reader starts a command that pops this channel (only when ``available``).
    reserve : In(channel_events_layout())
        The writer starts a command that will push on this channel (only when ``room``).
    push : In(channel_events_layout())
        A reserved push happens: the command finished.
    release : In(channel_events_layout())
        A reserved push is dropped: the command failed (bus error) and pushes nothing.
    available : Out(channel_events_layout())
        ``count > 0``: a pop may start (a register, as ``room``). On a channel in
        ``spaced``, ``count + popped > 0``.
    room : Out(channel_events_layout())
        ``count + reserved + popped < TOKEN_MAX``: a push may be reserved. ``popped`` is 1
        in the cycle after a pop (see above).
    count : Out(array of TOKEN_BITS)
        Tokens per channel (for the counters' tests and debug).

    Parameters
    ----------
    spaced : iterable of str
        The channels (of :data:`CHANNELS`) whose reader never pops in two cycles in a row.
    """

    def __init__(self, spaced=()):
        self.spaced = frozenset(spaced)
        if not self.spaced <= set(CHANNELS):
            raise ValueError(f"spaced={sorted(self.spaced)}: allowed channels {', '.join(CHANNELS)}")
        events = channel_events_layout()
        super().__init__({
            "clear": In(1), "pop": In(events), "reserve": In(events), "push": In(events),
            "release": In(events), "available": Out(events), "room": Out(events),
            "count": Out(data.ArrayLayout(TOKEN_BITS, len(CHANNELS))),
        })

    def elaborate(self, platform):
        m = Module()
        for k, name in enumerate(CHANNELS):
            pop, res = getattr(self.pop, name), getattr(self.reserve, name)
            push, rel = getattr(self.push, name), getattr(self.release, name)
            # the pop a cycle late: every register a pop moves but the reader's own flag
            # takes it from here (see the module's docstring)
            popped = Signal(name=f"{name}_popped")
            # count + popped: the tokens before the pop of the cycle before is taken
            behind = Signal(TOKEN_BITS, name=f"{name}_behind")
            # count + reserved + popped (at most TOKEN_MAX): a push moves a token from the
            # reserved ones to the count, a release drops a reserved one
            total = Signal(TOKEN_BITS, name=f"{name}_total")
            # ``available`` and ``room`` are registers, computed from the next counts: a
            # dispatcher's start decision reads them with no adder or compare in front
            # (timing: the counters' carry chains began both tops' critical paths)
            available = Signal(name=f"{name}_available")
            room = Signal(name=f"{name}_room", init=1)
            # the next values are made for each value of the late events (`popped`, `push`,
            # `release`) from registers, and chosen by a start's event last: `available` by
            # the reader's pop, the total and `room` by the writer's reserve (timing: the
            # 8x8 top at 1154364 --seed 2, the heads -> the token check -> the start -> the
            # decode of the events -> `load_execute_total`, -0.31 ns). Each compare is of a
            # register with a constant; a legal event never takes a count past its bounds
            # (a pop only with `available`, a reserve only with `room`, a push or release
            # only of a reserve)

            def above(d):            # behind + d > 0, d a constant
                return Const(1) if d > 0 else (behind != 0 if d == 0 else behind > -d)

            def late(f):             # f(c) for c = push - popped
                return Mux(popped, Mux(push, f(0), f(-1)), Mux(push, f(1), f(0)))

            def by_reserve(f):
                return Mux(res, f(1), f(0))

            def drop(f):             # f(c) for c = -popped - release
                return Mux(popped, Mux(rel, f(-2), f(-1)), Mux(rel, f(-1), f(0)))

            behind_next = Signal(TOKEN_BITS, name=f"{name}_behind_next")
            total_next = Signal(TOKEN_BITS, name=f"{name}_total_next")
            m.d.comb += [behind_next.eq(late(lambda c: behind + c)),
                         total_next.eq(by_reserve(lambda r: drop(lambda c: total + r + c)))]
            # the count after this cycle's events is behind + push - popped - pop (a spaced
            # reader's pop counted from the next cycle on)
            if name in self.spaced:
                available_next = late(above)
            else:
                available_next = Mux(pop, late(lambda c: above(c - 1)), late(above))
            # (total + r + c < TOKEN_MAX)
            room_next = by_reserve(lambda r: drop(lambda c: total < TOKEN_MAX - r - c))
            with m.If(self.clear):
                m.d.sync += [popped.eq(0), behind.eq(0), total.eq(0), available.eq(0), room.eq(1)]
            with m.Else():
                m.d.sync += [popped.eq(pop), behind.eq(behind_next), total.eq(total_next),
                             available.eq(available_next), room.eq(room_next)]
            m.d.comb += [getattr(self.available, name).eq(available),
                         getattr(self.room, name).eq(room),
                         self.count[k].eq(behind - popped)]
        return m
