"""``systolica run MODEL.onnx``: a quantized ONNX model on the accelerator, and
``systolica onnx-example``: the quantized digits / op models to try it with.

``run`` imports the model (:func:`systolica.driver.onnx_import.load`), compiles every
program the run needs (a layer that does not fit the configuration stops here, before any
backend runs), runs the float input ``X`` (``.npy``, batch first) and writes the model's
output ``Y`` (``.npy``, the dtype and shape onnxruntime gives). On ``rtl`` it prints every
accelerator layer's cycles and utilization from the hardware's counters and whether the
RTL equals the golden machine. ``--estimate`` prints every layer's cycles as the
performance model predicts them (:mod:`systolica.driver.perf_model`; beside the measured
ones and their error on ``rtl``). ``--check`` also runs onnxruntime's exact result
(:mod:`systolica.driver.onnx_import.ort_reference`) and counts identical outputs.

Exit status: 0 done (and identical), 1 RTL != golden or not identical to onnxruntime,
2 bad model, input, configuration or a layer that does not fit (one line, no traceback).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

__all__ = ["run_model", "write_example"]


class UsageError(ValueError):
    """A bad argument of the command; exit status 2."""


def _load_input(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UsageError(f"--input {path}: no such file") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"--input {path}: not a .npy array ({e})") from None


def _print_layers(report, cfg) -> None:
    if not report.layers:
        print("  (no accelerator layers)")
        return
    rtl = report.backend == "rtl"
    est = report.layers[0].estimate is not None
    head = f"  {'node':28s} {'op':14s} {'in':>14s} -> {'out':14s} {'MACs':>12s}"
    head += f" {'estimate':>11s} {'est util':>8s}" if est else ""
    head += f" {'cycles':>11s} {'util':>7s}" if rtl else ""
    head += f" {'est error':>9s}" if rtl and est else ""
    print(head + ("  RTL==golden" if rtl else ""))
    for s in report.layers:
        line = (f"  {s.node[:28]:28s} {s.op[:14]:14s} {str(list(s.in_shape)):>14s} -> "
                f"{str(list(s.out_shape)):14s} {s.macs:12,}")
        if est:
            line += f" {s.estimate:11,} {s.macs / (cfg.pes * s.estimate):8.1%}"
        if rtl:
            line += f" {s.cycles:11,} {s.utilization:7.1%}"
        if rtl and est:
            line += f" {s.estimate / s.cycles - 1:+9.2%}"
        if rtl:
            line += f"  {s.rtl_equals_golden}"
        print(line)
    if est:
        total = sum(s.estimate for s in report.layers)
        print(f"  estimate (performance model, each layer alone): {total:,} cycles")
    if rtl:
        macs = sum(s.macs for s in report.layers)
        print(f"  total: {report.cycles:,} cycles, utilization {macs / (cfg.pes * report.cycles):.1%} "
              f"(real MACs / ({cfg.pes} PEs x cycles)), {report.samples} samples in batches of {report.batch}")


def _check(model_path: Path, x: np.ndarray, y: np.ndarray) -> bool:
    import onnx

    from .driver.onnx_import.ort_reference import exact_options, run_exact

    model = onnx.load(str(model_path))
    want = run_exact(model, x)
    same = y.dtype == want.dtype and y.shape == want.shape
    rows = np.all((y == want).reshape(len(y), -1), axis=1) if same else np.zeros(len(y), bool)
    opts = ", ".join(f"{k}={v}" for k, v in exact_options(model).items())
    print(f"identical to onnxruntime: {int(rows.sum())}/{len(rows)} samples, "
          f"{int((y == want).sum()) if same else 0}/{want.size} output values "
          f"(onnxruntime's exact result: default optimizations, {opts}); dtype {want.dtype}, "
          f"shape {list(want.shape)}")
    return bool(same and rows.all())


def run_model(model: Path, input: Path, output: Path, *, backend: str = "golden", cfg=None,
              batch: int | None = None, check: bool = False, estimate: bool = False) -> int:
    from .driver.onnx_import import load

    t0 = time.perf_counter()
    if not output.parent.is_dir():
        raise UsageError(f"--output {output}: folder {output.parent} does not exist")
    imported = load(model)
    x = _load_input(input)
    print(imported.describe())
    print(f"{backend} backend, {cfg.name} accelerator (config {cfg.config_hash()}), "
          f"{len(x)} samples, batch {min(batch or len(x), len(x))}", flush=True)
    log = (lambda s: print("  " + s, flush=True)) if backend == "rtl" else None
    y, report = imported.run(x, backend=backend, cfg=cfg, batch=batch, log=log, estimate=estimate)
    np.save(output, y)
    print(f"wrote {output}: {y.dtype} {list(y.shape)}")
    _print_layers(report, cfg)
    ok = True
    if backend == "rtl":
        ok = bool(report.rtl_equals_golden)
        print(f"RTL == golden: {ok}")
    if check:
        ok &= _check(model, x, y)
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0 if ok else 1


def write_example(name: str, output: Path, *, fmt: str, activations: str, per_channel: bool,
                  inputs: Path | None, samples: int | None, split: str) -> int:
    import onnx

    from .driver.onnx_examples import DIGITS_MODELS, OP_MODELS, digits_inputs, example_model

    if name not in DIGITS_MODELS and name not in OP_MODELS:
        raise UsageError(f"model {name!r}: unknown, allowed one of {list(DIGITS_MODELS) + list(OP_MODELS)}")
    if not output.parent.is_dir():
        raise UsageError(f"-o {output}: folder {output.parent} does not exist")
    model = example_model(name, fmt, activations, per_channel)
    onnx.save(model, str(output))
    print(f"wrote {output}: {name}, {fmt}, {activations} activations, int8 weights "
          f"{'per channel' if per_channel else 'per tensor'} (onnxruntime.quantization.quantize_static)")
    if inputs is not None:
        x = digits_inputs(model, split)[:samples]
        np.save(inputs, x)
        print(f"wrote {inputs}: {x.dtype} {list(x.shape)} (digits, {split} split)")
    return 0


def _missing(*packages: str) -> str | None:
    import importlib.util

    return next((p for p in packages if importlib.util.find_spec(p) is None), None)


def main_run(args, cfg) -> int:
    """The ``run`` subcommand (the CLI parses, this runs); errors print one line, exit 2."""
    missing = _missing("onnx", *(["onnxruntime"] if args.check else []))
    if missing:
        print(f"systolica run: needs the '{missing}' package: pip install 'systolica[onnx]'", file=sys.stderr)
        return 2
    from .driver.onnx_import import OnnxImportError

    try:
        return run_model(Path(args.model), Path(args.input), Path(args.output), backend=args.backend,
                         cfg=cfg, batch=args.batch, check=args.check, estimate=args.estimate)
    except (OnnxImportError, UsageError) as e:
        print(f"systolica run: {e}", file=sys.stderr)
        return 2


def main_example(args) -> int:
    missing = _missing("onnx", "onnxruntime", "sklearn")
    if missing:
        print(f"systolica onnx-example: needs the '{missing}' package: pip install 'systolica[onnx]'",
              file=sys.stderr)
        return 2
    try:
        return write_example(args.name, Path(args.output), fmt=args.format, activations=args.activations,
                             per_channel=not args.per_tensor, inputs=Path(args.inputs) if args.inputs else None,
                             samples=args.samples, split=args.split)
    except UsageError as e:
        print(f"systolica onnx-example: {e}", file=sys.stderr)
        return 2
