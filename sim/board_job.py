"""Host side of the board-top bench: run one program on the simulated board through its UART.

:func:`run_on_board` builds (once, cached) the ``board`` unit of a configuration and runs
:mod:`systolica.sim.tb_board` under Verilator: the runtime's ``board`` backend drives the
UART byte by byte. It returns the final DRAM image, status and counters, like
:func:`systolica.sim.top_job.run_program`; :func:`check_bad_frames` runs the bench's
bad-frame test.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..model.config import AcceleratorConfig

__all__ = ["BoardRun", "run_on_board", "check_bad_frames", "SIM_DIVISOR"]

#: Clock cycles per UART bit in simulation (a board runs ``clock / baud``).
SIM_DIVISOR = 8


@dataclass(frozen=True)
class BoardRun:
    dram: bytes
    status: dict      # error, index, dma_error (ints; index None when OK)
    counters: dict    # useful_macs, dma_bytes_loaded, dma_bytes_stored, cycles, commands


def _env() -> dict:
    return {"SYSTOLICA_UART_DIVISOR": str(SIM_DIVISOR)}


def run_on_board(cfg: AcceleratorConfig, dram: bytes, program_base: int, window: tuple[int, int]) -> BoardRun:
    from .runner import build, run_bench

    b = build(cfg, "board")
    with tempfile.TemporaryDirectory(prefix="systolica-board-") as tmp:
        job, res = Path(tmp) / "job.npz", Path(tmp) / "result.npz"
        np.savez(job, dram=np.frombuffer(bytes(dram), dtype=np.uint8), program_base=program_base,
                 window_lo=window[0], window_hi=window[1])
        run_bench(b, "systolica.sim.tb_board", testcase="run_job",
                  env={**_env(), "SYSTOLICA_JOB": str(job), "SYSTOLICA_RESULT": str(res)})
        out = np.load(res)
        return BoardRun(out["dram"].tobytes(), json.loads(str(out["status"])), json.loads(str(out["counters"])))


def check_bad_frames(cfg: AcceleratorConfig) -> None:
    from .runner import build, run_bench

    run_bench(build(cfg, "board"), "systolica.sim.tb_board", testcase="bad_frames_get_one_error_reply", env=_env())
