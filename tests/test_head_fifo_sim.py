"""``hw/head_fifo.py`` against Amaranth's ``SyncFIFO``, side by side in the simulator:
the same random writes, reads and flushes (a synchronous reset, as the controller's
queues get), and every cycle the same ``w_rdy``, ``r_rdy``, ``level`` and head. With
``late_read`` the ``level`` is the reference's plus the entry read in the cycle before,
``w_rdy`` is ``level != depth`` (so the reference is offered only the writes ours can
take), and ``r_rdy`` and the head are the same."""

import functools

import numpy as np
import pytest
from amaranth.hdl import Module, ResetInserter, Signal
from amaranth.lib.fifo import SyncFIFO
from amaranth.sim import Simulator

from systolica.hw.head_fifo import SLICE_BITS, HeadFIFO

from source_mutants import mutated


@pytest.mark.parametrize("depth", [1, 2, 3, 8])
def test_head_fifo_is_a_sync_fifo(depth, seed):
    _compare_with_sync_fifo(HeadFIFO, depth, seed)


@pytest.mark.parametrize("depth", [2, 3, 4, 8])
def test_two_head_fifo_is_a_sync_fifo(depth, seed):
    _compare_with_sync_fifo(functools.partial(HeadFIFO, heads=2), depth, seed)


@pytest.mark.parametrize("depth", [2, 3, 4, 8])
def test_late_read_fifo_is_a_sync_fifo(depth, seed):
    _compare_with_sync_fifo(functools.partial(HeadFIFO, heads=2, late_read=True), depth, seed)


@pytest.mark.parametrize("kind", [{}, {"heads": 2}, {"heads": 2, "late_read": True, "copy": 5}])
def test_wide_fifo_in_ram_slices_is_a_sync_fifo(kind, seed):
    """A queue wider than :data:`SLICE_BITS` keeps its entries in slices of RAM, each with
    its own copies of the pointers: still a SyncFIFO (three slices, the last a part)."""
    _compare_with_sync_fifo(functools.partial(HeadFIFO, **kind), 8, seed, width=2 * SLICE_BITS + 7)


def test_wide_fifo_comparison_catches_a_wrong_slice():
    """A slice that stores the entry's first bits, not its own."""
    changed = mutated("systolica.hw.head_fifo", "w_port.data.eq(late_data[lo:hi])", "w_port.data.eq(late_data[:hi - lo])")
    _compare_with_sync_fifo(HeadFIFO, 8, 1, width=2 * SLICE_BITS + 7)
    with pytest.raises(AssertionError):
        _compare_with_sync_fifo(changed.HeadFIFO, 8, 1, width=2 * SLICE_BITS + 7)


@pytest.mark.parametrize("depth", [2, 3, 8])
@pytest.mark.parametrize("late_read", [False, True])
def test_copied_head_bits_equal_the_head(depth, late_read, seed):
    """``copy``: the flag and the low bits again, from registers of their own, equal to
    ``r_rdy`` and ``r_data``'s low bits every cycle (and the queue still a SyncFIFO);
    ``c_next`` is the next cycle's ``c_data`` whenever the copy shows a head then."""
    _compare_with_sync_fifo(functools.partial(HeadFIFO, heads=2, late_read=late_read, copy=5), depth, seed)


def test_copy_needs_two_heads_and_fits_the_entry():
    for kw in ({"heads": 1, "copy": 4}, {"heads": 2, "copy": 13}):
        with pytest.raises(ValueError, match=f"copy={kw['copy']} with heads={kw['heads']}, width=12: "
                                             f"allowed 0, or 1..width with heads=2"):
            HeadFIFO(width=12, depth=4, **kw)


def test_late_read_needs_two_heads():
    with pytest.raises(ValueError, match="late_read=True with heads=1: allowed only with heads=2"):
        HeadFIFO(width=8, depth=4, late_read=True)


