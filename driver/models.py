"""Demo networks: a small MLP and CNN trained on the digits set, quantized to int8.

Everything is numpy (no torch) and deterministic for a seed:

1. **Data**: scikit-learn's bundled 8x8 digits (:func:`sklearn.datasets.load_digits`,
   shipped with the wheel, no download), pixels scaled to ``[0, 1]``, one fixed 80/20
   train/test split (:func:`digits_split`).
2. **Training** (:func:`train`): softmax cross-entropy, Adam, mini-batches, He init.
   ``"mlp"``: 64 -> 64 -> 32 -> 10 (ReLU). ``"cnn"``: 1x8x8 -> conv3x3 8ch pad 1 + ReLU ->
   conv3x3 16ch stride 2 pad 1 + ReLU -> flatten (C, H, W order) -> linear 10.
3. **Post-training quantization** (:func:`quantize`), TFLite-style int8:
   activations per tensor, asymmetric int8, range = min/max over a calibration subset of
   the training set (widened to include 0); weights per output channel, symmetric int8 in
   ``[-127, 127]`` with zero point 0; bias int32 ``round(b / (s_in * s_w[c]))``; ReLU fused
   as the requantizer's clamp (:func:`~systolica.model.numerics.activation_range`);
   requantization ``"tflite"`` (fixed point) or ``"onnx"`` (float32) through
   :meth:`~systolica.model.numerics.RequantParams.for_layer`.
4. **Network description** (:class:`QuantizedNet`): the input quantization plus a tuple
   of frozen layers (:class:`QConv2d`, :class:`QLinear`), each holding exactly the integer
   tensors and parameters its golden computation needs, in the layouts the golden
   functions take. :func:`run_integer` runs it with the golden integer functions only
   (:func:`~systolica.model.reference.conv_integer` /
   :func:`~systolica.model.reference.matmul_integer` then
   :func:`~systolica.model.numerics.requantize` with the bias).

:func:`digits_models` gives the demo everything in one (cached) call.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple, Union

import numpy as np

from ..model.numerics import RequantParams, requantize
from ..model.reference import conv_integer, matmul_integer, quantize_linear

__all__ = [
    "ARCHITECTURES",
    "Split",
    "digits_split",
    "LayerSpec",
    "FloatLayer",
    "FloatModel",
    "train",
    "QConv2d",
    "QLinear",
    "QuantizedNet",
    "quantize",
    "quantize_input",
    "run_layer",
    "run_integer",
    "trace_integer",
    "run_quantized",
    "accuracy",
    "DemoModel",
    "digits_models",
]

TEST_FRACTION = 0.2
SPLIT_SEED = 0          # the train/test split is fixed, whatever the training seed
CALIBRATION_SIZE = 256  # first samples of the (fixed) training set
INT8_MIN, INT8_MAX = -128, 127
WEIGHT_QMAX = 127       # symmetric weights use [-127, 127], as TFLite


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
class Split(NamedTuple):
    """Digits, ``x`` float64 ``(N, 64)`` in ``[0, 1]``, ``y`` int64 labels 0..9."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a)  # own copy
    a.setflags(write=False)
    return a


