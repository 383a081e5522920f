"""Pieces shared by the DMA's load and store engines: the window, the decoded command and
the checks.

Everything here follows :mod:`systolica.model.dma`; see its module docstring for the
contract (runs, bursts, checks and their order).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data

from ..model.config import AcceleratorConfig
from ..model.dma import DIMS, DmaError, dma_command_layout, encodable_elem_bytes, onchip_rows_limit
from .carry_save import sum3

__all__ = ["window_layout", "product_register", "Decoded", "check_command", "CHECK_STAGES", "CommandFrontEnd"]


def window_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """The host's DRAM window: bytes ``lo <= a < hi`` may be accessed."""
    return data.StructLayout({"lo": cfg.addr_bits, "hi": cfg.addr_bits})


def product_register(m: Module, name: str, a, b, c, *, bound: int) -> Signal:
    """``a * b * c`` (unsigned) in two register stages, ``a * b`` and then the product:
    the value of inputs that stayed stable is there two cycles later, exact whenever
    ``a * b * c <= bound``; other products come out modulo ``2 ** bound.bit_length()``,
    the register's width. The engines use it only for commands that passed the check,
    whose on-chip rows are at most the bound. So both products keep only their low bits:
    two narrow multipliers with nothing after them (timing: the 8x8 top's path was the
    first product, then its saturation; before that, the second product at ``a * b``'s
    full width, two MULT18X18D and a carry chain)."""
    bits = bound.bit_length()
    ab = Signal(bits, name=f"{name}_ab")
    abc = Signal(bits, name=name)
    m.d.sync += [ab.eq(a * b), abc.eq(ab * c)]      # (an assignment keeps the low bits)
    return abc


class Decoded:
    """Quantities every engine derives from a (registered) command view ``c``."""

    def __init__(self, m: Module, c):
        self.c = c
        self.eb = Signal(1 << len(c.elem_log2), name="elem_bytes")
        m.d.comb += self.eb.eq(1 << c.elem_log2)
        self.n = [c.sizes[d] for d in range(DIMS)]
        self.s = [c.strides[d] for d in range(DIMS)]
        self.pb = [c.pad_before[d] for d in range(DIMS)]
        self.p = []
        for d in range(DIMS):
            p = Signal(17, name=f"padded{d}")
            m.d.comb += p.eq(c.pad_before[d] + c.sizes[d] + c.pad_after[d])
            self.p.append(p)
        #: runs are whole row vectors when the innermost stride is one element
        self.contiguous = Signal(name="contiguous")
        m.d.comb += self.contiguous.eq(self.s[3] == self.eb)
        self.run_bytes = Signal(20, name="run_bytes")
        m.d.comb += self.run_bytes.eq(Mux(self.contiguous, self.bytes_of(self.n[3]), self.eb))
        #: elements per row vector
        self.row_len = Signal(17, name="row_len")
        m.d.comb += self.row_len.eq(Mux(c.transpose, self.p[2], self.p[3]))

    def bytes_of(self, elements):
        """``elements * elem_bytes``, as a shift (no multiplier)."""
        return elements << self.c.elem_log2


#: Registers deep the pipelined check is (``check_command`` with ``stage``): its status
#: is valid this many cycles after the command and window became stable.
CHECK_STAGES = 5


