"""Choosing a layer's tiling: candidate tilings that fit the memories, each scheduled
(:mod:`.gemm`) and its cycles predicted by the performance model
(:mod:`systolica.driver.perf_model`); the fastest wins (ties: fewer DRAM bytes, then fewer
commands)."""

from __future__ import annotations

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


def choose(cfg: AcceleratorConfig, specs: list[GemmSpec], weight_image: bytes, out_shape: tuple, macs: int,
           out_rows: int, tile: Tiling | None) -> LayerProgram:
    """The :class:`LayerProgram` of ``specs`` (GEMMs run one after the other, e.g. the
    groups of a convolution) with ``tile``, or with the fastest candidate."""
    from ..perf_model import estimate

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
    best, seen = None, set()
    for t in tilings:
        ops, tiles, steps = [], 0, 0
        for spec in specs:
            o, ti, st = schedule(cfg, spec, t)
            ops, tiles, steps = ops + o, tiles + ti, steps + st
        sig = tuple((o.cmd.opcode, o.cmd.body.get("count"), o.cmd.body.get("row")) for o in ops)
        if sig in seen:
            continue
        seen.add(sig)
        cmds = emit(cfg, ops)
        est = estimate(cfg, cmds)
        key = (est.cycles, est.dram_bytes, len(cmds))
        if best is None or key < best[0]:
            best = (key, LayerProgram(ops, cmds, weight_image, out_shape, macs, t, tiles, steps, est))
    return best[1]
