"""cocotb bench: the generated accumulator against the golden model, bit for bit.

Every cycle the bench checks ``write.ready`` (always high), ``dma_write.ready`` and
``read.req.ready`` against the rules of :mod:`systolica.model.memory`, every read
response's ``valid`` against its latency and every response, in order, against
:class:`~systolica.model.memory.AccumulatorModel`. Offers that
are not accepted stay on their port, unchanged, until they are; the response consumer
applies random backpressure. Reads ``SYSTOLICA_CONFIG`` (JSON) and ``SYSTOLICA_SEED``;
every test prints its seed.
"""

from __future__ import annotations

from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly

from ..hw.accumulator import acc_dma_write_layout, acc_row_layout, acc_write_layout
from ..hw.scratchpad import read_request_layout
from ..model.bits import pack, unpack
from ..model.memory import (ACC_READ_LATENCY, ACC_READ_SLOTS, AccumulatorModel, acc_read_blocked, acc_read_room,
                             acc_write_source)
from .tb_common import CFG, Coverage, HotRows, next_cycle, payload, rng_for, rows_equal, signal, start

ROW, WRITE, DMA_WRITE = acc_row_layout(CFG), acc_write_layout(CFG), acc_dma_write_layout(CFG)
REQUEST = read_request_layout(CFG.acc_rows)
PER_BANK = CFG.acc_rows // CFG.acc_banks
ACC_MIN, ACC_MAX = -(1 << (CFG.acc_bits - 1)), (1 << (CFG.acc_bits - 1)) - 1


