"""The generated scratchpad and accumulator under Verilator == the golden model, bit for bit.

Each configuration is built once per unit (cached) and runs every test of
``sim/tb_scratchpad.py`` or ``sim/tb_accumulator.py``: random traffic on all ports at once
(bank conflicts, same-row reads and writes, random gaps and backpressure) with every
``ready`` and every response checked against :mod:`systolica.model.memory`, and the
throughput contracts: the DMA fills one bank while the readers stream others, and
accumulating writes into one row go back to back with no bubble.
"""

import pytest

from systolica.model.config import AcceleratorConfig
from systolica.sim.runner import build, run_bench

CONFIGS = [
    dict(rows=4, cols=4, spad_rows=64, spad_banks=2, acc_rows=32, acc_banks=2),
    dict(rows=3, cols=5, spad_rows=64, spad_banks=4, acc_rows=32, acc_banks=4, acc_bits=16),
    dict(rows=4, cols=4, spad_rows=128, spad_banks=1, acc_rows=64, acc_banks=1, acc_bits=40),
    dict(rows=2, cols=3, spad_rows=256, spad_banks=8, acc_rows=16, acc_banks=2, acc_bits=64),
]
BENCHES = {"scratchpad": "systolica.sim.tb_scratchpad", "accumulator": "systolica.sim.tb_accumulator"}


@pytest.mark.parametrize("unit", sorted(BENCHES))
@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_memory_rtl_matches_golden(fields, unit, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg, unit), BENCHES[unit], env={"SYSTOLICA_SEED": str(seed)})
