"""``hw/requant_unit.py``'s :class:`RequantUnit` handshakes in Amaranth's simulator: parameter
writes offered at random times while accumulator vectors stream in with random gaps and
the consumer applies random backpressure. Every output vector equals
:func:`systolica.model.requant.requant_lanes` of its input with the parameters of the
writes taken in earlier cycles (one taken in the vector's own cycle comes after it), in
order, and everything offered is taken and handed out, also while vectors come back to
back. Three mutants are caught: one that applies a write while vectors are in the lanes
(they would meet old and new parameters), one whose waiting write does not hold off the
vectors (a stream starves it), and one whose ``acc.ready`` register gives a credit too
many."""

from __future__ import annotations

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw import requant, requant_unit
from systolica.model.config import AcceleratorConfig
from systolica.model.numerics import SHIFT_RANGE, RequantParams
from systolica.model.requant import RESET_LANE, lane_fields, requant_lanes

from source_mutants import mutated

CFG = AcceleratorConfig(rows=2, cols=2)
VECTORS = 120
WRITES = 30


def test_writes_and_vectors_meet_in_any_order(seed):
    assert _run(requant_unit.RequantUnit, seed) == []


def test_a_write_offered_with_a_vector_comes_after_it(seed):
    """Sparse vectors (the lanes empty between them), each offered with a write."""
    assert _run(requant_unit.RequantUnit, seed, offer_both=True, acc_rate=0.05) == []


def test_a_stream_does_not_starve_writes(seed):
    """Vectors offered back to back with no backpressure: each write still gets in."""
    assert _run(requant_unit.RequantUnit, seed, acc_rate=1.0, ready_rate=1.0) == []


def test_unheld_stream_mutant_is_caught(seed):
    changed = mutated("systolica.hw.requant_unit", "acc_ready.eq(owed_ok_next & ~pending_next)",
                      "acc_ready.eq(owed_ok_next)")
    with pytest.raises(AssertionError, match="stuck"):
        _run(changed.RequantUnit, seed, acc_rate=1.0, ready_rate=1.0)


@pytest.mark.parametrize("mutant", ["~pending_next)", "~pending_next | empty)"])
def test_write_ready_register_mutant_is_caught(seed, mutant):
    """``param.ready``'s register (no write pending or the lanes empty, from their next
    values) made from one of them alone, or from today's ``empty``: a write waits forever
    or overwrites the one still pending."""
    changed = mutated("systolica.hw.requant_unit", "~pending_next | empty_next)", mutant)
    # (a lost write needs a write taken with a vector while another is pending: some
    # stimuli have none, so five in a row from the seed, at least one catching it)
    for k in range(5):
        try:
            problems = _run(changed.RequantUnit, seed + k, acc_rate=0.7, ready_rate=0.6)
        except AssertionError as e:
            problems = [str(e)]
        if problems:
            print(f"mutant {mutant!r} caught with seed {seed + k}: {problems[0][:120]}")
            return
    raise AssertionError(f"mutant {mutant!r} survived seeds {seed} .. {seed + 4}")


def test_credit_register_mutant_is_caught(seed):
    """``acc.ready``'s register misses a vector that takes the last credit: one more is
    taken than the output queue holds (the queue drops or the count wraps)."""
    changed = mutated("systolica.hw.requant_unit", "Mux(up, owed != OUT_QUEUE - 1,", "Mux(up, 1,")
    with pytest.raises(AssertionError):
        assert _run(changed.RequantUnit, seed, acc_rate=1.0, ready_rate=0.2) == []


def test_write_applied_beside_vectors_mutant_is_caught(seed):
    changed = mutated("systolica.hw.requant_unit", "apply.eq(pending_valid & empty)", "apply.eq(pending_valid)")
    assert _run(changed.RequantUnit, seed) != []


