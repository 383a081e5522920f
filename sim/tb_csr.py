"""cocotb bench: the CSR block over AXI4-Lite against a Python model of the register map.

The host is cocotbext-axi's ``AxiLiteMaster`` on ``axil``, with random pauses on all five
channels where a test asks for them; the bench plays the controller (``busy``, ``done``,
``error``, ``dma_error``, ``error_index``, ``counters``). :class:`MapModel` knows the map
only through :data:`systolica.model.csr.REGISTERS`. Every access checks its response
(OKAY for a register, SLVERR elsewhere), every read its value, and the outputs towards
the controller are compared with the model whenever the bus is quiet. Reads
``SYSTOLICA_CONFIG`` (JSON) and ``SYSTOLICA_SEED``; every test prints its seed.
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp
from cocotbext.axi.axil_channels import AxiLiteAWTransaction, AxiLiteWTransaction

from ..model.bits import pack
from ..model.csr import (ABORT, COUNTER_NAMES, COUNTERS_LAYOUT, CSR_ADDR_BITS, DOORBELL, IRQ_LAYOUT,
                         REGISTER, REGISTERS, STATUS_LAYOUT, Access, counter_register, offset)
from ..model.dma import DmaError
from ..model.isa import Status
from .tb_common import CFG, Coverage, rng_for, start

FULL = 0xF                                    # all four byte strobes
BY_OFFSET = {r.offset: r.name for r in REGISTERS}
COUNTER_REGS = {counter_register(c, h): i for i, c in enumerate(COUNTER_NAMES) for h in ("LO", "HI")}
PLAIN = [r.name for r in REGISTERS if r.name not in COUNTER_REGS]   # all but the counters
U64 = (1 << 64) - 1
IRQ_DONE = pack(IRQ_LAYOUT, {"done": 1})


def byte_mask(strb: int) -> int:
    return sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)


class MapModel:
    """What every register reads and every output shows, from the table and the inputs
    the bench drives. Counters are modelled as constants (the counter test steps them and
    checks the latch on its own)."""

    def __init__(self):
        self.stored = {r.name: r.reset for r in REGISTERS if r.access in (Access.RW, Access.W1C)}
        self.inputs = {"busy": 0, "done": 0, "error": Status.OK, "dma_error": DmaError.OK,
                       "error_index": 0}
        self.counters = [0] * len(COUNTER_NAMES)
        self.latches = [0] * len(COUNTER_NAMES)
        self.doorbells = 0
        self.stops = 0

    def write(self, name: str, value: int, strb: int) -> None:
        r, bm = REGISTER[name], byte_mask(strb)
        if r.access is Access.RW:
            self.stored[name] = ((self.stored[name] & ~bm) | (value & bm)) & r.mask(CFG)
        elif r.access is Access.W1C:
            self.stored[name] &= ~(value & bm)
        elif name == "CTRL":
            self.doorbells += bool(value & bm & DOORBELL and not self.inputs["busy"])
            self.stops += bool(value & bm & ABORT and self.inputs["busy"])

    def set_inputs(self, **inputs) -> None:
        if inputs.get("done") and not self.inputs["done"]:
            self.stored["IRQ_STATUS"] |= IRQ_DONE
        self.inputs.update(inputs)

    def read(self, name: str) -> int:
        r = REGISTER[name]
        if r.access in (Access.RW, Access.W1C):
            return self.stored[name]
        if r.access is Access.WO:
            return 0
        if name == "STATUS":
            return pack(STATUS_LAYOUT, {k: self.inputs[k] for k in ("busy", "done", "error", "dma_error")})
        if name == "ERROR_INDEX":
            return self.inputs["error_index"]
        if name in COUNTER_REGS:
            i = COUNTER_REGS[name]
            if name.endswith("_HI"):
                return self.latches[i]
            self.latches[i] = self.counters[i] >> 32
            return self.counters[i] & 0xFFFF_FFFF
        return r.reset                                   # ID, VERSION

    def address(self, name: str) -> int:
        return self.stored[f"{name}_LO"] | self.stored.get(f"{name}_HI", 0) << 32

    @property
    def irq(self) -> int:
        return int(bool(self.stored["IRQ_STATUS"] & self.stored["IRQ_ENABLE"] & IRQ_DONE))


class CsrBench:
    def __init__(self, dut, test: str):
        self.dut, self.rng = dut, rng_for(test)
        # before reset: cocotbext's models start on reset's falling edge
        self.host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "axil", bus_separator="__"),
                                  dut.clk, dut.rst)
        self.model = MapModel()
        self.cov = Coverage()
        self.cycle = 0
        self.doorbells = 0
        self.stops = 0
        self.steps = [0] * len(COUNTER_NAMES)           # counter i = counters[i] + cycle * steps[i]
        self.handshakes = {"aw": [], "w": []}           # cycles of each AW and W handshake
        self.waiting = {"b": None, "r": None}           # a response offered and not yet taken

    @classmethod
    async def start(cls, dut, test: str, stall: float = 0.0) -> "CsrBench":
        self = cls(dut, test)
        await start(dut, {"busy": 0, "done": 0, "error": 0, "dma_error": 0, "error_index": 0,
                          "counters": 0})
        self.set_stalls(stall)
        cocotb.start_soon(self._clocked())
        return self

    def set_stalls(self, p: float) -> None:
        """Each AXI-Lite channel pauses with its own random probability up to ``p``."""
        w, r = self.host.write_if, self.host.read_if
        for ch in (w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel):
            q = float(self.rng.uniform(0, p)) if p else 0.0
            ch.set_pause_generator(_pauses(self.rng, q) if q else None)
            ch.pause = False   # clearing a generator leaves its last value

    # -- every cycle: drive the counters, watch the handshakes ----------------------------
    def counter(self, i: int, cycle: int) -> int:
        return (self.model.counters[i] + cycle * self.steps[i]) & U64

    async def _clocked(self) -> None:
        dut = self.dut
        last_doorbell = last_stop = 0
        while True:
            await FallingEdge(dut.clk)
            self.cycle += 1
            dut.counters.value = pack(COUNTERS_LAYOUT, [self.counter(i, self.cycle)
                                                        for i in range(len(COUNTER_NAMES))])
            await ReadOnly()
            doorbell = int(dut.doorbell.value)
            assert not (doorbell and last_doorbell), f"cycle {self.cycle}: doorbell high two cycles"
            self.doorbells += doorbell
            last_doorbell = doorbell
            stop = int(dut.stop.value)
            assert not (stop and last_stop), f"cycle {self.cycle}: stop high two cycles"
            self.stops += stop
            last_stop = stop
            for ch in ("aw", "w"):
                if _sig(dut, ch, "valid") and _sig(dut, ch, "ready"):
                    self.handshakes[ch].append(self.cycle)
            self._held("b", ("bresp",))
            self._held("r", ("rdata", "rresp"))

    def _held(self, ch: str, payload: tuple[str, ...]) -> None:
        """AXI: a response, once valid, stays valid and unchanged until it is taken."""
        valid, ready = _sig(self.dut, ch, "valid"), _sig(self.dut, ch, "ready")
        value = tuple(_sig(self.dut, "", p) for p in payload)
        was = self.waiting[ch]
        assert was is None or (valid and value == was), (
            f"cycle {self.cycle}: {ch.upper()} response {was} withdrawn or changed to "
            f"{value if valid else 'not valid'} before {ch}ready")
        self.waiting[ch] = value if valid and not ready else None
        if valid and not ready:
            self.cov[f"{ch}_backpressure"] += 1

    # -- accesses: every one checks its response ------------------------------------------
    async def write(self, addr: int, value: int, strb: int = FULL) -> None:
        """Write ``value`` with byte strobes ``strb`` at byte offset ``addr`` (a register or
        not); the model follows. Contiguous strobes go through the master's own ``write``
        (at the first strobed byte's address, as a CPU's narrow store would); others
        (sparse, or none) are put on AW and W directly."""
        if _contiguous(strb):
            first, last = (strb & -strb).bit_length() - 1, strb.bit_length()
            data = value.to_bytes(4, "little")[first:last]
            resp = (await self.host.write(addr + first, data)).resp
            self.cov["write_contiguous" if strb == FULL else "write_narrow"] += 1
        else:
            resp = await self._write_strobed(addr, value, strb)
            self.cov["write_sparse" if strb else "write_no_strobe"] += 1
        _check_resp("write", addr, resp)
        if addr in BY_OFFSET:
            self.model.write(BY_OFFSET[addr], value, strb)

    async def _write_strobed(self, addr: int, value: int, strb: int) -> AxiResp:
        w = self.host.write_if
        assert w.idle(), "a strobed write must not overlap the master's own writes"
        await w.aw_channel.send(AxiLiteAWTransaction(awaddr=addr, awprot=0))
        await w.w_channel.send(AxiLiteWTransaction(wdata=value, wstrb=strb))
        return AxiResp(int((await w.b_channel.recv()).bresp))

    async def read(self, addr: int) -> int:
        r = await self.host.read(addr, 4)
        _check_resp("read", addr, r.resp)
        return int.from_bytes(r.data, "little")

    async def expect(self, name: str) -> None:
        """Read register ``name`` and compare it with the model."""
        got = await self.read(offset(name))
        want = self.model.read(name)
        assert got == want, f"{name}: read {got:#x}, the map model says {want:#x}"

    async def expect_all(self, names, concurrent: bool = False) -> None:
        if concurrent:  # several reads in flight, R backpressure meets AR
            for task in [cocotb.start_soon(self.expect(n)) for n in names]:
                await task
        else:
            for n in names:
                await self.expect(n)

    # -- the controller side --------------------------------------------------------------
    async def set_inputs(self, **inputs) -> None:
        """Drive controller outputs (after a falling edge) and let them settle a cycle."""
        await FallingEdge(self.dut.clk)
        for name, value in inputs.items():
            getattr(self.dut, name).value = int(getattr(value, "value", value))  # enums too
        self.model.set_inputs(**inputs)
        await FallingEdge(self.dut.clk)

    async def check_outputs(self) -> None:
        """After the bus has been quiet for a while: every output equals the model."""
        for _ in range(3):
            await FallingEdge(self.dut.clk)
        mdl = self.model
        want = {"program_base": mdl.address("PROGRAM_BASE"), "program_len": mdl.stored["PROGRAM_LEN"],
                "window_lo": mdl.address("WINDOW_LO"), "window_hi": mdl.address("WINDOW_HI"),
                "irq": mdl.irq}
        got = {name: int(getattr(self.dut, name).value) for name in want}
        got["doorbells"], want["doorbells"] = self.doorbells, mdl.doorbells
        got["stops"], want["stops"] = self.stops, mdl.stops
        assert got == want, f"outputs {got} != model {want}"

    def aw_w_order(self) -> None:
        """Coverage of how each write's AW and W met: AW first, W first, or together."""
        for a, w in zip(self.handshakes["aw"], self.handshakes["w"]):
            self.cov["aw_first" if a < w else "w_first" if w < a else "aw_w_together"] += 1


