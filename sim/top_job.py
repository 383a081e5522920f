"""Host side of the whole-accelerator bench: run one program on the generated RTL.

:func:`run_program` builds (once, cached) the ``top`` unit of a configuration, hands the
DRAM image and the CSR values to :mod:`systolica.sim.tb_top` under Verilator and returns
the final DRAM image, the status and the performance counters -- the same things the
machine model returns, so the two can be compared bit for bit.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..model.config import AcceleratorConfig

__all__ = ["RtlRun", "run_program"]


@dataclass(frozen=True)
class RtlRun:
    dram: bytes
    status: dict      # busy, done, error, dma_error, error_index (ints)
    counters: dict    # name -> int (see systolica.model.csr.COUNTER_NAMES)


def run_program(cfg: AcceleratorConfig, dram: bytes, program_base: int, window: tuple[int, int], *,
                program_len: int | None = None, stall: float = 0.0, seed: int = 0,
                max_cycles: int = 1_000_000) -> RtlRun:
    """``program_len`` (the PROGRAM_LEN CSR) defaults to every command slot from
    ``program_base`` to the end of ``dram``: the program ends at its END."""
    from ..model.isa import COMMAND_BYTES
    from .runner import build, run_bench

    if program_len is None:
        program_len = (len(dram) - program_base) // COMMAND_BYTES
    b = build(cfg, "top")
    with tempfile.TemporaryDirectory(prefix="systolica-top-") as tmp:
        job, res = Path(tmp) / "job.npz", Path(tmp) / "result.npz"
        np.savez(job, dram=np.frombuffer(bytes(dram), dtype=np.uint8), program_base=program_base,
                 program_len=program_len, window_lo=window[0], window_hi=window[1], stall=stall,
                 seed=seed, max_cycles=max_cycles)
        run_bench(b, "systolica.sim.tb_top", env={"SYSTOLICA_JOB": str(job), "SYSTOLICA_RESULT": str(res)})
        out = np.load(res)
        return RtlRun(out["dram"].tobytes(), json.loads(str(out["status"])), json.loads(str(out["counters"])))
