"""The machine model as the contract for every program (model/machine.py's docstring):
precise fetch-time errors, queue depths and token capacity, PROGRAM_LEN/END/alignment,
COMPUTE and REQUANT limits as statuses (never exceptions), bus faults and aborts (the
hardware's choice of started commands, checked), and programs back to back."""

import numpy as np
import pytest

from systolica.model.bits import pack
from systolica.model.bus import Fault
from systolica.model.config import AcceleratorConfig
from systolica.model.dma import DmaError, TensorDescriptor
from systolica.model.isa import (COMMAND_BYTES, TOKEN_MAX, Command, Opcode, Status, command_layout,
                                 encode, encode_program)
from systolica.model.machine import Inadmissible, Machine, fetched, run
from systolica.model.requant import RESET_LANE

CFG = AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32, queue_depth=4)
DATA = 0x1000
SIZE = 0x4000
WINDOW = (0, SIZE)


def _load(addr=DATA, row=0, n=4, **tokens):
    return Command(Opcode.LOAD, {"desc": TensorDescriptor.dense(addr, (1, n)), "row": row}, **tokens)


def _store(addr, row=0, n=4, **tokens):
    return Command(Opcode.STORE, {"desc": TensorDescriptor.dense(addr, (1, n)), "row": row}, **tokens)


def _tile(**tokens):
    return Command(Opcode.COMPUTE, {"dataflow": "ws", "accumulate": 0, "a_row": 0, "b_row": 8,
                                    "c_row": 0, "count": 1}, **tokens)


def _image(program: bytes, base: int = 0) -> bytearray:
    dram = bytearray(np.random.default_rng(7).integers(0, 256, size=SIZE, dtype=np.uint8).tobytes())
    dram[base:base + len(program)] = program
    return dram


def _raw(cmd: Command) -> bytes:
    return encode(CFG, cmd)


def test_a_bad_command_stops_fetch_and_everything_before_it_runs():
    """Precise: the load and the store before the illegal command run, nothing after."""
    prog = encode_program(CFG, [_load(), _store(0x3000, push_next=False)])[:-COMMAND_BYTES]
    prog += bytes([0x0F]) + bytes(COMMAND_BYTES - 1) + _raw(_store(0x3100))
    dram = _image(prog)
    want = bytes(dram[DATA:DATA + 4])
    r = run(CFG, dram, 0, WINDOW)
    assert (r.status, r.index) == (Status.ILLEGAL_OPCODE, 2)
    assert bytes(dram[0x3000:0x3004]) == want                # the store before it ran
    assert r.counters.commands == {"load": 1, "execute": 0, "store": 1}


def test_queue_depth_decides_deadlock():
    """The first tile waits for the last load; between them six stores wait for tiles.
    With a store queue of 4 fetch blocks on the fifth store and never reaches the load:
    deadlock at the tile (index 0). A queue of 8 holds them all: OK."""
    k = 6
    cmds = ([_tile(pop_prev=True, push_next=True)] + [_store(0x3000 + 16 * i, pop_prev=True) for i in range(k)]
            + [_tile(push_next=True) for _ in range(k - 1)] + [_load(push_next=True)])
    for depth, status in ((4, Status.DEADLOCK), (8, Status.OK)):
        r = run(CFG.replace(queue_depth=depth), _image(encode_program(CFG, cmds)), 0, WINDOW)
        assert r.status is status, (depth, r)
        if status is Status.DEADLOCK:
            assert r.index == 0 and r.counters.commands == {"load": 0, "execute": 0, "store": 0}
    assert r.counters.commands == {"load": 1, "execute": k, "store": k}


def test_a_full_token_channel_makes_its_writer_wait():
    """TOKEN_MAX pushes without a pop fill the channel: the next pushing load waits, the
    load queue fills behind it, fetch never reaches the pops: deadlock. One fewer: OK."""
    for n, status in ((TOKEN_MAX + 1 + CFG.queue_depth + 1, Status.DEADLOCK), (TOKEN_MAX, Status.OK)):
        cmds = [_load(push_next=True) for _ in range(n)] + [_tile(pop_prev=True) for _ in range(n)]
        prog = encode_program(CFG, cmds)
        dram = bytearray(len(prog) + SIZE)
        dram[:len(prog)] = prog
        r = run(CFG, dram, 0, (0, len(dram)))
        assert r.status is status, (n, r)
        if status is Status.DEADLOCK:
            assert r.counters.commands["load"] == TOKEN_MAX and r.index == TOKEN_MAX


