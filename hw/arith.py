"""PE arithmetic: the one pluggable piece of the processing element.

The PE and the array never spell out a multiply or an add; they ask the arithmetic
object of the configured input type. FP8 arrives by adding a class here and an entry in
:func:`arithmetic_for`, without touching ``pe.py`` or ``systolic_array.py``.
"""

from __future__ import annotations

from amaranth.hdl import Shape, Value, signed

from ..model.config import AcceleratorConfig

__all__ = ["Int8Arithmetic", "arithmetic_for"]


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

    def operand_to_acc(self, operand: Value) -> Value:
        """Carry an operand on a partial-sum channel (sign-extended)."""
        return operand.as_signed() if Shape.cast(operand.shape()).signed else operand

    def acc_to_operand(self, acc: Value) -> Value:
        """Recover an operand carried by :meth:`operand_to_acc`."""
        return acc[: self.operand_shape.width].as_signed()


_ARITHMETIC = {"int8": Int8Arithmetic}


def arithmetic_for(cfg: AcceleratorConfig):
    """The arithmetic object for ``cfg.input_type``."""
    try:
        return _ARITHMETIC[cfg.input_type](cfg)
    except KeyError:
        raise NotImplementedError(f"no PE arithmetic for input_type={cfg.input_type!r}") from None
