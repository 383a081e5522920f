"""Requantization lane: one column's accumulator values in, 8-bit activations out.

One lane per array column, twelve pipeline stages, one vector per cycle. Each lane
computes, bit for bit, :func:`systolica.model.numerics.requantize` for its column with
the scheme its parameters select (:data:`systolica.model.requant.LANE_PARAMS`):

====== =============================== ====================================================
stage  TFLite fixed point              ONNX float32 scale
====== =============================== ====================================================
1      ``x = wrap32(acc + bias)``      same
2      double: ``y = wrap32(x << left)`` int32 -> float32: sign, magnitude, the leading
       single: ``y = x``               zeros of its one's complement
3      --                              normalise (shift out the leading zeros)
4      --                              the mantissa's 24 bits and whether they round up
5      ``p = y * multiplier`` (64 b)   ``p = mant * scale_mant`` (48 b), exponents added
       -- one shared 32 x 31 multiplier: four 16-bit partial products --
6      -- the partial products registered again, in the fabric --
7      -- the partial products added: the exact product (ONNX: of the rounded mantissa) --
8      double: ``r = (p + 2^30) >> 31`` normalise the product: its 24-bit mantissa, guard
       single: ``p + 2^(total-1)``     and sticky bits
9      --                              round to 24 bits (nearest even): the float32
                                       product, its exponent and shift amounts
10     double: RoundingDivideByPOT:    float32 -> integer: the shifted magnitude, round
       shift, round-up decision;       half to even's decision
       single: ``>> total``, wrap32
       (one shifter for both)
11     the rounding increment          the increment; |F| >= 1024 saturates, |F| < 0.5
                                       is 0; the sign
12     ``t = wrap32(v + zero_point)``, clamp to ``[qmin, qmax]``, low 8 bits
====== =============================== ====================================================

Registers are named after the stage that computes them (``norm3``, ``p7``, ``q12``).

The float path implements IEEE binary32 round-to-nearest-even exactly for every value
that can influence the output. Three ranges are decided without building the IEEE
special values, each exactly equivalent: a product below 2^-126 (subnormal or zero in
float32, also any subnormal ``scale``) rounds to 0 in stage 9 as it would through the
subnormal path; a product of magnitude >= 1024 (including float32 overflow to inf) lies
beyond every clamp bound (``|qmin - zp|, |qmax - zp| <= 383``), as the float does. The
TFLite path's SaturatingRoundingDoublingHighMul cannot saturate here: the multiplier is
never negative, so ``INT32_MIN * INT32_MIN`` cannot occur. (Stages 3, 4 and 9 of the
TFLite path only pass values on: the float path's normalisations were split for timing;
stage 6 passes both paths' partial products on, timing too.)

Parameters change only while the pipeline is empty
(:class:`~systolica.hw.requant_unit.RequantUnit`): a ``param`` write is taken into a
register, holds off new vectors from the next cycle and is applied once no vector is in
flight; a vector taken with it or before it has the old parameters. What later stages derive
from the parameters alone (shift amounts, the single-rounding constant, the scale's
exponent, the multiplier's parameter operand) is held in registers, new the cycle after
a write -- before any vector reaches stage 2 -- so those paths start at a register; stage 4
chooses the multiplier's data operand (timing; no cycle changes).

FP8 configurations use :class:`systolica.hw.requant_fp8.Fp8RequantLane` instead (exact
sum x float32 scale rounded once to FP8 or int8; same latency, same unit around it); the
parameter word follows the configuration (:func:`systolica.model.requant.lane_params_layout`).
"""

from __future__ import annotations

import functools

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.requant import LANE_PARAMS, OUT_BITS, lane_params_layout
from .arith import arithmetic_for
from .carry_save import sum_of
from .multiplier import check_target
from .stage_multiplier import StageMultiplier

__all__ = ["RequantLane", "acc_vector_layout", "out_vector_layout", "param_write_layout",
           "stage_register", "LATENCY", "OUT_QUEUE"]

#: Cycles from accepting an accumulator vector to its output vector being valid.
LATENCY = 12
#: Vectors :class:`~systolica.hw.requant_unit.RequantUnit` may have taken and not yet handed out: those in the lanes
#: plus its output queue. More than :data:`LATENCY`, so without backpressure the credit
#: never holds off ``acc``.
OUT_QUEUE = LATENCY + 1


