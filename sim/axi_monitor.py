"""AXI4 helpers for the DMA bench: a DRAM with injectable error responses, a monitor of
every burst and beat, and what that DRAM answers for a given access pattern.

- :class:`Dram` is cocotbext-axi's ``AxiRam`` over a ``bytearray`` (address ``a`` is byte
  ``a % len(mem)``). An access touching a :class:`Fault` range raises inside cocotbext's
  ``_read``/``_write``, so cocotbext answers SLVERR (reads return zeros, writes are
  performed first, so the DRAM image stays exact); for a DECERR range that response is
  rewritten to DECERR on its way out (cocotbext itself only produces SLVERR).
- :class:`AxiMonitor` is sampled by the bench at ReadOnly of every cycle (a handshake
  seen there completes at the next rising edge) and records AR/AW bursts and W/R/B beats.
- :func:`read_response` / :func:`write_response` say which response :class:`Dram` gives
  to a list of bursts (the first error is what the DMA must report).
"""

from __future__ import annotations

import logging
from typing import NamedTuple

from cocotbext.axi import AxiBus, AxiRam, AxiResp
from cocotbext.axi.axi_ram import AxiRamRead, AxiRamWrite
from cocotbext.axi.memory import Memory

__all__ = ["Fault", "Dram", "BurstRecord", "WBeat", "AxiMonitor", "beat_words",
           "read_response", "write_response"]


class Fault(NamedTuple):
    """Bytes ``lo <= a < hi`` answer ``resp`` (SLVERR or DECERR)."""

    lo: int
    hi: int
    resp: AxiResp


def _response(faults: list[Fault], lo: int, hi: int) -> AxiResp:
    """What an access to bytes ``[lo, hi)`` gets: DECERR wins over SLVERR over OKAY."""
    hit = {f.resp for f in faults if f.lo < hi and lo < f.hi}
    return AxiResp.DECERR if AxiResp.DECERR in hit else AxiResp.SLVERR if hit else AxiResp.OKAY


class _FaultInjection:
    """Mixin for cocotbext's RAM interfaces (see the module docstring)."""

    def _init_faults(self, faults: list[Fault], channel, field: str) -> None:
        self.faults, self._decerr = faults, False
        send = channel.send

        async def send_rewritten(t):
            if self._decerr and getattr(t, field) == AxiResp.SLVERR:
                setattr(t, field, AxiResp.DECERR)
            self._decerr = False
            await send(t)

        channel.send = send_rewritten

    def _fault(self, address: int, length: int) -> None:
        resp = _response(self.faults, address, address + length)
        if resp != AxiResp.OKAY:
            self._decerr |= resp == AxiResp.DECERR
            raise OSError(f"injected {resp.name} at {address:#x}+{length}")


