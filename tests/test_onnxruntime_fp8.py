"""model/fp8_reference.py against onnxruntime's FP8 QuantizeLinear / DequantizeLinear, bit for bit.

Each test builds a one-node model (opset 21), runs it on onnxruntime's CPU provider and
compares every output bit with ours: QuantizeLinear to E4M3FN and E5M2 with and without
saturation on float32 inputs chosen for rounding ties, subnormals, overflow, NaN and
infinities, per tensor and per axis; DequantizeLinear of all 256 codes with random scales.
FP8 tensors cross the onnxruntime boundary as their bits (``OrtValue`` with the ONNX type).

Two documented departures of onnxruntime (1.32) from the ONNX Cast table, which ml_dtypes,
onnx's reference implementation and its node vectors follow (and so do we):

- NaN payloads: onnxruntime writes E5M2 NaN as ``S.11111.11``, ml_dtypes as ``S.11111.10``;
  NaN must stay NaN with the same sign bit, the payload is not compared.
- Non-saturating overflow (``saturate=0``, a value whose rounding exceeds the largest
  finite magnitude): the spec says NaN (E4M3FN) / infinity (E5M2); onnxruntime gives NaN
  for E5M2 values in [61440, 65536) and 448 for E4M3 480. Those elements are compared
  with ``onnx.reference.ReferenceEvaluator`` instead, and counted.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from systolica.model import fp8
from systolica.model import fp8_reference as ref

ONNX_TYPE = {"fp8_e4m3": TensorProto.FLOAT8E4M3FN, "fp8_e5m2": TensorProto.FLOAT8E5M2}
CASES = {"ort_runs": 0, "ort_elements": 0, "ref_runs": 0, "ref_elements": 0, "overflow_band": 0}


def _model(node, inputs, output, initializers=()):
    graph = helper.make_graph([node], node.op_type, inputs, [output], initializer=list(initializers))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])


def _session(model) -> ort.InferenceSession:
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _value(x: np.ndarray, onnx_type=None) -> ort.OrtValue:
    if onnx_type is None:
        return ort.OrtValue.ortvalue_from_numpy(x)
    return ort.OrtValue.ortvalue_from_numpy_with_onnx_type(np.ascontiguousarray(x.view(np.uint8)), onnx_type)


def _run_fp8_out(sess, feeds: dict, shape, onnx_type) -> np.ndarray:
    """Run with the FP8 output bound to a uint8 buffer (onnxruntime has no numpy type for
    every FP8 type); returns the output's bits."""
    out = np.zeros(shape, np.uint8)
    binding = sess.io_binding()
    for name, value in feeds.items():
        binding.bind_ortvalue_input(name, value)
    binding.bind_ortvalue_output("y", ort.OrtValue.ortvalue_from_numpy_with_onnx_type(out, onnx_type))
    sess.run_with_iobinding(binding)
    return out


def _is_nan_code(bits: np.ndarray, t: str) -> np.ndarray:
    return np.isnan(fp8.to_float64(bits, t))


def _same_bits(got: np.ndarray, want_bits: np.ndarray, what: str, skip=None, who: str = "ort") -> None:
    """Bit equality, except where ``skip`` (bool array) is set."""
    g = np.ascontiguousarray(got).view(f"u{got.dtype.itemsize}")
    w = np.ascontiguousarray(want_bits).view(f"u{want_bits.dtype.itemsize}")
    assert g.shape == w.shape, (what, g.shape, w.shape)
    bad = np.flatnonzero((g.ravel() != w.ravel()) & ~(np.zeros(g.size, bool) if skip is None else skip.ravel()))
    assert bad.size == 0, f"{what}: {bad.size}/{g.size} differ, first {bad[:4]}: ours {g.ravel()[bad[:4]]} ort {w.ravel()[bad[:4]]}"
    CASES[f"{who}_runs"] += 1
    CASES[f"{who}_elements"] += g.size - (0 if skip is None else int(skip.sum()))


def _inputs(rng, t: str, shape, scale: np.ndarray) -> np.ndarray:
    """float32 values that land on FP8 rounding ties (midpoints times the scale), one
    float32 step beside them, on subnormals, beyond the range, and random magnitudes."""
    v = fp8.to_float64(np.arange(256, dtype=np.uint8), t)
    v = np.unique(v[np.isfinite(v)])
    mids = (v[:-1] + v[1:]) / 2
    kind = rng.integers(0, 5, size=shape)
    pick = mids[rng.integers(0, mids.size, size=shape)] * np.broadcast_to(scale, shape)
    tie = pick.astype(np.float32)
    near = np.nextafter(tie, np.float32(np.inf) * np.sign(rng.standard_normal(shape))).astype(np.float32)
    big = (rng.standard_normal(shape) * 1e6).astype(np.float32)
    wide = (rng.standard_normal(shape) * np.exp2(rng.integers(-30, 20, shape))).astype(np.float32)
    x = np.select([kind == 0, kind == 1, kind == 2, kind == 3], [tie, near, big, wide], tie * 3)
    flat = x.reshape(-1)
    flat[:6] = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0]
    return x.astype(np.float32)