def acc_vector_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    return data.StructLayout({"c": data.ArrayLayout(arithmetic_for(cfg).acc_shape, cfg.cols), "last": 1})


def out_vector_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    return data.StructLayout({"q": data.ArrayLayout(unsigned(OUT_BITS), cfg.cols), "last": 1})


def param_write_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    return data.StructLayout({"lane": range(cfg.cols), "p": lane_params_layout(cfg)})


def stage_register(m: Module, en, name: str, shape, value) -> Signal:
    """A pipeline register: ``value`` is taken when ``en`` (the whole pipeline advances)."""
    s = Signal(shape, name=name)
    with m.If(en):
        m.d.sync += s.eq(value)
    return s


def _derived_register(m: Module, name: str, shape, value) -> Signal:
    """A register of a value derived from the lane's parameters, taken every cycle."""
    s = Signal(shape, name=name)
    m.d.sync += s.eq(value)
    return s


def _clz_or_one(m: Module, name: str, x) -> Signal:
    """Leading zeros of a 32-bit value with its bit 0 set (``x | 1``: 0..31, never 32; bit
    0 is never looked at), as a tree: five levels of two-way choices, each chosen by
    whether its upper half is zero.
    Timing: as a priority encoder, a chain of 32 choices, stage 2 ended the 8x8 top's paths
    in five lanes at 0e88897 (`x1` -> `lz2`, 2.16 ns late at 100 MHz); and with the count
    32 for a zero word the register's reset input cleared its low bits behind the whole
    tree (the 8x8 top at de8b1de, -0.52 ns)."""
    def tree(bits):
        """(all zero, the leading zeros of ``bits`` with its bit 0 set)."""
        if len(bits) == 2:
            return ~bits[1] & ~bits[0], ~bits[1]
        half = len(bits) // 2
        zero_hi, lz_hi = tree(bits[half:])
        zero_lo, lz_lo = tree(bits[:half])
        return zero_hi & zero_lo, Cat(Mux(zero_hi, lz_lo, lz_hi), zero_hi)

    _, lz = tree(x[:32])
    n = Signal(5, name=name)
    m.d.comb += n.eq(lz)
    return n


