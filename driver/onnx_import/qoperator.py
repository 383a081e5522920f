"""QOperator folding: onnxruntime's quantized operators, one stage each.

==================================  ===========================================  ============
node                                stage                                        runs on
==================================  ===========================================  ============
QLinearConv                         conv2d layer (bias, per-channel weights)     accelerator
QLinearMatMul (constant B)          linear layer                                 accelerator
com.microsoft QGemm (constant B)    linear layer (alpha, int32 C as bias)        accelerator
com.microsoft QLinearAdd            QLinearAdd                                   host
com.microsoft QLinearAveragePool    QLinearAveragePool                           host
com.microsoft QLinearGlobalAvgPool  QLinearGlobalAveragePool                     host
MaxPool (int8/uint8)                MaxPool                                      host (lower.py)
==================================  ===========================================  ============
"""

from __future__ import annotations

import numpy as np

from .accel import accelerator_layer
from .graph import MS_DOMAIN, QParams, node_error
from .host_ops import Add, AveragePool, GlobalAveragePool, Tensor
from .geometry import CONV_ATTRS, POOL_ATTRS, conv_attrs, pool_geometry
from .lower import Lowering, handler, per_tensor, qparams

__all__: list[str] = []


def _input(lw: Lowering, node, i: int, what: str) -> tuple[Tensor, QParams]:
    """Activation input ``i`` with its scale (``i+1``) and zero point (``i+2``)."""
    x = lw.activation(node, i)
    p = per_tensor(node, qparams(lw, node, i + 1, i + 2, default_dtype=x.dtype), what)
    if p.dtype != x.dtype:
        raise node_error(node, f"{what} zero point is {p.dtype}, the tensor '{x.name}' is {x.dtype}")
    return x, p


def _weight(lw: Lowering, node, i: int, axis: int, n: int) -> tuple[np.ndarray, QParams]:
    w = lw.graph.const(node, i, "weight")
    p = qparams(lw, node, i + 1, i + 2, axis=axis, default_dtype=w.dtype.name)
    if p.scale.size not in (1, n):
        raise node_error(node, f"weight scale has {p.scale.size} values, need 1 or {n} (one per "
                         "output channel)")
    if p.zero_point.dtype != w.dtype:
        raise node_error(node, f"weight zero point is {p.zero_point.dtype}, the weight {w.dtype}")
    return w, p


def _output(lw: Lowering, node, i: int, x: Tensor) -> QParams:
    return per_tensor(node, qparams(lw, node, i, i + 1, default_dtype=x.dtype), "the output")


def _emit_layer(lw: Lowering, node, kind: str, x, xp, w, wp, bias, yp, out_shape, **kw) -> None:
    name = node.name or node.output[0]
    lw.set(node, lw.emit([accelerator_layer(lw.err(node), name, node.op_type, kind, x=x, x_params=xp,
                                            weight=w, w_params=wp, bias=bias, y_params=yp,
                                            out=node.output[0], out_shape=out_shape, **kw)]))


def _int32_bias(node, b: np.ndarray | None, n: int) -> np.ndarray | None:
    if b is None:
        return None
    if b.dtype != np.int32 or b.size not in (1, n) or (b.ndim == 2 and b.shape[0] != 1) or b.ndim > 2:
        raise node_error(node, f"bias is {b.dtype} {list(b.shape)}: need int32 with one value per output "
                         f"channel ({n})")
    return np.broadcast_to(b.reshape(-1), (n,)).astype(np.int32)


@handler("QLinearConv")
def _qlinear_conv(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, CONV_ATTRS)
    x, xp = _input(lw, node, 0, "x")
    w = lw.graph.const(node, 3, "weight")
    geometry, out_shape = conv_attrs(node, a, x.shape, w.shape)
    w, wp = _weight(lw, node, 3, 0, w.shape[0])
    yp = _output(lw, node, 6, x)
    bias = _int32_bias(node, lw.graph.const(node, 8, "bias", optional=True), w.shape[0])
    _emit_layer(lw, node, "conv2d", x, xp, w, wp, bias, yp, out_shape, conv=geometry)


def _linear_input(node, x: Tensor, k: int) -> None:
    if x.shape != (k,):
        raise node_error(node, f"input per sample {list(x.shape)}: need ({k},) (a 2-D (batch, features) "
                         "input)")


