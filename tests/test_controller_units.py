"""The controller's components on their own, in Amaranth's simulator: token counters,
dispatchers, the REQUANT lane writer, run control and the performance counters. Each test
drives the component's ports with random traffic and checks it against a small model of
its contract (its docstring)."""

import functools

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw.dispatcher import Dispatcher
from systolica.hw.lane_writer import LaneWriter
from systolica.hw.perf_counters import MACS_LATENCY, PerfCounters
from systolica.hw.run_control import RunControl
from systolica.hw.tokens import CHANNELS, TokenCounters
from systolica.model.config import AcceleratorConfig
from systolica.model.csr import COUNTER_NAMES
from systolica.model.dma import DmaError
from systolica.model.isa import TOKEN_MAX, Queue, Status, token_bits

from source_mutants import mutated

CFG = AcceleratorConfig(rows=4, cols=3, spad_rows=64, acc_rows=32)


def _run(dut, bench, clock=True, watch=None):
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if watch is not None:
        sim.add_testbench(watch, background=True)
    sim.run()


#: Channels read by a dispatcher with one command in flight (load, store): in the
#: controller these are `spaced`, their `available` takes a pop a cycle late.
SPACED = tuple(c for c in CHANNELS if not c.endswith("_execute"))


@pytest.mark.parametrize("spaced", [(), SPACED])
def test_token_counters_count_reserve_and_never_overflow(spaced, seed):
    _token_bench(functools.partial(TokenCounters, spaced=spaced), seed)


def test_token_counters_spaced_bench_catches_every_channel_spaced():
    """Every channel's `available` taking the pop late: a reader popping in two cycles in
    a row sees a token that is gone."""
    changed = mutated("systolica.hw.tokens", "if name in self.spaced:", "if True:")
    with pytest.raises(AssertionError):
        _token_bench(functools.partial(changed.TokenCounters, spaced=SPACED), 1)


def test_token_counters_refuse_an_unknown_spaced_channel():
    with pytest.raises(ValueError, match="spaced=\\['load_store'\\]: allowed channels load_execute"):
        TokenCounters(spaced=["load_store"])


#: Mutants of the counters' next values, chosen by the starts' events last: a release
#: ignored beside the late pop; the pop's flag from the other choice; the pop taken by
#: the writer's side in its own cycle, not the next (room exact, the lag undone).
_TOKEN_MUTANTS = {
    "release ignored with a late pop": ("Mux(popped, Mux(rel, f(-2), f(-1))", "Mux(popped, Mux(rel, f(-1), f(-1))"),
    "available's choice swapped": ("Mux(pop, late(lambda c: above(c - 1)), late(above))",
                                   "Mux(pop, late(above), late(lambda c: above(c - 1)))"),
    "the pop not late": ("total < TOKEN_MAX - r - c)", "total - pop < TOKEN_MAX - r - c)"),
}


@pytest.mark.parametrize("mutant", sorted(_TOKEN_MUTANTS))
def test_token_counters_bench_catches_a_wrong_next_value(mutant):
    with pytest.raises(AssertionError):
        _token_bench(mutated("systolica.hw.tokens", *_TOKEN_MUTANTS[mutant]).TokenCounters, 1)


