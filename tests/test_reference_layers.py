"""The layer API of model/reference.py against references nobody here wrote, bit for bit.

Where onnxruntime has the operator, the layer is compared with a one-node ONNX model run on
onnxruntime's CPU kernels (uint8 x int8 as its exact uint8 x uint8 equivalent on x86 CPUs
without VNNI, see tests/ort_kernels.py):

    linear (onnx scheme)          QLinearMatMul (no bias); QLinearConv 1x1 (with bias)
    conv2d (onnx scheme)          QLinearConv (bias, groups, depthwise, dilation, pads)
    relu / relu6                  DequantizeLinear -> Relu / Clip(0, 6) -> QuantizeLinear
    max_pool2d                    MaxPool (int8/uint8, opset 12)
    qlinear_average_pool          com.microsoft.QLinearAveragePool
    qlinear_add, add(onnx)        com.microsoft.QLinearAdd

Where the arithmetic is TFLite's integer arithmetic (the ``"tflite"`` scheme: what the
hardware implements), the layer is compared with a transcription, in Python ints and
loops, of TFLite's reference kernels (tensorflow/lite/kernels/internal/reference/...):

    linear (tflite scheme)        integer_ops::FullyConnectedPerChannel
    conv2d (tflite scheme)        integer_ops::ConvPerChannel / DepthwiseConvPerChannel
    avg_pool2d                    integer_ops::AveragePool (int8), reference_ops::AveragePool (uint8)
    add (tflite scheme)           add.cc Prepare + integer_ops::AddFunc / reference_ops::AddElementwise

Every input is drawn from the ``seed`` fixture; every comparison is exact equality.
"""

from __future__ import annotations

import math
import platform

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from ort_kernels import exact_operands
from systolica.model import ort_contrib
from systolica.model import reference as ref
from systolica.model.numerics import NumericsError, RequantParams

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
CHECKED: dict[str, list[int]] = {}  # layer -> [comparisons, output elements], all 0 mismatches

QTYPES = [np.int8, np.uint8]
QTYPE_IDS = ["int8", "uint8"]
# (x, w) dtype pairs onnxruntime implements for QLinearConv / QLinearMatMul (y has x's type).
ORT_TYPES = [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)]
ORT_TYPE_IDS = ["u8xu8", "u8xs8", "s8xs8"]


def _has_avx2_fma() -> bool:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " avx2" in flags and " fma" in flags


# --------------------------------------------------------------------------------------
# onnxruntime plumbing
# --------------------------------------------------------------------------------------
def _ort_graph(nodes, inputs: dict[str, np.ndarray], inits: dict[str, np.ndarray], out_dtype,
               opset: int = 13, ms: bool = False) -> np.ndarray:
    tt = helper.np_dtype_to_tensor_dtype
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info(n, tt(v.dtype), v.shape) for n, v in inputs.items()],
        [helper.make_tensor_value_info("y", tt(np.dtype(out_dtype)), None)],
        initializer=[numpy_helper.from_array(np.asarray(v), n) for n, v in inits.items()])
    opsets = [helper.make_opsetid("", opset)] + ([helper.make_opsetid("com.microsoft", 1)] if ms else [])
    model = helper.make_model(graph, opset_imports=opsets)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # run the op as written
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)[0]


def _ort_op(op: str, names, values, runtime: set[str], out_dtype, opset: int = 13,
            domain: str = "", **attrs) -> np.ndarray:
    names, values = exact_operands(op, names, values)
    node = helper.make_node(op, list(names), ["y"], domain=domain or None, **attrs)
    inputs = {n: v for n, v in zip(names, values) if n in runtime}
    inits = {n: v for n, v in zip(names, values) if n not in runtime and n}
    return _ort_graph([node], inputs, inits, out_dtype, opset, ms=bool(domain))


def _same(layer: str, got: np.ndarray, want: np.ndarray, what: str = "") -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (layer, what, got.dtype,
                                                                 want.dtype, got.shape, want.shape)
    bad = np.flatnonzero(got.ravel() != want.ravel())
    assert bad.size == 0, (f"{layer} {what}: {bad.size}/{got.size} mismatches, first at flat "
                           f"index {bad[:5]}: ours={got.ravel()[bad[:5]]} "
                           f"reference={want.ravel()[bad[:5]]}")
    c = CHECKED.setdefault(layer, [0, 0])
    c[0] += 1
    c[1] += got.size


# --------------------------------------------------------------------------------------
# TFLite reference kernels, transcribed with Python ints (independent of model/numerics)
# --------------------------------------------------------------------------------------
def _wrap32(v: int) -> int:
    return ((v + 2**31) % 2**32) - 2**31


