"""The whole accelerator in ``make bench``: a large GEMM and the demo models' batching.

- GEMM: ``256 x 256 x 256`` on a 16x16 array (128-bit bus) compiled by the driver, run on
  the RTL; utilization = useful MACs / (PEs x cycles) from the hardware's counters, the
  counters compared with the golden machine's, the DRAM image compared bit for bit.
- Batching (seeds 000/001: latency vs throughput): the digits MLP and CNN for batch sizes
  1..64 on the RTL: latency = cycles until the whole batch is done, throughput =
  inferences per million cycles.
"""

from __future__ import annotations

import time

import numpy as np

from .model.config import AcceleratorConfig
from .model.csr import QUEUE_COMMANDS

__all__ = ["gemm_utilization", "batching", "system_markdown", "BATCHES"]

BATCHES = (1, 2, 4, 8, 16, 32, 64)


def gemm_utilization(m: int = 256, k: int = 256, n: int = 256, rows: int = 16, cols: int = 16,
                     bus_bits: int = 128, seed: int = 0) -> dict:
    from .driver.runtime import linear_image
    from .model.machine import run
    from .model.numerics import RequantParams
    from .sim.native_top import run_program_native

    cfg = AcceleratorConfig(rows=rows, cols=cols, bus_bits=bus_bits)
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, size=(k, n)).astype(np.int8)
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    params = RequantParams.for_layer("tflite", 0.02, np.full(n, 0.01, np.float32), 0.5)
    image, base, window = linear_image(cfg, x, w, None, params)
    golden = bytearray(image)
    g = run(cfg, golden, base, window).counters
    t0 = time.perf_counter()
    out = run_program_native(cfg, image, base, window)
    wall = time.perf_counter() - t0
    c = out.counters
    return {"config": cfg.name, "bus_bits": bus_bits, "gemm": [m, k, n], "commands": sum(c[n] for n in QUEUE_COMMANDS.values()),
            "cycles": c["cycles"], "utilization": m * k * n / (cfg.pes * c["cycles"]),
            "rtl_equals_golden": out.dram == bytes(golden) and out.status["error"] == 0,
            "counters_equal_golden": (c["useful_macs"], c["dma_bytes_loaded"], c["dma_bytes_stored"])
            == (g.useful_macs, g.dma_bytes_loaded, g.dma_bytes_stored),
            "counters": c, "sim_wall_s": wall}


def batching(batches=BATCHES) -> list[dict]:
    from .demo import demo_config
    from .driver.models import digits_models, quantize_input
    from .driver.runtime import Accelerator

    cfg = demo_config()
    rows = []
    for name, demo in digits_models().items():
        net = demo.quantized_net
        x_q = quantize_input(net, demo.test[0])
        for b in batches:
            print(f"[bench] {name}: batch {b} on the RTL", flush=True)
            want, _ = Accelerator(cfg, "golden").run_network(net, x_q[:b])
            got, st = Accelerator(cfg, "rtl").run_network(net, x_q[:b])
            rows.append({"model": name, "batch": b, "cycles": st.cycles, "cycles_per_inference": st.cycles / b,
                         "inferences_per_mcycle": b / st.cycles * 1e6,
                         "utilization": st.layer_macs / (cfg.pes * st.cycles),
                         "rtl_equals_golden": bool(np.array_equal(got, want))})
    return rows


def system_markdown(gemm: dict, batch_rows: list[dict], meta: dict) -> str:
    lines = [
        "# Whole accelerator benchmark", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `make bench`.", "",
        "## GEMM on the RTL", "",
        f"`{gemm['gemm'][0]}x{gemm['gemm'][1]}x{gemm['gemm'][2]}` int8 GEMM with requantization on "
        f"{gemm['config']} ({gemm['bus_bits']}-bit AXI bus), compiled by the driver "
        f"({gemm['commands']} commands), DRAM as the native harness's C++ model.", "",
        "| cycles | utilization | RTL == golden (DRAM image) | counters == golden | load busy | exec busy "
        "| store busy | sim wall s |",
        "|---|---|---|---|---|---|---|---|",
        f"| {gemm['cycles']} | {gemm['utilization']:.1%} | {gemm['rtl_equals_golden']} "
        f"| {gemm['counters_equal_golden']} | {gemm['counters']['load_busy']} | {gemm['counters']['exec_busy']} "
        f"| {gemm['counters']['store_busy']} | {gemm['sim_wall_s']:.0f} |", "",
        "## Batching (demo models, demo accelerator)", "",
        "Latency: cycles until the whole batch is done; throughput: inferences per million cycles.", "",
        "| model | batch | cycles | cycles / inference | inferences / Mcycle | utilization | RTL == golden |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in batch_rows:
        lines.append(f"| {r['model']} | {r['batch']} | {r['cycles']} | {r['cycles_per_inference']:.0f} "
                     f"| {r['inferences_per_mcycle']:.0f} | {r['utilization']:.1%} | {r['rtl_equals_golden']} |")
    return "\n".join(lines) + "\n"
