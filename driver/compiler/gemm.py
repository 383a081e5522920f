"""The tiled GEMM schedule every layer lowers to (weight-stationary).

A layer is ``Y = requant(A @ W + bias')``: ``A`` has one row per output row (a batch row,
or an output pixel of a convolution) and ``K`` columns cut into *chunks* of at most
``cfg.rows`` (a convolution's chunk is one kernel tap's channels, or several taps of a
narrow input); ``W`` is the layer's weight image (:class:`GemmSpec`), ``N`` output
channels cut into *channel tiles* of ``cfg.cols``.

Tiles
    An output *tile* is a *box* of output rows (at most ``tiling.rows``) by a block of
    ``tiling.n_tiles`` channel tiles, one accumulator slot (``rows x n_tiles`` rows). Its
    *steps* are its chunks in order: per step, the box's A chunk and the block's weight
    chunks must be in the scratchpad, then one COMPUTE per channel tile streams the box's
    rows through the array (``accumulate`` from the second chunk on). After the last step
    the store queue sets the lanes that changed (REQUANT) and STOREs each channel tile.
    Tiles run boxes outer (``order="rows"``) or channel blocks outer (``"channels"``).

Operands and their reuse
    The scratchpad holds two regions, weights and A rows, in different banks when there
    are two or more (the array's weight and input read ports then never meet: a bank
    conflict costs a bubble per tile). Each region is a set of slots (a weight block of
    one chunk, ``n_tiles x rows`` rows; an A chunk of one box, ``tiling.rows`` rows)
    managed as a cache with the whole future known: an operand already resident is not
    loaded again, and a load replaces the resident operand needed furthest in the future
    (Belady's rule). So whatever fits is reused across tiles -- a box's whole A panel
    while the channel blocks go by (rows outer), a block's weight panel while the boxes go
    by (channels outer) -- and the rest streams through the free slots.

Program order and overlap
    The loads of step ``s+1`` come before the computes of step ``s`` (so the load queue
    works one step ahead), except a load that must replace an operand step ``s`` still
    uses (too few slots): it comes after them. Accumulator slots rotate, so the stores of
    a tile overlap the computes of the next ones. The tokens follow from the rows each
    command touches (:mod:`.emit`): a compute waits for exactly the loads of its operands,
    a store for the last compute of its channel tile, a load for the last compute that read
    the slot it overwrites.

Edges need no special case: the DMA writes whole scratchpad rows with zeros past the
vector, and weight chunks are zero past their real rows and columns in the weight image,
so the lanes and columns a partial chunk does not use contribute 0 and are never stored.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Callable, Hashable

from ...model.config import AcceleratorConfig
from .common import MAX_COUNT, CompileError, desc
from .emit import Op, compute_op, load_op, requant_op, store_op

__all__ = ["Tiling", "Regions", "GemmSpec", "regions", "schedule", "ORDERS"]

#: Loop orders of the tiles: boxes of output rows outer, or channel blocks outer.
ORDERS = ("rows", "channels")


@dataclass(frozen=True)
class Tiling:
    """``rows``: output rows per tile at most; ``n_tiles``: channel tiles per tile;
    ``order``: :data:`ORDERS`."""

    rows: int
    n_tiles: int
    order: str = "rows"


@dataclass(frozen=True)
class Regions:
    """Scratchpad rows ``[lo, hi)`` of the weight and A regions, accumulator rows."""

    weights: tuple[int, int]
    inputs: tuple[int, int]
    acc_rows: int


@dataclass
class GemmSpec:
    """One GEMM to schedule (see the module docstring).

    ``chunks``: real K rows of each chunk. The weight image at ``w_addr`` holds, per
    chunk ``c`` and channel tile ``j``, ``cfg.rows`` rows of ``cfg.cols`` bytes at
    ``w_addr + (c * n_tiles + j) * rows * cols``. ``lanes[j]``: requantization fields of
    channel tile ``j``. ``boxes(rows)``: the boxes of at most ``rows`` output rows, in
    order (each has ``.rows``). ``a_loads(box, c)``: ``(descriptor, first row)`` of the
    loads that fill the box's A chunk ``c`` (rows relative to the slot). ``stores(box, n0,
    nt)``: ``(descriptor, first row)`` of the stores of channels ``n0..n0+nt-1``.
    """

    n: int
    chunks: list[int]
    w_addr: int
    lanes: list[list[dict]]
    boxes: Callable[[int], list]
    a_loads: Callable[[object, int], list]
    stores: Callable[[object, int, int], list]


def regions(cfg: AcceleratorConfig, tiling: Tiling) -> Regions:
    """Weights and A rows in different halves (banks) of the scratchpad when there are two
    or more banks and the tiling fits a half; else one bank: the weight region takes two
    weight blocks (one when only one leaves room for the A rows) and A rows the rest."""
    half = cfg.spad_rows // 2
    block = tiling.n_tiles * cfg.rows
    if cfg.spad_banks >= 2 and block <= half and tiling.rows <= half:
        return Regions((0, half), (half, cfg.spad_rows), cfg.acc_rows)
    w = 2 * block if cfg.spad_rows - 2 * block >= tiling.rows else block
    return Regions((0, w), (w, cfg.spad_rows), cfg.acc_rows)


def fits(cfg: AcceleratorConfig, tiling: Tiling) -> str | None:
    """Why ``tiling`` does not fit (None: it does)."""
    r = regions(cfg, tiling)
    block = tiling.n_tiles * cfg.rows
    if tiling.order not in ORDERS:
        return f"order={tiling.order!r}: allowed {list(ORDERS)}"
    if tiling.rows < 1 or tiling.n_tiles < 1 or tiling.rows > MAX_COUNT:
        return f"rows={tiling.rows}, n_tiles={tiling.n_tiles}: need rows 1..{MAX_COUNT}, n_tiles >= 1"
    if block > r.weights[1] - r.weights[0]:
        return (f"{tiling.n_tiles} channel tiles need {block} weight rows, the weight region of the "
                f"scratchpad has {r.weights[1] - r.weights[0]}")
    if tiling.rows > r.inputs[1] - r.inputs[0]:
        return (f"{tiling.rows} output rows need {tiling.rows} input rows, the input region of the "
                f"scratchpad has {r.inputs[1] - r.inputs[0]}")
    if tiling.rows * tiling.n_tiles > cfg.acc_rows:
        return f"{tiling}: needs {tiling.rows * tiling.n_tiles} accumulator rows, acc_rows={cfg.acc_rows}"
    return None


class _Cache:
    """Slots of one scratchpad region, replaced by Belady's rule (see the module docstring)."""

    def __init__(self, base: int, slot_rows: int, slots: int, uses: dict[Hashable, list[int]]):
        self.base, self.slot_rows = base, slot_rows
        self.keys: list[Hashable | None] = [None] * slots
        self.where: dict[Hashable, int] = {}
        self.uses = uses

    def _next_use(self, key, step: int) -> int:
        u = self.uses[key]
        i = bisect.bisect_left(u, step)
        return u[i] if i < len(u) else 1 << 62

    def place(self, key, step: int, pinned: set) -> tuple[int, bool | None]:
        """``(first row, late)`` of ``key`` for ``step``: ``late`` None when it is resident
        already, False when loaded into a free or unpinned slot, True when it has to replace
        an operand in ``pinned`` (used by the step before)."""
        if key in self.where:
            return self.base + self.where[key] * self.slot_rows, None
        late = False
        if None in self.keys:
            slot = self.keys.index(None)
        else:
            cands = [s for s, k in enumerate(self.keys) if k not in pinned]
            if not cands:
                late = True
                cands = [s for s, k in enumerate(self.keys) if self._next_use(k, step) != step]
            slot = max(cands, key=lambda s: self._next_use(self.keys[s], step))
            del self.where[self.keys[slot]]
        self.keys[slot] = key
        self.where[key] = slot
        return self.base + slot * self.slot_rows, late


