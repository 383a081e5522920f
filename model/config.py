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

__all__ = ["AcceleratorConfig", "ConfigError", "InputType", "INPUT_TYPES", "DATAFLOWS"]


class ConfigError(ValueError):
    """An impossible configuration. The message names the field and its allowed range."""


@dataclass(frozen=True)
class InputType:
    """An operand type the PE can multiply.

    `name` is the configuration spelling; `bits` the storage width of one element;
    `supported` is False for types whose PE arithmetic is not generated yet (FP8).
    """

    name: str
    bits: int
    signed: bool
    supported: bool


#: Operand types by configuration name. FP8 types are declared so configurations and
#: error messages already know them; their PE arithmetic comes with a later issue.
INPUT_TYPES: dict[str, InputType] = {
    t.name: t
    for t in (
        InputType("int8", 8, True, True),
        InputType("fp8_e4m3", 8, True, False),
        InputType("fp8_e5m2", 8, True, False),
    )
}

#: Dataflows by configuration name: weight-stationary and output-stationary.
DATAFLOWS = ("ws", "os")

_DIM_RANGE = (1, 128)
_ACC_BITS_RANGE = (16, 64)
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
        Operand type, one of :data:`INPUT_TYPES` (``int8``; ``fp8_e4m3``/``fp8_e5m2``
        are reserved names, rejected until their arithmetic exists).
    acc_bits : int
        Accumulator width in bits, 16..64, and at least the width of one product.
        Sums wrap (two's complement) at this width, in the model and in the hardware.
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
    acc_bits: int = 32
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
        if self.input_type not in INPUT_TYPES:
            raise ConfigError(
                f"input_type={self.input_type!r}: unknown, allowed one of {sorted(INPUT_TYPES)}")
        itype = INPUT_TYPES[self.input_type]
        if not itype.supported:
            supported = sorted(n for n, t in INPUT_TYPES.items() if t.supported)
            raise ConfigError(
                f"input_type={self.input_type!r}: not generated yet, allowed one of {supported}")
        _check_int("acc_bits", self.acc_bits, *_ACC_BITS_RANGE)
        if self.acc_bits < self.product_bits:
            raise ConfigError(
                f"acc_bits={self.acc_bits}: narrower than one {self.input_type} product, "
                f"allowed {self.product_bits}..{_ACC_BITS_RANGE[1]}")
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

    # -- derived quantities (the only place they are computed) --------------------------
    @property
    def input_bits(self) -> int:
        """Width of one operand element."""
        return INPUT_TYPES[self.input_type].bits

    @property
    def product_bits(self) -> int:
        """Width of one exact product of two operands."""
        return 2 * self.input_bits

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
        """Bytes of one partial sum in DRAM: 4 (int32) up to 32 bits, else 8 (int64)."""
        return 4 if self.acc_bits <= 32 else 8

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
        """Short human label, e.g. ``8x8_int8``."""
        return f"{self.rows}x{self.cols}_{self.input_type}"

