"""``systolica verify --config cfg.json [--fuzz N] [--only ...] [--junit FILE]``: the
regression suite on a user's own configuration.

Every bench is run against the generated Verilog of that configuration (built once,
cached) and compared with the golden model for equality:

========== ==========================================================================
bench      what runs
========== ==========================================================================
array      the array alone (cocotb, ``sim/tb_array.py``): WS/OS tiles, stalls, extremes
requant    the requantization unit (``sim/tb_requant.py``; FP8: ``sim/tb_requant_fp8.py``)
scratchpad the banked scratchpad (``sim/tb_scratchpad.py``)
accumulator the accumulator (``sim/tb_accumulator.py``)
dma        the DMA engines with random stalls and faults, protocol rules (``sim/tb_dma.py``)
csr        the register block (``sim/tb_csr.py``)
core       scratchpad, array, accumulator and execute unit (``sim/tb_core.py``)
layers     the whole accelerator in the native harness on compiled layers (a linear layer,
           a convolution with padding and stride), with DRAM stalls: image, status, counters
fuzz       N random legal and illegal programs (``systolica fuzz --config``)
========== ==========================================================================

FP8 configurations run the same benches with FP8 stimulus (``layers``: an FP8 conv2d +
linear net, random FP8 codes, per-channel scales), except ``accumulator`` and ``core``,
whose benches drive int8 partial sums: they are skipped (the FP8 accumulator and core are
covered by ``layers`` and ``fuzz``).

It prints each bench as it starts and ends, a pass/fail table, and writes JUnit XML
(``--junit``, default ``verify-results.xml``) for the user's CI. Exit status 0 when every
bench passed, 1 otherwise, 2 for bad input.
"""

from __future__ import annotations

import sys
import time
import traceback
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .model.config import AcceleratorConfig

__all__ = ["BENCHES", "BenchResult", "run_verify", "junit_xml"]


@dataclass
class BenchResult:
    name: str
    passed: bool
    seconds: float
    detail: str


def _cocotb(unit: str, module: str, fp8_module: str | None = "") -> Callable[[AcceleratorConfig, int, int], str]:
    """A cocotb bench of ``unit``; FP8 configurations run ``fp8_module`` (``""``: the same
    module; None: skipped, the bench is int8 only)."""
    def bench(cfg: AcceleratorConfig, seed: int, fuzz: int) -> str:
        from .sim.runner import build, run_bench

        if cfg.is_float and fp8_module is None:
            return f"skipped: {module} drives int8 partial sums (FP8: covered by layers and fuzz)"
        name = (fp8_module or module) if cfg.is_float else module
        run_bench(build(cfg, unit), name, env={"SYSTOLICA_SEED": str(seed)})
        return f"{name} on the {unit} unit, SYSTOLICA_SEED={seed}"
    return bench


def _test_net(rng: np.random.Generator, cfg: AcceleratorConfig):
    """A small random network: a 3x3 convolution (stride 2x1, padding, ReLU) into a
    linear layer, int8, per-channel TFLite then per-tensor ONNX requantization."""
    from .driver.models import QConv2d, QLinear, QuantizedNet
    from .model.numerics import RequantParams

    c, h, w, m = 3, 7, 6, min(2 * cfg.cols + 1, 24)
    oh, ow = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 1 + 1
    wscale = np.full(m, 0.01, np.float32)
    conv = QConv2d(weight=rng.integers(-127, 128, size=(m, c, 3, 3)).astype(np.int8),
                   weight_zero_point=np.zeros(m, np.int8),
                   bias=rng.integers(-500, 500, size=m).astype(np.int32), input_zero_point=3,
                   requant=RequantParams.for_layer("tflite", 0.05, wscale, 0.2, activation="relu"),
                   activation="relu", in_shape=(c, h, w), out_shape=(m, oh, ow), input_scale=0.05,
                   weight_scale=wscale, output_scale=0.2, strides=(2, 1), pads=(1, 1, 1, 1))
    k, n = m * oh * ow, 10
    lin = QLinear(weight=rng.integers(-127, 128, size=(k, n)).astype(np.int8),
                  weight_zero_point=np.zeros(n, np.int8),
                  bias=rng.integers(-500, 500, size=n).astype(np.int32),
                  input_zero_point=conv.output_zero_point,
                  requant=RequantParams.for_layer("onnx", 0.2, np.float32(0.01), 0.5), activation="none",
                  in_shape=(m, oh, ow), out_shape=(n,), input_scale=0.2,
                  weight_scale=np.full(n, 0.01, np.float32), output_scale=0.5)
    return QuantizedNet("verify", "tflite", (c, h, w), 0.05, 3, (conv, lin))


def _test_net_fp8(rng: np.random.Generator, cfg: AcceleratorConfig):
    """The same shapes in FP8: random finite codes, per-channel scales, biases in
    accumulator units, ReLU after the convolution."""
    from .driver.models_fp8 import Fp8Layer, Fp8Net

    c, h, w, m = 3, 7, 6, min(2 * cfg.cols + 1, 24)
    oh, ow = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1      # 3x3, stride 2, padding 1
    unit = 1 << cfg.acc_format.frac_bits

    def codes(*shape):
        return (rng.integers(0x20, 0x48, shape) | (rng.integers(0, 2, shape) << 7)).astype(np.uint8)

    def layer(kind, k, n, relu, *geometry):
        scale = np.array([2.0 ** rng.uniform(-6, -3) for _ in range(n)], np.float32)
        bias = np.array([int(b) for b in rng.integers(-unit, unit, n)], dtype=object)
        return Fp8Layer(kind, codes(n, k) if kind == "conv2d" else codes(k, n), scale, bias, relu, *geometry)

    conv = layer("conv2d", c * 9, m, True, (c, h, w), (m, oh, ow), 3, 2, 1)
    lin = layer("linear", m * oh * ow, 10, False, (m, oh, ow), (10,))
    return Fp8Net(cfg, 1.0, (conv, lin), 1.0), codes(3, c, h, w)