def schedule(cfg: AcceleratorConfig, spec: GemmSpec, tiling: Tiling) -> tuple[list[Op], int, int]:
    """The operations of ``spec`` under ``tiling`` (see the module docstring); also the
    number of tiles and of steps."""
    why = fits(cfg, tiling)
    if why:
        raise CompileError(why)
    reg = regions(cfg, tiling)
    nt_total = -(-spec.n // cfg.cols)
    nb = min(tiling.n_tiles, nt_total)
    blocks = [(j0, min(nt_total, j0 + nb)) for j0 in range(0, nt_total, nb)]
    boxes = spec.boxes(tiling.rows)
    if tiling.order == "rows":
        tiles = [(b, k) for b in range(len(boxes)) for k in range(len(blocks))]
    else:
        tiles = [(b, k) for k in range(len(blocks)) for b in range(len(boxes))]
    kt = len(spec.chunks)
    steps = [(t, c) for t in range(len(tiles)) for c in range(kt)]
    keys = [(("A", tiles[t][0], c), ("W", c, tiles[t][1])) for t, c in steps]
    uses: dict = {}
    for s, ks in enumerate(keys):
        for k in ks:
            uses.setdefault(k, []).append(s)
    a_cache = _Cache(reg.inputs[0], tiling.rows, (reg.inputs[1] - reg.inputs[0]) // tiling.rows, uses)
    w_block = nb * cfg.rows
    w_cache = _Cache(reg.weights[0], w_block, (reg.weights[1] - reg.weights[0]) // w_block, uses)
    acc_slot_rows = nb * tiling.rows
    acc_slots = max(1, reg.acc_rows // acc_slot_rows)
    tile_bytes = cfg.rows * cfg.cols
    rows_of = {}

    def loads(s: int) -> tuple[list[Op], list[Op]]:
        t, c = steps[s]
        bi, k = tiles[t]
        pinned = set(keys[s - 1]) if s else set()
        early, late = [], []
        row, where = w_cache.place(keys[s][1], s, pinned)
        rows_of[("W", s)] = row
        if where is not None:
            j0, j1 = blocks[k]
            d = desc(cfg, "weight chunk", spec.w_addr + (c * nt_total + j0) * tile_bytes,
                     ((j1 - j0) * cfg.rows, cfg.cols), (cfg.cols, 1))
            (late if where else early).append(load_op(d, row, "weights"))
        row, where = a_cache.place(keys[s][0], s, pinned)
        rows_of[("A", s)] = row
        if where is not None:
            ops = [load_op(d, row + off, "input") for d, off in spec.a_loads(boxes[bi], c)]
            (late if where else early).extend(ops)
        return early, late

    state: list = [None] * cfg.cols

    def requants(want: list[dict]) -> list[Op]:
        diff = [lane for lane, f in enumerate(want) if state[lane] != f]
        if not diff:
            return []
        if len(diff) > 1 and all(f == want[0] for f in want):
            state[:] = [want[0]] * cfg.cols
            return [requant_op(None, want[0])]
        for lane in diff:
            state[lane] = want[lane]
        return [requant_op(lane, want[lane]) for lane in diff]

    ops: list[Op] = []
    early, late = loads(0)
    ops += early + late
    for s, (t, c) in enumerate(steps):
        early, late = loads(s + 1) if s + 1 < len(steps) else ([], [])
        ops += early
        bi, k = tiles[t]
        box, (j0, j1) = boxes[bi], blocks[k]
        acc = (t % acc_slots) * acc_slot_rows
        for j in range(j0, j1):
            ops.append(compute_op(cfg, a_row=rows_of[("A", s)], b_row=rows_of[("W", s)] + (j - j0) * cfg.rows,
                                  c_row=acc + (j - j0) * box.rows, count=box.rows, accumulate=c > 0,
                                  rows_used=spec.chunks[c], cols_used=min(cfg.cols, spec.n - j * cfg.cols)))
        ops += late
        if c == kt - 1:
            for j in range(j0, j1):
                n0 = j * cfg.cols
                ops += requants(spec.lanes[j])
                for d, off in spec.stores(box, n0, min(cfg.cols, spec.n - n0)):
                    ops.append(store_op(d, acc + (j - j0) * box.rows + off))
    return ops, len(tiles), len(steps)
