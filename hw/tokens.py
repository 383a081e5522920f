"""Dependency-token counters: one per channel of :data:`systolica.model.isa.TOKEN_CHANNELS`.

Each channel counts tokens its writer queue has pushed and its reader queue has not yet
popped (``count``), plus the pushes of commands that have started and not yet finished
(``reserved``): a command may start only if every channel it pushes on has room,
``count + reserved < TOKEN_MAX``, so no counter ever overflows and the program behaves as
the machine model says (:mod:`systolica.model.machine`: a bounded channel, like a full
queue, makes its writer wait).
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
        ``count > 0``: a pop may start (a register, as ``room``).
    room : Out(channel_events_layout())
        ``count + reserved < TOKEN_MAX``: a push may be reserved.
    count : Out(array of TOKEN_BITS)
        Tokens per channel (for the counters' tests and debug).
    """

    def __init__(self):
        events = channel_events_layout()
        super().__init__({
            "clear": In(1), "pop": In(events), "reserve": In(events), "push": In(events),
            "release": In(events), "available": Out(events), "room": Out(events),
            "count": Out(data.ArrayLayout(TOKEN_BITS, len(CHANNELS))),
        })

    def elaborate(self, platform):
        m = Module()
        for k, name in enumerate(CHANNELS):
            count = Signal(TOKEN_BITS, name=f"{name}_count")
            # count + reserved (at most TOKEN_MAX): a push moves a token from one to the other
            total = Signal(TOKEN_BITS, name=f"{name}_total")
            # ``available`` and ``room`` are registers, computed from the next counts: a
            # dispatcher's start decision reads them with no adder or compare in front
            # (timing: the counters' carry chains began both tops' critical paths)
            available = Signal(name=f"{name}_available")
            room = Signal(name=f"{name}_room", init=1)
            pop, res = getattr(self.pop, name), getattr(self.reserve, name)
            push, rel = getattr(self.push, name), getattr(self.release, name)
            # the next counts and flags: made for each of the four (pop, reserve) pairs from
            # today's counts and the completion's events (push, release), then chosen by the
            # pop and the reserve, which come from the dispatchers' starts, late in their
            # cycle, and so meet one select before the registers (timing: the 8x8 top at
            # 1154364 --seed 2, the execute queue's heads -> the token check -> the start ->
            # its pop -> the decode of the four events -> `load_execute_total`, -0.31 ns).
            # The count and `available` do not depend on the reserve: the pop alone chooses
            # them. Each compare is of a register with a constant; a legal event never takes
            # a count past its bounds (a pop only with `available`, a reserve only with
            # `room`, a push or release only of a reserve)
            def by_pop(f):
                return Mux(pop, f(1), f(0))

            def by_starts(f):
                return Mux(pop, Mux(res, f(1, 1), f(1, 0)), Mux(res, f(0, 1), f(0, 0)))

            def count_above(d):      # count + d > 0, d a constant
                return Const(1) if d > 0 else (count != 0 if d == 0 else count > -d)

            count_next = Signal(TOKEN_BITS, name=f"{name}_count_next")
            total_next = Signal(TOKEN_BITS, name=f"{name}_total_next")
            m.d.comb += [count_next.eq(by_pop(lambda p: Mux(push, count + 1 - p, count - p))),
                         total_next.eq(by_starts(lambda p, r: Mux(rel, total + r - p - 1, total + r - p)))]
            available_next = by_pop(lambda p: Mux(push, count_above(1 - p), count_above(-p)))
            # (total + d < TOKEN_MAX)
            room_next = by_starts(lambda p, r: Mux(rel, total < TOKEN_MAX + 1 + p - r, total < TOKEN_MAX + p - r))
            with m.If(self.clear):
                m.d.sync += [count.eq(0), total.eq(0), available.eq(0), room.eq(1)]
            with m.Else():
                m.d.sync += [count.eq(count_next), total.eq(total_next),
                             available.eq(available_next), room.eq(room_next)]
            m.d.comb += [getattr(self.available, name).eq(available),
                         getattr(self.room, name).eq(room),
                         self.count[k].eq(count)]
        return m
