"""``make demo``: quantized digits models on the generated accelerator, RTL == golden.

1. Train a small MLP and a small CNN on scikit-learn's bundled digits (numpy), quantize
   them to int8 after training (per-channel weights, calibrated activations).
2. Run the whole test set on the ``golden`` backend (the instruction-level machine running
   the compiled program): int8 accuracy next to float accuracy; FP8 accuracies (E4M3,
   E5M2, E4M3 x E5M2) on the whole test set from the golden FP8 numerics
   (``driver/models_fp8.py``, which the FP8 machine equals: ``tests/test_compiler_fp8.py``).
3. Run the whole test set (or ``rtl_samples`` images) on the ``rtl`` backend (the
   generated Verilog in the native Verilator harness): its logits must equal the golden
   ones bit for bit. Then the FP8 models, per format, on an FP8 accelerator of the same
   grid (:func:`fp8_demo_config`): ``fp8_rtl_samples`` images (default
   :data:`FP8_RTL_SAMPLES`) on the RTL, every layer's codes equal to the golden numerics' and, on the first
   :data:`FP8_MACHINE_SAMPLES`, to the golden machine's.
4. Per layer on the RTL: cycles and utilization (real MACs / (PEs x cycles)).

``systolica gemm`` keeps the earlier array-only demo (a random GEMM streamed through the
array).
"""

from __future__ import annotations

import dataclasses
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from .model import array as golden
from .model.config import AcceleratorConfig

__all__ = ["run_gemm_rtl", "run_gemm_demo", "run_demo", "demo_config", "fp8_demo_config", "FP8_MACHINE_SAMPLES",
           "FP8_RTL_SAMPLES"]

#: Test images of each FP8 format the golden machine runs too (the whole split takes it
#: minutes per format).
FP8_MACHINE_SAMPLES = 16
#: Test images of each FP8 format the RTL runs by default (the golden FP8 numerics run
#: every image): compiling three more networks for the whole split would double the demo.
FP8_RTL_SAMPLES = 100


def demo_config(rows: int = 8, cols: int = 8) -> AcceleratorConfig:
    """The demo's accelerator: memories sized for the digits models."""
    return AcceleratorConfig(rows=rows, cols=cols, spad_rows=512, acc_rows=128, bus_bits=64)


def fp8_demo_config(input_type: str, weight_type: str, rows: int = 8, cols: int = 8) -> AcceleratorConfig:
    """The demo's accelerator with FP8 operands (the default accumulator for the formats)."""
    return dataclasses.replace(demo_config(rows, cols), input_type=input_type, weight_type=weight_type,
                               acc_bits=None)


@dataclasses.dataclass
class _Fp8Model:
    """One FP8 version of a demo model: its accelerator, the net, the golden numerics'
    codes of the input and of every layer on the test split, and their accuracy."""

    label: str
    cfg: AcceleratorConfig
    net: object
    numerics: list
    accuracy: float


def _fp8_models(name: str, seed: int, rows: int, cols: int, x_test, y_test) -> list[_Fp8Model]:
    """The FP8 versions (E4M3, E5M2, E4M3 x E5M2) of ``name`` on the golden FP8 numerics."""
    from .driver.models import CALIBRATION_SIZE, _trained, digits_split
    from .driver.models_fp8 import FP8_SCHEMES, logits_fp8, quantize_fp8, quantize_input_fp8, run_fp8_layer

    out = []
    for label, (a_type, w_type) in FP8_SCHEMES.items():
        net = quantize_fp8(_trained(name, seed), digits_split().x_train[:CALIBRATION_SIZE], a_type, w_type)
        numerics = [quantize_input_fp8(net, x_test)]
        for layer in net.layers:
            numerics.append(run_fp8_layer(net, layer, numerics[-1]))
        accuracy = float(np.mean(np.argmax(logits_fp8(net, numerics[-1]), axis=1) == y_test))
        out.append(_Fp8Model(label, fp8_demo_config(a_type, w_type, rows, cols), net, numerics, accuracy))
    return out