def _layers(cfg: AcceleratorConfig, seed: int, fuzz: int) -> str:
    """Compiled layers on the native harness == the golden machine."""
    from .driver.compiler import CompileError, compile_network
    from .driver.models_fp8 import compiler_net
    from .driver.runtime import Accelerator

    rng = np.random.default_rng(seed)
    if cfg.is_float:
        net, x = _test_net_fp8(rng, cfg)
        compiled = compiler_net(net)
    else:
        net = compiled = _test_net(rng, cfg)
        x = rng.integers(-128, 128, size=(3, *net.input_shape)).astype(np.int8)
    try:
        compile_network(cfg, compiled, len(x))
    except CompileError as e:
        return f"skipped: the test network does not fit this configuration ({e})"
    golden, g = Accelerator(cfg, "golden").run_network(net, x)
    rtl, r = Accelerator(cfg, "rtl").run_network(net, x)
    assert np.array_equal(golden, rtl), "RTL output != golden"
    for a, b in zip(g.activations, r.activations):
        assert np.array_equal(a, b), "a layer's RTL activations != golden"
    same = (g.useful_macs, g.dma_bytes_loaded, g.dma_bytes_stored, g.commands)
    assert same == (r.useful_macs, r.dma_bytes_loaded, r.dma_bytes_stored, r.commands), (same, r)
    return f"conv2d + linear, batch 3: RTL == golden, {r.cycles:,} cycles"


def _fuzz(cfg: AcceleratorConfig, seed: int, fuzz: int) -> str:
    from .sim.fuzz import run_fuzz

    if fuzz == 0:
        return "skipped (--fuzz 0)"
    t = run_fuzz(fuzz, seed, batch=min(50, max(1, fuzz // 3)), cfg=cfg)
    assert not t.mismatches, "\n".join(f"{m}  (replay: systolica fuzz --config CFG --replay '{m.spec}')"
                                       for m in t.mismatches)
    return f"{t.programs} programs in {t.cases} cases, 0 mismatches ({dict(sorted(t.statuses.items()))})"


#: bench name -> function(cfg, seed, fuzz programs) -> detail (raises on failure)
BENCHES: dict[str, Callable] = {
    "array": _cocotb("array", "systolica.sim.tb_array"),
    "requant": _cocotb("requant", "systolica.sim.tb_requant", "systolica.sim.tb_requant_fp8"),
    "scratchpad": _cocotb("scratchpad", "systolica.sim.tb_scratchpad"),
    "accumulator": _cocotb("accumulator", "systolica.sim.tb_accumulator", None),
    "dma": _cocotb("dma", "systolica.sim.tb_dma"),
    "csr": _cocotb("csr", "systolica.sim.tb_csr"),
    "core": _cocotb("core", "systolica.sim.tb_core", None),
    "layers": _layers,
    "fuzz": _fuzz,
}


def run_verify(cfg: AcceleratorConfig, only: tuple[str, ...], fuzz: int, seed: int,
               junit: Path, out=sys.stdout) -> int:
    results: list[BenchResult] = []
    print(f"systolica verify: {cfg.name} (config {cfg.config_hash()}), benches {', '.join(only)}, "
          f"seed {seed}, {fuzz} random programs", file=out, flush=True)
    for k, name in enumerate(only, 1):
        print(f"[{k}/{len(only)}] {name} ...", file=out, flush=True)
        t0 = time.perf_counter()
        try:
            detail, passed = BENCHES[name](cfg, seed, fuzz), True
        except Exception as e:   # a failing bench is a row of the table, not a crash
            detail, passed = f"{type(e).__name__}: {e}".strip(), False
            traceback.print_exc(file=sys.stderr)
        results.append(BenchResult(name, passed, time.perf_counter() - t0, detail))
        print(f"[{k}/{len(only)}] {name}: {'PASS' if passed else 'FAIL'} in {results[-1].seconds:.1f} s",
              file=out, flush=True)
    print(_table(results), file=out)
    junit.write_text(junit_xml(cfg, results))
    failed = sum(not r.passed for r in results)
    print(f"{len(results) - failed} passed, {failed} failed; JUnit XML: {junit}", file=out)
    return 1 if failed else 0


def _table(results: list[BenchResult]) -> str:
    lines = ["| bench | result | seconds | detail |", "|---|---|---|---|"]
    for r in results:
        detail = r.detail.splitlines()[0] if r.detail else ""
        lines.append(f"| {r.name} | {'PASS' if r.passed else 'FAIL'} | {r.seconds:.1f} | {detail[:160]} |")
    return "\n".join(lines)


def junit_xml(cfg: AcceleratorConfig, results: list[BenchResult]) -> str:
    """JUnit XML: one testsuite (the configuration), one testcase per bench."""
    suite = ET.Element("testsuite", name=f"systolica verify {cfg.name} {cfg.config_hash()}",
                       tests=str(len(results)), failures=str(sum(not r.passed for r in results)),
                       time=f"{sum(r.seconds for r in results):.3f}")
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", name="config", value=cfg.to_json().strip())
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"systolica.verify.{cfg.name}", name=r.name,
                             time=f"{r.seconds:.3f}")
        if r.passed:
            ET.SubElement(case, "system-out").text = r.detail
        else:
            ET.SubElement(case, "failure", message=r.detail.splitlines()[0] if r.detail else "failed").text = r.detail
    root = ET.Element("testsuites")
    root.append(suite)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