@pytest.mark.parametrize("base, length, window, want", [
    (0, 1, WINDOW, (Status.NO_END, 1)),                  # PROGRAM_LEN reached before END
    (0, 0, WINDOW, (Status.NO_END, 0)),
    (8, 10, WINDOW, (Status.PROGRAM_ALIGN, 0)),
    (0, 10, (0, 2 * COMMAND_BYTES), (Status.FETCH_WINDOW, 2)),
    (0, 10, (64, SIZE), (Status.FETCH_WINDOW, 0)),
])
def test_fetch_limits(base, length, window, want):
    prog = encode_program(CFG, [_tile(), _tile(), _tile()])
    r = run(CFG, _image(prog, base - base % 64), base, window, max_commands=length)
    assert (r.status, r.index) == want


def test_compute_count_and_requant_limits_are_statuses_not_exceptions():
    layout = command_layout(CFG)
    tile = {"dataflow": 0, "accumulate": 0, "a_row": 0, "b_row": 8, "c_row": 0, "count": 0}
    bad = [pack(layout, {"header": {"opcode": Opcode.COMPUTE}, "body": {"compute": tile}}),
           pack(layout, {"header": {"opcode": Opcode.COMPUTE},
                         "body": {"compute": dict(tile, count=1, rows_used=CFG.rows + 1)}})]
    for field, value in (("shift", 31), ("shift", -32), ("qmin", 100), ("zero_point", -129)):
        params = dict(RESET_LANE, **{field: value})
        if field == "qmin":
            params["qmax"] = 50
        bad.append(pack(layout, {"header": {"opcode": Opcode.REQUANT},
                                 "body": {"requant": {"all_lanes": 1, "lane": 0, "params": params}}}))
    nan = dict(RESET_LANE, scheme=1, scale=0x7FC00000)
    bad.append(pack(layout, {"header": {"opcode": Opcode.REQUANT},
                             "body": {"requant": {"all_lanes": 0, "lane": 1, "params": nan}}}))
    for raw in bad:
        prog = _raw(_load()) + raw.to_bytes(COMMAND_BYTES, "little")
        r = run(CFG, _image(prog), 0, WINDOW)
        assert r.index == 1 and r.status in (Status.COMPUTE_RANGE, Status.BAD_REQUANT), r
        assert r.counters.commands["load"] == 1


def test_programs_back_to_back_share_the_on_chip_state():
    """Program 1 loads the scratchpad; program 2 (no reset) stores it."""
    m = Machine(CFG)
    dram = _image(encode_program(CFG, [_load(row=5)]))
    assert m.run(dram, 0, WINDOW).status is Status.OK
    dram[0x800:0x880] = encode_program(CFG, [_store(0x3000, row=5)])
    assert m.run(dram, 0x800, WINDOW).status is Status.OK
    assert dram[0x3000:0x3004] == dram[DATA:DATA + 4]


def test_bus_faults_stop_the_world_and_the_machine_follows_the_hardware():
    """A load from a SLVERR block: zeros loaded, DMA/AXI_SLVERR at its index. Whether the
    unrelated store ran is the hardware's choice: both choices are admissible, others not."""
    fault = Fault(DATA, DATA + 64, DmaError.AXI_SLVERR)
    cmds = [_store(0x3000, row=9), _load(row=2), _store(0x3100, row=2)]
    prog = encode_program(CFG, cmds)
    r = run(CFG, _image(prog), 0, WINDOW, faults=[fault])
    assert (r.status, r.index, r.dma_error) == (Status.DMA, 1, DmaError.AXI_SLVERR)
    assert not r.exact
    for stores in (0, 1):
        dram = _image(prog)
        m = Machine(CFG)
        r = m.run(dram, 0, WINDOW, faults=[fault], started={"load": 1, "execute": 0, "store": stores})
        assert r.exact and (r.status, r.index) == (Status.DMA, 1)
        assert not m.spad[2].any()                                   # the faulted bytes read as 0
    with pytest.raises(Inadmissible):                               # the store after needs the load...
        Machine(CFG).run(_image(prog), 0, WINDOW, faults=[fault], started={"load": 1, "execute": 0, "store": 3})


def test_fetched_lists_the_commands_fetch_hands_over():
    prog = encode_program(CFG, [_load(), _tile(), _store(0x3000)])
    cmds, stop = fetched(CFG, _image(prog), 0, WINDOW)
    assert [c["header"]["opcode"] for _, c in cmds] == [Opcode.LOAD, Opcode.COMPUTE, Opcode.STORE]
    assert stop == (3, Status.OK, DmaError.OK)
