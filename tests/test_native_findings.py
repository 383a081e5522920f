"""Defects of the first controller found with the native harness and its protocol monitor,
kept as regression tests (they failed on the controller before it was split into
components; each guards its fix).

Each builds a compiled linear layer (runtime.linear_image), breaks one command, runs it in
the harness with random stalls, then -- without reset -- the intact program; the golden
machine says what both programs must leave behind.
"""

import numpy as np

from layer_cases import random_linear_image
from systolica.demo import demo_config
from systolica.model.dma import TensorDescriptor
from systolica.model.isa import COMMAND_BYTES, Command, Opcode, encode
from systolica.model.machine import Status, run
from systolica.sim.native import Case, DramSettings, DumpDram, NativeJob, Poke, Stalls, run_native
from systolica.sim.native_build import build_native
from systolica.sim.native_top import declared_limits, program_steps, read_back

CFG = demo_config()


def _broken(seed: int, kind: str):
    """(intact image, broken image, base, window, commands): one random command index of
    the layer's program replaced by a LOAD/STORE outside the window or a COMPUTE tile past
    the accumulator."""
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in rng.integers(3, 30, size=3))
    image, base, window = random_linear_image(CFG, rng, m, k, n)
    commands = (len(image) - base) // COMMAND_BYTES
    at = base + int(rng.integers(1, commands - 1)) * COMMAND_BYTES
    outside = TensorDescriptor.dense(window[1] + 256, (2, 8))
    bad = {"load": Command(Opcode.LOAD, {"desc": outside, "row": 0}),
           "store": Command(Opcode.STORE, {"desc": outside, "row": 0}),
           "compute": Command(Opcode.COMPUTE, {"dataflow": "ws", "accumulate": 0, "a_row": 0, "b_row": 8,
                                               "c_row": CFG.acc_rows - 1, "count": 2})}[kind]
    broken = bytearray(image)
    broken[at:at + COMMAND_BYTES] = encode(CFG, bad)
    return image, bytes(broken), base, window, commands


def _failed_then_intact(seed: int, kind: str, stalls: Stalls, model: str):
    """Run the broken program, then the intact one on what it left; returns the two
    read-backs, the final DRAM, the machine's two results and its final image."""
    image, broken, base, window, commands = _broken(seed, kind)
    after_bad = bytearray(broken)
    first = run(CFG, after_bad, base, window)
    golden = bytearray(after_bad)
    golden[base:] = image[base:]
    second = run(CFG, golden, base, window)
    steps = (program_steps(base, commands, window, max_cycles=100_000) + [Poke(base, image[base:])]
             + program_steps(base, commands, window, max_cycles=100_000) + [DumpDram()])
    case = Case(broken, steps, settings=DramSettings(model=model, stall=stalls, seed=seed),
                limits=declared_limits(CFG), fresh=True)
    (res,) = run_native(build_native(CFG), NativeJob([case]))
    n = len(program_steps(base, commands, window))
    return (read_back(res.steps[:n]), read_back(res.steps[n + 1:2 * n + 1]), res.dumps[0], res,
            first, second, bytes(golden))


def test_fetch_holds_arvalid_until_arready_when_an_error_stops_it():
    """A LOAD outside the window fails while the fetch offers the next command's AR and
    ARREADY is low: AXI forbids withdrawing ARVALID (the monitor's AR_STABLE; the first
    controller dropped it)."""
    good = Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(0, (2, 8)), "row": 0})
    bad = Command(Opcode.LOAD, {"desc": TensorDescriptor.dense((1 << 16) + 256, (2, 8)), "row": 0})
    from systolica.model.isa import encode_program
    program = encode_program(CFG, [good, bad] + [good] * 20)
    image = bytearray(1 << 16)
    image[0x8000:0x8000 + len(program)] = program
    case = Case(bytes(image), program_steps(0x8000, 23, (0, 1 << 16), max_cycles=20_000),
                settings=DramSettings(model="queues", stall=Stalls(aw=0.2, w=0.2, b=0.3, ar=0.75, r=0.3),
                                      seed=11, reorder=True), limits=declared_limits(CFG), fresh=True)
    (res,) = run_native(build_native(CFG), NativeJob([case]))
    assert res.violation_count == 0, res.report()


def test_next_program_after_a_compute_error_starts_clean():
    """After a COMPUTE tile past the accumulator fails, the intact program must run clean
    (the first controller left the failed program's queued commands to run in the next:
    it failed with the first program's COMPUTE_RANGE at the same index)."""
    a, b, dram, res, first, second, golden = _failed_then_intact(2035, "compute", Stalls.all(0.3), "axiram")
    assert a.status["error"] == first.status.value
    assert (b.status["error"], b.timer is not None, dram == golden) == (second.status.value, True, True), b.status


