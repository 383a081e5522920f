"""The random-program fuzzer: machine model == RTL on legal and illegal programs.

Each case (:mod:`.fuzz_cases`) runs on the generated accelerator in the native harness
(:mod:`.native`: DRAM model with stalls and faults, AXI protocol monitor) and on the golden
machine (:mod:`systolica.model.machine`), program after program without reset. After each
program the fuzzer compares the whole DRAM image, STATUS (error and DMA code), ERROR_INDEX
and every counter the machine predicts; ``cycles`` must equal the harness's own count from
the doorbell to the interrupt (less the fixed CSR latency, :data:`IRQ_LATENCY`), and the
busy counters must cover the beats the monitor counted. Where a bus error or an abort ends
a program, the machine replays the hardware's per-queue command counts and checks they are
a possible outcome (:class:`~systolica.model.machine.Inadmissible` otherwise). Any
protocol violation or a missing interrupt fails the case.

A failure shrinks (:func:`shrink`) to a smaller case and prints one replay line::

    systolica fuzz --replay 'C3:K17:Plegal/4,bad/2:S0:F0:R0'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..model import csr
from ..model.bus import Fault as ModelFault
from ..model.dma import DmaError
from ..model.isa import Status
from ..model.machine import Inadmissible, Machine
from .fuzz_cases import CaseSpec, FuzzCase, build_case, case_spec, smaller

__all__ = ["IRQ_LATENCY", "Mismatch", "FuzzTotals", "check_case", "run_fuzz", "shrink", "replay"]

#: Cycles between the doorbell write's handshake and the interrupt that the ``cycles``
#: counter does not count: the CSR applies the write (1) and registers the doorbell pulse
#: (1), run control latches the program (1), the start cycle clears the counters (1); at
#: the end, done sets IRQ_STATUS (1).
IRQ_LATENCY = 5
_RESP = {DmaError.AXI_SLVERR: "SLVERR", DmaError.AXI_DECERR: "DECERR"}
_TIMEOUT = 2_000_000


@dataclass
class Mismatch:
    spec: CaseSpec
    program: int
    what: str

    def __str__(self) -> str:
        return f"program {self.program}: {self.what}"


@dataclass
class FuzzTotals:
    cases: int = 0
    programs: int = 0
    configs: set = field(default_factory=set)
    statuses: dict = field(default_factory=dict)
    cycles: int = 0
    mismatches: list = field(default_factory=list)
    seconds: dict = field(default_factory=lambda: {"generate": 0.0, "harness": 0.0, "machine": 0.0})


def _steps(case: FuzzCase) -> list:
    from .native import DumpDram, WaitCycles, Write
    from .native_top import program_steps

    steps = []
    for p in case.programs:
        s = program_steps(p.base, p.length, p.window, max_cycles=_TIMEOUT)
        if p.abort_after is not None:      # the host gives up after a while
            at = next(i for i, x in enumerate(s) if isinstance(x, Write) and x.mark) + 1
            s[at:at] = [WaitCycles(p.abort_after), Write(csr.offset("CTRL"), csr.ABORT)]
        steps.append(s + [DumpDram()])
    return steps


def native_case(case: FuzzCase):
    """The harness case of a fuzz case, and each program's step count."""
    from .native import Case, DramSettings, Fault, Stalls
    from .native_top import declared_limits

    steps = _steps(case)
    stall = case.spec.stall
    settings = DramSettings(stall=Stalls(stall, stall, stall / 2, stall, stall) if stall else 0.0,
                            seed=case.spec.case_seed, reorder=case.spec.reorder, model="queues",
                            read_latency=1 + case.spec.case_seed % 4,
                            faults=tuple(Fault(f.lo, f.hi, _RESP[f.resp]) for f in case.faults))
    flat = [x for s in steps for x in s]
    return Case(case.dram, flat, settings=settings, limits=declared_limits(case.cfg), fresh=True,
                name=str(case.spec), stop_on_violation=True), [len(s) for s in steps]


