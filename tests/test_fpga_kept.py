"""Registers kept twice (or kept apart) on purpose, for timing, still there after the
flow's ``synth_ecp5``: Yosys merges flip-flops that load the same value unless the flow
marks them (``systolica.hw.copies``), and a copy that synthesis folds away buys nothing.
Each test synthesizes one component (seconds) and counts flip-flops or names them."""

import json

import pytest

from systolica.fpga import synthesize_component
from systolica.fpga_report import DEVICES
from systolica.model.config import AcceleratorConfig

ECP5 = DEVICES["LFE5U-85F"]


def _module_and_names(out_dir, top):
    """``out_dir/synth.json``'s module ``top`` and, for each bit, the names of its nets."""
    module = json.loads((out_dir / "synth.json").read_text())["modules"][top]
    names = {}
    for name, net in module["netnames"].items():
        for bit in net["bits"]:
            names.setdefault(bit, set()).add(name)
    return module, names


def _flip_flop_names(out_dir, top):
    """The names of the nets that the flip-flops of ``out_dir/synth.json`` drive."""
    module, names = _module_and_names(out_dir, top)
    return [names.get(cell["connections"]["Q"][0], set()) for cell in module["cells"].values()
            if cell["type"] == "TRELLIS_FF"]


@pytest.mark.parametrize("late_read", [True, False])   # (the controller's queues; the DMA engines' burst queues)
def test_head_fifo_copy_survives_synthesis(tmp_path, late_read):
    """`HeadFIFO(copy=n)`'s second set of head registers (two heads of n bits, two flags,
    the oldest flag, the ready flag) and its register of the entry behind them (n bits) are
    still there after `synth_ecp5`, not merged into the heads it copies: each copy's next
    values come from its own flags."""
    from systolica.hw.head_fifo import HeadFIFO

    ff = {copy: synthesize_component(HeadFIFO(width=40, depth=4, heads=2, late_read=late_read, copy=copy),
                                     f"fifo{copy}", ECP5, tmp_path / str(copy))["FF"] for copy in (0, 8)}
    assert ff[8] - ff[0] == 2 * 8 + 2 + 1 + 1 + 8, ff


@pytest.mark.parametrize("late_read", [True, False])
def test_head_fifo_select_copy_survives_synthesis(tmp_path, late_read):
    """Two heads: the wide heads' select (`select0`) is a flip-flop of its own after
    `synth_ecp5`, beside the oldest flag that the flags' logic reads."""
    from systolica.hw.head_fifo import HeadFIFO

    synthesize_component(HeadFIFO(width=40, depth=4, heads=2, late_read=late_read), "fifo", ECP5, tmp_path)
    names = _flip_flop_names(tmp_path, "fifo")
    oldest = "now_oldest" if late_read else "oldest"
    select = [ns for ns in names if any("select0" in n for n in ns)]
    flag = [ns for ns in names if any(n.endswith(oldest) for n in ns)]
    # (two flip-flops, not one named twice: Yosys merged them unless kept apart)
    assert len(select) == len(flag) == 1 and select != flag, (select, flag)


def test_wide_head_fifo_addresses_each_ram_slice_from_its_own_registers(tmp_path):
    """A queue wider than `SLICE_BITS` (three slices here) has a read address, a write
    address and a write enable for each slice after the first (which has the pointers
    themselves) after `synth_ecp5`, each its own flip-flops."""
    from systolica.hw.head_fifo import SLICE_BITS, HeadFIFO

    synthesize_component(HeadFIFO(width=2 * SLICE_BITS + 7, depth=10, heads=2, late_read=True), "fifo", ECP5, tmp_path)
    names = _flip_flop_names(tmp_path, "fifo")
    for reg, bits in (("behind_raddr", 3), ("behind_waddr", 3), ("behind_wen", 1)):
        for k in (1, 2):
            ffs = [ns for ns in names if any(n.endswith(f"{reg}{k}") for n in ns)]
            others = [ns for ns in ffs if any(n.endswith(f"{reg}{j}") for n in ns for j in range(3) if j != k)]
            assert len(ffs) == bits and not others, (reg, k, ffs)


def test_fetch_checks_a_copy_of_the_command_that_survives_synthesis(tmp_path):
    """The fetch unit's check reads `check_cmd`, a copy of the command register that loads
    only with a word: after `synth_ecp5` it is still there, a flip-flop for every command
    bit the check reads (all but a few of the 8-bit header's), against a copy loaded as the
    register is, which Yosys merges into it."""
    from source_mutants import mutated
    from systolica.hw import fetch
    from systolica.model.isa import command_layout

    cfg = AcceleratorConfig(rows=2, cols=2)
    load = "m.d.sync += [cmd.eq(head.bits[:len(cmd.as_value())]), "
    merged = mutated("systolica.hw.fetch", load, load + "check_cmd.eq(head.bits[:len(cmd.as_value())]), ")
    ff = {name: synthesize_component(module.Fetch(cfg), name, ECP5, tmp_path / name)["FF"]
          for name, module in (("copy", fetch), ("merged", merged))}
    layout = command_layout(cfg)
    assert layout.size - layout["header"].shape.size <= ff["copy"] - ff["merged"] <= layout.size, ff