def _c_div(a: int, b: int) -> int:
    """C++ integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def tfl_quantize_multiplier(d: float, rounding: str) -> tuple[int, int]:
    """QuantizeMultiplier (quantization_util.cc): frexp, std::round, fix-ups."""
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = int(math.copysign(math.floor(abs(q * 2.0**31) + 0.5), q))   # TfLiteRound
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if rounding == "single" and shift > 30:
        shift, q_fixed = 30, 2**31 - 1
    return q_fixed, shift


def tfl_mbqm(x: int, m: int, shift: int, rounding: str) -> int:
    """MultiplyByQuantizedMultiplier (common.cc), both builds."""
    if rounding == "single":
        total = 31 - shift
        return _wrap32((x * m + (1 << (total - 1))) >> total)
    left, right = max(shift, 0), max(-shift, 0)
    a = _wrap32(x * (1 << left))
    if a == m == INT32_MIN:                                    # SaturatingRoundingDoublingHighMul
        hi = INT32_MAX
    else:
        ab = a * m
        hi = _c_div(ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30)), 1 << 31)
    mask = (1 << right) - 1                                    # RoundingDivideByPOT
    threshold = (mask >> 1) + (1 if hi < 0 else 0)
    return (hi >> right) + (1 if (hi & mask) > threshold else 0)


def tfl_activation_range(act: str, scale, zp: int, dtype) -> tuple[int, int]:
    """CalculateActivationRangeQuantized (kernel_util.cc)."""
    lo, hi = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)

    def quantize(f: float) -> int:
        v = float(np.float32(f) / np.float32(scale))
        return zp + int(math.copysign(math.floor(abs(v) + 0.5), v))

    if act == "none":
        return lo, hi
    if act == "relu":
        return max(lo, quantize(0.0)), hi
    return max(lo, quantize(0.0)), min(hi, quantize(6.0))


def tfl_channel_multipliers(x_scale, w_scales, y_scale, rounding):
    """PopulateConvolutionQuantizationParams: double(in) * double(filter[c]) / double(out)."""
    pairs = [tfl_quantize_multiplier(float(np.float32(x_scale)) * float(np.float32(ws))
                                     / float(np.float32(y_scale)), rounding)
             for ws in np.atleast_1d(w_scales)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def tfl_fully_connected(x, w, bias, x_zp, w_zps, mult, shift, y_zp, act, rounding, dtype):
    """integer_ops::FullyConnectedPerChannel (w here is (K, M); TFLite stores (M, K))."""
    n_, k_ = x.shape
    m_ = w.shape[1]
    xl, wl = x.tolist(), w.tolist()
    out = np.zeros((n_, m_), dtype)
    for n in range(n_):
        for m in range(m_):
            acc = 0
            for k in range(k_):
                acc += (wl[k][m] - w_zps[m]) * (xl[n][k] - x_zp)
            acc = _wrap32(acc)
            if bias is not None:
                acc = _wrap32(acc + int(bias[m]))
            acc = tfl_mbqm(acc, mult[m], shift[m], rounding) + y_zp
            out[n, m] = min(max(acc, act[0]), act[1])
    return out


def tfl_conv(x, w, bias, x_zp, w_zps, mult, shift, y_zp, act, stride, pads, dilation, groups,
             rounding, dtype):
    """integer_ops::ConvPerChannel (grouped: groups = input_depth / filter_input_depth), NCHW
    indexing; a filter offset (w_zps) as the legacy uint8 reference_ops::Conv has."""
    n_, c_, h_, w_ = x.shape
    m_, cg, kh, kw = w.shape
    (sh, sw), (dh, dw), ((pt, pb), (pl, pr)) = stride, dilation, pads
    oh = (h_ + pt + pb - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w_ + pl + pr - ((kw - 1) * dw + 1)) // sw + 1
    per_group = m_ // groups
    xl, wl = x.tolist(), w.tolist()
    out = np.zeros((n_, m_, oh, ow), dtype)
    for n in range(n_):
        for oy in range(oh):
            in_y0 = oy * sh - pt
            for ox in range(ow):
                in_x0 = ox * sw - pl
                for m in range(m_):
                    g = m // per_group
                    acc = 0
                    for fy in range(kh):
                        iy = in_y0 + dh * fy
                        for fx in range(kw):
                            ix = in_x0 + dw * fx
                            if not (0 <= ix < w_ and 0 <= iy < h_):
                                continue                       # zero padding by omission
                            for ic in range(cg):
                                acc += (wl[m][ic][fy][fx] - w_zps[m]) * (xl[n][g * cg + ic][iy][ix] - x_zp)
                    acc = _wrap32(acc)
                    if bias is not None:
                        acc = _wrap32(acc + int(bias[m]))
                    acc = tfl_mbqm(acc, mult[m], shift[m], rounding) + y_zp
                    out[n, m, oy, ox] = min(max(acc, act[0]), act[1])
    return out


def tfl_depthwise_conv(x, w, bias, x_zp, w_zps, mult, shift, y_zp, act, stride, pads, dilation,
                       rounding, dtype):
    """integer_ops::DepthwiseConvPerChannel: output channel ic * depth_multiplier + m reads
    input channel ic; filter (1, kh, kw, C * depth_multiplier) is w[oc, 0] here."""
    n_, c_, h_, w_ = x.shape
    m_, _, kh, kw = w.shape
    depth_multiplier = m_ // c_
    (sh, sw), (dh, dw), ((pt, pb), (pl, pr)) = stride, dilation, pads
    oh = (h_ + pt + pb - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w_ + pl + pr - ((kw - 1) * dw + 1)) // sw + 1
    xl, wl = x.tolist(), w.tolist()
    out = np.zeros((n_, m_, oh, ow), dtype)
    for n in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                for ic in range(c_):
                    for mm in range(depth_multiplier):
                        oc = mm + ic * depth_multiplier
                        in_x0, in_y0 = ox * sw - pl, oy * sh - pt
                        acc = 0
                        for fy in range(kh):
                            for fx in range(kw):
                                ix, iy = in_x0 + dw * fx, in_y0 + dh * fy
                                if 0 <= ix < w_ and 0 <= iy < h_:
                                    acc += (wl[oc][0][fy][fx] - w_zps[oc]) * (xl[n][ic][iy][ix] - x_zp)
                        acc = _wrap32(acc)
                        if bias is not None:
                            acc = _wrap32(acc + int(bias[oc]))
                        acc = tfl_mbqm(acc, mult[oc], shift[oc], rounding) + y_zp
                        out[n, oc, oy, ox] = min(max(acc, act[0]), act[1])
    return out


def tfl_average_pool(x, kernel, stride, pad_top_left, out_hw, act):
    """integer_ops::AveragePool (int8) / reference_ops::AveragePool (uint8), NCHW indexing."""
    n_, c_, h_, w_ = x.shape
    (kh, kw), (sh, sw), (pt, pl), (oh, ow) = kernel, stride, pad_top_left, out_hw
    xl = x.tolist()
    out = np.zeros((n_, c_, oh, ow), x.dtype)
    for b in range(n_):
        for oy in range(oh):
            for ox in range(ow):
                for ch in range(c_):
                    in_x0, in_y0 = ox * sw - pl, oy * sh - pt
                    fx0, fx1 = max(0, -in_x0), min(kw, w_ - in_x0)
                    fy0, fy1 = max(0, -in_y0), min(kh, h_ - in_y0)
                    acc, count = 0, 0
                    for fy in range(fy0, fy1):
                        for fx in range(fx0, fx1):
                            acc += xl[b][ch][in_y0 + fy][in_x0 + fx]
                            count += 1
                    assert count > 0
                    acc = (_c_div(acc + count // 2, count) if acc > 0
                           else _c_div(acc - count // 2, count))
                    out[b, ch, oy, ox] = min(max(acc, act[0]), act[1])
    return out


def tfl_add(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp, act, rounding, dtype):
    """add.cc Prepare (8-bit path) + integer_ops::AddFunc, per element."""
    f = np.float32
    twice_max = float(2 * max(f(a_scale), f(b_scale)))           # int * float: float32
    real_a = float(f(a_scale)) / twice_max
    real_b = float(f(b_scale)) / twice_max
    real_y = twice_max / float(f((1 << 20) * f(y_scale)))
    assert 0 < real_y < 1
    (am, ash), (bm, bsh), (ym, ysh) = (tfl_quantize_multiplier(r, rounding)
                                       for r in (real_a, real_b, real_y))
    assert ash <= 0 and bsh <= 0 and ysh <= 0                     # ...SmallerThanOneExp
    out = np.zeros(a.shape, dtype)
    for i, (av, bv) in enumerate(zip(a.ravel().tolist(), b.ravel().tolist())):
        sa = (av - a_zp) * (1 << 20)
        sb = (bv - b_zp) * (1 << 20)
        raw_sum = tfl_mbqm(sa, am, ash, rounding) + tfl_mbqm(sb, bm, bsh, rounding)
        raw = tfl_mbqm(raw_sum, ym, ysh, rounding) + y_zp
        out.flat[i] = min(max(raw, act[0]), act[1])
    return out


# --------------------------------------------------------------------------------------
# random operands and scales
# --------------------------------------------------------------------------------------
def _qrange(dtype) -> tuple[int, int]:
    return int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)


def _zp(rng, dtype) -> int:
    lo, hi = _qrange(dtype)
    return int(rng.integers(lo, hi + 1))


def _tensor(rng, dtype, shape, zp: int = 0, regime: str = "random") -> np.ndarray:
    """Uniform over the type, within +-3 of zp ("ties"), or at the type's ends ("large")."""
    lo, hi = _qrange(dtype)
    if regime == "ties":
        v = zp + rng.integers(-3, 4, size=shape)
    elif regime == "large":
        far = lo if 2 * zp > lo + hi else hi
        v = np.where(rng.random(size=shape) < 0.85, far, lo + hi - far)
    else:
        v = rng.integers(lo, hi + 1, size=shape)
    return np.clip(v, lo, hi).astype(dtype)


