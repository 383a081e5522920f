"""``make bench`` section ``perf`` (``bench/perf.md``, ``bench/perf.json``): the issue-15
targets measured on the RTL, beside the analytic performance model.

Every workload is one quantized layer (:mod:`systolica.driver.workloads`: random int8
weights, int32 bias, per-channel requantization, ReLU; or one of the digits CNN's layers
on random int8 inputs), or a random network of several layers, compiled by the driver
into one program and run on the generated Verilog in the native harness (``rtl`` backend). Per
workload:

- ``cycles``: the hardware's ``cycles`` counter (doorbell to done, DRAM traffic included);
- ``utilization`` = the layer's real MACs / (PEs x cycles);
- ``shape bound``: the utilization the layer's shape allows on the array, the fraction of
  PE rows and columns its ``K`` and ``N`` fill (``K / (rows x ceil(K / rows))`` x
  ``N / (cols x ceil(N / cols))``; a convolution's ``K`` is ``C x kh x kw``);
- ``estimate``: :func:`systolica.driver.perf_model.estimate` of the same program, and its
  error against the counter;
- ``array bound``: the cycles of the program's COMPUTEs alone, streamed back to back
  (:func:`systolica.driver.perf_model.lower_bound` of them): no input loading of any kind
  (DMA gather or a hardware im2col unit) can bring the layer below it;
- ``== golden``: the final DRAM image equals the golden machine's and the status is OK.

Nothing here asserts a figure: the table is a report (``python -m systolica.bench_perf``
or ``systolica bench --only perf``).
"""

from __future__ import annotations

import time

import numpy as np

#: Images per program of the digits CNN's layers.
DIGITS_BATCH = 64
#: Random networks (:func:`systolica.driver.workloads.random_network`, seeds 0..) of the
#: model's error on whole programs (batch 1 + seed % 4), on the 16x16 and the demo's 8x8.
RANDOM_NETWORKS = 20
#: Random networks on each of :func:`other_configs` (seeds from 100: none of them was
#: looked at while the model was written).
OTHER_NETWORKS = 10

__all__ = ["bench_config", "other_configs", "DIGITS_BATCH", "RANDOM_NETWORKS", "OTHER_NETWORKS", "workloads",
           "demo_workloads", "other_workloads", "measure", "perf_rows", "perf_markdown"]


def bench_config():
    """The array of the targets: 16x16, 128-bit AXI bus, default memories."""
    from .model.config import AcceleratorConfig

    return AcceleratorConfig(rows=16, cols=16, bus_bits=128)


def other_configs():
    """Two more shapes for the model's error on whole programs: non-square arrays, a 32-bit
    bus (a command is 16 beats) and a 128-bit one with shallow queues."""
    import dataclasses

    from .demo import demo_config

    return [dataclasses.replace(demo_config(4, 8), bus_bits=32),
            dataclasses.replace(demo_config(8, 4), bus_bits=128, queue_depth=4)]


def other_workloads(quick: bool = False) -> list[tuple[str, object, int, None]]:
    """Random networks (seeds 100..) for :func:`other_configs`."""
    from .driver.workloads import random_network

    out = []
    for seed in range(100, 100 + (2 if quick else OTHER_NETWORKS)):
        net = random_network(seed)
        out.append((f"random network {seed} ({len(net.layers)} layers)", net, 1 + seed % 4, None))
    return out


def workloads(quick: bool = False) -> list[tuple[str, object, int, int]]:
    """``(name, network, batch, K)`` of the bench: square GEMMs (batch = M), the
    ResNet-18-like convolutions (batch 1), the digits CNN's layers, each alone
    (:data:`DIGITS_BATCH` images), and random networks (K None: several layers)."""
    from .driver.workloads import RESNET_LAYERS, one_layer, random_conv, random_linear

    out = []
    for m in ((64,) if quick else (64, 256)):
        out.append((f"GEMM {m}^3", one_layer(random_linear(m, m, seed=m), f"gemm{m}"), m, m))
    for i, g in enumerate(RESNET_LAYERS[:2] if quick else RESNET_LAYERS):
        out.append((g.name, one_layer(random_conv(g, seed=100 + i), g.name), 1, g.c * g.k * g.k))
    if not quick:
        from .driver.models import digits_models
        from .driver.workloads import random_network

        for seed in range(RANDOM_NETWORKS):
            net = random_network(seed)
            out.append((f"random network {seed} ({len(net.layers)} layers)", net, 1 + seed % 4, None))

        for i, layer in enumerate(digits_models()["cnn"].quantized_net.layers):
            k = int(np.prod(layer.weight.shape[1:])) if layer.kind == "conv2d" else layer.weight.shape[0]
            out.append((f"digits CNN [{i}] {layer.kind} {tuple(layer.in_shape)}->{tuple(layer.out_shape)}",
                        one_layer(layer, f"cnn{i}"), DIGITS_BATCH, k))
    return out