#: Mutants of ``hw/head_fifo.py`` the comparison must catch, with the head registers they
#: concern: the entry that waits in the late-write registers read from the storage (which
#: does not hold it yet), the storage's read pointer not stepped past an entry a head
#: takes as it is written, an entry put into the head register that is not the free
#: one, ``w_rdy``'s register not following a write that fills the queue or a read
#: that frees it, its next value (``w_rdy_next``) not the one it takes, the registered
#: late hit computed from the read pointer before the read or as if a head always filled,
#: the registered "an entry waits behind" not cleared when the last one leaves, its copy
#: that selects the entry never saying "none", and the copy of the head's low bits
#: taking other bits or starting full, its register of the oldest entry behind the heads
#: missing a write where it is or where it steps to (this cycle's or the late one), read
#: where it is rather than where it steps to, or never stepping, and its next head (``c_next``) read through the
#: select before it steps or never taken from the entry an empty head loads, and its next
#: head if read (``c_next_read``) through the select as it is, and the indices that choose
#: them among their sources (``c_next_read_at``) taking the kept head's select, or the
#: entry behind even when none waits.
_MUTANTS = {
    "late entry read from the storage": (1, "late_hit.eq(write & Mux(fill, wptr == rptr_step, wptr == rptr))",
                                         "late_hit.eq(0)"),
    "late hit as if a head always filled": ("late", "Mux(fill, wptr == rptr_step, wptr == rptr)",
                                            "Mux(1, wptr == rptr_step, wptr == rptr)"),
    "read pointer not stepped past a straight write": (1, "take = fill & (behind_rdy | write)",
                                                       "take = fill & behind_rdy"),
    "two heads: the late entry read from the storage": (2, "late_hit.eq(write & Mux(fill, wptr == rptr_step, wptr == rptr))",
                                                        "late_hit.eq(0)"),
    "late hit a cycle early": ("late", "late_hit.eq(write & Mux(fill, wptr == rptr_step, wptr == rptr))",
                               "late_hit.eq(write & (wptr == rptr))"),
    "behind_rdy's register kept when the last entry behind leaves": (
        "late", "Mux(shrinks, behind_level != 1, behind_rdy)", "Mux(shrinks, 1, behind_rdy)"),
    "the entry's select copy never empty": ("late", "behind_none.eq(~rdy_next)", "behind_none.eq(0)"),
    "two heads: always filling the other one": (2, "target = now_oldest ^ rdy", "target = ~now_oldest"),
    "two heads: rdy set from the select before the read": (
        2, "set_rdy(Mux(oldest_next, valid_next[1], valid_next[0]))",
        "set_rdy(Mux(oldest, valid_next[1], valid_next[0]))"),
    "late read: rdy set from the select before the read": (
        "late", "set_rdy(Mux(oldest_next, valid_next[1], valid_next[0]))",
        "set_rdy(Mux(now_oldest, valid_next[1], valid_next[0]))"),
    "late read: the taken entry shown again": ("late", "read_now = self.r_en & rdy", "read_now = pop"),
    "late read: the taken register refilled a cycle later": ("late", "with m.If(~now_valid[k]):",
                                                             "with m.If(~valid[k]):"),
    "w_rdy's register misses a write that fills the queue": (1, "Mux(add & ~take, count != limit - 1,",
                                                             "Mux(add & ~take, 1,"),
    "late read: w_rdy's register misses the taken entry": ("late", "Mux(take & ~add, 1,", "Mux(take & ~add, 0,"),
    "w_rdy_next is not the register's input": (2, "self.w_rdy_next.eq(room_now_next)", "self.w_rdy_next.eq(room)"),
    "copy: other bits copied": ("copy", "Mux(c_none, self.w_data[:self.copy], c_behind)",
                                "Mux(c_none, self.w_data[1:self.copy + 1], c_behind)"),
    "copy: the entry behind misses a write where it is": (
        "copy", "kept = Mux(write & (wptr == rptr), self.w_data[:bits], held)", "kept = held"),
    "copy: the entry behind misses a write where it steps to": (
        "copy", "stepped = Mux(write & (wptr == rptr_step), self.w_data[:bits], at_step)", "stepped = at_step"),
    "copy: the entry behind misses the late write where it steps to": (
        "copy", "at_step = Mux(late_en & (late_addr == rptr_step), late_data[:bits], r_port.data)",
        "at_step = r_port.data"),
    "copy: the entry behind read where it is, not where it steps to": (
        "copy", "r_port.addr.eq(rptr_step)]", "r_port.addr.eq(rptr)]"),
    "copy: the entry behind never steps": ("copy", "held.eq(Mux(take, stepped, kept))", "held.eq(kept)"),
    "copy: its flags reset to 1": ("copy", 'reg = Signal(shape, name=f"{tag}{name}", reset_less=reset_less,',
                                   'reg = Signal(shape, name=f"{tag}{name}", reset_less=reset_less, '
                                   'init=int(bool(tag) and not reset_less),'),
    # (the DMA engines' burst queues: a copy with the read applied at once)
    "copy, read at once: other bits copied": ("copy_now", "Mux(c_none, self.w_data[:self.copy], c_behind)",
                                              "Mux(c_none, self.w_data[:self.copy], c_behind[::-1])"),
    "copy, read at once: the entry behind never steps": ("copy_now", "held.eq(Mux(take, stepped, kept))",
                                                         "held.eq(kept)"),
    "copy, read at once: its select never steps": ("copy_now", "oldest_next = oldest ^ pop",
                                                    "oldest_next = oldest ^ (pop & ~bool(tag))"),
    "next head through today's select": ("copy_now", "(Mux(read_now, read_, kept), kept, read_)",
                                         "(Mux(0, read_, kept), kept, read_)"),
    "next head if read through today's select": ("copy", "for sel in (now_oldest, ~now_oldest))",
                                                 "for sel in (now_oldest, now_oldest))"),
    "next head never the entry": ("copy", "regs_next = [Mux(now_valid[k], regs[k], entry)",
                                  "regs_next = [Mux(1, regs[k], entry)"),
    "next head if read chosen at the kept head": ("copy_now", "(self.c_next_read_at, ~c_pick)",
                                                  "(self.c_next_read_at, c_pick)"),
    "next head chosen at the entry behind when none waits": ("copy_now", "sel, Mux(c_none, 3, 2)))",
                                                             "sel, 2))"),
}
_KINDS = {1: {"heads": 1}, 2: {"heads": 2}, "late": {"heads": 2, "late_read": True},
          "copy": {"heads": 2, "late_read": True, "copy": 5}, "copy_now": {"heads": 2, "copy": 5}}


