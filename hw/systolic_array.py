"""Systolic array: ``rows x cols`` PEs, weight-stationary and output-stationary.

Ports take and give *aligned* vectors; skew and de-skew registers live inside.

Timing (all cycles counted from the clock edge that accepts a beat, "cycle n"):

- A data beat accepted at ``n`` reaches PE ``(i, j)`` at ``n + 1 + i + j``: its A element
  from the left, and, a cycle ahead (at ``n + i + j``, so the PE registers the chosen
  operand first), its control bits from the left and its B element from above: a
  *wavefront*. Bubbles are wavefronts with ``valid = 0``. The PE
  registers the multiplier's operand there, the product a cycle later, the product again
  in the fabric a cycle after that, and adds it in the next (:mod:`.pe`), so partial
  sums, OS accumulation and the drain run three cycles behind the wavefront.
- WS: the result vector of data beat ``n`` leaves on ``result`` at ``n + rows + cols + 3``.
  Weight beat ``p`` of a tile is captured by row ``p``. A tile's data may enter once all
  its ``rows`` weight beats have entered; the next tile's weights may enter once the
  tile before the current one has seen its ``last`` beat. So the next tile loads while
  the current one computes, and a tile costs ``max(M, rows)`` cycles at the port.
- OS: the ``last`` beat of a tile accepted at ``T`` is captured into the PEs' drain
  registers by ``T + rows + j + 3``; column ``j`` then shifts out, bottom row first, during
  ``T + rows + 4 + j .. T + 2*rows + 3 + j`` and the de-skew aligns the columns. A new OS
  ``last`` beat, or any WS beat, is held off until ``T + rows`` so drains never overlap
  or meet WS results at the bottom edge. An OS tile costs ``max(K, rows)`` cycles.

Bit-level results are defined by :mod:`systolica.model.array`.
"""

from __future__ import annotations

from amaranth.hdl import (Cat, ClockSignal, Const, Instance, Module, Mux, ResetSignal, Shape,
                          ShapeCastable, Signal)
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.array import Dataflow
from ..model.config import AcceleratorConfig
from .arith import arithmetic_for
from .pe import pass_ctrl, pe_ctrl_layout, steer_bits, weight_beat_layout
from .pe_row import ROW_MODULE_NAME, PeRow, _v, modules_separate

__all__ = ["SystolicArray", "data_beat_layout", "weight_row_layout", "result_beat_layout", "last_result_after"]


def last_result_after(cfg: AcceleratorConfig) -> int:
    """The most cycles from the acceptance of a tile's last beat to the cycle its last
    result vector leaves: an OS tile's drain (the module docstring), ``2*rows + cols + 2``;
    a WS result leaves sooner (``rows + cols + 3``)."""
    return 2 * cfg.rows + cfg.cols + 2


def data_beat_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """One wavefront: ``a`` enters on the left (``rows`` lanes), ``b`` on top (OS only)."""
    op = arithmetic_for(cfg).operand_shape
    return data.StructLayout({
        "a": data.ArrayLayout(op, cfg.rows),
        "b": data.ArrayLayout(op, cfg.cols),
        "dataflow": Dataflow,
        "last": 1,
    })


def weight_row_layout(cfg: AcceleratorConfig) -> data.ArrayLayout:
    """One row of a WS weight tile (``cols`` lanes); a tile is ``rows`` of them, row 0 first."""
    return data.ArrayLayout(arithmetic_for(cfg).operand_shape, cfg.cols)


def result_beat_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """One result vector (``cols`` partial sums) with the tile's dataflow and last flag."""
    return data.StructLayout({
        "c": data.ArrayLayout(arithmetic_for(cfg).acc_shape, cfg.cols),
        "dataflow": Dataflow,
        "last": 1,
    })


