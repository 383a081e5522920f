"""Verilog generation: one file, a stable top module name and port list.

The PE and the PE row are converted once each as their own modules: the array instances
the row ``rows`` times, the row instances the PE ``cols`` times. Converting a flat netlist
of ``rows * cols`` PEs (or one Amaranth submodule per PE, which Amaranth does not
deduplicate) is what makes elaboration grow into minutes at 32x32 and beyond; with one
definition per level the work grows with ``rows + cols`` plus the edge registers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from amaranth.back import verilog
from amaranth.hdl import Const, ValueCastable
from amaranth.lib import wiring

from ..model.config import AcceleratorConfig
from .accumulator import Accumulator
from .board_top import BOARD_TOP_NAME, BoardTop
from .core import Core
from .csr import CsrBlock
from .dma import Dma
from .multiplier import check_target
from .pe import ProcessingElement
from .pe_row import PE_MODULE_NAME, ROW_MODULE_NAME, PeRow, separate_modules
from .requant_unit import RequantUnit
from .scratchpad import Scratchpad
from .systolic_array import SystolicArray
from .top import TOP_NAME, Top

__all__ = ["TOP_MODULE_NAME", "UNITS", "FP8_UNITS", "GeneratedVerilog", "generate_verilog"]

#: Name of the top module in every generated file.
TOP_MODULE_NAME = "systolica_array"


@dataclass(frozen=True)
class GeneratedVerilog:
    text: str
    top: str
    seconds: float


def component_ports(component: wiring.Component) -> dict:
    """Ports of ``component`` as ``verilog.convert`` wants them, named ``a__b`` like
    Amaranth does, leaving out members that are constants (``always_ready`` streams)."""
    ports = {}
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        if isinstance(value, Const):
            continue
        ports["__".join(map(str, path))] = (value, None)  # direction inferred from drivers
    return ports


def _convert(component: wiring.Component, name: str) -> str:
    with separate_modules():  # the PE and the PE row are modules of their own (see _array)
        return verilog.convert(component, name=name, ports=component_ports(component), emit_src=False)


def _array(cfg: AcceleratorConfig, target: str) -> list[str]:
    return [_convert(SystolicArray(cfg), TOP_MODULE_NAME),
            _convert(PeRow(cfg), ROW_MODULE_NAME),
            _convert(ProcessingElement(cfg, target), PE_MODULE_NAME)]


#: Units generated as one module of their own: name -> (top module name, component class).
_SINGLE_MODULE = {
    "requant": ("systolica_requant", RequantUnit),
    "scratchpad": ("systolica_scratchpad", Scratchpad),
    "accumulator": ("systolica_accumulator", Accumulator),
    "dma": ("systolica_dma", Dma),
    "csr": ("systolica_csr", CsrBlock),
}

#: Units that contain the array: the PE-row and PE modules follow their own module.
_WITH_ARRAY = {"core": ("systolica_core", Core), "top": (TOP_NAME, Top),
               "board": (BOARD_TOP_NAME, BoardTop)}


#: Units whose own modules hold multipliers besides the PEs' (the requantization lanes',
#: the command check's).
_WITH_MULTIPLIERS = ("requant", "top", "board")


#: Units that can be generated (and simulated) on their own: name -> top module name.
UNITS = {"array": TOP_MODULE_NAME,
         **{name: top for name, (top, _) in {**_SINGLE_MODULE, **_WITH_ARRAY}.items()}}


#: Units generated (and verified) for FP8 configurations: every one.
FP8_UNITS = tuple(UNITS)


def _modules(cfg: AcceleratorConfig, unit: str, target: str) -> list[str]:
    if unit == "array":
        return _array(cfg, target)
    # the units with requantization lanes (and the top's command check) take the target too
    kwargs = {"target": target} if unit in _WITH_MULTIPLIERS else {}
    if unit in _WITH_ARRAY:
        top, component = _WITH_ARRAY[unit]
        return [_convert(component(cfg, **kwargs), top)] + _array(cfg, target)[1:]
    top, component = _SINGLE_MODULE[unit]
    return [_convert(component(cfg, **kwargs), top)]


def generate_verilog(cfg: AcceleratorConfig, unit: str = "array", target: str = "generic") -> GeneratedVerilog:
    """Elaborate ``unit`` of ``cfg`` and return its Verilog, one file (path independent).
    ``target``: the multipliers' implementation (:data:`~systolica.hw.multiplier.TARGETS`;
    ``"ecp5"`` instantiates the ECP5's ``MULT18X18D`` for the PEs, the int8
    requantization lanes and the fetch unit's command check, for that FPGA flow only)."""
    if unit not in UNITS:
        raise ValueError(f"unit={unit!r}: unknown, allowed one of {sorted(UNITS)}")
    check_target(target)
    t0 = time.perf_counter()
    modules = _modules(cfg, unit, target)
    on = "" if target == "generic" else f", multipliers for {target}"
    header = f"// systolica {cfg.name} {unit}: generated from configuration {cfg.config_hash()}{on}\n"
    return GeneratedVerilog(header + "\n".join(modules), UNITS[unit], time.perf_counter() - t0)
