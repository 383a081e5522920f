"""The host's register map (CSRs), defined once for the hardware and the host driver.

32-bit registers at byte offsets of a 4 KiB AXI4-Lite space (:data:`CSR_ADDR_BITS`).
:data:`REGISTERS` is the table; :class:`systolica.hw.csr.CsrBlock` builds its decoder
from it and the driver finds offsets with :func:`offset` and decodes :data:`STATUS` with
:func:`decode_status`. Registers with fields carry a ``lib.data.StructLayout``, the others
are one unsigned value of :meth:`Register.bits` bits.

======  =================  ======  ===========================================================
offset  name               access  meaning
======  =================  ======  ===========================================================
0x000   ID                 RO      :data:`ID_VALUE`, ``0x53595354`` ("SYST")
0x004   VERSION            RO      :data:`MAP_VERSION`, the version of this map
0x008   CTRL               WO      bit 0 ``doorbell``: start the program (ignored while busy);
                                   bit 1 ``abort``: stop the running program (ignored while idle)
0x00C   STATUS             RO      :data:`STATUS_LAYOUT`: busy, done, error, dma_error
0x010   ERROR_INDEX        RO      index of the failing command (when error is not OK)
0x014   IRQ_ENABLE         RW      bit 0 ``done``: raise ``irq`` while IRQ_STATUS.done is set
0x018   IRQ_STATUS         W1C     bit 0 ``done``: set on the rising edge of done
0x020   PROGRAM_BASE_LO    RW      program address, bits 0..31
0x024   PROGRAM_BASE_HI    RW      program address, bits 32..addr_bits-1
0x028   PROGRAM_LEN        RW      at most this many commands are fetched (END ends sooner)
0x030   WINDOW_LO_LO/_HI   RW      DRAM window ``[lo, hi)``: lo (two halves, like PROGRAM_BASE)
0x038   WINDOW_HI_LO/_HI   RW      DRAM window: hi
0x100   <COUNTER>_LO/_HI   RO      64-bit counters (:data:`COUNTER_NAMES`), 8 bytes apart
======  =================  ======  ===========================================================

Rules of the map:

- An ``_HI`` half of an address holds ``addr_bits - 32`` bits (none at ``addr_bits`` 32:
  it reads 0 and ignores writes); higher bits read 0.
- Writes apply per byte (``wstrb``); bits a register does not have read 0. Writes to RO
  registers are ignored (response OKAY); CTRL reads 0.
- W1C: writing 1 to a bit clears it. A done edge in the same cycle as the clearing
  write wins (no interrupt is lost).
- Counters: reading ``<COUNTER>_LO`` returns the low half and latches the high half of
  the same cycle into that counter's own latch, which ``<COUNTER>_HI`` reads: read LO then
  HI for a consistent 64-bit value. HI before any LO read gives the reset latch (0).
- An offset that is no register answers SLVERR (reads give 0, writes change nothing), so a
  driver that uses a wrong offset finds out at once.
- Everything RW resets to 0: an empty window, so a doorbell before setup fails fetching
  the program (:attr:`Status.FETCH_WINDOW`) and touches nothing.
"""

from __future__ import annotations

import enum as py_enum
from dataclasses import dataclass

from amaranth.hdl import Shape, unsigned
from amaranth.lib import data

from .bits import pack, unpack
from .config import AcceleratorConfig
from .dma import DmaError
from .isa import Status

__all__ = ["Access", "Register", "REGISTERS", "REGISTER", "COUNTER_NAMES", "QUEUE_COMMANDS", "COUNTER_BITS",
           "COUNTERS_LAYOUT", "STATUS_LAYOUT", "CTRL_LAYOUT", "IRQ_LAYOUT", "DOORBELL", "ABORT",
           "CSR_ADDR_BITS", "CSR_DATA_BITS", "ID_VALUE", "MAP_VERSION", "offset",
           "counter_register", "decode_status"]

#: Byte address width of the CSR space (4 KiB) and the data width of every register.
CSR_ADDR_BITS = 12
CSR_DATA_BITS = 32

#: Contents of ID ("SYST") and VERSION (bumped whenever this map changes).
ID_VALUE = 0x5359_5354
MAP_VERSION = 2


class Access(py_enum.Enum):
    RO = "RO"     #: read only; writes ignored
    RW = "RW"     #: read/write, per byte
    W1C = "W1C"   #: reads the bits; writing 1 clears a bit
    WO = "WO"     #: write only (actions); reads 0


CTRL_LAYOUT = data.StructLayout({"doorbell": 1, "abort": 1})
STATUS_LAYOUT = data.StructLayout({
    "busy": 1,            #: a program is running
    "done": 1,            #: the last program finished (level; cleared when one starts)
    "error": Status,      #: how it finished (OK while busy)
    "dma_error": DmaError,  #: the DMA's code when error is Status.DMA
})
IRQ_LAYOUT = data.StructLayout({"done": 1})

