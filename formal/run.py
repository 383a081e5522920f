"""``make formal`` / ``systolica formal``: run the proofs (BMC, then covers to the same
depth) and the mutants, with progress, and print a pass/fail table."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .jobs import MUTANTS, PROOFS, Mutant, Proof
from .sby import SbyResult, run_sby, trace_values
from .tools import FormalToolsMissing

__all__ = ["Outcome", "run_proof", "run_mutant", "main"]


@dataclass
class Outcome:
    name: str
    what: str
    depth: int
    ok: bool
    verdict: str                       # one word for the table
    seconds: float
    detail: str = ""
    covers: dict[str, int | None] = field(default_factory=dict)
    bmc: SbyResult | None = None


def reached_covers(res: SbyResult, names: list[str]) -> dict[str, int | None]:
    """Each cover's step in the cover run's traces (``None``: not reached)."""
    found: dict[str, int | None] = dict.fromkeys(names)
    for trace in sorted(res.workdir.glob("job/engine_*/trace*.vcd")):
        values = trace_values(trace, names)
        for n in names:
            steps = [k for k, v in enumerate(values[n]) if v]
            if steps and (found[n] is None or steps[0] < found[n]):
                found[n] = steps[0]
    return found


def run_proof(proof: Proof, workdir: Path, *, covers: bool = True, timeout: float | None = None) -> Outcome:
    h = proof.harness()
    res = run_sby(h, name=proof.name.replace("/", "_"), depth=proof.depth, workdir=workdir, timeout=timeout)
    seconds = res.seconds
    if res.status != "PASS":
        detail = f"counterexample at step {res.step}: {', '.join(res.failed) or '?'} ({res.trace})" \
            if res.status == "FAIL" else f"{res.status} (log: {res.workdir / 'sby.out'})"
        return Outcome(proof.name, proof.component, proof.depth, False, res.status, seconds, detail, bmc=res)
    out = Outcome(proof.name, proof.component, proof.depth, True, "PASS", seconds, bmc=res)
    if covers:
        h = proof.harness()
        cres = run_sby(h, name=proof.name.replace("/", "_") + "_cover", depth=proof.depth, workdir=workdir,
                       mode="cover", timeout=timeout)
        out.seconds += cres.seconds
        names = [p.name for p in h.props.props if p.kind == "cover"]
        out.covers = reached_covers(cres, names)
        missed = [n for n, s in out.covers.items() if s is None and n not in proof.covers_beyond]
        if missed:
            out.ok, out.verdict = False, "SHALLOW"
            out.detail = f"covers not reached within depth {proof.depth}: {', '.join(missed)}"
    return out


def run_mutant(mutant: Mutant, workdir: Path, *, timeout: float | None = None) -> Outcome:
    res = run_sby(mutant.harness(), name="mutant_" + mutant.name, depth=mutant.depth, workdir=workdir,
                  timeout=timeout)
    caught = res.status == "FAIL" and any(n in res.failed for n in mutant.expect)
    if caught:
        detail = f"step {res.step}: {', '.join(res.failed)}"
    elif res.status == "FAIL":
        detail = f"failed {', '.join(res.failed) or '?'}, expected one of {', '.join(mutant.expect)}"
    else:
        detail = f"{res.status}: not caught (expected one of {', '.join(mutant.expect)})"
    return Outcome(mutant.name, mutant.breaks, mutant.depth, caught, "CAUGHT" if caught else "MISSED",
                   res.seconds, detail, bmc=res)


def table(rows: list[Outcome], title: str) -> str:
    head = f"{'':2} {title:<30} {'depth':>5} {'result':<8} {'time':>7}  detail"
    lines = [head, "-" * len(head)]
    for o in rows:
        cov = ""
        if o.covers:
            deepest = max((s for s in o.covers.values() if s is not None), default=None)
            cov = f"covers {sum(s is not None for s in o.covers.values())}/{len(o.covers)}" + \
                (f" by step {deepest}" if deepest is not None else "")
            beyond = [n for n, s in o.covers.items() if s is None]
            if beyond and o.ok:
                cov += f" ({', '.join(beyond)}: beyond this depth)"
        detail = "; ".join(x for x in (cov, o.detail) if x)
        lines.append(f"{'ok' if o.ok else 'XX':2} {o.name:<30} {o.depth:>5} {o.verdict:<8} "
                     f"{o.seconds:>6.1f}s  {detail}")
    return "\n".join(lines)


def _pick(items, args):
    chosen = [x for x in items if (not args.quick or x.quick) and (args.long or not getattr(x, "long", False))]
    if args.only:
        chosen = [x for x in chosen if any(s in x.name for s in args.only)]
    return chosen


def main(argv: list[str] | None = None, prog: str = "systolica formal") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Bounded model checks of the AXI masters "
                                 "(SymbiYosys + Boolector from PyPI) and the mutants that must fail them.")
    add_arguments(ap)
    return run(ap.parse_args(argv))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--quick", action="store_true", help="only the quick subset (what `make test` runs)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="proofs/mutants whose name contains NAME")
    ap.add_argument("--long", action="store_true",
                    help="also the jobs that take many minutes (store_one_write_too_many: depth 14)")
    ap.add_argument("--no-proofs", action="store_true", help="skip the proofs")
    ap.add_argument("--no-mutants", action="store_true", help="skip the mutants")
    ap.add_argument("--no-covers", action="store_true", help="skip the cover runs that justify each depth")
    ap.add_argument("--list", action="store_true", help="list proofs and mutants, run nothing")
    ap.add_argument("--workdir", type=Path, default=Path("out/formal"),
                    help="SymbiYosys job folders, traces of counterexamples (default out/formal)")
    ap.add_argument("--timeout", type=float, default=None, help="seconds per SymbiYosys run")


def run(args) -> int:
    proofs = [] if args.no_proofs else _pick(PROOFS, args)
    mutants = [] if args.no_mutants else _pick(MUTANTS, args)
    if args.list:       # everything selected, the long jobs marked (they run with --long)
        args.long = True
        for p in [] if args.no_proofs else _pick(PROOFS, args):
            print(f"proof  {p.name:<28} depth {p.depth:>3}  {p.component}")
        for mu in [] if args.no_mutants else _pick(MUTANTS, args):
            print(f"mutant {mu.name:<28} depth {mu.depth:>3}  {mu.breaks} -> {', '.join(mu.expect)}"
                  + ("  [--long]" if mu.long else ""))
        return 0
    if not proofs and not mutants:
        print("systolica formal: nothing selected (see --list)", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    done: list[Outcome] = []
    caught: list[Outcome] = []
    try:
        total = len(proofs) + len(mutants)
        for k, p in enumerate(proofs, 1):
            print(f"[{k}/{total}] proof {p.name} (depth {p.depth}) ...", flush=True)
            o = run_proof(p, args.workdir, covers=not args.no_covers, timeout=args.timeout)
            done.append(o)
            print(f"        {o.verdict} in {o.seconds:.1f} s {o.detail}", flush=True)
        for k, mu in enumerate(mutants, len(proofs) + 1):
            print(f"[{k}/{total}] mutant {mu.name} (depth {mu.depth}) ...", flush=True)
            o = run_mutant(mu, args.workdir, timeout=args.timeout)
            caught.append(o)
            print(f"        {o.verdict} in {o.seconds:.1f} s {o.detail}", flush=True)
    except FormalToolsMissing as e:
        print(f"systolica formal: {e}", file=sys.stderr)
        return 2
    print()
    if done:
        print(table(done, "proof"))
        print()
    if caught:
        print(table(caught, "mutant (must be CAUGHT)"))
        print()
    bad = [o for o in done + caught if not o.ok]
    print(f"{len(done) - sum(not o.ok for o in done)}/{len(done)} proofs passed, "
          f"{len(caught) - sum(not o.ok for o in caught)}/{len(caught)} mutants caught "
          f"in {time.monotonic() - t0:.0f} s; job folders in {args.workdir}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(prog="python -m systolica.formal.run"))
