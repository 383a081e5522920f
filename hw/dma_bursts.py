"""The DMA's address walker: a command's runs, split into AXI4 INCR bursts.

Exactly :func:`systolica.model.dma.bursts`: one run per row vector ``(i0, i1, i2)`` in
row-major order (``sizes[3] * elem_bytes`` bytes) when the innermost stride is one
element, else one run per element; each run split greedily at its end, at 256 beats and
at 4 KiB boundaries. Addresses are computed by adding strides (no multiplier); they wrap
at ``addr_bits``, which cannot matter because the window check passed first.

The bursts leave from registers, the head of a two-entry queue (timing: the AXI address
channel and the engines' burst queues start at it, and the consumer's ``ready`` reaches
only the queue's flags): the first burst of a command is valid the second cycle after
``start``, and the walker moves on whenever the queue has room, so a burst per cycle.
Each burst leaves with the byte lanes of its first two beats (``BeatLanes.entry``),
computed from the walker's registers as it is queued (timing: the engines computed them
from this queue's head, between its multiplexer and their own burst queues' heads; the
load engine alone at fc6b413, 96.7 MHz: ``out``'s ``oldest`` -> that arithmetic ->
``pending.head0``, 17 levels).
The walker's loop is short (timing): the limit of the burst at ``cur`` (the smaller of
the bytes to the 4 KiB boundary and those 256 beats allow) is a register ``lim``
computed with ``cur``, so the burst is ``min(rem, lim)``; whether it ends the run
(``rem <= lim``) is a register ``run_done`` too, set wherever ``rem`` and ``lim`` are
(timing: the compare's carry chain fed the index registers' enables). A burst that does
not end its run stops at a page or 256-beat boundary, so the next one starts at byte
lane 0 and its limit follows from the page bytes left (``page_left``, a register too); a
run's first burst takes its limits from its address. The indices count down (``left``),
and which dimensions are at their end (``at_end``) or one before it (``near_end``) are
registers set as they step, so a step moves a flag and compares no index; so are whether
runs are whole row vectors and their bytes (taken with the command, ``take``, from
``next_cmd``: timing, the command's decode sat in front of the first burst's limits at
``start``). The address a run starts at when dimension ``d`` steps (``an[d]``: the
address of ``(i0, .., id + 1, 0, ...)``) is a register, added a run ahead, so no stride
add lies before the next run's limits.
"""

from __future__ import annotations

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import AXI_MAX_BEATS, AXI_PAGE_BYTES, dma_command_layout
from .beat_lanes import BeatLanes
from .copies import KEEP_APART, kept_copies
from .dma_common import Decoded
from .head_fifo import HeadFIFO

__all__ = ["BurstGen", "burst_layout"]


def burst_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """One burst: AxADDR, beats (AxLEN + 1), bytes of the run it carries, the byte lane
    of its first byte, whether it ends its row vector (the last burst of the run of
    ``(i0, i1, i2)``, or of that row's last element's run), and whether it is the
    command's last burst."""
    lanes = (cfg.bus_bytes - 1).bit_length() or 1
    return data.StructLayout({
        "addr": cfg.addr_bits,
        "beats": range(1, AXI_MAX_BEATS + 1),
        "nbytes": range(1, AXI_MAX_BEATS * cfg.bus_bytes + 1),
        "offset": lanes,
        "row_end": 1,
        "last": 1,
    })


