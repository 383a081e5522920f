"""cocotb bench: the generated DMA (load and store engines on one AXI4 port) against
:mod:`systolica.model.dma`, bit for bit.

DRAM is cocotbext-axi's ``AxiRam`` (:class:`.axi_monitor.Dram`) over a random image of
``DRAM_BYTES`` at ``DRAM_BASE`` (high address bits set), with random stalls on all five
AXI channels. The scratchpad, the accumulator and the requantized rows a store reads are
numpy arrays: rows written on ``spad_write``/``acc_write`` land there, ``store_req`` is
answered on ``store_rsp`` in order with random latency and gaps. After every command the
bench compares with the model: the status (:func:`check`, or the first AXI error the DRAM
answered), every AR/AW burst (:func:`bursts`: address, beats, AxSIZE, INCR), the W strobes
(first/last beat of each burst, and exactly the :func:`touched_bytes` strobed, all inside
the window), the rows written or requested (ascending, exactly the command's), and the
WHOLE scratchpad, accumulator and DRAM image (:func:`dma_load`, :func:`dma_store`). Every
cycle the AXI protocol rules (:mod:`.axi_rules`) are checked too; a violation fails the
command it happened in.

Reads ``SYSTOLICA_CONFIG`` (JSON), ``SYSTOLICA_SEED`` and, for the throughput test,
``SYSTOLICA_RESULT`` (a JSON file to write). Every test prints its seed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter, deque
from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge, gather
from cocotbext.axi import AxiResp

from ..hw.axi import AxiBurst
from ..hw.dma import Dma
from ..hw.dma_store import STORE_READ_AHEAD
from ..model.array import wrap
from ..model.bits import pack, unpack
from ..model.config import AcceleratorConfig
from ..model.accum import as_element
from ..model.dma import (AXI_PAGE_BYTES, DmaError, encodable_elem_bytes, TensorDescriptor, bursts, check,
                         dma_load, dma_store, encode_command, runs, touched_bytes)
from ..hw.dma_load import OUTSTANDING_BURSTS
from .axi_monitor import AxiMonitor, Dram, Fault, beat_words, read_response, write_response
from .axi_rules import CocotbAxiChecker
from .native import AxiLimits

CFG = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])
SEED = int(os.environ.get("SYSTOLICA_SEED", "1"))
BB = CFG.bus_bytes
AXSIZE = BB.bit_length() - 1
PERIOD_NS = 10
ADDR_TOP = (1 << CFG.addr_bits) - 1
DRAM_BYTES = 1 << 16
DRAM_BASE = 3 << (CFG.addr_bits - 2)          # a multiple of DRAM_BYTES; top address bits set
LOAD_SPAN = (DRAM_BASE + 256, DRAM_BASE + DRAM_BYTES // 2)     # loads and stores that run
STORE_SPAN = (DRAM_BASE + DRAM_BYTES // 2, DRAM_BASE + DRAM_BYTES - 256)  # together
ANY_SPAN = (LOAD_SPAN[0], STORE_SPAN[1])
#: (rows, elements per row, element bits) of each on-chip memory
MEMORIES = {"spad": (CFG.spad_rows, CFG.spad_row_elems, CFG.input_bits),
            "acc": (CFG.acc_rows, CFG.cols, CFG.acc_elem_bits)}
AXI_ERRORS = {AxiResp.SLVERR: DmaError.AXI_SLVERR, AxiResp.DECERR: DmaError.AXI_DECERR}
STORE_ROW_ELEMS = max(CFG.spad_row_elems, CFG.cols)
#: payload layout of every port of the DMA, from its signature
LAYOUTS = {name: (m.signature.members["payload"].shape if name != "window" else m.shape)
           for name, m in Dma(CFG).signature.members.items() if name != "axi"}


def _rngs(test: str) -> tuple[np.random.Generator, np.random.Generator]:
    """Stimulus and stall generators, stable per test name and SEED (separate, so the
    stimulus does not depend on how many cycles the hardware takes)."""
    cocotb.log.warning(f"{test}: SYSTOLICA_SEED={SEED} (replay with that value)")
    stim, stall = np.random.SeedSequence([SEED, sum(map(ord, test))]).spawn(2)
    return np.random.default_rng(stim), np.random.default_rng(stall)


# -- commands and what the model says about them ------------------------------------------
@dataclass
class Command:
    desc: TensorDescriptor
    row: int
    target: str = "spad"
    store: bool = False
    port: str | None = None   # the engine it is sent to ("load"/"store"); default its own

    @property
    def engine(self) -> str:
        return self.port or ("store" if self.store else "load")

    def __str__(self) -> str:
        d = self.desc
        pads = (f" pad {d.pad_before}/{d.pad_after} value {d.pad_value}"
                if any(d.pad_before + d.pad_after) else "")
        return (f"{'store' if self.store else 'load'} {self.target} row {self.row}"
                f"{' via the ' + self.port + ' port' if self.port else ''}: base {d.base:#x} "
                f"sizes {d.sizes} strides {d.strides} elem_bytes {d.elem_bytes}"
                f"{' transposed' if d.transpose else ''}{pads} (extent "
                f"{d.extent[0]:#x}..{d.extent[1]:#x})")


@dataclass
class Expected:
    status: DmaError
    bursts: list
    rows: int            # on-chip rows written (loads) or requested (stores)
    defined: bool        # loads: whether the rows' contents are defined (no AXI error)


def _local(desc: TensorDescriptor) -> TensorDescriptor:
    """``desc`` in DRAM-image coordinates (byte 0 of the image is DRAM_BASE)."""
    first, stop = desc.extent
    assert DRAM_BASE <= first and stop <= DRAM_BASE + DRAM_BYTES, f"bench: {desc} is not in DRAM"
    return dataclasses.replace(desc, base=desc.base - DRAM_BASE)


# -- random stimulus ------------------------------------------------------------------------
def _stride(rng, inner: int, eb: int) -> int:
    """An outer stride: past the inner extent (forwards or backwards), 0, or small/overlapping."""
    kind = int(rng.integers(0, 5))
    if kind <= 1:
        step = min(inner + int(rng.integers(0, 2 * BB + 1)), 1024)
        return step if kind == 0 else -step
    return 0 if kind == 2 else int(rng.integers(-3 * eb - 5, 3 * eb + 6))


def random_desc(rng, target: str, store: bool, max_rows: int) -> TensorDescriptor:
    """A descriptor the model accepts for ``target`` (based at 0; see :func:`placed`)."""
    _, width, _ = MEMORIES[target]
    while True:
        nd = int(rng.integers(1, 5))
        eb = 1 if target == "spad" or store else int(rng.choice([4, CFG.acc_elem_bytes]))
        transpose = not store and target == "spad" and bool(rng.random() < 0.3)
        padded = not store and bool(rng.random() < 0.4)
        pb = [int(rng.integers(0, 3)) if padded and d >= 4 - nd else 0 for d in range(4)]
        pa = [int(rng.integers(0, 3)) if padded and d >= 4 - nd else 0 for d in range(4)]
        sizes = [1] * 4
        for d in range(4 - nd, 4):
            if d == 3 or (d == 2 and transpose):        # padded size within one row
                pb[d] = min(pb[d], width - 1)
                pa[d] = min(pa[d], width - 1 - pb[d])
                sizes[d] = int(rng.integers(1, width - pb[d] - pa[d] + 1))
            else:                                        # up to 2 x 4 x 16 row vectors
                sizes[d] = int(rng.integers(1, (3, 5, 17)[d]))
        s3 = eb if rng.random() < 0.5 else int(rng.choice([0, -eb, 2 * eb, rng.integers(-2 * eb - 3, 2 * eb + 4)]))
        s2 = _stride(rng, sizes[3] * max(abs(s3), eb), eb)
        s1 = _stride(rng, sizes[2] * abs(s2) + eb, eb)
        s0 = _stride(rng, sizes[1] * abs(s1) + eb, eb)
        half = 1 << (min(8 * eb, 64) - 1)
        pad_value = int(rng.integers(-half, half - 1, endpoint=True, dtype=np.int64))
        desc = TensorDescriptor(0, sizes[4 - nd:], (s0, s1, s2, s3)[4 - nd:], eb, pb[4 - nd:],
                                pa[4 - nd:], pad_value, transpose)
        if desc.onchip_shape[0] <= max_rows:
            return desc


def placed(rng, desc: TensorDescriptor, span: tuple[int, int]) -> TensorDescriptor:
    """``desc`` moved so its extent lies in ``span``: often across a 4 KiB boundary,
    sometimes starting on a bus word."""
    first, stop = desc.extent
    length = stop - first
    lo, hi = span[0], span[1] - length
    start = int(rng.integers(lo, hi + 1))
    if rng.random() < 0.3:   # straddle a page boundary
        page = start - start % AXI_PAGE_BYTES + AXI_PAGE_BYTES
        start = min(max(lo, page - int(rng.integers(1, length + 1))), hi)
    elif rng.random() < 0.3:
        start = max(lo, start - start % BB)
    return dataclasses.replace(desc, base=desc.base + start - first)


def random_command(rng, target: str, store: bool, span=ANY_SPAN, rows_span=None,
                   max_rows: int = 48) -> Command:
    capacity = MEMORIES[target][0]
    lo, hi = rows_span or (0, capacity)
    desc = placed(rng, random_desc(rng, target, store, min(max_rows, hi - lo)), span)
    return Command(desc, int(rng.integers(lo, hi - desc.onchip_shape[0] + 1)), target, store)


def window_around(rng, cmds) -> tuple[int, int]:
    """A window holding every command's extent: exactly, or with a little slack."""
    lo = min(c.desc.extent[0] for c in cmds)
    hi = max(c.desc.extent[1] for c in cmds)
    slack = lambda: int(rng.choice([0, 0, int(rng.integers(1, 2 * BB + 1))]))  # noqa: E731
    return max(DRAM_BASE, lo - slack()), min(DRAM_BASE + DRAM_BYTES, hi + slack())