def _scales(rng, acc: np.ndarray, regime: str, channels: int | None):
    """(x_scale, w_scale, y_scale) float32 sizing the effective scale from |acc|:
    ties: powers of two (exact .5 ties); random: outputs spread over the type;
    large: max |acc| maps into range; saturate: most outputs clamp."""
    a = np.abs(acc.astype(np.float64))
    p99, amax = max(np.percentile(a, 99), 1.0), max(a.max(), 1.0)
    shape = () if channels is None else (channels,)
    if regime == "ties":
        eff = 2.0 ** -max(1, int(np.ceil(np.log2(p99 / 60))))
        x_s = np.float32(2.0 ** -5)
        w_s = np.float32(2.0 ** -4) * (2.0 ** rng.integers(0, 2, size=shape)).astype(np.float32)
        y_s = np.float32(float(x_s) * float(np.min(w_s)) / eff)
        return x_s, w_s.astype(np.float32), y_s
    eff = {"random": 60 / p99, "large": 127 / amax, "saturate": 10 ** rng.uniform(2, 5) / p99}[regime]
    x_s = np.float32(rng.uniform(0.01, 0.05))
    w_s = rng.uniform(0.005, 0.02, size=shape).astype(np.float32)
    y_s = np.float32(float(x_s) * float(np.max(w_s)) / eff)
    return x_s, w_s, y_s


def _bias(rng, acc: np.ndarray, m: int, wrap: bool) -> np.ndarray:
    amax = int(max(np.abs(acc.astype(np.int64)).max(), 1))
    if wrap:  # near the int32 ends: acc + bias wraps modulo 2^32 for some outputs
        return (rng.choice([-1, 1], size=m) * (INT32_MAX - rng.integers(0, amax, size=m))).astype(np.int32)
    return rng.integers(-amax, amax + 1, size=m).astype(np.int32)


def _random_conv(rng, kind: str):
    """(C, M, groups, H, W, kernel, stride, padding, dilation) for a conv kind."""
    if kind == "regular":
        groups, cg, mg = 1, int(rng.integers(1, 7)), int(rng.integers(1, 7))
    elif kind == "grouped":
        groups, cg, mg = int(rng.integers(2, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 4))
    elif kind == "depthwise":
        groups, cg, mg = int(rng.integers(2, 9)), 1, 1
    elif kind == "depthwise_x2":
        groups, cg, mg = int(rng.integers(2, 6)), 1, 2
    else:  # pointwise
        groups, cg, mg = 1, int(rng.integers(4, 17)), int(rng.integers(1, 9))
    kernel = (1, 1) if kind == "pointwise" else tuple(int(v) for v in rng.integers(1, 4, size=2))
    dilation = (1, 1) if kind == "pointwise" else tuple(int(v) for v in rng.integers(1, 3, size=2))
    stride = tuple(int(v) for v in rng.integers(1, 3, size=2))
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    pads = tuple(tuple(int(v) for v in rng.integers(0, e, size=2)) for e in eff)
    hw = tuple(int(rng.integers(max(1, e - sum(p)), max(1, e - sum(p)) + 7)) for e, p in zip(eff, pads))
    return groups * cg, groups * mg, groups, hw, kernel, stride, pads, dilation


CONV_KINDS = ["regular", "grouped", "depthwise", "depthwise_x2", "pointwise"]


# ======================================================================================
# linear
# ======================================================================================
@pytest.mark.parametrize("types", ORT_TYPES, ids=ORT_TYPE_IDS)
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["wzp", "wzp0"])
def test_linear_matches_onnxruntime_qlinear_matmul_and_1x1_conv(types, per_channel, symmetric, seed):
    """No bias: ONNX QLinearMatMul. With bias: QLinearConv with a 1x1 kernel on (N, K, 1, 1)."""
    rng = np.random.default_rng(seed)
    x_dt, w_dt = types
    for regime in ["ties", "random", "large", "saturate"]:
        n, k, m = (int(v) for v in rng.integers(1, 40, size=3))
        if regime == "large":
            k = int(rng.integers(200, 1500))
        x_zp = _zp(rng, x_dt)
        w_zp = (np.zeros(m if per_channel else (), np.int64) if symmetric else
                np.array([_zp(rng, w_dt) for _ in range(m)] if per_channel else _zp(rng, w_dt)))
        x = _tensor(rng, x_dt, (n, k), x_zp, regime)
        w = _tensor(rng, w_dt, (k, m), 0, "random" if regime != "large" else "large")
        acc = ref.matmul_integer(x, w, np.asarray(x_zp, x_dt), np.asarray(w_zp, w_dt))
        x_s, w_s, y_s = _scales(rng, acc, regime, m if per_channel else None)
        y_zp = _zp(rng, x_dt)
        params = RequantParams.for_layer("onnx", x_s, w_s, y_s, y_zp, np.dtype(x_dt).name)
        got = ref.linear(x, w, None, x_zp, w_zp, params)
        names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale",
                 "y_zero_point"]
        vals = [x, x_s, np.asarray(x_zp, x_dt), w, w_s, np.asarray(w_zp, w_dt), y_s,
                np.asarray(y_zp, x_dt)]
        _same("linear", got, _ort_op("QLinearMatMul", names, vals, {"a"}, x_dt, 13), regime)
        for wrap in (False, True):
            bias = _bias(rng, acc, m, wrap)
            got = ref.linear(x, w, bias, x_zp, w_zp, params)
            vals = [x.reshape(n, k, 1, 1), x_s, np.asarray(x_zp, x_dt),
                    np.ascontiguousarray(w.T).reshape(m, k, 1, 1), w_s, np.asarray(w_zp, w_dt),
                    y_s, np.asarray(y_zp, x_dt), bias]
            want = _ort_op("QLinearConv", ["x", "x_scale", "x_zero_point", "w", "w_scale",
                                           "w_zero_point", "y_scale", "y_zero_point", "B"],
                           vals, {"x"}, x_dt, 13)
            _same("linear", got, want.reshape(n, m), f"{regime} bias wrap={wrap}")


