"""Byte for byte: this tree's generated Verilog against another revision's.

A change meant to change no hardware at all (a rule written once instead of three times,
a helper moved, a docstring) is checked here, more strictly than by
:mod:`systolica.cycle_trace`: the units named are generated (``hw/generate.py``, as
``systolica generate`` writes them) for every configuration and target named, on this tree
and on ``REV`` (its ``hw/`` and ``model/``), and each file's SHA-256 is compared.

``python -m systolica.verilog_same --against REV`` exits 0 when every file is the same,
1 naming the first that is not, 2 on bad input. Configurations: ``demo`` (the demo's
8x8 int8) and ``fuzz:N`` / ``fp8:N`` (the fuzz configuration of seed N: non-square grids,
32..256-bit buses, one or both dataflows, banks, queue depths).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from .tree_snapshot import TREE_ENV, resolve, run_in_both, use_tree

__all__ = ["hashes", "main"]

_DEFAULT_CONFIGS = "demo,fuzz:0,fuzz:1,fuzz:2,fp8:0"
_DEFAULT_UNITS = "top"
_DEFAULT_TARGETS = "generic,ecp5"


def _parse(item: str) -> tuple[str, int]:
    """``demo``, ``fuzz:N`` or ``fp8:N`` -> (kind, seed)."""
    if item == "demo":
        return "demo", 0
    kind, _, seed = item.partition(":")
    if kind not in ("fuzz", "fp8") or not seed.isdigit():
        raise ValueError(f"--configs {item!r}: allowed demo, fuzz:N or fp8:N (N a seed, 0 or more)")
    return kind, int(seed)


def _config(item: str):
    from .demo import demo_config
    from .sim.fuzz_cases import fuzz_config

    kind, seed = _parse(item)
    return demo_config() if kind == "demo" else fuzz_config(seed, fp8=kind == "fp8")


def _check(args) -> None:
    from .hw.generate import UNITS
    from .hw.multiplier import TARGETS

    for item in args.configs.split(","):
        _parse(item)
    for unit in args.units.split(","):
        if unit not in UNITS:
            raise ValueError(f"--units {unit!r}: allowed {', '.join(UNITS)}")
    for target in args.targets.split(","):
        if target not in TARGETS:
            raise ValueError(f"--targets {target!r}: allowed {', '.join(TARGETS)}")
    if args.against:
        resolve(args.against)


def hashes(configs: str, units: str, targets: str) -> dict[str, str]:
    """``config/unit/target`` -> the SHA-256 of its Verilog, or the error that refused it."""
    from .hw.generate import generate_verilog

    out = {}
    for item in configs.split(","):
        cfg = _config(item)
        for unit in units.split(","):
            for target in targets.split(","):
                key = f"{item} ({cfg.name})/{unit}/{target}"
                try:
                    text = generate_verilog(cfg, unit, target).text
                    out[key] = hashlib.sha256(text.encode()).hexdigest()
                except ValueError as e:      # refused (the same refusal is the same)
                    out[key] = f"refused: {e}"
                print(f"verilog_same: {key}", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m systolica.verilog_same", description=__doc__.split("\n\n")[0])
    p.add_argument("--against", metavar="REV", help="compare with this git revision's hardware")
    p.add_argument("--configs", default=_DEFAULT_CONFIGS, help=f"demo, fuzz:N, fp8:N, ... (default {_DEFAULT_CONFIGS})")
    p.add_argument("--units", default=_DEFAULT_UNITS, help=f"units of `systolica generate` (default {_DEFAULT_UNITS})")
    p.add_argument("--targets", default=_DEFAULT_TARGETS, help=f"generic, ecp5 (default {_DEFAULT_TARGETS})")
    p.add_argument("--out", type=Path, help="write this tree's hashes here (JSON)")
    args = p.parse_args(argv)
    if os.environ.get(TREE_ENV):
        use_tree(os.environ[TREE_ENV])
    try:
        _check(args)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if not args.against:
        text = json.dumps(hashes(args.configs, args.units, args.targets), indent=1)
        if args.out:
            args.out.write_text(text)
        else:
            print(text)
        return 0
    ours, other = run_in_both("systolica.verilog_same", ["--configs", args.configs, "--units", args.units,
                                                         "--targets", args.targets], args.against)
    if args.out:
        args.out.write_text(json.dumps(ours, indent=1))
    for key, value in ours.items():
        if other.get(key) != value:
            print(f"verilog_same: this tree and {args.against} differ: {key}")
            return 1
    print(f"verilog_same: this tree and {args.against} generate the same Verilog, byte for byte, "
          f"for {len(ours)} files ({args.configs}; units {args.units}; targets {args.targets})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
