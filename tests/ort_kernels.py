"""Comparing one onnxruntime node with our reference where its kernels are exact.

onnxruntime's x86 kernels for uint8 activations x int8 weights (u8s8) saturate pairs of
products to int16 (``vpmaddubsw``) on CPUs without AVX-VNNI/AVX512-VNNI, so their result
depends on the CPU. On such CPUs :func:`exact_operands` re-encodes the int8 weight ``w``
and its zero point ``z`` as the uint8 ``w + 128`` and ``z + 128`` -- the same ONNX math
(``w - z`` is unchanged) -- so onnxruntime runs its u8u8 kernels, which widen to 16 bits
first and are exact. On CPUs with VNNI the node runs as written.
"""

from __future__ import annotations

import numpy as np

from systolica.driver.onnx_import.ort_reference import has_vnni

#: op -> (activation input, weight input, weight zero point input)
WEIGHT_INPUTS = {"QLinearConv": (0, 3, 5), "QLinearMatMul": (0, 3, 5), "MatMulInteger": (0, 1, 3),
                 "ConvInteger": (0, 1, 3)}


def exact_operands(op: str, names: list[str], values: list[np.ndarray]):
    """``(names, values)`` of one node, u8s8 re-encoded as u8u8 on CPUs without VNNI."""
    if has_vnni() or op not in WEIGHT_INPUTS:
        return list(names), list(values)
    xi, wi, zi = WEIGHT_INPUTS[op]
    names, values = list(names), list(values)
    if values[xi].dtype != np.uint8 or values[wi].dtype != np.int8:
        return names, values
    while len(values) <= zi:
        names.append(f"{names[wi]}_zero_point")
        values.append(np.zeros((), np.int8))
    for i in (wi, zi):
        values[i] = (np.asarray(values[i]).astype(np.int16) + 128).astype(np.uint8)
    return names, values