def test_next_program_after_a_load_error_finishes():
    """After a LOAD outside the window fails, the intact program must finish (irq) with
    the machine's image (the first controller reported DEADLOCK and stayed busy: a hang only
    reset cleared)."""
    a, b, dram, res, first, second, golden = _failed_then_intact(2041, "load", Stalls(0.3, 0.2, 0.4, 0.5, 0.1),
                                                                 "queues")
    assert a.status["error"] == first.status.value
    assert (b.status["error"], b.timer is not None, dram == golden) == (second.status.value, True, True), b.status


def _programs(*programs, stall: float = 0.3, seed: int = 5):
    """Run several (image patch, base, window, PROGRAM_LEN) programs one after another
    without reset on one DRAM image; returns each program's read-back and the final DRAM."""
    image = bytearray(1 << 16)
    steps = []
    for patch, base, window, length in programs:
        steps += [Poke(base, patch)] + program_steps(base, length, window, max_cycles=50_000)
    steps.append(DumpDram())
    case = Case(bytes(image), steps, settings=DramSettings(model="queues", stall=Stalls.all(stall), seed=seed),
                limits=declared_limits(CFG), fresh=True)
    (res,) = run_native(build_native(CFG), NativeJob([case]))
    assert res.violation_count == 0, res.report()
    out, at = [], 0
    for patch, base, window, length in programs:
        n = len(program_steps(base, length, window)) + 1
        out.append(read_back(res.steps[at + 1:at + n]))
        at += n
    return out, res.dumps[0]


def test_a_tile_of_count_zero_is_an_error_not_a_hang():
    """A WS COMPUTE with count 0 waited forever for results that never come (the first
    controller handed it to the execute unit): now the fetch unit rejects it
    (COMPUTE_RANGE at its index), the load before it runs, and the next program is clean."""
    from systolica.model.bits import pack
    from systolica.model.isa import command_layout, encode_program

    load = Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(0x8000, (2, 8)), "row": 0})
    zero = pack(command_layout(CFG), {"header": {"opcode": Opcode.COMPUTE},
                                      "body": {"compute": {"dataflow": 0, "a_row": 0, "b_row": 8, "c_row": 0,
                                                           "count": 0}}})
    bad = encode(CFG, load) + zero.to_bytes(COMMAND_BYTES, "little")
    good = encode_program(CFG, [load, Command(Opcode.STORE, {"desc": TensorDescriptor.dense(0x9000, (2, 8)),
                                                             "row": 0})])
    (a, b), dram = _programs((bad, 0x1000, (0, 1 << 16), 10), (good, 0x2000, (0, 1 << 16), 10))
    assert (a.status["error"], a.status["error_index"]) == (Status.COMPUTE_RANGE.value, 1)
    assert a.counters["load_commands"] == 1 and a.counters["exec_commands"] == 0
    assert b.status["error"] == Status.OK.value and b.counters["store_commands"] == 1


def test_a_command_a_deadlocked_fetch_held_does_not_run_in_the_next_program():
    """Found by the fuzzer in the first cut of the new controller: a program deadlocks with
    the store queue full and the fetch unit holding one more STORE; that STORE slipped into
    the flushed queue and ran in the next program. Now nothing moves between programs."""
    from systolica.model.isa import encode_program

    stores = [Command(Opcode.STORE, {"desc": TensorDescriptor.dense(0x9000 + 64 * i, (1, 8)), "row": 0},
                      pop_prev=True) for i in range(CFG.queue_depth + 2)]
    deadlock = encode_program(CFG, stores)
    nothing = encode_program(CFG, [])
    (a, b), dram = _programs((deadlock, 0x1000, (0, 1 << 16), 100), (nothing, 0x2000, (0, 1 << 16), 10))
    assert (a.status["error"], a.status["error_index"]) == (Status.DEADLOCK.value, 0)
    assert b.status["error"] == Status.OK.value and b.counters["store_commands"] == 0
    assert dram[0x9000:0x9000 + 64 * len(stores)] == bytes(64 * len(stores))    # no store ran


def test_an_unaligned_program_base_is_refused_before_any_read():
    """PROGRAM_BASE 8 bytes below a 4 KiB boundary: the first controller issued a 64-byte
    fetch burst across the boundary (AR_4K); now PROGRAM_ALIGN at index 0, no read."""
    from systolica.model.isa import encode_program

    program = encode_program(CFG, [])
    (a,), _ = _programs((program, 0x1000 - 8, (0, 1 << 16), 10))
    assert (a.status["error"], a.status["error_index"]) == (Status.PROGRAM_ALIGN.value, 0)