def _token_bench(counters, seed):
    rng = np.random.default_rng(seed)
    dut = counters()
    spaced = dut.spaced       # readers that never pop in two cycles in a row
    count = dict.fromkeys(CHANNELS, 0)
    reserved = dict.fromkeys(CHANNELS, 0)
    popped = dict.fromkeys(CHANNELS, 0)      # a pop reaches the room a cycle late (hw/tokens.py)
    seen_full, seen_late = set(), set()

    async def bench(ctx):
        for cycle in range(3000):
            ev = {}
            for name in CHANNELS:
                avail, room = ctx.get(getattr(dut.available, name)), ctx.get(getattr(dut.room, name))
                seen = count[name] + (popped[name] if name in spaced else 0)
                assert avail == (seen > 0) and room == (count[name] + reserved[name] + popped[name] < TOKEN_MAX), \
                    (cycle, name, count[name], reserved[name], popped[name], avail, room)
                if not room:
                    seen_full.add(name)
                    if count[name] + reserved[name] < TOKEN_MAX:
                        seen_late.add(name)
                # no pops: every channel fills up, then again after pops (a count wrong since
                # them shows at the bound)
                filling = cycle < 800 or 1600 <= cycle < 2200
                pop = avail and not filling and rng.random() < 0.6 and not (name in spaced and popped[name])
                res = room and rng.random() < (0.9 if filling else 0.5)
                done = reserved[name] > 0 and rng.random() < (0.9 if filling else 0.6)
                fail = done and rng.random() < 0.1
                ev[name] = (pop, res, done and not fail, fail)
                for port, v in zip((dut.pop, dut.reserve, dut.push, dut.release), ev[name]):
                    ctx.set(getattr(port, name), int(v))
            clear = cycle >= 2200 and rng.random() < 0.002   # never before: a clear would undo the filling
            ctx.set(dut.clear, int(clear))
            await ctx.tick()
            for name, (pop, res, push, rel) in ev.items():
                if clear:
                    count[name] = reserved[name] = popped[name] = 0
                else:
                    count[name] += push - pop
                    reserved[name] += res - push - rel
                    popped[name] = int(pop)
                assert ctx.get(dut.count[CHANNELS.index(name)]) == count[name]
    _run(dut, bench)
    assert seen_full == set(CHANNELS), f"the traffic filled only {seen_full}"
    assert seen_late == set(CHANNELS), f"a pop's late room seen only on {seen_late}"


def _entry(rng, cfg, queue, index):
    legal = [bit for bit, ch in token_bits(queue).items() if ch]
    header = {"opcode": 1, **{b: int(b in legal and rng.random() < 0.5)
                              for b in ("pop_prev", "pop_next", "push_prev", "push_next")}}
    return {"cmd": {"header": header}, "index": index}


