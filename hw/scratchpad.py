"""Scratchpad: banked SRAM of operand rows (one row feeds the array for one cycle).

``cfg.spad_rows`` rows of ``cfg.spad_row_elems`` operands in ``cfg.spad_banks`` banks.
The bank is the high bits of the row address, so consecutive rows share a bank and a
compiler double-buffers by bank: the DMA fills one bank while the array reads another,
every cycle. Each bank is a :class:`~systolica.hw.memory_bank.MemoryBank`: one
byte-masked write port and one read port, not transparent, whose row leaves from a
register. Reset clears the port state, not the rows.

Bit-level semantics and arbitration are defined by :mod:`systolica.model.memory`.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Module, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..model.config import AcceleratorConfig
from ..model.memory import SPAD_READERS
from .arith import arithmetic_for
from .memory_bank import READ_LATENCY as BANK_READ_LATENCY
from .memory_bank import add_banks

__all__ = ["Scratchpad", "spad_row_layout", "spad_write_layout", "read_request_layout",
           "read_port_signature", "split_addr", "pick", "delayed", "READ_LATENCY"]

#: Cycles from accepting a read request to its response being valid: the bank's read
#: (:data:`~systolica.hw.memory_bank.READ_LATENCY`, its output register included).
READ_LATENCY = BANK_READ_LATENCY


def spad_row_layout(cfg: AcceleratorConfig) -> data.ArrayLayout:
    """One scratchpad row: ``spad_row_elems`` operands, element 0 in the low bits."""
    return data.ArrayLayout(arithmetic_for(cfg).operand_shape, cfg.spad_row_elems)


def spad_write_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    return data.StructLayout({"addr": range(cfg.spad_rows), "data": spad_row_layout(cfg),
                              "mask": cfg.spad_row_bytes})


def read_request_layout(rows: int) -> data.StructLayout:
    return data.StructLayout({"addr": range(rows)})


def read_port_signature(rows: int, row_layout, *, backpressure: bool) -> wiring.Signature:
    """A read port as seen from the memory: requests ``req`` in, rows ``resp`` out
    (``resp.ready`` exists only with ``backpressure``)."""
    return wiring.Signature({
        "req": In(stream.Signature(read_request_layout(rows))),
        "resp": Out(stream.Signature(row_layout, always_ready=not backpressure)),
    })


def split_addr(addr, rows: int, banks: int):
    """``(bank, row within the bank)`` of a row address: the bank is the high bits."""
    offset_bits = exact_log2(rows // banks)
    return addr[offset_bits:], addr[:offset_bits]


def pick(values: list, index):
    """``values[index]`` as hardware (a mux), without one for a single value."""
    return values[0] if len(values) == 1 else Array(values)[index]


def delayed(m: Module, value, cycles: int, name: str):
    """``value`` as it was ``cycles`` cycles ago (a chain of registers ``name_1`` ..)."""
    for k in range(cycles):
        reg = Signal(Value.cast(value).shape(), name=f"{name}_{k + 1}")
        m.d.sync += reg.eq(value)
        value = reg
    return value

class Scratchpad(wiring.Component):
    """Banked operand SRAM with one DMA write port and three prioritised read ports.

    A cycle below is one clock period; a transfer is *accepted* in the cycle where its
    ``valid`` and ``ready`` are both high.

    Attributes
    ----------
    write : In(stream.Signature(spad_write_layout(cfg)))
        DMA load: ``{addr, data, mask}`` writes the bytes of row ``addr`` whose ``mask``
        bit is set (bit ``i`` = operand ``i``). ``ready`` is always high: each bank has its
        own write port and nothing else writes. The row holds the new bytes from the next
        cycle on.
    read_a, read_b, read_dma : Out(read_port_signature(spad_rows, row, backpressure=False))
        Read ports of the execute unit's A operand, its B/weight operand, and the DMA
        store path. ``req`` carries ``{addr}``; ``resp`` carries the row exactly
        :data:`READ_LATENCY` cycles after the request is accepted, for that one cycle,
        and has no ``ready``: the requester must take it. Requests to different banks in
        the same cycle are all accepted; to the same bank, ``read_a`` > ``read_b`` >
        ``read_dma`` and a loser sees ``ready`` low (``ready`` depends on the other ports'
        ``valid`` and ``addr``, never on its own ``valid``). A read may hit the bank or
        even the row that ``write`` writes in the same cycle; it then returns the row as
        it was *before* that write (the old data).
    """

    def __init__(self, cfg: AcceleratorConfig):
        self.cfg = cfg
        read_sig = read_port_signature(cfg.spad_rows, spad_row_layout(cfg), backpressure=False)
        super().__init__({
            "write": In(stream.Signature(spad_write_layout(cfg))),
            **{name: Out(read_sig) for name in SPAD_READERS},
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.cfg
        row_bits = data.Layout.cast(spad_row_layout(cfg)).size
        # a read during a write returns the old row
        banks = add_banks(m, cfg.spad_banks, width=row_bits, depth=cfg.spad_rows // cfg.spad_banks,
                          granularity=row_bits // cfg.spad_row_bytes)
        split = lambda addr: split_addr(addr, cfg.spad_rows, cfg.spad_banks)  # noqa: E731

        # DMA write: straight into its bank's write port.
        w = self.write
        w_bank, w_row = split(w.p.addr)
        m.d.comb += w.ready.eq(1)
        for b, bank in enumerate(banks):
            with m.If(w.valid & (w_bank == b)):
                m.d.comb += bank.w_en.eq(w.p.mask)
            m.d.comb += [bank.w_addr.eq(w_row), bank.w_data.eq(w.p.data)]

        # Reads: a request waits while a higher-priority request addresses its bank.
        readers = [getattr(self, name) for name in SPAD_READERS]
        reqs = [(r.req, *split(r.req.p.addr)) for r in readers]
        for i, (req, bank, _) in enumerate(reqs):
            higher = Cat(q.valid & (qb == bank) for q, qb, _ in reqs[:i])
            m.d.comb += req.ready.eq(~higher.any())
        # A bank reads when any request addresses it, the row of the highest-priority one
        # (the one accepted); with none, its address is the lowest-priority port's, unused.
        # So the readiness logic stays out of the address (timing: the 8x8 top at 4b04c65
        # --seed 2, `executor.a_rows_reqs.r_rdy` -> four LUT levels -> a 3.68 ns route ->
        # `bank1.mem`'s address, -0.25 ns)
        for b, mb in enumerate(banks):
            m.d.comb += [mb.r_en.eq(Cat(req.valid & (bank == b) for req, bank, _ in reqs).any()),
                         mb.r_addr.eq(reqs[-1][2])]
            for req, bank, row in reversed(reqs[:-1]):  # the highest priority is assigned last
                with m.If(req.valid & (bank == b)):
                    m.d.comb += mb.r_addr.eq(row)

        # Responses: the bank's read data, READ_LATENCY cycles after acceptance; the valid
        # bit and the bank follow the read through as many registers.
        bank_data = [mb.r_data for mb in banks]
        for name, r, (req, bank, _) in zip(SPAD_READERS, readers, reqs):
            resp_bank = delayed(m, bank, READ_LATENCY, f"{name}_bank") if cfg.spad_banks > 1 else 0
            m.d.comb += [r.resp.valid.eq(delayed(m, req.valid & req.ready, READ_LATENCY, f"{name}_valid")),
                         r.resp.payload.eq(pick(bank_data, resp_bank))]
        return m
