"""The whole accelerator in the Verilator-native harness (no Python per cycle) equals the
golden machine and the cocotb bench: whole DRAM image, status and counters, with and without
random stalls (both DRAM timings), with bus errors injected, and with several programs and
cases per process -- the AXI protocol monitor clean throughout."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from layer_cases import random_linear_image
from systolica.demo import demo_config
from systolica.driver.runtime import linear_image
from systolica.model.csr import QUEUE_COMMANDS
from systolica.model.dma import DmaError
from systolica.model.isa import COMMAND_BYTES, Opcode, decode
from systolica.model.machine import Status, run
from systolica.model.numerics import RequantParams
from systolica.sim.native import (Case, DramSettings, DumpDram, Fault, HarnessError, NativeJob, Poke,
                                  Stalls, WaitCycles, WaitIrq, run_native)
from systolica.sim.native_build import build_native
from systolica.sim.native_top import declared_limits, program_steps, read_back, run_program_native
from systolica.sim.top_job import run_program

CFG = demo_config()   # the demo's accelerator: its builds serve the demo and the other tests too
#: Counters whose value depends on the DRAM's timing.
TIMING = ("cycles", "load_busy", "exec_busy", "store_busy", "load_stall", "exec_stall", "store_stall")


def _gemm(rng, m: int = 0, k: int = 0, n: int = 0):
    """A compiled requantized linear layer (random sizes unless given) and its DRAM image."""
    m, k, n = (v or int(rng.integers(3, 3 * 8)) for v in (m, k, n))
    return random_linear_image(CFG, rng, m, k, n)


def _golden(image: bytes, base: int, window):
    dram = bytearray(image)
    return run(CFG, dram, base, window), bytes(dram)


def _assert_machine(out, result, golden: bytes) -> None:
    """Status, failing command, DMA error, the whole image and the machine's counters."""
    assert out.status["error"] == result.status.value, (out.status, result)
    if result.status is not Status.OK:
        assert (out.status["error_index"], out.status["dma_error"]) == (result.index, result.dma_error.value)
    bad = np.flatnonzero(np.frombuffer(out.dram, np.uint8) != np.frombuffer(golden, np.uint8))
    assert not bad.size, f"{bad.size} DRAM bytes differ, first at {bad[0]:#x}"
    c = result.counters
    for name in ("useful_macs", "dma_bytes_loaded", "dma_bytes_stored"):
        assert out.counters[name] == getattr(c, name), name
    for queue, name in QUEUE_COMMANDS.items():
        assert out.counters[name] == c.commands[queue], name


def test_native_equals_machine_and_cocotb_cycle_for_cycle(seed):
    """No stalls, AxiRam timing: the machine's image/status/counters, and the cocotb bench's
    image, status and every counter -- cycles, busy and stall included."""
    rng = np.random.default_rng(seed)
    image, base, window = _gemm(rng)
    result, golden = _golden(image, base, window)
    out = run_program_native(CFG, image, base, window)
    _assert_machine(out, result, golden)
    ref = run_program(CFG, image, base, window)
    assert (out.dram, out.status, out.counters) == (ref.dram, ref.status, ref.counters)
    # the harness's own cycle count: doorbell handshake to irq
    assert out.counters["cycles"] <= out.timer <= out.counters["cycles"] + 8, (out.timer, out.counters)
    assert not out.result.violations


@pytest.mark.parametrize("settings", [
    DramSettings(stall=0.3),
    DramSettings(model="queues", stall=Stalls(aw=0.2, w=0.4, b=0.5, ar=0.3, r=0.4), reorder=True,
                 read_jitter=6, read_latency=3, write_latency=5),
], ids=["axiram-stalls", "queues-reorder-stalls"])
def test_native_with_stalls_equals_machine_and_cocotb(settings, seed):
    """Random stalls on all five channels (and reordered, interleaved read data): the
    machine's image/status/counters; the cocotb bench with its own stalls gives the same
    image, status and every counter except the timing ones."""
    rng = np.random.default_rng(seed)
    image, base, window = _gemm(rng)
    result, golden = _golden(image, base, window)
    out = run_program_native(CFG, image, base, window, settings=DramSettings(**{**settings.__dict__, "seed": seed}))
    _assert_machine(out, result, golden)
    ref = run_program(CFG, image, base, window, stall=0.3, seed=seed)
    assert (out.dram, out.status) == (ref.dram, ref.status)
    assert {k: v for k, v in out.counters.items() if k not in TIMING} == \
        {k: v for k, v in ref.counters.items() if k not in TIMING}


def _command_at(image: bytes, base: int, index: int) -> Opcode:
    at = base + index * COMMAND_BYTES
    return decode(CFG, image[at:at + COMMAND_BYTES])["header"]["opcode"]


