"""``make bench`` sections ``native`` and ``native_build``: the Verilator-native harness.

- ``native`` (``bench/native.md``), speed under load: the digits CNN (``driver/models.py``)
  compiled for ``demo_config(R, R)`` on a batch of :data:`BATCH` test images, run as one case
  in the harness, with the default DRAM timing (AxiRam's, no stalls) and with the queue
  model, 20% stalls on every channel and reordered read data. Simulated cycles per second of
  wall clock (the case's own time: model construction and process start excluded) and per
  second of CPU time (the harness process's user + sys seconds, whole process). The machine
  is shared, so each run is repeated :data:`REPEAT` times and the best rate is reported
  with the median, and the load average at the start. Each run is checked: DRAM image ==
  the golden machine's, no protocol violation. The cocotb backend on the same 8x8 program
  (one image) for comparison. Uses the cached builds (builds them if missing).
- ``native_build`` (``bench/native_build.md``): Amaranth elaboration, then Verilator + C++
  cold (an empty ccache), again with that ccache warm (forced rebuild: Verilator runs
  again, the compiler does not), and cached.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time

__all__ = ["SIZES", "BATCH", "REPEAT", "timed_native_build", "native_speed", "cocotb_speed",
           "native_markdown", "native_build_markdown"]

SIZES = (8, 16, 32)
BATCH = 64      # long enough that the model's construction and the image load do not dominate
REPEAT = 3


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cnn_image(cfg, batch: int):
    from .driver.compiler import compile_network
    from .driver.models import digits_models, quantize_input
    from .driver.runtime import Accelerator

    net = digits_models()["cnn"].quantized_net
    x_q = quantize_input(net, digits_models()["cnn"].test[0][:batch])
    prog = compile_network(cfg, net, batch)
    return bytes(Accelerator.image(prog, x_q)), prog


def timed_native_build(rows: int) -> dict:
    """Build seconds of the harness for ``demo_config(rows, rows)``: cold (an empty ccache,
    into the build cache), with that ccache warm (forced rebuild), and cached."""
    from .demo import demo_config
    from .sim.native_build import build_native

    cfg = demo_config(rows, rows)
    print(f"[bench] native harness {cfg.name}: building (cold, ccache, cached)", flush=True)
    saved = os.environ.get("CCACHE_DIR")
    try:
        with tempfile.TemporaryDirectory(prefix="systolica-ccache-") as tmp:
            os.environ["CCACHE_DIR"] = tmp
            cold = build_native(cfg, force=True)
            warm = build_native(cfg, force=True)
    finally:
        if saved is None:
            os.environ.pop("CCACHE_DIR", None)
        else:
            os.environ["CCACHE_DIR"] = saved
    t0 = time.perf_counter()
    build_native(cfg)
    return {"config": cfg.name, "elaborate_s": cold.elaborate_s, "build_cold_s": cold.build_s,
            "build_ccache_s": warm.build_s, "build_cached_s": time.perf_counter() - t0, "ccache": cold.ccache}


def native_speed(rows: int, batch: int = BATCH, repeat: int = REPEAT) -> dict:
    """Cycles per second of the CNN on ``demo_config(rows, rows)`` in the native harness."""
    from .demo import demo_config
    from .model.machine import run
    from .sim.native import Case, DramSettings, DumpDram, NativeJob, run_native
    from .sim.native_build import build_native
    from .sim.native_top import declared_limits, program_steps, read_back

    cfg = demo_config(rows, rows)
    image, prog = _cnn_image(cfg, batch)
    golden = bytearray(image)
    run(cfg, golden, prog.program_base, prog.window)
    b = build_native(cfg)
    out = {"config": cfg.name, "batch": batch, "commands": len(prog.commands), "runs": []}
    for label, settings in (("axiram, no stalls", DramSettings()),
                            ("queues, 20% stalls, reorder", DramSettings(model="queues", stall=0.2, reorder=True,
                                                                         seed=1))):
        steps = program_steps(prog.program_base, len(prog.commands) + 1, prog.window) + [DumpDram()]
        job = NativeJob([Case(image, steps, settings=settings, limits=declared_limits(cfg), fresh=True)])
        rates, cpu_rates, load = [], [], os.getloadavg()[0]
        for _ in range(repeat):
            cpu0 = _cpu_children()
            (res,) = run_native(b, job)
            cpu = _cpu_children() - cpu0
            rates.append(res.cycles / res.wall_s)
            cpu_rates.append(res.cycles / cpu if cpu else 0.0)
        rb = read_back(res.steps[:-1])
        out["runs"].append({
            "dram": label, "cycles": res.cycles, "hw_cycles": rb.counters["cycles"], "load_avg": load,
            "cycles_per_s": max(rates), "cycles_per_s_median": statistics.median(rates),
            "cycles_per_cpu_s": max(cpu_rates), "cycles_per_cpu_s_median": statistics.median(cpu_rates),
            "equals_golden": res.dumps[0] == bytes(golden) and rb.status["error"] == 0,
            "violations": res.violation_count})
        print(f"[bench] native {cfg.name} {label}: {out['runs'][-1]}", flush=True)
    return out


def cocotb_speed(rows: int = 8) -> dict:
    """The same CNN program (one image) on the cocotb backend: cycles per second."""
    from .demo import demo_config
    from .sim.top_job import run_program

    cfg = demo_config(rows, rows)
    image, prog = _cnn_image(cfg, 1)
    run_program(cfg, image, prog.program_base, prog.window)      # build (cached) outside the timing
    t0 = time.perf_counter()
    out = run_program(cfg, image, prog.program_base, prog.window)
    wall = time.perf_counter() - t0
    return {"config": cfg.name, "batch": 1, "hw_cycles": out.counters["cycles"], "wall_s": wall,
            "cycles_per_s": out.counters["cycles"] / wall}


def native_markdown(speed: list[dict], cocotb: dict | None, meta: dict) -> str:
    lines = [
        "# Native harness: simulation speed", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `systolica bench --only native` "
        "(part of `make bench`).", "",
        "The whole accelerator (`systolica_top`) in the Verilator-native harness (`sim/harness/`: DRAM "
        "model, AXI4-Lite host and AXI protocol monitor in C++, no Python per cycle), running the digits "
        f"CNN compiled for `demo_config(R, R)` on {BATCH} test images. cycles = simulated cycles of the "
        "case (reset and register accesses included); counter = the hardware's `cycles` counter. "
        "cycles/s = cycles / the case's wall seconds; cycles/CPU-s = cycles / the harness process's "
        f"user+sys seconds. The machine is shared: best of {REPEAT} runs (median in brackets), load "
        "average (1 min, 2 cores) at the start; the CPU rate depends least on the load.", "",
        "| config | DRAM | cycles | counter | cycles/s | cycles/CPU-s | load | == golden | violations |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in speed:
        for r in s["runs"]:
            lines.append(f"| {s['config']} | {r['dram']} | {r['cycles']:,} | {r['hw_cycles']:,} | "
                         f"{r['cycles_per_s']:,.0f} ({r['cycles_per_s_median']:,.0f}) | "
                         f"{r['cycles_per_cpu_s']:,.0f} ({r['cycles_per_cpu_s_median']:,.0f}) | "
                         f"{r['load_avg']:.1f} | {r['equals_golden']} | {r['violations']} |")
    if cocotb:
        lines += ["", f"cocotb backend (cocotbext-axi AxiRam, AxiLiteMaster), same CNN on {cocotb['config']}, "
                  f"one image: {cocotb['hw_cycles']:,} cycles in {cocotb['wall_s']:.1f} s = "
                  f"{cocotb['cycles_per_s']:,.0f} cycles/s (process start and Python included)."]
    return "\n".join(lines) + "\n"


def native_build_markdown(builds: list[dict], meta: dict) -> str:
    lines = ["# Native harness: build times", "",
             f"Machine: {meta['machine']}; Python {meta['python']}. Written by `systolica bench --only "
             "native_build` (part of `make bench`).", "",
             "Seconds: elaboration (Amaranth to Verilog), then Verilator + C++ (`-O3` per-cycle code, `-O1` "
             "initialisation) cold (an empty ccache), forced again with that ccache warm (Verilator runs, "
             "the compiler hits the cache), and cached (build cache hit). The machine is shared (2 cores, "
             "other builds running), so the figures are upper bounds.", "",
             "| config | elaborate s | build cold s | build ccache s | build cached s |", "|---|---|---|---|---|"]
    for b in builds:
        lines.append(f"| {b['config']} | {b['elaborate_s']:.1f} | {b['build_cold_s']:.1f} | "
                     f"{b['build_ccache_s']:.1f} | {b['build_cached_s']:.3f} |")
    return "\n".join(lines) + "\n"
