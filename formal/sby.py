"""One bounded model check: the proof module to RTLIL, a SymbiYosys job, its verdict."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil

from .tools import sby_argv, tool_env

__all__ = ["SbyResult", "run_sby", "failed_properties", "first_failure", "trace_values"]

_SBY = """\
[options]
mode {mode}
depth {depth}
multiclock off

[engines]
smtbmc {engine_opts}{solver}

[script]
read_rtlil design.il
prep -top top

[files]
design.il
"""


@dataclass
class SbyResult:
    status: str                 # PASS, FAIL (a counterexample), ERROR or TIMEOUT
    seconds: float
    depth: int
    workdir: Path
    step: int | None = None     # the failing step (FAIL), the last cover step (cover PASS)
    failed: list[str] = field(default_factory=list)   # properties low in the last step
    trace: Path | None = None
    log: str = ""


def run_sby(harness, *, name: str, depth: int, workdir: Path, mode: str = "bmc",
            solver: str = "boolector", engine_opts: str = "", timeout: float | None = None) -> SbyResult:
    """Check ``harness`` (a :class:`~.harness.Harness`: the component, its ports free,
    and its properties) in ``workdir/name``."""
    job = Path(workdir) / name
    if job.exists():
        shutil.rmtree(job)
    job.mkdir(parents=True)
    (job / "design.il").write_text(rtlil.convert(harness, name="top", ports=harness.ports()))
    asserts = [p.name for p in harness.props.props if p.kind == "assert"]
    (job / "job.sby").write_text(_SBY.format(mode=mode, depth=depth, solver=solver,
                                               engine_opts=engine_opts + " " if engine_opts else ""))
    t0 = time.monotonic()
    try:
        proc = subprocess.run([*sby_argv(), "-f", "job.sby"], cwd=job, env=tool_env(),
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        out, rc = proc.stdout, proc.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return SbyResult("TIMEOUT", time.monotonic() - t0, depth, job, log=out)
    seconds = time.monotonic() - t0
    (job / "sby.out").write_text(out)
    done = re.findall(r"DONE \((\w+), rc=\d+\)", out)
    status = done[-1] if done else "ERROR"
    if status not in ("PASS", "FAIL"):
        status = "ERROR"
    res = SbyResult(status, seconds, depth, job, log=out)
    steps = [int(s) for s in re.findall(r"(?:failed assertion|reached cover statement) .* step (\d+)$", out, re.M)]
    if steps:
        res.step = max(steps)
    if status == "FAIL":
        traces = sorted(job.glob("job/engine_*/trace*.vcd"))
        if traces:
            res.trace = traces[0]
            res.step, res.failed = first_failure(traces[0], asserts)
    return res


def first_failure(vcd: Path, names: list[str]) -> tuple[int | None, list[str]]:
    """The first step of the counterexample ``vcd`` at which any of the properties
    ``names`` is 0, and those that are 0 there."""
    values = trace_values(vcd, names)
    steps = len(next(iter(values.values()), []))
    for k in range(steps):
        low = [n for n in names if values[n][k] == 0]
        if low:
            return k, low
    return None, []


def failed_properties(vcd: Path, names: list[str]) -> list[str]:
    """The properties among ``names`` that fail in the counterexample ``vcd``."""
    return first_failure(vcd, names)[1]


def trace_values(vcd: Path, names: list[str]) -> dict[str, list[int]]:
    """Each of ``names`` (``sig`` at the top, ``sub.sig`` below) per step of the
    counterexample ``vcd`` (smtbmc's ``smt_step`` counts the steps)."""
    ids: dict[str, list[str]] = {}
    scope: list[str] = []
    wanted = set(names)
    value: dict[str, int] = {}
    out: dict[str, list[int]] = {n: [] for n in names}
    step_id = None
    step_now = False            # the current timestamp starts a step

    def snapshot():
        for i, fulls in ids.items():
            for n in fulls:
                out[n].append(value.get(i, 0))

    for line in vcd.read_text().splitlines():
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "$scope":
            scope.append(tok[2])
        elif tok[0] == "$upscope":
            scope.pop()
        elif tok[0] == "$var":
            full = ".".join(scope[1:] + [tok[4]])
            if full in wanted:
                ids.setdefault(tok[3], []).append(full)
            if tok[4] == "smt_step":
                step_id = tok[3]
        elif tok[0].startswith("#"):
            if step_now:
                snapshot()
            step_now = False
        elif tok[0][0] == "b" and len(tok) == 2:
            value[tok[1]] = int(tok[0][1:].replace("x", "0").replace("z", "0"), 2)
            if tok[1] == step_id:
                step_now = True
        elif tok[0][0] in "01xz" and len(tok) == 1:
            value[tok[0][1:]] = 1 if tok[0][0] == "1" else 0
    if step_now:
        snapshot()
    return out
