"""The ONNX importer against onnxruntime, bit for bit, and its errors.

Models: the digits MLP and CNN trained in numpy (driver/models.py) and one small model per
supported op (driver/onnx_examples.py), exported with onnx.helper and quantized with
onnxruntime.quantization.quantize_static in the QDQ and QOperator formats, uint8 and int8
activations, int8 weights per channel and per tensor. Inputs: all 1,797 digits.

What each test compares with -- onnxruntime's *exact* result
(systolica.driver.onnx_import.ort_reference.run_exact): the model as given, default graph
optimizations (QDQ patterns fused into QLinearConv, QGemm, QLinearAdd, ...), plus
``session.x64quantprecision=1`` for uint8 activations (onnxruntime's exact u8u8 kernels
instead of its u8s8 ones, which saturate on x86 CPUs without VNNI) or
``session.qdqisint8allowed=1`` for int8 activations (int8 kept: exact s8s8 kernels, instead
of the x86 default's conversion to uint8). That result does not depend on the CPU. On CPUs
with VNNI, the uint8 models and the int8 QOperator models are also compared with
onnxruntime's plain defaults (then exact as well).

Backends: ``reference`` (the layer math, no program) on every input; ``golden`` (the
compiled programs on the instruction-level machine) on the first digits.
"""

from __future__ import annotations

import functools

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from systolica.demo import demo_config
from systolica.driver import onnx_import
from systolica.driver.onnx_examples import (ACTIVATIONS, DIGITS_MODELS, FORMATS, OP_MODELS, digits_inputs,
                                            op_float_model, quantize)
from systolica.driver.onnx_import import OnnxImportError
from systolica.driver.onnx_import.ort_reference import has_vnni, run_as_is, run_exact
from systolica.model.config import AcceleratorConfig

CFG = demo_config()
GOLDEN_SAMPLES = 12
COUNTS = {"models": 0, "values": 0, "samples": 0, "golden_values": 0, "float_path_differs": 0,
          "float_path_values": 0}


@functools.lru_cache(maxsize=None)
def _model(name: str, fmt: str, act: str, per_channel: bool, **extra) -> onnx.ModelProto:
    from systolica.driver.onnx_examples import digits_float_model

    fm = digits_float_model(name) if name in DIGITS_MODELS else op_float_model(name)
    return quantize(fm, fmt, act, per_channel, extra_options=dict(extra) or None)


def _same(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype, got.shape,
                                                                 want.shape)
    bad = np.flatnonzero(got.ravel() != want.ravel())
    assert bad.size == 0, (f"{what}: {bad.size}/{got.size} values differ, first at flat index {bad[:5]}: "
                           f"ours={got.ravel()[bad[:5]]} onnxruntime={want.ravel()[bad[:5]]}")