@pytest.mark.parametrize("per_axis", [False, True])
@pytest.mark.parametrize("saturate", [1, 0])
@pytest.mark.parametrize("t", list(ONNX_TYPE))
def test_quantize_linear_fp8_matches_onnxruntime(t, saturate, per_axis, seed):
    rng = np.random.default_rng(seed)
    shape = (16, 64)
    if per_axis:
        scale = np.exp2(rng.integers(-8, 8, 64)).astype(np.float32) * rng.choice([1, 3, 0.7], 64).astype(np.float32)
    else:
        scale = np.array(float(np.float32(2.0 ** int(rng.integers(-6, 6)))), np.float32)
    x = _inputs(rng, t, shape, scale)
    zp = np.zeros(64 if per_axis else (), np.uint8).view(fp8.np_dtype(t))
    attrs = dict(saturate=saturate, axis=1) if per_axis else dict(saturate=saturate)
    node = helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["y"], **attrs)
    model = _model(node, [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                   helper.make_tensor_value_info("y", ONNX_TYPE[t], shape),
                   [numpy_helper.from_array(scale, "s"), numpy_helper.from_array(zp, "zp")])
    want = _run_fp8_out(_session(model), {"x": _value(x)}, shape, ONNX_TYPE[t])
    got = ref.quantize_linear_fp8(x, scale, zp, axis=1, saturate=bool(saturate))
    what = f"QuantizeLinear {t} saturate={saturate} per_axis={per_axis}"
    # onnx's reference implementation: every element, bit for bit
    _same_bits(got, ReferenceEvaluator(model).run(None, {"x": x})[0], what + " (onnx.reference)", who="ref")
    got_bits = got.view(np.uint8)
    nan_ours, nan_ort = _is_nan_code(got_bits, t), _is_nan_code(want, t)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        q = x / np.broadcast_to(scale, shape)
    rounded = fp8.cast_to_fp8(q, t, saturate=False).astype(np.float64)  # ml_dtypes: beyond max
    band = (saturate == 0) & np.isfinite(q) & ~np.isfinite(rounded)
    CASES["overflow_band"] += int(band.sum())
    both_nan = nan_ours & nan_ort & ((got_bits >> 7) == (want >> 7))
    assert np.array_equal(nan_ours[~band], nan_ort[~band]), f"{what}: NaN positions differ"
    _same_bits(got_bits, want, what, skip=both_nan | band)


@pytest.mark.parametrize("per_axis", [False, True])
@pytest.mark.parametrize("t", list(ONNX_TYPE))
def test_dequantize_linear_fp8_matches_onnxruntime(t, per_axis, seed):
    rng = np.random.default_rng(seed)
    codes = np.tile(np.arange(256, dtype=np.uint8), 4).reshape(4, 256)
    x = codes.view(fp8.np_dtype(t))
    if per_axis:
        scale = (rng.standard_normal(256) * np.exp2(rng.integers(-20, 20, 256))).astype(np.float32)
        scale = np.abs(scale)
    else:
        scale = np.array(abs(rng.standard_normal()) * 2.0 ** int(rng.integers(-20, 20)), np.float32)
    node = helper.make_node("DequantizeLinear", ["x", "s"], ["y"], **(dict(axis=1) if per_axis else {}))
    model = _model(node, [helper.make_tensor_value_info("x", ONNX_TYPE[t], x.shape)],
                   helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape),
                   [numpy_helper.from_array(scale, "s")])
    want = _session(model).run_with_ort_values(None, {"x": _value(x, ONNX_TYPE[t])})[0].numpy()
    got = ref.dequantize_linear_fp8(x, scale, axis=1)
    finite = ~np.isnan(want)  # onnxruntime's NaN payload is its own; NaN must stay NaN
    assert np.array_equal(np.isnan(got), ~finite)
    _same_bits(got[finite], want[finite], f"DequantizeLinear {t} per_axis={per_axis}")


def test_onnxruntime_fp8_summary(capsys):
    """Printed by the full run: how many onnxruntime outputs were compared."""
    with capsys.disabled():
        print(f"\nonnxruntime FP8 QuantizeLinear/DequantizeLinear: {CASES['ort_runs']} runs, "
              f"{CASES['ort_elements']} output elements bit for bit (NaN: NaN with its sign), 0 mismatches; "
              f"onnx.reference QuantizeLinear: {CASES['ref_runs']} runs, {CASES['ref_elements']} elements, "
              f"0 mismatches, of them {CASES['overflow_band']} in the non-saturating overflow band "
              "where onnxruntime departs from the ONNX Cast table")
