"""The generated array under Verilator == the golden model, bit for bit.

Each configuration is built once (cached) and runs every test of ``sim/tb_array.py``:
WS tiles back to back with no bubble, OS tiles, mixed dataflows with random stalls,
the largest products (int8 -128/127, FP8 +-max) and wraparound, and GEMMs whose shapes
are not array multiples. FP8 configurations (E4M3, E5M2, mixed, non-square, a
one-product accumulator that wraps) stream FP8 codes with zeros, subnormals, the largest
values, NaN and infinities; results are the exact sums with their flags.
"""

import pytest

from systolica.model.config import AcceleratorConfig
from systolica.sim.runner import build, run_bench

CONFIGS = [
    dict(rows=1, cols=1),
    dict(rows=2, cols=3),
    dict(rows=4, cols=4, acc_bits=16),  # narrow accumulator: wraparound is exercised
    dict(rows=8, cols=8),
    dict(rows=16, cols=4),
    dict(rows=4, cols=16),
    dict(rows=16, cols=16),
    dict(rows=3, cols=5, dataflows=("ws",)),
    dict(rows=5, cols=3, dataflows=("os",)),
    dict(rows=4, cols=4, input_type="fp8_e4m3"),
    dict(rows=3, cols=5, input_type="fp8_e5m2"),
    dict(rows=5, cols=3, input_type="fp8_e4m3", weight_type="fp8_e5m2"),
    dict(rows=2, cols=3, input_type="fp8_e4m3", acc_bits=37),  # one product wide: wraps
]


@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_array_rtl_matches_golden(fields, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg), "systolica.sim.tb_array", env={"SYSTOLICA_SEED": str(seed)})


@pytest.mark.slow
@pytest.mark.parametrize("rows, cols, input_type", [(32, 32, "int8"), (7, 13, "int8"), (13, 7, "int8"),
                                                    (16, 16, "fp8_e4m3"), (8, 12, "fp8_e5m2")])
def test_array_rtl_matches_golden_large(rows, cols, input_type, seed):
    cfg = AcceleratorConfig(rows=rows, cols=cols, input_type=input_type)
    run_bench(build(cfg), "systolica.sim.tb_array", env={"SYSTOLICA_SEED": str(seed)})
