"""The requantization unit's contract: lane parameters as bits, and its golden output.

One lane per array column turns an accumulator into an 8-bit activation with the
numerics of :mod:`.numerics`. The hardware (``hw/requant.py``) and the driver share
:data:`LANE_PARAMS` -- an Amaranth ``lib.data`` layout, which works in plain Python too --
so a lane's parameter word is defined once: :func:`encode_lanes` packs it,
the hardware decodes it.

Accumulators wider than 32 bits are wrapped to int32 on entry (the numerics, like every
framework's kernels, are int32); narrower ones are sign-extended, which is exact.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from .config import AcceleratorConfig
from .numerics import (SHIFT_RANGE, NumericsError, OUTPUT_TYPES, RequantParams, output_range_problem,
                       requantize, scale_bits_problem, wrap_int32)
from .requant_fp8 import FP8_RESET_LANE, fp8_lane_params, fp8_requant_lanes

__all__ = ["LANE_PARAMS", "RESET_LANE", "OUT_BITS", "lane_fields", "encode_lanes", "lane_problem",
           "lane_requant", "requant_lanes", "requant_golden", "lane_params_layout", "lane_reset"]

#: Bits of one output element (int8 or uint8: the clamp range decides which).
OUT_BITS = 8

#: One lane's parameters. ``scheme``: 0 TFLite fixed point, 1 ONNX float32 scale.
#: ``single``: TFLITE_SINGLE_ROUNDING. ``scale`` holds float32 bits. ``qmin``/``qmax`` are
#: the final clamp in output units, so int8 vs uint8 needs no separate mode bit.
LANE_PARAMS = data.StructLayout({
    "scheme": 1,
    "single": 1,
    "bias": signed(32),
    "multiplier": unsigned(31),
    "shift": signed(6),
    "scale": unsigned(32),
    "zero_point": signed(9),
    "qmin": signed(9),
    "qmax": signed(9),
})


def lane_params_layout(cfg: AcceleratorConfig) -> data.StructLayout:
    """One lane's parameter word for ``cfg``: :data:`LANE_PARAMS` (int8 configurations) or
    :func:`systolica.model.requant_fp8.fp8_lane_params` (FP8 configurations)."""
    if cfg.is_float:
        return fp8_lane_params(cfg)
    return LANE_PARAMS


def lane_reset(cfg: AcceleratorConfig) -> dict:
    """A lane's parameter word after reset for ``cfg``: :data:`RESET_LANE`, or the FP8
    one (:data:`~.requant_fp8.FP8_RESET_LANE`: scale 0, every output +0)."""
    return FP8_RESET_LANE if cfg.is_float else RESET_LANE


def _per_lane(v, n: int, i: int):
    return v[i] if isinstance(v, tuple) else v


def lane_fields(params: RequantParams, lanes: int, bias=None) -> list[dict]:
    """Field values of :data:`LANE_PARAMS` for ``lanes`` lanes.

    Per-channel ``params``/``bias`` give channel ``i`` to lane ``i`` and may have fewer
    channels than lanes (a partial column tile); the spare lanes repeat the last channel
    (their outputs are not used).
    """
    if not isinstance(params, RequantParams):
        raise TypeError(f"params must be a RequantParams, got {type(params).__name__}")
    n = params.channels
    b = None if bias is None else np.asarray(bias, dtype=np.int64)
    if b is not None and b.ndim > 1:
        raise NumericsError(f"bias: must be a scalar or 1-D, got shape {b.shape}")
    nb = None if b is None or b.ndim == 0 else b.size
    for name, cnt in (("params", n), ("bias", nb)):
        if cnt is not None and not 1 <= cnt <= lanes:
            raise NumericsError(f"{name}: {cnt} channels, allowed 1..{lanes} (the unit's lanes, cols)")
    out = []
    for i in range(lanes):
        k = min(i, (n or 1) - 1)
        kb = min(i, (nb or 1) - 1)
        bias_i = 0 if b is None else int(b if b.ndim == 0 else b[kb])
        if not -(1 << 31) <= bias_i < (1 << 31):
            raise NumericsError(f"bias={bias_i}: out of range, allowed int32")
        f = {
            "scheme": int(params.scheme == "onnx"),
            "single": int(params.rounding == "single"),
            "bias": bias_i,
            "multiplier": 0, "shift": 0, "scale": 0,
            "zero_point": _per_lane(params.zero_point, n, k),
            "qmin": _per_lane(params.qmin, n, k),
            "qmax": _per_lane(params.qmax, n, k),
        }
        if params.scheme == "tflite":
            f["multiplier"] = _per_lane(params.multiplier, n, k)
            f["shift"] = _per_lane(params.shift, n, k)
        else:
            s = np.float32(_per_lane(params.scale, n, k))
            f["scale"] = int(s.view(np.uint32))
        out.append(f)
    return out


def encode_lanes(params: RequantParams, lanes: int, bias=None) -> list[int]:
    """One :data:`LANE_PARAMS` word (an int) per lane."""
    return [LANE_PARAMS.const(f).as_bits() for f in lane_fields(params, lanes, bias)]


#: A lane's parameters after reset: all zero (TFLite, multiplier 0: every output is the
#: zero point 0), clamped to int8.
RESET_LANE = {"scheme": 0, "single": 0, "bias": 0, "multiplier": 0, "shift": 0, "scale": 0,
              "zero_point": 0, "qmin": -128, "qmax": 127}


def lane_problem(fields: dict) -> str | None:
    """Why the lane word ``fields`` (:data:`LANE_PARAMS`) cannot be used, or None.

    This is the REQUANT check of the fetch unit (:attr:`~.isa.Status.BAD_REQUANT`), the
    same rules :class:`~.numerics.RequantParams` enforces, stated on the bits:

    - ``scheme`` 0 (TFLite): ``shift`` in ``-31..30`` (``multiplier`` is any 31-bit value,
      ``scale`` is ignored);
    - ``scheme`` 1 (ONNX): ``scale`` the bits of a positive finite float32 (normal or
      subnormal: sign 0, exponent not all ones, not zero); ``multiplier``, ``shift`` and
      ``single`` are ignored;
    - the output type is uint8 when ``qmax`` or ``zero_point`` exceed 127, else int8;
      ``zero_point``, ``qmin`` and ``qmax`` lie in that type and ``qmin <= qmax``.
    """
    if fields["scheme"] == 0:
        if not SHIFT_RANGE[0] <= fields["shift"] <= SHIFT_RANGE[1]:
            return f"shift={fields['shift']}: out of range, allowed {SHIFT_RANGE[0]}..{SHIFT_RANGE[1]}"
    elif scale_bits_problem(fields["scale"]):
        return scale_bits_problem(fields["scale"])
    return output_range_problem(fields["zero_point"], fields["qmin"], fields["qmax"])


def lane_requant(fields: dict) -> tuple[RequantParams, int]:
    """What one lane computes with parameter word ``fields`` (:data:`LANE_PARAMS`): the
    :class:`RequantParams` and the bias. The output type follows the ranges: uint8 when
    ``qmax`` or the zero point exceed 127, else int8 (where both could apply, the bits
    are the same)."""
    onnx = bool(fields["scheme"])
    out_dtype = "uint8" if max(fields["qmax"], fields["zero_point"]) > 127 else "int8"
    return RequantParams(
        "onnx" if onnx else "tflite", fields["zero_point"], out_dtype,
        multiplier=None if onnx else fields["multiplier"], shift=None if onnx else fields["shift"],
        scale=float(np.uint32(fields["scale"]).view(np.float32)) if onnx else None,
        rounding="single" if fields["single"] else "double",
        qmin=fields["qmin"], qmax=fields["qmax"]), fields["bias"]


def requant_lanes(cfg: AcceleratorConfig, acc, fields: list[dict]) -> np.ndarray:
    """The unit's output bits (uint8) for accumulator vectors ``acc`` (shape ``(n, cols)``)
    with lane ``j`` set to ``fields[j]`` (fields of :func:`lane_params_layout`)."""
    if cfg.is_float:
        return fp8_requant_lanes(cfg, acc, fields)
    acc = np.asarray(acc, dtype=np.int64)
    if acc.ndim != 2 or acc.shape[1] != cfg.cols or len(fields) != cfg.cols:
        raise NumericsError(f"acc: shape {acc.shape} and {len(fields)} lanes, expected (n, cols={cfg.cols})")
    x = wrap_int32(acc)
    cols = []
    for j, f in enumerate(fields):
        params, bias = lane_requant(f)
        cols.append(requantize(x[:, j], params, bias=bias).astype(np.int64) & 0xFF)
    return np.stack(cols, axis=1).astype(np.uint8)


def requant_golden(cfg: AcceleratorConfig, acc, params: RequantParams, bias=None) -> np.ndarray:
    """What the unit outputs for accumulator vectors ``acc`` (shape ``(n, cols)``).

    Returns the output values (int8 or uint8 per ``params.out_dtype``), channel ``j`` of
    ``params``/``bias`` on column ``j`` (per-tensor values on every column).
    """
    bits = requant_lanes(cfg, acc, lane_fields(params, cfg.cols, bias))
    return bits.view(OUTPUT_TYPES[params.out_dtype][2])