@functools.lru_cache(maxsize=1)
def digits_split() -> Split:
    """The fixed train/test split of scikit-learn's digits (1437 / 360 samples)."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    order = np.random.RandomState(SPLIT_SEED).permutation(len(y))  # stream-stable legacy RNG
    n_test = int(round(TEST_FRACTION * len(y)))
    test, tr = order[:n_test], order[n_test:]
    return Split(*(_readonly(a) for a in (x[tr], y[tr], x[test], y[test])))


# --------------------------------------------------------------------------------------
# float model
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSpec:
    """One layer of an architecture: ``kind`` ``"linear"`` (``out`` features) or
    ``"conv2d"`` (``out`` channels, square ``kernel``, ``stride``, symmetric ``pad``)."""

    kind: str
    out: int
    activation: str = "none"
    kernel: int = 1
    stride: int = 1
    pad: int = 0


#: name -> (input shape per sample, layers)
ARCHITECTURES: dict[str, tuple[tuple[int, ...], tuple[LayerSpec, ...]]] = {
    "mlp": ((64,), (LayerSpec("linear", 64, "relu"),
                    LayerSpec("linear", 32, "relu"),
                    LayerSpec("linear", 10))),
    "cnn": ((1, 8, 8), (LayerSpec("conv2d", 8, "relu", kernel=3, stride=1, pad=1),
                        LayerSpec("conv2d", 16, "relu", kernel=3, stride=2, pad=1),
                        LayerSpec("linear", 10))),
}


@dataclass(frozen=True, eq=False)
class FloatLayer:
    """A float layer. ``weight`` is ``(in_features, out_features)`` for linear (the input
    flattened in C order) and ``(M, C, k, k)`` for conv2d; ``bias`` ``(out,)``."""

    spec: LayerSpec
    weight: np.ndarray
    bias: np.ndarray
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class FloatModel:
    """A trained float network; :meth:`forward` takes ``(N, 64)`` or ``(N, *input_shape)``."""

    name: str
    input_shape: tuple[int, ...]
    layers: tuple[FloatLayer, ...]

    def forward(self, x: np.ndarray, *, activations: bool = False):
        """Logits ``(N, 10)``; with ``activations=True`` the list of every layer's output."""
        h = np.asarray(x, dtype=np.float64).reshape(-1, *self.input_shape)
        outs = []
        for layer in self.layers:
            h, _ = _layer_forward(layer, h)
            outs.append(h)
        return outs if activations else h

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(x), axis=1)


def _out_shape(spec: LayerSpec, in_shape: tuple[int, ...]) -> tuple[int, ...]:
    if spec.kind == "linear":
        return (spec.out,)
    _, h, w = in_shape
    o = lambda n: (n + 2 * spec.pad - spec.kernel) // spec.stride + 1  # noqa: E731
    return (spec.out, o(h), o(w))


