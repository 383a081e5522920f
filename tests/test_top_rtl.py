"""The whole accelerator under Verilator == the machine model, on the whole DRAM image.

Programs compiled by the driver (a GEMM layer, the digits MLP and CNN) and bad programs run
on the generated ``top`` unit -- DRAM as a cocotbext-axi ``AxiRam`` (optionally with
random stalls on every channel), CSRs through ``AxiLiteMaster`` -- and on the golden
machine: the final DRAM images, the status (error code, failing command) and the
performance counters the machine also counts must be equal.
"""

import numpy as np
import pytest

from layer_cases import random_linear_image
from systolica.driver.models import digits_models
from systolica.driver.runtime import Accelerator
from systolica.demo import demo_config
from systolica.model.csr import QUEUE_COMMANDS
from systolica.model.dma import TensorDescriptor
from systolica.model.isa import COMMAND_BYTES, Command, Opcode, encode_program
from systolica.model.machine import Status, run
from systolica.sim.top_job import run_program

CFG = demo_config()   # the demo's accelerator: one build serves both


def _both(cfg, image: bytes, program_base: int, window, **rtl):
    """Run on the machine and on the RTL; return (machine result, machine image, rtl run)."""
    golden = bytearray(image)
    result = run(cfg, golden, program_base, window)
    out = run_program(cfg, image, program_base, window, **rtl)
    return result, bytes(golden), out


def _assert_same(result, golden: bytes, out) -> None:
    assert out.status["error"] == result.status.value, (out.status, result)
    if result.status is not Status.OK:
        assert out.status["error_index"] == result.index, (out.status, result)
        assert out.status["dma_error"] == result.dma_error.value, (out.status, result)
    bad = np.flatnonzero(np.frombuffer(out.dram, np.uint8) != np.frombuffer(golden, np.uint8))
    assert not bad.size, f"{bad.size} DRAM bytes differ, first at {bad[0]:#x}"
    c = result.counters
    for name in ("useful_macs", "dma_bytes_loaded", "dma_bytes_stored"):
        assert out.counters[name] == getattr(c, name), (name, out.counters, c)
    for queue, name in QUEUE_COMMANDS.items():
        assert out.counters[name] == c.commands[queue], (name, out.counters, c)


def _gemm(cfg, rng, m: int, k: int, n: int):
    """A compiled requantized GEMM layer and its DRAM image."""
    return random_linear_image(cfg, rng, m, k, n)


@pytest.mark.parametrize("stall", [0.0, 0.3])
def test_gemm_layer_rtl_equals_machine(stall, seed):
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in rng.integers(3, 3 * 8, size=3))
    image, base, window = _gemm(CFG, rng, m, k, n)
    _assert_same(*_both(CFG, image, base, window, stall=stall, seed=seed))


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_digits_model_rtl_equals_golden(model):
    demo = digits_models()[model]
    x = demo.test[0][:2 if model == "mlp" else 1]
    golden, rtl = Accelerator(CFG, "golden"), Accelerator(CFG, "rtl")
    want, gstats = golden.run_network(demo.quantized_net, x)
    got, rstats = rtl.run_network(demo.quantized_net, x)
    assert np.array_equal(got, want)
    assert (rstats.useful_macs, rstats.dma_bytes_loaded, rstats.dma_bytes_stored) == \
        (gstats.useful_macs, gstats.dma_bytes_loaded, gstats.dma_bytes_stored)


def _replace_program(image: bytes, base: int, cmds: list[Command]) -> bytes:
    program = encode_program(CFG, cmds)
    out = bytearray(image)
    out[base:base + len(program)] = program
    return bytes(out)


def test_bad_programs_fail_alike(seed):
    """An illegal opcode, a DMA outside the window, a tile beyond the accumulator and a
    deadlock: same status, same failing command, same DRAM image on both."""
    rng = np.random.default_rng(seed)
    image, base, window = _gemm(CFG, rng, 5, 9, 6)
    bad = bytearray(image)
    bad[base + 3 * COMMAND_BYTES] = 0x0E                         # opcode 14 at command 3
    _assert_same(*_both(CFG, bytes(bad), base, window))

    load = Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(0, (2, 8)), "row": 0}, push_next=True)
    tile = {"dataflow": "ws", "accumulate": 0, "a_row": 0, "b_row": 8, "c_row": 0, "count": 2}
    cases = {
        Status.DMA: [Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(window[1] + 256, (2, 8)), "row": 0})],
        Status.COMPUTE_RANGE: [load, Command(Opcode.COMPUTE, {**tile, "c_row": CFG.acc_rows - 1}, pop_prev=True)],
        Status.DEADLOCK: [load, Command(Opcode.COMPUTE, tile, pop_prev=True, pop_next=True)],
    }
    for status, cmds in cases.items():
        result, golden, out = _both(CFG, _replace_program(image, base, cmds), base, window)
        assert result.status is status, result
        _assert_same(result, golden, out)
