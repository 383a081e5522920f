"""cocotb bench: the generated scratchpad against the golden model, bit for bit.

Every cycle the bench checks each read port's ``ready`` against the arbitration rule of
:func:`systolica.model.memory.spad_read_grants`, each response (valid exactly
:data:`~systolica.hw.scratchpad.READ_LATENCY` cycles after acceptance, for one cycle)
against :class:`~systolica.model.memory.ScratchpadModel`, and that the DMA write is
never refused. A request that is not accepted stays on its port, unchanged,
until it is. Reads ``SYSTOLICA_CONFIG`` (JSON) and ``SYSTOLICA_SEED``; every test prints
its seed.
"""

from __future__ import annotations

from collections import deque

import cocotb
import numpy as np
from cocotb.triggers import ReadOnly

from ..hw.scratchpad import READ_LATENCY, read_request_layout, spad_row_layout, spad_write_layout
from ..model.bits import pack, unpack
from ..model.memory import SPAD_READERS, ScratchpadModel, bank_of, spad_read_grants
from .tb_common import CFG, Coverage, HotRows, next_cycle, payload, rng_for, rows_equal, signal, start

ROW, WRITE, REQUEST = spad_row_layout(CFG), spad_write_layout(CFG), read_request_layout(CFG.spad_rows)
PER_BANK = CFG.spad_rows // CFG.spad_banks
ALL_BYTES = (1 << CFG.spad_row_bytes) - 1


def _bank(addr: int) -> int:
    return bank_of(addr, CFG.spad_rows, CFG.spad_banks)


def _random_row(rng) -> np.ndarray:
    return rng.integers(-128, 128, size=CFG.spad_row_elems)


def _random_mask(rng) -> int:
    return ALL_BYTES if rng.random() < 0.3 else int(rng.integers(0, ALL_BYTES + 1))


class ScratchpadBench:
    """Drives the scratchpad one cycle at a time and checks it against the model."""

    def __init__(self, dut):
        self.dut = dut
        self.model = ScratchpadModel(CFG)
        self.waiting: dict[str, int] = {}                 # offered, not yet accepted
        # reads in flight, the ones due this cycle first: reader -> (row, expected row)
        self.flight: deque[dict[str, tuple[int, np.ndarray]]] = deque({} for _ in range(READ_LATENCY))
        self.last_write: int | None = None                # row written the cycle before
        self.written: set[int] = set()
        self.coverage = Coverage()

    async def start(self) -> None:
        """Reset, then write zeros to every row: reset does not clear the memory, and an
        earlier test of this simulation has left rows behind."""
        idle = {f"{r}__req__valid": 0 for r in SPAD_READERS}
        await start(self.dut, {**idle, "write__valid": 0})
        for addr in range(CFG.spad_rows):
            await self.cycle({}, (addr, np.zeros(CFG.spad_row_elems, dtype=np.int64), ALL_BYTES))
        self.written.clear()

    async def cycle(self, offers: dict[str, int], write=None) -> set[str]:
        """One clock cycle. ``offers`` are new read requests (reader -> row); a reader whose
        request is still waiting keeps that one. ``write`` is ``(addr, row, mask)`` or None.
        Returns the readers accepted in this cycle."""
        for reader, addr in offers.items():
            self.waiting.setdefault(reader, addr)
        self._drive(write)
        await ReadOnly()
        self._check_responses()
        granted = self._check_ready(write)
        self._cover(granted, write)
        self.flight.popleft()
        self.flight.append({r: (self.waiting[r], self.model.read(self.waiting.pop(r))) for r in granted})
        self.last_write = None
        if write is not None:
            self.model.write(*write)
            self.written.add(write[0])
            self.last_write = write[0]
        await next_cycle(self.dut)
        return granted

    async def drain(self) -> None:
        """Cycles without new traffic until every request is accepted and answered."""
        while self.waiting or any(self.flight):
            await self.cycle({})

    async def read_back(self, addrs) -> None:
        """Read ``addrs`` through all read ports (bank conflicts included), checking each."""
        queue = list(addrs)
        while queue:
            free = [r for r in SPAD_READERS if r not in self.waiting]
            await self.cycle({r: queue.pop() for r in free[:len(queue)]})
        await self.drain()

    def _drive(self, write) -> None:
        dut = self.dut
        for reader in SPAD_READERS:
            valid = reader in self.waiting
            getattr(dut, f"{reader}__req__valid").value = int(valid)
            if valid:
                getattr(dut, f"{reader}__req__payload").value = pack(REQUEST, {"addr": self.waiting[reader]})
        dut.write__valid.value = int(write is not None)
        if write is not None:
            addr, row, mask = write
            dut.write__payload.value = pack(WRITE, {"addr": addr, "data": row, "mask": mask})

    def _check_responses(self) -> None:
        due = self.flight[0]
        for reader in SPAD_READERS:
            valid = signal(self.dut, f"{reader}__resp__valid")
            assert valid == (reader in due), (
                f"{reader}.resp.valid={valid}, expected {int(reader in due)} (valid for one "
                f"cycle, {READ_LATENCY} after acceptance)")
            if valid:
                addr, want = due[reader]
                got = unpack(ROW, payload(self.dut, f"{reader}__resp__payload"))
                rows_equal(f"{reader} response for row {addr}", got, want)

    def _check_ready(self, write) -> set[str]:
        granted = spad_read_grants(CFG, self.waiting)
        for reader, addr in self.waiting.items():
            ready = signal(self.dut, f"{reader}__req__ready")
            assert ready == (reader in granted), (
                f"{reader}.req.ready={ready} for row {addr} (bank {_bank(addr)}), expected "
                f"{int(reader in granted)} with requests {self.waiting}")
        if write is not None:
            assert signal(self.dut, "write__ready") == 1, "write.ready=0: the DMA write was refused"
        return granted

    def _cover(self, granted: set[str], write) -> None:
        cov, rows = self.coverage, [self.waiting[r] for r in granted]
        for reader in set(self.waiting) - granted:
            cov[f"{reader} waits"] += 1
        cov["reads to different banks in one cycle"] += len(granted) >= 2
        cov["three reads in one cycle"] += len(granted) == 3
        cov["read of the row written the cycle before"] += self.last_write in rows
        if write is not None:
            cov["read of the row being written"] += write[0] in rows
            cov["read and write in one bank"] += _bank(write[0]) in map(_bank, rows)