def _sig(dut, ch: str, name: str) -> int:
    return int(getattr(dut, f"axil__{ch}{name}").value)


def _check_resp(what: str, addr: int, resp) -> None:
    want = AxiResp.OKAY if addr in BY_OFFSET else AxiResp.SLVERR
    assert resp == want, f"{what} at {addr:#05x}: response {AxiResp(resp).name}, expected {want.name}"


def _pauses(rng, p: float):
    while True:
        yield bool(rng.random() < p)


def _random_inputs(rng) -> dict:
    return {"busy": int(rng.integers(2)), "done": int(rng.integers(2)),
            "error": Status(int(rng.choice([s.value for s in Status]))),
            "dma_error": DmaError(int(rng.choice([e.value for e in DmaError]))),
            "error_index": int(rng.integers(1 << 32))}


def _u64(rng) -> int:
    return int.from_bytes(rng.bytes(8), "little")


def _random_strobe(rng) -> int:
    """All four bytes, none, or any other strobe (narrow or sparse)."""
    r = rng.random()
    return FULL if r < 0.4 else 0 if r < 0.5 else int(rng.integers(1, FULL))


def _unmapped(rng) -> int:
    while True:
        addr = 4 * int(rng.integers(1 << (CSR_ADDR_BITS - 2)))
        if addr not in BY_OFFSET:
            return addr


