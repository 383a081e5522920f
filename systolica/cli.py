"""Command line: ``systolica generate`` (Verilog), ``systolica demo``, ``systolica gemm``,
``systolica bench``, ``systolica fuzz``, ``systolica run`` (an ONNX model),
``systolica onnx-example``, ``systolica verify``, ``systolica fpga``, ``systolica formal``,
``systolica cache``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .hw.generate import UNITS
from .hw.multiplier import TARGETS
from .model.config import AcceleratorConfig, ConfigError
from .sim.build_cache import add_cache_command

__all__ = ["main"]


def _read_config(path) -> AcceleratorConfig:
    try:
        return AcceleratorConfig.load(path)
    except OSError as e:
        raise ConfigError(f"cannot read --config {path}: {e.strerror}") from None


def _config_from_args(args) -> AcceleratorConfig:
    if args.config:
        if any(v is not None for v in (args.rows, args.cols, args.dtype, args.weight_dtype, args.acc_bits,
                                       args.dataflows)):
            raise ConfigError("--config cannot be combined with --rows/--cols/--dtype/--weight-dtype/"
                              "--acc-bits/--dataflows")
        return _read_config(args.config)
    fields = {}
    if args.rows is not None:
        fields["rows"] = args.rows
    if args.cols is not None:
        fields["cols"] = args.cols
    if args.dtype is not None:
        fields["input_type"] = args.dtype
    if args.weight_dtype is not None:
        fields["weight_type"] = args.weight_dtype
    if args.acc_bits is not None:
        fields["acc_bits"] = args.acc_bits
    if args.dataflows is not None:
        fields["dataflows"] = tuple(d.strip() for d in args.dataflows.split(",") if d.strip())
    return AcceleratorConfig(**fields)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="configuration JSON (instead of the flags below)")
    p.add_argument("--rows", type=int, help="PE rows, 1..128 (default 8)")
    p.add_argument("--cols", type=int, help="PE columns, 1..128 (default 8)")
    p.add_argument("--dtype", help="input type: int8, fp8_e4m3 or fp8_e5m2 (default int8)")
    p.add_argument("--weight-dtype", dest="weight_dtype",
                   help="weight (B operand) type, FP8 only: fp8_e4m3 or fp8_e5m2 (default: --dtype)")
    p.add_argument("--acc-bits", type=int, dest="acc_bits",
                   help="accumulator width: int8 16..64 (default 32); FP8 one product's width..128 "
                        "(default that width + 16)")
    p.add_argument("--dataflows", help="comma list from ws,os (default ws,os)")


def cmd_generate(args) -> int:
    cfg = _config_from_args(args)  # validated before anything is written
    from .hw.generate import generate_verilog
    from .sim.runner import WAIVERS

    gen = generate_verilog(cfg, args.unit, args.target)
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

    if args.rtl_samples is not None and args.rtl_samples < 1:
        print(f"systolica demo: --rtl-samples={args.rtl_samples}: must be at least 1 (default: the whole "
              "test set)", file=sys.stderr)
        return 2
    if args.fp8_rtl_samples is not None and args.fp8_rtl_samples < 1:
        print(f"systolica demo: --fp8-rtl-samples={args.fp8_rtl_samples}: must be at least 1", file=sys.stderr)
        return 2
    return run_demo(rows=args.rows, cols=args.cols, rtl_samples=args.rtl_samples, scheme=args.scheme,
                    seed=args.seed, fp8_rtl_samples=args.fp8_rtl_samples)


def cmd_gemm(args) -> int:
    from .demo import run_gemm_demo

    return run_gemm_demo(rows=args.rows, cols=args.cols, m=args.m, k=args.k, n=args.n, seed=args.seed)


def cmd_bench(args) -> int:
    from .bench import SECTIONS, run_bench

    only = tuple(x.strip() for x in args.only.split(",") if x.strip()) if args.only else SECTIONS
    bad = [x for x in only if x not in SECTIONS]
    if bad or not only:
        print(f"systolica bench: --only {args.only!r}: unknown section(s) {bad}, allowed "
              f"{', '.join(SECTIONS)}", file=sys.stderr)
        return 2
    return run_bench(out_dir=Path(args.output), quick=args.quick, only=only)


def cmd_fuzz(args) -> int:
    from .fuzz_cli import run_fuzz_command

    for name in ("n", "configs", "batch"):
        if getattr(args, name) < 1:
            print(f"systolica fuzz: --{name}={getattr(args, name)}: must be at least 1", file=sys.stderr)
            return 2
    if args.fp8 and args.config:
        print("systolica fuzz: --fp8 and --config: give one (an FP8 --config is fuzzed as it is)", file=sys.stderr)
        return 2
    cfg = _read_config(args.config) if args.config else None
    return run_fuzz_command(args.n, args.seed, args.configs, args.batch, args.replay, cfg, args.config,
                            fp8=args.fp8)

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
    r.add_argument("--estimate", action="store_true",
                   help="print each accelerator layer's cycles predicted by the performance model "
                        "(beside the measured ones and the error on --backend rtl)")
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


def cmd_verify(args) -> int:
    from .verify import BENCHES, run_verify

    cfg = _read_config(args.config)
    only = tuple(x.strip() for x in args.only.split(",") if x.strip()) if args.only else tuple(BENCHES)
    bad = [x for x in only if x not in BENCHES]
    if bad or not only:
        print(f"systolica verify: --only {args.only!r}: unknown bench(es) {bad}, allowed "
              f"{', '.join(BENCHES)}", file=sys.stderr)
        return 2
    if args.fuzz < 0:
        print(f"systolica verify: --fuzz={args.fuzz}: must be 0 or more", file=sys.stderr)
        return 2
    if "fuzz" in only and args.fuzz:
        from .sim.fuzz_cases import check_fuzzable
        try:
            check_fuzzable(cfg)
        except ValueError as e:
            print(f"systolica verify: {e}", file=sys.stderr)
            return 2
    return run_verify(cfg, only, args.fuzz, args.seed, Path(args.junit))


# -- systolica fpga ---------------------------------------------------------------------
def cmd_fpga(args) -> int:
    from .fpga import CONSTRAINT_FILES, DoesNotFit, board_constraints, run_fpga
    from .fpga_tools import ToolError

    if args.write_constraints:
        out = Path(args.write_constraints)
        out.mkdir(parents=True, exist_ok=True)
        for board, name in CONSTRAINT_FILES.items():
            (out / name).write_text(board_constraints(board, args.baud))
            print(f"wrote {out / name}")
        return 0
    cfg = _config_from_args(args)
    try:
        run_fpga(cfg, board=args.board, unit=args.unit, out_dir=Path(args.output), baud=args.baud,
                 freq_mhz=args.freq, synth_only=args.synth_only, seed=args.seed, clock_mhz=args.clock_mhz,
                 router=args.router, stall_minutes=args.stall_minutes, timing_weight=args.timing_weight)
    except (DoesNotFit, ValueError) as e:
        print(f"systolica fpga: {e}", file=sys.stderr)
        return 2
    except ToolError as e:
        print(f"systolica fpga: {e}", file=sys.stderr)
        return 1
    return 0


def _add_fpga_parser(sub) -> None:
    from .fpga import BOARDS, DEFAULT_OOC_MHZ, DEFAULT_STALL_MINUTES, DEFAULT_TIMING_WEIGHT, FPGA_UNITS, NEXTPNR_TIMING_WEIGHT, ROUTERS

    f = sub.add_parser("fpga", help="synthesis, place and route and bitstream with the open flow (yowasp)")
    _add_config_args(f)
    f.add_argument("--board", default="ulx3s", choices=sorted(BOARDS), help="target board (default ulx3s)")
    f.add_argument("--unit", default="board", choices=list(FPGA_UNITS),
                   help="board: board top with pins (default); top, array: out of context on the board's FPGA; "
                        "controller, fetch, command_check, dma_load, dma_store, requant, core, csr: one block "
                        "of the top, every port registered, out of context")
    f.add_argument("--baud", type=int, default=115200, help="UART bits per second of the board top (default 115200)")
    f.add_argument("--freq", type=float, default=DEFAULT_OOC_MHZ,
                   help=f"target MHz of out-of-context runs (default {DEFAULT_OOC_MHZ:g})")
    f.add_argument("--clock-mhz", type=float, dest="clock_mhz",
                   help="board unit on ECP5: run the design from a PLL at about this many MHz (yowasp-ecppll)")
    f.add_argument("--synth-only", action="store_true", dest="synth_only", help="stop after synthesis")
    f.add_argument("--seed", type=int, help="nextpnr placer seed")
    f.add_argument("--router", choices=list(ROUTERS),
                   help="nextpnr's router (default router2 for the board unit, router1 for the others)")
    f.add_argument("--timing-weight", type=int, dest="timing_weight", default=DEFAULT_TIMING_WEIGHT,
                   help="nextpnr's placer timing weight, 0..1000 (--placer-heap-timingweight; default "
                        f"{DEFAULT_TIMING_WEIGHT}; nextpnr's own is {NEXTPNR_TIMING_WEIGHT})")
    f.add_argument("--stall-minutes", type=float, dest="stall_minutes", default=DEFAULT_STALL_MINUTES,
                   help="stop place and route when its log has not grown for this many minutes "
                        f"(default {DEFAULT_STALL_MINUTES:g}; 0: never)")
    f.add_argument("-o", "--output", default="out/fpga", help="build folder (default out/fpga)")
    f.add_argument("--write-constraints", dest="write_constraints", metavar="DIR",
                   help="only write every board's constraint file into DIR")
    f.set_defaults(func=cmd_fpga)


# -- bounded model checks of the AXI masters: systolica formal (formal/run.py) ---------------
def _add_formal_command(sub) -> None:
    from .formal.run import add_arguments, run

    f = sub.add_parser("formal", help="bounded model checks of the AXI masters (fetch, DMA load/store, "
                       "read arbiter) with SymbiYosys + Boolector, and the mutants they must catch")
    add_arguments(f)
    f.set_defaults(func=run)


class _Parser(argparse.ArgumentParser):
    """Bad arguments get one line (which argument, what is allowed) and exit status 2, not
    argparse's usage block; its subcommands' parsers are of this class too."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="systolica", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write the Verilog of one configuration")
    _add_config_args(g)
    g.add_argument("-o", "--output", required=True, help="output folder")
    g.add_argument("--unit", default="array", choices=list(UNITS),
                   help="which block to generate on its own (default: array)")
    g.add_argument("--target", default="generic", choices=list(TARGETS),
                   help="the PE multipliers: generic registers (default, every simulator and "
                        "vendor tool) or ecp5 (Lattice MULT18X18D with its own registers)")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("demo", help="quantized digits MLP/CNN on the accelerator: golden and RTL")
    d.add_argument("--rows", type=int, default=8, help="PE rows (default 8)")
    d.add_argument("--cols", type=int, default=8, help="PE columns (default 8)")
    d.add_argument("--rtl-samples", type=int, default=None, dest="rtl_samples",
                   help="test images run on the RTL (default: the whole test set)")
    d.add_argument("--scheme", choices=["tflite", "onnx"], default="tflite",
                   help="requantization scheme (default tflite)")
    d.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    d.add_argument("--fp8-rtl-samples", type=int, default=None, dest="fp8_rtl_samples",
                   help="test images each FP8 format runs on the RTL (default 100; 359: the whole test set)")
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
                       "utilization, batching), native harness speed, hardware cost per input type")
    b.add_argument("-o", "--output", default="bench", help="report folder (default bench)")
    b.add_argument("--quick", action="store_true", help="small configurations only")
    b.add_argument("--only", help="comma list of sections: array, requant, dma, system, native, "
                   "native_build, fpga, cost, perf, scalesim, sweep, report (default all; report: "
                   "bench/README.md and plots from the JSONs only)")
    b.set_defaults(func=cmd_bench)

    fz = sub.add_parser("fuzz", help="random legal and illegal programs: machine model == RTL "
                        "(native harness, stalls, bus errors, aborts, protocol monitor)")
    fz.add_argument("-n", type=int, default=1000, help="programs to run at least (default 1000)")
    fz.add_argument("--seed", type=int, default=1, help="first configuration seed (default 1)")
    fz.add_argument("--configs", type=int, default=6, help="random configurations (default 6)")
    fz.add_argument("--batch", type=int, default=50, help="cases per harness run (default 50)")
    fz.add_argument("--replay", help="run one case again, as a mismatch line prints it")
    fz.add_argument("--config", type=Path, help="fuzz this configuration (JSON) instead of random ones")
    fz.add_argument("--fp8", action="store_true", help="random FP8 configurations (E4M3, E5M2, mixed)")
    fz.set_defaults(func=cmd_fuzz)

    _add_onnx_commands(sub)
    _add_formal_command(sub)

    v = sub.add_parser("verify", help="the regression suite on your configuration: unit benches, "
                       "compiled layers, random programs; a pass/fail table and JUnit XML")
    v.add_argument("--config", type=Path, required=True, help="the configuration (JSON)")
    v.add_argument("--fuzz", type=int, default=200, help="random programs (default 200; 0: none)")
    v.add_argument("--only", help="comma list of benches (default all): array, requant, scratchpad, "
                   "accumulator, dma, csr, core, layers, fuzz")
    v.add_argument("--seed", type=int, default=1, help="seed of every random bench (default 1)")
    v.add_argument("--junit", default="verify-results.xml", help="JUnit XML file (default verify-results.xml)")
    v.set_defaults(func=cmd_verify)

    _add_fpga_parser(sub)
    add_cache_command(sub)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        print(f"systolica: invalid configuration: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
