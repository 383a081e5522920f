"""``systolica bench --only scalesim`` (``bench/scalesim.md``, ``bench/scalesim.json``):
systolica's end-to-end RTL cycles beside SCALE-Sim's on the same layers.

SCALE-Sim (PyPI ``scalesim``, :data:`REQUIREMENTS`) needs ``numpy < 2.4``, so it lives in
its own virtual environment, ``.venv-scalesim`` at the repository root (:func:`ensure_venv`
creates it with pip on first use; ``SYSTOLICA_SCALESIM_VENV`` names another folder). Each
array size and topology mode is one SCALE-Sim run in that environment (a subprocess), its
files written by :mod:`systolica.scalesim_files`, weight stationary, bandwidth ``CALC``:
SCALE-Sim's "Total Cycles" are compute only (fill, drain, no DRAM), ours are the
hardware's ``cycles`` counter from doorbell to done (DRAM traffic included).

Our cycles are not re-measured: they come from ``bench/perf.json`` (``--only perf``), the
single layers on 16x16 (128-bit bus) and the digits models, whole, on the demo's 8x8 (a
network's SCALE-Sim cycles are the sum of its layers'). Ratio = ours / SCALE-Sim's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .scalesim_files import (ScaleSimLayer, config_text, layout_text, parse_compute_report, scalesim_layer,
                             topology_text)

__all__ = ["REQUIREMENTS", "venv_dir", "ensure_venv", "run_scalesim", "scalesim_rows", "scalesim_markdown"]

#: What pip installs into the SCALE-Sim environment.
REQUIREMENTS = ("scalesim==3.0.0", "numpy<2.4")

_RUN = """
import sys
from scalesim.scale_sim import scalesim
cfg, topo, layout, mode, out = sys.argv[1:6]
s = scalesim(save_disk_space=True, verbose=False, config=cfg, topology=topo, layout=layout,
             input_type_gemm=mode == "gemm")
