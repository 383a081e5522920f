"""Run jobs on the Verilator-native harness: the whole accelerator with no Python per cycle.

The harness (``sim/harness/``, built by :func:`.native_build.build_native`) is one process
that runs many **cases**. A case resets the design (``rst`` high ``reset_cycles`` cycles;
``fresh=True`` also builds a new model, so on-chip memories start at zero as at power-on),
loads its DRAM image and then runs its **host steps** in order, one register access at a
time on the AXI4-Lite port:

- :class:`Write` ``(offset, value, strobe=0xF, mark=False)``: a marked write starts the
  timer at the cycle its AW and W handshakes have both completed.
- :class:`Read` ``(offset)``: the value (and response) is recorded.
- :class:`WaitIrq` ``(timeout)``: waits for ``irq``; the timer is the number of cycles from
  the marked write (or from this step's start) to the first cycle ``irq`` is high. A
  timeout is recorded and ends the case (``continue_on_timeout=True``: go on).
- :class:`Poll` ``(offset, mask, value, timeout)``: reads until ``read & mask == value``.
- :class:`WaitCycles` ``(n)``, :class:`DumpDram` ``(lo=0, hi=None)`` (records DRAM bytes),
  :class:`Poke` ``(addr, data)`` (writes DRAM behind the design's back, e.g. a new
  program between two doorbells), :class:`SetWindow` ``(lo, hi)`` / :class:`ClearWindow`
  (the DRAM window the protocol monitor checks every burst against).

A register access that takes more than ``axil_timeout`` cycles ends the case. The harness
knows no register map: :func:`.native_top.run_program_native` builds the steps from
:mod:`systolica.model.csr`.

**DRAM model** (:class:`DramSettings`): byte-addressed memory of the case's size, AXI4
INCR/FIXED/WRAP bursts of any AxSIZE up to the bus width, W beats before their AW allowed,
in one of two timings (``model``):

- ``"axiram"`` (default): cocotbext-axi ``AxiRam``'s timing cycle for cycle (2-entry queues
  on every channel, one read and one write burst served at a time, in order; a read's
  first beat 2 cycles after its AR, a B 2 cycles after the last W), so without stalls the
  native and the cocotb backends count the same cycles.
- ``"queues"``: several bursts outstanding (``read_capacity`` reads, ``write_capacity``
  writes; ``w_buffer`` W beats); a read burst's first beat ``read_latency`` (>= 1) cycles
  after its AR handshake at the earliest (plus a seeded 0..``read_jitter``), then a beat
  per cycle; B ``write_latency`` (>= 1) cycles after the later of the AW and the last W.
  Read data in order per ID; between IDs oldest first, or with ``reorder`` a seeded
  random ready ID per beat (bursts of different IDs interleave: RID routing is exercised).

Both: seeded random stalls on all five channels with independent probabilities (AWREADY,
WREADY, ARREADY low; BVALID and RVALID held back): ``stall`` as one float for all five or
:class:`Stalls`. **Faults** (:class:`Fault`, ``lo``/``hi`` may be assumed 64-byte
aligned): a read beat whose bus word overlaps a fault range answers that response with zero
data; a write beat whose strobed bytes (the span from the first to the last strobed byte)
overlap a fault range writes nothing, and its burst's B answers the response; DECERR wins
over SLVERR, over OKAY. Bytes at or past the DRAM size behave as a DECERR range.

**Protocol monitor** (C++, independent of the design; the same rules as
:mod:`.axi_rules`, whose :data:`~.axi_rules.RULES` and :class:`~.axi_rules.Violation`
this module re-exports). Every case reports its violations (the first
``max_violations`` in full, all counted), per-ID AXI statistics (AR bursts, R beats, AW
bursts, W beats, strobed bytes, B responses, responses by kind) and, with
``log_bursts=True``, every accepted AR/AW as :class:`Burst`.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

from .axi_rules import RULES, Violation
from .native_build import NativeBuild
from .native_results import Burst, CaseResult, IdStats, StepResult, parse_case

__all__ = ["Stalls", "Fault", "DramSettings", "AxiLimits", "Write", "Read", "WaitIrq", "Poll",
           "WaitCycles", "DumpDram", "Poke", "SetWindow", "ClearWindow", "Case", "NativeJob",
           "StepResult", "IdStats", "Violation", "Burst", "CaseResult", "CaseResults", "HarnessError",
           "run_native", "RULES", "RESPONSES"]

#: AXI response codes by name.
RESPONSES = {"OKAY": 0, "EXOKAY": 1, "SLVERR": 2, "DECERR": 3}


class HarnessError(RuntimeError):
    """The harness executable failed (bad job, crash, wall-clock timeout)."""


# -- job --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stalls:
    """Per-cycle stall probabilities of the five channels (see the module docstring)."""

    aw: float = 0.0
    w: float = 0.0
    b: float = 0.0
    ar: float = 0.0
    r: float = 0.0

    @classmethod
    def all(cls, p: float) -> "Stalls":
        return cls(p, p, p, p, p)


@dataclass(frozen=True)
class Fault:
    """Bytes ``lo <= a < hi`` answer ``resp`` (``"SLVERR"`` or ``"DECERR"``)."""

    lo: int
    hi: int
    resp: str = "SLVERR"

    def __post_init__(self):
        if self.resp not in ("SLVERR", "DECERR"):
            raise ValueError(f"Fault.resp={self.resp!r}: allowed 'SLVERR' or 'DECERR'")
        if not 0 <= self.lo < self.hi:
            raise ValueError(f"Fault: need 0 <= lo < hi, got [{self.lo:#x}, {self.hi:#x})")


@dataclass(frozen=True)
class DramSettings:
    """The DRAM model of a case (see the module docstring); the latency, capacity,
    ``w_buffer``, ``read_jitter`` and ``reorder`` settings apply to ``model="queues"``."""

    model: str = "axiram"
    read_latency: int = 2
    write_latency: int = 2
    read_jitter: int = 0
    read_capacity: int = 16
    write_capacity: int = 16
    w_buffer: int = 16
    stall: Union[float, Stalls] = 0.0
    reorder: bool = False
    seed: int = 0
    faults: tuple = ()

    def __post_init__(self):
        if self.model not in ("axiram", "queues"):
            raise ValueError(f"DramSettings.model={self.model!r}: allowed 'axiram' or 'queues'")
        for name in ("read_latency", "write_latency", "read_capacity", "write_capacity", "w_buffer"):
            if getattr(self, name) < 1:
                raise ValueError(f"DramSettings.{name}={getattr(self, name)}: must be >= 1")
        for p in self.stalls.__dict__.values():
            if not 0.0 <= p < 1.0:
                raise ValueError(f"DramSettings.stall={self.stall!r}: probabilities must be in [0, 1)")

    @property
    def stalls(self) -> Stalls:
        return self.stall if isinstance(self.stall, Stalls) else Stalls.all(float(self.stall))


@dataclass(frozen=True)
class AxiLimits:
    """Bursts in flight the design declares, per ID (an ID not listed: unlimited)."""

    read: dict = field(default_factory=dict)
    write: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Write:
    offset: int
    value: int
    strobe: int = 0xF
    mark: bool = False


@dataclass(frozen=True)
class Read:
    offset: int


@dataclass(frozen=True)
class WaitIrq:
    timeout: int
    continue_on_timeout: bool = False


@dataclass(frozen=True)
class Poll:
    offset: int
    mask: int
    value: int
    timeout: int
    continue_on_timeout: bool = False


@dataclass(frozen=True)
class WaitCycles:
    n: int


@dataclass(frozen=True)
class DumpDram:
    lo: int = 0
    hi: int | None = None     # None: the DRAM's end


@dataclass(frozen=True)
class Poke:
    addr: int
    data: bytes


@dataclass(frozen=True)
class SetWindow:
    lo: int
    hi: int


@dataclass(frozen=True)
class ClearWindow:
    pass


@dataclass
class Case:
    """One reset-to-end run (see the module docstring). ``dram_size`` defaults to the
    image's length; the DRAM is zero past the image."""

    dram: bytes
    steps: list
    dram_size: int | None = None
    settings: DramSettings = field(default_factory=DramSettings)
    limits: AxiLimits = field(default_factory=AxiLimits)
    name: str = "case"
    fresh: bool = False
    reset_cycles: int = 3
    log_bursts: bool = False
    max_violations: int = 20
    stop_on_violation: bool = False
    axil_timeout: int = 10_000

    @property
    def size(self) -> int:
        return len(self.dram) if self.dram_size is None else self.dram_size


