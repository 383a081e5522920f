"""Another revision's hardware, beside this tree's: ``hw/`` and ``model/`` copied out of
git (or out of this tree as it is now) into a folder that a new process imports them from.

:mod:`systolica.cycle_trace` (the same cycles) and :mod:`systolica.verilog_same` (the same
Verilog) run their work once in a process importing this tree's copy and once in one
importing the other revision's, everything else (the harness, the cases) from this tree.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["TREE_ENV", "resolve", "run_in_both", "snapshot", "use_tree"]

_ROOT = Path(__file__).resolve().parent.parent
#: set to a snapshot's folder, a process imports ``systolica.hw`` and ``model`` from it
TREE_ENV = "SYSTOLICA_TRACE_TREE"


def resolve(rev: str) -> str:
    """The commit ``rev`` names (ValueError naming ``--against`` when none)."""
    p = subprocess.run(["git", "-C", str(_ROOT), "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                       capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise ValueError(f"--against {rev}: not a revision of this repository")
    return p.stdout.strip()


def snapshot(rev: str | None, into: Path) -> str:
    """``hw/`` and ``model/`` of ``rev`` (``None``: this tree as it is now, edits included)
    copied into ``into``; returns a tag naming that content."""
    if rev is None:
        h = hashlib.sha256()
        for sub in ("hw", "model"):
            for f in sorted((_ROOT / sub).glob("*.py")):
                (into / sub).mkdir(parents=True, exist_ok=True)
                (into / sub / f.name).write_bytes(f.read_bytes())
                h.update(f"{sub}/{f.name}".encode() + f.read_bytes())
        return "tree-" + h.hexdigest()[:12]
    archive = subprocess.run(["git", "-C", str(_ROOT), "archive", rev, "hw", "model"], capture_output=True,
                             check=False)
    if archive.returncode != 0:
        raise ValueError(f"--against {rev}: not a revision of this repository ({archive.stderr.decode().strip()})")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return "rev-" + resolve(rev)[:12]


def use_tree(tree: str) -> None:
    """Import ``systolica.hw`` and ``systolica.model`` from ``tree`` (before anything else
    imports them)."""
    import importlib.util

    import systolica

    for sub in ("model", "hw"):
        name = f"systolica.{sub}"
        spec = importlib.util.spec_from_file_location(name, Path(tree) / sub / "__init__.py",
                                                      submodule_search_locations=[str(Path(tree) / sub)])
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        setattr(systolica, sub, mod)
        spec.loader.exec_module(mod)


def run_in_both(module: str, args: list[str], rev: str, env_for=lambda tag: {}) -> tuple:
    """``python -m module *args --out FILE`` once in a process importing a copy of this
    tree's ``hw`` and ``model`` (edits made meanwhile do not leak in) and once ``rev``'s;
    ``env_for(tag)`` adds to each one's environment (a build cache of that copy's own).
    Returns the two JSON documents, this tree's first."""
    docs = []
    for r in (None, rev):
        with tempfile.TemporaryDirectory(prefix="systolica-tree-") as tmp:
            tag = snapshot(r, Path(tmp))
            out = Path(tmp) / "out.json"
            env = dict(os.environ, **{TREE_ENV: tmp}, **env_for(tag))
            subprocess.run([sys.executable, "-m", module, *args, "--out", str(out)], env=env, check=True)
            docs.append(json.loads(out.read_text()))
    return docs[0], docs[1]
