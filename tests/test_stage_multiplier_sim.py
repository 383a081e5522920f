"""The requantization lane's partial products (hw/stage_multiplier.py) in Amaranth's
simulator, for every target: the multiplier alone against its contract under a random
enable, with mutants of the cell's settings, and the whole int8 lane with the ``"ecp5"``
cells (replaced by the model of ``tests/mult18x18d_model.py``) against the golden model.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from amaranth.hdl import Const, signed, unsigned
from amaranth.sim import Simulator
from lane_sim import run_lane
from mult18x18d_model import modelled

from systolica.hw.multiplier import TARGETS
from systolica.hw.requant import RequantLane
from systolica.hw.stage_multiplier import PRODUCT_MULT18X18D_PARAMS, STAGE_MULT18X18D_PARAMS, StageMultiplier
from systolica.model.config import AcceleratorConfig
from systolica.model.numerics import INT32_MAX, INT32_MIN, SHIFT_RANGE, RequantParams
from systolica.model.requant import LANE_PARAMS, lane_fields, requant_lanes

#: The lane's four partial products: (a, b) shapes.
SHAPES = [(unsigned(16), unsigned(16)), (unsigned(16), unsigned(15)),
          (signed(16), unsigned(16)), (signed(16), unsigned(15))]


class _Modelled(StageMultiplier):
    """The ``"ecp5"`` multiplier with the cell replaced by its model; ``mutate(model)`` may
    change the model's parameters or ports (mutation checks)."""

    mutate = staticmethod(lambda model: None)

    def mult18x18d(self, a18, b18, p):
        model = modelled(super().mult18x18d(a18, b18, p))
        self.mutate(model)
        return model


def _value(shape, rng: random.Random) -> int:
    lo, hi = (-(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1) if shape.signed else (0, (1 << shape.width) - 1)
    return rng.choice([lo, hi, 0, 1, -1 if shape.signed else 2, rng.randint(lo, hi), rng.randint(lo, hi)])


def _check_contract(dut, a_shape, b_shape, seed: int, cycles: int = 400) -> None:
    """Random ``a``, ``b`` and ``en`` every cycle; after each cycle ``p`` must be the
    contract's: ``a`` taken on ``en``, ``b`` every cycle, their product taken on ``en``
    (``inputs=False``: the product of ``a`` and ``b`` themselves taken on ``en``)."""
    rng = random.Random(seed)
    seen, want = [], []

    async def bench(ctx):
        a_reg = b_reg = p_reg = None
        for _ in range(cycles):
            a, b, en = _value(a_shape, rng), _value(b_shape, rng), rng.random() < 0.7
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.en, en)
            await ctx.tick()
            if en and not dut.inputs:
                p_reg = a * b
            elif en:
                p_reg = None if a_reg is None or b_reg is None else a_reg * b_reg
                a_reg = a
            b_reg = b
            seen.append(ctx.get(dut.p))
            want.append(p_reg)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for t, (got, expected) in enumerate(zip(seen, want)):
        if expected is not None:
            assert got == expected, f"cycle {t}: p={got}, expected {expected} (seed {seed})"