def _skew(m: Module, name: str, lanes: list, lane_shape, extra: int = 0) -> list:
    """Delay lane ``k`` by ``k + extra`` cycles.

    Stage ``s`` holds the lanes still waiting (``s..n-1``) as one wide signal, so a
    skew of ``n`` lanes costs ``n`` signals rather than ``n*(n+1)/2``.
    """
    n = len(lanes)

    width = Shape.cast(lane_shape).width

    def lane(raw):  # a plain slice back in the lane's shape (signedness, struct view)
        if isinstance(lane_shape, ShapeCastable):
            return lane_shape(raw)
        return raw.as_signed() if Shape.cast(lane_shape).signed else raw

    def stage(label: str, values: list) -> list:
        # a plain wide signal: a layout-typed one would make Amaranth name every lane
        reg = Signal(len(values) * width, name=f"{name}_{label}")
        m.d.sync += reg.eq(Cat(*values))
        return [lane(reg[k * width:(k + 1) * width]) for k in range(len(values))]

    cur = list(lanes)
    for s in range(extra):
        cur = stage(f"pre{s}", cur)
    out = [cur[0]]
    for s in range(1, n):
        cur = stage(f"skew{s}", cur[1:])
        out.append(cur[0])
    return out


def _deskew(m: Module, name: str, lanes: list, lane_shape) -> list:
    """Delay lane ``k`` of ``n`` by ``n - 1 - k`` cycles (undo a column skew)."""
    return list(reversed(_skew(m, name, list(reversed(lanes)), lane_shape)))