def _fp8_on_rtl(models: list[_Fp8Model], n: int, y_test) -> bool:
    """Each FP8 model on ``n`` test images on the RTL: every layer's codes == the golden
    numerics', and == the golden machine's on the first :data:`FP8_MACHINE_SAMPLES`."""
    from .driver.models_fp8 import logits_fp8
    from .driver.runtime import Accelerator

    ok = True
    k = min(n, FP8_MACHINE_SAMPLES)
    for m in models:
        codes = m.numerics[0][:n]
        t1 = time.perf_counter()
        out, rtl = Accelerator(m.cfg, "rtl").run_network(m.net, codes)
        seconds = time.perf_counter() - t1
        _, gold = Accelerator(m.cfg, "golden").run_network(m.net, codes[:k])
        same = all(np.array_equal(r, v[:n].reshape(r.shape)) and np.array_equal(r[:k], g)
                   for r, v, g in zip(rtl.activations, m.numerics[1:], gold.activations))
        ok &= same
        accuracy = float(np.mean(np.argmax(logits_fp8(m.net, out), axis=1) == y_test[:n]))
        print(f"      {m.label:11s} ({m.cfg.name}): RTL == golden: {same} on {n} images, every layer "
              f"(the machine on {k}); accuracy on the RTL {accuracy:.2%} "
              f"({rtl.cycles:,} cycles, {rtl.cycles / n:,.0f} per image; {seconds:.1f} s)")
    return ok


def _step(n: int, text: str) -> None:
    print(f"[{n}/4] {text}", flush=True)


def _layer_net(net, i: int):
    """Layer ``i`` of ``net`` as a network of its own (input = that layer's input)."""
    layer = net.layers[i]
    return dataclasses.replace(net, name=f"{net.name}[{i}]", input_shape=layer.in_shape,
                               input_scale=layer.input_scale, input_zero_point=int(layer.input_zero_point),
                               layers=(layer,))


def run_demo(rows: int = 8, cols: int = 8, rtl_samples: int | None = None, scheme: str = "tflite",
             seed: int = 0, fp8_rtl_samples: int | None = None) -> int:
    from .driver.models import accuracy, digits_models, quantize_input
    from .driver.runtime import Accelerator

    t0 = time.perf_counter()
    cfg = demo_config(rows, cols)
    print(f"systolica demo: {cfg.name} accelerator (config {cfg.config_hash()}), {scheme} "
          f"requantization, digits (scikit-learn), seed {seed}")
    _step(1, "training the MLP and the CNN in numpy, quantizing to int8")
    models = digits_models(seed=seed, scheme=scheme)
    ok = True
    for name, demo in models.items():
        net = demo.quantized_net
        x_test, y_test = demo.test
        print(f"      {net.describe()}".replace("\n", "\n      "))
        _step(2, f"{name}: {len(x_test)} test images on the golden backend")
        logits, stats = Accelerator(cfg, "golden").run_network(net, x_test)
        int8_acc = float(np.mean(np.argmax(logits, axis=1) == y_test))
        print(f"      float accuracy {accuracy(demo.float_model, x_test, y_test):.2%}, int8 accuracy "
              f"{int8_acc:.2%} ({stats.program_commands} commands, {stats.layer_macs:,} MACs)")
        fp8 = _fp8_models(name, seed, rows, cols, x_test, y_test)   # the whole split
        print("      FP8 accuracy (golden numerics: exact sums, one rounding per output): "
              + ", ".join(f"{m.label} {m.accuracy:.2%}" for m in fp8))
        n = len(x_test) if rtl_samples is None else min(rtl_samples, len(x_test))
        _step(3, f"{name}: {n} images on the RTL (Verilator, native harness; the first run builds it)")
        x_q = quantize_input(net, x_test[:n])
        t1 = time.perf_counter()
        rtl_logits, rtl_stats = Accelerator(cfg, "rtl").run_network(net, x_q)
        seconds = time.perf_counter() - t1
        same = bool(np.array_equal(rtl_logits, logits[:n]))
        ok &= same
        print(f"      RTL == golden: {same} on all {n} images ({rtl_stats.cycles:,} cycles, "
              f"{rtl_stats.cycles / n:,.0f} per image; {seconds:.1f} s with compilation)")
        m = min(FP8_RTL_SAMPLES if fp8_rtl_samples is None else fp8_rtl_samples, len(x_test))
        print(f"      FP8 models on FP8 accelerators, {m} images each (the first run of a format builds it):")
        ok &= _fp8_on_rtl(fp8, m, y_test)
        k = min(8, n)
        _step(4, f"{name}: per-layer cycles and utilization on the RTL (batch of {k})")
        x_q = x_q[:k]
        _, gold = Accelerator(cfg, "golden").run_network(net, x_q)
        inputs = [x_q, *gold.activations[:-1]]
        for i, layer in enumerate(net.layers):
            out, st = Accelerator(cfg, "rtl").run_network(_layer_net(net, i), inputs[i])
            ok &= bool(np.array_equal(out, gold.activations[i]))
            util = st.layer_macs / (cfg.pes * st.cycles)
            print(f"      layer {i} {layer.kind:6s} {str(layer.in_shape):12s} -> {str(layer.out_shape):12s} "
                  f"{st.cycles:8,} cycles  utilization {util:6.1%}")
    print(f"RTL == golden: {ok}   ({time.perf_counter() - t0:.1f} s wall)")
    return 0 if ok else 1