@pytest.mark.parametrize("inputs", [True, False])
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("shapes", SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_partial_product_contract(target, shapes, inputs, seed):
    print(f"seed={seed}")
    a_shape, b_shape = shapes
    dut = (_Modelled if target == "ecp5" else StageMultiplier)(a_shape, b_shape, target, inputs=inputs)
    assert dut.uses_dsp_primitive == (target == "ecp5")
    _check_contract(dut, a_shape, b_shape, seed)


def test_too_wide_operands_keep_fabric_registers():
    """An unsigned operand of 18 bits does not fit the cell's signed 18: generic registers."""
    assert not StageMultiplier(unsigned(18), unsigned(8), "ecp5").uses_dsp_primitive
    assert StageMultiplier(unsigned(17), signed(18), "ecp5").uses_dsp_primitive
    with pytest.raises(ValueError, match="target='xilinx'"):
        StageMultiplier(unsigned(8), unsigned(8), "xilinx")


def test_cell_parameters():
    """A and P on CE0 (the enable), B on CE1 (tied high), all on CLK0, no pipeline register."""
    p = STAGE_MULT18X18D_PARAMS
    assert [p[f"REG_{r}_CLK"] for r in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT")] == ["CLK0", "CLK0", "NONE", "CLK0"]
    assert (p["REG_INPUTA_CE"], p["REG_INPUTB_CE"], p["REG_OUTPUT_CE"]) == ("CE0", "CE1", "CE0")


_MUTANTS = {
    "B on the enable": lambda m: m.params.update(REG_INPUTB_CE="CE0"),
    "A every cycle": lambda m: m.params.update(REG_INPUTA_CE="CE1"),
    "no output register": lambda m: m.params.update(REG_OUTPUT_CLK="NONE"),
    "A's sign mode lost": lambda m: m.ports.update(i_SIGNEDA=Const(0, 1)),
}


def test_product_cell_parameters():
    """``inputs=False``: no input registers, P on CE0 and CLK0, no pipeline register."""
    p = PRODUCT_MULT18X18D_PARAMS
    assert [p[f"REG_{r}_CLK"] for r in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT")] == ["NONE", "NONE", "NONE", "CLK0"]
    assert p["REG_OUTPUT_CE"] == "CE0"


def test_product_contract_check_catches_input_registers():
    class _Mutant(_Modelled):
        mutate = staticmethod(lambda m: m.params.update(REG_INPUTA_CLK="CLK0"))

    with pytest.raises(AssertionError):
        _check_contract(_Mutant(signed(16), unsigned(16), "ecp5", inputs=False), signed(16), unsigned(16), seed=1)


@pytest.mark.parametrize("mutant", sorted(_MUTANTS))
def test_contract_check_catches_a_wrong_cell_setting(mutant):
    class _Mutant(_Modelled):
        mutate = staticmethod(_MUTANTS[mutant])

    a_shape, b_shape = signed(16), unsigned(16)
    with pytest.raises(AssertionError):
        _check_contract(_Mutant(a_shape, b_shape, "ecp5"), a_shape, b_shape, seed=1)


def _lane_cases(rng: np.random.Generator) -> list[RequantParams]:
    cases = []
    for rounding in ("double", "single"):
        for mult in (1 << 30, INT32_MAX, int(rng.integers(1 << 30, 1 << 31))):
            for shift in (-31, -8, -1, 0, 1, 30):
                cases.append(RequantParams("tflite", int(rng.integers(-128, 128)), "int8", multiplier=mult,
                                           shift=shift, rounding=rounding, qmin=-128, qmax=127))
    for scale in (2.0 ** -8, float(np.float32(1e-40)), 2.0 ** 20, float(np.float32(2.0 ** rng.uniform(-30, 2)))):
        cases.append(RequantParams("onnx", int(rng.integers(0, 256)), "uint8", scale=scale, qmin=0, qmax=255))
    return cases


#: (x, scale): x * scale (float32) rounds up to 0.5, 1.0, 2.0, 32.0 with a carry out of the
#: 24-bit mantissa
CARRIES = [(87785, 5.695733761967858e-06), (7415, 0.0001348617661278695),
           (40391, 4.9515980208525434e-05), (1103, 0.029011785984039307)]


@pytest.mark.parametrize("target", TARGETS)
def test_int8_lane_with_each_target_equals_golden(target, seed, monkeypatch):
    """The whole lane, its partial products as ``target`` builds them (the ``"ecp5"``
    cells modelled), on accumulator extremes and random values, == the golden model."""
    print(f"seed={seed}")
    if target == "ecp5":
        cell = StageMultiplier.mult18x18d
        monkeypatch.setattr(StageMultiplier, "mult18x18d", lambda self, *args: modelled(cell(self, *args)))
    cfg = AcceleratorConfig(rows=1, cols=1)
    rng = np.random.default_rng(seed)
    dut = RequantLane(cfg, target)
    pool = np.array([INT32_MIN, INT32_MAX, 0, 1, -1, 1 << 20, -(1 << 20)], dtype=np.int64)
    cases = []
    for params in _lane_cases(rng):
        acc = np.concatenate([pool, rng.integers(INT32_MIN, INT32_MAX, size=9, endpoint=True)])
        fields = lane_fields(params, 1, bias=int(rng.choice([0, 1000, -(1 << 20)])))[0]
        cases.append((fields, acc))
    # the float product's rounding carries out of the mantissa (stage 8) to 0.5, 1, 2 and
    # 32 (e.g. 7415 x float32(0.00013486177) = 0.9999999958 rounds to 1.0): the exponent
    # and the float -> int rounding masks follow the carry
    for x, scale in CARRIES:
        carry = RequantParams("onnx", 0, "int8", scale=float(np.float32(scale)), qmin=-128, qmax=127)
        cases.append((lane_fields(carry, 1, bias=0)[0], np.array([x, -x, x - 1, x + 1, 2 * x], dtype=np.int64)))
    # int -> float: |x| a power of two (stage 2 counts the leading zeros of the one's
    # complement, one too many there) and its neighbours, at scales that bring each
    # exponent into the output's range
    powers = [sg * ((1 << j) + d) for j in range(32) for d in (-1, 0, 1) for sg in (1, -1)]
    powers = np.array([v for v in powers if INT32_MIN <= v <= INT32_MAX], dtype=np.int64)
    for k in range(0, 25, 4):
        pow2 = RequantParams("onnx", 0, "int8", scale=2.0 ** -k, qmin=-128, qmax=127)
        cases.append((lane_fields(pow2, 1, bias=0)[0], powers))
    _assert_lane_equals_golden(dut, cfg, cases)


def _assert_lane_equals_golden(dut: RequantLane, cfg: AcceleratorConfig, cases) -> None:
    """Run (lane fields, accumulators) cases through the lane; each output == golden."""
    got = run_lane(dut, LANE_PARAMS, cases, 32)
    for (fields, acc), outs in zip(cases, got):
        want = requant_lanes(cfg, acc[:, None], [fields])[:, 0]
        assert list(want) == outs, f"{fields}: acc {list(acc)}: RTL {outs}, golden {list(want)}"


def _ties(e: int, rng: np.random.Generator) -> list[int]:
    """Values whose quotient by 2^e is a half (and its neighbours), both signs."""
    out = []
    for q in (0, 1, 2, int(rng.integers(3, 1 << 8))):
        base = q * (1 << e) + ((1 << (e - 1)) if e > 0 else 0)
        out += [sg * (base + t) for t in (-1, 0, 1) for sg in (1, -1)]
    return out


def _generic_lane(seed: int):
    """(config, generator, lane) of a one-column lane with generic partial products; the
    seed printed."""
    print(f"seed={seed}")
    cfg = AcceleratorConfig(rows=1, cols=1)
    return cfg, np.random.default_rng(seed), RequantLane(cfg, "generic")


def _tflite_int8_case(zp: int, mult: int, shift: int, rounding: str, acc: np.ndarray):
    """(lane fields, accumulators) of a TFLite int8 lane, no bias, clamps -128 .. 127."""
    params = RequantParams("tflite", zp, "int8", multiplier=mult, shift=shift, rounding=rounding,
                           qmin=-128, qmax=127)
    return lane_fields(params, 1, bias=0)[0], acc


def test_int8_lane_every_shift_equals_golden(seed):
    """TFLite's ``shift``, every value the REQUANT check allows, both roundings: the lane
    == golden on the values where the rounding of that shift decides (quotients by the
    shift's power of two that are halves, and their neighbours), extremes and random values. Stage 9
    shifts by a parameter register and masks with one derived from ``shift`` by compares:
    a wrong bit for one shift shows here."""
    cfg, rng, dut = _generic_lane(seed)
    cases = []
    for rounding in ("double", "single"):
        for shift in range(SHIFT_RANGE[0], SHIFT_RANGE[1] + 1):
            # multiplier 2^30: both roundings give about x * 2^(shift - 1), ties at halves of 2^e
            e = 1 - shift
            vals = [v for k in (e - 1, e, e + 1) if k >= 0 for v in _ties(k, rng)]
            vals += [INT32_MIN, INT32_MAX, 0, 1, -1] + [int(v) for v in rng.integers(INT32_MIN, INT32_MAX, 4)]
            acc = np.array([v for v in vals if INT32_MIN <= v <= INT32_MAX], dtype=np.int64)
            for mult in (1 << 30, int(rng.integers(1 << 30, 1 << 31))):
                cases.append(_tflite_int8_case(0, mult, shift, rounding, acc))
    _assert_lane_equals_golden(dut, cfg, cases)


def test_int8_lane_clamp_range_edges_equal_golden(seed):
    """Stage 12 clamps a value that fits 11 bits by compares, and one that does not by the
    sign of ``wrap32(v + zero_point)``; stage 11 decides which (``small11``) from its own
    registers. Values that land on -1026 .. -1023 and 1022 .. 1025 (TFLite: both
    roundings, shifts that round up there; ONNX: scales that put ``x * scale`` there, ties
    included), and int32's extremes with zero points that wrap the sum, == golden."""
    cfg, rng, dut = _generic_lane(seed)
    cases = []
    for rounding in ("double", "single"):
        for shift in (-3, -2, -1, 0, 1):
            # multiplier 2^30: v is about x * 2^(shift - 1)
            unit = 1 << (1 - shift)
            acc = [sg * (1024 * unit + d) for sg in (1, -1) for d in range(-3 * unit, 3 * unit + 1)]
            acc += [INT32_MAX - d for d in range(4)] + [INT32_MIN + d for d in range(4)]
            for zp in (-128, int(rng.integers(-127, 127)), 127):
                cases.append(_tflite_int8_case(zp, 1 << 30, shift, rounding, np.array(acc, dtype=np.int64)))
    # (a zero accumulator at a large scale: stage 10 marks it zero and, from the zero's
    # exponent, big; zero wins)
    for k in (0, 1, 3, -20):
        acc = [sg * ((1024 << k) + d) for sg in (1, -1) for d in range(-(3 << k), (3 << k) + 1)] if k >= 0 else [0, 1, -1]
        for zp, kind, lo, hi in ((0, "uint8", 0, 255), (100, "uint8", 0, 255), (-128, "int8", -128, 127),
                                 (127, "int8", -128, 127)):
            params = RequantParams("onnx", zp, kind, scale=2.0 ** -k, qmin=lo, qmax=hi)
            cases.append((lane_fields(params, 1, bias=0)[0], np.array(acc, dtype=np.int64)))
    _assert_lane_equals_golden(dut, cfg, cases)
