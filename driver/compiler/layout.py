"""DRAM: the bump allocator of a program's regions, and how activations lie in them.

Convolutions keep activations channels last (NHWC, :mod:`.conv`); the host converts at
the network's edges only: its NCHW input before the run (when the first layer is a
convolution), each NCHW output after it. A linear layer reading a convolution's output
takes the NHWC bytes as they are, its weight rows permuted from ``(c, h, w)`` to ``(h, w,
c)`` order at compile time (:mod:`.network`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...model.config import AcceleratorConfig
from .common import DRAM_ALIGN, CompileError

__all__ = ["Region", "DramLayout", "LAYOUTS", "to_device", "from_device", "hwc_order"]

#: How a tensor of logical shape ``(N, C, H, W)`` lies in DRAM: as is, or channels last.
LAYOUTS = ("nchw", "nhwc")


@dataclass(frozen=True)
class Region:
    name: str
    addr: int
    size: int

    @property
    def end(self) -> int:
        return self.addr + self.size


@dataclass
class DramLayout:
    """A bump allocator of :data:`DRAM_ALIGN`-aligned regions from ``base``."""

    cfg: AcceleratorConfig
    base: int = 0
    regions: dict[str, Region] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return max((r.end for r in self.regions.values()), default=self.base)

    def alloc(self, name: str, size: int) -> Region:
        if name in self.regions:
            raise ValueError(f"region {name!r} allocated twice")
        addr = -(-self.end // DRAM_ALIGN) * DRAM_ALIGN
        r = Region(name, addr, int(size))
        if r.end > 1 << self.cfg.addr_bits:
            raise CompileError(f"DRAM image needs {r.end} bytes (region {name!r} ends at {r.end:#x}), "
                               f"beyond addr_bits={self.cfg.addr_bits} ({1 << self.cfg.addr_bits} bytes)")
        self.regions[name] = r
        return r

    @property
    def size(self) -> int:
        return -(-self.end // DRAM_ALIGN) * DRAM_ALIGN


def to_device(x: np.ndarray, layout: str) -> np.ndarray:
    """A logical ``(N, C, H, W)`` (or any other) tensor as it lies in DRAM."""
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if layout == "nhwc" else np.ascontiguousarray(x)


def from_device(raw: np.ndarray, shape: tuple[int, ...], layout: str) -> np.ndarray:
    """The logical tensor of ``shape`` from its DRAM bytes (any int8/uint8 buffer)."""
    if layout == "nhwc":
        n, c, h, w = shape
        return np.ascontiguousarray(raw.reshape(n, h, w, c).transpose(0, 3, 1, 2))
    return raw.reshape(shape).copy()


def hwc_order(chw: tuple[int, int, int]) -> np.ndarray:
    """For features flattened in ``(h, w, c)`` order, the ``(c, h, w)`` index of each."""
    c, h, w = chw
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)
