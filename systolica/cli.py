"""Command line: ``systolica generate`` (Verilog), ``systolica demo``, ``systolica gemm``,
``systolica bench``, ``systolica fuzz``, ``systolica run`` (an ONNX model),
``systolica onnx-example``, ``systolica formal``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .hw.generate import UNITS
from .model.config import AcceleratorConfig, ConfigError

__all__ = ["main"]


def _config_from_args(args) -> AcceleratorConfig:
    if args.config:
        if any(v is not None for v in (args.rows, args.cols, args.dtype, args.acc_bits, args.dataflows)):
            raise ConfigError("--config cannot be combined with --rows/--cols/--dtype/--acc-bits/--dataflows")
        try:
            return AcceleratorConfig.load(args.config)
        except OSError as e:
            raise ConfigError(f"cannot read --config {args.config}: {e.strerror}") from None
    fields = {}
    if args.rows is not None:
        fields["rows"] = args.rows
    if args.cols is not None:
        fields["cols"] = args.cols
    if args.dtype is not None:
        fields["input_type"] = args.dtype
    if args.acc_bits is not None:
        fields["acc_bits"] = args.acc_bits
    if args.dataflows is not None:
        fields["dataflows"] = tuple(d.strip() for d in args.dataflows.split(",") if d.strip())
    return AcceleratorConfig(**fields)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="configuration JSON (instead of the flags below)")
    p.add_argument("--rows", type=int, help="PE rows, 1..128 (default 8)")
    p.add_argument("--cols", type=int, help="PE columns, 1..128 (default 8)")
    p.add_argument("--dtype", help="input type (default int8)")
    p.add_argument("--acc-bits", type=int, dest="acc_bits", help="accumulator width, 16..64 (default 32)")
    p.add_argument("--dataflows", help="comma list from ws,os (default ws,os)")


def cmd_generate(args) -> int:
    cfg = _config_from_args(args)  # validated before anything is written
    from .hw.generate import generate_verilog
    from .sim.runner import WAIVERS

    gen = generate_verilog(cfg, args.unit)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{gen.top}.v").write_text(gen.text)
    (out / "config.json").write_text(cfg.to_json())
    (out / "waivers.vlt").write_text(WAIVERS.read_text())
    print(f"wrote {out / (gen.top + '.v')} (top module {gen.top}, {cfg.name}, "
          f"hash {cfg.config_hash()}, elaborated in {gen.seconds:.2f} s), "
          f"{out / 'config.json'} and the lint waivers {out / 'waivers.vlt'}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    return run_demo(rows=args.rows, cols=args.cols, rtl_samples=args.rtl_samples, scheme=args.scheme,
                    seed=args.seed)


def cmd_gemm(args) -> int:
    from .demo import run_gemm_demo

    return run_gemm_demo(rows=args.rows, cols=args.cols, m=args.m, k=args.k, n=args.n, seed=args.seed)


def cmd_bench(args) -> int:
    from .bench import SECTIONS, run_bench

    only = tuple(x.strip() for x in args.only.split(",")) if args.only else SECTIONS
    return run_bench(out_dir=Path(args.output), quick=args.quick, only=only)


def cmd_fuzz(args) -> int:
    from .fuzz_cli import run_fuzz_command

    for name in ("n", "configs", "batch"):
        if getattr(args, name) < 1:
            print(f"systolica fuzz: --{name}={getattr(args, name)}: must be at least 1", file=sys.stderr)
            return 2
    return run_fuzz_command(args.n, args.seed, args.configs, args.batch, args.replay)

# -- ONNX models: systolica run / systolica onnx-example (systolica/run_model.py) ------------
def cmd_run(args) -> int:
    from .run_model import main_run

    return main_run(args, _config_from_args(args))


def cmd_onnx_example(args) -> int:
    from .run_model import main_example

    return main_example(args)


def _add_onnx_commands(sub) -> None:
    r = sub.add_parser("run", help="run a quantized ONNX model (onnxruntime.quantization, QDQ or QOperator) "
                       "on the accelerator")
    r.add_argument("model", help="the .onnx model")
    r.add_argument("--input", required=True, help="float input, .npy, batch first")
    r.add_argument("--output", required=True, help="where to write the model's output (.npy)")
    r.add_argument("--backend", choices=["golden", "rtl", "reference"], default="golden",
                   help="golden (machine model, default), rtl (Verilator) or reference (layer math)")
    r.add_argument("--batch", type=int, default=64, help="samples per accelerator program (default 64)")
    r.add_argument("--check", action="store_true",
                   help="also run onnxruntime's exact result and count identical outputs")
    _add_config_args(r)
    r.set_defaults(func=cmd_run)
    e = sub.add_parser("onnx-example", help="write a quantized digits or op model (and digits inputs) "
                       "to try systolica run with")
    e.add_argument("name", help="mlp, cnn, or an op model: conv, conv_relu, conv_clip, conv_strided, "
                   "conv_depthwise, matmul, gemm, add, maxpool, averagepool, globalaveragepool, reshape")
    e.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    e.add_argument("--format", choices=["qdq", "qoperator"], default="qdq", help="default qdq")
    e.add_argument("--activations", choices=["u8", "s8"], default="u8", help="default u8")
    e.add_argument("--per-tensor", action="store_true", dest="per_tensor",
                   help="per-tensor weights (default per channel)")
    e.add_argument("--inputs", help="also write digits as the model's float input (.npy)")
    e.add_argument("--samples", type=int, default=None, help="how many digits (default all)")
    e.add_argument("--split", choices=["test", "train", "all"], default="test",
                   help="which digits (default test: 360)")
    e.set_defaults(func=cmd_onnx_example)


# -- bounded model checks of the AXI masters: systolica formal (formal/run.py) ---------------
def _add_formal_command(sub) -> None:
    from .formal.run import add_arguments, run

    f = sub.add_parser("formal", help="bounded model checks of the AXI masters (fetch, DMA load/store, "
                       "read arbiter) with SymbiYosys + Boolector, and the mutants they must catch")
    add_arguments(f)
    f.set_defaults(func=run)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="systolica", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write the Verilog of one configuration")
    _add_config_args(g)
    g.add_argument("-o", "--output", required=True, help="output folder")
    g.add_argument("--unit", default="array", choices=list(UNITS),
                   help="which block to generate on its own (default: array)")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="quantized digits MLP/CNN on the accelerator: golden and RTL")
    d.add_argument("--rows", type=int, default=8, help="PE rows (default 8)")
    d.add_argument("--cols", type=int, default=8, help="PE columns (default 8)")
    d.add_argument("--rtl-samples", type=int, default=8, dest="rtl_samples",
                   help="test images run on the RTL (default 8)")
    d.add_argument("--scheme", choices=["tflite", "onnx"], default="tflite",
                   help="requantization scheme (default tflite)")
    d.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    d.set_defaults(func=cmd_demo)

    gm = sub.add_parser("gemm", help="random INT8 GEMM streamed through the array under Verilator")
    gm.add_argument("--rows", type=int, default=8)
    gm.add_argument("--cols", type=int, default=8)
    gm.add_argument("-m", type=int, default=100, help="GEMM M (default 100)")
    gm.add_argument("-k", type=int, default=20, help="GEMM K (default 20)")
    gm.add_argument("-n", type=int, default=12, help="GEMM N (default 12)")
    gm.add_argument("--seed", type=int, default=None, help="random seed (printed when not given)")
    gm.set_defaults(func=cmd_gemm)

    b = sub.add_parser("bench", help="benchmarks: array, requantization, DMA, whole accelerator (GEMM "
                       "utilization, batching), native harness speed")
    b.add_argument("-o", "--output", default="bench", help="report folder (default bench)")
    b.add_argument("--quick", action="store_true", help="small configurations only")
    b.add_argument("--only", help="comma list of sections: array, requant, dma, system, native "
                   "(default all)")
    b.set_defaults(func=cmd_bench)

    fz = sub.add_parser("fuzz", help="random legal and illegal programs: machine model == RTL "
                        "(native harness, stalls, bus errors, aborts, protocol monitor)")
    fz.add_argument("-n", type=int, default=1000, help="programs to run at least (default 1000)")
    fz.add_argument("--seed", type=int, default=1, help="first configuration seed (default 1)")
    fz.add_argument("--configs", type=int, default=6, help="random configurations (default 6)")
    fz.add_argument("--batch", type=int, default=50, help="cases per harness run (default 50)")
    fz.add_argument("--replay", help="run one case again, as a mismatch line prints it")
    fz.set_defaults(func=cmd_fuzz)

    _add_onnx_commands(sub)
    _add_formal_command(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"systolica: invalid configuration: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
