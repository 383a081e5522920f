"""Blocks of the accelerator top, each on its own for out-of-context timing (``systolica
fpga --unit controller`` etc.): place and route of one block takes minutes where the
whole top takes tens of minutes to hours on a small machine.

Each block is the component :class:`~systolica.hw.top.Top` instantiates, elaborated
with the configuration given (the same parameters as in the top: the DMA engines with
``check=False``, as the top has them), wrapped in :class:`RegisteredPorts`: every input
port is driven by a register and every output port drives one. So every path nextpnr
times runs from a register to a register; a path that enters the block at a port starts
at the wrapper's input register, one that leaves it ends at the output register. What a
block unit therefore does not show is the combinational path between blocks in the top
(an output of one block that feeds an input of another without a register between): the
``top`` unit does.
"""

from __future__ import annotations

import importlib

from amaranth.hdl import Const, Module, ValueCastable
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .model.config import AcceleratorConfig

__all__ = ["BLOCK_UNITS", "RegisteredPorts", "block_component"]


#: unit name -> (module name, the block as the top instantiates it: its ``systolica.hw``
#: module, class and keyword arguments)
BLOCK_UNITS = {
    "controller": ("systolica_controller", "controller", "Controller", {}),
    "fetch": ("systolica_fetch", "fetch", "Fetch", {}),
    "command_check": ("systolica_command_check", "command_check", "CommandCheck", {}),
    "dma_load": ("systolica_dma_load", "dma_load", "DmaLoad", {"check": False}),
    "dma_store": ("systolica_dma_store", "dma_store", "DmaStore", {"check": False}),
    "requant": ("systolica_requant", "requant_unit", "RequantUnit", {}),
    "core": ("systolica_core", "core", "Core", {}),
    "csr": ("systolica_csr", "csr", "CsrBlock", {}),
}


def _values(component: wiring.Component):
    """(member, value) of every port of ``component`` that is not a constant."""
    for path, member, value in component.signature.flatten(component):
        if isinstance(value, ValueCastable):
            value = value.as_value()
        yield path, member, value


class RegisteredPorts(wiring.Component):
    """``inner`` with one register on each port: inputs are registered on the way in,
    outputs on the way out (same signature as ``inner``)."""

    def __init__(self, inner: wiring.Component):
        self.inner = inner
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = self.inner
        for (path, member, outer), (_, _, inner) in zip(_values(self), _values(self.inner)):
            if isinstance(inner, Const) or isinstance(outer, Const):
                continue        # an always-ready/always-valid member: nothing to register
            if member.flow == In:
                m.d.sync += inner.eq(outer)
            else:
                m.d.sync += outer.eq(inner)
        return m


#: Block units whose multipliers follow the board (``target``, :mod:`systolica.hw.stage_multiplier`).
WITH_MULTIPLIERS = ("requant", "controller", "fetch", "command_check")


def block_component(cfg: AcceleratorConfig, unit: str, target: str = "generic") -> tuple[str, wiring.Component]:
    """(module name, the registered block) of block unit ``unit``; ``target``: its
    multipliers' implementation where it has its own (:data:`WITH_MULTIPLIERS`)."""
    name, module, cls, kwargs = BLOCK_UNITS[unit]
    if unit in WITH_MULTIPLIERS:
        kwargs = {**kwargs, "target": target}
    block = getattr(importlib.import_module(f"systolica.hw.{module}"), cls)(cfg, **kwargs)
    return name, RegisteredPorts(block)
