"""The fetch unit's decoder (hw/command_check.py, Amaranth simulator) == the ISA checker
(:func:`systolica.model.isa.check_command`) on random command bits, legal and not (each
command held for the check's pipeline latency)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw.command_check import LATENCY, CommandCheck
from systolica.model.config import AcceleratorConfig
from systolica.model.isa import Status, check_command
from systolica.sim.commands import random_command

CONFIGS = [
    AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32),
    AcceleratorConfig(rows=3, cols=5, spad_rows=32, acc_rows=16, acc_bits=40, bus_bits=128,
                      dataflows=("ws",), addr_bits=40),
    AcceleratorConfig(rows=6, cols=2, spad_rows=128, acc_rows=64, acc_bits=16, dataflows=("os",)),
    # FP8: the FP8 lane word (fp8_lane_problem) and 8- and 16-byte partial-sum elements
    AcceleratorConfig(rows=2, cols=3, spad_rows=64, acc_rows=32, input_type="fp8_e4m3"),
    AcceleratorConfig(rows=3, cols=2, spad_rows=32, acc_rows=16, input_type="fp8_e4m3",
                      weight_type="fp8_e5m2", bus_bits=128),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name + "_" + c.config_hash()[:4])
def test_decoder_equals_isa_checker(cfg, seed):
    rng = np.random.default_rng(seed)
    dut = CommandCheck(cfg)
    width = len(dut.cmd.as_value())
    statuses = set()

    async def bench(ctx):
        for _ in range(800):
            lo = int(rng.integers(0, 1 << 12))
            window = (lo, lo + int(rng.integers(0, 1 << 12)))
            raw = random_command(rng, cfg, window)
            ctx.set(dut.cmd.as_value(), raw & ((1 << width) - 1))
            ctx.set(dut.window.lo, window[0])
            ctx.set(dut.window.hi, window[1])
            await ctx.tick().repeat(LATENCY)       # the check is pipelined
            want = check_command(cfg, raw, window)
            got = (Status(ctx.get(dut.status)), ctx.get(dut.dma_error))
            if want[0] is not Status.DMA:
                got = (got[0], want[1])          # dma_error only means something with DMA
            assert got == want, f"command {raw:#x} window {window}: RTL {got}, model {want}"
            statuses.add(want if want[0] is Status.DMA else want[0])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # the random commands reached every way of failing a check
    kinds = {s if isinstance(s, Status) else s[1].name for s in statuses}
    for need in (Status.OK, Status.ILLEGAL_OPCODE, Status.ILLEGAL_TOKENS, Status.COMPUTE_RANGE,
                 Status.BAD_REQUANT, "BAD_DESCRIPTOR", "ROW_RANGE", "WINDOW"):
        assert need in kinds, f"never produced {need}: {kinds}"
