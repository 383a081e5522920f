"""Golden semantics of the tensor-aware DMA (numpy, bit exact).

One DMA command moves one tensor between DRAM and an on-chip memory (``"spad"``, the
scratchpad, or ``"acc"``, the accumulator). A :class:`TensorDescriptor` says where the
tensor lies in DRAM; :func:`dma_load` and :func:`dma_store` give the exact on-chip rows and
DRAM bytes the hardware must leave behind, :func:`check` the status it must report and
:func:`bursts` the exact AXI4 bursts it must issue. Everything below is the contract.

Tensor in DRAM
    Up to 4 dimensions, outermost first (fewer are right-aligned, as in numpy broadcasting:
    missing outer dimensions have size 1). Element ``(i0, i1, i2, i3)``, ``0 <= i_d <
    sizes[d]``, is ``elem_bytes`` bytes of little-endian two's complement at byte address
    ``base + i0*strides[0] + i1*strides[1] + i2*strides[2] + i3*strides[3]``. Strides are
    signed byte strides of any value: 0 broadcasts, negative walks backwards, and they need
    not be multiples of ``elem_bytes`` (elements may even overlap).

Load (DRAM -> on-chip)
    The tensor is padded per dimension with ``pad_before[d]``/``pad_after[d]`` elements
    of ``pad_value`` (``np.pad`` with a constant; ``pad_value`` is typically the input zero
    point), giving padded sizes ``pd = pad_before[d] + sizes[d] + pad_after[d]``. Padded
    elements are never read from DRAM: they are in no burst and not in the window check.
    Padded element ``(j0, j1, j2, j3)`` goes to on-chip row ``row + (j0*p1 + j1)*p2 + j2``,
    element ``j3``: the innermost dimension is the vector along a row, the outer three
    enumerate consecutive rows. A *transposed* load swaps the last two padded dimensions:
    it goes to row ``row + (j0*p1 + j1)*p3 + j3``, element ``j2`` (for a matrix, DRAM
    column ``k`` becomes on-chip row ``row + k``). DRAM is read in the same order either
    way; a transposed load only places the elements differently.
    The DMA writes whole rows: row elements past the vector's length are written as 0.
    Scratchpad elements are the 8-bit operands (``elem_bytes`` 1). Accumulator elements
    come from int32 (``elem_bytes`` 4, e.g. a bias) or from native partial sums
    (``elem_bytes == cfg.acc_elem_bytes``: 4, 8, or 16 for FP8 sums wider than 64 bits),
    sign-extended or wrapped to ``cfg.acc_elem_bits`` -- for FP8 the element is
    ``sum * 2**flag_bits + flags`` (:mod:`.accum`), so the flags are its low bits.

Store (on-chip -> DRAM)
    The same mapping, without padding or transposition: elements ``0 .. sizes[3]-1`` of
    on-chip row ``row + (i0*n1 + i1)*n2 + i2`` go to DRAM element ``(i0, i1, i2, i3)``;
    the rest of the row is not stored. Each element is written as the low
    ``8*elem_bytes`` bits of its value, elements in row-major order, so where elements
    overlap the later one wins, byte by byte (the DMA issues all its writes on one AXI ID,
    in order). Stores move 8-bit elements: scratchpad operands, or accumulator rows after
    requantization -- the store takes those already-requantized rows (see ``.requant``).

Checks, up front, before any beat (the first failing one is the status)
    1. ``BAD_DESCRIPTOR``: ``elem_bytes`` not allowed for the target and direction; a store
       with padding or transposition; a transposed load into the accumulator; a row vector
       longer than a row (``cfg.spad_row_elems`` for the scratchpad, ``cfg.cols`` for the
       accumulator); a transposed load whose innermost padded size exceeds a row (the
       hardware transposes blocks of at most one row length square).
    2. ``ROW_RANGE``: ``row + rows`` beyond ``cfg.spad_rows`` / ``cfg.acc_rows``.
    3. ``WINDOW``: the descriptor's :attr:`~TensorDescriptor.extent` (lowest to highest
       byte of any element, exact integer arithmetic, padding excluded) is not inside the
       host's DRAM window ``[lo, hi)``. As the window is one interval, this is the same as
       "some touched byte is outside". Read beats may still fetch the other byte lanes of a
       bus word (AXI reads have no strobes); the DMA drops them.
    On any error nothing is read or written. ``AXI_SLVERR``/``AXI_DECERR`` are what the
    hardware reports when an R or B response says so; the model never produces them.

AXI4 bursts (:func:`bursts`)
    The DMA accesses DRAM in *runs*, in order (:func:`runs`): one run per row vector, i.e.
    per ``(i0, i1, i2)`` in row-major order, of ``sizes[3]*elem_bytes`` bytes when
    ``strides[3] == elem_bytes``, otherwise one run per element. Each run is split greedily
    into INCR bursts of full bus width (AxSIZE = log2(``cfg.bus_bytes``)): a burst starts at
    the run's next byte (AxADDR may be unaligned) and goes as far as it can without passing
    the run's end, 256 beats, or a 4 KiB boundary. Strobes (write strobes for stores, the
    byte lanes kept for loads) are all ones except on a run's first and last beat.

Errors of two kinds
    :class:`DescriptorError` (a ``ValueError``) for what a command cannot even encode: a
    field out of its range, ``base`` or the window beyond ``cfg.addr_bits``, a negative
    row. :class:`DmaError` codes for what the hardware must detect and report in its
    status register at run time (the window is a run-time CSR).
"""

