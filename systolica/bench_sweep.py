"""``systolica bench --only sweep`` (``bench/sweep.md``, ``bench/sweep.json``): the
performance model (:func:`systolica.driver.perf_model.estimate`) where the RTL would take
too long, no simulation at all.

- ``utilization``: square ``m^3`` GEMMs (one requantized linear layer, batch ``m``)
  compiled for ``R x R`` arrays with an ``8R``-bit bus (one scratchpad row per beat, as
  the perf bench's 16x16/128-bit and the demo's 8x8/64-bit), R = 4 to 32; utilization =
  MACs / (PEs x predicted cycles). A point whose ideal cycles (``m^3 / R^2``) exceed
  :data:`MAX_IDEAL_CYCLES` is left out: the compiler's tiling search takes minutes there.
- ``roofline``: the perf bench's single layers on its 16x16 (128-bit bus): MACs, the DRAM
  bytes the compiled program moves, the predicted cycles (``bench/perf.json`` holds the
  RTL's), the array's peak (PEs MACs per cycle) and the bus's (bytes per cycle).
"""

from __future__ import annotations

import time

__all__ = ["ARRAYS", "GEMM_SIZES", "MAX_IDEAL_CYCLES", "sweep_config", "sweep_data", "sweep_markdown"]

ARRAYS = (4, 8, 16, 32)
GEMM_SIZES = (16, 32, 64, 128, 256)
#: Largest ``m^3 / R^2`` of the utilization sweep (256^3 on 16x16).
MAX_IDEAL_CYCLES = 65536


def sweep_config(r: int):
    from .model.config import AcceleratorConfig

    return AcceleratorConfig(rows=r, cols=r, bus_bits=8 * r)


def _predict(cfg, net, batch: int) -> dict:
    from .driver.compiler import compile_network
    from .driver.perf_model import estimate

    t0 = time.perf_counter()
    prog = compile_network(cfg, net, batch)
    compile_s = time.perf_counter() - t0
    est = estimate(cfg, prog.commands)
    return {"config": cfg.name, "rows": cfg.rows, "cols": cfg.cols, "bus_bytes": cfg.bus_bytes,
            "macs": prog.macs, "cycles": est.cycles, "dram_bytes": est.dram_bytes,
            "utilization": prog.macs / (cfg.pes * est.cycles), "tiling": str(prog.layers[0].tiling),
            "compile_s": compile_s}


def sweep_data(quick: bool = False) -> dict:
    from tqdm import tqdm

    from .bench_perf import bench_config, workloads
    from .driver.workloads import one_layer, random_linear

    arrays, sizes = ((4, 8, 16), (16, 32, 64)) if quick else (ARRAYS, GEMM_SIZES)
    points = [(r, m) for r in arrays for m in sizes if m ** 3 / r ** 2 <= MAX_IDEAL_CYCLES]
    util = []
    for r, m in tqdm(points, desc="sweep: GEMM x array (model)", unit="point"):
        util.append({"gemm": m, **_predict(sweep_config(r), one_layer(random_linear(m, m, seed=m), f"gemm{m}"), m)})
    roof = []
    cfg = bench_config()
    layers = [w for w in workloads(quick) if w[3] is not None]
    for name, net, batch, _ in tqdm(layers, desc="sweep: roofline layers (model)", unit="layer"):
        roof.append({"name": name, "batch": batch, **_predict(cfg, net, batch)})
    return {"utilization": util, "roofline": roof,
            "roofline_peak": {"config": cfg.name, "macs_per_cycle": cfg.pes, "bus_bytes_per_cycle": cfg.bus_bytes},
            "max_ideal_cycles": MAX_IDEAL_CYCLES}


def sweep_markdown(data: dict, meta: dict) -> str:
    lines = [
        "# Performance-model sweep", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `systolica bench --only sweep` "
        "(module `systolica/bench_sweep.py`). Every figure here is the performance model's "
        "prediction for the compiled program (no simulation).", "",
        "## Utilization of m^3 GEMMs (model)", "",
        f"R x R array, 8R-bit bus; points with m^3 / R^2 > {data['max_ideal_cycles']:,} left out.", "",
        "| config | m | MACs | predicted cycles | utilization | DRAM bytes | tiling | compile s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in data["utilization"]:
        lines.append(f"| {r['config']} | {r['gemm']} | {r['macs']:,} | {r['cycles']:,} | {r['utilization']:.1%} "
                     f"| {r['dram_bytes']:,} | {r['tiling']} | {r['compile_s']:.1f} |")
    p = data["roofline_peak"]
    lines += ["", f"## Roofline layers on {p['config']} (model)", "",
              f"Peaks: {p['macs_per_cycle']} MACs/cycle, {p['bus_bytes_per_cycle']} bus bytes/cycle.", "",
              "| layer | batch | MACs | DRAM bytes | MACs/byte | predicted cycles | MACs/cycle | bytes/cycle |",
              "|---|---|---|---|---|---|---|---|"]
    for r in data["roofline"]:
        lines.append(f"| {r['name']} | {r['batch']} | {r['macs']:,} | {r['dram_bytes']:,} "
                     f"| {r['macs'] / r['dram_bytes']:.1f} | {r['cycles']:,} | {r['macs'] / r['cycles']:.1f} "
                     f"| {r['dram_bytes'] / r['cycles']:.2f} |")
    return "\n".join(lines) + "\n"