@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("activation", ["none", "relu", "relu6"])
@pytest.mark.parametrize("out_dt", QTYPES, ids=QTYPE_IDS)
def test_linear_tflite_matches_fully_connected_transcription(rounding, activation, out_dt, seed):
    """TFLite scheme, per-channel int8 weights (zero point 0) and legacy per-tensor uint8
    weights with a zero point, either input type, against FullyConnectedPerChannel."""
    rng = np.random.default_rng(seed)
    for x_dt, w_dt, per_channel in [(np.int8, np.int8, True), (np.uint8, np.uint8, False),
                                    (np.uint8, np.int8, True), (np.int8, np.int8, False)]:
        for regime in ["ties", "random", "saturate"]:
            n, k, m = int(rng.integers(1, 6)), int(rng.integers(1, 60)), int(rng.integers(1, 12))
            x_zp = _zp(rng, x_dt)
            w_zp = 0 if w_dt == np.int8 else _zp(rng, w_dt)
            x = _tensor(rng, x_dt, (n, k), x_zp, regime)
            w = _tensor(rng, w_dt, (k, m))
            acc = ref.matmul_integer(x, w, np.asarray(x_zp, x_dt), np.asarray(w_zp, w_dt))
            x_s, w_s, y_s = _scales(rng, acc, regime, m if per_channel else None)
            y_zp = _zp(rng, out_dt)
            bias = _bias(rng, acc, m, regime == "saturate")
            params = RequantParams.for_layer("tflite", x_s, w_s, y_s, y_zp, np.dtype(out_dt).name,
                                             activation=activation, rounding=rounding)
            got = ref.linear(x, w, bias, x_zp, w_zp, params)
            mult, shift = tfl_channel_multipliers(x_s, w_s, y_s, rounding)
            if not per_channel:
                mult, shift = mult * m, shift * m
            want = tfl_fully_connected(x, w, bias, x_zp, [w_zp] * m, mult, shift, y_zp,
                                       tfl_activation_range(activation, y_s, y_zp, out_dt),
                                       rounding, out_dt)
            _same("linear", got, want, f"tflite {regime}")