def _contiguous(strb: int) -> bool:
    lanes = [i for i in range(4) if strb >> i & 1]
    return bool(lanes) and lanes == list(range(lanes[0], lanes[-1] + 1))


#: Deadlock guard: every test takes well under 50 us of simulated time.
csr_test = cocotb.test(timeout_time=200, timeout_unit="us")


# -- tests ------------------------------------------------------------------------------
@csr_test
async def test_reset_values_match_the_register_table(dut):
    tb = await CsrBench.start(dut, "reset_values")
    tb.model.counters = [_u64(tb.rng) for _ in COUNTER_NAMES]
    await tb.set_inputs()  # the constant counters reach the block
    await tb.expect_all(r.name for r in REGISTERS)   # each counter's HI right after its LO
    await tb.check_outputs()


@csr_test
async def test_random_writes_with_strobes_match_the_map_model(dut):
    """Rounds of concurrent writes to distinct registers (random values and strobes,
    unmapped offsets mixed in) and concurrent reads of every register, half of them with
    random pauses on every channel, the controller's status changing between rounds."""
    tb = await CsrBench.start(dut, "random_writes")
    rng = tb.rng
    wanted = ["aw_first", "w_first", "aw_w_together", "b_backpressure", "r_backpressure",
              "write_contiguous", "write_narrow", "write_sparse", "write_no_strobe"]
    for rnd in tb.cov.until(wanted, least=24, most=240):
        tb.set_stalls(0.6 if rnd % 2 else 0.0)
        await tb.set_inputs(**_random_inputs(rng))
        names = list(rng.choice(PLAIN, size=int(rng.integers(1, 8)), replace=False))
        writes = [(offset(n), int(rng.integers(1 << 32)), _random_strobe(rng)) for n in names]
        writes.append((_unmapped(rng), int(rng.integers(1 << 32)), FULL))
        in_flight = [w for w in writes if _contiguous(w[2])]   # the master's, all at once
        for task in [cocotb.start_soon(tb.write(*w)) for w in in_flight]:
            await task
        for w in writes:
            if w not in in_flight:                               # sparse or no strobes
                await tb.write(*w)
        await tb.expect_all(list(rng.permutation(PLAIN)), concurrent=True)
        await tb.check_outputs()
    tb.aw_w_order()
    tb.cov.require(wanted)


