"""``systolica fuzz``: random programs, machine model == RTL (see :mod:`systolica.sim.fuzz`)."""

from __future__ import annotations

import sys
import time

__all__ = ["run_fuzz_command"]


def _line(totals, seconds: float) -> str:
    rate = totals.programs / seconds if seconds else 0.0
    return (f"{totals.programs} programs in {totals.cases} cases on {len(totals.configs)} configurations, "
            f"{seconds:.0f} s ({rate:.1f} programs/s), {totals.cycles:,} simulated cycles, "
            f"{len(totals.mismatches)} mismatches")


def run_fuzz_command(n: int, seed: int, configs: int, batch: int, replay: str | None, cfg=None,
                     config_path=None, fp8: bool = False) -> int:
    from .sim.fuzz import replay as replay_case, run_fuzz
    from .sim.fuzz_cases import check_fuzzable

    if cfg is not None:
        try:
            check_fuzzable(cfg)
        except ValueError as e:
            print(f"systolica fuzz: {e}", file=sys.stderr)
            return 2
    again = f"systolica fuzz --config {config_path} " if cfg is not None else "systolica fuzz "
    if replay:
        try:
            found = replay_case(replay, cfg)
        except ValueError as e:
            print(f"systolica fuzz: {e}", file=sys.stderr)
            return 2
        for m in found:
            print(f"MISMATCH {m.spec}: {m}")
        print(f"replayed 1 case: {len(found)} mismatches")
        return 1 if found else 0

    where = (f"configuration {cfg.name} ({config_path})" if cfg is not None else
             f"seeds {seed}..{seed + configs - 1} (one random {'FP8 ' if fp8 else ''}configuration each)")
    print(f"systolica fuzz: {n} programs or more, {where}, {batch} cases per harness run", flush=True)
    t0 = time.perf_counter()

    def progress(totals, seconds):
        print(f"  {_line(totals, seconds)}", flush=True)

    totals = run_fuzz(n, seed, configs=configs, batch=batch, progress=progress, cfg=cfg, fp8=fp8)
    seconds = time.perf_counter() - t0
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(totals.statuses.items(), key=lambda kv: -kv[1]))
    print(f"statuses: {statuses}")
    print("configurations: " + ", ".join(sorted(totals.configs)))
    for m in totals.mismatches:
        print(f"MISMATCH {m}\n  replay: {again}--replay '{m.spec}'")
    print(_line(totals, seconds))
    return 1 if totals.mismatches else 0
