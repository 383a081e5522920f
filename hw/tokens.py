"""Dependency-token counters: one per channel of :data:`systolica.model.isa.TOKEN_CHANNELS`.

Each channel counts tokens its writer queue has pushed and its reader queue has not yet
popped (``count``), plus the pushes of commands that have started and not yet finished
(``reserved``): a command may start only if every channel it pushes on has room,
``count + reserved < TOKEN_MAX``, so no counter ever overflows and the program behaves as
the machine model says (:mod:`systolica.model.machine`: a bounded channel, like a full
queue, makes its writer wait).
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
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
            # the next counts and flags: today's counts stepped by each amount the events can
            # move them, and their compares, all from the registers beside the start
            # decision, not after it; the events pick one (a count moves by at most one, the
            # total by -2..+1). Timing: at 0d01c31 the 8x8 top's path ended in a total's
            # carry chain behind the execute dispatcher's start.
            up, down = push & ~pop, pop & ~push
            grows = res & ~pop & ~rel                          # +1
            shrinks = (pop & rel) | ((pop | rel) & ~res)       # -1 or -2
            shrinks2 = pop & rel & ~res                        # -2
            count_next = Signal(TOKEN_BITS, name=f"{name}_count_next")
            total_next = Signal(TOKEN_BITS, name=f"{name}_total_next")
            m.d.comb += [count_next.eq(Mux(up, count + 1, Mux(down, count - 1, count))),
                         total_next.eq(Mux(grows, total + 1, Mux(shrinks2, total - 2,
                                                                  Mux(shrinks, total - 1, total))))]
            available_next = Mux(down, count > 1, Mux(up, 1, count != 0))
            room_next = Mux(grows, total < TOKEN_MAX - 1, Mux(shrinks, 1, total < TOKEN_MAX))
            with m.If(self.clear):
                m.d.sync += [count.eq(0), total.eq(0), available.eq(0), room.eq(1)]
            with m.Else():
                m.d.sync += [count.eq(count_next), total.eq(total_next),
                             available.eq(available_next), room.eq(room_next)]
            m.d.comb += [getattr(self.available, name).eq(available),
                         getattr(self.room, name).eq(room),
                         self.count[k].eq(count)]
        return m
