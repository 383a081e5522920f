"""The board's AXI4 subordinate RAM (hw/axi_ram.py) in Amaranth's simulator.

Random bursts -- FIXED, INCR, WRAP, narrow sizes, random strobes, random stalls on every
channel, reads and writes concurrently -- and illegal ones (outside the RAM, an INCR
burst over 4 KiB, a bad WRAP length or alignment, a size over the bus, burst type 3) are
checked beat by beat against the AXI4 specification's own address formulas (A3.4.1 of
the AMBA AXI protocol specification), written out here independently of the RTL.
"""

from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw.axi import AxiResp
from systolica.hw.axi_ram import AxiRam

FIXED, INCR, WRAP = 0, 1, 2


def spec_beat_addresses(start: int, length: int, size: int, burst: int) -> list[int]:
    """Address_N of every beat, as the AXI4 specification writes them."""
    number_bytes, burst_length = 1 << size, length + 1
    aligned = (start // number_bytes) * number_bytes
    if burst == FIXED:
        return [start] * burst_length
    addrs = [start]
    if burst == INCR:
        return addrs + [aligned + (n - 1) * number_bytes for n in range(2, burst_length + 1)]
    wrap_boundary = (start // (number_bytes * burst_length)) * (number_bytes * burst_length)
    addr = start
    for _ in range(1, burst_length):
        addr = aligned + number_bytes if addr == start else addr + number_bytes
        aligned = addr
        if addr == wrap_boundary + number_bytes * burst_length:
            addr = aligned = wrap_boundary
        addrs.append(addr)
    return addrs


def spec_legal(start: int, length: int, size: int, burst: int, ram_bytes: int, bus_bytes: int) -> bool:
    number_bytes = 1 << size
    if number_bytes > bus_bytes or burst == 3:
        return False
    if burst == WRAP and (length + 1 not in (2, 4, 8, 16) or start % number_bytes):
        return False
    transferred = set()     # a beat moves the bytes from its address to the end of its container
    for a in spec_beat_addresses(start, length, size, burst):
        transferred.update(range(a, a // number_bytes * number_bytes + number_bytes))
    lo, hi = min(transferred), max(transferred)
    if burst == INCR and lo // 4096 != hi // 4096:
        return False
    return hi < ram_bytes


@dataclass
class Burst:
    write: bool
    addr: int
    len: int
    size: int
    burst: int
    id: int
    data: list      # write: (wdata, wstrb) per beat


def random_burst(rng, ram_bytes: int, bus_bytes: int, write: bool) -> Burst:
    bus_log2 = bus_bytes.bit_length() - 1
    kind = rng.random()
    size = int(rng.integers(0, bus_log2 + 1))
    burst = int(rng.choice([FIXED, INCR, INCR, WRAP]))
    length = int(rng.choice([1, 3, 7, 15])) if burst == WRAP else int(rng.integers(0, 16))
    addr = int(rng.integers(0, ram_bytes))
    if burst == WRAP:
        addr -= addr % (1 << size)
    if kind < 0.05:
        addr = ram_bytes - int(rng.integers(0, 64))          # runs off the end
    elif kind < 0.10:
        burst, addr = INCR, 4096 - int(rng.integers(1, 64))  # crosses 4 KiB (maybe)
    elif kind < 0.13:
        size = bus_log2 + 1                                   # wider than the bus
    elif kind < 0.15:
        burst = 3
    elif kind < 0.18:
        burst, length = WRAP, int(rng.choice([2, 5, 9]))      # bad WRAP length
    elif kind < 0.22:
        length = int(rng.integers(16, 256))                   # long burst
    data = [(int.from_bytes(rng.bytes(bus_bytes), "little"), int(rng.integers(0, 1 << bus_bytes)))
            for _ in range(length + 1)] if write else []
    return Burst(write, addr, length, size, burst, int(rng.integers(0, 2)), data)


class RamModel:
    def __init__(self, ram_bytes: int, bus_bytes: int):
        self.mem = bytearray(ram_bytes)
        self.bus = bus_bytes

    def legal(self, b: Burst) -> bool:
        return spec_legal(b.addr, b.len, b.size, b.burst, len(self.mem), self.bus)

    def write(self, b: Burst) -> None:
        if not self.legal(b):
            return
        for a, (wdata, wstrb) in zip(spec_beat_addresses(b.addr, b.len, b.size, b.burst), b.data):
            base = a // self.bus * self.bus
            for lane in range(self.bus):
                if wstrb >> lane & 1:
                    self.mem[base + lane] = wdata >> (8 * lane) & 0xFF

    def read(self, b: Burst) -> list[int]:
        if not self.legal(b):
            return [0] * (b.len + 1)
        return [int.from_bytes(self.mem[a // self.bus * self.bus:][:self.bus], "little")
                for a in spec_beat_addresses(b.addr, b.len, b.size, b.burst)]


def test_spec_formulas_on_the_specifications_examples():
    # WRAP, 4 beats of 4 bytes from 0x34 wraps at 0x40 back to 0x30 (the spec's wrap rule)
    assert spec_beat_addresses(0x34, 3, 2, WRAP) == [0x34, 0x38, 0x3C, 0x30]
    # unaligned INCR: the first beat at the start, the rest aligned
    assert spec_beat_addresses(0x07, 2, 2, INCR) == [0x07, 0x08, 0x0C]
    assert spec_beat_addresses(0x10, 3, 1, FIXED) == [0x10] * 4


def _run(ram_bytes: int, bus_bits: int, bursts: list[Burst], seed: int, stall: float):
    dut = AxiRam(32, bus_bits, ram_bytes)
    axi = dut.axi
    model = RamModel(ram_bytes, bus_bits // 8)
    rng = np.random.default_rng(seed)
    log = {"order": [], "reads": [], "writes": []}
    reads = [b for b in bursts if not b.write]
    writes = [b for b in bursts if b.write]

    async def pause(ctx):
        while rng.random() < stall:
            await ctx.tick()

    async def issue(ctx, prefix: str, b: Burst):
        await pause(ctx)
        for name, value in (("id", b.id), ("addr", b.addr), ("len", b.len), ("size", b.size),
                            ("burst", b.burst)):
            port = getattr(axi, prefix + name)
            ctx.set(port.as_value() if hasattr(port, "as_value") else port, value)  # burst 3 is no AxiBurst
        ctx.set(getattr(axi, prefix + "valid"), 1)
        await ctx.tick().until(getattr(axi, prefix + "ready"))
        ctx.set(getattr(axi, prefix + "valid"), 0)
        # the RAM serves one burst at a time in acceptance order: the model follows it
        if b.write:
            model.write(b)
        else:
            log["expected"] = model.read(b)

    async def reader(ctx):
        for b in reads:
            await issue(ctx, "ar", b)
            want, got = log["expected"], []
            while len(got) < b.len + 1:
                ready = int(rng.random() >= stall)
                ctx.set(axi.rready, ready)
                _, _, valid, data, resp, last, rid = await ctx.tick().sample(
                    axi.rvalid, axi.rdata, axi.rresp, axi.rlast, axi.rid)
                if valid and ready:
                    got.append(data)
                    assert rid == b.id
                    assert last == (len(got) == b.len + 1), (b, len(got))
                    assert resp == (AxiResp.OKAY if model.legal(b) else AxiResp.SLVERR), b
            ctx.set(axi.rready, 0)
            assert got == want, f"read {b}: got {[hex(v) for v in got]} want {[hex(v) for v in want]}"
            log["reads"].append(b)

    async def writer(ctx):
        for b in writes:
            await issue(ctx, "aw", b)
            for k, (wdata, wstrb) in enumerate(b.data):
                await pause(ctx)
                ctx.set(axi.wdata, wdata)
                ctx.set(axi.wstrb, wstrb)
                ctx.set(axi.wlast, k == b.len)
                ctx.set(axi.wvalid, 1)
                await ctx.tick().until(axi.wready)
                ctx.set(axi.wvalid, 0)
            while True:
                ready = int(rng.random() >= stall)
                ctx.set(axi.bready, ready)
                _, _, valid, resp, bid = await ctx.tick().sample(axi.bvalid, axi.bresp, axi.bid)
                if valid and ready:
                    break
            ctx.set(axi.bready, 0)
            assert bid == b.id
            assert resp == (AxiResp.OKAY if model.legal(b) else AxiResp.SLVERR), b
            log["writes"].append(b)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(reader)
    sim.add_testbench(writer)
    sim.run()
    assert len(log["reads"]) == len(reads) and len(log["writes"]) == len(writes)
    return model


@pytest.mark.parametrize("bus_bits, ram_bytes", [(64, 8192), (32, 4096), (128, 8192)])
def test_random_bursts_follow_the_axi_specification(bus_bits, ram_bytes, seed):
    rng = np.random.default_rng(seed)
    bursts = [random_burst(rng, ram_bytes, bus_bits // 8, bool(rng.integers(0, 2))) for _ in range(150)]
    kinds = {(b.burst, spec_legal(b.addr, b.len, b.size, b.burst, ram_bytes, bus_bits // 8)) for b in bursts}
    assert {(FIXED, True), (INCR, True), (WRAP, True), (INCR, False)} <= kinds, kinds
    _run(ram_bytes, bus_bits, bursts, seed, stall=0.3)


async def _start_read(ctx, axi, addr: int, length: int) -> None:
    """An INCR read burst of full-width beats, RREADY high."""
    ctx.set(axi.rready, 1)
    for name, value in (("araddr", addr), ("arlen", length), ("arsize", 3), ("arburst", INCR)):
        ctx.set(getattr(axi, name), value)
    ctx.set(axi.arvalid, 1)
    await ctx.tick().until(axi.arready)
    ctx.set(axi.arvalid, 0)


def test_reads_stream_one_beat_per_cycle():
    """With RREADY always high a 16-beat burst takes 16 consecutive cycles of RVALID."""
    dut = AxiRam(32, 64, 4096)
    axi = dut.axi

    async def tb(ctx):
        await _start_read(ctx, axi, 0x100, 15)
        trace = []
        for _ in range(24):
            _, _, valid = await ctx.tick().sample(axi.rvalid)
            trace.append(valid)
        first = trace.index(1)
        assert trace[first:first + 16] == [1] * 16 and not any(trace[first + 16:]), trace

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()


def test_host_port_bytes_meet_axi_words():
    dut = AxiRam(32, 64, 4096)
    axi, host = dut.axi, dut.host

    async def tb(ctx):
        for k, byte in enumerate(b"systolic"):
            ctx.set(host.addr, 0x208 + k)
            ctx.set(host.wdata, byte)
            ctx.set(host.we, 1)
            await ctx.tick()
            ctx.set(host.we, 0)
            await ctx.tick().until(host.done)
        ctx.set(host.addr, 0x20B)
        ctx.set(host.re, 1)
        await ctx.tick()
        ctx.set(host.re, 0)
        rdata, = await ctx.tick().sample(host.rdata).until(host.done)
        assert rdata == ord("t")
        await _start_read(ctx, axi, 0x208, 0)
        while True:
            _, _, valid, data = await ctx.tick().sample(axi.rvalid, axi.rdata)
            if valid:
                break
        assert data.to_bytes(8, "little") == b"systolic"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
