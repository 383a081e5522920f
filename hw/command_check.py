"""The fetch unit's check of one command, as logic: exactly
:func:`systolica.model.isa.check_command` (same rules, same order, same codes)."""

from __future__ import annotations

from amaranth.hdl import C, Module, Mux, Signal, Value
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model.array import Dataflow
from ..model.config import AcceleratorConfig
from ..model.dma import DmaError
from ..model.isa import QUEUE_OF, Opcode, Status, command_layout, token_bits
from ..model.numerics import SHIFT_RANGE
from ..model.requant_fp8 import OUT_TYPES
from .dma_common import CHECK_STAGES, Decoded, check_command, window_layout
from .multiplier import check_target
from .stage_multiplier import StageMultiplier

__all__ = ["CommandCheck", "LATENCY"]

#: Cycles from ``cmd`` and ``window`` becoming stable to ``status`` being valid.
LATENCY = CHECK_STAGES


class CommandCheck(wiring.Component):
    """The status a fetched command gets (``Status.OK`` when it may be queued; END is
    OK), pipelined: valid :data:`LATENCY` cycles after ``cmd`` and ``window`` became
    stable, for as long as they stay so (the DMA check's products and sums are registered,
    see :func:`~.dma_common.check_command`; COMPUTE's bounds twice; the other checks
    once).

    Attributes
    ----------
    cmd : In(command_layout(cfg))
        The command's bits.
    window : In(window_layout(cfg))
        The program's DRAM window (DMA commands must stay inside).
    status : Out(Status)
    dma_error : Out(DmaError)
        The DMA check's code when ``status`` is ``Status.DMA``.

    ``target``: the DMA check's multipliers (:class:`~.stage_multiplier.StageMultiplier`,
    enabled every cycle: on ``"ecp5"`` each product with its operand registers is one
    ``MULT18X18D``).
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        check_target(target)
        self.cfg, self.target = cfg, target
        super().__init__({"cmd": In(command_layout(cfg)), "window": In(window_layout(cfg)),
                          "status": Out(Status), "dma_error": Out(DmaError)})

    def elaborate(self, platform):
        m = Module()
        h, body = self.cmd.header, self.cmd.body
        op = h.opcode
        legal_op = 0
        legal_tokens = 0
        for opcode in Opcode:
            queue = QUEUE_OF.get(opcode)
            bits = token_bits(queue) if queue is not None else dict.fromkeys(
                ("pop_prev", "pop_next", "push_prev", "push_next"))
            forbidden = C(0, 1)
            for bit, ch in bits.items():
                if ch is None:
                    forbidden = forbidden | getattr(h, bit)
            legal_op = legal_op | (op == opcode)
            legal_tokens = legal_tokens | ((op == opcode) & ~forbidden)

        dma_err = self._dma(m, body.dma, op == Opcode.STORE)
        compute = _register(m, "compute_status", self._compute(m, body.compute))
        requant_ok = _register(m, "requant_ok", self._requant(m, body.requant))
        legal_op = _register(m, "legal_op", legal_op)
        legal_tokens = _register(m, "legal_tokens", legal_tokens)
        with m.If(~legal_op):
            m.d.comb += self.status.eq(Status.ILLEGAL_OPCODE)
        with m.Elif(~legal_tokens):
            m.d.comb += self.status.eq(Status.ILLEGAL_TOKENS)
        with m.Elif(((op == Opcode.LOAD) | (op == Opcode.STORE)) & (dma_err != DmaError.OK)):
            m.d.comb += [self.status.eq(Status.DMA), self.dma_error.eq(dma_err)]
        with m.Elif(op == Opcode.COMPUTE):
            m.d.comb += self.status.eq(compute)
        with m.Elif((op == Opcode.REQUANT) & ~requant_ok):
            m.d.comb += self.status.eq(Status.BAD_REQUANT)
        return m

    def _dma(self, m: Module, d, is_store):
        dec = Decoded(m, d)
        return check_command(m, self.cfg, dec, self.window, store=is_store,
                             stage=lambda name, value: _register(m, name, value),
                             multiply=lambda name, a, b: self._multiply(m, name, a, b),
                             product=lambda name, a, b: self._multiply(m, name, a, b, inputs=False))

    def _multiply(self, m: Module, name: str, a, b, inputs=True):
        """``a * b`` two cycles later: operands and product registered (one stage each);
        with ``inputs=False`` a cycle later, the product registered."""
        mult = m.submodules[name] = StageMultiplier(Value.cast(a).shape(), Value.cast(b).shape(), self.target,
                                                    inputs=inputs)
        m.d.comb += [mult.a.eq(a), mult.b.eq(b), mult.en.eq(1)]
        return mult.p

    def _compute(self, m: Module, c):
        """The COMPUTE status in two register stages: each bound is compared on its own,
        both dataflows' side by side, and registered; the dataflow picks among the
        registered bits. (Timing: the controller alone at ``a70faee``, 93.1 MHz, ran from
        the dataflow bit through ``Mux(ws, rows, n)``, a sum and its compare to
        ``compute_status``.)"""
        cfg = self.cfg
        ws = c.dataflow == Dataflow.WS
        n = c.count
        bit = lambda name, value: _register(m, f"compute_{name}", value)  # noqa: E731
        ws_r = bit("ws", ws)
        supported = bit("supported", Mux(ws, int(cfg.supports("ws")), int(cfg.supports("os"))))
        shape_ok = bit("shape_ok", (n != 0) & _at_most(c.rows_used, cfg.rows) & _at_most(c.cols_used, cfg.cols))
        a_ok = bit("a_ok", c.a_row + n <= cfg.spad_rows)
        ws_ok = bit("ws_ok", (c.b_row + cfg.rows <= cfg.spad_rows) & (c.c_row + n <= cfg.acc_rows))
        os_ok = bit("os_ok", (c.b_row + n <= cfg.spad_rows) & (c.c_row + cfg.rows <= cfg.acc_rows))
        in_range = shape_ok & a_ok & Mux(ws_r, ws_ok, os_ok)
        return Mux(~supported, Status.ILLEGAL_OPCODE, Mux(in_range, Status.OK, Status.COMPUTE_RANGE))

    def _requant(self, m: Module, r):
        """The lane exists and :func:`systolica.model.requant.lane_problem` (FP8:
        :func:`systolica.model.requant_fp8.fp8_lane_problem`) is None. Two register stages
        (``requant_ok`` is the second): each part is registered on its own, the clamp
        range for both output types side by side, and the AND of the parts chooses
        among them (timing: the controller alone at 0e88897, 101.3 MHz, ran from the
        command's scale through the whole check into ``requant_ok``)."""
        stage = lambda name, value: _register(m, f"requant_{name}", value)   # noqa: E731
        p = r.params
        scale = p.scale
        scale_ok = stage("scale_ok", ~scale[31] & (scale[23:31] != 0xFF) & (scale != 0))
        u8 = stage("u8", (p.qmax > 127) | (p.zero_point > 127))
        in_range = {}
        for name, (lo, hi) in {"u8": (0, 255), "s8": (-128, 127)}.items():
            ok = 1
            for v in (p.zero_point, p.qmin, p.qmax):
                ok = ok & (v >= lo) & (v <= hi)
            in_range[name] = stage(f"in_{name}", ok)
        ranges_ok = Mux(u8, in_range["u8"], in_range["s8"]) & stage("ordered", p.qmin <= p.qmax)
        lane_ok = stage("lane_ok", r.all_lanes | _at_most(r.lane, self.cfg.cols - 1))
        if self.cfg.is_float:      # out_type 0/1 (FP8) ignore the integer clamp; 3 is no type
            integer = stage("integer", p.out_type == OUT_TYPES["int8"])
            typed = stage("typed", p.out_type != 3)
            return lane_ok & scale_ok & typed & (~integer | ranges_ok)
        shift_ok = stage("shift_ok", (p.shift >= SHIFT_RANGE[0]) & (p.shift <= SHIFT_RANGE[1]))
        return lane_ok & Mux(stage("scheme", p.scheme), scale_ok, shift_ok) & ranges_ok


# the requantization check takes two register stages of the check's
assert LATENCY >= 2


def _register(m: Module, name: str, value) -> Signal:
    """A register of ``value``'s shape, taking it every cycle (its inputs are stable)."""
    reg = Signal(Value.cast(value).shape(), name=name)
    m.d.sync += reg.eq(value)
    return reg


def _at_most(value, bound: int):
    """``value <= bound``, as a constant when the field cannot exceed it (lint: CMPCONST)."""
    return C(1, 1) if (1 << len(value)) - 1 <= bound else value <= bound
