"""The PE's multiplier: registered operands, a registered product, two cycles.

Contract: ``p`` in cycle ``t + LATENCY`` is ``arith.multiply(a, b)`` of the operands
presented in cycle ``t`` (:mod:`systolica.hw.arith`); every cycle, no enable, no reset (the
PE takes a product only with its wavefront's control bits, see :mod:`systolica.hw.pe`).

Targets (``target``, one of :data:`TARGETS`):

- ``"generic"``: three registers in the fabric around the arithmetic's product; the
  Verilog every simulation and every non-ECP5 flow uses.
- ``"ecp5"``: for integer operands of at most 18 bits, one Lattice ``MULT18X18D`` whose
  own input registers (A, B) and output register hold the operands and the product. On the
  ECP5 the routes to and from a DSP block were most of the array's critical path
  (``bench/fpga_timing.md``); ``synth_ecp5`` maps a product to ``MULT18X18D`` but leaves
  the registers in slices, so the flow instantiates the primitive itself. The operands are
  sign-extended to 18 bits with ``SIGNEDA``/``SIGNEDB`` set, so the 36-bit ``P`` is the
  exact product; its low bits are ``p``. Each register is clocked by ``CLK0`` (the
  ``sync`` domain's clock), enabled by ``CE0`` (tied high) and reset by ``RST0`` (tied
  low), synchronously (``RESETMODE``), outside the global reset (``GSR``); the pipeline
  register between the multiplier and the output register is not used. Other
  arithmetic (FP8) and other widths use the generic registers. The primitive is a black
  box to every simulator here; ``tests/test_multiplier_sim.py`` checks the instance
  against a model of the documented register behaviour, and the generic Verilog is the
  one the RTL suites compare with the golden model.
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import Int8Arithmetic

__all__ = ["RegisteredMultiplier", "LATENCY", "TARGETS", "check_target", "MULT18X18D_PARAMS", "MULT18_WIDTH",
           "mult18x18d_ports"]

# The parameter names and defaults are the cell's in Yosys (share/lattice/cells_bb_ecp5.v);
# what they select (a register per REG_*_CLK/CE/RST choice, SIGNEDx registered with its
# operand) follows Lattice's simulation model of the cell; tests/test_multiplier_sim.py
# models that behaviour and nextpnr-ecp5 times the cell by the same parameters.

#: Cycles from the operands to their product on ``p``.
LATENCY = 2
#: Implementations of the multiplier (see the module docstring).
TARGETS = ("generic", "ecp5")
#: Bits of a ``MULT18X18D`` operand, A and B (P has twice as many); the stage
#: multiplier's cells are the same.
MULT18_WIDTH = 18

#: ``MULT18X18D`` parameters of the ``"ecp5"`` target: registered A, B and P on CLK0/CE0/RST0.
MULT18X18D_PARAMS = {
    "REG_INPUTA_CLK": "CLK0", "REG_INPUTA_CE": "CE0", "REG_INPUTA_RST": "RST0",
    "REG_INPUTB_CLK": "CLK0", "REG_INPUTB_CE": "CE0", "REG_INPUTB_RST": "RST0",
    "REG_INPUTC_CLK": "NONE",
    "REG_PIPELINE_CLK": "NONE",
    "REG_OUTPUT_CLK": "CLK0", "REG_OUTPUT_CE": "CE0", "REG_OUTPUT_RST": "RST0",
    "CLK0_DIV": "ENABLED", "HIGHSPEED_CLK": "NONE", "GSR": "DISABLED", "CAS_MATCH_REG": "FALSE",
    "SOURCEB_MODE": "B_INPUT", "MULT_BYPASS": "DISABLED", "RESETMODE": "SYNC",
}


def check_target(target: str) -> None:
    """Refuse a ``target`` that is not one of :data:`TARGETS`, naming the allowed ones."""
    if target not in TARGETS:
        raise ValueError(f"target={target!r}: unknown, allowed one of {list(TARGETS)}")


def mult18x18d_ports(a18, b18, p, clk, ce0=Const(1, 1), ce1=None) -> dict:
    """``Instance`` port arguments of one ``MULT18X18D``: signed A and B (18 bits each) from
    the A/B inputs; P's low ``len(p)`` bits out, one signal per bit in ``p`` (the rest
    unconnected); CLK0 from ``clk``, CE0 from ``ce0`` (high unless given), RST0 low; CE1
    from ``ce1`` when given (for registers the parameters put on CE1)."""
    ports = {f"i_A{i}": a18[i] for i in range(MULT18_WIDTH)}
    ports |= {f"i_B{i}": b18[i] for i in range(MULT18_WIDTH)}
    ports |= {f"i_C{i}": Const(0, 1) for i in range(MULT18_WIDTH)}
    ports |= {f"o_P{i}": p[i] for i in range(len(p))}
    ports |= {"i_SIGNEDA": Const(1, 1), "i_SIGNEDB": Const(1, 1), "i_SOURCEA": Const(0, 1), "i_SOURCEB": Const(0, 1),
              "i_CLK0": clk, "i_CE0": ce0, "i_RST0": Const(0, 1)}
    if ce1 is not None:
        ports["i_CE1"] = ce1
    return ports


class RegisteredMultiplier(wiring.Component):
    """``p`` = ``arith.multiply(a, b)`` two cycles later (see the module docstring).

    Parameters
    ----------
    arith
        The arithmetic (:func:`systolica.hw.arith.arithmetic_for`): operand shape and product.
    target : str
        One of :data:`TARGETS`.

    Attributes
    ----------
    a, b : In(operand_shape)
        The operands, every cycle.
    p : Out(product shape)
        Their product, ``LATENCY`` cycles later.
    """

    def __init__(self, arith, target: str = "generic"):
        check_target(target)
        self.arith, self.target = arith, target
        op = arith.operand_shape
        product = arith.multiply(Signal(op), Signal(op))
        super().__init__({"a": In(op), "b": In(op), "p": Out(product.shape())})

    @property
    def uses_dsp_primitive(self) -> bool:
        """Whether this multiplier is one ``MULT18X18D`` (the ``"ecp5"`` target, integer operands)."""
        op = Shape.cast(self.arith.operand_shape)
        return (self.target == "ecp5" and isinstance(self.arith, Int8Arithmetic)
                and op.signed and op.width <= MULT18_WIDTH)

    def elaborate(self, platform):
        m = Module()
        if self.uses_dsp_primitive:
            a18, b18 = Signal(MULT18_WIDTH), Signal(MULT18_WIDTH)
            # P's low bits, the exact product (one signal per bit: the cell's ports are bits)
            p = [Signal(name=f"p{i}") for i in range(Shape.cast(self.p.shape()).width)]
            # a signed operand assigned to a wider signal is sign-extended
            m.d.comb += [a18.eq(self.a.as_signed()), b18.eq(self.b.as_signed()), self.p.eq(Cat(*p))]
            m.submodules.dsp = self.mult18x18d(a18, b18, p)
            return m
        a = Signal(self.arith.operand_shape, name="a_reg", reset_less=True)
        b = Signal(self.arith.operand_shape, name="b_reg", reset_less=True)
        product = self.arith.multiply(a, b)
        p = Signal(product.shape(), name="p_reg", reset_less=True)
        m.d.sync += [a.eq(self.a), b.eq(self.b), p.eq(product)]
        m.d.comb += self.p.eq(p)
        return m

    def mult18x18d(self, a18, b18, p):
        """The primitive on 18-bit operands, P's low bits into ``p`` (a test replaces it by a
        model of the cell)."""
        return Instance("MULT18X18D", **{f"p_{k}": v for k, v in MULT18X18D_PARAMS.items()},
                        **mult18x18d_ports(a18, b18, p, ClockSignal("sync")))
