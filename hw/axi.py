"""AXI4 and AXI4-Lite signatures, flat, named as the AMBA specification names the signals.

A port ``axi`` of :func:`axi4_signature` becomes ``axi__awaddr``, ``axi__wdata``, ... in
the generated Verilog, which is what cocotbext-axi expects with ``bus_separator="__"``::

    AxiRam(AxiBus.from_prefix(dut, "axi", bus_separator="__"), dut.clk, dut.rst, size=...)

Members are given from the manager's (master's) side: a DMA has ``Out(axi4_signature(...))``.
"""

from __future__ import annotations

from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from ..model.csr import CSR_ADDR_BITS, CSR_DATA_BITS

__all__ = ["AxiBurst", "AxiResp", "axi4_signature", "axi4_read_members", "axi4_write_members",
           "axil_signature", "AXI_ID_BITS", "connect_members"]

#: One ID for everything: transactions of a manager complete in order.
AXI_ID_BITS = 1


class AxiBurst(enum.Enum, shape=2):
    FIXED = 0
    INCR = 1
    WRAP = 2


class AxiResp(enum.Enum, shape=2):
    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


def axi4_signature(addr_bits: int, data_bits: int, id_bits: int = AXI_ID_BITS) -> wiring.Signature:
    """AXI4 manager signature (the five channels, no user/region/qos signals)."""
    return wiring.Signature({**axi4_write_members(addr_bits, data_bits, id_bits),
                             **axi4_read_members(addr_bits, data_bits, id_bits)})


def axi4_write_members(addr_bits: int, data_bits: int, id_bits: int = AXI_ID_BITS) -> dict:
    """The write half (AW, W, B) of :func:`axi4_signature`."""
    return {
        # write address
        "awid": Out(id_bits), "awaddr": Out(addr_bits), "awlen": Out(8), "awsize": Out(3),
        "awburst": Out(AxiBurst), "awprot": Out(3), "awcache": Out(4), "awlock": Out(1),
        "awvalid": Out(1), "awready": In(1),
        # write data
        "wdata": Out(data_bits), "wstrb": Out(data_bits // 8), "wlast": Out(1),
        "wvalid": Out(1), "wready": In(1),
        # write response
        "bid": In(id_bits), "bresp": In(AxiResp), "bvalid": In(1), "bready": Out(1),
    }


def axi4_read_members(addr_bits: int, data_bits: int, id_bits: int = AXI_ID_BITS) -> dict:
    """The read half (AR, R) of :func:`axi4_signature`."""
    return {
        # read address
        "arid": Out(id_bits), "araddr": Out(addr_bits), "arlen": Out(8), "arsize": Out(3),
        "arburst": Out(AxiBurst), "arprot": Out(3), "arcache": Out(4), "arlock": Out(1),
        "arvalid": Out(1), "arready": In(1),
        # read data
        "rid": In(id_bits), "rdata": In(data_bits), "rresp": In(AxiResp), "rlast": In(1),
        "rvalid": In(1), "rready": Out(1),
    }


def connect_members(m, inner, outer) -> None:
    """Drive ``outer``'s signals from ``inner``'s outputs and ``inner``'s inputs from
    ``outer`` for every member of ``inner``'s (flat) signature -- e.g. one engine's half
    of a shared AXI port."""
    for name, member in inner.signature.members.items():
        a, b = getattr(inner, name), getattr(outer, name)
        m.d.comb += b.eq(a) if member.flow == Out else a.eq(b)


def axil_signature(addr_bits: int = CSR_ADDR_BITS, data_bits: int = CSR_DATA_BITS) -> wiring.Signature:
    """AXI4-Lite manager signature (the five channels with ``awprot``/``arprot``, no user
    signals); a subordinate has ``In(axil_signature(...))``. The defaults are the CSR port's
    (:mod:`systolica.model.csr`). cocotbext-axi drives it with
    ``AxiLiteMaster(AxiLiteBus.from_prefix(dut, "axil", bus_separator="__"), ...)``."""
    return wiring.Signature({
        "awaddr": Out(addr_bits), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
        "wdata": Out(data_bits), "wstrb": Out(data_bits // 8), "wvalid": Out(1), "wready": In(1),
        "bresp": In(AxiResp), "bvalid": In(1), "bready": Out(1),
        "araddr": Out(addr_bits), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
        "rdata": In(data_bits), "rresp": In(AxiResp), "rvalid": In(1), "rready": Out(1),
    })
