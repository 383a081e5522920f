"""cocotb bench: the whole board top, driven only through its UART, byte by byte.

The host side is the runtime's own ``board`` backend (:func:`systolica.driver.board.board_backend`)
running in a thread (cocotb's ``bridge``), its transport a cocotbext-uart source and sink on
``uart_rx``/``uart_tx`` at ``SYSTOLICA_UART_DIVISOR`` clock cycles per bit. The job
(``SYSTOLICA_JOB``, ``.npz``) holds the DRAM image, the program's base and the window; the
final image, status and counters go to ``SYSTOLICA_RESULT``. A second test sends bad frames
and checks each gets one error reply and the link goes on.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.task import bridge, resume
import numpy as np
from cocotb.triggers import ClockCycles
from cocotbext.uart import UartSink, UartSource

from ..driver.board import BoardLink, board_backend
from ..model.host_link import REPLY_SYNC, SYNC, Command, LinkStatus, crc8, info_bytes, parse_reply, request
from .tb_common import CFG, start

CLOCK_NS = 10       # tb_common.start's clock
DIVISOR = int(os.environ.get("SYSTOLICA_UART_DIVISOR", "8"))


class SimUart:
    """A blocking byte transport (pyserial's ``write``/``read``) on the simulated lines, for
    code running in a ``cocotb.bridge`` thread."""

    def __init__(self, dut, timeout_cycles: int):
        baud = 1e9 / (DIVISOR * CLOCK_NS)
        self.dut, self.timeout = dut, timeout_cycles
        self.source = UartSource(dut.uart_rx, baud=baud)
        self.sink = UartSink(dut.uart_tx, baud=baud)

    async def _write(self, data: bytes) -> None:
        await self.source.write(data)
        await self.source.wait()

    async def _read(self, n: int) -> bytes:
        waited = 0
        while self.sink.count() < n and waited < self.timeout:
            await ClockCycles(self.dut.clk, 64)
            waited += 64
        return bytes(self.sink.read_nowait(min(n, self.sink.count())))

    def write(self, data: bytes) -> None:
        resume(self._write)(data)

    def read(self, n: int) -> bytes:
        return resume(self._read)(n)


async def _start(dut) -> SimUart:
    await start(dut, {"uart_rx": 1, "uart_divisor": DIVISOR})
    await ClockCycles(dut.clk, 4)
    # a reply arrives within one frame timeout (4096 bit times) plus the longest reply
    return SimUart(dut, timeout_cycles=DIVISOR * (4096 + 300 * 10) * 2)


@cocotb.test()
async def run_job(dut):
    job = np.load(os.environ["SYSTOLICA_JOB"])
    dram = bytearray(job["dram"].tobytes())
    link = BoardLink(await _start(dut), retries=0)
    result = await bridge(board_backend)(CFG, dram, int(job["program_base"]),
                                                (int(job["window_lo"]), int(job["window_hi"])), link=link)
    c = result.counters
    np.savez(os.environ["SYSTOLICA_RESULT"], dram=np.frombuffer(bytes(dram), dtype=np.uint8),
             status=np.array(json.dumps({"error": result.status.value, "index": result.index,
                                         "dma_error": result.dma_error.value})),
             counters=np.array(json.dumps({"useful_macs": c.useful_macs, "dma_bytes_loaded": c.dma_bytes_loaded,
                                           "dma_bytes_stored": c.dma_bytes_stored, "cycles": c.cycles,
                                           "commands": sum(c.commands.values())})))


def _corrupt(frame: bytes, at: int) -> bytes:
    return frame[:at] + bytes([frame[at] ^ 0x01]) + frame[at + 1:]


@cocotb.test()
async def bad_frames_get_one_error_reply(dut):
    uart = await _start(dut)
    write = request(Command.WRITE_MEM, 0x100, 3, b"\x11\x22\x33\x44")
    unknown = bytes([0x42, 0, 0, 0, 0, 0])
    cases = [
        (_corrupt(write, 8), LinkStatus.BAD_CRC),
        (bytes([SYNC]) + unknown + bytes([crc8(unknown)]), LinkStatus.BAD_COMMAND),
        (request(Command.PING, 0, 1), LinkStatus.BAD_LENGTH),
        (bytes([REPLY_SYNC]) + write[1:], LinkStatus.BAD_SYNC),
        (write[:4], LinkStatus.FRAME_TIMEOUT),
        (request(Command.READ_MEM, CFG.board_dram_bytes - 2, 3), LinkStatus.BAD_ADDRESS),
        (request(Command.READ_CSR, 0xFFC, 3), LinkStatus.BUS_ERROR),
        (request(Command.WAIT_IRQ, 100), LinkStatus.IRQ_TIMEOUT),
    ]
    for frame, status in cases:
        await uart._write(frame)
        head = await uart._read(2)
        assert len(head) == 2, f"no reply to {frame.hex()} (expected {status.name})"
        reply = parse_reply(head + await uart._read(1))
        assert reply.status is status, (frame.hex(), reply)
        await ClockCycles(dut.clk, DIVISOR * 20)
        assert uart.sink.count() == 0, f"more than one reply to {frame.hex()}"
        await uart._write(request(Command.PING))
        reply = parse_reply(await uart._read(2 + len(info_bytes(CFG)) + 1))
        assert reply.status is LinkStatus.OK and reply.payload == info_bytes(CFG)
    # and nothing of the bad WRITE_MEM reached the RAM
    await uart._write(request(Command.READ_MEM, 0x100, 3))
    reply = parse_reply(await uart._read(2 + 4 + 1))
    assert reply.status is LinkStatus.OK and reply.payload == bytes(4), reply
