"""Sums of three or more terms as one carry chain (carry-save, then one adder).

``a + b + c`` as two adders is two carry chains one after the other; here the terms are
first reduced to two bit by bit (three terms to their sum and carry bits, one LUT level,
as often as it takes), and one carry chain adds those. Used where such a sum ended a
critical path: the DMA check's extent against the window (``hw/dma_common.py``) and the
requantization unit's product from its four partial products and its rounding term
(``hw/requant.py``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed

__all__ = ["sum3", "sum_of"]


def sum_of(m: Module, name: str, *values) -> Signal:
    """The sum of ``values`` (two or more) exactly, a signed signal wide enough for it
    (each term sign- or zero-extended by its own shape), driven in ``m``'s combinational
    domain. Every reduction is exact modulo ``2 ** width``, and the value fits in
    ``width`` signed bits, so the truncated chain is exact."""
    assert len(values) >= 2, "a sum of two or more terms"
    width = max(len(v) + (not v.shape().signed) for v in values) + (len(values) - 1).bit_length()
    terms = []
    for k, term in enumerate(values):
        t = Signal(signed(width), name=f"{name}_t{k}")
        m.d.comb += t.eq(term)
        terms.append(t.as_unsigned())
    level = 0
    while len(terms) > 2:
        x, y, z = terms[:3]
        ones = Signal(width, name=f"{name}_ones{level}" if level else f"{name}_ones")
        carries = Signal(width, name=f"{name}_carries{level}" if level else f"{name}_carries")
        m.d.comb += [ones.eq(x ^ y ^ z), carries.eq(((x & y) | (x & z) | (y & z)) << 1)]
        terms = terms[3:] + [ones, carries]
        level += 1
    total = Signal(signed(width), name=name)
    m.d.comb += total.eq(terms[0] + terms[1])     # truncated to `width` bits: exact, it fits
    return total


def sum3(m: Module, name: str, a, b, c) -> Signal:
    """``a + b + c`` exactly: :func:`sum_of` of three terms."""
    return sum_of(m, name, a, b, c)