def check_case(case: FuzzCase, result, lengths: list[int], totals: FuzzTotals | None = None) -> list[Mismatch]:
    """Compare one harness result with the machine, program by program."""
    from .native_top import read_back

    out = []
    if result.violation_count:
        return [Mismatch(case.spec, -1, f"AXI protocol: {result.report()}")]
    if result.ended != "ok":
        return [Mismatch(case.spec, -1, f"the harness case ended: {result.ended}")]
    machine = Machine(case.cfg)
    dram = bytearray(case.dram)
    faults = tuple(ModelFault(f.lo, f.hi, f.resp) for f in case.faults)
    at, stored = 0, 0
    for k, (p, n) in enumerate(zip(case.programs, lengths)):
        steps = result.steps[at:at + n]
        at += n
        rb = read_back(steps[:-1])
        hw_dram = steps[-1].data
        if rb.timer is None:
            out.append(Mismatch(case.spec, k, f"no interrupt within {_TIMEOUT} cycles ({p.what})"))
            break
        status = Status(rb.status["error"])
        started = {q: rb.counters[name] for q, name in csr.QUEUE_COMMANDS.items()}
        try:
            want = _predict(machine, dram, p, faults, status, started)
        except Inadmissible as e:
            out.append(Mismatch(case.spec, k, f"{p.what}: the hardware's outcome is impossible: {e}"))
            break
        problems = _compare(want, rb, status, hw_dram, bytes(dram), p.abort_after is not None)
        if totals is not None:
            totals.programs += 1
            totals.statuses[status.name] = totals.statuses.get(status.name, 0) + 1
            totals.cycles += rb.counters["cycles"]
        if problems:
            out.append(Mismatch(case.spec, k, f"{p.what}: " + "; ".join(problems)))
            break
        stored += rb.counters["dma_bytes_stored"]
    else:   # the monitor's own count of the bytes the stores' strobes enabled
        strobed = result.stats[0].wstrb_bytes if 0 in result.stats else 0
        if stored != strobed:
            out.append(Mismatch(case.spec, -1, f"dma_bytes_stored {stored} != W strobe bytes {strobed}"))
    return out


def _predict(machine: Machine, dram: bytearray, p, faults, hw_status: Status, started: dict):
    """The machine's result for one program, following the hardware's choice where the
    contract leaves one (a bus error or an abort); ``machine`` and ``dram`` advance."""
    state = (machine.spad.copy(), machine.acc.copy(), [dict(x) for x in machine.lanes], bytes(dram))
    first = machine.run(dram, p.base, p.window, program_len=p.length, faults=faults)
    if first.exact and hw_status is not Status.ABORTED:
        return first
    machine.spad[:], machine.acc[:], machine.lanes = state[0], state[1], state[2]
    dram[:] = state[3]
    return machine.run(dram, p.base, p.window, program_len=p.length, faults=faults, started=started,
                       aborted=hw_status is Status.ABORTED)


