"""Resource counts and timing from the open flow's own reports, and the checks made on them.

- After synthesis: Yosys ``stat -json`` cell counts, mapped to the device's resources
  (:func:`synth_resources`) and checked against the device before place and route
  (:func:`check_fits`).
- After place and route: nextpnr's ``--report`` JSON: utilisation, Fmax per clock and the
  critical path (:func:`pnr_summary`), summarised by the blocks it crosses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Device", "DEVICES", "synth_resources", "block_resources", "check_fits", "multipliers_at_least",
           "DoesNotFit", "pnr_summary", "format_report"]


@dataclass(frozen=True)
class Device:
    """An FPGA: resource name -> count, as the report names them, and the data bytes of
    one block RAM (the unit ``board_dram_bytes`` is checked in)."""

    name: str
    family: str            # "ecp5" or "xc7"
    capacity: dict
    bram: str              # the block RAM's resource name
    bram_bytes: int

    def __str__(self) -> str:
        return self.name


#: Capacities from the vendors' family data sheets (ECP5/ECP5-5G Family Data Sheet,
#: 7 Series FPGAs Data Sheet: Overview). ECP5: LUT4 (TRELLIS_COMB in nextpnr), a DP16KD
#: holds 16 Kibit of data (18 with parity); Xilinx: LUT6, a RAMB36E1 holds 32 Kibit.
DEVICES = {
    "LFE5U-85F": Device("LFE5U-85F", "ecp5", {"LUT4": 83640, "FF": 83640, "MULT18X18D": 156, "DP16KD": 208},
                        "DP16KD", 2048),
    "LFE5U-45F": Device("LFE5U-45F", "ecp5", {"LUT4": 43848, "FF": 43848, "MULT18X18D": 72, "DP16KD": 108},
                        "DP16KD", 2048),
    "LFE5U-25F": Device("LFE5U-25F", "ecp5", {"LUT4": 24288, "FF": 24288, "MULT18X18D": 28, "DP16KD": 56},
                        "DP16KD", 2048),
    "XC7A35T": Device("XC7A35T", "xc7", {"LUT": 20800, "FF": 41600, "DSP48E1": 90, "RAMB36E1": 50},
                      "RAMB36E1", 4096),
}

# cells per resource after synthesis (count x weight). LUT4 counts what nextpnr's TRELLIS_COMB
# will at least hold: a CCU2C carry cell is two, a distributed RAM four; packing adds
# route-through LUTs (about 5 % on the 8x8 top: 48680 here, 51296 packed), so this is a
# lower bound -- a design it refuses cannot fit.
_ECP5_CELLS = {"LUT4": {"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4}, "FF": {"TRELLIS_FF": 1},
               "MULT18X18D": {"MULT18X18D": 1}, "DP16KD": {"DP16KD": 1, "PDPW16KD": 1}}
_XC7_CELLS = {"LUT": {f"LUT{k}": 1 for k in range(1, 7)} | {"RAM32M": 4, "RAM64M": 4, "RAM32X1D": 2,
                                                             "RAM64X1D": 2, "RAM128X1D": 4, "RAM32X1S": 1,
                                                             "RAM64X1S": 1, "SRL16E": 1, "SRLC32E": 1},
              "FF": {"FDRE": 1, "FDSE": 1, "FDCE": 1, "FDPE": 1},
              "DSP48E1": {"DSP48E1": 1}, "RAMB36E1": {"RAMB36E1": 1, "RAMB18E1": 0.5}}


def synth_resources(stat_json: Path, device: Device) -> dict:
    """Resource counts from Yosys ``stat -json`` after ``synth_ecp5``/``synth_xilinx``."""
    cells = json.loads(Path(stat_json).read_text())["design"]["num_cells_by_type"]
    table = _ECP5_CELLS if device.family == "ecp5" else _XC7_CELLS
    return {res: int(sum(cells.get(c, 0) * w for c, w in weights.items()) + 0.5) for res, weights in table.items()}


def block_resources(synth_json: Path, top: str, device: Device, depth: int = 1) -> dict:
    """Resources per block (the first ``depth`` levels of the flattened cell names) from
    Yosys' netlist: which block holds the LUTs and multipliers."""
    cells = json.loads(Path(synth_json).read_text())["modules"][top]["cells"]
    table = _ECP5_CELLS if device.family == "ecp5" else _XC7_CELLS
    weight = {cell: (res, w) for res, weights in table.items() for cell, w in weights.items()}
    out: dict = {}
    for name, cell in cells.items():
        if cell["type"] not in weight:
            continue
        parts = name.split(".")
        block = ".".join(parts[:depth]) if len(parts) > depth and not name.startswith("$") else "(top level)"
        res, w = weight[cell["type"]]
        out.setdefault(block, dict.fromkeys(table, 0))[res] += w
    return dict(sorted(out.items(), key=lambda kv: -kv[1][next(iter(table))]))


class DoesNotFit(ValueError):
    """The design needs more of a resource than the device has."""


