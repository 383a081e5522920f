"""Choosing a layer's tiling: candidate tilings that fit the memories, each scheduled
(:mod:`.gemm`) and its cycles predicted by the performance model
(:mod:`systolica.driver.perf_model`); the fastest wins (ties: fewer DRAM bytes, then fewer
commands, then the earlier candidate). Lower bounds of the prediction spare predicting
candidates that cannot win; a long layer's candidates are first extrapolated from a short
prefix (:data:`PREFIX_BOXES`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ...model.config import AcceleratorConfig
from ...model.isa import Command, encode_program
from .common import MAX_COUNT, CompileError
from .emit import Op, emit
from .gemm import ORDERS, GemmSpec, Tiling, fits, regions, schedule

__all__ = ["LayerProgram", "candidates", "choose"]


@dataclass
class LayerProgram:
    """A compiled layer: ``ops`` (for chaining, :mod:`.network`) and ``commands`` (the
    layer alone, with its tokens, no END), the ``weight_image`` it expects at ``w_addr``,
    its output ``out_shape``, ``macs`` (real multiply-accumulates), the ``tiling`` chosen,
    its ``tiles`` and ``steps``, and ``estimate`` (the performance model's
    :class:`~systolica.driver.perf_model.Estimate` of the layer alone)."""

    ops: list[Op]
    commands: list[Command]
    weight_image: bytes
    out_shape: tuple[int, ...]
    macs: int
    tiling: Tiling
    tiles: int = 0
    steps: int = 0
    estimate: object = field(default=None, repr=False)

    def program(self, cfg: AcceleratorConfig) -> bytes:
        return encode_program(cfg, self.commands)


def candidates(cfg: AcceleratorConfig, spec: GemmSpec, out_rows: int) -> list[Tiling]:
    """Tilings worth predicting: channel tiles per tile 1, 2, 4, .. all; output rows per
    tile as many as fit with two accumulator slots (else one), half and a quarter of that,
    and as many as let a whole A panel stay resident; both loop orders."""
    nt = -(-spec.n // cfg.cols)
    kt = len(spec.chunks)
    nbs = sorted({min(nt, 1 << i) for i in range(nt.bit_length() + 1)})
    out = []
    for nb in nbs:
        probe = Tiling(1, nb)
        reg = regions(cfg, probe)
        a_rows = reg.inputs[1] - reg.inputs[0]
        acc = cfg.acc_rows // nb
        top = min(a_rows // 2 if a_rows >= 2 * cfg.rows else a_rows, acc // 2 if acc >= 2 * cfg.rows else acc,
                  MAX_COUNT, out_rows)
        if top < 1:
            continue
        rows = {top, -(-top // 2), -(-top // 4), min(top, max(1, a_rows // (kt + 1)))}
        for r in sorted(rows):
            if r < 1:
                continue
            for order in ORDERS:
                t = Tiling(r, nb, order)
                if fits(cfg, t) is None:
                    out.append(t)
    return out


def _schedule(cfg: AcceleratorConfig, specs: list[GemmSpec], t: Tiling) -> tuple[list[Op], int, int]:
    ops, tiles, steps = [], 0, 0
    for spec in specs:
        o, ti, st = schedule(cfg, spec, t)
        ops, tiles, steps = ops + o, tiles + ti, steps + st
    return ops, tiles, steps


def _array_bound(cfg: AcceleratorConfig, specs: list[GemmSpec], t: Tiling) -> int:
    """The array's part of :func:`~systolica.driver.perf_model.lower_bound` from the tiling
    alone (before scheduling): every box streams through the array once per chunk and
    channel tile (the last COMPUTE may take less than a step: subtracted)."""
    from ..perf_model import compute_gap

    step = compute_gap(cfg)
    total, least = 0, step
    for spec in specs:
        per_box = len(spec.chunks) * -(-spec.n // cfg.cols)
        for box in spec.boxes(t.rows):
            c = max(box.rows, 1)
            total += max(c, step) * per_box
            least = min(least, c)
    return total - (step - least)


#: A candidate of more than ``PREFIX_BOXES * 8`` boxes (of output rows) is first predicted
#: from two prefixes of the layer, its first ``PREFIX_BOXES`` and ``2 * PREFIX_BOXES``
#: boxes: the second minus the first is the steady-state cost of ``PREFIX_BOXES`` boxes,
#: extrapolated to the whole layer. It is predicted whole only when that is within
#: :data:`NEAR` of the best whole prediction so far.
PREFIX_BOXES = 3
NEAR = 1.03


def _prefix(spec: GemmSpec, k: int) -> GemmSpec:
    """``spec`` cut to its first ``k`` boxes (for any tile size); shares its memo."""
    return dataclasses.replace(spec, boxes=lambda cap: spec.boxes(cap)[:k], memo=spec.memo)


def _extrapolated(cfg: AcceleratorConfig, specs: list[GemmSpec], t: Tiling) -> float | None:
    """Predicted cycles of the whole layer from two prefixes, or None when it is short."""
    from ..perf_model import estimate

    boxes, k = len(specs[0].boxes(t.rows)), PREFIX_BOXES
    if boxes <= 8 * k:
        return None
    e1, e2 = (estimate(cfg, emit(cfg, _schedule(cfg, [_prefix(s, n) for s in specs], t)[0])).cycles
              for n in (k, 2 * k))
    return e1 + (boxes - k) / k * (e2 - e1)


def choose(cfg: AcceleratorConfig, specs: list[GemmSpec], weight_image: bytes, out_shape: tuple, macs: int,
           out_rows: int, tile: Tiling | None) -> LayerProgram:
    """The :class:`LayerProgram` of ``specs`` (GEMMs run one after the other, e.g. the
    groups of a convolution) with ``tile``, or with the fastest candidate by the
    performance model. Candidates go in the order of a lower bound of their prediction
    (:func:`_array_bound`), and stop once the bound exceeds the best prediction; a scheduled
    candidate is skipped when its :func:`~systolica.driver.perf_model.lower_bound` does, or (a long one) when its
    extrapolation (:data:`PREFIX_BOXES`) is not within :data:`NEAR` of it."""
    from ..perf_model import estimate, lower_bound

    if tile is not None:
        why = fits(cfg, tile)
        if why:
            raise CompileError(why)
        tilings = [tile]
    else:
        tilings = candidates(cfg, specs[0], out_rows)
        if not tilings:
            need = cfg.rows + 1
            raise CompileError(f"spad_rows={cfg.spad_rows}: one tile needs {need} scratchpad rows "
                               f"({cfg.rows} weight rows + 1 input row); allowed spad_rows >= {need}")
    order = sorted((_array_bound(cfg, specs, t), i, t) for i, t in enumerate(tilings))
    best, seen = None, set()
    for bound, index, t in order:
        if best is not None and bound > best[0][0]:
            break                      # this one and every later one: slower than the best
        ops, tiles, steps = _schedule(cfg, specs, t)
        sig = tuple((o.cmd.opcode, o.cmd.body.get("count"), o.cmd.body.get("row")) for o in ops)
        if sig in seen:
            continue
        seen.add(sig)
        if best is not None:
            if lower_bound(cfg, (o.cmd for o in ops)) > best[0][0]:
                continue
            guess = _extrapolated(cfg, specs, t)
            if guess is not None and guess > best[0][0] * NEAR:
                continue
        cmds = emit(cfg, ops)
        est = estimate(cfg, cmds)
        key = (est.cycles, est.dram_bytes, len(cmds), index)
        if best is None or key < best[0]:
            best = (key, LayerProgram(ops, cmds, weight_image, out_shape, macs, t, tiles, steps, est))
    return best[1]