# ======================================================================================
# conv2d
# ======================================================================================
@pytest.mark.parametrize("kind", CONV_KINDS)
@pytest.mark.parametrize("types", ORT_TYPES, ids=ORT_TYPE_IDS)
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
def test_conv2d_matches_onnxruntime_qlinear_conv(kind, types, per_channel, seed):
    """Random shapes, strides, asymmetric pads, dilations, groups and depthwise (with a depth
    multiplier), bias (some wrapping int32) or none, weight zero point or symmetric."""
    rng = np.random.default_rng(seed)
    x_dt, w_dt = types
    for i, regime in enumerate(["ties", "random", "large", "saturate", "random", "ties"]):
        c, m, groups, hw, kernel, stride, pads, dilation = _random_conv(rng, kind)
        x_zp = _zp(rng, x_dt)
        symmetric = i % 2 == 1
        w_zp = (np.zeros(m if per_channel else (), np.int64) if symmetric else
                np.array([_zp(rng, w_dt) for _ in range(m)] if per_channel else _zp(rng, w_dt)))
        x = _tensor(rng, x_dt, (int(rng.integers(1, 3)), c, *hw), x_zp, regime)
        w = _tensor(rng, w_dt, (m, c // groups, *kernel), 0, "large" if regime == "large" else "random")
        (pt, pb), (pl, pr) = pads
        onnx_attrs = dict(group=groups, strides=list(stride), dilations=list(dilation),
                          pads=[pt, pl, pb, pr])
        acc = ref.conv_integer(x, w, np.asarray(x_zp, x_dt), np.asarray(w_zp, w_dt), **onnx_attrs)
        x_s, w_s, y_s = _scales(rng, acc, regime, m if per_channel else None)
        y_zp = _zp(rng, x_dt)
        bias = None if i % 3 == 0 else _bias(rng, acc, m, i % 3 == 2)
        params = RequantParams.for_layer("onnx", x_s, w_s, y_s, y_zp, np.dtype(x_dt).name)
        got = ref.conv2d(x, w, bias, x_zp, w_zp, params, stride, pads, dilation, groups)
        names = ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point", "y_scale",
                 "y_zero_point"] + ([] if bias is None else ["B"])
        vals = [x, x_s, np.asarray(x_zp, x_dt), w, w_s, np.asarray(w_zp, w_dt), y_s,
                np.asarray(y_zp, x_dt)] + ([] if bias is None else [bias])
        want = _ort_op("QLinearConv", names, vals, {"x"}, x_dt, 13, **onnx_attrs)
        _same("conv2d", got, want, f"{kind} {regime} {onnx_attrs}")


@pytest.mark.parametrize("kind", CONV_KINDS)
@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("out_dt", QTYPES, ids=QTYPE_IDS)
def test_conv2d_tflite_matches_conv_transcription(kind, rounding, out_dt, seed):
    """TFLite scheme against ConvPerChannel (and DepthwiseConvPerChannel for depthwise):
    int8 per-channel symmetric weights, and legacy uint8 per-tensor weights with an offset;
    fused none/relu/relu6; either output type."""
    rng = np.random.default_rng(seed)
    cases = [(np.int8, np.int8, True, "none"), (np.int8, np.int8, True, "relu6"),
             (np.uint8, np.uint8, False, "relu"), (np.uint8, np.int8, True, "none")]
    for x_dt, w_dt, per_channel, activation in cases:
        regime = ["ties", "random", "saturate"][int(rng.integers(0, 3))]
        c, m, groups, hw, kernel, stride, pads, dilation = _random_conv(rng, kind)
        x_zp = _zp(rng, x_dt)
        w_zp = 0 if w_dt == np.int8 else _zp(rng, w_dt)
        x = _tensor(rng, x_dt, (1, c, *hw), x_zp, regime)
        w = _tensor(rng, w_dt, (m, c // groups, *kernel))
        (pt, pb), (pl, pr) = pads
        acc = ref.conv_integer(x, w, np.asarray(x_zp, x_dt), np.asarray(w_zp, w_dt), group=groups,
                               strides=list(stride), dilations=list(dilation), pads=[pt, pl, pb, pr])
        x_s, w_s, y_s = _scales(rng, acc, regime, m if per_channel else None)
        y_zp = _zp(rng, out_dt)
        bias = _bias(rng, acc, m, False)
        params = RequantParams.for_layer("tflite", x_s, w_s, y_s, y_zp, np.dtype(out_dt).name,
                                         activation=activation, rounding=rounding)
        got = ref.conv2d(x, w, bias, x_zp, w_zp, params, stride, pads, dilation, groups)
        mult, shift = tfl_channel_multipliers(x_s, w_s, y_s, rounding)
        if not per_channel:
            mult, shift = mult * m, shift * m
        act = tfl_activation_range(activation, y_s, y_zp, out_dt)
        if kind.startswith("depthwise"):
            want = tfl_depthwise_conv(x, w, bias, x_zp, [w_zp] * m, mult, shift, y_zp, act,
                                      stride, pads, dilation, rounding, out_dt)
        else:
            want = tfl_conv(x, w, bias, x_zp, [w_zp] * m, mult, shift, y_zp, act, stride, pads,
                            dilation, groups, rounding, out_dt)
        _same("conv2d", got, want, f"tflite {kind} {regime} {activation}")


# ======================================================================================
# activations
# ======================================================================================
@pytest.mark.parametrize("dtype", QTYPES, ids=QTYPE_IDS)
def test_relu_relu6_match_onnxruntime_dequantize_activation_quantize(dtype, seed):
    """relu(x) == QuantizeLinear(Relu(DequantizeLinear(x))) and relu6(x) == ...(Clip(0, 6))
    with the same scale and zero point, over every value of the type. (Scales where 6/scale
    is an exact .5 tie -- 4 and 12 -- round differently in TFLite's range and are avoided.)"""
    rng = np.random.default_rng(seed)
    lo, hi = _qrange(dtype)
    x = np.arange(lo, hi + 1).astype(dtype).reshape(1, -1)
    for _ in range(12):
        scale = np.float32(10 ** rng.uniform(-2.3, -0.3))   # 6/scale from ~12 to ~1200
        zp = np.asarray(_zp(rng, dtype), dtype)
        dq = helper.make_node("DequantizeLinear", ["x", "s", "z"], ["f"])
        q = helper.make_node("QuantizeLinear", ["g", "s", "z"], ["y"])
        inits = {"s": scale, "z": zp}
        want = _ort_graph([dq, helper.make_node("Relu", ["f"], ["g"]), q], {"x": x}, inits, dtype)
        _same("relu", ref.relu(x, scale, int(zp)), want, f"scale={scale} zp={zp}")
        inits6 = dict(inits, lo=np.float32(0), hi=np.float32(6))
        want = _ort_graph([dq, helper.make_node("Clip", ["f", "lo", "hi"], ["g"]), q], {"x": x},
                          inits6, dtype)
        _same("relu6", ref.relu6(x, scale, int(zp)), want, f"scale={scale} zp={zp}")


def test_clamp_is_the_fused_activation_unfused(seed):
    rng = np.random.default_rng(seed)
    for dtype in QTYPES:
        lo, hi = _qrange(dtype)
        x = _tensor(rng, dtype, (3, 50))
        qmin, qmax = sorted(int(v) for v in rng.integers(lo, hi + 1, size=2))
        got = ref.clamp(x, qmin, qmax)
        _same("clamp", got, np.minimum(np.maximum(x, qmin), qmax).astype(dtype))
        # conv2d with a fused ReLU == clamp(conv2d without it): the requantizer clamps after
        # rounding to an integer, so fusing moves no value.
        w = _tensor(rng, np.int8, (4, 3, 3, 3))
        xi = _tensor(rng, dtype, (1, 3, 6, 6))
        zp = _zp(rng, dtype)
        for scheme in ("tflite", "onnx"):
            plain = RequantParams.for_layer(scheme, 0.02, 0.01, 0.05, zp, np.dtype(dtype).name)
            fused = RequantParams.for_layer(scheme, 0.02, 0.01, 0.05, zp, np.dtype(dtype).name,
                                            activation="relu6")
            y = ref.conv2d(xi, w, None, 0, 0, plain, padding=1)
            _same("clamp", ref.conv2d(xi, w, None, 0, 0, fused, padding=1),
                  ref.clamp(y, fused.qmin, fused.qmax), scheme)
        y = ref.max_pool2d(xi, 3, 2, 1)
        _same("clamp", ref.max_pool2d(xi, 3, 2, 1, qmin=qmin, qmax=qmax), ref.clamp(y, qmin, qmax))


# ======================================================================================
# pooling
# ======================================================================================
def _random_pool(rng, dilated: bool):
    kernel = tuple(int(v) for v in rng.integers(1, 5, size=2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, size=2)) if dilated else (1, 1)
    stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
    pads = tuple(tuple(int(v) for v in rng.integers(0, k, size=2)) for k in kernel)
    eff = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    hw = tuple(int(rng.integers(e, e + 9)) for e in eff)
    return hw, kernel, stride, pads, dilation


@pytest.mark.parametrize("dtype", QTYPES, ids=QTYPE_IDS)
def test_max_pool2d_matches_onnxruntime_maxpool(dtype, seed):
    """ONNX MaxPool (opset 12: int8/uint8) with strides, asymmetric pads and dilations; the
    type minimum appears in the inputs, so a padding value that won would show."""
    rng = np.random.default_rng(seed)
    lo, _ = _qrange(dtype)
    done = 0
    while done < 40:
        hw, kernel, stride, pads, dilation = _random_pool(rng, dilated=done % 2 == 1)
        x = _tensor(rng, dtype, (2, 3, *hw))
        if done % 4 == 0:
            x[..., : hw[0] // 2, :] = lo       # whole windows at the minimum, next to padding
        try:
            got = ref.max_pool2d(x, kernel, stride, pads, dilation)
        except NumericsError:                  # a window of padding only: no defined max
            continue
        (pt, pb), (pl, pr) = pads
        want = _ort_op("MaxPool", ["x"], [x], {"x"}, dtype, 12, kernel_shape=list(kernel),
                       strides=list(stride), pads=[pt, pl, pb, pr], dilations=list(dilation))
        _same("max_pool2d", got, want, f"{kernel} {stride} {pads} {dilation}")
        done += 1


@pytest.mark.parametrize("dtype", QTYPES, ids=QTYPE_IDS)
@pytest.mark.parametrize("activation", ["none", "relu6"])
def test_avg_pool2d_matches_tflite_average_pool_transcription(dtype, activation, seed):
    """count_include_pad=False is TFLite's AveragePool exactly (sum of stored values, divide
    by the in-image count, round half away from zero, clamp); True is the same kernel on the
    input explicitly padded with the zero point. Small-valued inputs make many .5 ties."""
    rng = np.random.default_rng(seed)
    for i in range(30):
        hw, kernel, stride, pads, _ = _random_pool(rng, dilated=False)
        zp = _zp(rng, dtype)
        x = _tensor(rng, dtype, (2, 3, *hw), zp, "ties" if i % 2 else "random")
        scale = np.float32(rng.uniform(0.01, 0.1))
        qmin, qmax = tfl_activation_range(activation, scale, zp, dtype)
        got = ref.avg_pool2d(x, kernel, stride, pads, qmin=qmin, qmax=qmax)
        (pt, pb), (pl, pr) = pads
        out_hw = got.shape[2:]
        want = tfl_average_pool(x, kernel, stride, (pt, pl), out_hw, (qmin, qmax))
        _same("avg_pool2d", got, want, f"{kernel} {stride} {pads}")
        got = ref.avg_pool2d(x, kernel, stride, pads, count_include_pad=True, x_zp=zp,
                             qmin=qmin, qmax=qmax)
        xp = np.pad(x, [(0, 0), (0, 0), (pt, pb), (pl, pr)], constant_values=zp)
        want = tfl_average_pool(xp, kernel, stride, (0, 0), out_hw, (qmin, qmax))
        _same("avg_pool2d", got, want, f"count_include_pad {kernel} {stride} {pads}")


@pytest.mark.parametrize("dtype", QTYPES, ids=QTYPE_IDS)
def test_qlinear_average_pool_matches_onnxruntime(dtype, seed):
    """com.microsoft.QLinearAveragePool: the float32 path (pads, strides, count_include_pad,
    rescaling) and its global-pool fallback (kernel == image, no pads)."""
    rng = np.random.default_rng(seed)
    for i in range(40):
        hw, kernel, stride, pads, _ = _random_pool(rng, dilated=False)
        if i % 5 == 0:
            kernel, pads, stride = hw, ((0, 0), (0, 0)), (1, 1)
        x = _tensor(rng, dtype, (2, 4, *hw))
        x_s, y_s = (np.float32(rng.uniform(0.005, 0.1)) for _ in range(2))
        if i % 3 == 0:
            x_s = y_s = np.float32(2.0 ** -int(rng.integers(2, 7)))   # ties in the rounding
        x_zp, y_zp = np.asarray(_zp(rng, dtype), dtype), np.asarray(_zp(rng, dtype), dtype)
        (pt, pb), (pl, pr) = pads
        attrs = dict(kernel_shape=list(kernel), strides=list(stride), pads=[pt, pl, pb, pr],
                     count_include_pad=i % 2)
        got = ref.qlinear_average_pool(x, x_s, x_zp, y_s, y_zp, **attrs)
        want = _ort_op("QLinearAveragePool", ["x", "x_scale", "x_zero_point", "y_scale",
                                              "y_zero_point"], [x, x_s, x_zp, y_s, y_zp], {"x"},
                       dtype, 13, domain="com.microsoft", **attrs)
        _same("qlinear_average_pool", got, want, str(attrs))


def _float_average_pool_global(x, x_s, x_zp, y_s, y_zp) -> np.ndarray:
    """QLinearAveragePool's float32 path (dequantize, sequential sum, /count, /y_scale + zp,
    round half even) over a whole image: what onnxruntime would compute without its
    global-pool fallback. Only used to pick inputs where the two differ."""
    f = np.float32
    n, c, h, w = x.shape
    xf = np.multiply(f(x_s), (x.astype(np.int64) - int(x_zp)).astype(f), dtype=f)
    s = np.zeros((n, c), f)
    for i in range(h):
        for j in range(w):
            s = np.add(s, xf[:, :, i, j], dtype=f)
    v = np.add(np.divide(np.divide(s, f(h * w), dtype=f), f(y_s), dtype=f), f(y_zp), dtype=f)
    lo, hi = _qrange(x.dtype)
    return np.clip(np.rint(v), lo, hi).astype(x.dtype).reshape(n, c, 1, 1)


@pytest.mark.parametrize("dtype", QTYPES, ids=QTYPE_IDS)
def test_qlinear_average_pool_global_fallback_near_ties(dtype, seed):
    """Kernel == image, no pads: onnxruntime switches to QLinearGlobalAveragePool (integer
    sum, one float32 scale). Scales are built so that some averages land within an ulp of
    a .5 tie, where that path and the float32 path round apart; the model must follow
    onnxruntime (and the inputs are kept only if the two paths do differ)."""
    rng = np.random.default_rng(seed)
    lo, hi = _qrange(dtype)
    x = np.arange(lo, hi + 1).astype(dtype).reshape(1, -1, 1, 1)      # every value, 1x1 image
    x2 = np.stack([x[:, :, 0, 0], x[:, ::-1, 0, 0]], axis=-1)[:, :, None, :]   # 1x2 image
    found = 0
    for _ in range(2000):
        y_s = np.float32(rng.uniform(0.01, 0.1))
        target = (int(rng.integers(1, 40)) + 0.5) / int(rng.integers(1, 60))
        x_s = np.float32(target * y_s)
        for _ in range(int(rng.integers(0, 4))):
            x_s = np.nextafter(x_s, np.float32(np.inf) if rng.random() < 0.5 else np.float32(0))
        zps = [np.asarray(_zp(rng, dtype) // 8, dtype) for _ in range(2)]
        for img in (x, x2):
            kernel = list(img.shape[2:])
            got = ref.qlinear_average_pool(img, x_s, zps[0], y_s, zps[1], kernel_shape=kernel)
            if np.array_equal(got, _float_average_pool_global(img, x_s, zps[0], y_s, zps[1])):
                continue
            want = _ort_op("QLinearAveragePool", ["x", "x_scale", "x_zero_point", "y_scale",
                                                  "y_zero_point"], [img, x_s, zps[0], y_s, zps[1]],
                           {"x"}, dtype, 13, domain="com.microsoft", kernel_shape=kernel)
            _same("qlinear_average_pool", got, want, "global fallback near ties")
            found += 1
        if found >= 8:
            break
    assert found >= 8, "no near-tie inputs where the two pooling paths differ were found"


# ======================================================================================
# residual add
# ======================================================================================
def _add_scales(rng, i: int):
    """(a_scale, b_scale, y_scale), float32, y_scale sized like a residual's output scale
    (0.5..3 x the larger input scale) except in the far-apart regime."""
    f = np.float32
    if i % 4 == 0:   # powers of two: exact ties in every rounding step
        a_s, b_s = (2.0 ** -int(rng.integers(3, 8)) for _ in range(2))
        return f(a_s), f(b_s), f(max(a_s, b_s) * 2.0 ** int(rng.integers(-1, 2)))
    if i % 4 == 1:   # equal input scales (the residual case after a shared quantizer)
        s = f(rng.uniform(0.01, 0.1))
        return s, s, f(s * rng.uniform(0.5, 3))
    if i % 4 == 2:   # far apart: one input scale up to 2^12 times the other, y saturating
        return f(rng.uniform(1e-4, 1e-2)), f(rng.uniform(0.01, 0.5)), f(rng.uniform(1e-3, 0.05))
    a_s, b_s = rng.uniform(0.005, 0.1, size=2)
    return f(a_s), f(b_s), f(max(a_s, b_s) * rng.uniform(0.5, 3))


@pytest.mark.parametrize("dtype", QTYPES, ids=QTYPE_IDS)
@pytest.mark.parametrize("rounding", ["double", "single"])
@pytest.mark.parametrize("activation", ["none", "relu", "relu6"])
def test_add_tflite_matches_add_transcription(dtype, rounding, activation, seed):
    """TFLite integer Add over random shapes and scale regimes, against add.cc's Prepare
    and AddFunc transcribed with Python ints."""
    rng = np.random.default_rng(seed)
    lo, hi = _qrange(dtype)
    for i in range(16):
        shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(1, 5))))
        a_s, b_s, y_s = _add_scales(rng, i)
        a_zp, b_zp, y_zp = (_zp(rng, dtype) for _ in range(3))
        a = _tensor(rng, dtype, shape, a_zp, "ties" if i % 2 else "random")
        b = _tensor(rng, dtype, shape, b_zp, "random")
        got = ref.add(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp, activation=activation,
                      rounding=rounding)
        want = tfl_add(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp,
                       tfl_activation_range(activation, y_s, y_zp, dtype), rounding, dtype)
        _same("add (tflite)", got, want, f"scales {a_s} {b_s} {y_s}")
    # every input pair once, for one parameter set per regime (vectorised model vs loops)
    grid = np.arange(lo, hi + 1)
    a, b = (g.astype(dtype) for g in np.meshgrid(grid, grid))
    for i in range(4):
        a_s, b_s, y_s = _add_scales(rng, i)
        a_zp, b_zp, y_zp = (_zp(rng, dtype) for _ in range(3))
        got = ref.add(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp, activation=activation,
                      rounding=rounding)
        sub = (slice(None, None, 3), slice(None, None, 5))   # 1/15 of the grid: loops are slow
        want = tfl_add(a[sub], a_s, a_zp, b[sub], b_s, b_zp, y_s, y_zp,
                       tfl_activation_range(activation, y_s, y_zp, dtype), rounding, dtype)
        _same("add (tflite)", got[sub], want, f"grid scales {a_s} {b_s} {y_s}")


@pytest.mark.skipif(not _has_avx2_fma(), reason="qlinear_add models onnxruntime's x86-64 "
                    "AVX2/FMA QLinearAdd kernel; this CPU takes another one")
@pytest.mark.parametrize("dtype", QTYPES, ids=QTYPE_IDS)
def test_qlinear_add_matches_onnxruntime(dtype, seed):
    """com.microsoft.QLinearAdd on every (a, b) pair of the type for random parameters,
    on random shapes, and on one-element tensors chosen where the scalar path's fma order
    changes the result; add(scheme="onnx") is the same plus the activation clamp."""
    rng = np.random.default_rng(seed)
    lo, hi = _qrange(dtype)
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale",
             "y_zero_point"]

    def ort_add(a, a_s, a_zp, b, b_s, b_zp, y_s, y_zp):
        vals = [a, a_s, np.asarray(a_zp, dtype), b, b_s, np.asarray(b_zp, dtype), y_s,
                np.asarray(y_zp, dtype)]
        return _ort_op("QLinearAdd", names, vals, {"a", "b"}, dtype, 13, domain="com.microsoft")

    grid = np.arange(lo, hi + 1)
    ga, gb = (g.astype(dtype) for g in np.meshgrid(grid, grid))
    for i in range(8):
        a_s, b_s, y_s = _add_scales(rng, i)
        zps = [_zp(rng, dtype) for _ in range(3)]
        got = ref.qlinear_add(ga, a_s, zps[0], gb, b_s, zps[1], y_s, zps[2])
        _same("qlinear_add", got, ort_add(ga, a_s, zps[0], gb, b_s, zps[1], y_s, zps[2]), "grid")
        shape = tuple(int(v) for v in rng.integers(1, 9, size=int(rng.integers(1, 5))))
        a, b = _tensor(rng, dtype, shape), _tensor(rng, dtype, shape)
        _same("qlinear_add", ref.qlinear_add(a, a_s, zps[0], b, b_s, zps[1], y_s, zps[2]),
              ort_add(a, a_s, zps[0], b, b_s, zps[1], y_s, zps[2]), str(shape))
        y_f = np.float32(y_s)
        qmin, qmax = tfl_activation_range("relu6", y_f, zps[2], dtype)
        want = np.clip(ort_add(ga, a_s, zps[0], gb, b_s, zps[1], y_s, zps[2]), qmin, qmax)
        _same("qlinear_add", ref.add(ga, a_s, zps[0], gb, b_s, zps[1], y_s, zps[2],
                                     activation="relu6", scheme="onnx"), want, "add(onnx)")
    # One-element tensors: onnxruntime treats a as a broadcast scalar and sums in the other
    # order. Pick (a, b) where the two orders round differently, so the test sees which.
    found = 0
    for _ in range(400):
        a_s, b_s, y_s = (np.float32(rng.uniform(0.001, 0.1)) for _ in range(3))
        zps = [_zp(rng, dtype) for _ in range(3)]
        grid_out = ref.qlinear_add(ga, a_s, zps[0], gb, b_s, zps[1], y_s, zps[2])
        cand = np.flatnonzero(grid_out.ravel() != _scalar_order(ga, gb, a_s, zps[0], b_s, zps[1],
                                                                y_s, zps[2], dtype).ravel())
        for j in cand[:2]:
            a1, b1 = ga.ravel()[j:j + 1], gb.ravel()[j:j + 1]
            got = ref.qlinear_add(a1, a_s, zps[0], b1, b_s, zps[1], y_s, zps[2])
            _same("qlinear_add", got, ort_add(a1, a_s, zps[0], b1, b_s, zps[1], y_s, zps[2]),
                  "one element")
            found += 1
        if found >= 10:
            break
    assert found >= 10, "no inputs where the two summation orders differ were found"
    # Parameter sets where the fixed part's rounding matters: without fma contraction, or
    # contracted on the other product, some grid outputs change. The model must still match.
    found = 0
    for _ in range(600):
        a_s, b_s, y_s = (np.float32(rng.uniform(0.001, 0.1)) for _ in range(3))
        zps = [_zp(rng, dtype) for _ in range(3)]
        got = ref.qlinear_add(ga, a_s, zps[0], gb, b_s, zps[1], y_s, zps[2])
        if all(np.array_equal(got, _vector_order(ga, gb, a_s, zps[0], b_s, zps[1], y_s, zps[2],
                                                 dtype, fixed)) for fixed in ("plain", "fma_b")):
            continue
        _same("qlinear_add", got, ort_add(ga, a_s, zps[0], gb, b_s, zps[1], y_s, zps[2]),
              "fixed-part rounding")
        found += 1
        if found >= 4:
            break
    assert found >= 4, "no parameters where the fixed part's rounding matters were found"


def _vector_order(a, b, a_s, a_zp, b_s, b_zp, y_s, y_zp, dtype, fixed: str) -> np.ndarray:
    """The vector path with the fixed part y_zp - (ra*a_zp + rb*b_zp) rounded another way:
    "plain" (two products, one add, no fma) or "fma_b" (fma on rb*b_zp); for picking inputs."""
    f = np.float32
    ra, rb = f(f(a_s) / f(y_s)), f(f(b_s) / f(y_s))
    fma = lambda p, q, r: ort_contrib._fma_f32(*np.broadcast_arrays(f(p), f(q), f(r)))  # noqa: E731
    if fixed == "plain":
        part = f(f(ra * f(a_zp)) + f(rb * f(b_zp)))
    else:
        part = fma(rb, b_zp, f(ra * f(a_zp)))
    v = fma(a.astype(f), ra, fma(b.astype(f), rb, f(y_zp) - part))
    lo, hi = _qrange(dtype)
    return np.clip(np.rint(v), lo, hi).astype(dtype)


def _scalar_order(a, b, a_s, a_zp, b_s, b_zp, y_s, y_zp, dtype) -> np.ndarray:
    """onnxruntime's scalar-input order (fixed part from b's term first, then a, then b),
    vectorised, only to pick one-element inputs where it differs from the vector order."""
    f = np.float32
    ra, rb = f(f(a_s) / f(y_s)), f(f(b_s) / f(y_s))
    fma = lambda p, q, r: ort_contrib._fma_f32(*np.broadcast_arrays(f(p), f(q), f(r)))  # noqa: E731
    fixed = f(y_zp) - fma(rb, b_zp, f(ra * f(a_zp)))
    v = fma(b.astype(f), rb, fma(a.astype(f), ra, fixed))
    lo, hi = _qrange(dtype)
    return np.clip(np.rint(v), lo, hi).astype(dtype)


# ======================================================================================
# errors
# ======================================================================================
def _p(dtype="int8"):
    return RequantParams.for_layer("tflite", 0.02, 0.01, 0.05, 0, dtype)


@pytest.mark.parametrize("call, match", [
    (lambda: ref.linear(np.zeros((2, 3), np.int16), np.zeros((3, 4), np.int8), None, 0, 0, _p()),
     r"x: dtype int16 not supported, allowed int8 or uint8"),
    (lambda: ref.linear(np.zeros((2, 3), np.int8), np.zeros((4, 4), np.int8), None, 0, 0, _p()),
     r"inner dimensions differ"),
    (lambda: ref.linear(np.zeros((2, 3), np.int8), np.zeros((3, 4), np.int8),
                        np.zeros(5, np.int32), 0, 0, _p()), r"bias: must be 4 integers"),
    (lambda: ref.linear(np.zeros((2, 3), np.int8), np.zeros((3, 4), np.int8), None, 200, 0, _p()),
     r"x_zp=200: out of range for int8, allowed -128\.\.127"),
    (lambda: ref.linear(np.zeros((2, 3), np.int8), np.zeros((3, 4), np.int8), None, 0, [1, 2],
                        _p()), r"w_zp: must be a scalar or 4 values"),
    (lambda: ref.linear(np.zeros((2, 3), np.int8), np.zeros((3, 4), np.int8), None, 0, 0,
                        RequantParams.for_layer("onnx", 0.1, [0.1] * 3, 0.1)),
     r"params: per-channel fields have 3 values, the layer has 4 output channels"),
    (lambda: ref.conv2d(np.zeros((1, 4, 5, 5), np.int8), np.zeros((4, 2, 3, 3), np.int8), None,
                        0, 0, _p(), groups=3), r"groups=3: .* C % groups == 0"),
    (lambda: ref.conv2d(np.zeros((1, 4, 5, 5), np.int8), np.zeros((4, 4, 3, 3), np.int8), None,
                        0, 0, _p(), stride=0), r"stride=0: each value must be >= 1"),
    (lambda: ref.conv2d(np.zeros((1, 4, 5, 5), np.int8), np.zeros((4, 4, 3, 3), np.int8), None,
                        0, 0, _p(), padding=-1), r"padding=-1: must be an int, a pair"),
    (lambda: ref.conv2d(np.zeros((1, 4, 2, 2), np.int8), np.zeros((4, 4, 3, 3), np.int8), None,
                        0, 0, _p(), dilation=2), r"does not fit the padded input"),
    (lambda: ref.conv2d(np.zeros((4, 5, 5), np.int8), np.zeros((4, 4, 3, 3), np.int8), None,
                        0, 0, _p()), r"x: must be 4-D \(N, C, H, W\)"),
    (lambda: ref.clamp(np.zeros(3, np.int8), 10, 5), r"qmin=10 > qmax=5"),
    (lambda: ref.clamp(np.zeros(3, np.uint8), -1, 5), r"qmin=-1: must be an int inside uint8, allowed 0\.\.255"),
    (lambda: ref.relu(np.zeros(3, np.int8), -1.0, 0), r"output_scale=-1.0: must be positive"),
    (lambda: ref.max_pool2d(np.zeros((1, 1, 4, 4), np.int8), 0, 1), r"kernel=0: each value must be >= 1"),
    (lambda: ref.max_pool2d(np.zeros((1, 1, 4, 4), np.int8), (2, 2, 2), 1),
     r"kernel=\(2, 2, 2\): must be an int or a pair"),
    (lambda: ref.max_pool2d(np.zeros((1, 1, 2, 2), np.int8), 2, 1, 0, dilation=2),
     r"does not fit the padded input"),
    (lambda: ref.max_pool2d(np.zeros((1, 1, 2, 2), np.int8), 2, 1, ((1, 1), (0, 0)), dilation=(3, 1)),
     r"covers only padding"),
    (lambda: ref.avg_pool2d(np.zeros((1, 1, 4, 4), np.int8), 2, 2, 1, count_include_pad=True),
     r"x_zp: required with count_include_pad=True"),
    (lambda: ref.avg_pool2d(np.zeros((1, 1, 4, 4), np.float32), 2, 2),
     r"x: dtype float32 not supported, allowed int8 or uint8"),
    (lambda: ref.add(np.zeros(3, np.int8), 0.1, 0, np.zeros(4, np.int8), 0.1, 0, 0.1, 0),
     r"need the same dtype and shape"),
    (lambda: ref.add(np.zeros(3, np.int8), 1.0, 0, np.zeros(3, np.int8), 1.0, 0, 1e-6, 0),
     r"needs it < 2\^19"),
    (lambda: ref.add(np.zeros(3, np.int8), 0.1, 0, np.zeros(3, np.int8), 0.1, 0, 0.1, 0,
                     scheme="x"), r"scheme='x': unknown"),
    (lambda: ref.add(np.zeros(3, np.int8), 0.0, 0, np.zeros(3, np.int8), 0.1, 0, 0.1, 0),
     r"a_scale=0.0: must be a positive finite float32"),
])
def test_layer_errors_name_the_parameter_and_its_range(call, match):
    with pytest.raises(NumericsError, match=match):
        call()


def test_summary(capsys):
    """Printed tally of what this module compared (all with 0 mismatches)."""
    with capsys.disabled():
        print(f"\nonnxruntime {ort.__version__}; layer comparisons, 0 mismatches:")
        for layer, (runs, elements) in sorted(CHECKED.items()):
            print(f"  {layer:22s} {runs:5d} comparisons {elements:9d} output elements")
