"""The generated requantization unit under Verilator == the golden model, bit for bit.

Each configuration is built once (cached) and runs every test of ``sim/tb_requant.py``:
TFLite double and single rounding, the ONNX float32 scale, int8 and uint8 outputs,
per-tensor and per-channel parameters, bias, activation clamps, random gaps and
backpressure, and one vector per cycle at a fixed latency. FP8 configurations run
``sim/tb_requant_fp8.py`` (exact sums x float32 scale to E4M3/E5M2/int8/uint8).
"""

import pytest

from systolica.model.config import AcceleratorConfig
from systolica.sim.runner import build, run_bench

CONFIGS = [
    dict(rows=1, cols=1),
    dict(rows=4, cols=3, acc_bits=16),   # narrow accumulator: sign-extended on entry
    dict(rows=4, cols=4),
    dict(rows=8, cols=8, acc_bits=40),   # wide accumulator: wrapped to int32 on entry
]


@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_requant_rtl_matches_golden(fields, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg, "requant"), "systolica.sim.tb_requant", env={"SYSTOLICA_SEED": str(seed)})


@pytest.mark.slow
@pytest.mark.parametrize("cols", [16, 32])
def test_requant_rtl_matches_golden_wide(cols, seed):
    cfg = AcceleratorConfig(rows=4, cols=cols)
    run_bench(build(cfg, "requant"), "systolica.sim.tb_requant", env={"SYSTOLICA_SEED": str(seed)})


FP8_CONFIGS = [
    dict(rows=1, cols=3, input_type="fp8_e4m3"),
    dict(rows=2, cols=4, input_type="fp8_e5m2"),
    dict(rows=2, cols=2, input_type="fp8_e4m3", weight_type="fp8_e5m2", acc_bits=51),
]


@pytest.mark.parametrize("fields", FP8_CONFIGS, ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_fp8_requant_rtl_matches_golden(fields, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg, "requant"), "systolica.sim.tb_requant_fp8", env={"SYSTOLICA_SEED": str(seed)})
