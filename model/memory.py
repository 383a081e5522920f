"""Golden semantics of the scratchpad and the accumulator (numpy, bit exact).

Both memories are updated one accepted command at a time, in acceptance order. Within one
clock cycle, reads see the memory as it was *before* that cycle's write: a read accepted
in the same cycle as a write to its row returns the old row (both memories), a read
accepted in any later cycle sees the write. The hardware (:mod:`systolica.hw.scratchpad`,
:mod:`systolica.hw.accumulator`) must agree with this model row for row and with the
arbitration rules below handshake for handshake.

Banks
    Row ``addr`` lives in bank ``addr // (rows // banks)``: consecutive rows share a bank,
    so a compiler double-buffers by giving each buffer its own bank.

Scratchpad arbitration (:func:`spad_read_grants`)
    Each bank has one write port and one read port. The DMA write never waits. Of the read
    requests that address the same bank in one cycle, the first in :data:`SPAD_READERS`
    order (``read_a`` > ``read_b`` > ``read_dma``) is accepted and the others wait;
    requests to different banks are all accepted.

Accumulator arbitration (:func:`acc_write_source`, :func:`acc_read_blocked`)
    One row enters the write pipeline per cycle: the array's ``write`` whenever it is
    valid (it never waits), else the DMA's ``dma_write``. An accumulating write uses its
    bank's read port in the cycle it is accepted, so a ``read`` request to that bank waits
    that cycle. A read's response is valid :data:`ACC_READ_LATENCY` cycles after its
    request is accepted, in order, held until taken; a read is accepted only while fewer
    than :data:`ACC_READ_SLOTS` reads were accepted and not taken before this cycle
    (:func:`acc_read_room`; a response taken in this cycle still counts), so one read a
    cycle flows while the consumer keeps up.
"""

from __future__ import annotations

import numpy as np

from .config import AcceleratorConfig

__all__ = ["SPAD_READERS", "ACC_READ_LATENCY", "ACC_READ_SLOTS", "bank_of", "spad_read_grants",
           "acc_write_source", "acc_read_blocked", "acc_read_room", "ScratchpadModel",
           "AccumulatorModel"]

#: Scratchpad read ports, highest priority first.
SPAD_READERS = ("read_a", "read_b", "read_dma")

#: Cycles from an accumulator ``read`` request's acceptance to its response being valid
#: (the bank's read into its output register, two cycles, then the response queue's head).
ACC_READ_LATENCY = 3

#: Accumulator reads accepted and not taken before this cycle, at most: with
#: :data:`ACC_READ_LATENCY` 3, the reads of the last three cycles and one more keep one
#: read a cycle flowing (the response queue holds them all).
ACC_READ_SLOTS = 4


def bank_of(addr: int, rows: int, banks: int) -> int:
    """Bank of row ``addr`` in a memory of ``rows`` rows split in ``banks`` banks."""
    return addr // (rows // banks)


def _check_addr(name: str, addr: int, rows: int) -> int:
    if isinstance(addr, bool) or not isinstance(addr, (int, np.integer)) or not 0 <= addr < rows:
        raise ValueError(f"{name}={addr!r}: out of range, allowed 0..{rows - 1}")
    return int(addr)


def spad_read_grants(cfg: AcceleratorConfig, requests: dict[str, int]) -> set[str]:
    """Readers (names from :data:`SPAD_READERS`) accepted this cycle, given the address
    each valid reader requests: the highest-priority request to each bank."""
    unknown = set(requests) - set(SPAD_READERS)
    if unknown:
        raise ValueError(f"requests: unknown readers {sorted(unknown)}, allowed {list(SPAD_READERS)}")
    taken, granted = set(), set()
    for reader in SPAD_READERS:
        if reader in requests:
            bank = bank_of(_check_addr(reader, requests[reader], cfg.spad_rows),
                           cfg.spad_rows, cfg.spad_banks)
            if bank not in taken:
                taken.add(bank)
                granted.add(reader)
    return granted


def acc_write_source(array_valid: bool, dma_valid: bool) -> str | None:
    """Which accumulator write port is accepted this cycle (``"write"``, ``"dma_write"``
    or None): the array's write has priority and is never refused."""
    if array_valid:
        return "write"
    return "dma_write" if dma_valid else None


def acc_read_blocked(cfg: AcceleratorConfig, read_addr: int, write_addr: int | None,
                     accumulate: bool) -> bool:
    """True when an accumulating array write accepted this cycle (``write_addr``, None if
    none) holds the read port of ``read_addr``'s bank."""
    if write_addr is None or not accumulate:
        return False
    return (bank_of(read_addr, cfg.acc_rows, cfg.acc_banks)
            == bank_of(write_addr, cfg.acc_rows, cfg.acc_banks))


def acc_read_room(outstanding: int) -> bool:
    """True when the accumulator has room for a ``read`` this cycle: ``outstanding`` reads
    were accepted in earlier cycles and not taken in earlier cycles (a response taken in
    this cycle still counts: the room is a register)."""
    if not 0 <= outstanding <= ACC_READ_SLOTS:
        raise ValueError(f"outstanding={outstanding}: allowed 0..{ACC_READ_SLOTS}")
    return outstanding < ACC_READ_SLOTS


class ScratchpadModel:
    """``spad_rows`` rows of ``spad_row_elems`` operands, all zero at reset."""

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self.rows = np.zeros((cfg.spad_rows, cfg.spad_row_elems), dtype=np.int64)

    def read(self, addr: int) -> np.ndarray:
        return self.rows[_check_addr("addr", addr, self.cfg.spad_rows)].copy()

    def write(self, addr: int, data, mask: int) -> None:
        """Byte-masked row write: element ``i`` is written when bit ``i`` of ``mask`` is set
        (one operand is one byte)."""
        cfg = self.cfg
        addr = _check_addr("addr", addr, cfg.spad_rows)
        nbytes = cfg.spad_row_bytes
        if not 0 <= mask < (1 << nbytes):
            raise ValueError(f"mask={mask:#x}: out of range, allowed 0..{(1 << nbytes) - 1:#x}")
        keep = np.array([(mask >> i) & 1 for i in range(nbytes)], dtype=bool)
        self.rows[addr, keep] = np.asarray(data, dtype=np.int64)[keep]


class AccumulatorModel:
    """``acc_rows`` rows of ``cols`` partial sums (signed ``acc_bits``), zero at reset."""

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self.rows = np.zeros((cfg.acc_rows, cfg.cols), dtype=np.int64)

    def read(self, addr: int) -> np.ndarray:
        return self.rows[_check_addr("addr", addr, self.cfg.acc_rows)].copy()

    def write(self, addr: int, data, accumulate: bool) -> None:
        """``row = wrap(row + data)`` when accumulating, else ``row = data`` (wrapping two's
        complement at ``acc_bits``, exact for every width)."""
        addr = _check_addr("addr", addr, self.cfg.acc_rows)
        bits = self.cfg.acc_bits
        half, mod = 1 << (bits - 1), 1 << bits
        old = self.rows[addr] if accumulate else np.zeros(self.cfg.cols, dtype=np.int64)
        self.rows[addr] = [(int(o) + int(d) + half) % mod - half for o, d in zip(old, data)]