def test_bus_errors_reach_status_and_monitor_stays_clean(seed):
    """A SLVERR range over the input (a load) and a DECERR range over the output (a store):
    STATUS reports DMA with AXI_SLVERR / AXI_DECERR at a load / store command, the R / B
    responses are counted, the DECERR range is not written, and no protocol rule breaks."""
    rng = np.random.default_rng(seed)
    image, base, window = _gemm(rng, m=9, k=12, n=10)
    result, golden = _golden(image, base, window)
    assert result.status is Status.OK
    written = np.flatnonzero(np.frombuffer(golden, np.uint8) != np.frombuffer(image, np.uint8))
    out_block = int(written[0]) // 64 * 64                          # the first output block
    cases = [(Fault(0, 64, "SLVERR"), DmaError.AXI_SLVERR, Opcode.LOAD),      # x is at address 0
             (Fault(out_block, out_block + 64, "DECERR"), DmaError.AXI_DECERR, Opcode.STORE)]
    for fault, dma_error, opcode in cases:
        out = run_program_native(CFG, image, base, window, faults=(fault,), seed=seed)
        assert out.status["error"] == Status.DMA.value, out.status
        assert out.status["dma_error"] == dma_error.value, out.status
        assert _command_at(image, base, out.status["error_index"]) is opcode
        stats = out.result.stats[0]
        resp = stats.r_resp if opcode is Opcode.LOAD else stats.b_resp
        assert resp[2 if fault.resp == "SLVERR" else 3] > 0, stats
        assert out.dram[fault.lo:fault.hi] == image[fault.lo:fault.hi]
        assert out.result.violation_count == 0, out.result.report()


def test_several_programs_and_cases_in_one_process(seed):
    """One process: a case running two programs back to back without reset (the second
    after new inputs were poked into DRAM), then a case on the same model (no fresh
    build) -- every image and status equals the machine's."""
    rng = np.random.default_rng(seed)
    image, base, window = _gemm(rng, m=6, k=10, n=7)
    x2 = rng.integers(-128, 128, size=60).astype(np.int8).tobytes()     # m x k = 60 input bytes
    plen = (len(image) - base) // COMMAND_BYTES
    steps = program_steps(base, plen, window) + [DumpDram(), Poke(0, x2)] + program_steps(base, plen, window) \
        + [DumpDram()]
    limits = declared_limits(CFG)
    job = NativeJob([Case(image, steps, limits=limits, fresh=True, name="two-programs"),
                     Case(image, program_steps(base, plen, window) + [DumpDram()], limits=limits,
                          settings=DramSettings(model="queues", stall=0.2, reorder=True, seed=seed))])
    first, second = run_native(build_native(CFG), job)
    assert first.ok and second.ok, first.report() + second.report()
    result, golden = _golden(image, base, window)
    again = bytearray(golden)
    again[:len(x2)] = x2
    result2, golden2 = _golden(bytes(again), base, window)
    n = len(program_steps(base, plen, window))
    for steps_of, dump, (res, want) in ((first.steps[:n], first.dumps[0], (result, golden)),
                                        (first.steps[n + 2:2 * n + 2], first.dumps[1], (result2, golden2)),
                                        (second.steps[:n], second.dumps[0], (result, golden))):
        rb = read_back(steps_of)
        assert rb.status["error"] == res.status.value and rb.irq_cleared and rb.timer is not None
        assert dump == want


