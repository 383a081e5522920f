"""The UART host bridge alone (hw/uart_bridge.py) in Amaranth's simulator, driven bit by bit
on its serial line: every command of the host link, and every kind of bad frame gets one
error reply, after which the bridge answers the next frame (never a hang).

The CSR block is a register file answering SLVERR for unknown offsets and the DRAM a byte
array on the bridge's byte port, both modelled by the bench.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw.axi import AxiResp
from systolica.hw.uart_bridge import UartBridge
from systolica.hw.uart_rx import UartRx
from systolica.hw.uart_tx import UartTx
from systolica.model.config import AcceleratorConfig
from systolica.model.host_link import (REPLY_SYNC, SYNC, Command, LinkStatus, crc8, info_bytes, parse_reply,
                                       reply_length, request)

DIVISOR = 5          # clock cycles per bit
IDLE_BITS = 40       # shortened frame timeout (the protocol's is IDLE_BIT_TIMES)
CFG = AcceleratorConfig(board_dram_bytes=4096)


class Serial:
    """Bit-level UART on the bench side of the bridge's lines."""

    def __init__(self, dut):
        self.dut = dut

    async def send(self, ctx, data: bytes, stop_bit: int = 1):
        for byte in data:
            for bit in [0] + [byte >> k & 1 for k in range(8)] + [stop_bit]:
                ctx.set(self.dut.rx, bit)
                await ctx.tick().repeat(DIVISOR)
        ctx.set(self.dut.rx, 1)

    async def receive_byte(self, ctx, limit: int) -> int:
        for _ in range(limit):
            _, _, tx = await ctx.tick().sample(self.dut.tx)
            if not tx:
                break
        else:
            raise AssertionError(f"no reply byte within {limit} cycles")
        await ctx.tick().repeat(DIVISOR // 2)
        bits = []
        for _ in range(9):
            await ctx.tick().repeat(DIVISOR)
            bits.append(ctx.get(self.dut.tx))
        assert bits[8] == 1, "reply byte without stop bit"
        return sum(b << k for k, b in enumerate(bits[:8]))

    async def reply(self, ctx, cmd: Command, n: int = 0, limit: int = 100_000):
        frame = bytes([await self.receive_byte(ctx, limit), await self.receive_byte(ctx, limit)])
        size = reply_length(cmd, n) if frame[1] == LinkStatus.OK.value else 0
        for _ in range(size + 1):
            frame += bytes([await self.receive_byte(ctx, 2000)])
        return parse_reply(frame)


def _bench(dut, registers: dict, dram: bytearray):
    """Background processes: an AXI4-Lite register file and the DRAM byte port."""
    csr, mem = dut.csr, dut.mem

    async def csr_block(ctx):
        ctx.set(csr.awready, 1)
        ctx.set(csr.wready, 1)
        ctx.set(csr.arready, 1)
        aw = w = None
        async for _, _, awv, awaddr, wv, wdata, arv, araddr, bready, rready in ctx.tick().sample(
                csr.awvalid, csr.awaddr, csr.wvalid, csr.wdata, csr.arvalid, csr.araddr, csr.bready, csr.rready):
            if bready:
                ctx.set(csr.bvalid, 0)
            if rready:
                ctx.set(csr.rvalid, 0)
            aw = awaddr if awv else aw
            w = wdata if wv else w
            if aw is not None and w is not None:
                ok = aw in registers
                if ok:
                    registers[aw] = w
                ctx.set(csr.bresp, AxiResp.OKAY if ok else AxiResp.SLVERR)
                ctx.set(csr.bvalid, 1)
                aw = w = None
            if arv:
                ok = araddr in registers
                ctx.set(csr.rdata, registers.get(araddr, 0))
                ctx.set(csr.rresp, AxiResp.OKAY if ok else AxiResp.SLVERR)
                ctx.set(csr.rvalid, 1)

    async def dram_port(ctx):
        """A request is answered ``done`` one to three cycles later (the RAM waits for bursts)."""
        delay = 0
        async for _, _, re, we, addr, wdata in ctx.tick().sample(mem.re, mem.we, mem.addr, mem.wdata):
            ctx.set(mem.done, 0)
            assert not (re or we) or addr < len(dram), f"byte port outside the DRAM: {addr:#x}"
            if re or we:
                request, delay = (re, we, addr, wdata), 1 + addr % 3
            if delay:
                delay -= 1
                if not delay:
                    re, we, addr, wdata = request
                    if we:
                        dram[addr] = wdata
                    ctx.set(mem.rdata, dram[addr] if re else 0)
                    ctx.set(mem.done, 1)

    return csr_block, dram_port


def _simulate(script, irq_at: int | None = None):
    dut = UartBridge(CFG, idle_bits=IDLE_BITS)
    registers = {0x000: 0x5359_5354, 0x014: 0}
    dram = bytearray(CFG.board_dram_bytes)
    serial = Serial(dut)

    async def main(ctx):
        ctx.set(dut.divisor, DIVISOR)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(4)
        await script(ctx, serial, registers, dram)

    async def interrupt(ctx):
        if irq_at is not None:
            await ctx.tick().repeat(irq_at)
            ctx.set(dut.irq, 1)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for process in _bench(dut, registers, dram):
        sim.add_testbench(process, background=True)
    sim.add_testbench(interrupt, background=True)
    sim.add_testbench(main)
    sim.run()


async def _ping_ok(ctx, serial):
    await serial.send(ctx, request(Command.PING))
    reply = await serial.reply(ctx, Command.PING)
    assert reply.status is LinkStatus.OK and reply.payload == info_bytes(CFG)


def test_uart_rx_and_tx_loop_back():
    """The transmitter's line into the receiver: every byte value comes back."""
    from amaranth.hdl import Module

    m = Module()
    m.submodules.tx = tx = UartTx()
    m.submodules.rx = rx = UartRx()
    m.d.comb += [rx.rx.eq(tx.tx), tx.divisor.eq(DIVISOR), rx.divisor.eq(DIVISOR)]
    got = []

    async def tb(ctx):
        for value in range(256):
            ctx.set(tx.data.payload, value)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)
        await ctx.tick().repeat(12 * DIVISOR)

    async def sink(ctx):
        async for _, _, valid, data, error in ctx.tick().sample(rx.data.valid, rx.data.payload, rx.error):
            assert not error
            if valid:
                got.append(data)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(sink, background=True)
    sim.add_testbench(tb)
    sim.run()
    assert got == list(range(256))