@cocotb.test()
async def test_random_traffic_matches_model(dut):
    """All ports at once with random gaps: bank conflicts, same-row reads and writes,
    byte masks; every response and every ``ready`` checked, then every written row."""
    rng = rng_for("random_traffic")
    sp = ScratchpadBench(dut)
    await sp.start()
    row = HotRows(rng, CFG.spad_rows, CFG.spad_banks)
    required = ["read_b waits", "read_dma waits", "read of the row being written",
                "read of the row written the cycle before", "read and write in one bank"]
    if CFG.spad_banks > 1:
        required.append("reads to different banks in one cycle")
    if CFG.spad_banks > 2:
        required.append("three reads in one cycle")
    for _ in sp.coverage.until(required, least=1500, most=15000):
        offers = {r: row() for r in SPAD_READERS if rng.random() < 0.6}
        write = (row(), _random_row(rng), _random_mask(rng)) if rng.random() < 0.6 else None
        await sp.cycle(offers, write)
    await sp.drain()
    await sp.read_back(sorted(sp.written))
    sp.coverage.require(required)


@cocotb.test()
async def test_dma_fills_one_bank_while_readers_stream_others_every_cycle(dut):
    """After a fill, the DMA writes consecutive rows of bank 0 while ``read_a`` streams the
    last bank (and ``read_b``, ``read_dma`` the banks below it, as far as there are banks):
    every port is accepted in every cycle. With one bank ``read_a`` streams the rows being
    written and gets the old data."""
    rng = rng_for("streams")
    sp = ScratchpadBench(dut)
    await sp.start()
    for addr in range(CFG.spad_rows):   # fill: one row per cycle
        await sp.cycle({}, (addr, _random_row(rng), ALL_BYTES))
    readers = SPAD_READERS[:CFG.spad_banks]
    for k in range(2 * PER_BANK):
        offers = {r: (CFG.spad_banks - 1 - i) * PER_BANK + k % PER_BANK for i, r in enumerate(readers)}
        granted = await sp.cycle(offers, (k % PER_BANK, _random_row(rng), _random_mask(rng)))
        assert granted == set(readers), f"cycle {k}: accepted {sorted(granted)}, expected {list(readers)}"
    await sp.drain()
    await sp.read_back(range(CFG.spad_rows))
