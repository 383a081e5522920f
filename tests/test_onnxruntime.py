"""model/reference.py against onnxruntime's CPU kernels, bit for bit.

Each test builds a one-node ONNX model with onnx.helper, runs it with onnxruntime
(CPUExecutionProvider) on seeded random inputs, and asserts that reference.py gives
exactly the same output. uint8 x int8 nodes on x86 CPUs without VNNI run as their
uint8 x uint8 equivalent (tests/ort_kernels.py: onnxruntime's u8s8 kernels saturate there). Scale regimes are chosen to stress the requantizer: power-of-two
effective scales (many exact .5 ties, where round-half-even vs half-away would show),
large accumulators, saturation, and biases that wrap the int32 sum.
"""

from __future__ import annotations

import functools

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper, numpy_helper

from ort_kernels import exact_operands
from systolica.model import reference as ref

INT32_MAX = 2**31 - 1
CASES = {"runs": 0, "elements": 0}

# QLinearConv and QLinearMatMul input order: x/a, x_scale, x_zp, w/b, w_scale, w_zp, y_scale, y_zp.
QLINEAR_NAMES = ["x", "x_scale", "x_zero_point", "w", "w_scale", "w_zero_point",
                 "y_scale", "y_zero_point", "B"]


def _ort_run(op: str, names: list[str], values: list[np.ndarray], runtime: set[str],
             out_dtype, opset: int, **attrs) -> np.ndarray:
    """Run a one-node model; inputs named in ``runtime`` are graph inputs, the rest initializers."""
    names, values = exact_operands(op, names, values)
    tensor_type = helper.np_dtype_to_tensor_dtype
    node = helper.make_node(op, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node], op,
        [helper.make_tensor_value_info(n, tensor_type(v.dtype), v.shape)
         for n, v in zip(names, values) if n in runtime],
        [helper.make_tensor_value_info("y", tensor_type(np.dtype(out_dtype)), None)],
        initializer=[numpy_helper.from_array(v, n) for n, v in zip(names, values) if n not in runtime])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {n: v for n, v in zip(names, values) if n in runtime})[0]


def _assert_same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype,
                                                                 got.shape, want.shape)
    bad = np.flatnonzero(got.ravel() != want.ravel())
    assert bad.size == 0, (f"{what}: {bad.size}/{got.size} mismatches, first at flat index "
                           f"{bad[:5]}: ours={got.ravel()[bad[:5]]} ort={want.ravel()[bad[:5]]}")
    CASES["runs"] += 1
    CASES["elements"] += got.size


