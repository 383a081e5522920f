"""model/reference.py against the ONNX backend node test vectors shipped in the onnx wheel.

The vectors (``onnx/backend/test/data/node/test_*``) were written by the ONNX project, not
by us: a ``model.onnx`` with one node, and ``test_data_set_*/input_*.pb`` /
``output_*.pb`` tensors. Every output must match exactly (float outputs bit for bit).
FP8 (E4M3FN, E5M2) QuantizeLinear, DequantizeLinear, Cast and CastLike vectors run against
``model/fp8_reference.py``. Vectors of types the reference does not model (FNUZ float8,
float4, int2/int4, int16/uint16) and blocked quantization are skipped with the reason.
"""

from __future__ import annotations

import functools
import glob
import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from systolica.model import fp8
from systolica.model import fp8_reference as fp8_ref
from systolica.model import reference as ref

NODE_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
PREFIXES = ("test_qlinearmatmul_", "test_qlinearconv", "test_matmulinteger",
            "test_convinteger_", "test_quantizelinear", "test_dequantizelinear")
# Cast/CastLike vectors to and from the two FP8 types (single-node models only).
FP8_CAST_PREFIXES = ("test_cast_", "test_castlike_")
FP8_NAMES = ("FLOAT8E4M3FN", "FLOAT8E5M2")


def _is_fp8_cast(name: str) -> bool:
    parts = name.split("_")
    return (name.startswith(FP8_CAST_PREFIXES) and not name.endswith("_expanded")
            and any(p in FP8_NAMES for p in parts))


DIRS = sorted(d for d in glob.glob(os.path.join(NODE_DIR, "test_*"))
              if os.path.basename(d).startswith(PREFIXES) or _is_fp8_cast(os.path.basename(d)))
IDS = [os.path.basename(d) for d in DIRS]

FP8_DTYPES = {fp8.np_dtype(n) for n in fp8.FP8_TYPES}
QUANT_DTYPES = {np.dtype(np.int8), np.dtype(np.uint8)} | FP8_DTYPES
# Dtypes that may appear besides int8/uint8 without making a vector unsupported.
OTHER_DTYPES = {np.dtype(np.int32), np.dtype(np.float32), np.dtype(np.float16)}


def _load(path: str) -> np.ndarray:
    return numpy_helper.to_array(onnx.load_tensor(path))


def _node(d: str) -> onnx.NodeProto:
    graph = onnx.load(os.path.join(d, "model.onnx")).graph
    assert len(graph.node) == 1, f"{d}: expected a single-node model"
    return graph.node[0]


