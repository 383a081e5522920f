"""The block RAMs' own output registers, for the ECP5 flow: a pass over ``synth.json``.

Every memory bank (:mod:`systolica.hw.memory_bank`) reads its row into a register, ``out``,
two cycles after the request: the block RAM's synchronous read, then ``out``. Yosys maps
the read to a ``DP16KD`` without its output register (``REGMODE_B "NOREG"``) and leaves
``out`` in the fabric, so each read pays the block's 5.83 ns clock to data plus a route in
one cycle (the 8x8 top at 15d1319: `scratchpad.bank0.mem` -> a 4.45 ns route ->
`bank0.out`, -0.64 ns, 38 endpoints; ``bench/fpga_timing.md``). Yosys's memory mapping
has no option for the block's own register, so this pass, run on the netlist between
synthesis and place and route, moves such flip-flops into the block: the block then
drives their outputs from its output register (``REGMODE_B "OUTREG"``, clock to out
0.96 ns in nextpnr's timing model at speed 6), cycle for cycle the same.

A block is changed only when all of this holds (anything else is left as Yosys made it):

- its read port is port B in a true dual-port mode (``DATA_WIDTH_B`` 1 to 18, and port A's
  outputs ``DOA*`` drive nothing), on ``CLKB`` not inverted (``CLKBMUX "CLKB"``), with no
  output register yet, its output clock enable ``OCEB`` high and its output reset
  ``RSTB`` low;
- every ``DOB*`` bit that drives anything drives exactly one cell input, a ``TRELLIS_FF``'s
  ``DI``, and no port of the module;
- each such flip-flop is clocked by ``CLKB`` (not inverted), always enabled (``CEMUX
  "1"``), never reset (``LSR`` low) and outside the global reset (``GSR "DISABLED"``), so
  it samples the block's data every cycle, as the output register does with ``OCEB``
  high.

The flip-flops' initial value is lost (the output register starts at zero): ``out`` has no
reset and nothing reads it before a read (``MemoryBank``'s contract).
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["absorb_output_registers", "absorb_in_file"]

_PLAIN_FF = {"CEMUX": "1", "CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR"}


def _width(value) -> int:
    return int(value, 2) if isinstance(value, str) else int(value)


def _sinks(module: dict) -> dict:
    """Net bit -> the (cell, port) inputs it drives."""
    sinks: dict = {}
    for name, cell in module["cells"].items():
        for port, bits in cell["connections"].items():
            if cell["port_directions"].get(port) == "input":
                for bit in bits:
                    sinks.setdefault(bit, []).append((name, port))
    return sinks


def _port_bits(module: dict) -> set:
    return {bit for port in module["ports"].values() for bit in port["bits"]}


def _plain_ff(cell: dict, clock) -> bool:
    p, c = cell["parameters"], cell["connections"]
    return (cell["type"] == "TRELLIS_FF" and all(str(p.get(k, "")).strip() == v for k, v in _PLAIN_FF.items())
            and c.get("CLK") == clock and c.get("LSR", ["0"]) == ["0"])


def _absorbable(module: dict, block: dict, sinks: dict, ports: set) -> dict | None:
    """The flip-flop behind each used ``DOB`` pin of ``block`` (pin -> cell name), or None."""
    p, c = block["parameters"], block["connections"]
    if (p.get("REGMODE_B", "NOREG") != "NOREG" or p.get("CLKBMUX", "CLKB") != "CLKB"
            or not 1 <= _width(p.get("DATA_WIDTH_B", 18)) <= 18
            or _width(p.get("DATA_WIDTH_A", 18)) > 18 or c.get("OCEB") != ["1"] or c.get("RSTB") != ["0"]):
        return None
    if any(sinks.get(bit) or bit in ports for pin, bits in c.items() if pin.startswith("DOA") for bit in bits):
        return None
    flops = {}
    for pin, (bit,) in ((pin, bits) for pin, bits in c.items() if pin.startswith("DOB")):
        if bit in ("0", "1", "x") or (not sinks.get(bit) and bit not in ports):
            continue
        users = sinks.get(bit, [])
        if bit in ports or len(users) != 1 or users[0][1] != "DI":
            return None
        ff = module["cells"][users[0][0]]
        if not _plain_ff(ff, c["CLKB"]):
            return None
        flops[pin] = users[0][0]
    return flops or None


def absorb_output_registers(netlist: dict) -> int:
    """Move the read-data flip-flops of every ``DP16KD`` that qualifies (module docstring)
    into the block, in place; returns how many flip-flops moved."""
    moved = 0
    for module in netlist["modules"].values():
        blocks = [name for name, cell in module["cells"].items() if cell["type"] == "DP16KD"]
        if not blocks:
            continue
        sinks, ports = _sinks(module), _port_bits(module)
        for name in blocks:
            block = module["cells"][name]
            flops = _absorbable(module, block, sinks, ports)
            if flops is None:
                continue
            for pin, ff_name in flops.items():
                ff = module["cells"].pop(ff_name)
                block["connections"][pin] = list(ff["connections"]["Q"])   # the block drives Q's net
            block["parameters"]["REGMODE_B"] = "OUTREG"
            moved += len(flops)
    return moved


def absorb_in_file(path: Path) -> int:
    """:func:`absorb_output_registers` on a Yosys JSON netlist file, rewritten in place."""
    netlist = json.loads(Path(path).read_text())
    moved = absorb_output_registers(netlist)
    if moved:
        Path(path).write_text(json.dumps(netlist))
    return moved