# -- the array-only demo: a random GEMM streamed through the array ------------------------
def run_gemm_rtl(cfg: AcceleratorConfig, a: np.ndarray, b: np.ndarray,
                 dataflows: tuple[str, ...]) -> dict[str, tuple[np.ndarray, dict]]:
    """Run ``A @ B`` on the RTL of ``cfg`` once per dataflow; returns ``{flow: (C, stats)}``."""
    from .sim.runner import build, run_bench

    b_ = build(cfg)
    with tempfile.TemporaryDirectory(prefix="systolica-gemm-") as tmp:
        job, res = Path(tmp) / "job.npz", Path(tmp) / "result.npz"
        np.savez(job, a=a, b=b, dataflows=np.array(",".join(dataflows)))
        run_bench(b_, "systolica.sim.tb_gemm",
                  env={"SYSTOLICA_JOB": str(job), "SYSTOLICA_RESULT": str(res)})
        out = np.load(res, allow_pickle=True)  # FP8 results: Python ints (object arrays)
        return {f: (out[f"c_{f}"], json.loads(str(out[f"stats_{f}"]))) for f in dataflows}


def run_gemm_demo(rows: int = 8, cols: int = 8, m: int = 100, k: int = 20, n: int = 12,
                  seed: int | None = None) -> int:
    t0 = time.perf_counter()
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    if seed is None:
        seed = random.randrange(2**31)
    print(f"systolica gemm: {cfg.name} array (config {cfg.config_hash()}), "
          f"random INT8 GEMM {m}x{k} @ {k}x{n}, seed {seed} (replay: --seed {seed})")
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, size=(m, k))
    b = rng.integers(-128, 128, size=(k, n))
    want = golden.wrap(a @ b, cfg.acc_bits)
    runs = run_gemm_rtl(cfg, a, b, cfg.dataflows)
    ok = True
    for flow, (c, st) in runs.items():
        same = bool(np.array_equal(c, want))
        ok &= same
        util = st["useful_macs"] / (cfg.pes * st["cycles"])
        print(f"  {flow.upper()}: {st['tiles']} tiles, {st['cycles']} cycles "
              f"({st['data_beats']} data beats), utilization {util:.1%} "
              f"(useful MACs / (PEs x cycles)); C[0,:4] = {c[0, :4].tolist()}")
        print(f"      RTL == golden: {same}")
    print(f"RTL == golden: {ok}   ({time.perf_counter() - t0:.1f} s wall)")
    return 0 if ok else 1
