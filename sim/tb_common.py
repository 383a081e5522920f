"""Shared pieces of the cocotb benches (no cocotb tests here).

The configuration comes as ``SYSTOLICA_CONFIG`` (JSON) and the seed as ``SYSTOLICA_SEED``.
Benches drive every port once per cycle: inputs are set after the falling edge, outputs
are sampled at ``ReadOnly`` before the next rising edge, and the golden model is updated
with what was accepted, in acceptance order.
"""

from __future__ import annotations

import os
from collections import Counter

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from ..model.config import AcceleratorConfig

CFG = AcceleratorConfig.from_json(os.environ["SYSTOLICA_CONFIG"])
SEED = int(os.environ.get("SYSTOLICA_SEED", "1"))


def rng_for(test: str) -> np.random.Generator:
    seed = SEED ^ sum(map(ord, test))  # stable per test name and SEED
    cocotb.log.warning(f"{test}: SYSTOLICA_SEED={SEED} (replay with that value)")
    return np.random.default_rng(seed)


async def start(dut, idle: dict[str, int]) -> None:
    """Start the clock, drive ``idle`` input values, hold reset for three cycles; returns
    after a falling edge, ready to drive the first cycle."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name, value in idle.items():
        getattr(dut, name).value = value
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


async def next_cycle(dut) -> None:
    """From ``ReadOnly`` of this cycle to the falling edge of the next."""
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)


def signal(dut, name: str) -> int:
    return int(getattr(dut, name).value)


def payload(dut, name: str) -> int:
    return getattr(dut, name).value.to_unsigned()


def rows_equal(what: str, got, want) -> None:
    """Bit-exact row comparison with the first differing element in the message."""
    got, want = np.asarray(got, dtype=np.int64), np.asarray(want, dtype=np.int64)
    bad = np.flatnonzero(got != want)
    assert not bad.size, (f"{what}: element {bad[0]} RTL {int(got[bad[0]])} != model "
                          f"{int(want[bad[0]])}\n RTL   {got.tolist()}\n model {want.tolist()}")


class Coverage(Counter):
    """Counts of the events a random test must have exercised to prove anything."""

    def missing(self, events: list[str]) -> list[str]:
        return [e for e in events if not self[e]]

    def until(self, events: list[str], least: int, most: int):
        """Step numbers for random traffic run to coverage closure: at least ``least``
        steps, then on until every one of ``events`` has come up, ``most`` at the very
        most (``require`` then names what is still missing). A fixed step count leaves a
        rare case uncovered for some seeds, which fails a test on a correct design."""
        self.steps = 0
        for step in range(most):
            if step >= least and not self.missing(events):
                return
            self.steps = step + 1
            yield step

    def require(self, events: list[str]) -> None:
        missing = self.missing(events)
        assert not missing, f"random traffic never exercised {missing} (counts {dict(self)})"
        steps = f" after {self.steps} steps" if hasattr(self, "steps") else ""
        cocotb.log.warning(f"coverage{steps}: {dict(sorted(self.items()))}")


class HotRows:
    """Row addresses for random traffic: half the time one of a few *hot* rows (so reads
    meet rows just written and requests meet in one bank), else any row of a random bank."""

    def __init__(self, rng: np.random.Generator, rows: int, banks: int, hot: int = 6):
        self.rng, self.rows, self.banks = rng, rows, banks
        per_bank = rows // banks
        self.hot = [int(b % banks) * per_bank + int(rng.integers(per_bank)) for b in range(hot)]

    def __call__(self) -> int:
        if self.rng.random() < 0.5:
            return int(self.rng.choice(self.hot))
        return int(self.rng.integers(self.rows))