def _compare(model, what: str, golden: int = GOLDEN_SAMPLES) -> None:
    x = digits_inputs(model)
    imported = onnx_import.load(model)
    want = run_exact(model, x)
    got, _ = imported.run(x, backend="reference")
    _same(got, want, f"{what}: reference backend vs onnxruntime exact")
    if has_vnni() and (onnx_import.load(model).stages[0].output.dtype == "uint8" or "qoperator" in what):
        _same(got, run_as_is(model, x), f"{what}: vs onnxruntime defaults (VNNI CPU)")
    if golden:
        got_g, report = imported.run(x[:golden], backend="golden", cfg=CFG, batch=golden // 2)
        _same(got_g, want[:golden], f"{what}: golden backend vs onnxruntime exact")
        assert report.programs == 2 * len(imported.segments)
        COUNTS["golden_values"] += got_g.size
    if "qdq" in what:                 # the other reference: ORT_DISABLE_ALL (float32 path)
        COUNTS["float_path_differs"] += int(np.sum(run_as_is(model, x, optimized=False) != want))
        COUNTS["float_path_values"] += want.size
    COUNTS["models"] += 1
    COUNTS["values"] += want.size
    COUNTS["samples"] += len(x)


DIGITS_CASES = [(n, f, a, pc) for n in DIGITS_MODELS for f in FORMATS for a in ACTIVATIONS for pc in (True, False)]


@pytest.mark.parametrize("name, fmt, act, per_channel", DIGITS_CASES,
                         ids=[f"{n}-{f}-{a}-{'pc' if pc else 'pt'}" for n, f, a, pc in DIGITS_CASES])
def test_digits_models_identical_to_onnxruntime(name, fmt, act, per_channel):
    """Every digit through the layer math, the first ones through compiled programs on the
    golden machine: the float32 logits onnxruntime gives, bit for bit."""
    _compare(_model(name, fmt, act, per_channel), f"{name} {fmt} {act} pc={per_channel}")


OP_CASES = [(op, f, a) for op in OP_MODELS for f in FORMATS for a in ACTIVATIONS]


@pytest.mark.parametrize("op, fmt, act", OP_CASES, ids=[f"{o}-{f}-{a}" for o, f, a in OP_CASES])
def test_op_models_identical_to_onnxruntime(op, fmt, act):
    """One small model per supported op, per-channel weights (per-tensor: the slow sweep)."""
    _compare(_model(op, fmt, act, True), f"{op} {fmt} {act} pc=True", golden=4)


@pytest.mark.slow
@pytest.mark.parametrize("op, fmt, act", OP_CASES, ids=[f"{o}-{f}-{a}" for o, f, a in OP_CASES])
def test_op_models_per_tensor_identical_to_onnxruntime(op, fmt, act):
    _compare(_model(op, fmt, act, False), f"{op} {fmt} {act} pc=False", golden=4)


@pytest.mark.parametrize("op", ["conv_relu", "conv_clip", "add"])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_kept_relu_and_clip_run_as_clamps(op, act):
    """QDQKeepRemovableActivations: the Relu/Clip stay between their own DQ/Q pair; they run as
    a clamp of the quantized tensor (bounds: QuantizeLinear of min and max)."""
    model = _model(op, "qdq", act, True, QDQKeepRemovableActivations=True)
    kinds = {n.op_type for n in model.graph.node}
    assert kinds & {"Relu", "Clip"}, kinds
    _compare(model, f"{op} qdq {act} kept activations", golden=0)


def test_contrib_quantize_dequantize_nodes():
    """UseQDQContribOps: QuantizeLinear/DequantizeLinear in the com.microsoft domain."""
    model = _model("cnn", "qdq", "s8", True, UseQDQContribOps=True)
    assert {n.domain for n in model.graph.node if "Quantize" in n.op_type} == {"com.microsoft"}
    _compare(model, "cnn qdq s8 contrib Q/DQ", golden=4)


def test_uint8_symmetric_weights_run_as_int8():
    """uint8 weights with zero point 128 (QDQ, weight_type=QUInt8) are w - 128 in int8."""
    model = quantize(op_float_model("conv"), "qdq", "u8", True, weights="u8")
    zps = [numpy_helper.to_array(t) for t in model.graph.initializer if t.name.startswith("w")
           and "zero_point" in t.name]
    assert zps and all(z.dtype == np.uint8 and np.all(z == 128) for z in zps)
    _compare(model, "conv qdq u8 uint8 weights", golden=4)


def _edit(model, fn) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    fn(m.graph)
    return m


def _node(g, op: str):
    return next(n for n in g.node if n.op_type == op)


def _set_attr(node, name: str, value) -> None:
    for i, a in enumerate(node.attribute):
        if a.name == name:
            del node.attribute[i]
            break
    node.attribute.append(helper.make_attribute(name, value))


def _qgemm_alpha(g):
    _set_attr(_node(g, "QGemm"), "alpha", 0.75)


def _conv_same_upper(g):
    conv = _node(g, "QLinearConv")
    _set_attr(conv, "auto_pad", "SAME_UPPER")
    _set_attr(conv, "strides", [2, 2])
    conv.attribute.remove(next(a for a in conv.attribute if a.name == "pads"))


def _maxpool_rescaled(g):
    """The QuantizeLinear after the MaxPool (and its DequantizeLinear) get 1.37x the scale:
    onnxruntime cannot drop that pair, so it pools in float32 and requantizes."""
    pool = _node(g, "MaxPool")
    q = next(n for n in g.node if n.op_type == "QuantizeLinear" and n.input[0] == pool.output[0])
    dq = next(n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] == q.output[0])
    scale = next(t for t in g.initializer if t.name == q.input[1])
    new = numpy_helper.from_array(numpy_helper.to_array(scale) * np.float32(1.37), scale.name + "_x137")
    g.initializer.append(new)
    q.input[1] = dq.input[1] = new.name


