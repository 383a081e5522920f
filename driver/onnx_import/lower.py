"""The lowering pass: ONNX nodes, in order, to the stages of an imported model.

Every tensor name gets a *value*: a runtime :class:`~.host_ops.Tensor` (the float input,
or an int8/uint8 activation some stage computes), a constant (:class:`Const`), or -- in
QDQ models -- a float *view* that exists only symbolically:

- :class:`Deq`: ``DequantizeLinear`` of an 8-bit activation;
- :class:`DeqConst`: ``DequantizeLinear`` of a constant (weights, int32 bias);
- :class:`Pending`: the float output of a Conv/MatMul/Gemm/pool/Add on ``Deq`` inputs,
  waiting for the ``QuantizeLinear`` that makes it an 8-bit tensor again; a Relu/Clip on
  it is remembered as a clamp. At that ``QuantizeLinear`` the pattern becomes one stage
  (:mod:`.qdq`), exactly as onnxruntime's QDQ fusions turn it into QLinearConv,
  QLinearMatMul, QGemm, QLinearAdd, QLinearAveragePool... .

QOperator nodes map to stages directly (:mod:`.qoperator`). QuantizeLinear and
DequantizeLinear are handled here, Identity, Flatten, Reshape and MaxPool in
:mod:`.common_ops` (the same in both formats).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ...model.numerics import NumericsError
from ...model.onnx_ops import quantize_linear
from .graph import MS_DOMAIN, QTYPES, Graph, OnnxImportError, QParams, node_error
from .host_ops import Clamp, Dequantize, Quantize, Requantize, Stage, Tensor

__all__ = ["Const", "Deq", "DeqConst", "Pending", "Lowering", "HANDLERS", "handler", "describe_value"]


@dataclass(frozen=True)
class Const:
    value: np.ndarray


@dataclass(frozen=True)
class Deq:
    """``DequantizeLinear(tensor)`` with ``params`` (the DequantizeLinear's own)."""

    tensor: Tensor
    params: QParams


@dataclass(frozen=True)
class DeqConst:
    """``DequantizeLinear`` of the constant ``value`` with ``params``."""

    value: np.ndarray
    params: QParams


@dataclass
class Pending:
    """A float result awaiting QuantizeLinear: ``build(y_params, out, clamp, clamp_name)``
    returns its stages; ``clamps`` are the Relu/Clip bounds (float) met on the way."""

    node: object
    shape: tuple[int, ...]
    build: Callable[..., list[Stage]]
    clamps: list[tuple[str, float, float]] = field(default_factory=list)


#: (domain, op_type) -> handler(lowering, node)
HANDLERS: dict[tuple[str, str], Callable] = {}


def handler(*ops: str, domain: str = ""):
    def register(fn):
        for op in ops:
            HANDLERS[(domain, op)] = fn
        return fn
    return register


class Lowering:
    """Runs the handlers over ``graph`` (see the module docstring); ``stages`` is the result."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.stages: list[Stage] = []
        self.values: dict[str, object] = {
            graph.input.name: Tensor(graph.input.name, graph.input_shape, "float32")}
        self._count = 0

    def run(self) -> Tensor:
        from . import common_ops, qdq, qoperator
        del common_ops, qdq, qoperator      # imported for their @handler registrations

        for node in self.graph.nodes:
            fn = HANDLERS.get((node.domain if node.domain != "ai.onnx" else "", node.op_type))
            if fn is None:
                raise node_error(node, "op not supported (supported: " + ", ".join(
                    sorted({op if d == "" else f"{d}.{op}" for d, op in HANDLERS})) + ")")
            try:
                fn(self, node)
            except NumericsError as e:
                raise node_error(node, str(e)) from None
        return self._output()

    # -- values -------------------------------------------------------------------------
    def value(self, node, i: int):
        name = node.input[i] if i < len(node.input) else ""
        if not name:
            raise node_error(node, f"input {i} is missing")
        if name in self.graph.initializers:
            return Const(self.graph.initializers[name])
        if name not in self.values:
            raise node_error(node, f"input '{name}' is an output systolica does not compute")
        return self.values[name]

    def set(self, node, value, i: int = 0) -> None:
        self.values[node.output[i]] = value

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}:{self._count}"

    def emit(self, stages: list[Stage]) -> Tensor:
        self.stages += stages
        return stages[-1].output

    def err(self, node) -> Callable[[str], OnnxImportError]:
        return lambda reason: node_error(node, reason)

    def activation(self, node, i: int) -> Tensor:
        """Input ``i`` as an 8-bit activation tensor (QOperator)."""
        v = self.value(node, i)
        if isinstance(v, Tensor) and v.dtype in ("int8", "uint8"):
            return v
        raise node_error(node, f"input '{node.input[i]}' must be an int8/uint8 activation, "
                         f"it is {describe_value(v)}")

    def deq(self, node, i: int) -> Deq:
        """Input ``i`` as a DequantizeLinear of an 8-bit activation (QDQ)."""
        v = self.value(node, i)
        if isinstance(v, Deq):
            return v
        if isinstance(v, Tensor) and v.dtype == "float32":
            raise node_error(node, f"input '{node.input[i]}' is a float tensor, not the output of a "
                             "DequantizeLinear: this looks like a float model; systolica runs models "
                             "quantized by onnxruntime.quantization.quantize_static (QDQ or QOperator)")
        raise node_error(node, f"input '{node.input[i]}' must come from a DequantizeLinear of an "
                         f"int8/uint8 activation, it is {describe_value(v)}")

    def _output(self) -> Tensor:
        v = self.values.get(self.graph.output)
        name = self.graph.output
        if isinstance(v, Deq):
            return self.emit([Dequantize(name, "DequantizeLinear", (v.tensor.name,),
                                         Tensor(name, v.tensor.shape, "float32"), v.params)])
        if isinstance(v, Tensor):
            return v
        if isinstance(v, Pending):
            raise node_error(v.node, "its float output is the model's output without a QuantizeLinear: "
                             "the accelerator computes quantized outputs only")
        raise OnnxImportError(f"model: output '{name}' is {describe_value(v)}, not a computed tensor")


def describe_value(v) -> str:
    if isinstance(v, Tensor):
        return f"a {v.dtype} tensor"
    if isinstance(v, Pending):
        return f"the float output of node '{v.node.name or v.node.output[0]}' ({v.node.op_type})"
    if isinstance(v, Deq):
        return "a DequantizeLinear output (float)"
    if isinstance(v, (Const, DeqConst)):
        return "a constant"
    return type(v).__name__


# -- quantization parameters ------------------------------------------------------------
def qparams(lw: Lowering, node, scale_i: int, zp_i: int, *, axis: int | None = None,
            default_dtype: str = "uint8") -> QParams:
    """Scale and zero point of a Q/DQ or QLinear* node (zero point absent: 0 of
    ``default_dtype``)."""
    scale = lw.graph.const(node, scale_i, "scale")
    if scale.dtype != np.float32:
        raise node_error(node, f"scale is {scale.dtype}, allowed float32")
    if not np.all(np.isfinite(scale) & (scale > 0)):
        raise node_error(node, f"scale {scale.ravel()[:4].tolist()}: must be positive and finite")
    zp = lw.graph.const(node, zp_i, "zero point", optional=True)
    if zp is None:
        zp = np.zeros(scale.shape, np.dtype(default_dtype))
    if zp.size != scale.size or (zp.ndim > 1 or scale.ndim > 1) and zp.shape != scale.shape:
        raise node_error(node, f"zero point shape {zp.shape} differs from the scale's {scale.shape}")
    zp = zp.reshape(scale.shape)
    dtype = QTYPES.get(zp.dtype, "int32" if zp.dtype == np.int32 else None)
    if dtype is None:
        raise node_error(node, f"zero point is {zp.dtype}: allowed int8 or uint8 (int32 for a bias)")
    return QParams(scale.astype(np.float32), zp, dtype, axis)


def per_tensor(node, p: QParams, what: str) -> QParams:
    if not p.per_tensor:
        raise node_error(node, f"{what} is quantized per channel ({p.scale.size} scales); "
                         "activations must be quantized per tensor")
    if p.dtype not in ("int8", "uint8"):
        raise node_error(node, f"{what} is {p.dtype}: allowed int8 or uint8 activations")
    return p


def quantize_bound(value: float, p: QParams) -> int:
    """``QuantizeLinear(value)`` with ``p`` (a clamp bound; infinities saturate)."""
    return int(quantize_linear(np.float32(value), p.scale.reshape(()),
                               p.zero_point.reshape(()).astype(np.dtype(p.dtype))))


def clamp_bounds(pending: Pending, p: QParams) -> tuple[tuple[int, int] | None, str]:
    """The Relu/Clip clamps of ``pending`` as quantized bounds in ``p``'s type."""
    if not pending.clamps:
        return None, ""
    lo, hi = max(c[1] for c in pending.clamps), min(c[2] for c in pending.clamps)
    names = "+".join(c[0] for c in pending.clamps)
    return (quantize_bound(lo, p), quantize_bound(hi, p)), names


# -- shared handlers ---------------------------------------------------------------------
@handler("QuantizeLinear")
@handler("QuantizeLinear", domain=MS_DOMAIN)       # quantize_static's UseQDQContribOps
def _quantize_linear(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {"axis": 1, "saturate": 1, "block_size": 0, "output_dtype": 0})
    if a["block_size"]:
        raise node_error(node, f"block_size={a['block_size']}: blocked quantization is not supported")
    default = {0: "uint8", 2: "uint8", 3: "int8"}.get(a["output_dtype"])
    if default is None:
        raise node_error(node, f"output_dtype={a['output_dtype']}: allowed int8 or uint8")
    x = lw.value(node, 0)
    p = qparams(lw, node, 1, 2, axis=a["axis"], default_dtype=default)
    out = node.output[0]
    if isinstance(x, Const):               # a float weight quantized in the graph (AddQDQPairToWeight)
        q = quantize_linear(x.value.astype(np.float32), p.scale, p.zero_point, axis=a["axis"])
        lw.set(node, Const(q))
        lw.graph.initializers[out] = q
        return
    p = per_tensor(node, p, "the output")
    if isinstance(x, Tensor) and x.dtype == "float32":
        lw.set(node, lw.emit([Quantize(node.name or out, "QuantizeLinear", (x.name,),
                                       Tensor(out, x.shape, p.dtype, p), p)]))
    elif isinstance(x, Pending):
        clamp, names = clamp_bounds(x, p)
        lw.set(node, lw.emit(x.build(p, out, clamp, names)))
    elif isinstance(x, Deq) and x.params.same_as(p):
        lw.set(node, x.tensor)              # Q(DQ(q)) with the same parameters is q
    elif isinstance(x, Deq):
        lw.set(node, lw.emit([Requantize(node.name or out, "QuantizeLinear", (x.tensor.name,),
                                         Tensor(out, x.tensor.shape, p.dtype, p), x.params, p)]))
    else:
        raise node_error(node, f"input '{node.input[0]}' is {describe_value(x)}: cannot quantize it")


@handler("DequantizeLinear")
@handler("DequantizeLinear", domain=MS_DOMAIN)
def _dequantize_linear(lw: Lowering, node) -> None:
    a = lw.graph.attrs(node, {"axis": 1, "block_size": 0})
    if a["block_size"]:
        raise node_error(node, f"block_size={a['block_size']}: blocked quantization is not supported")
    x = lw.value(node, 0)
    if isinstance(x, Const):
        dtype = x.value.dtype
        if dtype not in QTYPES and dtype != np.int32:
            raise node_error(node, f"constant '{node.input[0]}' is {dtype}: allowed int8, uint8 or int32")
        p = qparams(lw, node, 1, 2, axis=a["axis"], default_dtype=dtype.name)
        if p.zero_point.dtype != dtype:
            raise node_error(node, f"zero point {p.zero_point.dtype} differs from the tensor's {dtype}")
        lw.set(node, DeqConst(x.value, p))
    elif isinstance(x, Tensor) and x.dtype in ("int8", "uint8"):
        p = per_tensor(node, qparams(lw, node, 1, 2, default_dtype=x.dtype), "the input")
        if p.dtype != x.dtype:
            raise node_error(node, f"zero point is {p.dtype}, the input '{x.name}' is {x.dtype}")
        lw.set(node, Deq(x, p))
    else:
        raise node_error(node, f"input '{node.input[0]}' is {describe_value(x)}: allowed an int8/uint8 tensor")


def clamp_stage(name: str, op: str, src: Tensor, out: str, p: QParams, clamp, clamp_name: str) -> list[Stage]:
    """A host Clamp of ``src`` into ``out`` for a folded Relu/Clip (none if ``clamp`` is None)."""
    if clamp is None:
        return []
    return [Clamp(name, f"{op}+{clamp_name}", (src.name,), Tensor(out, src.shape, p.dtype, p), *clamp)]
