"""The bench report's figures (matplotlib, Agg, PNG), each drawn from the bench JSONs
only. Every function takes the parsed JSON(s) it needs and the PNG path, writes it and
returns the path. RTL figures are drawn as filled markers, the performance model's as
open markers or dashed lines; the legends say which."""

from __future__ import annotations

from pathlib import Path

__all__ = ["utilization_plot", "array_plot", "roofline_plot", "demo_layers_plot", "dma_plot", "speed_plot",
           "elaboration_plot", "batching_plot", "scalesim_plot"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    _plt().close(fig)
    return path


def utilization_plot(sweep: dict, perf: dict | None, path: Path) -> Path:
    """Utilization against GEMM size, one line per array (model), RTL points from perf.json."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    configs = dict.fromkeys(r["config"] for r in sweep["utilization"])
    for config in configs:
        pts = [r for r in sweep["utilization"] if r["config"] == config]
        ax.plot([r["gemm"] for r in pts], [100 * r["utilization"] for r in pts], "o--", mfc="none",
                label=f"{config} (model)")
    for r in (perf or {}).get("rows", []):
        if r["name"].startswith("GEMM "):
            ax.plot(r["k"], 100 * r["utilization"], "k*", ms=11)
    if perf:
        ax.plot([], [], "k*", ms=11, label="16x16 (RTL, perf.json)")
    return _save_utilization(fig, ax, "m (m x m x m GEMM)", 8, path)


def _save_utilization(fig, ax, xlabel: str, legend_size: int, path: Path) -> Path:
    """The axes both utilization plots share (log2 x, utilization % y), then saved."""
    ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("utilization %")
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    return _save(fig, path)


def array_plot(sweep: dict, array: dict | None, path: Path) -> Path:
    """Utilization against array size: one dashed line per GEMM size (model), and the
    array alone on a long WS GEMM (RTL, array.json)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for m in sorted({r["gemm"] for r in sweep["utilization"]}):
        pts = sorted((r for r in sweep["utilization"] if r["gemm"] == m), key=lambda r: r["rows"])
        ax.plot([r["rows"] for r in pts], [100 * r["utilization"] for r in pts], "o--", mfc="none",
                label=f"whole accelerator, {m}^3 GEMM (model)")
    if array:
        sim = [r for r in array["rows"] if "ws" in r]
        ax.plot([r["rows"] for r in sim], [100 * r["ws"]["utilization"] for r in sim], "ks-",
                label="array alone, WS, M = 256 (RTL, array.json)")
    return _save_utilization(fig, ax, "array rows = cols", 7, path)


def roofline_plot(sweep: dict, perf: dict | None, path: Path) -> Path:
    """Left: MACs/cycle against MACs per DRAM byte, under the roofs min(PEs, bus x
    intensity). Right: bus bytes/cycle against MACs/cycle, the two peaks as lines."""
    plt = _plt()
    peak, bus = sweep["roofline_peak"]["macs_per_cycle"], sweep["roofline_peak"]["bus_bytes_per_cycle"]
    rtl = {r["name"]: r["cycles"] for r in (perf or {}).get("rows", []) if r["config"] == sweep["roofline_peak"]["config"]}
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.4))
    layers = sweep["roofline"]
    lo = min(r["macs"] / r["dram_bytes"] for r in layers) / 2
    hi = max(r["macs"] / r["dram_bytes"] for r in layers) * 2
    xs = [lo * (hi / lo) ** (i / 100) for i in range(101)]
    a.plot(xs, [min(peak, bus * x) for x in xs], "k-", lw=1, label=f"roof: min({peak}, {bus} B/cycle x MACs/B)")
    b.axhline(peak, color="k", lw=1)
    b.axvline(bus, color="k", lw=1, ls=":")
    for i, r in enumerate(layers):
        color = f"C{i % 10}"
        ai = r["macs"] / r["dram_bytes"]
        cyc = rtl.get(r["name"], r["cycles"])
        filled = r["name"] in rtl
        kw = dict(color=color, ms=7, mfc=color if filled else "none", ls="none")
        a.plot(ai, r["macs"] / cyc, "o", label=r["name"], **kw)
        b.plot(r["dram_bytes"] / cyc, r["macs"] / cyc, "o", **kw)
    a.set_xscale("log")
    a.set_yscale("log")
    a.set_xlabel("MACs per DRAM byte")
    a.set_ylabel("MACs / cycle")
    a.set_title(f"roofline, {sweep['roofline_peak']['config']} (filled: RTL cycles, open: model)", fontsize=9)
    a.grid(alpha=0.3, which="both")
    b.set_xlabel(f"bus bytes / cycle (peak {bus}, dotted)")
    b.set_ylabel(f"MACs / cycle (peak {peak})")
    b.set_xlim(0, bus * 1.1)
    b.set_ylim(0, peak * 1.1)
    b.grid(alpha=0.3)
    a.legend(fontsize=6, loc="lower right")
    return _save(fig, path)


