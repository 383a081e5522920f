"""Partial-sum elements: what the array produces and the accumulator holds, for every type.

An element is one signed integer of ``cfg.acc_elem_bits`` bits (the format is
:attr:`AcceleratorConfig.acc_format`):

- ``int8``: the sum itself, two's complement at ``acc_bits`` (no flags).
- FP8: ``sum * 2**flag_bits + flags``: the exact fixed-point sum (``sum * 2**-frac_bits``
  is its value; it wraps at ``acc_bits``) with the special-value flags of
  :mod:`.fp8` in the low bits (E4M3: ``nan``; E5M2 and mixed: ``nan``, ``pos_inf``,
  ``neg_inf``).

:func:`acc_layout` is the same thing as an Amaranth layout (the hardware's partial-sum
shape); as a signed integer, the layout's bits are exactly the element. Elements are numpy
int64 arrays for int8 and object arrays of Python ints for FP8 (they reach 131 bits).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import signed
from amaranth.lib import data

from . import fp8
from .config import AcceleratorConfig

__all__ = ["acc_layout", "wrap", "pack", "unpack", "add", "matmul", "values", "as_element",
           "to_fields", "check_operand"]


def acc_layout(cfg: AcceleratorConfig):
    """Shape of one partial sum: ``signed(acc_bits)`` (int8), or a struct of the flags
    (low bits, one bit each) and ``sum`` (``signed(acc_bits)``)."""
    fmt = cfg.acc_format
    if not fmt.flag_bits:
        return signed(fmt.sum_bits)
    return data.StructLayout({**{name: 1 for name in fmt.flag_names}, "sum": signed(fmt.sum_bits)})


def wrap(x, bits: int) -> np.ndarray:
    """Integers wrapped to signed ``bits``-bit two's complement, exactly: int64 for
    ``bits <= 64``, else an object array of Python ints."""
    x = np.asarray(x)
    mod, half = 1 << bits, 1 << (bits - 1)
    if x.dtype == object or bits > 64:
        out = ((x.astype(object) + half) % mod) - half
        return out if bits > 64 else out.astype(np.int64)
    if bits == 64:
        return x.astype(np.int64)
    x = x.astype(np.int64)
    return ((x + half) & (mod - 1)) - half


def pack(cfg: AcceleratorConfig, sums, flags=None) -> np.ndarray:
    """Elements from exact (unwrapped) sums and flags: the sums wrap at ``acc_bits``."""
    fmt = cfg.acc_format
    s = wrap(sums, fmt.sum_bits)
    if not fmt.flag_bits:
        return s
    f = np.zeros(s.shape, np.uint8) if flags is None else np.asarray(flags, np.uint8)
    if f.size and int(f.max(initial=0)) >> fmt.flag_bits:
        raise fp8.Fp8Error(f"flags: {int(f.max())} has a flag this format lacks ({fmt.flag_names})")
    return np.asarray(s, dtype=object) * (1 << fmt.flag_bits) + f.astype(object)


def unpack(cfg: AcceleratorConfig, elements) -> tuple[np.ndarray, np.ndarray]:
    """``(sums, flags)`` of elements (flags all 0 for int8)."""
    fmt = cfg.acc_format
    e = np.asarray(elements)
    if not fmt.flag_bits:
        return wrap(e, fmt.sum_bits), np.zeros(e.shape, np.uint8)
    e = e.astype(object)
    return e >> fmt.flag_bits, (e & ((1 << fmt.flag_bits) - 1)).astype(np.uint8)


def add(cfg: AcceleratorConfig, x, y) -> np.ndarray:
    """Partial sums added as the accumulator adds them: sums wrap at ``acc_bits``, flags OR."""
    sx, fx = unpack(cfg, x)
    sy, fy = unpack(cfg, y)
    return pack(cfg, np.asarray(sx, dtype=object) + sy if cfg.is_float else sx + sy, fx | fy)


def check_operand(cfg: AcceleratorConfig, name: str, x, shape: tuple[int | None, ...], which: str = "a"):
    """Operands as int64: int8 values, or 8-bit FP8 codes (``0..255`` or the signed byte
    view ``-128..127``, taken as the same bits)."""
    x = np.asarray(x)
    if x.ndim != len(shape) or any(s is not None and s != d for s, d in zip(shape, x.shape)):
        raise ValueError(f"{name}: shape {x.shape} does not match {shape} (None = any)")
    t = cfg.a_type if which == "a" else cfg.w_type
    if t.is_float:
        return fp8.as_codes(x).astype(np.int64)
    lo, hi = -(1 << (t.bits - 1)), (1 << (t.bits - 1)) - 1
    if x.size and (x.min() < lo or x.max() > hi):
        raise ValueError(f"{name}: values outside {t.name} range {lo}..{hi}")
    return x.astype(np.int64)


def matmul(cfg: AcceleratorConfig, a, b) -> np.ndarray:
    """Elements of ``A @ B`` (``a`` of ``input_type``, ``b`` of ``weight_type``): the exact
    sums wrapped at ``acc_bits``, with the products' flags."""
    if not cfg.is_float:
        # int8 operands and K <= 2**32 cannot overflow int64
        return wrap(np.asarray(a, np.int64) @ np.asarray(b, np.int64), cfg.acc_bits)
    sums, flags = fp8.matmul_fixed(a, b, cfg.input_type, cfg.weight_type)
    return pack(cfg, sums, flags)


def values(cfg: AcceleratorConfig, elements) -> np.ndarray:
    """Exact values of elements: ints (int8), or ``Fraction``/``nan``/``+-inf`` (FP8)."""
    sums, flags = unpack(cfg, elements)
    if not cfg.is_float:
        return sums
    return fp8.resolve(sums, flags, cfg.acc_format.frac_bits)


def as_element(cfg: AcceleratorConfig, v) -> int:
    """One element from an unpacked :func:`acc_layout` value (a dict of fields, as
    :func:`systolica.model.bits.unpack` gives it) or an int."""
    if isinstance(v, dict):
        fmt = cfg.acc_format
        flags = sum(int(v[name]) << i for i, name in enumerate(fmt.flag_names))
        return int(v["sum"]) * (1 << fmt.flag_bits) + flags
    return int(v)


def to_fields(cfg: AcceleratorConfig, element: int):
    """The inverse of :func:`as_element`: a dict of :func:`acc_layout` fields (FP8), or the
    int itself (int8), for :func:`systolica.model.bits.pack`."""
    fmt = cfg.acc_format
    if not fmt.flag_bits:
        return int(element)
    element = int(element)
    fields = {name: (element >> i) & 1 for i, name in enumerate(fmt.flag_names)}
    fields["sum"] = element >> fmt.flag_bits
    return fields
