"""REQUANT commands into the requantization unit's lane parameters."""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.isa import requant_layout
from .requant import param_write_layout

__all__ = ["LaneWriter"]


class LaneWriter(wiring.Component):
    """Writes one REQUANT command's parameters: to lane ``lane``, or to every lane in
    order when ``all_lanes`` (the command was checked: ``lane < cols``).

    Attributes
    ----------
    cmd : In(stream.Signature(requant_layout(cfg)))
        Taken when no command is being written.
    param : Out(stream.Signature(param_write_layout(cfg)))
        To :class:`~systolica.hw.requant_unit.RequantUnit`.
    done : Out(1)
        The command's last write was accepted (one cycle, at the earliest the cycle after
        the command was taken).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        super().__init__({"cmd": In(stream.Signature(requant_layout(cfg))),
                          "param": Out(stream.Signature(param_write_layout(cfg))),
                          "done": Out(1)})

    def elaborate(self, platform):
        m = Module()
        cols = self.cfg.cols
        r = Signal(requant_layout(self.cfg))   # the command being written
        busy = Signal()
        lane = Signal(range(cols))             # the next lane of an all-lanes command
        # whether the write at hand is the command's last: a register, set as the command
        # is taken and as the lane steps, so `done` is the unit's ready and three flip-flops
        # (timing: the 8x8 top at e0069aa --seed 2, `lanes.r.all_lanes` -> the last lane's
        # compare -> `done` -> the store dispatcher's completion -> routes of 3.54 and
        # 3.47 ns -> its running queue's head, -0.29 ns)
        last = Signal()
        m.d.comb += self.cmd.ready.eq(~busy)
        with m.If(self.cmd.valid & ~busy):
            m.d.sync += [r.eq(self.cmd.payload), busy.eq(1), lane.eq(0),
                         last.eq(~self.cmd.payload.all_lanes | (cols == 1))]
        p = self.param
        m.d.comb += [p.valid.eq(busy), p.payload.lane.eq(Mux(r.all_lanes, lane, r.lane)),
                     p.payload.p.eq(r.params)]
        with m.If(p.valid & p.ready):
            with m.If(last):
                m.d.comb += self.done.eq(1)
                m.d.sync += busy.eq(0)
            with m.Else():
                m.d.sync += lane.eq(lane + 1)
                if cols > 1:      # (one lane: every write is the last)
                    m.d.sync += last.eq(lane == cols - 2)
        return m