def _data_sets(d: str) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    sets = []
    for ds in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
        n_in = len(glob.glob(os.path.join(ds, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(ds, "output_*.pb")))
        sets.append(([_load(os.path.join(ds, f"input_{i}.pb")) for i in range(n_in)],
                     [_load(os.path.join(ds, f"output_{i}.pb")) for i in range(n_out)]))
    return sets


def _unsupported(node: onnx.NodeProto, sets) -> str | None:
    """Why reference.py does not model this vector, or None."""
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if attrs.get("block_size", 0):
        return "blocked quantization (block_size) is not modelled by reference.py"
    dtypes = {t.dtype for ins, outs in sets for t in ins + outs}
    if not dtypes & QUANT_DTYPES or dtypes - QUANT_DTYPES - OTHER_DTYPES:
        other = sorted(str(t) for t in dtypes - QUANT_DTYPES - OTHER_DTYPES)
        return (f"quantized type {other} is not modelled by reference.py / fp8_reference.py "
                "(int8, uint8, float8_e4m3fn, float8_e5m2)")
    return None


def _run(node: onnx.NodeProto, ins: list[np.ndarray]) -> np.ndarray:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if isinstance(attrs.get("auto_pad"), bytes):
        attrs["auto_pad"] = attrs["auto_pad"].decode()
    op = node.op_type
    if op in ("Cast", "CastLike"):
        to = helper.tensor_dtype_to_np_dtype(attrs["to"]) if op == "Cast" else ins[1].dtype
        return fp8_ref.cast(ins[0], to, saturate=bool(attrs.get("saturate", 1)))
    if op == "QuantizeLinear" and (len(ins) > 2 and ins[2].dtype in FP8_DTYPES or (
            attrs.get("output_dtype") and helper.tensor_dtype_to_np_dtype(attrs["output_dtype"]) in FP8_DTYPES)):
        out = attrs.pop("output_dtype", 0)
        return fp8_ref.quantize_linear_fp8(*ins, saturate=bool(attrs.pop("saturate", 1)), **attrs,
                                           output_dtype=helper.tensor_dtype_to_np_dtype(out) if out else None)
    if op == "DequantizeLinear" and ins[0].dtype in FP8_DTYPES:
        return fp8_ref.dequantize_linear_fp8(*ins, **attrs)
    if op == "MatMulInteger":
        return ref.matmul_integer(*ins)
    if op == "ConvInteger":
        return ref.conv_integer(*ins, **attrs)
    if op == "QLinearMatMul":
        return ref.qlinear_matmul(*ins)
    if op == "QLinearConv":
        return ref.qlinear_conv(*ins, **attrs)
    if op == "QuantizeLinear":
        out_dtype = attrs.pop("output_dtype", 0)
        if out_dtype:
            attrs["output_dtype"] = str(helper.tensor_dtype_to_np_dtype(out_dtype))
        attrs.pop("saturate", None)
        return ref.quantize_linear(*ins, **attrs)
    if op == "DequantizeLinear":
        return ref.dequantize_linear(*ins, **attrs)
    raise AssertionError(f"unexpected op {op}")


def _same(got: np.ndarray, want: np.ndarray) -> bool:
    """Exact: same dtype, shape and values; floats compared bit for bit."""
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if want.dtype.kind == "f" or want.dtype in FP8_DTYPES:
        uint = np.dtype(f"uint{8 * want.dtype.itemsize}")
        return np.array_equal(got.view(uint), want.view(uint))
    return np.array_equal(got, want)


@functools.lru_cache(maxsize=None)
def _check(d: str) -> tuple[str, int, int] | str:
    """Run every data set of one vector dir: (op, cases, output elements), or a skip reason."""
    node = _node(d)
    sets = _data_sets(d)
    why = _unsupported(node, sets)
    if why:
        return why
    assert sets, f"{d}: no test_data_set_*"
    elements = 0
    for i, (ins, outs) in enumerate(sets):
        assert len(outs) == 1
        got = np.asarray(_run(node, ins))
        want = outs[0]
        assert _same(got, want), (f"{os.path.basename(d)} data set {i}: {node.op_type} "
                                  f"mismatch\n got={got!r}\nwant={want!r}")
        elements += want.size
    return node.op_type, len(sets), elements


@pytest.mark.parametrize("vector_dir", DIRS, ids=IDS)
def test_onnx_node_vector(vector_dir):
    result = _check(vector_dir)
    if isinstance(result, str):
        pytest.skip(result)


# Vectors that must be present and supported (the onnx==1.22.0 wheel ships them all).
REQUIRED = (
    [f"test_qlinearmatmul_{r}_{t}_{s}" for r in ("2D", "3D") for t in ("int8", "uint8")
     for s in ("float32", "float16")]
    + ["test_qlinearconv", "test_matmulinteger", "test_convinteger_with_padding",
       "test_convinteger_without_padding", "test_quantizelinear", "test_quantizelinear_axis",
       "test_dequantizelinear", "test_dequantizelinear_axis"]
    # FP8: the six QuantizeLinear/DequantizeLinear folders and the Cast/CastLike ones
    + ["test_quantizelinear_e4m3fn", "test_quantizelinear_e5m2", "test_dequantizelinear_e4m3fn",
       "test_dequantizelinear_e4m3fn_float16", "test_dequantizelinear_e4m3fn_zero_point",
       "test_dequantizelinear_e5m2"]
    + [f"test_{op}{sat}_{src}_to_{dst}" for op in ("cast", "castlike") for sat in ("", "_no_saturate")
       for src in ("FLOAT", "FLOAT16") for dst in FP8_NAMES]
    + [f"test_{op}_{src}_to_{dst}" for op in ("cast", "castlike") for src in FP8_NAMES
       for dst in ("FLOAT", "FLOAT16")]
)


def test_onnx_vector_summary(capsys):
    """Every required vector ran with 0 mismatches; print how much was checked."""
    by_name = {os.path.basename(d): _check(d) for d in DIRS}
    missing = [n for n in REQUIRED if n not in by_name]
    assert not missing, f"vectors not found under {NODE_DIR}: {missing}"
    skipped_required = {n: by_name[n] for n in REQUIRED if isinstance(by_name[n], str)}
    assert not skipped_required, f"required vectors were skipped: {skipped_required}"
    checked = [r for r in by_name.values() if not isinstance(r, str)]
    cases = sum(r[1] for r in checked)
    elements = sum(r[2] for r in checked)
    ops = sorted({r[0] for r in checked})
    fp8_dirs = [by_name[n] for n in by_name if not isinstance(by_name[n], str)
                and ("e4m3fn" in n or "e5m2" in n or _is_fp8_cast(n))]
    with capsys.disabled():
        print(f"\nONNX node vectors: {len(checked)} dirs, {cases} test cases, {elements} output "
              f"elements, 0 mismatches ({', '.join(ops)}); of them FP8: {len(fp8_dirs)} dirs, "
              f"{sum(r[1] for r in fp8_dirs)} cases, {sum(r[2] for r in fp8_dirs)} elements; "
              f"{len(by_name) - len(checked)} dirs skipped (unsupported types)")
