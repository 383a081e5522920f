"""AXI4 manager rules as Amaranth properties, and the subordinate a proof may assume.

A proof is a :class:`Props` on one module: every property is a named 1-bit signal (1 =
holds) behind an ``Assert``/``Assume``/``Cover``, so a counterexample's trace says by
name which rule broke (:func:`systolica.formal.sby.failed_properties`).

Reset: the sync domain's reset is a free input, high in the first cycle (assumed) and
free after, so the rules are checked through resets in the middle of a transfer too.
A rule about "the cycle after" is not applied across a reset: an AXI reset resets the
subordinate as well. The bookkeeping registers of the subordinate model are reset with
the design; ``Props.past`` registers are not.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.asserts import AnyConst, Initial
from amaranth.hdl import Assert, Assume, Cover, Module, Mux, ResetSignal, Signal, Value
from amaranth.lib.fifo import SyncFIFO

from ..hw.axi import AxiBurst
from ..model.dma import AXI_MAX_BEATS, AXI_PAGE_BYTES

__all__ = ["Prop", "Props", "handshake_rules", "burst_rules", "ReadSubordinate", "WriteSubordinate"]


@dataclass(frozen=True)
class Prop:
    kind: str      # "assert", "assume" or "cover"
    name: str      # the signal's name in traces
    text: str      # what it says


class Props:
    """The named properties of one proof module ``m``."""

    def __init__(self, m: Module):
        self.m = m
        self.rst = ResetSignal()
        self.props: list[Prop] = []
        #: the reset was high in the previous cycle
        self.after_reset = self.past(self.rst, "after_reset")
        m.d.comb += Assume(~Initial() | self.rst)          # reset at the start

    def _add(self, kind: str, name: str, cond, text: str) -> Signal:
        if any(p.name == name for p in self.props):
            raise ValueError(f"property {name!r} defined twice")
        s = Signal(name=name)
        self.m.d.comb += s.eq(cond)
        self.m.d.comb += {"assert": Assert, "assume": Assume, "cover": Cover}[kind](s)
        self.props.append(Prop(kind, name, text))
        return s

    def check(self, name: str, cond, text: str) -> Signal:
        return self._add("assert", name, cond, text)

    def assume(self, name: str, cond, text: str) -> Signal:
        return self._add("assume", name, cond, text)

    def cover(self, name: str, cond, text: str) -> Signal:
        return self._add("cover", name, cond, text)

    def past(self, value, name: str) -> Signal:
        """``value`` one cycle ago (not reset; its first-cycle value is the signal's init)."""
        value = Value.cast(value)
        s = Signal(value.shape(), name=name, reset_less=True)
        self.m.d.sync += s.eq(value)
        return s

    def stable_unless(self, name: str, when, values: dict, text: str) -> None:
        """Assume each of ``values`` keeps its value from one cycle to the next except in
        cycles where ``when`` is high (and at and right after reset)."""
        for key, value in values.items():
            value = Value.cast(value)
            before = self.past(value, f"{name}_{key}_before")
            self.assume(f"{name}_{key}_stable", when | Initial() | self.after_reset | (value == before),
                        f"{key} {text}")

    def asserts(self) -> list[Prop]:
        return [p for p in self.props if p.kind == "assert"]


def handshake_rules(p: Props, channel: str, valid, ready, payload: dict, *, assume: bool = False) -> None:
    """VALID once high stays high until READY, with every payload signal unchanged; no
    VALID in the cycle after a reset cycle (during reset and the first cycle after it).
    ``assume``: the rules of a channel the environment drives."""
    add = p.assume if assume else p.check
    waiting = p.past(valid & ~ready & ~p.rst, f"{channel}_waiting")
    add(f"{channel}_valid_held", ~waiting | valid,
        f"{channel.upper()}VALID stays high until {channel.upper()}READY")
    for name, value in payload.items():
        value = Value.cast(value)
        before = p.past(value, f"{channel}_{name}_before")
        add(f"{channel}_{name}_held", ~waiting | (value == before),
            f"{name.upper()} unchanged while {channel.upper()}VALID waits for {channel.upper()}READY")
    if assume:      # the environment's VALID is low in every reset cycle, as AXI says
        add(f"{channel}_quiet_in_reset", ~(p.rst | p.after_reset) | ~valid,
            f"no {channel.upper()}VALID during reset or in the first cycle after it")
    else:           # a synchronous reset takes effect at the clock edge
        add(f"{channel}_quiet_after_reset", ~p.after_reset | ~valid,
            f"no {channel.upper()}VALID after a reset cycle (from the second reset cycle on, "
            "and in the first cycle after reset)")


def burst_rules(p: Props, channel: str, valid, addr, length, size, burst, bus_bytes: int, *,
                assume: bool = False) -> None:
    """INCR bursts of the full bus width that stay inside one 4 KiB page."""
    lanes = (bus_bytes - 1).bit_length()
    add = p.assume if assume else p.check
    add(f"{channel}_incr", ~valid | (burst == AxiBurst.INCR), f"{channel.upper()}BURST is INCR")
    add(f"{channel}_full_width", ~valid | (size == lanes), f"{channel.upper()}SIZE is the bus width")
    start = addr[:12] & ~(bus_bytes - 1)                 # first beat's aligned address in its page
    add(f"{channel}_in_page", ~valid | (start + ((length + 1) << lanes) <= AXI_PAGE_BYTES),
            f"the burst ({channel.upper()}LEN + 1 beats from {channel.upper()}ADDR) does not cross 4 KiB")


def _count(p: Props, name: str, width: int, inc) -> Signal:
    c = Signal(width, name=name)
    p.m.d.sync += c.eq(c + inc)
    return c


class ReadSubordinate:
    """Assumptions on R: beats come only for accepted AR requests, in order (one ID),
    RLAST on beat ARLEN + 1, and R held while RREADY is low (the subordinate's own AXI
    rules). Asserts at most ``limit`` reads in flight (AR accepted, last beat not taken).
    ``sizes`` holds the ARLEN of every read in flight (one more than ``limit``, so an
    extra read is seen before it is lost)."""

    def __init__(self, p: Props, ar, *, limit: int, prefix: str = "r"):
        m = p.m
        m.submodules[f"{prefix}_lens"] = lens = SyncFIFO(width=8, depth=limit + 1)
        beat = Signal(8, name=f"{prefix}_beat")          # beats of the head read taken
        m.d.comb += [lens.w_en.eq(ar.arvalid & ar.arready), lens.w_data.eq(ar.arlen)]
        taken = ar.rvalid & ar.rready
        with m.If(taken):
            m.d.sync += beat.eq(beat + 1)
            with m.If(ar.rlast):
                m.d.sync += beat.eq(0)
                m.d.comb += lens.r_en.eq(1)
        p.assume(f"{prefix}_only_requested", ~ar.rvalid | lens.r_rdy, "R beats only for accepted reads")
        p.assume(f"{prefix}_last_beat", ~ar.rvalid | (ar.rlast == (beat == lens.r_data)),
                 "RLAST exactly on beat ARLEN + 1")
        handshake_rules(p, prefix, ar.rvalid, ar.rready,
                        {"data": ar.rdata, "resp": ar.rresp, "last": ar.rlast, "id": ar.rid}, assume=True)
        self.in_flight = lens.level
        p.check(f"{prefix}_in_flight_limit", lens.level <= limit,
                f"at most {limit} reads in flight")
        p.cover(f"{prefix}_in_flight_full", lens.level == limit, f"{limit} reads in flight")


class WriteSubordinate:
    """Assumptions on B: a response only for a burst whose AW and last W beat were both
    taken, B held while BREADY is low. Asserts at most ``limit`` writes awaiting B, and
    WLAST on the right beat: for one burst ``watch`` (any index, chosen by the solver),
    its W beats number AWLEN + 1 of the same burst's AW (W may lead or trail AW)."""

    def __init__(self, p: Props, axi, *, limit: int, count_bits: int = 8):
        m = p.m
        aw_taken = axi.awvalid & axi.awready
        w_taken = axi.wvalid & axi.wready
        b_taken = axi.bvalid & axi.bready
        aws = _count(p, "aw_count", count_bits, aw_taken)
        wls = _count(p, "wlast_count", count_bits, w_taken & axi.wlast)
        bs = _count(p, "b_count", count_bits, b_taken)
        complete = Signal(count_bits, name="both_done")
        m.d.comb += complete.eq(Mux(aws < wls, aws, wls))
        p.assume("b_only_completed", ~axi.bvalid | (complete != bs),
                 "B only for a burst whose AW and last W beat were taken")
        handshake_rules(p, "b", axi.bvalid, axi.bready, {"resp": axi.bresp, "id": axi.bid}, assume=True)
        awaiting = Signal(count_bits, name="writes_awaiting_b")
        m.d.comb += awaiting.eq(aws - bs)
        p.check("b_awaiting_limit", awaiting <= limit, f"at most {limit} writes await their B")
        p.cover("b_awaiting_full", awaiting == limit, f"{limit} writes await their B")

        # WLAST: one burst, any index (chosen by the solver), has AWLEN + 1 beats
        watch = AnyConst(count_bits)
        beat = Signal(9, name="w_beat")                  # W beats of the current burst taken
        with m.If(w_taken):
            m.d.sync += beat.eq(Mux(axi.wlast, 0, beat + 1))
        aw_seen, aw_len = Signal(name="watch_aw_seen"), Signal(8, name="watch_awlen")
        w_seen, w_len = Signal(name="watch_w_seen"), Signal(9, name="watch_w_last_beat")
        with m.If(aw_taken & (aws == watch)):
            m.d.sync += [aw_seen.eq(1), aw_len.eq(axi.awlen)]
        with m.If(w_taken & axi.wlast & (wls == watch)):
            m.d.sync += [w_seen.eq(1), w_len.eq(beat)]
        p.check("w_last_on_last_beat", ~(aw_seen & w_seen) | (w_len == aw_len),
                "WLAST on beat AWLEN + 1 of its burst (W may lead or trail AW)")
        p.check("w_no_beat_past_len", ~(aw_seen & w_taken & (wls == watch)) | (beat <= aw_len),
                "no W beat of a burst past AWLEN + 1")
        p.cover("w_last_watched", w_seen & aw_seen & (watch != 0), "a burst after the first completes")
