"""The ``board`` backend: run compiled programs on an FPGA board over its UART host link.

The board runs the board top (:mod:`systolica.hw.board_top`, built by ``systolica
fpga``); this module speaks the frames of :mod:`systolica.model.host_link` through any
byte transport with ``write(bytes)`` and ``read(n)`` (a ``pyserial`` port, or the
simulated UART of the test bench)::

    from systolica.driver.board import BoardLink, board_backend
    link = BoardLink.open("/dev/ttyUSB0", baud=115200)
    result = board_backend(cfg, dram, program_base, window, link=link)   # like the golden backend

:func:`board_backend` has the runtime's backend signature ``(cfg, dram, program_base,
window, *, schedule) -> Result``; without ``link`` it opens ``$SYSTOLICA_BOARD_PORT`` at
``$SYSTOLICA_BOARD_BAUD`` (default 115200). Before touching the board it checks, with
PING, that the bitstream was built from the same configuration (its hash) and that the
image fits the board's DRAM.
"""

from __future__ import annotations

import os
import time

from ..model import csr
from ..model.config import AcceleratorConfig
from ..model.host_link import (MAX_MEM_BYTES, Command, Info, LinkError, LinkStatus, parse_info, parse_reply,
                               reply_length, request)
from ..model.isa import COMMAND_BYTES
from ..model.machine import Result

__all__ = ["BoardLink", "board_backend", "DEFAULT_BAUD"]

DEFAULT_BAUD = 115200
#: Statuses that mean the bridge did nothing with the frame: the frame is sent again.
_RESEND = (LinkStatus.BAD_CRC, LinkStatus.FRAME_TIMEOUT, LinkStatus.UART_ERROR, LinkStatus.BAD_SYNC)
#: One WAIT_IRQ asks the bridge to wait at most this many clock cycles.
_WAIT_SLICE_CYCLES = 1 << 24


class BoardLink:
    """Request/reply over a byte transport (see the module docstring).

    ``transport.read(n)`` returns at most ``n`` bytes, fewer after its timeout (pyserial's
    behaviour); a missing reply is a :class:`LinkError`. Frames the bridge reports as not
    received (bad CRC, timeout, framing) are sent again, ``retries`` times.
    """

    def __init__(self, transport, *, retries: int = 2):
        self.transport, self.retries = transport, retries

    @classmethod
    def open(cls, port: str, baud: int = DEFAULT_BAUD, *, timeout_s: float = 2.0) -> "BoardLink":
        import serial  # pyserial

        return cls(serial.Serial(port, baud, timeout=timeout_s))

    # -- one frame ------------------------------------------------------------------------
    def _read(self, n: int) -> bytes:
        data = bytes(self.transport.read(n))
        if len(data) != n:
            raise LinkError(f"no reply from the board ({len(data)} of {n} bytes before the timeout)")
        return data

    def transact(self, cmd: Command, addr: int = 0, n: int = 0, payload: bytes = b"") -> bytes:
        """Send one request, return the reply's payload; a status other than OK raises."""
        for attempt in range(self.retries + 1):
            self.transport.write(request(cmd, addr, n, payload))
            head = self._read(2)
            size = reply_length(cmd, n) if head[1] == LinkStatus.OK.value else 0
            reply = parse_reply(head + self._read(size + 1))
            if reply.status is LinkStatus.OK:
                return reply.payload
            if reply.status not in _RESEND or attempt == self.retries:
                raise LinkError(f"{Command(cmd).name} at {addr:#x}: the board answered {reply.status.name}",
                                reply.status)
        raise AssertionError("unreachable")

    # -- the commands ---------------------------------------------------------------------
    def ping(self) -> Info:
        return parse_info(self.transact(Command.PING))

    def write_csr(self, name: str, value: int) -> None:
        self.transact(Command.WRITE_CSR, csr.offset(name), 3, (value & 0xFFFF_FFFF).to_bytes(4, "little"))

    def read_csr(self, name: str) -> int:
        return int.from_bytes(self.transact(Command.READ_CSR, csr.offset(name), 3), "little")

    def write64(self, name: str, value: int) -> None:
        self.write_csr(f"{name}_LO", value & 0xFFFF_FFFF)
        self.write_csr(f"{name}_HI", value >> 32)

    def read_counter(self, name: str) -> int:
        lo = self.read_csr(csr.counter_register(name, "LO"))     # latches HI
        return lo | self.read_csr(csr.counter_register(name, "HI")) << 32

    def write_mem(self, addr: int, data: bytes) -> None:
        for at in range(0, len(data), MAX_MEM_BYTES):
            chunk = data[at:at + MAX_MEM_BYTES]
            self.transact(Command.WRITE_MEM, addr + at, len(chunk) - 1, chunk)

    def read_mem(self, addr: int, size: int) -> bytes:
        out = bytearray()
        for at in range(0, size, MAX_MEM_BYTES):
            n = min(MAX_MEM_BYTES, size - at)
            out += self.transact(Command.READ_MEM, addr + at, n - 1)
        return bytes(out)

    def wait_irq(self, timeout_cycles: int) -> bool:
        """True once the interrupt is high, False after ``timeout_cycles`` without it."""
        try:
            self.transact(Command.WAIT_IRQ, timeout_cycles)
            return True
        except LinkError as e:
            if e.status is LinkStatus.IRQ_TIMEOUT:
                return False
            raise