def _stimulus(rng):
    lo, hi = -(1 << (CFG.acc_bits - 1)), (1 << (CFG.acc_bits - 1)) - 1
    vectors = [[int(v) for v in rng.integers(lo, hi, size=CFG.cols, endpoint=True)] for _ in range(VECTORS)]
    writes = []
    for _ in range(WRITES):
        zp = int(rng.integers(-20, 21))
        qmin, qmax = int(rng.integers(-128, zp + 1)), int(rng.integers(zp, 128))
        if rng.random() < 0.5:
            params = RequantParams("tflite", zp, "int8", multiplier=int(rng.integers(1 << 30, 1 << 31)),
                                   shift=int(rng.integers(SHIFT_RANGE[0], SHIFT_RANGE[1] + 1)), qmin=qmin, qmax=qmax)
        else:
            params = RequantParams("onnx", zp, "int8", scale=float(np.float32(2.0 ** rng.uniform(-30, 0))),
                                   qmin=qmin, qmax=qmax)
        fields = lane_fields(params, 1, int(rng.integers(-(1 << 20), 1 << 20)))[0]
        writes.append((int(rng.integers(0, CFG.cols)), fields))
    return vectors, writes


def _run(unit_class, seed: int, offer_both: bool = False, acc_rate: float = 0.7, ready_rate: float = 0.6) -> list[str]:
    """Mismatches (empty when every output is right); asserts that everything finishes."""
    rng = np.random.default_rng(seed)
    vectors, writes = _stimulus(rng)
    layout = requant.param_write_layout(CFG)
    dut = unit_class(CFG)
    expected, got, problems = [], [], []

    async def bench(ctx):
        lanes = [dict(RESET_LANE) for _ in range(CFG.cols)]
        v = w = 0
        acc_valid = param_valid = False
        waited = 0          # cycles the offered write has waited: the lanes drain in LATENCY
        for cycle in range(40 * (VECTORS + WRITES)):
            # offers with random gaps; an offer stays until taken. With offer_both, a write
            # is offered with each new vector offer
            fresh = not acc_valid
            acc_valid = v < len(vectors) and (acc_valid or rng.random() < acc_rate)
            param_valid = w < len(writes) and (param_valid or (acc_valid and fresh if offer_both
                                                               else rng.random() < 0.15))
            ctx.set(dut.acc.valid, acc_valid)
            if acc_valid:
                ctx.set(dut.acc.payload.c, vectors[v])
                ctx.set(dut.acc.payload.last, v % 3 == 0)
            ctx.set(dut.param.valid, param_valid)
            if param_valid:
                lane, fields = writes[w]
                ctx.set(dut.param.payload, layout.const({"lane": lane, "p": fields}))
            ctx.set(dut.out.ready, rng.random() < ready_rate)
            took = acc_valid and ctx.get(dut.acc.ready)
            wrote = param_valid and ctx.get(dut.param.ready)
            if ctx.get(dut.out.valid) and ctx.get(dut.out.ready):
                got.append((list(ctx.get(dut.out.payload.q)), ctx.get(dut.out.payload.last)))
            if took:                      # (before a write taken in the same cycle)
                acc_valid = False
                want = requant_lanes(CFG, np.array([vectors[v]], dtype=np.int64), lanes)[0]
                expected.append(([int(x) for x in want], int(v % 3 == 0)))
                v += 1
            waited = waited + 1 if param_valid and not wrote else 0
            assert waited <= requant.LATENCY + 2, f"stuck: write {w} waited {waited} cycles (cycle {cycle})"
            if wrote:
                param_valid = False
                lane, fields = writes[w]
                lanes[lane] = fields
                w += 1
            await ctx.tick()
            if v == len(vectors) and w == len(writes) and len(got) == len(expected):
                break
        assert (v, w) == (len(vectors), len(writes)), f"stuck: {v} vectors and {w} writes taken"
        assert len(got) == len(expected), f"stuck: {len(got)} of {len(expected)} vectors out"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    for n, (g, e) in enumerate(zip(got, expected)):
        if g != e:
            problems.append(f"vector {n}: RTL {g}, model {e}")
    return problems


def test_leading_zeros_tree(seed):
    """Stage 2's leading-zero count (a tree of two-way choices) of a word with bit 0 set:
    32 - bit_length(x | 1), for zero, every single bit, every bit with bit 0 and random
    words."""
    from amaranth.hdl import Module, Signal

    m = Module()
    x = Signal(32)
    n = requant._clz_or_one(m, "lz", x)
    words = ([0, (1 << 32) - 1] + [1 << i for i in range(32)] + [(1 << i) | 1 for i in range(32)]
             + [int(v) for v in np.random.default_rng(seed).integers(0, 1 << 32, 300)])

    async def bench(ctx):
        for v in words:
            ctx.set(x, v)
            assert ctx.get(n) == 32 - (v | 1).bit_length(), (v, ctx.get(n))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