s.run_scale(top_path=out)
"""


def venv_dir() -> Path:
    """``$SYSTOLICA_SCALESIM_VENV`` or ``.venv-scalesim`` beside the package's repository."""
    env = os.environ.get("SYSTOLICA_SCALESIM_VENV")
    return Path(env) if env else Path(__file__).resolve().parent.parent / ".venv-scalesim"


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def installed(venv: Path | None = None) -> dict | None:
    """``{"scalesim": version, "numpy": version}`` of the environment, or None."""
    py = _python(venv or venv_dir())
    if not py.exists():
        return None
    r = subprocess.run([str(py), "-c", "import importlib.metadata as m, json; print(json.dumps("
                        "{p: m.version(p) for p in ('scalesim', 'numpy')}))"], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else None


def ensure_venv(venv: Path | None = None) -> dict:
    """The SCALE-Sim environment, created (``python -m venv``, ``pip install``
    :data:`REQUIREMENTS`) when absent; returns the installed versions."""
    venv = venv or venv_dir()
    have = installed(venv)
    if have is None:
        print(f"[bench] scalesim: creating {venv} (pip install {' '.join(REQUIREMENTS)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(_python(venv)), "-m", "pip", "install", "--quiet", *REQUIREMENTS], check=True)
        have = installed(venv)
        if have is None:
            raise RuntimeError(f"{venv}: scalesim did not install")
    return have


def run_scalesim(rows: int, cols: int, layers: list[ScaleSimLayer], venv: Path | None = None) -> list[dict]:
    """SCALE-Sim (WS) on a ``rows`` x ``cols`` array: one report dict per layer
    (:func:`~systolica.scalesim_files.parse_compute_report`), in the order given."""
    py = _python(venv or venv_dir())
    out: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="systolica-scalesim-") as tmp:
        for mode in ("gemm", "conv"):
            idx = [i for i, layer in enumerate(layers) if layer.mode == mode]
            if not idx:
                continue
            d = Path(tmp) / mode
            d.mkdir()
            (d / "scale.cfg").write_text(config_text(rows, cols))
            (d / "topology.csv").write_text(topology_text([layers[i] for i in idx]))
            (d / "layout.csv").write_text(layout_text())
            r = subprocess.run([str(py), "-c", _RUN, str(d / "scale.cfg"), str(d / "topology.csv"),
                                str(d / "layout.csv"), mode, str(d / "out")], capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"scalesim ({mode}, {rows}x{cols}) failed:\n{r.stderr[-2000:]}")
            report = parse_compute_report((d / "out" / "systolica" / "COMPUTE_REPORT.csv").read_text())
            for i, rep in zip(idx, report):
                out[i] = rep
    return [out[i] for i in range(len(layers))]


def _cases(quick: bool) -> list[tuple[str, str, int, list[ScaleSimLayer]]]:
    """``(perf.json name, config, batch, SCALE-Sim layers)``: the single layers of the
    perf bench (16x16) and the digits models, whole (8x8)."""
    from .bench_perf import demo_workloads, workloads

    out = []
    for name, net, batch, k in workloads(quick):
        if k is not None:
            out.append((name, "16x16_int8", batch, [scalesim_layer(name, net.layers[0], batch)]))
    for name, net, batch, _ in demo_workloads(quick):
        if name.startswith("digits"):
            out.append((name, "8x8_int8", batch,
                        [scalesim_layer(f"{name} {i}", layer, batch) for i, layer in enumerate(net.layers)]))
    return out


def scalesim_rows(perf_json: Path, quick: bool = False) -> list[dict]:
    """One row per case found in ``perf_json``: our cycles, SCALE-Sim's, the ratio."""
    from tqdm import tqdm

    perf = json.loads(perf_json.read_text())["rows"]
    ours = {(r["name"], r["config"], r["batch"]): r for r in perf}
    cases = [c for c in _cases(quick) if c[:3] in ours]
    rows = []
    for name, cfg, batch, layers in tqdm(cases, desc="scalesim (WS)", unit="case"):
        size = int(cfg.split("x")[0])
        reps = run_scalesim(size, size, layers)
        r = ours[(name, cfg, batch)]
        ss = sum(x["cycles"] for x in reps)
        rows.append({"name": name, "config": cfg, "rows": size, "cols": size, "batch": batch,
                     "macs": r["macs"], "gemms": [list(layer.gemm) for layer in layers],
                     "topology": [{"name": layer.name, "mode": layer.mode, "dims": list(layer.dims)}
                                  for layer in layers],
                     "rtl_cycles": r["cycles"], "rtl_load_busy": r.get("busy", {}).get("load"),
                     "scalesim_cycles": ss,
                     "scalesim_cycles_with_prefetch": sum(x["cycles_with_prefetch"] for x in reps),
                     "scalesim_utilization": r["macs"] / (size * size * ss),
                     "ratio": r["cycles"] / ss})
    return rows


def scalesim_markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# systolica beside SCALE-Sim", "",
        f"Machine: {meta['machine']}; Python {meta['python']}; SCALE-Sim {meta.get('scalesim', '?')} "
        f"(numpy {meta.get('scalesim_numpy', '?')}, its own venv). Written by `systolica bench --only scalesim` "
        "(module `systolica/bench_scalesim.py`).", "",
        "ours = the hardware's cycle counter on the RTL (native harness, DRAM traffic included; from "
        "`bench/perf.json`); SCALE-Sim = its \"Total Cycles\", weight stationary, bandwidth CALC "
        "(compute only: fill and drain, no DRAM); ratio = ours / SCALE-Sim's. A padded convolution "
        "goes to SCALE-Sim (which has no padding) with its padded input cut to the rows and columns its "
        "windows reach (same output, window and filters: the same GEMM, `systolica/scalesim_files.py`); "
        "a batched convolution as the GEMM M = batch x OH x OW; a network as the sum of its layers. Our "
        "single layers ran on 16x16 with a 128-bit bus, the digits models on the demo's 8x8 with a 64-bit "
        "bus (as in `bench/perf.md`).", "",
        "| workload | array | batch | GEMMs (M x K x N) | ours (RTL) | SCALE-Sim | ratio | our util "
        "| SCALE-Sim util |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        g = "; ".join(f"{m}x{k}x{n}" for m, k, n in r["gemms"])
        ours = r["macs"] / (r["rows"] * r["cols"] * r["rtl_cycles"])
        lines.append(f"| {r['name']} | {r['config']} | {r['batch']} | {g} | {r['rtl_cycles']:,} "
                     f"| {r['scalesim_cycles']:,} | {r['ratio']:.3f} | {ours:.1%} | {r['scalesim_utilization']:.1%} |")
    if rows:
        worst, best = max(rows, key=lambda r: r["ratio"]), min(rows, key=lambda r: r["ratio"])
        lines += ["", f"Ratio from {best['ratio']:.3f} ({best['name']}) to {worst['ratio']:.3f} ({worst['name']}); "
                  "below 1: fewer cycles end to end than SCALE-Sim's compute alone (our array's weights are double "
                  "buffered: the next tile shifts in while the current one computes, and the DMA overlaps compute; "
                  "SCALE-Sim's WS model loads each fold's weights before streaming it)."]
        if worst["ratio"] > 1 and worst.get("rtl_load_busy"):
            lines += ["", f"Above 1: layers whose DRAM traffic, absent from SCALE-Sim's count, takes most of our time "
                      f"({worst['name']}: the load unit is busy {worst['rtl_load_busy']:,} of its "
                      f"{worst['rtl_cycles']:,} cycles)."]
    return "\n".join(lines) + "\n"
