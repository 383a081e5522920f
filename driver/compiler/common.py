"""What every part of the compiler shares: the error, argument checks, the input zero-point
fold, requantization lanes and checked DMA descriptors."""

from __future__ import annotations

import dataclasses

import numpy as np

from ...model.config import AcceleratorConfig
from ...model.dma import PAD_RANGE, SIZE_RANGE, STRIDE_RANGE, TensorDescriptor
from ...model.numerics import RequantParams, wrap_int32
from ...model.requant import lane_fields
from ...model.requant_fp8 import Fp8RequantParams, fp8_lane_fields

__all__ = ["CompileError", "DRAM_ALIGN", "MAX_COUNT", "MAX_PRODUCT", "fold_input_zero_point",
           "check_layer", "check_wzp", "check_batch", "int8_array", "input_zero_point", "pair", "pads",
           "check_groups", "slice_params", "lanes", "desc"]

#: Alignment of every DRAM region the compiler allocates (bytes).
DRAM_ALIGN = 64
#: Largest ``count`` of one COMPUTE command.
MAX_COUNT = (1 << 16) - 1
#: Largest magnitude of one int8 x int8 product (-128 * -128).
MAX_PRODUCT = 1 << 14


class CompileError(ValueError):
    """A layer the configuration cannot run; the message names the limit. Raised before
    anything runs."""


def int8_array(name: str, a, ndim: int, cfg: AcceleratorConfig | None = None) -> np.ndarray:
    """An 8-bit operand tensor: int8 values, or (FP8 configurations, and weight images
    without a configuration) uint8 FP8 codes."""
    a = np.asarray(a)
    allowed = ("int8",) if cfg is not None and not cfg.is_float else \
        ("uint8",) if cfg is not None else ("int8", "uint8")
    if a.dtype.name not in allowed or a.ndim != ndim:
        what = "int8" if allowed == ("int8",) else "uint8 FP8 codes" if cfg is not None else "int8 (or uint8 FP8 codes)"
        raise CompileError(f"{name}: need {what} with {ndim} dimensions, got {a.dtype} {a.shape}")
    return a


def input_zero_point(x_zp) -> int:
    if isinstance(x_zp, bool) or not isinstance(x_zp, (int, np.integer)) or not -128 <= x_zp <= 127:
        raise CompileError(f"x_zp={x_zp!r}: the input zero point must be an int8 value, allowed -128..127")
    return int(x_zp)


def check_batch(batch) -> int:
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise CompileError(f"batch={batch!r}: must be an integer >= 1")
    return int(batch)


def fold_input_zero_point(weight_kn: np.ndarray, bias, x_zp: int) -> np.ndarray:
    """``bias'[n] = bias[n] - x_zp * sum_k W[k, n]`` (int32 wrap): with it, the raw
    ``sum_k x*w`` of the array plus ``bias'`` equals ``sum_k (x - x_zp)*w + bias``
    modulo 2^32 (TFLite/gemmlowp's zero-point folding for symmetric weights)."""
    w = np.asarray(weight_kn, dtype=np.int64)
    n = w.shape[1]
    b = np.zeros(n, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    if b.ndim == 0:
        b = np.full(n, int(b), dtype=np.int64)
    if b.shape != (n,):
        raise CompileError(f"bias: need a scalar or {n} values (one per output channel), got shape {b.shape}")
    if b.size and (b.min() < -(1 << 31) or b.max() >= 1 << 31):
        raise CompileError("bias: values out of int32 range")
    return wrap_int32(b - x_zp * w.sum(axis=0)).astype(np.int32)


def check_layer(cfg: AcceleratorConfig, requant, n: int, k: int) -> None:
    if cfg.is_float:
        _check_fp8_layer(cfg, requant, n, k)
        return
    if not isinstance(requant, RequantParams):
        raise CompileError(f"requant: need a RequantParams, got {type(requant).__name__}")
    if requant.channels not in (None, n):
        raise CompileError(f"requant: {requant.channels} channels, the layer has {n} output channels")
    if cfg.acc_bits < 32 and k * MAX_PRODUCT > (1 << (cfg.acc_bits - 1)) - 1:
        raise CompileError(f"acc_bits={cfg.acc_bits}: a reduction over K={k} int8 products can "
                           f"reach {k * MAX_PRODUCT} and wrap; need K <= "
                           f"{((1 << (cfg.acc_bits - 1)) - 1) // MAX_PRODUCT} or acc_bits >= 32")


def _check_fp8_layer(cfg: AcceleratorConfig, requant, n: int, k: int) -> None:
    """FP8 configurations: an :class:`Fp8RequantParams` with an 8-bit output (the lanes
    have no FP32 output), and a reduction that always sums exactly."""
    if not isinstance(requant, Fp8RequantParams):
        raise CompileError(f"requant: need an Fp8RequantParams for input_type={cfg.input_type!r}, "
                           f"got {type(requant).__name__}")
    if requant.out_type == "fp32":
        raise CompileError("requant: out_type='fp32' is golden-model only, allowed fp8_e4m3, fp8_e5m2, "
                           "int8, uint8")
    if requant.channels not in (None, n):
        raise CompileError(f"requant: {requant.channels} channels, the layer has {n} output channels")
    if k > cfg.exact_terms:
        raise CompileError(f"acc_bits={cfg.acc_bits}: a reduction over K={k} FP8 products can wrap; "
                           f"need K <= exact_terms={cfg.exact_terms} or a wider acc_bits")


def layer_bias(cfg: AcceleratorConfig, weight_kn: np.ndarray, bias, x_zp: int) -> np.ndarray:
    """Per output channel, the bias the lanes add: int8, the int32 bias with the input
    zero point folded in (:func:`fold_input_zero_point`); FP8, the bias as given, in
    accumulator units (:func:`~systolica.model.requant_fp8.fixed_bias`; FP8 has no zero
    point)."""
    if not cfg.is_float:
        return fold_input_zero_point(weight_kn, bias, x_zp)
    if x_zp != 0:
        raise CompileError(f"x_zp={x_zp}: FP8 inputs have no zero point, allowed 0")
    n = weight_kn.shape[1]
    b = np.zeros(n, dtype=object) if bias is None else np.asarray(bias, dtype=object)
    if b.ndim == 0:
        b = np.full(n, b.item(), dtype=object)
    if b.shape != (n,):
        raise CompileError(f"bias: need a scalar or {n} values (one per output channel), got shape {b.shape}")
    return b


def check_wzp(w_zp, n: int) -> None:
    if w_zp is not None and np.any(np.asarray(w_zp) != 0):
        raise CompileError("weight_zero_point: must be 0 (symmetric weights); a nonzero weight zero "
                           "point needs a per-row input sum the array does not compute")


def pair(name: str, v) -> tuple[int, int]:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(t) != 2 or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 1 for i in t):
        raise CompileError(f"{name}={v!r}: need one or two integers >= 1")
    return int(t[0]), int(t[1])