def test_csr_and_memory_commands(seed):
    rng = np.random.default_rng(seed)
    data = rng.bytes(256)
    addr = int(rng.integers(0, CFG.board_dram_bytes - 256))

    async def script(ctx, serial, registers, dram):
        await _ping_ok(ctx, serial)
        await serial.send(ctx, request(Command.WRITE_CSR, 0x014, 3, (0xA1B2C3D4).to_bytes(4, "little")))
        assert (await serial.reply(ctx, Command.WRITE_CSR)).status is LinkStatus.OK
        assert registers[0x014] == 0xA1B2C3D4
        await serial.send(ctx, request(Command.READ_CSR, 0x000, 3))
        reply = await serial.reply(ctx, Command.READ_CSR)
        assert reply.status is LinkStatus.OK and reply.payload == (0x5359_5354).to_bytes(4, "little")
        for cmd in (Command.READ_CSR, Command.WRITE_CSR):        # no such register: SLVERR
            await serial.send(ctx, request(cmd, 0x7F0, 3, bytes(4) if cmd is Command.WRITE_CSR else b""))
            assert (await serial.reply(ctx, cmd)).status is LinkStatus.BUS_ERROR
        await serial.send(ctx, request(Command.WRITE_MEM, addr, 255, data))
        assert (await serial.reply(ctx, Command.WRITE_MEM)).status is LinkStatus.OK
        assert dram[addr:addr + 256] == data
        await serial.send(ctx, request(Command.READ_MEM, addr + 3, 99))
        reply = await serial.reply(ctx, Command.READ_MEM, 99)
        assert reply.status is LinkStatus.OK and reply.payload == data[3:103]
        # outside the DRAM: refused, nothing written
        end = CFG.board_dram_bytes
        await serial.send(ctx, request(Command.WRITE_MEM, end - 4, 4, bytes(5)))
        assert (await serial.reply(ctx, Command.WRITE_MEM)).status is LinkStatus.BAD_ADDRESS
        await serial.send(ctx, request(Command.READ_MEM, end - 1, 1))
        assert (await serial.reply(ctx, Command.READ_MEM)).status is LinkStatus.BAD_ADDRESS
        await serial.send(ctx, request(Command.READ_MEM, end - 2, 1))
        assert (await serial.reply(ctx, Command.READ_MEM, 1)).status is LinkStatus.OK

    _simulate(script)


def test_wait_irq_times_out_then_sees_the_interrupt():
    async def script(ctx, serial, registers, dram):
        await serial.send(ctx, request(Command.WAIT_IRQ, 50))
        assert (await serial.reply(ctx, Command.WAIT_IRQ)).status is LinkStatus.IRQ_TIMEOUT
        await serial.send(ctx, request(Command.WAIT_IRQ, 100_000))
        assert (await serial.reply(ctx, Command.WAIT_IRQ)).status is LinkStatus.OK

    _simulate(script, irq_at=3000)


def _corrupt(frame: bytes, at: int) -> bytes:
    return frame[:at] + bytes([frame[at] ^ 0x10]) + frame[at + 1:]


write = request(Command.WRITE_MEM, 0x40, 7, b"ABCDEFGH")
BAD_FRAMES = {
    "crc": (_corrupt(write, 9), LinkStatus.BAD_CRC),
    "command": (bytes([SYNC, 0x33, 0, 0, 0, 0, 0]) + bytes([crc8(bytes([0x33, 0, 0, 0, 0, 0]))]),
                LinkStatus.BAD_COMMAND),
    "length": (request(Command.READ_CSR, 0, 7), LinkStatus.BAD_LENGTH),
    "sync": (bytes([REPLY_SYNC]) + write[1:], LinkStatus.BAD_SYNC),
    "truncated": (write[:5], LinkStatus.FRAME_TIMEOUT),
    "long n": (_corrupt(write, 6)[:-1], LinkStatus.FRAME_TIMEOUT),   # N says more bytes than come
}


@pytest.mark.parametrize("case", sorted(BAD_FRAMES))
def test_bad_frame_gets_one_error_reply_and_the_bridge_goes_on(case):
    frame, status = BAD_FRAMES[case]

    async def script(ctx, serial, registers, dram):
        await serial.send(ctx, frame)
        reply = await serial.reply(ctx, Command.WRITE_MEM)
        assert reply.status is status, reply
        assert dram[0x40:0x48] == bytes(8), "a bad frame wrote memory"
        await _ping_ok(ctx, serial)          # one reply only, then back to normal

    _simulate(script)


def test_uart_framing_error_gets_an_error_reply():
    async def script(ctx, serial, registers, dram):
        await serial.send(ctx, write[:3])
        await serial.send(ctx, write[3:4], stop_bit=0)
        await serial.send(ctx, write[4:])
        assert (await serial.reply(ctx, Command.WRITE_MEM)).status is LinkStatus.UART_ERROR
        await _ping_ok(ctx, serial)

    _simulate(script)
