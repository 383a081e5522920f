"""The board's host link: the UART frame protocol, defined once for the bridge
(:mod:`systolica.hw.uart_bridge`) and the host (:mod:`systolica.driver.board`).

Serial format: 8 data bits, no parity, 1 stop bit, least significant bit first. Every
request gets exactly one reply; the host sends the next request after the reply.

Request::

    SYNC 0x5A | CMD | ADDR (4 bytes, little endian) | N | payload | CRC

Reply::

    REPLY_SYNC 0xA5 | STATUS | payload (only when STATUS is OK) | CRC

``CRC`` is CRC-8/AUTOSAR (:data:`CRC`, Amaranth's ``lib.crc`` catalog: the same
definition computes it in Python and in hardware) over every byte after the sync byte.

=========  =====  =========================  ================  ============================
command    CMD    ADDR                       N                 payload (request / reply)
=========  =====  =========================  ================  ============================
PING       0x00   0                          0                 - / :data:`INFO_BYTES` bytes
WRITE_CSR  0x01   CSR offset                 3                 4 bytes (LE) / -
READ_CSR   0x02   CSR offset                 3                 - / 4 bytes (LE)
WRITE_MEM  0x03   DRAM byte address          bytes - 1         N + 1 bytes / -
READ_MEM   0x04   DRAM byte address          bytes - 1         - / N + 1 bytes
WAIT_IRQ   0x05   timeout in clock cycles    0                 - / -
=========  =====  =========================  ================  ============================

- ``WAIT_IRQ`` replies OK as soon as the accelerator's interrupt is high (at once if it
  already is), :attr:`LinkStatus.IRQ_TIMEOUT` after ``ADDR`` clock cycles without it.
- A memory access must lie inside the board's DRAM (``[0, board_dram_bytes)``), else
  :attr:`LinkStatus.BAD_ADDRESS` and nothing is read or written. ``WRITE_MEM`` writes only
  after the CRC checked out. A CSR access the CSR block answers with SLVERR/DECERR is
  :attr:`LinkStatus.BUS_ERROR`.
- A bad frame (wrong sync byte, unknown command, wrong ``N``, a UART framing error, a
  CRC mismatch) gets one error reply once the line has been idle for
  :data:`IDLE_BIT_TIMES` bit times (the rest of the bad frame is discarded). A frame whose
  next byte does not come within :data:`IDLE_BIT_TIMES` bit times is dropped with
  :attr:`LinkStatus.FRAME_TIMEOUT`. So the bridge never hangs and never answers twice.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from amaranth.lib import enum
from amaranth.lib.crc import catalog

from .config import AcceleratorConfig

__all__ = ["SYNC", "REPLY_SYNC", "Command", "LinkStatus", "CRC", "crc8", "IDLE_BIT_TIMES",
           "HEADER_BYTES", "MAX_MEM_BYTES", "INFO_MAGIC", "INFO_BYTES", "PROTOCOL_VERSION",
           "info_bytes", "Info", "parse_info", "request", "Reply", "parse_reply", "reply_length",
           "LinkError"]

SYNC = 0x5A
REPLY_SYNC = 0xA5
#: CMD, ADDR (4), N: the bytes after SYNC and before the payload.
HEADER_BYTES = 6
#: Most bytes one WRITE_MEM/READ_MEM moves (N is one byte: bytes - 1).
MAX_MEM_BYTES = 256
#: A frame is dropped when its next byte does not come within this many bit times; an
#: error reply waits until the line has been idle this long.
IDLE_BIT_TIMES = 4096
PROTOCOL_VERSION = 1
INFO_MAGIC = b"SYSB"

#: The frame check: CRC-8/AUTOSAR (polynomial 0x2F, initial 0xFF, final XOR 0xFF).
CRC = catalog.CRC8_AUTOSAR(data_width=8)


class Command(enum.Enum, shape=8):
    PING = 0x00
    WRITE_CSR = 0x01
    READ_CSR = 0x02
    WRITE_MEM = 0x03
    READ_MEM = 0x04
    WAIT_IRQ = 0x05


class LinkStatus(enum.Enum, shape=8):
    OK = 0
    BAD_CRC = 1          #: the CRC did not match; nothing was done
    BAD_COMMAND = 2      #: unknown CMD
    BAD_LENGTH = 3       #: N is not what the command needs
    BAD_ADDRESS = 4      #: a memory access outside the board's DRAM
    BUS_ERROR = 5        #: the CSR block answered SLVERR or DECERR
    FRAME_TIMEOUT = 6    #: the frame stopped before its end
    IRQ_TIMEOUT = 7      #: WAIT_IRQ: no interrupt within the timeout
    BAD_SYNC = 8         #: a frame did not start with SYNC
    UART_ERROR = 9       #: a byte had no stop bit


#: N each command needs (None: any, the memory commands).
FIXED_N = {Command.PING: 0, Command.WRITE_CSR: 3, Command.READ_CSR: 3, Command.WRITE_MEM: None,
           Command.READ_MEM: None, Command.WAIT_IRQ: 0}


def crc8(data: bytes) -> int:
    return CRC.compute(data)


# -- PING's reply: what the board was built for ------------------------------------------
_INFO = struct.Struct("<4sBBHI8s")   # magic, version, bus bytes, reserved, DRAM bytes, config hash
INFO_BYTES = _INFO.size


@dataclass(frozen=True)
class Info:
    version: int
    bus_bytes: int
    dram_bytes: int
    config_hash: str


def info_bytes(cfg: AcceleratorConfig) -> bytes:
    """PING's reply payload for a board built from ``cfg`` (a constant of the bitstream)."""
    return _INFO.pack(INFO_MAGIC, PROTOCOL_VERSION, cfg.bus_bytes, 0, cfg.board_dram_bytes,
                      bytes.fromhex(cfg.config_hash()))


