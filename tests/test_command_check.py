"""The fetch unit's decoder (hw/command_check.py, Amaranth simulator) == the ISA checker
(:func:`systolica.model.isa.check_command`) on random command bits, legal and not (each
command held for the check's pipeline latency)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from systolica.hw.command_check import LATENCY, CommandCheck
from systolica.hw.multiplier import TARGETS
from systolica.hw.stage_multiplier import StageMultiplier
from systolica.model.config import AcceleratorConfig
from systolica.model.bits import pack
from systolica.model.dma import DIMS, DescriptorError, DmaError, descriptor_from_fields
from systolica.model.isa import Opcode, Status, check_command, command_layout, decode_command
from systolica.sim.commands import _pick, random_command, random_dma_fields

from mult18x18d_model import modelled
from source_mutants import mutated

CONFIGS = [
    AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32),
    AcceleratorConfig(rows=3, cols=5, spad_rows=32, acc_rows=16, acc_bits=40, bus_bits=128,
                      dataflows=("ws",), addr_bits=40),
    AcceleratorConfig(rows=6, cols=2, spad_rows=128, acc_rows=64, acc_bits=16, dataflows=("os",)),
    # FP8: the FP8 lane word (fp8_lane_problem) and 8- and 16-byte partial-sum elements
    AcceleratorConfig(rows=2, cols=3, spad_rows=64, acc_rows=32, input_type="fp8_e4m3"),
    AcceleratorConfig(rows=3, cols=2, spad_rows=32, acc_rows=16, input_type="fp8_e4m3",
                      weight_type="fp8_e5m2", bus_bits=128),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name + "_" + c.config_hash()[:4])
def test_decoder_equals_isa_checker(cfg, seed):
    _decoder_equals_isa_checker(cfg, seed)


#: Mutants of the WINDOW check (``hw/dma_common.py``) the test above must catch: its sign
#: tests one byte off, and a span's sign misread (the carry-save sum has its own test,
#: ``tests/test_carry_save_sim.py``).
_WINDOW_MUTANTS = {
    "past the window's end allowed": ("(hi_end >= 0)", "(hi_end >= 1)"),
    "ending at the window's end refused": ("(hi_end >= 0)", "(hi_end >= -1)"),
    "starting at the window's start refused": ("(lo_end < 0)", "(lo_end <= 0)"),
    "a positive span taken as negative": ("Mux(x[-1], 0, x)", "Mux(x[-1] | (x == 1), 0, x)"),
}


@pytest.mark.parametrize("mutant", sorted(_WINDOW_MUTANTS))
def test_decoder_check_catches_a_wrong_window_check(mutant, monkeypatch):
    import systolica.hw.command_check as command_check

    _decoder_equals_isa_checker(CONFIGS[0], seed=1)      # the real check passes this seed
    changed = mutated("systolica.hw.dma_common", *_WINDOW_MUTANTS[mutant])
    monkeypatch.setattr(command_check, "check_command", changed.check_command)
    with pytest.raises(AssertionError, match="RTL"):
        _decoder_equals_isa_checker(CONFIGS[0], seed=1)


def _decoder_equals_isa_checker(cfg, seed):
    rng = np.random.default_rng(seed)
    dut = CommandCheck(cfg)
    width = len(dut.cmd.as_value())
    statuses = set()
    edges = set()

    async def bench(ctx):
        for _ in range(800):
            lo = int(rng.integers(0, 1 << 12))
            window = (lo, lo + int(rng.integers(0, 1 << 12)))
            raw = random_command(rng, cfg, window)
            extent = _extent(cfg, raw)
            if rng.random() < 0.5:               # a window that ends at the extent's ends
                window = _window_at_extent(rng, cfg, extent, window)
            ctx.set(dut.cmd.as_value(), raw & ((1 << width) - 1))
            ctx.set(dut.window.lo, window[0])
            ctx.set(dut.window.hi, window[1])
            await ctx.tick().repeat(LATENCY)       # the check is pipelined
            want = check_command(cfg, raw, window)
            got = (Status(ctx.get(dut.status)), ctx.get(dut.dma_error))
            if want[0] is not Status.DMA:
                got = (got[0], want[1])          # dma_error only means something with DMA
            assert got == want, f"command {raw:#x} window {window}: RTL {got}, model {want}"
            statuses.add(want if want[0] is Status.DMA else want[0])
            if want in ((Status.OK, DmaError.OK), (Status.DMA, DmaError.WINDOW)):
                edges.update(_at_edges(extent, window))     # the WINDOW check decided

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # the random commands reached every way of failing a check
    kinds = {s if isinstance(s, Status) else s[1].name for s in statuses}
    # ... and, where the WINDOW check decided, the extent's ends fell on the window's
    # ends and one byte past them
    assert edges >= {("lo", 0), ("lo", -1), ("hi", 0), ("hi", 1)}, edges
    for need in (Status.OK, Status.ILLEGAL_OPCODE, Status.ILLEGAL_TOKENS, Status.COMPUTE_RANGE,
                 Status.BAD_REQUANT, "BAD_DESCRIPTOR", "ROW_RANGE", "WINDOW"):
        assert need in kinds, f"never produced {need}: {kinds}"


def _extreme_dma(rng, cfg, window) -> int:
    """A LOAD or STORE whose sizes, pads, strides and base reach the check's widths: sizes
    up to 0xFFFF, 255-element pads, strides over the whole 32-bit range, on-chip row
    counts around the room left above ``row`` (the row check's boundary, and products of
    two sizes far beyond the clamp the pipelined check applies), bases anywhere."""
    store = bool(rng.random() < 0.5)
    fields = random_dma_fields(rng, cfg, window, store=store)
    capacity = cfg.acc_rows if fields["target"] else cfg.spad_rows
    big = lambda: int(_pick(rng, [1, 2, 3, 0xFFFF, 0xFFFE, int(rng.integers(1, 1 << 16))]))
    sizes = [big() if rng.random() < 0.5 else int(rng.integers(1, 5)) for _ in range(DIMS)]
    if rng.random() < 0.5:         # on-chip rows just below, at or just above the room
        room = capacity - fields["row"]
        want = max(1, room + int(rng.integers(-1, 2)))
        d0 = int(rng.integers(1, 5))
        sizes[:3] = [d0, max(1, want // d0), 1]
    pads = lambda: [int(_pick(rng, [0, 0, 1, 255])) if rng.random() < 0.3 else 0 for _ in range(DIMS)]
    fields.update(sizes=sizes, pad_before=pads() if not store else [0] * DIMS,
                  pad_after=pads() if not store else [0] * DIMS,
                  strides=[int(_pick(rng, [0, 1, -1, (1 << 31) - 1, -(1 << 31), 1 << 17, -(1 << 17),
                                           int(rng.integers(-(1 << 31), 1 << 31))])) for _ in range(DIMS)],
                  base=int(rng.integers(1 << cfg.addr_bits)) if rng.random() < 0.5 else window[0])
    opcode = Opcode.STORE if store else Opcode.LOAD
    layout = command_layout(cfg)
    return (pack(layout["header"].shape, {"opcode": opcode.value})
            | (pack(layout["body"].shape, {"dma": fields}) << layout["body"].offset))


def _modelled_cells(monkeypatch):
    """The ``"ecp5"`` target's ``MULT18X18D`` cells replaced by their model."""
    cell = StageMultiplier.mult18x18d
    monkeypatch.setattr(StageMultiplier, "mult18x18d", lambda self, *args: modelled(cell(self, *args)))


