"""cocotb bench: run one program on the whole accelerator, as a host would.

The job (``SYSTOLICA_JOB``, an ``.npz``) holds the initial DRAM image, the program's base,
length and the DRAM window. DRAM is a cocotbext-axi ``AxiRam`` on the ``axi`` port
(optionally with random stalls on every channel); the CSRs are written and read through
``AxiLiteMaster`` on ``axil``: window, program, doorbell, then the interrupt and STATUS.
The final DRAM image, the status and the performance counters go to ``SYSTOLICA_RESULT``
(``.npz``). The AXI protocol rules (:mod:`.axi_rules`, the native harness's monitor in
Python) watch both ports every cycle; any violation fails the run. This is the runtime's
``cocotb`` backend.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from ..model import csr
from .axi_rules import CocotbAxiChecker, watch
from .native_top import declared_limits
from .tb_common import CFG, start


def _pauses(rng: random.Random, p: float):
    while True:
        yield rng.random() < p


async def _write64(host: AxiLiteMaster, name: str, value: int) -> None:
    await host.write_dword(csr.offset(f"{name}_LO"), value & 0xFFFFFFFF)
    await host.write_dword(csr.offset(f"{name}_HI"), value >> 32)


async def _read64(host: AxiLiteMaster, name: str) -> int:
    lo = await host.read_dword(csr.offset(f"{name}_LO"))   # latches HI
    return lo | (await host.read_dword(csr.offset(f"{name}_HI"))) << 32


@cocotb.test()
async def run_job(dut):
    job = np.load(os.environ["SYSTOLICA_JOB"])
    image = job["dram"].tobytes()
    stall = float(job["stall"]) if "stall" in job else 0.0
    await start(dut, {})
    ram = AxiRam(AxiBus.from_prefix(dut, "axi", bus_separator="__"), dut.clk, dut.rst, size=len(image))
    ram.write(0, image)
    if stall:
        rng = random.Random(int(job["seed"]))
        for ch in (ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                   ram.read_if.ar_channel, ram.read_if.r_channel):
            ch.set_pause_generator(_pauses(rng, stall))
    host = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "axil", bus_separator="__"), dut.clk, dut.rst)
    # the protocol rules on both ports, every cycle (the native harness's rules, in Python)
    checker = CocotbAxiChecker(dut, CFG.bus_bytes, lite="axil", limits=declared_limits(CFG),
                               window=(int(job["window_lo"]), int(job["window_hi"])))
    cocotb.start_soon(watch(dut, checker))
    await ClockCycles(dut.clk, 2)

    await _write64(host, "WINDOW_LO", int(job["window_lo"]))
    await _write64(host, "WINDOW_HI", int(job["window_hi"]))
    await _write64(host, "PROGRAM_BASE", int(job["program_base"]))
    await host.write_dword(csr.offset("PROGRAM_LEN"), int(job["program_len"]))
    await host.write_dword(csr.offset("IRQ_ENABLE"), 1)
    await host.write_dword(csr.offset("CTRL"), csr.DOORBELL)
    limit = int(job["max_cycles"])
    for _ in range(limit):
        await RisingEdge(dut.clk)
        if dut.irq.value:
            break
    else:
        raise AssertionError(f"no interrupt within {limit} cycles")
    status = csr.decode_status(await host.read_dword(csr.offset("STATUS")))
    status["error_index"] = await host.read_dword(csr.offset("ERROR_INDEX"))
    counters = {name: await _read64(host, name.upper()) for name in csr.COUNTER_NAMES}
    await host.write_dword(csr.offset("IRQ_STATUS"), 1)           # W1C
    await ClockCycles(dut.clk, 2)
    assert not dut.irq.value, "IRQ_STATUS write did not clear the interrupt"
    problems = checker.take()
    assert not problems, "AXI protocol violations:\n" + "\n".join(problems)
    np.savez(os.environ["SYSTOLICA_RESULT"], dram=np.frombuffer(ram.read(0, len(image)), dtype=np.uint8),
             status=np.array(json.dumps({k: int(getattr(v, "value", v)) for k, v in status.items()})),
             counters=np.array(json.dumps(counters)))