def _dispatcher_bench(queue: Queue, in_flight: int, seed: int, dispatcher=Dispatcher):
    """Random heads, token availability and unit latency; checks the start rule, the
    token events, in-order completion, failures and busy/stall. The unit's ready is drawn
    a cycle ahead and said on ``ready_next``, as the executor does."""
    rng = np.random.default_rng(seed)
    dut = dispatcher(CFG, queue, in_flight)
    bits = {b: f"{ch[0].name.lower()}_{ch[1].name.lower()}" for b, ch in token_bits(queue).items() if ch}
    stats = {"started": 0, "failed": 0, "stalled": 0}

    async def bench(ctx):
        heads = [_entry(rng, CFG, queue, i) for i in range(300)]
        running = []                 # [entry, cycles left once handed to the unit, handed]
        held = None                  # the started command in the issue register
        h = 0
        unit_ready = 1               # (the ready register's reset value)
        for cycle in range(4000):
            head = heads[h] if h < len(heads) else None
            avail = {n: int(rng.random() < 0.7) for n in bits.values()}
            room = {n: int(rng.random() < 0.8) for n in bits.values()}
            halt = int(rng.random() < 0.05)
            for n in bits.values():
                ctx.set(getattr(dut.available, n), avail[n])
                ctx.set(getattr(dut.room, n), room[n])
            ctx.set(dut.halt, halt)
            ctx.set(dut.head.valid, int(head is not None))
            if head is not None:
                ctx.set(dut.head.payload, head)
            # the head's header is one of two (the queue's head registers), the other any
            pick = int(rng.integers(2))
            ctx.set(dut.head_pick, pick)
            ctx.set(dut.head_headers[1 - pick], _entry(rng, CFG, queue, 0)["cmd"]["header"])
            if head is not None:
                ctx.set(dut.head_headers[pick], head["cmd"]["header"])
            ready_next = int(rng.random() < 0.7)
            ctx.set(dut.issue.ready, unit_ready)
            ctx.set(dut.ready_next, ready_next)
            finish = bool(running) and running[0][2] and running[0][1] <= 0
            error = DmaError.AXI_SLVERR if finish and rng.random() < 0.1 else DmaError.OK
            ctx.set(dut.complete.valid, int(finish))
            ctx.set(dut.complete.payload.error, error)
            await ctx.delay(1e-9)
            # the start rule: the head starts into the issue register (free or being taken)
            ok = head is not None and not halt and len(running) < in_flight and all(
                (avail if b.startswith("pop") else room)[n] or not head["cmd"]["header"][b]
                for b, n in bits.items())
            assert ctx.get(dut.issue.valid) == int(held is not None), (cycle, held)
            if held is not None:
                assert ctx.get(dut.issue.payload.index) == held["index"]
            handed = held is not None and unit_ready
            started = ok and (held is None or handed)
            assert ctx.get(dut.startable) == int(head is not None and not halt and all(
                (avail if b.startswith("pop") else room)[n] or not head["cmd"]["header"][b]
                for b, n in bits.items()))
            for b, n in bits.items():
                set_ = int(started and head["cmd"]["header"][b])
                port = dut.pop if b.startswith("pop") else dut.reserve
                assert ctx.get(getattr(port, n)) == set_, (cycle, b)
            # completion of the oldest
            if finish:
                old = running[0][0]
                for b, n in bits.items():
                    if b.startswith("push"):
                        assert ctx.get(getattr(dut.push, n)) == int(old["cmd"]["header"][b] and error is DmaError.OK)
                        assert ctx.get(getattr(dut.release, n)) == int(old["cmd"]["header"][b] and error is not DmaError.OK)
                assert ctx.get(dut.failure.valid) == int(error is not DmaError.OK)
                if error is not DmaError.OK:
                    assert ctx.get(dut.failure.payload.index) == old["index"]
                    stats["failed"] += 1
            busy = ctx.get(dut.busy)
            assert busy == int(bool(running)), (cycle, running)
            assert ctx.get(dut.stall) == int(head is not None and not running and not started)
            stats["stalled"] += ctx.get(dut.stall)
            await ctx.tick()
            if finish:
                running.pop(0)
            running = [[e, t - 1 if done else t, done] for e, t, done in running]
            if handed:
                next(r for r in running if not r[2])[2] = True
                held = None
            if started:
                running.append([head, int(rng.integers(0, 6)), False])
                held = head
                h += 1
                stats["started"] += 1
            unit_ready = ready_next
        assert h > 100, "too few commands started"
    _run(dut, bench)
    assert stats["failed"] and stats["stalled"], stats


def test_load_dispatcher(seed):
    _dispatcher_bench(Queue.LOAD, 1, seed)


def test_execute_dispatcher_runs_several(seed):
    _dispatcher_bench(Queue.EXECUTE, 4, seed)


def test_store_dispatcher(seed):
    _dispatcher_bench(Queue.STORE, 1, seed)


#: Mutants of the dispatcher's "the issue register is free" register (``in_flight`` > 1):
#: set from today's issue register, not the one it loads; taken from today's unit ready;
#: its copy for the token counters' events left out of their start.
_FREE_MUTANTS = {
    "free from today's held_valid": ("kept_copies(m, ~Mux(free_now, start, held_valid) | self.ready_next",
                                     "kept_copies(m, ~held_valid | self.ready_next"),
    "free from today's ready": ("| self.ready_next, 2,", "| self.issue.ready, 2,"),
    "the events' start not waiting for free": ("room & (free if one else free_events)", "room & (free if one else 1)"),
}


@pytest.mark.parametrize("mutant", sorted(_FREE_MUTANTS))
def test_execute_dispatcher_bench_catches_a_wrong_free(mutant):
    changed = mutated("systolica.hw.dispatcher", *_FREE_MUTANTS[mutant])
    with pytest.raises(AssertionError):
        _dispatcher_bench(Queue.EXECUTE, 4, 1, changed.Dispatcher)


