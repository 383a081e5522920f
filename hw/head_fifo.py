"""A FIFO whose head is a register: cycle for cycle Amaranth's ``SyncFIFO``.

``SyncFIFO``'s head is an asynchronous read of distributed RAM; on the FPGA that read
began critical paths (the controller's: queue read pointer -> RAM -> the head's token
bits -> start -> token counters; the store engine's: pending burst -> beat lanes -> row
pop). Here the head lives
in a register, loaded from the RAM behind it when the head is taken or, when nothing
waits behind it, straight from the written entry. Every write also lands in the RAM (the
head taking it steps the RAM's read pointer past it), so the RAM's write enable never
depends on the read; and it lands a cycle late, from registers (the entry is read from
them meanwhile), so that enable is a flip-flop. With ``heads=2`` the head is one of two
registers, and each loads while it is empty, so the read reaches no wide enable either.
With ``late_read`` (two heads) the read itself reaches the queue a cycle late, from a
register; the ports show the queue as if it had not (only ``level`` and ``w_rdy`` count a
read a cycle late). Otherwise, seen from the ports nothing changes:
an entry written at cycle ``t`` into an empty queue is the head at ``t + 1``, ``depth``
entries fit, and ``w_rdy``, ``r_rdy``, ``r_data`` and ``level`` equal ``SyncFIFO``'s
every cycle (``tests/test_head_fifo_sim.py`` runs both side by side).

With ``copy`` (two heads) the head's flag and its low ``copy`` bits are kept twice, the
second time in registers of their own (``c_rdy``, ``c_data``), for a consumer whose
decision reads only those bits: it can then be placed beside that consumer, away from the
wide head registers and their multiplexer. ``c_next`` is what ``c_data`` will be in the
next cycle (when ``c_rdy`` will be set), for a consumer that keeps a register of its own
made from the head's low bits. The copy's heads load the low bits of the oldest entry
behind them from a register of their own too (``c_behind_data``), never from the
storage's asynchronous read.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .copies import KEEP_APART, kept_copies

__all__ = ["HeadFIFO", "SLICE_BITS", "room_next"]


#: Bits of one slice of a queue's distributed RAM, addressed by registers of its own
#: (``HeadFIFO._storage``): 16 of the ECP5's 16 x 4 RAM cells.
SLICE_BITS = 64


def room_next(count, limit: int, add, take):
    """Whether ``count`` (at most ``limit``) is below ``limit`` in the next cycle, when it
    grows by ``add`` and shrinks by ``take`` (one bit each) now: a choice among compares
    of the register with constants, no add before them (a producer's room, kept as a
    register of its own)."""
    return Mux(add & ~take, count != limit - 1, Mux(take & ~add, 1, count != limit))


class HeadFIFO(wiring.Component):
    """First in, first out, ``depth`` entries of ``width`` bits, head in a register.

    Parameters
    ----------
    heads : 1 or 2
        Head registers. With two, ``r_data`` is a choice between them and an empty one
        loads on its own flag, so the consumer's read never enables ``width`` flip-flops
        (twice the head's flip-flops; a multiplexer level in front of the consumer).
    late_read : bool
        With two heads: the read is applied a cycle late, from a register (``taken``), so
        the consumer's read decision reaches one flip-flop and nothing of the queue's
        state in the same cycle. Meanwhile ``r_rdy`` and ``r_data`` show the entry after
        the taken one, so they still equal ``SyncFIFO``'s every cycle (a read every cycle
        is served); ``level`` counts the taken entry one cycle longer, and ``w_rdy``
        (``level != depth``) with it. Timing: with the read applied at once, the 8x8 top's
        critical path was the consumer's loop across the chip, the load queue's head
        valid -> the dispatcher's token check and start -> the same head valid (59f1543).

    copy : int
        With two heads: the low ``copy`` bits of the entry and the heads' flags are also
        kept in registers of their own, which drive only ``c_rdy`` and ``c_data`` (timing:
        the 8x8 top's path at dadd812 ran from the load queue's ``now_oldest``, which also
        selects some 400 head bits and sat among them, across 2.80 ns to the dispatcher's
        token check). Yosys does not merge them with the heads they copy: each copy's next
        values come from its own flags (``tests/test_fpga.py``).

    Attributes
    ----------
    w_data, w_en : In
        Entry to write; written when ``w_en`` and ``w_rdy``.
    w_rdy : Out(1)
        Fewer than ``depth`` entries are queued (a register).
    w_rdy_next : Out(1)
        ``w_rdy`` of the next cycle (the register's input: this cycle's level, write and
        read), for a producer that keeps a register of its own made from ``w_rdy``.
    r_data : Out(width)
        The oldest entry (a register), valid while ``r_rdy`` (otherwise any value: it is
        not reset).
    r_rdy : Out(1)
        The queue holds an entry (a register with two heads, the head's flag with one).
    r_en : In(1)
        Take the head (when ``r_rdy``).
    level : Out(range(depth + 1))
        Entries queued (with ``late_read``, and the one read in the cycle before).
    c_rdy, c_data : Out(1), Out(copy)
        With ``copy``: ``r_rdy`` and ``r_data[:copy]``, equal every cycle, from the copy.
    c_next : Out(copy)
        With ``copy``: ``c_data`` of the next cycle, whenever ``c_rdy`` is set then (the
        copy's registers as they load, through the select as it steps; no other state).
    c_next_kept, c_next_read : Out(copy)
        With ``copy``: ``c_next`` if this cycle's head is not read / is read (``c_next``
        is one of them, chosen by the read), so a consumer can make what it keeps from
        both before its read decision is known.
    c_heads, c_pick : Out(data.ArrayLayout(copy, 2)), Out(1)
        With ``copy``: the copy's two head registers and its select, ``c_data`` being
        ``c_heads[c_pick]`` every cycle, so a consumer can decide from each head before
        the select and choose last (timing: the 8x8 top at 075d98f --seed 2, the execute
        queue's ``c_now_oldest`` -> the copy's select -> the token check -> the dispatcher's
        start, the worst path).
    c_next_from, c_next_read_at, c_next_kept_at : Out(data.ArrayLayout(copy, 4)), Out(range(4)), Out(range(4))
        With ``copy``: ``c_next_read`` and ``c_next_kept`` as choices, equal to
        ``c_next_from[c_next_read_at]`` and ``c_next_from[c_next_kept_at]`` every cycle.
        The four are the copy's two head registers, its register of the oldest entry
        behind them, and ``w_data[:copy]``; the indices are made from the copy's flags and
        select alone (registers). So a consumer can compute from each value apart and
        choose last (timing: the 8x8 top at 60ad774 --seed 3, the store engine's burst
        queue's entry behind -> the copy's next head as read -> the next offset -> the W
        shift amount, nine levels, -1.32 ns).
    """

    def __init__(self, *, width: int, depth: int, heads: int = 1, late_read: bool = False, copy: int = 0):
        if depth < 1:
            raise ValueError(f"depth={depth}: allowed 1 or more")
        if heads not in (1, 2) or heads > depth:
            raise ValueError(f"heads={heads}: allowed 1, or 2 when depth >= 2")
        if late_read and heads != 2:
            raise ValueError(f"late_read=True with heads={heads}: allowed only with heads=2")
        if copy and (heads != 2 or not 0 < copy <= width):
            raise ValueError(f"copy={copy} with heads={heads}, width={width}: allowed 0, or 1..width "
                             f"with heads=2")
        self.width, self.depth, self.heads, self.late_read, self.copy = width, depth, heads, late_read, copy
        ports = {
            "w_data": In(width), "w_en": In(1), "w_rdy": Out(1), "w_rdy_next": Out(1),
            "r_data": Out(width), "r_rdy": Out(1), "r_en": In(1),
            "level": Out(range(depth + 1)),
        }
        if copy:
            ports |= {"c_rdy": Out(1), "c_data": Out(copy), "c_next": Out(copy),
                      "c_next_kept": Out(copy), "c_next_read": Out(copy),
                      "c_heads": Out(data.ArrayLayout(copy, 2)), "c_pick": Out(1),
                      "c_next_from": Out(data.ArrayLayout(copy, 4)),
                      "c_next_read_at": Out(range(4)), "c_next_kept_at": Out(range(4))}
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        level = Signal(range(self.depth + 1))
        # ``w_rdy`` (``level != depth``) is a register of its own, computed from today's
        # level beside the events that move it (timing: the producer's write decision
        # started at the level's compare; on the 8x8 top, the executor's command queues'
        # levels -> their ready -> the execute dispatcher's start -> a token counter)
        # (marked apart: a producer may keep a copy of it, from ``w_rdy_next``)
        room = Signal(name="room", init=1, attrs={KEEP_APART: 1})
        m.d.comb += [self.level.eq(level), self.w_rdy.eq(room)]
        write = self.w_en & self.w_rdy
        # (the copy's flag, equal to r_rdy: the read decision need not reach the wide heads)
        read = self.r_en & (self.c_rdy if self.copy else self.r_rdy)
        pop = read                               # the read, as the queue's state sees it
        if self.late_read:
            pop = Signal(name="taken")
            m.d.sync += pop.eq(read)
        room_now_next = room_next(level, self.depth, write, pop)
        m.d.comb += self.w_rdy_next.eq(room_now_next)
        m.d.sync += [level.eq(level + write - pop), room.eq(room_now_next)]
        # entries behind the head registers; `fill`: a head register takes the oldest of
        # them, or the entry being written when none waits
        behind = self.depth - self.heads
        fill = Signal(name="fill")
        behind_rdy, entry, (c_none, c_behind) = self._behind(m, behind, write, fill)
        arrives = behind_rdy | write
        if self.heads == 1:
            self._one_head(m, read, fill, entry, arrives)
        else:
            r_rdy, r_data, target_fill = self._two_heads(m, pop, entry, arrives, self.width, "")[:3]
            m.d.comb += [self.r_rdy.eq(r_rdy), self.r_data.eq(r_data)]
            if self.copy:
                # the same heads again, for the low bits only
                c_entry = Mux(c_none, self.w_data[:self.copy], c_behind)
                c_rdy, c_data, c_fill, (c_next, kept, read_), (c_regs, c_pick), c_valid = self._two_heads(
                    m, pop, c_entry, arrives, self.copy, "c_")
                m.d.comb += [self.c_rdy.eq(c_rdy), self.c_data.eq(c_data), self.c_next.eq(c_next),
                             self.c_next_kept.eq(kept), self.c_next_read.eq(read_),
                             self.c_heads[0].eq(c_regs[0]), self.c_heads[1].eq(c_regs[1]),
                             self.c_pick.eq(c_pick)]
                # (a head register that is empty loads the entry: the one behind, or the
                # written one when none waits)
                m.d.comb += [self.c_next_from[k].eq(v) for k, v in
                             enumerate((c_regs[0], c_regs[1], c_behind, self.w_data[:self.copy]))]
                for port, sel in ((self.c_next_kept_at, c_pick), (self.c_next_read_at, ~c_pick)):
                    m.d.comb += port.eq(Mux(Mux(sel, c_valid[1], c_valid[0]), sel, Mux(c_none, 3, 2)))
                # the storage behind the heads takes its `fill` from the copy's flags and
                # `now_oldest` (equal to the heads' every cycle), which steer only the copy's
                # few bits, not from the heads', whose flags are the enables of `width` bits
                # each and whose `now_oldest` selects them (timing: the 8x8 top at a8989be,
                # the load queue's `now_oldest` -> a 3.13 ns route -> the fill -> a 3.45 ns
                # route -> the storage's take -> `c_behind_data`, -0.49 ns)
                target_fill = c_fill
            m.d.comb += fill.eq(target_fill)
        return m

    def _one_head(self, m, read, fill, entry, arrives):
        """The head register, refilled when it is empty or taken. Its bits mean something
        only with ``head_valid``: they are not reset (a flush of the controller's queues
        touches the valid bit, the level and the pointers, not some 300 data bits) and load
        on every refill (their enable is ``fill`` alone). Timing: both tops' critical paths
        ended at this register's reset (run control's end of program -> the queues' flush)."""
        head_valid = Signal(name="head_valid")
        head = Signal(self.width, name="head", reset_less=True)
        m.d.comb += [self.r_rdy.eq(head_valid), self.r_data.eq(head), fill.eq(~head_valid | read)]
        with m.If(fill):
            m.d.sync += [head.eq(entry), head_valid.eq(arrives)]

    def _two_heads(self, m, pop, entry, arrives, width, tag):
        """Two head registers, the oldest at ``oldest``: returns ``(r_rdy, r_data, fill,
        (next_data, next_kept, next_read), (registers, select), flags)``, ``next_data`` the
        ``r_data`` of the next cycle (when ``r_rdy`` is set then), which is ``next_read``
        when the head is read this cycle and ``next_kept`` when not; ``r_data`` is
        ``registers[select]``, and ``flags`` the registers' valid flags as the ports see
        them (``next_kept`` is ``registers[select]`` when ``flags[select]``, else ``entry``).
        A head register that is empty takes ``entry`` every cycle (its clock enable is its
        own empty flag, a register: the consumer's read reaches only the flags and
        ``oldest``; timing: with one head, the read was the enable of all ``width`` head
        bits); the one that fills is the oldest's place when that is empty, else the other.

        With ``late_read``, ``pop`` is the register ``taken``: the registers' state with
        it applied (``now_oldest``, ``now_valid``) is what the ports show and what the
        fill follows, so the taken one refills at once and the other is the head.

        ``r_rdy`` (the oldest's flag as the ports show it) is a register of its own,
        ``rdy``, set from the next values of the flags and the select that it equals, so a
        consumer's read decision starts at one flip-flop, not at a select of two (timing:
        the 8x8 top at d439d8e, the store engine's `pending.head1_valid` -> the beat's make
        -> the row's pop, -3.70 ns; the load engine's `r_beats.oldest` -> the beat's take,
        -2.44 ns).

        ``tag`` prefixes the names."""
        def state(name, shape=1, reset_less=False, attrs=None):
            """A register, and the statement that sets it."""
            reg = Signal(shape, name=f"{tag}{name}", reset_less=reset_less, attrs=attrs or {})
            return reg, reg.eq

        # (the oldest flag is kept apart from the wide heads' select, `select0` below,
        # which loads the same value: both marked, or Yosys folds one into the other)
        apart = None if tag else {KEEP_APART: 1}

        valid, set_valid = zip(*(state(f"head{k}_valid") for k in range(2)))
        regs, set_regs = zip(*(state(f"head{k}", width, reset_less=True) for k in range(2)))
        rdy, set_rdy = state("rdy")
        # each register's flag once the pop is applied
        popped = [Signal(name=f"{tag}head{k}_popped") for k in range(2)]
        if self.late_read:
            # `now_oldest` is a register that the read itself toggles: the oldest once the
            # taken entry is gone (the oldest before it is `now_oldest ^ taken`). The head
            # that the taken entry leaves is never the one now_oldest names, so the ports'
            # select and flag come straight from registers (timing: with the select
            # `oldest ^ taken`, the controller alone's path at 5068777 was the load queue's
            # oldest -> that select -> the head's token bits -> a token count, 85.1 MHz).
            now_oldest, set_now_oldest = state("now_oldest", attrs=apart)
            read_now = self.r_en & rdy
            oldest_next = now_oldest ^ read_now
            m.d.sync += set_now_oldest(oldest_next)
            m.d.comb += [popped[k].eq(valid[k] & ~(pop & (now_oldest != k))) for k in range(2)]
            now_valid = popped
        else:
            oldest, set_oldest = state("oldest", attrs=apart)
            m.d.comb += [popped[k].eq(valid[k] & ~(pop & (oldest == k))) for k in range(2)]
            read_now = pop
            oldest_next = oldest ^ pop
            m.d.sync += set_oldest(oldest_next)
            now_oldest, now_valid = oldest, valid
        target = now_oldest ^ rdy                        # where the next entry goes
        fill = ~Mux(target, now_valid[1], now_valid[0])
        valid_next = [popped[k] | (fill & arrives & (target == k)) for k in range(2)]
        for k in range(2):
            with m.If(~now_valid[k]):
                m.d.sync += set_regs[k](entry)
            m.d.sync += set_valid[k](valid_next[k])
        # (with ``late_read``, next cycle's ``taken`` empties only the head that
        # ``oldest_next`` does not name, so the flag it names is the one shown)
        m.d.sync += set_rdy(Mux(oldest_next, valid_next[1], valid_next[0]))
        # (an empty head register loads the entry; a head that is shown next cycle is
        # valid then, so it holds its register or the entry it loads now)
        regs_next = [Mux(now_valid[k], regs[k], entry) for k in range(2)]
        # (`oldest_next` is `now_oldest`, or its complement when the head is read now)
        kept, read_ = (Mux(sel, regs_next[1], regs_next[0]) for sel in (now_oldest, ~now_oldest))
        # the wide heads' select is a copy of its own, loaded as `now_oldest` is, so the
        # select of `width` bits and the flags' logic can each sit where they are used
        # (timing: the 8x8 top at f2d8a39 --seed 2, the load queue's `now_oldest` -> a
        # 4.36 ns route -> the flags -> a 4.27 ns route -> `rdy`, -1.11 ns)
        select = now_oldest
        if not tag:
            select = kept_copies(m, oldest_next, 1, name="select", shape=1)[0]
        return (rdy, Mux(select, regs[1], regs[0]), fill, (Mux(read_now, read_, kept), kept, read_),
                (regs, now_oldest), now_valid)

    def _behind(self, m, behind, write, fill):
        """The storage of ``behind`` entries behind the heads: ``(ready, entry, (none,
        low))``, whether one waits and what a head takes (the oldest behind, else the one
        being written), and for the copy a flag that none waits and a register of the
        oldest's low ``copy`` bits (it takes ``low`` unless ``none``, else ``w_data``'s).
        Every write lands in it, at `wptr`, even one that goes straight into a free head:
        the head then takes the same entry, and `rptr` steps past it. So the storage's
        write enable is the write alone (`w_en` and the `level` register), never the read
        (timing: with "a write waits behind unless it goes straight into the head", a
        queue's consumer's read decision reached the storage's write enable; the 8x8 top's
        path at 046d31b: the load dispatcher's start -> the load queue's storage)."""
        if behind == 0:
            return Const(0), self.w_data, (Const(1), self.w_data[:self.copy])
        behind_level = Signal(range(behind + 1), name="behind_level")
        # whether an entry waits behind (`behind_level != 0`) is a register, set beside the
        # level from the events that move it; a second one, holding the complement,
        # chooses the entry for the heads (`width` multiplexers), so the first stays small
        # and beside the control (timing: the 8x8 top at 0e88897, 80.0 MHz: the load
        # queue's `behind_level` -> the ready -> the heads and the level, 349 endpoints late)
        behind_rdy = Signal(name="behind_rdy")
        behind_none = Signal(name="behind_none", init=1)
        behind_data = Signal(self.width, name="behind_data")
        take = fill & (behind_rdy | write)       # a head takes the oldest entry behind
        grows, shrinks = write & ~take, take & ~write
        rdy_next = Mux(grows, 1, Mux(shrinks, behind_level != 1, behind_rdy))
        m.d.sync += [behind_level.eq(behind_level + write - take),
                     behind_rdy.eq(rdy_next), behind_none.eq(~rdy_next)]
        entry = Mux(behind_none, self.w_data, behind_data)
        if behind == 1:
            # one entry behind: a register (a one-entry memory has a zero-width address,
            # which Verilator's lint rejects)
            # It loads the written entry in every cycle it may, not only with a write: while
            # no entry waits in it, and (two heads) while a head takes the one that does. A
            # write always finds one of the two (with one head, an entry waits behind only
            # when the queue is full; with two, only when both heads are valid, so either
            # the queue is full or a head was just taken and takes it now), so the slot's
            # enable is registers, never ``w_en`` (timing: the 8x8 top at 5bfa230, the load
            # engine's beat lanes -> its row end -> the placing queue's write -> the enable
            # of this slot's ~90 flip-flops, the worst path at 70.4 MHz)
            slot = Signal(self.width, name="behind_entry", reset_less=True)
            m.d.comb += behind_data.eq(slot)
            with m.If(~behind_rdy if self.heads == 1 else ~behind_rdy | fill):
                m.d.sync += slot.eq(self.w_data)
            return behind_rdy, entry, (behind_none, slot[:self.copy])
        wptr = Signal(range(behind), name="behind_wptr")
        # (a wide queue's RAM slices take copies of these three, `_storage`: kept apart from
        # them, as Yosys merges a plain register into a kept copy that loads the same value)
        apart = {KEEP_APART: 1} if self.width > SLICE_BITS else {}
        rptr = Signal(range(behind), name="behind_rptr", attrs=apart)
        rptr_step = Mux(rptr == behind - 1, 0, rptr + 1)
        rptr_next = Mux(take, rptr_step, rptr)
        # the write reaches the storage a cycle late, from registers: its write enable
        # (which fans out to every distributed-RAM slice of a wide queue) is a flip-flop
        # (timing: the 4x4 top at 046d31b, the load queue's write -> that enable's net
        # alone 5.37 ns). The entry waiting in them is read from them: `late_hit`, a
        # register set as the entry is written where the read pointer will be (timing:
        # at 0e88897 its compare, `late_addr == rptr`, led the load queue's paths into the
        # heads' 400 bits).
        late_en = Signal(name="late_en", attrs=apart)
        late_addr = Signal(range(behind), name="late_addr", reset_less=True, attrs=apart)
        late_data = Signal(self.width, name="late_data", reset_less=True)
        late_hit = Signal(name="late_hit")
        # (address and data load every cycle, meaningful only with `late_en`: no clock
        # enable fanning out from the write to `width` flip-flops either)
        m.d.sync += [late_en.eq(write), late_addr.eq(wptr), late_data.eq(self.w_data)]
        # (`wptr == rptr_next` with a write, where a head takes exactly when it fills: the
        # two compares of registers made beside each other and chosen by `fill`, so the
        # write reaches only that choice; timing: the 8x8 top at de8b1de, the store's row
        # queue's write -> the take -> `rptr`'s step -> the compare -> `late_hit`, -1.04 ns)
        m.d.sync += late_hit.eq(write & Mux(fill, wptr == rptr_step, wptr == rptr))
        stored = self._storage(m, behind, (rptr, rptr_next), (late_en, write), (late_addr, wptr), late_data)
        m.d.comb += behind_data.eq(Mux(late_hit, late_data, stored))
        with m.If(write):
            m.d.sync += wptr.eq(Mux(wptr == behind - 1, 0, wptr + 1))
        m.d.sync += rptr.eq(rptr_next)
        if not self.copy:
            return behind_rdy, entry, (behind_none, behind_data[:self.copy])
        c_data = self._copied_behind(m, behind, write, take, (wptr, rptr, rptr_step), (late_en, late_addr, late_data))
        return behind_rdy, entry, (behind_none, c_data)

    def _storage(self, m, behind, rptr, late_en, late_addr, late_data):
        """The entries behind the heads, in distributed RAM: the entry at the read pointer
        ``rptr``, written from the late registers (each of ``rptr``, ``late_en`` and
        ``late_addr`` a pair: the register and the value it loads). A wide
        queue's RAM is split into slices of :data:`SLICE_BITS`, each addressed by copies of
        the pointers and the write enable of its own (``behind_raddr``, ``behind_waddr``,
        ``behind_wen``), so no address fans out to the whole width (timing: the 8x8 top at
        36ebc1a --seed 2, the store queue's read pointer -> a 7.33 ns route -> one of its
        RAM's ~100 cells -> `head1`, -0.24 ns)."""
        slices = -(-self.width // SLICE_BITS)
        # (slice 0 from the registers themselves, the others from copies 1, 2, ..)
        raddrs = [rptr[0]] + kept_copies(m, rptr[1], slices, name="behind_raddr", shape=range(behind))[1:]
        waddrs = [late_addr[0]] + kept_copies(m, late_addr[1], slices, name="behind_waddr", shape=range(behind))[1:]
        wens = [late_en[0]] + kept_copies(m, late_en[1], slices, name="behind_wen", shape=1)[1:]
        read = []
        for k in range(slices):
            lo, hi = k * SLICE_BITS, min(self.width, (k + 1) * SLICE_BITS)
            storage = m.submodules[f"behind{k}" if slices > 1 else "behind"] = Memory(shape=hi - lo, depth=behind, init=[])
            w_port, r_port = storage.write_port(), storage.read_port(domain="comb")
            m.d.comb += [w_port.addr.eq(waddrs[k]), w_port.data.eq(late_data[lo:hi]), w_port.en.eq(wens[k]),
                         r_port.addr.eq(raddrs[k])]
            read.append(r_port.data)
        return Cat(*read)

    def _copied_behind(self, m, behind, write, take, pointers, late):
        """The low ``copy`` bits of the oldest entry behind the heads, from a register
        (``c_behind_data``) equal to ``behind_data[:copy]`` whenever an entry waits behind, so
        the copy's heads and their next values (``c_next``) start at flip-flops, not at the
        storage's asynchronous read (timing: the 8x8 top at e007b07, the store's burst
        queue's ``behind_rptr`` -> a 2.20 ns route -> its distributed RAM -> the copy's
        next head -> the first beat's lanes -> the W shift amounts, -0.98 ns, 22 endpoints).

        Its next value is the entry at the read pointer as it will be: when the pointer
        stays, the register itself unless this cycle's write lands there; when it steps,
        what a second, narrow storage (the copy bits of every entry, written as the wide
        one is) holds at the step, unless the late write or this cycle's write lands
        there. All of it from registers but the write and the take, which only choose."""
        wptr, rptr, rptr_step = pointers
        late_en, late_addr, late_data = late
        bits = self.copy
        m.submodules.c_behind = storage = Memory(shape=bits, depth=behind, init=[])
        w_port, r_port = storage.write_port(), storage.read_port(domain="comb")
        m.d.comb += [w_port.addr.eq(late_addr), w_port.data.eq(late_data[:bits]), w_port.en.eq(late_en),
                     r_port.addr.eq(rptr_step)]
        held = Signal(bits, name="c_behind_data", reset_less=True)
        at_step = Mux(late_en & (late_addr == rptr_step), late_data[:bits], r_port.data)
        stepped = Mux(write & (wptr == rptr_step), self.w_data[:bits], at_step)
        kept = Mux(write & (wptr == rptr), self.w_data[:bits], held)
        m.d.sync += held.eq(Mux(take, stepped, kept))
        return held
