"""Show the defects of the first controller, with the tools that found them.

    python -m systolica.sim.first_controller [--commit 4c151ff]

The first controller (one ``elaborate``; replaced by the components of ``hw/controller.py``)
is in this repository's history. This checks that commit out into a temporary git
worktree, puts its package on ``PYTHONPATH`` (this environment's third-party packages) and
runs, against its generated Verilog in the native harness:

1. its own ``tests/test_native_findings.py``: three reproductions kept there as strict
   ``xfail`` (each *xfails* while the defect is there): ARVALID dropped when an error stops
   the program (the protocol monitor's AR_STABLE: an AXI rule broken on a master port);
   a failed program's queued commands running in the next program (work leaking from one
   program into the next); the next program after a DMA error never finishing (a hang that
   only a reset clears);
2. a COMPUTE tile of count 0 (a command that never completes): no interrupt.

Needs the git history (a normal clone has it) and builds that commit's Verilog (minutes).
Exit status 0 when every defect shows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

#: The last commit with the first controller and the native harness.
FIRST_CONTROLLER = "4c151ff"

_COUNT_ZERO = '''
from systolica.demo import demo_config
from systolica.model.bits import pack
from systolica.model.isa import COMMAND_BYTES, Command, Opcode, command_layout, encode, encode_program
from systolica.model.dma import TensorDescriptor
from systolica.sim.native_top import run_program_native
cfg = demo_config()
load = Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(0x8000, (2, 8)), "row": 0})
zero = pack(command_layout(cfg), {"header": {"opcode": Opcode.COMPUTE},
            "body": {"compute": {"dataflow": 0, "a_row": 0, "b_row": 8, "c_row": 0, "count": 0}}})
image = bytearray(1 << 16)
prog = encode(cfg, load) + zero.to_bytes(COMMAND_BYTES, "little") + encode_program(cfg, [])
image[0x1000:0x1000 + len(prog)] = prog
out = run_program_native(cfg, bytes(image), 0x1000, (0, 1 << 16), program_len=3, max_cycles=100_000,
                         check=False)
print("COMPUTE count 0: interrupt after", out.timer, "cycles; STATUS", out.status)
raise SystemExit(0 if out.timer is None else 1)
'''


def _package(tree: Path, into: Path) -> Path:
    """``systolica`` importable from ``into``: the tree's ``systolica/`` plus its
    ``hw``, ``model``, ``sim``, ``driver`` folders as subpackages (as pyproject maps them)."""
    pkg = into / "systolica"
    shutil.copytree(tree / "systolica", pkg)
    for sub in ("hw", "model", "sim", "driver"):
        (pkg / sub).symlink_to(tree / sub)
    return into


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m systolica.sim.first_controller", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--commit", default=FIRST_CONTROLLER, help=f"default {FIRST_CONTROLLER}")
    args = p.parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    tmp = Path(tempfile.mkdtemp(prefix="systolica-first-"))
    tree = tmp / "tree"
    r = subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(tree), args.commit],
                       capture_output=True, text=True)
    if r.returncode:
        print(f"first_controller: cannot check out {args.commit}: {r.stderr.strip()}", file=sys.stderr)
        return 2
    try:
        env = dict(os.environ, PYTHONPATH=str(_package(tree, tmp / "pkg")))
        print(f"== {args.commit}: tests/test_native_findings.py (strict xfail: each xfails while its "
              "defect is there)", flush=True)
        findings = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rx",
                                   str(tree / "tests" / "test_native_findings.py")], cwd=tmp, env=env)
        print(f"== {args.commit}: a COMPUTE of count 0", flush=True)
        zero = subprocess.run([sys.executable, "-c", _COUNT_ZERO], cwd=tmp, env=env)
        shown = findings.returncode == 0 and zero.returncode == 0
        print("every defect shows" if shown else "a defect did not show (see above)")
        return 0 if shown else 1
    finally:
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
