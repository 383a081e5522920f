"""Registers kept more than once on purpose, each copy beside the logic it drives.

A register that steers many bits (a shift amount, a select) spreads its fan-out over the
chip; copies of it, each driving one group of those bits, can each sit by its group.
Yosys merges flip-flops that load the same value (``opt_merge``), so the copies carry
the wire attribute :data:`KEEP_APART`, and the FPGA flow (:mod:`systolica.fpga`) marks
the flip-flops that drive such wires ``keep`` right after ``proc``, which ``opt_merge``
leaves apart. Elsewhere (simulation, other tools) they are plain registers holding equal
values.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal

__all__ = ["KEEP_APART", "kept_copies", "kept_wire"]

#: The wire attribute that marks a copy (``(* systolica_copy = 1 *)`` in the Verilog).
KEEP_APART = "systolica_copy"


def kept_copies(m: Module, value, n: int, *, name: str, shape, init: int = 0, en=None) -> list[Signal]:
    """``n`` registers ``name0`` .. ``name{n-1}`` that each load ``value`` every cycle, or
    in the cycles where ``en`` is high (a pipeline stage's copies of its register)."""
    regs = [Signal(shape, name=f"{name}{k}", init=init, attrs={KEEP_APART: 1}) for k in range(n)]
    with m.If(1 if en is None else en):
        m.d.sync += [r.eq(value) for r in regs]
    return regs


def kept_wire(m: Module, value, *, name: str) -> Signal:
    """A wire ``name`` equal to ``value``, marked ``keep``: synthesis computes it as a net
    of its own and the logic after it reads that net, so ABC cannot fold what comes after
    into the logic before (a choice made after it stays after it). Elsewhere a plain
    wire. (Keep only values that share no logic with each other: a kept net is also a
    cut that logic shared with it must pass through.)"""
    wire = Signal(len(value), name=name, attrs={"keep": 1})
    m.d.comb += wire.eq(value)
    return wire