def _im2col(x: np.ndarray, k: int, stride: int, pad: int) -> tuple[np.ndarray, int, int]:
    """``(N, C, H, W)`` -> rows ``(N*OH*OW, C*k*k)`` in (c, ki, kj) order, as ``w.reshape(M, -1)``."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (w + 2 * pad - k) // stride + 1
    cols = np.empty((n, oh, ow, c, k, k), dtype=x.dtype)
    for i in range(k):
        for j in range(k):
            win = xp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride]
            cols[..., i, j] = win.transpose(0, 2, 3, 1)
    return cols.reshape(n * oh * ow, c * k * k), oh, ow


def _col2im(dcols: np.ndarray, x_shape, k: int, stride: int, pad: int, oh: int, ow: int):
    n, c, h, w = x_shape
    dcols = dcols.reshape(n, oh, ow, c, k, k)
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i:i + stride * oh:stride, j:j + stride * ow:stride] += \
                dcols[..., i, j].transpose(0, 3, 1, 2)
    return dxp[:, :, pad:pad + h, pad:pad + w]


def _layer_forward(layer: FloatLayer, x: np.ndarray):
    s, w = layer.spec, layer.weight
    if s.kind == "conv2d":
        cols, oh, ow = _im2col(x, s.kernel, s.stride, s.pad)
        z = (cols @ w.reshape(s.out, -1).T + layer.bias).reshape(len(x), oh, ow, s.out)
        z = z.transpose(0, 3, 1, 2)
    else:
        cols = x.reshape(len(x), -1)
        z = cols @ w + layer.bias
    y = np.maximum(z, 0.0) if s.activation == "relu" else z
    return y, (cols, x.shape, z)


def _layer_backward(layer: FloatLayer, dy: np.ndarray, cache):
    """Gradients ``(dx, dweight, dbias)`` of one layer."""
    cols, x_shape, z = cache
    s, w = layer.spec, layer.weight
    dz = dy * (z > 0) if s.activation == "relu" else dy
    if s.kind == "conv2d":
        dzf = dz.transpose(0, 2, 3, 1).reshape(-1, s.out)
        dw = (dzf.T @ cols).reshape(w.shape)
        dx = _col2im(dzf @ w.reshape(s.out, -1), x_shape, s.kernel, s.stride, s.pad,
                     z.shape[2], z.shape[3])
    else:
        dzf = dz
        dw = cols.T @ dz
        dx = (dz @ w.T).reshape(x_shape)
    return dx, dw, dzf.sum(axis=0)


def _init(name: str, rng: np.random.Generator) -> FloatModel:
    input_shape, specs = ARCHITECTURES[name]
    layers, shape = [], input_shape
    for spec in specs:
        fan_in = int(np.prod(shape)) if spec.kind == "linear" else shape[0] * spec.kernel ** 2
        wshape = (fan_in, spec.out) if spec.kind == "linear" else (spec.out, shape[0], spec.kernel, spec.kernel)
        w = rng.normal(0.0, np.sqrt(2.0 / fan_in), size=wshape)           # He init
        out_shape = _out_shape(spec, shape)
        layers.append(FloatLayer(spec, w, np.zeros(spec.out), shape, out_shape))
        shape = out_shape
    return FloatModel(name, input_shape, tuple(layers))


def train(name: str, seed: int = 0, *, epochs: int = 30, batch: int = 32,
          lr: float = 2e-3) -> FloatModel:
    """Train architecture ``name`` (``"mlp"`` or ``"cnn"``) on the digits training split.

    Adam (beta 0.9/0.999) on the mean softmax cross-entropy; ``seed`` fixes the
    initialisation and the mini-batch order, so the result is the same for a seed. BLAS
    runs on one thread: faster for these small products, and no thread-count dependence.
    """
    if name not in ARCHITECTURES:
        raise ValueError(f"name={name!r}: unknown, allowed one of {list(ARCHITECTURES)}")
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(1):
        return _train(name, seed, epochs, batch, lr)


def _train(name: str, seed: int, epochs: int, batch: int, lr: float) -> FloatModel:
    rng = np.random.default_rng(seed)
    model = _init(name, rng)
    data = digits_split()
    x = data.x_train.reshape(-1, *model.input_shape)
    y = data.y_train
    params = [p for layer in model.layers for p in (layer.weight, layer.bias)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y), batch):
            idx = order[start:start + batch]
            h, caches = x[idx], []
            for layer in model.layers:
                h, cache = _layer_forward(layer, h)
                caches.append(cache)
            p = np.exp(h - h.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            p[np.arange(len(idx)), y[idx]] -= 1.0            # d(mean CE)/d(logits) * N
            grad, grads = p / len(idx), []
            for layer, cache in zip(reversed(model.layers), reversed(caches)):
                grad, dw, db = _layer_backward(layer, grad, cache)
                grads[:0] = [dw, db]
            t += 1
            for p_, g, m_, v_ in zip(params, grads, m, v):
                m_ *= b1
                m_ += (1 - b1) * g
                v_ *= b2
                v_ += (1 - b2) * g * g
                p_ -= lr * (m_ / (1 - b1 ** t)) / (np.sqrt(v_ / (1 - b2 ** t)) + eps)
    for p_ in params:
        p_.setflags(write=False)
    return model


# --------------------------------------------------------------------------------------
# quantized network description
# --------------------------------------------------------------------------------------
def _frozen_array(name: str, a, dtype, shape: tuple[int, ...]) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.dtype(dtype) or a.shape != shape:
        raise ValueError(f"{name}: need {np.dtype(dtype)} {shape}, got {a.dtype} {a.shape}")
    return _readonly(a)


@dataclass(frozen=True, eq=False)
class _QLayer:
    """Fields common to the quantized layers (see :class:`QConv2d`, :class:`QLinear`).

    The integer computation uses ``weight``, ``weight_zero_point``, ``bias``,
    ``input_zero_point``, ``requant`` and the geometry only; ``input_scale``,
    ``weight_scale`` and ``output_scale`` (float32 values) are the real scales they were
    derived from, kept for dequantization and inspection.
    """

    kind: ClassVar[str]
    weight: np.ndarray             #: int8, layout of the golden function (see subclass)
    weight_zero_point: np.ndarray  #: int8 (out,), all 0 (symmetric per-channel weights)
    bias: np.ndarray               #: int32 (out,): round(b / (input_scale * weight_scale[c]))
    input_zero_point: int          #: int8 zero point of the input activation
    requant: RequantParams         #: per-channel scale, output zero point, activation clamp
    activation: str                #: fused activation ("relu" or "none"), already in requant's clamp
    in_shape: tuple[int, ...]      #: input per sample
    out_shape: tuple[int, ...]     #: output per sample
    input_scale: float
    weight_scale: np.ndarray       #: float32 (out,)
    output_scale: float

    def __post_init__(self) -> None:
        n = self.out_channels
        object.__setattr__(self, "weight", _frozen_array("weight", self.weight, np.int8, self._weight_shape()))
        object.__setattr__(self, "weight_zero_point",
                           _frozen_array("weight_zero_point", self.weight_zero_point, np.int8, (n,)))
        object.__setattr__(self, "bias", _frozen_array("bias", self.bias, np.int32, (n,)))
        object.__setattr__(self, "weight_scale",
                           _frozen_array("weight_scale", self.weight_scale, np.float32, (n,)))
        if not INT8_MIN <= int(self.input_zero_point) <= INT8_MAX:
            raise ValueError(f"input_zero_point={self.input_zero_point}: allowed -128..127")
        if self.requant.out_dtype != "int8" or self.requant.channels not in (None, n):
            raise ValueError(f"requant: need int8 output with 1 or {n} channels")

    @property
    def out_channels(self) -> int:
        return self.out_shape[0]

    @property
    def output_zero_point(self) -> int:
        return int(self.requant.zero_point)

    def _weight_shape(self) -> tuple[int, ...]:
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class QConv2d(_QLayer):
    """Quantized 2-D convolution, NCHW: ``weight`` int8 ``(M, C/groups, kh, kw)`` as
    :func:`~systolica.model.reference.conv_integer` takes it; ``in_shape`` ``(C, H, W)``,
    ``out_shape`` ``(M, OH, OW)``; ``strides`` ``(sh, sw)``; ``pads`` ONNX order
    ``(top, left, bottom, right)``, padding with the input zero point; ``dilations``
    ``(dh, dw)``; ``groups`` divides C and M (depthwise: ``groups == C``)."""

    kind: ClassVar[str] = "conv2d"
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    groups: int = 1

    def _weight_shape(self):
        if self.groups < 1 or self.in_shape[0] % self.groups or self.out_shape[0] % self.groups:
            raise ValueError(f"groups={self.groups}: must divide the input channels {self.in_shape[0]} "
                             f"and the output channels {self.out_shape[0]}")
        return (self.out_shape[0], self.in_shape[0] // self.groups, *np.shape(self.weight)[2:])


@dataclass(frozen=True, eq=False)
class QLinear(_QLayer):
    """Quantized fully connected layer: ``weight`` int8 ``(in_features, out_features)``,
    :func:`~systolica.model.reference.matmul_integer`'s ``b``. An input of ``in_shape``
    ``(C, H, W)`` is flattened in C order first (NCHW memory as is: no data movement)."""

    kind: ClassVar[str] = "linear"

    @property
    def in_features(self) -> int:
        return int(np.prod(self.in_shape))

    def _weight_shape(self):
        return (self.in_features, self.out_shape[0])


QLayer = Union[QConv2d, QLinear]


@dataclass(frozen=True, eq=False)
class QuantizedNet:
    """An int8 network: quantize the float input with ``(input_scale, input_zero_point)``
    (ONNX QuantizeLinear, int8), then run ``layers`` in order; the last layer's int8
    output are the logits (``output_scale``, ``output_zero_point`` dequantize them)."""

    name: str
    scheme: str
    input_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    layers: tuple[QLayer, ...] = field(default_factory=tuple)

    @property
    def output_scale(self) -> float:
        return self.layers[-1].output_scale

    @property
    def output_zero_point(self) -> int:
        return self.layers[-1].output_zero_point

    def describe(self) -> str:
        """One line per layer, for logs and the demo."""
        lines = [f"{self.name} ({self.scheme}): input {self.input_shape} int8 "
                 f"scale {self.input_scale:.6g} zp {self.input_zero_point}"]
        for i, l in enumerate(self.layers):
            geo = ""
            if isinstance(l, QConv2d):
                geo = f" stride {l.strides} pads {l.pads}"
                geo += f" dilation {l.dilations}" if l.dilations != (1, 1) else ""
                geo += f" groups {l.groups}" if l.groups != 1 else ""
            lines.append(f"  {i}: {l.kind} {l.in_shape} -> {l.out_shape}{geo} w {l.weight.shape} "
                         f"{l.activation}, out scale {l.output_scale:.6g} zp {l.output_zero_point}")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------
# post-training quantization
# --------------------------------------------------------------------------------------
def _activation_qparams(lo: float, hi: float) -> tuple[float, int]:
    """Asymmetric int8 (scale, zero point) for a real range, widened to contain 0."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    if hi == lo:
        hi = lo + 1.0
    scale = float(np.float32((hi - lo) / (INT8_MAX - INT8_MIN)))
    zp = int(np.clip(np.round(INT8_MIN - lo / scale), INT8_MIN, INT8_MAX))
    return scale, zp


