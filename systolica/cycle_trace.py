"""Cycle for cycle: the same random programs on this tree's hardware and on another
revision's.

A change meant to keep every cycle (a timing fix: a register moved, a queue in front of a
handshake) is checked here by running random fuzz cases (``sim/fuzz_cases.py``: programs
one after another, aborts, AXI errors, random stalls on every channel, read latencies of
1 to 4 cycles, reordered read data) on the Verilator-native harness and recording, for
every program, the cycles from the doorbell to the interrupt, every performance counter,
the status and a hash of the DRAM afterwards. Two revisions with the same trace took the
same cycles on every program; the first difference is printed otherwise.

``python -m systolica.cycle_trace --against REV`` runs the trace on this tree and on
``REV`` (its ``hw/`` and ``model/``, taken with ``git archive``; everything else, the
harness and the cases, from this tree) and compares them; exit status 0 when they are
equal, 1 when not. ``--out FILE`` writes this tree's trace as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

from .tree_snapshot import TREE_ENV, resolve, run_in_both, use_tree

__all__ = ["trace", "main"]

#: ``kind:seed:cases`` items: three small random configurations and the demo's 8x8
_DEFAULT = "fuzz:0:3,fuzz:1:3,fuzz:2:3,demo:0:3"


def _configs(spec: str):
    """``kind:seed:cases`` items: ``fuzz`` (the fuzz configuration of that seed) or ``demo``."""
    out = []
    for item in spec.split(","):
        try:
            kind, seed, cases = item.split(":")
            seed, cases = int(seed), int(cases)
        except ValueError:
            raise ValueError(f"--configs {item!r}: allowed kind:seed:cases, kind fuzz or demo") from None
        if kind not in ("fuzz", "demo") or cases < 1:
            raise ValueError(f"--configs {item!r}: allowed kind fuzz or demo and cases >= 1")
        out.append((kind, seed, cases))
    return out


def trace(spec: str, case_seed: int) -> list[dict]:
    """Every program's cycles, counters, status and DRAM hash, case by case."""
    from .demo import demo_config
    from .sim.fuzz import native_case
    from .sim.fuzz_cases import build_case, case_spec
    from .sim.native import NativeJob, run_native
    from .sim.native_build import build_native
    from .sim.native_top import read_back

    rows = []
    for kind, seed, n in _configs(spec):
        cfg = demo_config() if kind == "demo" else None
        cases = [build_case(case_spec(seed, case_seed + k), cfg) for k in range(n)]
        job, lengths = NativeJob(), []
        for c in cases:
            nc, count = native_case(c)
            job.add(nc)
            lengths.append(count)
        print(f"cycle_trace: {kind} {seed} ({cases[0].cfg.name}): {n} cases", file=sys.stderr, flush=True)
        results = run_native(build_native(cases[0].cfg), job)
        for c, r, count in zip(cases, results, lengths):
            at = 0
            for k, m in enumerate(count):
                steps = r.steps[at:at + m]
                at += m
                rb = read_back(steps[:-1])
                rows.append({"config": f"{kind}:{seed}", "case": str(c.spec), "program": k,
                             "ended": r.ended, "violations": r.violation_count, "timer": rb.timer,
                             "status": rb.status, "counters": rb.counters,
                             "dram": hashlib.sha256(bytes(steps[-1].data)).hexdigest()[:16]})
    return rows


def _cache_for(tag: str) -> str:
    from .sim.runner import cache_root

    return str(cache_root() / f"trace-{tag}")


def _first_difference(a: list[dict], b: list[dict]) -> str | None:
    if len(a) != len(b):
        return f"{len(a)} programs against {len(b)}"
    for x, y in zip(a, b):
        if x != y:
            keys = [k for k in x if x.get(k) != y.get(k)]
            detail = "; ".join(f"{k}: {x.get(k)} against {y.get(k)}" for k in keys)
            return f"{x['config']} case {x['case']} program {x['program']}: {detail}"
    return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m systolica.cycle_trace", description=__doc__.split("\n\n")[0])
    p.add_argument("--against", metavar="REV", help="compare with this git revision's hardware")
    p.add_argument("--out", type=Path, help="write this tree's trace here (JSON)")
    p.add_argument("--configs", default=_DEFAULT, help=f"kind:seed:cases,... (default {_DEFAULT})")
    p.add_argument("--seed", type=int, default=1, help="first case seed (default 1)")
    args = p.parse_args(argv)
    try:
        _configs(args.configs)
        if args.against:
            resolve(args.against)
        if args.out and not args.out.resolve().parent.is_dir():
            raise ValueError(f"--out {args.out}: its folder does not exist")
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if os.environ.get(TREE_ENV):
        use_tree(os.environ[TREE_ENV])
    if not args.against:
        rows = trace(args.configs, args.seed)
        text = json.dumps(rows, indent=1)
        if args.out:
            args.out.write_text(text)
        else:
            print(text)
        return 0
    ours, theirs = run_in_both("systolica.cycle_trace", ["--configs", args.configs, "--seed", str(args.seed)],
                               args.against, lambda tag: {"SYSTOLICA_CACHE": _cache_for(tag)})
    if args.out:
        args.out.write_text(json.dumps(ours, indent=1))
    diff = _first_difference(ours, theirs)
    n = len(ours)
    cycles = sum(r["counters"].get("cycles", 0) for r in ours)
    if diff:
        print(f"cycle_trace: this tree and {args.against} differ: {diff}")
        return 1
    print(f"cycle_trace: this tree and {args.against} are the same on {n} programs ({cycles} cycles): "
          f"interrupt cycles, counters, statuses and DRAM")
    return 0


if __name__ == "__main__":
    sys.exit(main())