@handler("QLinearMatMul")
def _qlinear_matmul(lw: Lowering, node) -> None:
    lw.graph.attrs(node, {})
    x, xp = _input(lw, node, 0, "a")
    w = lw.graph.const(node, 3, "b (the weight)")
    if w.ndim != 2:
        raise node_error(node, f"b has shape {list(w.shape)}: need a 2-D constant (K, N)")
    _linear_input(node, x, w.shape[0])
    w, wp = _weight(lw, node, 3, 1, w.shape[1])
    yp = _output(lw, node, 6, x)
    _emit_layer(lw, node, "linear", x, xp, w, wp, None, yp, (w.shape[1],))


@handler("QGemm", domain=MS_DOMAIN)
def _qgemm(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {"alpha": 1.0, "transA": 0, "transB": 0})
    if a["transA"] or not a["alpha"] > 0:
        raise node_error(node, f"transA={a['transA']}, alpha={a['alpha']}: allowed transA=0, alpha > 0")
    x, xp = _input(lw, node, 0, "A")
    w = lw.graph.const(node, 3, "B (the weight)")
    if w.ndim != 2:
        raise node_error(node, f"B has shape {list(w.shape)}: need a 2-D constant")
    n = w.shape[0] if a["transB"] else w.shape[1]
    w, wp = _weight(lw, node, 3, 0 if a["transB"] else 1, n)
    wk = np.ascontiguousarray(w.T if a["transB"] else w)
    _linear_input(node, x, wk.shape[0])
    if len(node.input) < 8 or not node.input[7]:
        raise node_error(node, "no y_scale: a float output (QGemm without requantization) is not supported")
    yp = _output(lw, node, 7, x)
    bias = _int32_bias(node, lw.graph.const(node, 6, "C", optional=True), n)
    _emit_layer(lw, node, "linear", x, xp, wk, wp, bias, yp, (n,), alpha=float(a["alpha"]))


def _same_type(node, *params: QParams) -> None:
    if len({p.dtype for p in params}) != 1:
        raise node_error(node, f"inputs and output of types {sorted({p.dtype for p in params})}: need one type")


@handler("QLinearAdd", domain=MS_DOMAIN)
def _qlinear_add(lw: Lowering, node) -> None:
    lw.graph.attrs(node, {})
    a, ap = _input(lw, node, 0, "A")
    b, bp = _input(lw, node, 3, "B")
    if a.shape != b.shape:
        raise node_error(node, f"inputs of shapes {list(a.shape)} and {list(b.shape)} per sample: "
                         "broadcasting is not supported (residual add of equal shapes)")
    yp = _output(lw, node, 6, a)
    _same_type(node, ap, bp, yp)
    lw.set(node, lw.emit([Add(node.name or node.output[0], node.op_type, (a.name, b.name),
                              Tensor(node.output[0], a.shape, yp.dtype, yp), ap, bp, yp)]))


@handler("QLinearAveragePool", domain=MS_DOMAIN)
def _qlinear_average_pool(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {**POOL_ATTRS, "count_include_pad": 0, "channels_last": 0})
    x, xp = _input(lw, node, 0, "X")
    kernel, strides, pads, _, out_shape = pool_geometry(node, a, x.shape, dilated=False)
    yp = _output(lw, node, 3, x)
    _same_type(node, xp, yp)
    lw.set(node, lw.emit([AveragePool(node.name or node.output[0], node.op_type, (x.name,),
                                      Tensor(node.output[0], out_shape, yp.dtype, yp), xp, yp, kernel,
                                      strides, pads, int(a["count_include_pad"]))]))


@handler("QLinearGlobalAveragePool", domain=MS_DOMAIN)
def _qlinear_global_average_pool(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {"channels_last": 0})
    if a["channels_last"]:
        raise node_error(node, "channels_last=1 is not supported (NCHW only)")
    x, xp = _input(lw, node, 0, "X")
    if len(x.shape) != 3:
        raise node_error(node, f"input per sample {list(x.shape)}: allowed (C, H, W)")
    yp = _output(lw, node, 3, x)
    _same_type(node, xp, yp)
    out_shape = (x.shape[0], 1, 1)
    lw.set(node, lw.emit([GlobalAveragePool(node.name or node.output[0], node.op_type, (x.name,),
                                            Tensor(node.output[0], out_shape, yp.dtype, yp), xp, yp)]))