def demo_layers_plot(perf: dict, path: Path) -> Path:
    """The digits CNN's layers alone (16x16, batch 64): RTL cycles, the model's estimate
    and the ideal (MACs / (PEs x shape bound))."""
    plt = _plt()
    rows = [r for r in perf["rows"] if r["name"].startswith("digits CNN [")]
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    xs = range(len(rows))
    w = 0.27
    pes = 256 if not rows else int(rows[0]["config"].split("x")[0]) ** 2
    ax.bar([x - w for x in xs], [r["cycles"] for r in rows], w, label="RTL cycles")
    ax.bar(list(xs), [r["estimate"] for r in rows], w, label="model estimate", fill=False, hatch="//")
    ax.bar([x + w for x in xs], [r["macs"] / (pes * r["shape_bound"]) for r in rows], w,
           label="ideal for the shape (MACs / (PEs x bound))", alpha=0.6)
    ax.set_xticks(list(xs), [r["name"].split("] ")[1].split(" (")[0] + f" [{i}]" for i, r in enumerate(rows)])
    ax.set_ylabel("cycles")
    ax.set_title(f"digits CNN layers, {rows[0]['config'] if rows else ''}, batch {rows[0]['batch'] if rows else ''}",
                 fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def dma_plot(dma: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.2))
    cases = [k for k, v in dma["rows"][0]["cases"].items() if isinstance(v, dict)]
    w = 0.8 / len(dma["rows"])
    for i, r in enumerate(dma["rows"]):
        ax.bar([j + i * w for j in range(len(cases))], [r["cases"][c]["bytes_per_cycle"] for c in cases], w,
               label=f"{r['config']}, {r['bus_bits']}-bit bus (peak {r['bus_bits'] // 8} B/cycle)")
    ax.set_xticks([j + w * (len(dma["rows"]) - 1) / 2 for j in range(len(cases))],
                  [c.replace("_", "\n", 1) for c in cases], fontsize=7)
    ax.set_yscale("log", base=2)
    ax.set_ylim(0.5, 4 * max(r["bus_bits"] // 8 for r in dma["rows"]))
    ax.set_ylabel("bytes / cycle (RTL)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    return _save(fig, path)


def speed_plot(native: dict | None, builds: list[dict], path: Path) -> Path:
    """Simulated cycles/s of the native harness (wall and CPU) and build seconds, against size."""
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    if native:
        sp = [s for s in native["speed"]]
        n = [int(s["config"].split("x")[0]) for s in sp]
        a.plot(n, [s["runs"][0]["cycles_per_s"] for s in sp], "o-", label="cycles / wall s (no stalls)")
        a.plot(n, [s["runs"][0]["cycles_per_cpu_s"] for s in sp], "s--", label="cycles / CPU s (no stalls)")
        a.set_xscale("log", base=2)
        a.set_yscale("log")
    a.set_xlabel("array rows = cols")
    a.set_ylabel("simulated cycles / s (native harness, RTL)")
    a.grid(alpha=0.3, which="both")
    a.legend(fontsize=8)
    for series in dict.fromkeys(x["series"] for x in builds):
        pts = [x for x in builds if x["series"] == series]
        b.plot([x["rows"] for x in pts], [x["seconds"] for x in pts], "o-", label=series)
    b.set_xscale("log", base=2)
    b.set_yscale("log")
    b.set_xlabel("array rows = cols")
    b.set_ylabel("build seconds")
    b.grid(alpha=0.3, which="both")
    b.legend(fontsize=8)
    return _save(fig, path)


def elaboration_plot(array: dict, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot([r["rows"] for r in array["rows"]], [r["elaborate_s"] for r in array["rows"]], "o-")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("array rows = cols")
    ax.set_ylabel("elaboration s (Amaranth -> Verilog, whole accelerator)")
    ax.grid(alpha=0.3, which="both")
    return _save(fig, path)


def batching_plot(system: dict, path: Path) -> Path:
    plt = _plt()
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for model in dict.fromkeys(r["model"] for r in system["batching"]):
        pts = [r for r in system["batching"] if r["model"] == model]
        a.plot([r["batch"] for r in pts], [r["cycles"] for r in pts], "o-", label=model)
        b.plot([r["batch"] for r in pts], [r["inferences_per_mcycle"] for r in pts], "o-", label=model)
    for ax, label in ((a, "latency: cycles per batch (RTL)"), (b, "throughput: inferences / Mcycle (RTL)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8)
    return _save(fig, path)


def scalesim_plot(scalesim: dict, path: Path) -> Path:
    plt = _plt()
    rows = scalesim["rows"]
    fig, ax = plt.subplots(figsize=(10, 0.35 * len(rows) + 1.5))
    ys = range(len(rows))
    ax.barh(list(ys), [r["ratio"] for r in rows], color=["C0" if r["ratio"] <= 1 else "C3" for r in rows])
    ax.axvline(1, color="k", lw=1)
    ax.set_yticks(list(ys), [f"{r['name']} ({r['config']}, b{r['batch']})" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("our RTL cycles (DRAM included) / SCALE-Sim's compute-only cycles (WS)")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)