#: Mutants of the running queue written a cycle after the start: its room, busy and the
#: entry written (from the issue register, which holds the started command then).
_LATE_RUNNING_MUTANTS = {
    "room not counting the started command": (
        "Mux(started, room_if_started, running.level < self.in_flight)", "running.level < self.in_flight"),
    "busy without the started command": ("busy = running.r_rdy | started", "busy = running.r_rdy"),
    "the entry from the queue's head": ("new.header.eq(held.cmd.header), new.index.eq(held.index)",
                                        "new.header.eq(self.head.payload.cmd.header), "
                                        "new.index.eq(self.head.payload.index)"),
}


@pytest.mark.parametrize("mutant", sorted(_LATE_RUNNING_MUTANTS))
def test_execute_dispatcher_bench_catches_a_wrong_late_running_write(mutant):
    changed = mutated("systolica.hw.dispatcher", *_LATE_RUNNING_MUTANTS[mutant])
    with pytest.raises(AssertionError):
        _dispatcher_bench(Queue.EXECUTE, 4, 1, changed.Dispatcher)


#: The token check, or the token events, made from the other head register's header.
_PICK_MUTANTS = {
    "the start's check": ("Mux(self.head_pick, allow[1], allow[0])", "Mux(~self.head_pick, allow[1], allow[0])"),
    "the events": ("Mux(self.head_pick, wanted[1], wanted[0])", "Mux(~self.head_pick, wanted[1], wanted[0])"),
}


@pytest.mark.parametrize("mutant", sorted(_PICK_MUTANTS))
def test_execute_dispatcher_bench_catches_the_other_headers_check(mutant):
    changed = mutated("systolica.hw.dispatcher", *_PICK_MUTANTS[mutant])
    with pytest.raises(AssertionError):
        _dispatcher_bench(Queue.EXECUTE, 4, 1, changed.Dispatcher)


def test_lane_writer_bench_catches_a_late_last_lane():
    """The registered last-lane flag set one lane late: an all-lanes command writes past
    the last lane."""
    changed = mutated("systolica.hw.lane_writer", "last.eq(lane == cols - 2)", "last.eq(lane == cols - 1)")
    with pytest.raises(AssertionError):
        test_lane_writer_writes_one_or_all_lanes(1, writer=changed.LaneWriter)


def test_lane_writer_writes_one_or_all_lanes(seed, writer=LaneWriter):
    rng = np.random.default_rng(seed)
    dut = writer(CFG)

    async def bench(ctx):
        for _ in range(30):
            all_lanes = int(rng.random() < 0.5)
            lane = int(rng.integers(CFG.cols))
            shift = int(rng.integers(-31, 31))
            ctx.set(dut.cmd.valid, 1)
            ctx.set(dut.cmd.payload, {"all_lanes": all_lanes, "lane": lane, "params": {"shift": shift}})
            writes, dones = [], 0
            taken = False
            for cycle in range(40):
                ready = int(rng.random() < 0.6)
                ctx.set(dut.param.ready, ready)
                await ctx.delay(1e-9)
                if ctx.get(dut.cmd.ready) and not taken:
                    taken = True
                    await ctx.tick()
                    ctx.set(dut.cmd.valid, 0)
                    continue
                if ctx.get(dut.param.valid) and ready:
                    writes.append(ctx.get(dut.param.payload.lane))
                    assert ctx.get(dut.param.payload.p.shift) == shift
                dones += ctx.get(dut.done)
                await ctx.tick()
                if dones:
                    break
            assert writes == (list(range(CFG.cols)) if all_lanes else [lane]) and dones == 1, writes
    _run(dut, bench)


def _run_control_idle(ctx, dut):
    ctx.set(dut.fetch_quiet, 1)
    for k in range(3):
        ctx.set(dut.busy[k], 0)
        ctx.set(dut.startable[k], 0)
        ctx.set(dut.head_valid[k], 0)


def test_run_control_ranks_how_programs_end():
    _rank_programs(RunControl)


