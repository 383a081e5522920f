"""A multiplier inside a pipeline that advances on an enable: its operand and product
registers are two of the pipeline's stages (the requantization lane's partial products).

Contract, every cycle: ``a`` is registered when ``en``; ``b`` is registered in every
cycle (an operand derived from parameters that hold still while data flows); ``p`` takes
the product of the two registers when ``en``. So a value of ``a`` taken at one advance has
its product on ``p`` after the next advance, with ``b`` as it was the cycle before that
advance. No reset: the pipeline's valid bits say when ``p`` means something.

Targets (:data:`~systolica.hw.multiplier.TARGETS`):

- ``"generic"``: the three registers in the fabric; the Verilog every simulation uses.
- ``"ecp5"``: when both operands fit the cell's signed 18 bits (an unsigned one at most 17)
  and the product 36, one ``MULT18X18D`` whose input registers hold ``a`` (``CE0`` =
  ``en``) and ``b`` (``CE1``, tied high) and whose output register holds the product
  (``CE0``), as :class:`~systolica.hw.multiplier.RegisteredMultiplier` does for the PE:
  ``synth_ecp5`` leaves such registers in slices, and the routes between them and the DSP
  block were the requantization unit's critical path (``bench/fpga_timing.md``). Operands
  are extended by their own signedness to 18 bits with ``SIGNEDA``/``SIGNEDB`` set, so
  the low bits of ``P`` are the exact product.

With ``inputs=False`` the operands are not registered: ``p`` takes the product of ``a``
and ``b`` as they are when ``en`` (one stage, not two). On ``"ecp5"`` the cell's input
registers are off and its output register holds the product, so a product of fabric
registers ends inside the DSP block (the route out of it lies in the next stage).
"""

from __future__ import annotations

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Shape, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .multiplier import MULT18_WIDTH, MULT18X18D_PARAMS, check_target, mult18x18d_ports

__all__ = ["StageMultiplier", "STAGE_MULT18X18D_PARAMS", "PRODUCT_MULT18X18D_PARAMS"]

#: ``MULT18X18D`` parameters of the ``"ecp5"`` target: A and P registered on ``CE0`` (the
#: pipeline's enable), B on ``CE1`` (tied high).
STAGE_MULT18X18D_PARAMS = {**MULT18X18D_PARAMS, "REG_INPUTB_CE": "CE1"}
#: ... with ``inputs=False``: no input registers, P registered on ``CE0``.
PRODUCT_MULT18X18D_PARAMS = {**MULT18X18D_PARAMS, "REG_INPUTA_CLK": "NONE", "REG_INPUTB_CLK": "NONE"}


def _fits(shape: Shape) -> bool:
    return shape.width <= (MULT18_WIDTH if shape.signed else MULT18_WIDTH - 1)


class StageMultiplier(wiring.Component):
    """``a`` (taken when ``en``) times ``b`` (taken every cycle), registered when ``en``.

    Parameters
    ----------
    a_shape, b_shape
        The operands' shapes; the product's shape is Amaranth's for ``a * b``.
    target : str
        One of :data:`~systolica.hw.multiplier.TARGETS`.
    inputs : bool
        Whether the operands are registered (``a`` when ``en``, ``b`` every cycle); if
        not, ``p`` takes ``a * b`` itself when ``en``.

    Attributes
    ----------
    a, b : In(a_shape), In(b_shape)
    en : In(1)
        The pipeline advances: ``a`` and the product are taken.
    p : Out(product shape)
    """

    def __init__(self, a_shape, b_shape, target: str = "generic", *, inputs: bool = True):
        check_target(target)
        self.target, self.inputs = target, inputs
        a_shape, b_shape = Shape.cast(a_shape), Shape.cast(b_shape)
        product = Signal(a_shape) * Signal(b_shape)
        super().__init__({"a": In(a_shape), "b": In(b_shape), "en": In(1), "p": Out(product.shape())})

    @property
    def uses_dsp_primitive(self) -> bool:
        """Whether this multiplier is one ``MULT18X18D`` (the ``"ecp5"`` target, operands that fit)."""
        a, b, p = (Shape.cast(x.shape()) for x in (self.a, self.b, self.p))
        return self.target == "ecp5" and _fits(a) and _fits(b) and p.width <= 2 * MULT18_WIDTH

    def elaborate(self, platform):
        m = Module()
        if self.uses_dsp_primitive:
            a18, b18 = Signal(MULT18_WIDTH), Signal(MULT18_WIDTH)
            p = [Signal(name=f"p{i}") for i in range(len(self.p))]
            # assigned to wider signals, the operands extend by their own signedness
            m.d.comb += [a18.eq(self.a), b18.eq(self.b), self.p.eq(Cat(*p))]
            m.submodules.dsp = self.mult18x18d(a18, b18, p)
            return m
        p = Signal(self.p.shape(), name="p_reg", reset_less=True)
        if not self.inputs:
            with m.If(self.en):
                m.d.sync += p.eq(self.a * self.b)
            m.d.comb += self.p.eq(p)
            return m
        a = Signal(self.a.shape(), name="a_reg", reset_less=True)
        b = Signal(self.b.shape(), name="b_reg", reset_less=True)
        m.d.sync += b.eq(self.b)
        with m.If(self.en):
            m.d.sync += [a.eq(self.a), p.eq(a * b)]
        m.d.comb += self.p.eq(p)
        return m

    def mult18x18d(self, a18, b18, p):
        """The primitive (a test replaces it by a model of the cell)."""
        # (with input registers, their enable ce1 is always on; without, only the output's)
        params = STAGE_MULT18X18D_PARAMS if self.inputs else PRODUCT_MULT18X18D_PARAMS
        ce1 = {"ce1": Const(1, 1)} if self.inputs else {}
        ports = mult18x18d_ports(a18, b18, p, ClockSignal("sync"), ce0=self.en, **ce1)
        return Instance("MULT18X18D", **{f"p_{k}": v for k, v in params.items()}, **ports)
