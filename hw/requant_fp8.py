"""Requantization lane of FP8 configurations: exact sum x float32 scale, rounded once.

Computes, bit for bit, :func:`systolica.model.requant_fp8.requantize_fp8` for one column:
an exact fixed-point sum with its NaN/infinity flags in, an FP8 code (E4M3 or E5M2,
saturating, NaN kept) or an int8/uint8 value out, as many pipeline stages as the int8
lane (:class:`systolica.hw.requant.RequantLane`), one element per cycle:

===== ==============================================================================
stage
===== ==============================================================================
1     ``s = wrap(sum + bias)`` at ``acc_bits`` (exact); NaN = NaN flag or both infinities
2     sign and magnitude; ReLU turns a negative value or -inf into zero
3     ``P = |s| * significand(scale)`` (``acc_bits`` x 24 bits, exact)
4     normalise: ``P << lz`` with ``lz`` leading zeros (log-depth shifter); the binade
      ``e = W - 1 - lz + exponent(scale) - 150 - frac_bits`` (``W`` = width of ``P``)
5     the rounding position of the output format: quantum ``2**q``,
      ``q = max(e - man_bits, lsb_exp)`` (FP8 subnormals; integers: ``q = 0``), the kept
      bits ``K``, guard and sticky
6     round half to even; FP8 code ``((q - lsb_exp) << man_bits) + K`` (a carry moves to
      the next binade by itself); integer ``+-K + zero_point``
7     saturate (FP8: beyond the largest finite code; integers: clamp to ``[qmin, qmax]``),
      special values, the sign
8-12  output registers (up to the int8 lane's :data:`~systolica.hw.requant.LATENCY`)
===== ==============================================================================
"""

from __future__ import annotations

import functools

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model import fp8
from ..model.accum import acc_layout
from ..model.config import INPUT_TYPES, AcceleratorConfig
from ..model.requant import OUT_BITS
from ..model.requant_fp8 import fp8_lane_params
from .requant import LATENCY, stage_register

__all__ = ["Fp8RequantLane", "INT_MAN_BITS"]

#: Integer outputs round like a float with this many mantissa bits and quantum 1: every
#: value below 2**(INT_MAN_BITS + 1) is rounded exactly; larger ones are beyond any clamp.
INT_MAN_BITS = 10

_E4M3, _E5M2 = INPUT_TYPES["fp8_e4m3"], INPUT_TYPES["fp8_e5m2"]


def _normalise(m: Module, name: str, x) -> tuple:
    """``x << lz`` with its top bit set (unless ``x == 0``) and ``lz``, log-depth."""
    width = len(x)
    v, lz, step_bits = x, [], max(1, (width - 1).bit_length())
    for k in reversed(range(step_bits)):
        step = 1 << k
        if step >= width:
            lz.append(Const(0, 1))
            continue
        top_zero = Signal(name=f"{name}_z{k}")
        m.d.comb += top_zero.eq(v[width - step:] == 0)
        nv = Signal(width, name=f"{name}_v{k}")
        m.d.comb += nv.eq(Mux(top_zero, v << step, v))
        v = nv
        lz.append(top_zero)
    return v, Cat(*reversed(lz))


