"""The generated array under Verilator == the golden model, bit for bit.

Each configuration is built once (cached) and runs every test of ``sim/tb_array.py``:
WS tiles back to back with no bubble, OS tiles, mixed dataflows with random stalls,
-128/127 extremes and wraparound, and GEMMs whose shapes are not array multiples.
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
]


@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_array_rtl_matches_golden(fields, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg), "systolica.sim.tb_array", env={"SYSTOLICA_SEED": str(seed)})


@pytest.mark.slow
@pytest.mark.parametrize("rows, cols", [(32, 32), (7, 13), (13, 7)])
def test_array_rtl_matches_golden_large(rows, cols, seed):
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    run_bench(build(cfg), "systolica.sim.tb_array", env={"SYSTOLICA_SEED": str(seed)})
