"""Convolutions, channels last: the tiled GEMM schedule (:mod:`.gemm`) with the im2col done
by the DMA's addressing (no im2col buffer in DRAM).

Layout
    Input ``x`` (N, H, W, C) and output ``y`` (N, OH, OW, M) int8, channels last (NHWC):
    the channel vector of a pixel is contiguous, so one kernel tap's chunk of input
    channels is one DMA run (one bus beat when it fits the bus) per output pixel.

K chunks
    ``K`` is ordered ``(ki, kj, c)``. A chunk is one tap ``(ki, kj)`` and up to ``rows``
    channels (``C >= rows``, or grouped/dilated), or -- for a narrow input (``C < rows``,
    one group, no horizontal dilation) -- ``g = min(kw, rows // C)`` horizontally adjacent
    taps of one kernel row, whose ``g*C`` bytes are contiguous in NHWC: a first layer with
    one channel fills ``kw`` lanes per chunk instead of one.

Boxes and their loads
    The output rows of a tile form a box of output pixels ``(ow, n, oh)`` -- whole images,
    whole columns of one image, or a run of one column -- ordered column-major (``ow``
    outermost), so every column of a box is a run of consecutive scratchpad rows. A
    chunk's A rows for a box are one 4-D descriptor over ``(ow, n, oh, vector)`` starting at
    the tap's shifted window; the borders are the DMA's padding with ``pad_value = x_zp``
    (a true zero after the zero-point fold): whole output columns or rows outside the
    input for that tap are padded rows, and for grouped taps the columns where only some
    taps fall outside are loaded on their own with the missing taps padded inside the
    vector. A chunk wholly in the padding for the box reads one ``x_zp`` byte per row
    (stored after the weights). The STORE writes the box's rows to NHWC with the same
    ``(ow, n, oh)`` order.

Groups (depthwise included) are one GEMM per group at shifted channel offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...model.config import AcceleratorConfig
from ...model.numerics import RequantParams
from .common import (CompileError, check_batch, check_groups, check_layer, check_wzp, desc, input_zero_point,
                     int8_array, lanes, layer_bias, pads as _pads, pair, slice_params)
from .gemm import GemmSpec, Tiling
from .linear import balanced, tiled_weight_image
from .plan import LayerProgram, choose

__all__ = ["conv2d_output_shape", "conv2d_chunks", "conv2d_weight_image", "compile_conv2d", "Chunk"]


def conv2d_output_shape(in_hw, kernel, stride=1, pads=0, dilation=1) -> tuple[int, int]:
    """``(OH, OW)``; ``pads`` ``(top, left, bottom, right)`` as ONNX/QConv2d."""
    (h, w), (kh, kw) = in_hw, kernel
    sh, sw = pair("stride", stride)
    dh, dw = pair("dilation", dilation)
    pt, pl, pb, pr = _pads(pads)
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise CompileError(f"convolution output would be empty: input {h}x{w}, kernel {kh}x{kw}, "
                           f"pads {(pt, pl, pb, pr)}, dilation {(dh, dw)}")
    return oh, ow


@dataclass(frozen=True)
class Chunk:
    """Taps ``(ki, kj0 .. kj0+taps-1)``, channels ``c0 .. c0+ct-1`` of each."""

    ki: int
    kj0: int
    taps: int
    c0: int
    ct: int

    @property
    def lanes(self) -> int:
        return self.taps * self.ct


def conv2d_chunks(cfg: AcceleratorConfig, cg: int, kernel, groups: int = 1, dilation=1) -> list[Chunk]:
    """The K chunks of a convolution with ``cg`` input channels per group (module docstring)."""
    kh, kw = kernel
    _, dw = pair("dilation", dilation)
    if groups == 1 and dw == 1 and cg < cfg.rows and kw > 1:
        g = min(kw, cfg.rows // cg)
        return [Chunk(ki, kj0, min(g, kw - kj0), 0, cg) for ki in range(kh) for kj0 in range(0, kw, g)]
    return [Chunk(ki, kj, 1, c0, min(cfg.rows, cg - c0)) for ki in range(kh) for kj in range(kw)
            for c0 in range(0, cg, cfg.rows)]


def _group_matrices(cfg, w: np.ndarray, groups: int, dilation) -> list[list[np.ndarray]]:
    """Per group, per chunk, its ``(lanes, M/groups)`` weight rows (K order ``(kj, c)``)."""
    m, cg, kh, kw = w.shape
    mg = m // groups
    chunks = conv2d_chunks(cfg, cg, (kh, kw), groups, dilation)
    out = []
    for g in range(groups):
        wg = w[g * mg:(g + 1) * mg]
        out.append([np.concatenate([wg[:, ch.c0:ch.c0 + ch.ct, ch.ki, kj].T
                                    for kj in range(ch.kj0, ch.kj0 + ch.taps)]) for ch in chunks])
    return out


def conv2d_weight_image(cfg: AcceleratorConfig, weight, x_zp: int, groups: int = 1, dilation=1) -> bytes:
    """The bytes :func:`compile_conv2d` expects at ``w_addr``: per group the tiled weight
    image of its chunks (:func:`~.linear.tiled_weight_image`), then one byte of ``x_zp``
    (the input of chunks that lie wholly in the padding)."""
    w = int8_array("weight", weight, 4)
    check_groups(w.shape[0], None, w.shape[1], groups)
    images = b"".join(tiled_weight_image(cfg, mats) for mats in _group_matrices(cfg, w, int(groups), dilation))
    return images + np.int8(input_zero_point(x_zp)).tobytes()


def _valid(o0: int, cnt: int, s: int, off: int, size: int) -> tuple[int, int]:
    """Outputs ``o`` in ``[o0, o0+cnt)`` with ``0 <= o*s + off < size``: ``[lo, hi)``."""
    lo = max(o0, -(off // s) if off < 0 else 0)       # ceil(-off / s) for off < 0
    hi = min(o0 + cnt, (size - 1 - off) // s + 1) if size - 1 - off >= 0 else o0
    return lo, max(lo, hi)


@dataclass(frozen=True)
class _Box:
    """Output pixels ``ow in [w0, w0+bw)``, ``n in [n0, n0+bn)``, ``oh in [h0, h0+bh)``."""

    w0: int
    bw: int
    n0: int
    bn: int
    h0: int
    bh: int

    @property
    def rows(self) -> int:
        return self.bw * self.bn * self.bh


def _boxes(batch: int, oh: int, ow: int, cap: int) -> list[_Box]:
    if oh * ow <= cap:
        return [_Box(0, ow, n0, bn, 0, oh) for n0, bn in balanced(batch, cap // (oh * ow))]
    if oh <= cap:
        return [_Box(w0, bw, n, 1, 0, oh) for n in range(batch) for w0, bw in balanced(ow, cap // oh)]
    return [_Box(w, 1, n, 1, h0, bh) for n in range(batch) for w in range(ow) for h0, bh in balanced(oh, cap)]


@dataclass(frozen=True)
class _Geometry:
    h: int
    w: int
    c: int
    m: int
    oh: int
    ow: int
    sh: int
    sw: int
    dh: int
    dw: int
    pt: int
    pl: int


def _a_loads(cfg, geo: _Geometry, chunk: Chunk, box: _Box, base: int, zp_addr: int, x_zp: int):
    """``(descriptor, first row)`` of the loads of one chunk's A rows for ``box``."""
    hlo, hhi = _valid(box.h0, box.bh, geo.sh, chunk.ki * geo.dh - geo.pt, geo.h)
    hwc, row_pitch = geo.h * geo.w * geo.c, geo.w * geo.c

    def zp_rows(rows: int, at: int):
        return (desc(cfg, "padding input", zp_addr, (rows, 1), (0, 0), pad_after=(0, chunk.lanes - 1),
                     pad_value=x_zp), at)

    def window(ow0: int, cnt: int, kj: int, vec: int, before: tuple, after: tuple, at: int):
        ih, iw = hlo * geo.sh + chunk.ki * geo.dh - geo.pt, ow0 * geo.sw + kj * geo.dw - geo.pl
        d = desc(cfg, "input window", base + (box.n0 * geo.h + ih) * row_pitch + iw * geo.c + chunk.c0,
                 (cnt, box.bn, hhi - hlo, vec), (geo.sw * geo.c, hwc, geo.sh * row_pitch, 1),
                 pad_before=(before[0], 0, hlo - box.h0, before[1]),
                 pad_after=(after[0], 0, box.h0 + box.bh - hhi, after[1]), pad_value=x_zp)
        return d, at

    if chunk.taps == 1:
        wlo, whi = _valid(box.w0, box.bw, geo.sw, chunk.kj0 * geo.dw - geo.pl, geo.w)
        if hhi <= hlo or whi <= wlo:
            return [zp_rows(box.rows, 0)]
        return [window(wlo, whi - wlo, chunk.kj0, chunk.ct, (wlo - box.w0, 0), (box.w0 + box.bw - whi, 0), 0)]
    # several taps of one kernel row (dilation 1, one group): columns by their valid taps
    segments: list[list[int]] = []          # [first column, columns, first tap, end tap]
    for ow in range(box.w0, box.w0 + box.bw):
        lo = max(chunk.kj0, geo.pl - ow * geo.sw)
        hi = min(chunk.kj0 + chunk.taps, geo.w + geo.pl - ow * geo.sw)
        ka, kb = (lo, hi) if hi > lo else (0, 0)
        if segments and segments[-1][2:] == [ka, kb]:
            segments[-1][1] += 1
        else:
            segments.append([ow, 1, ka, kb])
    out, per_column = [], box.bn * box.bh
    for ow0, cnt, ka, kb in segments:
        at = (ow0 - box.w0) * per_column
        if hhi <= hlo or kb <= ka:
            out.append(zp_rows(cnt * per_column, at))
        else:
            out.append(window(ow0, cnt, ka, (kb - ka) * geo.c, (0, (ka - chunk.kj0) * geo.c),
                              (0, (chunk.kj0 + chunk.taps - kb) * geo.c), at))
    return out