def _check_board(cfg: AcceleratorConfig, info: Info, size: int, window: tuple[int, int]) -> None:
    if info.config_hash != cfg.config_hash():
        raise LinkError(f"the board was built for configuration {info.config_hash}, this run needs "
                        f"{cfg.config_hash()} ({cfg.name}): build it with `systolica fpga --config ...`")
    if size > info.dram_bytes or not 0 <= window[0] <= window[1] <= info.dram_bytes:
        raise LinkError(f"DRAM image of {size} bytes (window {window[0]:#x}..{window[1]:#x}) does not fit "
                        f"the board's {info.dram_bytes} bytes (board_dram_bytes)")


def board_backend(cfg: AcceleratorConfig, dram: bytearray, program_base: int, window: tuple[int, int], *,
                  schedule: str = "program", link: BoardLink | None = None, timeout_s: float = 600.0) -> Result:
    """Run the program at ``program_base`` of ``dram`` (changed in place) on the board.
    ``schedule`` is the hardware's own (the argument is accepted for the runtime's
    signature)."""
    if link is None:
        port = os.environ.get("SYSTOLICA_BOARD_PORT")
        if not port:
            raise LinkError("board backend: set SYSTOLICA_BOARD_PORT to the board's serial port (e.g. /dev/ttyUSB0)")
        link = BoardLink.open(port, int(os.environ.get("SYSTOLICA_BOARD_BAUD", DEFAULT_BAUD)))
    _check_board(cfg, link.ping(), len(dram), window)
    link.write_mem(0, bytes(dram))
    link.write64("WINDOW_LO", window[0])
    link.write64("WINDOW_HI", window[1])
    link.write64("PROGRAM_BASE", program_base)
    link.write_csr("PROGRAM_LEN", (len(dram) - program_base) // COMMAND_BYTES)
    link.write_csr("IRQ_STATUS", 1)         # W1C: a done edge of an earlier run
    link.write_csr("IRQ_ENABLE", 1)
    link.write_csr("CTRL", csr.DOORBELL)
    deadline = time.monotonic() + timeout_s
    while not link.wait_irq(_WAIT_SLICE_CYCLES):
        if time.monotonic() > deadline:
            raise LinkError(f"the program did not finish within {timeout_s:g} s")
    status = csr.decode_status(link.read_csr("STATUS"))
    index = link.read_csr("ERROR_INDEX")
    counters = {name: link.read_counter(name) for name in csr.COUNTER_NAMES}
    link.write_csr("IRQ_STATUS", 1)
    dram[:] = link.read_mem(0, len(dram))
    return Result.from_registers({**status, "error_index": index}, counters)