def check_command(m: Module, cfg: AcceleratorConfig, dec: Decoded, window, store, *, stage=None,
                  multiply=None, product=None):
    """The status :func:`systolica.model.dma.check` gives, as logic (first failing check).

    ``store`` is the command's direction: a Python bool (an engine knows its own) or a
    1-bit value (the fetch unit checks both kinds). ``stage`` (``stage(name, value)``
    -> a register of ``value``'s shape holding it) pipelines the check so that every
    multiplier has registers on both sides and no adder follows one in the same stage
    (see the stage comments), so the status is valid :data:`CHECK_STAGES` cycles after
    the command and the window became stable (they must stay so). ``multiply(name, a,
    b)`` (with ``stage``) -> a register holding ``a * b`` two cycles after ``a`` and
    ``b``: the product's operand registers and its own are two of the stages, so a caller
    may put all three in a DSP block (default: ``stage`` for each); ``product(name, a,
    b)`` -> a register holding ``a * b`` a cycle after ``a`` and ``b`` (which are
    registers), which a caller may put in the DSP block (default: ``stage``). Without
    ``stage`` the check is combinational."""
    reg = stage or (lambda name, value: value)
    mul = multiply or (lambda name, a, b: reg(name, reg(f"{name}_a", a) * reg(f"{name}_b", b)))
    prod = product or (lambda name, a, b: reg(name, a * b))
    c = dec.c
    to_acc = c.target
    width = Mux(to_acc, cfg.cols, cfg.spad_row_elems)
    capacity = Mux(to_acc, cfg.acc_rows, cfg.spad_rows)
    store_eb_ok = dec.eb == 1
    store_shape_ok = ~c.transpose & (c.pad_before.as_value() == 0) & (c.pad_after.as_value() == 0)
    load_eb_ok = Mux(to_acc, (dec.eb == 4) | (dec.eb == cfg.acc_elem_bytes), dec.eb == cfg.input_bits // 8)
    # a load's shape: ~transpose | (~to_acc & (padded3 <= width)), its compare of a padded
    # size (a sum) taken in stage 2 as ``wide_block``
    load_shape_ok = ~c.transpose | ~to_acc
    if isinstance(store, bool):
        eb_ok, shape_ok = (store_eb_ok, store_shape_ok) if store else (load_eb_ok, load_shape_ok)
        direction_ok = c.store == int(store)
        is_load = int(not store)
    else:
        eb_ok = Mux(store, store_eb_ok, load_eb_ok)
        shape_ok = Mux(store, store_shape_ok, load_shape_ok)
        direction_ok = c.store == store
        is_load = ~store
    empty = 0
    for d in range(DIMS):
        empty = empty | (dec.n[d] == 0)
    # pad_value must be a sign-extended element (TensorDescriptor's range)
    pv = c.pad_value.as_unsigned()
    pad_ok = 0
    for e in encodable_elem_bytes(cfg):
        if 8 * e > len(pv):      # any 64-bit pad_value is a sign-extended 16-byte element
            pad_ok = pad_ok | (dec.eb == e)
            continue
        top = pv[8 * e - 1:]
        pad_ok = pad_ok | ((dec.eb == e) & ((top == 0) | (top == (1 << len(top)) - 1)))
    # (each kind of bad field is a flag of its own, ORed two stages on, where the flags
    # only pass: the field tests are several LUT levels each, one ahead of the other
    # would be too many; timing: the 8x8 top at 2aa321b --seed 4, the fetch check's
    # command -> six LUT levels -> `check_bad`, -0.44 ns)
    bad = Cat(~direction_ok | ~eb_ok, ~shape_ok, empty, ~pad_ok)

    # stage 1: the multipliers' operands (registered by ``mul``). A span (size - 1) *
    # stride is taken as two products of at most 18 x 18 bits (one DSP each): the
    # stride's low 17 bits (unsigned) and the rest (signed). ``room`` is what the on-chip
    # rows may take. The
    # checks on padded sizes (sums) are registered as their operands and compared in
    # stage 2 (timing: the controller alone at 16bd633, 89.1 MHz: the command register ->
    # a padded size's carry chain -> its compare -> `check_bad`)
    bad = reg("check_bad", bad)
    row_len, padded3 = reg("check_row_len", dec.row_len), reg("check_padded3", dec.p[3])
    width1 = reg("check_width", width)
    wide_block = reg("check_transposing", is_load & c.transpose & ~to_acc)   # its padded3 <= width
    rows2 = reg("check_rows2", Mux(c.transpose, dec.p[3], dec.p[2]))
    room = reg("check_room", capacity - c.row)
    n1 = [(dec.n[d] - 1)[:16] for d in range(DIMS)]
    s_lo = [dec.s[d].as_unsigned()[:17] for d in range(DIMS)]
    s_hi = [dec.s[d][17:].as_signed() for d in range(DIMS)]
    base = reg("check_base", c.base)
    eb = reg("check_eb", dec.eb)
    # stage 2: the products, one multiplier each (timing: the 8x8 top at e3d6b37, the
    # routes to and from a span's MULT18X18D, 3.78 and 3.90 ns, 132 endpoints to -2.13)
    bad = reg("check_bad2", Cat(bad, (row_len > width1) | (wide_block & (padded3 > width1))))
    rows01 = mul("check_rows01", dec.p[0], dec.p[1])
    rows2, room, base, eb = (reg(f"{n}2", v) for n, v in
                             (("check_rows2", rows2), ("check_room", room), ("check_base", base), ("check_eb", eb)))
    span_lo = [mul(f"check_span_lo{d}", n1[d], s_lo[d]) for d in range(DIMS)]
    span_hi = [mul(f"check_span_hi{d}", n1[d], s_hi[d]) for d in range(DIMS)]
    # stage 3: the spans (one adder); rows0 * rows1 clamped to a width the last product
    # can take in one multiplier: every padded size is at least one (else ``bad``), so a
    # clamped value above ``capacity`` still fails the row check, as the exact one would
    bad = reg("check_bad3", bad.any())
    sat = onchip_rows_limit(cfg).bit_length() + 1
    rows01_sat = Mux(rows01[sat:] != 0, (1 << sat) - 1, rows01[:sat])
    room, base, eb = (reg(f"{n}3", v) for n, v in
                      (("check_room", room), ("check_base", base), ("check_eb", eb)))
    spans = [reg(f"check_span{d}", (span_hi[d] << 17) + span_lo[d]) for d in range(DIMS)]
    # stage 4: on-chip rows (one multiplier, its operands registered in stage 3, in the
    # fabric: the saturation above starts at the DSP block of `rows01`, so it ends at a
    # slice; timing: the 8x8 top at d439d8e, `rows01`'s cell -> the saturation -> this
    # product's cell, -0.90 ns; the product registered by ``product``, in its cell: the
    # 8x8 top at 9ccfb6f --seed 2, `check_rows23` -> a 2.92 ns route -> the cell -> a
    # 3.20 ns route -> `check_onchip_rows`, -0.57 ns); the extent's terms summed in pairs
    bad = reg("check_bad4", bad)
    room = reg("check_room4", room)
    onchip_rows = prod("check_onchip_rows", reg("check_rows01_sat", rows01_sat), reg("check_rows23", rows2))
    # (each span split by its sign bit alone: a zero span is the same 0 on either side,
    # and ``x > 0`` would put a 50-bit zero test before the carry chain; timing: the
    # controller alone at 919448b, 91.6 MHz: `check_span2` -> five LUT levels of that
    # test -> the pair's sum -> `check_pos1`)
    pairs = [spans[d:d + 2] for d in range(0, DIMS, 2)]
    neg = [reg(f"check_neg{k}", sum(Mux(x[-1], x, 0) for x in pair)) for k, pair in enumerate(pairs)]
    pos = [reg(f"check_pos{k}", sum(Mux(x[-1], 0, x) for x in pair)) for k, pair in enumerate(pairs)]
    # (the base against the window's ends: the extent's compares become sign tests)
    below_lo = reg("check_base_lo", base - window.lo)
    # (``~hi`` read as signed is -hi - 1, so the far end's test below is a sign bit too)
    above_hi = reg("check_base_hi", base + eb + ~Cat(window.hi, Const(0, 1)).as_signed())
    # stage 5: the extent against the window, exact (no wraparound): the lowest byte
    # touched less ``lo`` and the highest less ``hi`` (one past it less ``hi`` less one);
    # the on-chip rows against the room. Only flags are registered, so the status is a
    # choice among register bits (timing: the compares after this stage were the
    # controller's path)
    bad = reg("check_bad5", bad)
    rows_over = reg("check_rows_over", onchip_rows > room)
    # (each side a sum of three terms: carry-save, then one carry chain; timing: the
    # controller alone at 7269aba, 87.8 MHz: `check_pos1` -> two chained adders ->
    # `check_outside`, 61 levels)
    lo_end, hi_end = sum3(m, "check_lo_end", below_lo, *neg), sum3(m, "check_hi_end", above_hi, *pos)
    outside = reg("check_outside", (lo_end < 0) | (hi_end >= 0))

    err = Signal(DmaError, name="check_error")
    with m.If(bad):
        m.d.comb += err.eq(DmaError.BAD_DESCRIPTOR)
    with m.Elif(rows_over):
        m.d.comb += err.eq(DmaError.ROW_RANGE)
    with m.Elif(outside):
        m.d.comb += err.eq(DmaError.WINDOW)
    with m.Else():
        m.d.comb += err.eq(DmaError.OK)
    return err


class CommandFrontEnd:
    """What both engines do with a command, in order: take it from ``engine.cmd`` into
    the register ``c`` (IDLE), check it (CHECK: the status becomes ``err``; the burst
    walker ``gen`` starts when OK), run until ``finished`` is driven high (RUN), give
    ``err`` on ``engine.status`` (STATUS). ``running`` is high in RUN; ``start`` for the
    cycle before (engines reset their counters on it). With ``check=False`` the commands
    were checked before (the fetch unit does it for the whole accelerator): CHECK passes.
    ``burst_heads``: the walker's output queue's head registers (:class:`BurstGen`)."""

    def __init__(self, m: Module, cfg: AcceleratorConfig, engine, *, store: bool, check: bool = True,
                 burst_heads: int = 2):
        from .dma_bursts import BurstGen  # the walker imports this module

        self.c = c = Signal(dma_command_layout(cfg))
        self.dec = Decoded(m, c)
        self.err = err = Signal(DmaError)
        if check:
            check = check_command(m, cfg, self.dec, engine.window, store=store)
        else:
            check = Const(DmaError.OK.value, DmaError)
        m.submodules.bursts = self.gen = gen = BurstGen(cfg, burst_heads)
        self.finished = Signal()
        self.start = gen.start
        #: the command is being taken into ``c`` (engines may register what they derive
        #: from ``engine.cmd.payload`` then: it is ``c``'s from the next cycle)
        self.taking = Signal()
        m.d.comb += self.taking.eq(engine.cmd.valid & engine.cmd.ready)
        m.d.comb += [gen.cmd.eq(c), gen.next_cmd.eq(engine.cmd.payload), gen.take.eq(self.taking)]
        # the status is valid in STATUS: a flag of its own, set as the state is entered, so
        # the controller's completion starts at one flip-flop, not at the state's decode
        # (timing: the 8x8 top at e007b07, `load.fsm_state` -> a 2.95 ns route -> the
        # completion -> the token counters' `load_execute_total`, -0.31 ns)
        status_valid = Signal(name="status_valid")
        m.d.comb += engine.status.valid.eq(status_valid)
        # and so is RUN (`running`), which the engines' request and beat logic read (timing:
        # the 8x8 top at 3c4552c, `store.fsm_state` -> the row request's take -> the
        # enables of `req_left0`, -0.65 ns; -> `w_shift*`, -0.47 ns)
        self.running = running = Signal(name="running")
        # the status's payload is ``err`` in every cycle (only ``status.valid`` gives it a
        # meaning), not ``err`` gated by STATUS's decode (timing: the 8x8 top at 56e24bb,
        # `load.fsm_state` -> the payload -> the run control's `new_error`, -0.31 ns)
        m.d.comb += engine.status.payload.eq(err)
        # and CHECK (`checking`): the cycle after a command is taken, so `start` is a
        # flip-flop and the check's flags, not the state's decode (timing: the 8x8 top at
        # a8989be, `store.fsm_state` -> `start` -> the W offset's next value -> `w_shift*`,
        # -0.56 ns)
        checking = Signal(name="checking")
        check_ok = check == DmaError.OK
        m.d.sync += checking.eq(self.taking)
        m.d.comb += gen.start.eq(checking & check_ok)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += engine.cmd.ready.eq(1)
                with m.If(engine.cmd.valid):
                    m.d.sync += c.eq(engine.cmd.payload)
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.sync += err.eq(check)
                with m.If(check_ok):
                    m.d.sync += running.eq(1)
                    m.next = "RUN"
                with m.Else():
                    m.d.sync += status_valid.eq(1)
                    m.next = "STATUS"
            with m.State("RUN"):
                with m.If(self.finished):
                    m.d.sync += [status_valid.eq(1), running.eq(0)]
                    m.next = "STATUS"
            with m.State("STATUS"):
                with m.If(engine.status.ready):
                    m.d.sync += status_valid.eq(0)
                    m.next = "IDLE"