class _Read(_FaultInjection, AxiRamRead):
    def __init__(self, faults, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_faults(faults, self.r_channel, "rresp")

    async def _read(self, address, length):
        self._fault(address, length)
        return await super()._read(address, length)


class _Write(_FaultInjection, AxiRamWrite):
    def __init__(self, faults, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_faults(faults, self.b_channel, "bresp")

    async def _write(self, address, data):
        await super()._write(address, data)
        self._fault(address, len(data))


class Dram(AxiRam):
    """``AxiRam`` on ``mem`` (a bytearray, read and written in place) with :attr:`faults`."""

    def __init__(self, dut, mem: bytearray, prefix: str = "axi"):
        bus = AxiBus.from_prefix(dut, prefix, bus_separator="__")
        Memory.__init__(self, mem=mem)
        self.faults: list[Fault] = []
        self.write_if = _Write(self.faults, bus.write, dut.clk, dut.rst, mem=self.mem)
        self.read_if = _Read(self.faults, bus.read, dut.clk, dut.rst, mem=self.mem)
        for iface in (self.write_if, self.read_if):   # no warning for each injected error
            iface.log.setLevel(logging.ERROR)

    def channels(self):
        """The five channel objects (AW, W, B, AR, R), for ``set_pause_generator``."""
        w, r = self.write_if, self.read_if
        return {"aw": w.aw_channel, "w": w.w_channel, "b": w.b_channel,
                "ar": r.ar_channel, "r": r.r_channel}


class BurstRecord(NamedTuple):
    """An accepted AR or AW: AxADDR, AxLEN + 1, AxSIZE, AxBURST, and the cycle."""

    addr: int
    beats: int
    size: int
    burst: int
    cycle: int


class WBeat(NamedTuple):
    strobe: int
    last: bool
    cycle: int


class AxiMonitor:
    """Handshakes on the five channels of ``dut``'s ``axi`` port (see the module docstring)."""

    def __init__(self, dut, prefix: str = "axi"):
        def sig(name):
            return getattr(dut, f"{prefix}__{name}")

        self._ar = [sig(n) for n in ("arvalid", "arready", "araddr", "arlen", "arsize", "arburst")]
        self._aw = [sig(n) for n in ("awvalid", "awready", "awaddr", "awlen", "awsize", "awburst")]
        self._w = [sig(n) for n in ("wvalid", "wready", "wstrb", "wlast")]
        self._r = [sig(n) for n in ("rvalid", "rready")]
        self._b = [sig(n) for n in ("bvalid", "bready")]
        self.clear_read()
        self.clear_write()

    def clear_read(self) -> None:
        self.ar: list[BurstRecord] = []
        self.r_beats = 0

    def clear_write(self) -> None:
        self.aw: list[BurstRecord] = []
        self.w: list[WBeat] = []
        self.b_beats = 0

    @staticmethod
    def _fire(valid, ready) -> bool:
        return bool(valid.value) and bool(ready.value)

    @staticmethod
    def _burst(sigs, cycle) -> BurstRecord:
        _, _, addr, length, size, burst = sigs
        return BurstRecord(addr.value.to_unsigned(), length.value.to_unsigned() + 1,
                           size.value.to_unsigned(), burst.value.to_unsigned(), cycle)

    def sample(self, cycle: int) -> None:
        """Call at ReadOnly, once per cycle."""
        if self._fire(*self._ar[:2]):
            self.ar.append(self._burst(self._ar, cycle))
        if self._fire(*self._aw[:2]):
            self.aw.append(self._burst(self._aw, cycle))
        if self._fire(*self._w[:2]):
            self.w.append(WBeat(self._w[2].value.to_unsigned(), bool(self._w[3].value), cycle))
        self.r_beats += self._fire(*self._r)
        self.b_beats += self._fire(*self._b)


def beat_words(addr: int, beats: int, bus_bytes: int) -> list[int]:
    """Bus-word address of every beat of an INCR burst of full bus width."""
    first = addr - addr % bus_bytes
    return [first + k * bus_bytes for k in range(beats)]


def _lane_span(word: int, strobe: int) -> tuple[int, int]:
    """Bytes ``[lo, hi)`` of a contiguous strobe."""
    low = (strobe & -strobe).bit_length() - 1
    return word + low, word + strobe.bit_length()


def read_response(faults: list[Fault], bursts, bus_bytes: int) -> AxiResp:
    """First non-OKAY R response :class:`Dram` gives to ``bursts`` (model ``Burst``\\ s)."""
    for b in bursts:
        for word in beat_words(b.addr, b.beats, bus_bytes):
            resp = _response(faults, word, word + bus_bytes)
            if resp != AxiResp.OKAY:
                return resp
    return AxiResp.OKAY


def write_response(faults: list[Fault], bursts, bus_bytes: int) -> AxiResp:
    """First non-OKAY B response :class:`Dram` gives to ``bursts`` (each beat writes its
    strobed lanes: the first/last strobe, all lanes between)."""
    full = (1 << bus_bytes) - 1
    for b in bursts:
        words = beat_words(b.addr, b.beats, bus_bytes)
        strobes = [full] * b.beats
        strobes[0], strobes[-1] = b.first_strobe, b.last_strobe
        resps = {_response(faults, *_lane_span(w, s)) for w, s in zip(words, strobes)}
        for resp in (AxiResp.DECERR, AxiResp.SLVERR):
            if resp in resps:
                return resp
    return AxiResp.OKAY
