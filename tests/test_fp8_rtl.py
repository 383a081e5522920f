"""FP8 on the whole accelerator: the generated Verilog (``top``, native Verilator harness)
leaves exactly the golden machine's DRAM image, status and counters -- compiled FP8 layers
through the ``rtl`` backend, and random legal and illegal FP8 programs (the fuzzer: FP8
codes of every kind incl. NaN/inf in the operands, partial sums loaded with their flags,
WS and OS tiles that accumulate, random FP8 lane words, stalls, bus errors, aborts).

Two small configurations: E4M3 on a 2x3 array with a 64-bit bus (8-byte partial sums),
and E4M3 activations x E5M2 weights on 3x2 with a 128-bit bus (flags for NaN and both
infinities, 16-byte partial sums).
"""

import numpy as np
import pytest

from systolica.driver.models_fp8 import Fp8Layer, Fp8Net
from systolica.driver.runtime import BACKENDS, Accelerator, linear_image
from systolica.model.config import AcceleratorConfig
from systolica.model.machine import Status
from systolica.model.requant_fp8 import Fp8RequantParams
from systolica.sim.fuzz import FuzzTotals, run_cases
from systolica.sim.fuzz_cases import case_spec

CONFIGS = [
    AcceleratorConfig(rows=2, cols=3, input_type="fp8_e4m3", bus_bits=64, spad_rows=256, acc_rows=64),
    AcceleratorConfig(rows=3, cols=2, input_type="fp8_e4m3", weight_type="fp8_e5m2", bus_bits=128,
                      spad_rows=256, acc_rows=64),
]
IDS = [c.name for c in CONFIGS]


def _both(cfg, image: bytes, base: int, window):
    """[(final image, result) of the golden backend, the same of the rtl backend]."""
    out = []
    for backend in ("golden", "rtl"):
        dram = bytearray(image)
        result = BACKENDS[backend](cfg, dram, base, window)
        out.append((bytes(dram), result))
    return out


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_fp8_linear_layers_rtl_equals_golden(cfg, seed):
    rng = np.random.default_rng(seed)
    unit = 1 << cfg.acc_format.frac_bits
    for case, out_type in enumerate(("fp8_e4m3", "fp8_e5m2", "int8")):
        m, k, n = (int(v) for v in rng.integers(2, 9, 3))
        x = rng.integers(0, 256, (m, k)).astype(np.uint8)          # every code, NaN/inf included
        if case != 2:                                                 # and mostly finite operands
            x = (rng.integers(0x18, 0x50, (m, k)) | (rng.integers(0, 2, (m, k)) << 7)).astype(np.uint8)
        w = (rng.integers(0x18, 0x50, (k, n)) | (rng.integers(0, 2, (k, n)) << 7)).astype(np.uint8)
        scale = tuple(float(np.float32(2.0 ** rng.uniform(-3, 1))) for _ in range(n))
        params = Fp8RequantParams(out_type, scale, relu=case == 1)
        bias = np.array([int(b) for b in rng.integers(-8 * unit, 8 * unit, n)], dtype=object)
        image, base, window = linear_image(cfg, x, w, bias, params)
        (gold, want), (rtl, got) = _both(cfg, image, base, window)
        assert want.status is Status.OK and got.status is Status.OK, (want, got)
        assert rtl == gold, f"case {case}: {sum(a != b for a, b in zip(rtl, gold))} DRAM bytes differ"
        for name in ("useful_macs", "dma_bytes_loaded", "dma_bytes_stored", "commands"):
            assert getattr(got.counters, name) == getattr(want.counters, name), name


@pytest.mark.parametrize("cfg", CONFIGS[:1], ids=IDS[:1])
def test_fp8_conv_net_through_the_rtl_backend(cfg, seed):
    """Accelerator(cfg, "rtl").run_network on a two-layer FP8 net (conv2d with +0 padding,
    then linear): every activation equals the golden backend's."""
    rng = np.random.default_rng(seed)
    unit = 1 << cfg.acc_format.frac_bits
    codes = lambda shape: (rng.integers(0x20, 0x48, shape) | (rng.integers(0, 2, shape) << 7)).astype(np.uint8)  # noqa: E731
    scale = lambda n: np.array([2.0 ** rng.uniform(-5, -2) for _ in range(n)], np.float32)  # noqa: E731
    bias = lambda n: np.array([int(b) for b in rng.integers(-unit, unit, n)], dtype=object)  # noqa: E731
    conv = Fp8Layer("conv2d", codes((4, 2 * 9)), scale(4), bias(4), True, (2, 5, 5), (4, 3, 3), 3, 2, 1)
    fc = Fp8Layer("linear", codes((36, 3)), scale(3), bias(3), False, (4, 3, 3), (3,))
    net = Fp8Net(cfg, 1.0, (conv, fc), 1.0)
    x = codes((2, 2, 5, 5))
    want, wstats = Accelerator(cfg, "golden").run_network(net, x)
    got, gstats = Accelerator(cfg, "rtl").run_network(net, x)
    for a, b in zip(gstats.activations, wstats.activations):
        assert np.array_equal(a, b)
    assert np.array_equal(got, want) and gstats.useful_macs == wstats.useful_macs


@pytest.mark.parametrize("cfg", CONFIGS, ids=IDS)
def test_fp8_random_programs_rtl_equals_machine(cfg, seed):
    totals = FuzzTotals()
    specs = [case_spec(0, seed * 1000 + i, fp8=True) for i in range(16)]
    found = run_cases(specs, totals, cfg)
    assert not found, "\n".join(f"{m.spec}: {m}" for m in found)
    assert totals.statuses.get("OK", 0) > 0 and len(totals.statuses) >= 3, totals.statuses
