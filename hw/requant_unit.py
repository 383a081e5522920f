"""Requantization unit: ``cols`` lanes (:class:`~systolica.hw.requant.RequantLane`, or
:class:`~systolica.hw.requant_fp8.Fp8RequantLane` for FP8), their parameter writes, and
the output queue behind them."""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.requant import lane_params_layout, lane_reset
from .head_fifo import HeadFIFO
from .multiplier import check_target
from .requant import LATENCY, OUT_QUEUE, RequantLane, acc_vector_layout, out_vector_layout, param_write_layout
from .requant_fp8 import Fp8RequantLane

__all__ = ["RequantUnit"]


class RequantUnit(wiring.Component):
    """``cols`` lanes behind one free-running pipeline and an output queue.

    The lanes advance every cycle (no clock enable: on the FPGA the enable fanned out to
    every stage register from the consumer's ``ready``, the 4x4 top's critical path). A
    vector is taken only while fewer than :data:`OUT_QUEUE` are taken and not yet handed
    out (a credit count, a register), so each one emerging from the lanes has room in the
    queue behind them; while that queue is empty it goes straight out. Without
    backpressure a vector comes out :data:`LATENCY` cycles after it was taken, one per
    cycle; backpressure holds the results, not the lanes.

    Attributes
    ----------
    acc : In(stream.Signature(acc_vector_layout(cfg)))
        Accumulator vectors (``last`` passes through).
    out : Out(stream.Signature(out_vector_layout(cfg)))
        8-bit vectors, in order, :data:`LATENCY` cycles later at the earliest.
    param : In(stream.Signature(param_write_layout(cfg)))
        Writes one lane's parameters (:data:`LANE_PARAMS`, or the FP8 word), taken into a
        register (``ready`` while it is free or being applied). From the next cycle the
        write holds off ``acc`` until it is applied, once the lanes are empty: a vector
        taken in the write's cycle or before has the old parameters, any later one the
        new.
    busy : Out(1)
        A vector is taken and not yet handed out.

    ``target``: the int8 lanes' partial products (:class:`RequantLane`); FP8 lanes keep
    the fabric's registers.
    """

    def __init__(self, cfg: AcceleratorConfig, target: str = "generic"):
        check_target(target)
        self.cfg, self.target = cfg, target
        super().__init__({
            "acc": In(stream.Signature(acc_vector_layout(cfg))),
            "out": Out(stream.Signature(out_vector_layout(cfg))),
            "param": In(stream.Signature(param_write_layout(cfg))),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        C = self.cfg.cols
        valid = Signal(LATENCY)
        last = Signal(LATENCY)
        owed = Signal(range(OUT_QUEUE + 1))          # taken, not yet handed out
        # ``valid == 0`` as a register of its own (timing: the parameter write enable of
        # every lane hung on an 11-input compare)
        empty = Signal(init=1)
        # A write is taken into a register (`pending`, loaded whenever it is free or being
        # applied) and applied to its lane when the lanes are empty; while it waits there
        # it holds off ``acc``. So ``acc.ready`` hangs on no input (timing: the parameter
        # writer's valid reached the accumulator's read acceptance and its block RAM
        # address, the 8x8 top's path at 982c0ea), and the lanes' parameter enables on
        # registers alone (with the write taken straight into them when no vector came,
        # the requantization unit alone's path at 16bd633 was `acc.valid` -> that enable).
        pending = Signal(param_write_layout(self.cfg), name="pending_write")
        pending_valid = Signal()
        apply = Signal()
        # ``acc.ready`` (owed != OUT_QUEUE, no write pending) is a register of its own,
        # computed from today's count beside the events that move it (timing: the 8x8 top
        # at 16bd633, 80.8 MHz: `owed` -> that compare -> the accumulator's response ready
        # -> its read acceptance -> the store engine's request queue)
        acc_ready = Signal(init=1)
        # ``param.ready`` (no write pending, or the lanes empty) is a register too, set
        # from their next values (timing: the 8x8 top at 2bb9326 --seed 4, `empty` ->
        # `param.ready` -> the lane writer's `done` -> the store dispatcher's completion ->
        # its running queue's head, -0.20 ns over routes of 3.52 and 2.28 ns)
        param_ready = Signal(init=1, name="param_ready")
        width = len(self.out.payload.as_value())
        m.submodules.queue = queue = HeadFIFO(width=width, depth=OUT_QUEUE)
        result = Signal(out_vector_layout(self.cfg))
        emerging = valid[-1]
        take = self.acc.valid & self.acc.ready
        given = self.out.valid & self.out.ready
        m.d.comb += [
            self.busy.eq(owed != 0),
            apply.eq(pending_valid & empty),
            self.param.ready.eq(param_ready),
            self.acc.ready.eq(acc_ready),
            result.last.eq(last[-1]),
            # the queue's head first; an emerging vector goes out straight only past an
            # empty queue, else it is queued behind
            self.out.valid.eq(queue.r_rdy | emerging),
            self.out.payload.eq(Mux(queue.r_rdy, queue.r_data, result.as_value())),
            queue.r_en.eq(self.out.ready),
            queue.w_en.eq(emerging & (queue.r_rdy | ~self.out.ready)),
            queue.w_data.eq(result.as_value()),
        ]
        valid_next = Cat(take, valid[:-1])
        empty_next = valid_next == 0
        m.d.sync += [valid.eq(valid_next), last.eq(Cat(self.acc.payload.last, last[:-1])),
                     owed.eq(owed + take - given), empty.eq(empty_next)]
        with m.If(self.param.ready):
            m.d.sync += [pending.eq(self.param.payload), pending_valid.eq(self.param.valid)]
        up, down = take & ~given, given & ~take
        owed_ok_next = Mux(up, owed != OUT_QUEUE - 1, Mux(down, 1, owed != OUT_QUEUE))
        pending_next = Mux(self.param.ready, self.param.valid, pending_valid)
        m.d.sync += [acc_ready.eq(owed_ok_next & ~pending_next),
                     param_ready.eq(~pending_next | empty_next)]

        def make_lane(cfg):
            return Fp8RequantLane(cfg) if cfg.is_float else RequantLane(cfg, self.target)
        params = [Signal(lane_params_layout(self.cfg), name=f"params{j}", init=lane_reset(self.cfg))
                  for j in range(C)]
        for j in range(C):
            with m.If(apply & (pending.lane == j)):
                m.d.sync += params[j].eq(pending.p)
            lane = m.submodules[f"lane{j}"] = make_lane(self.cfg)
            m.d.comb += [lane.x.eq(self.acc.payload.c[j]), lane.p.eq(params[j]), lane.en.eq(1),
                         result.q[j].eq(lane.q)]
        return m
