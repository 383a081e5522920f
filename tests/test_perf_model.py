"""The analytic performance model (driver/perf_model.py) against the RTL in the native harness.

The bench (`systolica bench --only perf`, bench/perf.md) measures the model's error on the
16x16 workloads; here the demo's 8x8 accelerator (the harness the test suite builds anyway):
the bursts and beats the model counts for the loads are the ones the hardware puts on the
bus, and the predicted cycles of a GEMM and of random networks are within 5% of the
hardware's counter.
"""

import numpy as np
import pytest

from systolica.demo import demo_config
from systolica.driver.compiler import compile_network
from systolica.driver.models import digits_models, quantize_input
from systolica.driver.perf_model import estimate, load_beats
from systolica.driver.runtime import Accelerator
from systolica.driver.workloads import one_layer, random_input, random_linear
from systolica.model.isa import Opcode

CFG = demo_config()


def _run_rtl(net, x):
    from systolica.sim.native_top import run_program_native

    prog = compile_network(CFG, net, len(x))
    image = Accelerator.image(prog, x)
    image += bytes(-len(image) % 64)
    out = run_program_native(CFG, bytes(image), prog.program_base, prog.window,
                             program_len=len(prog.commands) + 1)
    return prog, out


@pytest.mark.parametrize("batch", [1, 3])
def test_load_bursts_and_beats_are_the_hardwares(batch):
    """The digits CNN (padded 3x3 convolutions: gathered rows, padding rows, a flatten into
    a linear layer): the model's bursts and R beats of every LOAD, summed, equal the DMA
    load engine's ARs and R beats counted by the harness's monitor."""
    demo = digits_models()["cnn"]
    net = demo.quantized_net
    prog, out = _run_rtl(net, quantize_input(net, demo.test[0][:batch]))
    counts = [load_beats(CFG, c.body["desc"]) for c in prog.commands if c.opcode is Opcode.LOAD]
    load_id = out.result.stats[0]
    assert (sum(c[0] for c in counts), sum(c[1] for c in counts)) == (load_id.ar, load_id.r)


@pytest.mark.parametrize("what", ["gemm64", "random0", "random2", "random14", "random27", "cnn8", "random"])
def test_cycles_within_five_percent_of_the_counter(what, seed):
    """A 64x64x64 GEMM, the digits CNN on 8 images and random networks (5% on random
    compiled networks is the issue's figure; the 2% on the bench's layers is
    bench/perf.md's). With the model of 2c1c6fb seed 27 was -12.2% off and seed 14 -4.9%
    (fetch words placed after a load whose AR they precede); "random" draws one."""
    from systolica.driver.workloads import random_network

    if what == "gemm64":
        net, batch = one_layer(random_linear(64, 64, seed=3)), 64
    elif what == "cnn8":
        net, batch = digits_models()["cnn"].quantized_net, 8
    else:
        net_seed = seed % 10_000 if what == "random" else int(what[len("random"):])
        net, batch = random_network(net_seed), 1 + net_seed % 4
    prog, out = _run_rtl(net, random_input(net, batch, seed=3))
    cycles = out.counters["cycles"]
    predicted = estimate(CFG, prog.commands).cycles
    print(f"{what} on {CFG.name}: counter {cycles}, estimate {predicted} ({predicted / cycles - 1:+.2%})")
    assert abs(predicted / cycles - 1) <= 0.05


def test_padding_rows_are_counted_before_between_and_after_the_data(seed):
    """pad_rows_around against a row-by-row walk of the padded rows, on random
    descriptors: every row wholly in the padding is before the first data row, between
    two data rows or after the last."""
    from systolica.driver.perf_model import pad_rows_around
    from systolica.model.dma import TensorDescriptor

    rng = np.random.default_rng(seed)
    for _ in range(200):
        sizes = tuple(int(x) for x in rng.integers(1, 4, 4))
        before = tuple(int(x) for x in rng.integers(0, 3, 4))
        after = tuple(int(x) for x in rng.integers(0, 3, 4))
        d = TensorDescriptor(base=0, sizes=sizes, strides=(64, 32, 8, 1), elem_bytes=1,
                             pad_before=before, pad_after=after)
        p = d.padded_sizes
        data = [all(before[k] <= i[k] < before[k] + sizes[k] for k in range(3))
                for i in np.ndindex(p[0], p[1], p[2])]
        first, last = data.index(True), len(data) - 1 - data[::-1].index(True)
        want = (first, sum(not x for x in data[first:last]), len(data) - 1 - last)
        assert pad_rows_around(d) == want, (d, want)


def test_estimate_is_deterministic_and_counts_dram_bytes():
    """Same program, same prediction; the DRAM bytes are the loads' and stores' elements."""
    net = one_layer(random_linear(40, 24, seed=1))
    prog = compile_network(CFG, net, 5)
    a, b = estimate(CFG, prog.commands), estimate(CFG, prog.commands)
    assert (a.cycles, a.busy, a.dram_bytes) == (b.cycles, b.busy, b.dram_bytes)
    moved = sum(int(np.prod(c.body["desc"].sizes)) * c.body["desc"].elem_bytes
                for c in prog.commands if c.opcode in (Opcode.LOAD, Opcode.STORE))
    assert a.dram_bytes == moved
