"""Golden semantics of the systolic array (numpy, exact integer math).

One *tile* is what the array computes between two ``last`` flags on its data port:

- weight-stationary (WS): ``C[M, cols] = A[M, rows] @ W[rows, cols]``. ``W`` is preloaded
  (``rows`` weight vectors, row 0 first); then ``M`` input vectors stream through, one per
  cycle, and one output vector comes out per input vector, in the same order.
- output-stationary (OS): ``C[rows, cols] = A[rows, K] @ B[K, cols]``. Each data beat
  carries one column of ``A`` and one row of ``B``; ``K`` beats stream through (any
  ``K >= 1``) and ``rows`` output vectors drain out, **bottom row first** (row
  ``rows-1`` .. row 0).

Sums are exact and then wrap to ``acc_bits`` (two's complement). Because wrapping is
modular, splitting a reduction over several tiles and adding the partial sums with the
same wrap gives the same bits as one long reduction.

Results are partial-sum *elements* (:mod:`.accum`): for int8 the wrapped sums (int64),
for FP8 the exact fixed-point sums with their special-value flags (object arrays of
Python ints). FP8 operands are 8-bit codes (``0..255``, or their signed byte view).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
from amaranth.lib import enum

from . import accum
from .config import AcceleratorConfig

__all__ = [
    "Dataflow", "wrap", "ws_tile", "os_tile", "WsTile", "OsTile", "ArrayOutput",
    "expected_outputs", "GemmPlan", "plan_gemm", "gemm",
]


class Dataflow(enum.Enum, shape=1):
    """Per-tile dataflow, carried on the array's data port (and later in commands)."""

    WS = 0
    OS = 1

    @classmethod
    def from_name(cls, name: str) -> "Dataflow":
        return {"ws": cls.WS, "os": cls.OS}[name]


def wrap(x, bits: int) -> np.ndarray:
    """Wrap integers to signed ``bits``-bit two's complement (exact, any input size)."""
    return accum.wrap(x, bits)


