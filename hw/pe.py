"""Processing element of the systolic array.

Every PE is the same module (the array instances it ``rows * cols`` times). Per cycle it
does one multiply and one add, in the arithmetic of the configured input type
(:mod:`systolica.hw.arith`), in four stages and one ahead of them: the multiplier's
operands are registers and so is the product, so the operand select (stage 0), the
multiplier (stage 2) and the adder (stage 4) are timed apart -- on an FPGA the route to and from the DSP block was three
quarters of the array's critical path, and the operand select's control bits are the same
along an anti-diagonal, so synthesis merges them into one flip-flop that drives PEs far
apart. Stage 3 registers the product again (``p3``), in the fabric: on the ECP5 the
product's register is the DSP block's own, and the route from it to the adder's carry
chain, wherever the placer puts the adder, was the 8x8 top's most common late path
(``bench/fpga_timing.md``, daa7c24: 318 endpoints, a 7.98 ns route). The multiplier with its registers is a component of its own
(:class:`~systolica.hw.multiplier.RegisteredMultiplier`): on the ECP5 its registers are the
DSP block's own (``target="ecp5"``), elsewhere registers in the fabric.

Stage 0, the cycle before a wavefront reaches the PE: its control bits (``ctrl_in``) and
B operand (``b_in``) arrive a cycle ahead of its A operand. The PE chooses the operand,
``w[ctrl_in.sel]`` (WS, with a weight captured in that cycle) or ``b_in`` (OS), into a
register of its own (``op1``), and passes the control and B on registered (``ctrl_out``,
``b_out``): a cycle ahead of the next PEs' wavefront too. So the multiplier's operand is a
register with no logic before the DSP block's input (timing: the select's LUT between
two long routes, the 8x8 top at 2bb9326 --seed 3, a weight -> the select -> an 8.23 ns
route -> the ``MULT18X18D``, -0.31 ns). Stage 1, the cycle the wavefront reaches the PE
(``a_in``; its control is ``ctrl_out``): the multiplier registers ``a_in`` and ``op1``, and
``a_in`` passes on registered (``a_out``). Stage 2, the next cycle: the multiplier
registers their product; the control moves on to ``ctrl2``. Stage 3: the product moves to
``p3``, the control to ``ctrl3``. Stage 4, with the wavefront's control in ``ctrl4`` and its
product in ``p3`` (``p`` below):

- **WS**: ``v_out <= v_in + p``: partial sums flow down the column three cycles behind the
  operands, while the two weight buffers stay put. ``ctrl.sel`` picks the buffer the
  wavefront's tile uses.
- **OS**: ``acc <= acc + p``; the B operand travels down on its own chain (``b_in`` ->
  ``b_out``, with the operands). On the tile's ``last`` wavefront the final sum goes to
  the drain register ``d`` and ``acc`` restarts at zero.

Weight delivery (double buffering): weight beats travel down the column on ``t``. A PE
captures the first beat aimed at a buffer it has not filled yet and removes it from the
chain; later beats of that tile pass on. Capturing into one buffer marks the other as
free for the tile after. So beat ``p`` of a tile lands in row ``p`` and the next tile
loads while the current one computes (a weight is read in stage 0 only).

Drain: when ``ctrl.drain`` is set (in stage 4: ``ctrl4.drain``), ``d <= d_in`` (the
drain register of the PE above); the array times the drain so it never meets a capture.

Reset: only the control state has a reset value -- ``ctrl_out``, ``ctrl2``, ``ctrl3``, ``ctrl4``
(``valid``, ``drain``, ...), the buffer flags ``full``, the weight beat's ``valid`` on
``t_out`` and the OS accumulator ``acc`` (a tile's first beat adds to it). The data path
-- ``a_out``, ``b_out``, ``op1``, the multiplier's operand and product registers, ``p3``,
``v_out``, ``d_out``, the weights ``w0``/``w1`` and the weight beat's ``buf``/``w`` -- has
none (``reset_less``): Amaranth's synchronous reset is a multiplexer
in front of every register, evaluated every cycle for ``rows * cols`` PEs, and an FPGA
would route the reset to each of them for nothing. After a reset these registers hold
whatever they held (their initial value after power-up); none of it reaches an output:

- ``a_out``, ``b_out``, the multiplier's registers, ``p3``, ``v_out``: a value computed
  from a stale operand is a bubble's; the array takes a result only from a wavefront whose ``ctrl.valid`` (reset)
  is set, and each wavefront's sum is built from its own ``a``, its own ``b`` or weight
  and its own ``v_in`` (zero at the top edge); OS ``acc`` accumulates only on
  ``ctrl.valid``.
- ``w0``/``w1``: a WS wavefront enters the array only once its tile's weight beats have
  all entered since reset (the array's ``wt_loaded`` counter, reset), and beat ``p``
  reaches row ``p`` before the tile's first wavefront does, so the buffer ``ctrl.sel``
  picks was written since reset.
- ``t_out`` payload: read only with ``t_out.valid`` (reset) set.
- ``d_out``: the array drains only after an OS tile's ``last`` beat (its
  ``drain_pending``, reset), which has written every ``d`` of the column first; the drain
  shifts ``rows`` values, all of them written by that ``last`` beat.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..model.array import Dataflow
from ..model.config import AcceleratorConfig
from .arith import arithmetic_for
from .copies import kept_copies
from .multiplier import RegisteredMultiplier

__all__ = ["ProcessingElement", "pass_ctrl", "pe_ctrl_layout", "steer_bits", "weight_beat_layout"]

#: Control bits that travel with a wavefront, left to right.
pe_ctrl_layout = data.StructLayout({
    "valid": 1,          # a real data beat (not a bubble)
    "dataflow": Dataflow,
    "sel": 1,            # WS: which weight buffer this tile uses
    "last": 1,           # last beat of its tile
    "drain": 1,          # OS drain shift enable for this PE (not tied to the wavefront)
})


def steer_bits(ws: bool, os_: bool) -> tuple[str, ...]:
    """The control bits a PE's operand select reads in stage 0 (``ctrl_in``): the weight
    buffer with WS, and the dataflow when both dataflows are built."""
    return (("sel",) if ws else ()) + (("dataflow",) if ws and os_ else ())


def pass_ctrl(m: Module, ctrl, out, steer: tuple[str, ...], *, reg_name: str, steer_name: str) -> None:
    """``out <= ctrl`` (one cycle), with the bits that steer an operand select
    (:func:`steer_bits`) in registers of their own, kept apart (:func:`kept_copies`,
    named ``{steer_name}{bit}0``). The control is the same along an anti-diagonal, so
    Yosys would merge each such register with its equals into one flip-flop that steers
    the selects of PEs far apart (timing: the 8x8 top at e007b07,
    `core.array.ctrl_in3.sel` -> a 4.97 ns route -> the select of `row_0.pe_3` -> a 4.79
    ns route -> its multiplier, -0.78 ns; with `--seed 2` at 840e268, `ctrl_in6.sel` ->
    an 8.31 ns route, -0.92 ns): kept apart, each drives the one PE it feeds. The PEs
    pass their control on with it, and so does the array's chain down its rows."""
    passed = Signal(pe_ctrl_layout, name=reg_name)
    m.d.sync += passed.eq(ctrl)
    m.d.comb += out.eq(passed)
    for name in steer:
        (kept,) = kept_copies(m, getattr(ctrl, name), 1, name=f"{steer_name}{name}", shape=1)
        m.d.comb += getattr(out, name).eq(kept)