@dataclass
class NativeJob:
    cases: list = field(default_factory=list)

    def add(self, case: Case) -> int:
        self.cases.append(case)
        return len(self.cases) - 1

    def write(self, folder: Path) -> Path:
        """Write the job file and its blob into ``folder``; returns the job file."""
        blob = bytearray()

        def put(data: bytes) -> tuple[int, int]:
            at = len(blob)
            blob.extend(data)
            return at, len(data)

        lines = ["systolica-harness 1", f"blob {folder / 'blob.bin'}"]
        for k, c in enumerate(self.cases):
            lines += _case_lines(k, c, put)
        (folder / "blob.bin").write_bytes(bytes(blob))
        job = folder / "job.txt"
        job.write_text("\n".join(lines) + "\n")
        return job


def _case_lines(k: int, c: Case, put) -> list[str]:
    if len(c.dram) > c.size:
        raise ValueError(f"case {k} ({c.name}): image of {len(c.dram)} bytes > dram_size {c.size}")
    s, st = c.settings, c.settings.stalls
    off, n = put(bytes(c.dram))
    name = "".join(ch if ch.isalnum() or ch in "-_.:" else "_" for ch in c.name) or "case"
    out = [f"case {name}", f"fresh {int(c.fresh)}", f"reset {c.reset_cycles}", f"dram {c.size} {off} {n}",
           f"timing {s.model}",
           f"latency {s.read_latency} {s.write_latency} {s.read_jitter}",
           f"capacity {s.read_capacity} {s.write_capacity} {s.w_buffer}",
           f"stall {st.aw!r} {st.w!r} {st.b!r} {st.ar!r} {st.r!r}",
           f"reorder {int(s.reorder)}", f"seed {s.seed & (2**64 - 1)}",
           f"log_bursts {int(c.log_bursts)}", f"max_violations {c.max_violations}",
           f"stop_on_violation {int(c.stop_on_violation)}", f"axil_timeout {c.axil_timeout}"]
    out += [f"fault {f.lo} {f.hi} {RESPONSES[f.resp]}" for f in s.faults]
    out += [f"limit read {i} {n}" for i, n in c.limits.read.items()]
    out += [f"limit write {i} {n}" for i, n in c.limits.write.items()]
    for step in c.steps:
        out.append(_step_line(k, c, step, put))
    out.append("end")
    return out


