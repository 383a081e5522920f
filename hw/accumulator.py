"""Accumulator: SRAM of partial-sum rows that overwrite or accumulate, one row per cycle.

``cfg.acc_rows`` rows of ``cfg.cols`` signed ``cfg.acc_bits`` partial sums in
``cfg.acc_banks`` banks (the bank is the high bits of the row address). Each bank is a
simple dual-port :class:`~amaranth.lib.memory.Memory`: one write port, one synchronous
read port shared by the accumulate path and the ``read`` port. Reset clears the pipeline
and the response register, not the rows.

Write pipeline (three stages, no bubble, never stalls)
    ====== ==================================================================
    cycle  a row write accepted in cycle ``t`` (from ``write`` or ``dma_write``)
    ====== ==================================================================
    t      S0: accept; an accumulating write reads its row on its bank's read port
    t+1    S1: register the row read (``old``)
    t+2    S2: ``sum = accumulate ? wrap(old + data) : data``; write the row
    t+3    the memory holds ``sum``
    ====== ==================================================================
    The row read in cycle ``t`` misses exactly two writes: the ones in S1 and S2 during
    ``t``. Their sums are forwarded from the bypass register, which holds the previous
    cycle's sum: the older one's (accepted in ``t-2``) when S1 registers ``old`` in
    ``t+1``, the younger one's (accepted in ``t-1``) when S2 adds in ``t+2``, so the
    youngest write to the row wins and back-to-back accumulates into one row need no
    bubble. Registering ``old`` keeps the block RAM's clock-to-output delay off the adder.

Read path
    A ``read`` request accepted in cycle ``t`` reads the memory in ``t``; in ``t+1`` its
    row (the bank's, or a sum forwarded from the pipeline) goes into the response register
    or, while that one waits to be taken, the one behind it; the response is valid from
    ``t+2`` (:data:`~systolica.model.memory.ACC_READ_LATENCY`) until taken, straight from
    a register. At most :data:`~systolica.model.memory.ACC_READ_SLOTS` reads are accepted
    and not yet taken. A read sees every write accepted in an earlier cycle: the write in
    S2 during ``t`` from the bypass register in ``t+1``, the one in S1 during ``t`` from
    S2's sum in ``t+1``. A write accepted in the same cycle ``t`` is not seen (it is
    ordered after the read).

Bit-level semantics and arbitration are defined by :mod:`systolica.model.memory`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.memory import ACC_READ_SLOTS
from .arith import arithmetic_for
from .scratchpad import bank_register, pick, read_port_signature, split_addr

__all__ = ["Accumulator", "acc_row_layout", "acc_write_layout", "acc_dma_write_layout",
           "WRITE_PIPELINE_DEPTH"]

#: Cycles from accepting a row write to the memory holding the result (S0, S1, S2).
WRITE_PIPELINE_DEPTH = 3


def acc_row_layout(cfg: AcceleratorConfig) -> data.ArrayLayout:
    """One accumulator row: ``cols`` partial sums, column 0 in the low bits."""
    return data.ArrayLayout(arithmetic_for(cfg).acc_shape, cfg.cols)


def acc_write_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    return data.StructLayout({"addr": range(cfg.acc_rows), "data": acc_row_layout(cfg),
                              "accumulate": 1})


def acc_dma_write_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    return data.StructLayout({"addr": range(cfg.acc_rows), "data": acc_row_layout(cfg)})


class Accumulator(wiring.Component):
    """Partial-sum SRAM with a read-modify-write pipeline (see the module docstring).

    A transfer is *accepted* in the cycle where its ``valid`` and ``ready`` are both high.

    Attributes
    ----------
    write : In(stream.Signature(acc_write_layout(cfg)))
        The array's results: ``{addr, data, accumulate}`` sets row ``addr`` to
        ``wrap(row + data)`` (``accumulate``) or ``data``, wrapping two's complement at
        ``acc_bits``. ``ready`` is always high: one row per cycle, back-to-back
        accumulates into the same row included.
    dma_write : In(stream.Signature(acc_dma_write_layout(cfg)))
        DMA row load (e.g. bias rows), ``{addr, data}``, always an overwrite. It shares the
        write pipeline: ``ready`` is high exactly when ``write.valid`` is low.
    read : Out(read_port_signature(acc_rows, row, backpressure=True))
        Towards requantization and the DMA store: ``req`` carries ``{addr}``, ``resp``
        the row. ``req.ready`` is high when fewer than ``ACC_READ_SLOTS`` reads are
        accepted and not yet taken (one taken this cycle not counting), and no
        accumulating ``write`` is accepted into the same bank this cycle (it holds the
        bank's read port). The response is valid ``ACC_READ_LATENCY`` cycles after
        acceptance until taken, from a register. Ordering: a read sees every row write
        accepted in an earlier cycle (forwarded from the pipeline), none accepted in its
        own cycle.
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        super().__init__({
            "write": In(stream.Signature(acc_write_layout(cfg))),
            "dma_write": In(stream.Signature(acc_dma_write_layout(cfg))),
            "read": Out(read_port_signature(cfg.acc_rows, acc_row_layout(cfg), backpressure=True)),
        })

    def _banks(self, m: Module):
        """One memory per bank; its (write port, read port)."""
        cfg = self.cfg
        row_bits = data.Layout.cast(acc_row_layout(cfg)).size
        ports = []
        for b in range(cfg.acc_banks):
            mem = m.submodules[f"bank{b}"] = Memory(
                shape=unsigned(row_bits), depth=cfg.acc_rows // cfg.acc_banks, init=[])
            write_port = mem.write_port()
            read_port = mem.read_port(transparent_for=())  # hazards are handled by the bypass
            ports.append((write_port, read_port))
        return ports

    def _stage0(self, m: Module):
        """The accepted row write of this cycle: (valid, command); ``write`` wins."""
        s0 = Signal(acc_write_layout(self.cfg))
        m.d.comb += [self.write.ready.eq(1), self.dma_write.ready.eq(~self.write.valid)]
        with m.If(self.write.valid):
            m.d.comb += s0.eq(self.write.p)
        with m.Else():
            m.d.comb += [s0.addr.eq(self.dma_write.p.addr), s0.data.eq(self.dma_write.p.data)]
        return self.write.valid | self.dma_write.valid, s0

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        row = acc_row_layout(cfg)
        banks = self._banks(m)
        bank_data = [rp.data for _, rp in banks]
        split = lambda addr: split_addr(addr, cfg.acc_rows, cfg.acc_banks)  # noqa: E731

        # S0: accept; an accumulate reads its row.
        s0_valid, s0 = self._stage0(m)
        s0_bank, s0_row = split(s0.addr)
        s0_reads = s0_valid & s0.accumulate

        # S1 registers the row read, S2 adds and writes; the bypass holds the previous
        # cycle's sum. `*_from_bypass`: the stage's row was written after S0 read it.
        s1_valid, s2_valid = Signal(), Signal()
        s1, s2 = Signal(acc_write_layout(cfg)), Signal(acc_write_layout(cfg))
        s1_bank, _ = split(s1.addr)
        s2_bank, s2_row = split(s2.addr)
        bypass, old = Signal(row), Signal(row)
        s1_from_bypass, s2_from_bypass = Signal(), Signal()
        m.d.sync += [s1_valid.eq(s0_valid), s1.eq(s0), s2_valid.eq(s1_valid), s2.eq(s1),
                     s1_from_bypass.eq(s2_valid & (s2.addr == s0.addr)),
                     s2_from_bypass.eq(s2_valid & (s2.addr == s1.addr)),
                     old.eq(Mux(s1_from_bypass, bypass.as_value(), pick(bank_data, s1_bank)))]
        latest = row(Mux(s2_from_bypass, bypass.as_value(), old.as_value()))
        total = Signal(row)
        arith = arithmetic_for(cfg)  # int8: old + data (wrapping); FP8: sums add, flags OR
        for j in range(cfg.cols):
            m.d.comb += total[j].eq(Mux(s2.accumulate, arith.add_partials(latest[j], s2.data[j]), s2.data[j]))
        m.d.sync += bypass.eq(total)
        for b, (wp, _) in enumerate(banks):
            m.d.comb += [wp.en.eq(s2_valid & (s2_bank == b)), wp.addr.eq(s2_row), wp.data.eq(total)]

        # Read requests: wait for a free response slot and a free bank read port.
        req = self.read.req
        r_bank, r_row = split(req.p.addr)
        take = req.valid & req.ready
        for b, (_, rp) in enumerate(banks):
            with m.If(s0_reads & (s0_bank == b)):
                m.d.comb += [rp.en.eq(1), rp.addr.eq(s0_row)]
            with m.Elif(take & (r_bank == b)):
                m.d.comb += [rp.en.eq(1), rp.addr.eq(r_row)]
            with m.Else():
                m.d.comb += rp.en.eq(0)
        # the read misses the writes in S2 (its sum in the bypass next cycle) and S1 (its
        # sum is S2's `total` next cycle); the younger wins
        from_s1, from_s2 = Signal(), Signal()
        m.d.sync += [from_s1.eq(s1_valid & (s1.addr == req.p.addr)),
                     from_s2.eq(s2_valid & (s2.addr == req.p.addr))]
        resp_bank = bank_register(m, "resp_bank", cfg.acc_banks, take, r_bank)
        forwarded = Mux(from_s1, total.as_value(), bypass.as_value())
        arriving = Mux(from_s1 | from_s2, forwarded, pick(bank_data, resp_bank))
        room = self._responses(m, take, arriving)
        m.d.comb += req.ready.eq(room & ~(s0_reads & (s0_bank == r_bank)))
        return m

    def _responses(self, m: Module, take, arriving):
        """The response register and one behind it. ``arriving`` is the row of the read
        accepted in the previous cycle; returns "a read may be accepted this cycle"."""
        resp = self.read.resp
        arrives = Signal()                   # a read was accepted in the previous cycle
        behind = Signal(len(arriving))       # waits while the response register is held
        behind_valid = Signal()
        m.d.sync += arrives.eq(take)
        moves = ~resp.valid | resp.ready     # the response register takes a new row
        with m.If(moves):
            # `behind` is only filled while the response register is held, and then no
            # read arrives (at most ACC_READ_SLOTS = 2 are outstanding)
            m.d.sync += [resp.valid.eq(behind_valid | arrives), behind_valid.eq(0),
                         resp.payload.eq(Mux(behind_valid, behind, arriving))]
        with m.Elif(arrives):
            m.d.sync += [behind.eq(arriving), behind_valid.eq(1)]
        outstanding = resp.valid + behind_valid + arrives
        return outstanding - (resp.valid & resp.ready) < ACC_READ_SLOTS
