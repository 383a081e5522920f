"""The whole board top under Verilator, driven only through its UART byte by byte by the
runtime's ``board`` backend: host -> bridge -> CSRs and DRAM -> result, bit-exact against
the golden machine on a compiled program; bad frames get one error reply each.
"""

import numpy as np

from layer_cases import random_linear_image
from systolica.model.config import AcceleratorConfig
from systolica.model.machine import Status, run
from systolica.sim.board_job import check_bad_frames, run_on_board

# small memories keep the Verilator build short; the RAM holds the image
CFG = AcceleratorConfig(rows=4, cols=4, spad_rows=256, acc_rows=64, board_dram_bytes=8192)


def test_compiled_layer_on_the_board_equals_the_machine(seed):
    rng = np.random.default_rng(seed)
    m, k, n = (int(v) for v in rng.integers(3, 14, size=3))
    image, base, window = random_linear_image(CFG, rng, m, k, n)
    golden = bytearray(image)
    result = run(CFG, golden, base, window)
    assert result.status is Status.OK
    out = run_on_board(CFG, image, base, window)
    assert out.status["error"] == Status.OK.value, out.status
    bad = np.flatnonzero(np.frombuffer(out.dram, np.uint8) != np.frombuffer(bytes(golden), np.uint8))
    assert not bad.size, f"{bad.size} DRAM bytes differ, first at {bad[0]:#x}"
    assert out.dram != image, "the program wrote nothing"
    c = result.counters
    for name in ("useful_macs", "dma_bytes_loaded", "dma_bytes_stored"):
        assert out.counters[name] == getattr(c, name), (name, out.counters, c)
    assert out.counters["commands"] == sum(c.commands.values())


def test_bad_frames_on_the_board_get_error_replies():
    check_bad_frames(CFG)
