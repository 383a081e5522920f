"""AXI4 / AXI4-Lite protocol rules in Python: the same checks as the native harness's C++
monitor (``sim/harness/monitor.h``), for the cocotb benches.

:class:`AxiRules` is the checker itself, fed one sample per clock cycle (a dict of signal
values named as :data:`TRACE_FIELDS`, missing ones 0), independent of cocotb -- the
self-tests drive it and the C++ monitor with the same synthetic traces. The AXI4 port's
manager is the design, the AXI4-Lite port's subordinate is the design (fields ``l_*``).
:class:`CocotbAxiChecker` samples a DUT's ``axi__*`` (and optionally ``axil__*``) ports at
``ReadOnly`` (call :meth:`~CocotbAxiChecker.sample` once per cycle, like
:class:`.axi_monitor.AxiMonitor`).

Rules (:data:`RULES`; a handshake in a sample completes at the edge ending that cycle):

- ``<CH>_STABLE``: a VALID dropped, or its payload changed, before READY. AXI4 AR/AW/W and
  AXI4-Lite B/R (``L_B``/``L_R``) bind the design; AXI4 R/B and AXI4-Lite AW/W/AR bind the
  models driving the other side.
- ``RESET_VALID``: a VALID high while reset is high or in the first cycle after it.
- ``AR/AW_BURST``: reserved AxBURST, over 256 beats, FIXED over 16, WRAP not 2/4/8/16
  beats or not aligned to AxSIZE. ``AR/AW_SIZE``: 2^AxSIZE wider than the bus.
  ``AR/AW_4K``: an INCR burst's addressed bytes cross a 4 KiB boundary.
- ``AR/AW_WINDOW``: the burst's first addressed byte below the window's ``lo``, or its
  addressed bytes ending past ``hi`` rounded up to 2^AxSIZE (a beat is never narrower than
  its container; for a full-width burst: its last bus word starts below ``hi``).
  ``W_WINDOW``: a W beat strobes a byte outside ``[lo, hi)``.
- ``W_STRB``: strobes outside the beat's addressed bytes (AXI4 beat addresses, unaligned
  start included). ``W_LAST``: WLAST not exactly on beat AWLEN+1 (W beats are matched to
  AWs in order and may come before their AW); ``W_EARLY``: over 4096 beats before their AW.
- ``AR/AW_OUTSTANDING``: more bursts of one ID in flight (AR to last R, AW to B) than
  declared.
- ``R_UNEXPECTED`` / ``B_UNEXPECTED``: an R with no read of that ID in flight, a B with no
  write of that ID whose AW and all W beats were taken in earlier cycles (a response in
  the same cycle as its request's handshake is unexpected too); ``R_LAST``: RLAST wrong
  for the beat count. ``L_B_UNEXPECTED`` / ``L_R_UNEXPECTED``: the same on AXI4-Lite.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

__all__ = ["RULES", "TRACE_FIELDS", "Violation", "AxiRules", "CocotbAxiChecker", "watch", "beat_bytes",
           "burst_bytes"]

RULES = ("AR_STABLE", "AW_STABLE", "W_STABLE", "R_STABLE", "B_STABLE", "RESET_VALID",
         "AR_BURST", "AW_BURST", "AR_SIZE", "AW_SIZE", "AR_4K", "AW_4K", "AR_WINDOW", "AW_WINDOW",
         "W_WINDOW", "W_STRB", "W_LAST", "W_EARLY", "AR_OUTSTANDING", "AW_OUTSTANDING",
         "R_UNEXPECTED", "R_LAST", "B_UNEXPECTED", "L_AW_STABLE", "L_W_STABLE", "L_B_STABLE",
         "L_AR_STABLE", "L_R_STABLE", "L_B_UNEXPECTED", "L_R_UNEXPECTED")

_AR = ("arid", "araddr", "arlen", "arsize", "arburst", "arprot", "arcache", "arlock")
_AW = ("awid", "awaddr", "awlen", "awsize", "awburst", "awprot", "awcache", "awlock")
#: Every signal of one sample, in the order of the C++ self-test's trace lines.
TRACE_FIELDS = (
    "awvalid", "awready", *_AW, "wvalid", "wready", "wdata", "wstrb", "wlast",
    "bvalid", "bready", "bid", "bresp", "arvalid", "arready", *_AR,
    "rvalid", "rready", "rid", "rdata", "rresp", "rlast",
    "l_awvalid", "l_awready", "l_awaddr", "l_awprot", "l_wvalid", "l_wready", "l_wdata", "l_wstrb",
    "l_bvalid", "l_bready", "l_bresp", "l_arvalid", "l_arready", "l_araddr", "l_arprot",
    "l_rvalid", "l_rready", "l_rdata", "l_rresp",
)
#: Channel -> (valid, ready, payload fields)
_CHANNELS = {
    "AR": ("arvalid", "arready", _AR), "AW": ("awvalid", "awready", _AW),
    "W": ("wvalid", "wready", ("wdata", "wstrb", "wlast")),
    "R": ("rvalid", "rready", ("rdata", "rid", "rresp", "rlast")), "B": ("bvalid", "bready", ("bid", "bresp")),
    "L_AW": ("l_awvalid", "l_awready", ("l_awaddr", "l_awprot")),
    "L_W": ("l_wvalid", "l_wready", ("l_wdata", "l_wstrb")), "L_B": ("l_bvalid", "l_bready", ("l_bresp",)),
    "L_AR": ("l_arvalid", "l_arready", ("l_araddr", "l_arprot")),
    "L_R": ("l_rvalid", "l_rready", ("l_rdata", "l_rresp")),
}
_RESET_ORDER = ("AR", "AW", "W", "R", "B", "L_AR", "L_AW", "L_W", "L_R", "L_B")
FIXED, INCR, WRAP = 0, 1, 2


@dataclass(frozen=True)
class Violation:
    cycle: int
    channel: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"cycle {self.cycle}: {self.rule} on {self.channel}: {self.detail}"


def beat_bytes(addr: int, beats: int, size: int, burst: int, n: int) -> tuple[int, int]:
    """Addressed bytes ``[lo, hi)`` of beat ``n`` (0-based) of a burst (AXI4 A3.4.1)."""
    nb = 1 << size
    aligned = addr & ~(nb - 1)
    if burst == INCR:
        a = addr if n == 0 else aligned + n * nb
    elif burst == WRAP and n:
        total = nb * beats
        lower = addr // total * total
        a = lower + ((aligned - lower) + n * nb) % total
    else:
        a = addr
    return a, (a & ~(nb - 1)) + nb


def burst_bytes(addr: int, beats: int, size: int, burst: int) -> tuple[int, int]:
    """Bytes ``[lo, hi)`` a whole burst addresses (WRAP: its wrap block)."""
    nb = 1 << size
    if burst == WRAP:
        lo = addr // (nb * beats) * (nb * beats)
        return lo, lo + nb * beats
    if burst == FIXED:
        return addr, (addr & ~(nb - 1)) + nb
    return addr, (addr & ~(nb - 1)) + nb * beats


class AxiRules:
    """The protocol checker (see the module docstring). ``limits``: an object with ``read``
    and ``write`` dicts (ID -> bursts in flight allowed), e.g. :class:`.native.AxiLimits`."""

    EARLY_W_LIMIT = 4096

    def __init__(self, bus_bytes: int, *, limits=None, window: tuple[int, int] | None = None,
                 max_violations: int = 20):
        self.bb = bus_bytes
        self.read_limit = dict(getattr(limits, "read", {}) or {})
        self.write_limit = dict(getattr(limits, "write", {}) or {})
        self.window = window
        self.max_violations = max_violations
        self.clear()

    def set_window(self, lo: int, hi: int) -> None:
        self.window = (lo, hi)

    def clear_window(self) -> None:
        self.window = None

    def clear(self) -> None:
        self.violations: list[Violation] = []
        self.violation_count = 0
        self.reset_state()

    def reset_state(self) -> None:
        self.prev: dict = {}
        self.after_reset = True
        self.rd: dict = defaultdict(deque)       # ID -> [[burst tuple, beat]]
        self.wr: deque = deque()                  # [[burst tuple, beat]] awaiting W beats
        self.early: deque = deque()               # (strb, last, cycle) W beats before their AW
        self.reads_in_flight: dict = defaultdict(int)
        self.writes_in_flight: dict = defaultdict(int)
        self.writes_complete: dict = defaultdict(int)
        self.lite = dict(aw=0, w=0, ar=0, b=0, r=0)
        self.lite_prev = dict(aw=0, w=0, ar=0)

    def fail(self, cycle: int, channel: str, rule: str, detail: str) -> None:
        self.violation_count += 1
        if len(self.violations) < self.max_violations:
            self.violations.append(Violation(cycle, channel, rule, detail))

    # -- one cycle ----------------------------------------------------------------------
    def check(self, cycle: int, rst: bool, s: dict) -> None:
        g = s.get
        if rst or self.after_reset:
            for ch in _RESET_ORDER:
                if g(_CHANNELS[ch][0], 0):
                    self.fail(cycle, ch, "RESET_VALID", f"{ch} VALID high during or right after reset")
            if rst:
                self.reset_state()
                return
            self.after_reset = False
        self._stability(cycle, s)
        if g("rvalid", 0) and g("rready", 0):
            self._on_r(cycle, s)
        if g("bvalid", 0) and g("bready", 0):
            self._on_b(cycle, s)
        if g("arvalid", 0) and g("arready", 0):
            self._on_ar(cycle, s)
        if g("awvalid", 0) and g("awready", 0):
            self._on_aw(cycle, s)
        if g("wvalid", 0) and g("wready", 0):
            self._on_w(cycle, g("wstrb", 0), g("wlast", 0))
        self._on_lite(cycle, s)
        self.prev = s

    def _stability(self, cycle: int, s: dict) -> None:
        p = self.prev
        for ch, (valid, ready, fields) in _CHANNELS.items():
            if not p.get(valid, 0) or p.get(ready, 0):
                continue
            rule = f"{ch}_STABLE"
            if not s.get(valid, 0):
                self.fail(cycle, ch, rule, f"{ch}VALID dropped before {ch}READY")
            elif any(s.get(f, 0) != p.get(f, 0) for f in fields):
                self.fail(cycle, ch, rule, f"{ch} payload changed before {ch}READY")

    def _check_request(self, cycle: int, ch: str, addr: int, beats: int, size: int, burst: int) -> None:
        nb = 1 << size
        if burst > WRAP:
            self.fail(cycle, ch, f"{ch}_BURST", f"reserved AxBURST {burst}")
        elif beats > 256:
            self.fail(cycle, ch, f"{ch}_BURST", f"{beats} beats: over 256")
        elif burst == FIXED and beats > 16:
            self.fail(cycle, ch, f"{ch}_BURST", f"FIXED burst of {beats} beats: over 16")
        elif burst == WRAP and beats not in (2, 4, 8, 16):
            self.fail(cycle, ch, f"{ch}_BURST", f"WRAP burst of {beats} beats: not 2, 4, 8 or 16")
        elif burst == WRAP and addr & (nb - 1):
            self.fail(cycle, ch, f"{ch}_BURST", f"WRAP burst at unaligned {addr:#x}")
        if nb > self.bb:
            self.fail(cycle, ch, f"{ch}_SIZE", f"AxSIZE {size} ({nb} bytes) > bus {self.bb}")
        if burst == INCR and nb <= self.bb:
            lo, hi = burst_bytes(addr, beats, size, burst)
            if lo >> 12 != (hi - 1) >> 12:
                self.fail(cycle, ch, f"{ch}_4K", f"INCR burst {addr:#x} x{beats} crosses a 4 KiB boundary")
        if self.window is not None and burst <= WRAP and nb <= self.bb:
            lo, hi = burst_bytes(addr, beats, size, burst)
            wlo, whi = self.window
            if lo < wlo or hi > (whi + nb - 1) & ~(nb - 1) or whi <= wlo:
                self.fail(cycle, ch, f"{ch}_WINDOW",
                          f"burst bytes [{lo:#x}, {hi:#x}) outside window [{wlo:#x}, {whi:#x})")

    def _in_flight(self, cycle, ch, count, limit, ident) -> None:
        count[ident] += 1
        if ident in limit and count[ident] > limit[ident]:
            self.fail(cycle, ch, f"{ch}_OUTSTANDING",
                      f"{count[ident]} bursts of ID {ident} in flight, declared {limit[ident]}")

    @staticmethod
    def _request(s: dict, p: str) -> tuple:
        return (s.get(f"{p}addr", 0), s.get(f"{p}len", 0) + 1, s.get(f"{p}size", 0), s.get(f"{p}burst", 0))

    def _on_ar(self, cycle: int, s: dict) -> None:
        req = self._request(s, "ar")
        self._check_request(cycle, "AR", *req)
        self._in_flight(cycle, "AR", self.reads_in_flight, self.read_limit, s.get("arid", 0))
        self.rd[s.get("arid", 0)].append([req, 0])

    def _on_r(self, cycle: int, s: dict) -> None:
        ident, q = s.get("rid", 0), self.rd[s.get("rid", 0)]
        if not q:
            self.fail(cycle, "R", "R_UNEXPECTED", f"R beat for ID {ident} with no read in flight")
            return
        entry = q[0]
        last = entry[1] + 1 == entry[0][1]
        if bool(s.get("rlast", 0)) != last:
            self.fail(cycle, "R", "R_LAST", f"RLAST={s.get('rlast', 0)} on beat {entry[1] + 1} of {entry[0][1]}")
        if last:
            q.popleft()
            self.reads_in_flight[ident] -= 1
        else:
            entry[1] += 1

    def _on_aw(self, cycle: int, s: dict) -> None:
        req = self._request(s, "aw")
        self._check_request(cycle, "AW", *req)
        ident = s.get("awid", 0)
        self._in_flight(cycle, "AW", self.writes_in_flight, self.write_limit, ident)
        self.wr.append([req, 0, ident])
        while self.early and self.wr:
            self._w_beat(*self.early.popleft())

    def _on_w(self, cycle: int, strb: int, last: int) -> None:
        if not self.wr:
            if len(self.early) >= self.EARLY_W_LIMIT:
                self.fail(cycle, "W", "W_EARLY", f"over {self.EARLY_W_LIMIT} W beats ahead of their AW")
            else:
                self.early.append((strb, last, cycle))
            return
        self._w_beat(strb, last, cycle)

    def _w_beat(self, strb: int, wlast: int, cycle: int) -> None:
        entry = self.wr[0]
        (addr, beats, size, burst), beat, ident = entry
        last = beat + 1 == beats
        if bool(wlast) != last:
            self.fail(cycle, "W", "W_LAST", f"WLAST={int(bool(wlast))} on beat {beat + 1} of {beats} (AW {addr:#x})")
        if (1 << size) <= self.bb:
            lo, hi = beat_bytes(addr, beats, size, burst, beat)
            first = lo % self.bb
            allowed = ((1 << (hi - lo)) - 1) << first
            if strb & ~allowed:
                self.fail(cycle, "W", "W_STRB", f"WSTRB {strb:#x} outside lanes {allowed:#x} of beat {beat + 1} at {lo:#x}")
            if self.window is not None and strb:
                word = lo - first
                start, end = word + (strb & -strb).bit_length() - 1, word + strb.bit_length()
                wlo, whi = self.window
                if start < wlo or end > whi:
                    self.fail(cycle, "W", "W_WINDOW",
                              f"strobed bytes [{start:#x}, {end:#x}) outside window [{wlo:#x}, {whi:#x})")
        if last:
            self.writes_complete[ident] += 1
            self.wr.popleft()
        else:
            entry[1] += 1

    def _on_b(self, cycle: int, s: dict) -> None:
        ident = s.get("bid", 0)
        if not self.writes_complete[ident]:
            self.fail(cycle, "B", "B_UNEXPECTED", f"B for ID {ident} with no complete write in flight")
            return
        self.writes_complete[ident] -= 1
        self.writes_in_flight[ident] -= 1

    def _on_lite(self, cycle: int, s: dict) -> None:
        g, n, prev = s.get, self.lite, self.lite_prev
        n["aw"] += bool(g("l_awvalid", 0) and g("l_awready", 0))
        n["w"] += bool(g("l_wvalid", 0) and g("l_wready", 0))
        n["ar"] += bool(g("l_arvalid", 0) and g("l_arready", 0))
        if g("l_bvalid", 0) and g("l_bready", 0):
            if n["b"] >= min(prev["aw"], prev["w"]):
                self.fail(cycle, "L_B", "L_B_UNEXPECTED", "AXI4-Lite B with no write (AW and W) taken")
            else:
                n["b"] += 1
        if g("l_rvalid", 0) and g("l_rready", 0):
            if n["r"] >= prev["ar"]:
                self.fail(cycle, "L_R", "L_R_UNEXPECTED", "AXI4-Lite R with no AR taken")
            else:
                n["r"] += 1
        self.lite_prev = dict(aw=n["aw"], w=n["w"], ar=n["ar"])


class CocotbAxiChecker:
    """:class:`AxiRules` on a cocotb DUT's ``<axi>__*`` ports (and ``<lite>__*`` when
    ``lite`` is given); call :meth:`sample` at ``ReadOnly`` once per cycle. READY and the
    payload are read only while VALID is high (no rule looks at them otherwise)."""

    def __init__(self, dut, bus_bytes: int, *, axi: str = "axi", lite: str | None = None,
                 rst: str = "rst", **rules):
        self.rules = AxiRules(bus_bytes, **rules)
        self.rst = getattr(dut, rst)
        self.channels = []
        for ch, (valid, ready, fields) in _CHANNELS.items():
            prefix = lite if ch.startswith("L_") else axi
            if prefix is None:
                continue

            def h(name, prefix=prefix):
                return getattr(dut, f"{prefix}__{name[2:] if name.startswith('l_') else name}")

            self.channels.append((valid, ready, h(valid), h(ready), [(f, h(f), len(h(f)) > 1) for f in fields]))
        self._seen = 0

    def sample(self, cycle: int) -> None:
        s = {}
        for valid, ready, hv, hr, fields in self.channels:
            v = int(hv.value)
            if v:      # READY and the payload matter only while VALID is high
                s[valid], s[ready] = v, int(hr.value)
                for name, h, vector in fields:    # one-bit signals are Logic, not LogicArray
                    s[name] = h.value.to_unsigned() if vector else int(h.value)
        self.rules.check(cycle, bool(int(self.rst.value)), s)

    def take(self) -> list[str]:
        """The violations found since the last call, one line each."""
        new = self.rules.violations[self._seen:]
        self._seen = len(self.rules.violations)
        more = self.rules.violation_count - len(self.rules.violations)
        return [str(v) for v in new] + ([f"... {more} more violations"] if more and new else [])


async def watch(dut, checker: CocotbAxiChecker, clock: str = "clk") -> None:
    """Sample ``checker`` once per cycle at ``ReadOnly`` after every rising edge, forever:
    ``cocotb.start_soon(watch(dut, CocotbAxiChecker(dut, bus_bytes, lite="axil", ...)))``
    in a bench that has no per-cycle loop of its own; call ``checker.take()`` to see what
    it found."""
    from cocotb.triggers import ReadOnly, RisingEdge

    clk, cycle = getattr(dut, clock), 0
    while True:
        await RisingEdge(clk)
        await ReadOnly()
        checker.sample(cycle)
        cycle += 1

