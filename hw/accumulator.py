"""Accumulator: SRAM of partial-sum rows that overwrite or accumulate, one row per cycle.

``cfg.acc_rows`` rows of ``cfg.cols`` signed ``cfg.acc_bits`` partial sums in
``cfg.acc_banks`` banks (the bank is the high bits of the row address). Each bank is a
simple dual-port :class:`~amaranth.lib.memory.Memory`: one write port, one synchronous
read port shared by the accumulate path and the ``read`` port. Reset clears the pipeline
and the response register, not the rows.

Write pipeline (two stages, no bubble, never stalls)
    ====== ==================================================================
    cycle  a row write accepted in cycle ``t`` (from ``write`` or ``dma_write``)
    ====== ==================================================================
    t      S0: accept; an accumulating write reads its row on its bank's read port
    t+1    S1: ``sum = accumulate ? wrap(old + data) : data``; write the row
    t+2    the memory holds ``sum``
    ====== ==================================================================
    The row read in cycle ``t`` misses exactly one write: the one in S1 during ``t``
    (written at the end of ``t``). When that write is to the same row, ``old`` is taken
    from the bypass register that holds the previous cycle's ``sum`` instead of the
    memory, so back-to-back accumulates into one row need no bubble.

Read path
    A ``read`` request accepted in cycle ``t`` reads the memory in ``t`` and its response
    is valid from ``t+1`` until it is taken (a response register with backpressure). A
    read sees every write accepted in an earlier cycle: the write in S1 during ``t`` is
    forwarded from the same bypass register (no stall). A write accepted in the same cycle
    ``t`` is not seen (it is ordered after the read).

Bit-level semantics and arbitration are defined by :mod:`systolica.model.memory`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from .arith import arithmetic_for
from .scratchpad import bank_register, pick, read_port_signature, split_addr

__all__ = ["Accumulator", "acc_row_layout", "acc_write_layout", "acc_dma_write_layout",
           "WRITE_PIPELINE_DEPTH"]

#: Cycles from accepting a row write to the memory holding the result (S0, S1).
WRITE_PIPELINE_DEPTH = 2


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
        the row. ``req.ready`` is high when the response register is empty or being
        taken this cycle, and no accumulating ``write`` is accepted into the same bank
        this cycle (it holds the bank's read port). The response is valid from the cycle
        after acceptance until taken. Ordering: a read sees every row write accepted in
        an earlier cycle (forwarded from the pipeline), none accepted in its own cycle.
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

        # S1: add and write; the bypass holds the previous cycle's sum.
        s1_valid = Signal()
        s1 = Signal(acc_write_layout(cfg))
        s1_bank, s1_row = split(s1.addr)
        bypass = Signal(row)
        s1_bypass = Signal()                 # S1's row was written while S0 read it
        m.d.sync += [s1_valid.eq(s0_valid), s1.eq(s0),
                     s1_bypass.eq(s0_valid & s1_valid & (s1.addr == s0.addr))]
        old = row(Mux(s1_bypass, bypass.as_value(), pick(bank_data, s1_bank)))
        total = Signal(row)
        arith = arithmetic_for(cfg)  # int8: old + data (wrapping); FP8: sums add, flags OR
        for j in range(cfg.cols):
            m.d.comb += total[j].eq(Mux(s1.accumulate, arith.add_partials(old[j], s1.data[j]), s1.data[j]))
        m.d.sync += bypass.eq(total)
        for b, (wp, _) in enumerate(banks):
            m.d.comb += [wp.en.eq(s1_valid & (s1_bank == b)), wp.addr.eq(s1_row), wp.data.eq(total)]

        # Read requests: wait for a free response register and a free bank read port.
        req, resp = self.read.req, self.read.resp
        r_bank, r_row = split(req.p.addr)
        m.d.comb += req.ready.eq((~resp.valid | resp.ready) & ~(s0_reads & (s0_bank == r_bank)))
        take = req.valid & req.ready
        for b, (_, rp) in enumerate(banks):
            with m.If(s0_reads & (s0_bank == b)):
                m.d.comb += [rp.en.eq(1), rp.addr.eq(s0_row)]
            with m.Elif(take & (r_bank == b)):
                m.d.comb += [rp.en.eq(1), rp.addr.eq(r_row)]
            with m.Else():
                m.d.comb += rp.en.eq(0)
        self._response(m, take, r_bank, bank_data,
                       forward=s1_valid & (s1.addr == req.p.addr), bypass=bypass)
        return m

    def _response(self, m: Module, take, r_bank, bank_data, *, forward, bypass) -> None:
        """The response register: in the cycle after acceptance the row comes straight from
        the bank's read port (or the bypass); while it waits to be taken, from ``held``."""
        resp = self.read.resp
        fresh = Signal()                     # the read port holds this response's row
        fresh_bypass = Signal()              # ... but the bypass holds the newer row
        resp_bank = bank_register(m, "resp_bank", self.cfg.acc_banks, take, r_bank)
        held = Signal(len(bypass.as_value()))
        m.d.sync += [fresh.eq(take), fresh_bypass.eq(take & forward),
                     resp.valid.eq(take | (resp.valid & ~resp.ready))]
        fresh_row = Mux(fresh_bypass, bypass.as_value(), pick(bank_data, resp_bank))
        with m.If(fresh):
            m.d.sync += held.eq(fresh_row)
        m.d.comb += resp.payload.eq(Mux(fresh, fresh_row, held))