@csr_test
async def test_read_only_registers_ignore_writes(dut):
    tb = await CsrBench.start(dut, "read_only", stall=0.5)
    tb.model.counters = [_u64(tb.rng) for _ in COUNTER_NAMES]
    await tb.set_inputs(**_random_inputs(tb.rng))
    ro = [r.name for r in REGISTERS if r.access in (Access.RO, Access.WO) and r.name != "CTRL"]
    for name in ro:
        await tb.write(offset(name), int(tb.rng.integers(1 << 32)), _random_strobe(tb.rng))
        await tb.expect(name)
    await tb.expect_all(r.name for r in REGISTERS)
    await tb.check_outputs()


@csr_test
async def test_unmapped_offsets_answer_slverr_and_change_nothing(dut):
    tb = await CsrBench.start(dut, "unmapped", stall=0.5)
    for name in PLAIN:  # something to lose
        if REGISTER[name].access is Access.RW:
            await tb.write(offset(name), int(tb.rng.integers(1 << 32)))
    gaps = [r.offset + 4 for r in REGISTERS if r.offset + 4 not in BY_OFFSET] + [(1 << CSR_ADDR_BITS) - 4]
    for addr in gaps + [_unmapped(tb.rng) for _ in range(24)]:
        assert await tb.read(addr) == 0, f"unmapped {addr:#05x} does not read 0"
        await tb.write(addr, int(tb.rng.integers(1 << 32)), _random_strobe(tb.rng))
    await tb.expect_all(r.name for r in REGISTERS)
    await tb.check_outputs()


@csr_test
async def test_doorbell_pulses_once_per_write_unless_busy(dut):
    """CTRL writes with bit 0 set ring exactly once (one cycle); bit 0 clear, byte 0 not
    strobed, or busy high ring nothing; bit 1 (abort) pulses ``stop`` only while busy;
    CTRL reads 0."""
    tb = await CsrBench.start(dut, "doorbell", stall=0.5)
    rng = tb.rng
    wanted = ["rang", "ignored_busy", "ignored", "stopped", "not_stopped"]
    # "stopped" is about 1 write in 10: a fixed 40 missed it for about 1 seed in 60
    for _ in tb.cov.until(wanted, least=40, most=400):
        busy = int(rng.random() < 0.3)
        if busy != tb.model.inputs["busy"]:
            await tb.set_inputs(busy=busy)
        value, strb = int(rng.integers(1 << 32)) | int(rng.random() < 0.7), _random_strobe(rng)
        before = tb.model.doorbells
        await tb.write(offset("CTRL"), value, strb)
        rang = tb.model.doorbells - before
        tb.cov["rang" if rang else "ignored_busy" if busy and value & strb & 1 else "ignored"] += 1
        tb.cov["stopped" if busy and value & strb & ABORT else "not_stopped"] += 1
        await tb.check_outputs()
    await tb.expect("CTRL")
    tb.cov.require(wanted)


