"""UART host bridge: the board's host reads and writes CSRs and DRAM and waits for the
interrupt, in the frames of :mod:`systolica.model.host_link` (the protocol's reference).

::

    rx --> [ UartRx ] --> receive: SYNC, header, payload (into a 256-byte buffer), CRC
                                    |  a bad frame: drain until the line is idle, then reply
                                    v
                           execute: CSR over AXI4-Lite | DRAM over the byte port | wait irq
                                    |
    tx <-- [ UartTx ] <-- reply: REPLY_SYNC, status, payload, CRC

One request at a time; bytes that arrive while a request executes or its reply goes out
are dropped (the host waits for the reply).

Parameters
----------
cfg : AcceleratorConfig
    ``board_dram_bytes`` bounds memory accesses, ``addr_bits`` is the byte port's width;
    PING answers :func:`~systolica.model.host_link.info_bytes` of ``cfg``.
idle_bits : int
    Bit times of silence that end a frame (:data:`~systolica.model.host_link.IDLE_BIT_TIMES`;
    unit tests shorten it).

Attributes
----------
rx : In(1), tx : Out(1)
    The serial lines.
divisor : In(16)
    Clock cycles per bit, held constant (``clock / baud``).
csr : Out(axil_signature())
    AXI4-Lite manager to the accelerator's CSRs.
mem : Out(host_port_signature(addr_bits))
    Byte port of the board's DRAM (:class:`~systolica.hw.axi_ram.AxiRam`).
irq : In(1)
    The accelerator's interrupt.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..model.config import AcceleratorConfig
from ..model.host_link import (CRC, FIXED_N, HEADER_BYTES, IDLE_BIT_TIMES, INFO_BYTES, MAX_MEM_BYTES,
                               REPLY_SYNC, SYNC, Command, LinkStatus, info_bytes)
from .axi import AxiResp, axil_signature
from .axi_ram import host_port_signature
from .uart_rx import DIVISOR_BITS, UartRx
from .uart_tx import UartTx

__all__ = ["UartBridge"]


class UartBridge(wiring.Component):
    def __init__(self, cfg: AcceleratorConfig, idle_bits: int = IDLE_BIT_TIMES):
        self.cfg, self.idle_bits = cfg, idle_bits
        super().__init__({
            "rx": In(1, init=1), "tx": Out(1, init=1), "divisor": In(DIVISOR_BITS),
            "csr": Out(axil_signature()), "mem": Out(host_port_signature(cfg.addr_bits)), "irq": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UartRx()
        m.submodules.uart_tx = utx = UartTx()
        m.submodules.crc_rx = crc_rx = CRC.create()
        m.submodules.crc_tx = crc_tx = CRC.create()
        m.submodules.buffer = buf = Memory(shape=8, depth=MAX_MEM_BYTES, init=[])
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), urx.divisor.eq(self.divisor),
                     utx.divisor.eq(self.divisor)]
        self.r = r = _Registers()
        self._idle_timer(m, urx)
        with m.Switch(r.cmd):       # payload bytes of an OK reply
            with m.Case(Command.PING):
                m.d.comb += r.reply_bytes.eq(INFO_BYTES)
            with m.Case(Command.READ_CSR):
                m.d.comb += r.reply_bytes.eq(4)
            with m.Case(Command.READ_MEM):
                m.d.comb += r.reply_bytes.eq(r.n + 1)
        with m.FSM():
            self._receive(m, urx, crc_rx, buf)
            self._execute(m, buf)
            self._reply(m, utx, crc_tx)
        return m

    def _idle_timer(self, m: Module, urx: UartRx) -> None:
        """``r.idle``: no byte (and no framing error) for ``idle_bits`` bit times."""
        tick = Signal(DIVISOR_BITS)
        bits = Signal(bits_for(self.idle_bits))
        m.d.sync += tick.eq(tick + 1)
        with m.If(tick + 1 >= self.divisor):
            m.d.sync += tick.eq(0)
            with m.If(~self.r.idle):
                m.d.sync += bits.eq(bits + 1)
        with m.If(urx.data.valid | urx.error):
            m.d.sync += bits.eq(0)
        m.d.comb += self.r.idle.eq(bits == self.idle_bits)

    def _fail(self, m: Module, status: LinkStatus, drain: bool = True) -> None:
        m.d.sync += self.r.status.eq(status)
        m.next = "DRAIN" if drain else "REPLY_SYNC"

    def _receive(self, m: Module, urx: UartRx, crc_rx, buf: Memory) -> None:
        r, byte = self.r, urx.data.payload
        wr = buf.write_port()
        m.d.comb += [crc_rx.data.eq(byte), wr.addr.eq(r.count), wr.data.eq(byte)]
        with m.State("IDLE"):
            with m.If(urx.error):
                self._fail(m, LinkStatus.UART_ERROR)
            with m.Elif(urx.data.valid):
                m.d.comb += crc_rx.start.eq(1)
                m.d.sync += r.count.eq(0)
                m.next = "HEADER"
                with m.If(byte != SYNC):
                    self._fail(m, LinkStatus.BAD_SYNC)
        for state in ("HEADER", "PAYLOAD", "CHECK"):
            with m.State(state):
                m.d.comb += crc_rx.valid.eq(urx.data.valid)
                with m.If(urx.error):
                    self._fail(m, LinkStatus.UART_ERROR)
                with m.Elif(r.idle):
                    self._fail(m, LinkStatus.FRAME_TIMEOUT, drain=False)
                with m.Elif(urx.data.valid):
                    m.d.sync += r.count.eq(r.count + 1)
                    if state == "HEADER":
                        self._header_byte(m, byte)
                    elif state == "PAYLOAD":
                        m.d.comb += wr.en.eq(1)
                        m.d.sync += r.word.eq((r.word >> 8) | (byte << 24))
                        with m.If(r.count + 1 == r.payload_bytes):
                            m.next = "CHECK"
                    else:
                        m.next = "VERIFY"
        with m.State("VERIFY"):
            with m.If(crc_rx.match_detected):
                m.d.sync += [r.count.eq(0), r.status.eq(LinkStatus.OK)]
                m.next = "EXECUTE"
            with m.Else():
                self._fail(m, LinkStatus.BAD_CRC)
        with m.State("DRAIN"):      # discard the rest of a bad frame, then reply once
            with m.If(r.idle):
                m.next = "REPLY_SYNC"

    def _header_byte(self, m: Module, byte) -> None:
        r = self.r
        with m.Switch(r.count):
            with m.Case(0):
                m.d.sync += r.cmd.eq(byte)
            for k in range(4):
                with m.Case(1 + k):
                    m.d.sync += r.addr.word_select(k, 8).eq(byte)
            with m.Case(HEADER_BYTES - 1):
                m.d.sync += [r.n.eq(byte), r.count.eq(0)]
                fixed = {cmd: n for cmd, n in FIXED_N.items() if n is not None}
                payload = {Command.WRITE_CSR: 4, Command.WRITE_MEM: byte + 1}
                m.next = "CHECK"
                with m.Switch(r.cmd):
                    for cmd in Command:
                        with m.Case(cmd):
                            if cmd in payload:
                                m.d.sync += r.payload_bytes.eq(payload[cmd])
                                m.next = "PAYLOAD"
                            if cmd in fixed:
                                with m.If(byte != fixed[cmd]):
                                    self._fail(m, LinkStatus.BAD_LENGTH)
                    with m.Default():
                        self._fail(m, LinkStatus.BAD_COMMAND)

    def _execute(self, m: Module, buf: Memory) -> None:
        r, csr, mem, cfg = self.r, self.csr, self.mem, self.cfg
        rd = buf.read_port()
        m.d.comb += [rd.addr.eq(r.count), csr.awaddr.eq(r.addr), csr.araddr.eq(r.addr), csr.wdata.eq(r.word),
                     csr.wstrb.eq(0b1111), mem.addr.eq(r.addr + r.count), mem.wdata.eq(rd.data)]
        in_dram = (r.addr + r.n + 1) <= cfg.board_dram_bytes    # 33-bit sum: no wraparound
        with m.State("EXECUTE"):
            with m.Switch(r.cmd):
                with m.Case(Command.WRITE_CSR):
                    m.next = "CSR_WRITE"
                with m.Case(Command.READ_CSR):
                    m.next = "CSR_READ"
                with m.Case(Command.WRITE_MEM, Command.READ_MEM):
                    m.next = "COPY"
                    with m.If(~in_dram):
                        self._fail(m, LinkStatus.BAD_ADDRESS, drain=False)
                    with m.Elif(r.cmd == Command.READ_MEM):
                        m.next = "REPLY_SYNC"
                with m.Case(Command.WAIT_IRQ):
                    m.next = "WAIT"
                with m.Default():   # PING
                    m.next = "REPLY_SYNC"
        with m.State("CSR_WRITE"):
            aw_done, w_done = Signal(), Signal()
            m.d.comb += [csr.awvalid.eq(~aw_done), csr.wvalid.eq(~w_done), csr.bready.eq(1)]
            with m.If(csr.awready):
                m.d.sync += aw_done.eq(1)
            with m.If(csr.wready):
                m.d.sync += w_done.eq(1)
            with m.If(csr.bvalid):
                m.d.sync += [aw_done.eq(0), w_done.eq(0)]
                self._bus_status(m, csr.bresp)
        with m.State("CSR_READ"):
            ar_done = Signal()
            m.d.comb += [csr.arvalid.eq(~ar_done), csr.rready.eq(1)]
            with m.If(csr.arready):
                m.d.sync += ar_done.eq(1)
            with m.If(csr.rvalid):
                m.d.sync += [ar_done.eq(0), r.word.eq(csr.rdata)]
                self._bus_status(m, csr.rresp)
        with m.State("COPY"):       # buffer[count] was read last cycle
            m.d.comb += mem.we.eq(1)
            m.next = "COPY_WAIT"
        with m.State("COPY_WAIT"):
            with m.If(mem.done):
                m.d.comb += rd.addr.eq(r.count + 1)
                m.d.sync += r.count.eq(r.count + 1)
                m.next = "COPY"
                with m.If(r.count == r.n):
                    m.next = "REPLY_SYNC"
        with m.State("WAIT"):
            with m.If(self.irq):
                m.next = "REPLY_SYNC"
            with m.Elif(r.addr == 0):
                self._fail(m, LinkStatus.IRQ_TIMEOUT, drain=False)
            with m.Else():
                m.d.sync += r.addr.eq(r.addr - 1)

    def _bus_status(self, m: Module, resp) -> None:
        with m.If((resp == AxiResp.OKAY) | (resp == AxiResp.EXOKAY)):
            m.next = "REPLY_SYNC"
        with m.Else():
            self._fail(m, LinkStatus.BUS_ERROR, drain=False)

    def _reply(self, m: Module, utx: UartTx, crc_tx) -> None:
        r, mem, tx = self.r, self.mem, utx.data
        info = Array(Const(b, 8) for b in info_bytes(self.cfg))
        reply_bytes = r.reply_bytes
        read_mem = (r.cmd == Command.READ_MEM) & (r.status == LinkStatus.OK)
        m.d.comb += [crc_tx.data.eq(tx.payload), crc_tx.valid.eq(tx.valid & tx.ready)]
        with m.State("REPLY_SYNC"):
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(REPLY_SYNC)]
            with m.If(tx.ready):
                m.d.sync += r.count.eq(0)
                m.next = "REPLY_STATUS"
        with m.State("REPLY_STATUS"):
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(r.status), crc_tx.start.eq(1)]
            with m.If(tx.ready):
                m.next = "REPLY_CRC"
                with m.If((r.status == LinkStatus.OK) & (reply_bytes != 0)):
                    m.next = "REPLY_DATA"
                    with m.If(read_mem):
                        m.next = "FETCH"
        with m.State("FETCH"):      # READ_MEM: byte count from the DRAM
            m.d.comb += mem.re.eq(1)
            m.next = "FETCH_WAIT"
        with m.State("FETCH_WAIT"):
            with m.If(mem.done):
                m.d.sync += r.byte.eq(mem.rdata)
                m.next = "REPLY_DATA"
        with m.State("REPLY_DATA"):
            with m.Switch(r.cmd):
                with m.Case(Command.PING):
                    m.d.comb += tx.payload.eq(info[r.count])
                with m.Case(Command.READ_CSR):
                    m.d.comb += tx.payload.eq(r.word.word_select(r.count[:2], 8))
                with m.Default():
                    m.d.comb += tx.payload.eq(r.byte)
            m.d.comb += tx.valid.eq(1)
            with m.If(tx.ready):
                m.d.sync += r.count.eq(r.count + 1)
                with m.If(r.count + 1 == reply_bytes):
                    m.next = "REPLY_CRC"
                with m.Elif(read_mem):
                    m.next = "FETCH"
        with m.State("REPLY_CRC"):
            m.d.comb += [tx.valid.eq(1), tx.payload.eq(crc_tx.crc)]
            with m.If(tx.ready):
                m.next = "IDLE"


class _Registers:
    """The request being served."""

    def __init__(self):
        self.cmd, self.addr, self.n = Signal(8), Signal(32), Signal(8)
        self.count = Signal(range(MAX_MEM_BYTES + 1))
        self.payload_bytes = Signal(range(MAX_MEM_BYTES + 1))
        self.reply_bytes = Signal(range(MAX_MEM_BYTES + 1))
        self.word = Signal(32)
        self.byte = Signal(8)           # READ_MEM: the byte being sent
        self.status = Signal(LinkStatus)
        self.idle = Signal()
