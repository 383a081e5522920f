"""ONNX operators on FP8 tensors: QuantizeLinear, DequantizeLinear, Cast (ONNX semantics).

Built on :mod:`.fp8` (ml_dtypes underneath) and checked against the ONNX backend node
vectors shipped with ``onnx==1.22.0`` and against onnxruntime (``tests/``):

- ``QuantizeLinear`` to FP8: ``x / y_scale`` in the inputs' float type (numpy division,
  round to nearest even), then a cast to FP8, saturating (ONNX ``saturate=1``, the
  default: beyond the largest finite value and infinities give it, NaN stays NaN) or not
  (E4M3: NaN, E5M2: infinity). The zero point must be 0 (ONNX).
- ``DequantizeLinear`` from FP8: ``float32(x) * x_scale`` (exact FP8 decode, one multiply
  in float32, or the scale's type when wider), the result in ``x_scale``'s dtype.
- ``Cast`` / ``CastLike`` between float16/float32 and FP8 (both directions).

FP8 tensors are ml_dtypes arrays (``float8_e4m3fn``, ``float8_e5m2``), as onnx's
``numpy_helper`` gives them.
"""

from __future__ import annotations

import numpy as np

from . import fp8
from .numerics import NumericsError
from .onnx_ops import _per_axis

__all__ = ["fp8_type_of", "quantize_linear_fp8", "dequantize_linear_fp8", "cast"]

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def fp8_type_of(dtype) -> str | None:
    """Configuration name of an ml_dtypes FP8 dtype (``fp8_e4m3``, ``fp8_e5m2``), else None."""
    for name in fp8.FP8_TYPES:
        if np.dtype(dtype) == fp8.np_dtype(name):
            return name
    return None


def _fp8_name(name: str, dtype) -> str:
    t = fp8_type_of(dtype)
    if t is None:
        raise NumericsError(f"{name}: dtype {np.dtype(dtype)} is not FP8, allowed "
                            f"{[str(fp8.np_dtype(n)) for n in fp8.FP8_TYPES]}")
    return t


def _zero_point_is_zero(name: str, zp) -> None:
    if zp is not None and np.any(np.asarray(zp).view(np.uint8) & 0x7F):
        raise NumericsError(f"{name}: must be 0 for FP8 (ONNX), got {np.asarray(zp)!r}")


def _float(name: str, x) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype not in _FLOATS:
        raise NumericsError(f"{name}: dtype {x.dtype} not supported, allowed float16, float32 or float64")
    return x


def quantize_linear_fp8(x, y_scale, y_zero_point=None, *, axis: int = 1, saturate: bool = True,
                        output_dtype=None) -> np.ndarray:
    """ONNX QuantizeLinear to FP8; the type is the zero point's dtype, else ``output_dtype``."""
    x, scale = _float("x", x), _float("y_scale", y_scale)
    if y_zero_point is not None:
        t = _fp8_name("y_zero_point", np.asarray(y_zero_point).dtype)
        if output_dtype is not None and fp8_type_of(output_dtype) != t:
            raise NumericsError(f"output_dtype={output_dtype!r} does not match y_zero_point's {t}")
    elif output_dtype is not None:
        t = _fp8_name("output_dtype", output_dtype)
    else:
        raise NumericsError("y_zero_point or output_dtype: one must give the FP8 type")
    _zero_point_is_zero("y_zero_point", y_zero_point)
    scale = _per_axis("y_scale", scale, x.shape, axis)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        f = x / scale
    return fp8.cast_to_fp8(f, t, saturate)


def dequantize_linear_fp8(x, x_scale, x_zero_point=None, *, axis: int = 1) -> np.ndarray:
    """ONNX DequantizeLinear from FP8: ``float32(x) * x_scale`` in ``x_scale``'s dtype."""
    x = np.asarray(x)
    _fp8_name("x", x.dtype)
    scale = _float("x_scale", x_scale)
    _zero_point_is_zero("x_zero_point", x_zero_point)
    scale = _per_axis("x_scale", scale, x.shape, axis)
    with np.errstate(over="ignore", invalid="ignore"):
        y = x.astype(np.float32) * scale
    return y.astype(scale.dtype)


def cast(x, to, *, saturate: bool = True) -> np.ndarray:
    """ONNX Cast between float16/float32/float64 and FP8 (``to``: a numpy/ml_dtypes dtype)."""
    x, to = np.asarray(x), np.dtype(to)
    t = fp8_type_of(to)
    if t is not None:
        return fp8.cast_to_fp8(_float("x", x), t, saturate)
    _fp8_name("x", x.dtype)
    if to not in _FLOATS:
        raise NumericsError(f"to: dtype {to} not supported from FP8, allowed float16, float32 or float64")
    return x.astype(to)  # exact: every FP8 value is a float16