def ws_tile(cfg: AcceleratorConfig, a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One WS tile: ``a`` is (M, rows), ``w`` is (rows, cols); returns (M, cols)."""
    a = accum.check_operand(cfg, "a", a, (None, cfg.rows))
    w = accum.check_operand(cfg, "w", w, (cfg.rows, cfg.cols), "w")
    return accum.matmul(cfg, a, w)


def os_tile(cfg: AcceleratorConfig, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One OS tile: ``a`` is (rows, K), ``b`` is (K, cols); returns (rows, cols)."""
    a = accum.check_operand(cfg, "a", a, (cfg.rows, None))
    b = accum.check_operand(cfg, "b", b, (a.shape[1], cfg.cols), "w")
    if a.shape[1] < 1:
        raise ValueError("OS tile needs K >= 1 data beats")
    return accum.matmul(cfg, a, b)


@dataclass(frozen=True)
class WsTile:
    """A WS tile as streamed: preload ``w`` (rows, cols), then stream ``a`` (M, rows)."""

    a: np.ndarray
    w: np.ndarray


@dataclass(frozen=True)
class OsTile:
    """An OS tile as streamed: ``K`` beats of (``a[:, k]``, ``b[k, :]``)."""

    a: np.ndarray
    b: np.ndarray


@dataclass(frozen=True)
class ArrayOutput:
    """One vector on the array's result port."""

    c: tuple[int, ...]
    dataflow: Dataflow
    last: bool


def expected_outputs(cfg: AcceleratorConfig, tiles: list) -> list[ArrayOutput]:
    """Every vector the result port must give for ``tiles`` streamed in order."""
    out: list[ArrayOutput] = []
    for tile in tiles:
        if isinstance(tile, WsTile):
            c = ws_tile(cfg, tile.a, tile.w)
            rows = list(c)
            flow = Dataflow.WS
        elif isinstance(tile, OsTile):
            c = os_tile(cfg, tile.a, tile.b)
            rows = list(c[::-1])  # drained bottom row first
            flow = Dataflow.OS
        else:
            raise TypeError(f"not a tile: {tile!r}")
        for i, r in enumerate(rows):
            out.append(ArrayOutput(tuple(int(v) for v in r), flow, i == len(rows) - 1))
    return out


# -- GEMMs of any shape, as a sequence of tiles -----------------------------------------
@dataclass(frozen=True)
class GemmPlan:
    """How ``C[M, N] = A[M, K] @ B[K, N]`` maps to array tiles.

    ``tiles`` are in streaming order; ``place[i]`` says where tile ``i``'s output lands:
    ``(row0, col0)`` of the block of ``C`` it adds into (sums wrap to ``acc_bits``).
    """

    dataflow: str
    shape: tuple[int, int, int]
    tiles: list
    place: list[tuple[int, int]]

    @property
    def useful_macs(self) -> int:
        m, k, n = self.shape
        return m * k * n


def _pad(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, dtype=np.int64)
    out[: x.shape[0], : x.shape[1]] = x
    return out


def _blocks(total: int, step: int) -> Iterator[int]:
    return iter(range(0, total, step))


def plan_gemm(cfg: AcceleratorConfig, a: np.ndarray, b: np.ndarray, dataflow: str) -> GemmPlan:
    """Tile a GEMM for the array. Shapes need not be multiples of the array: edges are
    zero-padded (WS: K to ``rows``, N to ``cols``; OS: M to ``rows``, N to ``cols``)."""
    if dataflow not in cfg.dataflows:
        raise ValueError(f"dataflow={dataflow!r}: not in this configuration's {cfg.dataflows}")
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"GEMM shapes do not chain: A{a.shape} @ B{b.shape}")
    m, k = a.shape
    n = b.shape[1]
    if min(m, k, n) < 1:
        raise ValueError(f"GEMM needs M, K, N >= 1, got {m}, {k}, {n}")
    tiles, place = [], []
    if dataflow == "ws":
        for n0 in _blocks(n, cfg.cols):
            for k0 in _blocks(k, cfg.rows):
                w = _pad(b[k0:k0 + cfg.rows, n0:n0 + cfg.cols], (cfg.rows, cfg.cols))
                at = _pad(a[:, k0:k0 + cfg.rows], (m, cfg.rows))
                tiles.append(WsTile(at, w))
                place.append((0, n0))
    else:
        for m0 in _blocks(m, cfg.rows):
            for n0 in _blocks(n, cfg.cols):
                at = _pad(a[m0:m0 + cfg.rows, :], (cfg.rows, k))
                bt = _pad(b[:, n0:n0 + cfg.cols], (k, cfg.cols))
                tiles.append(OsTile(at, bt))
                place.append((m0, n0))
    return GemmPlan(dataflow, (m, k, n), tiles, place)


def assemble(cfg: AcceleratorConfig, plan: GemmPlan, results: list[np.ndarray]) -> np.ndarray:
    """Add tile results (in tile order, each as the tile functions return it) into ``C``."""
    m, _, n = plan.shape
    c = accum.pack(cfg, np.zeros((m + cfg.rows, n + cfg.cols), dtype=np.int64))
    for (r0, c0), res in zip(plan.place, results, strict=True):
        block = (slice(r0, r0 + res.shape[0]), slice(c0, c0 + res.shape[1]))
        c[block] = accum.add(cfg, c[block], res)
    return c[:m, :n]


def gemm(cfg: AcceleratorConfig, a: np.ndarray, b: np.ndarray, dataflow: str = "ws") -> np.ndarray:
    """The array's GEMM, tile by tile: must equal ``accum.matmul(cfg, A, B)`` (int8:
    ``wrap(A @ B)``) for any tiling."""
    plan = plan_gemm(cfg, a, b, dataflow)
    results = [ws_tile(cfg, t.a, t.w) if isinstance(t, WsTile) else os_tile(cfg, t.a, t.b)
               for t in plan.tiles]
    return assemble(cfg, plan, results)