def demo_workloads(quick: bool = False) -> list[tuple[str, object, int, None]]:
    """On the demo's accelerator (8x8, 64-bit bus): the digits MLP and CNN, whole, for 1,
    8 and 64 images, and the random networks."""
    from .driver.models import digits_models
    from .driver.workloads import random_network

    out = [(f"digits {name}", demo.quantized_net, b, None) for name, demo in digits_models().items()
           for b in ((8,) if quick else (1, 8, 64))]
    for seed in range(2 if quick else RANDOM_NETWORKS):
        net = random_network(seed)
        out.append((f"random network {seed} ({len(net.layers)} layers)", net, 1 + seed % 4, None))
    return out


def _shape_bound(cfg, k: int, n: int) -> float:
    return (k / (cfg.rows * -(-k // cfg.rows))) * (n / (cfg.cols * -(-n // cfg.cols)))


def measure(cfg, name: str, net, batch: int, k: int, seed: int = 0) -> dict:
    """One workload compiled, estimated, run on the golden machine and on the RTL."""
    from .driver.compiler import compile_network
    from .driver.perf_model import estimate, lower_bound
    from .model.isa import Opcode
    from .driver.runtime import Accelerator
    from .driver.workloads import random_input
    from .model.machine import run
    from .sim.native_top import run_program_native

    t0 = time.perf_counter()
    prog = compile_network(cfg, net, batch)
    compile_s = time.perf_counter() - t0
    image = Accelerator.image(prog, random_input(net, batch, seed))
    image += bytes(-len(image) % 64)
    t0 = time.perf_counter()
    est = estimate(cfg, prog.commands)
    estimate_s = time.perf_counter() - t0
    array_bound = lower_bound(cfg, [c for c in prog.commands if c.opcode is Opcode.COMPUTE])
    golden = bytearray(image)
    run(cfg, golden, prog.program_base, prog.window)
    t0 = time.perf_counter()
    out = run_program_native(cfg, bytes(image), prog.program_base, prog.window,
                             program_len=len(prog.commands) + 1)
    sim_s = time.perf_counter() - t0
    c = out.counters
    layer = net.layers[0]
    n = int(layer.out_shape[0] if layer.kind == "conv2d" else layer.weight.shape[1])
    lp = prog.layers[0]
    bound = _shape_bound(cfg, k, n) if k is not None else None
    return {"name": name, "config": cfg.name, "bus_bits": cfg.bus_bits, "queue_depth": cfg.queue_depth,
            "batch": batch, "macs": prog.macs, "k": k, "n": n,
            "tiling": str(lp.tiling) if len(prog.layers) == 1 else f"{len(prog.layers)} layers", "commands": len(prog.commands), "cycles": c["cycles"],
            "utilization": prog.macs / (cfg.pes * c["cycles"]), "shape_bound": bound,
            "estimate": est.cycles, "estimate_error": est.cycles / c["cycles"] - 1, "array_bound": array_bound,
            "equals_golden": out.dram == bytes(golden) and out.status["error"] == 0,
            "busy": {q: c.get(f"{q}_busy") for q in ("load", "exec", "store")},
            "compile_s": compile_s, "estimate_s": estimate_s, "sim_s": sim_s}


def perf_rows(quick: bool = False) -> list[dict]:
    from .demo import demo_config

    rows = []
    for cfg, name, net, batch, k in ([(bench_config(), *w) for w in workloads(quick)] +
                                     [(demo_config(), *w) for w in demo_workloads(quick)] +
                                     [(c, *w) for c in other_configs() for w in other_workloads(quick)]):
        print(f"[bench] perf: {name} on {cfg.name} (compile, estimate, golden, RTL)", flush=True)
        rows.append(measure(cfg, name, net, batch, k))
        r = rows[-1]
        bound = "-" if r["shape_bound"] is None else f"{r['shape_bound']:.1%}"
        print(f"[bench] perf: {name}: {r['cycles']:,} cycles, {r['utilization']:.1%} (bound "
              f"{bound}), estimate {r['estimate']:,} ({r['estimate_error']:+.2%}), "
              f"== golden {r['equals_golden']}", flush=True)
    return rows


def perf_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Performance: the RTL's cycle counter and the analytic model", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `systolica bench --only perf` "
        "(module `systolica/bench_perf.py`, which defines every column).", "",
        "One quantized layer per program (a network: all its layers in one program), on 16x16 "
        "(128-bit bus), on the demo's 8x8 (64-bit bus, `demo_config()`) and on two more shapes "
        "(`other_configs()`), run on the native Verilator "
        "harness; cycles = the hardware's counter (DRAM "
        "traffic, fill and drain included); utilization = real MACs / (PEs x cycles); shape bound = the "
        "fraction of PE rows and columns the layer's K and N fill; estimate = the performance model "
        "(`driver/perf_model.py`) on the same program; == golden: the final DRAM image equals the golden "
        "machine's.", "",
    ]
    for config in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == config]
        lines += _table(mine, f"{config}, {mine[0]['bus_bits']}-bit bus, queue depth {mine[0]['queue_depth']}")
    lines += _im2col(rows)
    return "\n".join(lines) + "\n"


def _table(rows: list[dict], config: str) -> list[str]:
    lines = [
        f"## {config}", "",
        "| workload | batch | MACs | tiling | commands | cycles | array bound | utilization | shape bound "
        "| estimate | estimate error | == golden |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        bound = "-" if r["shape_bound"] is None else f"{r['shape_bound']:.1%}"
        lines.append(f"| {r['name']} | {r['batch']} | {r['macs']:,} | {r['tiling']} | {r['commands']} "
                     f"| {r['cycles']:,} | {r['array_bound']:,} | {r['utilization']:.1%} | {bound} "
                     f"| {r['estimate']:,} | {r['estimate_error']:+.2%} | {r['equals_golden']} |")
    errors = [abs(r["estimate_error"]) for r in rows]
    single = [abs(r["estimate_error"]) for r in rows if r["shape_bound"] is not None]
    lines += ["", (f"Largest estimate error: {max(single):.2%} on single layers, " if single else
                   "Largest estimate error: ") + f"{max(errors):.2%} over all {len(rows)} programs "
              f"(mean {sum(errors) / len(errors):.2%}).", ""]
    return lines


def _im2col(rows: list[dict]) -> list[str]:
    """The convolutions' cycles with the DMA's im2col gather against two bounds: what a
    hardware im2col unit could save at most."""
    convs = [r for r in rows if r["shape_bound"] is not None and "conv" in r["name"]]
    if not convs:
        return []
    lines = ["## im2col: the DMA gather against a hardware unit", "",
             "The convolutions load their im2col rows with the DMA's gather (channels-last runs, one "
             "descriptor per K chunk: one kernel tap's channels, or for a narrow input several adjacent "
             "taps of one kernel row). A hardware im2col unit would replace that input loading. It could "
             "at best (a) hide all loading behind the array: the program's array bound (its COMPUTEs "
             "streamed back to back), or (b) also assemble whole K rows on chip, so a narrow input fills the "
             "PE rows: the shape's ideal, MACs / (PEs x shape bound). Saving at most = 1 - bound / cycles.", "",
             "| config | convolution | K (C x kh x kw) | cycles (gather) | array bound | saving at most "
             "| shape ideal | saving at most |",
             "|---|---|---|---|---|---|---|---|"]
    for r in convs:
        pes = r["macs"] / (r["utilization"] * r["cycles"])
        ideal = round(r["macs"] / (pes * r["shape_bound"]))
        lines.append(f"| {r['config']} | {r['name']} | {r['k']} | {r['cycles']:,} | {r['array_bound']:,} "
                     f"| {1 - r['array_bound'] / r['cycles']:.1%} | {ideal:,} | {1 - ideal / r['cycles']:.1%} |")
    return lines + [""]


if __name__ == "__main__":
    import json
    import os
    import platform
    import sys
    from pathlib import Path

    quick = "--quick" in sys.argv
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version()}
    rows = perf_rows(quick)
    out = Path("bench")
    (out / "perf.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out / "perf.md").write_text(perf_markdown(rows, meta))
    print(perf_markdown(rows, meta))
