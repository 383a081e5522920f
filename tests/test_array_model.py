"""The golden array model: tiling is invisible, wraparound is modular, shapes are checked."""

import numpy as np
import pytest

from systolica.model import array as golden
from systolica.model.config import AcceleratorConfig


@pytest.mark.parametrize("rows, cols, acc_bits", [(1, 1, 32), (2, 3, 32), (4, 4, 16), (8, 8, 20), (16, 4, 64)])
def test_tiled_gemm_equals_direct_wrapped_product(rows, cols, acc_bits, seed):
    cfg = AcceleratorConfig(rows=rows, cols=cols, acc_bits=acc_bits)
    rng = np.random.default_rng(seed)
    for _ in range(5):
        m, k, n = rng.integers(1, 40, size=3)
        a = rng.integers(-128, 128, size=(m, k))
        b = rng.integers(-128, 128, size=(k, n))
        exact = [[sum(int(a[i, t]) * int(b[t, j]) for t in range(k)) for j in range(n)] for i in range(m)]
        half, mod = 1 << (acc_bits - 1), 1 << acc_bits
        want = np.array([[((v + half) % mod) - half for v in row] for row in exact], dtype=np.int64)
        for flow in cfg.dataflows:
            assert np.array_equal(golden.gemm(cfg, a, b, flow), want), (flow, m, k, n)


def test_wrap_is_twos_complement():
    assert golden.wrap(np.array([32767, 32768, -32769, 65536 + 5]), 16).tolist() == [32767, -32768, 32767, 5]
    assert golden.wrap(np.array([2**31]), 32).tolist() == [-(2**31)]


def test_os_outputs_drain_bottom_row_first():
    cfg = AcceleratorConfig(rows=3, cols=2)
    a = np.arange(6).reshape(3, 2) - 3
    b = np.arange(4).reshape(2, 2) - 1
    outs = golden.expected_outputs(cfg, [golden.OsTile(a, b)])
    assert [o.c for o in outs] == [tuple(r) for r in (a @ b)[::-1].tolist()]
    assert [o.last for o in outs] == [False, False, True]
    assert {o.dataflow for o in outs} == {golden.Dataflow.OS}


def test_bad_operands_are_rejected():
    cfg = AcceleratorConfig(rows=2, cols=2)
    with pytest.raises(ValueError, match="outside int8 range"):
        golden.ws_tile(cfg, np.full((1, 2), 128), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="does not match"):
        golden.ws_tile(cfg, np.zeros((1, 3)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="do not chain"):
        golden.plan_gemm(cfg, np.zeros((2, 3)), np.zeros((4, 2)), "ws")
    with pytest.raises(ValueError, match="not in this configuration"):
        golden.plan_gemm(cfg.replace(dataflows=("ws",)), np.zeros((2, 3)), np.zeros((3, 2)), "os")
