"""``systolica/fpga_outreg.py``: the memory banks' ``out`` registers move into their
``DP16KD`` (``REGMODE_B "OUTREG"``) in the ECP5 flow's netlist, and only flip-flops that
sample the block's data every cycle do.

A scratchpad-shaped bank through ``synth_ecp5`` loses its ``out`` flip-flops to its blocks
and keeps everything else; hand-made netlists show each condition of the pass refusing a
block (a flip-flop with an enable, a reset, another clock, an inverted clock, a data pin
with a second user or on a port, a 36-bit block, port A's outputs in use, the output enable
low, the block on its inverted clock).
"""

from __future__ import annotations

import copy
import json

import pytest

from systolica.fpga import synthesize_component
from systolica.fpga_outreg import absorb_output_registers
from systolica.fpga_report import DEVICES
from systolica.hw.memory_bank import MemoryBank

ECP5 = DEVICES["LFE5U-85F"]


def test_bank_reads_into_the_blocks_output_register(tmp_path):
    """A 64-bit bank of byte lanes, 2048 rows (the 8x8 scratchpad's): eight 9-bit blocks,
    each now with its output register driving what ``out`` drove."""
    width = 64
    used = synthesize_component(MemoryBank(width=width, depth=2048, granularity=8), "bank", ECP5, tmp_path)
    module = json.loads((tmp_path / "synth.json").read_text())["modules"]["bank"]
    blocks = [c for c in module["cells"].values() if c["type"] == "DP16KD"]
    assert len(blocks) == 8 and {b["parameters"]["REGMODE_B"] for b in blocks} == {"OUTREG"}
    drivers = {bit for b in blocks for pin, bits in b["connections"].items() if pin.startswith("DOB") for bit in bits}
    ff_inputs = {bit for c in module["cells"].values() if c["type"] == "TRELLIS_FF" for bit in c["connections"]["DI"]}
    assert not drivers & ff_inputs, "a flip-flop still samples a block's data"
    stat = json.loads((tmp_path / "stat.json").read_text())["design"]["num_cells_by_type"]
    assert used["FF"] == stat["TRELLIS_FF"] - width, (used, stat)


def _netlist(**changes) -> dict:
    """One DP16KD (9-bit ports) whose DOB0 feeds a plain flip-flop, with ``changes``:
    ``block`` / ``ff`` parameter or connection overrides, ``extra_sink`` / ``port`` flags."""
    block = {"type": "DP16KD", "port_directions": {"CLKB": "input", "OCEB": "input", "RSTB": "input",
                                                    "DOB0": "output", "DOB1": "output", "DOA0": "output"},
             "parameters": {"DATA_WIDTH_A": "00000000000000000000000000001001",
                            "DATA_WIDTH_B": "00000000000000000000000000001001", "REGMODE_B": "NOREG"},
             "connections": {"CLKB": [2], "OCEB": ["1"], "RSTB": ["0"], "DOB0": [10], "DOB1": [11], "DOA0": [12]}}
    ff = {"type": "TRELLIS_FF", "port_directions": {"CLK": "input", "DI": "input", "LSR": "input", "Q": "output"},
          "parameters": {"CEMUX": "1 ", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": "RESET"},
          "connections": {"CLK": [2], "DI": [10], "LSR": ["0"], "Q": [20]}}
    user = {"type": "LUT4", "port_directions": {"A": "input", "Z": "output"}, "connections": {"A": [20], "Z": [30]},
            "parameters": {}}
    cells = {"ram": block, "out": ff, "user": user}
    for key, value in changes.get("block", {}).items():
        (block["connections"] if key in block["connections"] else block["parameters"])[key] = value
    for key, value in changes.get("ff", {}).items():
        (ff["connections"] if key in ff["connections"] or key == "CE" else ff["parameters"])[key] = value
    if changes.get("extra_sink"):
        cells["other"] = {"type": "LUT4", "port_directions": {"A": "input", "Z": "output"},
                          "connections": {"A": [10], "Z": [31]}, "parameters": {}}
    if changes.get("doa_used"):
        cells["other"] = {"type": "LUT4", "port_directions": {"A": "input", "Z": "output"},
                          "connections": {"A": [12], "Z": [31]}, "parameters": {}}
    ports = {"clk": {"direction": "input", "bits": [2]}, "q": {"direction": "output", "bits": [30]}}
    if changes.get("port"):
        ports["raw"] = {"direction": "output", "bits": [10]}
    return {"modules": {"m": {"ports": ports, "cells": cells, "netnames": {}}}}


def test_a_plain_flip_flop_moves_into_the_block():
    netlist = _netlist()
    assert absorb_output_registers(netlist) == 1
    cells = netlist["modules"]["m"]["cells"]
    assert "out" not in cells
    assert cells["ram"]["parameters"]["REGMODE_B"] == "OUTREG"
    assert cells["ram"]["connections"]["DOB0"] == [20]          # the block drives the flip-flop's net
    assert cells["user"]["connections"]["A"] == [20]


_REFUSED = {
    "flip-flop with an enable": {"ff": {"CEMUX": "CE", "CE": [5]}},
    "flip-flop with a reset": {"ff": {"LSR": [6]}},
    "flip-flop on another clock": {"ff": {"CLK": [3]}},
    "flip-flop on the inverted clock": {"ff": {"CLKMUX": "INV"}},
    "flip-flop in the global reset": {"ff": {"GSR": "ENABLED"}},
    "data pin with a second user": {"extra_sink": True},
    "data pin on a port": {"port": True},
    "36-bit block": {"block": {"DATA_WIDTH_B": "00000000000000000000000000100100"}},
    "36-bit port A": {"block": {"DATA_WIDTH_A": "00000000000000000000000000100100"}},
    "port A's outputs used": {"doa_used": True},
    "output enable low": {"block": {"OCEB": ["0"]}},
    "output reset connected": {"block": {"RSTB": [7]}},
    "output register already on": {"block": {"REGMODE_B": "OUTREG"}},
    "block on the inverted clock": {"block": {"CLKBMUX": "INV"}},
}


@pytest.mark.parametrize("case", list(_REFUSED))
def test_block_left_as_synthesis_made_it(case):
    netlist = _netlist(**_REFUSED[case])
    before = copy.deepcopy(netlist)
    assert absorb_output_registers(netlist) == 0
    assert netlist == before
