"""The DRAM's answers on the bus: which accesses get SLVERR/DECERR, and what they do.

The golden machine runs programs against a DRAM of ``size`` bytes with *fault ranges*
(:class:`Fault`): address ranges that answer SLVERR or DECERR. This is the contract the
RTL harness's DRAM model implements (:mod:`systolica.sim.native`), and what the golden
machine assumes of any DRAM:

- Fault ranges are aligned to :data:`FAULT_ALIGN` bytes (64, the widest bus word), so a bus
  word is either wholly inside a fault range or wholly outside. Every byte at or beyond the
  DRAM's size answers DECERR (an address decoder with nothing behind it).
- A read beat whose bus word lies in a fault range answers that response with **zero
  data**; a write beat whose bytes lie in a fault range is **not written** and its burst's
  B response says so (DECERR wins over SLVERR within a burst).
- So, byte by byte: reads of a faulted byte give 0, writes to it are dropped. A command's
  status is the response of its first failing beat (loads, in R order) or burst (stores,
  in B order).
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from .config import AcceleratorConfig
from .dma import DmaError, TensorDescriptor, bursts

__all__ = ["FAULT_ALIGN", "Fault", "check_faults", "byte_fault", "read_error", "write_error",
           "faulted_blocks"]

#: Alignment of fault ranges (bytes): the widest bus word (512 bits).
FAULT_ALIGN = 64


class Fault(NamedTuple):
    """Bytes ``lo <= a < hi`` answer ``resp`` (``DmaError.AXI_SLVERR`` or ``AXI_DECERR``)."""

    lo: int
    hi: int
    resp: DmaError


def check_faults(faults: Iterable[Fault]) -> tuple[Fault, ...]:
    """The faults as a tuple, checked: aligned, non-empty, an AXI error response."""
    out = []
    for f in faults:
        f = Fault(int(f[0]), int(f[1]), DmaError(f[2]))
        if f.lo % FAULT_ALIGN or f.hi % FAULT_ALIGN or f.hi <= f.lo:
            raise ValueError(f"fault {f.lo:#x}..{f.hi:#x}: must be a non-empty range aligned to "
                             f"{FAULT_ALIGN} bytes")
        if f.resp not in (DmaError.AXI_SLVERR, DmaError.AXI_DECERR):
            raise ValueError(f"fault response {f.resp.name}: allowed AXI_SLVERR or AXI_DECERR")
        out.append(f)
    return tuple(out)


def byte_fault(faults: tuple[Fault, ...], size: int, lo: int, hi: int) -> DmaError:
    """The response to an access of bytes ``[lo, hi)`` (DECERR wins over SLVERR)."""
    if hi > size:
        return DmaError.AXI_DECERR
    hit = {f.resp for f in faults if f.lo < hi and lo < f.hi}
    if DmaError.AXI_DECERR in hit:
        return DmaError.AXI_DECERR
    return DmaError.AXI_SLVERR if hit else DmaError.OK


def _touches(faults: tuple[Fault, ...], size: int, lo: int, hi: int) -> bool:
    return hi > size or any(f.lo < hi and lo < f.hi for f in faults)


def _beats(cfg: AcceleratorConfig, desc: TensorDescriptor):
    """Every beat of ``desc``'s bursts: (burst number, lowest byte, one past the highest)
    of the bytes the beat addresses."""
    bb = cfg.bus_bytes
    for k, b in enumerate(bursts(cfg, desc)):
        word = b.addr - b.addr % bb
        for i in range(b.beats):
            strobe = b.first_strobe if i == 0 else b.last_strobe if i == b.beats - 1 else (1 << bb) - 1
            low = (strobe & -strobe).bit_length() - 1
            yield k, word + i * bb + low, word + i * bb + strobe.bit_length()


def read_error(cfg: AcceleratorConfig, faults: tuple[Fault, ...], size: int, desc: TensorDescriptor) -> DmaError:
    """What a load of ``desc`` reports: the response of its first faulted R beat (a read
    beat answers for its whole bus word)."""
    lo, hi = desc.extent
    if not _touches(faults, size, lo - lo % FAULT_ALIGN, hi + FAULT_ALIGN):
        return DmaError.OK
    bb = cfg.bus_bytes
    for _, first, _ in _beats(cfg, desc):
        word = first - first % bb
        err = byte_fault(faults, size, word, word + bb)
        if err is not DmaError.OK:
            return err
    return DmaError.OK


def write_error(cfg: AcceleratorConfig, faults: tuple[Fault, ...], size: int, desc: TensorDescriptor) -> DmaError:
    """What a store of ``desc`` reports: the B response of its first burst with a faulted
    beat (DECERR if any of that burst's beats is in a DECERR range)."""
    lo, hi = desc.extent
    if not _touches(faults, size, lo, hi):
        return DmaError.OK
    per_burst: dict[int, set] = {}
    for k, a, b in _beats(cfg, desc):
        err = byte_fault(faults, size, a, b)
        if err is not DmaError.OK:
            per_burst.setdefault(k, set()).add(err)
    if not per_burst:
        return DmaError.OK
    first = per_burst[min(per_burst)]
    return DmaError.AXI_DECERR if DmaError.AXI_DECERR in first else DmaError.AXI_SLVERR


def faulted_blocks(faults: tuple[Fault, ...], size: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """The faulted byte ranges inside ``[lo, hi)`` (the part beyond ``size`` included)."""
    out = [(max(f.lo, lo), min(f.hi, hi)) for f in faults if f.lo < hi and lo < f.hi]
    if hi > size:
        out.append((max(size, lo), hi))
    return out
