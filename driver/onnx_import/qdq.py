"""QDQ folding: ``DequantizeLinear -> op [-> Relu/Clip] -> QuantizeLinear`` to one stage.

onnxruntime's QDQ transformer fuses these patterns into its quantized kernels, and the
stages here are exactly those kernels:

=======================================  =========================================  ============
pattern (float op between DQ and Q)      onnxruntime fuses it into                  runs on
=======================================  =========================================  ============
Conv (+ Relu/Clip)                       QLinearConv                                accelerator
MatMul with a constant B (+ Relu/Clip)   QLinearMatMul                              accelerator
Gemm with a constant B (+ Relu/Clip)     com.microsoft QGemm                        accelerator
Add (same shapes)                        com.microsoft QLinearAdd                   host
AveragePool                              com.microsoft QLinearAveragePool           host
GlobalAveragePool                        com.microsoft QLinearGlobalAveragePool     host
MaxPool                                  MaxPool on int8/uint8                      host
Relu / Clip (alone)                      a clamp                                    host
=======================================  =========================================  ============

int8 activations keep their type: these are onnxruntime's int8 kernels, as it runs them
on ARM or with ``session.qdqisint8allowed=1``. (Its x86-64 default converts an int8 QDQ model
to uint8 first -- exact for the integer kernels, but QLinearAdd and QLinearAveragePool add
the zero point in float32 before rounding, so a few outputs can differ in the last bit --
and leaves a tensor read by two DequantizeLinear unfused, in float32.)

A Relu or Clip between the op and its QuantizeLinear becomes the clamp
``[QuantizeLinear(min), QuantizeLinear(max)]`` of the output (QuantizeLinear is monotonic,
so clamping after it equals clipping before it).
"""

from __future__ import annotations

import numpy as np

from .accel import accelerator_layer
from .graph import QParams, node_error
from .host_ops import Add, AveragePool, GlobalAveragePool, Requantize, Stage, Tensor
from .geometry import CONV_ATTRS, POOL_ATTRS, conv_attrs, pool_geometry
from .lower import Const, Deq, DeqConst, Lowering, Pending, clamp_stage, handler

__all__: list[str] = []


def _weight(lw: Lowering, node, i: int, channel_axis: int, rank: int) -> DeqConst:
    """Input ``i``: DequantizeLinear of a constant weight, per tensor or along ``channel_axis``."""
    v = lw.value(node, i)
    if isinstance(v, Const):
        raise node_error(node, f"weight '{node.input[i]}' is a float constant, not a DequantizeLinear "
                         "of a quantized one: a float model? Quantize it with "
                         "onnxruntime.quantization.quantize_static")
    if not isinstance(v, DeqConst):
        raise node_error(node, f"weight '{node.input[i]}' must be a constant (DequantizeLinear of an "
                         "initializer); a weight computed at run time is not supported")
    if v.value.ndim != rank:
        raise node_error(node, f"weight has shape {list(v.value.shape)}, need {rank} dimensions")
    if not v.params.per_tensor and (v.params.axis % rank) != channel_axis:
        raise node_error(node, f"weight is quantized along axis {v.params.axis}; per-channel weights must "
                         f"be along the output channels (axis {channel_axis})")
    return v


