"""The ISA (one definition for encoder and decoder) and the instruction-level machine."""

import numpy as np
import pytest

from systolica.model import numerics
from systolica.model.config import AcceleratorConfig
from systolica.model.dma import DmaError, TensorDescriptor
from systolica.model.isa import COMMAND_BYTES, Command, IsaError, Opcode, decode, encode, encode_program
from systolica.model.machine import SCHEDULES, Status, run
from systolica.model.requant import lane_fields

CFG = AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32)
PROGRAM, A, W, OUT, END = 0x0, 0x1000, 0x2000, 0x3000, 0x4000


def _params():
    return numerics.RequantParams.for_layer("tflite", 0.05, [0.01, 0.02, 0.03, 0.04], 0.2, zero_point=-5,
                                            activation="relu")


def _gemm_program(a: np.ndarray, w: np.ndarray, params, tokens: bool = True) -> list[Command]:
    """C = requant(A @ W) for A (m, 4), W (4, 4): load A and W, one WS tile, requant, store."""
    m = a.shape[0]
    lanes = lane_fields(params, CFG.cols)
    return [
        Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(A, a.shape), "row": 0}),
        Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(W, w.shape), "row": 32}, push_next=tokens),
        Command(Opcode.COMPUTE, {"dataflow": "ws", "accumulate": 0, "a_row": 0, "b_row": 32,
                                 "c_row": 0, "count": m}, pop_prev=tokens, push_next=tokens),
        *[Command(Opcode.REQUANT, {"lane": j, "params": f}) for j, f in enumerate(lanes)],
        Command(Opcode.STORE, {"desc": TensorDescriptor.dense(OUT, (m, CFG.cols)), "row": 0, "target": "acc"},
                pop_prev=tokens),
    ]


def _image(a, w, program: bytes) -> bytearray:
    dram = bytearray(END)
    dram[PROGRAM:PROGRAM + len(program)] = program
    dram[A:A + a.size] = a.astype(np.int8).tobytes()
    dram[W:W + w.size] = w.astype(np.int8).tobytes()
    return dram


def _output(dram, m: int) -> np.ndarray:
    """The (m, cols) int8 result the program stored at ``OUT``."""
    return np.frombuffer(bytes(dram[OUT:OUT + m * CFG.cols]), dtype=np.int8).reshape(m, CFG.cols)


def test_every_opcode_round_trips():
    params = lane_fields(_params(), CFG.cols)[1]
    cmds = [Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(0x40, (3, 4), pad_value=-2), "row": 7},
                    push_next=True, pop_next=True),
            Command(Opcode.COMPUTE, {"dataflow": "os", "accumulate": 1, "a_row": 1,
                                     "b_row": 2, "c_row": 3, "count": 9}, pop_prev=True, push_prev=True),
            Command(Opcode.REQUANT, {"lane": None, "params": params}),
            Command(Opcode.END)]
    for cmd in cmds:
        raw = encode(CFG, cmd)
        assert len(raw) == COMMAND_BYTES
        d = decode(CFG, raw)
        assert d["header"]["opcode"] is cmd.opcode
        for bit in ("pop_prev", "pop_next", "push_prev", "push_next"):
            assert d["header"][bit] == int(getattr(cmd, bit))
    assert decode(CFG, encode(CFG, cmds[1]))["body"]["compute"]["count"] == 9
    assert decode(CFG, encode(CFG, cmds[2]))["body"]["requant"]["params"] == params


@pytest.mark.parametrize("cmd, needle", [
    (Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(0, (1,)), "row": 0}, pop_prev=True), "no previous"),
    (Command(Opcode.STORE, {"desc": TensorDescriptor.dense(0, (1,)), "row": 0}, push_next=True), "no next"),
    (Command(Opcode.END, push_next=True), "END carries no"),
])
def test_impossible_token_bits_do_not_encode(cmd, needle):
    with pytest.raises(IsaError, match=needle):
        encode(CFG, cmd)