def _compare(want, rb, status: Status, hw_dram: bytes, golden: bytes, aborting: bool) -> list[str]:
    """The differences; ``aborting``: the host wrote CTRL.abort during the wait, so the
    harness's timer may start its wait after the interrupt (no cycle check)."""
    problems = []
    got_err = (status, rb.status["error_index"] if status is not Status.OK else None,
               DmaError(rb.status["dma_error"]) if status is Status.DMA else DmaError.OK)
    want_err = (want.status, want.index, want.dma_error if want.status is Status.DMA else DmaError.OK)
    if got_err != want_err:
        problems.append(f"status RTL {got_err} != machine {want_err}")
    c = rb.counters
    for name, value in (("useful_macs", want.counters.useful_macs),
                        ("dma_bytes_loaded", want.counters.dma_bytes_loaded),
                        ("dma_bytes_stored", want.counters.dma_bytes_stored),
                        *((csr.QUEUE_COMMANDS[q], v) for q, v in want.counters.commands.items())):
        if c[name] != value:
            problems.append(f"{name} RTL {c[name]} != machine {value}")
    if not aborting and c["cycles"] != rb.timer - IRQ_LATENCY:
        problems.append(f"cycles {c['cycles']} != harness count {rb.timer} - {IRQ_LATENCY}")
    for name, count in rb.activity.items():           # the harness counted the activity itself
        if c[name] != count:
            problems.append(f"{name} {c[name]} != the harness's count {count}")
    for q in ("load", "exec", "store"):
        if c[f"{q}_busy"] + c[f"{q}_stall"] > c["cycles"]:
            problems.append(f"{q}_busy + {q}_stall > cycles")
    if c["exec_busy"] < want.counters.array_beats:    # a data beat per cycle at most
        problems.append(f"exec_busy {c['exec_busy']} < array beats {want.counters.array_beats}")
    if hw_dram != golden:
        bad = next(i for i, (a, b) in enumerate(zip(hw_dram, golden)) if a != b)
        diff = sum(a != b for a, b in zip(hw_dram, golden))
        problems.append(f"DRAM: {diff} bytes differ, first at {bad:#x} (RTL {hw_dram[bad]:#04x}, "
                        f"machine {golden[bad]:#04x})")
    return problems


def run_cases(specs: list[CaseSpec], totals: FuzzTotals | None = None, cfg=None) -> list[Mismatch]:
    """Run cases of one configuration in one harness process (``cfg``: instead of the
    random configuration of the specs' seed)."""
    from .native import NativeJob, run_native
    from .native_build import build_native

    t0 = time.perf_counter()
    cases = [build_case(s, cfg) for s in specs]
    cfg = cases[0].cfg
    assert all(c.cfg == cfg for c in cases), "one configuration per batch"
    job, lengths = NativeJob(), []
    for c in cases:
        nc, n = native_case(c)
        job.add(nc)
        lengths.append(n)
    build = build_native(cfg)
    t1 = time.perf_counter()
    results = run_native(build, job)
    t2 = time.perf_counter()
    out = []
    for c, r, n in zip(cases, results, lengths):
        out += check_case(c, r, n, totals)
        if totals is not None:
            totals.cases += 1
            totals.configs.add(cfg.name + "/" + cfg.config_hash()[:6])
    if totals is not None:
        for what, seconds in (("generate", t1 - t0), ("harness", t2 - t1), ("machine", time.perf_counter() - t2)):
            totals.seconds[what] += seconds
    return out


def shrink(m: Mismatch, budget: int = 60, cfg=None) -> Mismatch:
    """The smallest failing case found by trying :func:`~.fuzz_cases.smaller` steps."""
    best = m
    for _ in range(budget):
        for candidate in smaller(best.spec):
            found = run_cases([candidate], cfg=cfg)
            if found:
                best = found[0]
                break
        else:
            return best
    return best


def replay(text: str, cfg=None) -> list[Mismatch]:
    return run_cases([CaseSpec.parse(text)], cfg=cfg)


def run_fuzz(n: int, seed: int, configs: int = 6, batch: int = 50, progress=None,
             stop_after: int = 3, cfg=None, fp8: bool = False) -> FuzzTotals:
    """At least ``n`` programs over ``configs`` configurations (seeds ``seed..``; ``fp8``:
    their FP8 variants, :func:`~.fuzz_cases.fuzz_config`), or all on ``cfg``."""
    totals = FuzzTotals()
    case_seed = seed * 1_000_003
    t0 = time.perf_counter()
    k = 0
    while totals.programs < n and len(totals.mismatches) < stop_after:
        cfg_seed = seed + k % configs if cfg is None else 0
        specs = [case_spec(cfg_seed, case_seed + i, fp8 and cfg is None) for i in range(batch)]
        case_seed += batch
        k += 1
        found = run_cases(specs, totals, cfg)
        totals.mismatches += [shrink(m, cfg=cfg) for m in found[:stop_after]]
        if progress:
            progress(totals, time.perf_counter() - t0)
    return totals
