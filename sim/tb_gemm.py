"""cocotb bench: run one GEMM job on the array and write results and cycle counts.

The job is an ``.npz`` named by ``SYSTOLICA_JOB`` with ``a``, ``b`` and ``dataflows``
(a comma string); results go to ``SYSTOLICA_RESULT`` (``.npz``): for each dataflow the
assembled ``C`` and its cycle statistics. The bench itself also asserts RTL == golden.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np

from ..model import array as golden
from ..model.config import AcceleratorConfig
from .array_driver import ArrayDriver

CFG = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])


def split_results(plan: golden.GemmPlan, got: list) -> list[np.ndarray]:
    """Cut the result stream back into per-tile blocks in C's orientation."""
    results, pos = [], 0
    for t in plan.tiles:
        rows = t.a.shape[0] if isinstance(t, golden.WsTile) else CFG.rows
        block = np.array([v.c for v in got[pos:pos + rows]], dtype=object if CFG.is_float else np.int64)
        results.append(block[::-1] if isinstance(t, golden.OsTile) else block)
        pos += rows
    return results


@cocotb.test()
async def run_gemm_job(dut):
    job = np.load(os.environ["SYSTOLICA_JOB"])
    a, b = job["a"], job["b"]
    out = {}
    for flow in str(job["dataflows"]).split(","):
        plan = golden.plan_gemm(CFG, a, b, flow)
        want = golden.expected_outputs(CFG, plan.tiles)
        drv = ArrayDriver(dut, CFG)
        await drv.start()
        got, st = await drv.run(plan.tiles, len(want))
        assert got == want, f"{flow}: RTL result stream differs from the golden model"
        out[f"c_{flow}"] = golden.assemble(CFG, plan, split_results(plan, got))
        out[f"stats_{flow}"] = np.array(json.dumps({
            "cycles": st.cycles, "data_beats": st.data_beats, "tiles": len(plan.tiles),
            "data_span": st.last_data_cycle - st.first_data_cycle + 1,
            "data_stall_cycles": st.data_stall_cycles, "useful_macs": plan.useful_macs,
        }))
    np.savez(os.environ["SYSTOLICA_RESULT"], **out)