from __future__ import annotations

import functools

import itertools
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import numpy as np
from amaranth.hdl import signed
from amaranth.lib import data, enum

from .array import wrap
from .bits import pack
from .config import AcceleratorConfig
from .requant import OUT_BITS

__all__ = [
    "DIMS", "SIZE_RANGE", "STRIDE_RANGE", "PAD_RANGE", "ELEM_BYTES", "AXI_MAX_BEATS",
    "AXI_PAGE_BYTES", "TARGETS", "DmaError", "DescriptorError", "TensorDescriptor", "Burst",
    "Loaded", "runs", "axi_bursts", "bursts", "touched_bytes", "check", "dma_load",
    "dma_store", "dma_command_layout", "command_fields", "encode_command", "descriptor_from_fields", "load_rows",
    "encodable_elem_bytes", "onchip_rows_limit",
]

DIMS = 4
SIZE_RANGE = (1, (1 << 16) - 1)
STRIDE_RANGE = (-(1 << 31), (1 << 31) - 1)
PAD_RANGE = (0, 255)
ELEM_BYTES = (1, 2, 4, 8, 16)
AXI_MAX_BEATS = 256
AXI_PAGE_BYTES = 4096
TARGETS = ("spad", "acc")


class DmaError(enum.Enum, shape=3):
    """Status of one DMA command, as the hardware reports it (see the module docstring)."""

    OK = 0
    WINDOW = 1          #: some element byte outside the host's DRAM window
    BAD_DESCRIPTOR = 2  #: descriptor impossible for this target/configuration
    ROW_RANGE = 3       #: on-chip rows beyond the scratchpad/accumulator capacity
    AXI_SLVERR = 4      #: an R/B response was SLVERR (hardware only)
    AXI_DECERR = 5      #: an R/B response was DECERR (hardware only)


class DescriptorError(ValueError):
    """A descriptor or argument a command cannot encode; names the field and its range."""


def _int(name: str, value, lo: int, hi: int) -> int:
    if type(value) is int and lo <= value <= hi:      # the common case, fast
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DescriptorError(f"{name}={value!r}: must be an integer in {lo}..{hi}")
    if not lo <= value <= hi:
        raise DescriptorError(f"{name}={value}: out of range, allowed {lo}..{hi}")
    return int(value)


def _dims(name: str, values, fill: int, lo: int, hi: int) -> tuple[int, ...]:
    try:
        values = tuple(values)
    except TypeError:
        values = ()
    if not 1 <= len(values) <= DIMS:
        raise DescriptorError(f"{name}={values!r}: must be 1..{DIMS} integers, outermost first")
    values = (fill,) * (DIMS - len(values)) + values
    if all(type(v) is int and lo <= v <= hi for v in values):
        return values
    return tuple(_int(f"{name}[{d}]", v, lo, hi) for d, v in enumerate(values))


