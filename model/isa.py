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

import functools

from dataclasses import dataclass, field
from typing import Any

from amaranth.lib import data, enum

from .array import Dataflow
from .bits import layout_width, pack, unpack
from .config import AcceleratorConfig
from .dma import DescriptorError, DmaError, check as dma_check, command_fields, descriptor_from_fields, \
    dma_command_layout
from .requant import lane_params_layout, lane_problem
from .requant_fp8 import fp8_lane_problem

__all__ = [
    "COMMAND_BYTES", "Opcode", "Queue", "QUEUE_OF", "Status", "TOKEN_BITS", "TOKEN_MAX",
    "TOKEN_CHANNELS", "PREV", "NEXT", "token_bits", "pops", "pushes", "tokens_legal",
    "header_layout", "compute_layout", "requant_layout", "command_layout", "Command", "encode",
    "decode", "decode_command", "IsaError", "encode_program", "check_command", "check_decoded", "tile_rows",
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


class Status(enum.Enum, shape=4):
    """How a program ended (the STATUS register's ``error`` field); see :mod:`.machine`
    for when each is raised and which command index is reported with it."""

    OK = 0
    ILLEGAL_OPCODE = 1   #: not an opcode, or a COMPUTE in a dataflow the array lacks
    ILLEGAL_TOKENS = 2   #: a token bit the command's queue (or END) cannot honour
    DMA = 3              #: a DMA command (or the fetch) failed; the code is in ``dma_error``
    COMPUTE_RANGE = 4    #: a tile's rows lie beyond the memories, or count is 0
    DEADLOCK = 5         #: commands wait for tokens (or queue room) that can never come
    FETCH_WINDOW = 6     #: a command lies (partly) outside the DRAM window
    NO_END = 7           #: PROGRAM_LEN commands fetched without an END
    BAD_REQUANT = 8      #: a REQUANT lane or parameter out of range
    PROGRAM_ALIGN = 9    #: PROGRAM_BASE is not a multiple of COMMAND_BYTES
    ABORTED = 10         #: the host wrote CTRL.abort


# -- dependency tokens: the one definition of which queue pushes and pops what -----------
#: Bits of one token counter; a channel holds at most :data:`TOKEN_MAX` tokens. A command
#: whose push would exceed that does not start until the receiver has popped one.
TOKEN_BITS = 8
TOKEN_MAX = (1 << TOKEN_BITS) - 1

#: The queue before / after each queue in the chain load -> execute -> store.
PREV = {Queue.EXECUTE: Queue.LOAD, Queue.STORE: Queue.EXECUTE}
NEXT = {Queue.LOAD: Queue.EXECUTE, Queue.EXECUTE: Queue.STORE}

#: The token channels ``(from, to)``, in counter order (hardware and machine).
TOKEN_CHANNELS = ((Queue.LOAD, Queue.EXECUTE), (Queue.EXECUTE, Queue.LOAD),
                  (Queue.EXECUTE, Queue.STORE), (Queue.STORE, Queue.EXECUTE))


@functools.cache
def token_bits(queue: Queue) -> dict[str, tuple[Queue, Queue] | None]:
    """For each header token bit, the channel it pops or pushes on ``queue`` (None: the
    queue has no such neighbour, so setting the bit is illegal)."""
    prev, nxt = PREV.get(queue), NEXT.get(queue)
    return {"pop_prev": (prev, queue) if prev else None, "pop_next": (nxt, queue) if nxt else None,
            "push_prev": (queue, prev) if prev else None, "push_next": (queue, nxt) if nxt else None}


def pops(queue: Queue, header: dict) -> list[tuple[Queue, Queue]]:
    """Channels a command of ``queue`` with ``header`` pops before it starts."""
    return [ch for bit, ch in token_bits(queue).items() if bit.startswith("pop") and header[bit] and ch]


def pushes(queue: Queue, header: dict) -> list[tuple[Queue, Queue]]:
    """Channels it pushes when it has finished."""
    return [ch for bit, ch in token_bits(queue).items() if bit.startswith("push") and header[bit] and ch]


def tokens_legal(queue: Queue | None, header: dict) -> bool:
    """Every set token bit names a channel of ``queue`` (END, ``queue=None``, has none)."""
    bits = token_bits(queue) if queue is not None else dict.fromkeys(("pop_prev", "pop_next", "push_prev", "push_next"))
    return all(ch is not None or not header[bit] for bit, ch in bits.items())

header_layout = data.StructLayout({
    "opcode": Opcode,
    "pop_prev": 1, "pop_next": 1, "push_prev": 1, "push_next": 1,
})


@functools.cache
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

    ``accumulate``: add into the accumulator rows (wrapping at ``acc_bits``; FP8: the
    exact sums add and the special-value flags OR, :func:`systolica.model.accum.add`)
    instead of overwriting them.

    ``count`` is 1..65535 (0 is :attr:`Status.COMPUTE_RANGE`). ``rows_used`` /
    ``cols_used`` tell how many PE rows / columns hold real operands (the rest is padding
    of a partial tile); they change nothing in the result and only make the
    ``useful_macs`` counter count real MACs: ``count * rows_used * cols_used`` per tile.
    0 means all (``rows`` / ``cols``); a value above that is :attr:`Status.COMPUTE_RANGE`.
    """
    spad, acc = range(cfg.spad_rows), range(cfg.acc_rows)
    return data.StructLayout({
        "dataflow": Dataflow, "accumulate": 1,
        "a_row": spad, "b_row": spad, "c_row": acc, "count": 16,
        "rows_used": range(cfg.rows + 1), "cols_used": range(cfg.cols + 1),
    })


@functools.cache
def requant_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """Parameters of lane ``lane`` (or of every lane when ``all_lanes``): the word of
    :func:`systolica.model.requant.lane_params_layout` (int8 or FP8 lanes)."""
    return data.StructLayout({"all_lanes": 1, "lane": range(cfg.cols), "params": lane_params_layout(cfg)})


@functools.cache
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
    lane_params_layout fields}`` (``lane=None``: all lanes); END nothing.
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
        header = {"pop_prev": self.pop_prev, "pop_next": self.pop_next,
                  "push_prev": self.push_prev, "push_next": self.push_next}
        if not tokens_legal(self.queue, header):
            if self.queue is None:
                raise IsaError("END carries no dependency tokens")
            bad = [bit for bit, ch in token_bits(self.queue).items() if ch is None and header[bit]]
            side = "previous" if bad[0].endswith("prev") else "next"
            raise IsaError(f"{self.opcode.name}: the {self.queue.name.lower()} queue has no {side} "
                           f"queue ({'/'.join(bad)} must be 0)")


def _body_fields(cfg: AcceleratorConfig, cmd: Command) -> dict:
    b = cmd.body
    if cmd.opcode in (Opcode.LOAD, Opcode.STORE):
        return {"dma": command_fields(cfg, b["desc"], b["row"], b.get("target", "spad"),
                                      store=cmd.opcode is Opcode.STORE)}
    if cmd.opcode is Opcode.COMPUTE:
        f = dict(b)
        f["dataflow"] = Dataflow.from_name(f["dataflow"]) if isinstance(f["dataflow"], str) else f["dataflow"]
        if not 1 <= f.get("count", 0) <= 0xFFFF:
            raise IsaError(f"COMPUTE count={f.get('count')}: out of range, allowed 1..65535")
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


def check_command(cfg: AcceleratorConfig, raw: int, window: tuple[int, int]) -> tuple[Status, DmaError]:
    """The fetch unit's check of one fetched command (``raw``, its :data:`COMMAND_BYTES`
    bytes as a little-endian integer) against the configuration and the program's DRAM
    window. The first failing rule is the status; the hardware checks in the same order:

    1. the opcode is one of :class:`Opcode` (else ``ILLEGAL_OPCODE``);
    2. every token bit names a channel of the command's queue, END has none
       (:func:`tokens_legal`, else ``ILLEGAL_TOKENS``);
    3. LOAD/STORE: the ``store`` bit matches the opcode and the descriptor passes
       :func:`systolica.model.dma.check` (size 0 and a ``pad_value`` outside the element
       are ``BAD_DESCRIPTOR``), else ``DMA`` with that :class:`DmaError`;
       COMPUTE: the dataflow is one the array has (else ``ILLEGAL_OPCODE``), then
       ``1 <= count``, ``rows_used <= rows``, ``cols_used <= cols`` and the tile's rows
       inside the scratchpad and accumulator (else ``COMPUTE_RANGE``);
       REQUANT: ``lane < cols`` unless ``all_lanes`` and the parameters pass
       :func:`systolica.model.requant.lane_problem` (FP8 configurations:
       :func:`systolica.model.requant_fp8.fp8_lane_problem`), else ``BAD_REQUANT``.

    A command that fails is never queued: the program stops in front of it (see
    :mod:`.machine`).
    """
    try:
        cmd = decode_command(cfg, raw)
    except ValueError:  # not an Opcode
        return Status.ILLEGAL_OPCODE, DmaError.OK
    return check_decoded(cfg, cmd, window)


_MEMBER = {Opcode.LOAD: "dma", Opcode.STORE: "dma", Opcode.COMPUTE: "compute", Opcode.REQUANT: "requant"}


def decode_command(cfg: AcceleratorConfig, raw: int) -> dict:
    """``{"header": ..., "body": {member: ...}}`` with only the body view the opcode uses
    (:func:`decode` gives them all); ``ValueError`` when the opcode is not one."""
    layout = command_layout(cfg)
    header = unpack(layout["header"].shape, raw)
    member = _MEMBER.get(header["opcode"])
    body = layout["body"]
    if member is None:
        return {"header": header, "body": {}}
    return {"header": header, "body": {member: unpack(body.shape[member].shape, raw >> body.offset)}}


def check_decoded(cfg: AcceleratorConfig, cmd: dict, window: tuple[int, int]) -> tuple[Status, DmaError]:
    """:func:`check_command` of a command already decoded (its opcode is an :class:`Opcode`)."""
    header, body = cmd["header"], cmd["body"]
    op = header["opcode"]
    if not tokens_legal(QUEUE_OF.get(op), header):
        return Status.ILLEGAL_TOKENS, DmaError.OK
    if op in (Opcode.LOAD, Opcode.STORE):
        return _check_dma(cfg, body["dma"], op is Opcode.STORE, window)
    if op is Opcode.COMPUTE:
        return _check_compute(cfg, body["compute"]), DmaError.OK
    if op is Opcode.REQUANT:
        r = body["requant"]
        problem = fp8_lane_problem(cfg, r["params"]) if cfg.is_float else lane_problem(r["params"])
        bad = (not r["all_lanes"] and r["lane"] >= cfg.cols) or problem is not None
        return (Status.BAD_REQUANT if bad else Status.OK), DmaError.OK
    return Status.OK, DmaError.OK


def _check_dma(cfg: AcceleratorConfig, d: dict, store: bool, window) -> tuple[Status, DmaError]:
    if bool(d["store"]) != store:
        return Status.DMA, DmaError.BAD_DESCRIPTOR
    try:
        desc = d["_desc"] = descriptor_from_fields(d)   # kept for whoever runs the command
    except DescriptorError:
        return Status.DMA, DmaError.BAD_DESCRIPTOR
    err = dma_check(cfg, window, desc, d["row"], "acc" if d["target"] else "spad", store=store)
    return (Status.OK if err is DmaError.OK else Status.DMA), err


def tile_rows(cfg: AcceleratorConfig, c: dict) -> tuple[int, int, int]:
    """Rows a COMPUTE tile reads and writes: (A rows, B/weight rows, accumulator rows)."""
    ws = c["dataflow"] is Dataflow.WS
    n = c["count"]
    return n, (cfg.rows if ws else n), (n if ws else cfg.rows)


def _check_compute(cfg: AcceleratorConfig, c: dict) -> Status:
    if not cfg.supports("ws" if c["dataflow"] is Dataflow.WS else "os"):
        return Status.ILLEGAL_OPCODE
    na, nb, nc = tile_rows(cfg, c)
    if (c["count"] == 0 or c["rows_used"] > cfg.rows or c["cols_used"] > cfg.cols
            or c["a_row"] + na > cfg.spad_rows or c["b_row"] + nb > cfg.spad_rows
            or c["c_row"] + nc > cfg.acc_rows):
        return Status.COMPUTE_RANGE
    return Status.OK
