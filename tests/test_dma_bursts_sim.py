"""The DMA's burst walker (``hw/dma_bursts.py``) alone, in Amaranth's simulator: for random
commands (contiguous runs that cross 4 KiB pages and the 256-beat limit, runs that start
where the two limits meet, gathers,
strides of either sign, unaligned bases, every element size, runs that end exactly on a
burst limit), the bursts it gives equal :func:`systolica.model.dma.bursts` in order (and
which end a row vector, and their first two beats' byte lanes, those counted byte by
byte), with
random back-pressure, commands back to back, and ``busy`` low exactly once the last burst
was taken; and mutants of the walker's ``run_done`` register are caught."""

import functools

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import dma_bursts
from systolica.model.config import AcceleratorConfig
from systolica.model.dma import TensorDescriptor, bursts, encode_command, encodable_elem_bytes

from source_mutants import mutated


def _descriptor(rng, cfg: AcceleratorConfig) -> TensorDescriptor:
    eb = int(rng.choice(encodable_elem_bytes(cfg)))
    kind = rng.integers(0, 3)
    if kind == 0:      # long contiguous rows: page and 256-beat splits
        sizes = (1, 1, int(rng.integers(1, 4)), int(rng.integers(1, 9000 // eb + 1)))
        s3 = eb
    elif kind == 1:    # gathers: one run per element
        sizes = (1, int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 6)))
        s3 = int(rng.choice([-1, 1])) * eb * int(rng.integers(2, 700))
    else:              # small rows, all four dimensions
        sizes = tuple(int(x) for x in rng.integers(1, 4, size=4))
        s3 = eb
    strides = [int(rng.integers(-5000, 5000)) for _ in range(3)] + [s3]
    # a base that keeps every element inside the address space, often near a page end
    lo = sum(min(0, s * (n - 1)) for s, n in zip(strides, sizes))
    hi = sum(max(0, s * (n - 1)) for s, n in zip(strides, sizes)) + eb
    room = (1 << cfg.addr_bits) - hi + lo
    base = int(rng.integers(0, room)) - lo
    cross = 4096 - 256 * cfg.bus_bytes      # from here on the page ends before 256 beats do
    if rng.random() < 0.5:
        page_end = (base // 4096 + 1) * 4096
        near = page_end - int(rng.integers(1, 3 * cfg.bus_bytes))
        if cross > 0 and rng.random() < 0.4:     # a bus word or two either side of `cross`
            near = page_end - 4096 + cross + int(rng.integers(-2 * cfg.bus_bytes, 2 * cfg.bus_bytes))
        if 0 <= near + lo and near + hi <= 1 << cfg.addr_bits:
            base = near
    return TensorDescriptor(base, sizes, tuple(strides), eb)


def _exact_runs(rng, cfg: AcceleratorConfig) -> TensorDescriptor:
    """Runs that end exactly where a burst limit (a 4 KiB page or 256 beats) does: each
    run is the model's first ``j`` bursts of a long run from the same address (``j`` = 1
    half the time), and every run starts at the same page offset (its strides are whole
    pages), so each of its bursts ends its run exactly when the limit does."""
    eb = int(rng.choice(encodable_elem_bytes(cfg)))
    page_off = int(rng.choice([0, int(rng.integers(0, 4096 // eb)) * eb,
                               4096 - 256 * cfg.bus_bytes if 256 * cfg.bus_bytes < 4096 else 0]))
    first = 4096 * int(rng.integers(0, 8)) + page_off
    long = bursts(cfg, TensorDescriptor(first, (1, 1, 1, 9000 // eb), (0, 0, 0, eb), eb))
    j = 1 if rng.random() < 0.5 else int(rng.integers(1, len(long) + 1))
    nbytes = sum(_burst_bytes(cfg, b) for b in long[:j])
    sizes = (1, int(rng.integers(1, 3)), int(rng.integers(1, 4)), nbytes // eb)
    pages = -(-(page_off + nbytes) // 4096)
    strides = (0, 4096 * pages * sizes[2], 4096 * pages, eb)
    return TensorDescriptor(first, sizes, strides, eb)


def _straddling_runs(rng, cfg: AcceleratorConfig) -> TensorDescriptor:
    """Runs that cross a 4 KiB page end, reached by every dimension's step: gathers whose
    first row's elements all straddle one (an element stride of whole pages, the base an
    element's width or less before a page end; the other rows at other offsets), or short rows whose start moves through the page by each
    dimension's stride, so some rows straddle a page end and the next ones may not."""
    if rng.random() < 0.5:
        eb = int(rng.choice([b for b in encodable_elem_bytes(cfg) if b > 1]))
        sizes = tuple(int(x) for x in rng.integers(1, 4, size=3)) + (int(rng.integers(2, 5)),)
        # (the elements of a row at one page offset; the rows at others)
        strides = tuple(4096 * int(x) + int(rng.integers(0, 64)) for x in rng.integers(1, 40, size=3))
        strides += (4096 * int(rng.integers(1, 40)),)
        base = 4096 * int(rng.integers(1, 8)) - int(rng.integers(1, eb))
    else:
        eb = int(rng.choice(encodable_elem_bytes(cfg)))
        sizes = tuple(int(x) for x in rng.integers(1, 4, size=3)) + (int(rng.integers(8, 400)) // eb + 1,)
        row = sizes[3] * eb
        strides = tuple(4096 * int(rng.integers(0, 3)) + int(rng.integers(1, 2 * row)) for _ in range(3)) + (eb,)
        base = 4096 * int(rng.integers(1, 8)) - int(rng.integers(1, row + 1))
    return TensorDescriptor(base, sizes, strides, eb)


def _burst_bytes(cfg: AcceleratorConfig, b) -> int:
    bb = cfg.bus_bytes
    if b.beats == 1:
        return bin(b.first_strobe).count("1")
    return bin(b.first_strobe).count("1") + (b.beats - 2) * bb + bin(b.last_strobe).count("1")


def _expected(cfg: AcceleratorConfig, desc: TensorDescriptor):
    """(addr, beats, nbytes, offset, row_end, last) of every burst, from the model
    (``row_end``: the bytes given so far are whole row vectors), and its first two beats'
    byte lanes (:func:`_beat_lanes`)."""
    todo = bursts(cfg, desc)
    sent = np.cumsum([_burst_bytes(cfg, b) for b in todo])     # bytes up to each burst's end
    row_bytes = desc.sizes[3] * desc.elem_bytes                 # one row vector's
    return [(b.addr, b.beats, _burst_bytes(cfg, b), b.addr % cfg.bus_bytes, int(sent[n] % row_bytes == 0),
             int(n == len(todo) - 1))
            + _beat_lanes(cfg.bus_bytes, b.addr % cfg.bus_bytes, _burst_bytes(cfg, b))
            for n, b in enumerate(todo)]


def _beat_lanes(bb: int, offset: int, nbytes: int):
    """(k, mask, last, rem, k2, mask2, last2): the bytes of the burst in its first beat, as
    a lane mask, whether it is the only beat, the bytes after it, and the same for the
    second beat (0 bytes and "last" when there is none), counted byte by byte."""
    beat_of = [(offset + x) // bb for x in range(nbytes)]
    k, k2 = beat_of.count(0), beat_of.count(1)
    return (k, (1 << k) - 1, int(beat_of[-1] == 0), nbytes - k, k2, (1 << k2) - 1, int(beat_of[-1] <= 1))


@pytest.mark.parametrize("bus_bits", [32, 64, 512])
@pytest.mark.parametrize("heads", [1, 2])
def test_burst_walker_matches_model(bus_bits, heads, seed):
    """Both output queues (two head registers, the load engine's; one, the store's)."""
    _compare_with_model(functools.partial(dma_bursts.BurstGen, heads=heads), bus_bits, seed)


#: Mutants of ``hw/dma_bursts.py``'s ``run_done`` register (``rem <= lim``), off by one
#: where it is set: at a command's start, after a burst inside a run, at a run's end (its
#: page and its 256-beat compare).
_MUTANTS = {
    "start_page": ("(run_bytes <= page_room0)", "(run_bytes < page_room0)"),
    "start_lane": ("(run_bytes <= lane_room0)", "(run_bytes < lane_room0)"),
    "inside_page": ("rem <= page_left)", "rem < page_left)"),
    "inside_page_end": ("rem <= page_left + AXI_PAGE_BYTES", "rem < page_left + AXI_PAGE_BYTES"),
    "inside_beats": ("(rem_m <= lim)", "(rem_m < lim)"),
    "run_end_page": ("& lane_fits[d])) <= page_k", "& lane_fits[d])) < page_k"),
    "run_end_lane": ("run_bytes <= min(AXI_PAGE_BYTES, max_bytes - lane)", "run_bytes < min(AXI_PAGE_BYTES, max_bytes - lane)"),
    "run_end_lane_any": ("lane_mask.eq(lane_mask_idle)", "lane_mask.eq(-1)"),
    "run_end_lane_first_stale": ("lane_mask_idle.bit_select(offset_of(an_first[d]), 1)",
                                 "lane_mask.bit_select(offset_of(an_first[d]), 1)"),
}


@pytest.mark.parametrize("where", sorted(_MUTANTS))
def test_run_done_mutants_are_caught(where, seed):
    """Some mutants differ only where 256 beats hold a whole page (a 512-bit bus)."""
    changed = mutated("systolica.hw.dma_bursts", *_MUTANTS[where])
    caught = []
    for bus_bits in (64, 512):
        try:
            _compare_with_model(changed.BurstGen, bus_bits, seed, exact_only=True)
        except AssertionError as e:
            caught.append(f"{bus_bits}-bit bus: {str(e)[:200]}")
    assert caught, f"mutant {where} survived on 64- and 512-bit buses"
    print(f"mutant {where} caught: {caught[0]}")


#: Mutants of the down-counted indices' flags: ``near_end`` (one step before the end) off
#: by one where a step sets it, and loaded from the wrong size flag where a restart does;
#: and of ``row_end`` (the engines' row ends): every run's end (gathers end a row only at
#: its last element), or the last element's run without its end; of how a run ends
#: (registers): a cycle late, or dimension 1 stepping by dimension 0's flag; and of the
#: burst's span registers, which the queued byte lanes start from.
_INDEX_MUTANTS = {
    "step_near": ("near_end[d].eq(left[d] == 2)", "near_end[d].eq(left[d] == 1)"),
    "restart_near": ("near_end[d].eq(size_is2[d])", "near_end[d].eq(size_is1[d])"),
    "row_end_every_run": ('row_end.eq(run_done & ~ends["elem"])', "row_end.eq(run_done)"),
    "row_end_any_burst": ('row_end.eq(run_done & ~ends["elem"])', 'row_end.eq(~ends["elem"])'),
    # how a run ends (registers from the flags' next values): taken from today's flags,
    # and dimension 1 stepping while dimension 2 has not ended; the flags' next values
    # once a run ends (`ran`): the next element restarting dimension 2, dimension 0 not
    # stepping, and dimension 1 stepping when dimension 2 does
    "run_ends_late": ("Mux(~busy_c, ends_idle[k], Mux(moves, ends_ran[k], ends_held[k]))", "ends_held[k]"),
    # the flags' own copies of the queue's room and of `run_done` stuck / not following a
    # later burst's fit (`busy`'s copy left set by the last run is not observable: the
    # queue still holds that run's burst in the next cycle, so no command starts then)
    "run_done_flags_miss_the_rest_fits": ("done_c.eq(rest_fits)", "done_c.eq(done_c)"),
    "room_flags_stuck": ("room_c.eq(outq.w_rdy_next)", "room_c.eq(1)"),
    "run_ends_dim1": ("1: ~elem & ae[2] & ~ae[1]", "1: ~elem & ae[2] & ~ae[0]"),
    "ran_elem_restarts_dim2": ("Mux(next_elem, at_end[2], Mux(ends[2]", "Mux(next_elem, size_is1[2], Mux(ends[2]"),
    "ran_dim0_held": ("at_end[0], near_end[0])", "at_end[0], at_end[0])"),
    "ran_dim1_steps_with_dim2": ("Mux(next_elem | ends[2], at_end[1],", "Mux(next_elem, at_end[1],"),
    # the span registers (offset + nbytes): a run's later burst given the burst before's
    # span, and a run's first burst (not the command's) without its address's lane
    "span_inside_run": ("span_lim.eq(cont_lim)", "span_lim.eq(span_lim)"),
    "span_next_run_lane": ("span_rem.eq(run_bytes + offset_of(new_addr))", "span_rem.eq(run_bytes)"),
}


#: Mutants of a run's first burst: whether it fits one burst, or its limits, chosen
#: without the next element's address, its page's bytes counted from its bus word, its
#: limits taken from the command's base in every run. They show only where runs cross
#: page ends, so they run on `_straddling_runs`.
_FIRST_RUN_MUTANTS = {
    "fits_not_elem": ('dims = {"elem": 3,', 'dims = {"elem": 0,'),
    "first_page_of_word": ("page = AXI_PAGE_BYTES - addr[:12]", "page = AXI_PAGE_BYTES - word"),
    "first_burst_of_base": ("firsts = [_first_burst(a, max_bytes, lanes) for a in an]",
                            "firsts = [_first_burst(self.cmd.base, max_bytes, lanes) for a in an]"),
    "first_burst_not_elem": ("firsts = [_first_burst(a, max_bytes, lanes) for a in an]",
                             "firsts = [_first_burst(a, max_bytes, lanes) for a in an[:3] + an[:1]]"),
}


@pytest.mark.parametrize("bus_bits", [32, 64, 512])
def test_runs_across_page_ends_match_the_model(bus_bits, seed):
    _compare_with_model(dma_bursts.BurstGen, bus_bits, seed, make=_straddling_runs)


@pytest.mark.parametrize("where", sorted(_FIRST_RUN_MUTANTS))
def test_first_run_mutants_are_caught(where, seed):
    changed = mutated("systolica.hw.dma_bursts", *_FIRST_RUN_MUTANTS[where])
    with pytest.raises(AssertionError):
        _compare_with_model(changed.BurstGen, 64, seed, make=_straddling_runs)


#: Mutants of ``page_rest`` (the page's bytes after the burst, a register): a later
#: burst that max_bytes limits leaving the page's bytes as they were (a 32-bit bus, whose
#: 1 KiB bursts leave more than one burst of a page), a run's first burst that its page
#: limits said to leave a byte, and a burst that ends its page taken as one that does not.
_PAGE_MUTANTS = {
    "cont_rest_unsubtracted": ("page_rest - max_bytes), 0)", "page_rest), 0)"),
    "run_rest_page_first": ('"rest": Mux(page_first, 0,', '"rest": Mux(page_first, 1,'),
    "rest_fits_page_end": ("rest_fits.eq(Mux(page_ends, rem", "rest_fits.eq(Mux(0, rem"),
}


@pytest.mark.parametrize("where, bus_bits", [(w, 64) for w in sorted(_INDEX_MUTANTS)]
                         + [(w, 32) for w in sorted(_PAGE_MUTANTS)])
def test_index_and_page_mutants_are_caught(where, bus_bits, seed):
    changed = mutated("systolica.hw.dma_bursts", *{**_INDEX_MUTANTS, **_PAGE_MUTANTS}[where])
    with pytest.raises(AssertionError):
        _compare_with_model(changed.BurstGen, bus_bits, seed)


def _compare_with_model(walker_class, bus_bits, seed, exact_only=False, make=None):
    """``make``: the descriptors' maker (else long, gathered and small rows, a quarter of
    them `_exact_runs`, or all of them with ``exact_only``)."""
    rng = np.random.default_rng(seed)
    cfg = AcceleratorConfig(rows=2, cols=2, bus_bits=bus_bits, spad_rows=64, acc_rows=32)
    dut = walker_class(cfg)
    cmds = [make(rng, cfg) if make else _exact_runs(rng, cfg) if exact_only or rng.random() < 0.25
            else _descriptor(rng, cfg) for _ in range(60)]

    async def bench(ctx):
        cycle = 0
        for n, desc in enumerate(cmds):
            want = _expected(cfg, desc)
            word = encode_command(cfg, desc, 0, store=bool(n % 2))
            assert not ctx.get(dut.busy), (n, desc)
            # the command is loaded, then started one or more cycles later (as the engines
            # do: their check takes a cycle); `cmd` holds it from the cycle after the load
            ctx.set(dut.next_cmd.as_value(), word)
            ctx.set(dut.take, 1)
            await ctx.tick()
            ctx.set(dut.take, 0)
            ctx.set(dut.next_cmd.as_value(), ~word & ((1 << len(dut.next_cmd.as_value())) - 1))
            ctx.set(dut.cmd.as_value(), word)
            for _ in range(int(rng.integers(0, 3))):
                await ctx.tick()
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            got = []
            stall = rng.choice([0.0, 0.3, 0.8])
            while len(got) < len(want):
                ready = bool(rng.random() >= stall)
                ctx.set(dut.bursts.ready, int(ready))
                assert ctx.get(dut.busy), (n, len(got), desc)
                if ready and ctx.get(dut.bursts.valid):
                    p = ctx.get(dut.bursts.payload)
                    got.append((p.burst.addr, p.burst.beats, p.burst.nbytes, p.burst.offset, p.burst.row_end,
                                p.burst.last,
                                p.k, p.mask, p.last, p.rem, p.k2, p.mask2, p.last2))
                    assert got[-1] == want[len(got) - 1], \
                        f"command {n} {desc}: burst {len(got) - 1} {got[-1]}, model {want[len(got) - 1]}"
                await ctx.tick()
                cycle += 1
                assert cycle < 200_000
            ctx.set(dut.bursts.ready, 0)
            assert not ctx.get(dut.busy) and not ctx.get(dut.bursts.valid), (n, desc)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