@pytest.mark.parametrize("depth", [4, 8])            # (storage behind the heads: a memory)
@pytest.mark.parametrize("mutant", sorted(_MUTANTS))
def test_comparison_catches_a_wrong_head_fifo(mutant, depth):
    kind, old, new = _MUTANTS[mutant]
    _compare_with_sync_fifo(functools.partial(HeadFIFO, **_KINDS[kind]), depth, seed=1)   # the real one passes
    changed = mutated("systolica.hw.head_fifo", old, new)
    with pytest.raises(AssertionError):
        _compare_with_sync_fifo(functools.partial(changed.HeadFIFO, **_KINDS[kind]), depth, seed=1)


#: Mutants of the one-entry slot behind the heads (``depth - heads == 1``), which loads
#: without the write: loaded in every cycle (over an entry that waits), and, with two
#: heads, not loaded while a head takes the entry that waits (the write that comes then;
#: with ``late_read`` no write comes then, as ``level`` still counts the taken entry).
_SLOT_MUTANTS = {
    "slot loaded every cycle": ((1, 2), "m.If(~behind_rdy if self.heads == 1 else ~behind_rdy | fill)",
                                "m.If(1)"),
    "two heads: slot held while a head takes its entry": (
        (2,), "m.If(~behind_rdy if self.heads == 1 else ~behind_rdy | fill)", "m.If(~behind_rdy)"),
}