def _bias(lw: Lowering, node, i: int, x: Deq, w: DeqConst, n: int) -> np.ndarray | None:
    """Input ``i`` (optional): DequantizeLinear of an int32 constant with scale
    ``x_scale * w_scale`` and zero point 0 -- the int32 bias onnxruntime's fusion uses as is."""
    if i >= len(node.input) or not node.input[i]:
        return None
    v = lw.value(node, i)
    if not isinstance(v, DeqConst) or v.value.dtype != np.int32:
        raise node_error(node, f"bias '{node.input[i]}' must be a DequantizeLinear of an int32 constant")
    if v.value.size not in (1, n) or (v.value.ndim == 2 and v.value.shape[0] != 1) or v.value.ndim > 2:
        raise node_error(node, f"bias has shape {list(v.value.shape)}, need one value per output "
                         f"channel ({n})")
    want = np.multiply(x.params.scale.reshape(()), w.params.scale.reshape(-1), dtype=np.float32)
    scale = v.params.scale.reshape(-1)
    if scale.size not in (1, n) or want.size not in (1, n) or np.any(v.params.zero_point != 0) \
            or np.any(np.broadcast_to(scale, (n,)) != np.broadcast_to(want, (n,))):
        raise node_error(node, "bias must be quantized with scale x_scale * w_scale and zero point 0 "
                         "(as quantize_static does)")
    return np.broadcast_to(v.value.reshape(-1), (n,)).astype(np.int32)


def _layer(lw: Lowering, node, kind: str, x: Deq, w: np.ndarray, wp: QParams, bias, out_shape,
           conv=None) -> None:
    name = node.name or node.output[0]

    def build(p: QParams, out: str, clamp, clamp_name: str) -> list[Stage]:
        return [accelerator_layer(lw.err(node), name, node.op_type, kind, x=x.tensor, x_params=x.params,
                                  weight=w, w_params=wp, bias=bias, y_params=p, out=out,
                                  out_shape=out_shape, clamp=clamp, clamp_name=clamp_name, conv=conv)]

    lw.set(node, Pending(node, out_shape, build))


@handler("Conv")
def _conv(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, CONV_ATTRS)
    x = lw.deq(node, 0)
    w = _weight(lw, node, 1, 0, 4)
    geometry, out_shape = conv_attrs(node, a, x.tensor.shape, w.value.shape)
    bias = _bias(lw, node, 2, x, w, w.value.shape[0])
    _layer(lw, node, "conv2d", x, w.value, w.params, bias, out_shape, geometry)


def _linear_input(node, x: Deq, k: int) -> None:
    if x.tensor.shape != (k,):
        raise node_error(node, f"input per sample {list(x.tensor.shape)}: need ({k},) (a 2-D (batch, "
                         "features) input; add a Flatten)")


@handler("MatMul")
def _matmul(lw: Lowering, node) -> None:
    lw.graph.attrs(node, {})
    x = lw.deq(node, 0)
    w = _weight(lw, node, 1, 1, 2)
    _linear_input(node, x, w.value.shape[0])
    _layer(lw, node, "linear", x, w.value, w.params, None, (w.value.shape[1],))


@handler("Gemm")
def _gemm(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {"alpha": 1.0, "beta": 1.0, "transA": 0, "transB": 0})
    if a["transA"] or a["alpha"] != 1.0 or a["beta"] != 1.0:
        raise node_error(node, f"transA={a['transA']}, alpha={a['alpha']}, beta={a['beta']}: "
                         "allowed transA=0, alpha=1, beta=1")
    x = lw.deq(node, 0)
    w = _weight(lw, node, 1, 0 if a["transB"] else 1, 2)
    wk = w.value.T if a["transB"] else w.value
    _linear_input(node, x, wk.shape[0])
    bias = _bias(lw, node, 2, x, w, wk.shape[1])
    _layer(lw, node, "linear", x, np.ascontiguousarray(wk), w.params, bias, (wk.shape[1],))


def _clip_bounds(lw: Lowering, node) -> tuple[float, float]:
    if node.op_type == "Relu":
        lw.graph.attrs(node, {})
        return 0.0, float("inf")
    if lw.graph.opset.get("", 13) < 11:
        a = lw.graph.attrs(node, {"min": float(np.finfo(np.float32).min), "max": float(np.finfo(np.float32).max)})
        return float(a["min"]), float(a["max"])
    lw.graph.attrs(node, {})
    lo = lw.graph.const(node, 1, "min", optional=True)
    hi = lw.graph.const(node, 2, "max", optional=True)
    return (float("-inf") if lo is None else float(lo)), (float("inf") if hi is None else float(hi))