def test_reset_in_the_middle_of_a_program(seed):
    """Programs cut off by a reset at random cycles (data in flight in the array; the PEs'
    data registers have no reset, hw/pe.py), each followed, on the same model, by the reset
    and another program: its image, status and counters equal those of the same program on
    a fresh model, and the machine's."""
    rng = np.random.default_rng(seed)
    image, base, window = _gemm(rng, m=16, k=20, n=12)
    other, obase, owindow = _gemm(rng, m=20, k=16, n=16)
    steps = program_steps(base, (len(image) - base) // COMMAND_BYTES, window) + [DumpDram()]
    limits = declared_limits(CFG)
    (clean,) = run_native(build_native(CFG), NativeJob([Case(image, steps, limits=limits, fresh=True)]))
    ostart = program_steps(obase, (len(other) - obase) // COMMAND_BYTES, owindow)
    ostart = ostart[:next(i for i, s in enumerate(ostart) if isinstance(s, WaitIrq))]
    cuts = sorted(int(c) for c in rng.integers(20, read_back(clean.steps[:-1]).timer, size=8))
    print(f"resets {cuts} cycles after the first program's doorbell")
    cases = [Case(other, ostart, limits=limits, fresh=True, name="start")]
    for cut in cuts:
        cases += [Case(other, ostart + [WaitCycles(cut)], limits=limits, name=f"cut-{cut}"),
                  Case(image, steps, limits=limits, name=f"after-{cut}")]
    results = run_native(build_native(CFG), NativeJob(cases))
    result, golden = _golden(image, base, window)
    rb_clean = read_back(clean.steps[:-1])
    assert result.status is Status.OK and clean.dumps[0] == golden
    for cut, after in zip(cuts, results[2::2]):
        # The design's reset is synchronous and harness_top registers rst: in cycles 0 and
        # 1 of a case its registers still hold the cut program's state, so a VALID may be
        # high there, and the monitor, which treats a case's first cycles as reset, flags
        # it (RESET_VALID). Any other violation, or one later, fails.
        assert after.ended == "ok", after.report()
        assert all(v.rule == "RESET_VALID" and v.cycle <= 1 for v in after.violations), after.report()
        assert after.violation_count == len(after.violations), after.report()
        rb = read_back(after.steps[:-1])
        assert rb.status["error"] == Status.OK.value, (cut, rb.status)
        assert after.dumps[0] == golden, f"reset {cut} cycles into the other program: DRAM != golden"
        assert rb.counters == rb_clean.counters and rb.timer == rb_clean.timer, cut


def test_harness_failures_are_clear_errors(tmp_path):
    """A harness that fails or crashes raises HarnessError naming how; a bad step or
    setting fails in Python before anything runs."""
    b = build_native(CFG)
    job = NativeJob([Case(b"\0" * 64, [DumpDram()])])
    crash = tmp_path / "crash.sh"
    crash.write_text("#!/bin/sh\necho boom >&2\nkill -SEGV $$\n")
    crash.chmod(0o755)
    for exe, why in ((Path("/bin/false"), "exit status 1"), (crash, "killed by SIGSEGV.*boom")):
        with pytest.raises(HarnessError, match=f"(?s)failed: {why}"):
            run_native(dataclasses.replace(b, executable=exe), job)
    with pytest.raises(ValueError, match="DumpDram"):
        run_native(b, NativeJob([Case(b"\0" * 64, [DumpDram(0, 128)])]))
    with pytest.raises(ValueError, match="model="):
        DramSettings(model="fast")
    with pytest.raises(ValueError, match="read_latency=0"):
        DramSettings(read_latency=0)


@pytest.mark.parametrize("fields", [
    dict(rows=4, cols=4, bus_bits=256, addr_bits=40, spad_rows=128, acc_rows=64),
    pytest.param(dict(rows=4, cols=5, bus_bits=32, spad_rows=128, acc_rows=64), marks=pytest.mark.slow),
    pytest.param(dict(rows=3, cols=4, bus_bits=512, addr_bits=64, spad_rows=128, acc_rows=64),
                 marks=pytest.mark.slow),
], ids=lambda f: "-".join(f"{k}{v}" for k, v in f.items()))
def test_other_bus_and_address_widths(fields, seed):
    """Wide (VlWide) and narrow data ports, 64-bit addresses: == the machine with stalls and
    reordered reads, monitor clean."""
    from systolica.model.config import AcceleratorConfig

    cfg = AcceleratorConfig(**fields)
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in rng.integers(3, 20, size=3))
    w = rng.integers(-128, 128, size=(k, n)).astype(np.int8)
    x = rng.integers(-128, 128, size=(m, k)).astype(np.int8)
    params = RequantParams.for_layer("tflite", 0.02, np.full(n, 0.01, np.float32), 0.5)
    image, base, window = linear_image(cfg, x, w, None, params)
    dram = bytearray(image)
    result = run(cfg, dram, base, window)
    for settings in (DramSettings(stall=0.25, seed=seed),
                     DramSettings(model="queues", stall=0.25, reorder=True, read_jitter=3, seed=seed)):
        out = run_program_native(cfg, image, base, window, settings=settings)
        assert out.status["error"] == result.status.value and out.dram == bytes(dram)
        assert out.counters["useful_macs"] == result.counters.useful_macs


def test_extra_verilator_flags_reach_the_command_and_the_cache_key(monkeypatch):
    """SYSTOLICA_NATIVE_VERILATOR_FLAGS adds options to the Verilator command line, so to
    the build's cache key; unset, the command is the default one."""
    from systolica.sim.native_build import HARNESS_TOP, _verilator_command, native_source_hash

    monkeypatch.delenv("SYSTOLICA_NATIVE_VERILATOR_FLAGS", raising=False)
    plain, key = _verilator_command(CFG, HARNESS_TOP, 2), native_source_hash(CFG)
    assert "--threads" not in plain
    monkeypatch.setenv("SYSTOLICA_NATIVE_VERILATOR_FLAGS", "--threads 2")
    cmd = _verilator_command(CFG, HARNESS_TOP, 2)
    assert cmd[cmd.index("--threads") + 1] == "2" and cmd[-4:] == plain[-4:]
    assert native_source_hash(CFG) != key