EDITS = {"qgemm_alpha": ("gemm", "qoperator", _qgemm_alpha), "conv_same_upper": ("conv", "qoperator", _conv_same_upper),
         "maxpool_rescaled": ("maxpool", "qdq", _maxpool_rescaled)}


@pytest.mark.parametrize("edit", list(EDITS))
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_edited_models_identical_to_onnxruntime(edit, act):
    """What quantize_static does not write: QGemm alpha != 1, auto_pad SAME_UPPER with
    stride 2, a MaxPool whose output scale differs from its input's."""
    name, fmt, fn = EDITS[edit]
    model = _edit(_model(name, fmt, act, True), fn)
    onnx.checker.check_model(model)
    _compare(model, f"{edit} {fmt} {act}", golden=4)


def test_segments_group_chained_layers_and_batches_split_programs():
    """The CNN's three layers (a Flatten between) are one program; 7 samples in batches of 3
    are three programs per segment, equal to one batch of 7."""
    model = _model("cnn", "qoperator", "u8", True)
    imported = onnx_import.load(model)
    assert len(imported.segments) == 1 and len(imported.segments[0].layers) == 3
    assert [s.op for s in imported.segments[0].skipped] == ["Flatten"]
    x = digits_inputs(model)[:7]
    y3, r3 = imported.run(x, backend="golden", cfg=CFG, batch=3)
    y7, r7 = imported.run(x, backend="golden", cfg=CFG, batch=7)
    assert r3.programs == 3 and r7.programs == 1
    _same(y3, y7, "batch 3 vs batch 7")
    assert [s.macs for s in r3.layers] == [s.macs for s in r7.layers] == \
        [7 * s.macs for s in imported.accelerator_layers]


# -- errors: one line naming the node, its op and the reason, before any hardware runs -------
def _load_error(model) -> str:
    with pytest.raises(OnnxImportError) as e:
        onnx_import.load(model)
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_float_model_is_rejected_naming_the_node():
    msg = _load_error(op_float_model("conv"))
    assert msg.startswith("node '") and "(Conv)" in msg and "float model" in msg, msg


def test_unsupported_op_is_rejected_naming_the_node():
    model = _model("gemm", "qdq", "u8", True)

    def add_softmax(g):
        out = g.output[0].name
        last = next(n for n in g.node if out in n.output)
        last.output[0] = "logits"
        g.node.append(helper.make_node("Softmax", ["logits"], [out], name="probs"))

    msg = _load_error(_edit(model, add_softmax))
    assert msg.startswith("node 'probs' (Softmax): op not supported"), msg


def test_unsupported_attribute_and_values_are_rejected():
    model = _model("maxpool", "qoperator", "u8", True)

    def set_attr(name, value):
        def fn(g):
            node = next(n for n in g.node if n.op_type == "MaxPool")
            node.attribute.append(helper.make_attribute(name, value))
        return fn

    msg = _load_error(_edit(model, set_attr("ceil_mode", 1)))
    assert "(MaxPool)" in msg and "ceil_mode=1 is not supported" in msg, msg
    conv = _model("conv", "qoperator", "u8", True)

    def conv_attr(g):
        next(n for n in g.node if n.op_type == "QLinearConv").attribute.append(helper.make_attribute("foo", 1))

    msg = _load_error(_edit(conv, conv_attr))
    assert "(QLinearConv)" in msg and "attribute 'foo' is not supported" in msg, msg


