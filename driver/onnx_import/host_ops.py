"""The steps of an imported model that run on the host, with exact ONNX/onnxruntime semantics.

Every step is a :class:`Stage`: the ONNX node it comes from, the names of the tensors it
reads, the tensor it writes, and ``run(env)`` computing it with the golden reference
(:mod:`systolica.model.onnx_ops`, :mod:`~systolica.model.layers`,
:mod:`~systolica.model.ort_contrib`), batch first. The accelerator's step
(:class:`~.accel.AcceleratorLayer`) is a stage too.

==========================  ===================================================================
stage                       semantics (what onnxruntime computes)
==========================  ===================================================================
:class:`Quantize`           QuantizeLinear (MLAS: float32 divide, clamp, round half to even)
:class:`Dequantize`         DequantizeLinear (``float32(x - zp) * scale``)
:class:`Requantize`         QuantizeLinear(DequantizeLinear(x)) with other parameters
:class:`Reshape`            Flatten / Reshape (C order: no data movement)
:class:`Clamp`              Relu / Clip on quantized values (bounds = QuantizeLinear(min/max))
:class:`MaxPool`            MaxPool on int8/uint8 (exact: max commutes with dequantization)
:class:`AveragePool`        com.microsoft QLinearAveragePool
:class:`GlobalAveragePool`  com.microsoft QLinearGlobalAveragePool
:class:`Add`                com.microsoft QLinearAdd (same shapes)
==========================  ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ...model import layers, onnx_ops, ort_contrib
from .graph import QParams

__all__ = ["as_int8", "as_uint8", "Tensor", "Stage", "Quantize", "Dequantize", "Requantize", "Reshape", "Clamp",
           "MaxPool", "AveragePool", "GlobalAveragePool", "Add"]


@dataclass(frozen=True)
class Tensor:
    """A tensor the imported model computes: ``name``, ``shape`` per sample, ``dtype``
    (``"float32"``, ``"int8"`` or ``"uint8"``) and, when quantized, the parameters it was
    quantized with."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    qparams: QParams | None = None


def _typed_zp(p: QParams) -> np.ndarray:
    return p.zero_point.astype(np.dtype(p.dtype))


def as_int8(x: np.ndarray) -> np.ndarray:
    """uint8 ``q`` as the int8 ``q - 128`` (the top bit flipped); int8 as is."""
    return (x ^ np.uint8(0x80)).view(np.int8) if x.dtype == np.uint8 else x


def as_uint8(x: np.ndarray) -> np.ndarray:
    """int8 ``q`` as the uint8 ``q + 128`` (the top bit flipped); uint8 as is."""
    return x.view(np.uint8) ^ np.uint8(0x80) if x.dtype == np.int8 else x


@dataclass
class Stage:
    """One step: ONNX ``node`` (name) and ``op``, ``inputs`` (tensor names), ``output``."""

    node: str
    op: str
    inputs: tuple[str, ...]
    output: Tensor
    where: ClassVar[str] = "host"

    def run(self, env: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> str:
        return ""


@dataclass
class Quantize(Stage):
    params: QParams

    def run(self, env):
        p = self.params
        return onnx_ops.quantize_linear(env[self.inputs[0]], p.scale, _typed_zp(p))

    def describe(self):
        return str(self.params)


@dataclass
class Dequantize(Stage):
    params: QParams

    def run(self, env):
        p = self.params
        return onnx_ops.dequantize_linear(env[self.inputs[0]], p.scale, _typed_zp(p))

    def describe(self):
        return str(self.params)


@dataclass
class Requantize(Stage):
    x_params: QParams
    y_params: QParams

    def run(self, env):
        x, y = self.x_params, self.y_params
        f = onnx_ops.dequantize_linear(env[self.inputs[0]], x.scale, _typed_zp(x))
        return onnx_ops.quantize_linear(f, y.scale, _typed_zp(y))

    def describe(self):
        return f"{self.x_params} -> {self.y_params}"


@dataclass
class Reshape(Stage):
    def run(self, env):
        x = env[self.inputs[0]]
        return x.reshape(len(x), *self.output.shape)


@dataclass
class Clamp(Stage):
    lo: int
    hi: int

    def run(self, env):
        x = env[self.inputs[0]]
        return np.clip(x, self.lo, self.hi).astype(x.dtype)

    def describe(self):
        return f"clamp [{self.lo}, {self.hi}]"


@dataclass
class MaxPool(Stage):
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]     #: top, left, bottom, right
    dilations: tuple[int, int]

    def run(self, env):
        t, l, b, r = self.pads
        return layers.max_pool2d(env[self.inputs[0]], self.kernel, self.strides, ((t, b), (l, r)),
                                 self.dilations)

    def describe(self):
        return f"kernel {self.kernel} strides {self.strides} pads {self.pads}"


@dataclass
class AveragePool(Stage):
    x_params: QParams
    y_params: QParams
    kernel: tuple[int, int]
    strides: tuple[int, int]
    pads: tuple[int, int, int, int]     #: top, left, bottom, right
    count_include_pad: int

    def run(self, env):
        x, y = self.x_params, self.y_params
        return ort_contrib.qlinear_average_pool(
            env[self.inputs[0]], x.scale, _typed_zp(x), y.scale, _typed_zp(y), kernel_shape=self.kernel,
            strides=self.strides, pads=list(self.pads), count_include_pad=self.count_include_pad)

    def describe(self):
        return f"kernel {self.kernel} strides {self.strides} pads {self.pads}"


@dataclass
class GlobalAveragePool(Stage):
    x_params: QParams
    y_params: QParams

    def run(self, env):
        x, y = self.x_params, self.y_params
        return ort_contrib.qlinear_global_average_pool(env[self.inputs[0]], x.scale, _typed_zp(x),
                                                       y.scale, _typed_zp(y))


@dataclass
class Add(Stage):
    a_params: QParams
    b_params: QParams
    y_params: QParams

    def run(self, env):
        a, b, y = self.a_params, self.b_params, self.y_params
        return ort_contrib.qlinear_add(env[self.inputs[0]], a.scale, _typed_zp(a), env[self.inputs[1]],
                                       b.scale, _typed_zp(b), y.scale, _typed_zp(y))
