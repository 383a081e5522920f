"""The bench report generator on small fixture JSONs (shaped like the benches' own): it
writes bench/README.md and every PNG, its tables carry the fixtures' figures, and a
folder without JSONs gives a report that says what to run."""

import json

import pytest

from systolica.bench_report import environment, write_report

META = {"machine": "x86_64, 2 cores", "python": "3.11.7"}
PNG = b"\x89PNG\r\n\x1a\n"


def _perf_row(name, config, batch, macs, cycles, k=None, bound=None):
    return {"name": name, "config": config, "batch": batch, "macs": macs, "k": k, "n": k, "cycles": cycles,
            "utilization": macs / (int(config.split("x")[0]) ** 2 * cycles), "shape_bound": bound,
            "estimate": cycles + 3, "estimate_error": 3 / cycles, "equals_golden": True}


def _fixtures(d):
    sweep = {"meta": META, "max_ideal_cycles": 65536,
             "roofline_peak": {"config": "16x16_int8", "macs_per_cycle": 256, "bus_bytes_per_cycle": 16},
             "utilization": [{"gemm": m, "config": f"{r}x{r}_int8", "rows": r, "cols": r, "bus_bytes": r,
                              "macs": m ** 3, "cycles": 2 * m ** 3 // r ** 2 + 50, "dram_bytes": 3 * m * m,
                              "utilization": m ** 3 / (r * r * (2 * m ** 3 // r ** 2 + 50)), "tiling": "T",
                              "compile_s": 0.1} for r in (4, 8) for m in (16, 32)],
             "roofline": [{"name": "GEMM 64^3", "batch": 64, "config": "16x16_int8", "macs": 262144,
                           "cycles": 1334, "dram_bytes": 12288, "utilization": 0.77, "tiling": "T", "compile_s": 0.1},
                          {"name": "conv small", "batch": 1, "config": "16x16_int8", "macs": 100000,
                           "cycles": 900, "dram_bytes": 20000, "utilization": 0.43, "tiling": "T", "compile_s": 0.1}]}
    perf = {"meta": META, "rows": [
        _perf_row("GEMM 64^3", "16x16_int8", 64, 262144, 1328, 64, 1.0),
        _perf_row("digits CNN [0] conv2d (1, 8, 8)->(8, 8, 8)", "16x16_int8", 64, 294912, 13971, 9, 0.28125),
        _perf_row("digits CNN [1] linear (8, 8, 8)->(10,)", "16x16_int8", 64, 163840, 1772, 512, 0.625),
        _perf_row("digits cnn", "8x8_int8", 8, 204800, 7293)]}
    array = {"meta": META, "rows": [
        {"config": "4x4_int8", "rows": 4, "cols": 4, "elaborate_s": 0.75, "build_cold_s": 13.7, "build_ccache_s": 0.4,
         "build_cached_s": 0.001, "ws": {"utilization": 0.988, "cycles_per_s": 842}},
        {"config": "128x128_int8", "rows": 128, "cols": 128, "elaborate_s": 31.31}]}
    run = {"dram": "axiram, no stalls", "cycles": 195184, "hw_cycles": 195088, "cycles_per_s": 164444.1,
           "cycles_per_cpu_s": 263578.4}
    native = {"meta": META, "speed": [{"config": "8x8_int8", "batch": 64, "runs": [run]},
                                      {"config": "16x16_int8", "batch": 64, "runs": [dict(run, cycles_per_s=5e4)]}],
              "cocotb": {"config": "8x8_int8", "cycles_per_s": 1762.5}}
    case = {"bytes": 1024, "cycles": 134, "bursts": 128, "beats": 128, "bytes_per_cycle": 7.642, "of_peak": 0.955}
    dma = {"meta": META, "rows": [{"config": "8x8_int8", "bus_bits": 64, "row_bytes": 8,
                                   "cases": {"bus_bytes": 8, "load_spad_contiguous": case,
                                             "load_spad_gather": dict(case, bytes_per_cycle=0.994)}}]}
    system = {"meta": META, "batching": [
        {"model": m, "batch": b, "cycles": 3000 + 50 * b, "inferences_per_mcycle": 1e6 * b / (3000 + 50 * b)}
        for m in ("mlp", "cnn") for b in (1, 8)]}
    scalesim = {"meta": dict(META, scalesim="3.0.0"), "rows": [
        {"name": "GEMM 64^3", "config": "16x16_int8", "batch": 64, "gemms": [[64, 64, 64]], "rtl_cycles": 1328,
         "scalesim_cycles": 1759, "ratio": 1328 / 1759},
        {"name": "digits cnn", "config": "8x8_int8", "batch": 8, "gemms": [[512, 9, 8], [128, 72, 16]],
         "rtl_cycles": 7293, "scalesim_cycles": 5000, "ratio": 7293 / 5000}]}
    for name, data in (("sweep", sweep), ("perf", perf), ("array", array), ("native", native), ("dma", dma),
                       ("system", system), ("scalesim", scalesim)):
        (d / f"{name}.json").write_text(json.dumps(data))


def test_report_from_fixture_jsons(tmp_path):
    _fixtures(tmp_path)
    path = write_report(tmp_path)
    text = path.read_text()
    assert path == tmp_path / "README.md"
    for heading in ("Utilization against GEMM size and array size", "Roofline", "Per-layer cycles of the demo models",
                    "DMA bandwidth", "Simulation speed and build time", "Elaboration time", "Batching",
                    "SCALE-Sim"):
        assert f"## {heading}" in text or heading in text, heading
    assert "Not measured" not in text
    pngs = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert pngs == sorted(["utilization_gemm.png", "utilization_array.png", "roofline.png", "demo_layers.png",
                           "dma.png", "speed_build.png", "elaboration.png", "batching.png", "scalesim.png"])
    for p in pngs:
        assert f"](plots/{p})" in text
        assert (tmp_path / "plots" / p).read_bytes()[:8] == PNG
    # figures come from the JSONs
    assert f"| GEMM 64^3 | 16x16_int8 | 64 | 1,328 | 1,759 | {1328 / 1759:.3f} |" in text
    assert "| 128x128_int8 | 31.31 |" in text
    # roofline rows: MACs / DRAM bytes from sweep.json; MACs / cycle from perf.json's RTL
    # cycles where it has the layer, else the model's
    assert f"| GEMM 64^3 | {262144 / 12288:.1f} | {12288 / 1328:.2f} | {262144 / 1328:.1f} | RTL |" in text
    assert f"| conv small | {100000 / 20000:.1f} | {20000 / 900:.2f} | {100000 / 900:.1f} | model |" in text
    env = environment()
    assert env["python"] in text and env["machine"] in text


def test_report_without_jsons_says_what_to_run(tmp_path):
    text = write_report(tmp_path).read_text()
    for section in ("sweep", "perf", "dma", "system", "array", "scalesim"):
        assert f"`systolica bench --only {section}`" in text, section
    assert list((tmp_path / "plots").glob("*.png")) == []


def test_cli_report_section(tmp_path, capsys):
    from systolica.cli import main

    (tmp_path / "system.json").write_text(json.dumps({"meta": META, "batching": [
        {"model": "mlp", "batch": b, "cycles": 3000 + b, "inferences_per_mcycle": 1e6 * b / (3000 + b)} for b in (1, 2)]}))
    assert main(["bench", "--only", "report", "-o", str(tmp_path)]) == 0
    assert f"| mlp | 2 | {3000 + 2:,} |" in (tmp_path / "README.md").read_text()
    assert [p.name for p in (tmp_path / "plots").glob("*.png")] == ["batching.png"]
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("section", ["scalesim", "sweep", "report"])
def test_sections_are_known(section):
    from systolica.bench import SECTIONS

    assert section in SECTIONS
