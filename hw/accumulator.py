"""Accumulator: SRAM of partial-sum rows that overwrite or accumulate, one row per cycle.

``cfg.acc_rows`` rows of ``cfg.cols`` signed ``cfg.acc_bits`` partial sums in
``cfg.acc_banks`` banks (the bank is the high bits of the row address). Each bank is a
:class:`~systolica.hw.memory_bank.MemoryBank`: one write port, one read port (its row
leaves from a register) shared by the accumulate path and the ``read`` port. Reset clears
the pipeline and the response queue, not the rows.

Write pipeline (four stages, no bubble, never stalls)
    ====== ==================================================================
    cycle  a row write accepted in cycle ``t`` (from ``write`` or ``dma_write``)
    ====== ==================================================================
    t      S0: accept; an accumulating write reads its row on its bank's read port
    t+1    S1: the row goes into the bank's output register
    t+2    S2: ``sum = accumulate ? wrap(old + data) : data`` into the bypass register
    t+3    S3: write the row from the bypass register
    t+4    the memory holds ``sum``
    ====== ==================================================================
    The row read in cycle ``t`` misses exactly three writes: the ones in S1, S2 and S3
    during ``t``. Their sums are forwarded in S2, in ``t+2``: the youngest one's (accepted
    in ``t-1``) from the bypass register, which holds the previous cycle's sum, the next
    one's (accepted in ``t-2``) from the register behind it (``older``) and the oldest
    one's (accepted in ``t-3``, written in ``t``) from the one behind that (``oldest``), so
    the youngest write to the row wins and back-to-back accumulates into one row need no
    bubble. The banks are written from registers (timing: with the write in S2, the sum's
    carry chains drove the block RAMs' data inputs, placed far from them: the 8x8 top at
    02a6f20, 282 endpoints late, -2.18 ns). The bank's output register
    (:class:`~systolica.hw.memory_bank.MemoryBank`) keeps the block RAM's clock-to-output
    delay off the multiplexers and the adder.

Read path
    A ``read`` request accepted in cycle ``t`` reads the memory in ``t``; in ``t+2`` its
    row (the bank's output register, or a sum forwarded from the pipeline as above) is
    written into the response queue, whose head is a register: the response is valid from
    ``t+3`` (:data:`~systolica.model.memory.ACC_READ_LATENCY`) until taken. At most
    :data:`~systolica.model.memory.ACC_READ_SLOTS` reads are accepted and not taken
    before this cycle (a count in a register: ``req.ready`` does not depend on
    ``resp.ready``). A read sees every write accepted in an earlier cycle; a write
    accepted in the same cycle ``t`` is not seen (it is ordered after the read).

Bit-level semantics and arbitration are defined by :mod:`systolica.model.memory`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..model.config import AcceleratorConfig
from ..model.memory import ACC_READ_LATENCY, ACC_READ_SLOTS
from .arith import arithmetic_for
from .head_fifo import HeadFIFO
from .memory_bank import READ_LATENCY as BANK_READ_LATENCY
from .memory_bank import add_banks
from .scratchpad import delayed, pick, read_port_signature, split_addr

__all__ = ["Accumulator", "acc_row_layout", "acc_write_layout", "acc_dma_write_layout",
           "WRITE_PIPELINE_DEPTH"]

#: Cycles from accepting a row write to the memory holding the result (S0 .. S3).
WRITE_PIPELINE_DEPTH = 4


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
        the row. ``req.ready`` is high when fewer than ``ACC_READ_SLOTS`` reads were
        accepted and not taken before this cycle, and no accumulating ``write`` is
        accepted into the same bank this cycle (it holds the bank's read port). The
        response is valid ``ACC_READ_LATENCY`` cycles after acceptance until taken, from a
        register. Ordering: a read sees every row write
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
        # a bank read in the cycle its row is written (by S3) is never used: S3's sum is
        # forwarded from `oldest` instead (`s2_from_oldest`, `from_oldest` below), so the
        # banks need no collision logic (`tests/test_accumulator_collisions_sim.py`)
        banks = add_banks(m, cfg.acc_banks, width=data.Layout.cast(row).size,
                          depth=cfg.acc_rows // cfg.acc_banks, read_during_write="unused")
        bank_data = [mb.r_data for mb in banks]
        split = lambda addr: split_addr(addr, cfg.acc_rows, cfg.acc_banks)  # noqa: E731

        # S0: accept; an accumulate reads its row.
        s0_valid, s0 = self._stage0(m)
        # (only the array's writes accumulate, so the read takes its row from the array's
        # write itself, not through S0's choice of the two writers: timing, the 8x8 top at
        # 7902ac9, the executor's `acc_write__valid` -> S0's choice -> the read's bank and
        # row -> a bank's address, five LUT levels and a 5.13 ns route, -0.96 ns)
        # (the flags that forward a younger sum to S2 matter only for an accumulate, too)
        s0_addr = self.write.p.addr
        s0_bank, s0_row = split(s0_addr)
        s0_reads = self.write.valid & self.write.p.accumulate

        # S1 waits for the row read, S2 adds, S3 writes. `bypass` holds the previous cycle's
        # sum (S3's), `older` the one before, `oldest` the one before that; `s2_from_*`:
        # S2's row was written after S0 read it.
        s1_valid, s2_valid, s3_valid = Signal(), Signal(), Signal()
        s1, s2 = Signal(acc_write_layout(cfg)), Signal(acc_write_layout(cfg))
        s3_addr = Signal.like(s2.addr, name="s3_addr")
        s2_bank, _ = split(s2.addr)
        s3_bank, s3_row = split(s3_addr)
        bypass, older, oldest = Signal(row), Signal(row), Signal(row)
        m.d.sync += [s1_valid.eq(s0_valid), s1.eq(s0), s2_valid.eq(s1_valid), s2.eq(s1),
                     s3_valid.eq(s2_valid), s3_addr.eq(s2.addr), older.eq(bypass), oldest.eq(older)]
        s2_from_bypass = delayed(m, s2_valid & (s2.addr == s1.addr), 1, "s2_from_bypass")
        s2_from_older = delayed(m, s2_valid & (s2.addr == s0_addr), 2, "s2_from_older")
        s2_from_oldest = delayed(m, s3_valid & (s3_addr == s0_addr), 2, "s2_from_oldest")
        assert BANK_READ_LATENCY == 2  # S0 reads, S2 has the row
        latest = row(self._arriving((s2_from_bypass, bypass), (s2_from_older, older), (s2_from_oldest, oldest),
                                    pick(bank_data, s2_bank)))
        total = Signal(row)
        arith = arithmetic_for(cfg)  # int8: old + data (wrapping); FP8: sums add, flags OR
        for j in range(cfg.cols):
            m.d.comb += total[j].eq(Mux(s2.accumulate, arith.add_partials(latest[j], s2.data[j]), s2.data[j]))
        m.d.sync += bypass.eq(total)
        for b, mb in enumerate(banks):
            m.d.comb += [mb.w_en.eq(s3_valid & (s3_bank == b)), mb.w_addr.eq(s3_row), mb.w_data.eq(bypass)]

        # Read requests: wait for a free response slot and a free bank read port.
        req = self.read.req
        r_bank, r_row = split(req.p.addr)
        take = req.valid & req.ready
        for b, mb in enumerate(banks):
            with m.If(s0_reads & (s0_bank == b)):
                m.d.comb += [mb.r_en.eq(1), mb.r_addr.eq(s0_row)]
            with m.Elif(take & (r_bank == b)):
                m.d.comb += [mb.r_en.eq(1), mb.r_addr.eq(r_row)]
            with m.Else():
                m.d.comb += mb.r_en.eq(0)
        # the read misses the writes in S1 (its sum in the bypass register in t+2), S2 (in
        # `older` in t+2) and S3 (in `oldest`); the youngest wins
        from_bypass = delayed(m, s1_valid & (s1.addr == req.p.addr), BANK_READ_LATENCY, "from_bypass")
        from_older = delayed(m, s2_valid & (s2.addr == req.p.addr), BANK_READ_LATENCY, "from_older")
        from_oldest = delayed(m, s3_valid & (s3_addr == req.p.addr), BANK_READ_LATENCY, "from_oldest")
        resp_bank = delayed(m, r_bank, BANK_READ_LATENCY, "resp_bank") if cfg.acc_banks > 1 else 0
        arriving = self._arriving((from_bypass, bypass), (from_older, older), (from_oldest, oldest),
                                  pick(bank_data, resp_bank))
        room = self._responses(m, take, delayed(m, take, BANK_READ_LATENCY, "arrives"), arriving)
        m.d.comb += req.ready.eq(room & ~(s0_reads & (s0_bank == r_bank)))
        return m

    @staticmethod
    def _arriving(*forwards):
        """A row read two cycles ago: the first of ``(flag, register)`` pairs whose flag
        is set (the youngest write first), else the bank's row, the last argument."""
        *pairs, value = forwards
        for flag, reg in reversed(pairs):
            value = Mux(flag, reg.as_value(), value)
        return value

    def _responses(self, m: Module, take, arrives, arriving):
        """The response queue (its head a register). ``arriving`` is the row of the read
        accepted ``BANK_READ_LATENCY`` cycles ago when ``arrives``; returns the register
        "a read may be accepted this cycle"."""
        resp = self.read.resp
        queue = m.submodules.responses = HeadFIFO(width=len(arriving), depth=ACC_READ_SLOTS)
        assert ACC_READ_LATENCY == BANK_READ_LATENCY + 1  # the queue's head: one more cycle
        m.d.comb += [queue.w_en.eq(arrives), queue.w_data.eq(arriving), resp.valid.eq(queue.r_rdy),
                     resp.payload.eq(queue.r_data), queue.r_en.eq(resp.ready)]
        # reads accepted and not taken (each arrives in a queue with room for all of them)
        outstanding = Signal(range(ACC_READ_SLOTS + 1))
        room = Signal(init=1)
        following = outstanding + take - (resp.valid & resp.ready)
        m.d.sync += [outstanding.eq(following), room.eq(following < ACC_READ_SLOTS)]
        return room
