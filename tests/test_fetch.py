"""The fetch unit (hw/fetch.py) in Amaranth's simulator against a small AXI4 read
subordinate with random stalls and fault ranges: it hands over exactly the commands
:func:`systolica.model.machine.fetched` says, in order, stops where and why the model
says, and keeps the AXI rules (a valid request stays valid and unchanged until accepted,
aligned 64-byte bursts inside the window, no more than FETCH_OUTSTANDING in flight)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw.fetch import FETCH_ID, FETCH_OUTSTANDING, Fetch
from systolica.model.bus import Fault, byte_fault
from systolica.model.config import AcceleratorConfig
from systolica.model.dma import DmaError
from systolica.model.isa import COMMAND_BYTES, QUEUE_OF, Queue, Status
from systolica.model.machine import fetched
from systolica.sim.commands import random_command

CFGS = [AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32, bus_bits=64),
        AcceleratorConfig(rows=2, cols=3, spad_rows=32, acc_rows=16, bus_bits=512, queue_depth=3),
        AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32, bus_bits=32, addr_bits=36)]


def _program(rng, cfg, size):
    """A DRAM image with a program of random (mostly legal) commands somewhere in it."""
    dram = bytearray(rng.integers(0, 256, size=size, dtype=np.uint8).tobytes())
    n = int(rng.integers(1, 30))
    base = int(rng.integers(0, size // COMMAND_BYTES - n)) * COMMAND_BYTES
    if rng.random() < 0.1:
        base += int(rng.integers(1, COMMAND_BYTES))
    window = (0, size)
    if rng.random() < 0.3:
        window = (max(0, base - 64 * int(rng.integers(0, 3))), base + 64 * int(rng.integers(1, n + 2)))
    legal_end = rng.random() < 0.7
    for i in range(n):
        raw = random_command(rng, cfg, window)
        if rng.random() < 0.6:                      # keep it mostly going
            raw = raw & ~0xF | int(rng.choice([1, 2, 3, 4]))
        if i == n - 1 and legal_end:
            raw = 0
        a = base + i * COMMAND_BYTES
        dram[a:a + COMMAND_BYTES] = raw.to_bytes(COMMAND_BYTES, "little")[:max(0, min(COMMAND_BYTES, size - a))]
    faults = []
    if rng.random() < 0.3:
        lo = (base // 64 + int(rng.integers(0, n + 1))) * 64
        faults.append(Fault(lo, lo + 64, DmaError.AXI_SLVERR if rng.random() < 0.5 else DmaError.AXI_DECERR))
    length = int(rng.integers(0, n + 3)) if rng.random() < 0.3 else (1 << 32) - 1
    return dram, base, window, tuple(faults), length


@pytest.mark.parametrize("cfg", CFGS, ids=lambda c: f"bus{c.bus_bits}")
def test_fetch_hands_over_what_the_model_fetches(cfg, seed):
    rng = np.random.default_rng(seed)
    bb = cfg.bus_bytes
    dut = Fetch(cfg)
    streams = {Queue.LOAD: dut.load, Queue.EXECUTE: dut.execute, Queue.STORE: dut.store}
    stops = set()

    async def one_program(ctx, dram, base, window, faults, length, halt_at):
        want, stop = fetched(cfg, dram, base, window, program_len=length, faults=faults)
        ctx.set(dut.program_base, base)
        ctx.set(dut.program_len, length)
        ctx.set(dut.window.lo, window[0])
        ctx.set(dut.window.hi, window[1])
        ctx.set(dut.axi.rvalid, 0)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        got, bursts, beats = [], [], []       # bursts: AR accepted, waiting for data
        presented = None
        for cycle in range(3000):
            halt = halt_at is not None and cycle >= halt_at
            ctx.set(dut.halt, int(halt))
            arready = int(rng.random() < 0.6)
            ctx.set(dut.axi.arready, arready)
            rvalid = bool(beats) and rng.random() < 0.7
            ctx.set(dut.axi.rvalid, int(rvalid))
            if beats:
                addr, last = beats[0]
                err = byte_fault(faults, len(dram), addr - addr % bb, addr - addr % bb + bb)
                data = 0 if err is not DmaError.OK else int.from_bytes(dram[addr:addr + bb].ljust(bb, b"\0"), "little")
                ctx.set(dut.axi.rdata, data)
                ctx.set(dut.axi.rresp, {DmaError.OK: 0, DmaError.AXI_SLVERR: 2, DmaError.AXI_DECERR: 3}[err])
                ctx.set(dut.axi.rlast, int(last))
                ctx.set(dut.axi.rid, FETCH_ID)
            ready = {q: int(rng.random() < 0.5) for q in streams}
            for q, s in streams.items():
                ctx.set(s.ready, ready[q])
            await ctx.delay(1e-9)
            # AR rules
            if ctx.get(dut.axi.arvalid):
                ar = (ctx.get(dut.axi.araddr), ctx.get(dut.axi.arlen), ctx.get(dut.axi.arsize))
                assert presented is None or presented == ar, f"AR changed before ready: {presented} -> {ar}"
                assert ar[0] % COMMAND_BYTES == 0 and (ar[1] + 1) * bb == COMMAND_BYTES and 1 << ar[2] == bb
                assert window[0] <= ar[0] and ar[0] + COMMAND_BYTES <= window[1], (ar, window)
                presented = None if arready else ar
                if arready:
                    bursts.append(ar[0])
                    beats += [(ar[0] + k * bb, k == COMMAND_BYTES // bb - 1) for k in range(COMMAND_BYTES // bb)]
            else:
                assert presented is None, "AR valid dropped before ready"
            assert ctx.get(dut.axi.rready)
            valid = [q for q, s in streams.items() if ctx.get(s.valid)]
            assert len(valid) <= 1
            for q in valid:
                if ready[q]:
                    e = ctx.get(streams[q].payload)
                    got.append((e.index, q))
            await ctx.tick()
            if rvalid:
                addr, last = beats.pop(0)
                if last:
                    bursts.pop(0)
            assert len(bursts) <= FETCH_OUTSTANDING, "too many fetch bursts in flight"
            if ctx.get(dut.stopped) and ctx.get(dut.quiet) and not beats and cycle > 3:
                break
        else:
            raise AssertionError(f"fetch never stopped and went quiet: got {got}, want {want}, stop {stop}, "
                                 f"stopped {ctx.get(dut.stopped)} quiet {ctx.get(dut.quiet)} beats {beats}")
        want_q = [(i, QUEUE_OF[c["header"]["opcode"]]) for i, c in want]
        if halt_at is None:
            assert got == want_q
            assert (ctx.get(dut.index), Status(ctx.get(dut.status))) == stop[:2]
            if stop[1] is Status.DMA:
                assert ctx.get(dut.dma_error) == stop[2]
            stops.add(stop[1])
        else:
            assert got == want_q[:len(got)], "halted fetch handed over other commands"

    async def bench(ctx):
        for k in range(25):
            program = _program(rng, cfg, 4096)
            await one_program(ctx, *program, halt_at=int(rng.integers(5, 60)) if k % 5 == 4 else None)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(stops) >= 3, stops


#: Mutants of the window's first fit (at `start`, `hi - base >= 64`): a command ending
#: exactly at the window's end refused, and the distance to the end one byte short.
_FIT_MUTANTS = {
    "a command ending at hi refused": (">= COMMAND_BYTES)]", "> COMMAND_BYTES)]"),
    "one byte short": ("to_hi_first.eq(self.window.hi - self.program_base)",
                       "to_hi_first.eq(self.window.hi - self.program_base - 1)"),
}


#: Mutants of `at_stop` (`stop_at == idx`, a register set from their next values): one
#: command early when idx does not step, as the requests end or after.
_STOP_MUTANTS = {
    "stop one early as the requests end": ('Mux(steps, same["next", "up"], same["next", "idx"])', 'same["next", "up"]'),
    "stop one early after they ended": ('Mux(steps, same["stop", "up"], same["stop", "idx"])', 'same["stop", "up"]'),
}


@pytest.mark.parametrize("mutant", sorted(_FIT_MUTANTS) + sorted(_STOP_MUTANTS))
def test_fetch_bench_catches_a_wrong_fit_or_stop(mutant, monkeypatch):
    from source_mutants import mutated

    monkeypatch.setitem(globals(), "Fetch",
                        mutated("systolica.hw.fetch", *{**_FIT_MUTANTS, **_STOP_MUTANTS}[mutant]).Fetch)
    caught = 0
    for seed in range(6):
        try:
            test_fetch_hands_over_what_the_model_fetches(CFGS[0], seed)
        except AssertionError:
            caught += 1
    assert caught, "no seed of six told the mutant from the fetch unit"
