"""The generated DMA under Verilator == the golden DMA model, bit for bit.

Each configuration is built once (cached) and runs every test of ``sim/tb_dma.py``:
random loads (strides of any sign, padding, transposition, accumulator elements) and
stores (overlapping elements), a load and a store at once, the command checks
(BAD_DESCRIPTOR, ROW_RANGE, WINDOW: no beat, nothing written), SLVERR/DECERR responses,
directed padding cases, random stalls on every AXI channel and on-chip port, and a
no-stall throughput run (``SYSTOLICA_RESULT``: JSON of bytes per cycle).
"""

import pytest

from systolica.model.config import AcceleratorConfig
from systolica.sim.runner import build, run_bench

CONFIGS = [
    dict(rows=4, cols=4, bus_bits=32, spad_rows=64, acc_rows=64),
    dict(rows=8, cols=8, bus_bits=64, spad_rows=128, acc_rows=64),     # acc row field < spad's
    dict(rows=4, cols=16, bus_bits=128, acc_bits=20, spad_rows=64, acc_rows=128),
    dict(rows=16, cols=4, bus_bits=512, acc_bits=40, addr_bits=40, spad_rows=256, acc_rows=64),
    # FP8 E5M2: 84-bit partial sums with flags, 16-byte DRAM elements (3-bit elem_log2)
    dict(rows=2, cols=3, bus_bits=64, input_type="fp8_e5m2", spad_rows=64, acc_rows=32),
]


@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_dma_rtl_matches_model(fields, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg, "dma"), "systolica.sim.tb_dma", env={"SYSTOLICA_SEED": str(seed)})