def test_unsupported_dtype_is_rejected():
    model = _model("conv", "qdq", "u8", True)

    def int16_input(g):
        q = next(n for n in g.node if n.op_type == "QuantizeLinear")
        zp = next(t for t in g.initializer if t.name == q.input[2])
        zp.CopyFrom(numpy_helper.from_array(np.zeros((), np.int16), zp.name))

    msg = _load_error(_edit(model, int16_input))
    assert "(QuantizeLinear)" in msg and "int16" in msg and "int8 or uint8" in msg, msg


def test_asymmetric_weights_are_rejected_naming_the_node():
    """QOperator with weight_type=QUInt8 and WeightSymmetric=False: int8 weights with nonzero
    zero points, which the array (no per-row input sums) cannot run."""
    model = quantize(op_float_model("conv"), "qoperator", "u8", True, weights="u8",
                     extra_options={"WeightSymmetric": False})
    msg = _load_error(model)
    assert "(QLinearConv)" in msg and "zero point" in msg and "symmetric" in msg, msg


def test_layer_that_does_not_fit_fails_before_any_backend_runs(monkeypatch):
    """A 16-bit accumulator cannot hold the CNN's second conv (K = 72 int8 products): the run
    names that node, and no backend was called."""
    from systolica.driver import runtime

    calls = []
    monkeypatch.setitem(runtime.BACKENDS, "golden", lambda *a, **k: calls.append(a))
    monkeypatch.setitem(runtime.BACKENDS, "rtl", lambda *a, **k: calls.append(a))
    model = _model("cnn", "qdq", "u8", True)
    imported = onnx_import.load(model)
    cfg = AcceleratorConfig(rows=8, cols=8, acc_bits=16, spad_rows=512, acc_rows=128)
    for backend in ("golden", "rtl"):
        with pytest.raises(OnnxImportError) as e:
            imported.run(digits_inputs(model)[:2], backend=backend, cfg=cfg)
        msg = str(e.value)
        assert msg.startswith("node 'conv3' (Conv): does not fit the configuration") and "acc_bits=16" in msg, msg
    assert calls == []


def test_bad_inputs_are_rejected():
    imported = onnx_import.load(_model("mlp", "qdq", "u8", True))
    x = digits_inputs(_model("mlp", "qdq", "u8", True))[:2]
    with pytest.raises(OnnxImportError, match=r"input 'input': dtype float64, the model takes float32"):
        imported.run(x.astype(np.float64), backend="reference")
    with pytest.raises(OnnxImportError, match=r"input 'input': shape \[2, 8, 8\], the model takes \['N', 64\]"):
        imported.run(x.reshape(2, 8, 8), backend="reference")
    with pytest.raises(OnnxImportError, match="batch=0"):
        imported.run(x, backend="golden", batch=0)
    with pytest.raises(OnnxImportError, match="backend='tpu'"):
        imported.run(x, backend="tpu")


def test_summary():
    """Printed: how many outputs were compared with onnxruntime (all identical) and how often
    the issue's other reference, ORT_DISABLE_ALL (QDQ through float32), differs from the exact one."""
    print(f"\nONNX import: {COUNTS['models']} model variants, {COUNTS['samples']} inputs, "
          f"{COUNTS['values']} output values identical to onnxruntime's exact result "
          f"({COUNTS['golden_values']} of them also through compiled programs on the golden machine); "
          f"onnxruntime ORT_DISABLE_ALL on the QDQ models differs from its exact result in "
          f"{COUNTS['float_path_differs']} of {COUNTS['float_path_values']} values; CPU VNNI: {has_vnni()}")
