"""Handlers of the ops that look the same in QDQ and QOperator models: Identity, Flatten,
Reshape (layout only: C order, no data movement) and MaxPool (on int8/uint8, or between a
DequantizeLinear and a QuantizeLinear: max commutes with the monotonic DequantizeLinear,
so the integers are pooled and, if the scales differ, requantized).
"""

from __future__ import annotations

import numpy as np

from .geometry import POOL_ATTRS, pool_geometry
from .graph import QParams, node_error
from .host_ops import MaxPool, Requantize, Reshape, Stage, Tensor
from .lower import Const, Deq, Lowering, Pending, clamp_stage, describe_value, handler

__all__: list[str] = []


@handler("Identity")
def _identity(lw: Lowering, node) -> None:
    lw.graph.attrs(node, {})
    lw.set(node, lw.value(node, 0))


def _reshape_to(lw: Lowering, node, x, shape: tuple[int, ...]) -> None:
    """Flatten/Reshape of a tensor, a Deq (reshape the 8-bit tensor) or a constant."""
    if isinstance(x, Const):
        lw.set(node, Const(x.value.reshape(-1, *shape)))
        return
    t = x.tensor if isinstance(x, Deq) else x
    if not isinstance(t, Tensor):
        raise node_error(node, f"input '{node.input[0]}' is {describe_value(x)}: only a quantized tensor, a "
                         "DequantizeLinear output or the float input can be reshaped")
    out = node.output[0] if isinstance(x, Tensor) else lw.fresh(node.output[0])
    y = lw.emit([Reshape(node.name or node.output[0], node.op_type, (t.name,),
                         Tensor(out, shape, t.dtype, t.qparams))])
    lw.set(node, Deq(y, x.params) if isinstance(x, Deq) else y)


def _per_sample(x) -> tuple[int, ...]:
    if isinstance(x, Deq):
        return x.tensor.shape
    if isinstance(x, Const):
        return x.value.shape[1:]
    return x.shape


@handler("Flatten")
def _flatten(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {"axis": 1})
    x = lw.value(node, 0)
    shape = _per_sample(x)
    if a["axis"] not in (1, -len(shape)):
        raise node_error(node, f"axis={a['axis']}: only 1 (keep the batch dimension) is supported")
    _reshape_to(lw, node, x, (int(np.prod(shape)),))


@handler("Reshape")
def _reshape(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {"allowzero": 0})
    x = lw.value(node, 0)
    shape = _per_sample(x)
    target = [int(v) for v in lw.graph.const(node, 1, "shape").reshape(-1)]
    if a["allowzero"] and 0 in target:
        raise node_error(node, "allowzero=1 with a 0 in the shape is not supported")
    dims = [None, *shape]                        # None: the batch
    resolved = [(dims[i] if i < len(dims) else -2) if v == 0 else v for i, v in enumerate(target)]
    first, rest = resolved[0], resolved[1:]
    size = int(np.prod(shape))
    if rest.count(-1) == 1 and first != -1:          # one size to infer (not two)
        known = int(np.prod([v for v in rest if v != -1]))
        if known > 0 and size % known == 0:
            rest = [size // known if v == -1 else v for v in rest]
    batch_ok = first is None or first == -1 or first == lw.graph.input_batch
    if not batch_ok or any(v < 1 for v in rest) or int(np.prod(rest)) != size:
        raise node_error(node, f"shape {target} for an input of {['N', *shape]}: the first dimension "
                         "must stay the batch (-1, 0 or the model's batch size) and the rest keep its size")
    _reshape_to(lw, node, x, tuple(rest))


@handler("MaxPool")
def _max_pool(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {**POOL_ATTRS, "dilations": None, "storage_order": 0})
    if len(node.output) > 1 and node.output[1]:
        raise node_error(node, "the Indices output is not supported")
    x = lw.value(node, 0)
    t = x.tensor if isinstance(x, Deq) else lw.activation(node, 0)
    kernel, strides, pads, dil, out_shape = pool_geometry(node, a, t.shape, dilated=True)
    name = node.name or node.output[0]

    def stage(out: str, p: QParams) -> MaxPool:
        return MaxPool(name, "MaxPool", (t.name,), Tensor(out, out_shape, t.dtype, p), kernel, strides, pads, dil)

    if isinstance(x, Tensor):
        lw.set(node, lw.emit([stage(node.output[0], t.qparams)]))
        return

    def build(p: QParams, out: str, clamp, clamp_name: str) -> list[Stage]:
        # max commutes with (monotonic) DequantizeLinear: pool the integers, then requantize
        same = x.params.same_as(p)
        stages = [stage(out if same and clamp is None else lw.fresh(out), x.params)]
        if not same:
            stages.append(Requantize(name, "MaxPool", (stages[-1].output.name,),
                                     Tensor(out if clamp is None else lw.fresh(out), out_shape, p.dtype, p),
                                     x.params, p))
        return stages + clamp_stage(name, "MaxPool", stages[-1].output, out, p, clamp, clamp_name)

    lw.set(node, Pending(node, out_shape, build))