def test_store_keeps_a_shift_amount_per_byte_lane_through_synthesis(tmp_path, monkeypatch):
    """The store engine's W shift amount is kept once per byte lane (`kept_copies`): after
    the flow's `synth_ecp5` the copies are still there, against one register made the same
    way; and without the flow's `keep` mark Yosys folds the copies into one."""
    from source_mutants import mutated
    from systolica import fpga
    from systolica.hw import dma_store

    cfg = AcceleratorConfig(rows=2, cols=2)
    one = mutated("systolica.hw.dma_store", "amounts = kept_copies(m, amount_next, bb,",
                  "amounts = bb * kept_copies(m, amount_next, 1,")
    ff = {name: synthesize_component(module.DmaStore(cfg), name, ECP5, tmp_path / name)["FF"]
          for name, module in (("copies", dma_store), ("one", one))}
    monkeypatch.setattr(fpga, "KEEP_APART", "an_attribute_no_wire_has")
    # (unmarked, the engine's other kept copies, such as its queues' head selects, fold too)
    ff |= {f"{name} unmarked": synthesize_component(module.DmaStore(cfg), f"{name}_unmarked", ECP5,
                                                    tmp_path / f"{name}_unmarked")["FF"]
           for name, module in (("copies", dma_store), ("one", one))}
    amount_bits = (max(cfg.spad_row_elems, cfg.cols) + cfg.bus_bytes - 1).bit_length()
    assert ff["copies"] - ff["one"] == (cfg.bus_bytes - 1) * amount_bits, ff
    assert ff["copies unmarked"] == ff["one unmarked"] < ff["one"], ff


def test_pe_steering_bits_are_kept_apart_through_synthesis(tmp_path, monkeypatch):
    """Each PE passes on the bits that steer the next PE's operand select (`sel`, and
    `dataflow` with both dataflows) in registers of its own, and so does each link of the
    array's row chain: after `synth_ecp5` every one of them is a flip-flop of its own,
    although the control is the same along an anti-diagonal; without the flow's `keep`
    mark Yosys merges them."""
    from systolica import fpga
    from systolica.hw.pe import steer_bits
    from systolica.hw.systolic_array import SystolicArray

    cfg = AcceleratorConfig(rows=3, cols=3)
    bits = steer_bits(cfg.supports("ws"), cfg.supports("os"))
    assert bits == ("sel", "dataflow")
    want = {f"row_{i}.pe_{j}.steer_{b}0" for i in range(cfg.rows) for j in range(cfg.cols) for b in bits}
    want |= {f"row_steer{i}_{b}0" for i in range(1, cfg.rows) for b in bits}
    counts = {}
    for name in ("marked", "unmarked"):
        if name == "unmarked":
            monkeypatch.setattr(fpga, "KEEP_APART", "an_attribute_no_wire_has")
        synthesize_component(SystolicArray(cfg), "arr", ECP5, tmp_path / name)
        driven = _flip_flop_names(tmp_path / name, "arr")
        counts[name] = sum(1 for names in driven if names & want)
        if name == "marked":
            assert set().union(*driven) >= want, sorted(want - set().union(*driven))
    assert counts["marked"] == len(want), counts
    assert counts["unmarked"] < len(want), counts


def test_dispatcher_keeps_free_twice_through_synthesis(tmp_path):
    """The execute dispatcher (several in flight) keeps its "the issue register is free"
    register twice, `free0` for its own start and `free1` for the token counters' events:
    after `synth_ecp5` both are flip-flops."""
    from systolica.hw.dispatcher import Dispatcher
    from systolica.model.isa import Queue

    synthesize_component(Dispatcher(AcceleratorConfig(rows=2, cols=2), Queue.EXECUTE, 4), "disp", ECP5, tmp_path)
    driven = set().union(*_flip_flop_names(tmp_path, "disp"))
    assert {"free0", "free1"} <= driven, sorted(n for n in driven if n.startswith("free"))


def test_run_control_keeps_hold_apart_for_fetch_and_each_dispatcher(tmp_path):
    """The run control's `hold` is one register for fetch and one for each dispatcher
    (`hold0` .. `hold3`): after `synth_ecp5` they are four flip-flops, none merged into
    another (a plain `hold` beside kept copies was merged into the first of them)."""
    from systolica.hw.run_control import QUEUES, RunControl

    synthesize_component(RunControl(AcceleratorConfig(rows=2, cols=2)), "run", ECP5, tmp_path)
    wanted = [f"hold{k}" for k in range(1 + len(QUEUES))]
    holders = [names & set(wanted) for names in _flip_flop_names(tmp_path, "run")]
    holders = [h for h in holders if h]
    assert sorted(n for h in holders for n in h) == wanted and all(len(h) == 1 for h in holders), holders


def _lut_inputs_of_flip_flop(out_dir, top, q_name):
    """The names of the nets that feed the LUT4 driving the D input of the flip-flop whose
    output net is ``q_name`` (none when D is not driven by a LUT4)."""
    module, names = _module_and_names(out_dir, top)
    cells = module["cells"].values()
    q_bits = set(module["netnames"][q_name]["bits"])
    d = [c["connections"]["DI"][0] for c in cells if c["type"] == "TRELLIS_FF" and c["connections"]["Q"][0] in q_bits]
    assert len(d) == 1, d
    luts = [c for c in cells if c["type"] == "LUT4" and c["connections"]["Z"][0] == d[0]]
    return set().union(*(names.get(c["connections"][p][0], set()) for c in luts for p in "ABCD"))


def test_run_control_end_reads_the_startables_after_its_kept_terms(tmp_path):
    """The run control's end terms but the startables are the kept nets `run_calm` and
    `run_ending`; after `synth_ecp5` the LUT4 in front of `finish` reads `run_ending`, so
    the startables (the dispatchers' token checks) reach `finish` through that one LUT."""
    from systolica.hw.run_control import RunControl

    synthesize_component(RunControl(AcceleratorConfig(rows=2, cols=2)), "run", ECP5, tmp_path)
    module, _ = _module_and_names(tmp_path, "run")
    assert {"run_calm", "run_ending"} <= set(module["netnames"]), sorted(module["netnames"])
    assert "run_ending" in _lut_inputs_of_flip_flop(tmp_path, "run", "finish")
