"""ONNX model import: models quantized by ``onnxruntime.quantization`` run on the accelerator.

``load(path_or_model)`` reads a QDQ or QOperator model (uint8 or int8 activations, int8
weights per tensor or per channel) and returns an :class:`ImportedModel`: quantized
Conv/MatMul/Gemm (with bias, requantization and a folded Relu/Clip) become the compiler's
layers (:mod:`.accel`); the rest (QuantizeLinear of the input, the final DequantizeLinear,
pools, adds, Flatten/Reshape) runs on the host with onnxruntime's exact semantics
(:mod:`.host_ops`). ``ImportedModel.run(x, backend=..., cfg=..., batch=...)`` gives the
output onnxruntime gives, bit for bit, with the same dtype and shape.

Modules: :mod:`.graph` (reading the ONNX graph, the error type), :mod:`.lower` (the pass,
QuantizeLinear/DequantizeLinear), :mod:`.common_ops` (Identity, Flatten, Reshape, MaxPool),
:mod:`.geometry` (Conv/pool attributes), :mod:`.qdq` (QDQ pattern folding),
:mod:`.qoperator` (QOperator nodes), :mod:`.accel` (accelerator layers, uint8 as shifted int8),
:mod:`.host_ops` (host stages), :mod:`.program` (segments, compile check, backends),
:mod:`.ort_reference` (onnxruntime's exact result, for checking).
"""

from __future__ import annotations

from pathlib import Path

from .graph import OnnxImportError
from .program import BACKENDS, ImportedModel, RunReport

__all__ = ["load", "OnnxImportError", "ImportedModel", "RunReport", "BACKENDS"]


def load(model) -> ImportedModel:
    """Import ``model`` (a path or an ``onnx.ModelProto``); an :class:`OnnxImportError`
    (one line naming the node, its op and the reason) for anything it cannot run."""
    import onnx

    from .graph import Graph
    from .lower import Lowering

    if isinstance(model, (str, Path)):
        try:
            model = onnx.load(str(model))
        except FileNotFoundError:
            raise OnnxImportError(f"model: cannot read '{model}': no such file") from None
        except Exception as e:  # onnx raises DecodeError and friends for a bad file
            raise OnnxImportError(f"model: cannot read '{model}' as ONNX: {type(e).__name__}: "
                                  f"{str(e).splitlines()[0] if str(e) else ''}") from None
    g = Graph(model)
    lw = Lowering(g)
    output = lw.run()
    return ImportedModel(g.name, g.input.name, g.input_shape, g.input_batch, output, lw.stages)