#: The CTRL values that ring the doorbell and abort the running program.
DOORBELL = pack(CTRL_LAYOUT, {"doorbell": 1})
ABORT = pack(CTRL_LAYOUT, {"abort": 1})

#: The performance counters, in register (and ``COUNTERS_LAYOUT`` element) order. The
#: controller counts; this block only presents them.
COUNTER_NAMES = (
    "cycles",            #: cycles the program ran (doorbell to done)
    "load_busy",         #: cycles the load queue has a command running
    "exec_busy",         #: ... the execute queue
    "store_busy",        #: ... the store queue
    "load_stall",        #: cycles the load queue's head waits (for tokens) while nothing of it runs
    "exec_stall",        #: ... the execute queue's head
    "store_stall",       #: ... the store queue's head
    "useful_macs",       #: count * rows_used * cols_used of every tile (machine.Counters.useful_macs)
    "dma_bytes_loaded",  #: element bytes the DMA read from DRAM for LOAD commands
    "dma_bytes_stored",  #: bytes the DMA wrote to DRAM for STORE commands
    "load_commands",     #: LOAD commands that ran (a bus error included)
    "exec_commands",     #: COMPUTE commands that ran
    "store_commands",    #: STORE and REQUANT commands that ran (a bus error included)
)
#: The counter of commands run by each queue (:class:`~.isa.Queue` name, lower case).
QUEUE_COMMANDS = {"load": "load_commands", "execute": "exec_commands", "store": "store_commands"}
COUNTER_BITS = 64
COUNTERS_LAYOUT = data.ArrayLayout(unsigned(COUNTER_BITS), len(COUNTER_NAMES))
_COUNTERS_BASE = 0x100


@dataclass(frozen=True)
class Register:
    """One 32-bit register of the map.

    ``layout`` gives its fields (None: one unsigned value); ``reset`` is its value after
    reset (for RO constants, the constant); ``addr_hi`` marks the high half of an address,
    ``addr_bits - 32`` bits wide.
    """

    name: str
    offset: int
    access: Access
    layout: data.StructLayout | None = None
    reset: int = 0
    addr_hi: bool = False

    def bits(self, cfg: AcceleratorConfig) -> int:
        """Implemented bits (from bit 0 up); the rest read 0."""
        if self.layout is not None:
            return Shape.cast(self.layout).width
        return cfg.addr_bits - 32 if self.addr_hi else CSR_DATA_BITS

    def mask(self, cfg: AcceleratorConfig) -> int:
        return (1 << self.bits(cfg)) - 1


def counter_register(counter: str, half: str) -> str:
    """Register name of one half (``"LO"`` or ``"HI"``) of a counter of :data:`COUNTER_NAMES`."""
    if counter not in COUNTER_NAMES:
        raise ValueError(f"counter={counter!r}: unknown, allowed one of {list(COUNTER_NAMES)}")
    if half not in ("LO", "HI"):
        raise ValueError(f"half={half!r}: allowed 'LO' or 'HI'")
    return f"{counter.upper()}_{half}"


def _address(name: str, at: int) -> tuple[Register, Register]:
    return (Register(f"{name}_LO", at, Access.RW),
            Register(f"{name}_HI", at + 4, Access.RW, addr_hi=True))


def _counters() -> tuple[Register, ...]:
    return tuple(Register(counter_register(c, half), _COUNTERS_BASE + 8 * i + 4 * k, Access.RO)
                 for i, c in enumerate(COUNTER_NAMES) for k, half in enumerate(("LO", "HI")))


REGISTERS: tuple[Register, ...] = (
    Register("ID", 0x000, Access.RO, reset=ID_VALUE),
    Register("VERSION", 0x004, Access.RO, reset=MAP_VERSION),
    Register("CTRL", 0x008, Access.WO, CTRL_LAYOUT),
    Register("STATUS", 0x00C, Access.RO, STATUS_LAYOUT),
    Register("ERROR_INDEX", 0x010, Access.RO),
    Register("IRQ_ENABLE", 0x014, Access.RW, IRQ_LAYOUT),
    Register("IRQ_STATUS", 0x018, Access.W1C, IRQ_LAYOUT),
    *_address("PROGRAM_BASE", 0x020),
    Register("PROGRAM_LEN", 0x028, Access.RW),
    *_address("WINDOW_LO", 0x030),
    *_address("WINDOW_HI", 0x038),
    *_counters(),
)

#: The table by name.
REGISTER: dict[str, Register] = {r.name: r for r in REGISTERS}


def offset(name: str) -> int:
    """Byte offset of register ``name``."""
    try:
        return REGISTER[name].offset
    except KeyError:
        raise ValueError(f"register {name!r}: unknown, allowed one of {list(REGISTER)}") from None


def decode_status(raw: int) -> dict:
    """STATUS as ``{"busy": 0/1, "done": 0/1, "error": Status, "dma_error": DmaError}``."""
    return unpack(STATUS_LAYOUT, raw)