def weight_beat_layout(operand_shape) -> data.StructLayout:
    """One weight element travelling down a column."""
    return data.StructLayout({"valid": 1, "buf": 1, "w": operand_shape})


class ProcessingElement(wiring.Component):
    """One multiply-accumulate cell, four stages (see the module docstring).

    Parameters
    ----------
    cfg : AcceleratorConfig
        Gives the arithmetic (input type), ``acc_bits`` and the supported dataflows
        (logic for an unsupported dataflow is not generated).
    target : str
        The multiplier's implementation (:data:`systolica.hw.multiplier.TARGETS`):
        ``"generic"`` registers, or the ECP5's ``MULT18X18D`` with its own registers.

    Attributes
    ----------
    a_in, ctrl_in : In
        Operand and control bits of the wavefront from the left, the control a cycle ahead
        of the operand; passed on registered as ``a_out``, ``ctrl_out`` (one cycle per
        column).
    b_in, b_out : In/Out(operand)
        OS B operand from the PE above, a cycle ahead of the wavefront (with its control);
        passed on registered.
    v_in : In(signed(acc_bits))
        WS partial sum from the PE above, three cycles behind its wavefront.
    v_out : Out
        Registered: WS ``v_in + p`` (three cycles behind the wavefront).
    d_in, d_out : In/Out(signed(acc_bits))
        OS drain chain: ``d_out`` is this PE's drain register.
    t_in, t_out : In/Out(weight_beat_layout)
        WS weight delivery chain (registered).
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        self.cfg, self.target = cfg, target
        self.arith = arithmetic_for(cfg)
        op, acc = self.arith.operand_shape, self.arith.acc_shape
        beat = weight_beat_layout(op)
        super().__init__({
            "a_in": In(op), "ctrl_in": In(pe_ctrl_layout), "b_in": In(op), "v_in": In(acc),
            "d_in": In(acc), "t_in": In(beat),
            "a_out": Out(op), "ctrl_out": Out(pe_ctrl_layout), "b_out": Out(op), "v_out": Out(acc),
            "d_out": Out(acc), "t_out": Out(beat),
        })

    def elaborate(self, platform):
        m = Module()
        ar = self.arith
        ws, os_ = self.cfg.supports("ws"), self.cfg.supports("os")

        def os_mode(ctrl):
            return (ctrl.dataflow == Dataflow.OS) if ws and os_ else Const(int(os_), 1)

        # stage 0, the cycle before the wavefront arrives: its control and B operand are
        # here (`ctrl_in`, `b_in`), its operand is chosen and registered (`op1`); control
        # and B pass on, a cycle ahead of the next PE's wavefront too
        ctrl = self.ctrl_in
        pass_ctrl(m, ctrl, self.ctrl_out, steer_bits(ws, os_), reg_name="ctrl_pass", steer_name="steer_")
        weight = self._weight_buffers(m, ctrl) if ws else 0
        if os_:
            m.d.sync += _data_register(m, "b", self.b_out).eq(self.b_in)
        else:
            m.d.comb += self.b_out.eq(0)
        operand = Mux(os_mode(ctrl), self.b_in, weight) if ws and os_ else (weight if ws else self.b_in)
        op = Signal(ar.operand_shape, name="op1", reset_less=True)
        m.d.sync += op.eq(operand)
        # stage 1: A arrives and passes on; stages 1 and 2: the multiplier registers a_in
        # and the operand, then their product (its control: `ctrl_out`, then `ctrl2`)
        a_reg = _data_register(m, "a", self.a_out)
        m.d.sync += a_reg.eq(self.a_in)
        mult = m.submodules.mult = RegisteredMultiplier(ar, self.target)
        m.d.comb += [mult.a.eq(self.a_in), mult.b.eq(op)]
        ctrl2 = Signal(pe_ctrl_layout, name="ctrl2")
        m.d.sync += ctrl2.eq(self.ctrl_out)
        # stage 3: the product again, in a register in the fabric (see the module docstring)
        p = Signal(mult.p.shape(), name="p3", reset_less=True)
        ctrl3 = Signal(pe_ctrl_layout, name="ctrl3")
        m.d.sync += [p.eq(mult.p), ctrl3.eq(ctrl2)]
        ctrl4 = Signal(pe_ctrl_layout, name="ctrl4")
        m.d.sync += ctrl4.eq(ctrl3)

        # stage 4: the same wavefront three cycles after it arrived, its control in ctrl4
        if ws:
            m.d.sync += _data_register(m, "v", self.v_out).eq(
                _wire(m, "sum", ar.accumulate(self.v_in, p), ar.acc_shape))
        else:
            m.d.comb += self.v_out.eq(0)
        d_reg = _data_register(m, "d", self.d_out)
        if os_:
            acc = Signal(ar.acc_shape)         # reset: the first beat of a tile adds to it
            total = _wire(m, "total", ar.accumulate(acc, p), ar.acc_shape)
            is_os4 = os_mode(ctrl4)
            with m.If(ctrl4.valid & is_os4):
                m.d.sync += acc.eq(Mux(ctrl4.last, 0, total))
            with m.If(ctrl4.drain):
                m.d.sync += d_reg.eq(self.d_in)
            with m.Elif(ctrl4.valid & is_os4 & ctrl4.last):
                m.d.sync += d_reg.eq(total)
        return m

    def _weight_buffers(self, m: Module, ctrl):
        """Two stationary weights; returns the one ``ctrl.sel`` picks in the next cycle
        (with a beat captured in this one)."""
        op = self.arith.operand_shape
        w = [Signal(op, name=f"w{i}", reset_less=True) for i in range(2)]
        full = Signal(2)
        t = self.t_in
        take = t.valid & ~full.bit_select(t.buf, 1)
        # the beat's valid bit is reset; its payload is not
        t_valid = Signal(name="t_valid")
        t_reg = Signal(weight_beat_layout(op), name="t_reg", reset_less=True)
        m.d.comb += [self.t_out.eq(t_reg), self.t_out.valid.eq(t_valid)]
        m.d.sync += [t_valid.eq(t.valid & ~take), t_reg.eq(t)]
        with m.If(take):
            m.d.sync += full.eq(Mux(t.buf, 0b10, 0b01))
        w_next = [Mux(take & (t.buf == i), t.w, w[i]) for i in range(2)]
        m.d.sync += [w[i].eq(w_next[i]) for i in range(2)]
        return Mux(ctrl.sel, w_next[1], w_next[0])


def _data_register(m: Module, name: str, port) -> Signal:
    """A register without reset driving output ``port`` (see the module docstring)."""
    reg = Signal(port.shape(), name=f"{name}_reg", reset_less=True)
    m.d.comb += port.eq(reg)
    return reg


def _wire(m: Module, name: str, value, shape=None) -> Signal:
    """Bind ``value`` to a named signal so every use shares one piece of logic."""
    sig = Signal(shape if shape is not None else value.shape(), name=name)
    m.d.comb += sig.eq(value)
    return sig