def parse_info(payload: bytes) -> Info:
    magic, version, bus_bytes, _, dram_bytes, h = _INFO.unpack(payload)
    if magic != INFO_MAGIC:
        raise LinkError(f"PING: not a systolica board (magic {magic!r}, expected {INFO_MAGIC!r})")
    return Info(version, bus_bytes, dram_bytes, h.hex())


# -- host side encoding ------------------------------------------------------------------
class LinkError(RuntimeError):
    """The link misbehaved (a bad reply, no reply) or the bridge reported an error status
    (then ``status`` holds it)."""

    def __init__(self, message: str, status: "LinkStatus | None" = None):
        super().__init__(message)
        self.status = status


def request(cmd: Command, addr: int = 0, n: int = 0, payload: bytes = b"") -> bytes:
    """One request frame (see the module docstring)."""
    if not 0 <= addr < 1 << 32:
        raise ValueError(f"addr={addr}: allowed 0..2**32-1")
    if not 0 <= n < 256:
        raise ValueError(f"n={n}: allowed 0..255")
    body = bytes([Command(cmd).value]) + addr.to_bytes(4, "little") + bytes([n]) + bytes(payload)
    return bytes([SYNC]) + body + bytes([crc8(body)])


def reply_length(cmd: Command, n: int) -> int:
    """Payload bytes of an OK reply to ``cmd`` with ``N = n``."""
    return {Command.PING: INFO_BYTES, Command.READ_CSR: 4, Command.READ_MEM: n + 1}.get(Command(cmd), 0)


@dataclass(frozen=True)
class Reply:
    status: LinkStatus
    payload: bytes


def parse_reply(frame: bytes) -> Reply:
    """Check a whole reply frame (sync, CRC) and split it."""
    if len(frame) < 3 or frame[0] != REPLY_SYNC:
        raise LinkError(f"bad reply frame {frame[:8].hex()}: expected {REPLY_SYNC:#04x} first")
    if crc8(frame[1:-1]) != frame[-1]:
        raise LinkError(f"bad reply CRC in {frame[:8].hex()}...")
    try:
        status = LinkStatus(frame[1])
    except ValueError:
        raise LinkError(f"unknown reply status {frame[1]}") from None
    return Reply(status, bytes(frame[2:-1]))
