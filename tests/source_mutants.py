"""Mutation checks on a hardware module's source: the module's text with one replacement,
executed as a module of the same package (``hw/`` is not touched), so that a test can
show it fails on the changed hardware (a mutant) as it passes on the real one."""

from __future__ import annotations

import importlib
import inspect
import types


def mutated(module_name: str, old: str, new: str) -> types.ModuleType:
    """``module_name`` (e.g. ``"systolica.hw.head_fifo"``) with its one occurrence of
    ``old`` replaced by ``new``; a fresh module object, the real one is unchanged."""
    module = importlib.import_module(module_name)
    source = inspect.getsource(module)
    if source.count(old) != 1:
        raise ValueError(f"{module_name}: {old!r} occurs {source.count(old)} times; a mutant changes one place")
    mutant = types.ModuleType(f"{module_name}__mutant")
    mutant.__package__, mutant.__file__ = module.__package__, module.__file__
    exec(compile(source.replace(old, new), module.__file__, "exec"), mutant.__dict__)
    return mutant