class RequantLane(wiring.Component):
    """One column's requantizer (see the module docstring for the stages).

    Attributes
    ----------
    x : In(signed(acc_bits))     accumulator, sampled when ``en``
    p : In(LANE_PARAMS)          parameters (stable while data is in flight)
    en : In(1)                   advance the pipeline
    q : Out(8)                   output bits (int8 or uint8 per the clamp range)

    ``target``: the partial products' implementation
    (:class:`~systolica.hw.stage_multiplier.StageMultiplier`).
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        check_target(target)
        self.cfg, self.target = cfg, target
        super().__init__({"x": In(signed(cfg.acc_bits)), "p": In(LANE_PARAMS), "en": In(1),
                          "q": Out(OUT_BITS)})

    def _partial_product(self, m: Module, name: str, a, b):
        """Stage 5's registered ``a * b`` (``a`` is stage 4's value, taken with the stage)."""
        mult = m.submodules[name] = StageMultiplier(a.shape(), b.shape(), self.target)
        m.d.comb += [mult.a.eq(a), mult.b.eq(b), mult.en.eq(self.en)]
        return mult.p

    def elaborate(self, platform):
        m = Module()
        p = self.p
        onnx = p.scheme
        single = p.single
        reg = functools.partial(stage_register, m, self.en)
        # what stages 2..9 derive from the parameters alone, registered: the parameters
        # change only while no vector is in flight, so a vector reaches stage 2 no earlier
        # than these are the new parameters' (a write, then the vector in stage 1)
        derived = functools.partial(_derived_register, m)
        # (0 with single rounding, so stage 2's y is one shift of x, no choice after it)
        left = derived("left", 5, Mux(p.shift[-1] | single, 0, p.shift.as_unsigned()))
        # stage 10's one right shift: by total = 31 - shift (single; 1..62 for the shifts
        # the fetch unit's REQUANT check lets through, -31..30), or RoundingDivideByPOT's
        # exponent (double; 0..31)
        shift10 = derived("shift10", 6, Mux(single, 31 - p.shift,
                                           Mux(p.shift[-1], -p.shift, 0).as_unsigned()[:5]))
        # the single-rounding constant 2^((30 - shift) mod 64) and the double's remainder
        # mask 2^(-shift) - 1 (0 for shift >= 0 or -32) as compares of `shift` with
        # constants (timing: the subtractions and shifts made the unit's path)
        single_round = derived("single_round", 64, Cat(*(p.shift.as_unsigned() == (30 - i) % 64
                                                         for i in range(64))))
        # RoundingDivideByPOT's remainder bits as two masks, for exponent e = -shift
        # (1..31; none for shift >= 0 or -32): bit e - 1, the remainder's half, and the
        # bits below it
        mask_half = derived("mask_half", 32, Cat(*((p.shift == -1 - i) & (p.shift != -32) for i in range(32))))
        mask_low = derived("mask_low", 32, Cat(*((p.shift < -1 - i) & (p.shift != -32) for i in range(32))))
        sexp = p.scale[23:31]
        scale_exp = derived("scale_exp", signed(10), sexp - 127)
        scale_tiny = derived("scale_tiny", 1, sexp == 0)

        # 1: bias (int32 wraparound; narrower accumulators sign-extend); and its one's
        #    complement for stage 2's count (x, or ~x when negative), a register of its own
        #    (timing: with the complement made in stage 2, in front of the count, the 8x8
        #    top at 2bb9326 --seed 2 had nine LUT levels in `x1_1` -> `lz2`, -0.74 ns;
        #    stage 1 had 3.5 ns to spare)
        x1_sum = Signal(signed(32), name="x1_sum")
        m.d.comb += x1_sum.eq(self.x + p.bias)
        x1 = reg("x1", signed(32), x1_sum)
        x1_ones = reg("x1_ones", 32, x1_sum.as_unsigned() ^ x1_sum[-1].replicate(32))

        # 2: TFLite left shift | int -> float: sign, magnitude and its leading zeros. The
        #    zeros are counted on the one's complement (stage 1's: no adder in front of
        #    the count, timing) with bit 0 set: one too many when |x| >= 2 is a
        #    power of two (~x + 1 carries into a new top bit), which stage 3 sees as the
        #    shift's bit 32; exact for |x| = 1 (the complement 0 or 1 counts 31); x = 0
        #    counts 31 too, and `zero3` stands for it
        y2 = reg("y2", signed(32), x1 << left)
        mag = Signal(32, name="mag")
        m.d.comb += mag.eq(Mux(x1[-1], -x1, x1))          # |INT32_MIN| = 2^31 fits
        mag2 = reg("mag2", 32, mag)
        lz2 = reg("lz2", 5, _clz_or_one(m, "lz", x1_ones))
        sign2 = reg("sign2", 1, x1[-1])

        # 3: TFLite passes y on | normalise the magnitude (a power of two shifted one too far
        #    lands on bit 32, every lower bit 0: it is 2^31 with the exponent one higher)
        y3 = reg("y3", signed(32), y2)
        shifted = Signal(33, name="shifted")
        m.d.comb += shifted.eq(mag2 << lz2)
        norm3 = reg("norm3", 32, shifted[:32] | (shifted[32] << 31))
        e3 = reg("e3", signed(8), 31 - lz2)               # value = norm3 * 2^(e3 + over3 - 31)
        e3_up = reg("e3_up", signed(8), 32 - lz2)         # e3 + 1
        over3 = reg("over3", 1, shifted[32])
        sign3 = reg("sign3", 1, sign2)
        zero3 = reg("zero3", 1, mag2 == 0)

        # 4: the int's 24-bit mantissa and whether it rounds up (nearest even); TFLite
        #    passes through. The round-up is not added here: stage 7 adds the scale's
        #    mantissa once more to the product instead, `(mant + up) * b = mant * b + up * b`,
        #    so the multiplier takes `norm3`'s bits as they are (timing: the 8x8 top at
        #    401a5cf, `norm3` -> the rounding's 24-bit carry chain -> a long route -> the
        #    partial products' MULT18X18D, -0.60 ns in six lanes). The sum is the product
        #    of the rounded mantissa exactly; when the rounding carries out (all 24 bits set)
        #    that is 2^24 * b with `e4 = e3`, the value of 2^23 * b with `e3 + 1`, and
        #    stage 8 normalises by the product's top bit, so the float is the same
        up = norm3[7] & (norm3[8] | (norm3[:7] != 0))
        e4 = reg("e4", signed(8), Mux(over3, e3_up, e3))  # value = (mant + up4) * 2^(e4 - 23)
        up4 = reg("up4", 1, onnx & up)
        # the shared multiplier's operands, chosen here (timing: stage 5 starts at registers)
        a4_next = Signal(signed(32), name="a4_next")       # registered in the multipliers
        m.d.comb += a4_next.eq(Mux(onnx, norm3[8:], y3))   # 24-bit magnitude / signed 32
        sign4 = reg("sign4", 1, sign3)
        zero4 = reg("zero4", 1, zero3)

        # 5: the shared multiplier's four 16-bit partial products (one DSP block each, whose
        #    registers hold the operand `a4`, the parameter operand and the products);
        #    float exponent
        b_op = Mux(onnx, Cat(p.scale[:23], 1), p.multiplier)[:31]      # both < 2^31
        a_lo, a_hi = a4_next[:16], a4_next[16:].as_signed()
        b_lo, b_hi = b_op[:16], b_op[16:]
        pp_ll = self._partial_product(m, "pp_ll5", a_lo, b_lo)
        pp_lh = self._partial_product(m, "pp_lh5", a_lo, b_hi)
        pp_hl = self._partial_product(m, "pp_hl5", a_hi, b_lo)
        pp_hh = self._partial_product(m, "pp_hh5", a_hi, b_hi)
        e5 = reg("e5", signed(10), e4 + scale_exp)
        up5 = reg("up5", 1, up4)
        sign5 = reg("sign5", 1, sign4)
        tiny5 = reg("tiny5", 1, zero4 | scale_tiny)

        # 6: the partial products again, in the fabric (timing: a DSP block's output register
        #    to the sum below crossed the chip, a 7 ns route in the 8x8 top at 2991246,
        #    79.8 MHz; with a register between them the placer can split that route)
        pp_ll6, pp_lh6, pp_hl6, pp_hh6 = (reg(f"{n}6", v.shape(), v) for n, v in
                                          (("pp_ll", pp_ll), ("pp_lh", pp_lh), ("pp_hl", pp_hl), ("pp_hh", pp_hh)))
        e6 = reg("e6", signed(10), e5)
        round6 = reg("round6", 24, Mux(up5, Cat(p.scale[:23], 1), 0))   # up * b (ONNX)
        sign6 = reg("sign6", 1, sign5)
        tiny6 = reg("tiny6", 1, tiny5)

        # 7: the product, exact: pp_hh * 2^32 + pp_ll (no overlap) + the middle terms * 2^16
        #    + stage 4's round-up times the scale's mantissa, one carry-save sum (timing: at
        #    2991246 `mid` = lh + hl and the product were two chained carry chains)
        total = sum_of(m, "p7_sum", Cat(pp_ll6, pp_hh6).as_signed(), pp_lh6 << 16, pp_hl6 << 16, round6)
        p7 = reg("p7", signed(64), total)
        e7 = reg("e7", signed(10), e6)                    # product = p7 * 2^(e7 - 46)
        sign7 = reg("sign7", 1, sign6)
        tiny7 = reg("tiny7", 1, tiny6)

        # 8: TFLite SRDHM (double) or the rounding add (single) | the float product
        #    normalised: its mantissa, guard and sticky bits
        srdhm = (p7 + (1 << 30)) >> 31
        r8 = reg("r8", signed(64), Mux(single, p7 + single_round, srdhm))
        mant8 = reg("mant8", 24, Mux(p7[47], p7[24:48], p7[23:47]))
        guard8 = reg("guard8", 1, Mux(p7[47], p7[23], p7[22]))
        sticky8 = reg("sticky8", 1, Mux(p7[47], p7[:23] != 0, p7[:22] != 0))
        eh8 = reg("eh8", signed(10), e7 + p7[47])         # the normalised product's exponent
        sign8 = reg("sign8", 1, sign7)
        tiny8 = reg("tiny8", 1, tiny7)

        # 9: TFLite passes r on | the float product rounded to 24 bits (nearest even)
        r9 = reg("r9", signed(64), r8)
        up9, m25b = Signal(name="up9"), Signal(25, name="m25b")
        m.d.comb += [up9.eq(guard8 & (sticky8 | mant8[0])), m25b.eq(mant8 + up9)]
        # the rounding carries out (m25b[24]) only from an all-ones mantissa, so it is known
        # without the adder; what depends on ef = eh8 + carry (F = mant9 * 2^(ef - 23)) is
        # computed for both values of the carry and chosen by it (timing: the exponent's
        # adder and compares sat behind the mantissa's carry chain)
        carry = Signal(name="round_carry")
        m.d.comb += carry.eq(up9 & (mant8 == (1 << 24) - 1))

        def by_carry(f):
            return Mux(carry, f(eh8 + 1), f(eh8))

        mant9 = reg("mant9", 24, Mux(carry, 1 << 23, m25b[:24]))
        sign9 = reg("sign9", 1, sign8)
        # stage 10's shift amounts and ranges of F, from ef here (registered)
        sh9 = reg("sh9", 5, by_carry(lambda ef: 23 - ef))  # 23 - ef for ef in -1..9
        # the fraction's half, its bits below the half, and ip's bit 0 as masks of mant9
        # for ef (timing: the shift amounts' decoders sat in front of stage 10's compare):
        # made for ef = eh8 and halved here when the rounding carries (ef = eh8 + 1), so
        # stage 10 is three AND-OR reductions of registers (timing: with the halving
        # chosen by `carry9` in stage 10, the 8x8 top at 956a5c5 --seed 4, `carry9` -> six
        # LUT levels -> `up10`, -0.37 ns at 105 MHz). 25 bits hold them for ef in -1..9,
        # the only range whose rounding is used
        frac_mask = ((Const(1, 26) << (23 - eh8)[:5]) - 1)[:25]
        half = (Const(1, 25) << (22 - eh8)[:5])[:25]
        half9 = reg("half9", 25, Mux(carry, half >> 1, half))
        below9 = reg("below9", 25, Mux(carry, frac_mask >> 2, frac_mask >> 1))
        odd9 = reg("odd9", 25, Mux(carry, half, half << 1))
        zero9 = reg("zero9", 1, tiny8 | by_carry(lambda ef: ef < -1))
        big9 = reg("big9", 1, by_carry(lambda ef: ef >= 10))

        # 10: TFLite RoundingDivideByPOT (double) or the final shift (single) |
        #    float -> int: the shifts and the rounding decisions
        # RoundingDivideByPOT rounds up when remainder > (mask >> 1) + (r < 0), mask =
        # 2^e - 1: when the remainder's half bit is set and, for r < 0, a bit below it too
        # (timing: as an add and a compare, two chained carry chains, the 8x8 top at
        # 2bb9326 --seed 4, `r9` -> `inc10`, 0.76 ns short of 111 MHz)
        r32 = r9[:32].as_signed()
        rem_half = (r32 & mask_half) != 0
        rem_low = (r32 & mask_low) != 0
        # one shifter for both roundings, by a parameter register (timing: stage 10 chose
        # between two shifters by `single`). Double's r is SRDHM's result, which fits int32
        # (the multiplier is never negative: |y * multiplier| < 2^62), so shifting all 64
        # bits of it gives RoundingDivideByPOT's 32-bit arithmetic shift
        t10 = reg("t10", signed(32), (r9 >> shift10)[:32].as_signed())
        inc10 = reg("inc10", 1, ~single & rem_half & (~r32[-1] | rem_low))   # RoundingDivideByPOT rounds up

        # half to even: the fraction (mant9's bits below sh9) rounds up when its top bit
        # (the half) is set and a bit below it or ip's bit 0 is; each as an AND-OR of
        # mant9 with a mask (timing: as compares of the fraction with the half, carry
        # chains, the 8x8 top at 2bb9326 --seed 4, `carry9` -> `up10`, -1.06 ns)
        ip = mant9 >> sh9
        frac_half = (mant9 & half9) != 0
        frac_low = (mant9 & below9) != 0
        ip_odd = (mant9 & odd9) != 0
        ip10 = reg("ip10", 11, ip[:11])                    # < 1024 when neither zero nor big
        up10 = reg("up10", 1, frac_half & (frac_low | ip_odd))
        zero10 = reg("zero10", 1, zero9)
        big10 = reg("big10", 1, big9)
        sign10 = reg("sign10", 1, sign9)

        # 11: the rounding increments; |F| >= 1024 saturates, |F| < 0.5 is 0. The signed
        # value is ip + up or -(ip + up) = ~ip + ~up (ip's complement, 12 bits), two adds of
        # registers side by side and then a choice (timing: the negation's carry chain
        # followed the increment's, the 8x8 top at 9ccfb6f --seed 2, `requant.lane1.up10`
        # -> the increment -> a 3.95 ns route -> the negation -> `v11`, -0.93 ns)
        fpos = Signal(12, name="fpos")
        fneg = Signal(signed(12), name="fneg")
        m.d.comb += [fpos.eq(ip10 + up10), fneg.eq(Cat(~ip10, Const(1, 1)).as_signed() + ~up10)]
        fval = Signal(signed(12), name="fval")
        with m.If(zero10):
            m.d.comb += fval.eq(0)
        with m.Elif(big10):
            m.d.comb += fval.eq(Mux(sign10, -1024, 1024))
        with m.Else():
            m.d.comb += fval.eq(Mux(sign10, fneg, fpos))
        v11 = reg("v11", signed(32), Mux(onnx, fval, t10 + inc10))
        # whether v11 fits 11 bits (stage 12 chooses by it), from this stage's registers, not
        # from v11 (timing: in stage 12 a 22-bit test of v11 sat beside the add's and the
        # compares' carry chains, in front of the clamp's choice; the 8x8 top at be0c4f1
        # --seed 3, `requant.lane7.v11` -> `q12`, -0.03 ns). TFLite: t10 + inc10 in
        # [-1024, 1023] is t10 in it, or with the increment t10 in [-1025, 1022] (no wrap:
        # t10 = INT32_MAX is outside). ONNX: fval lies in [-1024, 1024] and is 1024 only
        # when big and positive or when ip10 + up10 carries to 1024
        def fits11(x):
            return (x[10:] == 0) | (x[10:] == (1 << 22) - 1)
        t10_fits = fits11(t10)
        tfl_small = Mux(inc10, (t10_fits & (t10 != 1023)) | (t10 == -1025), t10_fits)
        onnx_small = zero10 | sign10 | ~(big10 | ((ip10 == 1023) & up10))
        small11 = reg("small11", 1, Mux(onnx, onnx_small, tfl_small))

        # 12: t = wrap32(v11 + zero_point) clamped to [qmin, qmax], output bits. The bounds
        # and the zero point are 9-bit, so (timing: no compare behind the 32-bit add):
        # when v11 fits 11 bits, t is exact in 12 bits and clamped there; otherwise
        # |t| > 767 lies beyond both bounds and t's sign (the wrapped sum's) picks one.
        # The parameters are copied next to the stage (taken every cycle, like `derived`)
        zp, qmin, qmax = (derived(f"{n}12", signed(9), p[n]) for n in ("zero_point", "qmin", "qmax"))
        t = Signal(signed(32), name="t12")
        t_small = Signal(signed(12), name="t12_small")
        m.d.comb += [t.eq(v11 + zp), t_small.eq(v11[:11].as_signed() + zp)]
        # (the bounds' compares are made on v11 against `qmin - zero_point` and `qmax -
        # zero_point`, copied next to the stage too, beside the add, not after it: timing,
        # the 8x8 top at 2aa321b --seed 3, `requant.lane3.v11` -> the add's carry chain ->
        # the compare's -> `q12`, -0.11 ns)
        lo, hi = (derived(f"{n}_less_zero_point12", signed(11), p[n] - p.zero_point) for n in ("qmin", "qmax"))
        # Each output bit is a choice of three by two selects, each from three bits
        # (timing: the nested choices made every bit a 7-input function behind the
        # compares' carry chains, three wide-function muxes deep; the 8x8 top at be0c4f1
        # --seed 3, `requant.lane7.v11` -> `q12`, -0.03 ns)
        v_small = v11[:11].as_signed()
        to_min = Signal(name="to_min12")
        to_max = Signal(name="to_max12")
        m.d.comb += [to_min.eq(Mux(small11, v_small < lo, t[-1])),
                     to_max.eq(Mux(small11, v_small > hi, ~t[-1]))]
        c = Mux(to_min, qmin, Mux(to_max, qmax, t_small))
        q12 = reg("q12", OUT_BITS, c[:OUT_BITS])
        m.d.comb += self.q.eq(q12)
        return m