def _weight_qparams(w: np.ndarray, channel_axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 weights and their float32 scales."""
    axes = tuple(a for a in range(w.ndim) if a != channel_axis)
    amax = np.abs(w).max(axis=axes)
    scale = np.where(amax > 0, amax / WEIGHT_QMAX, 1.0).astype(np.float32)
    shape = [1] * w.ndim
    shape[channel_axis] = -1
    q = np.clip(np.round(w / scale.astype(np.float64).reshape(shape)), -WEIGHT_QMAX, WEIGHT_QMAX)
    return q.astype(np.int8), scale


def quantize(model: FloatModel, x_calib: np.ndarray, scheme: str = "tflite", *,
             rounding: str = "double") -> QuantizedNet:
    """Post-training int8 quantization of ``model``, activation ranges from ``x_calib``.

    Activation ranges are the min/max of each layer's float output (after its ReLU) on
    ``x_calib``; ``scheme``/``rounding`` go to :meth:`RequantParams.for_layer`.
    """
    acts = model.forward(x_calib, activations=True)
    x = np.asarray(x_calib, dtype=np.float64)
    s_in, zp_in = _activation_qparams(x.min(), x.max())
    net_in = (s_in, zp_in)
    layers = []
    for layer, act in zip(model.layers, acts):
        spec = layer.spec
        s_out, zp_out = _activation_qparams(act.min(), act.max())
        axis = 0 if spec.kind == "conv2d" else 1
        w_q, s_w = _weight_qparams(layer.weight, axis)
        bias = np.round(layer.bias / (np.float64(s_in) * s_w.astype(np.float64)))
        bias = np.clip(bias, -2**31, 2**31 - 1).astype(np.int32)
        requant = RequantParams.for_layer(scheme, s_in, s_w, s_out, zp_out, "int8",
                                          activation=spec.activation, rounding=rounding)
        common = dict(weight=w_q, weight_zero_point=np.zeros(spec.out, np.int8), bias=bias,
                      input_zero_point=zp_in, requant=requant, activation=spec.activation,
                      in_shape=layer.in_shape, out_shape=layer.out_shape, input_scale=s_in,
                      weight_scale=s_w, output_scale=s_out)
        if spec.kind == "conv2d":
            layers.append(QConv2d(**common, strides=(spec.stride,) * 2, pads=(spec.pad,) * 4))
        else:
            layers.append(QLinear(**common))
        s_in, zp_in = s_out, zp_out
    return QuantizedNet(model.name, scheme, model.input_shape, *net_in, tuple(layers))


# --------------------------------------------------------------------------------------
# integer execution (golden functions only)
# --------------------------------------------------------------------------------------
def quantize_input(net: QuantizedNet, x_float: np.ndarray) -> np.ndarray:
    """Float input ``(N, 64)`` or ``(N, *input_shape)`` -> int8 ``(N, *input_shape)``."""
    x = np.asarray(x_float, dtype=np.float32).reshape(-1, *net.input_shape)
    return quantize_linear(x, np.float32(net.input_scale), np.int8(net.input_zero_point))


def run_layer(layer: QLayer, x_q: np.ndarray) -> np.ndarray:
    """One quantized layer on int8 ``(N, *layer.in_shape)``: int32 accumulation by the
    golden integer function, then :func:`requantize` with the bias -> int8."""
    x_q = np.asarray(x_q)
    if x_q.dtype != np.int8 or x_q.shape[1:] != layer.in_shape:
        raise ValueError(f"{layer.kind}: need int8 (N, {layer.in_shape}), got {x_q.dtype} {x_q.shape}")
    zp = np.int8(layer.input_zero_point)
    if isinstance(layer, QConv2d):
        acc = conv_integer(x_q, layer.weight, zp, layer.weight_zero_point, strides=layer.strides,
                           pads=layer.pads, dilations=layer.dilations, group=layer.groups)
        return requantize(acc, layer.requant, bias=layer.bias, axis=1)
    acc = matmul_integer(x_q.reshape(len(x_q), -1), layer.weight, zp, layer.weight_zero_point)
    return requantize(acc, layer.requant, bias=layer.bias, axis=-1)


def trace_integer(net: QuantizedNet, x_q: np.ndarray) -> list[np.ndarray]:
    """Every layer's int8 output for int8 input ``x_q`` (``[layer0_out, ..., logits]``)."""
    outs = []
    for layer in net.layers:
        x_q = run_layer(layer, x_q)
        outs.append(x_q)
    return outs


def run_integer(net: QuantizedNet, x_q: np.ndarray) -> np.ndarray:
    """int8 logits ``(N, 10)`` for already-quantized int8 input ``(N, *input_shape)``."""
    return trace_integer(net, x_q)[-1]


def run_quantized(net: QuantizedNet, x_float: np.ndarray) -> np.ndarray:
    """int8 logits ``(N, 10)`` of float input: :func:`quantize_input`, then :func:`run_integer`."""
    return run_integer(net, quantize_input(net, x_float))


def accuracy(model: FloatModel | QuantizedNet, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of a float model or of a quantized net (int8 logits, argmax)."""
    logits = run_quantized(model, x) if isinstance(model, QuantizedNet) else model.forward(x)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(y)))


# --------------------------------------------------------------------------------------
# the demo's one call
# --------------------------------------------------------------------------------------
class DemoModel(NamedTuple):
    float_model: FloatModel
    quantized_net: QuantizedNet
    float_acc: float
    int8_acc: float
    test: tuple[np.ndarray, np.ndarray]  #: (x_test float (N, 64) in [0, 1], y_test)


@functools.lru_cache(maxsize=8)
def _trained(name: str, seed: int) -> FloatModel:
    return train(name, seed)


@functools.lru_cache(maxsize=16)
def digits_models(seed: int = 0, scheme: str = "tflite") -> dict[str, DemoModel]:
    """``{"mlp": DemoModel, "cnn": DemoModel}``: trained (cached per seed), quantized with
    ``scheme`` calibrated on the first :data:`CALIBRATION_SIZE` training samples, and
    scored on the fixed test split. Cached: the same objects for the same arguments."""
    data = digits_split()
    calib = data.x_train[:CALIBRATION_SIZE]
    out = {}
    for name in ARCHITECTURES:
        model = _trained(name, seed)
        net = quantize(model, calib, scheme)
        out[name] = DemoModel(model, net, accuracy(model, data.x_test, data.y_test),
                              accuracy(net, data.x_test, data.y_test),
                              (data.x_test, data.y_test))
    return out
