"""model/reference.py against the ONNX backend node test vectors shipped in the onnx wheel.

The vectors (``onnx/backend/test/data/node/test_*``) were written by the ONNX project, not
by us: a ``model.onnx`` with one node, and ``test_data_set_*/input_*.pb`` /
``output_*.pb`` tensors. Every output must match exactly (float32 outputs bit for bit).
Vectors of types the reference does not model (float8, float4, int2/int4, int16/uint16)
and blocked quantization are skipped with the reason.
"""

from __future__ import annotations

import functools
import glob
import os

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from systolica.model import reference as ref

NODE_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
PREFIXES = ("test_qlinearmatmul_", "test_qlinearconv", "test_matmulinteger",
            "test_convinteger_", "test_quantizelinear", "test_dequantizelinear")
DIRS = sorted(d for d in glob.glob(os.path.join(NODE_DIR, "test_*"))
              if os.path.basename(d).startswith(PREFIXES))
IDS = [os.path.basename(d) for d in DIRS]

QUANT_DTYPES = {np.dtype(np.int8), np.dtype(np.uint8)}
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
        return f"quantized type {other} is not modelled by reference.py (int8/uint8 only)"
    return None


def _run(node: onnx.NodeProto, ins: list[np.ndarray]) -> np.ndarray:
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if isinstance(attrs.get("auto_pad"), bytes):
        attrs["auto_pad"] = attrs["auto_pad"].decode()
    op = node.op_type
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
    if want.dtype.kind == "f":
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
    with capsys.disabled():
        print(f"\nONNX node vectors: {len(checked)} dirs, {cases} test cases, {elements} output "
              f"elements, 0 mismatches ({', '.join(ops)}); "
              f"{len(by_name) - len(checked)} dirs skipped (unsupported types)")