class Fp8RequantLane(wiring.Component):
    """One column's FP8-configuration requantizer (see the module docstring).

    Attributes
    ----------
    x : In(acc_layout(cfg))       partial sum (fixed-point sum and flags), sampled when ``en``
    p : In(fp8_lane_params(cfg))  parameters (stable while data is in flight)
    en : In(1)                    advance the pipeline
    q : Out(8)                    output code (FP8) or integer bits
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        super().__init__({"x": In(acc_layout(cfg)), "p": In(fp8_lane_params(cfg)), "en": In(1),
                          "q": Out(OUT_BITS)})

    def elaborate(self, platform):
        m = Module()
        cfg, p, x = self.cfg, self.p, self.x
        fmt = cfg.acc_format
        reg = functools.partial(stage_register, m, self.en)

        # 1: bias; special values
        pos = x.pos_inf if fmt.inf else Const(0, 1)
        neg = x.neg_inf if fmt.inf else Const(0, 1)
        s1 = reg("s1", signed(cfg.acc_bits), x.sum + p.bias)
        nan1 = reg("nan1", 1, x.nan | (pos & neg))
        pinf1 = reg("pinf1", 1, pos & ~neg & ~x.nan)
        ninf1 = reg("ninf1", 1, neg & ~pos & ~x.nan)

        # 2: sign and magnitude; ReLU
        sign = s1[-1]
        kill = p.relu & ((sign & ~nan1 & ~pinf1 & ~ninf1) | ninf1)
        mag2 = reg("mag2", unsigned(cfg.acc_bits), Mux(sign | kill, Mux(kill, 0, -s1), s1))
        sign2 = reg("sign2", 1, sign & ~kill)
        nan2, pinf2 = reg("nan2", 1, nan1), reg("pinf2", 1, pinf1)
        ninf2 = reg("ninf2", 1, ninf1 & ~p.relu)

        # 3: the exact product with the scale's significand
        sexp = p.scale[23:31]
        p3 = reg("p3", unsigned(cfg.acc_bits + 24), mag2 * Cat(p.scale[:23], sexp != 0))
        es3 = reg("es3", unsigned(8), Mux(sexp == 0, 1, sexp))
        sign3, nan3, pinf3, ninf3 = (reg(f"{n}3", 1, v) for n, v in
                                     (("sign", sign2), ("nan", nan2), ("pinf", pinf2), ("ninf", ninf2)))

        # 4: normalise; binade exponent
        width = cfg.acc_bits + 24
        norm, lz = _normalise(m, "norm", p3)
        n4 = reg("n4", unsigned(width), norm)
        e4 = reg("e4", signed(12), (width - 1 - 150 - fmt.frac_bits) + es3 - lz)
        zero4 = reg("zero4", 1, p3 == 0)
        sign4, nan4, pinf4, ninf4 = (reg(f"{n}4", 1, v) for n, v in
                                     (("sign", sign3), ("nan", nan3), ("pinf", pinf3), ("ninf", ninf3)))

        # 5: rounding position of the output format
        is_int = p.out_type[1]
        is_e5 = p.out_type[0]
        man = Mux(is_int, INT_MAN_BITS, Mux(is_e5, _E5M2.man_bits, _E4M3.man_bits))
        lsb = Mux(is_int, 0, Mux(is_e5, _E5M2.lsb_exp, _E4M3.lsb_exp))
        emax = Mux(is_int, INT_MAN_BITS, Mux(is_e5, 15, 8))  # largest binade of a finite output
        q = Signal(signed(13), name="q5")
        m.d.comb += q.eq(Mux(e4 - man > lsb, e4 - man, lsb))
        r = Signal(signed(14), name="r5")                   # right shift that keeps e - q + 1 bits
        m.d.comb += r.eq((width - 1) - (e4 - q))
        rc = Signal(range(width + 2), name="rc5")
        m.d.comb += rc.eq(Mux(r > width + 1, width + 1, r))
        k5 = reg("k5", unsigned(INT_MAN_BITS + 1), n4 >> rc)
        guard5 = reg("guard5", 1, Cat(Const(0, 1), n4, Const(0, 1)).bit_select(rc, 1))  # bit rc - 1
        left = Signal(range(width + 1), name="left5")       # moves the bits below the guard to the top
        m.d.comb += left.eq(width + 1 - rc)
        sticky5 = reg("sticky5", 1, (n4 << left)[:width] != 0)
        qml5 = reg("qml5", unsigned(6), (q - lsb)[:6])         # FP8 exponent part of the code
        big5 = reg("big5", 1, ~zero4 & (e4 > emax))
        zero5 = reg("zero5", 1, zero4)
        sign5, nan5, pinf5, ninf5 = (reg(f"{n}5", 1, v) for n, v in
                                     (("sign", sign4), ("nan", nan4), ("pinf", pinf4), ("ninf", ninf4)))

        # 6: round half to even; FP8 code and integer value
        k6 = Signal(INT_MAN_BITS + 2, name="k6")
        m.d.comb += k6.eq(k5 + (guard5 & (sticky5 | k5[0])))
        code6 = reg("code6", unsigned(9), (qml5 << Mux(is_e5, _E5M2.man_bits, _E4M3.man_bits)) + k6)
        max_code = Mux(is_e5, fp8.max_code(_E5M2), fp8.max_code(_E4M3))
        sat6 = reg("sat6", 1, big5)
        t6 = reg("t6", signed(14), Mux(sign5, -k6, k6) + p.zero_point)
        zero6 = reg("zero6", 1, zero5)
        sign6, nan6, pinf6, ninf6 = (reg(f"{n}6", 1, v) for n, v in
                                     (("sign", sign5), ("nan", nan5), ("pinf", pinf5), ("ninf", ninf5)))

        # 7: saturation, special values, sign
        nan_code = Mux(is_e5, fp8.nan_code(_E5M2), fp8.nan_code(_E4M3))
        fp8_code = Signal(8, name="fp8_code")
        with m.If(nan6):
            m.d.comb += fp8_code.eq(nan_code)
        with m.Elif(pinf6 | ninf6):
            m.d.comb += fp8_code.eq(Cat(max_code[:7], ninf6))
        with m.Elif(zero6):
            m.d.comb += fp8_code.eq(0)
        with m.Else():
            m.d.comb += fp8_code.eq(Cat(Mux(sat6 | (code6 > max_code), max_code, code6)[:7], sign6))
        t = Signal(signed(14), name="t7")
        with m.If(nan6 | ninf6):
            m.d.comb += t.eq(p.qmin)
        with m.Elif(pinf6):
            m.d.comb += t.eq(p.qmax)
        with m.Elif(zero6):
            m.d.comb += t.eq(p.zero_point)
        with m.Elif(sat6):                                  # |v| >= 2**11: beyond any bound
            m.d.comb += t.eq(Mux(sign6, -(1 << 12), 1 << 12))
        with m.Else():
            m.d.comb += t.eq(t6)
        clamped = Mux(t < p.qmin, p.qmin, Mux(t > p.qmax, p.qmax, t))
        q7 = reg("q7", OUT_BITS, Mux(is_int, clamped[:OUT_BITS], fp8_code))
        for n in range(8, LATENCY + 1):                    # the int8 lane's latency
            q7 = reg(f"q{n}", OUT_BITS, q7)
        m.d.comb += self.q.eq(q7)
        return m
