"""The compute core under Verilator == the machine model: the execute unit reads the
scratchpad, streams WS/OS tiles through the array and writes or accumulates the results."""

import pytest

from systolica.model.config import AcceleratorConfig
from systolica.sim.runner import build, run_bench

CONFIGS = [
    dict(rows=4, cols=4, spad_rows=64, acc_rows=32),
    dict(rows=3, cols=5, spad_rows=64, spad_banks=4, acc_rows=32, acc_bits=20),
    dict(rows=8, cols=8, spad_rows=128, acc_rows=64, dataflows=("ws",)),
    dict(rows=5, cols=3, spad_rows=64, acc_rows=32, dataflows=("os",), spad_banks=1, acc_banks=1),
]


@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_core_rtl_matches_machine(fields, seed):
    cfg = AcceleratorConfig(**fields)
    run_bench(build(cfg, "core"), "systolica.sim.tb_core", env={"SYSTOLICA_SEED": str(seed)})
