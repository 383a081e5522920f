"""Linear layers: ``y = requant(x @ W + bias)`` on the tiled GEMM schedule (:mod:`.gemm`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...model.config import AcceleratorConfig
from ...model.numerics import RequantParams
from .common import (check_batch, check_layer, check_wzp, desc, input_zero_point, int8_array, lanes,
                     layer_bias)
from .gemm import GemmSpec, Tiling
from .plan import LayerProgram, choose

__all__ = ["linear_weight_image", "compile_linear", "tiled_weight_image", "balanced"]


def balanced(total: int, cap: int) -> list[tuple[int, int]]:
    """``[start, size)`` pieces of ``0..total-1``, as few as fit ``cap`` and as even as can be."""
    pieces = -(-total // cap)
    size = -(-total // pieces)
    return [(s, min(size, total - s)) for s in range(0, total, size)]


def tiled_weight_image(cfg: AcceleratorConfig, chunks: list[np.ndarray]) -> bytes:
    """The weight image of :class:`~.gemm.GemmSpec`: per chunk (a ``(k_c, N)`` matrix with
    ``k_c <= cfg.rows``) and channel tile, ``cfg.rows x cfg.cols`` bytes, zero-padded."""
    n = chunks[0].shape[1]
    nt = -(-n // cfg.cols)
    img = np.zeros((len(chunks), cfg.rows, nt * cfg.cols), dtype=chunks[0].dtype)
    for c, w in enumerate(chunks):
        img[c, :w.shape[0], :n] = w
    return np.ascontiguousarray(img.reshape(len(chunks), cfg.rows, nt, cfg.cols).transpose(0, 2, 1, 3)).tobytes()


def linear_weight_image(cfg: AcceleratorConfig, weight_kn) -> bytes:
    """The bytes :func:`compile_linear` expects at ``w_addr``: ``W`` (K, N) cut into chunks
    of ``cfg.rows`` K rows, each chunk's channel tiles of ``cfg.cols`` one after the
    other, ``cfg.rows x cfg.cols`` bytes each, zero-padded (see :class:`~.gemm.GemmSpec`)."""
    w = int8_array("weight", weight_kn, 2)
    return tiled_weight_image(cfg, [w[k0:k0 + cfg.rows] for k0 in range(0, w.shape[0], cfg.rows)])


@dataclass(frozen=True)
class _Rows:
    """A box of a linear layer: batch rows ``m0 .. m0+rows-1``."""

    m0: int
    rows: int


def compile_linear(cfg: AcceleratorConfig, weight, bias, requant: RequantParams, *, batch: int,
                   x_addr: int, w_addr: int, out_addr: int, x_zp: int = 0,
                   x_row_stride: int | None = None, out_row_stride: int | None = None,
                   w_zp=None, tile: Tiling | None = None) -> LayerProgram:
    """``y = requant(x @ W + bias)`` for ``x`` (batch, K) int8 at ``x_addr`` (rows
    ``x_row_stride`` bytes apart, default K), ``W = weight`` (K, N) int8 placed at
    ``w_addr`` as :func:`linear_weight_image`, ``y`` (batch, N) at ``out_addr`` (rows
    ``out_row_stride`` apart, default N). ``bias`` int32 (N,) or None; ``requant`` per
    tensor or N channels; ``x_zp`` the input zero point (folded into the bias). ``tile``
    forces a :class:`~.gemm.Tiling` (default: the fastest by :mod:`~systolica.driver.
    perf_model`). ``x``, the weights and ``y`` must not overlap."""
    w = int8_array("weight", weight, 2, cfg)
    k, n = w.shape
    x_zp = input_zero_point(x_zp)
    check_wzp(w_zp, n)
    check_layer(cfg, requant, n, k)
    batch = check_batch(batch)
    bias_f = layer_bias(cfg, w, bias, x_zp)
    xs = k if x_row_stride is None else x_row_stride
    ys = n if out_row_stride is None else out_row_stride

    def a_loads(box: _Rows, c: int):
        k0 = c * cfg.rows
        return [(desc(cfg, "input chunk", x_addr + box.m0 * xs + k0, (box.rows, min(cfg.rows, k - k0)),
                      (xs, 1)), 0)]

    def stores(box: _Rows, n0: int, nt: int):
        return [(desc(cfg, "output tile", out_addr + box.m0 * ys + n0, (box.rows, nt), (ys, 1)), 0)]

    spec = GemmSpec(n=n, chunks=[min(cfg.rows, k - k0) for k0 in range(0, k, cfg.rows)], w_addr=w_addr,
                    lanes=[lanes(cfg, requant, bias_f, n0, min(cfg.cols, n - n0)) for n0 in range(0, n, cfg.cols)],
                    boxes=lambda cap: [_Rows(m0, r) for m0, r in balanced(batch, cap)],
                    a_loads=a_loads, stores=stores)
    return choose(cfg, [spec], linear_weight_image(cfg, w), (batch, n), batch * k * n, batch, tile)
