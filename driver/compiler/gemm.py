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

import heapq
from dataclasses import dataclass, field
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
    memo: dict = field(default_factory=dict, repr=False)

    def cached(self, what: str, *key):
        """``a_loads``/``stores`` of ``key``, computed once per spec (candidates share them)."""
        k = (what, *key)
        if k not in self.memo:
            self.memo[k] = getattr(self, what)(*key)
        return self.memo[k]


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
        return (f"{tiling.rows} rows x {tiling.n_tiles} channel tiles: needs {tiling.rows * tiling.n_tiles} "
                f"accumulator rows, acc_rows={cfg.acc_rows}")
    return None


class _Cache:
    """Slots of one scratchpad region, replaced by Belady's rule (see the module docstring);
    among operands never used again, the least recently used goes first."""

    def __init__(self, base: int, slot_rows: int, slots: int):
        self.base, self.slot_rows = base, slot_rows
        self.free = list(range(slots - 1, -1, -1))
        self.where: dict[Hashable, int] = {}
        self.next: dict[Hashable, int] = {}
        self.heap: list = []
        self.clock = 0

    def _touch(self, key, next_use: int) -> None:
        self.next[key] = next_use
        self.clock += 1
        heapq.heappush(self.heap, (-next_use, self.clock, key))

    def _victim(self, pinned: set) -> tuple[Hashable, bool]:
        """The resident operand needed furthest ahead, not pinned if there is one."""
        skipped = []
        while self.heap:
            entry = heapq.heappop(self.heap)
            key = entry[2]
            if key not in self.where or self.next[key] != -entry[0]:
                continue                    # stale
            if key in pinned:
                skipped.append(entry)
                continue
            for e in skipped:
                heapq.heappush(self.heap, e)
            return key, False
        key = skipped[0][2]
        for e in skipped[1:]:
            heapq.heappush(self.heap, e)
        return key, True

    def place(self, key, next_use: int, pinned: set) -> tuple[int, bool | None]:
        """``(first row, late)`` of ``key``, whose next use after this one is
        ``next_use``: ``late`` None when it is resident already, False when loaded into a
        free or unpinned slot, True when it has to replace an operand in ``pinned`` (used
        by the step before)."""
        if key in self.where:
            self._touch(key, next_use)
            return self.base + self.where[key] * self.slot_rows, None
        late = False
        if self.free:
            slot = self.free.pop()
        else:
            victim, late = self._victim(pinned)
            slot = self.where.pop(victim)
            del self.next[victim]
        self.where[key] = slot
        self._touch(key, next_use)
        return self.base + slot * self.slot_rows, late


def _acc_parts(cfg: AcceleratorConfig, part_rows: int, nb: int) -> list[int]:
    """First rows of the accumulator's part slots (one channel tile of a tile each), in the
    order parts take them: consecutive parts in different banks when the banks hold them,
    so a part is stored from one bank while the array accumulates into another (a store
    reading the bank the array accumulates into waits for its read port)."""
    per_bank = cfg.acc_rows // cfg.acc_banks
    slots = per_bank // part_rows
    if cfg.acc_banks >= 2 and slots * cfg.acc_banks >= nb:
        return [b * per_bank + k * part_rows for k in range(slots) for b in range(cfg.acc_banks)]
    return [k * part_rows for k in range(cfg.acc_rows // part_rows)]


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
    next_use: list[list[int]] = [[1 << 62, 1 << 62] for _ in steps]   # of each step's operands
    seen: dict = {}
    for s in range(len(steps) - 1, -1, -1):
        for i, k in enumerate(keys[s]):
            next_use[s][i] = seen.get(k, 1 << 62)
            seen[k] = s
    a_cache = _Cache(reg.inputs[0], tiling.rows, (reg.inputs[1] - reg.inputs[0]) // tiling.rows)
    w_block = nb * cfg.rows
    w_cache = _Cache(reg.weights[0], w_block, (reg.weights[1] - reg.weights[0]) // w_block)
    acc_parts = _acc_parts(cfg, tiling.rows, nb)
    part_of = {}                                   # (tile, channel tile) -> accumulator row
    for t, (_, k) in enumerate(tiles):
        for j in range(*blocks[k]):
            part_of[t, j] = acc_parts[len(part_of) % len(acc_parts)]
    tile_bytes = cfg.rows * cfg.cols
    rows_of = {}

    def loads(s: int) -> tuple[list[Op], list[Op]]:
        t, c = steps[s]
        bi, k = tiles[t]
        pinned = set(keys[s - 1]) if s else set()
        early, late = [], []
        row, where = w_cache.place(keys[s][1], next_use[s][1], pinned)
        rows_of[("W", s)] = row
        if where is not None:
            j0, j1 = blocks[k]
            d = spec.memo.get(("w", c, j0, j1))
            if d is None:
                d = spec.memo[("w", c, j0, j1)] = desc(cfg, "weight chunk", spec.w_addr + (c * nt_total + j0) * tile_bytes,
                                                       ((j1 - j0) * cfg.rows, cfg.cols), (cfg.cols, 1))
            (late if where else early).append(load_op(d, row, "weights"))
        row, where = a_cache.place(keys[s][0], next_use[s][0], pinned)
        rows_of[("A", s)] = row
        if where is not None:
            ops = [load_op(d, row + off, "input") for d, off in spec.cached("a_loads", boxes[bi], c)]
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

    def stores(t: int) -> list[Op]:
        box, (j0, j1) = boxes[tiles[t][0]], blocks[tiles[t][1]]
        out = []
        for j in range(j0, j1):
            n0 = j * cfg.cols
            out += requants(spec.lanes[j])
            out += [store_op(d, part_of[t, j] + off)
                    for d, off in spec.cached("stores", box, n0, min(cfg.cols, spec.n - n0))]
        return out

    def disjoint(t: int, u: int) -> bool:
        mine = {part_of[t, j] for j in range(*blocks[tiles[t][1]])}
        return not mine & {part_of[u, j] for j in range(*blocks[tiles[u][1]])}

    # a tile's stores come after the first step of the next tile (when the two use different
    # accumulator rows): its REQUANTs and STOREs, waiting in the store queue for its last
    # computes, then do not hold up the fetch of the next tile's loads and computes
    ops: list[Op] = []
    early, late = loads(0)
    ops += early + late
    waiting: list[Op] = []
    for s, (t, c) in enumerate(steps):
        early, late = loads(s + 1) if s + 1 < len(steps) else ([], [])
        ops += early
        bi, k = tiles[t]
        box, (j0, j1) = boxes[bi], blocks[k]
        for j in range(j0, j1):
            ops.append(compute_op(cfg, a_row=rows_of[("A", s)], b_row=rows_of[("W", s)] + (j - j0) * cfg.rows,
                                  c_row=part_of[t, j], count=box.rows, accumulate=c > 0,
                                  rows_used=spec.chunks[c], cols_used=min(cfg.cols, spec.n - j * cfg.cols)))
        ops += late
        if c == 0:
            ops += waiting
            waiting = []
        if c == kt - 1:
            if t + 1 < len(tiles) and disjoint(t, t + 1):
                waiting = stores(t)
            else:
                ops += stores(t)
    ops += waiting
    return ops, len(tiles), len(steps)
