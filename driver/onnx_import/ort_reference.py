"""onnxruntime's exact result for a quantized model, on any CPU: what the importer must equal.

Two of onnxruntime's defaults on x86-64 make its output depend on the CPU or stray from its
own quantized kernels; each has a session option of onnxruntime's that turns it off:

- **uint8 activations x int8 weights** (``u8s8``): the kernels use ``vpmaddubsw``, which
  saturates pairs of products to int16 on CPUs without AVX-VNNI/AVX512-VNNI.
  ``session.x64quantprecision=1`` makes onnxruntime use its exact u8u8 kernels there
  (it re-encodes the int8 weights as uint8 + 128).
- **int8 activations in QDQ models**: onnxruntime converts them to uint8 first
  (``session.qdqisint8allowed=0``, the x86 default; ARM allows int8). The integer kernels
  do not change, but QLinearAdd and QLinearAveragePool add the zero point in float32 before
  rounding, so some outputs move by one, and a tensor read by two DequantizeLinear stays
  unfused (Conv in float32). ``session.qdqisint8allowed=1`` keeps int8: the s8s8 kernels
  (exact on every CPU) and the int8 contrib ops, exactly as for a QOperator int8 model.

:func:`run_exact` runs the model with the default graph optimizations (the QDQ patterns
fused into QLinearConv, QGemm, QLinearAdd, ...) and the option its activation type needs;
:func:`run_as_is` runs it with onnxruntime's defaults (``optimized=False``:
``ORT_DISABLE_ALL``, which computes QDQ models through float32). :func:`has_vnni` reads
``/proc/cpuinfo``.
"""

from __future__ import annotations

import functools
import platform

import numpy as np

__all__ = ["has_vnni", "activation_types", "exact_options", "run_exact", "run_as_is", "session"]

#: Activation (not weight) zero points: QuantizeLinear's, and the y_zero_point of QLinear ops.
_ACTIVATION_ZP = {"QuantizeLinear": 2, "QLinearConv": 7, "QLinearMatMul": 7, "QGemm": 8,
                  "QLinearAdd": 7, "QLinearAveragePool": 4, "QLinearGlobalAveragePool": 4}


@functools.lru_cache(maxsize=1)
def has_vnni() -> bool:
    """True on x86 CPUs with AVX-VNNI or AVX512-VNNI, and on CPUs that are not x86."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return True
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(next((line for line in f if line.startswith("flags")), "").split())
    except OSError:
        return False
    return bool(flags & {"avx512_vnni", "avx_vnni"})


def activation_types(model) -> set[str]:
    """``{"uint8", "int8"}`` subset: the types of the model's quantized activations."""
    from onnx import numpy_helper

    inits = {t.name: t for t in model.graph.initializer}
    types = set()
    for node in model.graph.node:
        i = _ACTIVATION_ZP.get(node.op_type)
        if i is not None and i < len(node.input) and node.input[i] in inits:
            types.add(numpy_helper.to_array(inits[node.input[i]]).dtype.name)
    return types & {"uint8", "int8"}


def exact_options(model) -> dict[str, str]:
    """The session config entries that make onnxruntime exact for ``model`` (see above)."""
    types = activation_types(model)
    opts = {}
    if "int8" in types:
        opts["session.qdqisint8allowed"] = "1"
    else:       # (with int8 activations it rejects QGemm's int8 A with re-encoded weights)
        opts["session.x64quantprecision"] = "1"
    return opts


def session(model, *, optimized: bool = True, config: dict[str, str] | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimized
                                     else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    opts.log_severity_level = 3
    for k, v in (config or {}).items():
        opts.add_session_config_entry(k, v)
    return ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                providers=["CPUExecutionProvider"])


def _run(sess, x: np.ndarray) -> np.ndarray:
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def run_exact(model, x: np.ndarray) -> np.ndarray:
    """onnxruntime's exact output: default optimizations and :func:`exact_options`."""
    return _run(session(model, config=exact_options(model)), x)


def run_as_is(model, x: np.ndarray, optimized: bool = True) -> np.ndarray:
    """onnxruntime's defaults (``optimized=False``: ``ORT_DISABLE_ALL``)."""
    return _run(session(model, optimized=optimized), x)