class BurstGen(wiring.Component):
    """Walks the runs of ``cmd`` and gives its bursts in order.

    Attributes
    ----------
    cmd : In(dma_command_layout(cfg))
        The command; stable from ``start`` until the last burst was taken.
    next_cmd : In(dma_command_layout(cfg))
        The command ``cmd`` holds from the cycle after ``take`` (the engines' command
        stream, as their register takes it).
    take : In(1)
        ``next_cmd`` is being taken: the walker registers what every run of it needs. Only
        while not busy, and at least one cycle before ``start``.
    start : In(1)
        Begin walking ``cmd``, which was taken (ignored while busy).
    bursts : Out(stream.Signature(BeatLanes.layout(burst_layout(cfg), cfg.bus_bytes)))
        The bursts (from a register), ``burst`` with its beats' byte lanes (the other
        fields, :meth:`BeatLanes.entry`); ``burst.last`` marks the command's final one.
    busy : Out(1)
        Bursts remain to be given (in the walker or in the output register).

    ``heads``: the output queue's head registers (:class:`~systolica.hw.head_fifo.HeadFIFO`):
    2 for a consumer whose ``ready`` comes late in its cycle (it then reaches only the
    heads' flags), 1 for one whose ``ready`` is made of registers (``bursts.payload`` then
    comes straight from one register, with no select of two in front of the consumer's
    logic). The bursts are the same, cycle for cycle.
    """

    def __init__(self, cfg: AcceleratorConfig, heads: int = 2):
        self.cfg, self.heads = cfg, heads
        super().__init__({
            "cmd": In(dma_command_layout(cfg)),
            "next_cmd": In(dma_command_layout(cfg)),
            "take": In(1),
            "start": In(1),
            "bursts": Out(stream.Signature(BeatLanes.layout(burst_layout(cfg), cfg.bus_bytes))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        dec = Decoded(m, self.cmd)
        aw = cfg.addr_bits
        bb = cfg.bus_bytes
        lanes = (bb - 1).bit_length()
        max_bytes = AXI_MAX_BEATS * bb                       # one burst's bytes at most

        def offset_of(addr):      # an address's byte lane
            return addr[:lanes] if lanes else 0

        # the indices (i0, .., i3) as down-counters: `left[d]` = n[d] - 1 - i[d], with
        # `at_end[d]` (left == 0) and `near_end[d]` (left == 1) registers beside them, so
        # a step sets at_end from near_end and no index add or compare lies in front of
        # the flags (timing: the load engine alone at 16bd633, 86.4 MHz: at_end3 -> the
        # index registers' enables -> `i1 + 1 == n1 - 1` -> at_end0). A restart loads the
        # command's values, registered at `take`.
        left = [Signal(16, name=f"left{d}") for d in range(4)]
        near_end = [Signal(name=f"near_end{d}") for d in range(4)]
        size_m1 = [Signal(16, name=f"size_m1_{d}") for d in range(4)]      # n[d] - 1
        size_is1 = [Signal(name=f"size_is1_{d}") for d in range(4)]
        size_is2 = [Signal(name=f"size_is2_{d}") for d in range(4)]
        # address of (i0, .., id + 1, 0, ...): the next run's address if dimension d steps,
        # one register add ahead (timing: the stride add fed the next run's page limit)
        an = [Signal(aw, name=f"an{d}") for d in range(4)]
        # their values at `start` (base + stride), registered at `take` (timing: added at
        # `start`, the adders were shared with a step's, behind the start's select: the 8x8
        # top at 02a6f20, the store engine's state -> `an1`, -0.84 ns)
        an_first = [Signal(aw, name=f"an_first{d}") for d in range(4)]
        at_end = [Signal(name=f"at_end{d}") for d in range(4)]   # left[d] == 0
        cur = Signal(aw)
        rem = Signal(20)                                     # bytes left in the run
        # the limits of the burst at `cur`: bytes to the next 4 KiB boundary, and the
        # smaller of those and the bytes 256 beats from `cur` allow
        page_left = Signal(range(AXI_PAGE_BYTES + 1))
        lim = Signal(range(min(AXI_PAGE_BYTES, max_bytes) + 1))
        # what the command gives every run, and the room its base leaves the first burst (to
        # the 4 KiB boundary, and in 256 beats from its byte lane), registered at `take`
        contiguous = Signal()
        run_bytes = Signal.like(dec.run_bytes, name="run_bytes_r")
        page_room0 = Signal(range(1, AXI_PAGE_BYTES + 1))
        lane_room0 = Signal(range(max_bytes - bb + 1, max_bytes + 1))
        ahead, nb = Decoded(m, self.next_cmd), self.next_cmd.base
        with m.If(self.take):
            m.d.sync += [contiguous.eq(ahead.contiguous), run_bytes.eq(ahead.run_bytes),
                         page_room0.eq(AXI_PAGE_BYTES - nb[:12]), lane_room0.eq(max_bytes - offset_of(nb))]
            m.d.sync += [x.eq(ahead.n[d] - 1) for d, x in enumerate(size_m1)]
            m.d.sync += [x.eq(ahead.n[d] == 1) for d, x in enumerate(size_is1)]
            m.d.sync += [x.eq(ahead.n[d] == 2) for d, x in enumerate(size_is2)]
            m.d.sync += [x.eq(nb + ahead.s[d]) for d, x in enumerate(an_first)]
        busy = Signal(attrs={KEEP_APART: 1})
        # the bursts leave through a two-entry queue whose room is a register and whose
        # head is two registers (``heads`` 2): the consumer's ``ready`` reaches only the
        # queue's flags, and the walker moves on when there is room (timing: the 8x8 top at
        # 02a6f20, 75.5 MHz: the load engine's ARREADY, from the read arbiter across the
        # chip -> the walker's step -> its index and address registers' enables, the worst
        # path). The consumer sees what a single output register showed, cycle for cycle: a
        # burst walked at ``t`` is valid at ``t + 1``, one per cycle; the walker only walks
        # one burst further ahead while the consumer stalls
        entry = BeatLanes.layout(burst_layout(cfg), bb)
        m.submodules.out = outq = HeadFIFO(width=entry.size, depth=2, heads=self.heads)
        m.d.comb += [self.busy.eq(busy | outq.r_rdy), self.bursts.valid.eq(outq.r_rdy),
                     self.bursts.payload.eq(outq.r_data), outq.r_en.eq(self.bursts.ready)]

        # -- the burst at `cur`: the rest of the run, or up to its limit ---------------------
        run_done = Signal(attrs={KEEP_APART: 1})             # rem <= lim, a register
        nbytes = Signal(range(max_bytes + 1))
        m.d.comb += nbytes.eq(Mux(run_done, rem, lim))
        # the burst's span from lane 0 of its first beat (offset + nbytes), for either
        # length a register set beside it, so the queued entry's lane arithmetic starts at
        # registers (timing: the 8x8 top at d5193b6, `load.bursts.lim` -> `nbytes +
        # offset` -> the compares of BeatLanes.entry -> `out.head0`, three carry chains,
        # -1.17 ns). A run's later bursts start at lane 0; `span_rem` (offset + rem) is
        # kept modulo its width, exact when it is read (rem <= lim)
        span_lim = Signal(range(max_bytes + 1))
        span_rem = Signal(range(max_bytes + 1))
        span = Signal(range(max_bytes + 1))
        m.d.comb += span.eq(Mux(run_done, span_rem, span_lim))
        offset = offset_of(cur)
        # how the run at `cur` ends, one-hot: the command's last run, the next element
        # (gathers), or row dimension 2, 1 or 0 steps (the ones inside it restart). These
        # are registers set from the next values of the `at_end` flags, so a dimension's
        # registers are enabled by the walker's step and one flip-flop (timing: the 8x8 top
        # at 697a09b, the load walker's `out.w_rdy` -> the step -> the flags' decision
        # tree, five LUT levels -> the enables of `left0`, -0.61 ns).
        # Those next values, and the ends made of them, are made from registers for each
        # of the three things that can happen (idle: every dimension restarts; a run ends
        # and the next begins: `ran`; nothing moves), and the step only chooses (timing:
        # the 8x8 top at e007b07, `load.bursts.out.w_rdy` -> the step -> the flags' next
        # values -> `run_ends_1`, seven LUT levels, -0.79 ns)
        # With them, which dimensions the run's end writes (`"writes", d`: it steps d, or
        # restarts it for an outer one's step, or is the last run, after which the idle
        # cycle loads every register again): dimension 0 with ends 0 and "last", 1 with
        # ends 1 and 0 too, 2 unless the next element steps, 3 always
        def ends_of(ae):
            elem = ~contiguous & ~ae[3]
            return {"last": ae[0] & ae[1] & ae[2] & ~elem, "elem": elem,
                    2: ~elem & ~ae[2], 1: ~elem & ae[2] & ~ae[1], 0: ~elem & ae[2] & ae[1] & ~ae[0],
                    ("writes", 0): ~elem & ae[2] & ae[1], ("writes", 1): ~elem & ae[2], ("writes", 2): ~elem}

        ends = {k: Signal(name=f"run_ends_{k}" if not isinstance(k, tuple) else f"run_writes{k[1]}",
                          attrs={KEEP_APART: 1} if k == "last" else {})
                for k in ("last", "elem", 2, 1, 0, ("writes", 0), ("writes", 1), ("writes", 2))}
        last_run = ends["last"]
        next_elem = ends["elem"]
        # the flags once the run at `cur` ends and the next begins: the next element steps
        # (dimension 3), or dimension 3 restarts and the innermost row dimension that
        # steps does so (ends[2], ends[1], else 0), the ones inside it restarting
        ran = [Mux(next_elem, near_end[3], size_is1[3]),
               Mux(next_elem, at_end[2], Mux(ends[2], near_end[2], size_is1[2])),
               Mux(next_elem | ends[2], at_end[1], Mux(ends[1], near_end[1], size_is1[1])),
               Mux(next_elem | ends[2] | ends[1], at_end[0], near_end[0])][::-1]
        moves = Signal(name="run_moves")         # a run ends and another begins
        # (`moves` and the idle choice are made from copies of `busy`, the queue's room,
        # `run_done` and the last run's flag, registers of their own loaded as those are,
        # which drive only these flags, so they can sit beside them, away from the
        # hundreds of enables and selects the originals drive; timing: the 8x8 top at
        # 3747cfb --seed 2, `load.bursts.busy` -> a 3.09 ns route -> the advance -> a
        # 3.03 ns route -> the flags' next values -> `run_ends_0_addr0`, -1.71 ns)
        # (all of them, and the originals, marked apart: Yosys folds registers that load
        # the same value into one)
        busy_c = Signal(name="busy_flags", attrs={KEEP_APART: 1})
        room_c = Signal(name="room_flags", init=1, attrs={KEEP_APART: 1})
        done_c = Signal(name="run_done_flags", attrs={KEEP_APART: 1})
        ends_ran, ends_idle, ends_held = ends_of(ran), ends_of(size_is1), ends_of(at_end)
        m.d.sync += [at_end[d].eq(Mux(~busy_c, size_is1[d], Mux(moves, ran[d], at_end[d]))) for d in range(4)]
        ends_next = {k: Mux(~busy_c, ends_idle[k], Mux(moves, ends_ran[k], ends_held[k])) for k in ends}
        last_c = kept_copies(m, ends_next["last"], 1, name="run_last_flags", shape=1)[0]
        m.d.sync += [ends[k].eq(ends_next[k]) for k in ends]
        # the flags that choose the next run's values (`by_run_end`) are kept three times
        # more: once for the next run's address (32 bits, and the strides' adds behind it),
        # once for its first burst's limits, once for its fit (the page compares' top
        # bits), so each copy can sit by what it steers (timing: the 8x8 top at 1154364
        # --seed 2, `load.bursts.run_ends_elem` -> a 3.12 ns route -> the address's select
        # -> a 2.26 ns route -> `an0`'s add, -1.31 ns; at 956a5c5 --seed 4, the limits'
        # copy `run_ends_elem_first0` -> a 2.96 ns route -> the fit's chains -> `run_done`,
        # -0.70 ns)
        # (one-hot: the next element, dimension 2 or 1 steps, or dimension 0 steps or the
        # command ends, ("writes", 0), where the choice does not matter)
        choosers = {"elem": "elem", 2: 2, 1: 1, 0: ("writes", 0)}
        addr_ends, first_ends, fit_ends = ({k: kept_copies(m, ends_next[e], 1, name=f"run_ends_{k}_{use}", shape=1)[0]
                                            for k, e in choosers.items()} for use in ("addr", "first", "fit"))
        out = Signal(burst_layout(cfg), name="next_burst")
        m.d.comb += [
            out.addr.eq(cur),
            out.nbytes.eq(nbytes),
            out.offset.eq(offset),
            out.beats.eq((span + bb - 1) >> lanes),
            out.row_end.eq(run_done & ~ends["elem"]),
            out.last.eq(run_done & last_run),
        ]

        # -- the next run: element i3 + 1 (gathers), else the next row vector ---------------
        # (an OR of the one-hot flags' choices, two LUT levels for each bit, not a chain of
        # three selects: timing, the 8x8 top at 9ccfb6f --seed 2, `load.bursts.an0` -> the
        # fit's compare -> five LUT levels -> `run_done`, -1.75 ns)
        # which dimension's value each run end chooses (the flags' keys; dimension 3 is the
        # next element)
        dims = {"elem": 3, 2: 2, 1: 1, 0: 0}

        def by_run_end(x, sel):    # of x[d], one per dimension, the one whose step starts the next run
            a, b, c, d = (Mux(sel[k], x[n], 0) for k, n in dims.items())
            return (a | b) | (c | d)

        new_addr = Signal(aw)
        m.d.comb += new_addr.eq(by_run_end(an, addr_ends))

        # -- the limits of a run's first burst (`_first_burst`: from its address, the
        # command's base when idle) and of a later one (it starts 4 KiB- or 256-beat-aligned,
        # so at lane 0). (Made for each dimension's `an[d]` as registers set with it, they
        # put the stride's add and these in one cycle, a worse path: the 8x8 top at
        # 3c4552c, `run_ends_2` -> new_addr's select -> the add -> `an_rest2`, -1.72 ns)
        # They are made from each dimension's `an[d]` and then chosen, as `fits` is, so the
        # run's end flags reach only the choice, not the compares and differences behind
        # it (timing: the 8x8 top at a8989be, `run_ends_2` -> new_addr's select -> the page
        # limit's compare -> `lim`'s carry chain, -1.31 ns; at a0840f4 `run_ends_elem` ->
        # the same -> `span_lim`, -0.80 ns). A command's first run takes them from its base.
        firsts = [_first_burst(a, max_bytes, lanes) for a in an]
        run_first = {k: by_run_end([f[k] for f in firsts], first_ends) for k in firsts[0]}
        cmd_first = _first_burst(self.cmd.base, max_bytes, lanes)
        # the page's bytes after the burst at `cur` (page_left - lim) are a register,
        # `page_rest`, set with page_left and lim from what they are set from, so a later
        # burst's limit is a choice among registers and constants (timing: the 4x4 top at
        # e54d26e, `store.bursts.lim` -> `page_left - lim` -> its zero test -> the minimum
        # with max_bytes -> `lim`, 13 levels, -0.30 ns; at 2968b98 -0.94). A run's first
        # burst leaves 4096 - max_bytes - A[lanes:12] * bb when max_bytes limits it (A's
        # bus word: the lane's bits cancel), else nothing
        page_rest = Signal(range(AXI_PAGE_BYTES), name="page_rest")
        page_ends = page_rest == 0                 # the burst ends its page
        cont_page = Signal.like(page_left)
        m.d.comb += cont_page.eq(Mux(page_ends, AXI_PAGE_BYTES, page_rest))
        if max_bytes >= AXI_PAGE_BYTES:
            cont_lim, cont_rest = cont_page, Const(0)
        else:
            big = page_ends | (page_rest > max_bytes)          # cont_page > max_bytes
            cont_lim = Mux(big, max_bytes, page_rest)
            cont_rest = Mux(big, Mux(page_ends, AXI_PAGE_BYTES - max_bytes, page_rest - max_bytes), 0)
        # whether the next run fits its first burst (run_bytes <= run_lim) as two compares of
        # its address with registers taken at `start` (timing: not run_lim's chain and then
        # a compare): run_lim is min(4096 - A[:12], max_bytes - L), so the run fits exactly
        # when A[:12] <= 4096 - run_bytes and L <= max_bytes - run_bytes
        page_k = Signal.like(page_left)
        # bit L: a run whose address is at byte lane L may fit its first burst (run_bytes
        # <= 4096 and <= max_bytes - L), compares of run_bytes with constants, a register
        # set while idle (timing: as `offset <= max_bytes - run_bytes`, a 12-bit compare's
        # carry chain followed the stride's add, the 8x8 top at 01bcdc9 --seed 2,
        # `load.bursts.run_ends_2_addr0` -> `lane_fits1`, -0.51 ns)
        lane_mask_idle = Cat(run_bytes <= min(AXI_PAGE_BYTES, max_bytes - lane) for lane in range(bb))
        lane_mask = Signal(bb, name="lane_mask")
        # (compared for each dimension's address and then chosen, as new_addr is: timing,
        # the store engine's walker in the 8x8 top at 02a6f20: `at_end1` -> new_addr's
        # select -> the compare's carry chain -> `run_done`, -1.41 ns)
        # (Made as registers set with `an[d]`, the compares follow the stride's add in one
        # cycle, a worse path: the 8x8 top at 3c4552c, `run_ends_elem` -> new_addr's
        # select -> the add -> the compare -> `an_fits1`, -2.17 ns, 15 levels)
        # The lane's fit (`lane_mask` at the address's lane) is a register for each
        # dimension, `lane_fits[d]`, set with `an[d]`; it and the one-hot choice enter
        # the page compare's carry chain as its top bit (A + 2^13 > page_k when not
        # chosen), so each dimension's term is its chain's carry out and the fit an OR of
        # four (timing: the 8x8 top at 2bb9326 --seed 4, `load.bursts.an2` -> the
        # compare's carry chain -> five LUT levels -> `run_done`, -0.76 ns)
        lane_fits = [Signal(name=f"lane_fits{d}") for d in range(4)]
        terms = [Cat(an[d][:12], Const(0, 1), ~(fit_ends[k] & lane_fits[d])) <= page_k
                 for k, d in dims.items()]
        next_fits = Signal()
        m.d.comb += next_fits.eq(functools.reduce(operator.or_, terms))
        # whether the rest of the run fits the next burst (rem - lim <= cont_lim) as compares
        # of registers (timing: not page_left - lim, its zero test, cont_lim's select and a
        # compare in a row): cont_lim is min(cont_page, max_bytes), rem - lim <= cont_page is
        # rem <= page_left (+ 4096 when the burst ends the page), and rem - lim <= max_bytes
        # is rem_m <= lim, with rem_m = rem - max_bytes a register stepped beside rem
        rem_m = Signal(signed(len(rem) + 1))
        rest_fits = Signal()
        m.d.comb += rest_fits.eq(Mux(page_ends, rem <= page_left + AXI_PAGE_BYTES, rem <= page_left)
                                 & (rem_m <= lim))
        # the same for a command's first run, from registers taken at `take` (timing: not
        # through a select of the run's address, nor after the command's decode)
        first_fits = Signal()
        m.d.comb += first_fits.eq((run_bytes <= page_room0) & (run_bytes <= lane_room0))

        # -- the output queue takes the walker's burst when it has room ------------------------
        advance = busy & outq.w_rdy
        m.d.comb += moves.eq(busy_c & room_c & done_c & ~last_c)
        m.d.sync += room_c.eq(outq.w_rdy_next)
        m.d.comb += [outq.w_en.eq(busy), outq.w_data.eq(BeatLanes.entry(m, out, span, bb))]

        # -- the indices and the run addresses, a dimension at a time ---------------------------
        # (`ran` above makes the `at_end` flags' next values to match.) Dimension d's
        # registers are written while idle (the command's first run) and when a run ends
        # and writes d (`"writes", d`); a step is i[d] + 1, a restart i[d] = 0, and both set
        # the address a later run starts at when d steps (`an[d]`). So each enable is one LUT of four registers
        # (`busy`, the queue's room, `run_done`, the flag) and each value a choice among
        # registers (timing: as a chain of the run's end flags, the 8x8 top at 36ebc1a
        # --seed 2, `load.bursts.out.w_rdy` -> the advance -> six LUT levels -> the enables
        # of `near_end0`, `left0` and `an0`, -0.70 ns)
        def step(d):          # i[d] + 1
            return [left[d].eq(left[d] - 1), near_end[d].eq(left[d] == 2)]

        def restart(d):       # i[d] = 0
            return [left[d].eq(size_m1[d]), near_end[d].eq(size_is2[d])]

        steps = [Const(1), ends[1], ends[2], next_elem]     # which run end steps d (else restarts)
        for d in range(4):
            writes = Signal(name=f"dim{d}_writes")
            m.d.comb += writes.eq(~busy | (outq.w_rdy & run_done & (ends["writes", d] if d < 3 else 1)))
            with m.If(writes):
                with m.If(busy & steps[d]):
                    m.d.sync += step(d)
                with m.Else():
                    m.d.sync += restart(d)
                m.d.sync += an[d].eq(Mux(busy, new_addr + dec.s[d], an_first[d]))
                # (run_bytes, an_first and the command's values hold from before `start`)
                m.d.sync += lane_fits[d].eq(Mux(busy, lane_mask.bit_select(offset_of(new_addr + dec.s[d]), 1),
                                                lane_mask_idle.bit_select(offset_of(an_first[d]), 1)))

        # while idle, the walker's registers load a command's first run in every cycle
        # (from `cmd` and the registers taken at `take`, which hold it from the cycle after
        # `take`, so from before `start`): `start` sets `busy` alone, and no register's
        # enable waits for it (timing: the load engine alone at 25e602c, its state ->
        # `start` -> the enables of `an0`.., 9.77 ns; nothing reads them while idle, as
        # the output queue takes only while busy)
        # (a run's end comes first in this chain, so the next run's values, made from
        # `an[d]` through the carry chains above and the choice by the run's end, meet one
        # select before their registers, not the idle and the advance choices too; the
        # advance assigns nothing that the run's end does not assign again. Timing: the
        # 8x8 top at 4b04c65 --seed 2, `load.bursts.an1` -> the first burst's carry chain
        # -> four LUT levels -> `lim`, -0.51 ns)
        with m.If(advance & run_done):
            m.d.sync += [cur.eq(new_addr), rem.eq(run_bytes), rem_m.eq(run_bytes - max_bytes),
                         page_left.eq(run_first["page"]), lim.eq(run_first["lim"]), page_rest.eq(run_first["rest"]),
                         span_lim.eq(run_first["span"]), span_rem.eq(run_bytes + offset_of(new_addr)),
                         run_done.eq(next_fits), done_c.eq(next_fits)]
            with m.If(last_run):
                m.d.sync += [busy.eq(0), busy_c.eq(0)]
        with m.Elif(~busy):
            m.d.sync += [busy.eq(self.start), busy_c.eq(self.start), cur.eq(self.cmd.base), rem.eq(run_bytes),
                         rem_m.eq(run_bytes - max_bytes),
                         page_left.eq(cmd_first["page"]), lim.eq(cmd_first["lim"]), page_rest.eq(cmd_first["rest"]),
                         run_done.eq(first_fits), done_c.eq(first_fits), span_lim.eq(cmd_first["span"]), span_rem.eq(run_bytes + offset_of(self.cmd.base)),
                         lane_mask.eq(lane_mask_idle), page_k.eq(AXI_PAGE_BYTES - run_bytes)]
        with m.Elif(advance):
            m.d.sync += [cur.eq(cur + lim), rem.eq(rem - lim), rem_m.eq(rem_m - lim), page_left.eq(cont_page),
                         lim.eq(cont_lim), page_rest.eq(cont_rest), run_done.eq(rest_fits), done_c.eq(rest_fits), span_lim.eq(cont_lim), span_rem.eq(rem - lim)]
        return m


def _first_burst(addr, max_bytes: int, lanes: int) -> dict:
    """The first burst of a run at ``addr``: ``page``, its page's bytes from ``addr``
    (4096 - A[:12]); ``lim``, its bytes at most (the smaller of the page's and
    ``max_bytes - L``, L the byte lane, without comparing the two differences: the page is
    no longer exactly when A - L >= 4096 - max_bytes, a compare of A's bus word with a
    constant); ``span``, from lane 0 of its first beat (L + lim: to the page's end, or
    ``max_bytes``, no adder); ``rest``, the page's bytes after it (4096 - max_bytes - A's
    bus word when ``max_bytes`` limits it, else none)."""
    word = Cat(Const(0, lanes), addr[lanes:12])
    page = AXI_PAGE_BYTES - addr[:12]
    if max_bytes >= AXI_PAGE_BYTES:
        return {"page": page, "lim": page, "span": AXI_PAGE_BYTES - word, "rest": Const(0)}
    page_first = addr[lanes:12] >= (AXI_PAGE_BYTES - max_bytes) >> lanes
    return {"page": page, "lim": Mux(page_first, page, max_bytes - (addr[:lanes] if lanes else 0)),
            "span": Mux(page_first, AXI_PAGE_BYTES - word, max_bytes),
            "rest": Mux(page_first, 0, (AXI_PAGE_BYTES - max_bytes) - word)}


def _min(x, y):
    return Mux(x < y, x, y)