def _qrange(dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def _zero_point(rng, dtype, shape=()) -> np.ndarray:
    lo, hi = _qrange(dtype)
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def _operand(rng, dtype, shape, zp: np.ndarray, regime: str) -> np.ndarray:
    """int8/uint8 operand: within +-3 of its zero point (small accumulators, for ties),
    uniform over the type, or (other regimes) only the type's two end values, mostly the
    one farther from the zero point, so |acc| approaches K * 255^2 (beyond 2^24)."""
    lo, hi = _qrange(dtype)
    zp = np.broadcast_to(zp.astype(np.int64), shape)
    if regime == "ties":
        v = zp + rng.integers(-3, 4, size=shape)
    elif regime == "random":
        v = rng.integers(lo, hi + 1, size=shape)
    else:
        far = np.where(2 * zp > lo + hi, lo, hi)
        v = np.where(rng.random(size=shape) < 0.85, far, lo + hi - far)
    return np.clip(v, lo, hi).astype(dtype)


def _f32(v) -> np.ndarray:
    return np.asarray(v, dtype=np.float32)


# Scale regimes. The effective scale (x_scale * w_scale / y_scale) is sized from the
# accumulators' magnitude, so each regime hits what it names:
#   ties:     power-of-two scales, effective scale 2^-e or 2^(1-e): exact .5 ties before
#             rounding in up to half the outputs, mostly in range.
#   random:   arbitrary float32 scales, output spread over the type.
#   large:    operands at the type's ends (|acc| up to 255^2 * K), max |acc| maps into range.
#   saturate: most outputs clamp at either end; acc * scale up to ~1e10, past int32.
#   wrap:     (with bias only) biases within max|acc| of the int32 ends, effective scale
#             ~100 / 2^31: wherever acc + bias wraps modulo 2^32 the output changes sign.
REGIMES = ["ties", "random", "large", "saturate", "wrap"]


def _qlinear_inputs(rng, regime: str, x_dtype, w_dtype, x_shape, w_shape, param_shape,
                    param_axis: int, integer_op, with_bias: bool,
                    symmetric: bool) -> list[np.ndarray]:
    """[x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point(, B)].

    ``param_shape``: shape of w_scale / w_zero_point (``()`` per tensor, ``(C,)`` per
    channel along w's ``param_axis``, or already broadcastable against w); ``integer_op``:
    reference.matmul_integer / conv_integer, used only to size the scales and biases.
    ``symmetric``: w's zero point is 0 (onnxruntime then takes its symmetric-weight kernels,
    e.g. MlasConvSym, for int8 weights).
    """
    x_zp, y_zp = _zero_point(rng, x_dtype), _zero_point(rng, x_dtype)
    w_zp = (np.zeros(param_shape, w_dtype) if symmetric
            else _zero_point(rng, w_dtype, param_shape))
    if 0 < w_zp.ndim < len(w_shape):  # one value per channel: align it with w's axis
        bshape = [1] * len(w_shape)
        bshape[param_axis] = w_shape[param_axis]
        w_zp_b = w_zp.reshape(bshape)
    else:
        w_zp_b = w_zp
    x = _operand(rng, x_dtype, x_shape, x_zp, regime)
    w = _operand(rng, w_dtype, w_shape, w_zp_b, regime)
    acc = np.abs(integer_op(x, w, x_zp, w_zp).astype(np.float64))
    acc_max = max(acc.max(), 1.0)
    if regime == "ties":
        eff = 2.0 ** -max(1, int(np.ceil(np.log2(np.percentile(acc, 99) / 60 + 1e-9))))
    else:
        eff = {"random": 60 / max(np.percentile(acc, 99), 1.0), "large": 127 / acc_max,
               "saturate": 10 ** rng.uniform(3.5, 10) / max(np.median(acc), 1.0),
               "wrap": 100 / 2**31}[regime]
    # Split eff over the three scales so each stays within float16's normal range.
    p = 2.0 ** np.floor(np.log2(eff) / 3)
    if regime == "ties":  # powers of two: eff_c = 2^-e or 2^(1-e), all products exact
        x_s, w_s = _f32(p), _f32(p * 2.0 ** rng.integers(0, 2, size=param_shape))
        y_s = _f32(x_s * w_s.min() / eff)
    else:
        x_s, w_s = _f32(p * rng.uniform(0.5, 1)), _f32(p * rng.uniform(0.5, 1, size=param_shape))
        y_s = _f32(float(x_s) * float(w_s.max()) / eff)
    values = [x, x_s, x_zp, w, w_s, w_zp, y_s, y_zp]
    if with_bias:
        m = w_shape[param_axis]
        if regime == "wrap":
            sign = rng.choice([-1, 1], size=m)
            bias = sign * (2**31 - 1 - rng.integers(0, int(acc_max), size=m))
        else:
            bias = rng.integers(-int(acc_max), int(acc_max) + 1, size=m)
        values.append(bias.astype(np.int32))
    return values


# (x dtype, w dtype) pairs onnxruntime implements for QLinearConv and QLinearMatMul; it
# also requires y's type == x's (ONNX allows any of int8/uint8 for y).
QLINEAR_TYPES = [(np.uint8, np.uint8), (np.uint8, np.int8), (np.int8, np.int8)]
TYPE_IDS = [f"{np.dtype(x)}x{np.dtype(w)}" for x, w in QLINEAR_TYPES]

# QLinearConv geometries: (C, M, spatial, kernel, attrs).
CONV_GEOMETRIES = {
    "3x3_pad": (8, 16, (9, 11), (3, 3), dict(pads=[1, 1, 1, 1])),
    "stride2_asym_pad": (5, 7, (12, 10), (3, 2), dict(strides=[2, 2], pads=[0, 1, 2, 1])),
    "dilated": (4, 6, (11, 11), (3, 3), dict(dilations=[2, 3], pads=[2, 1, 0, 3])),
    "grouped": (12, 9, (8, 8), (3, 3), dict(group=3, pads=[1, 1, 1, 1], strides=[1, 2])),
    "depthwise": (16, 16, (10, 9), (3, 3), dict(group=16, pads=[1, 1, 1, 1])),
    "depthwise_5x5_s2": (40, 40, (13, 12), (5, 5), dict(group=40, pads=[2, 2, 2, 2], strides=[2, 2])),
    "1x1_wide": (96, 24, (6, 6), (1, 1), {}),
    "conv1d": (6, 10, (30,), (5,), dict(strides=[3], pads=[2, 1], dilations=[2])),
    "deep_5x5": (64, 8, (7, 7), (5, 5), dict(pads=[2, 2, 2, 2])),  # K = 1600: |acc| > 2^24
    "same_upper": (6, 5, (9, 8), (3, 4), dict(auto_pad="SAME_UPPER", strides=[2, 3])),
    "same_lower": (6, 5, (9, 8), (4, 3), dict(auto_pad="SAME_LOWER", strides=[2, 2])),
    "valid_3d": (3, 4, (5, 6, 7), (2, 3, 2), dict(auto_pad="VALID", strides=[1, 2, 1])),
}


@pytest.mark.parametrize("geometry", list(CONV_GEOMETRIES))
@pytest.mark.parametrize("types", QLINEAR_TYPES, ids=TYPE_IDS)
@pytest.mark.parametrize("per_channel", [False, True], ids=["per_tensor", "per_channel"])
@pytest.mark.parametrize("with_bias", [False, True], ids=["nobias", "bias"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["wzp", "wzp0"])
def test_qlinear_conv_matches_onnxruntime(geometry, types, per_channel, with_bias, symmetric,
                                          seed):
    rng = np.random.default_rng(seed)
    c, m, spatial, kernel, attrs = CONV_GEOMETRIES[geometry]
    x_dtype, w_dtype = types
    conv = functools.partial(ref.conv_integer, **attrs)
    for regime in REGIMES if with_bias else REGIMES[:-1]:
        values = _qlinear_inputs(rng, regime, x_dtype, w_dtype, (2, c, *spatial),
                                 (m, c // attrs.get("group", 1), *kernel),
                                 (m,) if per_channel else (), 0, conv, with_bias, symmetric)
        got = ref.qlinear_conv(*values, **attrs)
        want = _ort_run("QLinearConv", QLINEAR_NAMES[:len(values)], values, {"x"}, x_dtype, 10,
                        **attrs)
        _assert_same(got, want, f"QLinearConv {geometry} {regime}")


# QLinearMatMul shapes: (a shape, b shape).
MATMUL_SHAPES = {
    "2d": ((13, 37), (37, 11)),
    "batched": ((3, 9, 40), (3, 40, 17)),
    "broadcast_b": ((2, 5, 70), (70, 6)),
    "long_k": ((4, 3000), (3000, 5)),  # |acc| up to ~2^25.5: int32 -> float32 rounds
}


@pytest.mark.parametrize("shape", list(MATMUL_SHAPES))
@pytest.mark.parametrize("types", QLINEAR_TYPES, ids=TYPE_IDS)
@pytest.mark.parametrize("per_column", [False, True], ids=["per_tensor", "per_column"])
@pytest.mark.parametrize("b_constant", [False, True], ids=["b_input", "b_initializer"])
@pytest.mark.parametrize("scale_dtype", [np.float32, np.float16], ids=["f32scale", "f16scale"])
@pytest.mark.parametrize("symmetric", [False, True], ids=["bzp", "bzp0"])
def test_qlinear_matmul_matches_onnxruntime(shape, types, per_column, b_constant, scale_dtype,
                                            symmetric, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = MATMUL_SHAPES[shape]
    n = b_shape[-1]
    # Per column: N values for a 2-D b, else b's shape with the K axis 1 ([..., 1, N]), the
    # two forms onnxruntime accepts (IsBQuantParamSupported in its quantize_linear_matmul).
    col_shape = ((n,) if len(b_shape) == 2 else (*b_shape[:-2], 1, n)) if per_column else ()
    names = ["a", "a_scale", "a_zero_point", "b", "b_scale", "b_zero_point", "y_scale",
             "y_zero_point"]
    for regime in REGIMES[:-1]:
        values = _qlinear_inputs(rng, regime, *types, a_shape, b_shape, col_shape, -1,
                                 ref.matmul_integer, False, symmetric)
        for i in (1, 4, 6):  # a_scale, b_scale, y_scale (float16 allowed from opset 21)
            values[i] = values[i].astype(scale_dtype)
            assert np.all(np.isfinite(values[i]) & (values[i] > 0))
        got = ref.qlinear_matmul(*values)
        want = _ort_run("QLinearMatMul", names, values, {"a"} if b_constant else {"a", "b"},
                        types[0], 21)
        _assert_same(got, want, f"QLinearMatMul {shape} {regime}")


@pytest.mark.parametrize("types", QLINEAR_TYPES, ids=TYPE_IDS)
@pytest.mark.parametrize("per_column", [False, True], ids=["per_tensor", "per_column"])
def test_matmul_integer_wraps_like_onnxruntime(types, per_column, seed):
    """MatMulInteger with K = 300000 at the type's ends: |sum| passes 2^31 and the int32
    result wraps (onnxruntime accepts only a scalar a_zero_point)."""
    rng = np.random.default_rng(seed)
    a_dtype, b_dtype = types
    a_zp = _zero_point(rng, a_dtype)
    b_zp = _zero_point(rng, b_dtype, (5,) if per_column else ())
    a = _operand(rng, a_dtype, (3, 300_000), a_zp, "large")
    b = _operand(rng, b_dtype, (300_000, 5), b_zp, "large")
    exact = (a.astype(np.int64) - a_zp) @ (b.astype(np.int64) - b_zp)
    assert np.any(np.abs(exact) > INT32_MAX), "the test must overflow int32"
    got = ref.matmul_integer(a, b, a_zp, b_zp)
    want = _ort_run("MatMulInteger", ["a", "b", "a_zero_point", "b_zero_point"],
                    [a, b, a_zp, b_zp], {"a", "b"}, np.int32, 10)
    _assert_same(got, want, "MatMulInteger")


@pytest.mark.parametrize("w_dtype", [np.uint8, np.int8])
def test_conv_integer_matches_onnxruntime(w_dtype, seed):
    """ConvInteger (onnxruntime: uint8 x) over the QLinearConv geometries."""
    rng = np.random.default_rng(seed)
    for c, m, spatial, kernel, attrs in CONV_GEOMETRIES.values():
        x_zp, w_zp = _zero_point(rng, np.uint8), _zero_point(rng, w_dtype)
        x = _operand(rng, np.uint8, (1, c, *spatial), x_zp, "random")
        w = _operand(rng, w_dtype, (m, c // attrs.get("group", 1), *kernel), w_zp, "random")
        got = ref.conv_integer(x, w, x_zp, w_zp, **attrs)
        want = _ort_run("ConvInteger", ["x", "w", "x_zero_point", "w_zero_point"],
                        [x, w, x_zp, w_zp], {"x"}, np.int32, 10, **attrs)
        _assert_same(got, want, f"ConvInteger {attrs}")


def _float_inputs(rng, scale: np.ndarray, shape) -> np.ndarray:
    """float32 inputs for QuantizeLinear: half are (k + 0.5) * scale (exact .5 ties of
    x / scale when scale is a power of two), half uniform well past both saturation ends,
    plus specials (+-inf, NaN, +-0, +-3e38, a tiny value)."""
    ties = (rng.integers(-200, 200, size=shape) + 0.5) * scale
    rand = rng.uniform(-300.0, 300.0, size=shape) * scale
    x = np.where(rng.random(size=shape) < 0.5, ties, rand).astype(np.float32)
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 3e38, -3e38, 1e-30], np.float32)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, size=specials.size, replace=False)] = specials
    return x


@pytest.mark.parametrize("y_dtype", [np.int8, np.uint8], ids=["int8", "uint8"])
@pytest.mark.parametrize("per_axis", [None, 0, 1, -1], ids=["per_tensor", "axis0", "axis1", "axis-1"])
@pytest.mark.parametrize("opset", [13, 21])
def test_quantize_dequantize_linear_match_onnxruntime(y_dtype, per_axis, opset, seed):
    """QuantizeLinear on float inputs, then DequantizeLinear of its output (float32 bits)."""
    rng = np.random.default_rng(seed)
    names = ["x", "scale", "zero_point"]
    for shape in [(3, 5, 7), (4, 33, 2), (2, 3, 257)]:  # odd sizes: SIMD loops and tails
        for pow2 in (True, False):
            ch = () if per_axis is None else (shape[per_axis],)
            scale = (_f32(2.0 ** rng.integers(-8, 4, size=ch)) if pow2
                     else _f32(rng.uniform(1e-3, 2.0, size=ch)))
            zp = _zero_point(rng, y_dtype, ch)
            bshape = [1] * len(shape)
            if per_axis is not None:
                bshape[per_axis] = shape[per_axis]
            x = _float_inputs(rng, scale.reshape(bshape).astype(np.float64), shape)
            axis = 1 if per_axis is None else per_axis
            q = ref.quantize_linear(x, scale, zp, axis=axis)
            want = _ort_run("QuantizeLinear", names, [x, scale, zp], {"x"}, y_dtype, opset, axis=axis)
            _assert_same(q, want, f"QuantizeLinear {shape} pow2={pow2} opset={opset}")
            d = ref.dequantize_linear(q, scale, zp, axis=axis)
            want = _ort_run("DequantizeLinear", names, [q, scale, zp], {"x"}, np.float32, opset,
                            axis=axis)
            _assert_same(d.view(np.uint32), want.view(np.uint32),
                         f"DequantizeLinear {shape} pow2={pow2} opset={opset}")


@pytest.mark.parametrize("opset, output_dtype", [(13, None), (21, "int8"), (21, "uint8")])
def test_quantize_linear_without_zero_point_matches_onnxruntime(opset, output_dtype, seed):
    """No y_zero_point: uint8 by default, or the opset-21 ``output_dtype`` attribute."""
    rng = np.random.default_rng(seed)
    scale = _f32(2.0 ** rng.integers(-8, 4))
    x = _float_inputs(rng, float(scale), (5, 67))
    attrs = {} if output_dtype is None else {
        "output_dtype": helper.np_dtype_to_tensor_dtype(np.dtype(output_dtype))}
    got = ref.quantize_linear(x, scale, output_dtype=output_dtype)
    want = _ort_run("QuantizeLinear", ["x", "scale"], [x, scale], {"x"},
                    np.dtype(output_dtype or "uint8"), opset, **attrs)
    _assert_same(got, want, f"QuantizeLinear no zero point, opset {opset}, {output_dtype}")


def test_ort_summary(capsys):
    """Printed summary of the output elements checked in this module (0 mismatches)."""
    with capsys.disabled():
        print(f"\nonnxruntime {ort.__version__}: {CASES['runs']} model runs, {CASES['elements']} "
              "output elements checked against reference.py, 0 mismatches")
