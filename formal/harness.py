"""Proof modules: one master component with its AXI rules, inputs free.

Each harness instantiates the component (``dut``), makes every input of its signature a
free input of the proof's top module, and adds the properties. Inputs are free (any value
in any cycle) except what the component's environment promises, written as ``Assume``
with the reason.

``patches`` replace module-level names of ``systolica.hw`` while the component
elaborates, and only then: a sound abstraction (e.g. the command checker's verdict left
free) or a mutant (:mod:`.mutants`). The shipped hardware has no hooks.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from amaranth.asserts import AnySeq
from amaranth.hdl import Elaboratable, Fragment, Module, Value
from amaranth.lib.wiring import In

from ..hw.command_check import CommandCheck
from .axi_props import Props

__all__ = ["Harness", "Patch", "patched", "FreeCommandCheck"]


@dataclass(frozen=True)
class Patch:
    """``module.name`` is ``value`` while the component elaborates."""

    module: ModuleType
    name: str
    value: Any


@contextlib.contextmanager
def patched(patches):
    saved = []
    try:
        for p in patches:
            saved.append((p.module, p.name, getattr(p.module, p.name)))
            setattr(p.module, p.name, p.value)
        yield
    finally:
        for module, name, value in reversed(saved):
            setattr(module, name, value)


class FreeCommandCheck(CommandCheck):
    """Abstraction of the fetch unit's checker: any status and DMA error, in any cycle.
    The AXI rules proved with it hold whatever the real checker decides."""

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.status.eq(AnySeq(Value.cast(self.status).shape())),
                     self.dma_error.eq(AnySeq(Value.cast(self.dma_error).shape()))]
        return m


class Harness(Elaboratable):
    """Base: ``dut`` plus :meth:`properties`."""

    def __init__(self, dut, patches=()):
        self.dut = dut
        self.patches = tuple(patches)
        self.props: Props | None = None

    def ports(self) -> list:
        """The component's inputs: the proof's free inputs. (Outputs stay internal: an
        output the component leaves undriven keeps its init value, as in the design.)"""
        return [Value.cast(value) for _, member, value in self.dut.signature.flatten(self.dut)
                if member.flow == In]

    def properties(self, m: Module, p: Props) -> None:
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        with patched(self.patches):
            m.submodules.dut = Fragment.get(self.dut, platform)
        self.props = p = Props(m)
        self.properties(m, p)
        return m
