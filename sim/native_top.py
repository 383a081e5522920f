"""A program on the whole accelerator in the native harness, as a host runs it.

:func:`program_steps` is the host's sequence for one program, built from
:mod:`systolica.model.csr` (the harness knows no register map): window, program base and
length, IRQ_ENABLE, a marked doorbell write to CTRL, the interrupt, STATUS, ERROR_INDEX,
every counter (LO then HI), IRQ_STATUS cleared (W1C). :func:`run_program_native` runs one
program on a fresh model and returns the same shape as :func:`.top_job.run_program` (the
cocotb path) plus the harness's cycle timer and the protocol monitor's report.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..model import csr
from ..model.config import AcceleratorConfig
from .native import (AxiLimits, Case, CaseResult, DramSettings, DumpDram, Fault, NativeJob, Read,
                     SetWindow, WaitCycles, WaitIrq, Write, run_native)
from .native_build import build_native
from .top_job import RtlRun

__all__ = ["NativeRun", "NativeRunFailed", "declared_limits", "program_steps", "read_back",
           "run_program_native"]


def declared_limits(cfg: AcceleratorConfig) -> AxiLimits:
    """Bursts in flight the design declares: the DMA load engine (ARID 0)
    ``dma_load.OUTSTANDING_BURSTS``, the command fetch (ARID ``FETCH_ID``)
    ``fetch.FETCH_OUTSTANDING``, the DMA store engine (AWID 0) ``dma_store.OUTSTANDING_WRITES``
    awaiting their B."""
    from ..hw import dma_load, dma_store
    from ..hw.fetch import FETCH_ID, FETCH_OUTSTANDING

    return AxiLimits(read={0: dma_load.OUTSTANDING_BURSTS, FETCH_ID: FETCH_OUTSTANDING},
                     write={0: dma_store.OUTSTANDING_WRITES})


def _write64(name: str, value: int) -> list:
    return [Write(csr.offset(f"{name}_LO"), value & 0xFFFFFFFF), Write(csr.offset(f"{name}_HI"), value >> 32)]


def program_steps(program_base: int, program_len: int, window: tuple[int, int], *,
                  max_cycles: int = 1_000_000) -> list:
    """Host steps of one program (see the module docstring); the results are decoded by
    :func:`read_back`."""
    steps = [SetWindow(*window), *_write64("WINDOW_LO", window[0]), *_write64("WINDOW_HI", window[1]),
             *_write64("PROGRAM_BASE", program_base), Write(csr.offset("PROGRAM_LEN"), program_len),
             Write(csr.offset("IRQ_ENABLE"), 1), Write(csr.offset("CTRL"), csr.DOORBELL, mark=True),
             WaitIrq(max_cycles, continue_on_timeout=True),
             Read(csr.offset("STATUS")), Read(csr.offset("ERROR_INDEX"))]
    for name in csr.COUNTER_NAMES:
        steps += [Read(csr.offset(csr.counter_register(name, "LO"))),
                  Read(csr.offset(csr.counter_register(name, "HI")))]
    steps += [Write(csr.offset("IRQ_STATUS"), 1), WaitCycles(2)]
    return steps


@dataclass(frozen=True)
class ProgramReadBack:
    status: dict          # busy, done, error, dma_error, error_index (ints)
    counters: dict        # name -> int
    timer: int | None     # cycles from the doorbell's handshake to irq (None: no irq)
    irq_cleared: bool     # irq low two cycles after the IRQ_STATUS write
    activity: dict | None = None   # the harness's own count of cycles/busy/stall


def read_back(steps: list) -> ProgramReadBack:
    """Decode the step results of one :func:`program_steps` sequence (``steps``: that
    sequence's :class:`~.native.StepResult` objects, from its SetWindow on)."""
    wait = next(s for s in steps if s.op == "wait_irq")
    reads = [s.value for s in steps if s.op == "read"]
    status = {k: int(getattr(v, "value", v)) for k, v in csr.decode_status(reads[0]).items()}
    status["error_index"] = reads[1]
    counters = {name: reads[2 + 2 * k] | reads[3 + 2 * k] << 32 for k, name in enumerate(csr.COUNTER_NAMES)}
    return ProgramReadBack(status, counters, wait.timer, not steps[-1].irq, _activity(wait.activity))


def _activity(bits) -> dict | None:
    """The harness's own count of the top's ``activity`` bits, by counter name."""
    if bits is None:
        return None
    from ..hw.perf_counters import QUEUE_PREFIX, activity_layout
    from ..hw.run_control import QUEUES

    layout = activity_layout()
    out = {"cycles": bits[layout["running"].offset]}
    for what in ("busy", "stall"):
        for k, q in enumerate(QUEUES):
            out[f"{QUEUE_PREFIX[q]}_{what}"] = bits[layout[what].offset + k]
    return out


@dataclass(frozen=True)
class NativeRun(RtlRun):
    """:class:`.top_job.RtlRun` (``dram``, ``status``, ``counters``) plus ``timer`` (cycles
    from the doorbell write's handshake to the first cycle of ``irq``) and ``result``
    (the whole :class:`~.native.CaseResult`: monitor report, AXI statistics, bursts)."""

    timer: int | None
    result: CaseResult


class NativeRunFailed(AssertionError):
    """No interrupt within ``max_cycles``, a protocol violation, or a hung register
    access; ``run`` holds what was read back (when the case got that far)."""

    def __init__(self, message: str, run: NativeRun | None):
        super().__init__(message)
        self.run = run


def run_program_native(cfg: AcceleratorConfig, dram: bytes, program_base: int, window: tuple[int, int], *,
                       program_len: int | None = None, stall: float = 0.0, seed: int = 0,
                       faults: tuple = (), max_cycles: int = 20_000_000,
                       settings: DramSettings | None = None, limits: AxiLimits | None = None,
                       log_bursts: bool = False, check: bool = True) -> NativeRun:
    """Run one program on ``cfg``'s accelerator in the native harness (built once, cached).

    ``program_len`` defaults to every command slot from ``program_base`` to the end of
    ``dram``. ``max_cycles`` (default 20 million, a few minutes of simulation) bounds the
    wait for the interrupt: a whole batch of the demo models takes over a million cycles. ``stall``/``seed``/``faults`` configure the DRAM model unless ``settings``
    is given; ``limits`` default to :func:`declared_limits`. With ``check`` (default) a
    missing interrupt, a hung register access or any protocol violation raises
    :class:`NativeRunFailed`.
    """
    from ..model.isa import COMMAND_BYTES

    if program_len is None:
        program_len = (len(dram) - program_base) // COMMAND_BYTES
    if settings is None:
        settings = DramSettings(stall=stall, seed=seed, faults=tuple(f if isinstance(f, Fault) else Fault(*f)
                                                                    for f in faults))
    steps = program_steps(program_base, program_len, window, max_cycles=max_cycles) + [DumpDram()]
    case = Case(bytes(dram), steps, settings=settings, limits=limits or declared_limits(cfg), fresh=True,
                log_bursts=log_bursts, name="program")
    job = NativeJob([case])
    (res,) = run_native(build_native(cfg), job)
    run = None
    if res.ended in ("ok", "timeout"):
        rb = read_back(res.steps[:-1])
        run = NativeRun(res.dumps[0], rb.status, rb.counters, rb.timer, res)
    if check:
        if res.ended != "ok":
            raise NativeRunFailed(f"native run of {cfg.name} ended: {res.ended}\n{res.report()}", run)
        if run.timer is None:
            raise NativeRunFailed(f"no interrupt within {max_cycles} cycles (status {run.status})", run)
        if res.violation_count:
            raise NativeRunFailed(f"AXI protocol violations ({res.violation_count}):\n{res.report()}", run)
        if not read_back(res.steps[:-1]).irq_cleared:
            raise NativeRunFailed("IRQ_STATUS write did not clear the interrupt", run)
    return run