def _sums(rng) -> list[int]:
    """A row of partial sums: full-range (so accumulates wrap), extremes, or small."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return [int(v) for v in rng.integers(ACC_MIN, ACC_MAX, size=CFG.cols, endpoint=True)]
    if kind == 1:
        return [int(v) for v in rng.choice([ACC_MIN, ACC_MAX, -1, 0, 1], size=CFG.cols)]
    return [int(v) for v in rng.integers(-1000, 1000, size=CFG.cols)]


class AccumulatorBench:
    """Drives the accumulator one cycle at a time and checks it against the model."""

    def __init__(self, dut):
        self.dut = dut
        self.model = AccumulatorModel(CFG)
        self.dma_waiting: tuple[int, list[int]] | None = None
        self.read_waiting: int | None = None
        # reads accepted, not yet taken: (row, expected row, first cycle of its response)
        self.responses: deque[tuple[int, np.ndarray, int]] = deque()
        self.now = 0
        self.recent: deque[int | None] = deque([None] * 3, maxlen=3)  # rows written 1, 2, 3 cycles ago
        self.touched: set[int] = set()
        self.coverage = Coverage()

    async def start(self) -> None:
        """Reset, then overwrite every row with zeros: reset does not clear the memory, and
        an earlier test of this simulation has left rows behind."""
        await start(self.dut, {"write__valid": 0, "dma_write__valid": 0, "read__req__valid": 0,
                               "read__resp__ready": 1})
        for addr in range(CFG.acc_rows):
            await self.cycle((addr, [0] * CFG.cols, False))
        self.touched.clear()

    async def cycle(self, write=None, dma=None, read: int | None = None, resp_ready: bool = True) -> set[str]:
        """One clock cycle. ``write`` is the array's ``(addr, row, accumulate)`` or None;
        ``dma`` a new ``(addr, row)`` offer and ``read`` a new row to read (each ignored
        while an earlier one still waits). Returns the ports accepted in this cycle."""
        self.dma_waiting = self.dma_waiting or dma
        self.read_waiting = read if self.read_waiting is None else self.read_waiting
        self._drive(write, resp_ready)
        await ReadOnly()
        outstanding = len(self.responses)
        valid = bool(self.responses) and self.responses[0][2] <= self.now
        self._check_response(valid, resp_ready)
        room = acc_read_room(outstanding)
        accepted = self._check_ready(write, room)
        self._cover(accepted, write, valid, resp_ready, outstanding, room)
        if "read" in accepted:
            row = self.read_waiting
            self.responses.append((row, self.model.read(row), self.now + ACC_READ_LATENCY))
            self.read_waiting = None
        self.recent.appendleft(self._apply_write(accepted, write))
        self.now += 1
        await next_cycle(self.dut)
        return accepted

    async def drain(self) -> None:
        """Cycles without new traffic until every offer is accepted and answered."""
        while self.dma_waiting or self.read_waiting is not None or self.responses:
            await self.cycle()

    async def read_back(self, addrs, rng) -> None:
        """Read ``addrs`` back to back under random backpressure, checking each."""
        for addr in addrs:
            while self.read_waiting is not None:
                await self.cycle(resp_ready=rng.random() < 0.7)
            await self.cycle(read=addr, resp_ready=rng.random() < 0.7)
        await self.drain()

    def _drive(self, write, resp_ready: bool) -> None:
        dut = self.dut
        dut.write__valid.value = int(write is not None)
        if write is not None:
            addr, row, accumulate = write
            dut.write__payload.value = pack(WRITE, {"addr": addr, "data": row, "accumulate": accumulate})
        dut.dma_write__valid.value = int(self.dma_waiting is not None)
        if self.dma_waiting is not None:
            addr, row = self.dma_waiting
            dut.dma_write__payload.value = pack(DMA_WRITE, {"addr": addr, "data": row})
        dut.read__req__valid.value = int(self.read_waiting is not None)
        if self.read_waiting is not None:
            dut.read__req__payload.value = pack(REQUEST, {"addr": self.read_waiting})
        dut.read__resp__ready.value = int(resp_ready)

    def _check_response(self, want_valid: bool, resp_ready: bool) -> None:
        valid = signal(self.dut, "read__resp__valid")
        assert valid == want_valid, (
            f"read.resp.valid={valid}, expected {int(want_valid)} in cycle {self.now} (reads "
            f"accepted, not taken: {[(a, c - ACC_READ_LATENCY) for a, _, c in self.responses]})")
        if valid and resp_ready:
            addr, want, _ = self.responses.popleft()
            got = unpack(ROW, payload(self.dut, "read__resp__payload"))
            rows_equal(f"read response for row {addr}", got, want)

    def _check_ready(self, write, room: bool) -> set[str]:
        dut, accepted = self.dut, set()
        assert signal(dut, "write__ready") == 1, "write.ready=0: the array's write was refused"
        source = acc_write_source(write is not None, self.dma_waiting is not None)
        if source:
            accepted.add(source)
        if self.dma_waiting is not None:
            ready = signal(dut, "dma_write__ready")
            assert ready == (source == "dma_write"), (
                f"dma_write.ready={ready} with write.valid={int(write is not None)}")
        if self.read_waiting is not None:
            blocked = write is not None and acc_read_blocked(CFG, self.read_waiting, write[0], write[2])
            want = room and not blocked
            ready = signal(dut, "read__req__ready")
            assert ready == want, (
                f"read.req.ready={ready} for row {self.read_waiting}, expected {int(want)} (room for "
                f"a response: {room}, write (addr, accumulate): {write and write[::2]})")
            if want:
                accepted.add("read")
        return accepted

    def _apply_write(self, accepted: set[str], write) -> int | None:
        """Update the model with this cycle's accepted row write; returns its row."""
        if "write" in accepted:
            addr, row, accumulate = write
            if accumulate:
                total = [int(a) + b for a, b in zip(self.model.read(addr), row)]
                self.coverage["accumulate wraps"] += not all(ACC_MIN <= t <= ACC_MAX for t in total)
            self.model.write(addr, row, accumulate)
        elif "dma_write" in accepted:
            addr, row = self.dma_waiting
            self.model.write(addr, row, False)
            self.dma_waiting = None
        else:
            return None
        self.touched.add(addr)
        return addr

    def _cover(self, accepted: set[str], write, valid: bool, resp_ready: bool, outstanding: int,
               room: bool) -> None:
        cov = self.coverage
        if "write" in accepted and write[2]:
            cov["accumulate into the row written the cycle before"] += write[0] == self.recent[0]
            cov["accumulate into the row written two cycles before"] += write[0] == self.recent[1]
        cov["dma_write waits for write"] += self.dma_waiting is not None and "dma_write" not in accepted
        cov["dma_write accepted"] += "dma_write" in accepted
        cov["response held by backpressure"] += valid and not resp_ready
        if self.read_waiting is None:
            return
        cov["read waits for room"] += not room
        if "read" not in accepted and room:
            cov["read waits for an accumulate in its bank"] += 1
        if "read" in accepted:
            row = self.read_waiting
            cov["read as the previous response is taken"] += valid
            cov["read with the last slot, one response taken"] += valid and resp_ready and outstanding == ACC_READ_SLOTS - 1
            for k, when in enumerate(("the cycle before", "two cycles before", "three cycles before")):
                cov[f"read of the row written {when}"] += row == self.recent[k]
            cov["read of the row being written"] += write is not None and write[0] == row