class SystolicArray(wiring.Component):
    """``rows x cols`` MAC array with run-time WS/OS dataflow per tile.

    Parameters
    ----------
    cfg : AcceleratorConfig

    Attributes
    ----------
    data : In(stream.Signature(data_beat_layout(cfg)))
        Wavefronts. ``ready`` may depend on ``payload.dataflow``/``payload.last``
        (a WS beat waits for its weights; drains are spaced), never on ``valid``.
        WS: ``a`` is one row of A, ``b`` is ignored. OS: ``a`` is one column of A,
        ``b`` one row of B. ``last`` closes the tile.
    weights : In(stream.Signature(weight_row_layout(cfg)))
        WS weight rows, ``rows`` beats per tile, row 0 first, in tile order.
    result : Out(stream.Signature(result_beat_layout(cfg), always_ready=True))
        One vector per WS data beat; ``rows`` vectors per OS tile (bottom row first).
        The consumer must take one vector every cycle.
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        super().__init__({
            "data": In(stream.Signature(data_beat_layout(cfg))),
            "weights": In(stream.Signature(weight_row_layout(cfg))),
            "result": Out(stream.Signature(result_beat_layout(cfg), always_ready=True)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        R, C = cfg.rows, cfg.cols
        ar = arithmetic_for(cfg)
        ws, os_ = cfg.supports("ws"), cfg.supports("os")

        beat = self.data.payload
        # a one-dataflow array ignores the payload's dataflow field
        beat_os = (beat.dataflow == Dataflow.OS) if ws and os_ else Const(int(os_), 1)

        # -- admission --------------------------------------------------------------
        wt_loaded = Signal(2)     # WS weight tiles fully entered (mod 4)
        w_beat = Signal(range(R))  # beat index inside the weight tile being entered
        ws_done = Signal(2)       # WS tiles whose last data beat has entered (mod 4)
        os_wait = Signal(range(R))  # cycles until a drain may be scheduled again
        in_flight = Signal(2)

        def tiles_in_flight(loaded, done):      # WS weight tiles whose data has not all entered
            return (loaded - done)[:2]
        m.d.comb += in_flight.eq(tiles_in_flight(wt_loaded, ws_done))

        # `os_wait == 0` and the WS beat's ready are registers, equal to those of the
        # counters every cycle (set from the counters' next values), so `ready` is one
        # LUT of them and the beat's two tags (timing: the 8x8 top at 2aa321b --seed 2,
        # `os_wait` -> its compare -> `ready` -> the executor's row take -> its row
        # queue's level, -1.57 ns, seven LUT levels)
        drain_free = Signal(name="drain_free", init=1)
        ws_ok = Signal(name="ws_ready")
        os_ok = ~beat.last | drain_free
        m.d.comb += self.data.ready.eq(Mux(beat_os, os_ok, ws_ok))
        m.d.comb += self.weights.ready.eq((in_flight <= 1) if ws else 0)
        take = self.data.valid & self.data.ready
        take_w = self.weights.valid & self.weights.ready

        ws_done_next = Mux(take & ~beat_os & beat.last, ws_done + 1, ws_done)[:2]
        wt_loaded_next = Mux(take_w & (w_beat == R - 1), wt_loaded + 1, wt_loaded)[:2]
        m.d.sync += [ws_done.eq(ws_done_next), wt_loaded.eq(wt_loaded_next)]
        with m.If(take_w):
            m.d.sync += w_beat.eq(Mux(w_beat == R - 1, 0, w_beat + 1))

        # -- OS drain schedule: wait `rows` cycles after the last beat, then shift `rows` --
        drain_pending = Signal()
        phase = Signal(range(R + 1))  # 0 idle, 1..R: shift cycle of column 0
        os_last = take & beat_os & beat.last
        with m.If(os_last):
            m.d.sync += [os_wait.eq(R - 1), drain_pending.eq(1)]
        with m.Elif(os_wait != 0):
            m.d.sync += os_wait.eq(os_wait - 1)
        # (`os_wait`'s next value is 0 when it is at most 1 and no last beat reloads it)
        drain_free_next = Mux(os_last, R == 1, os_wait <= 1)
        m.d.sync += [drain_free.eq(drain_free_next),
                     ws_ok.eq((tiles_in_flight(wt_loaded_next, ws_done_next) != 0) & drain_free_next)]
        start_drain = drain_pending & (os_wait == 0)
        with m.If(start_drain & ~os_last):
            m.d.sync += drain_pending.eq(0)
        phase_next = Signal.like(phase, name="phase_next")
        m.d.comb += phase_next.eq(Mux(start_drain, 1, Mux((phase == 0) | (phase == R), 0, phase + 1)))
        m.d.sync += phase.eq(phase_next)

        # -- entry and skew ------------------------------------------------------------
        # A PE takes a wavefront's control and B operand a cycle before its A (`pe.py`,
        # stage 0: it registers the chosen operand then), so the control and B reach PE
        # (i, j) at n + i + j: the beat's control as it is taken, then a chain of
        # registers (row i sees it i cycles later), its B lanes skewed without an entry
        # register; A lanes with one
        e_ctrl = Signal(pe_ctrl_layout, name="e_ctrl")
        m.d.comb += [
            e_ctrl.valid.eq(take),
            e_ctrl.dataflow.eq(Mux(beat_os, Dataflow.OS, Dataflow.WS)),
            e_ctrl.sel.eq(ws_done[0]),
            e_ctrl.last.eq(beat.last),
        ]
        # the bits that steer the PEs' operand selects in registers kept apart, as the PEs
        # pass them (pass_ctrl): each steers one row's first PE
        row_ctrl = [e_ctrl]
        for i in range(1, R):
            c = Signal(pe_ctrl_layout, name=f"row_ctrl{i}")
            pass_ctrl(m, row_ctrl[-1], c, steer_bits(ws, os_), reg_name=f"row_ctrl_reg{i}", steer_name=f"row_steer{i}_")
            row_ctrl.append(c)
        a_lanes = _skew(m, "a", [beat.a[i] for i in range(R)], ar.operand_shape, extra=1)
        if os_:
            b_lanes = _skew(m, "b", [beat.b[j] for j in range(C)], ar.operand_shape)
        if ws:
            wb = weight_beat_layout(ar.operand_shape)
            w_in = []
            for j in range(C):
                lane = Signal(wb, name=f"w_in{j}")
                m.d.comb += [lane.valid.eq(take_w), lane.buf.eq(wt_loaded[0]),
                             lane.w.eq(self.weights.payload[j])]
                w_in.append(lane)
            t_lanes = _skew(m, "t", w_in, wb, extra=1)

        # -- the PE grid: `rows` instances of one row module (Verilog), or submodules --
        # grid wires are plain vectors: layout-typed ones would make Amaranth name every PE
        acc = ar.acc_shape
        aw = Shape.cast(acc).width
        ow = Shape.cast(ar.operand_shape).width
        wb_shape = weight_beat_layout(ar.operand_shape)
        tw = Shape.cast(wb_shape).width
        top_b = Signal(C * ow, name="top_b")   # OS B operands
        top_v = Signal(C * aw, name="top_v")   # WS partial sums start at zero
        top_t = Signal(C * tw, name="top_t")
        if os_:
            m.d.comb += top_b.eq(Cat(*b_lanes))
        if ws:
            m.d.comb += top_t.eq(Cat(*t_lanes))
        b_in, v_in, d_in, t_in = top_b, top_v, Signal(C * aw, name="top_d"), top_t
        for i in range(R):
            ctrl0 = Signal(pe_ctrl_layout, name=f"ctrl_in{i}")
            # (the drain a cycle ahead too: the PEs take it in their fourth stage)
            m.d.comb += [ctrl0.eq(row_ctrl[i]), ctrl0.drain.eq((phase_next != 0) & (phase_next <= i))]
            b_out = Signal(C * ow, name=f"b_{i}")
            v_out = Signal(C * aw, name=f"v_{i}")
            d_out = Signal(C * aw, name=f"d_{i}")
            t_out = Signal(C * tw, name=f"t_{i}")
            edge_ctrl = Signal(pe_ctrl_layout, name=f"edge_ctrl{i}")
            if modules_separate():
                m.submodules[f"row_{i}"] = Instance(
                    ROW_MODULE_NAME, i_clk=ClockSignal(), i_rst=ResetSignal(),
                    i_a_in=_v(a_lanes[i]), i_ctrl_in=_v(ctrl0),
                    i_b_in=b_in, i_v_in=v_in, i_d_in=d_in, i_t_in=t_in,
                    o_b_out=b_out, o_v_out=v_out, o_d_out=d_out, o_t_out=t_out, o_ctrl_out=_v(edge_ctrl))
            else:  # a real submodule: simulable
                row = m.submodules[f"row_{i}"] = PeRow(cfg)
                m.d.comb += [row.a_in.eq(a_lanes[i]), row.ctrl_in.eq(ctrl0), row.b_in.eq(b_in),
                             b_out.eq(row.b_out), row.v_in.eq(v_in),
                             row.d_in.eq(d_in), row.t_in.eq(t_in), v_out.eq(row.v_out),
                             d_out.eq(row.d_out), t_out.eq(row.t_out), edge_ctrl.eq(row.ctrl_out)]
            b_in, v_in, d_in, t_in = b_out, v_out, d_out, t_out

        # -- bottom edge: WS sums or OS drain, then de-skew -----------------------------
        # (the PEs' fourth stage: sums and drain shifts are three cycles behind the control)
        drain_v = Signal(C, name="drain_valid")   # bit j: column j's bottom drain register holds
        drain_last = Signal(C, name="drain_last")  # a drained value this cycle
        phase_v, phase_last = Signal(name="phase_v"), Signal(name="phase_last")
        phase_v2, phase_last2 = Signal(name="phase_v2"), Signal(name="phase_last2")
        m.d.sync += [phase_v.eq(phase != 0), phase_last.eq(phase == R),
                     phase_v2.eq(phase_v), phase_last2.eq(phase_last),
                     drain_v[0].eq(phase_v2), drain_last[0].eq(phase_last2)]
        if C > 1:
            m.d.sync += [drain_v[1:].eq(drain_v[:-1]), drain_last[1:].eq(drain_last[:-1])]
        bottom = [Mux(drain_v[j], d_out[j * aw:(j + 1) * aw], v_out[j * aw:(j + 1) * aw]).as_signed()
                  for j in range(C)]
        aligned = _deskew(m, "c", bottom, acc)

        # the bottom-right PE's control: its first stage's (`edge_ctrl`), second, third,
        # fourth, then with the sum it made
        edge2 = Signal(pe_ctrl_layout, name="edge2")
        edge3 = Signal(pe_ctrl_layout, name="edge3")
        edge4 = Signal(pe_ctrl_layout, name="edge4")
        edge = Signal(pe_ctrl_layout, name="edge")
        m.d.sync += [edge2.eq(edge_ctrl), edge3.eq(edge2), edge4.eq(edge3), edge.eq(edge4)]
        ws_out = edge.valid & (edge.dataflow == Dataflow.WS)
        os_out = drain_v[C - 1]
        res = self.result.payload
        m.d.comb += [
            self.result.valid.eq(ws_out | os_out),
            res.dataflow.eq(Mux(os_out, Dataflow.OS, Dataflow.WS)),
            res.last.eq(Mux(os_out, drain_last[C - 1], edge.last)),
        ]
        m.d.comb += [res.c[j].eq(aligned[j]) for j in range(C)]
        return m
