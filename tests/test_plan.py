"""The tiling search (driver/compiler/plan.py): its lower bounds never exceed the
performance model's prediction, and the search picks what predicting every candidate
picks -- exactly on layers short enough to be predicted whole, within the documented
margin on long ones (whose candidates are first extrapolated from a prefix)."""

import numpy as np
import pytest

from systolica.driver.compiler import linear as linear_mod, conv as conv_mod, plan
from systolica.driver.compiler import compile_conv2d, compile_linear
from systolica.driver.perf_model import estimate, lower_bound
from systolica.driver.workloads import random_conv, random_linear, Conv
from systolica.model.config import AcceleratorConfig

CONFIGS = [AcceleratorConfig(rows=4, cols=4, spad_rows=64, acc_rows=32),
           AcceleratorConfig(rows=8, cols=8, spad_rows=512, acc_rows=128, bus_bits=64),
           AcceleratorConfig(rows=3, cols=5, spad_rows=64, acc_rows=32, bus_bits=32)]


def _problem(monkeypatch, cfg, rng):
    """A random linear or conv layer compiled once; returns what ``choose`` was given."""
    seen = {}

    def spy(*args):
        seen["args"] = args
        return plan.choose(*args)

    monkeypatch.setattr(linear_mod, "choose", spy)
    monkeypatch.setattr(conv_mod, "choose", spy)
    seed = int(rng.integers(1 << 30))
    if rng.random() < 0.5:
        k, n, batch = int(rng.integers(1, 40)), int(rng.integers(1, 24)), int(rng.integers(1, 120))
        lay = random_linear(k, n, seed=seed)
        compile_linear(cfg, lay.weight, lay.bias, lay.requant, batch=batch, x_addr=0, w_addr=1 << 20,
                       out_addr=1 << 22, x_zp=lay.input_zero_point)
        what = f"linear k={k} n={n} batch={batch}"
    else:
        g = Conv("c", int(rng.integers(1, 8)), int(rng.integers(3, 10)), int(rng.integers(3, 10)),
                 int(rng.integers(1, 12)), int(rng.choice([1, 3])), int(rng.choice([1, 2])), int(rng.integers(0, 2)))
        lay = random_conv(g, seed=seed)
        batch = int(rng.integers(1, 4))
        compile_conv2d(cfg, lay.weight, lay.bias, lay.requant, batch=batch, in_shape=(g.c, g.h, g.w), x_addr=0,
                       w_addr=1 << 20, out_addr=1 << 22, x_zp=lay.input_zero_point, stride=g.stride, pads=g.pad)
        what = f"conv {g} batch={batch}"
    return seen["args"], what


def _exhaustive(cfg, specs, out_rows):
    """Every candidate scheduled and predicted: ``(tiling, cycles, lower bound, array bound)``."""
    out = []
    for t in plan.candidates(cfg, specs[0], out_rows):
        ops = plan._schedule(cfg, specs, t)[0]
        cmds = plan.emit(cfg, ops)
        est = estimate(cfg, cmds)
        out.append((t, (est.cycles, est.dram_bytes, len(cmds)), lower_bound(cfg, cmds),
                    plan._array_bound(cfg, specs, t)))
    return out


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.name)
def test_bounds_hold_and_the_search_finds_the_best(monkeypatch, cfg, seed):
    rng = np.random.default_rng(seed)
    worst = 1.0
    for _ in range(4):
        (cfg_, specs, image, out_shape, macs, out_rows, tile), what = _problem(monkeypatch, cfg, rng)
        table = _exhaustive(cfg, specs, out_rows)
        for t, key, bound, early in table:
            assert early <= bound <= key[0], (what, t, key, bound, early)
        chosen = plan.choose(cfg, specs, image, out_shape, macs, out_rows, None)
        best = min(key for _, key, _, _ in table)
        long = any(len(specs[0].boxes(t.rows)) > 8 * plan.PREFIX_BOXES for t, *_ in table)
        got = (chosen.estimate.cycles, chosen.estimate.dram_bytes, len(chosen.commands))
        if not long:
            assert got == best, (what, chosen.tiling, got, best)
        worst = max(worst, got[0] / best[0])
        assert got[0] <= best[0] * plan.NEAR, (what, chosen.tiling, got, best)
    print(f"{cfg.name}: chosen / best prediction at most {worst:.4f}")
