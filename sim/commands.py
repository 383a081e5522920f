"""Random command *bits*, legal and not: every field of :func:`systolica.model.isa.command_layout`
drawn from a mix of sensible values and edge cases (zero sizes, negative and zero strides,
descriptors leaving the window or the memories, pad values that do not fit, counts of 0 and
65535, unsupported dataflows, REQUANT shifts, scales and clamps out of range, illegal
opcodes and token bits). Used to check the fetch unit's decoder against
:func:`systolica.model.isa.check_command` and by the fuzzer to corrupt programs.
"""

from __future__ import annotations

import numpy as np

from ..model.array import Dataflow
from ..model.bits import pack
from ..model.config import AcceleratorConfig
from ..model.dma import DIMS, onchip_rows_limit
from ..model.isa import Opcode, command_layout

__all__ = ["random_command", "random_dma_fields", "random_compute_fields", "random_requant_fields",
           "random_lane_params", "random_fp8_lane_params"]


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def random_dma_fields(rng: np.random.Generator, cfg: AcceleratorConfig, window, *, store: bool) -> dict:
    """A DMA command's fields: mostly plausible, sometimes wrong in one way or another."""
    target = int(rng.random() < 0.4)
    if store:
        eb = 1 if rng.random() < 0.9 else _pick(rng, [2, 4, 8])
    elif target:
        eb = _pick(rng, [4, cfg.acc_elem_bytes, 1, 2]) if rng.random() < 0.95 else 8
        if cfg.acc_elem_bytes == 16 and rng.random() < 0.03:   # elem_log2 has 3 bits: 16..128
            eb = _pick(rng, [16, 32, 128])
    else:
        eb = 1 if rng.random() < 0.9 else _pick(rng, [2, 4, 8])
    width = cfg.cols if target else cfg.spad_row_elems
    sizes = [int(rng.integers(1, 4)) for _ in range(DIMS)]
    sizes[3] = int(rng.integers(1, width + 1)) if rng.random() < 0.9 else int(rng.integers(1, 2 * width + 2))
    if rng.random() < 0.05:
        sizes[int(rng.integers(DIMS))] = 0
    if rng.random() < 0.02:
        sizes[int(rng.integers(DIMS))] = 0xFFFF
    strides = [0] * DIMS
    step = eb
    for d in reversed(range(DIMS)):
        strides[d] = step
        step *= max(sizes[d], 1)
    for d in range(DIMS):
        r = rng.random()
        if r < 0.08:
            strides[d] = 0
        elif r < 0.15:
            strides[d] = -strides[d]
        elif r < 0.2:
            strides[d] = int(rng.integers(-300, 300))
        elif r < 0.22:
            strides[d] = int(rng.integers(-(1 << 31), 1 << 31))
    lo, hi = window
    span = max(hi - lo, 1)
    r = rng.random()
    if r < 0.85:
        base = lo + int(rng.integers(span))
    elif r < 0.95:
        base = max(0, lo - int(rng.integers(1, 512)))
    else:
        base = int(rng.integers(1 << cfg.addr_bits))
    base = min(max(base, 0), (1 << cfg.addr_bits) - 1)
    pads_b = [0] * DIMS
    pads_a = [0] * DIMS
    if not store or rng.random() < 0.05:
        for d in range(DIMS):
            if rng.random() < 0.2:
                pads_b[d] = int(rng.integers(0, 3)) if rng.random() < 0.95 else 255
            if rng.random() < 0.2:
                pads_a[d] = int(rng.integers(0, 3))
    half = 1 << (min(8 * eb, 64) - 1)
    pad_value = int(rng.integers(-half, half)) if rng.random() < 0.95 else int(rng.integers(-(1 << 40), 1 << 40))
    capacity = cfg.acc_rows if target else cfg.spad_rows
    row = int(rng.integers(capacity)) if rng.random() < 0.95 else int(rng.integers(onchip_rows_limit(cfg)))
    return {"store": int(store) if rng.random() < 0.97 else int(not store), "target": target,
            "transpose": int(not store and rng.random() < 0.15) or int(rng.random() < 0.01),
            "elem_log2": eb.bit_length() - 1, "row": row, "base": base, "sizes": sizes,
            "strides": strides, "pad_before": pads_b, "pad_after": pads_a, "pad_value": pad_value}


def random_compute_fields(rng: np.random.Generator, cfg: AcceleratorConfig) -> dict:
    r = rng.random()
    count = int(rng.integers(1, 2 * cfg.rows + 2)) if r < 0.9 else (0 if r < 0.95 else int(rng.integers(1, 1 << 16)))
    return {"dataflow": Dataflow(int(rng.integers(2))), "accumulate": int(rng.integers(2)),
            "a_row": int(rng.integers(cfg.spad_rows)), "b_row": int(rng.integers(cfg.spad_rows)),
            "c_row": int(rng.integers(cfg.acc_rows)), "count": count,
            "rows_used": int(rng.integers(cfg.rows + 1)) if rng.random() < 0.95
            else int(rng.integers(1 << max(cfg.rows.bit_length(), 1))),
            "cols_used": int(rng.integers(cfg.cols + 1)) if rng.random() < 0.95
            else int(rng.integers(1 << max(cfg.cols.bit_length(), 1)))}