@handler("Relu", "Clip")
def _relu_clip(lw: Lowering, node) -> None:
    lo, hi = _clip_bounds(lw, node)
    x = lw.value(node, 0)
    if isinstance(x, Pending):
        lw.set(node, Pending(x.node, x.shape, x.build, x.clamps + [(node.op_type, lo, hi)]))
        return
    x = lw.deq(node, 0)
    name = node.name or node.output[0]

    def build(p: QParams, out: str, clamp, clamp_name: str) -> list[Stage]:
        src = x.tensor
        stages = []
        if not x.params.same_as(p):      # QuantizeLinear(DequantizeLinear(x)) with other parameters
            stages = [Requantize(name, node.op_type, (src.name,), Tensor(lw.fresh(out), src.shape, p.dtype, p),
                                 x.params, p)]
            src = stages[0].output
        return stages + clamp_stage(name, node.op_type, src, out, p, clamp, clamp_name)

    lw.set(node, Pending(node, x.tensor.shape, build, [(node.op_type, lo, hi)]))


def _same_type(node, *params: QParams) -> str:
    types = {p.dtype for p in params}
    if len(types) != 1:
        raise node_error(node, f"inputs and output of types {sorted(types)}: onnxruntime's quantized "
                         f"{node.op_type} needs one type")
    return types.pop()


def _host(lw: Lowering, node, srcs: list[Deq], out_shape, make) -> None:
    """A host op on ``srcs`` awaiting its QuantizeLinear: ``make(p, out)`` -> its stage."""
    name = node.name or node.output[0]

    def build(p: QParams, out: str, clamp, clamp_name: str) -> list[Stage]:
        _same_type(node, p, *(s.params for s in srcs))
        stage = make(p, out if clamp is None else lw.fresh(out))
        return [stage] + clamp_stage(name, node.op_type, stage.output, out, p, clamp, clamp_name)

    lw.set(node, Pending(node, out_shape, build))


@handler("Add")
def _add(lw: Lowering, node) -> None:
    lw.graph.attrs(node, {})
    a, b = lw.deq(node, 0), lw.deq(node, 1)
    if a.tensor.shape != b.tensor.shape:
        raise node_error(node, f"inputs of shapes {list(a.tensor.shape)} and {list(b.tensor.shape)} per "
                         "sample: broadcasting is not supported (residual add of equal shapes)")
    name, srcs = node.name or node.output[0], (a.tensor.name, b.tensor.name)
    _host(lw, node, [a, b], a.tensor.shape, lambda p, out: Add(
        name, "Add", srcs, Tensor(out, a.tensor.shape, p.dtype, p), a.params, b.params, p))


@handler("AveragePool")
def _average_pool(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {**POOL_ATTRS, "count_include_pad": 0})
    x = lw.deq(node, 0)
    kernel, strides, pads, _, out_shape = pool_geometry(node, a, x.tensor.shape, dilated=False)
    name = node.name or node.output[0]
    _host(lw, node, [x], out_shape, lambda p, out: AveragePool(
        name, "AveragePool", (x.tensor.name,), Tensor(out, out_shape, p.dtype, p), x.params, p, kernel,
        strides, pads, int(a["count_include_pad"])))


@handler("GlobalAveragePool")
def _global_average_pool(lw: Lowering, node) -> None:
    lw.graph.attrs(node, {})
    x = lw.deq(node, 0)
    if len(x.tensor.shape) != 3:
        raise node_error(node, f"input per sample {list(x.tensor.shape)}: allowed (C, H, W)")
    out_shape = (x.tensor.shape[0], 1, 1)
    name = node.name or node.output[0]
    _host(lw, node, [x], out_shape, lambda p, out: GlobalAveragePool(
        name, "GlobalAveragePool", (x.tensor.name,), Tensor(out, out_shape, p.dtype, p), x.params, p))
