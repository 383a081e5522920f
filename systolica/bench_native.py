"""``make bench`` section ``native``: the Verilator-native harness (``bench/native.md``).

- Speed under load: the digits CNN (``driver/models.py``) compiled for ``demo_config(R, R)``
  on a batch of :data:`BATCH` test images, run as one case in the harness: with the
  default DRAM timing (AxiRam's, no stalls) and with the queue model, 20% stalls on every
  channel and reordered read data. Simulated cycles per second of wall clock (the case's
  own time, model construction and process start excluded) and per second of CPU time
  (the harness process's user + sys seconds over the whole run), with the load average
  of the machine at the time (the machine is shared: the CPU rate is the one to compare).
  Each run is checked: DRAM image == the golden machine's, no protocol violation.
- Builds: Amaranth elaboration, then Verilator + C++ cold (an empty ccache), again with that
  ccache warm (forced rebuild: Verilator runs again, the compiler does not), and cached.
- The cocotb backend on the same 8x8 program (one image), for comparison.
"""

from __future__ import annotations

import os
import resource
import tempfile
import time

__all__ = ["SIZES", "BATCH", "timed_native_build", "native_speed", "cocotb_speed", "native_markdown"]

SIZES = (8, 16, 32)
BATCH = 8


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


def native_speed(rows: int, batch: int = BATCH) -> dict:
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
        cpu0, t0, load = _cpu_children(), time.perf_counter(), os.getloadavg()[0]
        (res,) = run_native(b, job)
        process_s, cpu = time.perf_counter() - t0, _cpu_children() - cpu0
        rb = read_back(res.steps[:-1])
        out["runs"].append({
            "dram": label, "cycles": res.cycles, "hw_cycles": rb.counters["cycles"], "case_wall_s": res.wall_s,
            "process_wall_s": process_s, "cpu_s": cpu, "load_avg": load,
            "cycles_per_s": res.cycles / res.wall_s, "cycles_per_cpu_s": res.cycles / cpu if cpu else None,
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


def native_markdown(speed: list[dict], builds: list[dict], cocotb: dict | None, meta: dict) -> str:
    lines = [
        "# Native harness benchmark", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `systolica bench --only native` "
        "(part of `make bench`).", "",
        "The whole accelerator (`systolica_top`) in the Verilator-native harness (`sim/harness/`: DRAM "
        "model, AXI4-Lite host and AXI protocol monitor in C++, no Python per cycle), running the digits "
        f"CNN compiled for `demo_config(R, R)` on {BATCH} test images. cycles/s = simulated cycles (reset "
        "and register accesses included) / the case's wall seconds; cycles/CPU-s = the same cycles / the "
        "harness process's user+sys seconds. The machine is shared: the load average (1 min) at the start "
        "of each run is given, and the CPU rate is the one that does not depend on it.", "",
        "| config | DRAM | cycles | counter `cycles` | cycles/s | cycles/CPU-s | load avg | == golden | "
        "violations |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in speed:
        for r in s["runs"]:
            cpu = f"{r['cycles_per_cpu_s']:,.0f}" if r["cycles_per_cpu_s"] else "-"
            lines.append(f"| {s['config']} | {r['dram']} | {r['cycles']:,} | {r['hw_cycles']:,} | "
                         f"{r['cycles_per_s']:,.0f} | {cpu} | {r['load_avg']:.1f} | {r['equals_golden']} | "
                         f"{r['violations']} |")
    if cocotb:
        lines += ["", f"cocotb backend (cocotbext-axi AxiRam, AxiLiteMaster), same CNN on {cocotb['config']}, "
                  f"one image: {cocotb['hw_cycles']:,} cycles in {cocotb['wall_s']:.1f} s = "
                  f"{cocotb['cycles_per_s']:,.0f} cycles/s (process start and Python included)."]
    lines += ["", "Builds (seconds): elaboration (Amaranth to Verilog), then Verilator + C++ (`-O3` per-cycle "
              "code, `-O1` initialisation) cold (an empty ccache), forced again with that ccache warm "
              "(Verilator runs, the compiler hits the cache), and cached (build cache hit).", "",
              "| config | elaborate s | build cold s | build ccache s | build cached s |", "|---|---|---|---|---|"]
    for b in builds:
        lines.append(f"| {b['config']} | {b['elaborate_s']:.1f} | {b['build_cold_s']:.1f} | "
                     f"{b['build_ccache_s']:.1f} | {b['build_cached_s']:.3f} |")
    return "\n".join(lines) + "\n"
