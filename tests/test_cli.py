"""`systolica generate`: one Verilog file with a stable top, lint-clean with the documented waivers."""

import json
import os
import re
import subprocess
import sys

from systolica.model.config import AcceleratorConfig
from systolica.sim.runner import verilator_env

CLI = [sys.executable, "-m", "systolica.cli"]


def _generate(args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + ["generate", *args], cwd=cwd, capture_output=True, text=True)


def _ports(verilog: str, module: str) -> str:
    return re.search(rf"^module {module}\((.*?)\);", verilog, re.M | re.S).group(1)


def test_generate_writes_verilog_and_config_that_lints_clean(tmp_path):
    r = _generate(["--rows", "4", "--cols", "8", "-o", "out"], tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    text = (out / "systolica_array.v").read_text()
    assert AcceleratorConfig.from_json((out / "config.json").read_text()) == AcceleratorConfig(rows=4, cols=8)
    ports = set(p.strip() for p in _ports(text, "systolica_array").split(","))
    assert ports == {"clk", "rst", "data__payload", "data__valid", "data__ready", "weights__payload",
                     "weights__valid", "weights__ready", "result__payload", "result__valid"}
    assert str(tmp_path) not in text  # path independent (emit_src=False)
    env = {**os.environ, **verilator_env()}
    lint = subprocess.run(["verilator", "--lint-only", "-Wall", str(out / "waivers.vlt"),
                           str(out / "systolica_array.v"), "--top-module", "systolica_array"],
                          capture_output=True, text=True, env=env)
    assert lint.returncode == 0 and "%Warning" not in lint.stderr + lint.stdout, lint.stderr


def test_generate_is_deterministic_and_reads_config_json(tmp_path):
    cfg = AcceleratorConfig(rows=3, cols=2, acc_bits=24, dataflows=("os",))
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    assert _generate(["--config", "cfg.json", "-o", "a"], tmp_path).returncode == 0
    assert _generate(["--rows", "3", "--cols", "2", "--acc-bits", "24", "--dataflows", "os", "-o", "b"],
                     tmp_path).returncode == 0
    a, b = (tmp_path / d / "systolica_array.v" for d in "ab")
    assert a.read_text() == b.read_text()
    assert json.loads((tmp_path / "a" / "config.json").read_text())["dataflows"] == ["os"]


def test_invalid_configuration_exits_nonzero_names_field_and_writes_nothing(tmp_path):
    r = _generate(["--rows", "0", "-o", "out"], tmp_path)
    assert r.returncode != 0
    assert "rows=0" in r.stderr and "1..128" in r.stderr
    assert not (tmp_path / "out").exists()
    (tmp_path / "bad.json").write_text('{"rows": 4, "cols": 300}')
    r = _generate(["--config", "bad.json", "-o", "out"], tmp_path)
    assert r.returncode != 0 and "cols=300" in r.stderr and not (tmp_path / "out").exists()
    r = _generate(["--dtype", "fp8_e4m3", "--acc-bits", "30", "-o", "out"], tmp_path)
    assert r.returncode == 2 and "acc_bits=30: out of range, allowed 37..128" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "out").exists()


def test_bench_unknown_section_is_one_line_before_anything_runs(tmp_path):
    r = subprocess.run(CLI + ["bench", "--only", "array,bogus", "-o", "out"], cwd=tmp_path, capture_output=True,
                       text=True)
    assert r.returncode == 2 and "--only 'array,bogus': unknown section(s) ['bogus']" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_top_port_list_is_stable_across_sizes(tmp_path):
    names = []
    for rows, cols in ((1, 1), (5, 7)):
        assert _generate(["--rows", str(rows), "--cols", str(cols), "-o", f"o{rows}"], tmp_path).returncode == 0
        text = (tmp_path / f"o{rows}" / "systolica_array.v").read_text()
        names.append(sorted(p.strip() for p in _ports(text, "systolica_array").split(",")))
    assert names[0] == names[1]


def test_every_unit_generates_and_lints_clean(tmp_path):
    """Each block generated on its own (--unit) lints with only the documented waivers."""
    from systolica.hw.generate import UNITS

    cfg = AcceleratorConfig(rows=3, cols=5, spad_rows=64, acc_rows=32, bus_bits=128)
    (tmp_path / "cfg.json").write_text(cfg.to_json())
    env = {**os.environ, **verilator_env()}
    for unit, top in UNITS.items():
        r = _generate(["--config", "cfg.json", "--unit", unit, "-o", unit], tmp_path)
        assert r.returncode == 0, r.stderr
        lint = subprocess.run(["verilator", "--lint-only", "-Wall", str(tmp_path / unit / "waivers.vlt"),
                               str(tmp_path / unit / f"{top}.v"), "--top-module", top],
                              capture_output=True, text=True, env=env)
        assert lint.returncode == 0 and "%Warning" not in lint.stderr + lint.stdout, (unit, lint.stderr)


def test_fp8_units_generate_and_lint_clean(tmp_path):
    """FP8 configurations: every unit of E4M3 x E5M2 (flags, 16-byte partial sums), and the
    top (which holds every unit but the board's) of E4M3 and of E5M2, lint clean."""
    from systolica.hw.generate import FP8_UNITS, UNITS

    env = {**os.environ, **verilator_env()}
    for dtype, weight, units in (("fp8_e4m3", "fp8_e5m2", FP8_UNITS), ("fp8_e4m3", "fp8_e4m3", ("top",)),
                                 ("fp8_e5m2", "fp8_e5m2", ("top",))):
        for unit in units:
            out = f"{dtype}-{weight}-{unit}"
            r = _generate(["--rows", "3", "--cols", "2", "--dtype", dtype, "--weight-dtype", weight,
                           "--unit", unit, "-o", out], tmp_path)
            assert r.returncode == 0, r.stderr
            cfg = AcceleratorConfig.from_json((tmp_path / out / "config.json").read_text())
            assert (cfg.input_type, cfg.weight_type) == (dtype, weight)
            top = UNITS[unit]
            lint = subprocess.run(["verilator", "--lint-only", "-Wall", str(tmp_path / out / "waivers.vlt"),
                                   str(tmp_path / out / f"{top}.v"), "--top-module", top],
                                  capture_output=True, text=True, env=env)
            assert lint.returncode == 0 and "%Warning" not in lint.stderr + lint.stdout, (out, lint.stderr)


def test_generate_target_ecp5_instantiates_the_dsp_cell_with_its_registers(tmp_path):
    """``--target ecp5``: one MULT18X18D per PE module with registered A, B and P; the default
    has none (generic registers); a bad target exits 2 naming the flag."""
    r = _generate(["--rows", "2", "--cols", "2", "--target", "ecp5", "-o", "dsp"], tmp_path)
    assert r.returncode == 0, r.stderr
    text = (tmp_path / "dsp" / "systolica_array.v").read_text()
    assert text.count("MULT18X18D #(") == 1 and '.REG_OUTPUT_CLK("CLK0")' in text
    r = _generate(["--rows", "2", "--cols", "2", "-o", "gen"], tmp_path)
    assert r.returncode == 0 and "MULT18X18D" not in (tmp_path / "gen" / "systolica_array.v").read_text()
    r = _generate(["--rows", "2", "--cols", "2", "--target", "xilinx", "-o", "bad"], tmp_path)
    assert r.returncode == 2 and "--target" in r.stderr and "Traceback" not in r.stderr