def _random_scale(rng: np.random.Generator, lo: float, hi: float) -> int:
    """Float32 bits of a scale: mostly ``2**uniform(lo, hi)``, sometimes any value,
    subnormal, or not a positive finite float32."""
    r = rng.random()
    if r < 0.7:
        return int(np.float32(2.0 ** rng.uniform(lo, hi)).view(np.uint32))
    if r < 0.8:
        return int(np.float32(rng.uniform(1e-4, 4.0)).view(np.uint32))
    if r < 0.88:
        return int(rng.integers(1, 1 << 23))                       # subnormal
    return _pick(rng, [0, 0x7F800000, 0x7FC00000, 0xBF800000, 0x80000000, 0x7F7FFFFF, 1])


def _random_clamp(rng: np.random.Generator) -> tuple[int, int, int]:
    """``(zero_point, qmin, qmax)`` of an integer output, inside int8 or uint8 mostly."""
    lo, hi = (-128, 127) if rng.random() < 0.5 else (0, 255)
    zp = int(rng.integers(lo, hi + 1)) if rng.random() < 0.5 else (0 if lo < 0 else 128)
    if rng.random() < 0.6:
        a, b = lo, hi
    else:
        a, b = sorted(int(x) for x in rng.integers(lo, hi + 1, size=2))
        if rng.random() < 0.1:
            a, b = b, a
    if rng.random() < 0.05:
        zp = int(rng.integers(-256, 256))
    if rng.random() < 0.05:
        a = int(rng.integers(-256, 256))
    return zp, a, b


def random_fp8_lane_params(rng: np.random.Generator, cfg: AcceleratorConfig) -> dict:
    """One FP8 lane word (:func:`systolica.model.requant_fp8.fp8_lane_params`): mostly
    valid, with scales around 1 (the sums are values, not integers), biases of a few
    products and now and then an out_type 3 or a bad scale or clamp."""
    out_type = (2 if rng.random() < 0.5 else int(rng.integers(2))) if rng.random() < 0.97 else 3
    half = 1 << (cfg.acc_bits - 1)
    unit = 1 << cfg.acc_format.frac_bits
    bias = int(rng.integers(-64 * unit, 64 * unit)) if rng.random() < 0.8 else (int(rng.integers(-(1 << 62), 1 << 62)) << max(0, cfg.acc_bits - 63)) % (2 * half) - half
    if rng.random() < 0.2:
        bias = 0
    zp, qmin, qmax = _random_clamp(rng)
    if rng.random() < 0.1:                       # an empty clamp (qmin > qmax) more often
        qmin, qmax = max(qmin, qmax), min(qmin, qmax) - int(qmin == qmax)
    return {"out_type": out_type, "relu": int(rng.random() < 0.3), "bias": bias,
            "scale": _random_scale(rng, -6, 2), "zero_point": zp, "qmin": qmin, "qmax": qmax}


def random_lane_params(rng: np.random.Generator, cfg: AcceleratorConfig | None = None) -> dict:
    """One lane's parameter word: mostly valid and *observable* (scales that keep typical
    sums of int8 products apart instead of saturating them), with every way of being
    invalid now and then. FP8 configurations: :func:`random_fp8_lane_params`."""
    if cfg is not None and cfg.is_float:
        return random_fp8_lane_params(rng, cfg)
    scheme = int(rng.integers(2))
    r = rng.random()
    shift = int(rng.integers(-16, 1)) if r < 0.7 else int(rng.integers(-31, 31)) if r < 0.9 \
        else _pick(rng, [-32, 31, -31, 30])
    multiplier = int(rng.integers(1 << 30, 1 << 31)) if rng.random() < 0.7 else int(rng.integers(0, 1 << 31))
    scale = _random_scale(rng, -14, 0)
    zp, a, b = _random_clamp(rng)
    bias = int(rng.integers(-(1 << 12), 1 << 12)) if rng.random() < 0.8 else int(rng.integers(-(1 << 31), 1 << 31))
    return {"scheme": scheme, "single": int(rng.integers(2)), "bias": bias, "multiplier": multiplier,
            "shift": shift, "scale": scale, "zero_point": zp, "qmin": a, "qmax": b}


def random_requant_fields(rng: np.random.Generator, cfg: AcceleratorConfig) -> dict:
    lane_bits = max((cfg.cols - 1).bit_length(), 0)
    lane = int(rng.integers(cfg.cols)) if rng.random() < 0.9 or not lane_bits else int(rng.integers(1 << lane_bits))
    return {"all_lanes": int(rng.random() < 0.4), "lane": lane, "params": random_lane_params(rng, cfg)}


def random_command(rng: np.random.Generator, cfg: AcceleratorConfig, window) -> int:
    """One command's bits (as an integer), any opcode, any token bits."""
    r = rng.random()
    if r < 0.04:
        opcode = int(rng.integers(5, 16))
    else:
        opcode = _pick(rng, [Opcode.LOAD, Opcode.STORE, Opcode.COMPUTE, Opcode.REQUANT, Opcode.END]).value
    header = {"opcode": opcode, **{bit: int(rng.random() < 0.3) for bit in
                                   ("pop_prev", "pop_next", "push_prev", "push_next")}}
    body = {}
    if opcode in (Opcode.LOAD.value, Opcode.STORE.value):
        body = {"dma": random_dma_fields(rng, cfg, window, store=opcode == Opcode.STORE.value)}
    elif opcode == Opcode.COMPUTE.value:
        body = {"compute": random_compute_fields(rng, cfg)}
    elif opcode == Opcode.REQUANT.value:
        body = {"requant": random_requant_fields(rng, cfg)}
    layout = command_layout(cfg)
    return pack(layout["header"].shape, header) | (pack(layout["body"].shape, body) << layout["body"].offset)