def test_ecp5_target_puts_every_product_in_a_cell():
    """Each span's two products and the first row product: one ``MULT18X18D`` each on
    "ecp5"; the second row product too, its operands in the fabric (the first is
    saturated there) and only the product in the cell (``inputs=False``)."""
    for target, cells in (("generic", 0), ("ecp5", 2 * DIMS + 2)):
        check = CommandCheck(CONFIGS[0], target)
        m = check.elaborate(None)
        names = [f"check_span_{part}{d}" for part in ("lo", "hi") for d in range(DIMS)]
        mults = [m.submodules[name] for name in names + ["check_rows01", "check_onchip_rows"]]
        assert all(isinstance(x, StageMultiplier) for x in mults), [type(x) for x in mults]
        assert sum(x.uses_dsp_primitive for x in mults) == cells, target
        assert [x.inputs for x in mults] == [True] * (2 * DIMS + 1) + [False]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("cfg", CONFIGS[:3], ids=lambda c: c.name + "_" + c.config_hash()[:4])
def test_decoder_equals_isa_checker_at_the_limits(cfg, target, seed, monkeypatch):
    """DMA commands at the extremes of every field the pipelined check multiplies or sums
    (split span products, clamped row product, extent sums), any window; the products
    built for ``target`` (the "ecp5" cells modelled)."""
    if target == "ecp5":
        _modelled_cells(monkeypatch)
    rng = np.random.default_rng(seed)
    dut = CommandCheck(cfg, target)
    width = len(dut.cmd.as_value())
    seen = set()

    async def bench(ctx):
        n = 0
        while n < 300 or ({"OK", "ROW_RANGE", "WINDOW", "BAD_DESCRIPTOR"} - seen and n < 3000):
            n += 1
            lo = int(rng.integers(0, 1 << cfg.addr_bits))
            window = (lo, int(rng.integers(lo, 1 << cfg.addr_bits)) if rng.random() < 0.5 else (1 << cfg.addr_bits) - 1)
            raw = _extreme_dma(rng, cfg, window)
            ctx.set(dut.cmd.as_value(), raw & ((1 << width) - 1))
            ctx.set(dut.window.lo, window[0])
            ctx.set(dut.window.hi, window[1])
            await ctx.tick().repeat(LATENCY)
            want = check_command(cfg, raw, window)
            got = (Status(ctx.get(dut.status)), ctx.get(dut.dma_error))
            if want[0] is not Status.DMA:
                got = (got[0], want[1])
            assert got == want, f"command {raw:#x} window {window}: RTL {got}, model {want}"
            seen.add(want[1].name if want[0] is Status.DMA else want[0].name)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert {"OK", "ROW_RANGE", "WINDOW", "BAD_DESCRIPTOR"} <= seen, seen


def _extent(cfg, raw):
    """The LOAD/STORE command's byte extent ``[first, stop)``, or None (not a DMA
    command, or bits no descriptor has)."""
    try:
        cmd = decode_command(cfg, raw)
        return descriptor_from_fields(cmd["body"]["dma"]).extent
    except (ValueError, KeyError, DescriptorError):
        return None


def _window_at_extent(rng, cfg, extent, window):
    """A window whose ends lie on the command's ``extent``'s ends or one byte either side
    (the WINDOW check's boundaries), when the command has an extent."""
    if extent is None:
        return window
    lo, hi = (x + int(rng.integers(-1, 2)) for x in extent)
    if lo < 0 or hi >= 1 << cfg.addr_bits:
        return window
    return lo, hi


def _at_edges(extent, window):
    """``("lo", d)``: the extent's first byte lies ``d`` from the window's low end (``first -
    lo``); ``("hi", d)``: its end ``d`` from the high end (``stop - hi``); for ``d`` in -1,
    0, 1 (none without an extent)."""
    if extent is None:
        return set()
    ends = (("lo", extent[0] - window[0]), ("hi", extent[1] - window[1]))
    return {(side, d) for side, d in ends if -1 <= d <= 1}
