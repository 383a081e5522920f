"""The sum of three terms as one carry chain (carry-save, then one adder).

``a + b + c`` as two adders is two carry chains one after the other; here the three terms
are first reduced to two bit by bit (their sum and carry bits: one LUT level), and one
carry chain adds those. Used where such a sum ended a critical path: the DMA check's
extent against the window (``hw/dma_common.py``) and the requantization unit's product
from its four partial products (``hw/requant.py``).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed

__all__ = ["sum3"]


def sum3(m: Module, name: str, a, b, c) -> Signal:
    """``a + b + c`` exactly, a signed signal wide enough for it (each term sign- or
    zero-extended by its own shape), driven in ``m``'s combinational domain. The reduced
    sum and carries are exact modulo ``2 ** width``, and the value fits in ``width``
    signed bits, so the truncated chain is exact."""
    width = max(len(v) + (not v.shape().signed) for v in (a, b, c)) + 2
    terms = []
    for k, term in enumerate((a, b, c)):
        t = Signal(signed(width), name=f"{name}_t{k}")
        m.d.comb += t.eq(term)
        terms.append(t.as_unsigned())
    x, y, z = terms
    ones = Signal(width, name=f"{name}_ones")
    carries = Signal(width, name=f"{name}_carries")
    m.d.comb += [ones.eq(x ^ y ^ z), carries.eq(((x & y) | (x & z) | (y & z)) << 1)]
    total = Signal(signed(width), name=name)
    m.d.comb += total.eq(ones + carries)     # truncated to `width` bits: exact, it fits
    return total
