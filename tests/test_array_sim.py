"""The systolic array in Amaranth's simulator (no Verilator) == the golden model, bit for bit.

The PE rows and PEs are real submodules here (``Instance`` only when Verilog is emitted),
so small arrays of every arithmetic run as unit tests: WS and OS tiles of random length,
random gaps on both inputs, FP8 operands with special values.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from systolica.model import array as golden
from systolica.model.config import AcceleratorConfig
from systolica.sim.array_sim import random_operands, run_array_pysim

CONFIGS = [
    dict(rows=2, cols=3),
    dict(rows=3, cols=2, input_type="fp8_e4m3"),
    dict(rows=2, cols=2, input_type="fp8_e5m2", acc_bits=66),
    dict(rows=2, cols=3, input_type="fp8_e4m3", weight_type="fp8_e5m2", dataflows=("ws",)),
    dict(rows=3, cols=2, input_type="fp8_e5m2", weight_type="fp8_e4m3", dataflows=("os",)),
]


def random_tiles(cfg: AcceleratorConfig, rng, n: int) -> list:
    tiles = []
    for _ in range(n):
        flow = cfg.dataflows[int(rng.integers(0, len(cfg.dataflows)))]
        k = int(rng.integers(1, 2 * cfg.rows + 2))
        if flow == "ws":
            tiles.append(golden.WsTile(random_operands(cfg, rng, (k, cfg.rows)), random_operands(cfg, rng, (cfg.rows, cfg.cols), "w")))
        else:
            tiles.append(golden.OsTile(random_operands(cfg, rng, (cfg.rows, k)), random_operands(cfg, rng, (k, cfg.cols), "w")))
    return tiles


@pytest.mark.parametrize("fields", CONFIGS, ids=lambda f: "-".join(str(v) for v in f.values()))
def test_array_in_amaranth_simulator_matches_golden(fields, seed):
    cfg = AcceleratorConfig(**fields)
    rng = np.random.default_rng(seed)
    tiles = random_tiles(cfg, rng, 5)
    got = run_array_pysim(cfg, tiles, gap=0.25, rng=random.Random(seed))
    want = golden.expected_outputs(cfg, tiles)
    assert len(got) == len(want), f"{len(got)} result vectors, golden model has {len(want)}"
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"result vector {n}: RTL {g} != golden {w}"


@pytest.mark.parametrize("fields", CONFIGS[:3], ids=lambda f: "-".join(str(v) for v in f.values()))
def test_array_after_reset_mid_tile_matches_golden(fields, seed):
    """The PEs' data registers have no reset (hw/pe.py): tiles cut off by a reset at a
    random cycle leave them full of stale values; the tiles after the reset must still
    equal the golden model, bit for bit."""
    cfg = AcceleratorConfig(**fields)
    rng = np.random.default_rng(seed)
    before, tiles = random_tiles(cfg, rng, 4), random_tiles(cfg, rng, 4)
    reset_after = int(rng.integers(cfg.rows + 2, 6 * cfg.rows + 8))
    print(f"reset after {reset_after} cycles")
    got = run_array_pysim(cfg, tiles, gap=0.25, rng=random.Random(seed), before=before, reset_after=reset_after)
    want = golden.expected_outputs(cfg, tiles)
    assert len(got) == len(want), f"{len(got)} result vectors, golden model has {len(want)}"
    for n, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"result vector {n}: RTL {g} != golden {w}"
