"""``make bench``: array benchmark written to ``bench/array.md`` and ``bench/array.json``.

Per configuration: elaboration seconds, Verilator build seconds (cold: empty build cache
and no ccache; ccache: empty build cache, warm ccache; cached: build cache hit),
simulated cycles per second, and WS/OS utilization on long GEMMs (WS: M = 256 rows
streamed per weight tile; OS: K = 256 per output tile). Larger arrays are elaborated only.
Nothing here asserts a time: the figures are a report.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from .model.config import AcceleratorConfig

__all__ = ["run_bench"]

SIMULATED = [(4, 4), (8, 8), (16, 16), (32, 32)]
ELABORATED_ONLY = [(64, 64), (128, 128)]
QUICK = [(4, 4), (8, 8)]
LONG = 256


def _timed_build(cfg: AcceleratorConfig) -> dict:
    from .sim import runner

    out = {}
    saved = {k: os.environ.get(k) for k in ("SYSTOLICA_CACHE", "SYSTOLICA_NO_CCACHE", "OBJCACHE")}
    try:
        with tempfile.TemporaryDirectory(prefix="systolica-bench-") as tmp:
            os.environ["SYSTOLICA_CACHE"] = tmp
            os.environ["SYSTOLICA_NO_CCACHE"] = "1"
            os.environ.pop("OBJCACHE", None)
            out["build_cold_s"] = runner.build(cfg, force=True).build_s
        for k in ("SYSTOLICA_CACHE", "SYSTOLICA_NO_CCACHE"):
            if saved[k] is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = saved[k]
        runner.build(cfg)  # fill the shared ccache
        out["build_ccache_s"] = runner.build(cfg, force=True).build_s
        t0 = time.perf_counter()
        runner.build(cfg)
        out["build_cached_s"] = time.perf_counter() - t0
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return out


def _gemm(cfg: AcceleratorConfig, flow: str, rng) -> dict:
    from .demo import run_gemm_rtl
    from .model import array as golden

    m, k, n = ((LONG, 2 * cfg.rows, 2 * cfg.cols) if flow == "ws" else (2 * cfg.rows, LONG, 2 * cfg.cols))
    a = rng.integers(-128, 128, size=(m, k))
    b = rng.integers(-128, 128, size=(k, n))
    t0 = time.perf_counter()
    (c, st), = run_gemm_rtl(cfg, a, b, (flow,)).values()
    wall = time.perf_counter() - t0
    assert np.array_equal(c, golden.wrap(a @ b, cfg.acc_bits)), f"{flow}: RTL != golden"
    return {
        "gemm": [m, k, n], "tiles": st["tiles"], "cycles": st["cycles"],
        "utilization": st["useful_macs"] / (cfg.pes * st["cycles"]),
        "steady_state": st["data_beats"] / st["data_span"],
        "sim_wall_s": wall, "cycles_per_s": st["cycles"] / wall,
    }


REQUANT_COLS = [4, 8, 16, 32]


def _requant(cols: int) -> dict:
    """Elaboration and build of the requantization unit; its measured throughput and
    latency under Verilator (the bench asserts RTL == golden on the same run)."""
    from .hw.generate import generate_verilog
    from .sim.runner import build, run_bench as run_cocotb

    cfg = AcceleratorConfig(cols=cols)
    row = {"cols": cols, "elaborate_s": generate_verilog(cfg, "requant").seconds}
    b = build(cfg, "requant")
    row["build_s"] = b.build_s
    with tempfile.TemporaryDirectory(prefix="systolica-bench-") as tmp:
        res = Path(tmp) / "requant.json"
        run_cocotb(b, "systolica.sim.tb_requant", testcase="test_one_vector_per_cycle_and_fixed_latency",
                   env={"SYSTOLICA_RESULT": str(res)})
        row.update(json.loads(res.read_text()))
    row["vectors_per_cycle"] = row["vectors"] / (row["cycles"] - row["latency"])
    return row


#: DMA configurations: (rows, cols, bus_bits); a scratchpad row is max(rows, cols) bytes.
DMA_CONFIGS = [(8, 8, 64), (16, 16, 128), (32, 32, 256)]


def _dma(rows: int, cols: int, bus_bits: int) -> dict:
    """Bytes per cycle of the DMA against the bus peak (no stalls; the bench checks every
    transfer against the golden model on the same run)."""
    from .sim.runner import build, run_bench as run_cocotb

    cfg = AcceleratorConfig(rows=rows, cols=cols, bus_bits=bus_bits, spad_rows=256, acc_rows=256)
    b = build(cfg, "dma")
    with tempfile.TemporaryDirectory(prefix="systolica-bench-") as tmp:
        res = Path(tmp) / "dma.json"
        run_cocotb(b, "systolica.sim.tb_dma", testcase="test_throughput", env={"SYSTOLICA_RESULT": str(res)})
        return {"config": cfg.name, "bus_bits": bus_bits, "row_bytes": cfg.spad_row_bytes,
                "cases": json.loads(res.read_text())}


SECTIONS = ("array", "requant", "dma", "system", "native", "native_build", "fpga", "cost", "perf",
            "scalesim", "sweep", "report")


def bench_meta() -> dict:
    """What every report says about the machine it was measured on."""
    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores", "python": platform.python_version()}


def run_bench(out_dir: Path = Path("bench"), quick: bool = False, only: tuple[str, ...] = SECTIONS) -> int:
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = bench_meta()
    for section in only:
        if section not in SECTIONS:
            raise ValueError(f"section={section!r}: allowed {list(SECTIONS)}")
        _SECTION_RUNNERS[section](out_dir, quick, meta)
    return 0


def _write(out_dir: Path, name: str, rows, markdown: str) -> None:
    (out_dir / f"{name}.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out_dir / f"{name}.md").write_text(markdown)
    print(f"[bench] wrote {out_dir / (name + '.md')} (+ .json)", flush=True)


def _array_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .hw.generate import generate_verilog

    rng = np.random.default_rng(2026)
    rows = []
    for r, c in (QUICK if quick else SIMULATED + ELABORATED_ONLY):
        cfg = AcceleratorConfig(rows=r, cols=c)
        print(f"[bench] {cfg.name}: elaborating", flush=True)
        row = {"config": cfg.name, "rows": r, "cols": c, "elaborate_s": generate_verilog(cfg).seconds}
        if (r, c) in SIMULATED:
            print(f"[bench] {cfg.name}: building (cold, ccache, cached)", flush=True)
            row.update(_timed_build(cfg))
            for flow in cfg.dataflows:
                print(f"[bench] {cfg.name}: {flow.upper()} GEMM under Verilator", flush=True)
                row[flow] = _gemm(cfg, flow, rng)
        rows.append(row)
        print(f"[bench] {json.dumps(row)}", flush=True)
    _write(out_dir, "array", {"meta": meta, "rows": rows}, _markdown(rows, meta))


def _requant_section(out_dir: Path, quick: bool, meta: dict) -> None:
    requant = []
    for cols in REQUANT_COLS[:2] if quick else REQUANT_COLS:
        print(f"[bench] requant, {cols} lanes: elaborating, building, streaming", flush=True)
        requant.append(_requant(cols))
        print(f"[bench] {json.dumps(requant[-1])}", flush=True)
    _write(out_dir, "requant", {"meta": meta, "rows": requant}, _requant_markdown(requant, meta))


def _dma_section(out_dir: Path, quick: bool, meta: dict) -> None:
    dma = []
    for r, c, bus in DMA_CONFIGS[:1] if quick else DMA_CONFIGS:
        print(f"[bench] DMA {r}x{c}, {bus}-bit bus: building, streaming", flush=True)
        dma.append(_dma(r, c, bus))
        print(f"[bench] {json.dumps(dma[-1])}", flush=True)
    _write(out_dir, "dma", {"meta": meta, "rows": dma}, _dma_markdown(dma, meta))


def _system_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_system import BATCHES, batching, gemm_utilization, system_markdown

    size = 64 if quick else 256
    print(f"[bench] {size}x{size}x{size} GEMM on the 16x16 accelerator (RTL)", flush=True)
    gemm = gemm_utilization(size, size, size)
    print(f"[bench] {json.dumps({k: v for k, v in gemm.items() if k != 'counters'})}", flush=True)
    batch_rows = batching((1, 8) if quick else BATCHES)
    _write(out_dir, "system", {"meta": meta, "gemm": gemm, "batching": batch_rows},
           system_markdown(gemm, batch_rows, meta))


def _native_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_native import SIZES, cocotb_speed, native_markdown, native_speed

    speed = [native_speed(r) for r in (SIZES[:1] if quick else SIZES)]
    print("[bench] cocotb backend, same program on 8x8", flush=True)
    cocotb = cocotb_speed(8)
    _write(out_dir, "native", {"meta": meta, "speed": speed, "cocotb": cocotb}, native_markdown(speed, cocotb, meta))


def _native_build_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_native import SIZES, native_build_markdown, timed_native_build

    builds = []
    for r in SIZES[:1] if quick else SIZES:
        builds.append(timed_native_build(r))
        print(f"[bench] {json.dumps(builds[-1])}", flush=True)
    _write(out_dir, "native_build", {"meta": meta, "builds": builds}, native_build_markdown(builds, meta))


def _fpga_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_fpga import fpga_section

    fpga_section(out_dir, quick, meta, _write)


def _cost_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_cost import cost_markdown, cost_rows

    rows = cost_rows(quick)
    _write(out_dir, "cost", {"meta": meta, "rows": rows}, cost_markdown(rows, meta))


def _perf_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_perf import perf_markdown, perf_rows

    rows = perf_rows(quick)
    _write(out_dir, "perf", {"meta": meta, "rows": rows}, perf_markdown(rows, meta))


def _scalesim_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_scalesim import ensure_venv, scalesim_markdown, scalesim_rows

    versions = ensure_venv()
    meta = {**meta, "scalesim": versions["scalesim"], "scalesim_numpy": versions["numpy"]}
    rows = scalesim_rows(out_dir / "perf.json", quick)
    _write(out_dir, "scalesim", {"meta": meta, "rows": rows}, scalesim_markdown(rows, meta))


def _sweep_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_sweep import sweep_markdown, sweep_data

    data = sweep_data(quick)
    _write(out_dir, "sweep", {"meta": meta, **data}, sweep_markdown(data, meta))


def _report_section(out_dir: Path, quick: bool, meta: dict) -> None:
    from .bench_report import write_report

    write_report(out_dir)


_SECTION_RUNNERS = {"array": _array_section, "requant": _requant_section, "dma": _dma_section,
                    "system": _system_section, "native": _native_section,
                    "native_build": _native_build_section, "fpga": _fpga_section, "cost": _cost_section,
                    "perf": _perf_section, "scalesim": _scalesim_section, "sweep": _sweep_section,
                    "report": _report_section}


def _requant_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Requantization unit benchmark", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `make bench`.", "",
        "A stream of accumulator vectors with no gaps and no backpressure; cycles from the first "
        "vector accepted to the last result. Latency = cycles from accepting a vector to its "
        "result being valid. The run is checked bit for bit against the golden model.", "",
        "| lanes (cols) | elaborate s | build s | vectors | cycles | latency | vectors/cycle |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['cols']} | {r['elaborate_s']:.2f} | {r['build_s']:.1f} | {r['vectors']} "
                     f"| {r['cycles']} | {r['latency']} | {r['vectors_per_cycle']:.2f} |")
    return "\n".join(lines) + "\n"


def _markdown(rows: list[dict], meta: dict) -> str:
    def f(v, fmt="{:.2f}"):
        return "-" if v is None else fmt.format(v)

    lines = [
        "# Systolic array benchmark", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `make bench`.", "",
        f"Utilization = useful MACs / (PEs x cycles), cycles from the first beat offered to the "
        f"last result. WS GEMM: M = {LONG} streamed per weight tile (K = 2 rows, N = 2 cols); "
        f"OS GEMM: K = {LONG} per output tile (M = 2 rows, N = 2 cols). Steady state = data "
        "beats / cycles between the first and the last accepted data beat.", "",
        "| config | elaborate s | build cold s | build ccache s | build cached s | sim cycles/s "
        "| WS util | WS steady | OS util | OS steady |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ws, os_ = r.get("ws", {}), r.get("os", {})
        lines.append(
            f"| {r['config']} | {f(r['elaborate_s'])} | {f(r.get('build_cold_s'), '{:.1f}')} "
            f"| {f(r.get('build_ccache_s'), '{:.1f}')} | {f(r.get('build_cached_s'), '{:.3f}')} "
            f"| {f(ws.get('cycles_per_s'), '{:.0f}')} | {f(ws.get('utilization'), '{:.1%}')} "
            f"| {f(ws.get('steady_state'), '{:.1%}')} | {f(os_.get('utilization'), '{:.1%}')} "
            f"| {f(os_.get('steady_state'), '{:.1%}')} |")
    return "\n".join(lines) + "\n"


def _dma_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# DMA benchmark", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `make bench`.", "",
        "No stalls on any channel (cocotbext-axi `AxiRam`). Cycles from the command accepted to "
        "its status; peak = bus bytes per cycle. Contiguous: a dense tensor of many rows; "
        "strided: rows with a pitch larger than the row; gather: inner stride != element size "
        "(one burst per element). Every transfer is checked against the golden model.", "",
        "| config | bus bits | row bytes | case | bytes | bursts | beats | cycles | bytes/cycle | of peak |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        for name, v in r["cases"].items():
            if not isinstance(v, dict):
                continue
            lines.append(f"| {r['config']} | {r['bus_bits']} | {r['row_bytes']} | {name} | {v['bytes']} "
                         f"| {v['bursts']} | {v['beats']} | {v['cycles']} | {v['bytes_per_cycle']:.2f} "
                         f"| {v['of_peak']:.0%} |")
    return "\n".join(lines) + "\n"