@csr_test
async def test_irq_set_on_done_edge_cleared_by_w1c_and_masked(dut):
    tb = await CsrBench.start(dut, "irq", stall=0.5)

    async def step(**inputs):
        if inputs:
            await tb.set_inputs(**inputs)
        await tb.expect_all(["IRQ_STATUS", "IRQ_ENABLE", "STATUS"])
        await tb.check_outputs()

    irq_status, irq_enable = offset("IRQ_STATUS"), offset("IRQ_ENABLE")
    await step(done=1)                                     # edge: pending, masked
    assert tb.model.read("IRQ_STATUS") == IRQ_DONE and tb.model.irq == 0
    await tb.write(irq_enable, 1)
    await step()                                           # unmasked: irq
    await tb.write(irq_status, 0)
    await tb.write(irq_status, 0xFFFF_FFFF, strb=0b1110)   # byte 0 not strobed
    await step()                                           # still pending
    await tb.write(irq_status, IRQ_DONE)
    await step()                                           # cleared; done stays high: no edge
    await step(done=0)
    await step(done=1)                                     # a new edge: pending again
    await tb.write(irq_enable, 0)
    await step()                                           # masked, still pending
    await tb.write(irq_enable, 0xFFFF_FFFF)
    await step()
    await tb.write(irq_status, 0xFFFF_FFFF)
    await step()
    assert tb.model.irq == 0 and tb.model.read("IRQ_ENABLE") == IRQ_DONE
    await step(done=0)
    tb.set_stalls(0.0)
    edge = cocotb.start_soon(done_rises_as_the_next_write_applies(dut))
    await tb.write(irq_status, IRQ_DONE)                   # the clear meets a done edge:
    await edge
    tb.model.set_inputs(done=1)                            # the set wins
    await step()
    assert tb.model.irq == 1


async def done_rises_as_the_next_write_applies(dut) -> None:
    """Raise ``done`` so that its rising edge is seen in the cycle the next write applies:
    AW and W are taken at one clock edge (no pauses), the write applies in the cycle after."""
    while True:
        await FallingEdge(dut.clk)
        await ReadOnly()
        if all(_sig(dut, ch, "valid") and _sig(dut, ch, "ready") for ch in ("aw", "w")):
            break
    await FallingEdge(dut.clk)
    dut.done.value = 1


@csr_test
async def test_64bit_counter_reads_are_consistent_while_counting(dut):
    """Every counter moves every cycle by a large step (its low half carries into its high
    half every few cycles); LO then HI, in random order over all counters, each HI paired
    with the latest LO read of its counter, must be the counter's exact 64-bit value in
    one cycle during that LO read. HI before any LO read gives the reset latch, 0."""
    tb = await CsrBench.start(dut, "counters", stall=0.4)
    rng = tb.rng
    tb.model.counters = [_u64(rng) for _ in COUNTER_NAMES]
    tb.steps = [int(rng.integers(1 << 28, 1 << 31)) for _ in COUNTER_NAMES]
    tb.model.counters[0] = (-tb.steps[0] * 300) & U64        # wraps past 2^64 during the test
    last_lo: dict[int, tuple[int, int, int]] = {}              # counter -> (lo, first, last cycle)
    wanted = ["consistent_pair", "high_half_moved_since_lo", "hi_before_lo"]
    for _ in tb.cov.until(wanted, least=240, most=2400):
        i = int(rng.integers(len(COUNTER_NAMES)))
        half = "HI" if i in last_lo and rng.random() < 0.5 else str(rng.choice(["LO", "HI"]))
        name = counter_register(COUNTER_NAMES[i], half)
        c0 = tb.cycle
        value = await tb.read(offset(name))
        c1 = tb.cycle
        if half == "LO":
            last_lo[i] = (value, c0, c1)
            continue
        if i not in last_lo:
            assert value == 0, f"{name} before any LO read: {value:#x}, expected 0"
            tb.cov["hi_before_lo"] += 1
            continue
        lo, first, last = last_lo[i]
        full = lo | value << 32
        during = [tb.counter(i, c) for c in range(first, last + 1)]
        assert full in during, (f"{name}: LO {lo:#x} then HI {value:#x} = {full:#x} is no value "
                                f"the counter had during the LO read (cycles {first}..{last}: "
                                f"{[hex(v) for v in during]})")
        tb.cov["consistent_pair"] += 1
        if value != tb.counter(i, c1) >> 32:
            tb.cov["high_half_moved_since_lo"] += 1
    tb.cov.require(wanted)
