"""Stimulus for FP8-configuration requantization (shared by the Amaranth-simulator test and
the cocotb bench): lane parameters over every output type and scale regime, and partial
sums that hit rounding ties, subnormal outputs, saturation and the special values.
"""

from __future__ import annotations

import random

import numpy as np

from ..model import accum
from ..model.config import INPUT_TYPES, AcceleratorConfig
from ..model.requant_fp8 import OUT_TYPES, Fp8RequantParams

__all__ = ["random_fp8_params", "random_fixed_bias", "random_elements"]

OUTS = tuple(OUT_TYPES)


def _scale(rng: random.Random, kind: int) -> float:
    if kind == 0:   # powers of two: exact ties survive the scaling
        return float(np.float32(2.0 ** rng.randint(-40, 20)))
    if kind == 1:   # subnormal or tiny
        return float(rng.choice(np.array([1e-45, 3e-42, 2.0 ** -126, 1e-30], np.float32)))
    if kind == 2:   # huge: saturation
        return float(np.float32(2.0 ** rng.uniform(20, 100)))
    return float(np.float32(2.0 ** rng.uniform(-30, 5)))


def random_fp8_params(rng: random.Random, out_type: str | None = None, per_channel: bool = False,
                      cols: int = 1, pow2: bool = False) -> Fp8RequantParams:
    """Random lane parameters; ``pow2``: power-of-two scales only (ties stay ties)."""
    out_type = out_type or rng.choice(OUTS)
    kind = 0 if pow2 else rng.randint(0, 4)
    scale = tuple(_scale(rng, kind) for _ in range(cols)) if per_channel else _scale(rng, kind)
    lo, hi = (0, 255) if out_type == "uint8" else (-128, 127)
    zp = rng.randint(lo, hi) if out_type in ("int8", "uint8") else 0
    qmin, qmax = (lo, hi) if rng.random() < 0.5 else (rng.randint(lo, zp), rng.randint(zp, hi))
    return Fp8RequantParams(out_type, scale, relu=rng.random() < 0.3, zero_point=zp, qmin=qmin, qmax=qmax)


def random_fixed_bias(cfg: AcceleratorConfig, rng: random.Random, per_channel: bool):
    """A bias in accumulator units: 0, the extremes, or random of random size."""
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1

    def one():
        return rng.choice([0, lo, hi, rng.randint(-(1 << rng.randint(1, cfg.acc_bits - 2)), 1 << 20)])
    return np.array([one() for _ in range(cfg.cols)], dtype=object) if per_channel else one()


def _tie(cfg: AcceleratorConfig, rng: random.Random, out_type: str, scale: float) -> int | None:
    """A sum whose value times the (power-of-two) ``scale`` lies exactly halfway between two
    neighbours of ``out_type``, or None if the scale puts no tie on the sum's grid."""
    frac = cfg.acc_format.frac_bits
    k = int(np.frexp(np.float32(scale))[1]) - 1            # scale = 2**k when a power of two
    if out_type in ("int8", "uint8"):
        j = frac - k - 1                                    # value = (2n + 1) / 2
        n = rng.randint(-300, 300)
        return (2 * n + 1) << j if j >= 0 else None
    t = INPUT_TYPES[out_type]
    m = t.man_bits
    big = rng.randint(1 << m, (1 << (m + 1)) - 1)          # (2 * big + 1) has m + 2 bits
    target = rng.randint(t.lsb_exp - 2, 1 - t.bias + (1 << t.exp_bits) - 1)
    j = target - (m + 1) - k + frac
    return rng.choice([-1, 1]) * ((2 * big + 1) << j) if j >= 0 else None


def random_elements(cfg: AcceleratorConfig, rng: random.Random, n: int,
                    params: Fp8RequantParams | None = None) -> np.ndarray:
    """``n`` vectors of ``cols`` partial-sum elements: uniform over the sum's range, small,
    powers of two, rounding ties for ``params`` (when its scale allows), extremes, and
    NaN / infinity flags."""
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    flag_values = list(range(1, 1 << cfg.acc_format.flag_bits))
    rows = []
    for _ in range(n):
        row = []
        for j in range(cfg.cols):
            kind = rng.randint(0, 9)
            flags = 0
            if kind == 0:
                s = rng.randint(lo, hi)
            elif kind == 1:
                s = rng.randint(-4096, 4096) << rng.randint(0, 24)
            elif kind == 2:
                s = rng.choice([-1, 1]) << rng.randint(0, cfg.acc_bits - 2)
            elif kind == 3:
                s = rng.choice([lo, hi, 0, 1, -1])
            elif kind == 4:
                s, flags = rng.randint(lo, hi), rng.choice(flag_values)
            else:
                s = None
                if params is not None:
                    s = _tie(cfg, rng, params.out_type, params.lane_scale(j))
                if s is None or not lo <= s <= hi:
                    s = rng.randint(-(1 << 30), 1 << 30)
            row.append((s, flags))
        rows.append(row)
    sums = np.array([[s for s, _ in r] for r in rows], dtype=object)
    flags = np.array([[f for _, f in r] for r in rows], dtype=np.uint8)
    return accum.pack(cfg, sums, flags)



def events(cfg: AcceleratorConfig, element: int, lane: dict) -> set[str]:
    """What one element exercises in a lane with parameter word ``lane`` (decided on the
    exact value): ``nan``, ``inf``, ``relu_zero``, ``tie`` (exactly halfway between two
    outputs), ``subnormal`` (FP8 output below the least normal), ``saturate`` (FP8 beyond
    the largest finite value), ``clamp`` (integer outside ``[qmin, qmax]``)."""
    from fractions import Fraction

    from ..model.requant_fp8 import _OUT_NAMES, _value

    scale = float(np.uint32(lane["scale"]).view(np.float32))
    v = _value(cfg, element, lane["bias"], scale)
    if isinstance(v, float):
        return {"nan"} if np.isnan(v) else {"inf"}
    if lane["relu"] and v < 0:
        return {"relu_zero"}
    out, found = _OUT_NAMES[lane["out_type"]], set()
    if out == "int8":
        q = Fraction(1)
        if not lane["qmin"] <= round(v) + lane["zero_point"] <= lane["qmax"]:
            found.add("clamp")
    else:
        t = INPUT_TYPES[out]
        if v == 0:
            return found
        e = abs(v).numerator.bit_length() - abs(v).denominator.bit_length()
        e -= (abs(v) < Fraction(2) ** e)
        q = Fraction(2) ** max(e - t.man_bits, t.lsb_exp)
        if e < 1 - t.bias:
            found.add("subnormal")
        if abs(v) > t.max_magnitude + q / 2:
            found.add("saturate")
    if (abs(v) / q) % 1 == Fraction(1, 2):
        found.add("tie")
    return found
