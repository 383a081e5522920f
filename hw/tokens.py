"""Dependency-token counters: one per channel of :data:`systolica.model.isa.TOKEN_CHANNELS`.

Each channel counts tokens its writer queue has pushed and its reader queue has not yet
popped (``count``), plus the pushes of commands that have started and not yet finished
(``reserved``): a command may start only if every channel it pushes on has room,
``count + reserved < TOKEN_MAX``, so no counter ever overflows and the program behaves as
the machine model says (:mod:`systolica.model.machine`: a bounded channel, like a full
queue, makes its writer wait).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
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
        ``count > 0``: a pop may start.
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
            reserved = Signal(TOKEN_BITS, name=f"{name}_reserved")
            pop, res = getattr(self.pop, name), getattr(self.reserve, name)
            push, rel = getattr(self.push, name), getattr(self.release, name)
            with m.If(self.clear):
                m.d.sync += [count.eq(0), reserved.eq(0)]
            with m.Else():
                m.d.sync += [count.eq(count + push - pop), reserved.eq(reserved + res - push - rel)]
            m.d.comb += [getattr(self.available, name).eq(count != 0),
                         getattr(self.room, name).eq(count + reserved < TOKEN_MAX),
                         self.count[k].eq(count)]
        return m
