"""PE arithmetic: the one pluggable piece of the processing element.

The PE, the PE row and the array never spell out a multiply or an add; they ask the
arithmetic object of the configured input types (:func:`arithmetic_for`). Every
arithmetic has the same interface:

- ``operand_shape``: one operand element (8 bits: an int8 value or an FP8 code);
- ``acc_shape``: one partial sum, :func:`systolica.model.accum.acc_layout` (the width
  of the array's results, the accumulator's entries and the requantization input);
- ``multiply(a, b)``: the exact product of an A operand (``input_type``) and a
  weight/B operand (``weight_type``), in the arithmetic's product format;
- ``accumulate(acc, product)``: ``acc + product``, exact until the sum wraps at
  ``acc_bits``; assigned to an ``acc_shape`` signal;
- ``add_partials(x, y)``: partial sum + partial sum (the accumulator's add);
- ``operand_to_acc`` / ``acc_to_operand``: carry an operand on a partial-sum channel (the
  OS B operand travels down the columns on the partial-sum wires).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Mux, Shape, Value, signed, unsigned
from amaranth.lib import data

from ..model.accum import acc_layout
from ..model.config import AcceleratorConfig, InputType

__all__ = ["Int8Arithmetic", "Fp8Arithmetic", "arithmetic_for", "fp8_product_layout"]


class Int8Arithmetic:
    """Exact int8 x int8 products, accumulated in two's complement at ``acc_bits``.

    Attributes
    ----------
    operand_shape : Shape
        Shape of one operand element (``signed(8)``).
    acc_shape : Shape
        Shape of a partial sum (``signed(acc_bits)``); sums wrap at this width.
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.operand_shape = signed(cfg.input_bits)
        self.acc_shape = signed(cfg.acc_bits)

    def multiply(self, a: Value, b: Value) -> Value:
        """Exact product (``signed(16)``)."""
        return a * b

    def accumulate(self, acc: Value, product: Value) -> Value:
        """``acc + product``; the caller assigns it to an ``acc_shape`` signal, which wraps."""
        return acc + product

    def add_partials(self, x: Value, y: Value) -> Value:
        return x + y

    def operand_to_acc(self, operand: Value) -> Value:
        """Carry an operand on a partial-sum channel (sign-extended)."""
        return operand.as_signed() if Shape.cast(operand.shape()).signed else operand

    def acc_to_operand(self, acc: Value) -> Value:
        """Recover an operand carried by :meth:`operand_to_acc`."""
        return acc[: self.operand_shape.width].as_signed()


def _shift_bits(t: InputType) -> int:
    """Bits of ``max(exponent, 1) - 1`` for every code."""
    return Shape.cast(range((1 << t.exp_bits) - 1)).width


def fp8_product_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """The exact product of two FP8 operands, 14 bits (E4M3) to 16 (mixed): the special
    flags, ``sign``, ``sig`` = the product of the significands (hidden bits included,
    0 for special products) and ``shift`` = the sum of the operands' shifts. Its value is
    ``(-1)**sign * sig * 2**shift`` in units of ``2**-product_frac_bits``."""
    a, w = cfg.a_type, cfg.w_type
    sig = (a.man_bits + 1) + (w.man_bits + 1)
    shift = Shape.cast(range(((1 << a.exp_bits) - 2) + ((1 << w.exp_bits) - 2) + 1)).width
    flags = {name: 1 for name in cfg.acc_format.flag_names}
    return data.StructLayout({**flags, "sign": 1, "sig": unsigned(sig), "shift": unsigned(shift)})