def check_fits(used: dict, device: Device, what: str, *, at_least: bool = False) -> None:
    """Raise :class:`DoesNotFit` naming every resource ``used`` exceeds (``at_least``: the
    counts are lower bounds known before synthesis)."""
    more = "at least " if at_least else ""
    over = [f"{res}: {more}{used[res]} needed, {device.capacity[res]} on the {device}" for res in device.capacity
            if used.get(res, 0) > device.capacity[res]]
    if over:
        raise DoesNotFit(f"{what} does not fit the {device}: " + "; ".join(over))


def multipliers_at_least(cfg, unit: str, device: Device) -> dict:
    """MULT18X18D an int8 ``unit`` (``array``, ``top``, ``board``) needs at least, known
    before synthesis: ``synth_ecp5`` maps every multiply whose operands are 2 to 18 bits
    wide to one MULT18X18D (its ``DSP_A/B_MINWIDTH`` 2, ``MAXWIDTH`` 18) and a wider one to
    18-bit pieces, so each PE's 8 x 8 product takes one and each requantization lane's
    32 x 31 product four (the DMA and controller take more; not counted). Empty for FP8 and
    for other devices."""
    if device.family != "ecp5" or (cfg.input_type, cfg.weight_type) != ("int8", "int8") or unit not in (
            "array", "top", "board"):
        return {}
    return {"MULT18X18D": cfg.rows * cfg.cols + (4 * cfg.cols if unit != "array" else 0)}


# -- after place and route -----------------------------------------------------------------
_PNR_NAMES = {"TRELLIS_COMB": "LUT4", "TRELLIS_FF": "FF", "MULT18X18D": "MULT18X18D", "DP16KD": "DP16KD"}


def _block(cell: str) -> str:
    """The hierarchical block of a flattened cell name (``top.store.err_TRELLIS_FF_Q`` ->
    ``top.store``)."""
    return cell.rsplit(".", 1)[0] if "." in cell else "(top level)"


def pnr_summary(report_json: Path) -> dict:
    """Utilisation, Fmax per clock and the critical path of each clock from nextpnr's report."""
    r = json.loads(Path(report_json).read_text())
    used = {_PNR_NAMES[k]: v["used"] for k, v in r["utilization"].items() if k in _PNR_NAMES}
    fmax = {clk: {"achieved_mhz": round(v["achieved"], 2), "constraint_mhz": round(v["constraint"], 2)}
            for clk, v in r["fmax"].items()}
    paths = []
    for cp in r["critical_paths"]:
        hops = cp["path"]
        if not hops:
            continue
        delay = sum(h["delay"] for h in hops)
        logic = sum(h["delay"] for h in hops if h["type"] == "logic")
        blocks = []
        for h in hops:
            b = _block(h["to"]["cell"])
            if not blocks or blocks[-1] != b:
                blocks.append(b)
        paths.append({"from": cp["from"], "to": cp["to"], "delay_ns": round(delay, 2),
                      "logic_ns": round(logic, 2), "levels": sum(h["type"] == "logic" for h in hops),
                      "start": hops[0]["from"]["cell"], "end": hops[-1]["to"]["cell"], "blocks": blocks,
                      "nets": [h["net"] for h in hops if h["type"] == "routing"]})
    return {"resources": used, "fmax": fmax, "critical_paths": paths}


def format_report(title: str, device: Device, resources: dict, summary: dict | None, blocks: dict | None = None) -> str:
    """The table ``systolica fpga`` prints."""
    lines = [title, f"  {'resource':<12}{'used':>9}{'available':>11}{'':>8}"]
    for res, cap in device.capacity.items():
        used = resources.get(res, 0)
        lines.append(f"  {res:<12}{used:>9}{cap:>11}{100 * used / cap:>7.1f}%")
    if blocks:
        lines.append("  by block (synthesis): " + "; ".join(
            f"{b} " + " ".join(f"{v:g} {r}" for r, v in used.items() if v) for b, used in list(blocks.items())[:8]))
    if summary:
        for clk, f in summary["fmax"].items():
            ok = "PASS" if f["achieved_mhz"] >= f["constraint_mhz"] else "FAIL"
            lines.append(f"  Fmax {clk}: {f['achieved_mhz']:.1f} MHz (constraint {f['constraint_mhz']:.1f} MHz: {ok})")
        if "endpoints" in summary:
            e = summary["endpoints"]
            blocks = ", ".join(f"{b} {n}" for b, n in list(e["by_block"].items())[:8])
            lines.append(f"  endpoints missing the clock: {e['failing']} of {e['endpoints']}"
                         + (f" (where they end: {blocks})" if blocks else "")
                         + " -- python -m systolica.fpga_sta <run folder> lists them")
        for p in summary["critical_paths"]:
            lines.append(f"  critical path {p['from']} -> {p['to']}: {p['delay_ns']:.2f} ns, "
                         f"{p['levels']} logic levels ({p['logic_ns']:.2f} ns logic)")
            lines.append(f"    from {p['start']}")
            lines.append(f"    to   {p['end']}")
            lines.append(f"    through {' -> '.join(p['blocks'])}")
    return "\n".join(lines)
