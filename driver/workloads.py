"""Workloads of the benchmark and of the performance model's checks: random quantized
layers of any shape (a GEMM, a ResNet-18-like convolution), one-layer networks, random
networks, and the named sets the bench runs.

Layers are :class:`~systolica.driver.models.QLinear` / ``QConv2d`` with random int8
weights, int32 biases and per-channel requantization (a lane per channel, as real layers
have), so what runs is what a real layer of that shape runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.numerics import RequantParams
from .models import QConv2d, QLinear, QuantizedNet

__all__ = ["Conv", "RESNET_LAYERS", "GEMM_SIZES", "random_linear", "random_conv", "one_layer",
           "random_network", "random_input"]


@dataclass(frozen=True)
class Conv:
    """A convolution's geometry: ``c`` input channels of ``h x w``, ``m`` outputs,
    ``k x k`` kernel, ``stride``, symmetric ``pad``."""

    name: str
    c: int
    h: int
    w: int
    m: int
    k: int
    stride: int = 1
    pad: int = 0


#: ResNet-18-like convolutions (batch 1): 3x3 and 1x1, 64 to 256 channels, 28x28 and 14x14
#: inputs, stride 2 (and its 1x1 downsample) and padding.
RESNET_LAYERS = (
    Conv("conv3x3 64->64 28x28", 64, 28, 28, 64, 3, 1, 1),
    Conv("conv3x3 64->128 28x28 s2", 64, 28, 28, 128, 3, 2, 1),
    Conv("conv1x1 64->128 28x28 s2", 64, 28, 28, 128, 1, 2, 0),
    Conv("conv3x3 128->128 14x14", 128, 14, 14, 128, 3, 1, 1),
    Conv("conv1x1 128->256 14x14", 128, 14, 14, 256, 1, 1, 0),
    Conv("conv3x3 128->256 14x14 s2", 128, 14, 14, 256, 3, 2, 1),
    Conv("conv3x3 256->256 14x14", 256, 14, 14, 256, 3, 1, 1),
)

#: Square GEMM sizes of the utilization sweep.
GEMM_SIZES = (16, 32, 64, 128, 256)


def _requant(rng, n: int, k: int, scheme: str = "tflite") -> tuple[RequantParams, np.ndarray]:
    """Per-channel parameters spreading the outputs over the int8 range, a ReLU, a bias."""
    s_w = rng.uniform(0.5, 1.5, size=n).astype(np.float32) * np.float32(0.02)
    s_out = float(0.02 * 0.02 * 40 * np.sqrt(k))
    bias = rng.integers(-2000, 2001, size=n).astype(np.int32)
    return RequantParams.for_layer(scheme, 0.02, s_w, s_out, -10, "int8", activation="relu"), bias


def random_linear(k: int, n: int, seed: int = 0, in_shape: tuple | None = None) -> QLinear:
    rng = np.random.default_rng(seed)
    requant, bias = _requant(rng, n, k)
    return QLinear(weight=rng.integers(-127, 128, size=(k, n), dtype=np.int8),
                   weight_zero_point=np.zeros(n, np.int8), bias=bias, input_zero_point=int(rng.integers(-20, 20)),
                   requant=requant, activation="relu", in_shape=in_shape or (k,), out_shape=(n,),
                   input_scale=0.02, weight_scale=np.full(n, 0.02, np.float32), output_scale=1.0)


def random_conv(g: Conv, seed: int = 0) -> QConv2d:
    rng = np.random.default_rng(seed)
    oh = (g.h + 2 * g.pad - g.k) // g.stride + 1
    ow = (g.w + 2 * g.pad - g.k) // g.stride + 1
    requant, bias = _requant(rng, g.m, g.c * g.k * g.k)
    return QConv2d(weight=rng.integers(-127, 128, size=(g.m, g.c, g.k, g.k), dtype=np.int8),
                   weight_zero_point=np.zeros(g.m, np.int8), bias=bias, input_zero_point=int(rng.integers(-20, 20)),
                   requant=requant, activation="relu", in_shape=(g.c, g.h, g.w), out_shape=(g.m, oh, ow),
                   input_scale=0.02, weight_scale=np.full(g.m, 0.02, np.float32), output_scale=1.0,
                   strides=(g.stride, g.stride), pads=(g.pad,) * 4)


def one_layer(layer, name: str = "layer") -> QuantizedNet:
    """``layer`` as a network of its own."""
    return QuantizedNet(name, "tflite", tuple(layer.in_shape), 0.02, int(layer.input_zero_point), (layer,))


def random_input(net: QuantizedNet, batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=(batch, *net.input_shape), dtype=np.int8)


def random_network(seed: int, *, max_channels: int = 48) -> QuantizedNet:
    """A random small network: one to three convolutions (kernel 1..3, stride 1..2,
    padding 0..1, 1..``max_channels`` channels) then one or two linear layers."""
    rng = np.random.default_rng(seed)
    c, h = int(rng.integers(1, 9)), int(rng.integers(6, 13))
    shape = (c, h, h)
    layers = []
    for i in range(int(rng.integers(1, 4))):
        k, s = int(rng.integers(1, 4)), int(rng.integers(1, 3))
        p = int(rng.integers(0, 2)) if k > 1 else 0
        if (shape[1] + 2 * p - k) // s + 1 < 2:
            break
        layer = random_conv(Conv(f"c{i}", shape[0], shape[1], shape[2], int(rng.integers(1, max_channels + 1)),
                                 k, s, p), seed * 31 + i)
        layers.append(layer)
        shape = layer.out_shape
    feats = int(np.prod(shape))
    for j in range(int(rng.integers(1, 3))):
        n = int(rng.integers(4, 65))
        layer = random_linear(feats, n, seed * 31 + 10 + j, in_shape=shape if j == 0 else None)
        layers.append(layer)
        shape, feats = (n,), n
    first = layers[0]
    return QuantizedNet(f"random{seed}", "tflite", tuple(first.in_shape), 0.02, int(first.input_zero_point),
                        tuple(_chain_zero_points(layers)))


def _chain_zero_points(layers: list) -> list:
    """Each layer's input zero point = the previous layer's output zero point."""
    import dataclasses

    out = [layers[0]]
    for layer in layers[1:]:
        out.append(dataclasses.replace(layer, input_zero_point=out[-1].output_zero_point))
    return out