def _step_line(k: int, c: Case, step, put) -> str:
    if isinstance(step, Write):
        return f"write {step.offset} {step.value & 0xFFFFFFFF} {step.strobe} {int(step.mark)}"
    if isinstance(step, Read):
        return f"read {step.offset}"
    if isinstance(step, WaitIrq):
        return f"wait_irq {step.timeout} {int(step.continue_on_timeout)}"
    if isinstance(step, Poll):
        return f"poll {step.offset} {step.mask} {step.value} {step.timeout} {int(step.continue_on_timeout)}"
    if isinstance(step, WaitCycles):
        return f"wait_cycles {step.n}"
    if isinstance(step, DumpDram):
        hi = c.size if step.hi is None else step.hi
        if not 0 <= step.lo <= hi <= c.size:
            raise ValueError(f"case {k}: DumpDram({step.lo:#x}, {hi:#x}) outside the DRAM of {c.size} bytes")
        return f"dump {step.lo} {hi}"
    if isinstance(step, Poke):
        if step.addr < 0 or step.addr + len(step.data) > c.size:
            raise ValueError(f"case {k}: Poke at {step.addr:#x} of {len(step.data)} bytes outside the DRAM")
        off, n = put(bytes(step.data))
        return f"poke {step.addr} {off} {n}"
    if isinstance(step, SetWindow):
        return f"window {step.lo} {step.hi}"
    if isinstance(step, ClearWindow):
        return "nowindow"
    raise TypeError(f"case {k}: not a host step: {step!r}")


class CaseResults(list):
    """The :class:`CaseResult` of every case, in order; ``total_cycles`` and ``wall_s``:
    the harness process's simulated cycles and seconds (model construction included)."""

    total_cycles: int = 0
    wall_s: float = 0.0


def run_native(build: NativeBuild, job: NativeJob, *, timeout_s: float | None = 3600.0,
               keep: Path | None = None) -> CaseResults:
    """Run every case of ``job`` in one harness process; raises :class:`HarnessError` if
    the executable fails or runs past ``timeout_s`` of wall clock. ``keep``: write the
    job, its blob and the outputs into that folder and leave them there (to rerun by
    hand: ``<build.executable> job.txt results.jsonl dumps.bin``)."""
    with tempfile.TemporaryDirectory(prefix="systolica-native-") as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        jobfile = job.write(folder)
        results, dumps = folder / "results.jsonl", folder / "dumps.bin"
        cmd = [str(build.executable), str(jobfile), str(results), str(dumps)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise HarnessError(f"native harness for {build.cfg.name}: no result within {timeout_s} s "
                               f"({_progress(results, len(job.cases))})") from None
        if p.returncode != 0:
            why = (f"killed by {signal.Signals(-p.returncode).name}" if p.returncode < 0
                   else f"exit status {p.returncode}")
            raise HarnessError(f"native harness for {build.cfg.name} failed: {why} "
                               f"({_progress(results, len(job.cases))})\n{p.stderr[-4000:]}")
        lines = [json.loads(x) for x in results.read_text().splitlines() if x.strip()]
        blob = dumps.read_bytes()
    cases, totals = lines[:-1], lines[-1]      # the last line holds the process's totals
    if len(cases) != len(job.cases):
        raise HarnessError(f"native harness returned {len(cases)} results for {len(job.cases)} cases")
    out = CaseResults(parse_case(c, blob) for c in cases)
    out.total_cycles, out.wall_s = totals["total_cycles"], totals["wall_s"]
    return out


def _progress(results: Path, n: int) -> str:
    done = len(results.read_text().splitlines()) if results.exists() else 0
    return f"{done} of {n} cases finished"
