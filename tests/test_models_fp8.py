"""The digits MLP and CNN quantized to FP8 (driver/models_fp8.py) on the golden FP8 numerics.

Their accuracies (every format within 2 points of float) are asserted by ``test_demo.py``,
which prints them.
"""

import numpy as np
import pytest

from systolica.driver.models import CALIBRATION_SIZE, _trained, digits_split
from systolica.driver.models_fp8 import FP8_SCHEMES, quantize_fp8, run_fp8_layer
from systolica.model import accum, fp8
from systolica.model.requant_fp8 import requantize_fp8


@pytest.mark.parametrize("label", list(FP8_SCHEMES))
def test_fp8_linear_layer_is_exact_sum_then_one_rounding(label, seed):
    """A linear layer's output equals the exact matmul of its FP8 codes followed by
    requantize_fp8 per element, written out directly."""
    a_type, w_type = FP8_SCHEMES[label]
    data = digits_split()
    net = quantize_fp8(_trained("mlp", 0), data.x_train[:CALIBRATION_SIZE], a_type, w_type)
    layer = net.layers[0]
    rng = np.random.default_rng(seed)
    x = fp8.cast_to_fp8(rng.random((5, 64)) * 400, a_type).view(np.uint8)
    got = run_fp8_layer(net, layer, x)
    exact = fp8.fp8_matmul(x, layer.weight, a_type, w_type)           # Fractions
    frac = net.cfg.acc_format.frac_bits
    for (i, c), v in np.ndenumerate(exact):
        element = int(accum.pack(net.cfg, np.array([int(v * (1 << frac))], object))[0])
        assert got[i, c] == requantize_fp8(net.cfg, element, a_type, float(layer.scale[c]),
                                           bias=int(layer.bias[c]), relu=layer.relu)
