"""The digits demo networks quantized to FP8, run on the golden FP8 numerics.

Post-training quantization of a trained :class:`~systolica.driver.models.FloatModel`
(:func:`quantize_fp8`):

- activations: one scale per tensor, ``amax / max_magnitude`` of the activation format
  (amax over a calibration subset), values cast to FP8 (ONNX ``QuantizeLinear``,
  saturating);
- weights: one scale per output channel, ``amax_c / max_magnitude`` of the weight
  format, cast to FP8;
- bias in accumulator units (:func:`~systolica.model.requant_fp8.fixed_bias`), ReLU fused
  into the requantization, the next activation's format as the output (the logits too).

A layer (:func:`run_fp8_layer`) is exactly what an FP8 configuration of the
accelerator computes: the exact sum of FP8 products (:func:`systolica.model.accum.matmul`,
conv2d as im2col with FP8 +0 padding) and one requantization per output
(:func:`~systolica.model.requant_fp8.requantize_fp8`: ``(sum + bias) * scale`` rounded
once). Formats: ``"fp8_e4m3"``, ``"fp8_e5m2"``, or activations x weights as
``("fp8_e4m3", "fp8_e5m2")``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..model import accum, fp8
from ..model.config import AcceleratorConfig
from ..model.requant_fp8 import Fp8RequantParams, fixed_bias, requantize_fp8
from .models import ARCHITECTURES, FloatModel, _im2col, digits_split

__all__ = ["Fp8Layer", "Fp8Net", "quantize_fp8", "run_fp8_layer", "run_fp8", "fp8_accuracy",
           "fp8_accuracies", "FP8_SCHEMES", "CompilerLayer", "CompilerNet", "compiler_net",
           "quantize_input_fp8", "logits_fp8"]

#: The formats the demo reports: name -> (activation type, weight type).
FP8_SCHEMES = {"E4M3": ("fp8_e4m3", "fp8_e4m3"), "E5M2": ("fp8_e5m2", "fp8_e5m2"),
               "E4M3 x E5M2": ("fp8_e4m3", "fp8_e5m2")}


@dataclass(frozen=True, eq=False)
class Fp8Layer:
    """One FP8 layer: ``weight`` FP8 codes ``(K, N)`` (linear; conv2d: ``(M, C*k*k)`` as
    ``w.reshape(M, -1)``), per-channel ``scale`` (float32, ``s_in * s_w / s_out``) and
    ``bias`` (accumulator units), ``relu``; conv2d geometry in ``kernel/stride/pad``."""

    kind: str
    weight: np.ndarray
    scale: np.ndarray
    bias: np.ndarray
    relu: bool
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    kernel: int = 1
    stride: int = 1
    pad: int = 0


@dataclass(frozen=True, eq=False)
class Fp8Net:
    """An FP8 network: the accelerator configuration whose numerics it uses, the input
    scale and the layers."""

    cfg: AcceleratorConfig
    input_scale: float
    layers: tuple[Fp8Layer, ...]
    output_scale: float

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.layers[0].in_shape)


def _scale(amax: float, t: str) -> float:
    return float(np.float32(amax / fp8.fp8_type(t).max_magnitude)) if amax > 0 else 1.0


def quantize_fp8(model: FloatModel, x_calib: np.ndarray, a_type: str = "fp8_e4m3",
                 w_type: str | None = None) -> Fp8Net:
    """Post-training FP8 quantization of ``model`` (see the module docstring)."""
    w_type = w_type or a_type
    cfg = AcceleratorConfig(input_type=a_type, weight_type=w_type)
    acts = model.forward(x_calib, activations=True)
    s_in = _scale(float(np.abs(x_calib).max()), a_type)
    net_in, layers = s_in, []
    for layer, act in zip(model.layers, acts):
        s = layer.spec
        s_out = _scale(float(np.abs(act).max()), a_type)
        w = layer.weight if s.kind == "linear" else layer.weight.reshape(s.out, -1).T   # (K, N)
        s_w = np.array([_scale(float(np.abs(w[:, c]).max()), w_type) for c in range(s.out)])
        w_q = fp8.cast_to_fp8(w / s_w, w_type).view(np.uint8)
        acc_scale = np.float64(s_in) * s_w
        scale = (acc_scale / s_out).astype(np.float32)
        layers.append(Fp8Layer(s.kind, w_q.T.copy() if s.kind == "conv2d" else w_q, scale,
                               fixed_bias(cfg, layer.bias, acc_scale), s.activation == "relu",
                               layer.in_shape, layer.out_shape, s.kernel, s.stride, s.pad))
        s_in = s_out
    return Fp8Net(cfg, net_in, tuple(layers), s_in)


def run_fp8_layer(net: Fp8Net, layer: Fp8Layer, x: np.ndarray) -> np.ndarray:
    """FP8 codes ``(N, *in_shape)`` -> FP8 codes ``(N, *out_shape)``."""
    cfg, t = net.cfg, net.cfg.input_type
    n = len(x)
    if layer.kind == "conv2d":
        cols, oh, ow = _im2col(x.astype(np.uint8), layer.kernel, layer.stride, layer.pad)
        sums = accum.matmul(cfg, cols, layer.weight.T)                 # (N*OH*OW, M)
    else:
        sums = accum.matmul(cfg, x.reshape(n, -1), layer.weight)        # (N, M)
    out = np.empty(sums.shape, np.uint8)
    for (i, c), e in np.ndenumerate(sums):
        out[i, c] = requantize_fp8(cfg, int(e), t, float(layer.scale[c]), bias=int(layer.bias[c]),
                                   relu=layer.relu)
    if layer.kind == "conv2d":
        return out.reshape(n, oh, ow, -1).transpose(0, 3, 1, 2)
    return out


def run_fp8(net: Fp8Net, x_float: np.ndarray) -> np.ndarray:
    """Float input -> the logits as float64 (decoded from the last layer's FP8 codes)."""
    x = quantize_input_fp8(net, x_float)
    for layer in net.layers:
        x = run_fp8_layer(net, layer, x)
    return logits_fp8(net, x)


def quantize_input_fp8(net: Fp8Net, x_float: np.ndarray) -> np.ndarray:
    """Float input ``(N, 64)`` or ``(N, *input_shape)`` -> FP8 codes (uint8) of the
    activation format (ONNX QuantizeLinear, saturating)."""
    x = np.asarray(x_float, np.float32).reshape(-1, *net.input_shape)
    return fp8.cast_to_fp8(x / np.float32(net.input_scale), net.cfg.input_type).view(np.uint8)


def logits_fp8(net: Fp8Net, codes: np.ndarray) -> np.ndarray:
    """The last layer's FP8 codes decoded and scaled: the logits as float64."""
    return fp8.to_float64(np.asarray(codes, np.uint8), net.cfg.input_type) * net.output_scale


@dataclass(frozen=True, eq=False)
class CompilerLayer:
    """An :class:`Fp8Layer` as :func:`systolica.driver.compiler.compile_layer` takes a
    layer (the attributes of :class:`~.models.QLinear` / ``QConv2d``): ``weight`` FP8
    codes ``(K, N)`` or ``(M, C, k, k)``, ``bias`` in accumulator units, ``requant`` an
    :class:`~systolica.model.requant_fp8.Fp8RequantParams` (per-channel scales, output
    in the activation format), no zero points, convolution padding with FP8 +0."""

    kind: str
    weight: np.ndarray
    bias: np.ndarray
    requant: Fp8RequantParams
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    groups: int = 1
    input_zero_point: int = 0
    weight_zero_point: None = None


@dataclass(frozen=True, eq=False)
class CompilerNet:
    """An :class:`Fp8Net` as :func:`systolica.driver.compiler.compile_network` takes a net."""

    input_shape: tuple[int, ...]
    layers: tuple[CompilerLayer, ...]


def compiler_net(net: Fp8Net) -> CompilerNet:
    """``net``'s layers for the compiler: the same codes, scales, biases and ReLUs that
    :func:`run_fp8_layer` uses, so the accelerator's output equals :func:`run_fp8`'s."""
    layers = []
    for layer in net.layers:
        requant = Fp8RequantParams(net.cfg.input_type, tuple(float(v) for v in layer.scale), relu=layer.relu)
        if layer.kind == "conv2d":
            m, c = layer.out_shape[0], layer.in_shape[0]
            w = layer.weight.reshape(m, c, layer.kernel, layer.kernel)
            layers.append(CompilerLayer("conv2d", w, layer.bias, requant, tuple(layer.in_shape),
                                        tuple(layer.out_shape), (layer.stride,) * 2, (layer.pad,) * 4))
        else:
            layers.append(CompilerLayer("linear", layer.weight, layer.bias, requant, tuple(layer.in_shape),
                                        tuple(layer.out_shape)))
    return CompilerNet(net.input_shape, tuple(layers))


def fp8_accuracy(net: Fp8Net, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(run_fp8(net, x), axis=1) == np.asarray(y)))


@functools.lru_cache(maxsize=4)
def fp8_accuracies(seed: int = 0) -> dict[str, dict[str, float]]:
    """``{"mlp": {"E4M3": acc, ...}, "cnn": {...}}`` on the digits test split, quantized on
    the same calibration subset as the int8 demo."""
    from .models import CALIBRATION_SIZE, _trained

    data = digits_split()
    out = {}
    for name in ARCHITECTURES:
        model = _trained(name, seed)
        out[name] = {label: fp8_accuracy(quantize_fp8(model, data.x_train[:CALIBRATION_SIZE], a, w),
                                         data.x_test, data.y_test)
                     for label, (a, w) in FP8_SCHEMES.items()}
    return out
