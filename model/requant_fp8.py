"""Requantization of FP8 configurations: exact sums x scale -> FP8, int8/uint8 or FP32.

An FP8 configuration's accumulator holds exact sums (:mod:`.accum`). One lane per column
turns a sum into an output with **one rounding**, from the exact value:

1. ``s = wrap(sum + bias, acc_bits)``: the bias is in the accumulator's own fixed-point
   units (``2**-frac_bits``), so adding it is exact and order-free, like int8's int32 bias
   (:func:`fixed_bias` converts a float bias once, on the host). Flags pass through.
2. ``v = s * 2**-frac_bits * scale`` exactly (``scale``: a positive finite float32 --
   the layer's ``input_scale * weight_scale / output_scale``). NaN (the NaN flag, or both
   infinity flags) and ``+-inf`` stay special.
3. ``relu``: negative values and ``-inf`` become ``+0``; NaN stays NaN.
4. The output, rounded once to nearest, ties to even:
   - ``fp8_e4m3`` / ``fp8_e5m2``: saturating as ONNX ``saturate=1`` (beyond the largest
     finite value and infinities give it, with the sign), NaN gives the canonical NaN
     (0x7F, 0x7E); a negative value that rounds to zero gives -0;
   - ``int8`` (``int``): ``round(v) + zero_point`` clamped to ``[qmin, qmax]`` (uint8 by
     the range, as the int8 unit does); NaN gives ``qmin``, ``+-inf`` the bounds;
   - FP32 (golden model only, :func:`requantize_fp8` with ``out_type="fp32"``): IEEE
     binary32, infinities beyond its range.

Why one rounding from the exact value rather than ONNX's float32 chain (``float32(sum)
* scale`` then a cast, three roundings): the sum is exact, so the result is the correctly
rounded ``sum * scale`` -- independent of summation order and tiling, and never worse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from . import accum, fp8
from .config import AcceleratorConfig
from .numerics import NumericsError, output_range_problem, scale_bits_problem

__all__ = ["OUT_TYPES", "FP8_RESET_LANE", "fp8_lane_problem", "Fp8RequantParams", "fp8_lane_params", "fixed_bias", "fp8_lane_fields",
           "requantize_fp8", "fp8_requant_lanes", "fp8_requant_golden"]

#: Output types of an FP8 configuration's lanes and their ``out_type`` code.
OUT_TYPES = {"fp8_e4m3": 0, "fp8_e5m2": 1, "int8": 2, "uint8": 2}


def fp8_lane_params(cfg: AcceleratorConfig) -> data.StructLayout:
    """One lane's parameter word. ``bias`` is in accumulator units (``2**-frac_bits``),
    ``scale`` holds float32 bits; ``zero_point``/``qmin``/``qmax`` apply to integer
    outputs only."""
    return data.StructLayout({
        "out_type": unsigned(2),
        "relu": 1,
        "bias": signed(cfg.acc_bits),
        "scale": unsigned(32),
        "zero_point": signed(9),
        "qmin": signed(9),
        "qmax": signed(9),
    })


#: An FP8 lane's parameters after reset: E4M3 output, scale 0 (every output +0).
FP8_RESET_LANE = {"out_type": 0, "relu": 0, "bias": 0, "scale": 0, "zero_point": 0, "qmin": -128, "qmax": 127}


@dataclass(frozen=True)
class Fp8RequantParams:
    """What an FP8 configuration's requantization does to a layer's sums.

    ``out_type``: ``fp8_e4m3``, ``fp8_e5m2``, ``int8``, ``uint8`` (or ``fp32``, golden
    model only). ``scale``: positive finite float32, per tensor or a tuple per channel.
    ``relu``: clamp below at 0. ``zero_point``, ``qmin``, ``qmax``: integer outputs
    (default: the type's range, zero point 0).
    """

    out_type: str
    scale: float | tuple
    relu: bool = False
    zero_point: int = 0
    qmin: int | None = None
    qmax: int | None = None

    def __post_init__(self) -> None:
        if self.out_type not in (*OUT_TYPES, "fp32"):
            raise NumericsError(f"out_type={self.out_type!r}: allowed one of {[*OUT_TYPES, 'fp32']}")
        scales = self.scale if isinstance(self.scale, tuple) else (self.scale,)
        for s in scales:
            f = np.float32(s)
            if not (np.isfinite(f) and f > 0) or float(f) != float(s):
                raise NumericsError(f"scale={s!r}: must be a positive finite float32 value")
        lo, hi = (0, 255) if self.out_type == "uint8" else (-128, 127)
        object.__setattr__(self, "qmin", lo if self.qmin is None else self.qmin)
        object.__setattr__(self, "qmax", hi if self.qmax is None else self.qmax)
        if not lo <= self.qmin <= self.qmax <= hi or not lo <= self.zero_point <= hi:
            raise NumericsError(f"zero_point={self.zero_point}, qmin={self.qmin}, qmax={self.qmax}: "
                                f"need {lo} <= qmin <= qmax <= {hi} and the zero point in {lo}..{hi}")

    @property
    def channels(self) -> int | None:
        return len(self.scale) if isinstance(self.scale, tuple) else None

    def lane_scale(self, i: int) -> float:
        return self.scale[min(i, len(self.scale) - 1)] if isinstance(self.scale, tuple) else self.scale


def fixed_bias(cfg: AcceleratorConfig, bias, acc_scale) -> np.ndarray:
    """A float bias in accumulator units: ``round(bias / acc_scale * 2**frac_bits)`` (half
    to even), with ``acc_scale = input_scale * weight_scale`` the value of one unit of
    the sum of products. Python ints (object array), wrapped to ``acc_bits``."""
    b = np.asarray(bias, dtype=np.float64)
    s = np.broadcast_to(np.asarray(acc_scale, dtype=np.float64), b.shape)
    units = [round(Fraction(float(x)) / Fraction(float(y)) * (1 << cfg.acc_format.frac_bits))
             for x, y in zip(b.ravel(), s.ravel())]
    return accum.wrap(np.array(units, dtype=object).reshape(b.shape), cfg.acc_bits)


def scale_of_bits(bits: int) -> Fraction:
    """The exact scale a lane's ``scale`` word means, as the hardware reads it: the float32
    magnitude (the sign bit is ignored; exponent 255 is one more binade, not inf/NaN).
    Equal to the float32 value for every positive finite float32."""
    mant, e = bits & 0x7FFFFF, (bits >> 23) & 0xFF
    return Fraction(mant | ((e != 0) << 23)) * Fraction(2) ** (max(e, 1) - 150)


def _value(cfg: AcceleratorConfig, element: int, bias: int, scale):
    """Step 1-2: the exact value of ``(sum + bias) * scale``, or nan/inf (plain Python ints:
    this runs once per output element)."""
    fmt = cfg.acc_format
    f = element & ((1 << fmt.flag_bits) - 1)
    if f & fp8.NAN or (f & fp8.POS_INF and f & fp8.NEG_INF):
        return math.nan
    if f & (fp8.POS_INF | fp8.NEG_INF):
        return math.inf if f & fp8.POS_INF else -math.inf
    half = 1 << (fmt.sum_bits - 1)
    total = (((element >> fmt.flag_bits) + bias + half) % (1 << fmt.sum_bits)) - half
    scale = scale if isinstance(scale, Fraction) else Fraction(float(np.float32(scale)))
    return Fraction(total, 1 << fmt.frac_bits) * scale


def requantize_fp8(cfg: AcceleratorConfig, element: int, out_type: str, scale, *, bias: int = 0,
                   relu: bool = False, zero_point: int = 0, qmin: int = -128, qmax: int = 127):
    """One partial-sum element to one output: an 8-bit code (FP8 or integer, as an int
    ``0..255``) or a float32 (``out_type="fp32"``). ``scale``: a float32 value, or the
    exact ``Fraction`` of :func:`scale_of_bits`."""
    v = _value(cfg, element, bias, scale)
    if relu and not (isinstance(v, float) and math.isnan(v)) and v < 0:
        v = Fraction(0)
    if out_type == "fp32":
        return fp8.to_float32(v)
    if out_type in ("int8", "uint8"):
        return fp8.to_int(v, zero_point, qmin, qmax) & 0xFF
    if isinstance(v, float) and math.isnan(v):
        return fp8.nan_code(out_type)
    return fp8.encode(v, out_type, saturate=True)


def fp8_lane_problem(cfg: AcceleratorConfig, fields: dict) -> str | None:
    """Why the FP8 lane word ``fields`` (:func:`fp8_lane_params`) cannot be used, or None:
    the rules :class:`Fp8RequantParams` enforces, stated on the bits (for a command check
    like :func:`systolica.model.requant.lane_problem`). The hardware computes a defined
    output for every word (:func:`scale_of_bits`); these rules only keep the words
    meaningful: ``scale`` a positive finite float32 (not zero), ``out_type`` 0..2, and for
    integer outputs ``zero_point``/``qmin``/``qmax`` inside int8 or uint8 with
    ``qmin <= qmax``."""
    if scale_bits_problem(fields["scale"]):
        return scale_bits_problem(fields["scale"])
    if fields["out_type"] not in (0, 1, 2):
        return f"out_type={fields['out_type']}: allowed 0 (fp8_e4m3), 1 (fp8_e5m2), 2 (int8/uint8)"
    if fields["out_type"] == 2:
        return output_range_problem(fields["zero_point"], fields["qmin"], fields["qmax"])
    return None


def fp8_lane_fields(cfg: AcceleratorConfig, params: Fp8RequantParams, bias=None) -> list[dict]:
    """Field values of :func:`fp8_lane_params` for ``cols`` lanes (channel ``i`` on lane
    ``i``; spare lanes repeat the last channel); ``bias`` in accumulator units."""
    if params.out_type == "fp32":
        raise NumericsError("out_type='fp32': the hardware lanes give 8-bit outputs "
                            "(fp8_e4m3, fp8_e5m2, int8, uint8); fp32 is golden-model only")
    b = None if bias is None else np.asarray(bias, dtype=object)
    for name, cnt in (("params", params.channels), ("bias", None if b is None or b.ndim == 0 else b.size)):
        if cnt is not None and not 1 <= cnt <= cfg.cols:
            raise NumericsError(f"{name}: {cnt} channels, allowed 1..{cfg.cols} (the unit's lanes, cols)")
    lo, hi = -(1 << (cfg.acc_bits - 1)), (1 << (cfg.acc_bits - 1)) - 1
    out = []
    for i in range(cfg.cols):
        bias_i = 0 if b is None else int(b if b.ndim == 0 else b[min(i, b.size - 1)])
        if not lo <= bias_i <= hi:
            raise NumericsError(f"bias={bias_i}: out of range, allowed {lo}..{hi} (acc_bits={cfg.acc_bits})")
        out.append({"out_type": OUT_TYPES[params.out_type], "relu": int(params.relu), "bias": bias_i,
                    "scale": int(np.float32(params.lane_scale(i)).view(np.uint32)),
                    "zero_point": params.zero_point, "qmin": params.qmin, "qmax": params.qmax})
    return out


_OUT_NAMES = {0: "fp8_e4m3", 1: "fp8_e5m2", 2: "int8", 3: "int8"}


def fp8_requant_lanes(cfg: AcceleratorConfig, acc, fields: list[dict]) -> np.ndarray:
    """The unit's output bytes (uint8) for partial-sum elements ``acc`` (``(n, cols)``)
    with lane ``j`` set to ``fields[j]``."""
    acc = np.asarray(acc, dtype=object)
    if acc.ndim != 2 or acc.shape[1] != cfg.cols or len(fields) != cfg.cols:
        raise NumericsError(f"acc: shape {acc.shape} and {len(fields)} lanes, expected (n, cols={cfg.cols})")
    out = np.zeros(acc.shape, np.uint8)
    for j, f in enumerate(fields):
        scale = scale_of_bits(f["scale"])
        for i in range(acc.shape[0]):
            out[i, j] = requantize_fp8(cfg, int(acc[i, j]), _OUT_NAMES[f["out_type"]], scale, bias=f["bias"],
                                       relu=bool(f["relu"]), zero_point=f["zero_point"],
                                       qmin=f["qmin"], qmax=f["qmax"])
    return out


def fp8_requant_golden(cfg: AcceleratorConfig, acc, params: Fp8RequantParams, bias=None) -> np.ndarray:
    """The unit's output for ``acc`` (``(n, cols)`` elements): uint8 codes (FP8 or the
    integer's bits)."""
    return fp8_requant_lanes(cfg, acc, fp8_lane_fields(cfg, params, bias))
