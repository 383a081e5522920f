"""The golden layer reference, in three modules by concern (this module re-exports them):

- :mod:`.onnx_ops` -- ONNX operator semantics for int8/uint8 tensors, bit-exact to
  onnxruntime's CPU kernels: ``matmul_integer``, ``conv_integer``, ``qlinear_matmul``,
  ``qlinear_conv``, ``quantize_linear``, ``dequantize_linear``.
- :mod:`.layers` -- the layer API the driver's compiler targets (NCHW, framework-neutral,
  either requantization scheme): ``linear``, ``conv2d``, ``clamp``/``relu``/``relu6``,
  ``max_pool2d``, ``avg_pool2d``, ``add`` (``add_tflite_params``, ``AddParams``).
- :mod:`.ort_contrib` -- onnxruntime's com.microsoft operators: ``qlinear_average_pool``,
  ``qlinear_global_average_pool``, ``qlinear_add``.

Everything is written directly (no tiling): the reference that the compiler's tiled
programs and the hardware must reproduce. ``from systolica.model import reference as ref``
keeps working for all of it.
"""

from __future__ import annotations

from .layers import (AddParams, add, add_tflite_params, avg_pool2d, clamp, conv2d, linear,
                     max_pool2d, relu, relu6)
from .onnx_ops import (conv_integer, dequantize_linear, matmul_integer, qlinear_conv,
                       qlinear_matmul, quantize_linear)
from .ort_contrib import qlinear_add, qlinear_average_pool, qlinear_global_average_pool

__all__ = [
    # ONNX operators (onnx_ops)
    "matmul_integer", "conv_integer", "qlinear_matmul", "qlinear_conv", "quantize_linear",
    "dequantize_linear",
    # layer API (layers): what the compiler targets
    "linear", "conv2d", "clamp", "relu", "relu6", "max_pool2d", "avg_pool2d", "add",
    "add_tflite_params", "AddParams",
    # onnxruntime contrib operators (ort_contrib)
    "qlinear_average_pool", "qlinear_global_average_pool", "qlinear_add",
]