class Fp8Arithmetic:
    """Exact FP8 products accumulated exactly in a fixed-point sum with special flags.

    Decode (per operand, as :func:`systolica.model.fp8.decode`): sign, significand with
    its hidden bit, ``shift = max(exponent, 1) - 1``, NaN and infinity. Multiply: the
    significands (4 x 4 bits for E4M3, 3 x 3 for E5M2), the shifts added, the flags of
    IEEE 754 (a NaN operand or ``0 * inf``: NaN; ``inf * nonzero``: signed infinity);
    special products have a zero significand. Accumulate: the significand product
    shifted left by ``shift`` is the product's exact fixed-point value
    (``product_bits - 1`` magnitude bits); it is added to the ``acc_bits`` sum (wrapping
    two's complement) and the flags are OR-ed.

    Attributes
    ----------
    operand_shape : Shape
        ``unsigned(8)``: the FP8 code.
    acc_shape : StructLayout
        :func:`systolica.model.accum.acc_layout`: flags (low bits), then ``sum``.
    product_shape : StructLayout
        :func:`fp8_product_layout`.
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        self.operand_shape = unsigned(cfg.input_bits)
        self.acc_shape = acc_layout(cfg)
        self.product_shape = fp8_product_layout(cfg)
        self._flags = cfg.acc_format.flag_names

    @staticmethod
    def _decode(code: Value, t: InputType) -> dict:
        code = Value.cast(code)
        m_bits, e_bits = t.man_bits, t.exp_bits
        man, exp, sign = code[:m_bits], code[m_bits:m_bits + e_bits], code[7]
        top = exp == (1 << e_bits) - 1
        if t.has_inf:
            nan, inf = top & (man != 0), top & (man == 0)
        else:
            nan, inf = top & (man == (1 << m_bits) - 1), Const(0, 1)
        normal = exp != 0
        shift = Mux(normal, exp - 1, 0)[:_shift_bits(t)]
        return {"sign": sign, "sig": Cat(man, normal), "shift": shift, "nan": nan, "inf": inf,
                "zero": ~normal & (man == 0)}

    def multiply(self, a: Value, b: Value) -> data.View:
        """The exact product, a :attr:`product_shape` view."""
        x, y = self._decode(a, self.cfg.a_type), self._decode(b, self.cfg.w_type)
        nan = x["nan"] | y["nan"] | (x["inf"] & y["zero"]) | (x["zero"] & y["inf"])
        inf = (x["inf"] | y["inf"]) & ~nan
        sign = x["sign"] ^ y["sign"]
        special = nan | inf
        flags = {"nan": nan, "pos_inf": inf & ~sign, "neg_inf": inf & sign}
        sig = Mux(special, 0, x["sig"] * y["sig"])
        lay = self.product_shape
        return lay(Cat(*(flags[n] for n in self._flags), sign, sig[:lay["sig"].width],
                       (x["shift"] + y["shift"])[:lay["shift"].width]))

    def _fields(self, acc):
        return self.acc_shape(Value.cast(acc))

    def _flags_or(self, x, y) -> list:
        return [getattr(x, n) | getattr(y, n) for n in self._flags]

    def accumulate(self, acc, product) -> Value:
        """``acc + product`` (exact, wrapping at ``acc_bits``), flags OR-ed; the raw bits of
        an :attr:`acc_shape` value."""
        acc = self._fields(acc)
        p = self.product_shape(Value.cast(product))
        mag = (p.sig << p.shift)[:self.cfg.product_bits - 1]
        value = Mux(p.sign, -mag, mag)
        return Cat(*self._flags_or(acc, p), (acc.sum + value)[:self.cfg.acc_bits])

    def add_partials(self, x, y) -> Value:
        """Partial sum + partial sum (sums wrap, flags OR), raw :attr:`acc_shape` bits."""
        x, y = self._fields(x), self._fields(y)
        return Cat(*self._flags_or(x, y), (x.sum + y.sum)[:self.cfg.acc_bits])

    def operand_to_acc(self, operand: Value) -> Value:
        """The code in the low bits of a partial-sum channel."""
        return Value.cast(operand)

    def acc_to_operand(self, acc) -> Value:
        return Value.cast(acc)[: self.operand_shape.width]


def arithmetic_for(cfg: AcceleratorConfig):
    """The arithmetic object for ``cfg``'s input types."""
    return Fp8Arithmetic(cfg) if cfg.is_float else Int8Arithmetic(cfg)