def pads(v) -> tuple[int, int, int, int]:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,) * 4
    if len(t) == 2:
        t = (t[0], t[1], t[0], t[1])
    if len(t) != 4 or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0 for i in t):
        raise CompileError(f"pads={v!r}: need (top, left, bottom, right) integers >= 0")
    return tuple(int(i) for i in t)


def check_groups(m: int, c: int | None, cg: int, groups) -> None:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise CompileError(f"groups={groups!r}: must be an integer >= 1")
    if m % groups or (c is not None and (c % groups or cg != c // groups)):
        raise CompileError(f"groups={groups}: weight has {m} output channels and {cg} input channels "
                           f"per group, input {c} channels; need M % groups == 0, C % groups == 0 "
                           "and weight.shape[1] == C / groups")


def slice_params(p, lo: int, hi: int):
    if isinstance(p, Fp8RequantParams):
        return dataclasses.replace(p, scale=p.scale[lo:hi]) if isinstance(p.scale, tuple) else p
    changes = {k: getattr(p, k)[lo:hi] for k in p._fields() if isinstance(getattr(p, k), tuple)}
    return dataclasses.replace(p, **changes) if changes else p


def lanes(cfg: AcceleratorConfig, requant, bias: np.ndarray, n0: int, nt: int) -> list[dict]:
    """The requantization fields of output channels ``n0 .. n0+nt-1`` (lanes ``0 .. nt-1``)."""
    params = slice_params(requant, n0, n0 + nt)
    if cfg.is_float:
        try:
            return fp8_lane_fields(cfg, params, bias[n0:n0 + nt])[:nt]
        except ValueError as e:
            raise CompileError(str(e)) from None
    return lane_fields(params, cfg.cols, bias[n0:n0 + nt])[:nt]


def _check_extent(cfg: AcceleratorConfig, name: str, d: TensorDescriptor) -> None:
    top = 1 << cfg.addr_bits
    lo, hi = d.extent
    if lo < 0 or hi > top:
        raise CompileError(f"{name}: bytes {lo:#x}..{hi - 1:#x} lie beyond addr_bits={cfg.addr_bits} "
                           f"(DRAM addresses 0..{top - 1:#x})")


def desc(cfg: AcceleratorConfig, name: str, base: int, sizes, strides, **kw) -> TensorDescriptor:
    """A byte-element descriptor, every field checked (a :class:`CompileError` names it)."""
    for s in sizes:
        if not SIZE_RANGE[0] <= s <= SIZE_RANGE[1]:
            raise CompileError(f"{name}: a DMA dimension of {s} elements, allowed {SIZE_RANGE[0]}..{SIZE_RANGE[1]}")
    for s in strides:
        if not STRIDE_RANGE[0] <= s <= STRIDE_RANGE[1]:
            raise CompileError(f"{name}: a DMA stride of {s} bytes, allowed int32")
    for p in (*kw.get("pad_before", ()), *kw.get("pad_after", ())):
        if not PAD_RANGE[0] <= p <= PAD_RANGE[1]:
            raise CompileError(f"{name}: DMA padding of {p} elements in one dimension, allowed "
                               f"{PAD_RANGE[0]}..{PAD_RANGE[1]}")
    if base < 0 or base >= 1 << cfg.addr_bits:
        raise CompileError(f"{name}: base {base:#x} beyond addr_bits={cfg.addr_bits}")
    d = TensorDescriptor(base, tuple(sizes), tuple(strides), 1, **kw)
    _check_extent(cfg, name, d)
    return d