# -- the bench ------------------------------------------------------------------------------
def _stream(dut, port: str):
    """(valid, ready, payload) handles of a stream port."""
    return tuple(getattr(dut, f"{port}__{s}") for s in ("valid", "ready", "payload"))


class _Engine:
    """The command and status streams of one engine."""

    def __init__(self, dut, name: str):
        self.name = name
        self.cmd_valid, self.cmd_ready, self.cmd_payload = _stream(dut, f"{name}_cmd")
        self.st_valid, self.st_ready, self.st_payload = _stream(dut, f"{name}_status")
        self.pending = None         # encoded command waiting to be accepted
        self.offered = self.status_ready = False
        self.accepted = self.status_cycle = None
        self.statuses: list = []   # DmaError, or the raw value when it is none

    def drive(self, status_ready: bool) -> None:
        self.offered = self.pending is not None
        self.cmd_valid.value = self.offered
        if self.offered:
            self.cmd_payload.value = self.pending
        self.status_ready = status_ready
        self.st_ready.value = status_ready

    def sample(self, cycle: int) -> None:
        if self.offered and self.cmd_ready.value:
            self.pending, self.accepted = None, cycle
        if self.status_ready and self.st_valid.value:
            raw = self.st_payload.value.to_unsigned()
            self.statuses.append(DmaError(raw) if raw in {e.value for e in DmaError} else raw)
            self.status_cycle = cycle