ACC_EVENTS = [
    "accumulate into the row written the cycle before",
    "accumulate into the row written two cycles before", "accumulate wraps",
    "dma_write waits for write", "dma_write accepted", "response held by backpressure",
    "read waits for room", "read waits for an accumulate in its bank",
    "read as the previous response is taken", "read with the last slot, one response taken",
    "read of the row written the cycle before", "read of the row written two cycles before",
    "read of the row written three cycles before", "read of the row being written"]


@cocotb.test()
async def test_random_traffic_matches_model(dut):
    """All ports at once: array writes (mostly accumulates, hot rows, back to back into
    one row), DMA writes, reads with random gaps and backpressure; every ``ready`` and
    every response checked, then every touched row read back."""
    rng = rng_for("random_traffic")
    ab = AccumulatorBench(dut)
    await ab.start()
    row = HotRows(rng, CFG.acc_rows, CFG.acc_banks, hot=4)
    for _ in ab.coverage.until(ACC_EVENTS, least=1500, most=15000):
        write = (row(), _sums(rng), bool(rng.random() < 0.8)) if rng.random() < 0.6 else None
        dma = (row(), _sums(rng)) if rng.random() < 0.3 else None
        read = row() if rng.random() < 0.6 else None
        await ab.cycle(write, dma, read, resp_ready=bool(rng.random() < 0.7))
    await ab.drain()
    await ab.read_back(sorted(ab.touched), rng)
    ab.coverage.require(ACC_EVENTS)


@cocotb.test()
async def test_back_to_back_accumulates_have_no_bubble(dut):
    """Accumulating writes offered every cycle are accepted every cycle: N into one row,
    N alternating between two rows, N into random rows of bank 0 while (with two banks or
    more) ``read`` streams the last bank, accepted every cycle too."""
    rng = rng_for("no_bubble")
    ab = AccumulatorBench(dut)
    await ab.start()
    n = 32
    a, b = (int(v) for v in rng.choice(PER_BANK, size=2, replace=False))
    rows = [a] * n + [a, b] * (n // 2) + [int(v) for v in rng.integers(0, PER_BANK, size=n)]
    stream_reads = CFG.acc_banks > 1
    for k, addr in enumerate(rows):
        read = (CFG.acc_banks - 1) * PER_BANK + k % PER_BANK if stream_reads else None
        accepted = await ab.cycle((addr, _sums(rng), k > 0), read=read)
        want = {"write", "read"} if stream_reads else {"write"}
        assert accepted == want, f"cycle {k}: accepted {sorted(accepted)}, expected {sorted(want)}"
    await ab.drain()
    await ab.read_back(sorted(ab.touched), rng)
