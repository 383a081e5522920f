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
    """

    rows: int = 8
    cols: int = 8
    input_type: str = "int8"
    acc_bits: int = 32
    dataflows: tuple[str, ...] = DATAFLOWS

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