#: Mutants of ``hw/run_control.py``'s ``hold`` register and its per-queue copies, whose
#: next value is computed from this cycle's terms: a term left out makes ``hold`` lag
#: ``halt | ~running | start`` by a cycle when only that term moves.
_HOLD_MUTANTS = {
    "finish left out": ("~self.running | self.finish | self.halt", "~self.running | self.halt"),
    "a stop left out": ("| ld.valid | st.valid | self.stop\n", "| ld.valid | st.valid\n"),
    "a bus error left out": ("| ld.valid | st.valid | self.stop\n", "| self.stop\n"),
    "the copies loaded from hold, not its next value": ("kept_copies(m, hold_next,", "kept_copies(m, self.hold,"),
    "the load dispatcher's copy not hold": ("self.queue_hold[k].eq(r)", "self.queue_hold[k].eq(r & (k > 0))"),
}


@pytest.mark.parametrize("mutant", sorted(_HOLD_MUTANTS))
def test_hold_watch_catches_a_lagging_hold(mutant):
    changed = mutated("systolica.hw.run_control", *_HOLD_MUTANTS[mutant])
    with pytest.raises(AssertionError):
        _rank_programs(changed.RunControl)


def _rank_programs(run_control):
    """Five programs through ``run_control``, one per way a program ends, with ``hold``
    checked in every cycle."""
    dut = run_control(CFG)

    async def program(ctx, setup, want, index):
        ctx.set(dut.doorbell, 1)
        await ctx.tick()
        ctx.set(dut.doorbell, 0)
        assert ctx.get(dut.running) and not ctx.get(dut.done)
        await ctx.tick()
        for _ in range(3):            # busy for a while: no end
            ctx.set(dut.busy[1], 1)
            await ctx.tick()
            assert ctx.get(dut.running)
        ctx.set(dut.busy[1], 0)
        await setup(ctx)
        for cycle in range(10):
            await ctx.tick()
            if ctx.get(dut.done):
                break
        assert ctx.get(dut.done) and not ctx.get(dut.running)
        assert (Status(ctx.get(dut.status)), ctx.get(dut.index)) == (want, index)
        _run_control_idle(ctx, dut)

    async def ok(ctx):
        ctx.set(dut.fetch_stopped, 1)
        ctx.set(dut.fetch_status, Status.OK)

    async def decode_error(ctx):
        ctx.set(dut.fetch_stopped, 1)
        ctx.set(dut.fetch_status, Status.ILLEGAL_OPCODE)
        ctx.set(dut.fetch_index, 9)
        ctx.set(dut.head_valid[2], 1)                  # left over: still the decode error
        ctx.set(dut.head_index[2], 4)

    async def deadlock(ctx):
        ctx.set(dut.fetch_status, Status.OK)
        for k, i in ((0, 7), (2, 5)):
            ctx.set(dut.head_valid[k], 1)
            ctx.set(dut.head_index[k], i)

    async def bus_errors(ctx):
        ctx.set(dut.fetch_stopped, 0)
        ctx.set(dut.fetch_blocked, 0)
        for f, i in ((dut.store_failure, 12), (dut.load_failure, 3)):
            ctx.set(f.valid, 1)
            ctx.set(f.payload.index, i)
            ctx.set(f.payload.error, DmaError.AXI_DECERR)
            await ctx.tick()
            assert ctx.get(dut.halt)
            ctx.set(f.valid, 0)

    async def abort(ctx):
        ctx.set(dut.stop, 1)
        await ctx.tick()
        ctx.set(dut.stop, 0)
        assert ctx.get(dut.halt)

    async def bench(ctx):
        _run_control_idle(ctx, dut)
        await program(ctx, ok, Status.OK, 0)
        await program(ctx, decode_error, Status.ILLEGAL_OPCODE, 9)
        ctx.set(dut.fetch_stopped, 0)
        ctx.set(dut.fetch_blocked, 1)
        await program(ctx, deadlock, Status.DEADLOCK, 5)
        await program(ctx, bus_errors, Status.DMA, 3)
        assert ctx.get(dut.dma_error) == DmaError.AXI_DECERR
        await program(ctx, abort, Status.ABORTED, 0)

    held = []

    async def hold_is_one_register(ctx):
        # `hold` (a register) and each queue's copy are `halt | ~running | start` in every cycle
        async for _, _, hold, queue_hold, halt, running, start in ctx.tick().sample(
                dut.hold, dut.queue_hold, dut.halt, dut.running, dut.start):
            want = halt | (1 - running) | start
            assert hold == want, (hold, halt, running, start)
            assert list(queue_hold) == [want] * 3, (list(queue_hold), halt, running, start)
            held.append(hold)
    _run(dut, bench, watch=hold_is_one_register)
    assert 0 in held and held.count(1) > 10


