"""Quantized ONNX models to try ``systolica run`` with, and to test the importer against
onnxruntime: the digits MLP and CNN of :mod:`.models` and one small model per supported op.

1. **Float models**, written with ``onnx.helper`` (opset 13, input ``"input"`` float32 with
   a symbolic batch dimension ``"N"``):

   - :func:`digits_float_model`: the MLP or CNN trained in numpy on the digits
     (:func:`~.models.train`, seed 0), exported as ``Conv``/``Gemm``/``Relu``/``Flatten``.
   - :func:`op_float_model`: one small model per op in :data:`OP_MODELS`, input one 1x8x8
     digit, weights drawn from a fixed seed.

2. **Quantization** (:func:`quantize`): ``onnxruntime.quantization.quantize_static`` in the
   ``"qdq"`` or ``"qoperator"`` format, ``"u8"`` or ``"s8"`` activations, int8 weights per
   tensor or per channel (symmetric: zero point 0), MinMax calibration on the first
   :data:`~.models.CALIBRATION_SIZE` digits of the training split.

3. **Inputs** (:func:`digits_inputs`): all 1,797 digits (the test split first), float32,
   shaped for the model.

:func:`example_model` does all three for one name. Needs ``onnx`` and ``onnxruntime``.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

__all__ = ["DIGITS_MODELS", "OP_MODELS", "FORMATS", "ACTIVATIONS", "digits_float_model",
           "op_float_model", "quantize", "digits_inputs", "calibration_inputs", "example_model"]

DIGITS_MODELS = ("mlp", "cnn")
FORMATS = ("qdq", "qoperator")
ACTIVATIONS = ("u8", "s8")
OPSET = 13
WEIGHT_SEED = 1


def _helpers():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    return onnx, TensorProto, helper, numpy_helper


class _Graph:
    """A tiny builder: nodes in order, float32 initializers, unique names."""

    def __init__(self, name: str, input_shape: tuple[int, ...]):
        self.name, self.input_shape = name, tuple(input_shape)
        self.nodes, self.inits, self.count = [], [], 0
        self.rng = np.random.default_rng(WEIGHT_SEED)

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, value, stem: str = "w") -> str:
        _, _, _, numpy_helper = _helpers()
        name = self.fresh(stem)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        _, _, helper, _ = _helpers()
        out = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, c: int, m: int, k: int, *, group: int = 1, **attrs) -> str:
        w = self.rng.normal(0, np.sqrt(2.0 / (c // group * k * k)), size=(m, c // group, k, k))
        b = self.rng.normal(0, 0.1, size=m)
        return self.node("Conv", [x, self.const(w.astype(np.float32)), self.const(b.astype(np.float32), "b")],
                         kernel_shape=[k, k], group=group, **attrs)

    def gemm(self, x: str, k: int, n: int) -> str:
        w = self.rng.normal(0, np.sqrt(2.0 / k), size=(n, k)).astype(np.float32)
        b = self.rng.normal(0, 0.1, size=n).astype(np.float32)
        return self.node("Gemm", [x, self.const(w), self.const(b, "b")], transB=1)

    def model(self, output: str, out_shape: tuple):
        onnx, TensorProto, helper, _ = _helpers()
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *self.input_shape])],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", *out_shape])],
            initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="systolica.driver.onnx_examples")
        onnx.checker.check_model(m, full_check=True)
        return m


def digits_float_model(name: str, seed: int = 0):
    """The digits ``"mlp"`` or ``"cnn"`` of :mod:`.models`, trained (cached) and exported."""
    from .models import ARCHITECTURES, _trained

    if name not in DIGITS_MODELS:
        raise ValueError(f"name={name!r}: unknown, allowed one of {list(DIGITS_MODELS)}")
    fm = _trained(name, seed)
    g = _Graph(f"digits_{name}", fm.input_shape)
    x = "input"
    for layer in fm.layers:
        s = layer.spec
        if s.kind == "conv2d":
            x = g.node("Conv", [x, g.const(layer.weight.astype(np.float32)),
                                g.const(layer.bias.astype(np.float32), "b")],
                       kernel_shape=[s.kernel] * 2, strides=[s.stride] * 2, pads=[s.pad] * 4)
        else:
            if len(layer.in_shape) > 1:
                x = g.node("Flatten", [x], axis=1)
            x = g.node("Gemm", [x, g.const(np.ascontiguousarray(layer.weight.T).astype(np.float32)),
                                g.const(layer.bias.astype(np.float32), "b")], transB=1)
        if s.activation == "relu":
            x = g.node("Relu", [x])
    assert name in ARCHITECTURES
    return g.model(x, fm.layers[-1].out_shape)


def _op_conv(g):
    return g.conv("input", 1, 4, 3, pads=[1, 1, 1, 1]), (4, 8, 8)


def _op_conv_relu(g):
    return g.node("Relu", [g.conv("input", 1, 6, 3, pads=[1, 1, 1, 1])]), (6, 8, 8)


def _op_conv_clip(g):
    lo, hi = g.const(np.float32(0.0), "min"), g.const(np.float32(6.0), "max")
    return g.node("Clip", [g.conv("input", 1, 5, 3, pads=[1, 1, 1, 1]), lo, hi]), (5, 8, 8)


def _op_conv_strided(g):
    x = g.conv("input", 1, 4, 3, strides=[2, 2], pads=[1, 0, 2, 1], dilations=[1, 2])
    return x, (4, 5, 3)


def _op_conv_depthwise(g):
    x = g.node("Relu", [g.conv("input", 1, 4, 3, pads=[1, 1, 1, 1])])
    return g.conv(x, 4, 8, 3, group=4, pads=[1, 1, 1, 1]), (8, 8, 8)


def _op_matmul(g):
    x = g.node("Flatten", ["input"], axis=1)
    w = g.const(g.rng.normal(0, 0.2, size=(64, 12)).astype(np.float32))
    return g.node("MatMul", [x, w]), (12,)


def _op_gemm(g):
    return g.gemm(g.node("Flatten", ["input"], axis=1), 64, 10), (10,)


def _op_add(g):
    a = g.node("Relu", [g.conv("input", 1, 4, 3, pads=[1, 1, 1, 1])])
    b = g.conv(a, 4, 4, 3, pads=[1, 1, 1, 1])
    return g.node("Add", [a, b]), (4, 8, 8)


def _op_maxpool(g):
    x = g.conv("input", 1, 4, 3, pads=[1, 1, 1, 1])
    return g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), (4, 4, 4)


def _op_averagepool(g):
    x = g.conv("input", 1, 4, 3, pads=[1, 1, 1, 1])
    return g.node("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]), (4, 4, 4)


def _op_globalaveragepool(g):
    x = g.node("Relu", [g.conv("input", 1, 6, 3, pads=[1, 1, 1, 1])])
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])], axis=1)
    return g.gemm(x, 6, 10), (10,)


def _op_reshape(g):
    x = g.node("Relu", [g.conv("input", 1, 4, 3, strides=[2, 2], pads=[1, 1, 1, 1])])
    x = g.node("Reshape", [x, g.const(np.array([-1, 64], np.int64), "shape")])
    return g.gemm(x, 64, 10), (10,)


#: op model name -> builder(graph) -> (output name, output shape per sample)
OP_MODELS: dict[str, Callable] = {
    "conv": _op_conv, "conv_relu": _op_conv_relu, "conv_clip": _op_conv_clip,
    "conv_strided": _op_conv_strided, "conv_depthwise": _op_conv_depthwise, "matmul": _op_matmul,
    "gemm": _op_gemm, "add": _op_add, "maxpool": _op_maxpool, "averagepool": _op_averagepool,
    "globalaveragepool": _op_globalaveragepool, "reshape": _op_reshape,
}


def op_float_model(op: str):
    """The small float model :data:`OP_MODELS[op] <OP_MODELS>` (input ``(N, 1, 8, 8)``)."""
    if op not in OP_MODELS:
        raise ValueError(f"op={op!r}: unknown, allowed one of {list(OP_MODELS)}")
    g = _Graph(f"op_{op}", (1, 8, 8))
    out, shape = OP_MODELS[op](g)
    return g.model(out, shape)


def _input_shape(model) -> tuple[int, ...]:
    return tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:])


def digits_inputs(model, split: str = "all") -> np.ndarray:
    """Digits as float32 ``(N, *input shape)`` for ``model``: ``"test"`` (360), ``"train"``
    (1,437) or ``"all"`` (test then train, 1,797)."""
    from .models import digits_split

    d = digits_split()
    x = {"test": d.x_test, "train": d.x_train, "all": np.concatenate([d.x_test, d.x_train])}[split]
    return np.ascontiguousarray(x.astype(np.float32).reshape(-1, *_input_shape(model)))


def calibration_inputs(model) -> np.ndarray:
    from .models import CALIBRATION_SIZE

    return digits_inputs(model, "train")[:CALIBRATION_SIZE]


def quantize(model, fmt: str = "qdq", activations: str = "u8", per_channel: bool = True,
             calibration: np.ndarray | None = None, extra_options: dict | None = None,
             weights: str = "s8"):
    """``quantize_static`` of a float ``model``: ``fmt`` ``"qdq"``/``"qoperator"``,
    ``activations`` ``"u8"``/``"s8"``, ``weights`` ``"s8"`` (int8, the default: symmetric)
    or ``"u8"``, per channel or per tensor, MinMax calibration on ``calibration`` (default
    :func:`calibration_inputs`), ``extra_options`` as quantize_static takes them. Returns the
    quantized ``onnx.ModelProto``."""
    import tempfile
    from pathlib import Path

    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if fmt not in FORMATS or activations not in ACTIVATIONS or weights not in ACTIVATIONS:
        raise ValueError(f"fmt={fmt!r}, activations={activations!r}, weights={weights!r}: allowed "
                         f"{FORMATS}, {ACTIVATIONS}, {ACTIVATIONS}")
    qtype = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    x = calibration_inputs(model) if calibration is None else calibration

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"input": x[i:i + 64]} for i in range(0, len(x), 64)])

        def get_next(self):
            return next(self.batches, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)       # quantize_static warns about pre-processing on every call
    try:
        with tempfile.TemporaryDirectory(prefix="systolica-quant-") as tmp:
            out = Path(tmp) / "model.onnx"
            quantize_static(model, str(out), Reader(),
                            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
                            per_channel=per_channel,
                            activation_type=qtype[activations], weight_type=qtype[weights],
                            extra_options=extra_options)
            return onnx.load(str(out))
    finally:
        root.setLevel(level)


def example_model(name: str, fmt: str = "qdq", activations: str = "u8", per_channel: bool = True):
    """A digits model (``"mlp"``, ``"cnn"``) or an op model (:data:`OP_MODELS`), quantized."""
    fm = digits_float_model(name) if name in DIGITS_MODELS else op_float_model(name)
    return quantize(fm, fmt, activations, per_channel)
