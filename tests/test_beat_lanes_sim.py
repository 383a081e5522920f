"""``BeatLanes`` on its own, in Amaranth's simulator: random bursts through a burst queue,
random beat takes, and every cycle the head beat's lanes (``offset``, ``k``, ``mask``,
``last``, also as ``register_last`` makes it) against a byte-by-byte model of the burst,
``ends_row_register`` against ``last & row_end``, and the next-value helpers
(``offset_next``, and through it ``offset_next_either``, and ``offset_taken_choices``)
against the next cycle's ``offset``. The engines' suites (``tests/test_dma_rtl.py``) see
these only through whole transfers; here a wrong "next beat is the last" or a wrong next
offset fails at the cycle it happens."""

import numpy as np
import pytest
from amaranth.hdl import Array, Module, Signal
from amaranth.sim import Simulator

from systolica.hw import beat_lanes
from systolica.hw.dma_bursts import burst_layout
from systolica.model.config import AcceleratorConfig

from source_mutants import mutated


def _bench(module, bus_bits: int, seed: int, registered_last: bool = False):
    cfg = AcceleratorConfig(rows=2, cols=2, bus_bits=bus_bits)
    bb = cfg.bus_bytes
    BeatLanes = module.BeatLanes
    layout = BeatLanes.layout(burst_layout(cfg), bb)
    m = Module()
    burst = Signal(burst_layout(cfg))
    span = Signal(range(256 * bb + bb))
    w_valid, take, restart = Signal(), Signal(), Signal()
    e = Signal(layout)
    m.d.comb += [span.eq(burst.offset + burst.nbytes), e.eq(BeatLanes.entry(m, burst, span, bb))]
    m.submodules.queue = queue = BeatLanes.queue(layout, 4)
    m.d.comb += [queue.w_en.eq(w_valid), queue.w_data.eq(BeatLanes.queued(e))]
    lanes = BeatLanes(m, bb, layout, queue)
    taken = Signal()
    m.d.comb += taken.eq(take & lanes.ready)
    if registered_last:
        lanes.register_last(m, taken, restart)
    ends_row = lanes.ends_row_register(m, taken, restart)
    o_next = lanes.offset_next(taken, restart)
    offsets, at = lanes.offset_taken_choices()
    o_taken = Signal.like(o_next)
    m.d.comb += o_taken.eq(Array(offsets)[at])
    with m.If(taken):
        lanes.advance(m, queue.r_en)
    with m.If(restart):
        lanes.restart(m)
    rng = np.random.default_rng(seed)
    seen = {"beats": 0, "rem_2bb": 0, "restarts": 0}

    def new_burst():
        offset = int(rng.integers(0, bb))
        beats = int(rng.choice([1, 2, 3, 4, 5, 1, 2, 3, 4, 5, int(rng.integers(1, 257))]))
        low = max(1, (beats - 1) * bb - offset + 1)       # the burst needs `beats` beats
        nbytes = int(rng.integers(low, beats * bb - offset + 1))
        return {"offset": offset, "nbytes": nbytes, "row_end": int(rng.integers(0, 2))}

    def beats_of(b):
        """(offset, k, last) of each beat, byte by byte."""
        beat = [(b["offset"] + x) // bb for x in range(b["nbytes"])]
        n = beat[-1] + 1
        return [(b["offset"] if j == 0 else 0, beat.count(j), int(j == n - 1)) for j in range(n)]

    async def bench(ctx):
        queued, beat = [], 0             # the model's bursts (head first), the head's beat
        said_next = None                 # offset_next of the cycle before
        for cycle in range(3000):
            b = new_burst()
            filling = (cycle // 250) % 2 == 0           # fill, then let the queue drain
            write = rng.random() < (0.4 if filling else 0.02) and ctx.get(queue.w_rdy)
            tk = rng.random() < 0.6
            rs = not queued and not write and rng.random() < 0.1
            ctx.set(burst.offset, b["offset"])
            ctx.set(burst.nbytes, b["nbytes"])
            ctx.set(burst.row_end, b["row_end"])
            ctx.set(burst.beats, len(beats_of(b)))
            ctx.set(w_valid, write)
            ctx.set(take, tk)
            ctx.set(restart, rs)
            await ctx.delay(1e-9)
            ready = ctx.get(lanes.ready)
            assert ready == int(bool(queued)), cycle
            if queued:
                offset, k, last = beats_of(queued[0])[beat]
                got = [ctx.get(x) for x in (lanes.offset, lanes.k, lanes.mask, lanes.last, ends_row)]
                assert got == [offset, k, (1 << k) - 1, last, last & queued[0]["row_end"]], (cycle, got, queued[0], beat)
                assert ctx.get(lanes.k_counted) == k, cycle    # (the first beat's from the wide head)
                if said_next is not None:
                    assert offset == said_next, (cycle, offset, said_next)
                seen["rem_2bb"] += beat > 0 and sum(x[1] for x in beats_of(queued[0])[beat:]) == 2 * bb
            said_next = ctx.get(o_next)
            if ready and tk and not rs:          # the same next offset, as a choice
                assert ctx.get(o_taken) == said_next, (cycle, ctx.get(o_taken), said_next)
            await ctx.tick()
            if ready and tk:
                seen["beats"] += 1
                if beat == len(beats_of(queued[0])) - 1:
                    queued.pop(0)
                    beat = 0
                else:
                    beat += 1
            if write:
                queued.append(b)
            seen["restarts"] += rs
        assert all(seen.values()), seen

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("registered_last", [False, True])
@pytest.mark.parametrize("bus_bits", [32, 64])
def test_beat_lanes_match_the_bursts(bus_bits, registered_last, seed):
    _bench(beat_lanes, bus_bits, seed, registered_last)


#: Mutants the bench must catch: a later beat's "the next is the last" off by one; the
#: first beat's ``k`` in the copy's bits taken from the second beat's; the
#: next offset if taken read from the kept head, or without the taken beat's `last`; the
#: registered ``last`` (benched with it) from the kept head's bits (not the copy's next
#: head), or from the later beat's ``last`` as it is (not as the take leaves it).
_MUTANTS = {
    "last_after off by one": ("head.last2, self.rem <= 2 * bb))", "head.last2, self.rem < 2 * bb))", False),
    "first beat's k copied as the second's": ("entry.burst.offset, entry.k, entry.as_value())",
                                               "entry.burst.offset, entry.k2, entry.as_value())", False),
    "taken offset from the kept head": ("Mux(self.last, self._next_head_read, self._next_head_kept)",
                                        "Mux(0, self._next_head_read, self._next_head_kept)", False),
    "taken offset not after a last beat": ("Mux(restarting | self.last, taken_bits[self._offset_at], 0)",
                                           "Mux(restarting | self.first, taken_bits[self._offset_at], 0)", False),
    "registered last from the kept head": ("reg.eq(self._last_next_value(m, taken, restarting))",
                                           "reg.eq(Mux(self.first, self._next_head_kept[0], self._last_next))",
                                           True),
    "registered last, later beat's not stepped": (
        "reg.eq(self._last_next_value(m, taken, restarting))",
        "reg.eq(Mux(restarting | Mux(taken, self.last, self.first), self._next_head_bits[0], self._last_next))",
        True),
}


@pytest.mark.parametrize("mutant", sorted(_MUTANTS))
def test_beat_lanes_bench_catches_a_wrong_beat(mutant):
    old, new, registered_last = _MUTANTS[mutant]
    with pytest.raises(AssertionError):
        _bench(mutated("systolica.hw.beat_lanes", old, new), 64, 1, registered_last)