def compile_conv2d(cfg: AcceleratorConfig, weight, bias, requant: RequantParams, *, batch: int,
                   in_shape: Sequence[int], x_addr: int, w_addr: int, out_addr: int, x_zp: int = 0,
                   stride=1, pads=0, dilation=1, groups: int = 1, w_zp=None,
                   tile: Tiling | None = None) -> LayerProgram:
    """Int8 convolution, channels last: ``x`` (batch, H, W, C) at ``x_addr`` (``in_shape``
    is the layer's ``(C, H, W)``), ``weight`` (M, C/groups, kh, kw) placed at ``w_addr``
    as :func:`conv2d_weight_image`, ``y`` (batch, OH, OW, M) at ``out_addr``. ``pads``
    ``(top, left, bottom, right)`` with the input zero point (by the DMA; nothing padded in
    DRAM); ``tile`` as :func:`~.linear.compile_linear`'s (its rows are output pixels). See
    the module docstring."""
    w = int8_array("weight", weight, 4, cfg)
    m, cg, kh, kw = w.shape
    try:
        c, h, wd = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise CompileError(f"in_shape={in_shape!r}: need (C, H, W)") from None
    check_groups(m, c, cg, groups)
    x_zp = input_zero_point(x_zp)
    check_wzp(w_zp, m)
    check_layer(cfg, requant, m, cg * kh * kw)
    batch = check_batch(batch)
    sh, sw = pair("stride", stride)
    dh, dw = pair("dilation", dilation)
    pt, pl, _, _ = _pads(pads)
    oh, ow = conv2d_output_shape((h, wd), (kh, kw), (sh, sw), pads, (dh, dw))
    groups = int(groups)
    mg = m // groups
    geo = _Geometry(h, wd, c, m, oh, ow, sh, sw, dh, dw, pt, pl)
    chunks = conv2d_chunks(cfg, cg, (kh, kw), groups, (dh, dw))
    image = conv2d_weight_image(cfg, w, x_zp, groups, (dh, dw))
    group_bytes = (len(image) - 1) // groups
    zp_addr = w_addr + len(image) - 1
    specs = []
    for g, mats in enumerate(_group_matrices(cfg, w, groups, (dh, dw))):
        full = np.concatenate(mats)
        bias_g = layer_bias(cfg, full, None if bias is None else
                            np.asarray(bias, dtype=object if cfg.is_float else None)[g * mg:(g + 1) * mg], x_zp)
        req_g = slice_params(requant, g * mg, (g + 1) * mg)
        x_g, y_g = x_addr + g * cg, out_addr + g * mg

        def a_loads(box, ci, x_g=x_g):
            return _a_loads(cfg, geo, chunks[ci], box, x_g, zp_addr, x_zp)

        def stores(box, n0, nt, y_g=y_g):
            base = y_g + ((box.n0 * oh + box.h0) * ow + box.w0) * m + n0
            return [(desc(cfg, "output tile", base, (box.bw, box.bn, box.bh, nt), (m, oh * ow * m, ow * m, 1)), 0)]

        specs.append(GemmSpec(n=mg, chunks=[ch.lanes for ch in chunks], w_addr=w_addr + g * group_bytes,
                              lanes=[lanes(cfg, req_g, bias_g, n0, min(cfg.cols, mg - n0))
                                     for n0 in range(0, mg, cfg.cols)],
                              boxes=lambda cap: _boxes(batch, oh, ow, cap), a_loads=a_loads, stores=stores))
    return choose(cfg, specs, image, (batch, m, oh, ow), batch * m * oh * ow * cg * kh * kw, batch * oh * ow, tile)
