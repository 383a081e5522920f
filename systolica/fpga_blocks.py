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

from amaranth.hdl import Const, Module, ValueCastable
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from .model.config import AcceleratorConfig

__all__ = ["BLOCK_UNITS", "RegisteredPorts", "block_component"]


def _controller(cfg):
    from .hw.controller import Controller
    return Controller(cfg)


def _fetch(cfg):
    from .hw.fetch import Fetch
    return Fetch(cfg)


def _command_check(cfg):
    from .hw.command_check import CommandCheck
    return CommandCheck(cfg)


def _dma_load(cfg):
    from .hw.dma_load import DmaLoad
    return DmaLoad(cfg, check=False)


def _dma_store(cfg):
    from .hw.dma_store import DmaStore
    return DmaStore(cfg, check=False)


def _requant(cfg):
    from .hw.requant import RequantUnit
    return RequantUnit(cfg)


def _core(cfg):
    from .hw.core import Core
    return Core(cfg)


def _csr(cfg):
    from .hw.csr import CsrBlock
    return CsrBlock(cfg)


#: unit name -> (module name, the block as the top instantiates it)
BLOCK_UNITS = {
    "controller": ("systolica_controller", _controller),
    "fetch": ("systolica_fetch", _fetch),
    "command_check": ("systolica_command_check", _command_check),
    "dma_load": ("systolica_dma_load", _dma_load),
    "dma_store": ("systolica_dma_store", _dma_store),
    "requant": ("systolica_requant", _requant),
    "core": ("systolica_core", _core),
    "csr": ("systolica_csr", _csr),
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


def block_component(cfg: AcceleratorConfig, unit: str) -> tuple[str, wiring.Component]:
    """(module name, the registered block) of block unit ``unit``."""
    name, make = BLOCK_UNITS[unit]
    return name, RegisteredPorts(make(cfg))
