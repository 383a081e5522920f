"""One row of processing elements.

For Verilog, the array instances this module ``rows`` times and it instances the PE
``cols`` times, by module name (``Instance``), so elaboration handles ``rows + cols``
instances instead of ``rows * cols``: 128x128 then elaborates in seconds rather than
minutes (Amaranth builds a per-bit netlist for every instance connection, which dominated
the flat version's time). :func:`separate_modules` switches this on while Verilog is
emitted (``hw/generate.py``); otherwise the PEs and rows are ordinary Amaranth submodules,
so the array runs in Amaranth's simulator.
"""

from __future__ import annotations

import contextlib
import contextvars

from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from .arith import arithmetic_for
from .pe import ProcessingElement, pe_ctrl_layout, weight_beat_layout

__all__ = ["PeRow", "PE_MODULE_NAME", "ROW_MODULE_NAME", "separate_modules", "modules_separate"]

#: Verilog module names; the generator emits each module once.
PE_MODULE_NAME = "systolica_pe"
ROW_MODULE_NAME = "systolica_pe_row"

_SEPARATE = contextvars.ContextVar("systolica_separate_modules", default=False)


@contextlib.contextmanager
def separate_modules():
    """While active, elaboration refers to the PE and the PE row by module name
    (``Instance``) instead of building them: for Verilog emitted module by module."""
    token = _SEPARATE.set(True)
    try:
        yield
    finally:
        _SEPARATE.reset(token)


def modules_separate() -> bool:
    """Whether :func:`separate_modules` is active."""
    return _SEPARATE.get()


def _v(x):
    return x.as_value() if hasattr(x, "as_value") else x


class PeRow(wiring.Component):
    """``cols`` PEs side by side; operands flow left to right inside, the vertical
    channels (partial sums/B, drain, weight delivery) cross the row boundary.

    Attributes
    ----------
    a_in, ctrl_in : In
        Operand and control into column 0.
    b_in, v_in, d_in, t_in : In(ArrayLayout(..., cols))
        From the row above (per column), as the PE's ``b_in``, ``v_in``, ``d_in``, ``t_in``.
    b_out, v_out, d_out, t_out : Out(ArrayLayout(..., cols))
        This row's PE registers, to the row below.
    ctrl_out : Out(pe_ctrl_layout)
        Control leaving the last column (the array's output tags).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        ar = arithmetic_for(cfg)
        C = cfg.cols
        acc_vec = data.ArrayLayout(ar.acc_shape, C)
        op_vec = data.ArrayLayout(ar.operand_shape, C)
        beat_vec = data.ArrayLayout(weight_beat_layout(ar.operand_shape), C)
        super().__init__({
            "a_in": In(ar.operand_shape), "ctrl_in": In(pe_ctrl_layout),
            "b_in": In(op_vec), "v_in": In(acc_vec), "d_in": In(acc_vec), "t_in": In(beat_vec),
            "b_out": Out(op_vec), "v_out": Out(acc_vec), "d_out": Out(acc_vec), "t_out": Out(beat_vec),
            "ctrl_out": Out(pe_ctrl_layout),
        })

    def elaborate(self, platform):
        m = Module()
        ar = arithmetic_for(self.cfg)
        a_in, ctrl_in = self.a_in, self.ctrl_in
        for j in range(self.cfg.cols):
            if not modules_separate():
                pe = m.submodules[f"pe_{j}"] = ProcessingElement(self.cfg)
                m.d.comb += [pe.a_in.eq(a_in), pe.ctrl_in.eq(ctrl_in), pe.b_in.eq(self.b_in[j]),
                             pe.v_in.eq(self.v_in[j]), self.b_out[j].eq(pe.b_out),
                             pe.d_in.eq(self.d_in[j]), pe.t_in.eq(self.t_in[j]),
                             self.v_out[j].eq(pe.v_out), self.d_out[j].eq(pe.d_out),
                             self.t_out[j].eq(pe.t_out)]
                a_in, ctrl_in = pe.a_out, pe.ctrl_out
                continue
            a_out = Signal(ar.operand_shape, name=f"a_{j}")
            ctrl_out = Signal(pe_ctrl_layout, name=f"ctrl_{j}")
            m.submodules[f"pe_{j}"] = Instance(
                PE_MODULE_NAME,
                i_clk=ClockSignal(), i_rst=ResetSignal(),
                i_a_in=_v(a_in), i_ctrl_in=_v(ctrl_in),
                i_b_in=_v(self.b_in[j]), i_v_in=_v(self.v_in[j]), i_d_in=_v(self.d_in[j]), i_t_in=_v(self.t_in[j]),
                o_b_out=_v(self.b_out[j]),
                o_a_out=a_out, o_ctrl_out=_v(ctrl_out),
                o_v_out=_v(self.v_out[j]), o_d_out=_v(self.d_out[j]), o_t_out=_v(self.t_out[j]),
            )
            a_in, ctrl_in = a_out, ctrl_out
        m.d.comb += self.ctrl_out.eq(ctrl_in)
        return m
