"""The compiler: quantized layers -> a program of :mod:`systolica.model.isa` commands.

Everything here is host-side and exact; the golden machine (:mod:`systolica.model.machine`)
running a compiled program must reproduce :mod:`systolica.model.reference` bit for bit.

Lowering (weight-stationary GEMM)
    Every layer becomes ``Y = requant(X @ W + bias')`` with ``X`` (pixels or batch rows,
    K) int8, ``W`` (K, N) int8 and per-output-channel requantization. The output is cut
    into *tiles* (:class:`Blocking`): ``rows`` output rows by ``n_tiles`` output-channel
    tiles of ``cols``, one accumulator buffer each (``n_tiles*rows`` rows). A tile is a
    sequence of *steps*, one per K chunk of ``cfg.rows``: LOAD ``n_tiles`` weight chunks
    (``kt x nt``) and one input chunk (``rows x kt``) into one scratchpad buffer, then
    ``n_tiles`` COMPUTEs (WS, ``accumulate`` from the second step on) stream the same
    input rows through the array against each weight chunk -- the input chunk is read
    from DRAM once per ``n_tiles*cols`` channels. After the last step the store queue
    sets the requantization lanes of each channel tile (REQUANT, one per lane, or one
    for all lanes when they agree; skipped when unchanged: loops are ordered channels
    outer, rows inner) and STOREs it through requantization with a strided descriptor
    that writes only the valid columns. :func:`blocking` picks ``(rows, n_tiles)`` to
    minimise the estimated DRAM traffic (inputs re-read per channel block, weights per
    row tile, 64 bytes per command) within the buffers' capacity.

    Edges need no special case: the DMA writes whole scratchpad rows with zeros past the
    vector, so an input chunk of ``kt < rows`` has zeros in lanes ``kt..rows-1`` (whatever
    stale weights face them contribute 0), and a weight chunk of ``nt < cols`` gives zero
    columns that are never stored.

Input zero point
    The array computes ``sum_k x*w`` without zero points. Weights are symmetric (zero
    point 0, else :class:`CompileError`), so the input zero point folds into the bias on
    the host, as TFLite/gemmlowp do: ``bias'[n] = bias[n] - x_zp * sum_k W[k, n]``
    (int32 wrap). With ``acc_bits >= 32`` the accumulator wraps modulo a multiple of 2^32
    and the requantizer wraps to int32, so the result is exact; narrower accumulators
    are accepted only when no raw sum can wrap (else :class:`CompileError`).

Double buffering and tokens (VTA's scheme)
    The scratchpad is split in two halves (bank-aligned when ``spad_banks >= 2``; one
    buffer when half of it cannot hold a tile), each ``[n_tiles*rows weight rows | input
    rows]``; the accumulator in two halves. Step ``s`` uses scratchpad buffer ``s % 2``, tile
    ``t`` accumulator half ``t % 2``. Tokens (every pop is of a push earlier in program
    order, so a finite queue never deadlocks, and every push has its pop):

    - load step ``s``: the first LOAD pops ``next`` (buffer free, from compute ``s-2``)
      when ``s >= 2``; the last LOAD pushes ``next`` (data ready);
    - COMPUTEs of step ``s``: the first pops ``prev`` (data ready) and, on a tile's
      first step with ``t >= 2``, ``next`` (accumulator half free, from the stores of
      tile ``t-2``); the last pushes ``prev`` (buffer free) when step ``s+2`` exists and,
      on a tile's last step, ``next`` (sums ready);
    - stores of tile ``t``: REQUANTs need no token (the store queue is in order); the
      first STORE pops ``prev``; the last pushes ``prev`` when tile ``t+2`` exists.

    So loads of step ``s+1`` overlap the compute of step ``s``, and the stores of tile
    ``t`` overlap the computes of tile ``t+1``.

Layers in a network (:func:`compile_network`)
    A layer reads what the previous one stored, a store -> load dependency that only the
    execute queue can relay: the last STORE of a layer pushes ``prev``; a *barrier* (a
    one-row COMPUTE whose result nobody reads, as VTA's dependency NOPs) pops it and
    pushes ``prev``; the first LOAD of the next layer pops that. The barrier adds one MAC
    (``rows_used = cols_used = 1``) to the MAC counter and one array beat.

Convolution (DMA-side im2col, no im2col buffer in DRAM)
    NCHW input, weights reordered on the host to ``(kh*kw*C, M)`` with K ordered
    ``(ki, kj, c)``. One step is one kernel tap ``(ki, kj)`` and a chunk of up to
    ``rows`` input channels: its input chunk is a 4-D descriptor over a box of output
    pixels ``(n, oh, ow)`` (strides ``C*H*W, sh*W, sw``) whose vector is the channel
    chunk (stride ``H*W``), starting at the tap's shifted window. Borders are the DMA's
    padding with ``pad_value = x_zp`` (a real zero after the fold), per dimension: the
    valid output rows/columns of a tap are a sub-box. A tap that misses the input
    entirely for the whole box reads one constant ``x_zp`` byte (stored after the
    weights) with all strides 0. Output tiles are boxes of whole images, whole output
    rows, or a run of one row; the STORE writes NCHW with strides
    ``(M*OH*OW, OW, 1, OH*OW)``. Groups (depthwise included) are one sub-convolution per
    group at shifted bases.

    Costs: every input byte is read once per tap and channel block
    (``kh*kw*ceil(M/(n_tiles*cols))`` times); the channel vector is a strided gather (one byte per
    DMA run: NCHW keeps channels ``H*W`` apart, an NHWC layout would make it one run);
    each step fills only ``min(C, rows)`` of the array's rows (a 1-channel first layer
    uses 1/rows of the array).

Not done: keeping a weight or input panel resident across tiles (each tile reloads
its chunks), loads that skip an unchanged weight chunk, the OS dataflow, pooling and
residual layers, NHWC activations.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..model.config import AcceleratorConfig
from ..model.dma import PAD_RANGE, SIZE_RANGE, STRIDE_RANGE, TensorDescriptor
from ..model.isa import COMMAND_BYTES, Command, Opcode, encode_program
from ..model.numerics import RequantParams, wrap_int32
from ..model.requant import lane_fields
from ..model.requant_fp8 import Fp8RequantParams, fp8_lane_fields

__all__ = [
    "CompileError", "Plan", "plan", "Blocking", "blocking", "fold_input_zero_point", "linear_weight_image",
    "conv2d_weight_image", "conv2d_output_shape", "LayerProgram", "compile_linear",
    "compile_conv2d", "compile_layer", "barrier", "Region", "DramLayout", "NetworkProgram",
    "compile_network", "DRAM_ALIGN",
]

#: Alignment of every DRAM region the compiler allocates (bytes).
DRAM_ALIGN = 64
#: Largest ``count`` of one COMPUTE command.
MAX_COUNT = (1 << 16) - 1
#: Largest magnitude of one int8 x int8 product (-128 * -128).
MAX_PRODUCT = 1 << 14


class CompileError(ValueError):
    """A layer the configuration cannot run; the message names the limit. Raised before
    anything runs."""


# --------------------------------------------------------------------------------------
# capacity plan
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """How the on-chip memories are split.

    ``spad_buffers`` scratchpad buffers of ``spad_buffer_rows`` rows (weight chunks of
    ``cfg.rows`` rows, then input rows), ``acc_buffers`` accumulator buffers of
    ``acc_buffer_rows`` rows.
    """

    spad_buffers: int
    spad_buffer_rows: int
    acc_buffers: int
    acc_buffer_rows: int


def plan(cfg: AcceleratorConfig) -> Plan:
    """Double buffers where a half holds a tile, else single buffers."""
    need = cfg.rows + 1
    if cfg.spad_rows < need:
        raise CompileError(f"spad_rows={cfg.spad_rows}: one tile needs {need} scratchpad rows "
                           f"({cfg.rows} weight rows + 1 input row); allowed spad_rows >= {need}")
    spad_buffers = 2 if cfg.spad_rows // 2 >= need else 1
    acc_buffers = 2 if cfg.acc_rows >= 2 else 1
    return Plan(spad_buffers, cfg.spad_rows // spad_buffers, acc_buffers, cfg.acc_rows // acc_buffers)


@dataclass(frozen=True)
class Blocking:
    """One layer's tile shape: a tile is ``rows`` output rows (batch rows or pixels) by
    ``n_tiles`` output-channel tiles of ``cols``; each step loads one input chunk and
    ``n_tiles`` weight chunks and runs ``n_tiles`` COMPUTEs, so the input chunk is read
    once per ``n_tiles * cols`` output channels."""

    rows: int
    n_tiles: int


def blocking(cfg: AcceleratorConfig, p: Plan, m: int, k: int, n: int, per_channel: bool = True,
             k_steps: int | None = None) -> Blocking:
    """The tile shape for an ``(m, k) @ (k, n)`` GEMM with the least estimated DRAM
    traffic (input and weight bytes loaded, plus 64 bytes per command fetched) that fits
    one scratchpad buffer (``n_tiles*cfg.rows`` weight rows + ``rows`` input rows) and
    one accumulator buffer (``n_tiles*rows`` rows). ``k_steps``: steps per tile (default
    ``ceil(k/cfg.rows)``; a convolution has one per tap and channel chunk)."""
    kt, nt = k_steps or -(-k // cfg.rows), -(-n // cfg.cols)
    best = None
    for nb in range(1, nt + 1):
        rows = min(p.acc_buffer_rows // nb, p.spad_buffer_rows - nb * cfg.rows, MAX_COUNT, m)
        if rows < 1:
            break
        mtiles, nblocks = -(-m // rows), -(-nt // nb)
        steps = mtiles * nblocks * kt
        requants = (cfg.cols if per_channel else 1) * nt * (1 if nb == 1 else mtiles)
        commands = steps * (2 * nb + 1) + requants + mtiles * nt
        cost = m * k * nblocks + k * n * mtiles + COMMAND_BYTES * commands
        if best is None or cost < best[0]:
            best = (cost, Blocking(rows, nb))
    return best[1]


def _blocking(cfg, p: Plan, forced: Blocking | None, m: int, k: int, n: int, per_channel: bool,
              k_steps: int | None = None) -> Blocking:
    if forced is None:
        return blocking(cfg, p, m, k, n, per_channel, k_steps)
    rows, nb = forced.rows, forced.n_tiles
    if rows < 1 or nb < 1 or nb * rows > p.acc_buffer_rows or nb * cfg.rows + rows > p.spad_buffer_rows \
            or rows > MAX_COUNT:
        raise CompileError(f"{forced}: needs {nb * rows} accumulator rows (a buffer has "
                           f"{p.acc_buffer_rows}) and {nb * cfg.rows + rows} scratchpad rows (a buffer "
                           f"has {p.spad_buffer_rows}), rows 1..{MAX_COUNT}")
    return forced


# --------------------------------------------------------------------------------------
# host-side tensors
# --------------------------------------------------------------------------------------
def _int8(name: str, a, ndim: int, cfg: AcceleratorConfig | None = None) -> np.ndarray:
    """An 8-bit operand tensor: int8 values, or (FP8 configurations, and weight images
    without a configuration) uint8 FP8 codes."""
    a = np.asarray(a)
    allowed = ("int8",) if cfg is not None and not cfg.is_float else \
        ("uint8",) if cfg is not None else ("int8", "uint8")
    if a.dtype.name not in allowed or a.ndim != ndim:
        what = "int8" if allowed == ("int8",) else "uint8 FP8 codes" if cfg is not None else "int8 (or uint8 FP8 codes)"
        raise CompileError(f"{name}: need {what} with {ndim} dimensions, got {a.dtype} {a.shape}")
    return a


def _x_zp(x_zp) -> int:
    if isinstance(x_zp, bool) or not isinstance(x_zp, (int, np.integer)) or not -128 <= x_zp <= 127:
        raise CompileError(f"x_zp={x_zp!r}: the input zero point must be an int8 value, allowed -128..127")
    return int(x_zp)


def fold_input_zero_point(weight_kn: np.ndarray, bias, x_zp: int) -> np.ndarray:
    """``bias'[n] = bias[n] - x_zp * sum_k W[k, n]`` (int32 wrap): with it, the raw
    ``sum_k x*w`` of the array plus ``bias'`` equals ``sum_k (x - x_zp)*w + bias``
    modulo 2^32 (TFLite/gemmlowp's zero-point folding for symmetric weights)."""
    w = np.asarray(weight_kn, dtype=np.int64)
    n = w.shape[1]
    b = np.zeros(n, dtype=np.int64) if bias is None else np.asarray(bias, dtype=np.int64)
    if b.ndim == 0:
        b = np.full(n, int(b), dtype=np.int64)
    if b.shape != (n,):
        raise CompileError(f"bias: need a scalar or {n} values (one per output channel), got shape {b.shape}")
    if b.size and (b.min() < -(1 << 31) or b.max() >= 1 << 31):
        raise CompileError("bias: values out of int32 range")
    return wrap_int32(b - x_zp * w.sum(axis=0)).astype(np.int32)


def linear_weight_image(weight_kn) -> bytes:
    """The bytes :func:`compile_linear` expects at ``w_addr``: ``W`` (K, N) row-major."""
    return np.ascontiguousarray(_int8("weight", weight_kn, 2)).tobytes()


def _conv_matrices(weight: np.ndarray, groups: int) -> list[np.ndarray]:
    """Per group, the (kh*kw*Cg, Mg) GEMM weights, K ordered (ki, kj, c)."""
    m, cg, kh, kw = weight.shape
    mg = m // groups
    return [weight[g * mg:(g + 1) * mg].transpose(2, 3, 1, 0).reshape(kh * kw * cg, mg)
            for g in range(groups)]


def conv2d_weight_image(weight, x_zp: int, groups: int = 1) -> bytes:
    """The bytes :func:`compile_conv2d` expects at ``w_addr``: per group the
    ``(kh*kw*C/groups, M/groups)`` matrix (K ordered ``(ki, kj, c)``), then one byte of
    ``x_zp`` (the input of taps that lie wholly in the padding)."""
    w = _int8("weight", weight, 4)
    _check_groups(w.shape[0], None, w.shape[1], groups)
    mats = b"".join(np.ascontiguousarray(m).tobytes() for m in _conv_matrices(w, groups))
    return mats + np.int8(_x_zp(x_zp)).tobytes()


def _check_groups(m: int, c: int | None, cg: int, groups) -> None:
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise CompileError(f"groups={groups!r}: must be an integer >= 1")
    if m % groups or (c is not None and (c % groups or cg != c // groups)):
        raise CompileError(f"groups={groups}: weight has {m} output channels and {cg} input channels "
                           f"per group, input {c} channels; need M % groups == 0, C % groups == 0 "
                           "and weight.shape[1] == C / groups")


def _pair(name: str, v) -> tuple[int, int]:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    if len(t) != 2 or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 1 for i in t):
        raise CompileError(f"{name}={v!r}: need one or two integers >= 1")
    return int(t[0]), int(t[1])


def _pads(v) -> tuple[int, int, int, int]:
    t = tuple(v) if isinstance(v, (tuple, list)) else (v,) * 4
    if len(t) == 2:
        t = (t[0], t[1], t[0], t[1])
    if len(t) != 4 or any(isinstance(i, bool) or not isinstance(i, (int, np.integer)) or i < 0 for i in t):
        raise CompileError(f"pads={v!r}: need (top, left, bottom, right) integers >= 0")
    return tuple(int(i) for i in t)


def conv2d_output_shape(in_hw, kernel, stride=1, pads=0, dilation=1) -> tuple[int, int]:
    """``(OH, OW)``; ``pads`` ``(top, left, bottom, right)`` as ONNX/QConv2d."""
    (h, w), (kh, kw) = in_hw, kernel
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    pt, pl, pb, pr = _pads(pads)
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    if oh < 1 or ow < 1:
        raise CompileError(f"convolution output would be empty: input {h}x{w}, kernel {kh}x{kw}, "
                           f"pads {(pt, pl, pb, pr)}, dilation {(dh, dw)}")
    return oh, ow


def _slice_params(p, lo: int, hi: int):
    if isinstance(p, Fp8RequantParams):
        return dataclasses.replace(p, scale=p.scale[lo:hi]) if isinstance(p.scale, tuple) else p
    changes = {k: getattr(p, k)[lo:hi] for k in p._fields() if isinstance(getattr(p, k), tuple)}
    return dataclasses.replace(p, **changes) if changes else p


def _check_layer(cfg: AcceleratorConfig, requant, n: int, k: int) -> None:
    if cfg.is_float:
        _check_fp8_layer(cfg, requant, n, k)
        return
    if not isinstance(requant, RequantParams):
        raise CompileError(f"requant: need a RequantParams, got {type(requant).__name__}")
    if requant.channels not in (None, n):
        raise CompileError(f"requant: {requant.channels} channels, the layer has {n} output channels")
    if cfg.acc_bits < 32 and k * MAX_PRODUCT > (1 << (cfg.acc_bits - 1)) - 1:
        raise CompileError(f"acc_bits={cfg.acc_bits}: a reduction over K={k} int8 products can "
                           f"reach {k * MAX_PRODUCT} and wrap; need K <= "
                           f"{((1 << (cfg.acc_bits - 1)) - 1) // MAX_PRODUCT} or acc_bits >= 32")


def _check_fp8_layer(cfg: AcceleratorConfig, requant, n: int, k: int) -> None:
    """FP8 configurations: an :class:`Fp8RequantParams` with an 8-bit output (the lanes
    have no FP32 output), and a reduction that always sums exactly."""
    if not isinstance(requant, Fp8RequantParams):
        raise CompileError(f"requant: need an Fp8RequantParams for input_type={cfg.input_type!r}, "
                           f"got {type(requant).__name__}")
    if requant.out_type == "fp32":
        raise CompileError("requant: out_type='fp32' is golden-model only, allowed fp8_e4m3, fp8_e5m2, "
                           "int8, uint8")
    if requant.channels not in (None, n):
        raise CompileError(f"requant: {requant.channels} channels, the layer has {n} output channels")
    if k > cfg.exact_terms:
        raise CompileError(f"acc_bits={cfg.acc_bits}: a reduction over K={k} FP8 products can wrap; "
                           f"need K <= exact_terms={cfg.exact_terms} or a wider acc_bits")


def _layer_bias(cfg: AcceleratorConfig, weight_kn: np.ndarray, bias, x_zp: int) -> np.ndarray:
    """Per output channel, the bias the lanes add: int8, the int32 bias with the input
    zero point folded in (:func:`fold_input_zero_point`); FP8, the bias as given, in
    accumulator units (:func:`~systolica.model.requant_fp8.fixed_bias`; FP8 has no zero
    point)."""
    if not cfg.is_float:
        return fold_input_zero_point(weight_kn, bias, x_zp)
    if x_zp != 0:
        raise CompileError(f"x_zp={x_zp}: FP8 inputs have no zero point, allowed 0")
    n = weight_kn.shape[1]
    b = np.zeros(n, dtype=object) if bias is None else np.asarray(bias, dtype=object)
    if b.ndim == 0:
        b = np.full(n, b.item(), dtype=object)
    if b.shape != (n,):
        raise CompileError(f"bias: need a scalar or {n} values (one per output channel), got shape {b.shape}")
    return b


def _check_wzp(w_zp, n: int) -> None:
    if w_zp is not None and np.any(np.asarray(w_zp) != 0):
        raise CompileError("weight_zero_point: must be 0 (symmetric weights); a nonzero weight zero "
                           "point needs a per-row input sum the array does not compute")


# --------------------------------------------------------------------------------------
# tiles -> commands (double buffering and tokens)
# --------------------------------------------------------------------------------------
@dataclass
class _Part:
    """One output-channel tile of a :class:`_Tile`: its lanes (fields of lanes
    ``0..nt-1``) and the stores of its accumulator rows, in row order."""

    lanes: list[dict]
    stores: list[TensorDescriptor]


@dataclass
class _Tile:
    """One accumulator buffer: ``rows`` output rows for each part (part ``j`` at rows
    ``j*rows ..``); per step, one weight chunk per part and one input chunk."""

    rows: int
    parts: list[_Part]
    steps: list[tuple[list[TensorDescriptor], TensorDescriptor]]


def _requant_commands(lanes: list[dict]) -> list[Command]:
    if all(f == lanes[0] for f in lanes):
        return [Command(Opcode.REQUANT, {"lane": None, "params": lanes[0]})]
    return [Command(Opcode.REQUANT, {"lane": j, "params": f}) for j, f in enumerate(lanes)]


def _emit(cfg: AcceleratorConfig, p: Plan, tiles: list[_Tile], *, wait_first: bool,
          release_last: bool) -> list[Command]:
    """Commands of ``tiles`` with buffers and tokens (see the module docstring).

    ``wait_first``: the first LOAD pops a token from execute (a barrier before it);
    ``release_last``: the last STORE pushes one to execute (for a barrier after it).
    """
    total = sum(len(t.steps) for t in tiles)
    out: list[Command] = []
    s, lanes = 0, None
    for t, tile in enumerate(tiles):
        acc = (t % p.acc_buffers) * p.acc_buffer_rows
        for i, (wdescs, adesc) in enumerate(tile.steps):
            buf = (s % p.spad_buffers) * p.spad_buffer_rows
            a_row = buf + len(wdescs) * cfg.rows
            loads = [Command(Opcode.LOAD, {"desc": d, "row": buf + j * cfg.rows}) for j, d in enumerate(wdescs)]
            loads.append(Command(Opcode.LOAD, {"desc": adesc, "row": a_row}, push_next=True))
            if s >= p.spad_buffers or (s == 0 and wait_first):
                loads[0] = dataclasses.replace(loads[0], pop_next=True)
            out += loads
            last_step = i == len(tile.steps) - 1
            for j in range(len(wdescs)):
                first, last = j == 0, j == len(wdescs) - 1
                k_used, n_used = wdescs[j].onchip_shape      # the weight chunk: real PE rows/cols
                out.append(Command(
                    Opcode.COMPUTE,
                    {"dataflow": "ws", "accumulate": int(i > 0), "a_row": a_row,
                     "b_row": buf + j * cfg.rows, "c_row": acc + j * tile.rows, "count": tile.rows,
                     "rows_used": k_used, "cols_used": n_used},
                    pop_prev=first, pop_next=first and i == 0 and t >= p.acc_buffers,
                    push_prev=last and s + p.spad_buffers < total, push_next=last and last_step))
            s += 1
        stores = []
        for j, part in enumerate(tile.parts):
            if part.lanes != lanes:
                stores += _requant_commands(part.lanes)
                lanes = part.lanes
            row = acc + j * tile.rows
            for desc in part.stores:
                stores.append(Command(Opcode.STORE, {"desc": desc, "row": row, "target": "acc"}))
                row += desc.onchip_shape[0]
        first = next(i for i, c in enumerate(stores) if c.opcode is Opcode.STORE)
        stores[first] = dataclasses.replace(stores[first], pop_prev=True)
        if t + p.acc_buffers < len(tiles) or (t == len(tiles) - 1 and release_last):
            stores[-1] = dataclasses.replace(stores[-1], push_prev=True)
        out += stores
    return out


def barrier() -> Command:
    """A one-row COMPUTE relaying 'all stores done' (from the store queue) to the load
    queue: pops ``next``, pushes ``prev``. Its accumulator row 0 is garbage, read by
    nobody (every tile starts with ``accumulate=0``)."""
    return Command(Opcode.COMPUTE, {"dataflow": "ws", "accumulate": 0, "a_row": 0,
                                    "b_row": 0, "c_row": 0, "count": 1, "rows_used": 1, "cols_used": 1},
                   pop_next=True, push_prev=True)


def _check_desc(cfg: AcceleratorConfig, name: str, d: TensorDescriptor) -> None:
    top = 1 << cfg.addr_bits
    lo, hi = d.extent
    if lo < 0 or hi > top:
        raise CompileError(f"{name}: bytes {lo:#x}..{hi - 1:#x} lie beyond addr_bits={cfg.addr_bits} "
                           f"(DRAM addresses 0..{top - 1:#x})")


def _desc(cfg: AcceleratorConfig, name: str, base: int, sizes, strides, **kw) -> TensorDescriptor:
    for s in sizes:
        if not SIZE_RANGE[0] <= s <= SIZE_RANGE[1]:
            raise CompileError(f"{name}: a DMA dimension of {s} elements, allowed {SIZE_RANGE[0]}..{SIZE_RANGE[1]}")
    for s in strides:
        if not STRIDE_RANGE[0] <= s <= STRIDE_RANGE[1]:
            raise CompileError(f"{name}: a DMA stride of {s} bytes, allowed int32")
    for p in (*kw.get("pad_before", ()), *kw.get("pad_after", ())):
        if not PAD_RANGE[0] <= p <= PAD_RANGE[1]:
            raise CompileError(f"{name}: DMA padding of {p} elements in one dimension, allowed "
                               f"{PAD_RANGE[0]}..{PAD_RANGE[1]}")
    if base < 0 or base >= 1 << cfg.addr_bits:
        raise CompileError(f"{name}: base {base:#x} beyond addr_bits={cfg.addr_bits}")
    d = TensorDescriptor(base, tuple(sizes), tuple(strides), 1, **kw)
    _check_desc(cfg, name, d)
    return d


# --------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------
@dataclass
class LayerProgram:
    """A compiled layer: ``commands`` (no END), the ``weight_image`` it expects at
    ``w_addr``, its output ``out_shape`` (int8 at ``out_addr``, C order) and ``macs``
    (the layer's real multiply-accumulates)."""

    commands: list[Command]
    weight_image: bytes
    out_shape: tuple[int, ...]
    macs: int
    blocking: Blocking
    tiles: int = 0
    steps: int = 0

    def program(self, cfg: AcceleratorConfig) -> bytes:
        return encode_program(cfg, self.commands)


def _lanes(cfg, requant, bias: np.ndarray, n0: int, nt: int) -> list[dict]:
    params = _slice_params(requant, n0, n0 + nt)
    if cfg.is_float:
        try:
            return fp8_lane_fields(cfg, params, bias[n0:n0 + nt])[:nt]
        except ValueError as e:
            raise CompileError(str(e)) from None
    return lane_fields(params, cfg.cols, bias[n0:n0 + nt])[:nt]


def compile_linear(cfg: AcceleratorConfig, weight, bias, requant: RequantParams, *, batch: int,
                   x_addr: int, w_addr: int, out_addr: int, x_zp: int = 0,
                   x_row_stride: int | None = None, out_row_stride: int | None = None,
                   w_zp=None, tile: Blocking | None = None, wait_first: bool = False,
                   release_last: bool = False) -> LayerProgram:
    """``y = requant(x @ W + bias)`` for ``x`` (batch, K) int8 at ``x_addr`` (rows
    ``x_row_stride`` bytes apart, default K), ``W = weight`` (K, N) int8 placed at
    ``w_addr`` as :func:`linear_weight_image`, ``y`` (batch, N) at ``out_addr`` (rows
    ``out_row_stride`` apart, default N). ``bias`` int32 (N,) or None; ``requant`` per
    tensor or N channels; ``x_zp`` the input zero point (folded into the bias). ``tile``
    forces a :class:`Blocking` (default: :func:`blocking`'s choice). ``x``, the weights
    and ``y`` must not overlap: the program orders no access among them."""
    w = _int8("weight", weight, 2, cfg)
    k, n = w.shape
    x_zp = _x_zp(x_zp)
    _check_wzp(w_zp, n)
    _check_layer(cfg, requant, n, k)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise CompileError(f"batch={batch!r}: must be an integer >= 1")
    p = plan(cfg)
    blk = _blocking(cfg, p, tile, batch, k, n, _per_channel(requant, bias, x_zp))
    bias_f = _layer_bias(cfg, w, bias, x_zp)
    xs = k if x_row_stride is None else x_row_stride
    ys = n if out_row_stride is None else out_row_stride
    step = blk.n_tiles * cfg.cols
    tiles = []
    for nb0 in range(0, n, step):
        ns = [(n0, min(cfg.cols, n - n0)) for n0 in range(nb0, min(n, nb0 + step), cfg.cols)]
        lanes = [_lanes(cfg, requant, bias_f, n0, nt) for n0, nt in ns]
        for m0 in range(0, batch, blk.rows):
            mt = min(blk.rows, batch - m0)
            steps = []
            for k0 in range(0, k, cfg.rows):
                kt = min(cfg.rows, k - k0)
                steps.append(([_desc(cfg, "weight chunk", w_addr + k0 * n + n0, (kt, nt), (n, 1))
                               for n0, nt in ns],
                              _desc(cfg, "input chunk", x_addr + m0 * xs + k0, (mt, kt), (xs, 1))))
            parts = [_Part(ln, [_desc(cfg, "output tile", out_addr + m0 * ys + n0, (mt, nt), (ys, 1))])
                     for ln, (n0, nt) in zip(lanes, ns)]
            tiles.append(_Tile(mt, parts, steps))
    cmds = _emit(cfg, p, tiles, wait_first=wait_first, release_last=release_last)
    return LayerProgram(cmds, linear_weight_image(w), (batch, n), batch * k * n, blk, len(tiles),
                        sum(len(t.steps) for t in tiles))


def _per_channel(requant: RequantParams, bias, x_zp: int) -> bool:
    """Whether lanes may differ (then a REQUANT per lane rather than one for all)."""
    return requant.channels is not None or bias is not None or x_zp != 0


def _valid(o0: int, cnt: int, s: int, off: int, size: int) -> tuple[int, int]:
    """Outputs ``o`` in ``[o0, o0+cnt)`` with ``0 <= o*s + off < size``: ``[lo, hi)``."""
    lo = max(o0, -(off // s) if off < 0 else 0)       # ceil(-off / s) for off < 0
    hi = min(o0 + cnt, (size - 1 - off) // s + 1) if size - 1 - off >= 0 else o0
    return lo, max(lo, hi)


def _boxes(batch: int, oh: int, ow: int, cap: int):
    """Output pixel boxes ``(n0, bn, h0, bh, w0, bw)`` of at most ``cap`` pixels, in order."""
    if ow > cap:
        for nn in range(batch):
            for h in range(oh):
                for w0 in range(0, ow, cap):
                    yield nn, 1, h, 1, w0, min(cap, ow - w0)
    elif oh * ow > cap:
        bh = cap // ow
        for nn in range(batch):
            for h0 in range(0, oh, bh):
                yield nn, 1, h0, min(bh, oh - h0), 0, ow
    else:
        bn = min(batch, cap // (oh * ow))
        for n0 in range(0, batch, bn):
            yield n0, min(bn, batch - n0), 0, oh, 0, ow


def compile_conv2d(cfg: AcceleratorConfig, weight, bias, requant: RequantParams, *, batch: int,
                   in_shape: Sequence[int], x_addr: int, w_addr: int, out_addr: int, x_zp: int = 0,
                   stride=1, pads=0, dilation=1, groups: int = 1, w_zp=None, tile: Blocking | None = None,
                   wait_first: bool = False, release_last: bool = False) -> LayerProgram:
    """NCHW int8 convolution: ``x`` (batch, C, H, W) at ``x_addr``, ``weight`` (M,
    C/groups, kh, kw) placed at ``w_addr`` as :func:`conv2d_weight_image`, ``y`` (batch,
    M, OH, OW) at ``out_addr``. ``pads`` ``(top, left, bottom, right)`` with the input
    zero point (by the DMA; nothing padded in DRAM); ``tile`` as :func:`compile_linear`'s
    (its rows are output pixels). See the module docstring."""
    w = _int8("weight", weight, 4, cfg)
    m, cg, kh, kw = w.shape
    try:
        c, h, wd = (int(v) for v in in_shape)
    except (TypeError, ValueError):
        raise CompileError(f"in_shape={in_shape!r}: need (C, H, W)") from None
    _check_groups(m, c, cg, groups)
    x_zp = _x_zp(x_zp)
    _check_wzp(w_zp, m)
    _check_layer(cfg, requant, m, cg * kh * kw)
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise CompileError(f"batch={batch!r}: must be an integer >= 1")
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    pt, pl, _, _ = _pads(pads)
    oh, ow = conv2d_output_shape((h, wd), (kh, kw), (sh, sw), pads, (dh, dw))
    p = plan(cfg)
    groups = int(groups)
    mg = m // groups
    mats = _conv_matrices(w, groups)
    kk = kh * kw * cg
    zp_addr = w_addr + groups * kk * mg
    chw, hw, ohw = c * h * wd, h * wd, oh * ow
    blk = _blocking(cfg, p, tile, batch * oh * ow, kk, mg, _per_channel(requant, bias, x_zp),
                    kh * kw * -(-cg // cfg.rows))
    step = blk.n_tiles * cfg.cols
    tiles = []
    for g, mat in enumerate(mats):
        bias_g = _layer_bias(cfg, mat, None if bias is None else
                             np.asarray(bias, dtype=object if cfg.is_float else None)[g * mg:(g + 1) * mg], x_zp)
        req_g = _slice_params(requant, g * mg, (g + 1) * mg)
        wg = w_addr + g * kk * mg
        xg = x_addr + g * cg * hw
        for nb0 in range(0, mg, step):
            ns = [(n0, min(cfg.cols, mg - n0)) for n0 in range(nb0, min(mg, nb0 + step), cfg.cols)]
            lanes = [_lanes(cfg, req_g, bias_g, n0, nt) for n0, nt in ns]
            for b0, bn, h0, bh, w0, bw in _boxes(batch, oh, ow, blk.rows):
                steps = []
                for ki in range(kh):
                    hlo, hhi = _valid(h0, bh, sh, ki * dh - pt, h)
                    for kj in range(kw):
                        wlo, whi = _valid(w0, bw, sw, kj * dw - pl, wd)
                        for c0 in range(0, cg, cfg.rows):
                            ct = min(cfg.rows, cg - c0)
                            krow = (ki * kw + kj) * cg + c0
                            wdescs = [_desc(cfg, "weight chunk", wg + krow * mg + n0, (ct, nt), (mg, 1))
                                      for n0, nt in ns]
                            if hhi > hlo and whi > wlo:
                                base = (xg + b0 * chw + c0 * hw + (hlo * sh + ki * dh - pt) * wd
                                        + wlo * sw + kj * dw - pl)
                                adesc = _desc(cfg, "input window", base, (bn, hhi - hlo, whi - wlo, ct),
                                              (chw, sh * wd, sw, hw),
                                              pad_before=(0, hlo - h0, wlo - w0, 0),
                                              pad_after=(0, h0 + bh - hhi, w0 + bw - whi, 0),
                                              pad_value=x_zp)
                            else:   # the tap lies in the padding for the whole box
                                adesc = _desc(cfg, "padding input", zp_addr, (bn, bh, bw, ct), (0, 0, 0, 0))
                            steps.append((wdescs, adesc))
                base = out_addr + b0 * m * ohw + g * mg * ohw + h0 * ow + w0
                parts = [_Part(ln, [_desc(cfg, "output tile", base + n0 * ohw, (bn, bh, bw, nt),
                                          (m * ohw, ow, 1, ohw))]) for ln, (n0, nt) in zip(lanes, ns)]
                tiles.append(_Tile(bn * bh * bw, parts, steps))
    cmds = _emit(cfg, p, tiles, wait_first=wait_first, release_last=release_last)
    return LayerProgram(cmds, conv2d_weight_image(w, x_zp, groups), (batch, m, oh, ow),
                        batch * m * ohw * kk, blk, len(tiles), sum(len(t.steps) for t in tiles))


def compile_layer(cfg: AcceleratorConfig, layer, batch: int, *, x_addr: int, w_addr: int,
                  out_addr: int, wait_first: bool = False, release_last: bool = False) -> LayerProgram:
    """A :class:`~systolica.driver.models.QLinear` or ``QConv2d`` layer."""
    common = dict(batch=batch, x_addr=x_addr, w_addr=w_addr, out_addr=out_addr,
                  x_zp=int(layer.input_zero_point), w_zp=layer.weight_zero_point,
                  wait_first=wait_first, release_last=release_last)
    if layer.kind == "linear":
        return compile_linear(cfg, layer.weight, layer.bias, layer.requant, **common)
    if layer.kind == "conv2d":
        lp = compile_conv2d(cfg, layer.weight, layer.bias, layer.requant, in_shape=layer.in_shape,
                            stride=layer.strides, pads=layer.pads, dilation=layer.dilations,
                            groups=layer.groups, **common)
        if lp.out_shape[1:] != tuple(layer.out_shape):
            raise CompileError(f"conv2d: geometry gives output {lp.out_shape[1:]}, the layer says "
                               f"out_shape={tuple(layer.out_shape)}")
        return lp
    raise CompileError(f"layer kind {getattr(layer, 'kind', type(layer).__name__)!r}: not supported, "
                       "allowed 'linear', 'conv2d'")


def _weight_image(layer) -> bytes:
    if layer.kind == "linear":
        return linear_weight_image(layer.weight)
    return conv2d_weight_image(layer.weight, int(layer.input_zero_point), layer.groups)


# --------------------------------------------------------------------------------------
# networks and DRAM layout
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Region:
    name: str
    addr: int
    size: int

    @property
    def end(self) -> int:
        return self.addr + self.size


@dataclass
class DramLayout:
    """A bump allocator of :data:`DRAM_ALIGN`-aligned regions from ``base``."""

    cfg: AcceleratorConfig
    base: int = 0
    regions: dict[str, Region] = field(default_factory=dict)

    @property
    def end(self) -> int:
        return max((r.end for r in self.regions.values()), default=self.base)

    def alloc(self, name: str, size: int) -> Region:
        if name in self.regions:
            raise ValueError(f"region {name!r} allocated twice")
        addr = -(-self.end // DRAM_ALIGN) * DRAM_ALIGN
        r = Region(name, addr, int(size))
        if r.end > 1 << self.cfg.addr_bits:
            raise CompileError(f"DRAM image needs {r.end} bytes (region {name!r} ends at {r.end:#x}), "
                               f"beyond addr_bits={self.cfg.addr_bits} ({1 << self.cfg.addr_bits} bytes)")
        self.regions[name] = r
        return r

    @property
    def size(self) -> int:
        return -(-self.end // DRAM_ALIGN) * DRAM_ALIGN


@dataclass
class NetworkProgram:
    """A whole network in one program.

    ``layout`` names every region (``w0``.., ``x`` the input, ``a0``.. each layer's
    output, the last one the network's output, ``program``); ``init`` are the bytes to
    write before running (weights, program); ``window`` the DRAM window to grant.
    """

    cfg: AcceleratorConfig
    layout: DramLayout
    commands: list[Command]
    program: bytes
    init: list[tuple[int, bytes]]
    input: Region
    input_shape: tuple[int, ...]
    outputs: list[Region]
    output_shapes: list[tuple[int, ...]]
    layers: list[LayerProgram]

    @property
    def program_base(self) -> int:
        return self.layout.regions["program"].addr

    @property
    def window(self) -> tuple[int, int]:
        return (0, self.layout.size)

    @property
    def macs(self) -> int:
        return sum(lp.macs for lp in self.layers)


def _chain_check(net, batch) -> None:
    shape = tuple(net.input_shape)
    if not net.layers:
        raise CompileError("network has no layers")
    for i, layer in enumerate(net.layers):
        got = tuple(layer.in_shape)
        ok = int(np.prod(got)) == int(np.prod(shape)) if layer.kind == "linear" else got == shape
        if not ok:
            raise CompileError(f"layer {i} ({layer.kind}): takes input {got}, but the previous "
                               f"layer gives {shape}: the shapes do not chain")
        if layer.kind == "linear" and layer.weight.shape[0] != int(np.prod(got)):
            raise CompileError(f"layer {i} (linear): weight {layer.weight.shape} does not take "
                               f"{int(np.prod(got))} input features")
        shape = tuple(layer.out_shape)


def compile_network(cfg: AcceleratorConfig, net, batch: int, *, base: int = 0) -> NetworkProgram:
    """One program for ``net`` (a :class:`~systolica.driver.models.QuantizedNet`) on
    ``batch`` samples: layers chained through int8 DRAM buffers (a flatten is only
    addressing: NCHW is C-order), a barrier between layers. DRAM from ``base``: weight
    images, the input, each layer's output, the program; every region 64-byte aligned."""
    if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
        raise CompileError(f"batch={batch!r}: must be an integer >= 1")
    _chain_check(net, batch)
    layout = DramLayout(cfg, base)
    images = [_weight_image(layer) for layer in net.layers]
    wregs = [layout.alloc(f"w{i}", len(img)) for i, img in enumerate(images)]
    x = layout.alloc("x", batch * int(np.prod(net.input_shape)))
    outs = [layout.alloc(f"a{i}", batch * int(np.prod(l.out_shape))) for i, l in enumerate(net.layers)]
    commands, layers, src = [], [], x
    last = len(net.layers) - 1
    for i, layer in enumerate(net.layers):
        try:
            lp = compile_layer(cfg, layer, batch, x_addr=src.addr, w_addr=wregs[i].addr,
                               out_addr=outs[i].addr, wait_first=i > 0, release_last=i < last)
        except CompileError as e:
            raise CompileError(f"layer {i} ({layer.kind}): {e}") from None
        if i > 0:
            commands.append(barrier())
        commands += lp.commands
        layers.append(lp)
        src = outs[i]
    program = encode_program(cfg, commands)
    preg = layout.alloc("program", len(program))
    init = [(r.addr, img) for r, img in zip(wregs, images)] + [(preg.addr, program)]
    return NetworkProgram(cfg, layout, commands, program, init, x, (batch, *net.input_shape), outs,
                          [(batch, *l.out_shape) for l in net.layers], layers)
