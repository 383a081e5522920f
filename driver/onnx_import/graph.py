"""The ONNX graph as the importer reads it: initializers, attributes, one clear error type.

:class:`Graph` wraps a loaded ``onnx.ModelProto``: initializers (and ``Constant`` nodes)
as numpy arrays, the nodes in topological order, each tensor's consumers, and the model's
one float input and one output. :class:`OnnxImportError` is the importer's only error:
one line naming the node, its op and the reason (or the model-level field).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["OnnxImportError", "Graph", "QParams", "node_error", "QTYPES"]

#: 8-bit activation/weight types the importer takes: numpy dtype -> name.
QTYPES = {np.dtype(np.int8): "int8", np.dtype(np.uint8): "uint8"}
MS_DOMAIN = "com.microsoft"


class OnnxImportError(ValueError):
    """A model the importer cannot run, found before any hardware runs. The message is
    one line: ``node 'NAME' (OP): reason`` or ``model: reason``."""


def node_error(node, reason: str) -> OnnxImportError:
    return OnnxImportError(f"node '{node.name or node.output[0]}' ({node.op_type}): {reason}")


@dataclass(frozen=True)
class QParams:
    """Quantization parameters of a tensor: ``scale`` float32 and ``zero_point`` (scalars
    for an activation; per channel along ``axis`` for a weight), ``dtype`` ``"int8"`` or
    ``"uint8"`` (``"int32"`` for a bias)."""

    scale: np.ndarray
    zero_point: np.ndarray
    dtype: str
    axis: int | None = None

    @property
    def per_tensor(self) -> bool:
        return self.scale.size == 1 and self.zero_point.size == 1

    def same_as(self, other: "QParams") -> bool:
        return (self.dtype == other.dtype and self.per_tensor and other.per_tensor
                and self.scale.reshape(()) == other.scale.reshape(())
                and int(self.zero_point.reshape(())) == int(other.zero_point.reshape(())))

    def __str__(self) -> str:
        if self.per_tensor:
            return f"{self.dtype} scale {float(self.scale.reshape(())):.6g} zp {int(self.zero_point.reshape(()))}"
        return f"{self.dtype} per-channel ({self.scale.size}) axis {self.axis}"


class Graph:
    """One ONNX model, checked for what the importer needs (see the module docstring)."""

    def __init__(self, model):
        import onnx
        from onnx import numpy_helper

        self.model = model
        g = model.graph
        self.name = g.name or "model"
        self.opset = {o.domain or "": o.version for o in model.opset_import}
        self.initializers: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.nodes = []
        for node in g.node:
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                self.initializers[node.output[0]] = self._constant(node)
            else:
                self.nodes.append(node)
        if any(n.op_type in ("If", "Loop", "Scan") for n in self.nodes):
            n = next(n for n in self.nodes if n.op_type in ("If", "Loop", "Scan"))
            raise node_error(n, "control flow (subgraphs) is not supported")
        inputs = [i for i in g.input if i.name not in self.initializers]
        if len(inputs) != 1:
            raise OnnxImportError(f"model: {len(inputs)} graph inputs ({', '.join(i.name for i in inputs)}); "
                                  "systolica runs models with exactly one input")
        if len(g.output) != 1:
            raise OnnxImportError(f"model: {len(g.output)} graph outputs ({', '.join(o.name for o in g.output)}); "
                                  "systolica runs models with exactly one output")
        self.input = inputs[0]
        self.output = g.output[0].name
        t = self.input.type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT:
            raise OnnxImportError(f"model: input '{self.input.name}' is "
                                  f"{onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)}, allowed float32 "
                                  "(the float tensor the model quantizes)")
        dims = t.shape.dim
        if len(dims) < 2 or any(not d.HasField("dim_value") or d.dim_value < 1 for d in dims[1:]):
            shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in dims]
            raise OnnxImportError(f"model: input '{self.input.name}' has shape {shape}; need a batch "
                                  "dimension first and known sizes for the others")
        #: The input per sample (without the batch dimension).
        self.input_shape = tuple(int(d.dim_value) for d in dims[1:])
        #: The batch size the model fixes (None: symbolic).
        self.input_batch = int(dims[0].dim_value) if dims[0].HasField("dim_value") else None
        self.consumers: dict[str, list] = {}
        for node in self.nodes:
            for name in node.input:
                if name:
                    self.consumers.setdefault(name, []).append(node)
        self._check_order()

    @staticmethod
    def _constant(node) -> np.ndarray:
        from onnx import helper, numpy_helper

        attrs = {a.name: a for a in node.attribute}
        if "value" not in attrs:
            raise node_error(node, f"attributes {sorted(attrs)}: only 'value' (a tensor) is supported")
        return numpy_helper.to_array(helper.get_attribute_value(attrs["value"]))

    def _check_order(self) -> None:
        known = set(self.initializers) | {self.input.name, ""}
        for node in self.nodes:
            missing = [i for i in node.input if i not in known]
            if missing:
                raise node_error(node, f"input '{missing[0]}' is not produced by an earlier node "
                                 "(the graph is not in topological order or has a dangling input)")
            known.update(node.output)
        if self.output not in known:
            raise OnnxImportError(f"model: output '{self.output}' is produced by no node")

    # -- node access --------------------------------------------------------------------
    def attrs(self, node, allowed: dict) -> dict:
        """The node's attributes as python values, with ``allowed``'s defaults for the absent
        ones; an attribute not in ``allowed`` is an error."""
        from onnx import helper

        out = dict(allowed)
        for a in node.attribute:
            if a.name not in allowed:
                raise node_error(node, f"attribute '{a.name}' is not supported (allowed: "
                                 f"{', '.join(sorted(allowed)) or 'none'})")
            v = helper.get_attribute_value(a)
            out[a.name] = v.decode() if isinstance(v, bytes) else v
        return out

    def const(self, node, index: int, what: str, *, optional: bool = False) -> np.ndarray | None:
        """Input ``index`` of ``node`` as a constant (initializer or Constant)."""
        if index >= len(node.input) or not node.input[index]:
            if optional:
                return None
            raise node_error(node, f"{what} (input {index}) is missing")
        name = node.input[index]
        if name not in self.initializers:
            raise node_error(node, f"{what} '{name}' must be a constant (initializer), "
                             "it is computed at run time")
        return self.initializers[name]

    def is_const(self, name: str) -> bool:
        return name in self.initializers
