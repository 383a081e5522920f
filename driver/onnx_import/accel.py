"""What the accelerator runs: a quantized Conv / MatMul / Gemm as a compiler layer.

:func:`accelerator_layer` turns one ONNX quantized node (QLinearConv, QLinearMatMul,
com.microsoft QGemm, or the QDQ pattern DequantizeLinear -> Conv/MatMul/Gemm [-> Relu/Clip]
-> QuantizeLinear) into a :class:`~systolica.driver.models.QConv2d` or
:class:`~systolica.driver.models.QLinear` -- the layers :func:`~systolica.driver.compiler.
compile_network` takes -- with onnxruntime's requantization (``"onnx"`` scheme, the float32
effective scale ``float32(float32(alpha * x_scale * w_scale) / y_scale)``, round half to
even), the int32 bias, and a folded Relu/Clip as the requantizer's clamp.

**uint8 activations.** The array multiplies int8. A uint8 tensor ``q`` with zero point ``z``
is carried as the int8 tensor ``q - 128`` with zero point ``z - 128`` (the byte with its top
bit flipped): ``q - z`` is unchanged, so the accumulator is; the requantizer writes
``y - 128`` with zero point, clamp and saturation bounds all moved by -128, exactly
``y - 128``. The host flips the bit where a tensor enters or leaves the accelerator
(:func:`to_accelerator`, :func:`from_accelerator`).

**Weights** must be symmetric: int8 with zero point 0, or uint8 with zero point 128 (then
``w - 128`` is the int8 weight); anything else is an :class:`~.graph.OnnxImportError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union

import numpy as np

from ...model.numerics import NumericsError, OUTPUT_TYPES, RequantParams
from ..models import QConv2d, QLinear, run_layer
from .graph import QParams
from .host_ops import Stage, Tensor, as_int8, as_uint8

__all__ = ["AcceleratorLayer", "accelerator_layer", "to_accelerator", "from_accelerator",
           "symmetric_int8_weight"]

UINT8_OFFSET = 128


def to_accelerator(x: np.ndarray) -> np.ndarray:
    """int8 as is; uint8 ``q`` as the int8 ``q - 128`` (top bit flipped)."""
    return as_int8(x)


def from_accelerator(y: np.ndarray, dtype: str) -> np.ndarray:
    """The inverse of :func:`to_accelerator` for a tensor whose ONNX type is ``dtype``."""
    return as_uint8(y) if dtype == "uint8" else y


def _offset(dtype: str) -> int:
    return UINT8_OFFSET if dtype == "uint8" else 0


@dataclass
class AcceleratorLayer(Stage):
    """A Conv/MatMul/Gemm on the accelerator. ``layer`` is in the int8 domain (see the
    module docstring); ``in_dtype``/``out_dtype`` are the ONNX tensor types; ``clamp``
    names the folded activation (``""``, ``"Relu"``, ``"Clip"``)."""

    layer: Union[QConv2d, QLinear]
    in_dtype: str
    out_dtype: str
    clamp: str = ""
    where: ClassVar[str] = "accelerator"

    @property
    def macs(self) -> int:
        """Multiply-accumulates per sample."""
        layer = self.layer
        if layer.kind == "linear":
            return int(np.prod(layer.weight.shape))
        return int(np.prod(layer.out_shape)) * int(np.prod(layer.weight.shape[1:]))

    def run(self, env):
        """The layer math (golden integer functions, no program): the ``reference`` backend."""
        x = to_accelerator(env[self.inputs[0]])
        y = run_layer(self.layer, x.reshape(len(x), *self.layer.in_shape))
        return from_accelerator(y, self.out_dtype)

    def describe(self):
        layer = self.layer
        geo = f" stride {layer.strides} pads {layer.pads}" if layer.kind == "conv2d" else ""
        if layer.kind == "conv2d" and layer.dilations != (1, 1):
            geo += f" dilation {layer.dilations}"
        if layer.kind == "conv2d" and layer.groups != 1:
            geo += f" groups {layer.groups}"
        act = f" + {self.clamp}" if self.clamp else ""
        return f"{layer.kind} w {layer.weight.shape}{geo}{act}"


def symmetric_int8_weight(node_error, w: np.ndarray, zp: np.ndarray) -> np.ndarray:
    """``w`` as int8 with zero point 0, or an error naming the node."""
    w, zp = np.asarray(w), np.asarray(zp)
    if w.dtype == np.int8 and zp.dtype == np.int8 and np.all(zp == 0):
        return w
    if w.dtype == np.uint8 and zp.dtype == np.uint8 and np.all(zp == UINT8_OFFSET):
        return (w.astype(np.int16) - UINT8_OFFSET).astype(np.int8)
    zps = sorted(set(np.asarray(zp).ravel().tolist()))[:4]
    raise node_error(f"weight is {w.dtype} with zero point {zps}: the accelerator needs symmetric "
                     "int8 weights (int8 with zero point 0, or uint8 with zero point 128); quantize "
                     "with weight_type=QuantType.QInt8 (symmetric by default)")


def _channel_scale(node_error, scale: np.ndarray, n: int, what: str) -> np.ndarray:
    s = np.asarray(scale, dtype=np.float32).reshape(-1)
    if s.size == 1:
        return np.full(n, s[0], dtype=np.float32)
    if s.size != n:
        raise node_error(f"{what} has {s.size} values, the layer has {n} output channels")
    return s


def _effective_scale(node_error, x_s, w_s: np.ndarray, y_s, alpha: float) -> np.ndarray:
    """onnxruntime's float32 ``alpha * x_scale * w_scale[c] / y_scale`` (QGemm's order;
    alpha 1 gives QLinearConv's and QLinearMatMul's ``x_scale * w_scale[c] / y_scale``)."""
    f = np.float32
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        s = np.multiply(f(alpha) * f(x_s), w_s, dtype=np.float32)
        s = np.divide(s, f(y_s), dtype=np.float32)
    if not np.all(np.isfinite(s) & (s > 0)):
        raise node_error(f"effective scale alpha * x_scale * w_scale / y_scale = {s.ravel()[:4].tolist()}: "
                         "must be positive and finite in float32")
    return s


def accelerator_layer(node_error, node: str, op: str, kind: str, *, x: Tensor, x_params: QParams,
                      weight: np.ndarray, w_params: QParams, bias: np.ndarray | None,
                      y_params: QParams, out: str, out_shape: tuple[int, ...],
                      clamp: tuple[int, int] | None = None, clamp_name: str = "", alpha: float = 1.0,
                      conv: dict | None = None) -> AcceleratorLayer:
    """One accelerator layer (see the module docstring).

    ``weight``: ``(K, N)`` for ``kind="linear"``, ``(M, C/groups, kh, kw)`` for
    ``"conv2d"`` (then ``conv`` holds ``strides``, ``pads`` (top, left, bottom, right),
    ``dilations``, ``groups``); ``w_params`` per tensor or per output channel; ``bias``
    int32 per output channel or None; ``clamp`` ``(qmin, qmax)`` in ``y``'s type (a folded
    Relu/Clip). ``node_error(reason)`` makes the error that names the node."""
    w = symmetric_int8_weight(node_error, weight, w_params.zero_point)
    n = w.shape[1] if kind == "linear" else w.shape[0]
    w_scale = _channel_scale(node_error, w_params.scale, n, "weight scale")
    x_s, y_s = x_params.scale.reshape(()), y_params.scale.reshape(())
    eff = _effective_scale(node_error, x_s, w_scale, y_s, alpha)
    lo, hi, _ = OUTPUT_TYPES[y_params.dtype]
    if clamp is not None:
        lo, hi = max(lo, clamp[0]), min(hi, clamp[1])
        if lo > hi:
            raise node_error(f"the folded {clamp_name or 'clamp'} leaves no output value "
                             f"(quantized bounds {clamp[0]}..{clamp[1]})")
    y_off, x_off = _offset(y_params.dtype), _offset(x_params.dtype)
    y_zp = int(y_params.zero_point.reshape(())) - y_off
    per_channel = not np.all(eff == eff[0])
    try:
        requant = RequantParams.from_onnx_scale(eff if per_channel else eff[0], y_zp, "int8",
                                                qmin=lo - y_off, qmax=hi - y_off)
    except NumericsError as e:
        raise node_error(f"requantization: {e}") from None
    b = np.zeros(n, np.int32) if bias is None else np.asarray(bias, dtype=np.int32).reshape(n)
    common = dict(weight=w, weight_zero_point=np.zeros(n, np.int8), bias=b,
                  input_zero_point=int(x_params.zero_point.reshape(())) - x_off, requant=requant,
                  activation=clamp_name.lower() or "none", in_shape=tuple(x.shape), out_shape=tuple(out_shape),
                  input_scale=float(x_s), weight_scale=w_scale, output_scale=float(y_s))
    try:
        layer = QConv2d(**common, **conv) if kind == "conv2d" else QLinear(**common)
    except ValueError as e:
        raise node_error(str(e)) from None
    output = Tensor(out, tuple(out_shape), y_params.dtype, y_params)
    return AcceleratorLayer(node, op, (x.name,), output, layer, x_params.dtype, y_params.dtype, clamp_name)

