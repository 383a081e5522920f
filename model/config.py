"""`AcceleratorConfig`: the one configuration every layer of systolica reads.

The hardware generators, the golden model, the driver and the testbenches all take the
same frozen object; nothing re-derives a width or a size on its own. It is validated at
construction (errors name the field, the value and the allowed range), round-trips
through JSON, and has a stable content hash that names its build directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["AcceleratorConfig", "AccumulatorFormat", "ConfigError", "InputType", "INPUT_TYPES",
           "DATAFLOWS", "FP8_GUARD_BITS"]


class ConfigError(ValueError):
    """An impossible configuration. The message names the field and its allowed range."""


@dataclass(frozen=True)
class InputType:
    """An operand type the PE can multiply, and the facts of its number format.

    ``name`` is the configuration spelling and ``bits`` the storage width of one element.
    Integers have ``exp_bits == 0``: the code is the value. Floating-point types are
    sign / ``exp_bits`` / ``man_bits`` with bias ``2**(exp_bits-1) - 1`` and subnormals;
    ``has_inf`` says whether the all-ones exponent holds infinities (E5M2, IEEE-like) or
    only NaN sits at the top code (OCP E4M3FN: no infinities, NaN = S.1111.111).
    ``np_name`` is the numpy/``ml_dtypes`` dtype that holds the same bits.
    """

    name: str
    bits: int
    exp_bits: int
    man_bits: int
    has_inf: bool
    np_name: str

    @property
    def is_float(self) -> bool:
        return self.exp_bits > 0

    @property
    def bias(self) -> int:
        return (1 << (self.exp_bits - 1)) - 1 if self.is_float else 0

    @property
    def lsb_exp(self) -> int:
        """Exponent of the smallest step: every finite value is an integer times
        ``2**lsb_exp`` (the least subnormal for floats, 1 for integers)."""
        return 1 - self.bias - self.man_bits if self.is_float else 0

    @property
    def max_magnitude(self) -> int:
        """Largest finite magnitude (an integer for every supported type): 128 for int8
        (``-128``), 448 for E4M3, 57344 for E5M2."""
        if not self.is_float:
            return 1 << (self.bits - 1)
        top_exp = (1 << self.exp_bits) - 1 - (1 if self.has_inf else 0)
        top_man = (1 << self.man_bits) - (1 if self.has_inf else 2)  # E4M3: S.1111.111 is NaN
        return ((1 << self.man_bits) + top_man) << (top_exp - self.bias - self.man_bits)


#: Operand types by configuration name.
INPUT_TYPES: dict[str, InputType] = {
    t.name: t
    for t in (
        InputType("int8", 8, 0, 7, False, "int8"),
        InputType("fp8_e4m3", 8, 4, 3, False, "float8_e4m3fn"),
        InputType("fp8_e5m2", 8, 5, 2, True, "float8_e5m2"),
    )
}

#: Default accumulator headroom of FP8 configurations: ``acc_bits = product_bits + 16``,
#: so any 2**16 products are summed exactly whatever their values.
FP8_GUARD_BITS = 16
_INT_ACC_BITS_DEFAULT = 32


@dataclass(frozen=True)
class AccumulatorFormat:
    """One partial sum: a two's-complement fixed-point ``sum`` and special-value flags.

    The value of a finite partial sum is ``sum * 2**-frac_bits`` exactly. ``sum`` wraps
    modulo ``2**sum_bits`` (two's complement) on overflow, for int8 and FP8 alike; the
    flags are OR-ed. An element is stored as one signed integer of :attr:`bits` bits,
    ``sum * 2**flag_bits + flags`` (flags in the low bits, so it sign-extends like the
    int8 accumulator does). Flags, low bit first: ``nan``, then (formats with
    infinities) ``pos_inf`` and ``neg_inf``; a sum with both infinity flags is NaN
    (``inf - inf``).
    """

    sum_bits: int
    frac_bits: int
    nan: bool
    inf: bool

    @property
    def flag_names(self) -> tuple[str, ...]:
        return (("nan",) if self.nan else ()) + (("pos_inf", "neg_inf") if self.inf else ())

    @property
    def flag_bits(self) -> int:
        return len(self.flag_names)

    @property
    def bits(self) -> int:
        """Width of one partial-sum element everywhere (array result, accumulator, requant)."""
        return self.sum_bits + self.flag_bits


#: Dataflows by configuration name: weight-stationary and output-stationary.
DATAFLOWS = ("ws", "os")

_DIM_RANGE = (1, 128)
_ACC_BITS_RANGE = (16, 64)        # integer input types
_FP8_ACC_BITS_MAX = 128
_SPAD_ROWS_RANGE = (16, 1 << 20)
_ACC_ROWS_RANGE = (16, 1 << 20)
_BANKS_RANGE = (1, 16)
_BUS_BITS = (32, 64, 128, 256, 512)
_ADDR_BITS_RANGE = (32, 64)
_QUEUE_DEPTH_RANGE = (2, 256)
_BOARD_DRAM_RANGE = (4096, 1 << 26)


def _check_pow2(name: str, value: int, lo: int, hi: int) -> None:
    _check_int(name, value, lo, hi)
    if value & (value - 1):
        raise ConfigError(f"{name}={value}: must be a power of two in {lo}..{hi}")


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}={value!r}: must be an integer in {lo}..{hi}")
    if not lo <= value <= hi:
        raise ConfigError(f"{name}={value}: out of range, allowed {lo}..{hi}")


@dataclass(frozen=True)
class AcceleratorConfig:
    """Parameters of one generated accelerator.

    Parameters
    ----------
    rows, cols : int
        PE grid. ``rows`` is the reduction depth of one weight tile (K per tile) and the
        width of an input vector; ``cols`` is the number of output channels per vector.
        1..128 each; non-square grids are allowed.
    input_type : str
        Type of the A operand (activations, entering on the left), one of
        :data:`INPUT_TYPES`: ``int8``, ``fp8_e4m3`` (OCP E4M3FN) or ``fp8_e5m2``.
    weight_type : str or None
        Type of the weight / B operand (entering on top). ``None`` (default): the same as
        ``input_type``. FP8 types mix freely (E4M3 activations x E5M2 weights); ``int8``
        only with ``int8``.
    acc_bits : int or None
        Width of the accumulator's fixed-point sum, at least one exact product
        (:attr:`product_bits`). ``int8``: 16..64, default 32. FP8: ``product_bits``..128,
        default ``product_bits + FP8_GUARD_BITS``. Sums wrap (two's complement) at this
        width, in the model and in the hardware; :attr:`exact_terms` products are always
        summed exactly. FP8 sums carry NaN/infinity flags beside (:attr:`acc_format`).
    dataflows : tuple of str
        Dataflows the array supports at run time, a non-empty subset of ``("ws", "os")``.
    spad_rows : int
        Scratchpad capacity in rows (one row = :attr:`spad_row_elems` operands, one array
        input vector). Power of two, 16..2^20.
    spad_banks : int
        Scratchpad banks (the DMA fills one bank while the array reads another). Power of
        two, 1..16, dividing ``spad_rows``.
    acc_rows : int
        Accumulator capacity in rows of ``cols`` partial sums (``acc_bits`` each). Power
        of two, 16..2^20.
    acc_banks : int
        Accumulator banks. Power of two, 1..16, dividing ``acc_rows``.
    bus_bits : int
        AXI4 data width of the DMA: 32, 64, 128, 256 or 512.
    addr_bits : int
        AXI4 address width, 32..64.
    queue_depth : int
        Depth of each command queue (load, execute, store), 2..256.
    board_dram_bytes : int
        Size of the on-chip RAM the board top (:mod:`systolica.hw.board_top`) gives the
        accelerator as its DRAM, at addresses ``[0, board_dram_bytes)``. Power of two,
        4096..2^26; whether a device's block RAM holds it is checked by ``systolica fpga``.
        The accelerator itself does not depend on it.
    """

    rows: int = 8
    cols: int = 8
    input_type: str = "int8"
    weight_type: str | None = None
    acc_bits: int | None = None
    dataflows: tuple[str, ...] = DATAFLOWS
    spad_rows: int = 4096
    spad_banks: int = 2
    acc_rows: int = 1024
    acc_banks: int = 2
    bus_bits: int = 64
    addr_bits: int = 32
    queue_depth: int = 8
    board_dram_bytes: int = 65536

    def __post_init__(self) -> None:
        _check_int("rows", self.rows, *_DIM_RANGE)
        _check_int("cols", self.cols, *_DIM_RANGE)
        self._check_types()
        self._check_acc_bits()
        dataflows = self.dataflows
        if isinstance(dataflows, str) or not isinstance(dataflows, (tuple, list)):
            raise ConfigError(
                f"dataflows={dataflows!r}: must be a non-empty subset of {list(DATAFLOWS)}")
        bad = [d for d in dataflows if d not in DATAFLOWS]
        if bad or not dataflows or len(set(dataflows)) != len(dataflows):
            raise ConfigError(
                f"dataflows={list(dataflows)!r}: must be a non-empty subset of {list(DATAFLOWS)} "
                "without repeats")
        # Canonical order, and a tuple even when built from a list (JSON).
        object.__setattr__(self, "dataflows", tuple(d for d in DATAFLOWS if d in dataflows))
        _check_pow2("spad_rows", self.spad_rows, *_SPAD_ROWS_RANGE)
        _check_pow2("spad_banks", self.spad_banks, *_BANKS_RANGE)
        _check_pow2("acc_rows", self.acc_rows, *_ACC_ROWS_RANGE)
        _check_pow2("acc_banks", self.acc_banks, *_BANKS_RANGE)
        for name, rows, banks in (("spad_banks", self.spad_rows, self.spad_banks),
                                  ("acc_banks", self.acc_rows, self.acc_banks)):
            if banks > rows // 8:
                raise ConfigError(f"{name}={banks}: too many banks for {rows} rows, "
                                  f"allowed 1..{rows // 8} (at least 8 rows per bank)")
        if self.bus_bits not in _BUS_BITS:
            raise ConfigError(f"bus_bits={self.bus_bits!r}: allowed one of {list(_BUS_BITS)}")
        _check_int("addr_bits", self.addr_bits, *_ADDR_BITS_RANGE)
        _check_int("queue_depth", self.queue_depth, *_QUEUE_DEPTH_RANGE)
        _check_pow2("board_dram_bytes", self.board_dram_bytes, *_BOARD_DRAM_RANGE)

    def _check_types(self) -> None:
        for name in ("input_type", "weight_type"):
            value = getattr(self, name)
            if name == "weight_type" and value is None:
                object.__setattr__(self, name, self.input_type)
                continue
            if not isinstance(value, str) or value not in INPUT_TYPES:
                raise ConfigError(f"{name}={value!r}: unknown, allowed one of {sorted(INPUT_TYPES)}")
        a, w = self.a_type, self.w_type
        if a.is_float != w.is_float or (not a.is_float and a != w):
            allowed = sorted(n for n, t in INPUT_TYPES.items() if t.is_float == a.is_float)
            raise ConfigError(f"weight_type={self.weight_type!r}: cannot multiply "
                              f"input_type={self.input_type!r}, allowed one of {allowed}")

    def _check_acc_bits(self) -> None:
        lo = self.product_bits
        if self.a_type.is_float:
            default, hi = lo + FP8_GUARD_BITS, _FP8_ACC_BITS_MAX
        else:
            default, hi = _INT_ACC_BITS_DEFAULT, _ACC_BITS_RANGE[1]
        if self.acc_bits is None:
            object.__setattr__(self, "acc_bits", default)
        if self.a_type.is_float:
            _check_int("acc_bits", self.acc_bits, lo, hi)
        else:
            _check_int("acc_bits", self.acc_bits, *_ACC_BITS_RANGE)
        if self.acc_bits < lo:
            raise ConfigError(
                f"acc_bits={self.acc_bits}: narrower than one {self.input_type} x {self.weight_type} "
                f"product, allowed {lo}..{hi}")

    # -- derived quantities (the only place they are computed) --------------------------
    @property
    def a_type(self) -> InputType:
        """Format of the A operand (``input_type``)."""
        return INPUT_TYPES[self.input_type]

    @property
    def w_type(self) -> InputType:
        """Format of the weight / B operand (``weight_type``)."""
        return INPUT_TYPES[self.weight_type]

    @property
    def is_float(self) -> bool:
        """FP8 operands (exact fixed-point accumulation with special-value flags)."""
        return self.a_type.is_float

    @property
    def input_bits(self) -> int:
        """Width of one operand element (both operand types are 8 bits wide)."""
        return self.a_type.bits

    @property
    def product_frac_bits(self) -> int:
        """Fraction bits of an exact product (0 for int8; E4M3 x E4M3: 18, E5M2 x E5M2:
        32, E4M3 x E5M2: 25): products are integers times ``2**-product_frac_bits``."""
        return -(self.a_type.lsb_exp + self.w_type.lsb_exp)

    @property
    def product_bits(self) -> int:
        """Width of one exact product as a two's-complement fixed-point number with
        :attr:`product_frac_bits` fraction bits: 16 for int8, 37 for E4M3, 65 for E5M2,
        51 for E4M3 x E5M2."""
        largest = (self.a_type.max_magnitude * self.w_type.max_magnitude) << self.product_frac_bits
        return largest.bit_length() + 1

    @property
    def exact_terms(self) -> int:
        """Any this many products are summed exactly (no wrap), whatever their values."""
        return 1 << (self.acc_bits - self.product_bits)

    @property
    def acc_format(self) -> AccumulatorFormat:
        """The partial-sum format: fixed-point sum width and binary point, flags."""
        has_inf = self.a_type.has_inf or self.w_type.has_inf
        return AccumulatorFormat(self.acc_bits, self.product_frac_bits, self.is_float, has_inf)

    @property
    def acc_elem_bits(self) -> int:
        """Width of one partial-sum element: ``acc_bits`` plus the FP8 flags."""
        return self.acc_format.bits

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    @property
    def spad_row_elems(self) -> int:
        """Operands in one scratchpad row: wide enough for an A vector (``rows``) and a
        B/weight vector (``cols``)."""
        return max(self.rows, self.cols)

    @property
    def spad_row_bytes(self) -> int:
        return self.spad_row_elems * self.input_bits // 8

    @property
    def acc_elem_bytes(self) -> int:
        """Bytes of one partial-sum element in DRAM: 4 up to 32 bits, 8 up to 64, else 16
        (sign-extended, little-endian)."""
        bits = self.acc_elem_bits
        return 4 if bits <= 32 else 8 if bits <= 64 else 16

    @property
    def acc_row_bytes(self) -> int:
        """Bytes of one accumulator row in DRAM (``cols`` partial sums)."""
        return self.cols * self.acc_elem_bytes

    @property
    def bus_bytes(self) -> int:
        return self.bus_bits // 8

    def supports(self, dataflow: str) -> bool:
        return dataflow in self.dataflows

    # -- serialisation ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["dataflows"] = list(self.dataflows)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AcceleratorConfig":
        if not isinstance(data, dict):
            raise ConfigError(f"configuration must be a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown configuration field(s) {unknown}, allowed {sorted(known)}")
        data = dict(data)
        if "dataflows" in data and isinstance(data["dataflows"], list):
            data["dataflows"] = tuple(data["dataflows"])
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "AcceleratorConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"configuration is not valid JSON: {e}") from None
        return cls.from_dict(data)

    @classmethod
    def load(cls, path) -> "AcceleratorConfig":
        with open(path) as f:
            return cls.from_json(f.read())

    def config_hash(self) -> str:
        """Stable content hash (hex, 16 digits): same fields, same hash, on any machine."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def replace(self, **changes: Any) -> "AcceleratorConfig":
        return dataclasses.replace(self, **changes)

    @property
    def name(self) -> str:
        """Short human label, e.g. ``8x8_int8`` or ``4x4_fp8_e4m3_fp8_e5m2`` (mixed)."""
        types = self.input_type if self.weight_type == self.input_type else \
            f"{self.input_type}_{self.weight_type}"
        return f"{self.rows}x{self.cols}_{types}"