@dataclass(frozen=True)
class TensorDescriptor:
    """A strided tensor in DRAM, with the padding and transposition of a load.

    Parameters
    ----------
    base : int
        Byte address of element ``(0, 0, 0, 0)``, 0..2^64-1 (and below 2^``addr_bits``).
    sizes : sequence of int
        1..4 sizes, outermost first, each 1..65535; stored as 4, left-filled with 1.
    strides : sequence of int
        Signed byte strides, -2^31..2^31-1; stored as 4, left-filled with 0.
    elem_bytes : int
        Bytes of one DRAM element: 1, 2, 4, 8 or 16 (16: FP8 partial sums; a command
        encodes it only where :func:`encodable_elem_bytes` has it).
    pad_before, pad_after : sequence of int
        Padding elements per dimension (loads only), 0..255; stored as 4, left-filled with 0.
    pad_value : int
        Value of padding elements, a signed ``8*elem_bytes``-bit integer (at most 64 bits:
        a 16-byte element pads with a sign-extended 64-bit value).
    transpose : bool
        Load with the last two (padded) dimensions swapped.
    """

    base: int
    sizes: tuple[int, ...]
    strides: tuple[int, ...]
    elem_bytes: int = 1
    pad_before: tuple[int, ...] = (0,) * DIMS
    pad_after: tuple[int, ...] = (0,) * DIMS
    pad_value: int = 0
    transpose: bool = False

    def __post_init__(self) -> None:
        def put(name, value):
            object.__setattr__(self, name, value)

        put("base", _int("base", self.base, 0, (1 << 64) - 1))
        eb = self.elem_bytes
        if isinstance(eb, bool) or not isinstance(eb, (int, np.integer)) or eb not in ELEM_BYTES:
            raise DescriptorError(f"elem_bytes={eb!r}: allowed one of {list(ELEM_BYTES)}")
        put("elem_bytes", int(eb))
        put("sizes", _dims("sizes", self.sizes, 1, *SIZE_RANGE))
        put("strides", _dims("strides", self.strides, 0, *STRIDE_RANGE))
        put("pad_before", _dims("pad_before", self.pad_before, 0, *PAD_RANGE))
        put("pad_after", _dims("pad_after", self.pad_after, 0, *PAD_RANGE))
        half = 1 << (min(8 * self.elem_bytes, 64) - 1)
        put("pad_value", _int("pad_value", self.pad_value, -half, half - 1))
        if not isinstance(self.transpose, (bool, np.bool_)):
            raise DescriptorError(f"transpose={self.transpose!r}: must be a bool")
        put("transpose", bool(self.transpose))

    @classmethod
    def dense(cls, base: int, shape, elem_bytes: int = 1, **fields) -> "TensorDescriptor":
        """A C-contiguous tensor of ``shape`` (1..4 sizes) at ``base``."""
        strides, step = [], elem_bytes
        for n in reversed(tuple(shape)):
            strides.insert(0, step)
            step *= n
        return cls(base, tuple(shape), tuple(strides), elem_bytes, **fields)

    @functools.cached_property
    def padded_sizes(self) -> tuple[int, ...]:
        return tuple(b + n + a for b, n, a in zip(self.pad_before, self.sizes, self.pad_after))

    @property
    def onchip_shape(self) -> tuple[int, int]:
        """(on-chip rows, elements per row vector) the tensor occupies."""
        p0, p1, p2, p3 = self.padded_sizes
        return (p0 * p1 * p3, p2) if self.transpose else (p0 * p1 * p2, p3)

    @property
    def extent(self) -> tuple[int, int]:
        """``[first, last + 1)``: lowest and one past the highest byte of any element."""
        spans = [(n - 1) * s for n, s in zip(self.sizes, self.strides)]
        return (self.base + sum(min(0, x) for x in spans),
                self.base + sum(max(0, x) for x in spans) + self.elem_bytes)


class Burst(NamedTuple):
    """One AXI4 INCR burst of full bus width.

    ``addr`` is AxADDR, the address of its first byte (unaligned when a run starts
    unaligned); ``beats`` is AxLEN + 1. ``first_strobe``/``last_strobe`` are the byte
    lanes (bit ``i`` = lane ``i``) of the first and last beat; the beats between have all
    lanes. A one-beat burst has ``first_strobe == last_strobe``.
    """

    addr: int
    beats: int
    first_strobe: int
    last_strobe: int


class Loaded(NamedTuple):
    """Result of :func:`dma_load`: ``rows`` (int64, shape ``(k, row elements)``) are the
    new contents of on-chip rows ``row .. row+k-1``; ``k == 0`` unless ``error`` is OK."""

    rows: np.ndarray
    error: DmaError


