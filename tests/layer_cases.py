"""Test inputs shared by the whole-accelerator tests (tests/ is on ``sys.path`` under
pytest's default import mode)."""

import numpy as np

from systolica.driver.runtime import linear_image
from systolica.model.numerics import RequantParams


def random_linear_image(cfg, rng, m: int, k: int, n: int):
    """A compiled requantized int8 linear layer of random ``m x k`` inputs, ``k x n``
    weights and bias, and its DRAM image: ``linear_image``'s ``(image, base, window)``."""
    w = rng.integers(-128, 128, size=(k, n)).astype(np.int8)
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    bias = rng.integers(-5000, 5000, size=n).astype(np.int32)
    params = RequantParams.for_layer("tflite", 0.02, np.full(n, 0.01, np.float32), 0.5, zero_point=3)
    return linear_image(cfg, x, w, bias, params, x_zp=-7)