@pytest.mark.parametrize("schedule", SCHEDULES)
def test_requantized_gemm_equals_reference(schedule, seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(10, 4))
    w = rng.integers(-128, 128, size=(4, 4))
    params = _params()
    dram = _image(a, w, encode_program(CFG, _gemm_program(a, w, params)))
    result = run(CFG, dram, PROGRAM, (0, END), schedule=schedule)
    assert result.status is Status.OK, result
    got = _output(dram, a.shape[0])
    want = numerics.requantize(a @ w, params)
    assert np.array_equal(got, want)
    assert result.counters.useful_macs == 4 * 4 * a.shape[0]
    assert result.counters.commands == {"load": 2, "execute": 1, "store": 5}


def test_missing_tokens_show_as_schedule_dependence(seed):
    """Without tokens the store may run before the compute: schedules disagree.

    Operands of at least 16 make every product sum at least 1,024, so every output is above
    the zero point that requantizing an empty accumulator gives (with signed operands a seed
    could give all-negative sums, and the two schedules agree on the ReLU's floor).
    """
    rng = np.random.default_rng(seed)
    a, w = rng.integers(16, 128, size=(6, 4)), rng.integers(16, 128, size=(4, 4))
    outs = {}
    for schedule in ("program", "store_first"):
        dram = _image(a, w, encode_program(CFG, _gemm_program(a, w, _params(), tokens=False)))
        assert run(CFG, dram, PROGRAM, (0, END), schedule=schedule).status is Status.OK
        outs[schedule] = _output(dram, a.shape[0])
    assert np.array_equal(outs["program"], numerics.requantize(a @ w, _params()))
    assert np.array_equal(outs["store_first"], numerics.requantize(np.zeros_like(a @ w), _params()))
    assert (outs["program"] != outs["store_first"]).all()


def test_bad_programs_report_status_and_index():
    a, w = np.ones((2, 4), dtype=np.int64), np.ones((4, 4), dtype=np.int64)
    prog = bytearray(encode_program(CFG, _gemm_program(a, w, _params())))
    prog[2 * COMMAND_BYTES] = 0x0F                                # opcode 15 at command 2
    r = run(CFG, _image(a, w, bytes(prog)), PROGRAM, (0, END))
    assert (r.status, r.index) == (Status.ILLEGAL_OPCODE, 2)

    cmds = _gemm_program(a, w, _params())
    cmds[0] = Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(END + 64, (2, 4)), "row": 0})
    dram = _image(a, w, encode_program(CFG, cmds))
    before = bytes(dram)
    r = run(CFG, dram, PROGRAM, (0, END))
    assert (r.status, r.index, r.dma_error) == (Status.DMA, 0, DmaError.WINDOW)
    assert bytes(dram) == before                                  # nothing written

    cmds = _gemm_program(a, w, _params())
    cmds[2] = Command(Opcode.COMPUTE, {"dataflow": "ws", "accumulate": 0, "a_row": 62,
                                       "b_row": 32, "c_row": 0, "count": 4}, pop_prev=True, push_next=True)
    r = run(CFG, _image(a, w, encode_program(CFG, cmds)), PROGRAM, (0, END))
    assert (r.status, r.index) == (Status.COMPUTE_RANGE, 2)

    cmds = _gemm_program(a, w, _params())
    cmds[2] = Command(Opcode.COMPUTE, {"dataflow": "ws", "accumulate": 0, "a_row": 0,
                                       "b_row": 32, "c_row": 0, "count": 2}, pop_prev=True, pop_next=True)
    r = run(CFG, _image(a, w, encode_program(CFG, cmds)), PROGRAM, (0, END))
    assert (r.status, r.index) == (Status.DEADLOCK, 2)

    requant = encode(CFG, Command(Opcode.REQUANT, {"lane": None, "params": lane_fields(_params(), 4)[0]}))
    r = run(CFG, _image(a, w, requant), PROGRAM, (0, COMMAND_BYTES))    # no END inside the window
    assert (r.status, r.index) == (Status.FETCH_WINDOW, 1)