# -- DRAM access pattern ----------------------------------------------------------------
def runs(desc: TensorDescriptor) -> Iterator[tuple[int, int]]:
    """The ``(address, bytes)`` runs the DMA accesses, in issue order (padding excluded)."""
    n0, n1, n2, n3 = desc.sizes
    s0, s1, s2, s3 = desc.strides
    eb = desc.elem_bytes
    for i0, i1, i2 in itertools.product(range(n0), range(n1), range(n2)):
        start = desc.base + i0 * s0 + i1 * s1 + i2 * s2
        if s3 == eb:
            yield start, n3 * eb
        else:
            for i3 in range(n3):
                yield start + i3 * s3, eb


def _lanes(lo: int, hi: int) -> int:
    """Strobe with byte lanes ``lo .. hi-1`` set."""
    return (1 << hi) - (1 << lo)


def axi_bursts(cfg: AcceleratorConfig, addr: int, nbytes: int) -> list[Burst]:
    """Split the run ``[addr, addr + nbytes)`` into bursts (greedy; see module docstring)."""
    bb = cfg.bus_bytes
    out, end = [], addr + nbytes
    while addr < end:
        word = addr - addr % bb
        stop = min(end, word + AXI_MAX_BEATS * bb, (addr // AXI_PAGE_BYTES + 1) * AXI_PAGE_BYTES)
        last_word = (stop - 1) - (stop - 1) % bb
        first = _lanes(addr - word, min(stop, word + bb) - word)
        last = _lanes(max(addr, last_word) - last_word, stop - last_word)
        out.append(Burst(addr, (last_word - word) // bb + 1, first, last))
        addr = stop
    return out


def bursts(cfg: AcceleratorConfig, desc: TensorDescriptor) -> list[Burst]:
    """Every burst the DMA issues for ``desc``, in order (when :func:`check` says OK)."""
    return [b for addr, n in runs(desc) for b in axi_bursts(cfg, addr, n)]


def touched_bytes(desc: TensorDescriptor) -> list[tuple[int, int]]:
    """The DRAM bytes ``desc`` reads or writes, as sorted disjoint ``[start, stop)`` ranges."""
    merged: list[tuple[int, int]] = []
    for addr, n in sorted(runs(desc)):
        if merged and addr <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], addr + n))
        else:
            merged.append((addr, addr + n))
    return merged


# -- checks -----------------------------------------------------------------------------
def _memory(cfg: AcceleratorConfig, target: str) -> tuple[int, int, int]:
    """(rows, elements per row, element bits) of an on-chip memory."""
    if target == "spad":
        return cfg.spad_rows, cfg.spad_row_elems, cfg.input_bits
    if target == "acc":
        return cfg.acc_rows, cfg.cols, cfg.acc_elem_bits
    raise DescriptorError(f"target={target!r}: allowed one of {list(TARGETS)}")


def _allowed_elem_bytes(cfg: AcceleratorConfig, target: str, store: bool) -> tuple[int, ...]:
    if target == "spad":
        return (cfg.input_bits // 8,)
    return (OUT_BITS // 8,) if store else (4, cfg.acc_elem_bytes)


def _fits(cfg: AcceleratorConfig, desc: TensorDescriptor, target: str, store: bool) -> bool:
    """False when the descriptor is BAD_DESCRIPTOR for this target and direction."""
    width = _memory(cfg, target)[1]
    if desc.elem_bytes not in _allowed_elem_bytes(cfg, target, store):
        return False
    if store and (desc.transpose or any(desc.pad_before + desc.pad_after)):
        return False
    if desc.transpose and (target != "spad" or desc.padded_sizes[3] > width):
        return False
    return desc.onchip_shape[1] <= width


def _check_args(cfg: AcceleratorConfig, desc: TensorDescriptor, window, row) -> tuple[int, int]:
    if not isinstance(desc, TensorDescriptor):
        raise TypeError(f"desc must be a TensorDescriptor, got {type(desc).__name__}")
    top = (1 << cfg.addr_bits) - 1
    _int("base", desc.base, 0, top)
    _int("row", row, 0, (1 << 64) - 1)
    lo, hi = window
    return _int("window lo", lo, 0, top), _int("window hi", hi, 0, top)


def check(cfg: AcceleratorConfig, window: tuple[int, int], desc: TensorDescriptor, row: int,
          target: str = "spad", *, store: bool = False) -> DmaError:
    """The status the DMA reports for a command, before any beat (first failing check).

    ``window`` is the host's ``(lo, hi)``: bytes ``lo <= a < hi`` may be accessed; both
    are ``addr_bits``-wide CSRs (so ``lo > hi`` is an empty window, not an error).
    """
    lo, hi = _check_args(cfg, desc, window, row)
    capacity = _memory(cfg, target)[0]
    if not _fits(cfg, desc, target, store):
        return DmaError.BAD_DESCRIPTOR
    if row + desc.onchip_shape[0] > capacity:
        return DmaError.ROW_RANGE
    first, stop = desc.extent
    if not (lo <= first and stop <= hi):
        return DmaError.WINDOW
    return DmaError.OK


# -- data movement ----------------------------------------------------------------------
def _element_bytes(dram, desc: TensorDescriptor) -> tuple[np.ndarray, np.ndarray]:
    """DRAM as a uint8 array, and the address of every element byte (shape sizes + (eb,))."""
    mem = np.frombuffer(dram, dtype=np.uint8)
    if desc.extent[1] > len(mem):
        raise ValueError(f"DRAM image of {len(mem)} bytes does not hold bytes "
                         f"{desc.extent[0]}..{desc.extent[1] - 1} of the tensor")
    addr = np.full((1,) * DIMS, desc.base, dtype=np.int64)
    for d, (n, s) in enumerate(zip(desc.sizes, desc.strides)):
        addr = addr + (np.arange(n, dtype=np.int64) * s).reshape((n,) + (1,) * (DIMS - 1 - d))
    return mem, addr[..., None] + np.arange(desc.elem_bytes)


def dma_load(cfg: AcceleratorConfig, dram, window: tuple[int, int], desc: TensorDescriptor,
             row: int, target: str = "spad") -> Loaded:
    """Load ``desc`` from ``dram`` (bytes-like, address 0 first) into on-chip rows from ``row``."""
    error = check(cfg, window, desc, row, target)
    _, width, _ = _memory(cfg, target)
    if error is not DmaError.OK:
        return Loaded(np.zeros((0, width), dtype=np.int64), error)
    return Loaded(load_rows(cfg, dram, desc, target), DmaError.OK)


def load_rows(cfg: AcceleratorConfig, dram, desc: TensorDescriptor, target: str = "spad") -> np.ndarray:
    """The on-chip rows a load of ``desc`` gives (no checks: :func:`dma_load` checks first)."""
    _, width, bits = _memory(cfg, target)
    mem, addr = _element_bytes(dram, desc)
    if desc.elem_bytes == 16:      # no numpy int128: Python ints from two int64 halves
        halves = mem[addr].view("<i8")
        tensor = (halves[..., 1].astype(object) << 64) + halves[..., 0].view(np.uint64).astype(object)
    else:
        tensor = mem[addr].view(f"<i{desc.elem_bytes}")[..., 0].astype(np.int64)
    if tensor.dtype == object:     # Python ints stay Python ints (np.pad would mix in int64)
        padded = np.full(desc.padded_sizes, desc.pad_value, dtype=object)
        padded[tuple(slice(b, b + n) for b, n in zip(desc.pad_before, desc.sizes))] = tensor
    elif any(desc.pad_before) or any(desc.pad_after):
        padded = np.pad(tensor, list(zip(desc.pad_before, desc.pad_after)), constant_values=desc.pad_value)
    else:
        padded = tensor
    if desc.transpose:
        padded = padded.swapaxes(2, 3)
    vectors = padded.reshape(-1, padded.shape[3])
    rows = np.zeros((len(vectors), width), dtype=vectors.dtype)
    rows[:, :vectors.shape[1]] = vectors
    return wrap(rows, bits)


def dma_store(cfg: AcceleratorConfig, source, dram: bytearray, window: tuple[int, int],
              desc: TensorDescriptor, row: int, target: str = "spad") -> DmaError:
    """Store on-chip rows from ``row`` to ``desc`` in ``dram`` (a writable buffer, changed
    in place only when the result is OK, and only at :func:`touched_bytes`).

    ``source`` is the whole on-chip memory as the store sees it: shape ``(spad_rows,
    spad_row_elems)`` for the scratchpad, ``(acc_rows, cols)`` of requantized 8-bit
    values for the accumulator.
    """
    capacity, width, _ = _memory(cfg, target)
    source = np.asarray(source)
    if source.shape != (capacity, width):
        raise ValueError(f"source: shape {source.shape}, expected the whole {target} "
                         f"({capacity}, {width})")
    error = check(cfg, window, desc, row, target, store=True)
    if error is not DmaError.OK:
        return error
    rows, length = desc.onchip_shape
    values = source[row:row + rows, :length].astype("<i8").reshape(desc.sizes)
    data = values[..., None].view(np.uint8)[..., :desc.elem_bytes]
    mem, addr = _element_bytes(dram, desc)
    # Later elements win: keep each address's last occurrence in row-major order.
    addr, data = addr.reshape(-1)[::-1], data.reshape(-1)[::-1]
    where, last = np.unique(addr, return_index=True)
    mem[where] = data[last]
    return DmaError.OK


# -- the command word (shared by the hardware decoder and the driver's encoder) ---------
@functools.cache
def dma_command_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """One DMA command as bits: a descriptor, its on-chip row and direction.

    ``elem_log2`` is ``log2(elem_bytes)`` (2 bits; 3 where :func:`encodable_elem_bytes`
    has 16); ``target`` 0 = scratchpad, 1 = accumulator; ``store`` 0 = load (DRAM ->
    on-chip), 1 = store. Widths come from ``cfg`` only.
    """
    return data.StructLayout({
        "store": 1,
        "target": 1,
        "transpose": 1,
        "elem_log2": range(max(encodable_elem_bytes(cfg)).bit_length()),
        "row": range(onchip_rows_limit(cfg)),
        "base": cfg.addr_bits,
        "sizes": data.ArrayLayout(16, DIMS),
        "strides": data.ArrayLayout(signed(32), DIMS),
        "pad_before": data.ArrayLayout(8, DIMS),
        "pad_after": data.ArrayLayout(8, DIMS),
        "pad_value": signed(64),
    })


def onchip_rows_limit(cfg: AcceleratorConfig) -> int:
    """Rows of the larger on-chip memory: a command's ``row`` is below it, and the on-chip
    rows of a command that passes :func:`check` are at most it."""
    return max(cfg.spad_rows, cfg.acc_rows)


def encodable_elem_bytes(cfg: AcceleratorConfig) -> tuple[int, ...]:
    """Element sizes a command of ``cfg`` can encode: 1, 2, 4, 8, and 16 where the
    partial sums need it (``cfg.acc_elem_bytes == 16``: FP8 E5M2 and mixed formats)."""
    return tuple(e for e in ELEM_BYTES if e <= max(8, cfg.acc_elem_bytes))


def command_fields(cfg: AcceleratorConfig, desc: TensorDescriptor, row: int,
                   target: str = "spad", *, store: bool = False) -> dict:
    """Field values of :func:`dma_command_layout` for a command (arguments checked as
    :func:`check` does; run-time errors such as WINDOW or ROW_RANGE are the hardware's)."""
    _check_args(cfg, desc, (0, 0), row)
    _memory(cfg, target)
    if desc.elem_bytes not in encodable_elem_bytes(cfg):
        raise DescriptorError(f"elem_bytes={desc.elem_bytes}: allowed one of {list(encodable_elem_bytes(cfg))} "
                              f"for this configuration")
    if row >= onchip_rows_limit(cfg):
        raise DescriptorError(f"row={row}: out of range, allowed 0..{onchip_rows_limit(cfg) - 1}")
    return {
        "store": int(store), "target": int(target == "acc"), "transpose": int(desc.transpose),
        "elem_log2": desc.elem_bytes.bit_length() - 1, "row": row, "base": desc.base,
        "sizes": list(desc.sizes), "strides": list(desc.strides),
        "pad_before": list(desc.pad_before), "pad_after": list(desc.pad_after),
        "pad_value": desc.pad_value,
    }


def encode_command(cfg: AcceleratorConfig, desc: TensorDescriptor, row: int,
                   target: str = "spad", *, store: bool = False) -> int:
    """Pack a command for :func:`dma_command_layout`."""
    return pack(dma_command_layout(cfg), command_fields(cfg, desc, row, target, store=store))


def descriptor_from_fields(fields: dict) -> TensorDescriptor:
    """The descriptor of a decoded command (:func:`dma_command_layout` fields). Raises
    :class:`DescriptorError` for bits no descriptor has (a size of 0; a ``pad_value`` that
    is not a sign-extended ``8 * elem_bytes``-bit value): the hardware's BAD_DESCRIPTOR."""
    d = fields
    return TensorDescriptor(d["base"], tuple(d["sizes"]), tuple(d["strides"]), 1 << d["elem_log2"],
                            tuple(d["pad_before"]), tuple(d["pad_after"]), d["pad_value"],
                            bool(d["transpose"]))