def test_perf_counters_count_what_they_say(seed):
    rng = np.random.default_rng(seed)
    dut = PerfCounters(CFG)
    want = dict.fromkeys(COUNTER_NAMES, 0)
    prefix = ("load", "exec", "store")

    async def bench(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        macs = []
        for cycle in range(500):
            running = int(cycle < 450)
            ctx.set(dut.running, running)
            want["cycles"] += running
            for k, p in enumerate(prefix):
                b, s, c = (int(rng.random() < x) for x in (0.5, 0.3, 0.1))
                ctx.set(dut.busy[k], b)
                ctx.set(dut.stall[k], s)
                ctx.set(dut.completed[k], c)
                want[f"{p}_busy"] += b & running
                want[f"{p}_stall"] += s & running
                want[f"{p}_commands"] += c
            tile = rng.random() < 0.2
            t = {"count": int(rng.integers(1, 1 << 16)), "rows": int(rng.integers(1, CFG.rows + 1)),
                 "cols": int(rng.integers(1, CFG.cols + 1))}
            ctx.set(dut.tile.valid, int(tile))
            ctx.set(dut.tile.payload, t)
            if tile:
                macs.append(t["count"] * t["rows"] * t["cols"])
            ld, st = (int(rng.integers(0, CFG.bus_bytes + 1)) for _ in range(2))
            ctx.set(dut.loaded, ld)
            ctx.set(dut.stored, st)
            want["dma_bytes_loaded"] += ld
            want["dma_bytes_stored"] += st
            await ctx.tick()
        for port in (dut.tile.valid, dut.loaded, dut.stored, *(dut.completed[k] for k in range(3))):
            ctx.set(port, 0)
        for _ in range(MACS_LATENCY - 1):       # the loop's last tick was the first
            await ctx.tick()
        want["useful_macs"] = sum(macs)
        got = {name: ctx.get(getattr(dut.counters, name)) for name in COUNTER_NAMES}
        assert got == want
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert all(ctx.get(getattr(dut.counters, n)) == 0 for n in COUNTER_NAMES)
    _run(dut, bench)


def test_perf_counters_add_a_tiles_macs_after_macs_latency_cycles():
    """``useful_macs`` holds a tile's MACs exactly :data:`MACS_LATENCY` cycles after its
    start, not a cycle earlier; two tiles in consecutive cycles are both counted."""
    dut = PerfCounters(CFG)
    tiles = [{"count": 0xFFFF, "rows": CFG.rows, "cols": CFG.cols}, {"count": 3, "rows": 1, "cols": 2}]

    async def bench(ctx):
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        seen = []
        for cycle in range(MACS_LATENCY + 4):
            tile = tiles[cycle] if cycle < len(tiles) else None
            ctx.set(dut.tile.valid, int(tile is not None))
            if tile is not None:
                ctx.set(dut.tile.payload, tile)
            await ctx.tick()
            seen.append(ctx.get(dut.counters.useful_macs))
        first, second = (t["count"] * t["rows"] * t["cols"] for t in tiles)
        # seen[i] is after i + 1 ticks; tile 0 was taken at the first tick
        assert seen[:MACS_LATENCY - 1] == [0] * (MACS_LATENCY - 1)
        assert seen[MACS_LATENCY - 1] == first
        assert seen[MACS_LATENCY:] == [first + second] * 4
    _run(dut, bench)