@pytest.mark.parametrize("mutant", sorted(_SLOT_MUTANTS))
def test_comparison_catches_a_wrong_slot(mutant):
    kinds, old, new = _SLOT_MUTANTS[mutant]
    changed = mutated("systolica.hw.head_fifo", old, new)
    for kind in kinds:
        depth = 1 + _KINDS[kind]["heads"]
        _compare_with_sync_fifo(functools.partial(HeadFIFO, **_KINDS[kind]), depth, seed=1)
        with pytest.raises(AssertionError):
            _compare_with_sync_fifo(functools.partial(changed.HeadFIFO, **_KINDS[kind]), depth, seed=1)


def _compare_with_sync_fifo(fifo_class, depth, seed, width=12):
    rng = np.random.default_rng(seed)
    m = Module()
    flush = Signal()
    m.submodules.ours = ours = ResetInserter(flush)(fifo_class(width=width, depth=depth))
    m.submodules.ref = ref = ResetInserter(flush)(SyncFIFO(width=width, depth=depth))
    late = ours.late_read
    seen = {"full": 0, "empty_write": 0, "read_write": 0}

    async def bench(ctx):
        read_before = 0
        c_next = None                            # the copy's next head, as said a cycle before
        rdy_next = None                          # w_rdy_next, as said a cycle before
        for cycle in range(4000):
            phase = (cycle // 300) % 3           # fill up, drain, mixed
            w_en = rng.random() < (0.8, 0.2, 0.5)[phase]
            r_en = rng.random() < (0.2, 0.8, 0.5)[phase]
            data = int.from_bytes(rng.bytes((width + 7) // 8), "little") & ((1 << width) - 1)
            fl = rng.random() < 0.005
            room = ctx.get(ours.w_rdy)
            ctx.set(ours.w_en, w_en)
            ctx.set(ref.w_en, w_en and (room or not late))    # late_read: only what ours takes
            for dut in (ours, ref):
                ctx.set(dut.w_data, data)
                ctx.set(dut.r_en, r_en)
            ctx.set(flush, fl)
            got = [ctx.get(x) for x in (ours.w_rdy, ours.r_rdy, ours.level)]
            want = [ctx.get(x) for x in (ref.w_rdy, ref.r_rdy, ref.level)]
            if late:
                want[0] = want[2] + read_before != depth
                want[2] += read_before
                assert not room or ctx.get(ref.w_rdy), cycle
            assert got == want, (cycle, got, want)
            assert rdy_next is None or got[0] == rdy_next, cycle
            if want[1]:
                assert ctx.get(ours.r_data) == ctx.get(ref.r_data), cycle
            if getattr(ours, "copy", 0):
                assert ctx.get(ours.c_rdy) == want[1], cycle
                assert ctx.get(ours.c_data) == ctx.get(ours.c_heads[ctx.get(ours.c_pick)]), cycle
                if want[1]:
                    assert ctx.get(ours.c_data) == ctx.get(ref.r_data) % (1 << ours.copy), cycle
                    assert c_next is None or ctx.get(ours.c_data) == c_next, cycle
                c_next = None if fl else ctx.get(ours.c_next)
                read = r_en and want[1]
                assert ctx.get(ours.c_next) == ctx.get(ours.c_next_read if read else ours.c_next_kept), cycle
                for value, at in ((ours.c_next_read, ours.c_next_read_at), (ours.c_next_kept, ours.c_next_kept_at)):
                    assert ctx.get(value) == ctx.get(ours.c_next_from[ctx.get(at)]), cycle
            seen["full"] += not want[0]
            seen["empty_write"] += w_en and not want[1]
            seen["read_write"] += w_en and r_en and want[0] and want[1]
            read_before = r_en and want[1] and not fl
            rdy_next = None if fl else ctx.get(ours.w_rdy_next)
            await ctx.tick()
        if depth == 1:                           # one entry: never room and a head at once
            del seen["read_write"]
        assert all(seen.values()), seen

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
