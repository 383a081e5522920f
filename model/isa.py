"""The accelerator's instruction set, defined once for the hardware decoder and the driver.

A program is a sequence of fixed-width commands (:data:`COMMAND_BYTES` bytes each, little
endian) in DRAM. The controller fetches them in order and hands each to one of three
decoupled queues -- **load** (DMA loads), **execute** (array tiles) and **store**
(requantization setup and DMA stores) -- which run concurrently. Order *between* queues
is only what the dependency tokens impose (the scheme of VTA): each command may

- ``pop_prev`` / ``pop_next``: wait for (and consume) a token from the queue before /
  after it in the chain load -> execute -> store, before it starts;
- ``push_prev`` / ``push_next``: give a token to that queue when it has finished.

The load queue has no previous queue and the store queue no next one: setting those bits
is an illegal command. Typical use: a load pushes "data ready" to execute, which pops it;
execute pushes "buffer free" back so the next load may overwrite it; execute pushes
"sums ready" to store; store pushes "accumulator free" back.

Each command layout is an Amaranth ``lib.data`` layout (works in plain Python too:
:func:`encode`/:func:`decode` use :mod:`.bits`). Widths come from the configuration only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from amaranth.lib import data, enum

from .array import Dataflow
from .bits import layout_width, pack, unpack
from .config import AcceleratorConfig
from .dma import command_fields, dma_command_layout
from .requant import LANE_PARAMS

__all__ = [
    "COMMAND_BYTES", "Opcode", "Queue", "QUEUE_OF", "header_layout", "compute_layout",
    "requant_layout", "command_layout", "Command", "encode", "decode", "IsaError",
    "encode_program",
]

#: Bytes of one command in DRAM (the fetch unit reads whole commands).
COMMAND_BYTES = 64


class IsaError(ValueError):
    """A command that cannot be encoded; the message names the field and its range."""


class Opcode(enum.Enum, shape=4):
    END = 0       #: stop: the program is done once every queue has drained
    LOAD = 1      #: DMA load (DRAM -> scratchpad/accumulator)
    STORE = 2     #: DMA store (scratchpad, or accumulator through requantization -> DRAM)
    COMPUTE = 3   #: one array tile (WS or OS) into the accumulator
    REQUANT = 4   #: set requantization parameters of one lane, or of all lanes


class Queue(enum.Enum, shape=2):
    LOAD = 0
    EXECUTE = 1
    STORE = 2


#: The queue that executes each opcode (END is handled by the fetch unit).
QUEUE_OF = {Opcode.LOAD: Queue.LOAD, Opcode.COMPUTE: Queue.EXECUTE,
            Opcode.STORE: Queue.STORE, Opcode.REQUANT: Queue.STORE}

header_layout = data.StructLayout({
    "opcode": Opcode,
    "pop_prev": 1, "pop_next": 1, "push_prev": 1, "push_next": 1,
})


def compute_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """One array tile.

    - ``ws`` (weight-stationary): weight rows ``b_row .. b_row+rows-1`` of the scratchpad
      (their first ``cols`` elements) become the stationary tile; then ``count`` input
      rows ``a_row ..`` (first ``rows`` elements each) stream through: accumulator row
      ``c_row + i`` gets ``A[i] @ W``. Every WS tile loads its weights (the array
      double-buffers them, so this costs no time when ``count >= rows``).
    - ``os`` (output-stationary): ``count`` = K beats; beat ``k`` takes the A column from
      scratchpad row ``a_row + k`` (first ``rows`` elements) and the B row from ``b_row +
      k`` (first ``cols``); accumulator rows ``c_row .. c_row+rows-1`` get ``A @ B``.

    ``accumulate``: add into the accumulator rows (wrapping at ``acc_bits``) instead of
    overwriting them.
    """
    spad, acc = range(cfg.spad_rows), range(cfg.acc_rows)
    return data.StructLayout({
        "dataflow": Dataflow, "accumulate": 1,
        "a_row": spad, "b_row": spad, "c_row": acc, "count": range(1, 1 << 16),
    })


def requant_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """Parameters of lane ``lane`` (or of every lane when ``all_lanes``)."""
    return data.StructLayout({"all_lanes": 1, "lane": range(cfg.cols), "params": LANE_PARAMS})


def command_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """A whole command: the header, then the body (a union of the opcode's layouts)."""
    body = data.UnionLayout({
        "dma": dma_command_layout(cfg),
        "compute": compute_layout(cfg),
        "requant": requant_layout(cfg),
    })
    layout = data.StructLayout({"header": header_layout, "body": body})
    if layout_width(layout) > 8 * COMMAND_BYTES:
        raise IsaError(f"a command needs {layout_width(layout)} bits, more than "
                       f"{8 * COMMAND_BYTES}: addr_bits={cfg.addr_bits} too wide for the ISA")
    return layout


@dataclass(frozen=True)
class Command:
    """One command in Python form (what :func:`encode` packs).

    ``body`` is, per opcode: LOAD/STORE ``{"desc": TensorDescriptor, "row": int,
    "target": "spad"|"acc"}``; COMPUTE the fields of :func:`compute_layout` (``dataflow``
    as ``"ws"``/``"os"``); REQUANT ``{"lane": int | None, "params": dict of
    LANE_PARAMS fields}`` (``lane=None``: all lanes); END nothing.
    """

    opcode: Opcode
    body: dict[str, Any] = field(default_factory=dict)
    pop_prev: bool = False
    pop_next: bool = False
    push_prev: bool = False
    push_next: bool = False

    @property
    def queue(self) -> Queue | None:
        return QUEUE_OF.get(self.opcode)

    def check(self) -> None:
        """Token bits a queue cannot honour are an encoding error."""
        q = self.queue
        if q is Queue.LOAD and (self.pop_prev or self.push_prev):
            raise IsaError(f"{self.opcode.name}: the load queue has no previous queue "
                           "(pop_prev/push_prev must be 0)")
        if q is Queue.STORE and (self.pop_next or self.push_next):
            raise IsaError(f"{self.opcode.name}: the store queue has no next queue "
                           "(pop_next/push_next must be 0)")
        if q is None and (self.pop_prev or self.pop_next or self.push_prev or self.push_next):
            raise IsaError("END carries no dependency tokens")


def _body_fields(cfg: AcceleratorConfig, cmd: Command) -> dict:
    b = cmd.body
    if cmd.opcode in (Opcode.LOAD, Opcode.STORE):
        return {"dma": command_fields(cfg, b["desc"], b["row"], b.get("target", "spad"),
                                      store=cmd.opcode is Opcode.STORE)}
    if cmd.opcode is Opcode.COMPUTE:
        f = dict(b)
        f["dataflow"] = Dataflow.from_name(f["dataflow"]) if isinstance(f["dataflow"], str) else f["dataflow"]
        return {"compute": f}
    if cmd.opcode is Opcode.REQUANT:
        lane = b.get("lane")
        return {"requant": {"all_lanes": int(lane is None), "lane": lane or 0, "params": b["params"]}}
    return {}


def encode(cfg: AcceleratorConfig, cmd: Command) -> bytes:
    """The command's :data:`COMMAND_BYTES` bytes."""
    cmd.check()
    header = {"opcode": cmd.opcode, "pop_prev": int(cmd.pop_prev), "pop_next": int(cmd.pop_next),
              "push_prev": int(cmd.push_prev), "push_next": int(cmd.push_next)}
    word = pack(command_layout(cfg), {"header": header, "body": _body_fields(cfg, cmd)}, "command")
    return word.to_bytes(COMMAND_BYTES, "little")


def decode(cfg: AcceleratorConfig, raw: bytes) -> dict:
    """Header and every body view of a command (as the hardware sees the bits)."""
    if len(raw) != COMMAND_BYTES:
        raise IsaError(f"a command is {COMMAND_BYTES} bytes, got {len(raw)}")
    value = unpack(command_layout(cfg), int.from_bytes(raw, "little"))
    return value


def encode_program(cfg: AcceleratorConfig, commands: list[Command]) -> bytes:
    """A whole program; an END is appended when the last command is not one."""
    if not commands or commands[-1].opcode is not Opcode.END:
        commands = [*commands, Command(Opcode.END)]
    return b"".join(encode(cfg, c) for c in commands)
