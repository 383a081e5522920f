"""Which byte lanes of a DMA engine's data beats belong to its head burst, and the burst
queue that carries them from the burst walker (``hw/dma_bursts.py``) to the engine's
beats (``hw/dma_load.py``, ``hw/dma_store.py``).
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Shape, Signal, Value
from amaranth.lib import data

from .head_fifo import HeadFIFO

__all__ = ["BeatLanes"]


class BeatLanes:
    """Which byte lanes of the next data beat belong to the head burst: lanes ``offset ..
    offset + k - 1``; ``last`` on its final beat. Call :meth:`advance` with the beat's
    handshake.

    The burst queue (:meth:`queue`) holds :meth:`entry` values (layout :meth:`layout`;
    :meth:`queued` puts control bits below each, kept again in registers of their
    own for the handshake): the burst plus its
    first beat's ``k`` and ``last``, computed by the burst walker (``hw/dma_bursts.py``)
    as it queues the burst, from its registers. A later beat's ``k``
    and ``last`` are registers set when the beat before it is taken. So no arithmetic lies
    between the queue's output and the beat's lanes and handshake (the engines' critical
    path on the FPGA before; cycle for cycle the same behaviour). ``mask`` is ``k`` as a
    thermometer code (lanes ``0 .. k - 1`` set), queued and registered beside ``k``, so a
    beat's byte mask is a shift of it, with no ``(1 << k) - 1`` carry chain after the
    head's select (timing: the load engine's path alone was ``first`` -> ``k`` -> that
    subtraction -> the placed beat's mask).

    The entry also holds what the first beat leaves for the second (``rem``, the bytes
    after the first beat, and the second beat's ``k``, ``mask`` and ``last``: the ``*2``
    fields), so taking a first beat loads those registers from the queue's head, and only
    a later beat computes them, from registers (timing: the 8x8 top at daa7c24, the burst
    queue's head -> ``first``'s select -> ``rem``'s subtraction -> ``k``'s minimum, -1.62
    ns)."""

    @staticmethod
    def control_bits(entry) -> int:
        """Bits queued below an entry of layout ``entry`` (:meth:`queued`): its first
        beat's ``last``, its burst's ``row_end`` and ``offset``, and its first beat's ``k``
        (so a store's W shift amount, ``rp_b + k - offset``, has all its terms from the
        copy; timing: the 8x8 top's amount went through the wide head's select for
        ``k``, the thirty-sixth pass in ``bench/fpga_timing.md``). An engine's burst queue
        keeps them a second time (``HeadFIFO`` ``copy``) for the beat's handshake, the
        row's end and the first beat's lanes, which then start at registers of their own,
        away from the wide head and its select (timing: the 8x8 top at d5193b6, the load
        engine's ``pending.oldest`` -> the head's ``last`` -> the row's close -> ``open_a``,
        -1.37 ns, two 2.1 ns routes; at 4a6157e, the store engine's ``pending.oldest`` ->
        the head's ``offset`` -> the W shift's amount -> ``w_beats``, -1.66 ns, a 3.21 ns
        route)."""
        return 2 + entry["burst"].shape["offset"].width + Shape.cast(entry["k"].shape).width

    @classmethod
    def queue(cls, entry, depth: int) -> HeadFIFO:
        """An engine's burst queue of ``entry`` (:meth:`layout`) values, ``depth`` deep."""
        bits = cls.control_bits(entry)
        return HeadFIFO(width=entry.size + bits, depth=depth, heads=2, copy=bits)

    @staticmethod
    def queued(entry) -> Value:
        """What an engine queues for ``entry`` (a view of :meth:`layout`): the control
        bits, then the entry."""
        return Cat(entry.last, entry.burst.row_end, entry.burst.offset, entry.k, entry.as_value())

    @staticmethod
    def layout(burst_shape, bus_bytes: int) -> data.StructLayout:
        k = range(bus_bytes + 1)
        return data.StructLayout({"burst": burst_shape, "k": k, "mask": bus_bytes, "last": 1,
                                  "rem": range(256 * bus_bytes + 1), "k2": k, "mask2": bus_bytes, "last2": 1})

    @staticmethod
    def entry(m: Module, burst, span, bus_bytes: int):
        """The queue entry of ``burst`` (a view of the burst layout), as a value; ``span``
        is ``burst.offset + burst.nbytes``, the burst's bytes from lane 0 of its first beat
        (the walker keeps it in registers)."""
        e = Signal(BeatLanes.layout(burst.shape(), bus_bytes), name="beat_entry")
        bb = bus_bytes
        room = bb - burst.offset
        # past `bb`, the first beat is full and the rest is `rem` (constant compares, no
        # subtraction in front of them); the first beat holds all of the burst exactly when
        # the span is at most `bb`
        rest = Signal.like(e.rem, name="beat_rest")
        first_last = Signal(name="beat_first_last")
        m.d.comb += [rest.eq(Mux(span > bb, span - bb, 0)), first_last.eq(span <= bb)]
        m.d.comb += [e.burst.eq(burst), e.k.eq(Mux(first_last, burst.nbytes, room)),
                     e.mask.eq(BeatLanes.lanes_below(bb, room, burst.nbytes)),
                     e.last.eq(first_last),
                     e.rem.eq(rest), e.k2.eq(Mux(span >= 2 * bb, bb, rest)),
                     e.mask2.eq(Cat(span > bb + i for i in range(bb))),
                     e.last2.eq(span <= 2 * bb)]
        return e.as_value()

    @staticmethod
    def lanes_below(bus_bytes: int, *bounds):
        """``mask`` for ``k = min(bounds)``: lane ``i`` is set when ``i < k``, tested
        against each bound apart (no minimum, no carry chain after it)."""
        return Cat(functools.reduce(operator.and_, (b > i for b in bounds)) for i in range(bus_bytes))

    def __init__(self, m: Module, bus_bytes: int, entry, queue):
        """``entry``: :meth:`layout`; ``queue``: the engine's burst queue (``HeadFIFO`` of
        :meth:`queued` values, ``heads=2``, ``copy=control_bits(entry)``). ``head``: its head
        entry; from the copy: ``ready``, a burst is at its head (the copy's flag);
        ``row_end``, it ends its row vector; ``head_offset``, its first beat's first lane."""
        bb = self._bb = bus_bytes
        bits = self.control_bits(entry)
        head = self.head = data.View(entry, queue.r_data[bits:])
        self.ready = queue.c_rdy
        offset_bits = entry["burst"].shape["offset"].width
        self._offset_at = slice(2, 2 + offset_bits)      # the offset's bits in the copy
        head_last, self.row_end = queue.c_data[0], queue.c_data[1]
        self.head_offset, head_k = queue.c_data[2:2 + offset_bits], queue.c_data[2 + offset_bits:bits]
        self.first = Signal(init=1)                # the next beat is its burst's first
        self.rem = Signal(range(256 * bb + 1))     # bytes of the head burst after this beat
        self._k_next = Signal(range(bb + 1))       # k and last of a beat that is not the first
        self._mask_next = Signal(bb)
        self._last_next = Signal()
        self.offset = Mux(self.first, self.head_offset, 0)
        self.k = Signal(range(bb + 1))
        self.mask = Signal(bb)                     # lanes 0 .. k - 1
        self.last = Signal()
        m.d.comb += [self.k.eq(Mux(self.first, head_k, self._k_next)),
                     self.mask.eq(Mux(self.first, head.mask, self._mask_next)),
                     self.last.eq(Mux(self.first, head_last, self._last_next))]
        # `k` again, the first beat's from the wide head rather than the copy: for what an
        # engine counts (its `moved`, which the performance counters add up), so that logic
        # shares nothing with the copy's (timing: the 8x8 top at 0df367a --seed 4, the
        # store's `first` -> `k`'s select, merged by ABC with the counters' stored-bytes
        # input and placed by them -> a 3.64 ns route -> the W shift amount, -2.77 ns)
        self.k_counted = Signal(range(bb + 1), name="beat_k_counted")
        m.d.comb += self.k_counted.eq(Mux(self.first, head.k, self._k_next))
        self._head = head
        # what a taken beat leaves for the next: the bytes after it, and whether the next
        # beat is its burst's last (for a beat that is not the first). A later beat's `k`
        # is `min(rem, bb)` (set so from the queue's `k2` and `rem`, then from `rem`), so
        # the bytes after it, `rem - k`, are at most `bb` exactly when `rem <= 2 * bb`: a
        # compare of a register, no subtraction before it (timing: the 8x8 top at a6dd47d
        # with --seed 2, the load engine's `_k_next` -> `rem - k`'s carry chain -> the
        # compare -> `beat_ends_row`, -0.65 ns)
        self._rem_after = Signal.like(self.rem, name="rem_next")     # a later beat's: from registers
        self._last_after = Signal(name="last_after")
        m.d.comb += [self._rem_after.eq(self.rem - self._k_next),
                     self._last_after.eq(Mux(self.first, head.last2, self.rem <= 2 * bb))]
        self._next_head_bits = queue.c_next
        self._next_head_kept, self._next_head_read = queue.c_next_kept, queue.c_next_read
        self._next_head_from, self._next_head_read_at = queue.c_next_from, queue.c_next_read_at

    def advance(self, m: Module, pop) -> None:
        """The beat was taken: the next one continues the burst, or starts the next (and
        ``pop`` is asserted to release the head burst)."""
        rem = self._rem_after
        head = self._head
        m.d.sync += [self.first.eq(self.last), self._last_next.eq(self._last_after)]
        with m.If(self.first):
            m.d.sync += [self.rem.eq(head.rem), self._k_next.eq(head.k2), self._mask_next.eq(head.mask2)]
        with m.Else():
            m.d.sync += [self.rem.eq(rem), self._k_next.eq(Mux(rem < self._bb, rem, self._bb)),
                         self._mask_next.eq(self.lanes_below(self._bb, rem))]
        with m.If(self.last):
            m.d.comb += pop.eq(1)

    def restart(self, m: Module) -> None:
        m.d.sync += self.first.eq(1)

    def offset_next(self, taken, restarting) -> Value:
        """``offset`` of the next cycle's beat, whenever a burst is at the head then:
        ``taken``, this cycle's beat is taken (:meth:`advance` is called), ``restarting``,
        :meth:`restart` is. :meth:`offset_next_either`'s two values chosen by ``taken``."""
        return Mux(taken, *self.offset_next_either(restarting))

    def offset_next_either(self, restarting) -> tuple[Value, Value]:
        """:meth:`offset_next`'s value if this cycle's beat is taken and if it is not,
        ``(taken, kept)``, made before the take is known (a taken beat releases its burst
        when it is the burst's last: the copy's next head as read, ``c_next_read``, else as
        kept), so an engine can choose between what it makes of each by the take alone."""
        taken_bits = Mux(self.last, self._next_head_read, self._next_head_kept)
        return (Mux(restarting | self.last, taken_bits[self._offset_at], 0),
                Mux(restarting | self.first, self._next_head_kept[self._offset_at], 0))

    def offset_taken_choices(self) -> tuple[list[Value], Value]:
        """:meth:`offset_next_either`'s value if the beat is taken and no restart, as
        ``values[index]``: ``values`` the offsets of the queue's four sources of its next
        head (``c_next_from``) and 0, ``index`` made from ``last`` and the queue's flags.
        Once :meth:`register_last` is called, ``index`` is made from registers alone, so
        an engine can compute from each offset apart and choose last (timing: see
        ``HeadFIFO``'s ``c_next_from``)."""
        values = [self._next_head_from[k][self._offset_at] for k in range(4)] + [Const(0, len(self.head_offset))]
        return values, Mux(self.last, self._next_head_read_at, 4)

    def _last_next_value(self, m: Module, taken, restarting):
        """``last`` of the next cycle, whenever a burst is at the head then (``taken``,
        ``restarting``: as for :meth:`offset_next`): from the next values of ``first``, the
        later beat's ``last`` and the copy's next head, no other state. What
        :meth:`register_last` and :meth:`ends_row_register` load."""
        first = Signal(name="beat_first_next")       # `first`'s next value
        m.d.comb += first.eq(restarting | Mux(taken, self.last, self.first))
        last_next = Mux(taken, self._last_after, self._last_next)
        return Mux(first, self._next_head_bits[0], last_next)

    def register_last(self, m: Module, taken, restarting) -> None:
        """Make ``last`` a register from here on (every use made after this call reads it),
        equal to what it was whenever a burst is at the head (:meth:`_last_next_value`).
        So what a beat decides by its ``last`` (the next offset, the burst's release)
        starts at one flip-flop, not at the copy's select and ``first``'s (timing: the 8x8
        top at 075d98f --seed 2, the store engine's `pending` copy -> the head's `last` ->
        the next offset -> the W shift's amount -> `w_shift*`, -0.51 ns)."""
        reg = Signal(name="beat_last")
        m.d.sync += reg.eq(self._last_next_value(m, taken, restarting))
        self.last = reg

    def ends_row_register(self, m: Module, taken, restarting) -> Signal:
        """A register equal to ``last & row_end`` (the beat ends its burst and the burst its
        row vector) whenever a burst is at the head, set from ``last``'s next value
        (:meth:`_last_next_value`) and the copy's next head (``taken``, ``restarting``: as
        for :meth:`offset_next`), so an engine's decision to close a row starts at one
        flip-flop, not at the copy's select and ``first``'s (timing: the 8x8 top at 697a09b,
        the load engine's `open_a` -> the beat's take -> `last` -> the row's close -> `j_end`
        -> `open_a`, nine LUT levels, -1.38 ns)."""
        ends = Signal(name="beat_ends_row")
        m.d.sync += ends.eq(self._last_next_value(m, taken, restarting) & self._next_head_bits[1])
        return ends