class DmaBench:
    def __init__(self, dut, test: str):
        self.dut = dut
        self.rng, self.stall_rng = _rngs(test)
        rng = self.rng
        self.mem = bytearray(rng.integers(0, 256, DRAM_BYTES, dtype=np.uint8).tobytes())
        spad_rows, spad_width, _ = MEMORIES["spad"]
        acc_rows, cols, acc_bits = MEMORIES["acc"]
        self.arrays = {
            "spad": rng.integers(-128, 128, (spad_rows, spad_width), dtype=np.int64),
            "acc": wrap(rng.integers(-(1 << 62), 1 << 62, (acc_rows, cols), dtype=np.int64), acc_bits),
        }
        self.requant = rng.integers(-128, 128, (acc_rows, cols), dtype=np.int64)
        self.window = (0, 0)
        self.stall = 0.0
        self.rsp_latency = 0            # store_rsp: up to this many extra cycles
        self.cycle = 0
        self.seen: Counter = Counter()   # (direction, target, status) of every command run
        self.engines = {n: _Engine(dut, n) for n in ("load", "store")}
        self._clear_logs()

    def _clear_logs(self) -> None:
        self.written: list[tuple[str, int]] = []     # (target, row) written by loads
        self.write_cycle: dict[tuple[str, int], int] = {}
        self.masked: list[tuple[str, int, int]] = []  # (target, row, mask) of partial writes
        self.requests: list[tuple[str, int]] = []    # (target, row) requested by stores
        self.responses = 0
        self.max_ahead = 0
        self.rsp_queue: deque = deque()               # (due cycle, payload)
        for e in self.engines.values():
            e.statuses.clear()

    @classmethod
    async def start(cls, dut, test: str) -> "DmaBench":
        self = cls(dut, test)
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        dut.rst.value = 1
        for e in self.engines.values():
            e.drive(False)
        for name in ("spad_write", "acc_write", "store_req", "store_rsp"):
            getattr(dut, f"{name}__{'valid' if name == 'store_rsp' else 'ready'}").value = 0
        self.dram = Dram(dut, self.mem)
        self.monitor = AxiMonitor(dut)
        # the AXI protocol rules (sim/axi_rules.py); the load engine's reads use ID 0
        self.checker = CocotbAxiChecker(dut, BB, limits=AxiLimits(read={0: OUTSTANDING_BURSTS}))
        for _ in range(3):
            await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        cocotb.start_soon(self._clocked())
        return self

    def set_stalls(self, p: float) -> None:
        """Random stalls: each AXI channel pauses with its own probability up to ``p``,
        the bench's ready/valid signals with ``p``; 0 turns every stall off."""
        self.stall, self.rsp_latency = p, (3 if p else 0)
        for ch in self.dram.channels().values():
            q = float(self.stall_rng.uniform(0, p))
            ch.set_pause_generator(_pauses(self.stall_rng, q) if q else None)
            ch.pause = False   # clearing a generator leaves its last value

    # -- every cycle: drive after the falling edge, sample at ReadOnly ---------------------
    def _go(self) -> bool:
        return not self.stall or self.stall_rng.random() >= self.stall

    async def _clocked(self) -> None:
        dut = self.dut
        sinks = {t: _stream(dut, f"{t}_write") for t in ("spad", "acc")}
        req_valid, req_ready, req_payload = _stream(dut, "store_req")
        rsp_valid, rsp_ready, rsp_payload = _stream(dut, "store_rsp")
        while True:
            await FallingEdge(dut.clk)
            self.cycle += 1
            dut.window.value = pack(LAYOUTS["window"], {"lo": self.window[0], "hi": self.window[1]})
            for e in self.engines.values():
                e.drive(self._go())
            ready = {t: self._go() for t in sinks}
            for t, (_, r, _) in sinks.items():
                r.value = ready[t]
            take_req = self._go()
            req_ready.value = take_req
            offer = bool(self.rsp_queue) and self.rsp_queue[0][0] <= self.cycle and self._go()
            rsp_valid.value = offer
            if offer:
                rsp_payload.value = self.rsp_queue[0][1]
            await ReadOnly()
            for e in self.engines.values():
                e.sample(self.cycle)
            for t, (v, _, p) in sinks.items():
                if ready[t] and v.value:
                    self._write_row(t, p.value.to_unsigned(), self.cycle)
            if offer and rsp_ready.value:
                self.rsp_queue.popleft()
                self.responses += 1
            if take_req and req_valid.value:
                self._request(unpack(LAYOUTS["store_req"], req_payload.value.to_unsigned()))
            self.monitor.sample(self.cycle)
            self.checker.rules.window = self.window
            self.checker.sample(self.cycle)

    def _write_row(self, target: str, raw: int, cycle: int) -> None:
        """A row write into the memory: every element whose bytes are all in ``mask``
        (when the port has one; the DMA must set all of it)."""
        row, (_, width, bits) = unpack(LAYOUTS[f"{target}_write"], raw), MEMORIES[target]
        values = wrap(np.array([as_element(CFG, v) for v in row["data"]], dtype=object), bits)
        keep = np.ones(width, dtype=bool)
        if "mask" in row:
            lanes = (1 << bits // 8) - 1   # the mask bits of one element
            keep = np.array([(row["mask"] >> e * (bits // 8)) & lanes == lanes for e in range(width)])
            if not keep.all():
                self.masked.append((target, row["addr"], row["mask"]))
        self.arrays[target][row["addr"]][keep] = values[keep]
        self.written.append((target, row["addr"]))
        self.write_cycle[target, row["addr"]] = cycle

    def _request(self, req: dict) -> None:
        """Answer a store_req: the row (8-bit elements; past the accumulator's ``cols``,
        random bytes that must not be stored), after 1 + random latency cycles."""
        target = ("spad", "acc")[req["target"]]
        self.requests.append((target, req["addr"]))
        self.max_ahead = max(self.max_ahead, len(self.requests) - self.responses)
        source = self.arrays["spad"] if target == "spad" else self.requant
        row = self.stall_rng.integers(0, 256, STORE_ROW_ELEMS).tolist()
        if req["addr"] < len(source):
            row[:source.shape[1]] = (source[req["addr"]] & 0xFF).tolist()
        due = self.cycle + 1 + int(self.stall_rng.integers(0, self.rsp_latency + 1))
        self.rsp_queue.append((due, pack(LAYOUTS["store_rsp"], row)))

    # -- commands ---------------------------------------------------------------------------
    def _expect(self, cmd: Command, faults, want: dict) -> Expected:
        """What the model says about ``cmd``; applies its effect to the ``want`` state."""
        desc, row, target = cmd.desc, cmd.row, cmd.target
        status = check(CFG, self.window, desc, row, target, store=cmd.store)
        if cmd.port and cmd.port != ("store" if cmd.store else "load"):
            status = DmaError.BAD_DESCRIPTOR   # the port contract: `store` must match the engine
        if status is not DmaError.OK:
            return Expected(status, [], 0, True)
        todo = bursts(CFG, desc)
        image = (0, DRAM_BYTES)   # the window was checked above, in real addresses
        if cmd.store:
            source = self.arrays["spad"] if target == "spad" else self.requant
            assert dma_store(CFG, source, want["dram"], image, _local(desc), row, target) is DmaError.OK
            resp = write_response(faults, todo, BB)
        else:
            loaded = dma_load(CFG, self.mem, image, _local(desc), row, target)
            assert loaded.error is DmaError.OK
            want[target][row:row + len(loaded.rows)] = loaded.rows
            resp = read_response(faults, todo, BB)
        return Expected(AXI_ERRORS.get(resp, DmaError.OK), todo, desc.onchip_shape[0],
                        resp == AxiResp.OKAY)

    async def _issue(self, cmd: Command, x: Expected) -> None:
        e = self.engines[cmd.engine]
        e.pending = encode_command(CFG, cmd.desc, cmd.row, cmd.target, store=cmd.store)
        e.accepted = e.status_cycle = None
        limit = 60 * (sum(b.beats for b in x.bursts) + x.rows) + 500
        start = self.cycle
        while not e.statuses:
            await RisingEdge(self.dut.clk)
            if self.cycle - start > limit:
                m = self.monitor
                raise AssertionError(
                    f"{cmd}, window {self._window_str()}: no status {limit} cycles after cycle {start} "
                    f"(accepted at {e.accepted}); {len(m.ar)} AR, {len(m.aw)} AW, {len(m.w)} W, "
                    f"{m.r_beats} R, {m.b_beats} B, {len(self.written)} rows written, "
                    f"{len(self.requests)} requested, {self.responses} answered; last AR/AW "
                    f"{m.ar[-1:]}{m.aw[-1:]}, last W {m.w[-1:]}; model: {x.status.name}, "
                    f"{len(x.bursts)} bursts, {x.rows} rows (SYSTOLICA_SEED={SEED})")

    def _window_str(self) -> str:
        return f"[{self.window[0]:#x}, {self.window[1]:#x})"

    async def execute(self, *cmds: Command, faults=()) -> dict:
        """Run ``cmds`` together (at most one per engine), check everything against the
        model; returns {engine: (accepted cycle, status cycle)}."""
        assert len({c.engine for c in cmds}) == len(cmds)
        what = " + ".join(map(str, cmds))
        self._check_idle(f"before {what}")
        self.dram.faults[:] = faults
        want = {"spad": self.arrays["spad"].copy(), "acc": self.arrays["acc"].copy(),
                "dram": bytearray(self.mem)}
        expected = [self._expect(c, faults, want) for c in cmds]
        self.seen.update(("store" if c.store else "load", c.target, x.status.name)
                         for c, x in zip(cmds, expected))
        await gather(*(self._issue(c, x) for c, x in zip(cmds, expected)))
        await RisingEdge(self.dut.clk)   # the status handshake completes
        for c, x in zip(cmds, expected):
            self._verify(c, x)
            if not c.store and not x.defined:   # rows written, contents undefined (AXI error)
                want[c.target][c.row:c.row + x.rows] = self.arrays[c.target][c.row:c.row + x.rows]
        self._compare_state(cmds, want)
        self._check_idle(f"during {what}", {"load", "store"} - {c.engine for c in cmds})
        self.dram.faults.clear()
        times = {c.engine: (self.engines[c.engine].accepted, self.engines[c.engine].status_cycle)
                 for c in cmds}
        self._clear_logs()
        self.monitor.clear_read()
        self.monitor.clear_write()
        return times

    def _check_idle(self, when: str, engines=("load", "store")) -> None:
        """Nothing may happen on the ports of an engine with no command."""
        m = self.monitor
        activity = {
            "load": dict(AR=len(m.ar), R=m.r_beats, rows_written=len(self.written),
                         load_status=len(self.engines["load"].statuses)),
            "store": dict(AW=len(m.aw), W=len(m.w), B=m.b_beats, row_requests=len(self.requests),
                          store_status=len(self.engines["store"].statuses)),
        }
        busy = {k: v for e in engines for k, v in activity[e].items() if v}
        assert not busy, f"activity of an idle engine ({when}): {busy} (SYSTOLICA_SEED={SEED})"

    async def quiet(self, cycles: int = 40) -> None:
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        self._check_idle(f"{cycles} idle cycles at the end")
        cocotb.log.warning(f"{self.cycle} cycles; commands (direction, target, status): "
                           + ", ".join(f"{'/'.join(k)} {n}" for k, n in sorted(self.seen.items())))

    # -- checks -----------------------------------------------------------------------------
    def _verify(self, cmd: Command, x: Expected) -> None:
        e, m = self.engines[cmd.engine], self.monitor
        problems = []
        if e.statuses != [x.status]:
            problems.append(f"status {[getattr(s, 'name', s) for s in e.statuses]}, model {x.status.name}")
        recorded = m.aw if cmd.engine == "store" else m.ar
        got = [(b.addr, b.beats, b.size, b.burst) for b in recorded]
        want = [(b.addr, b.beats, AXSIZE, AxiBurst.INCR.value) for b in x.bursts]
        if got != want:
            n = next((i for i, (g, w) in enumerate(zip(got, want)) if g != w), min(len(got), len(want)))
            problems.append(
                f"{len(got)} bursts (addr, beats, size, burst), model {len(want)}; first difference "
                f"at #{n}: RTL {_hexed(got[n:n + 1])} at cycle {recorded[n].cycle if n < len(got) else '-'}, "
                f"model {_hexed(want[n:n + 1])}")
        lo, hi = self.window
        for b in recorded:   # no beat outside the window (reads: the words they fetch)
            if not (lo <= b.addr and beat_words(b.addr, b.beats, BB)[-1] < hi):
                problems.append(f"burst {b.addr:#x}+{b.beats} beats (cycle {b.cycle}) leaves the window")
                break
        problems += self.checker.take()      # AXI protocol violations
        rows = [(cmd.target, cmd.row + i) for i in range(x.rows)]
        if cmd.engine == "load":
            if m.r_beats != sum(b.beats for b in x.bursts):
                problems.append(f"{m.r_beats} R beats taken, model {sum(b.beats for b in x.bursts)}")
            if self.written != rows:
                problems.append(f"rows written {_rows(self.written)}, model {_rows(rows)}")
            if self.masked:
                problems.append(f"partial row writes (target, row, mask) {self.masked[:3]}, expected whole rows")
        else:
            problems += self._verify_writes(cmd, x)
            if self.requests != rows:
                problems.append(f"rows requested {_rows(self.requests)}, model {_rows(rows)}")
            if self.max_ahead > STORE_READ_AHEAD:
                problems.append(f"{self.max_ahead} row requests outstanding, at most {STORE_READ_AHEAD}")
            if m.b_beats != len(x.bursts):
                problems.append(f"status after {m.b_beats} B responses, model {len(x.bursts)} bursts")
        assert not problems, (f"{cmd}, window {self._window_str()}, accepted at cycle {e.accepted}: "
                              + "; ".join(problems) + f" (SYSTOLICA_SEED={SEED})")

    def _verify_writes(self, cmd: Command, x: Expected) -> list[str]:
        """W beats: grouped by WLAST as the bursts; first/last strobes as the model's, all
        lanes between; the bytes strobed are exactly the tensor's and inside the window."""
        m, full = self.monitor, (1 << BB) - 1
        problems, at = [], 0
        if len(m.w) != sum(b.beats for b in x.bursts):
            problems.append(f"{len(m.w)} W beats, model {sum(b.beats for b in x.bursts)}")
        strobed = set()
        for n, (rec, b) in enumerate(zip(m.aw, x.bursts)):
            beats = m.w[at:at + b.beats]
            want = ([b.first_strobe] + [full] * (b.beats - 2) + [b.last_strobe])[-b.beats:]  # 1 beat: first == last
            got = [w.strobe for w in beats]
            lasts = [w.last for w in beats]
            if got != want or lasts != [i == b.beats - 1 for i in range(b.beats)]:
                problems.append(f"burst #{n} at {b.addr:#x}: W strobes {[hex(s) for s in got]} wlast {lasts} "
                                f"(from cycle {beats[0].cycle if beats else '-'}), model strobes "
                                f"{[hex(s) for s in want]}")
                break
            for word, s in zip(beat_words(rec.addr, rec.beats, BB), got):
                strobed.update(word + i for i in range(BB) if s >> i & 1)
            at += b.beats
        touched = {a for lo, hi in touched_bytes(cmd.desc) for a in range(lo, hi)} if x.bursts else set()
        if not problems and strobed != touched:
            extra, missing = sorted(strobed - touched), sorted(touched - strobed)
            problems.append(f"strobed bytes differ from the tensor's: extra {_hexed(extra[:8])}, "
                            f"missing {_hexed(missing[:8])}")
        lo, hi = self.window
        if strobed and not (lo <= min(strobed) and max(strobed) < hi):
            problems.append(f"strobed bytes {min(strobed):#x}..{max(strobed):#x} outside the window")
        return problems

    def _compare_state(self, cmds, want: dict) -> None:
        what = " + ".join(map(str, cmds)) + f", window {self._window_str()}"
        for target in ("spad", "acc"):
            bad = np.argwhere(self.arrays[target] != want[target])
            if bad.size:
                r, j = bad[0]
                raise AssertionError(
                    f"{what}: {target} differs from the model in {len(bad)} elements; first row {r} "
                    f"(written at cycle {self.write_cycle.get((target, r), '-')}) element {j}: RTL "
                    f"{int(self.arrays[target][r, j])}, model {int(want[target][r, j])}; RTL row "
                    f"{self.arrays[target][r].tolist()}, model row {want[target][r].tolist()} "
                    f"(SYSTOLICA_SEED={SEED})")
        got, exp = np.frombuffer(self.mem, np.uint8), np.frombuffer(want["dram"], np.uint8)
        bad = np.flatnonzero(got != exp)
        if bad.size:
            a = int(bad[0])
            raise AssertionError(
                f"{what}: DRAM differs from the model at {len(bad)} bytes; first {DRAM_BASE + a:#x}: "
                f"RTL {got[a]:#04x}, model {exp[a]:#04x} (SYSTOLICA_SEED={SEED})")


def _pauses(rng, p: float):
    while True:
        yield bool(rng.random() < p)


def _hexed(items) -> str:
    return "[" + ", ".join(str(tuple(hex(v) if i == 0 else v for i, v in enumerate(t)))
                           if isinstance(t, tuple) else hex(t) for t in items) + "]"


def _rows(rows) -> str:
    if not rows:
        return "none"
    return f"{len(rows)} rows {rows[:3]}{'...' if len(rows) > 3 else ''}{rows[-1:] if len(rows) > 3 else ''}"


# -- tests ----------------------------------------------------------------------------------
async def _random_commands(dut, test: str, n: int, make) -> None:
    bench = await DmaBench.start(dut, test)
    rng = bench.rng
    for i in range(n):
        bench.set_stalls(float(rng.choice([0.0, 0.2, 0.5])))
        cmds = make(rng, i)
        bench.window = window_around(rng, cmds)
        await bench.execute(*cmds)
    await bench.quiet()


@cocotb.test()
async def test_random_loads(dut):
    """1-D..4-D loads into both memories: any strides, padding, transposition, int32 and
    native accumulator elements, random stalls everywhere."""
    await _random_commands(dut, "loads", 200, lambda rng, i: [
        random_command(rng, ("spad", "acc")[i % 2], False)])


@cocotb.test()
async def test_random_stores(dut):
    """Stores from the scratchpad and from requantized accumulator rows: any strides
    (overlapping elements: the later one wins), random stalls and response latency."""
    await _random_commands(dut, "stores", 200, lambda rng, i: [
        random_command(rng, ("spad", "acc")[i % 2], True)])


@cocotb.test()
async def test_concurrent_load_and_store(dut):
    """A load (read channels) and a store (write channels) at the same time, on disjoint
    DRAM regions and on-chip rows."""
    half = CFG.spad_rows // 2

    def pair(rng, i):
        load_target, store_target = ("spad", "acc")[i % 2], ("spad", "acc")[i // 2 % 2]
        spad_rows = {False: (0, half), True: (half, CFG.spad_rows)}   # disjoint scratchpad rows
        return [random_command(rng, target, store, span, spad_rows[store] if target == "spad" else None)
                for target, store, span in ((load_target, False, LOAD_SPAN), (store_target, True, STORE_SPAN))]

    await _random_commands(dut, "concurrent", 80, pair)


def _padding_cases():
    """Directed padding: rows that are all padding (every outer dimension, before and
    after), padding on both sides of the vector, transposed padding, extreme values."""
    sp_w, cols = MEMORIES["spad"][1], MEMORIES["acc"][1]
    base = LOAD_SPAN[0] + 3
    cases = []
    for width, eb in [(sp_w, 1)] + [(cols, e) for e in sorted({4, CFG.acc_elem_bytes})]:
        half = 1 << (min(8 * eb, 64) - 1)
        n3 = max(1, width - 2)
        for value in (-half, half - 1, 5):
            cases += [
                TensorDescriptor(base, (2, n3), (64, eb), eb, (1, 0), (1, 0), value),
                TensorDescriptor(base, (2, n3), (64, eb), eb, (1, 1), (0, 1), value),
                TensorDescriptor(base, (2, 1, 2, 1), (512, 256, 64, eb), eb, (1, 1, 0, 1), (0, 1, 1, 0), value),
            ]
    for value in (-128, 127, 5):
        cases += [TensorDescriptor(base, (2, 2), (64, 1), 1, (1, 1), (0, 1), value, transpose=True),
                  TensorDescriptor(base, (1, 1), (1, 1), 1, (1, 0), (2, 2), value, transpose=True),
                  TensorDescriptor(base, (2, 1, 2), (128, 64, 1), 1, (1, 0, 1), (0, 1, 1), value,
                                   transpose=True)]
    return [Command(d, 0, "spad" if d.transpose or d.elem_bytes == 1 else "acc") for d in cases]


@cocotb.test()
async def test_padding(dut):
    """Directed padding cases (see :func:`_padding_cases`), against the model."""
    bench = await DmaBench.start(dut, "padding")
    for cmd in _padding_cases():
        bench.window = cmd.desc.extent
        await bench.execute(cmd)
    await bench.quiet()


def _mutations(rng, cmd: Command) -> tuple[Command, tuple[int, int] | None]:
    """``cmd`` with one random fault of the kind the checks must catch; also the window
    to use (None: around the tensor)."""
    desc, capacity = cmd.desc, MEMORIES[cmd.target][0]
    _, width, _ = MEMORIES[cmd.target]
    first, stop = desc.extent
    kind = int(rng.integers(0, 12))
    change = lambda **kw: dataclasses.replace(cmd, desc=dataclasses.replace(desc, **kw))  # noqa: E731
    if kind == 0:    # any element size (the model says which are allowed)
        return change(elem_bytes=int(rng.choice(encodable_elem_bytes(CFG))), pad_value=0), None
    if kind == 1:    # a row vector longer than a row (or a transposed block too wide)
        sizes = list(desc.sizes)
        sizes[3] = width + int(rng.integers(1, 4))
        return change(sizes=sizes), None
    if kind == 2:    # padding, transposition, a load/store on the other engine's port
        what = int(rng.integers(0, 3))
        if what == 0:
            return change(pad_after=(0, 0, 0, int(rng.integers(1, 3)))), None
        if what == 1:
            return change(transpose=True), None
        return dataclasses.replace(cmd, port="load" if cmd.store else "store"), None
    if kind == 3:    # rows past the end (the row field reaches the larger memory)
        row = min(capacity - desc.onchip_shape[0] + int(rng.integers(1, 4)),
                  max(CFG.spad_rows, CFG.acc_rows) - 1)
        return dataclasses.replace(cmd, row=max(row, 0)), None
    if kind == 4:    # 2^16 rows from 4 bytes: the row count must not wrap
        n = (256, 256, 1, 1) if int(rng.integers(0, 2)) else (1, 65535, 1, 1)
        return change(sizes=n, strides=(0, 0, 0, desc.elem_bytes), pad_before=(0,) * 4,
                      pad_after=(0,) * 4, transpose=False), None
    if kind == 5:    # window one byte short at either end
        return cmd, (first + 1, stop) if rng.random() < 0.5 else (first, stop - 1)
    if kind == 6:    # empty windows
        return cmd, (first, first) if rng.random() < 0.5 else (stop, first)
    if kind == 7:    # a window elsewhere
        return cmd, (stop, stop + DRAM_BYTES)
    if kind == 8:    # the extent passes the top of the address space
        n = int(rng.integers(2, 5))
        return change(base=ADDR_TOP - int(rng.integers(0, 2)), sizes=(n,), strides=(desc.elem_bytes,),
                      pad_before=(0,), pad_after=(0,), transpose=False), (0, ADDR_TOP)
    if kind == 9:    # ... or goes below address 0
        n = int(rng.integers(2, 5))
        return change(base=int(rng.integers(0, n - 1)), sizes=(n, 1), strides=(-1, 5),
                      pad_before=(0, 0), pad_after=(0, 0), transpose=False), (0, ADDR_TOP)
    if kind == 10:   # a transposed load into the accumulator / a store transposed
        return dataclasses.replace(change(transpose=True), target="acc", store=bool(rng.random() < 0.5)), None
    return cmd, (first, stop)   # exact window: fine


@cocotb.test()
async def test_check_errors(dut):
    """BAD_DESCRIPTOR, ROW_RANGE and WINDOW (one or two faults at once: the first failing
    check is the status): no beat, no row, nothing written; valid commands in between."""
    bench = await DmaBench.start(dut, "errors")
    rng = bench.rng
    for i in range(200):
        bench.set_stalls(float(rng.choice([0.0, 0.3])))
        cmd = random_command(rng, ("spad", "acc")[i % 2], bool(i // 2 % 2))
        window = None
        for _ in range(int(rng.integers(1, 3))):
            cmd, w = _mutations(rng, cmd)
            window = w or window
        lo, hi = window or window_around(rng, [cmd])
        bench.window = (min(max(lo, 0), ADDR_TOP), min(max(hi, 0), ADDR_TOP))  # CSR range
        await bench.execute(cmd)
    await bench.quiet()


@cocotb.test()
async def test_axi_error_responses(dut):
    """SLVERR and DECERR read and write responses: the transfer completes (every beat,
    every row), the first error is the status; the next command is clean."""
    bench = await DmaBench.start(dut, "axi_errors")
    rng = bench.rng
    for i in range(48):
        bench.set_stalls(float(rng.choice([0.0, 0.3])))
        cmd = random_command(rng, ("spad", "acc")[i % 2], bool(i // 2 % 2))
        bench.window = window_around(rng, [cmd])
        touched = [a for lo, hi in touched_bytes(cmd.desc) for a in range(lo, hi)]
        faults = []
        for _ in range(int(rng.integers(1, 3))):
            a = int(rng.choice(touched))
            faults.append(Fault(a, a + int(rng.integers(1, 5)), AxiResp(int(rng.choice([2, 3])))))
        await bench.execute(cmd, faults=faults)
        clean = random_command(rng, cmd.target, cmd.store)
        bench.window = window_around(rng, [clean])
        await bench.execute(clean)
    await bench.quiet()


def _throughput_cases():
    """(name, command): long contiguous, strided (row pitch > row) and gathered (inner
    stride 2 bytes: one run per element) transfers, rows from 0."""
    sp_rows, sp_w, _ = MEMORIES["spad"]
    acc_rows, cols, _ = MEMORIES["acc"]
    n_sp, n_acc = min(sp_rows, 128), min(acc_rows, 128)
    pitch = 2 * sp_w + BB - 2 * sp_w % BB    # bus aligned, more than a row
    cases = []
    for store, (lo, _) in ((False, LOAD_SPAN), (True, STORE_SPAN)):
        at = lo + BB - lo % BB
        descs = {
            "spad_contiguous": TensorDescriptor.dense(at, (n_sp, sp_w)),
            "spad_strided": TensorDescriptor(at, (n_sp, sp_w), (pitch, 1)),
            "spad_gather": TensorDescriptor(at, (n_sp, sp_w), (2 * sp_w, 2)),
            "acc_contiguous": TensorDescriptor.dense(at, (n_acc, cols), 1 if store else CFG.acc_elem_bytes),
        }
        kind = "store" if store else "load"
        cases += [(f"{kind}_{name}", Command(d, 0, name.split("_")[0], store)) for name, d in descs.items()]
    return cases


@cocotb.test()
async def test_throughput(dut):
    """No stalls: bytes per cycle (command accepted to status) against the bus peak."""
    bench = await DmaBench.start(dut, "throughput")
    bench.set_stalls(0.0)
    result = {"bus_bytes": BB}
    for name, cmd in _throughput_cases():
        bench.window = (cmd.desc.extent[0], cmd.desc.extent[1])
        times = await bench.execute(cmd)
        accepted, done = times[cmd.engine]
        cycles = done - accepted
        nbytes = sum(n for _, n in runs(cmd.desc))
        todo = bursts(CFG, cmd.desc)
        result[name] = {"bytes": nbytes, "cycles": cycles, "bursts": len(todo),
                        "beats": sum(b.beats for b in todo), "bytes_per_cycle": round(nbytes / cycles, 3),
                        "of_peak": round(nbytes / cycles / BB, 3)}
        cocotb.log.warning(f"throughput {name}: {nbytes} bytes in {cycles} cycles = "
                           f"{nbytes / cycles:.2f} B/cycle ({100 * nbytes / cycles / BB:.0f}% of {BB} B/cycle), "
                           f"{result[name]['beats']} beats in {len(todo)} bursts")
    await bench.quiet()
    if "SYSTOLICA_RESULT" in os.environ:
        with open(os.environ["SYSTOLICA_RESULT"], "w") as f:
            json.dump(result, f, indent=1)
