"""The load engine's padded row walker: which source rows are data and where they end."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.dma import dma_command_layout

__all__ = ["PaddedRows", "ROW_DIMS"]

#: The dimensions of a command's rows (0, 1, 2: outermost first); dimension 3 is the row
#: vector itself, which the walker does not step.
ROW_DIMS = 3

#: Width of the walker's down-counters. A padded index `j` and the bounds it is compared
#: with are below 2**17 (an 8-bit pad, a 16-bit size, an 8-bit pad), so a bound less `j`
#: wraps at this width to 1 exactly when `j` is one short of the bound.
_COUNT_BITS = 18


def _sums_to(terms, n: int):
    """Whether the unsigned ``terms`` add up to the small constant ``n``, as compares of
    each term with constants (one of the ways to write ``n`` as their sum)."""
    if len(terms) == 1:
        return terms[0] == n
    return Cat(*((terms[0] == i) & _sums_to(terms[1:], n - i) for i in range(n + 1))).any()


class PaddedRows(wiring.Component):
    """Walks the padded source rows of a load command, ``(j0, j1, j2)`` in row-major order
    (``j_d`` in ``0 .. pad_before[d] + sizes[d] + pad_after[d] - 1``), and says of the row
    at hand whether it is a data row and which dimensions are at their last index.

    The indices themselves are not kept, only flags of them, all registers: per dimension
    whether ``j_d`` lies in the data (``pad_before[d] <= j_d < pad_before[d] + sizes[d]``)
    and is the last index, and whether ``j_d`` is one short of each of three bounds (the
    data's first index, its last, the dimension's last), kept with down-counters of the
    rows to them. So the next row's flags are a function of flip-flops and the step (timing:
    the 8x8 top at 401a5cf, ``j_end2`` -> the equalities of ``j`` with the bounds -> the
    next row's flags, eight LUT levels -> ``data_row``, -1.00 ns).

    Attributes
    ----------
    cmd : In(dma_command_layout(cfg))
        The command whose rows are walked; only ``sizes``, ``pad_before`` and ``pad_after``
        of dimensions 0 .. 2 are read, in the cycle ``take`` is high.
    take : In(1)
        Take the command's bounds (a cycle or more before ``start``).
    start : In(1)
        Go to row ``(0, 0, 0)`` (the flags are valid the next cycle).
    advance : In(1)
        Go to the next row (dimension 2 steps; one at its end restarts and the one
        outside it steps). Not with ``start``; not after the last row.
    data_row : Out(1)
        Every dimension's index lies in its data.
    end : Out(ROW_DIMS)
        Bit ``d``: ``j_d`` is its dimension's last index.
    last : Out(1)
        The command's last row (every ``end`` bit).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        super().__init__({
            "cmd": In(dma_command_layout(cfg)),
            "take": In(1),
            "start": In(1),
            "advance": In(1),
            "data_row": Out(1),
            "end": Out(ROW_DIMS),
            "last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        hd, dims = self.cmd, range(ROW_DIMS)
        j_in = [Signal(name=f"j_in{d}") for d in dims]               # pb <= j < pb + size
        j_end = [Signal(name=f"j_end{d}") for d in dims]
        data_row = Signal()
        m.d.comb += [self.data_row.eq(data_row), self.end.eq(Cat(*j_end)),
                     self.last.eq(j_end[0] & j_end[1] & j_end[2])]

        # the command's pads and sizes, taken with it, and flags of index 0 (compares of
        # the command's fields with constants: the padded size's terms are not added on the
        # way in; timing: the 8x8 top at 401a5cf, the command queue's `sizes` -> the sum
        # of three fields -> a bound's register, -0.22 ns)
        pb, size, pa = ([Signal(len(f[d]), name=f"{n}{d}") for d in dims]
                        for n, f in (("pad_before", hd.pad_before), ("size", hd.sizes), ("pad_after", hd.pad_after)))
        sized = [Signal(name=f"sized{d}") for d in dims]              # size != 0
        first_in = [Signal(name=f"first_in{d}") for d in dims]        # index 0 is data
        first_end = [Signal(name=f"first_end{d}") for d in dims]      # index 0 is the last
        # the bounds less one (a step from `j == bound` enters the data, leaves it, ends
        # the dimension): each from the registers, and whether it is 0 from the command
        bounds = {"enter": lambda d: pb[d] - 1,
                  "leave": lambda d: pb[d] + size[d] - 1,
                  "near": lambda d: pb[d] + size[d] + pa[d] - 2}
        at_first = {k: [Signal(name=f"first_at_{k}{d}") for d in dims] for k in bounds}
        with m.If(self.take):
            for d in dims:
                terms = [hd.pad_before[d], hd.sizes[d], hd.pad_after[d]]
                m.d.sync += [pb[d].eq(terms[0]), size[d].eq(terms[1]), pa[d].eq(terms[2]),
                             sized[d].eq(terms[1] != 0), first_in[d].eq((terms[0] == 0) & (terms[1] != 0)),
                             first_end[d].eq(_sums_to(terms, 1)), at_first["enter"][d].eq(_sums_to(terms[:1], 1)),
                             at_first["leave"][d].eq(_sums_to(terms[:2], 1)), at_first["near"][d].eq(_sums_to(terms, 2))]

        # per bound: the rows to it (`to`, the bound less `j`) and whether `j` is at it
        to = {k: [Signal(_COUNT_BITS, name=f"to_{k}{d}") for d in dims] for k in bounds}
        at = {k: [Signal(name=f"at_{k}{d}") for d in dims] for k in bounds}

        def go(restart, step):
            """The next row: dimension `d` restarts at 0 (`restart[d]`), steps or stays."""
            ins = []
            for d in dims:
                stepped_in = (at["enter"][d] & sized[d]) | (j_in[d] & ~at["leave"][d])
                ins.append(Mux(restart[d], first_in[d], Mux(step[d], stepped_in, j_in[d])))
                m.d.sync += [j_in[d].eq(ins[d]),
                             j_end[d].eq(Mux(restart[d], first_end[d], Mux(step[d], at["near"][d], j_end[d])))]
                for k in bounds:
                    m.d.sync += [to[k][d].eq(Mux(restart[d], bounds[k](d), Mux(step[d], to[k][d] - 1, to[k][d]))),
                                 at[k][d].eq(Mux(restart[d], at_first[k][d], Mux(step[d], to[k][d] == 1, at[k][d])))]
            m.d.sync += data_row.eq(ins[0] & ins[1] & ins[2])

        with m.If(self.start):
            go([1, 1, 1], [0, 0, 0])
        with m.Elif(self.advance):
            go([0, j_end[2] & j_end[1], j_end[2]], [j_end[2] & j_end[1], j_end[2] & ~j_end[1], ~j_end[2]])
        return m
