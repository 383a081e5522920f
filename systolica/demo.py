"""``make demo``: a random INT8 GEMM on a generated array under Verilator, vs the golden model."""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from .model import array as golden
from .model.config import AcceleratorConfig

__all__ = ["run_gemm_rtl", "run_demo"]


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
        out = np.load(res)
        return {f: (out[f"c_{f}"], json.loads(str(out[f"stats_{f}"]))) for f in dataflows}


def run_demo(rows: int = 8, cols: int = 8, m: int = 100, k: int = 20, n: int = 12,
             seed: int | None = None) -> int:
    t0 = time.perf_counter()
    cfg = AcceleratorConfig(rows=rows, cols=cols)
    if seed is None:
        seed = random.randrange(2**31)
    print(f"systolica demo: {cfg.name} array (config {cfg.config_hash()}), "
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
